// The chaos soak, long (issue 15 §4), on two topologies, each with 100
// connections busy through the VIP and a UDP probe every 10 ms:
//   l3  the hitless L3 pair (BIRD router with BFD, two `loxilb --bgp --ka
//       --cluster` nodes with a pinned connection table, endpoints on
//       `loxilb --peer`): random SIGKILLs of an agent, SIGKILLs of gobgpd,
//       cut links, the router's BGP restarted, SIGTERM drains.
//       Lab and faults: test/lab/chaos.ts.
//   l2  the flat L2 pair (client, LB nodes and endpoints on one segment, the
//       VIP on the MASTER's interface with gratuitous ARP, `loxilb --ka
//       --cluster`, pinned tables): SIGKILLs of an agent, cut links, drains
//       (no router and no BGP there, so no gobgpd or router faults).
//       Lab and faults: test/lab/chaosL2.ts.
// Each fault, then steady state again (or an invariant violation).
//
//   npm run bench:chaos        (root, after `npm run setup`)
//
// Knobs (env): CHAOS_TOPOLOGY (l3, l2 or both, default both: l3 first),
// CHAOS_MINUTES (per topology, default 10), CHAOS_SEED (default 1), LAB_KEEP=1.
// Reported per topology: faults by kind, invariant violations (goal 0),
// connections reset (goal 0: a node always survives here), and per fault
// kind the loss window (longest gap between two probe replies) and the time
// to steady state.
import { ChaosLab, FAULT_KINDS } from '../test/lab/chaos.ts';
import { L2ChaosLab, L2_FAULT_KINDS } from '../test/lab/chaosL2.ts';
import type { ChaosReport, FaultRecord } from '../test/lab/chaosRun.ts';
import { mountTestBpffs } from '../test/lab/bpffs.ts';
import { percentile } from '../test/lab/longestGap.ts';

const MINUTES = Number(process.env.CHAOS_MINUTES ?? 10);
const SEED = Number(process.env.CHAOS_SEED ?? 1);
const TOPOLOGY = process.env.CHAOS_TOPOLOGY ?? 'both';
const log = (s: string) => process.stderr.write(`${s}\n`);

function table(kinds: readonly string[], faults: FaultRecord[]): string {
  const head = ['fault', 'count', 'on MASTER', 'loss p50 ms', 'loss p95 ms', 'loss max ms', 'steady after p50 s', 'violations'];
  const rows = kinds.map((k) => {
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

const STEADY: Record<'l3' | 'l2', string> = {
  l3: 'one MASTER and one BACKUP, the router and both endpoints on the MASTER, every BGP session Established, the BACKUP synced, held 1 s',
  l2: "one MASTER and one BACKUP, the VIP on the MASTER's interface only, the client's and the endpoints' neighbour entries on its MAC, the BACKUP synced, held 1 s; then only the MASTER answers a broadcast ARP request for the VIP",
};

async function runTopology(topo: 'l3' | 'l2'): Promise<boolean> {
  const fs = mountTestBpffs();
  let lab: ChaosLab | L2ChaosLab | undefined;
  try {
    lab = topo === 'l3' ? await ChaosLab.create(fs.dir, log) : await L2ChaosLab.create(fs.dir, log);
    log(`chaos bench ${topo}: ${MINUTES} min, seed ${SEED}`);
    const r: ChaosReport = await lab.soak({ durationMs: MINUTES * 60_000, seed: SEED });
    const out = [
      `### ${topo}`,
      '',
      table(topo === 'l3' ? FAULT_KINDS : L2_FAULT_KINDS, r.faults),
      '',
      `- faults injected: ${r.faults.length} in ${(r.durationMs / 60_000).toFixed(1)} min (seed ${SEED})`,
      `- invariant violations: ${r.violations.length}${r.violations.length ? ` (${r.violations.join('; ')})` : ''}`,
      `- connections reset: ${r.reset} of ${r.connections}${r.resets.length ? ` (${r.resets.join('; ')})` : ''}; stalled: ${r.stalled}`,
      `- loss window: the longest gap between two replies of a UDP probe every 10 ms through the VIP, from the fault to steady state`,
      `- steady: ${STEADY[topo]}`,
      '',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    return r.violations.length === 0 && r.reset === 0;
  } finally {
    await lab?.destroy();
    fs.release();
  }
}

async function main(): Promise<void> {
  if (!(MINUTES > 0)) throw new Error(`CHAOS_MINUTES must be a positive number, got "${process.env.CHAOS_MINUTES}"`);
  const topologies: readonly ('l3' | 'l2')[] | undefined = TOPOLOGY === 'both' ? ['l3', 'l2'] : TOPOLOGY === 'l3' || TOPOLOGY === 'l2' ? [TOPOLOGY] : undefined;
  if (!topologies) throw new Error(`CHAOS_TOPOLOGY must be l3, l2 or both, got "${TOPOLOGY}"`);
  if (process.getuid?.() !== 0) throw new Error('the chaos bench needs root (network namespaces, bpffs)');
  for (const topo of topologies) if (!(await runTopology(topo))) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
