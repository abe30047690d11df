// The chaos soak, short (issue 15 §4): the hitless L3 topology with 100 busy
// connections and a 10 ms probe; each fault kind once (SIGKILL of the
// agent, SIGKILL of gobgpd, a cut link, the router's BGP restarted, a
// SIGTERM drain), each followed by steady state. Invariants: steady again
// within the timeout every time (one MASTER, the router and the endpoints on
// it, all sessions up, the BACKUP synced), and no connection reset. The long
// run with random faults is `npm run bench:chaos`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChaosLab, FAULT_KINDS } from '../lab/chaos.ts';
import { DP } from '../lab/DatapathLab.ts';

describe('chaos soak (short): every fault kind once under 100 busy connections', { timeout: 600_000 }, () => {
  let c: ChaosLab | undefined;
  let bpffs = '';
  let mounted = false;

  before(async () => {
    bpffs = mkdtempSync(path.join(os.tmpdir(), 'lxt-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    mounted = true;
    for (const lb of ['lb1', 'lb2']) mkdirSync(path.join(bpffs, lb));
    c = await ChaosLab.create(bpffs, (s) => console.log(`# ${s}`));
  });
  after(async () => {
    await c?.destroy();
    if (mounted) execFileSync('umount', [bpffs]);
    rmSync(bpffs, { recursive: true, force: true });
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
    assert.deepEqual(r.faults.map((f) => f.kind), [...FAULT_KINDS]);
    assert.deepEqual(r.violations, []);
    assert.equal(r.connections, 100);
    assert.equal(r.reset, 0, 'connections reset');
    assert.equal(r.stalled, 0, 'connections that stopped getting echoes');
    console.log(`# chaos (short): ${r.faults.map((f) => `${f.kind} ${f.lossMs} ms`).join(', ')}; 0 of 100 connections reset`);
  });
});
