// The connection count of GET /status and /metrics comes from an in-kernel
// walk of the table (lb_ct_count), not from a dump: it must say what a dump
// says after every way entries come and go (synced installs, deletes, the
// sweep, the flush when a rule goes). A real datapath load (root; nothing
// attached to any interface).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Datapath } from '../../src/datapath/Datapath.ts';
import { CT_KEY_SIZE, CT_VAL_SIZE, encodeCt } from '../../src/datapath/layout.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
import { silentLogger } from '../../src/util/logger.ts';

const LONG = '20.20.20.7';
const SHORT = '20.20.20.8';
const rule = (vip: string, inactiveTimeOut: number): LbRule => ({
  serviceArguments: { externalIP: vip, port: 80, protocol: 'tcp', sel: 0, mode: 2, bgp: false, monitor: false, block: 0, inactiveTimeOut },
  endpoints: [{ endpointIP: '192.168.80.21', targetPort: 8080, weight: 1 }],
  secondaryIPs: [],
  allowedSources: [],
});
const ctx = { alive: () => true, instanceVip: () => undefined, localAddresses: () => [], onLink: () => true };

/** n established entries of a service, clients 10.<tag>.x.y. */
function entries(vip: string, tag: number, n: number): { keys: Buffer; values: Buffer } {
  const keys = Buffer.alloc(n * CT_KEY_SIZE);
  const values = Buffer.alloc(n * CT_VAL_SIZE);
  for (let i = 0; i < n; i++) {
    const e = encodeCt({ saddr: `10.${tag}.${i >> 8}.${i & 255}`, daddr: vip, sport: 40000, dport: 80, proto: 'tcp', xsaddr: vip, xdaddr: '192.168.80.21', xsport: 50000, xdport: 8080, svc: { vip, port: 80, proto: 'tcp' }, ruleId: 0, dir: 0, state: 2, epIdx: 0, flags: 0, timeoutS: 600 });
    e.key.copy(keys, i * CT_KEY_SIZE);
    e.value.copy(values, i * CT_VAL_SIZE);
  }
  return { keys, values };
}

describe('connectionCount: the kernel counts the table', () => {
  let dp: Datapath;
  const expectCount = (n: number, what: string) => {
    assert.equal(dp.dumpConnections().count, n, `the dump after ${what}`);
    assert.equal(dp.connectionCount(), n, `the count after ${what}`);
  };

  before(() => {
    dp = Datapath.open({ ctMax: 65536 }, silentLogger);
    dp.program(
      [
        [ruleKey(rule(LONG, 600).serviceArguments), rule(LONG, 600)],
        [ruleKey(rule(SHORT, 1).serviceArguments), rule(SHORT, 1)],
      ],
      ctx,
    );
  });

  after(() => dp?.close());

  it('follows installs, deletes, the sweep and the flush of a removed rule', async () => {
    expectCount(0, 'load');
    const long = entries(LONG, 1, 3000);
    const short = entries(SHORT, 2, 2000);
    assert.equal(dp.installConnections(long.keys, long.values).installed, 3000);
    assert.equal(dp.installConnections(short.keys, short.values).installed, 2000);
    expectCount(5000, 'two synced installs');
    // The same entries again replace, they do not add.
    dp.installConnections(long.keys.subarray(0, 100 * CT_KEY_SIZE), long.values.subarray(0, 100 * CT_VAL_SIZE));
    expectCount(5000, 'installing entries that are there');
    assert.equal(dp.deleteConnections(long.keys.subarray(0, 500 * CT_KEY_SIZE)), 500);
    expectCount(4500, 'deleting 500');
    // The short rule's entries are idle after its inactiveTimeOut of 1 s.
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(dp.sweep(), 2000);
    expectCount(2500, 'the sweep');
    dp.program([[ruleKey(rule(LONG, 600).serviceArguments), undefined]], ctx);
    expectCount(0, 'removing the rule');
  });

  it('a closed datapath counts nothing rather than throwing', () => {
    const d = Datapath.open({ ctMax: 1024 }, silentLogger);
    d.close();
    assert.equal(d.connectionCount(), 0);
  });
});
