// Benchmark: the failover loss window. A client probes the VIP over UDP every
// 10 ms; each trial cuts the MASTER's link at the switch (the failure no TCP
// reset reveals), and the loss window is the longest gap between two replies.
// After each cut the link comes back and the setup returns to steady state
// before the next trial. The router, the echo servers and the prober stand for
// other machines and run at a higher CPU priority than the LB nodes (nice -10),
// in every setup. Topologies and the trial loop: test/lab/FailoverLab.ts;
// baselines (BIRD+BFD, gobgpd hold timer, keepalived VRRP): test/lab/failoverBaselines.ts.
//
//   npm run bench:failover       (root, after `npm run setup`; ~15 min for every setup at 20 trials)
//
// Knobs (env):
//   FAILOVER_TRIALS  trials per setup (default 20)
//   FAILOVER_SETUPS  comma-separated setup names (default: every setup below, in order)
//   LAB_KEEP=1       keep the labs' temp dirs (daemon configs and logs)
//
// The table (markdown) goes to stdout, progress to stderr.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { runTrials, type Setup, type TrialsSummary } from '../test/lab/FailoverLab.ts';
import { percentile } from '../test/lab/longestGap.ts';
import { BASELINE_SETUPS } from '../test/lab/failoverBaselines.ts';
import { LOXILB_SETUPS } from '../test/lab/loxilbSetups.ts';

/**
 * Setups to compare against the baselines (loxilb-ts goes here): name ->
 * factory of a fresh Setup (see the Setup interface in FailoverLab.ts).
 */
const CANDIDATE_SETUPS: Record<string, () => Setup> = LOXILB_SETUPS;

const SETUPS: Record<string, () => Setup> = { ...BASELINE_SETUPS, ...CANDIDATE_SETUPS };

/** Reference numbers measured on this kind of machine (shared/reference/lab-notes.md), ms. */
const LAB_NOTES: Record<string, { p50: number; p95: number }> = {
  'keepalived-default': { p50: 3100, p95: 3600 },
  'keepalived-0.1': { p50: 339, p95: 372 },
  'keepalived-0.01': { p50: 45, p95: 50 },
  'gobgpd-hold3s': { p50: 2250, p95: 3100 },
  'bird-bfd-100': { p50: 280, p95: 310 },
  'bird-bfd-10': { p50: 40, p95: 43 },
};

const TRIALS = Number(process.env.FAILOVER_TRIALS ?? 20);
const log = (s: string) => process.stderr.write(`${s}\n`);
const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** Machine-wide CPU jiffies from /proc/stat: busy and total, for "how loaded was the box" (ours included). */
function cpuJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

interface Row {
  name: string;
  kind: string;
  summary?: TrialsSummary;
  error?: string;
  baseline: boolean;
  /** Machine CPU busy % while the setup ran (every process, the bench's own included). */
  cpuBusy?: number;
}

function selectedSetups(): string[] {
  const raw = process.env.FAILOVER_SETUPS?.trim();
  if (!raw) return Object.keys(SETUPS);
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !(n in SETUPS));
  if (unknown.length) throw new Error(`FAILOVER_SETUPS: unknown setup(s) ${unknown.join(', ')}; known: ${Object.keys(SETUPS).join(', ')}`);
  return names;
}

