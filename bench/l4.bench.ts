// Benchmark: L4 load-balancing throughput of the eBPF datapath against what a
// node would otherwise use, all in one run on one namespace topology.
//
//   npm run bench:l4 [-- --duration 10 --rounds 2 --warmup 1 --threads 1 --connections 50]
//   (= node --import tsx bench/l4.bench.ts ...; root; about 2.5 min at the defaults)
//
// Topology (bench/lib/L4Lab.ts, DatapathLab's addresses): client 192.168.90.2
// -- router -- LAN with one LB node per case and two endpoints (ep1 .21, ep2
// .22) each running nginx (1 worker, `return 200 "ok"`, no access log,
// unlimited keep-alive). The router's VIP route and the endpoints' default
// route point at the LB node under test, so every case crosses
// client -> router -> LB node -> endpoint and back the same way:
//
//   direct     client -> ep1:8080 through lb-direct, a plain kernel router
//              (a /32 route on the router): no translation, the ceiling.
//              One endpoint (one nginx worker; the LB cases spread over two).
//   ebpf       loxilb agent on lb-ebpf, rule VIP:80 -> ep1, ep2 :8080,
//              default mode (DNAT), rr. TC programs translate and redirect;
//              no netfilter rule exists in that node, so conntrack stays off.
//   iptables   kube-proxy's iptables shape on lb-ipt: nat PREROUTING ->
//              services chain -> service chain (statistic random 1/2) ->
//              endpoint chains with DNAT. Netfilter conntrack is in the path
//              (the nat table needs it) and is what this costs.
//   nftables   lb-nft: one nat prerouting chain, `dnat to numgen inc mod 2 map`.
//   haproxy    HAProxy 2.6 `mode tcp`, `balance roundrobin`, on lb-hap with the
//              VIP on its loopback: two TCP connections per client connection.
//
// Each way of balancing has a node of its own (all built the same), so no
// case leaves netfilter tables, conntrack entries, TC programs or sockets in
// another's path, and the cases can be interleaved. After every run the bench
// reads nf_conntrack_count in the client, router, endpoints and the case's
// node: it must be > 0 on lb-ipt and lb-nft and 0 everywhere else (conntrack
// only runs in a namespace once a rule there needs it), else the run is
// flagged; at the end it lists the nodes that have any netfilter ruleset.
//
// Measurements, per case, with wrk (Debian 4.1) from the client:
//   keep-alive  requests/s over persistent connections;
//   new conn    `-H 'Connection: close'` (with the space, lab-notes): nginx
//               closes after each reply and wrk reconnects, so requests/s =
//               connections/s. Cross-checked with the endpoints' TCP
//               PassiveOpens (flagged if they do not match).
// Other processes share this machine, so a case's --duration is split into
// --rounds slices, and the rounds interleave the cases (the order rotates
// each round): a burst of outside load then hits every case a little instead
// of one case a lot. Each slice follows a --warmup run of the same kind
// (discarded: ARP after the route switch, caches, conntrack and eBPF tables,
// nginx). A case's rate is its requests over its measured seconds, all
// slices together; the table also shows the slowest and fastest slice. All
// keep-alive rounds come first, then all new-connection rounds. Slices are
// kept at several seconds so the new-connection runs reach steady state:
// the client wraps around its even ports in ~3 s at 10k conn/s and starts
// reusing tuples that conntrack and the eBPF table still hold.
//
// wrk -t1 -c50 by default. The box has 2 cores and every process in the
// path shares them: wrk, both nginx workers, HAProxy, and the forwarding,
// which on veth runs as softirq mostly in the context of the process that
// sent the packet (wrk's core carries the client->endpoint direction through
// router and LB node, nginx's core the replies). So results measure CPU cost
// per request, not link speed. One wrk thread bounds the load generator to
// one core; in trials here -t2 gave no higher keep-alive rate in any case
// (the second thread only preempts nginx) and noisier new-connection rates.
// With -t1 a new-connection run may leave the box 20-25 % idle: the client's
// core is then the limit, and it carries the forward direction of every
// packet through the LB node, so the LB's per-connection cost still shows
// (--threads 2 saturates both cores). 50 connections keep wrk's one epoll
// loop full without growing queues. HAProxy runs 2 threads
// (--haproxy-threads), its own default on 2 CPUs; 1 thread measured a few %
// lower here.
//
// TIME_WAIT and PAWS (lab-notes): with one client address, new-connection
// runs reuse client ports (net.ipv4.tcp_tw_reuse=1 and ip_local_port_range
// 1024-65535 in the client). nginx closes first, so the endpoints hold the
// TIME_WAITs, keyed by (client address, port, endpoint, 8080), and the
// client's TCP timestamps are offset per (source, destination) address pair.
// The DNAT cases (ebpf, iptables, nftables) all target the VIP from one
// address, so their timestamps only grow and a reused port is accepted over
// an old TIME_WAIT; direct targets ep1 itself (another timestamp offset), so
// it uses its own source address (192.168.90.3, a route with a source hint)
// and its tuples never meet the others'. HAProxy's server side comes from its
// own node's address. Hence no cool-down between runs; instead the bench
// reads the PAWS counters (PAWSActive, PAWSEstab, PAWSTimewait) of client and
// endpoints around every run and flags any increase.
//
// Also flagged: wrk socket errors and non-2xx replies (warm-ups included),
// listen queue overflows, eBPF datapath drop counters (from GET
// /netlox/v1/status on lb-ebpf) and a dead agent. Client retransmissions,
// machine CPU (busy, softirq; every process on the box) and the busiest lab
// processes are printed per slice on stderr; the table (markdown) and the
// goal lines go to stdout. Goals: keep-alive req/s >= iptables; new conn/s
// >= 1.2 x iptables and within 5 % of direct (>= 0.95 x direct).
// LAB_KEEP=1 keeps the lab's temp dir (nginx, HAProxy and agent configs, logs).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { L4, L4Lab, LB_NODES, type LbNodeName } from './lib/L4Lab.ts';
import { WRK_BIN, runWrk, totalErrors, type WrkResult } from './lib/wrk.ts';
import { cpuDiff, cpuSnapshot } from './lib/cpu.ts';
import { BPF_OBJECT_RELATIVE_PATH } from '../src/datapath/Datapath.ts';
import { ROOT } from './lib/NsWorkerHandle.ts';

