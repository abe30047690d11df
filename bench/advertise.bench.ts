// Benchmark: how fast VIPs reach the router, through the agent and through
// the baselines, all in one run on one namespace topology.
//
//   npm run bench        (root; a few minutes, mostly the gobgp CLI baseline)
//
// Topology (one switch): BIRD router AS 65101 (192.168.80.1); lb1 and lb2
// running `loxilb --bgp` (BgpLab, AS 64512, .10/.11) with their eBPF
// datapath; gb1 and gb2 running a plain gobgpd (AS 64512, .20/.21) for the
// baselines; ep (.30), the HTTP endpoint every agent rule balances to
// (onearm). Every clock stops when BIRD holds the expected routes (`birdc
// show route [primary] protocol P count`, polled every BENCH_POLL_MS =
// 20 ms). A POST is answered once its rule is in the datapath, and a VIP is
// advertised only for rules the datapath carries, so "BIRD holds all"
// includes programming the eBPF maps. After the 10,000-rule advertise and
// after the restore, a sample of VIPs gets real traffic from the router
// (each must answer from ep), and every rule must report programmed.
//
// Cases:
//  1. agent advertise N (REST POSTs from inside lb1, 48 in flight, keep-alive)
//     and the restart of lb1's agent restoring 10,000 rules from disk;
//  2. agent role flip of 10,000 VIPs (cistate to lb1 and lb2 at once);
//  3. baseline: one `gobgp global rib add` process per route, for advertise
//     and for the flip (both plain nodes re-add with swapped MEDs);
//  4. flip strategies straight against gobgpd with our GobgpClient:
//     (a) AddPathStream re-add with the new MED/LP,
//     (b) export policy with the MED/LP per role + ResetPeer soft OUT.
//
// Results go to stdout as a table; progress goes to stderr. Knobs (env):
// BENCH_N_SMALL (1000), BENCH_N_LARGE (10000), BENCH_CONCURRENCY (48),
// BENCH_FLIP_REPS (3), BENCH_POLL_MS (20), BENCH_AGENT_ONLY (unset).
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../test/lab/wait.ts';
import { BgpLab, CLUSTER_AS, LB_NODES, ROUTER, ROUTER_AS } from '../test/lab/BgpLab.ts';
import { birdConfig, type BirdBgpNeighbor } from '../test/lab/Bird.ts';
import { Gobgpd } from '../test/lab/Gobgpd.ts';
import { NsWorker } from './lib/NsWorkerHandle.ts';
import { proto, waitCounts, waitProtocol, waitSessionAndCount, type CountWait } from './lib/birdWait.ts';
import { cliAddLoop, cliDeleteAll } from './lib/cliBaseline.ts';
import { cpuDiff, cpuSnapshot, formatCpu, type CpuSnapshot } from './lib/cpu.ts';
import { AGENT_BASE, CLI_BASE, POLICY_BASE, STREAM_BASE } from './lib/vips.ts';
import { BENCH_ENDPOINT, type PostRulesResult } from './lib/postRules.ts';
import { vip } from './lib/vips.ts';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const N_SMALL = Number(process.env.BENCH_N_SMALL ?? 1000);
const N_LARGE = Number(process.env.BENCH_N_LARGE ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 48);
const FLIP_REPS = Math.max(1, Number(process.env.BENCH_FLIP_REPS ?? 3));
/** Only the agent's own cases (for iterating on the agent; the table then has no ratios). */
const AGENT_ONLY = Boolean(process.env.BENCH_AGENT_ONLY);
/** Pause before a flip so the previous step's tail (saves, watch events) does not land in it. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 2000);

const MASTER = { med: 10, lp: 5000 };
const BACKUP = { med: 20, lp: 100 };
const INSTANCE = 'llb-inst0';

/** Waits scale with the load: generous, but every one of them ends. */
const agentTimeout = (n: number) => 30_000 + n * 10;
const cliTimeout = (n: number) => 60_000 + n * 40; // ~8-9 ms per process measured; 4x margin

const GB_NODES = [
  { name: 'gb1', ipv4: '192.168.80.20' },
  { name: 'gb2', ipv4: '192.168.80.21' },
] as const;

