// HA in a flat L2 network (seeds' scenario 1): the VIP lies inside the LB
// nodes' subnet, so the MASTER holds it on its interface and announces it
// with gratuitous ARP / unsolicited NA. When the MASTER's link is cut the
// other node takes the VIP and a client's neighbour table moves to its MAC.
// The cut node has lost the link its VIPs live on: it is FAULT and holds
// nothing, and after the heal it comes back as BACKUP, so the client stays on
// the node that served meanwhile and exactly one node holds the VIPs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, LB_NODES, type NodeAddr } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const VIP4 = '192.168.80.200';
const VIP6 = 'fd00:80::200';
const CLIENT = { name: 'client', ipv4: '192.168.80.50', ipv6: 'fd00:80::50' };

describe('HA roles in an L2 setup: VIP on the MASTER, gratuitous ARP / NA on takeover', () => {
  let t: BgpLab;
  const other = (lb: NodeAddr) => (lb === LB1 ? LB2 : LB1);
  const mac = async (node: string) => JSON.parse(await t.lab.run(node, ['ip', '-j', 'link', 'show', 'eth0']))[0].address as string;
  /** Host addresses (/32, /128) on a node's eth0. */
  const held = async (node: string) =>
    (JSON.parse(await t.lab.run(node, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']))[0].addr_info as { local: string; prefixlen: number }[])
      .filter((a) => a.prefixlen === 32 || a.prefixlen === 128)
      .map((a) => a.local)
      .sort();
  /** The client's neighbour entry for an address: the MAC it would send to. */
  const clientNeigh = async (addr: string) => {
    const rows = JSON.parse(await t.lab.run(CLIENT.name, ['ip', '-j', 'neigh', 'show', addr])) as { lladdr?: string; state?: string[] }[];
    return rows[0]?.lladdr;
  };
  const state = async (lb: NodeAddr) =>
    ((await t.mustApi(lb.name, 'GET', '/config/cistate/all')) as { Attr: { instance: string; state: string }[] }).Attr.find((s) => s.instance === 'llb-inst0')?.state;

  before(async () => {
    t = await BgpLab.create({
      lbCount: 2,
      worker: false,
      lbArgs: (lb) => [`--ka=${other(lb).ipv4}:${lb.ipv4}:50000:3`, '--ha-init-wait=3000'],
    });
    await t.lab.addNode(CLIENT.name, { switch: 'sw', ipv4: `${CLIENT.ipv4}/24`, ipv6: `${CLIENT.ipv6}/64` });
    for (const lb of LB_NODES) {
      for (const vip of [VIP4, VIP6]) {
        await t.mustApi(lb.name, 'POST', '/config/loadbalancer', {
          serviceArguments: { externalIP: vip, port: 80, protocol: 'tcp', sel: 0, mode: 0 },
          endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
        });
      }
    }
  });
  after(async () => {
    await t?.destroy();
  });

  it('the MASTER holds the VIPs on its interface, the BACKUP does not, and the client resolves them to the MASTER', async () => {
    await waitFor(async () => (await state(LB2)) === 'MASTER' && (await state(LB1)) === 'BACKUP', { timeoutMs: 15_000, what: 'lb2 MASTER' });
    await waitFor(async () => (await held(LB2.name)).join() === [VIP4, VIP6].sort().join(), { timeoutMs: 5_000, what: 'lb2 holds both VIPs' });
    assert.deepEqual(await held(LB1.name), []);
    await t.lab.run(CLIENT.name, ['ping', '-c', '1', '-W', '2', VIP4]);
    await t.lab.run(CLIENT.name, ['ping', '-c', '1', '-W', '2', VIP6]);
    assert.equal(await clientNeigh(VIP4), await mac(LB2.name));
    assert.equal(await clientNeigh(VIP6), await mac(LB2.name));
  });

  it("link cut: the other node takes the VIPs and the client's neighbour table moves to its MAC without a new lookup", async () => {
    const lb1Mac = await mac(LB1.name);
    await t.lab.cutLink(LB2.name);
    try {
      await waitFor(async () => (await clientNeigh(VIP4)) === lb1Mac && (await clientNeigh(VIP6)) === lb1Mac, {
        timeoutMs: 5_000,
        intervalMs: 20,
        what: "client's neighbour entries on lb1's MAC (gratuitous ARP and unsolicited NA)",
      });
      assert.equal(await state(LB1), 'MASTER');
      assert.deepEqual(await held(LB1.name), [VIP4, VIP6].sort());
      await t.lab.run(CLIENT.name, ['ping', '-c', '1', '-W', '2', VIP4]);
      // lb2's VIP link has no carrier: FAULT, not MASTER on its own side, and it gives the VIPs back.
      await waitFor(async () => (await state(LB2)) === 'FAULT', { timeoutMs: 5_000, intervalMs: 20, what: 'lb2 FAULT' });
      const e = ((await t.mustApi(LB2.name, 'GET', '/config/cistate/all')) as { Attr: Record<string, any>[] }).Attr.find((x) => x.instance === 'llb-inst0')!;
      assert.deepEqual({ eligible: e.eligible, upstream: e.upstream }, { eligible: false, upstream: [{ kind: 'interface', name: 'eth0', up: false, detail: 'no carrier' }] });
      await waitFor(async () => (await held(LB2.name)).length === 0, { timeoutMs: 5_000, what: 'lb2 released the VIPs' });
    } finally {
      await t.lab.restoreLink(LB2.name);
    }
  });

  it('after the heal the node that served stays MASTER (no preemption by the higher rank), and only it answers for the VIPs', async () => {
    const lb1Mac = await mac(LB1.name);
    // Every sample from the heal on: one node holds the VIPs, and it is lb1.
    const bad: string[] = [];
    await waitFor(
      async () => {
        const [s1, s2, h1, h2] = await Promise.all([state(LB1), state(LB2), held(LB1.name), held(LB2.name)]);
        if (s1 !== 'MASTER' || s2 === 'MASTER' || h2.length > 0 || h1.length !== 2) bad.push(`${s1}/${s2} ${h1}|${h2}`);
        return s2 === 'BACKUP';
      },
      { timeoutMs: 15_000, intervalMs: 50, what: 'lb2 BACKUP after the heal' },
    );
    assert.deepEqual(bad, []);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual([await state(LB1), await state(LB2)], ['MASTER', 'BACKUP']);
    assert.deepEqual(await held(LB2.name), []);
    await t.lab.run(CLIENT.name, ['ping', '-c', '1', '-W', '2', VIP4]);
    assert.equal(await clientNeigh(VIP4), lb1Mac);
  });

  it('a stopped agent gives its VIPs back at once (planned stop)', async () => {
    await t.agents.get(LB1.name)!.stop();
    assert.deepEqual(await held(LB1.name), []);
    await waitFor(async () => (await held(LB2.name)).length === 2, { timeoutMs: 5_000, what: 'lb2 took over' });
  });
});