function printTable(rows: Row[], totalMs: number, loads: string[]): void {
  const head = ['setup', 'kind', 'trials', 'p50 ms', 'p95 ms', 'max ms', 'lab-notes p50 / p95 ms', 'heal: wrong-MASTER ms p95 / max', 'heal: steady s p50'];
  const body = rows.map((r) => {
    const s = r.summary;
    const ref = LAB_NOTES[r.name];
    const refCell = ref ? `${fmt(ref.p50)} / ${fmt(ref.p95)}` : '-';
    if (!s) return [r.name, r.kind, '0', 'failed', '-', '-', refCell, '-', '-'];
    const mark = s.unrecovered ? ' (≥)' : '';
    const heal = s.results.map((x) => x.healBadMs).filter((x): x is number => x !== undefined);
    const healCell = heal.length ? `${fmt(percentile(heal, 95))} / ${fmt(Math.max(...heal))}` : '-';
    const steady = (percentile(s.results.map((x) => x.steadyAfterMs), 50) / 1000).toFixed(1);
    return [r.name, r.kind, String(s.trials), fmt(s.p50) + mark, fmt(s.p95) + mark, fmt(s.max) + mark, refCell, healCell, steady];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line), ''];
  out.push(comparison(rows));
  const notes: string[] = [];
  for (const r of rows) {
    if (r.error) notes.push(`${r.name} failed: ${r.error}`);
    if (r.summary?.unrecovered) notes.push(`${r.name}: ${r.summary.unrecovered} trial(s) never got replies back before the timeout; their gap is a lower bound (≥)`);
    if (r.summary?.movedBeforeCut) notes.push(`${r.name}: in ${r.summary.movedBeforeCut} trial(s) the MASTER moved before the cut with no fault injected (a BFD flap; the trial cut the new MASTER)`);
    if (r.summary?.lateTickTrials) notes.push(`${r.name}: the prober missed send slots in ${r.summary.lateTickTrials} trial(s) (client short of CPU)`);
  }
  const busy = rows.filter((r) => r.cpuBusy !== undefined).map((r) => `${r.name} ${r.cpuBusy!.toFixed(0)} %`);
  if (busy.length) notes.push(`machine CPU busy while each setup ran (all processes, this bench included): ${busy.join(', ')}`);
  notes.push(
    `loss window = longest gap between two replies of a client probing every 10 ms, from the last reply before the cut; percentiles are nearest-rank`,
    `heal = from the cut link's return to steady state: wrong-MASTER ms is the sampled time (every ~20 ms plus query time) during which not exactly one node claimed MASTER or the one that did was not where the traffic went (router's next hop in l3, the VIP's holder in l2); '-' where the setup cannot say who claims MASTER`,
    `load average (1/5/15 min) at start ${loads[0]}, at end ${loads.at(-1)}; ${os.cpus().length} CPUs; whole run ${(totalMs / 1000).toFixed(0)} s`,
  );
  out.push('', ...notes.map((n) => `- ${n}`));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Candidates against the best baseline of their kind; without candidates, the best l3 against the best l2 baseline. */
function comparison(rows: Row[]): string {
  const done = rows.filter((r) => r.summary);
  const best = (kind: string) =>
    done.filter((r) => r.baseline && r.kind === kind).sort((a, b) => a.summary!.p95 - b.summary!.p95)[0];
  const parts: string[] = [];
  for (const c of done.filter((r) => !r.baseline)) {
    const b = best(c.kind);
    parts.push(
      b
        ? `${c.name} p95 ${fmt(c.summary!.p95)} ms vs best ${c.kind} baseline ${b.name} ${fmt(b.summary!.p95)} ms: ${(b.summary!.p95 / c.summary!.p95).toFixed(2)}x`
        : `${c.name} p95 ${fmt(c.summary!.p95)} ms (no ${c.kind} baseline in this run)`,
    );
  }
  if (parts.length === 0) {
    const l3 = best('l3');
    const l2 = best('l2');
    if (l3 && l2) {
      parts.push(
        `best l3 baseline ${l3.name} p95 ${fmt(l3.summary!.p95)} ms, best l2 baseline ${l2.name} p95 ${fmt(l2.summary!.p95)} ms ` +
          `(l2/l3 = ${(l2.summary!.p95 / l3.summary!.p95).toFixed(2)}x)`,
      );
    } else if (l3 ?? l2) {
      const b = (l3 ?? l2)!;
      parts.push(`best baseline ${b.name} p95 ${fmt(b.summary!.p95)} ms`);
    }
  }
  return `comparison: ${parts.length ? parts.join('; ') : 'nothing measured'}`;
}

/** The daemons the baselines run; `npm run setup` installs them. */
function checkTools(): void {
  const missing = ['bird', 'birdc', 'gobgpd', 'gobgp', 'keepalived', 'ip'].filter(
    (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0,
  );
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run \`npm run setup\` (as root) first`);
  if (process.getuid?.() !== 0) throw new Error('the failover bench needs root (network namespaces)');
}

async function main(): Promise<void> {
  if (!Number.isInteger(TRIALS) || TRIALS < 1) throw new Error(`FAILOVER_TRIALS must be a positive integer, got "${process.env.FAILOVER_TRIALS}"`);
  const names = selectedSetups();
  checkTools();
  const t0 = performance.now();
  const loads = [load()];
  log(`failover bench: ${names.join(', ')}; ${TRIALS} trials each; load average ${loads[0]}`);
  const rows: Row[] = [];
  try {
    for (const name of names) {
      const setup = SETUPS[name]!();
      const row: Row = { name, kind: setup.kind, baseline: name in BASELINE_SETUPS };
      rows.push(row);
      const t = performance.now();
      const cpu0 = cpuJiffies();
      try {
        row.summary = await runTrials(setup, TRIALS, { log });
        log(`${name}: p50 ${fmt(row.summary.p50)} ms, p95 ${fmt(row.summary.p95)} ms, max ${fmt(row.summary.max)} ms (${((performance.now() - t) / 1000).toFixed(0)} s, load ${load()})`);
      } catch (err) {
        row.error = err instanceof Error ? err.message : String(err);
        log(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      const cpu1 = cpuJiffies();
      if (cpu1.total > cpu0.total) row.cpuBusy = (100 * (cpu1.busy - cpu0.busy)) / (cpu1.total - cpu0.total);
      loads.push(load());
    }
  } finally {
    printTable(rows, performance.now() - t0, loads);
  }
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