const log = (s: string) => process.stderr.write(`${s}\n`);

type CaseName = 'direct' | 'ebpf' | 'iptables' | 'nftables' | 'haproxy';
type Mode = 'keepalive' | 'close';

interface Case {
  name: CaseName;
  label: string;
  node: LbNodeName;
  url: string;
  /** Whether netfilter conntrack must be in this case's path. */
  conntrack: boolean;
}

const VIP_URL = `http://${L4.vip}:${L4.vipPort}/`;
const CASES: Case[] = [
  { name: 'direct', label: 'direct to ep1 (no LB)', node: 'lb-direct', url: `http://${L4.ep1}:${L4.epPort}/`, conntrack: false },
  { name: 'ebpf', label: 'loxilb-ts eBPF (DNAT, rr)', node: 'lb-ebpf', url: VIP_URL, conntrack: false },
  { name: 'iptables', label: 'iptables DNAT (statistic random)', node: 'lb-ipt', url: VIP_URL, conntrack: true },
  { name: 'nftables', label: 'nftables DNAT (numgen inc)', node: 'lb-nft', url: VIP_URL, conntrack: true },
  { name: 'haproxy', label: 'HAProxy 2.6 mode tcp (roundrobin)', node: 'lb-hap', url: VIP_URL, conntrack: false },
];

/** Reference numbers measured on this kind of machine (shared/reference/lab-notes.md). */
const LAB_NOTES: Partial<Record<CaseName, string>> = {
  direct: '88–91k / 22k',
  iptables: '85–90k / 16.5–17.8k',
  nftables: '85–90k / 16.5–17.8k',
  haproxy: '51k / 10.4k',
};

