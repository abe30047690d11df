// Benchmark: L4 load-balancing throughput of the eBPF datapath against what a
// node would otherwise use, over IPv4 and IPv6, and SCTP through it against
// the direct path, all in one run on one namespace topology.
//
//   npm run bench:l4 [-- --duration 10 --rounds 2 --warmup 1 --threads 1 --connections 50 --cases ...
//                       --sctp-associations 32 --sctp-window 8 --sctp-payload 64]
//   (= node --import tsx bench/l4.bench.ts ...; root; about 5 min at the defaults)
//   --cases takes case names and the groups ipv4 and ipv6 (the TCP rows of a
//   family), sctp (the SCTP rows) and all (the default), e.g. `--cases ipv6`
//   to iterate on the IPv6 rows alone, `--cases ebpf,ipv6` to also get the
//   IPv6/IPv4 ratio of loxilb-ts, or `--cases sctp`.
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
//   ebpf-scraped  ebpf again while a Prometheus (Debian's) in lb-ebpf scrapes
//              the agent's GET /netlox/v1/metrics every second: what metrics
//              cost the datapath's node.
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
//
// SCTP (--cases sctp; also in all): packets of SCTP DATA through the path,
// with the raw-socket peers of test/lab/ (this kernel has no SCTP module;
// lab-notes), IPv4:
//
//   sctp-direct  the client's associations straight to the SCTP echo servers
//                on ep1 and ep2 (:9100), half to each, through lb-direct as a
//                plain router, like direct. Both endpoints, not ep1 alone as
//                in direct: the peers (one client process, two server
//                processes, as many associations each) are then laid out as
//                in sctp-ebpf, and only the path differs.
//   sctp-ebpf    to VIP:9000 on lb-ebpf (the agent of ebpf, one more rule):
//                default mode, rr over ep1, ep2 :9100. The service port is
//                not the endpoints', so every packet has a port rewritten and
//                its CRC32c adjusted (incrementally), both ways.
//
// The load (test/lab/SctpLoad.ts, run by test/lab/sctpPeer.ts in the
// client): --sctp-associations associations, set up anew for every slice
// (their INITs cross the path, so the datapath picks their endpoints), each
// keeping --sctp-window DATA chunks of --sctp-payload bytes in flight. A
// server answers each DATA packet with one packet holding a SACK and the
// echo; the client SACKs every second echo. Each client DATA packet holds one
// DATA chunk and nothing else, so the datapath does its per-DATA work on it.
// The rate is echoes/s (the same as DATA/s once the windows are full) between
// two counter snapshots the peer takes, the first --warmup s after the load
// began; packets/s counts every SCTP packet both ways (about 2.5 per echo).
// The same --duration / --rounds / --warmup scheme as the TCP rows applies;
// the SCTP slices run after the TCP ones, interleaved among themselves.
//
// The peers are the bottleneck here, knowingly: one Node.js process sends
// and receives every client packet, two more every endpoint packet, and with
// the forwarding they fill both cores (a raw socket's send carries the packet
// through veth, router and LB node to the receiver's socket in the sender's
// context, so most of a peer's CPU is that kernel path, the datapath's work
// on the packet included; node --cpu-prof put the JS around it, parsing,
// CRC32c and bookkeeping, at a few per cent). Both cases use the very same
// peers, association count and windows, so sctp-ebpf / sctp-direct is the
// cost of the datapath relative to the whole cost of a packet here: a fair
// comparison, but not the datapath's packet rate, and with a cheaper load
// generator (kernel SCTP, a C or DPDK one) the datapath's share, and the
// gap, would be larger. The peers do what they can to stay cheap: no JSON,
// promise or timer per packet, preformatted packets, SACK and DATA read in
// place, a codec-free echo path in the servers (SctpLoad.ts, SctpHost.ts).
//
// Checks per SCTP slice, flagged like the TCP ones: the load's own counters
// (DATA retransmitted, echoes lost or duplicated, DATA left without an echo
// after the drain, echoes from another address or endpoint than the
// association's, ABORTs, unanswered SHUTDOWNs, associations not spread evenly
// over ep1 and ep2); every packet the client sent reached an endpoint and
// every packet the endpoints sent reached the client (the peers' counters);
// no peer saw a bad checksum, an undecodable or unclaimed packet, a send
// error, a packet lost because JS fell behind, or a kernel drop at its raw
// socket (/proc/net/raw); conntrack off everywhere; and on lb-ebpf the
// datapath counted one new connection per association, one packet per packet
// the peers exchanged, and none of the TCP rows' drop and failure counters,
// sctpNotInit, ctConflict or familyTranslated. Goal: SCTP echoes/s through
// loxilb-ts within 10 % of direct (sctp-ebpf >= 0.9 x sctp-direct).
//
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
import type { SctpLoadResult, SctpLoadTarget } from '../test/lab/SctpLoad.ts';

