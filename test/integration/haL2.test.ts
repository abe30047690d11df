// HA in a flat L2 network (seeds' scenario 1): the VIP lies inside the LB
// nodes' subnet, so the MASTER holds it on its interface and announces it
// with gratuitous ARP / unsolicited NA. When the MASTER's link is cut the
// other node takes the VIP and a client's neighbour table moves to its MAC;
// after the heal exactly one node holds it.
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
    } finally {
      await t.lab.restoreLink(LB2.name);
    }
  });

  it('after the heal exactly one node holds the VIPs (the higher rank), and the client follows it', async () => {
    await waitFor(async () => (await state(LB2)) === 'MASTER' && (await state(LB1)) === 'BACKUP', { timeoutMs: 15_000, what: 'one MASTER after the heal' });
    await waitFor(async () => (await held(LB1.name)).length === 0, { timeoutMs: 5_000, what: 'lb1 released the VIPs' });
    assert.deepEqual(await held(LB2.name), [VIP4, VIP6].sort());
    const lb2Mac = await mac(LB2.name);
    await waitFor(async () => (await clientNeigh(VIP4)) === lb2Mac, { timeoutMs: 5_000, what: 'client back on lb2 (re-announced on heal)' });
  });

  it('a stopped agent gives its VIPs back at once (planned stop)', async () => {
    await t.agents.get(LB2.name)!.stop();
    assert.deepEqual(await held(LB2.name), []);
    await waitFor(async () => (await held(LB1.name)).length === 2, { timeoutMs: 5_000, what: 'lb1 took over' });
  });
});