/** eBPF datapath counters that mean a packet was dropped or left to the kernel untranslated. */
const EBPF_BAD = ['noEndpoint', 'notSyn', 'sourceDenied', 'natPortsExhausted', 'ctFull', 'toKernel'] as const;
/** Kernel TCP counters summed over the slices: [node, counter]. */
const WATCHED: [string, string][] = [
  ...['client', 'ep1', 'ep2'].flatMap((n) => ['PAWSActive', 'PAWSEstab', 'PAWSTimewait', 'ListenOverflows', 'ListenDrops'].map((c): [string, string] => [n, c])),
  ['lb-hap', 'ListenOverflows'],
  ['lb-hap', 'ListenDrops'],
  ['client', 'RetransSegs'],
  ['ep1', 'PassiveOpens'],
  ['ep2', 'PassiveOpens'],
];

interface Options {
  durationS: number;
  rounds: number;
  sliceS: number;
  warmupS: number;
  threads: number;
  connections: number;
  haproxyThreads: number;
  cases: Case[];
  modes: Mode[];
}

/** One measured wrk run of a case. */
interface Slice {
  wrk: WrkResult;
  warmupErrors: number;
  /** Deltas of WATCHED, keyed `node counter`. */
  tcp: Record<string, number>;
  /** Deltas of the datapath stats (eBPF case only). */
  ebpf?: Record<string, number>;
  /** nf_conntrack_count per node after the run. */
  conntrack: Record<string, number>;
  agentDead: boolean;
  busyPct: number;
}

/** All slices of one case in one mode. */
interface Result {
  c: Case;
  mode: Mode;
  slices: Slice[];
  /** Requests over measured seconds, all slices together. */
  rps: number;
  minRps: number;
  maxRps: number;
  accepts: number;
  seconds: number;
  requests: number;
  clientRetrans: number;
  flags: string[];
}

function usage(): string {
  return (
    'usage: node --import tsx bench/l4.bench.ts [--duration S] [--rounds N] [--warmup S] [--threads N] [--connections N] ' +
    `[--haproxy-threads N] [--cases ${CASES.map((c) => c.name).join(',')}] [--modes keepalive,close]`
  );
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      threads: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
      'haproxy-threads': { type: 'string', default: '2' },
      cases: { type: 'string', default: CASES.map((c) => c.name).join(',') },
      modes: { type: 'string', default: 'keepalive,close' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v.replace(/s$/, ''));
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"\n${usage()}`);
    return n;
  };
  const names = values.cases.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length || names.length === 0) throw new Error(`--cases: unknown ${unknown.join(', ') || '(none given)'}; known: ${CASES.map((c) => c.name).join(', ')}`);
  const modes = values.modes.split(',').map((s) => s.trim()).filter(Boolean);
  if (modes.length === 0 || modes.some((m) => m !== 'keepalive' && m !== 'close')) throw new Error(`--modes: keepalive and/or close, got "${values.modes}"`);
  const durationS = int('duration', values.duration, 1);
  const rounds = int('rounds', values.rounds, 1);
  // wrk takes whole seconds.
  if (durationS % rounds !== 0) throw new Error(`--duration ${durationS} must split into --rounds ${rounds} whole-second slices`);
  const threads = int('threads', values.threads, 1);
  const connections = int('connections', values.connections, 1);
  if (connections < threads) throw new Error('--connections must be at least --threads (wrk gives each thread its share)');
  return {
    durationS,
    rounds,
    sliceS: durationS / rounds,
    warmupS: int('warmup', values.warmup, 0),
    threads,
    connections,
    haproxyThreads: int('haproxy-threads', values['haproxy-threads'], 1),
    cases: CASES.filter((c) => names.includes(c.name)),
    modes: (['keepalive', 'close'] as const).filter((m) => modes.includes(m)),
  };
}

