// The node's parts as reconcilers (Reconciler.ts): what each does with a
// change of the desired state, and how it settles and stops. They hold the
// existing parts (RuleProgrammer, BgpNode, HaNode, ConnSync, NeighborBfd)
// and translate; the logic stays in those parts.
//
// Which of them a node registers is its mode, decided in one place here:
// registerLbReconcilers() for a load-balancer node (not --peer) and
// registerBgpReconcilers() for --bgp / --peer. A BGP-only node therefore has
// no datapath, HA or sync reconciler at all. Every node has the role log,
// the VIP offers, the probes, the neighbours' BFD and the BFD sessions.
import type { BgpNeighborConfig } from '../bgp/BgpConfig.ts';
import type { BgpNode } from '../bgp/BgpNode.ts';
import type { NeighborBfd } from '../bgp/NeighborBfd.ts';
import type { VipOffer, VipTable } from '../bgp/VipTable.ts';
import type { Datapath } from '../datapath/Datapath.ts';
import type { HaNode } from '../ha/HaNode.ts';
import type { BfdEventRouter } from '../ha/BfdEventRouter.ts';
import type { EndpointHealth } from '../lb/EndpointHealth.ts';
import { ruleInstance, ruleVips, type LbRule } from '../lb/LbRule.ts';
import type { ConnSync } from '../sync/ConnSync.ts';
import type { Logger } from '../util/logger.ts';
import type { BgpGlobalConfig } from '../bgp/BgpConfig.ts';
import type { DesiredBgp, PeerTimers } from '../bgp/planBgpConfig.ts';
import type { NodeEvent } from './NodeState.ts';
import type { Reconciler, ReconcilerRegistry } from './Reconciler.ts';
import type { RuleProgrammer } from './RuleProgrammer.ts';

/** Logs each role change and counts them per instance (metrics). */
export class RoleLog implements Reconciler {
  readonly name = 'role-log';
  /** Role changes per instance since start. */
  readonly counts = new Map<string, number>();
  constructor(private readonly log: Logger) {}
  changed(ev: NodeEvent): void {
    if (ev.kind !== 'roleChanged') return;
    const { cur, next: s, reason } = ev.change;
    this.log.info({ instance: s.instance, from: cur?.state ?? 'NEW', to: s.state, vip: s.vip, reason }, 'HA state changed');
    if (cur && cur.state !== s.state) this.counts.set(s.instance, (this.counts.get(s.instance) ?? 0) + 1);
  }
}

/**
 * What the rules and roles advertise (the VipTable BGP reads): a rule offers
 * its VIPs only with bgp set, while the datapath carries it (a route to a
 * rule that drops its packets is a black hole), and while it is not
 * monitored with every endpoint down.
 */
export class VipOffers implements Reconciler {
  readonly name = 'vips';
  constructor(
    private readonly d: {
      vips: VipTable;
      rules: ReadonlyMap<string, LbRule>;
      prober: EndpointHealth;
      /** Whether the datapath carries the rule (false: no datapath reconciler). */
      programmed(key: string): boolean;
    },
  ) {}

  offerOf(key: string, rule: LbRule): VipOffer | undefined {
    if (!rule.serviceArguments.bgp || !this.d.programmed(key) || !this.d.prober.ruleAlive(rule)) return undefined;
    return { instance: ruleInstance(rule), ips: ruleVips(rule) };
  }

  /** Start-up: every offer and role at once. */
  resync(): void {
    this.d.vips.reset([...this.d.rules].map(([k, r]) => [k, this.offerOf(k, r)]));
  }

  changed(ev: NodeEvent): void {
    const vips = this.d.vips;
    switch (ev.kind) {
      case 'ruleChanged':
        return vips.setOffer(ev.key, this.offerOf(ev.key, ev.rule));
      case 'ruleRemoved':
        return vips.setOffer(ev.key, undefined);
      case 'roleChanged':
        return vips.setCiStates(ev.change.states);
      case 'endpointsChanged':
        for (const [key, rule] of this.d.rules) if (this.d.prober.affects(rule, ev.hosts)) vips.setOffer(key, this.offerOf(key, rule));
    }
  }
}

