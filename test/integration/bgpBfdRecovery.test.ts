// BGP comes back as fast as BFD allows (issue 15, §1b). A BGP neighbour with
// "bfd" runs BFD with the router (BIRD, `bfd on` on its session): when the
// link goes, both ends shut the BGP session within the detection time; when it
// comes back, the session must be Established again about as soon as BFD is
// Up. gobgpd 3.10 holds a re-enabled peer Idle for 5 s (closing the router's
// connections meanwhile) and then waits 5-10 s for its own first connect, so
// the agent makes the peer anew instead; this test fails at the old 5-15 s.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, LB_NODES, ROUTER } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1] = LB_NODES as [(typeof LB_NODES)[0]];
const PROTO = `n_${LB1.ipv4.replace(/\./g, '_')}`;
/** Well under gobgpd's 5 s idle hold; BIRD retries within about a second of its BFD coming Up. */
const BOUND_MS = 4000;

describe('BGP with BFD: after the link heals, the session is back within seconds of BFD Up (BIRD)', () => {
  let t: BgpLab;
  const birdBfd = async () => (await t.bird.bfdSessions()).find((s) => s.address === LB1.ipv4)?.state;
  const birdBgp = async () => (await t.bird.protocols(true)).find((p) => p.name === PROTO)?.bgpState;

  before(async () => {
    t = await BgpLab.create({ lbCount: 1, worker: false, birdBfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 }, routerBgpBfd: true });
    await t.configureBgp({ routerBfd: { interval: 100000, retryCount: 3 } });
    await t.waitEstablished(LB1.name, [ROUTER.ipv4], 30_000);
    // BFD comes Up only after BGP is Established (bgpBfdStartOrder.test.ts): a cut before then is not BFD's to see.
    await waitFor(async () => (await birdBfd()) === 'Up', { timeoutMs: 10_000, intervalMs: 50, what: 'BFD Up at BIRD' });
  });
  after(async () => {
    await t?.destroy();
  });

  for (const round of [1, 2]) {
    it(`link cut and healed (${round}): Established within ${BOUND_MS} ms of BFD Up`, async (ctx) => {
      await t.lab.cutLink(LB1.name);
      try {
        await waitFor(async () => (await birdBgp()) !== 'Established', { timeoutMs: 5000, intervalMs: 20, what: 'BIRD drops the session on BFD Down' });
        // Our side shut it too (admin-down in gobgpd), so nothing reconnects over a dead link.
        await waitFor(async () => {
          const peers = (await t.gobgpJson(LB1.name, 'neighbor')) as { conf?: { neighbor_address?: string }; state?: { admin_state?: number } }[];
          return peers.find((p) => p.conf?.neighbor_address === ROUTER.ipv4)?.state?.admin_state === 1;
        }, { timeoutMs: 5000, what: 'our session with the router shut' });
      } finally {
        await t.lab.restoreLink(LB1.name);
      }
      await waitFor(async () => (await birdBfd()) === 'Up', { timeoutMs: 10_000, intervalMs: 20, what: 'BFD Up again at BIRD' });
      const bfdUp = performance.now();
      await waitFor(async () => (await birdBgp()) === 'Established', { timeoutMs: 30_000, intervalMs: 50, what: 'BIRD Established again' });
      const ms = performance.now() - bfdUp;
      ctx.diagnostic(`Established ${ms.toFixed(0)} ms after BFD Up at BIRD`);
      assert.ok(ms < BOUND_MS, `Established ${ms.toFixed(0)} ms after BFD Up (bound ${BOUND_MS} ms)`);
      await t.waitEstablished(LB1.name, [ROUTER.ipv4], 5000);
    });
  }
});