function checkTools(): void {
  if (process.getuid?.() !== 0) throw new Error('the L4 bench needs root (network namespaces, eBPF)');
  const need = [WRK_BIN, '/usr/sbin/nginx', '/usr/sbin/haproxy', '/usr/sbin/iptables', '/usr/sbin/nft', `${ROOT}/${BPF_OBJECT_RELATIVE_PATH}`];
  const missing = need.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`missing ${missing.join(', ')} (npm run setup; npm run build:native)`);
}

/** Machine-wide CPU jiffies from /proc/stat (every process on the box, other users' too). */
function jiffies(): { busy: number; softirq: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), softirq: f[6] ?? 0, total };
}

const loadAvg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const modeTag = (m: Mode) => (m === 'keepalive' ? 'ka' : 'conn');

// ---------------------------------------------------------------------------

class Bench {
  constructor(
    readonly t: L4Lab,
    readonly o: Options,
  ) {}

  /** Sets up every selected case's LB node; each one is checked with one request from the client. */
  async setup(): Promise<void> {
    const { t } = this;
    await t.clientSource(L4.ep1, L4.clientDirect);
    for (const c of this.o.cases) {
      switch (c.name) {
        case 'ebpf':
          await t.startAgent(c.node);
          await t.addEbpfRule(c.node, 4);
          break;
        case 'iptables':
          await t.setupIptables(c.node, 4);
          break;
        case 'nftables':
          await t.setupNft(c.node, 4);
          break;
        case 'haproxy':
          await t.startHaproxy(c.node, this.o.haproxyThreads);
          break;
        case 'direct':
          break;
      }
      await t.useLb(c.node);
      const r = await t.lab.exec('client', ['curl', '-s', '-m', '3', c.url]);
      if (r.stdout.trim() !== 'ok') throw new Error(`${c.name}: the client gets no reply through ${c.node} (${r.code}: ${r.stdout}${r.stderr})`);
    }
  }

  private async ebpfStats(c: Case): Promise<Record<string, number> | undefined> {
    if (c.name !== 'ebpf') return undefined;
    const st = await this.t.mustApi(c.node, 'GET', '/status');
    return { ...(st.datapath?.stats ?? {}) };
  }

  private async tcp(): Promise<Record<string, number>> {
    const nodes = [...new Set(WATCHED.map(([n]) => n))];
    const all = await Promise.all(nodes.map((n) => this.t.tcpCounters(n)));
    const out: Record<string, number> = {};
    for (const [node, counter] of WATCHED) out[`${node} ${counter}`] = all[nodes.indexOf(node)]![counter] ?? 0;
    return out;
  }