const [LB1, LB2] = LB_NODES as [(typeof LB_NODES)[0], (typeof LB_NODES)[0]];
const P = {
  lb1: proto(LB1.ipv4),
  lb2: proto(LB2.ipv4),
  gb1: proto(GB_NODES[0].ipv4),
  gb2: proto(GB_NODES[1].ipv4),
};

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ECHO = path.join(ROOT, 'test/lab/l4Echo.ts');
/** VIPs that get real traffic after the large advertise and after the restore. */
const SAMPLE = 16;

const now = () => performance.now();
const log = (s: string) => process.stderr.write(`${s}\n`);
const fmt = (ms: number | undefined) => (ms === undefined ? '-' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------------------
// Results

interface Row {
  name: string;
  n: number;
  agent?: number;
  baseline?: number;
  note?: string;
}
const rows: Row[] = [];
interface StrategyLine {
  name: string;
  n: number;
  runs: number[];
  api: number[];
  note?: string;
}
const strategies: StrategyLine[] = [];
const notes: string[] = [];
const cpuLines: string[] = [];

function row(name: string, n: number): Row {
  let r = rows.find((x) => x.name === name && x.n === n);
  if (!r) {
    r = { name, n };
    rows.push(r);
  }
  return r;
}

function printResults(totalMs: number, complete: boolean): void {
  const head = ['case', 'n', 'agent ms', 'baseline ms', 'ratio (baseline/agent)'];
  const body = rows.map((r) => [
    r.name,
    String(r.n),
    fmt(r.agent),
    fmt(r.baseline),
    r.agent !== undefined && r.baseline !== undefined ? `${(r.baseline / r.agent).toFixed(2)}x` : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
  const out: string[] = [];
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const b of body) out.push(line(b));
  const rowNotes = rows.filter((r) => r.note).map((r) => `  ${r.name} (${r.n}): ${r.note}`);
  if (rowNotes.length) out.push('', ...rowNotes);

  if (strategies.length) {
    out.push('', `flip strategies straight against gobgpd (GobgpClient in the node namespace, 2 plain gobgpd nodes flipping at once, until BIRD's best moved):`);
    const sh = ['strategy', 'n', 'median ms', 'runs ms', 'gobgpd API ms (median)'];
    const sb = strategies.map((s) => [s.name, String(s.n), fmt(median(s.runs)), s.runs.map(fmt).join(', '), s.api.length ? fmt(median(s.api)) : '-']);
    const sw = sh.map((h, i) => Math.max(h.length, ...sb.map((b) => b[i]!.length)));
    const sl = (cells: string[]) => cells.map((c, i) => c.padEnd(sw[i]!)).join(' | ').trimEnd();
    out.push(sl(sh), sw.map((w) => '-'.repeat(w)).join('-|-'), ...sb.map(sl));
    for (const s of strategies) if (s.note) out.push(`  ${s.name}: ${s.note}`);
  }
  if (cpuLines.length) out.push('', 'CPU time used during each case (/proc, by process; 2 cores in total):', ...cpuLines.map((l) => `  ${l}`));
  if (notes.length) out.push('', 'notes:', ...notes.map((n) => `  - ${n}`));
  out.push('', `${complete ? 'whole run' : 'INCOMPLETE run (see the error on stderr)'}: ${(totalMs / 1000).toFixed(1)} s`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const tRun = now();
  let complete = false;
  log(`bench: N=${N_SMALL}/${N_LARGE}, ${CONCURRENCY} POSTs in flight, ${FLIP_REPS} flips per strategy, BIRD polled every ${process.env.BENCH_POLL_MS ?? 20} ms`);
  log('building the lab (BIRD router, lb1/lb2 with loxilb --bgp)...');
  const t = await BgpLab.create({ lbCount: 2, worker: false, loglevel: 'info' });
  const { lab, bird } = t;
  try {
    // Two plain gobgpd nodes for the baselines, and BIRD neighbours for them
    // (same config text for lb1/lb2, so `configure` leaves those sessions up).
    for (const g of GB_NODES) await lab.addNode(g.name, { switch: 'sw', ipv4: `${g.ipv4}/24` });
    await lab.addNode('ep', { switch: 'sw', ipv4: `${BENCH_ENDPOINT.ip}/24` });
    const echo = lab.spawn('ep', process.execPath, ['--import', 'tsx', ECHO, '--name', 'ep', '--http', String(BENCH_ENDPOINT.port)], { cwd: ROOT, logName: 'ep.echo' });
    await waitFor(() => echo.log().includes('ready'), { timeoutMs: 15_000, what: 'the endpoint HTTP server' });
    await Promise.all(GB_NODES.map((g) => Gobgpd.start(lab, g.name)));
    const neighbors: BirdBgpNeighbor[] = [
      ...t.lbs.flatMap((lb) => [
        { localAddress: ROUTER.ipv4, localAs: ROUTER_AS, neighborAddress: lb.ipv4, neighborAs: CLUSTER_AS },
        { localAddress: ROUTER.ipv6, localAs: ROUTER_AS, neighborAddress: lb.ipv6, neighborAs: CLUSTER_AS },
      ]),
      ...GB_NODES.map((g) => ({ localAddress: ROUTER.ipv4, localAs: ROUTER_AS, neighborAddress: g.ipv4, neighborAs: CLUSTER_AS })),
    ];
    await bird.reconfigure(birdConfig({ routerId: ROUTER.ipv4, neighbors }));

    await t.configureBgp();
    await t.mustApi(LB1.name, 'POST', '/config/cistate', { instance: INSTANCE, state: 'MASTER' });
    await t.mustApi(LB2.name, 'POST', '/config/cistate', { instance: INSTANCE, state: 'BACKUP' });

    const [w1, w2, g1, g2] = await Promise.all([
      NsWorker.start(lab, LB1.name),
      NsWorker.start(lab, LB2.name),
      NsWorker.start(lab, GB_NODES[0].name),
      NsWorker.start(lab, GB_NODES[1].name),
    ]);
    const W = { lb1: w1, lb2: w2, gb1: g1, gb2: g2 };
    await Promise.all(
      GB_NODES.map((g, i) => [g1, g2][i]!.call('gobgpSetup', { asn: CLUSTER_AS, routerId: g.ipv4, peer: ROUTER.ipv4, peerAs: ROUTER_AS })),
    );
    await bird.waitEstablished(undefined, 60_000);
    log(`lab up in ${((now() - tRun) / 1000).toFixed(1)} s; all BIRD sessions Established`);

    const cpuStart = () => cpuSnapshot(lab);
    const cpuEnd = async (c0: CpuSnapshot, label: string) => {
      cpuLines.push(`${label}: ${formatCpu(cpuDiff(c0, await cpuSnapshot(lab)))}`);
    };

    const zero = async (protocols: string[], label: string) => {
      await waitCounts(bird, protocols.map((p) => ({ protocol: p, want: 0 })), now(), 60_000, label);
    };

    // -----------------------------------------------------------------------
    // 1. Agent: advertise N through REST, then restore 10,000 from disk.

    const agentAdvertise = async (node: 'lb1' | 'lb2', n: number, extra: CountWait[] = []) => {
      const ac = new AbortController();
      const t0 = now();
      const post = W[node]
        .call<PostRulesResult>('postRules', { base: AGENT_BASE, start: 0, n, concurrency: CONCURRENCY, timeoutMs: agentTimeout(n) }, agentTimeout(n) + 5000)
        .then((r) => {
          if (r.failed > 0) throw new Error(`${node}: ${r.failed} of ${n} POSTs failed; first: ${r.firstError}`);
          return r;
        })
        .catch((err: Error) => {
          ac.abort(err);
          throw err;
        });
      const wait = waitCounts(bird, [{ protocol: P[node], want: n }, ...extra], t0, agentTimeout(n), `agent ${node} advertise ${n}`, ac.signal);
      const [p, b] = await Promise.all([post, wait]);
      return { postMs: p.ms, birdMs: b.ms };
    };

    /**
     * The datapath matches the rules: every rule reports programmed, and a
     * sample of VIPs, routed from the router to `node` by a static host route
     * each, answers HTTP from the endpoint.
     */
    const checkDatapath = async (node: 'lb1' | 'lb2', n: number, label: string) => {
      const st = await W[node].call<{ status: number; body: string }>('http', { method: 'GET', path: '/status' });
      const status = JSON.parse(st.body) as { rules: number; rulesNotProgrammed: number };
      if (status.rules !== n || status.rulesNotProgrammed !== 0) throw new Error(`${label}: ${node} has ${status.rules} rules, ${status.rulesNotProgrammed} not programmed`);
      const sample = Array.from({ length: SAMPLE }, (_, k) => vip(AGENT_BASE, Math.floor((k * (n - 1)) / (SAMPLE - 1))));
      const via = node === 'lb1' ? LB1.ipv4 : LB2.ipv4;
      let answered = 0;
      for (const v of sample) {
        await lab.run(ROUTER.name, ['ip', 'route', 'replace', `${v}/32`, 'via', via]);
        const r = await lab.exec(ROUTER.name, ['curl', '-s', '-m', '3', `http://${v}/`], { check: false });
        if (r.code === 0 && r.stdout.includes('"name":"ep"')) answered++;
        await lab.run(ROUTER.name, ['ip', 'route', 'del', `${v}/32`]);
      }
      notes.push(`${label}: all ${n} rules programmed; ${answered} of ${SAMPLE} sampled VIPs answered HTTP from the endpoint through ${node}'s datapath`);
      if (answered !== SAMPLE) throw new Error(`${label}: only ${answered} of ${SAMPLE} sampled VIPs answered`);
    };

    const clearAgent = async (node: 'lb1' | 'lb2') => {
      const r = await W[node].call('http', { method: 'DELETE', path: '/config/loadbalancer/all' });
      if (r.status !== 200) throw new Error(`DELETE all rules on ${node}: HTTP ${r.status} ${r.body}`);
    };

    for (const n of [N_SMALL, N_LARGE]) {
      log(`[1] agent: POST ${n} rules to lb1 (MASTER), until BIRD holds ${n}...`);
      const c0 = await cpuStart();
      const r = await agentAdvertise('lb1', n);
      await cpuEnd(c0, `agent advertise ${n}`);
      row('advertise: all accepted (REST 200 / CLI exit)', n).agent = r.postMs;
      row('advertise: until BIRD holds all', n).agent = r.birdMs;
      log(`    POSTs accepted in ${fmt(r.postMs)} ms, BIRD holds all after ${fmt(r.birdMs)} ms`);
      if (n !== N_LARGE) {
        await clearAgent('lb1');
        await zero([P.lb1], 'withdraw agent rules');
      } else {
        await checkDatapath('lb1', n, `after advertising ${n}`);
      }
    }

    log(`[1] agent: restart lb1 (SIGTERM), restore ${N_LARGE} rules from its config path...`);
    await t.agents.get(LB1.name)!.stop();
    await zero([P.lb1], 'lb1 routes gone after agent stop');
    await waitProtocol(bird, P.lb1, false, now(), 30_000);
    {
      const c0 = await cpuStart();
      const t0 = now();
      const restUp = t.startAgent(LB1.name, ['--bgp']).then(() => now() - t0);
      const back = waitSessionAndCount(bird, P.lb1, N_LARGE, t0, 120_000);
      const [upMs, { establishedMs: estMs, allMs }] = await Promise.all([restUp, back]);
      await cpuEnd(c0, `agent restore ${N_LARGE} (restart)`);
      row('restore from disk: agent start -> BIRD holds all', N_LARGE).agent = allMs;
      row('  of which: agent start -> BIRD session Established', N_LARGE).agent = estMs;
      row('  of which: Established -> BIRD holds all', N_LARGE).agent = allMs - estMs;
      notes.push(
        `restore: the agent's REST API answered ${fmt(upMs)} ms after the spawn; the session comes up on BGP connect timers (BIRD connect retry 1 s, error wait 1-2 s after the old session closed; agent connectRetry 2 s)`,
      );
      log(`    REST up ${fmt(upMs)} ms, Established ${fmt(estMs)} ms, all routes ${fmt(allMs)} ms`);
      await checkDatapath('lb1', N_LARGE, `after restoring ${N_LARGE}`);
    }

    // -----------------------------------------------------------------------
    // 2. Agent role flip of N_LARGE VIPs held by both LB nodes.

    log(`[2] agent: POST the same ${N_LARGE} rules to lb2 (BACKUP)...`);
    {
      const r = await agentAdvertise('lb2', N_LARGE, [{ protocol: P.lb1, primary: true, want: N_LARGE }]);
      notes.push(
        `lb2 (BACKUP) advertising the same ${N_LARGE} VIPs while lb1 holds them: POSTs ${fmt(r.postMs)} ms, BIRD holds all ${fmt(r.birdMs)} ms (not in the table)`,
      );
    }
    const agentFlips: number[] = [];
    for (let rep = 0; rep < FLIP_REPS; rep++) {
      await sleep(SETTLE_MS);
      const c0 = await cpuStart();
      const to: 'lb1' | 'lb2' = rep % 2 === 0 ? 'lb2' : 'lb1';
      const from = to === 'lb2' ? 'lb1' : 'lb2';
      log(`[2] agent flip ${rep + 1}/${FLIP_REPS}: ${from} -> BACKUP, ${to} -> MASTER at once...`);
      const t0 = now();
      const posts = Promise.all([
        W[from].call('http', { method: 'POST', path: '/config/cistate', body: { instance: INSTANCE, state: 'BACKUP' } }),
        W[to].call('http', { method: 'POST', path: '/config/cistate', body: { instance: INSTANCE, state: 'MASTER' } }),
      ]);
      const wait = waitCounts(bird, [{ protocol: P[to], primary: true, want: N_LARGE }], t0, agentTimeout(N_LARGE), `agent flip to ${to}`);
      const [replies, w] = await Promise.all([posts, wait]);
      for (const r of replies) if (r.status !== 200) throw new Error(`cistate POST: HTTP ${r.status} ${r.body}`);
      agentFlips.push(w.ms);
      log(`    BIRD best all via ${to} after ${fmt(w.ms)} ms (cistate answered in ${replies.map((r) => fmt(r.ms)).join(' / ')} ms)`);
      if (rep === 0) await cpuEnd(c0, `agent flip ${N_LARGE} (first flip)`);
    }
    row('role flip (cistate / CLI re-add) -> BIRD best moved', N_LARGE).agent = median(agentFlips);
    row('role flip (cistate / CLI re-add) -> BIRD best moved', N_LARGE).note = `agent: median of ${FLIP_REPS} flips (${agentFlips.map(fmt).join(', ')} ms); baseline: one run`;

    log('    withdrawing the agent rules on lb1 and lb2...');
    await Promise.all([clearAgent('lb1'), clearAgent('lb2')]);
    await zero([P.lb1, P.lb2], 'withdraw agent rules');

    if (AGENT_ONLY) {
      notes.push('BENCH_AGENT_ONLY set: baselines and strategy cases skipped');
      complete = true;
      return;
    }

    // -----------------------------------------------------------------------
    // 3. Baseline: one gobgp CLI process per route.

    for (const n of [N_SMALL, N_LARGE]) {
      log(`[3] baseline: ${n} x 'gobgp global rib add' on gb1, until BIRD holds ${n}...`);
      const c0 = await cpuStart();
      const t0 = now();
      const loop = cliAddLoop(lab, 'gb1', { base: CLI_BASE, start: 0, n, ...MASTER, timeoutMs: cliTimeout(n), label: `gb1 cli add ${n}` });
      const ac = new AbortController();
      loop.catch((err: Error) => ac.abort(err));
      const wait = waitCounts(bird, [{ protocol: P.gb1, want: n }], t0, cliTimeout(n), `baseline advertise ${n}`, ac.signal);
      const [loopMs, w] = await Promise.all([loop, wait]);
      await cpuEnd(c0, `baseline advertise ${n}`);
      row('advertise: all accepted (REST 200 / CLI exit)', n).baseline = loopMs;
      row('advertise: until BIRD holds all', n).baseline = w.ms;
      log(`    CLI loop done in ${fmt(loopMs)} ms, BIRD holds all after ${fmt(w.ms)} ms`);
      if (n !== N_LARGE) {
        await cliDeleteAll(lab, 'gb1');
        await zero([P.gb1], 'withdraw baseline routes');
      }
    }
    log(`[3] baseline flip: gb2 gets the same ${N_LARGE} routes as BACKUP (set-up over AddPathStream, not timed)...`);
    await g2.call('addPaths', { base: CLI_BASE, n: N_LARGE, ...BACKUP }, 120_000);
    await waitCounts(bird, [{ protocol: P.gb2, want: N_LARGE }, { protocol: P.gb1, primary: true, want: N_LARGE }], now(), 120_000, 'baseline gb2 set-up');
    {
      log(`[3] baseline flip: re-add every route with swapped MED/LP, one CLI process per route on gb1 and gb2 at once...`);
      await sleep(SETTLE_MS);
      const c0 = await cpuStart();
      const t0 = now();
      const loops = Promise.all([
        cliAddLoop(lab, 'gb1', { base: CLI_BASE, start: 0, n: N_LARGE, ...BACKUP, timeoutMs: cliTimeout(N_LARGE) * 2, label: 'gb1 cli flip' }),
        cliAddLoop(lab, 'gb2', { base: CLI_BASE, start: 0, n: N_LARGE, ...MASTER, timeoutMs: cliTimeout(N_LARGE) * 2, label: 'gb2 cli flip' }),
      ]);
      const ac = new AbortController();
      loops.catch((err: Error) => ac.abort(err));
      const wait = waitCounts(bird, [{ protocol: P.gb2, primary: true, want: N_LARGE }], t0, cliTimeout(N_LARGE) * 2, 'baseline flip', ac.signal);
      const [loopMs, w] = await Promise.all([loops, wait]);
      await cpuEnd(c0, `baseline flip ${N_LARGE}`);
      row('role flip (cistate / CLI re-add) -> BIRD best moved', N_LARGE).baseline = w.ms;
      log(`    CLI loops done in ${loopMs.map(fmt).join(' / ')} ms, BIRD best all via gb2 after ${fmt(w.ms)} ms`);
    }
    await Promise.all([cliDeleteAll(lab, 'gb1'), cliDeleteAll(lab, 'gb2')]);
    await zero([P.gb1, P.gb2], 'withdraw baseline routes');

    // -----------------------------------------------------------------------
    // 4. Flip strategies straight against gobgpd.

    const flipReps = async (
      label: string,
      flip: (toGb2: boolean, rep: number) => Promise<number>,
    ): Promise<number[]> => {
      const runs: number[] = [];
      for (let rep = 0; rep < FLIP_REPS; rep++) {
        await sleep(SETTLE_MS);
        const c0 = await cpuStart();
        const toGb2 = rep % 2 === 0;
        const target = toGb2 ? P.gb2 : P.gb1;
        const t0 = now();
        const ac = new AbortController();
        const api = flip(toGb2, rep);
        api.catch((err: Error) => ac.abort(err));
        const wait = waitCounts(bird, [{ protocol: target, primary: true, want: N_LARGE }], t0, agentTimeout(N_LARGE), `${label} flip`, ac.signal);
        const [, w] = await Promise.all([api, wait]);
        runs.push(w.ms);
        log(`    ${label} flip ${rep + 1}/${FLIP_REPS} to ${toGb2 ? 'gb2' : 'gb1'}: BIRD best all moved after ${fmt(w.ms)} ms`);
        if (rep === 0) await cpuEnd(c0, `${label} flip ${N_LARGE} (first flip)`);
      }
      return runs;
    };

    // (a) AddPathStream re-add.
    {
      log(`[4a] AddPathStream: ${N_LARGE} paths on gb1 (MASTER attrs), until BIRD holds all...`);
      const c0 = await cpuStart();
      const t0 = now();
      const add = g1.call('addPaths', { base: STREAM_BASE, n: N_LARGE, ...MASTER }, 120_000);
      const [a, w] = await Promise.all([add, waitCounts(bird, [{ protocol: P.gb1, want: N_LARGE }], t0, agentTimeout(N_LARGE), 'AddPathStream advertise')]);
      await cpuEnd(c0, `AddPathStream advertise ${N_LARGE} (direct, gb1)`);
      row('advertise: until BIRD holds all', N_LARGE).note = `for scale: AddPathStream straight into gobgpd (no agent): BIRD holds all ${fmt(w.ms)} ms (stream call ${fmt(a.ms)} ms)`;
      log(`    BIRD holds all after ${fmt(w.ms)} ms (AddPathStream call ${fmt(a.ms)} ms)`);
      await g2.call('addPaths', { base: STREAM_BASE, n: N_LARGE, ...BACKUP }, 120_000);
      await waitCounts(bird, [{ protocol: P.gb2, want: N_LARGE }, { protocol: P.gb1, primary: true, want: N_LARGE }], now(), 120_000, 'strategy (a) set-up');
      const api: number[] = [];
      const runs = await flipReps('(a) AddPathStream', async (toGb2) => {
        const [r1, r2] = await Promise.all([
          g1.call('addPaths', { base: STREAM_BASE, n: N_LARGE, ...(toGb2 ? BACKUP : MASTER) }, 120_000),
          g2.call('addPaths', { base: STREAM_BASE, n: N_LARGE, ...(toGb2 ? MASTER : BACKUP) }, 120_000),
        ]);
        api.push(Math.max(r1.ms, r2.ms));
        return 0;
      });
      strategies.push({ name: '(a) AddPathStream re-add, new MED/LP', n: N_LARGE, runs, api, note: 'API ms = the slower of the two AddPathStream calls' });
      await Promise.all([cliDeleteAll(lab, 'gb1'), cliDeleteAll(lab, 'gb2')]);
      await zero([P.gb1, P.gb2], 'withdraw strategy (a) routes');
    }

    // (b) Export policy per role + soft reset out.
    {
      log(`[4b] export policy: prefix set of ${N_LARGE} VIPs (32..32), MED/LP by policy, paths without MED...`);
      await Promise.all([
        g1.call('policySetup', { base: POLICY_BASE, n: N_LARGE, gen: 0, ...MASTER }, 120_000),
        g2.call('policySetup', { base: POLICY_BASE, n: N_LARGE, gen: 0, ...BACKUP }, 120_000),
      ]);
      await Promise.all([
        g1.call('addPaths', { base: POLICY_BASE, n: N_LARGE }, 120_000),
        g2.call('addPaths', { base: POLICY_BASE, n: N_LARGE }, 120_000),
      ]);
      await waitCounts(
        bird,
        [{ protocol: P.gb1, want: N_LARGE }, { protocol: P.gb2, want: N_LARGE }, { protocol: P.gb1, primary: true, want: N_LARGE }],
        now(),
        120_000,
        'strategy (b) set-up',
      );
      const probe = await bird.routesFor(`10.${POLICY_BASE}.0.1/32`);
      const meds = probe.map((r) => `${r.fromProtocol} med ${r.med}`).join(', ');
      if (!probe.some((r) => r.fromProtocol === P.gb1 && r.med === MASTER.med)) throw new Error(`strategy (b): policy MED not applied at BIRD (${meds})`);
      const api: number[] = [];
      const policyMs: number[] = [];
      const resetMs: number[] = [];
      let gen = 0;
      const runs = await flipReps('(b) policy + soft reset', async (toGb2) => {
        const prevGen = gen++;
        const [r1, r2] = await Promise.all([
          g1.call('policyFlip', { gen, prevGen, ...(toGb2 ? BACKUP : MASTER) }, 120_000),
          g2.call('policyFlip', { gen, prevGen, ...(toGb2 ? MASTER : BACKUP) }, 120_000),
        ]);
        api.push(Math.max(r1.ms, r2.ms));
        policyMs.push(Math.max(r1.policyMs, r2.policyMs));
        resetMs.push(Math.max(r1.resetMs, r2.resetMs));
        return 0;
      });
      const after = await g1.call('listPolicies');
      strategies.push({
        name: '(b) export policy swap + ResetPeer soft OUT',
        n: N_LARGE,
        runs,
        api,
        note:
          `API ms = policy calls (AddPolicy + SetPolicyAssignment + DeletePolicy, median ${fmt(median(policyMs))} ms) + ResetPeer (median ${fmt(median(resetMs))} ms); ` +
          `BIRD before the flips: ${meds}. gobgpd policies after the flips: ${JSON.stringify(after.policies)}, export: ${JSON.stringify(after.exportPolicies)}`,
      });
      await Promise.all([g1.call('policyClear'), g2.call('policyClear')]);
      await Promise.all([cliDeleteAll(lab, 'gb1'), cliDeleteAll(lab, 'gb2')]);
      await zero([P.gb1, P.gb2], 'withdraw strategy (b) routes');
    }
    notes.push(
      `clocks stop at the answer of the first BIRD poll that meets the condition (poll every ${process.env.BENCH_POLL_MS ?? 20} ms, birdc ~3-5 ms), so every number carries up to ~25 ms of polling granularity`,
      `baseline processes run sequentially (a shell loop inside the node's namespace, one 'gobgp global rib add ... origin igp med M local-pref L' per route); the baseline flip runs one such loop on gb1 and one on gb2 at the same time`,
      `agent POSTs: ${CONCURRENCY} in flight over keep-alive connections, from a helper inside lb1's namespace; "all accepted" is that helper's own clock`,
      `every flip starts after a ${SETTLE_MS} ms pause, so the tail of the previous step (rule saves, best-path watch events) is not measured with it`,
    );
    complete = true;
  } finally {
    log('tearing down the lab...');
    await t.destroy();
    printResults(now() - tRun, complete);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