/** Rule probes follow the rule table. */
export class ProbesReconciler implements Reconciler {
  readonly name = 'probes';
  constructor(
    private readonly prober: EndpointHealth,
    private readonly rules: ReadonlyMap<string, LbRule>,
  ) {}
  changed(ev: NodeEvent): void {
    if (ev.kind === 'rulesApplied' && ev.probes) this.prober.sync(this.rules.values());
  }
  resync(): void {
    this.prober.sync(this.rules.values());
  }
  quiesce(): void {
    this.prober.close();
  }
}

/** The eBPF datapath: changed rules are marked and programmed by RuleProgrammer's coalescing pass. */
export class DatapathReconciler implements Reconciler {
  readonly name = 'datapath';
  constructor(
    readonly programmer: RuleProgrammer,
    private readonly rules: ReadonlyMap<string, LbRule>,
    private readonly prober: EndpointHealth,
    readonly datapath: Datapath | undefined,
  ) {
    // hostonearm serves the node's addresses and dsr needs on-link endpoints: both follow address changes.
    if (datapath) datapath.onAddressesChanged = () => this.addressesChanged();
  }

  private addressesChanged(): void {
    for (const [k, r] of this.rules) if (r.serviceArguments.mode === 3 || r.serviceArguments.mode === 5) this.programmer.mark(k);
    this.programmer.loop.kick();
  }

  changed(ev: NodeEvent): void {
    const p = this.programmer;
    switch (ev.kind) {
      case 'ruleChanged':
      case 'ruleRemoved':
        p.mark(ev.key);
        return p.loop.kick();
      case 'roleChanged': {
        // fullnat's source follows the instance's floating address.
        const { cur, next: s } = ev.change;
        if (cur?.vip === s.vip) return;
        for (const [k, r] of this.rules) if (r.serviceArguments.mode === 2 && ruleInstance(r) === s.instance) p.mark(k);
        return p.loop.kickNow();
      }
      case 'endpointsChanged':
        for (const [key, rule] of this.rules) if (this.prober.affects(rule, ev.hosts)) p.mark(key);
        // Traffic to a dead service must stop now, not after the next burst slot.
        return p.loop.kickNow();
    }
  }

  /** Every rule again (start-up, or the node's addresses changed). */
  resync(): void {
    for (const k of this.rules.keys()) this.programmer.mark(k);
    this.programmer.loop.kick();
  }

  nextPass(): Promise<void> {
    return this.programmer.loop.nextPass();
  }

  whenIdle(): Promise<void> {
    return this.programmer.loop.whenIdle();
  }

  quiesce(): void {
    this.programmer.close();
  }

  async stop(): Promise<void> {
    this.datapath?.close();
  }
}

/** HA: VIP ownership and the role hook follow the roles; peers and upstream neighbours follow the config. */
export class HaReconciler implements Reconciler {
  readonly name = 'ha';
  constructor(
    readonly ha: HaNode,
    private readonly neighbors: () => { list: Iterable<BgpNeighborConfig>; localAs?: number },
  ) {}
  changed(ev: NodeEvent): void | Promise<void> {
    switch (ev.kind) {
      case 'roleChanged':
        return this.ha.roleChanged(ev.change.cur, ev.change.next);
      case 'bgpGlobalChanged':
      case 'bgpNeighborAdded':
      case 'bgpNeighborRemoved':
        return this.resync();
      case 'bfdSessionAdded':
        return this.ha.registerPeer(ev.spec);
      case 'bfdSessionRemoved':
        return this.ha.unregisterPeer(ev.instance, ev.remoteIp);
    }
  }
  /** The upstream tracker watches the configured neighbours. */
  resync(): void {
    const n = this.neighbors();
    this.ha.trackNeighbors(n.list, n.localAs);
  }
  whenIdle(): Promise<void> {
    return this.ha.whenIdle();
  }
  quiesce(): void {
    this.ha.stopTimers();
  }
  /** Planned stop: the VIPs go back so the peer's announcement wins at once. */
  stop(): Promise<void> {
    return this.ha.close();
  }
}

