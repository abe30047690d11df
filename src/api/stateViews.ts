// How the agent's state reads over the REST API: pure functions from the
// state (rules, roles, BGP neighbours, BFD sessions, the connection table)
// to the JSON loxilb answers with. No I/O and no clock of their own: the
// agent hands in what it holds and the time, so each is testable on plain
// objects and GET answers do not depend on where the state lives.
import type { BfdSessionInfo, BfdStatus, CiStateInfo, ConntrackInfo, DrainInfo, ListedLbRule } from './AgentApi.ts';
import { endpointCounter, type RuleTrafficView } from './metrics.ts';
import type { Endpoint, LbRule } from '../lb/LbRule.ts';
import type { CiState } from '../ha/ClusterState.ts';
import type { HaInstanceInfo } from '../ha/HaManager.ts';
import type { UpstreamItem } from '../ha/UpstreamTracker.ts';
import type { DrainPhase, DrainReport } from '../ha/Drain.ts';
import type { BgpNeighborConfig, BgpNeighborStatus } from '../bgp/BgpConfig.ts';
import type { BfdManagerSessionStatus, BfdManagerStats } from '../bfd/BfdManager.ts';
import { BfdState, bfdDiagName } from '../bfd/BfdPacket.ts';
import type { RuleProgramState } from '../datapath/Datapath.ts';
import { CT_DIR_ORIG, ctStateName, type CtEntry } from '../datapath/layout.ts';
import { matchAddresses } from '../datapath/planDatapath.ts';
import { ipFamily, normalizeIp } from '../util/ipAddress.ts';

/** gobgp's Up/Down format: HH:MM:SS, with a "Nd " prefix after a day. */
export function formatUpDown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return `${d > 0 ? `${d}d ` : ''}${hh}:${mm}:${ss}`;
}

/** GET config/loadbalancer/all: each rule with its endpoints' probe states and counters, and whether the datapath carries it. */
export function lbRuleList(
  rules: Iterable<readonly [string, LbRule]>,
  stateOf: (key: string) => RuleProgramState | undefined,
  endpointState: (rule: LbRule, ep: Endpoint) => string,
  traffic: ReadonlyMap<string, RuleTrafficView> | undefined,
): ListedLbRule[] {
  return [...rules].map(([k, r]) => {
    const st = stateOf(k) ?? { programmed: false, reason: 'waiting for the next datapath pass' };
    return {
      ...r,
      endpoints: r.endpoints.map((ep) => ({ ...ep, state: endpointState(r, ep), counter: endpointCounter(traffic?.get(k), ep) })),
      programmed: st.programmed,
      ...(st.programmed ? {} : { reason: st.reason }),
    };
  });
}

/** What the datapath does to packets of this entry, as loxicmd get ct shows it. */
export function conntrackAct(e: CtEntry): string {
  const parts: string[] = [];
  if (e.xsaddr !== e.saddr || e.xsport !== e.sport) parts.push(`snat-${e.xsaddr}:${e.xsport}`);
  if (e.xdaddr !== e.daddr || e.xdport !== e.dport) parts.push(`dnat-${e.xdaddr}:${e.xdport}`);
  const dir = e.dir === CT_DIR_ORIG ? '' : 'reply,';
  return `${dir}${parts.join(',') || 'fwd'}${e.flags & 0x04 ? ',synced' : ''}`;
}

/** GET config/conntrack/all: the connection table, each entry named after the rule that serves its service. */
export function conntrackList(rules: Iterable<LbRule>, entries: readonly CtEntry[]): ConntrackInfo[] {
  const names = new Map<string, string>();
  for (const r of rules) {
    for (const vip of matchAddresses(r)) names.set(`${vip}|${r.serviceArguments.port}|${r.serviceArguments.protocol}`, r.serviceArguments.name ?? '');
  }
  return entries.map((e) => ({
    destinationIP: e.daddr,
    destinationPort: e.dport,
    sourceIP: e.saddr,
    sourcePort: e.sport,
    protocol: e.proto,
    conntrackState: ctStateName(e.proto, e.state),
    conntrackAct: conntrackAct(e),
    packets: Number(e.packets),
    bytes: Number(e.bytes),
    servName: names.get(`${e.svc.vip}|${e.svc.port}|${e.svc.proto}`) ?? '',
  }));
}

/** What GET config/cistate/all adds to each instance's state, read from the HA parts present on this node. */
export interface CiStateSources {
  priority: number;
  /** The election's view of a BFD-driven instance; undefined for an API-driven one. */
  info: (instance: string) => HaInstanceInfo | undefined;
  draining: boolean;
  /** A saved MASTER not confirmed yet: the time left (undefined until the API listens); undefined when not waiting. */
  restoring: (instance: string) => { remainingMs?: number } | undefined;
  upstream?: () => UpstreamItem[];
  serving?: () => boolean;
}

