// The agent's API (AgentApi) as the REST server sees it, composed of parts
// chosen by mode: the LB part (or, with --peer, its refusing stand-in) and
// the BGP part (or, without --bgp / --peer, its refusing stand-in). What
// every mode answers the same way is here: version, log level, /status,
// /metrics, the BFD session list and the drain state.
import type { AgentApi, AgentStatus, BfdSessionInfo, DrainInfo } from '../api/AgentApi.ts';
import type { RestServer } from '../api/RestServer.ts';
import { countEndpoints, renderMetrics, ruleMetrics, type MetricsSnapshot } from '../api/metrics.ts';
import { drainInfo } from '../api/stateViews.ts';
import { DEGRADED_WINDOW_MS, StatusView } from '../api/statusView.ts';
import type { BgpNeighborStatus } from '../bgp/BgpConfig.ts';
import type { BgpNode } from '../bgp/BgpNode.ts';
import type { Datapath } from '../datapath/Datapath.ts';
import type { HaNode } from '../ha/HaNode.ts';
import type { EndpointHealth } from '../lb/EndpointHealth.ts';
import type { ConnSync } from '../sync/ConnSync.ts';
import { NotFoundError, ValidationError } from '../util/errors.ts';
import { processFaults } from '../util/faults.ts';
import { normalizeIp } from '../util/ipAddress.ts';
import { LOG_LEVELS, currentLogLevel, setLogLevel, type Logger } from '../util/logger.ts';
import type { BgpApi } from './BgpApi.ts';
import type { LbApi } from './LbApi.ts';
import type { NodeState } from './NodeState.ts';
import type { DatapathReconciler } from './nodeReconcilers.ts';

export const VERSION = '0.1.0';

export interface NodeApiParts {
  bgpOnly: boolean;
  bgpEnabled: boolean;
  /** --prometheus: serve GET /metrics. */
  prometheus: boolean;
  flagsNotInEffect?: string[];
  lb: LbApi;
  bgp: BgpApi;
  state: NodeState;
  prober: EndpointHealth;
  /** Role changes per instance since start. */
  roleChanges: ReadonlyMap<string, number>;
  dp?: DatapathReconciler;
  datapath?: Datapath;
  bgpNode?: BgpNode;
  ha?: HaNode;
  connSync?: ConnSync;
  /** The server this API is served by (its own counters in /status). */
  rest(): RestServer | undefined;
  /** The agent is stopping: health checks get 503. */
  stopped(): boolean;
  /** What a configured BFD session is for. */
  bfdPurpose(instance: string, remoteIp: string): BfdSessionInfo['purpose'];
  log: Logger;
}

export class NodeApi implements AgentApi {
  readonly bgpOnly: boolean;
  readonly bgpEnabled: boolean;
  private readonly startedAt = Date.now();
  private readonly statusView = new StatusView();

  constructor(private readonly p: NodeApiParts) {
    this.bgpOnly = p.bgpOnly;
    this.bgpEnabled = p.bgpEnabled;
  }

  // ---- the parts chosen by mode ----
  readonly addLbRule: LbApi['addLbRule'] = (r) => this.p.lb.addLbRule(r);
  readonly listLbRules: LbApi['listLbRules'] = () => this.p.lb.listLbRules();
  readonly deleteLbRule: LbApi['deleteLbRule'] = (q) => this.p.lb.deleteLbRule(q);
  readonly deleteLbRulesByName: LbApi['deleteLbRulesByName'] = (n) => this.p.lb.deleteLbRulesByName(n);
  readonly deleteAllLbRules: LbApi['deleteAllLbRules'] = () => this.p.lb.deleteAllLbRules();
  readonly setCiState: LbApi['setCiState'] = (s) => this.p.lb.setCiState(s);
  readonly listCiStates: LbApi['listCiStates'] = () => this.p.lb.listCiStates();
  readonly listConntrack: LbApi['listConntrack'] = () => this.p.lb.listConntrack();
  readonly addEndpointHost: LbApi['addEndpointHost'] = (s) => this.p.lb.addEndpointHost(s);
  readonly deleteEndpointHost: LbApi['deleteEndpointHost'] = (q) => this.p.lb.deleteEndpointHost(q);
  readonly setEndpointHostState: LbApi['setEndpointHostState'] = (s) => this.p.lb.setEndpointHostState(s);
  readonly listEndpointHosts: LbApi['listEndpointHosts'] = () => this.p.lb.listEndpointHosts();
  readonly setBfdSession: LbApi['setBfdSession'] = (s) => this.p.lb.setBfdSession(s);
  readonly deleteBfdSession: LbApi['deleteBfdSession'] = (ip, inst) => this.p.lb.deleteBfdSession(ip, inst);
  readonly drain: LbApi['drain'] = (t) => this.p.lb.drain(t);
  readonly undrain: LbApi['undrain'] = () => this.p.lb.undrain();
  readonly setBgpGlobal: BgpApi['setBgpGlobal'] = (c) => this.p.bgp.setBgpGlobal(c);
  readonly addBgpNeighbor: BgpApi['addBgpNeighbor'] = (n) => this.p.bgp.addBgpNeighbor(n);
  readonly deleteBgpNeighbor: BgpApi['deleteBgpNeighbor'] = (ip) => this.p.bgp.deleteBgpNeighbor(ip);
  readonly listBgpNeighbors: BgpApi['listBgpNeighbors'] = () => this.p.bgp.listBgpNeighbors();

