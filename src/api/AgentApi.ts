// What the REST server needs from the agent. The server validates (addresses
// arrive in canonical form) and maps errors; the agent applies already-validated
// requests atomically (a failed call changes nothing) and throws ApiError
// subclasses for conflicts etc.
import type { SyncStatus } from '../sync/ConnSync.ts';
import type { ApiStats } from './RestServer.ts';
import type { FaultRecord } from '../util/faults.ts';
import type { LbRule } from '../lb/LbRule.ts';
import type { CiState } from '../ha/ClusterState.ts';
import type { BgpGlobalConfig, BgpNeighborConfig, BgpNeighborStatus } from '../bgp/BgpConfig.ts';
import type { BfdSessionPost } from '../bfd/validateBfdConfig.ts';
import type { EndpointHostRow } from '../lb/EndpointHealth.ts';
import type { EndpointHostDeleteQuery, EndpointHostSpec, EndpointHostStatePost } from '../lb/validateEndpointHost.ts';

/** One row of GET /config/bfd/all: loxilb's fields (note `sourceIP`), then what the session negotiated. */
export interface BfdSessionInfo {
  instance: string;
  remoteIp: string;
  sourceIP: string;
  port: number;
  /** Configured interval, µs. */
  interval: number;
  retryCount: number;
  /** BFDAdminDown, BFDDown, BFDInit or BFDUp. */
  state: string;
  /**
   * What the session drives: 'ha-peer' (an --ka / --cluster peer: the HA
   * election), 'bgp-neighbor' (Down shuts that BGP session), or 'link'
   * (tracked and shown, nothing else).
   */
  purpose: 'ha-peer' | 'bgp-neighbor' | 'link';
  /** RFC 5880 diagnostic of the last state change, e.g. "Control Detection Time Expired". */
  diag: string;
  /** Transmit interval in use (max of ours and the peer's required RX), µs. */
  txInterval: number;
  /** Time without packets after which the session goes Down, µs; 0 until the peer is heard. */
  detectionTime: number;
  /** State changes since the session was added (a flap is two). */
  transitions: number;
  /**
   * Timekeeping while Up: late periodic packets and the longest silence from
   * the peer, µs; whether periodic packets leave from the native timer thread
   * (txOffloaded), and how often a detection timer waited for a packet that
   * had arrived but was still queued for the JS thread (detectDeferred).
   */
  timing: {
    txLateMaxUs: number;
    txLateOverQuarter: number;
    txPeriodicUp: number;
    rxGapMaxUs: number;
    txOffloaded?: boolean;
    detectDeferred?: number;
  };
  /**
   * Received packets this session lost, by reason (non-zero only): bad-ttl
   * (RFC 5881 GTSM, dropped on the native receive thread), decode and
   * authentication failures, ... (our extension).
   */
  rxDrops: Record<string, number>;
  /** Packets whose timers exceeded --bfd-max-remote-* and were held at the bound. */
  timersClamped: number;
  /** What the peer last asked for, as received (before any bound). */
  remote: { desiredMinTx: number; requiredMinRx: number; detectMult: number };
}

/** The node's BFD in GET /status: sessions and every received packet dropped, by reason. */
export interface BfdStatus {
  sessions: number;
  up: number;
  /** Datagrams the receiver read, and handed to sessions. */
  received: number;
  delivered: number;
  /** Totals since start by reason, from the native receive thread (bad-ttl, overflow, receive-error) and the TypeScript decoder and sessions. */
  rxDrops: Record<string, number>;
  /** Sessions from the saved config or --ka that could not be started (e.g. a key file now refused). */
  notStarted: { instance: string; remoteIp: string; reason: string }[];
}

export interface AgentStatus {
  /**
   * "ok" when every subsystem is up; "degraded" while e.g. gobgpd is
   * restarting or connections are being refused (see `degraded`);
   * "stopping" while the agent shuts down (GET /status then answers 503).
   */
  status: 'ok' | 'degraded' | 'draining' | 'stopping';
  /** What is degraded, one sentence each (absent when nothing is). */
  degraded?: string[];
  mode: 'lb' | 'bgp-only';
  bgp: { enabled: boolean; gobgpd: 'running' | 'starting' | 'down' | 'disabled'; pid?: number; restarts: number };
  rules: number;
  /** Rules the datapath does not carry (their reasons are in GET config/loadbalancer/all); any makes the status "degraded". */
  rulesNotProgrammed: number;
  advertisedVips: number;
  uptimeSeconds: number;
  /** The eBPF datapath (absent in --peer mode and in agents built without one). */
  datapath?: {
    interfaces: string[];
    egress: boolean;
    connections: number;
    connectionCapacity: number;
    ruleCapacity: number;
    serviceEntryCapacity: number;
    stats: Record<string, number>;
    /** The connection table's pin on a bpffs (path absent: not pinned, note says why), and whether this run adopted an earlier one. */
    pinned: { path?: string; adopted: boolean; note?: string };
  };
  /** Connection sync with the --cluster peers: entries sent and received, lag, errors. */
  sync?: SyncStatus;
  /** The REST API's connections, what it refused and why, and descriptor use. */
  api?: ApiStats;
  /** Background tasks (timers) that failed, by source, since start. */
  faults?: FaultRecord[];
  /** BFD sessions and receive drops (absent until BFD runs). */
  bfd?: BfdStatus;
  /** With --ka / --cluster: the drain state (GET config/drain). */
  drain?: DrainInfo;
  /** loxilb flags this agent was started with that loxilb-ts does not act on, "--flag: what it does not do" each. */
  flagsNotInEffect?: string[];
}

