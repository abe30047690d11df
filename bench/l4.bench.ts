// Benchmark: L4 load-balancing throughput of the eBPF datapath against what a
// node would otherwise use, over IPv4 and IPv6, all in one run on one
// namespace topology.
//
//   npm run bench:l4 [-- --duration 10 --rounds 2 --warmup 1 --threads 1 --connections 50 --cases ...]
//   (= node --import tsx bench/l4.bench.ts ...; root; about 4.5 min at the defaults)
//   --cases takes case names and the groups ipv4, ipv6 and all (the default),
//   e.g. `--cases ipv6` to iterate on the IPv6 rows alone, or `--cases
//   ebpf,ipv6` to also get the IPv6/IPv4 ratio of loxilb-ts.
//
// Topology (bench/lib/L4Lab.ts, DatapathLab's dual-stack addresses): client
// 192.168.90.2 / fd00:90::2 -- router -- LAN with one LB node per way of
// balancing and two endpoints (ep1 .21 / ::21, ep2 .22 / ::22) each running
// nginx on both families (1 worker, `return 200 "ok"`, no access log,
// unlimited keep-alive). The router's VIP routes and the endpoints' default
// routes (both families) point at the LB node under test, so every case
// crosses client -> router -> LB node -> endpoint and back the same way:
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
// and the same over IPv6, VIP fd00:20::1 (http://[fd00:20::1]:80/), endpoints
// fd00:80::21 and ::22:
//
//   direct6    client -> [ep1]:8080 through lb-direct (a /128 on the router).
//   ebpf6      the same loxilb agent on lb-ebpf with a second rule, the IPv6
//              VIP -> both IPv6 endpoints: NAT66, default mode, rr. Sharing
//              the agent, its TC programs and maps with ebpf makes the address
//              family the only difference between the two rows (closed
//              connections leave the eBPF table within seconds, so the IPv4
//              rows' entries do not crowd the IPv6 ones).
//   ip6tables  the iptables case's kube-proxy chains, written with ip6tables,
//              on lb-ipt6.
//   nftables6  the nftables case's chain in a `table ip6`, on lb-nft6.
// The netfilter cases get nodes of their own per family, so each node's
// conntrack count belongs to one case. There is no HAProxy IPv6 row.
//
// Each way of balancing has a node of its own (all built the same), so no
// case leaves netfilter tables, conntrack entries, TC programs or sockets in
// another's path, and the cases can be interleaved. After every run the bench
// reads nf_conntrack_count in the client, router, endpoints and the case's
// node: it must be > 0 on the netfilter nodes (lb-ipt, lb-nft, lb-ipt6,
// lb-nft6) and 0 everywhere else (conntrack only runs in a namespace once a
// rule there needs it, and counts both families), else the run is flagged; at
// the end it lists the nodes that have any netfilter ruleset.
//
// IPv6 in namespaces (the lab sets it up as DatapathLab does): addresses with
// nodad and accept_dad=0 (no DAD wait), net.ipv6.conf.all.forwarding=1 on the
// router and LB nodes (the agent also turns it on in its node), bridge
// netfilter off in the switches for ip6tables too, endpoints ignore ICMPv6
// redirects. Linux has no switch to stop a forwarding node from sending IPv6
// redirects as it does for IPv4: in the kernel-forwarded IPv6 cases (direct6,
// ip6tables, nftables6) every packet leaves by the interface it came in on,
// so the LB node looks up a redirect rate limit per packet and sends at most
// one redirect a second per destination; eBPF redirects bypass that.
//
// Measurements, per case, with wrk (Debian 4.1) from the client:
//   keep-alive  requests/s over persistent connections;
//   new conn    `-H 'Connection: close'` (with the space, lab-notes): nginx
//               closes after each reply and wrk reconnects, so requests/s =
//               connections/s. Cross-checked with the endpoints' TCP
//               PassiveOpens (they count both families; flagged if they do
//               not match).
// Other processes share this machine, so a case's --duration is split into
// --rounds slices, and the rounds interleave the cases (the order rotates
// each round): a burst of outside load then hits every case a little instead
// of one case a lot. Each slice follows a --warmup run of the same kind
// (discarded: ARP/neighbour discovery after the route switch, caches,
// conntrack and eBPF tables, nginx). A case's rate is its requests over its
// measured seconds, all slices together; the table also shows the slowest and
// fastest slice. All keep-alive rounds come first, then all new-connection
// rounds. Slices are kept at several seconds so the new-connection runs reach
// steady state: the client wraps around its even ports in ~3 s at 10k conn/s
// and starts reusing tuples that conntrack and the eBPF table still hold.
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
// TIME_WAIT and PAWS (lab-notes): with one client address per family,
// new-connection runs reuse client ports (net.ipv4.tcp_tw_reuse=1 and
// ip_local_port_range 1024-65535 in the client; both also govern IPv6
// sockets). nginx closes first, so the endpoints hold the TIME_WAITs, keyed
// by (client address, port, endpoint, 8080), and the client's TCP timestamps
// are offset per (source, destination) address pair. The DNAT cases of a
// family (ebpf, iptables, nftables; ebpf6, ip6tables, nftables6) all target
// that family's VIP from one address, so their timestamps only grow and a
// reused port is accepted over an old TIME_WAIT; direct targets ep1 itself
// (another timestamp offset), so it uses its own source address
// (192.168.90.3, and fd00:90::3 for direct6: a host route with a source hint)
// and its tuples never meet the others'. IPv4 and IPv6 tuples never meet at
// all. HAProxy's server side comes from its own node's address. Hence no
// cool-down between runs; instead the bench reads the PAWS counters
// (PAWSActive, PAWSEstab, PAWSTimewait; shared by both families) of client and
// endpoints around every run and flags any increase.
//
// Also flagged: wrk socket errors and non-2xx replies (warm-ups included),
// listen queue overflows, eBPF datapath drop and failure counters (from GET
// /netlox/v1/status on lb-ebpf, among them translateFailed; and any
// familyTranslated in ebpf6, which is NAT66 only) and a dead agent. Client
// retransmissions, machine CPU (busy, softirq; every process on the box) and
// the busiest lab processes are printed per slice on stderr; the table
// (markdown) and the goal lines go to stdout. Its "vs ip(6)tables" and "vs
// direct" columns divide by the row of the same family (ip6tables and direct6
// for IPv6 rows), "vs IPv4" divides an IPv6 row by its IPv4 counterpart.
// Goals: keep-alive req/s >= iptables; new conn/s >= 1.2 x iptables and
// within 5 % of direct (>= 0.95 x direct); and over IPv6, loxilb-ts within
// 5 % of itself over IPv4 (ebpf6 >= 0.95 x ebpf, both modes) and >= ip6tables
// (both modes). The ebpf6 / direct6 ratios are printed next to them.
// LAB_KEEP=1 keeps the lab's temp dir (nginx, HAProxy and agent configs, logs).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { L4, L4Lab, LB_NODES, type Family, type LbNodeName } from './lib/L4Lab.ts';
import { WRK_BIN, runWrk, totalErrors, type WrkResult } from './lib/wrk.ts';
import { cpuDiff, cpuSnapshot } from './lib/cpu.ts';
import { BPF_OBJECT_RELATIVE_PATH } from '../src/datapath/Datapath.ts';
import { ROOT } from './lib/NsWorkerHandle.ts';

