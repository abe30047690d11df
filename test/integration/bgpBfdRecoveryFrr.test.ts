// BGP after BFD Down -> Up with FRR 8.4 as the router (issue 15, §1b), the
// FRR half of bgpBfdRecovery.test.ts. FRR runs as operators run it: `neighbor
// X bfd`, its own connect retry (120 s). When our link goes, FRR's BFD closes
// the session; FRR tries to connect once over the dead link, fails, and waits
// in Active for its connect retry. When BFD comes Up again FRR 8.4 starts the
// peer only from Idle (bgp_bfd.c: BGP_Start is ignored in Active), so the
// session comes back only when our side dials: gobgpd 3.10's new peer dials
// first after a random 5-10 s (minConnectRetryInterval; fsm.go connectLoop)
// and has no way to dial sooner. This test pins what we do get (the peer
// back and dialling at BFD Up, Established within that 5-10 s window, no
// reset on top) and says so in its diagnostics; the 2 s of the issue needs the
// router to dial (BIRD, or FRR with `timers connect`): the second variant
// shows our side takes such a dial at once (the old enable-the-peer way held
// it Idle 5 s and closed every connection meanwhile).
//
// The reference: FRR and BIRD with the same BFD, router to router.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, CLUSTER_AS, LB_NODES, ROUTER, ROUTER_AS } from '../lab/BgpLab.ts';
import { Lab } from '../lab/Lab.ts';
import { Frr } from '../lab/Frr.ts';
import { Bird } from '../lab/Bird.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1] = LB_NODES as [(typeof LB_NODES)[0]];
const BFD = { minRxMs: 100, minTxMs: 100, multiplier: 3 };
/** gobgpd 3.10's first dial of a new peer comes 5-10 s after it is made; a second of margin for the OPEN exchange and a busy machine. */
const GOBGPD_FIRST_DIAL_BOUND_MS = 11_500;

/** As bgpBfdRecovery.test.ts: a router that dials within a second of BFD Up finds our side ready. */
const ROUTER_DIALS_BOUND_MS = 4000;

for (const variant of [
  { name: 'FRR (default connect retry 120 s) gets the session back when gobgpd dials', extra: [] as string[], boundMs: GOBGPD_FIRST_DIAL_BOUND_MS },
  { name: 'FRR with `timers connect 1` dials, and our side takes it at once', extra: ['timers connect 1'], boundMs: ROUTER_DIALS_BOUND_MS },
]) describe(`BGP with BFD: after the link heals, ${variant.name}`, { timeout: 90_000 }, () => {
  let t: BgpLab;
  let frr: Frr;

  before(async () => {
    t = await BgpLab.create({ lbCount: 1, worker: false, router: 'frr', routerBgpBfd: true, frrBfd: BFD, frrNeighborExtra: variant.extra });
    frr = t.frr!;
    await t.configureBgp({ routerBfd: { interval: 100000, retryCount: 3 } });
    await t.waitEstablished(LB1.name, [ROUTER.ipv4], 30_000);
    await waitFor(async () => (await frr.bfdStatus(LB1.ipv4)) === 'up', { timeoutMs: 20_000, what: 'BFD Up at FRR' });
  });
  after(async () => {
    await t?.destroy();
  });

  for (const round of [1, 2]) {
    it(`link cut and healed (${round}): Established within ${variant.boundMs} ms of BFD Up, once`, async (ctx) => {
      const before = await frr.neighbor(LB1.ipv4);
      await t.lab.cutLink(LB1.name);
      try {
        await waitFor(async () => (await frr.bgpState(LB1.ipv4)) !== 'Established', { timeoutMs: 5000, intervalMs: 20, what: 'FRR drops the session on BFD Down' });
        await waitFor(async () => {
          const peers = (await t.gobgpJson(LB1.name, 'neighbor')) as { conf?: { neighbor_address?: string }; state?: { admin_state?: number } }[];
          return peers.find((p) => p.conf?.neighbor_address === ROUTER.ipv4)?.state?.admin_state === 1;
        }, { timeoutMs: 5000, what: 'our session with the router shut' });
      } finally {
        await t.lab.restoreLink(LB1.name);
      }
      await waitFor(async () => (await frr.bfdStatus(LB1.ipv4)) === 'up', { timeoutMs: 10_000, intervalMs: 20, what: 'BFD Up again at FRR' });
      const bfdUp = performance.now();
      const frrStateAtBfdUp = await frr.bgpState(LB1.ipv4);
      await waitFor(async () => (await frr.bgpState(LB1.ipv4)) === 'Established', { timeoutMs: 30_000, intervalMs: 50, what: 'FRR Established again' });
      const ms = performance.now() - bfdUp;
      const after = await frr.neighbor(LB1.ipv4);
      // Active: FRR waits for its 120 s connect retry, gobgpd's first dial decides.
      // Connect/OpenSent: FRR's one attempt over the dead link was still in
      // flight when the link healed (its SYN retransmit got through).
      ctx.diagnostic(`Established ${ms.toFixed(0)} ms after BFD Up at FRR (FRR was ${frrStateAtBfdUp} at BFD Up)`);
      assert.ok(ms < variant.boundMs, `Established ${ms.toFixed(0)} ms after BFD Up (bound ${variant.boundMs} ms)`);
      // One session per round: the cut ends one, the heal makes one, nothing resets it on top.
      assert.equal(after.connectionsEstablished - before.connectionsEstablished, 1, JSON.stringify({ before: before.connectionsEstablished, after: after.connectionsEstablished, lastReset: after.lastResetDueTo }));
      await t.waitEstablished(LB1.name, [ROUTER.ipv4], 5000);
    });
  }
});

