// The node's desired state, in one place: the LB rules, each HA instance's
// role and floating address, the BGP global config and neighbours, and the
// configured BFD sessions (the endpoint-host table stays with the probes that
// act on it; snapshot() reads it from there). The REST-facing API parts write
// it (and HA elections write the roles they decide); the reconcilers only
// read it and hear of each change as one typed NodeEvent.
//
// snapshot() is one plain, serialisable object of the same shape
// ConfigStore.load() returns and ConfigStore.saveSnapshot() writes.
import type { LbRule } from '../lb/LbRule.ts';
import type { BgpNeighborConfig } from '../bgp/BgpConfig.ts';
import type { BfdSessionSpec } from '../bfd/validateBfdConfig.ts';
import type { EndpointHostRecord } from '../lb/EndpointHosts.ts';
import type { Logger } from '../util/logger.ts';
import type { ConfigStore, NodeSnapshot } from './ConfigStore.ts';
import { RuleTable } from './RuleTable.ts';
import { CiStateTable, type CiStateChange } from './CiStateTable.ts';
import { BgpConfigTable } from './BgpConfigTable.ts';
import { BfdSessions, type BfdSessionsDeps } from './BfdSessions.ts';

/** One change, as every registered reconciler hears it. */
export type NodeEvent =
  /** A rule is in the table under `key` now (new or changed). */
  | { kind: 'ruleChanged'; key: string; rule: LbRule }
  | { kind: 'ruleRemoved'; key: string }
  /** A batch of rule changes is in memory, or was undone; `probes`: a monitored rule was in it. */
  | { kind: 'rulesApplied'; probes: boolean }
  /** An instance's role or floating address changed (saved, or being saved). */
  | { kind: 'roleChanged'; change: CiStateChange }
  | { kind: 'bgpGlobalChanged' }
  | { kind: 'bgpNeighborAdded'; neighbor: BgpNeighborConfig }
  | { kind: 'bgpNeighborRemoved'; ip: string }
  /** A configured BFD session started (saved, restored or --ka). */
  | { kind: 'bfdSessionAdded'; spec: BfdSessionSpec }
  | { kind: 'bfdSessionRemoved'; instance: string; remoteIp: string }
  /** Endpoint hosts or probe results changed for these hosts (undefined: a rule's own probe). */
  | { kind: 'endpointsChanged'; hosts?: ReadonlySet<string> };

/** Hears every event; a returned promise is waited for before the writer is answered. */
export type NodeEventListener = (ev: NodeEvent) => void | Promise<void>;

export interface NodeStateDeps {
  store: ConfigStore;
  log: Logger;
  /** The BFD manager's options and state callbacks (its session table is part of the state). */
  bfd: Omit<BfdSessionsDeps, 'save' | 'started' | 'deleted' | 'log'>;
  /** Resolves after the next datapath pass (a rule POST is answered then). */
  nextPass(): Promise<void>;
  /** What the datapath has room for. */
  capacity(): { maxRules: number; maxEntries: number };
  /** The endpoint-host table's records, as saved in epconfig.json. */
  endpointHosts(): EndpointHostRecord[];
}

export class NodeState {
  /** config/loadbalancer: POST rules, journal, rollback. */
  readonly ruleTable: RuleTable;
  readonly rules: ReadonlyMap<string, LbRule>;
  /** Each HA instance's role and floating address. */
  readonly ciStates: CiStateTable;
  /** config/bgp/global and config/bgp/neigh. */
  readonly bgpConfig: BgpConfigTable;
  /** config/bfd and --ka, and the BFD manager that runs them. */
  readonly bfdSessions: BfdSessions;
  private listener: NodeEventListener = () => undefined;

  constructor(private readonly d: NodeStateDeps) {
    this.ruleTable = new RuleTable({
      changed: (key, rule) => void this.emit(rule ? { kind: 'ruleChanged', key, rule } : { kind: 'ruleRemoved', key }),
      batchDone: (probes) => void this.emit({ kind: 'rulesApplied', probes }),
      nextPass: () => d.nextPass(),
      capacity: () => d.capacity(),
    });
    this.rules = this.ruleTable.rules;
    this.ciStates = new CiStateTable(d.store, d.log);
    this.ciStates.onChange((change) => void this.emit({ kind: 'roleChanged', change }));
    this.bgpConfig = new BgpConfigTable(d.store);
    this.bfdSessions = new BfdSessions({
      ...d.bfd,
      save: (specs) => d.store.saveBfdSessions(specs),
      started: async (spec) => this.emit({ kind: 'bfdSessionAdded', spec }),
      deleted: (instance, remoteIp) => void this.emit({ kind: 'bfdSessionRemoved', instance, remoteIp }),
      log: d.log,
    });
  }

  /** The one listener (the reconciler registry's fan-out). */
  onEvent(listener: NodeEventListener): void {
    this.listener = listener;
  }

  /** Endpoint liveness is not desired state, but the same reconcilers follow it. */
  endpointsChanged(hosts?: ReadonlySet<string>): void {
    void this.emit({ kind: 'endpointsChanged', hosts });
  }

  // ---- BGP config: saved, then told, then answered ----

  async setBgpGlobal(cfg: Parameters<BgpConfigTable['setGlobal']>[0]): Promise<void> {
    this.bgpConfig.setGlobal(cfg);
    await this.emit({ kind: 'bgpGlobalChanged' });
  }

  async addBgpNeighbor(n: BgpNeighborConfig): Promise<void> {
    this.bgpConfig.addNeighbor(n);
    await this.emit({ kind: 'bgpNeighborAdded', neighbor: n });
  }

  async deleteBgpNeighbor(ip: string): Promise<void> {
    this.bgpConfig.deleteNeighbor(ip);
    await this.emit({ kind: 'bgpNeighborRemoved', ip });
  }

  /** Everything desired, as one plain object (copies: a later change does not show in it). */
  snapshot(): NodeSnapshot {
    const global = this.bgpConfig.global;
    return structuredClone({
      rules: [...this.rules.values()],
      ciStates: [...this.ciStates.all.values()],
      bgpGlobal: global,
      bgpNeighbors: [...this.bgpConfig.neighbors.values()],
      bfdSessions: this.bfdSessions.sessionSpecs,
      endpointHosts: this.d.endpointHosts(),
    });
  }

  /** Nothing is saved half-way any more: an election's state is on disk, and the journal is closed. */
  async close(): Promise<void> {
    await this.ciStates.whenSaved();
    await this.d.store.close();
  }

  private emit(ev: NodeEvent): void | Promise<void> {
    return this.listener(ev);
  }
}
