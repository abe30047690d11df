// The chaos soak, short (issue 15 §4): the hitless L3 topology with 100 busy
// connections and a 10 ms probe; each fault kind once (SIGKILL of the
// agent, SIGKILL of gobgpd, a cut link, the router's BGP restarted, a
// SIGTERM drain), each followed by steady state. Invariants: steady again
// within the timeout every time (one MASTER, the router and the endpoints on
// it, all sessions up, the BACKUP synced), and no connection reset. Then the
// same on the L2 topology (test/lab/chaosL2.ts) with the faults that apply
// there (SIGKILL of the agent, a cut link, a drain): one MASTER, only it
// holds the VIP and answers ARP for it, the client and the endpoints on its
// MAC. The long run with random faults is `npm run bench:chaos`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mountTestBpffs, type TestBpffs } from '../lab/bpffs.ts';
import { ChaosLab, FAULT_KINDS } from '../lab/chaos.ts';
import { L2ChaosLab, L2_FAULT_KINDS } from '../lab/chaosL2.ts';
import { DP } from '../lab/DatapathLab.ts';
import { agentLogExcerpt } from '../lab/chaosRun.ts';

/**
 * The router's BGP restart costs one session set-up with BIRD (loss 0.8-1.0 s
 * in every soak). gobgpd's 5 s Idle hold after the router's NOTIFICATION
 * showed as 5.2-5.4 s twice under load, before PeerRevival; 3 s leaves two
 * seconds for a busy core and still catches that hold.
 */
const ROUTER_BGP_LOSS_BOUND_MS = 3000;

describe('chaos soak (short): every fault kind once under 100 busy connections', { timeout: 600_000 }, () => {
  let c: ChaosLab | undefined;
  let fs: TestBpffs | undefined;

  before(async () => {
    fs = mountTestBpffs();
    c = await ChaosLab.create(fs.dir, (s) => console.log(`# ${s}`));
  });
  after(async () => {
    await c?.destroy();
    fs?.release();
  });

  it('the upstream is the eBGP router, not the iBGP mesh with the endpoints', async () => {
    for (const lb of ['lb1', 'lb2'] as const) {
      const e = ((await c!.t.mustApi(lb, 'GET', '/config/cistate/all')).Attr as { instance: string; eligible?: boolean; upstream?: { name: string; up: boolean }[] }[]).find((x) => x.instance === 'llb-inst0')!;
      assert.equal(e.eligible, true);
      assert.deepEqual(e.upstream?.map((u) => [u.name, u.up]), [[DP.routerLan, true]], lb);
    }
  });

  it('steady after every fault, no connection reset', async () => {
    const r = await c!.soak({ durationMs: 0, kinds: FAULT_KINDS });
    const routerBgp = r.faults.find((f) => f.kind === 'router-bgp');
    const slowRouterBgp = (routerBgp?.lossMs ?? 0) >= ROUTER_BGP_LOSS_BOUND_MS;
    if (r.reset > 0 || r.violations.length > 0 || slowRouterBgp) console.log(agentLogExcerpt(c!.t.lab).replace(/^/gm, '# '));
    assert.deepEqual(r.faults.map((f) => f.kind), [...FAULT_KINDS]);
    assert.deepEqual(r.violations, []);
    assert.ok(!slowRouterBgp, `router-bgp loss ${routerBgp?.lossMs} ms (bound ${ROUTER_BGP_LOSS_BOUND_MS} ms)`);
    assert.equal(r.connections, 100);
    assert.equal(r.reset, 0, `connections reset: ${r.resets.join('; ')}`);
    assert.equal(r.stalled, 0, 'connections that stopped getting echoes');
    console.log(`# chaos (short): ${r.faults.map((f) => `${f.kind} ${f.lossMs} ms`).join(', ')}; 0 of 100 connections reset`);
  });
});

describe('chaos soak (short), L2: every L2 fault kind once under 100 busy connections', { timeout: 300_000 }, () => {
  let c: L2ChaosLab | undefined;
  let fs: TestBpffs | undefined;

  before(async () => {
    fs = mountTestBpffs();
    c = await L2ChaosLab.create(fs.dir, (s) => console.log(`# ${s}`));
  });
  after(async () => {
    await c?.destroy();
    fs?.release();
  });

  it('steady after every fault (only the MASTER holds the VIP and answers ARP), no connection reset', async () => {
    const t0 = performance.now();
    const r = await c!.soak({ durationMs: 0, kinds: L2_FAULT_KINDS });
    if (r.reset > 0 || r.violations.length > 0) console.log(agentLogExcerpt(c!.lab).replace(/^/gm, '# '));
    assert.deepEqual(r.faults.map((f) => f.kind), [...L2_FAULT_KINDS]);
    assert.deepEqual(r.violations, []);
    assert.equal(r.connections, 100);
    assert.equal(r.reset, 0, `connections reset: ${r.resets.join('; ')}`);
    assert.equal(r.stalled, 0, 'connections that stopped getting echoes');
    console.log(`# chaos (short, L2): ${r.faults.map((f) => `${f.kind} ${f.lossMs} ms`).join(', ')}; 0 of 100 connections reset; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  });
});