const log = (s: string) => process.stderr.write(`${s}\n`);

type CaseName = 'direct' | 'ebpf' | 'ebpf-scraped' | 'iptables' | 'nftables' | 'haproxy' | 'direct6' | 'ebpf6' | 'ip6tables' | 'nftables6';
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
  /** A Prometheus in the node scrapes the agent's GET /netlox/v1/metrics every second during the slice. */
  scraped?: boolean;
}

const VIP_URL = `http://${L4.vip}:${L4.vipPort}/`;
const VIP6_URL = `http://[${L4.vip6}]:${L4.vipPort}/`;
const CASES: Case[] = [
  { name: 'direct', label: 'direct to ep1 (no LB)', family: 4, node: 'lb-direct', url: `http://${L4.ep1}:${L4.epPort}/`, conntrack: false, agent: false },
  { name: 'ebpf', label: 'loxilb-ts eBPF (DNAT, rr)', family: 4, node: 'lb-ebpf', url: VIP_URL, conntrack: false, agent: true },
  { name: 'ebpf-scraped', label: 'loxilb-ts eBPF, Prometheus scraping 1/s', family: 4, node: 'lb-ebpf', url: VIP_URL, conntrack: false, agent: true, scraped: true },
  { name: 'iptables', label: 'iptables DNAT (statistic random)', family: 4, node: 'lb-ipt', url: VIP_URL, conntrack: true, agent: false },
  { name: 'nftables', label: 'nftables DNAT (numgen inc)', family: 4, node: 'lb-nft', url: VIP_URL, conntrack: true, agent: false },
  { name: 'haproxy', label: 'HAProxy 2.6 mode tcp (roundrobin)', family: 4, node: 'lb-hap', url: VIP_URL, conntrack: false, agent: false },
  { name: 'direct6', label: 'direct to ep1 (no LB)', family: 6, node: 'lb-direct', url: `http://[${L4.ep1_6}]:${L4.epPort}/`, conntrack: false, agent: false, v4: 'direct' },
  { name: 'ebpf6', label: 'loxilb-ts eBPF (NAT66, rr)', family: 6, node: 'lb-ebpf', url: VIP6_URL, conntrack: false, agent: true, v4: 'ebpf' },
  { name: 'ip6tables', label: 'ip6tables DNAT (statistic random)', family: 6, node: 'lb-ipt6', url: VIP6_URL, conntrack: true, agent: false, v4: 'iptables' },
  { name: 'nftables6', label: 'nftables ip6 DNAT (numgen inc)', family: 6, node: 'lb-nft6', url: VIP6_URL, conntrack: true, agent: false, v4: 'nftables' },
];

type SctpCaseName = 'sctp-direct' | 'sctp-ebpf';

interface SctpCase {
  name: SctpCaseName;
  label: string;
  node: LbNodeName;
  /** Where the client's associations go, round robin. */
  targets: SctpLoadTarget[];
  /** Served by the loxilb agent of its node (as Case.agent). */
  agent: boolean;
}

const SCTP_CASES: SctpCase[] = [
  {
    name: 'sctp-direct',
    label: 'SCTP direct to ep1, ep2 (no LB)',
    node: 'lb-direct',
    targets: [L4.ep1, L4.ep2].map((server) => ({ server, port: L4.sctpEpPort })),
    agent: false,
  },
  { name: 'sctp-ebpf', label: 'SCTP loxilb-ts eBPF (DNAT, rr, port mapped)', node: 'lb-ebpf', targets: [{ server: L4.vip, port: L4.sctpVipPort }], agent: true },
];

