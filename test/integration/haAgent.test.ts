// HA roles end to end: two agents with --ka elect one MASTER over BFD, the
// router (BIRD, `bfd on` for its BGP sessions with the LB nodes) prefers the
// MASTER's path, and when the MASTER is SIGKILLed or its link is cut the
// other node becomes MASTER and the router's best path moves to it. A node
// that returns becomes BACKUP. A node cut off at the switch has lost its
// routers too: it is FAULT, not MASTER on its own side, so the heal keeps the
// node that served, with exactly one MASTER and the router on it throughout.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BgpLab, LB_NODES, LOXICMD_BIN, ROUTER, type NodeAddr } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const VIP = '20.20.20.1';
const hookDir = mkdtempSync(path.join(os.tmpdir(), 'lxt-hahook-'));

function hookLog(node: string): string[] {
  const f = path.join(hookDir, `${node}.log`);
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
}

describe('HA roles over BFD (--ka) with a BIRD router', () => {
  let t: BgpLab;
  const other = (lb: NodeAddr) => (lb === LB1 ? LB2 : LB1);
  const state = async (lb: NodeAddr) => {
    const r = await t.api(lb.name, 'GET', '/config/cistate/all');
    return (r.body?.Attr as { instance: string; state: string }[] | undefined)?.find((s) => s.instance === 'llb-inst0')?.state;
  };
  const roles = async () => ({ [LB1.name]: await state(LB1), [LB2.name]: await state(LB2) });
  /** The router's preferred next hop for the VIP. */
  const best = async () => (await t.bird.routesFor(`${VIP}/32`)).find((r) => r.primary)?.via;
  const rule = {
    serviceArguments: { externalIP: VIP, port: 7777, protocol: 'udp', sel: 0, mode: 0, bgp: true },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 7777, weight: 1 }],
  };

  before(async () => {
    for (const lb of LB_NODES) {
      const script = path.join(hookDir, `${lb.name}.sh`);
      writeFileSync(script, `#!/bin/sh\necho "$1 $2 $3" >> ${path.join(hookDir, `${lb.name}.log`)}\n`, { mode: 0o755 });
    }
    t = await BgpLab.create({
      lbCount: 2,
      worker: false,
      birdBfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 },
      routerBgpBfd: true,
      lbArgs: (lb) => [`--ka=${other(lb).ipv4}:${lb.ipv4}:100000:3`, '--ha-init-wait=3000', `--ha-hook=${path.join(hookDir, `${lb.name}.sh`)}`],
    });
    await t.configureBgp({ routerBfd: { interval: 100000, retryCount: 3 } });
    for (const lb of LB_NODES) await t.mustApi(lb.name, 'POST', '/config/loadbalancer', rule);
  });
  after(async () => {
    await t?.destroy();
    rmSync(hookDir, { recursive: true, force: true });
  });

  it('elects one MASTER by rank (equal priority: the higher address) and shows it in cistate', async () => {
    await waitFor(async () => {
      const r = await roles();
      return r[LB2.name] === 'MASTER' && r[LB1.name] === 'BACKUP';
    }, { timeoutMs: 15_000, what: 'lb2 MASTER, lb1 BACKUP' });
    // The peer's role as lb1 last read it (re-read every second).
    const entry = await waitFor(async () => {
      const e = ((await t.mustApi(LB1.name, 'GET', '/config/cistate/all')) as { Attr: Record<string, any>[] }).Attr.find((x) => x.instance === 'llb-inst0')!;
      return e.peers?.[0]?.state === 'MASTER' ? e : undefined;
    }, { timeoutMs: 5_000, what: "lb1's view of lb2 as MASTER" });
    assert.deepEqual(
      { state: entry.state, vip: entry.vip, driver: entry.driver, priority: entry.priority, synced: entry.synced, peers: entry.peers },
      { state: 'BACKUP', vip: '0.0.0.0', driver: 'bfd', priority: 100, synced: true, peers: [{ remoteIp: LB2.ipv4, bfd: 'Up', state: 'MASTER', priority: 100 }] },
    );
    const table = await t.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'hastate', '-o', 'wide']);
    assert.match(table, /\| llb-inst0 \| BACKUP +\| 0\.0\.0\.0 \| +100 \| bfd +\| 192\.168\.80\.11 BFDUp MASTER \|/);
    await waitFor(async () => hookLog(LB2.name).includes('llb-inst0 MASTER 0.0.0.0'), { timeoutMs: 5_000, what: 'the hook ran on lb2' });
    assert.deepEqual(hookLog(LB1.name), ['llb-inst0 BACKUP 0.0.0.0']);
  });

  it('the router runs BFD on its BGP sessions with both nodes and prefers the MASTER', async () => {
    await waitFor(async () => {
      const s = await t.bird.bfdSessions();
      return [LB1.ipv4, LB2.ipv4].every((a) => s.find((x) => x.address === a)?.state === 'Up');
    }, { timeoutMs: 15_000, what: 'BIRD BFD Up with both LB nodes' });
    await waitFor(async () => (await best()) === LB2.ipv4, { timeoutMs: 15_000, what: `router's best path for ${VIP} via lb2` });
    // The --ka peer drives the election; the router's session only its BGP session (it is in no peer list above).
    const rows = ((await t.mustApi(LB1.name, 'GET', '/config/bfd/all')) as { Attr: { remoteIp: string; purpose: string }[] }).Attr;
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.remoteIp, r.purpose])), { [LB2.ipv4]: 'ha-peer', [ROUTER.ipv4]: 'bgp-neighbor', [ROUTER.ipv6]: 'bgp-neighbor' });
  });

  it('SIGKILL of the MASTER: the BACKUP becomes MASTER and the router moves to it; the returning node is BACKUP', async () => {
    const before = hookLog(LB1.name).length;
    t.agents.get(LB2.name)!.signal('SIGKILL');
    const t0 = Date.now();
    await waitFor(async () => (await state(LB1)) === 'MASTER', { timeoutMs: 5_000, intervalMs: 20, what: 'lb1 MASTER' });
    const tookOver = Date.now() - t0;
    await waitFor(async () => (await best()) === LB1.ipv4, { timeoutMs: 5_000, intervalMs: 20, what: 'router best via lb1' });
    assert.ok(tookOver < 2000, `lb1 took over after ${tookOver} ms`);
    assert.deepEqual(hookLog(LB1.name).slice(before), ['llb-inst0 MASTER 0.0.0.0']);

    await t.startAgent(LB2.name, t.lbMode(LB2));
    await waitFor(async () => (await state(LB2)) === 'BACKUP', { timeoutMs: 15_000, what: 'the returning lb2 is BACKUP' });
    // No preemption, no flap: lb1 stays MASTER for good.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await roles(), { [LB1.name]: 'MASTER', [LB2.name]: 'BACKUP' });
    assert.deepEqual(hookLog(LB1.name).slice(before), ['llb-inst0 MASTER 0.0.0.0']);
    await waitFor(async () => (await best()) === LB1.ipv4, { timeoutMs: 10_000, what: 'router still via lb1' });
  });

  /** One HA entry as GET config/cistate/all shows it. */
  const entry = async (lb: NodeAddr) =>
    ((await t.mustApi(lb.name, 'GET', '/config/cistate/all')) as { Attr: Record<string, any>[] }).Attr.find((x) => x.instance === 'llb-inst0')!;

  /**
   * From the heal on, every sample must show exactly one MASTER and the
   * router's best path through it; returns the violations and how long the
   * pair took to settle (`done`).
   */
  async function watchHeal(done: (r: Record<string, string | undefined>) => boolean): Promise<{ violations: string[]; settledMs: number }> {
    const t0 = Date.now();
    const violations: string[] = [];
    await waitFor(
      async () => {
        const [r, via] = await Promise.all([roles(), best()]);
        const masters = Object.entries(r).filter(([, s]) => s === 'MASTER').map(([n]) => n);
        const masterIp = masters.length === 1 ? LB_NODES.find((x) => x.name === masters[0])!.ipv4 : undefined;
        if (masters.length !== 1 || via !== masterIp) violations.push(`${Date.now() - t0} ms: ${JSON.stringify(r)} router via ${via}`);
        return done(r);
      },
      { timeoutMs: 20_000, intervalMs: 50, what: 'the pair settled after the heal' },
    );
    return { violations, settledMs: Date.now() - t0 };
  }

  it('link cut of the BACKUP with the higher rank: it goes FAULT, not MASTER on its own side, and returns as BACKUP; the MASTER never moves', async () => {
    // After the restart above: lb1 MASTER, lb2 (the higher address) BACKUP.
    assert.deepEqual(await roles(), { [LB1.name]: 'MASTER', [LB2.name]: 'BACKUP' });
    const hooks1 = hookLog(LB1.name).length;
    const hooks2 = hookLog(LB2.name).length;
    await t.lab.cutLink(LB2.name);
    try {
      // lb2 lost BFD with lb1 and with the router: no upstream left, so FAULT rather than MASTER alone.
      const e = await waitFor(async () => {
        const x = await entry(LB2);
        return x.state === 'FAULT' ? x : undefined;
      }, { timeoutMs: 5_000, intervalMs: 20, what: 'lb2 FAULT' });
      assert.equal(e.eligible, false);
      assert.deepEqual(
        (e.upstream as { kind: string; name: string; up: boolean }[]).map((u) => [u.kind, u.name, u.up]).sort(),
        [['bgp', ROUTER.ipv4, false], ['bgp', ROUTER.ipv6, false]].sort(),
      );
      const table = await t.lab.run(LB2.name, [LOXICMD_BIN, 'get', 'hastate']);
      assert.match(table, /\| llb-inst0 \| FAULT +\|/);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await state(LB2), 'FAULT', 'stays FAULT while cut');
      assert.equal(await state(LB1), 'MASTER');
    } finally {
      await t.lab.restoreLink(LB2.name);
    }
    const heal = await watchHeal((r) => r[LB1.name] === 'MASTER' && r[LB2.name] === 'BACKUP');
    assert.deepEqual(heal.violations, [], 'one MASTER, the router on it, through the whole heal');
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await roles(), { [LB1.name]: 'MASTER', [LB2.name]: 'BACKUP' });
    assert.deepEqual(hookLog(LB1.name).slice(hooks1), [], 'the MASTER never changed');
    assert.deepEqual(hookLog(LB2.name).slice(hooks2), ['llb-inst0 FAULT 0.0.0.0', 'llb-inst0 BACKUP 0.0.0.0']);
    assert.equal(await best(), LB1.ipv4);
    console.log(`# heal after a cut of the higher-rank BACKUP: settled in ${heal.settledMs} ms, 0 samples with a MASTER the router does not use`);
  });

  it('link cut of the MASTER: the BACKUP takes over, the cut node is FAULT and shuts its BGP session; the heal keeps the new MASTER', async () => {
    const hooks1 = hookLog(LB1.name).length;
    const hooks2 = hookLog(LB2.name).length;
    await t.lab.cutLink(LB1.name);
    try {
      await waitFor(async () => (await state(LB2)) === 'MASTER', { timeoutMs: 5_000, intervalMs: 20, what: 'lb2 MASTER after the cut' });
      await waitFor(async () => (await best()) === LB2.ipv4, { timeoutMs: 5_000, intervalMs: 20, what: 'router best via lb2 (BFD, not the hold timer)' });
      // lb1 is cut off: its BFD with the router went down, so its BGP session is shut (gobgp shows it admin-down).
      await waitFor(async () => {
        const peers = (await t.gobgpJson(LB1.name, 'neighbor')) as { conf?: { neighbor_address?: string }; state?: { admin_state?: number } }[];
        return peers.find((p) => p.conf?.neighbor_address === ROUTER.ipv4)?.state?.admin_state === 1;
      }, { timeoutMs: 5_000, what: 'lb1 shut its session with the router' });
      await waitFor(async () => (await state(LB1)) === 'FAULT', { timeoutMs: 5_000, what: 'lb1 FAULT' });
    } finally {
      await t.lab.restoreLink(LB1.name);
    }
    const heal = await watchHeal((r) => r[LB2.name] === 'MASTER' && r[LB1.name] === 'BACKUP');
    assert.deepEqual(heal.violations, [], 'one MASTER, the router on it, through the whole heal');
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await roles(), { [LB1.name]: 'BACKUP', [LB2.name]: 'MASTER' });
    assert.deepEqual(hookLog(LB2.name).slice(hooks2), ['llb-inst0 MASTER 0.0.0.0'], 'no flapping');
    // The cut MASTER may be MASTER for a moment (its HA session can time out before its router's): then FAULT, then BACKUP.
    assert.deepEqual(hookLog(LB1.name).slice(hooks1).filter((h) => !h.includes('MASTER')), ['llb-inst0 FAULT 0.0.0.0', 'llb-inst0 BACKUP 0.0.0.0']);
    // BFD back up with the router: the session is enabled and comes back.
    await t.waitEstablished(LB1.name, [ROUTER.ipv4], 20_000);
    console.log(`# heal after a cut of the MASTER: settled in ${heal.settledMs} ms`);
  });
});
