// The chaos soak's loop (issue 15 §4), whatever the topology: 100 busy
// connections and a UDP probe every 10 ms through the VIP, faults one at a
// time (each kind once in order, then at random), and after each one steady
// state again or an invariant violation. The topologies (test/lab/chaos.ts
// for L3, test/lab/chaosL2.ts for L2) say what their faults do and what
// steady means.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Lab } from './Lab.ts';
import type { LbNode, StreamRun, StreamSummary } from './DatapathLab.ts';
import { VipProbe } from './FailoverLab.ts';

export interface FaultRecord<K extends string = string> {
  kind: K;
  target: LbNode | 'router';
  /** The target was MASTER when the fault hit. */
  targetWasMaster: boolean;
  /** Longest gap between two probe replies from the fault to steady state (ms). */
  lossMs: number;
  /** From the fault to steady state again (ms). */
  recoveredMs: number;
  /** When it was injected (epoch ms). */
  at: number;
  violation?: string;
}

export interface ChaosReport<K extends string = string> {
  faults: FaultRecord<K>[];
  violations: string[];
  connections: number;
  /** Connections that failed (reset, closed) during the soak. */
  reset: number;
  /** The failures by error and the fault before them: `ECONNRESET after drain on lb2 (+3.2–3.4 s) ×100`; empty when none. */
  resets: string[];
  /** Connections whose lines stopped coming back without an error. */
  stalled: number;
  durationMs: number;
}

/** What the loop needs of a topology. */
export interface ChaosSubject<K extends string> {
  readonly lab: Lab;
  /** The VIP the probe and the connections go to. */
  readonly vip: string;
  /** Faults that hit the router, not an LB node. */
  hitsRouter?(kind: K): boolean;
  /** The one node that says it is MASTER, if exactly one does. */
  master(): Promise<LbNode | undefined>;
  /** Resolves once steady; rejects with the reason after timeoutMs. */
  waitSteady(timeoutMs: number): Promise<void>;
  /** Injects one fault and repairs it; resolves when the repair is done (not yet steady). */
  inject(kind: K, target: LbNode): Promise<void>;
  /** How long steady state may take after the repair of a fault of this kind (default STEADY_BOUND_MS). */
  steadyBoundMs?(kind: K): number;
  startStreams(opts: { durationMs: number }): Promise<StreamRun>;
}

type ApiCall = (node: string, method: string, path: string) => Promise<{ body?: unknown }>;

/** A node's role of llb-inst0 as its cistate says; undefined when it does not answer. */
export async function instanceRole(api: ApiCall, lb: LbNode): Promise<string | undefined> {
  const r = await api(lb, 'GET', '/config/cistate/all');
  return (r.body as { Attr?: { instance: string; state: string }[] } | undefined)?.Attr?.find((s) => s.instance === 'llb-inst0')?.state;
}

/** The one of lb1 and lb2 that says MASTER, if exactly one does. */
export async function soleMaster(roleOf: (lb: LbNode) => Promise<string | undefined>): Promise<LbNode | undefined> {
  const [a, b] = await Promise.all([roleOf('lb1'), roleOf('lb2')]);
  if (a === 'MASTER' && b !== 'MASTER') return 'lb1';
  if (b === 'MASTER' && a !== 'MASTER') return 'lb2';
  return undefined;
}

/** The steady-state bound of a fault kind whose subject gives none: every kind met it in every run so far. */
export const STEADY_BOUND_MS = 45_000;

export interface SoakOptions<K extends string> {
  durationMs: number;
  seed?: number;
  kinds: readonly K[];
  steadyTimeoutMs?: number;
  log?: (s: string) => void;
}

/** A seeded PRNG (mulberry32): a soak can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs faults for durationMs (at least one of each kind in `kinds`, in
 * order first, then at random), each followed by steady state; stops at the
 * first violation.
 */