  // ---- every mode ----

  version() {
    return { version: VERSION, buildInfo: `loxilb-ts node ${process.version}` };
  }

  logLevel(): string {
    return currentLogLevel();
  }

  setLogLevel(level: string): void {
    const from = currentLogLevel();
    if (!setLogLevel(level)) throw new ValidationError('logLevel', `must be one of ${LOG_LEVELS.join(', ')}`, level);
    // Said at the old level's 'warn' floor, so the change is on record whichever way it went.
    this.p.log.warn({ from, to: level }, 'log level changed over the API');
  }

  listBfdSessions(): BfdSessionInfo[] {
    return this.p.state.bfdSessions.list((instance, remoteIp) => this.p.bfdPurpose(instance, remoteIp));
  }

  drainState(): DrainInfo {
    return drainInfo(this.p.ha?.drainerState());
  }

  status(): AgentStatus {
    const p = this.p;
    const sup = p.bgpNode?.supervisor;
    const dp = p.datapath;
    const rest = p.rest();
    const bfd = p.state.bfdSessions;
    const now = Date.now();
    return this.statusView.report({
      now,
      stopping: p.stopped(),
      draining: p.ha?.draining ?? false,
      mode: this.bgpOnly ? 'bgp-only' : 'lb',
      bgpEnabled: this.bgpEnabled,
      ...(sup ? { gobgpd: { state: sup.state, pid: sup.pid, restarts: sup.restarts } } : {}),
      rules: p.state.rules.size,
      rulesNotProgrammed: p.dp?.programmer.notProgrammedCount ?? 0,
      advertisedVips: p.bgpNode?.reconciler.advertisedCount ?? 0,
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
      ...(dp
        ? {
            datapath: {
              interfaces: dp.attachedInterfaces(),
              egress: dp.egressHooks,
              connections: dp.connectionCount(),
              connectionCapacity: dp.ctCapacity,
              ruleCapacity: dp.ruleCapacity,
              serviceEntryCapacity: dp.serviceEntryCapacity,
              stats: dp.stats(),
              pinned: dp.pin,
            },
          }
        : {}),
      ...(p.connSync ? { sync: p.connSync.status() } : {}),
      ...(p.ha?.canDrain ? { drain: this.drainState() } : {}),
      ...(rest ? { api: rest.stats() } : {}),
      recentFaults: processFaults.recent(DEGRADED_WINDOW_MS),
      faults: processFaults.all(),
      ...(bfd.current ? { bfd: bfd.status() } : {}),
      flagsNotInEffect: p.flagsNotInEffect,
    });
  }

  async metrics(): Promise<string> {
    const p = this.p;
    if (!p.prometheus) throw new NotFoundError('metrics are off: start loxilb with --prometheus');
    let bgp: BgpNeighborStatus[] = [];
    let bgpPrefixes: MetricsSnapshot['bgpPrefixes'];
    if (this.bgpEnabled) {
      try {
        bgp = await this.listBgpNeighbors();
        const peers = (await p.bgpNode?.client.listPeers({ advertised: true })) ?? [];
        bgpPrefixes = peers.map((x) => ({ peer: normalizeIp(x.address) ?? x.address, advertised: x.advertised, received: x.received, accepted: x.accepted }));
      } catch {
        // gobgpd not answering: no per-peer samples this scrape; loxilb_gobgpd_up says why.
      }
    }
    const node = p.bgpNode;
    const reconcile = [
      ...(p.dp ? [{ loop: 'datapath', durations: p.dp.programmer.loop.durations.data() }] : []),
      ...(node ? [{ loop: 'bgp', durations: node.reconciler.passDurations }] : []),
      ...(node?.routeSync ? [{ loop: 'kernel_routes', durations: node.routeSync.passDurations }] : []),
    ];
    const state = (r: Parameters<EndpointHealth['endpointState']>[0], ep: Parameters<EndpointHealth['endpointState']>[1]) => p.prober.endpointState(r, ep);
    return renderMetrics({
      ...(p.datapath ? { rules: ruleMetrics(p.state.rules, p.datapath.ruleTraffic(), state) } : {}),
      ...(bgpPrefixes ? { bgpPrefixes } : {}),
      reconcile,
      status: this.status(),
      ciStates: this.listCiStates(),
      roleChanges: p.roleChanges,
      bfd: this.listBfdSessions(),
      bgp,
      // Counted in place: a scrape copies no rule. (A BGP-only node has no rules and no endpoint hosts.)
      endpoints: countEndpoints(p.state.rules.values(), state),
      endpointHosts: p.prober.listWithRtt().map(({ row, rttMs }) => ({ ...row, rttMs })),
    });
  }
}