/** What --cases accepts besides case names. */
const CASE_GROUPS: Record<string, (CaseName | SctpCaseName)[]> = {
  all: [...CASES.map((c) => c.name), ...SCTP_CASES.map((c) => c.name)],
  ipv4: CASES.filter((c) => c.family === 4).map((c) => c.name),
  ipv6: CASES.filter((c) => c.family === 6).map((c) => c.name),
  sctp: SCTP_CASES.map((c) => c.name),
};
const CASE_NAMES: string[] = [...CASES.map((c) => c.name), ...SCTP_CASES.map((c) => c.name)];
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
/** The same for SCTP, plus what only SCTP can trip (sctpNotInit) and what no SCTP slice should see. */
const EBPF_BAD_SCTP = [...EBPF_BAD, 'sctpNotInit', 'ctConflict', 'familyTranslated'] as const;
/** Per SCTP peer, counters that must not move during a slice (PeerCounters). */
const SCTP_PEER_BAD = ['badChecksum', 'malformed', 'outOfTheBlue', 'sendErrors', 'droppedOverflow', 'rawDrops'] as const;
const SCTP_PEERS = ['client', 'ep1', 'ep2'] as const;
type SctpPeerName = (typeof SCTP_PEERS)[number];

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
  sctpCases: SctpCase[];
  sctpAssociations: number;
  sctpWindow: number;
  sctpPayload: number;
}

/** An SCTP peer's packet counters (SctpHost, its raw sockets, the kernel's drops at them). */
interface PeerCounters {
  sent: number;
  received: number;
  badChecksum: number;
  malformed: number;
  outOfTheBlue: number;
  sendErrors: number;
  droppedOverflow: number;
  rawDrops: number;
}

/** One measured SCTP load of a case. */
interface SctpSlice {
  /** Between the peer's two counter snapshots. */
  seconds: number;
  echoes: number;
  packets: number;
  setupMs: number;
  /** The load's totals after its drain and shutdowns. */
  end: SctpLoadResult;
  /** Deltas over the whole slice, set-up to shutdown. */
  peers: Record<SctpPeerName, PeerCounters>;
  /** Datapath stats deltas over the whole slice (agent case only). */
  ebpf?: Record<string, number>;
  conntrack: Record<string, number>;
  agentDead: boolean;
  busyPct: number;
  /** CPU of the client's peer, % of one core. */
  clientCpuPct: number;
}