const log = (s: string) => process.stderr.write(`${s}\n`);

type CaseName = 'direct' | 'ebpf' | 'iptables' | 'nftables' | 'haproxy' | 'direct6' | 'ebpf6' | 'ip6tables' | 'nftables6';
type Mode = 'keepalive' | 'close';

interface Case {
  name: CaseName;
  label: string;
  family: Family;
  node: LbNodeName;
  url: string;
  /** Whether netfilter conntrack must be in this case's path. */
  conntrack: boolean;
  /** Served by the loxilb agent of its node: its datapath counters are checked and it must stay alive. */
  agent: boolean;
  /** An IPv6 case's IPv4 counterpart (the same way of balancing), what its "vs IPv4" ratio divides by. */
  v4?: CaseName;
}

const VIP_URL = `http://${L4.vip}:${L4.vipPort}/`;
const VIP6_URL = `http://[${L4.vip6}]:${L4.vipPort}/`;
const CASES: Case[] = [
  { name: 'direct', label: 'direct to ep1 (no LB)', family: 4, node: 'lb-direct', url: `http://${L4.ep1}:${L4.epPort}/`, conntrack: false, agent: false },
  { name: 'ebpf', label: 'loxilb-ts eBPF (DNAT, rr)', family: 4, node: 'lb-ebpf', url: VIP_URL, conntrack: false, agent: true },
  { name: 'iptables', label: 'iptables DNAT (statistic random)', family: 4, node: 'lb-ipt', url: VIP_URL, conntrack: true, agent: false },
  { name: 'nftables', label: 'nftables DNAT (numgen inc)', family: 4, node: 'lb-nft', url: VIP_URL, conntrack: true, agent: false },
  { name: 'haproxy', label: 'HAProxy 2.6 mode tcp (roundrobin)', family: 4, node: 'lb-hap', url: VIP_URL, conntrack: false, agent: false },
  { name: 'direct6', label: 'direct to ep1 (no LB)', family: 6, node: 'lb-direct', url: `http://[${L4.ep1_6}]:${L4.epPort}/`, conntrack: false, agent: false, v4: 'direct' },
  { name: 'ebpf6', label: 'loxilb-ts eBPF (NAT66, rr)', family: 6, node: 'lb-ebpf', url: VIP6_URL, conntrack: false, agent: true, v4: 'ebpf' },
  { name: 'ip6tables', label: 'ip6tables DNAT (statistic random)', family: 6, node: 'lb-ipt6', url: VIP6_URL, conntrack: true, agent: false, v4: 'iptables' },
  { name: 'nftables6', label: 'nftables ip6 DNAT (numgen inc)', family: 6, node: 'lb-nft6', url: VIP6_URL, conntrack: true, agent: false, v4: 'nftables' },
];
/** What --cases accepts besides case names. */
const CASE_GROUPS: Record<string, CaseName[]> = {
  all: CASES.map((c) => c.name),
  ipv4: CASES.filter((c) => c.family === 4).map((c) => c.name),
  ipv6: CASES.filter((c) => c.family === 6).map((c) => c.name),
};
/** The rows the "vs ip(6)tables" and "vs direct" columns divide by, per family. */
const BASELINES: Record<Family, { iptables: CaseName; direct: CaseName }> = {
  4: { iptables: 'iptables', direct: 'direct' },
  6: { iptables: 'ip6tables', direct: 'direct6' },
};