export class SyncReconciler implements Reconciler {
  readonly name = 'sync';
  constructor(readonly sync: ConnSync) {}
  stop(): Promise<void> {
    return this.sync.close();
  }
}

/** BFD sessions run for BGP neighbours with `bfd` set. */
export class NeighborBfdReconciler implements Reconciler {
  readonly name = 'neighbor-bfd';
  constructor(
    private readonly nbfd: NeighborBfd,
    private readonly bfdEvents: BfdEventRouter,
  ) {}
  changed(ev: NodeEvent): void | Promise<void> {
    if (ev.kind === 'bgpNeighborAdded' && ev.neighbor.bfd) return this.nbfd.ensure(ev.neighbor);
    if (ev.kind === 'bgpNeighborRemoved') {
      this.bfdEvents.forget(ev.ip);
      // AdminDown for a detection time, before gobgpd (later in the order) drops the neighbour.
      return this.nbfd.drop(ev.ip);
    }
  }
  quiesce(): void {
    this.nbfd.close();
  }
}

export interface BgpConfigSource {
  global(): BgpGlobalConfig | undefined;
  neighbors(): BgpNeighborConfig[];
  timers: PeerTimers;
  /** Neighbours whose BFD session is down. */
  bfdDown(): Set<string>;
  /** The node is draining (HA): its VIPs go out with the lowest preference. */
  draining(): boolean;
}

/** gobgpd's config and RIB, and the kernel routes, follow the state (BgpNode). */
export class BgpNodeReconciler implements Reconciler {
  readonly name = 'bgp';
  constructor(
    readonly node: BgpNode,
    private readonly config: BgpConfigSource,
  ) {}

  changed(ev: NodeEvent): void | Promise<void> {
    switch (ev.kind) {
      case 'rulesApplied':
        return this.node.publishRoutes();
      case 'roleChanged':
      case 'endpointsChanged':
        return this.node.publishRoutes(true);
      case 'bgpGlobalChanged':
      case 'bgpNeighborAdded':
      case 'bgpNeighborRemoved':
        // The REST answer waits until gobgpd has been given the change.
        return this.node.applyConfig(this.desired());
    }
  }

  /** The desired config to gobgpd; `urgent`: BFD or a drain changed what a path carries. */
  publishConfig(urgent = false): void {
    this.node.setConfig(this.desired(), urgent);
  }

  private desired(): DesiredBgp {
    const c = this.config;
    return { global: c.global(), neighbors: c.neighbors(), timers: c.timers, bfdDown: c.bfdDown(), drain: c.draining() };
  }

  resync(): void {
    this.node.reconciler.resync();
  }
  whenIdle(): Promise<void> {
    return this.node.whenIdle();
  }
  quiesce(): void {
    this.node.stopWatches();
  }
  async stop(): Promise<void> {
    this.node.closeLoops();
    await this.node.stopDaemon();
  }
}

/** Every node: the role log, the VIP offers, the probes, the neighbours' BFD, and the configured BFD sessions (AdminDown to peers on stop). */
export function registerNodeReconcilers(
  reg: ReconcilerRegistry,
  p: { roleLog: RoleLog; offers: VipOffers; probes: ProbesReconciler; neighborBfd: NeighborBfdReconciler; bfd: { close(): Promise<void> } },
): void {
  reg.register(p.roleLog);
  reg.register(p.offers);
  reg.register(p.probes);
  reg.register(p.neighborBfd);
  reg.register({ name: 'bfd', stop: () => p.bfd.close() });
}

/** A load-balancer node (not --peer): the datapath, HA if configured, and connection sync if --cluster. */
export function registerLbReconcilers(reg: ReconcilerRegistry, p: { datapath: DatapathReconciler; ha?: HaReconciler; sync?: SyncReconciler }): void {
  reg.register(p.datapath);
  if (p.ha) reg.register(p.ha);
  if (p.sync) reg.register(p.sync);
}

/** --bgp or --peer: gobgpd and the kernel routes. */
export function registerBgpReconcilers(reg: ReconcilerRegistry, p: { bgp: BgpNodeReconciler }): void {
  reg.register(p.bgp);
}
