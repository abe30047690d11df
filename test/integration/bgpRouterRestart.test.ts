// The router restarts its BGP session with us (issue 15: the chaos soak's
// router-bgp fault; BIRD `restart`, FRR `clear bgp`): the router sends a
// NOTIFICATION (Cease) and dials again. gobgpd 3.10 holds a peer whose
// session ended Idle for 5 s, closing every connection the router makes
// meanwhile: BIRD got its session back 5.2-5.4 s later; FRR, refused once,
// waits its connect retry (120 s) and the session came back only at gobgpd's
// own dial, 5-10 s after the hold. The agent makes such a peer anew
// (PeerRevival), so it takes the router's next connection at once.
//
// No BFD on these sessions: with BFD the router's restart usually flaps BFD
// too and the BFD path makes the peer anew (bgpBfdRecovery.test.ts); without
// it, or when the flap is shorter than a reconcile pass, only this does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, LB_NODES, ROUTER } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1] = LB_NODES as [(typeof LB_NODES)[0]];
/** Under gobgpd's 5 s hold; BIRD dials again within about a second, FRR 8.4 within its 1-2 s start timer. */
const BOUND_MS = 4000;

for (const router of ['bird', 'frr'] as const) {
  describe(`the router (${router}) restarts its BGP session: Established again within ${BOUND_MS} ms`, { timeout: 120_000 }, () => {
    let t: BgpLab;
    const state = async (): Promise<string | undefined> => {
      if (router === 'frr') return t.frr!.bgpState(LB1.ipv4);
      return (await t.bird.protocols(true)).find((p) => p.name === `n_${LB1.ipv4.replace(/\./g, '_')}`)?.bgpState;
    };
    const restart = async () => {
      if (router === 'frr') await t.frr!.vtysh([`clear bgp ${LB1.ipv4}`], 'bgpd');
      else await t.bird.birdc(`restart n_${LB1.ipv4.replace(/\./g, '_')}`);
    };

    before(async () => {
      t = await BgpLab.create({ lbCount: 1, worker: false, ...(router === 'frr' ? { router: 'frr' as const } : {}) });
      await t.configureBgp();
      await t.waitEstablished(LB1.name, [ROUTER.ipv4], 30_000);
      await waitFor(async () => (await state()) === 'Established', { timeoutMs: 20_000, what: `${router} Established` });
    });
    after(async () => {
      await t?.destroy();
    });

    for (const round of [1, 2]) {
      it(`restart ${round}`, async (ctx) => {
        // gobgpd's peer must have been up a while (PeerRevival.REVIVE_MIN_UP_MS) for the session's end to count.
        await new Promise((r) => setTimeout(r, 5500));
        const t0 = performance.now();
        await restart();
        await waitFor(async () => (await state()) !== 'Established', { timeoutMs: 5000, intervalMs: 10, what: `${router} drops the session` });
        await waitFor(async () => (await state()) === 'Established', { timeoutMs: 30_000, intervalMs: 50, what: `${router} Established again` });
        const ms = performance.now() - t0;
        ctx.diagnostic(`${router}: Established ${ms.toFixed(0)} ms after the restart`);
        assert.ok(ms < BOUND_MS, `Established ${ms.toFixed(0)} ms after the restart (bound ${BOUND_MS} ms; gobgpd's Idle hold alone is 5 s)`);
        await t.waitEstablished(LB1.name, [ROUTER.ipv4], 5000);
      });
    }
  });
}
