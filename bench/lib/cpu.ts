// CPU time per process in the lab's namespaces (from /proc/<pid>/stat), so
// the benchmark can say which process a case was waiting for. Sampled only
// before and after a timed case, never during it.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Lab } from '../../test/lab/Lab.ts';

const TICK_MS = 10; // CLK_TCK = 100 on Linux

interface Proc {
  label: string;
  ms: number;
}

export interface CpuSnapshot {
  procs: Map<number, Proc>;
  /** Our own reaped children (birdc polls, CLI loops, curl, ip netns exec). */
  benchChildrenMs: number;
  benchSelfMs: number;
}

function stat(pid: number): { comm: string; self: number; children: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { comm, self: (Number(f[11]) + Number(f[12])) * TICK_MS, children: (Number(f[13]) + Number(f[14])) * TICK_MS };
  } catch {
    return undefined;
  }
}

function describe(pid: number, comm: string): string {
  let args: string[] = [];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    // gone
  }
  if (comm === 'node') {
    if (args.some((a) => a.endsWith('loxilb.ts') || a.endsWith('cli/loxilb.js'))) return 'loxilb agent';
    if (args.some((a) => a.endsWith('nsWorker.ts'))) return 'bench helper';
    if (args.some((a) => a.endsWith('sctpPeer.ts'))) return 'sctp peer';
  }
  return comm;
}

export async function cpuSnapshot(lab: Lab): Promise<CpuSnapshot> {
  const procs = new Map<number, Proc>();
  for (const ns of await lab.namespaces()) {
    const node = ns.slice(lab.prefix.length);
    const out = await new Promise<string>((resolve) =>
      execFile('ip', ['netns', 'pids', ns], { timeout: 5000 }, (_e, stdout) => resolve(String(stdout ?? ''))),
    );
    for (const pid of out.split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number)) {
      const s = stat(pid);
      if (s) procs.set(pid, { label: `${node} ${describe(pid, s.comm)}`, ms: s.self });
    }
  }
  const me = stat(process.pid)!;
  return { procs, benchChildrenMs: me.children, benchSelfMs: me.self };
}

/** CPU ms used between two snapshots, by label (processes with one label are added), largest first. */
export function cpuDiff(a: CpuSnapshot, b: CpuSnapshot, minMs = 20): { label: string; ms: number }[] {
  const by = new Map<string, number>();
  for (const [pid, p] of b.procs) {
    const d = p.ms - (a.procs.get(pid)?.ms ?? 0);
    if (d > 0) by.set(p.label, (by.get(p.label) ?? 0) + d);
  }
  by.set('bench process', b.benchSelfMs - a.benchSelfMs);
  by.set('bench children (gobgp CLI loops, birdc polls)', b.benchChildrenMs - a.benchChildrenMs);
  return [...by]
    .filter(([, ms]) => ms >= minMs)
    .sort((x, y) => y[1] - x[1])
    .map(([label, ms]) => ({ label, ms }));
}

export function formatCpu(rows: { label: string; ms: number }[]): string {
  return rows.length ? rows.map((r) => `${r.label} ${(r.ms / 1000).toFixed(2)} s`).join(', ') : '(every process < 0.02 s)';
}