  async slice(c: Case, mode: Mode, round: number): Promise<Slice> {
    const { t, o } = this;
    await t.useLb(c.node);
    const wrkOpts = { url: c.url, threads: o.threads, connections: o.connections, close: mode === 'close' };
    let warmupErrors = 0;
    if (o.warmupS > 0) warmupErrors = totalErrors(await runWrk(t.lab, 'client', { ...wrkOpts, durationS: o.warmupS }));

    const load = loadAvg();
    const ebpf0 = await this.ebpfStats(c);
    const k0 = await this.tcp();
    const cpu0 = await cpuSnapshot(t.lab);
    const j0 = jiffies();
    const wrk = await runWrk(t.lab, 'client', { ...wrkOpts, durationS: o.sliceS });
    const j1 = jiffies();
    const cpu1 = await cpuSnapshot(t.lab);
    const k1 = await this.tcp();
    const ebpf1 = await this.ebpfStats(c);

    const tcp = Object.fromEntries(Object.keys(k1).map((k) => [k, k1[k]! - (k0[k] ?? 0)]));
    const ebpf = ebpf0 && ebpf1 ? Object.fromEntries(Object.keys(ebpf1).map((k) => [k, ebpf1[k]! - (ebpf0[k] ?? 0)])) : undefined;
    const conntrack: Record<string, number> = {};
    for (const node of ['client', 'router', 'ep1', 'ep2', c.node]) conntrack[node] = await t.conntrackCount(node);
    const dt = j1.total - j0.total || 1;
    const s: Slice = {
      wrk,
      warmupErrors,
      tcp,
      ebpf,
      conntrack,
      agentDead: c.name === 'ebpf' && !t.agent?.alive(),
      busyPct: (100 * (j1.busy - j0.busy)) / dt,
    };

    // Between the two snapshots the bench's only reaped child is wrk itself.
    const top = cpuDiff(cpu0, cpu1, 50)
      .filter((r) => r.label !== 'bench process')
      .map((r) => (r.label.startsWith('bench children') ? { ...r, label: 'client wrk' } : r))
      .slice(0, 6)
      .map((r) => `${r.label} ${((100 * r.ms) / (o.sliceS * 1000)).toFixed(0)}%`)
      .join(', ');
    const accepts = tcp['ep1 PassiveOpens']! + tcp['ep2 PassiveOpens']!;
    log(
      `  r${round + 1} ${c.name.padEnd(8)} ${modeTag(mode).padEnd(4)} ${fmtRate(wrk.rps).padStart(6)}/s  lat ${wrk.latencyAvg}  errors ${totalErrors(wrk)}` +
        `  accepts ${accepts}  client retrans ${tcp['client RetransSegs']}  cpu busy ${s.busyPct.toFixed(0)}% (softirq ${((100 * (j1.softirq - j0.softirq)) / dt).toFixed(0)}%)  load ${load}`,
    );
    log(`       processes (% of one core): ${top || '-'}`);
    if (ebpf) log(`       datapath: ${Object.entries(ebpf).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (c.conntrack) log(`       nf_conntrack_count on ${c.node}: ${conntrack[c.node]}`);
    return s;
  }
}

/** Sums the slices of a case and derives its flags. */
function summarize(c: Case, mode: Mode, slices: Slice[], o: Options): Result {
  const sum = (f: (s: Slice) => number) => slices.reduce((a, s) => a + f(s), 0);
  const requests = sum((s) => s.wrk.requests);
  const seconds = sum((s) => s.wrk.seconds);
  const tcp = (k: string) => sum((s) => s.tcp[k] ?? 0);
  const accepts = tcp('ep1 PassiveOpens') + tcp('ep2 PassiveOpens');
  const flags: string[] = [];

  const errs = (['connect', 'read', 'write', 'timeout', 'non2xx'] as const)
    .map((k) => [k, sum((s) => s.wrk.errors[k])] as const)
    .filter(([, n]) => n > 0);
  if (errs.length) flags.push(`wrk errors: ${errs.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const warm = sum((s) => s.warmupErrors);
  if (warm) flags.push(`warm-up errors ${warm}`);
  if (mode === 'close' && accepts < 0.9 * requests) flags.push(`only ${accepts} accepts for ${requests} requests (Connection: close not honoured?)`);
  if (mode === 'keepalive' && accepts > 2 * o.connections * slices.length) flags.push(`${accepts} accepts on keep-alive connections (reconnects)`);
  for (const [node, counter] of WATCHED) {
    if (/PAWS|Listen/.test(counter) && (node !== 'lb-hap' || c.name === 'haproxy') && tcp(`${node} ${counter}`) > 0) flags.push(`${node} ${counter} +${tcp(`${node} ${counter}`)}`);
  }
  const ctBad = new Map<string, number>();
  let ctMissing = false;
  for (const s of slices) {
    for (const [node, n] of Object.entries(s.conntrack)) {
      const want = c.conntrack && node === c.node;
      if (want && n === 0) ctMissing = true;
      if (!want && n > 0) ctBad.set(node, Math.max(n, ctBad.get(node) ?? 0));
    }
  }
  if (ctMissing) flags.push(`conntrack empty on ${c.node}: netfilter not in the path?`);
  for (const [node, n] of ctBad) flags.push(`conntrack active on ${node} (${n} entries)`);
  if (c.name === 'ebpf') {
    for (const k of EBPF_BAD) {
      const n = sum((s) => s.ebpf?.[k] ?? 0);
      if (n > 0) flags.push(`datapath ${k} +${n}`);
    }
    if (slices.some((s) => s.agentDead)) flags.push('the loxilb agent died');
  }
  const rates = slices.map((s) => s.wrk.rps);
  return {
    c,
    mode,
    slices,
    rps: seconds > 0 ? requests / seconds : 0,
    minRps: Math.min(...rates),
    maxRps: Math.max(...rates),
    accepts,
    seconds,
    requests,
    clientRetrans: tcp('client RetransSegs'),
    flags,
  };
}

// ---------------------------------------------------------------------------
// Output

function fmtRate(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}×`;
}

function printResults(o: Options, results: Result[], notes: string[]): void {
  const get = (name: CaseName, mode: Mode) => results.find((r) => r.c.name === name && r.mode === mode);
  const rate = (name: CaseName, mode: Mode) => get(name, mode)?.rps;
  const head = ['case', 'LB node', 'keep-alive req/s', 'slices', 'vs iptables', 'vs direct', 'new conn/s', 'slices', 'vs iptables', 'vs direct', 'lab-notes ka / conn', 'flags'];
  const body = o.cases.map((c) => {
    const ka = get(c.name, 'keepalive');
    const cl = get(c.name, 'close');
    const cell = (r: Result | undefined) => (r ? `${fmtRate(r.rps)}${r.flags.length ? ' ⚠' : ''}` : '-');
    const range = (r: Result | undefined) => (r ? `${fmtRate(r.minRps)}–${fmtRate(r.maxRps)}` : '-');
    const flags = [...(ka?.flags.map((f) => `ka: ${f}`) ?? []), ...(cl?.flags.map((f) => `conn: ${f}`) ?? [])];
    return [
      c.label,
      c.node,
      cell(ka),
      range(ka),
      ratio(ka?.rps, rate('iptables', 'keepalive')),
      ratio(ka?.rps, rate('direct', 'keepalive')),
      cell(cl),
      range(cl),
      ratio(cl?.rps, rate('iptables', 'close')),
      ratio(cl?.rps, rate('direct', 'close')),
      LAB_NOTES[c.name] ?? '-',
      flags.length ? flags.join('; ') : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [
    `L4 load balancing: wrk -t${o.threads} -c${o.connections}, ${o.durationS} s per case and mode in ${o.rounds} interleaved slice(s) of ${o.sliceS} s, ` +
      `each after a ${o.warmupS} s warm-up; HAProxy nbthread ${o.haproxyThreads}; ${os.cpus().length} CPUs, kernel ${os.release()}`,
    '',
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
    '',
  ];

  const goal = (what: string, a: Result | undefined, b: Result | undefined, factor: number): string => {
    if (!a || !b) return `goal ${what}: not measured`;
    const r = a.rps / b.rps;
    const dirty = [a, b].filter((x) => x.flags.length).map((x) => `${x.c.name} ${modeTag(x.mode)} flagged`);
    return `goal ${what}: ${fmtRate(a.rps)} vs ${fmtRate(b.rps)} = ${r.toFixed(3)}× (need ≥ ${factor}×): ${r >= factor ? 'PASS' : 'FAIL'}${dirty.length ? ` (not clean: ${dirty.join(', ')})` : ''}`;
  };
  out.push(
    goal('keep-alive req/s, eBPF ≥ iptables', get('ebpf', 'keepalive'), get('iptables', 'keepalive'), 1),
    goal('new conn/s, eBPF ≥ 1.2 × iptables', get('ebpf', 'close'), get('iptables', 'close'), 1.2),
    goal('new conn/s, eBPF within 5 % of direct', get('ebpf', 'close'), get('direct', 'close'), 0.95),
    '',
  );
  const per = (f: (r: Result) => string) => results.map((r) => `${r.c.name}/${modeTag(r.mode)} ${f(r)}`).join(', ');
  const all = [
    ...notes,
    `machine CPU busy during the measured slices (every process on the box, other users' too): ${per((r) => `${(r.slices.reduce((a, s) => a + s.busyPct, 0) / r.slices.length).toFixed(0)}%`)}`,
    `client TCP retransmissions: ${per((r) => String(r.clientRetrans))}`,
    `endpoint accepts/s in the new-connection runs: ${results
      .filter((r) => r.mode === 'close')
      .map((r) => `${r.c.name} ${fmtRate(r.accepts / r.seconds)}`)
      .join(', ')}`,
    'slices = slowest–fastest slice; ⚠ = flagged (errors, drops, PAWS, conntrack where it should not be): that number is not clean',
  ];
  out.push(...all.map((n) => `- ${n}`));
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  checkTools();
  const notes: string[] = [];
  const loadStart = loadAvg();
  log(
    `L4 bench: ${o.cases.map((c) => c.name).join(', ')}; wrk -t${o.threads} -c${o.connections}; ${o.rounds} round(s) of ` +
      `${o.warmupS} s warm-up + ${o.sliceS} s per case and mode; load average ${loadStart}`,
  );
  const t0 = performance.now();
  const results: Result[] = [];
  let failure: unknown;
  const t = await L4Lab.create();
  try {
    const bench = new Bench(t, o);
    await bench.setup();
    for (const mode of o.modes) {
      log(mode === 'keepalive' ? 'keep-alive requests:' : 'new connections (Connection: close):');
      const slices = new Map<CaseName, Slice[]>(o.cases.map((c) => [c.name, []]));
      const failed = new Set<CaseName>();
      for (let round = 0; round < o.rounds; round++) {
        const order = o.cases.map((_, i) => o.cases[(i + round) % o.cases.length]!);
        for (const c of order) {
          if (failed.has(c.name)) continue;
          try {
            slices.get(c.name)!.push(await bench.slice(c, mode, round));
          } catch (err) {
            failed.add(c.name);
            const msg = err instanceof Error ? err.message : String(err);
            log(`  ${c.name} ${modeTag(mode)} failed: ${msg}`);
            notes.push(`${c.name} ${modeTag(mode)} failed in round ${round + 1}: ${msg.split('\n')[0]}`);
          }
          await sleep(300);
        }
      }
      for (const c of o.cases) {
        const s = slices.get(c.name)!;
        if (s.length && !failed.has(c.name)) results.push(summarize(c, mode, s, o));
      }
    }
    if (o.cases.some((c) => c.name === 'ebpf')) {
      const st = await t.api('lb-ebpf', 'GET', '/status');
      const dp = st.body?.datapath;
      if (dp) notes.push(`eBPF datapath at the end (GET /netlox/v1/status on lb-ebpf): interfaces ${dp.interfaces.join(',')}, connections ${dp.connections}, stats ${JSON.stringify(dp.stats)}`);
      else notes.push(`GET /netlox/v1/status on lb-ebpf: HTTP ${st.status}`);
    }
    const leftovers: string[] = [];
    const rulesets: string[] = [];
    for (const node of ['client', 'router', 'ep1', 'ep2', ...Object.keys(LB_NODES)]) {
      const n = await t.conntrackCount(node);
      if (n > 0) leftovers.push(`${node} ${n}`);
      if ((await t.nftRuleset(node)) !== '') rulesets.push(node);
    }
    notes.push(`nf_conntrack_count at the end: ${leftovers.join(', ') || 'none anywhere'}; nodes with a netfilter ruleset: ${rulesets.join(', ') || 'none'} (both expected: lb-ipt, lb-nft only)`);
  } catch (err) {
    failure = err;
  } finally {
    await t.destroy();
  }
  notes.push(`load average (1/5/15 min) at start ${loadStart}, at end ${loadAvg()}; whole run ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (results.length) printResults(o, results, notes);
  if (failure) throw failure;
  if (results.length < o.cases.length * o.modes.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
