// The datapath's other shapes of rule, end to end in namespaces (the
// dual-stack DatapathLab): ICMP rules (echo requests balanced over endpoints,
// the replies translated back), direct server return (the endpoint holds the
// VIP on its loopback and answers the client itself, past the LB), and
// hostonearm (a rule on 0.0.0.0 serves the port on every address of the LB
// node, with the node's address as the source towards the endpoints).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP, type Reply } from '../lab/DatapathLab.ts';

function names(replies: Reply[]): string[] {
  return replies.map((r) => r.name ?? `error:${r.error}`);
}

describe('datapath: icmp rules, dsr, hostonearm', { timeout: 180_000 }, () => {
  let t: DatapathLab;

  before(async () => {
    t = await DatapathLab.create();
  });
  after(async () => {
    await t?.destroy();
  });

  /** Echo requests an endpoint's kernel has answered (ICMP or ICMPv6). */
  async function echoesAt(ep: 'ep1' | 'ep2', v6 = false): Promise<number> {
    const snmp = await t.lab.run(ep, ['cat', v6 ? '/proc/net/snmp6' : '/proc/net/snmp']);
    if (v6) return Number(/Icmp6InEchos\s+(\d+)/.exec(snmp)![1]);
    const [head, vals] = snmp.split('\n').filter((l) => l.startsWith('Icmp:'));
    const cols = head!.split(/\s+/);
    return Number(vals!.split(/\s+/)[cols.indexOf('InEchos')]);
  }

  for (const v6 of [false, true]) {
    const vip = v6 ? 'fd00:20::7' : '20.20.20.7';
    it(`an icmp rule balances echo requests over the endpoints (${v6 ? 'ICMPv6' : 'ICMP'}); the replies come from the VIP`, async () => {
      await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
        serviceArguments: { externalIP: vip, port: 0, protocol: 'icmp', sel: 0, name: v6 ? 'ping6' : 'ping' },
        // loxicmd's shape for ICMP: targetPort 0.
        endpoints: (v6 ? [DP.ep1_6, DP.ep2_6] : [DP.ep1, DP.ep2]).map((endpointIP) => ({ endpointIP, targetPort: 0, weight: 1 })),
      });
      const before = [await echoesAt('ep1', v6), await echoesAt('ep2', v6)];
      // Each ping process is a new identifier: a new flow, so round robin alternates.
      for (let i = 0; i < 4; i++) {
        const out = await t.lab.run('client', ['ping', ...(v6 ? ['-6'] : []), '-c', '1', '-W', '2', vip]);
        // ttl 62: an endpoint answered, two hops away (the LB's own answer to a VIP without an icmp rule is 63).
        assert.match(out, new RegExp(`bytes from ${vip.replaceAll('.', '\\.')}: icmp_seq=1 ttl=62`));
      }
      const after = [await echoesAt('ep1', v6), await echoesAt('ep2', v6)];
      assert.deepEqual([after[0]! - before[0]!, after[1]! - before[1]!], [2, 2], 'two echo requests reached each endpoint');
      const ct = (await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as { protocol: string; servName: string }[];
      assert.ok(ct.some((e) => e.protocol === 'icmp' && e.servName === (v6 ? 'ping6' : 'ping')));
    });
  }

  it('dsr: the endpoint gets the packet addressed to the VIP and answers the client directly; the LB keeps no state', async () => {
    const vip = '20.20.20.8';
    for (const ep of ['ep1', 'ep2'] as const) {
      await t.lab.run(ep, ['ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo']);
      // Replies to the client go straight to the router, not back through the LB.
      await t.lab.run(ep, ['ip', 'route', 'replace', '192.168.90.0/24', 'via', DP.routerLan]);
    }
    try {
      await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
        serviceArguments: { externalIP: vip, port: DP.httpPort, protocol: 'tcp', sel: 1, mode: 3, name: 'dsr' },
        endpoints: [DP.ep1, DP.ep2].map((endpointIP) => ({ endpointIP, targetPort: DP.httpPort, weight: 1 })),
      });
      const before = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats;
      const replies = await t.requests('http', `${vip}:${DP.httpPort}`, 8);
      assert.ok(replies.every((r) => r.name === 'ep1' || r.name === 'ep2'), names(replies).join());
      assert.deepEqual(new Set(names(replies)), new Set(['ep1', 'ep2']), 'the hash spreads flows over both');
      for (const r of replies) assert.equal(r.remote, DP.client, 'nothing was translated');
      const after = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats;
      assert.ok(after.dsr - before.dsr >= 8 * 3, `dsr packets ${before.dsr} -> ${after.dsr}`);
      assert.equal(after.ctNew, before.ctNew, 'no connection entries');
      // Only the client's half of each connection crossed the LB: the replies went past it.
      assert.ok(after.packets - before.packets < 8 * 7, `packets through lb1: ${after.packets - before.packets}`);
    } finally {
      for (const ep of ['ep1', 'ep2'] as const) {
        await t.lab.run(ep, ['ip', 'addr', 'del', `${vip}/32`, 'dev', 'lo']);
        await t.lab.run(ep, ['ip', 'route', 'del', '192.168.90.0/24']);
      }
    }
  });

  it('dsr refuses what it cannot do: a selection other than hash, an endpoint port other than the service port', async () => {
    const base = { externalIP: '20.20.20.9', port: DP.httpPort, protocol: 'tcp', mode: 3, name: 'dsr-bad' };
    const rr = await t.api('lb1', 'POST', '/config/loadbalancer', { serviceArguments: { ...base, sel: 0 }, endpoints: [{ endpointIP: DP.ep1, targetPort: DP.httpPort, weight: 1 }] });
    assert.equal(rr.status, 400);
    assert.match(rr.body.message, /serviceArguments\.sel: must be 1 \(hash\) in dsr mode/);
    const port = await t.api('lb1', 'POST', '/config/loadbalancer', { serviceArguments: { ...base, sel: 1 }, endpoints: [{ endpointIP: DP.ep1, targetPort: 9999, weight: 1 }] });
    assert.equal(port.status, 400);
    assert.match(port.body.message, /endpoints\[0\]\.targetPort: must equal the service port/);
  });

  it('hostonearm: a rule on 0.0.0.0 serves the port on the node\'s own address, sourced from it', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: '0.0.0.0', port: 8181, protocol: 'tcp', sel: 0, mode: 5, name: 'hostarm' },
      endpoints: [DP.ep1, DP.ep2].map((endpointIP) => ({ endpointIP, targetPort: DP.httpPort, weight: 1 })),
    });
    const replies = await t.requests('http', `${DP.lb1}:8181`, 4);
    assert.deepEqual(names(replies), ['ep1', 'ep2', 'ep1', 'ep2']);
    for (const r of replies) assert.equal(r.remote, DP.lb1, 'onearm: the node\'s address towards the endpoints');
    const all = (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr as { serviceArguments: { port: number }; programmed: boolean }[];
    assert.equal(all.find((r) => r.serviceArguments.port === 8181)?.programmed, true);
  });
});