interface SctpResult {
  c: SctpCase;
  slices: SctpSlice[];
  /** Echoes over measured seconds, all slices together. */
  rate: number;
  minRate: number;
  maxRate: number;
  packetRate: number;
  seconds: number;
  flags: string[];
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
    `[--haproxy-threads N] [--cases ${CASE_NAMES.join(',')} or a group: ${Object.keys(CASE_GROUPS).join(', ')}] [--modes keepalive,close] ` +
    '[--sctp-associations N] [--sctp-window N] [--sctp-payload BYTES]'
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
      'sctp-associations': { type: 'string', default: '32' },
      'sctp-window': { type: 'string', default: '8' },
      'sctp-payload': { type: 'string', default: '64' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage()}\n`);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number, max = Infinity): number => {
    const n = Number(v.replace(/s$/, ''));
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`--${name} must be an integer >= ${min}${max < Infinity ? ` and <= ${max}` : ''}, got "${v}"\n${usage()}`);
    }
    return n;
  };
  const given = values.cases.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = given.filter((n) => !CASE_NAMES.includes(n) && !(n in CASE_GROUPS));
  if (unknown.length || given.length === 0) {
    throw new Error(`--cases: unknown ${unknown.join(', ') || '(none given)'}; known: ${CASE_NAMES.join(', ')} and the groups ${Object.keys(CASE_GROUPS).join(', ')}`);
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
    sctpCases: SCTP_CASES.filter((c) => names.has(c.name)),
    sctpAssociations: int('sctp-associations', values['sctp-associations'], 1),
    sctpWindow: int('sctp-window', values['sctp-window'], 1),
    // One DATA chunk and its echo's prefix in a packet of a 1500-byte MTU.
    sctpPayload: int('sctp-payload', values['sctp-payload'], 1, 1200),
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
        case 'ebpf-scraped':
        case 'ebpf6':
          // One agent serves both families' rules (see ebpf6 in the header); ebpf-scraped is ebpf's rule, scraped.
          if (!t.agent) await t.startAgent(c.node);
          if (c.name !== 'ebpf-scraped' || !this.o.cases.some((x) => x.name === 'ebpf')) await t.addEbpfRule(c.node, c.family);
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
    if (this.o.sctpCases.length > 0) await this.setupSctp();
  }

  /** The SCTP peers, the SCTP rule where needed, and one association with one echo per target of every SCTP case. */
  private async setupSctp(): Promise<void> {
    const { t } = this;
    const sctp = await t.startSctpPeers();
    for (const c of this.o.sctpCases) {
      if (c.agent) {
        if (!t.agent) await t.startAgent(c.node);
        await t.addEbpfSctpRule(c.node);
      }
      await t.useLb(c.node);
      for (const target of c.targets) {
        const a = await sctp.client.connect({ server: target.server, port: target.port, src: L4.client });
        const e = await sctp.client.send('check', a.assoc);
        await sctp.client.shutdown(a.assoc);
        // "<endpoint>@<the address the DATA arrived at>: <data>", from where we sent it.
        if (!/^ep[12]@192\.168\.80\.2[12]: check$/.test(e.text) || e.from !== target.server || e.to !== L4.client) {
          throw new Error(`${c.name}: SCTP echo through ${c.node} is "${e.text}" from ${e.from} to ${e.to}`);
        }
      }
    }
  }

  private async ebpfStats(c: { agent: boolean; node: LbNodeName }): Promise<Record<string, number> | undefined> {
    if (!c.agent) return undefined;
    const st = await this.t.mustApi(c.node, 'GET', '/status');
    return { ...(st.datapath?.stats ?? {}) };
  }

  private async sctpPeerCounters(): Promise<Record<SctpPeerName, PeerCounters>> {
    const sctp = this.t.sctp!;
    const procs = { client: sctp.client, ep1: sctp.servers.get('ep1')!, ep2: sctp.servers.get('ep2')! };
    const out = {} as Record<SctpPeerName, PeerCounters>;
    for (const name of SCTP_PEERS) {
      const st = await procs[name].stats();
      const h = st.host;
      out[name] = {
        sent: h.sent,
        received: h.received,
        badChecksum: h.badChecksum,
        malformed: h.malformed,
        outOfTheBlue: h.outOfTheBlue,
        sendErrors: h.sendErrors,
        droppedOverflow: st.sockets.reduce((a, x) => a + x.droppedOverflow, 0),
        rawDrops: await this.t.sctpRawDrops(name),
      };
    }
    return out;
  }

  /**
   * One SCTP slice: the load starts (associations set up through the path),
   * runs --warmup s, is measured between two snapshots --duration/--rounds s
   * apart, then drains and shuts down. Counters that must not move are taken
   * around all of it.
   */
  async sctpSlice(c: SctpCase, round: number): Promise<SctpSlice> {
    const { t, o } = this;
    const client = t.sctp!.client;
    await t.useLb(c.node);
    const p0 = await this.sctpPeerCounters();
    const ebpfA = await this.ebpfStats(c);
    const started = await client.loadStart({ targets: c.targets, associations: o.sctpAssociations, window: o.sctpWindow, payloadBytes: o.sctpPayload, src: L4.client });
    let end: SctpLoadResult | undefined;
    try {
      if (o.warmupS > 0) await sleep(o.warmupS * 1000);
      const load = loadAvg();
      const cpu0 = await cpuSnapshot(t.lab);
      const j0 = jiffies();
      const m0 = await client.loadMark();
      await sleep(o.sliceS * 1000);
      const m1 = await client.loadMark();
      const j1 = jiffies();
      const cpu1 = await cpuSnapshot(t.lab);
      end = await client.loadStop();
      const ebpfB = await this.ebpfStats(c);
      const p1 = await this.sctpPeerCounters();

      const seconds = (m1.at - m0.at) / 1000;
      const echoes = m1.echoes - m0.echoes;
      const packets = m1.packetsSent - m0.packetsSent + (m1.packetsReceived - m0.packetsReceived);
      const peers = {} as Record<SctpPeerName, PeerCounters>;
      for (const n of SCTP_PEERS) {
        peers[n] = Object.fromEntries(Object.entries(p1[n]).map(([k, v]) => [k, v - p0[n][k as keyof PeerCounters]])) as unknown as PeerCounters;
      }
      const ebpf = ebpfA && ebpfB ? Object.fromEntries(Object.keys(ebpfB).map((k) => [k, ebpfB[k]! - (ebpfA[k] ?? 0)])) : undefined;
      const conntrack: Record<string, number> = {};
      for (const node of ['client', 'router', 'ep1', 'ep2', c.node]) conntrack[node] = await t.conntrackCount(node);
      const dt = j1.total - j0.total || 1;
      const cpu = cpuDiff(cpu0, cpu1, 50).filter((r) => !r.label.startsWith('bench '));
      const pct = (ms: number) => (100 * ms) / (seconds * 1000);
      const s: SctpSlice = {
        seconds,
        echoes,
        packets,
        setupMs: started.setupMs,
        end,
        peers,
        ebpf,
        conntrack,
        agentDead: c.agent && !t.agent?.alive(),
        busyPct: (100 * (j1.busy - j0.busy)) / dt,
        clientCpuPct: pct(cpu.find((r) => r.label === 'client sctp peer')?.ms ?? 0),
      };
      const top = cpu
        .slice(0, 6)
        .map((r) => `${r.label} ${pct(r.ms).toFixed(0)}%`)
        .join(', ');
      log(
        `  r${round + 1} ${c.name.padEnd(11)} ${fmtRate(echoes / seconds).padStart(6)} echoes/s  ${fmtRate(packets / seconds).padStart(6)} packets/s  set-up ${started.setupMs.toFixed(0)} ms` +
          `  retrans ${end.retransmits}  lost echoes ${end.echoGaps}  unechoed ${end.unechoed}  cpu busy ${s.busyPct.toFixed(0)}% (softirq ${((100 * (j1.softirq - j0.softirq)) / dt).toFixed(0)}%)  load ${load}`,
      );
      log(`       processes (% of one core): ${top || '-'}`);
      log(
        `       peers (whole slice): ${SCTP_PEERS.map((n) => `${n} sent ${peers[n].sent} got ${peers[n].received}${SCTP_PEER_BAD.filter((k) => peers[n][k] > 0).map((k) => ` ${k} ${peers[n][k]}`).join('')}`).join(', ')}` +
          `; associations per endpoint ${JSON.stringify(end.associationsByEndpoint)}`,
      );
      if (ebpf) {
        log(
          `       datapath (whole slice): ${Object.entries(ebpf)
            .filter(([, v]) => v !== 0)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
      }
      return s;
    } finally {
      // A slice that failed half-way must not leave the load running into the next one.
      if (end === undefined) await client.loadStop(1000).catch(() => undefined);
    }
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

    const scraper = c.scraped ? await t.startPrometheus(c.node) : undefined;
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
    const scrapes = scraper ? await scraper.stop() : undefined;
    if (scraper && (scrapes ?? 0) < o.sliceS - 1) throw new Error(`${c.name}: Prometheus scraped the agent ${scrapes} times in a ${o.sliceS} s slice`);

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