/** A stored rule with whether the datapath carries it (our addition to loxilb's GET). */
export interface ListedLbRule extends LbRule {
  programmed: boolean;
  /** Why not, when programmed is false. */
  reason?: string;
}

export interface DeleteByKeyQuery {
  externalIP: string;
  port: number;
  portMax?: number;
  protocol: string;
  /** Withdraw the VIP from BGP too (loxilb semantics: only when ?bgp=true). */
  bgp: boolean;
  block: number;
  host?: string;
}

/** A cistate entry with what the HA election uses (our extension of loxilb's fields). */
export interface CiStateInfo extends CiState {
  /** This node's election priority. */
  priority: number;
  /** Connection-table sync complete (always true without --cluster). */
  synced: boolean;
  /** What sets the state: BFD with HA peers, or the API (kube-loxilb --setRoles). */
  driver: 'bfd' | 'api';
  /** The HA peers of a BFD-driven instance. */
  peers?: { remoteIp: string; bfd: 'Up' | 'Down'; state?: string; priority?: number }[];
  /** The node is draining (SIGTERM, POST config/drain): no candidate for MASTER. */
  draining?: boolean;
  /** With --ka / --cluster: whether some tracked upstream is up (false: the instance is FAULT). */
  eligible?: boolean;
  /** The routers and VIP links tracked; none tracked means always eligible. */
  upstream?: { kind: 'bgp' | 'interface'; name: string; up: boolean; detail: string }[];
  /**
   * A MASTER saved before a restart, not confirmed yet: the instance is
   * BACKUP until the API sets it or the wait ends (then MASTER again unless a
   * peer is MASTER). remainingMs is absent until the API listens.
   */
  restoring?: { from: 'MASTER'; remainingMs?: number };
  /** BFD-driven instances with a datapath: load-balanced traffic reached this node within the last second. */
  serving?: boolean;
}

/** One entry of the datapath's connection table, in loxilb's ctAttr shape. */
export interface ConntrackInfo {
  destinationIP: string;
  destinationPort: number;
  sourceIP: string;
  sourcePort: number;
  protocol: string;
  conntrackState: string;
  conntrackAct: string;
  packets: number;
  bytes: number;
  servName: string;
}

export interface AgentApi {
  readonly bgpOnly: boolean;
  readonly bgpEnabled: boolean;
  version(): { version: string; buildInfo: string };
  status(): AgentStatus;
  /** GET config/params: the log level in effect (a loxilb level name). */
  logLevel(): string;
  /** POST config/params: every logger of the process to this level (already validated). */
  setLogLevel(level: string): void;
  /** GET /metrics: the Prometheus text (404 without --prometheus). */
  metrics(): Promise<string>;

  addLbRule(rule: LbRule): Promise<void>;
  listLbRules(): ListedLbRule[];
  deleteLbRule(q: DeleteByKeyQuery): Promise<void>;
  deleteLbRulesByName(name: string): Promise<number>;
  deleteAllLbRules(): Promise<number>;

  setCiState(s: CiState): Promise<void>;
  listCiStates(): CiStateInfo[];

  listConntrack(): ConntrackInfo[];

  /** POST config/endpoint: adds or replaces an endpoint host (saved); these three resolve once the datapath carries the change. */
  addEndpointHost(spec: EndpointHostSpec): Promise<void>;
  /** DELETE config/endpoint/epipaddress/{ip}: NotFoundError, or ConflictError while LB rules refer to it. */
  deleteEndpointHost(q: EndpointHostDeleteQuery): Promise<void>;
  /** POST config/endpointhoststate (saved). */
  setEndpointHostState(post: EndpointHostStatePost): Promise<void>;
  /** GET config/endpoint/all: API entries, then one per LB rule endpoint. */
  listEndpointHosts(): EndpointHostRow[];

  setBgpGlobal(cfg: BgpGlobalConfig): Promise<void>;
  addBgpNeighbor(n: BgpNeighborConfig): Promise<void>;
  deleteBgpNeighbor(ip: string): Promise<void>;
  listBgpNeighbors(): Promise<BgpNeighborStatus[]>;

  /** Adds a session, or changes the timers of the instance's session with that peer. */
  setBfdSession(spec: BfdSessionPost): Promise<void>;
  listBfdSessions(): BfdSessionInfo[];
  deleteBfdSession(remoteIp: string, instance: string): Promise<void>;

  /** GET config/drain. */
  drainState(): DrainInfo;
  /** POST config/drain: starts a drain (maintenance) and resolves once it is done. */
  drain(timeoutMs?: number): Promise<DrainInfo>;
  /** DELETE config/drain: the node is a candidate again. */
  undrain(): Promise<void>;
}

/** Our extension: graceful drain of an HA node (issue 15). */
export interface DrainInfo {
  draining: boolean;
  phase: 'serving' | 'handing-over' | 'waiting-for-traffic' | 'drained';
  timeoutMs: number;
  last?: { handedTo?: string; waitedMs: number; timedOut: boolean; reason: string };
}