/** Reference numbers measured on this kind of machine (shared/reference/lab-notes.md). */
const LAB_NOTES: Partial<Record<CaseName, string>> = {
  direct: '88–91k / 22k',
  iptables: '85–90k / 16.5–17.8k',
  nftables: '85–90k / 16.5–17.8k',
  haproxy: '51k / 10.4k',
};

/** eBPF datapath counters that mean a packet was dropped, left to the kernel untranslated, or mistranslated. */
const EBPF_BAD = ['noEndpoint', 'notSyn', 'sourceDenied', 'natPortsExhausted', 'ctFull', 'toKernel', 'translateFailed'] as const;
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
    `[--haproxy-threads N] [--cases ${CASES.map((c) => c.name).join(',')} or a group: ${Object.keys(CASE_GROUPS).join(', ')}] [--modes keepalive,close]`
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
      cases: { type: 'string', default: 'all' },
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
  const given = values.cases.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = given.filter((n) => !CASES.some((c) => c.name === n) && !(n in CASE_GROUPS));
  if (unknown.length || given.length === 0) {
    throw new Error(`--cases: unknown ${unknown.join(', ') || '(none given)'}; known: ${CASES.map((c) => c.name).join(', ')} and the groups ${Object.keys(CASE_GROUPS).join(', ')}`);
  }
  const names = new Set<string>(given.flatMap((n) => CASE_GROUPS[n] ?? [n]));
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
    cases: CASES.filter((c) => names.has(c.name)),
    modes: (['keepalive', 'close'] as const).filter((m) => modes.includes(m)),
  };
}

