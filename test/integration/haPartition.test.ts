// Issue 15: "On a heal with two MASTERs, the node that kept serving stays
// MASTER". Only the HA link between the two nodes is cut (their BFD is
// dropped; both keep their router): each becomes MASTER, both advertise with
// the MASTER's MED, and BIRD picks one by its own tie-break (the lower router
// id: lb1, the lower rank). Clients follow the router. When the HA link comes
// back, the node the traffic went to stays MASTER and the other, although it
// has the higher rank, steps down: no connection moves and the router's best
// path never changes. Deciding by rank alone (before) moved every client to
// lb2 at the heal.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, CLIENT, LB_NODES, type NodeAddr } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';
import type { LabProcess } from '../lab/Lab.ts';

const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const VIP = '20.20.20.1';
const PORT = 7777;
const TABLE = 'lxt_ha_partition';

describe('HA link partition with both nodes on their router: the heal keeps the MASTER the router used', () => {
  let t: BgpLab;
  let sender: LabProcess | undefined;
  const other = (lb: NodeAddr) => (lb === LB1 ? LB2 : LB1);
  const entry = async (lb: NodeAddr) =>
    ((await t.mustApi(lb.name, 'GET', '/config/cistate/all')) as { Attr: { instance: string; state: string; serving?: boolean }[] }).Attr.find((s) => s.instance === 'llb-inst0');
  const roles = async () => ({ [LB1.name]: (await entry(LB1))?.state, [LB2.name]: (await entry(LB2))?.state });
  const best = async () => (await t.bird.routesFor(`${VIP}/32`)).find((r) => r.primary)?.via;
  /** Drops BFD between the two nodes, in lb1's namespace, both ways; everything else (the API, the routers) still passes. */
  const partition = async (on: boolean) => {
    if (!on) {
      await t.lab.exec(LB1.name, ['nft', 'delete', 'table', 'inet', TABLE]);
      return;
    }
    const rules = [
      `table inet ${TABLE} {`,
      `  chain in { type filter hook input priority -10; ip saddr ${LB2.ipv4} udp dport 3784 drop; }`,
      `  chain out { type filter hook output priority -10; ip daddr ${LB2.ipv4} udp dport 3784 drop; }`,
      `}`,
    ].join('\n');
    await t.lab.run(LB1.name, ['nft', '-f', '-'], { input: rules });
  };

  before(async () => {
    t = await BgpLab.create({
      lbCount: 2,
      worker: false,
      client: true,
      birdBfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 },
      routerBgpBfd: true,
      lbArgs: (lb) => [`--ka=${other(lb).ipv4}:${lb.ipv4}:100000:3`, '--ha-init-wait=3000'],
    });
    await t.configureBgp({ routerBfd: { interval: 100000, retryCount: 3 } });
    const rule = {
      serviceArguments: { externalIP: VIP, port: PORT, protocol: 'udp', sel: 0, mode: 0, bgp: true },
      endpoints: [{ endpointIP: '10.0.0.1', targetPort: PORT, weight: 1 }],
    };
    for (const lb of LB_NODES) await t.mustApi(lb.name, 'POST', '/config/loadbalancer', rule);
    await waitFor(async () => {
      const r = await roles();
      return r[LB2.name] === 'MASTER' && r[LB1.name] === 'BACKUP' && (await best()) === LB2.ipv4;
    }, { timeoutMs: 30_000, what: 'lb2 (the higher rank) MASTER and the router on it' });
  });
  after(async () => {
    await sender?.stop().catch(() => undefined);
    await t?.lab.exec(LB1.name, ['nft', 'delete', 'table', 'inet', TABLE]).catch(() => undefined);
    await t?.destroy();
  });

  it('both MASTER while cut, the router on lb1; at the heal lb1 stays MASTER and lb2 steps down, the best path never moves', async () => {
    await partition(true);
    let healed = false;
    try {
      await waitFor(async () => {
        const r = await roles();
        return r[LB1.name] === 'MASTER' && r[LB2.name] === 'MASTER';
      }, { timeoutMs: 5_000, intervalMs: 20, what: 'both MASTER while the HA link is cut' });
      // Equal MEDs: BIRD's tie-break (the lower router id) picks lb1.
      await waitFor(async () => (await best()) === LB1.ipv4, { timeoutMs: 10_000, what: 'router best via lb1 with both MASTER' });
      // A client sends to the VIP every 20 ms: the traffic goes where the router sends it.
      sender = t.lab.spawn(CLIENT.name, process.execPath, [
        '-e',
        `const s = require('dgram').createSocket('udp4'); setInterval(() => s.send('x', ${PORT}, '${VIP}'), 20);`,
      ]);
      await waitFor(async () => (await entry(LB1))?.serving === true, { timeoutMs: 5_000, what: 'lb1 serving' });
      assert.equal((await entry(LB2))?.serving, false, 'lb2 carries nothing: the router does not use it');
      await partition(false);
      healed = true;
      // Through the heal: the router's best path stays on lb1, and lb1 never stops being MASTER.
      const samples: string[] = [];
      const deadline = performance.now() + 4000;
      while (performance.now() < deadline) {
        const [r, b] = await Promise.all([roles(), best()]);
        if (r[LB1.name] !== 'MASTER' || b !== LB1.ipv4) samples.push(`lb1 ${r[LB1.name]}, best ${b}`);
        if (r[LB2.name] === 'BACKUP' && samples.length === 0 && performance.now() > deadline - 2000) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.deepEqual(samples, [], 'lb1 MASTER and the router on it through the heal');
      assert.deepEqual(await roles(), { [LB1.name]: 'MASTER', [LB2.name]: 'BACKUP' });
      assert.equal(await best(), LB1.ipv4);
    } finally {
      if (!healed) await partition(false).catch(() => undefined);
      await sender?.stop();
      sender = undefined;
    }
  });
});