/** Sums the SCTP slices of a case and derives its flags. */
function summarizeSctp(c: SctpCase, slices: SctpSlice[]): SctpResult {
  const sum = (f: (s: SctpSlice) => number) => slices.reduce((a, s) => a + f(s), 0);
  const end = (k: 'retransmits' | 'duplicateEchoes' | 'echoGaps' | 'unacked' | 'unechoed' | 'wrongSource' | 'endpointChanges' | 'aborted' | 'shutdownFailed' | 'associations') =>
    sum((s) => s.end[k]);
  const peer = (n: SctpPeerName, k: keyof PeerCounters) => sum((s) => s.peers[n][k]);
  const flags: string[] = [];
  if (end('retransmits') > 0) flags.push(`DATA retransmitted ${end('retransmits')} (lost somewhere), duplicate echoes ${end('duplicateEchoes')}`);
  if (end('echoGaps') > 0) flags.push(`echoes lost ${end('echoGaps')}`);
  if (end('unacked') + end('unechoed') > 0) flags.push(`after the drain ${end('unacked')} DATA unacknowledged, ${end('unechoed')} without an echo`);
  for (const k of ['wrongSource', 'endpointChanges', 'aborted', 'shutdownFailed'] as const) if (end(k) > 0) flags.push(`${k} ${end(k)}`);
  const unbalanced = slices.find((s) => {
    const by = s.end.associationsByEndpoint;
    const counts = Object.values(by);
    return Object.keys(by).sort().join(',') !== 'ep1,ep2' || Math.max(...counts) - Math.min(...counts) > 1;
  });
  if (unbalanced) flags.push(`associations per endpoint ${JSON.stringify(unbalanced.end.associationsByEndpoint)}`);
  for (const n of SCTP_PEERS) for (const k of SCTP_PEER_BAD) if (peer(n, k) > 0) flags.push(`${n} ${k} +${peer(n, k)}`);
  const clientSent = peer('client', 'sent');
  const clientGot = peer('client', 'received');
  const epGot = peer('ep1', 'received') + peer('ep2', 'received');
  const epSent = peer('ep1', 'sent') + peer('ep2', 'sent');
  if (clientSent !== epGot) flags.push(`the client sent ${clientSent} packets, the endpoints got ${epGot}`);
  if (epSent !== clientGot) flags.push(`the endpoints sent ${epSent} packets, the client got ${clientGot}`);
  const ctActive = new Map<string, number>();
  for (const s of slices) for (const [node, n] of Object.entries(s.conntrack)) if (n > 0) ctActive.set(node, Math.max(n, ctActive.get(node) ?? 0));
  for (const [node, n] of ctActive) flags.push(`conntrack active on ${node} (${n} entries)`);
  if (c.agent) {
    const dp = (k: string) => sum((s) => s.ebpf?.[k] ?? 0);
    for (const k of EBPF_BAD_SCTP) if (dp(k) > 0) flags.push(`datapath ${k} +${dp(k)}`);
    if (dp('ctNew') !== end('associations')) flags.push(`datapath ctNew +${dp('ctNew')} for ${end('associations')} associations`);
    // Every packet the peers exchanged crossed the TC program once (ingress on the LAN side).
    if (dp('packets') !== clientSent + epSent) flags.push(`datapath packets +${dp('packets')}, the peers exchanged ${clientSent + epSent}`);
    if (slices.some((s) => s.agentDead)) flags.push('the loxilb agent died');
  }
  const seconds = sum((s) => s.seconds);
  const rates = slices.map((s) => s.echoes / s.seconds);
  return {
    c,
    slices,
    rate: seconds > 0 ? sum((s) => s.echoes) / seconds : 0,
    minRate: Math.min(...rates),
    maxRate: Math.max(...rates),
    packetRate: seconds > 0 ? sum((s) => s.packets) / seconds : 0,
    seconds,
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

/** A markdown table, columns padded to their widest cell. */
function table(head: string[], body: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
}

/** The SCTP table and its goal line. */
function sctpOutput(o: Options, results: SctpResult[]): string[] {
  const get = (name: SctpCaseName) => results.find((r) => r.c.name === name);
  const direct = get('sctp-direct');
  const body = o.sctpCases.map((c) => {
    const r = get(c.name);
    const cpu = r ? r.slices.reduce((a, s) => a + s.clientCpuPct, 0) / r.slices.length : undefined;
    return [
      c.label,
      c.node,
      r ? `${fmtRate(r.rate)}${r.flags.length ? ' ⚠' : ''}` : '-',
      r ? `${fmtRate(r.minRate)}–${fmtRate(r.maxRate)}` : '-',
      ratio(r?.rate, direct?.rate),
      r ? fmtRate(r.packetRate) : '-',
      cpu === undefined ? '-' : `${cpu.toFixed(0)}%`,
      r?.flags.length ? r.flags.join('; ') : '-',
    ];
  });
  const out = [
    `SCTP DATA through the path (IPv4; the raw-socket peers and the forwarding fill the CPU, see the header): ${o.sctpAssociations} associations × ` +
      `${o.sctpWindow} DATA in flight, ${o.sctpPayload}-byte DATA, ${o.durationS} s per case in ${o.rounds} interleaved slice(s) of ${o.sliceS} s, each after a ${o.warmupS} s warm-up`,
    '',
    ...table(['case', 'LB node', 'DATA echoes/s', 'slices', 'vs direct', 'SCTP packets/s', 'client peer CPU', 'flags'], body),
    '',
  ];
  if (o.sctpCases.length === 2) {
    const a = get('sctp-ebpf');
    if (!a || !direct) out.push('goal SCTP echoes/s, eBPF within 10 % of direct: not measured (a case failed)');
    else {
      const r = a.rate / direct.rate;
      const dirty = [a, direct].filter((x) => x.flags.length).map((x) => `${x.c.name} flagged`);
      out.push(
        `goal SCTP echoes/s through loxilb-ts within 10 % of direct: ${fmtRate(a.rate)} vs ${fmtRate(direct.rate)} = ${r.toFixed(3)}× (need ≥ 0.9×): ${r >= 0.9 ? 'PASS' : 'FAIL'}` +
          `${dirty.length ? ` (not clean: ${dirty.join(', ')})` : ''}`,
      );
    }
  } else {
    out.push('goal SCTP echoes/s through loxilb-ts within 10 % of direct: not measured (needs --cases sctp)');
  }
  out.push('');
  return out;
}

function printResults(o: Options, results: Result[], sctpResults: SctpResult[], notes: string[]): void {
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
  const out: string[] = [];
  if (o.cases.length > 0) {
    out.push(
      `L4 load balancing: wrk -t${o.threads} -c${o.connections}, ${o.durationS} s per case and mode in ${o.rounds} interleaved slice(s) of ${o.sliceS} s, ` +
        `each after a ${o.warmupS} s warm-up; HAProxy nbthread ${o.haproxyThreads}; ${os.cpus().length} CPUs, kernel ${os.release()}`,
      '',
      ...table(head, body),
      '',
    );
  }

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
  if (o.cases.length > 0) {
    out.push(
      ...goal('keep-alive req/s, eBPF ≥ iptables', 'ebpf', 'iptables', 'keepalive', 1),
      ...goal('new conn/s, eBPF ≥ 1.2 × iptables', 'ebpf', 'iptables', 'close', 1.2),
      ...goal('new conn/s, eBPF within 5 % of direct', 'ebpf', 'direct', 'close', 0.95),
      ...goal('keep-alive req/s, eBPF with Prometheus scraping every second within 2 % of without', 'ebpf-scraped', 'ebpf', 'keepalive', 0.98),
      ...goal('keep-alive req/s, eBPF IPv6 within 5 % of eBPF IPv4', 'ebpf6', 'ebpf', 'keepalive', 0.95),
      ...goal('new conn/s, eBPF IPv6 within 5 % of eBPF IPv4', 'ebpf6', 'ebpf', 'close', 0.95),
      ...goal('keep-alive req/s, eBPF IPv6 ≥ ip6tables', 'ebpf6', 'ip6tables', 'keepalive', 1),
      ...goal('new conn/s, eBPF IPv6 ≥ ip6tables', 'ebpf6', 'ip6tables', 'close', 1),
      ...versus('ebpf6', 'direct6'),
      ...versus('ebpf', 'direct'),
      '',
    );
  }
  if (o.sctpCases.length > 0) out.push(...sctpOutput(o, sctpResults));
  const per = (f: (r: Result) => string) => results.map((r) => `${r.c.name}/${modeTag(r.mode)} ${f(r)}`).join(', ');
  const busy = (slices: { busyPct: number }[]) => `${(slices.reduce((a, s) => a + s.busyPct, 0) / slices.length).toFixed(0)}%`;
  const all = [...notes];
  if (results.length > 0) {
    all.push(
      `machine CPU busy during the measured slices (every process on the box, other users' too): ${per((r) => busy(r.slices))}`,
      `client TCP retransmissions: ${per((r) => String(r.clientRetrans))}`,
      `endpoint accepts/s in the new-connection runs: ${results
        .filter((r) => r.mode === 'close')
        .map((r) => `${r.c.name} ${fmtRate(r.accepts / r.seconds)}`)
        .join(', ')}`,
      'vs ip(6)tables, vs direct: against the row of the same family (IPv6 rows: ip6tables, direct to ep1 over IPv6); vs IPv4: an IPv6 row against the same way of balancing over IPv4',
    );
  }
  if (sctpResults.length > 0) {
    all.push(
      `machine CPU busy during the measured SCTP slices: ${sctpResults.map((r) => `${r.c.name} ${busy(r.slices)}`).join(', ')}`,
      `SCTP association set-up per slice (${o.sctpAssociations} in parallel): ${sctpResults.map((r) => `${r.c.name} ${r.slices.map((s) => `${s.setupMs.toFixed(0)} ms`).join('/')}`).join(', ')}`,
      'SCTP: echoes/s = DATA chunks echoed per second; packets/s = every SCTP packet both ways (DATA, SACK + echo, SACK); client peer CPU = % of one core',
    );
  }
  all.push('slices = slowest–fastest slice; ⚠ = flagged (errors, drops, loss, PAWS, conntrack where it should not be): that number is not clean');
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
    `L4 bench: ${[...o.cases, ...o.sctpCases].map((c) => c.name).join(', ')}; wrk -t${o.threads} -c${o.connections}; SCTP ${o.sctpAssociations} × ${o.sctpWindow}; ` +
      `${o.rounds} round(s) of ${o.warmupS} s warm-up + ${o.sliceS} s per case and mode; load average ${loadStart}`,
  );
  const t0 = performance.now();
  const results: Result[] = [];
  const sctpResults: SctpResult[] = [];
  let failure: unknown;
  const t = await L4Lab.create();
  try {
    const bench = new Bench(t, o);
    await bench.setup();
    for (const mode of o.cases.length > 0 ? o.modes : []) {
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
    if (o.sctpCases.length > 0) {
      log('SCTP DATA through the path:');
      const slices = new Map<SctpCaseName, SctpSlice[]>(o.sctpCases.map((c) => [c.name, []]));
      const failed = new Set<SctpCaseName>();
      for (let round = 0; round < o.rounds; round++) {
        const order = o.sctpCases.map((_, i) => o.sctpCases[(i + round) % o.sctpCases.length]!);
        for (const c of order) {
          if (failed.has(c.name)) continue;
          try {
            slices.get(c.name)!.push(await bench.sctpSlice(c, round));
          } catch (err) {
            failed.add(c.name);
            const msg = err instanceof Error ? err.message : String(err);
            log(`  ${c.name} failed: ${msg}`);
            notes.push(`${c.name} failed in round ${round + 1}: ${msg.split('\n')[0]}`);
          }
          await sleep(300);
        }
      }
      for (const c of o.sctpCases) {
        const s = slices.get(c.name)!;
        if (s.length && !failed.has(c.name)) sctpResults.push(summarizeSctp(c, s));
      }
    }
    for (const node of new Set([...o.cases, ...o.sctpCases].filter((c) => c.agent).map((c) => c.node))) {
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
  if (results.length || sctpResults.length) printResults(o, results, sctpResults, notes);
  if (failure) throw failure;
  if (results.length < o.cases.length * o.modes.length || sctpResults.length < o.sctpCases.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