describe('reference: FRR and BIRD with the same BFD, router to router', { timeout: 60_000 }, () => {
  let lab: Lab;
  let frr: Frr;

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw');
    await lab.addNode('router', { switch: 'sw', ipv4: `${ROUTER.ipv4}/24` });
    await lab.addNode('bird', { switch: 'sw', ipv4: `${LB1.ipv4}/24` });
    frr = await Frr.start(lab, 'router', { routerId: ROUTER.ipv4, asn: ROUTER_AS, neighbors: [{ address: LB1.ipv4, remoteAs: CLUSTER_AS, bfd: true }], bfd: BFD });
    // BIRD as BgpLab runs it (connect retry 1 s, error wait 1-2 s): the side that dials.
    await Bird.start(lab, 'bird', {
      routerId: LB1.ipv4,
      bfd: BFD,
      neighbors: [{ localAddress: LB1.ipv4, localAs: CLUSTER_AS, neighborAddress: ROUTER.ipv4, neighborAs: ROUTER_AS, bfd: true }],
    });
    await frr.waitEstablished([LB1.ipv4], 30_000);
    await waitFor(async () => (await frr.bfdStatus(LB1.ipv4)) === 'up', { timeoutMs: 20_000, what: 'BFD Up at FRR' });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('link cut and healed: FRR Established again after BFD Up (diagnostic)', async (ctx) => {
    await lab.cutLink('bird');
    try {
      await waitFor(async () => (await frr.bgpState(LB1.ipv4)) !== 'Established', { timeoutMs: 5000, intervalMs: 20, what: 'FRR drops the session on BFD Down' });
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await lab.restoreLink('bird');
    }
    await waitFor(async () => (await frr.bfdStatus(LB1.ipv4)) === 'up', { timeoutMs: 10_000, intervalMs: 20, what: 'BFD Up again at FRR' });
    const bfdUp = performance.now();
    await waitFor(async () => (await frr.bgpState(LB1.ipv4)) === 'Established', { timeoutMs: 30_000, intervalMs: 50, what: 'FRR Established again' });
    ctx.diagnostic(`router to router (FRR 8.4 <-> BIRD 2.0.12, BFD 100 ms x 3): Established ${(performance.now() - bfdUp).toFixed(0)} ms after BFD Up at FRR`);
  });
});
