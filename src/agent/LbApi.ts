// The load-balancer part of the agent's API: LB rules, CI states, endpoint
// hosts, configured BFD sessions, conntrack and drain. It writes the node's
// desired state (NodeState) and answers from it and from the reconcilers.
// A BGP-only node (--peer) has the refusing stand-in instead: writes are
// forbidden ('running in bgp only mode'), reads are empty, as in loxilb.
import type { AgentApi, CiStateInfo, ConntrackInfo, DeleteByKeyQuery, DrainInfo, ListedLbRule } from '../api/AgentApi.ts';
import { BGP_ONLY_TEXT } from '../api/routes.ts';
import { ciStateList, conntrackList, drainInfo, lbRuleList } from '../api/stateViews.ts';
import type { Datapath } from '../datapath/Datapath.ts';
import type { CiState } from '../ha/ClusterState.ts';
import { HA_DEFAULT_PRIORITY } from '../ha/HaManager.ts';
import type { HaNode } from '../ha/HaNode.ts';
import type { EndpointHealth, EndpointHostRow } from '../lb/EndpointHealth.ts';
import { ruleKey, type LbRule } from '../lb/LbRule.ts';
import type { EndpointHostDeleteQuery, EndpointHostSpec, EndpointHostStatePost } from '../lb/validateEndpointHost.ts';
import type { BfdSessionPost } from '../bfd/validateBfdConfig.ts';
import { ForbiddenError } from '../util/errors.ts';
import type { NodeState } from './NodeState.ts';
import type { DatapathReconciler } from './nodeReconcilers.ts';

export type LbApi = Pick<
  AgentApi,
  | 'addLbRule'
  | 'listLbRules'
  | 'deleteLbRule'
  | 'deleteLbRulesByName'
  | 'deleteAllLbRules'
  | 'setCiState'
  | 'listCiStates'
  | 'listConntrack'
  | 'addEndpointHost'
  | 'deleteEndpointHost'
  | 'setEndpointHostState'
  | 'listEndpointHosts'
  | 'setBfdSession'
  | 'deleteBfdSession'
  | 'drain'
  | 'undrain'
>;

export interface LbApiDeps {
  state: NodeState;
  prober: EndpointHealth;
  dp: DatapathReconciler;
  datapath?: Datapath;
  ha?: HaNode;
  /** stop() is draining the node. */
  stopping(): boolean;
}

export class LbApiPart implements LbApi {
  constructor(private readonly d: LbApiDeps) {}

  async addLbRule(rule: LbRule): Promise<void> {
    await this.d.state.ruleTable.add(rule);
  }

  listLbRules(): ListedLbRule[] {
    const { state, dp, prober, datapath } = this.d;
    return lbRuleList(state.rules, (k) => dp.programmer.stateOf(k), (r, ep) => prober.endpointState(r, ep), datapath?.ruleTraffic());
  }

  async deleteLbRule(q: DeleteByKeyQuery): Promise<void> {
    await this.d.state.ruleTable.delete(ruleKey({ externalIP: q.externalIP, port: q.port, portMax: q.portMax, protocol: q.protocol as LbRule['serviceArguments']['protocol'], block: q.block, host: q.host }));
  }

  deleteLbRulesByName(name: string): Promise<number> {
    return this.d.state.ruleTable.deleteByName(name);
  }

  deleteAllLbRules(): Promise<number> {
    return this.d.state.ruleTable.deleteAll();
  }

  // Endpoint hosts: answered once the datapath has the change, as a rule POST is.

  async addEndpointHost(spec: EndpointHostSpec): Promise<void> {
    this.d.prober.addHost(spec);
    await this.d.dp.nextPass();
  }

  async deleteEndpointHost(q: EndpointHostDeleteQuery): Promise<void> {
    this.d.prober.deleteHost(q);
    await this.d.dp.nextPass();
  }

  async setEndpointHostState(post: EndpointHostStatePost): Promise<void> {
    this.d.prober.setHostState(post);
    await this.d.dp.nextPass();
  }

  listEndpointHosts(): EndpointHostRow[] {
    return this.d.prober.list();
  }

  async setCiState(s: CiState): Promise<void> {
    this.d.state.ciStates.set(s, 'set over the API', true);
    this.d.ha?.settleRole(s.instance);
  }

  listCiStates(): CiStateInfo[] {
    const ha = this.d.ha;
    return ciStateList(
      this.d.state.ciStates.all.values(),
      ha ? ha.ciStateSources() : { priority: HA_DEFAULT_PRIORITY, info: () => undefined, draining: false, restoring: () => undefined },
    );
  }

  listConntrack(): ConntrackInfo[] {
    const dp = this.d.datapath;
    return dp ? conntrackList(this.d.state.rules.values(), dp.connections()) : [];
  }

  async setBfdSession(post: BfdSessionPost): Promise<void> {
    await this.d.state.bfdSessions.set(post);
  }

  async deleteBfdSession(remoteIp: string, instance: string): Promise<void> {
    await this.d.state.bfdSessions.delete(remoteIp, instance);
  }

  async drain(timeoutMs?: number): Promise<DrainInfo> {
    const ha = this.d.ha;
    if (!ha) throw new ForbiddenError('drain needs an HA peer to hand over to (--ka or --cluster)');
    await ha.drain(timeoutMs);
    return drainInfo(ha.drainerState());
  }

  async undrain(): Promise<void> {
    if (this.d.stopping()) throw new ForbiddenError('the agent is stopping: its drain cannot be ended');
    this.d.ha?.undrain();
  }
}

/** --peer: no load balancing here. Writes are refused, reads are empty. */
export const bgpOnlyLbApi: LbApi = {
  addLbRule: refuse,
  listLbRules: () => [],
  deleteLbRule: refuse,
  deleteLbRulesByName: refuse,
  deleteAllLbRules: refuse,
  setCiState: refuse,
  listCiStates: () => [],
  listConntrack: () => [],
  addEndpointHost: refuse,
  deleteEndpointHost: refuse,
  setEndpointHostState: refuse,
  listEndpointHosts: () => [],
  setBfdSession: refuse,
  deleteBfdSession: refuse,
  drain: refuse,
  undrain: refuse,
};

async function refuse(): Promise<never> {
  throw new ForbiddenError(BGP_ONLY_TEXT);
}