function checkTools(): void {
  if (process.getuid?.() !== 0) throw new Error('the L4 bench needs root (network namespaces, eBPF)');
  const need = [WRK_BIN, '/usr/sbin/nginx', '/usr/sbin/haproxy', '/usr/sbin/iptables', '/usr/sbin/ip6tables', '/usr/sbin/nft', `${ROOT}/${BPF_OBJECT_RELATIVE_PATH}`];
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
    await t.clientSource(L4.ep1_6, L4.clientDirect6);
    // Every tuple the client opens must come from the address the TIME_WAIT
    // and PAWS reasoning in the header assumes.
    for (const [dest, src] of [
      [L4.vip, L4.client],
      [L4.ep1, L4.clientDirect],
      [L4.vip6, L4.client6],
      [L4.ep1_6, L4.clientDirect6],
    ] as const) {
      const got = await t.clientSourceFor(dest);
      if (got !== src) throw new Error(`the client would reach ${dest} from ${got ?? '(no route)'}, not ${src}`);
    }
    for (const c of this.o.cases) {
      switch (c.name) {
        case 'ebpf':
        case 'ebpf6':
          // One agent serves both families' rules (see ebpf6 in the header).
          if (!t.agent) await t.startAgent(c.node);
          await t.addEbpfRule(c.node, c.family);
          break;
        case 'iptables':
        case 'ip6tables':
          await t.setupIptables(c.node, c.family);
          break;
        case 'nftables':
        case 'nftables6':
          await t.setupNft(c.node, c.family);
          break;
        case 'haproxy':
          await t.startHaproxy(c.node, this.o.haproxyThreads);
          break;
        case 'direct':
        case 'direct6':
          break;
      }
      await t.useLb(c.node);
      // -g: the brackets of an IPv6 URL are not a curl glob.
      const r = await t.lab.exec('client', ['curl', '-g', '-s', '-m', '3', c.url]);
      if (r.stdout.trim() !== 'ok') throw new Error(`${c.name}: the client gets no reply through ${c.node} (${r.code}: ${r.stdout}${r.stderr})`);
    }
  }

  private async ebpfStats(c: Case): Promise<Record<string, number> | undefined> {
    if (!c.agent) return undefined;
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
      agentDead: c.agent && !t.agent?.alive(),
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
      `  r${round + 1} ${c.name.padEnd(9)} ${modeTag(mode).padEnd(4)} ${fmtRate(wrk.rps).padStart(6)}/s  lat ${wrk.latencyAvg}  errors ${totalErrors(wrk)}` +
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
  if (c.agent) {
    for (const k of EBPF_BAD) {
      const n = sum((s) => s.ebpf?.[k] ?? 0);
      if (n > 0) flags.push(`datapath ${k} +${n}`);
    }
    // IPv6 endpoints behind an IPv6 VIP: no packet should change family.
    const xlated = sum((s) => s.ebpf?.familyTranslated ?? 0);
    if (c.family === 6 && xlated > 0) flags.push(`datapath familyTranslated +${xlated} in a NAT66 run`);
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
  const get = (name: CaseName | undefined, mode: Mode) => results.find((r) => r.c.name === name && r.mode === mode);
  const rate = (name: CaseName | undefined, mode: Mode) => get(name, mode)?.rps;
  const head = [
    'case',
    'IP',
    'LB node',
    'keep-alive req/s',
    'slices',
    'vs ip(6)tables',
    'vs direct',
    'vs IPv4',
    'new conn/s',
    'slices',
    'vs ip(6)tables',
    'vs direct',
    'vs IPv4',
    'lab-notes ka / conn',
    'flags',
  ];
  const body = o.cases.map((c) => {
    const ka = get(c.name, 'keepalive');
    const cl = get(c.name, 'close');
    const base = BASELINES[c.family];
    const cell = (r: Result | undefined) => (r ? `${fmtRate(r.rps)}${r.flags.length ? ' ⚠' : ''}` : '-');
    const range = (r: Result | undefined) => (r ? `${fmtRate(r.minRps)}–${fmtRate(r.maxRps)}` : '-');
    const flags = [...(ka?.flags.map((f) => `ka: ${f}`) ?? []), ...(cl?.flags.map((f) => `conn: ${f}`) ?? [])];
    return [
      c.label,
      `v${c.family}`,
      c.node,
      cell(ka),
      range(ka),
      ratio(ka?.rps, rate(base.iptables, 'keepalive')),
      ratio(ka?.rps, rate(base.direct, 'keepalive')),
      ratio(ka?.rps, rate(c.v4, 'keepalive')),
      cell(cl),
      range(cl),
      ratio(cl?.rps, rate(base.iptables, 'close')),
      ratio(cl?.rps, rate(base.direct, 'close')),
      ratio(cl?.rps, rate(c.v4, 'close')),
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

  const selected = new Set(o.cases.map((c) => c.name));
  const goal = (what: string, a: CaseName, b: CaseName, mode: Mode, factor: number): string[] => {
    // A goal neither of whose rows was asked for (--cases) is left out, not "not measured".
    if (!selected.has(a) && !selected.has(b)) return [];
    const ra = get(a, mode);
    const rb = get(b, mode);
    if (!ra || !rb) return [`goal ${what}: not measured (needs --cases ${a},${b})`];
    const r = ra.rps / rb.rps;
    const dirty = [ra, rb].filter((x) => x.flags.length).map((x) => `${x.c.name} ${modeTag(x.mode)} flagged`);
    return [`goal ${what}: ${fmtRate(ra.rps)} vs ${fmtRate(rb.rps)} = ${r.toFixed(3)}× (need ≥ ${factor}×): ${r >= factor ? 'PASS' : 'FAIL'}${dirty.length ? ` (not clean: ${dirty.join(', ')})` : ''}`];
  };
  const versus = (a: CaseName, b: CaseName): string[] => {
    if (!selected.has(a) || !selected.has(b)) return [];
    const r = (mode: Mode) => ratio(rate(a, mode), rate(b, mode));
    return [`${a} / ${b} (no goal): keep-alive ${r('keepalive')}, new conn ${r('close')}`];
  };
  out.push(
    ...goal('keep-alive req/s, eBPF ≥ iptables', 'ebpf', 'iptables', 'keepalive', 1),
    ...goal('new conn/s, eBPF ≥ 1.2 × iptables', 'ebpf', 'iptables', 'close', 1.2),
    ...goal('new conn/s, eBPF within 5 % of direct', 'ebpf', 'direct', 'close', 0.95),
    ...goal('keep-alive req/s, eBPF IPv6 within 5 % of eBPF IPv4', 'ebpf6', 'ebpf', 'keepalive', 0.95),
    ...goal('new conn/s, eBPF IPv6 within 5 % of eBPF IPv4', 'ebpf6', 'ebpf', 'close', 0.95),
    ...goal('keep-alive req/s, eBPF IPv6 ≥ ip6tables', 'ebpf6', 'ip6tables', 'keepalive', 1),
    ...goal('new conn/s, eBPF IPv6 ≥ ip6tables', 'ebpf6', 'ip6tables', 'close', 1),
    ...versus('ebpf6', 'direct6'),
    ...versus('ebpf', 'direct'),
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
    'vs ip(6)tables, vs direct: against the row of the same family (IPv6 rows: ip6tables, direct to ep1 over IPv6); vs IPv4: an IPv6 row against the same way of balancing over IPv4',
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
    for (const node of new Set(o.cases.filter((c) => c.agent).map((c) => c.node))) {
      const st = await t.api(node, 'GET', '/status');
      const dp = st.body?.datapath;
      if (dp) notes.push(`eBPF datapath at the end (GET /netlox/v1/status on ${node}): interfaces ${dp.interfaces.join(',')}, connections ${dp.connections}, stats ${JSON.stringify(dp.stats)}`);
      else notes.push(`GET /netlox/v1/status on ${node}: HTTP ${st.status}`);
    }
    const leftovers: string[] = [];
    const rulesets: string[] = [];
    for (const node of ['client', 'router', 'ep1', 'ep2', ...Object.keys(LB_NODES)]) {
      const n = await t.conntrackCount(node);
      if (n > 0) leftovers.push(`${node} ${n}`);
      if ((await t.nftRuleset(node)) !== '') rulesets.push(node);
    }
    const expected = o.cases.filter((c) => c.conntrack).map((c) => c.node).join(', ') || 'none';
    notes.push(`nf_conntrack_count at the end: ${leftovers.join(', ') || 'none anywhere'}; nodes with a netfilter ruleset: ${rulesets.join(', ') || 'none'} (expected in both: ${expected})`);
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