export async function runSoak<K extends string>(s: ChaosSubject<K>, opts: SoakOptions<K>): Promise<ChaosReport<K>> {
  const { kinds } = opts;
  const log = opts.log ?? (() => undefined);
  const rnd = prng(opts.seed ?? 1);
  const start = performance.now();
  const clients = await s.startStreams({ durationMs: opts.durationMs + 240_000 });
  const faults: FaultRecord<K>[] = [];
  const violations: string[] = [];
  let probe: VipProbe | undefined;
  try {
    probe = await VipProbe.start({ vip: s.vip, lab: s.lab }, { intervalMs: 10 });
    for (let i = 0; performance.now() - start < opts.durationMs || i < kinds.length; i++) {
      const kind = i < kinds.length ? kinds[i]! : kinds[Math.floor(rnd() * kinds.length)]!;
      const master = await s.master();
      const onRouter = s.hitsRouter?.(kind) ?? false;
      // Most faults hit the MASTER (that is where they hurt); some the BACKUP.
      const target: LbNode = onRouter ? 'lb1' : master && rnd() < 0.7 ? master : rnd() < 0.5 ? 'lb1' : 'lb2';
      await probe.mark();
      const t0 = performance.now();
      const at = Date.now();
      await s.inject(kind, target);
      let violation: string | undefined;
      try {
        await s.waitSteady(opts.steadyTimeoutMs ?? s.steadyBoundMs?.(kind) ?? STEADY_BOUND_MS);
      } catch (err) {
        violation = `${kind} on ${target}: ${(err as Error).message}`;
        violations.push(violation);
      }
      const st = await probe.status();
      const rec: FaultRecord<K> = {
        kind,
        target: onRouter ? 'router' : target,
        targetWasMaster: !onRouter && master === target,
        lossMs: Math.round(st.sinceMark?.longestGapMs ?? 0),
        recoveredMs: Math.round(performance.now() - t0),
        at,
        ...(violation ? { violation } : {}),
      };
      faults.push(rec);
      log(`chaos: ${rec.kind} on ${rec.target}${rec.targetWasMaster ? ' (MASTER)' : ''}: loss ${rec.lossMs} ms, steady after ${(rec.recoveredMs / 1000).toFixed(1)} s${violation ? ` VIOLATION ${violation}` : ''}`);
      if (violation) break;
    }
  } finally {
    await probe?.kill();
    // The client prints its summary when told to stop.
    clients.stop();
  }
  let summary: StreamSummary = { conns: [] };
  try {
    summary = await clients.summary();
  } catch (err) {
    violations.push((err as Error).message);
  }
  return {
    faults,
    violations,
    connections: summary.conns.length,
    reset: summary.conns.filter((c) => c.error).length,
    resets: describeResets(summary, faults),
    stalled: summary.conns.filter((c) => !c.error && c.echoed < c.sent - 200).length,
    durationMs: Math.round(performance.now() - start),
  };
}

/** Groups failed connections by error and by the fault injected last before each failed, with the spread of when (seconds after it). */
export function describeResets(summary: StreamSummary, faults: readonly FaultRecord[]): string[] {
  const groups = new Map<string, { n: number; min: number; max: number }>();
  for (const c of summary.conns) {
    if (!c.error) continue;
    const f = c.endedAt === undefined ? undefined : [...faults].reverse().find((x) => x.at <= c.endedAt!);
    const where = c.endedAt === undefined ? 'at an unknown time' : f ? `after ${f.kind} on ${f.target}` : 'before the first fault';
    const key = `${c.error} ${where}`;
    const after = f && c.endedAt !== undefined ? (c.endedAt - f.at) / 1000 : NaN;
    const g = groups.get(key) ?? { n: 0, min: after, max: after };
    g.n++;
    g.min = Math.min(g.min, after);
    g.max = Math.max(g.max, after);
    groups.set(key, g);
  }
  return [...groups].map(([k, g]) => {
    if (Number.isNaN(g.min)) return `${k} ×${g.n}`;
    const span = g.min.toFixed(1) === g.max.toFixed(1) ? `+${g.min.toFixed(1)} s` : `+${g.min.toFixed(1)}–${g.max.toFixed(1)} s`;
    return `${k} (${span}) ×${g.n}`;
  });
}

/** What an agent log line says about roles, VIPs, sync and the datapath: where a red soak starts looking. */
const TELLING = /MASTER|BACKUP|FAULT|role|VIP|sync|connection table|drain|datapath|attach|pinned|error|warn/i;

/**
 * The telling lines of every agent log in the lab (each run of each node,
 * oldest first), at most `perLog` lines from the end of each: attached to a
 * failed soak's assertion so CI's output says what the nodes did.
 */
export function agentLogExcerpt(lab: Lab, perLog = 25): string {
  const files = readdirSync(lab.dir)
    .filter((f) => /^lb\d\.loxilb\.\d+\.log$/.test(f))
    .sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
  const out: string[] = [];
  for (const f of files) {
    const lines = readFileSync(path.join(lab.dir, f), 'utf8').split('\n').filter((l) => TELLING.test(l));
    out.push(`--- ${f} (${lines.length} telling lines, last ${Math.min(perLog, lines.length)})`, ...lines.slice(-perLog).map((l) => l.slice(0, 400)));
  }
  return out.join('\n');
}
