// The chaos soak, long (issue 15 §4): the hitless L3 topology (BIRD router
// with BFD, two `loxilb --bgp --ka --cluster` nodes with a pinned connection
// table, endpoints on `loxilb --peer`), 100 connections busy through the VIP
// and a UDP probe every 10 ms, and random faults for CHAOS_MINUTES (default
// 10): SIGKILL of an agent, SIGKILL of gobgpd, a cut link, the router's BGP
// restarted, a SIGTERM drain. Each one, then steady state again. Lab and
// faults: test/lab/chaos.ts.
//
//   npm run bench:chaos        (root, after `npm run setup`)
//
// Knobs (env): CHAOS_MINUTES, CHAOS_SEED (default 1), LAB_KEEP=1.
// Reported: faults by kind, invariant violations (goal 0), connections reset
// (goal 0: a node always survives here), and per fault kind the loss window
// (longest gap between two probe replies) and the time to steady state.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChaosLab, FAULT_KINDS, type FaultRecord } from '../test/lab/chaos.ts';
import { percentile } from '../test/lab/longestGap.ts';

const MINUTES = Number(process.env.CHAOS_MINUTES ?? 10);
const SEED = Number(process.env.CHAOS_SEED ?? 1);
const log = (s: string) => process.stderr.write(`${s}\n`);

function table(faults: FaultRecord[]): string {
  const head = ['fault', 'count', 'on MASTER', 'loss p50 ms', 'loss p95 ms', 'loss max ms', 'steady after p50 s', 'violations'];
  const rows = FAULT_KINDS.map((k) => {
    const f = faults.filter((x) => x.kind === k);
    if (f.length === 0) return [k, '0', '-', '-', '-', '-', '-', '-'];
    const loss = f.map((x) => x.lossMs);
    return [
      k,
      String(f.length),
      String(f.filter((x) => x.targetWasMaster).length),
      String(percentile(loss, 50)),
      String(percentile(loss, 95)),
      String(Math.max(...loss)),
      (percentile(f.map((x) => x.recoveredMs), 50) / 1000).toFixed(1),
      String(f.filter((x) => x.violation).length),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  if (!(MINUTES > 0)) throw new Error(`CHAOS_MINUTES must be a positive number, got "${process.env.CHAOS_MINUTES}"`);
  if (process.getuid?.() !== 0) throw new Error('the chaos bench needs root (network namespaces, bpffs)');
  const bpffs = mkdtempSync(path.join(os.tmpdir(), 'lxt-bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
  let lab: ChaosLab | undefined;
  try {
    for (const lb of ['lb1', 'lb2']) mkdirSync(path.join(bpffs, lb));
    lab = await ChaosLab.create(bpffs, log);
    log(`chaos bench: ${MINUTES} min, seed ${SEED}`);
    const r = await lab.soak({ durationMs: MINUTES * 60_000, seed: SEED });
    const out = [
      table(r.faults),
      '',
      `- faults injected: ${r.faults.length} in ${(r.durationMs / 60_000).toFixed(1)} min (seed ${SEED})`,
      `- invariant violations: ${r.violations.length}${r.violations.length ? ` (${r.violations.join('; ')})` : ''}`,
      `- connections reset: ${r.reset} of ${r.connections}; stalled: ${r.stalled}`,
      `- loss window: the longest gap between two replies of a UDP probe every 10 ms through the VIP, from the fault to steady state`,
      `- steady: one MASTER and one BACKUP, the router and both endpoints on the MASTER, every BGP session Established, the BACKUP synced, held 1 s`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    if (r.violations.length > 0 || r.reset > 0) process.exitCode = 1;
  } finally {
    await lab?.destroy();
    execFileSync('umount', [bpffs]);
    rmSync(bpffs, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