export function ciStateList(states: Iterable<CiState>, src: CiStateSources): CiStateInfo[] {
  return [...states].map((s) => {
    const info = src.info(s.instance);
    const restoring = src.restoring(s.instance);
    return {
      ...s,
      priority: src.priority,
      synced: info?.synced ?? true,
      driver: info ? 'bfd' : 'api',
      ...(src.draining ? { draining: true } : {}),
      ...(restoring ? { restoring: { from: 'MASTER' as const, remainingMs: restoring.remainingMs } } : {}),
      ...(info && src.upstream ? { eligible: info.eligible, upstream: src.upstream() } : {}),
      ...(info && src.serving ? { serving: src.serving() } : {}),
      peers: info?.peers.map((p) => ({ remoteIp: p.remoteIp, bfd: p.bfdUp ? 'Up' : 'Down', state: p.state, priority: p.priority })),
    };
  });
}

/** GET config/drain, from the drainer's state (none: the node cannot drain). */
export function drainInfo(s: { draining: boolean; phase: DrainPhase; timeoutMs: number; last?: DrainReport } | undefined): DrainInfo {
  if (!s) return { draining: false, phase: 'serving', timeoutMs: 0 };
  const last = s.last && { ...(s.last.handedTo ? { handedTo: s.last.handedTo } : {}), waitedMs: s.last.waitedMs, timedOut: s.last.timedOut, reason: s.last.reason };
  return { draining: s.draining, phase: s.phase, timeoutMs: s.timeoutMs, ...(last ? { last } : {}) };
}

/** One peer as gobgpd's ListPeer reports it (address as gobgpd spells it; uptime/downtime in Unix seconds, 0: never). */
export interface LivePeer {
  address: string;
  sessionState: string;
  uptime: number;
  downtime: number;
}

/** GET config/bgp/neigh/all: the configured neighbours with gobgpd's session state and time in it (`nowSec`: Unix seconds). */
export function bgpNeighborList(neighbors: Iterable<BgpNeighborConfig>, peers: readonly LivePeer[], nowSec: number): BgpNeighborStatus[] {
  const live = new Map(peers.map((p) => [normalizeIp(p.address) ?? p.address, { state: p.sessionState, up: p.uptime, down: p.downtime }]));
  return [...neighbors].map((n) => {
    const l = live.get(n.ipAddress);
    const since = !l ? 0 : l.state === 'ESTABLISHED' ? l.up : l.down;
    return { ipAddress: n.ipAddress, remoteAs: n.remoteAs, state: l?.state ?? 'UNKNOWN', updowntime: since > 0 ? formatUpDown(nowSec - since) : 'never' };
  });
}

/** GET config/bfd/all: each session with its timers, state and what it is for. */
export function bfdSessionList(sessions: readonly BfdManagerSessionStatus[], purposeOf: (instance: string, remoteIp: string) => BfdSessionInfo['purpose']): BfdSessionInfo[] {
  return sessions.map((s) => ({
    instance: s.instance,
    remoteIp: s.remoteIp,
    sourceIP: s.sourceIp ?? (ipFamily(s.remoteIp) === 6 ? '::' : '0.0.0.0'),
    port: 3784,
    interval: s.configured.txIntervalUs,
    retryCount: s.configured.multiplier,
    state: `BFD${s.stateName}`,
    purpose: purposeOf(s.instance, s.remoteIp),
    diag: bfdDiagName(s.localDiag),
    txInterval: s.txIntervalUs,
    detectionTime: s.detectionTimeUs,
    transitions: s.counters.transitions,
    timing: s.timing,
    rxDrops: s.rxDrops,
    timersClamped: s.counters.timersClamped,
    remote: { desiredMinTx: s.remoteDesiredMinTxUs, requiredMinRx: s.remoteRequiredMinRxUs, detectMult: s.remoteDetectMult },
  }));
}

/** The native receiver's counters, where it has them. */
export interface BfdTransportCounts {
  received: number;
  droppedTtl: number;
  droppedOverflow: number;
  errors: number;
}

/** The node's BFD in GET /status: sessions, and every dropped packet by reason from the receiver and the sessions. */
export function bfdStatusOf(
  sessions: readonly BfdManagerSessionStatus[],
  stats: BfdManagerStats,
  rxDropTotals: Record<string, number>,
  transport: BfdTransportCounts | undefined,
  notStarted: BfdStatus['notStarted'],
): BfdStatus {
  const rxDrops = { ...rxDropTotals };
  const add = (r: string, n: number) => {
    if (n > 0) rxDrops[r] = (rxDrops[r] ?? 0) + n;
  };
  if (transport) {
    add('bad-ttl', transport.droppedTtl);
    add('overflow', transport.droppedOverflow);
    add('receive-error', transport.errors);
  }
  return {
    sessions: sessions.length,
    up: sessions.filter((s) => s.state === BfdState.Up).length,
    received: transport?.received ?? stats.received,
    delivered: stats.delivered,
    rxDrops,
    notStarted,
  };
}
