// What a sync peer offers goes through the datapath's ctInstall, which trusts
// nothing of it: an entry is installed only for a rule of this node and only
// when its translation leads to one of that rule's endpoints, with the rule
// id and endpoint index of this node, and a timeout no longer than the rule's
// (a hostile peer once parked 262,144 entries with timeout 0xffffffff). Two
// real datapath loads (root; nothing attached to any interface).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Datapath } from '../../src/datapath/Datapath.ts';
import { CT_KEY_SIZE, CT_VAL_SIZE, encodeCt } from '../../src/datapath/layout.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
import { silentLogger } from '../../src/util/logger.ts';

const VIP = '20.20.20.7';
const rule: LbRule = {
  serviceArguments: { externalIP: VIP, port: 80, protocol: 'tcp', sel: 0, mode: 2, bgp: false, monitor: false, block: 0, inactiveTimeOut: 600 },
  endpoints: [
    { endpointIP: '192.168.80.21', targetPort: 8080, weight: 1 },
    { endpointIP: '192.168.80.22', targetPort: 8080, weight: 1 },
  ],
  secondaryIPs: [],
  allowedSources: [],
};

/** One established fullnat entry from a client to `to` (the peer's claim), with the peer's own rule id and timeout. */
function offered(client: string, to: string, vip = VIP, timeoutS = 0xffff_ffff) {
  return encodeCt({
    saddr: client,
    daddr: vip,
    sport: 40000,
    dport: 80,
    proto: 'tcp',
    xsaddr: vip,
    xdaddr: to,
    xsport: 50000,
    xdport: 8080,
    svc: { vip, port: 80, proto: 'tcp' },
    ruleId: 4242,
    dir: 0,
    state: 2,
    epIdx: 7,
    flags: 0,
    timeoutS,
    lastNs: 0n,
  });
}

describe('ctInstall: synced entries are checked against our rules', () => {
  let dp: Datapath;

  before(() => {
    dp = Datapath.open({}, silentLogger);
    dp.program([[ruleKey(rule.serviceArguments), rule]], { alive: () => true, instanceVip: () => undefined, localAddresses: () => [], onLink: () => true });
  });

  after(() => dp?.close());

  it('takes an entry to a real endpoint with our rule id, endpoint index and at most the rule timeout; refuses a forged one and one for no rule of ours', () => {
    const entries = [offered('10.9.9.1', '192.168.80.22'), offered('10.9.9.2', '10.66.66.66'), offered('10.9.9.3', '192.168.80.21', '20.20.20.99')];
    const keys = Buffer.concat(entries.map((e) => e.key));
    const values = Buffer.concat(entries.map((e) => e.value));
    assert.equal(keys.length, 3 * CT_KEY_SIZE);
    assert.equal(values.length, 3 * CT_VAL_SIZE);
    const r = dp.installConnections(keys, values);
    assert.deepEqual({ installed: r.installed, rejected: r.rejected, unknownService: r.unknownService }, { installed: 1, rejected: 1, unknownService: 1 });
    const table = dp.connections();
    assert.deepEqual(table.map((e) => e.saddr), ['10.9.9.1']);
    const e = table[0]!;
    assert.equal(e.xdaddr, '192.168.80.22');
    assert.equal(e.timeoutS, 600, 'held at the rule inactiveTimeOut, not 0xffffffff');
    assert.equal(e.epIdx, 1, "our index of that endpoint, not the peer's");
    assert.notEqual(e.ruleId, 4242);
  });
});
