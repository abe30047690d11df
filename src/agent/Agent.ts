// Composition root of the node agent: it builds the parts and wires them.
// The desired state is NodeState (rules, CI states, BGP config, BFD
// sessions); what makes it true is a list of reconcilers registered by mode
// (nodeReconcilers.ts: datapath, HA, sync for an LB node; BGP for --bgp and
// --peer), each hearing every change; the API the REST server serves is
// NodeApi, composed of the LB and BGP parts (or their refusing stand-ins).
// What is left here is which part is built when, and the start order.
import { ConfigStore, RuleStore, type SavedState } from './ConfigStore.ts';
import { RestServer, type ApiLimits } from '../api/RestServer.ts';
import type { BfdSessionInfo } from '../api/AgentApi.ts';
import { guarded } from '../util/faults.ts';
import type { Logger } from '../util/logger.ts';
import type { BfdRemoteLimits } from '../bfd/BfdSession.ts';
import type { BfdSessionSpec } from '../bfd/validateBfdConfig.ts';
import { NeighborBfd } from '../bgp/NeighborBfd.ts';
import { BgpNode } from '../bgp/BgpNode.ts';
import { VipTable } from '../bgp/VipTable.ts';
import type { PeerTimers } from '../bgp/planBgpConfig.ts';
import { DEFAULT_INSTANCE, ruleVips } from '../lb/LbRule.ts';
import { EndpointHealth } from '../lb/EndpointHealth.ts';
import { alwaysSynced } from '../ha/HaManager.ts';
import type { PeerApiAccess } from '../ha/peerView.ts';
import { releaseStaleVips, systemAddressDriver } from '../ha/VipOwner.ts';
import { HaNode, type HaNodeOptions } from '../ha/HaNode.ts';
import { BfdEventRouter } from '../ha/BfdEventRouter.ts';
import { UNSPECIFIED } from '../ha/ProgrammedVips.ts';
import { Datapath, type DatapathOptions } from '../datapath/Datapath.ts';
import { MAX_RULES, MAX_SERVICE_ENTRIES } from '../datapath/layout.ts';
import { ConnSync, peerQuota, type SyncTls } from '../sync/ConnSync.ts';
import { RuleProgrammer } from './RuleProgrammer.ts';
import { NodeState } from './NodeState.ts';
import { NodeApi } from './NodeApi.ts';
import { LbApiPart, bgpOnlyLbApi } from './LbApi.ts';
import { BgpApiPart, disabledBgpApi } from './BgpApi.ts';
import { ReconcilerRegistry } from './Reconciler.ts';
import { BgpNodeReconciler, DatapathReconciler, HaReconciler, NeighborBfdReconciler, ProbesReconciler, RoleLog, SyncReconciler, VipOffers, registerBgpReconcilers, registerLbReconcilers, registerNodeReconcilers } from './nodeReconcilers.ts';

export { VERSION } from './NodeApi.ts';
// Where the tests and older callers find it; it lives with the other REST formatting now.
export { formatUpDown } from '../api/stateViews.ts';

export interface AgentOptions {
  bgp: boolean;
  peer: boolean;
  /** --prometheus: serve GET /metrics. */
  prometheus?: boolean;
  host: string;
  port: number;
  configPath: string;
  gobgpApi: string;
  gobgpBin: string;
  gobgpLogLevel: 'debug' | 'info';
  peerTimers: PeerTimers;
  /** Mirror BGP best paths into the kernel (every --bgp node, as loxilb does). */
  kernelRoutes: boolean;
  ha?: HaOptions;
  /** The eBPF datapath (LB mode): attach filter and hooks. Absent: rules are only kept and advertised. */
  datapath?: DatapathOptions;
  /** REST API limits, the one CORS origin allowed (none by default), the token, the HTTPS listener, and how to reach the HA peer's API. */
  api?: { limits?: Partial<ApiLimits>; corsOrigin?: string; token?: string; tls?: { host: string; port: number; cert: Buffer; key: Buffer }; peer?: PeerApiAccess };
  /** BFD: the directory key files must be in (none: no authentication), and what a peer may ask for at most. */
  bfd?: { keyDir?: string; remoteLimits?: BfdRemoteLimits };
  /** Saved records that fail their checksum or validation are moved aside with a warning instead of stopping the start. */
  configQuarantine?: boolean;
  /** loxilb flags given that loxilb-ts does not act on ("--flag: what it does not do"), shown in /status. */
  flagsNotInEffect?: string[];
}

export interface HaOptions extends HaNodeOptions {
  /** --self: this node's index in the cluster. */
  self: number;
  /** Connection sync with the --cluster peers: TLS material, UDP flows too, port. */
  sync?: { tls?: SyncTls; udp?: boolean; port?: number };
}

// gobgpd retries a down session every 120 s by default; peers of an LB should come back within seconds.
export const DEFAULT_PEER_TIMERS: PeerTimers = { connectRetry: 2, holdTime: 90, keepalive: 30 };

export class Agent {
  readonly bgpOnly: boolean;
  readonly bgpEnabled: boolean;
  /** The desired state (rules, CI states, BGP config, BFD sessions); each change goes to every reconciler. */
  private readonly state: NodeState;
  /** What the rules and roles advertise, kept up to date change by change (the VipOffers reconciler). */
  private readonly vips = new VipTable();
  /** Sessions run for BGP neighbours with `bfd` set (not in bfdconfig.json), AdminDown until BGP is Established. */
  private readonly neighborBfd: NeighborBfd;
  /** Where BFD state changes go: HA peers, the upstream tracker, BGP neighbours. */
  private readonly bfdEvents: BfdEventRouter;
  /** The HA side (LB mode): election, upstream, VIP ownership, hook, drain, restored roles. */
  private haNode?: HaNode;
  private haR?: HaReconciler;
  private datapath?: Datapath;
  /** Everything that makes the state true, registered by mode; each NodeEvent reaches each of them in a declared order. */
  private readonly reconcilers = new ReconcilerRegistry();
  private readonly roleLog: RoleLog;
  private readonly offers: VipOffers;
  /** The datapath reconciler (LB mode): dirty rules into the eBPF maps, and whether each is there. */
  private dp?: DatapathReconciler;
  private bgpR?: BgpNodeReconciler;
  private connSync?: ConnSync;

  private readonly store: ConfigStore;
  /** Rule probes and the endpoint-host table (config/endpoint, config/endpointhoststate). */
  private readonly prober: EndpointHealth;
  private rest?: RestServer;
  /** gobgpd, its reconciler, kernel routes and watches (--bgp, --peer). */
  private bgp?: BgpNode;
  private stopped = false;
  /** stop() is draining. */
  private stopping = false;

  constructor(
    private readonly opts: AgentOptions,
    private readonly log: Logger,
  ) {
    this.bgpOnly = opts.peer;
    this.bgpEnabled = opts.bgp || opts.peer;
    this.store = new ConfigStore(opts.configPath, { quarantine: opts.configQuarantine, log: log.child({ part: 'config' }) });
    this.state = new NodeState({
      store: this.store,
      log,
      bfd: {
        options: opts.bfd,
        stateChange: (c) => this.bfdEvents.onChange(c.instance, c.remoteIp, c.from, c.to, c.remoteState),
        remoteStateChange: (instance, ip, to) => {
          if (instance === DEFAULT_INSTANCE) this.bfdEvents.onRemoteState(ip, to);
        },
      },
      nextPass: () => this.dp?.nextPass() ?? Promise.resolve(),
      capacity: () => ({ maxRules: this.datapath?.ruleCapacity ?? MAX_RULES, maxEntries: this.datapath?.serviceEntryCapacity ?? MAX_SERVICE_ENTRIES }),
      endpointHosts: () => this.prober.records(),
    });
    this.state.onEvent((ev) => this.reconcilers.dispatch(ev));
    this.prober = new EndpointHealth({ log: log.child({ part: 'probe' }), rules: () => this.state.rules.values(), save: (r) => this.store.saveEndpointHosts(r) });
    this.prober.on('change', guarded('endpoint liveness change', (hosts?: ReadonlySet<string>) => this.state.endpointsChanged(hosts), { log }));
    this.neighborBfd = new NeighborBfd({
      bfd: () => this.state.bfdSessions.current,
      startBfd: () => this.state.bfdSessions.start(),
      configured: (instance, ip) => this.state.bfdSessions.has(instance, ip),
      gated: this.bgpEnabled,
      started: (ip) => this.state.bfdSessions.warnUnauthenticated(ip, undefined),
      instance: DEFAULT_INSTANCE,
      logger: this.log,
    });
    this.bfdEvents = new BfdEventRouter({
      haPeer: (instance, ip, up, held) => this.haNode?.peerBfd(instance, ip, up, held),
      router: (ip, up) => this.haNode?.routerBfd(ip, up),
      isBgpNeighbor: (ip) => this.state.bgpConfig.has(ip),
      neighborsDownChanged: () => this.bgpR?.publishConfig(true),
      logger: this.log,
    });
    this.roleLog = new RoleLog(log);
    this.offers = new VipOffers({ vips: this.vips, rules: this.state.rules, prober: this.prober, programmed: (key) => this.dp?.programmer.isProgrammed(key) ?? false });
    registerNodeReconcilers(this.reconcilers, {
      roleLog: this.roleLog,
      offers: this.offers,
      probes: new ProbesReconciler(this.prober, this.state.rules),
      neighborBfd: new NeighborBfdReconciler(this.neighborBfd, this.bfdEvents),
      bfd: this.state.bfdSessions,
    });
    this.state.ciStates.restore([{ instance: DEFAULT_INSTANCE, state: 'NOT_DEFINED', vip: '0.0.0.0' }]);
  }

  async start(): Promise<void> {
    const saved = this.store.load();
    if (!this.bgpOnly) await this.startLb(saved);
    // A BGP-only node restored no rules: its table starts (and stays) empty.
    this.state.ruleTable.attach(new RuleStore(this.store, [...this.state.rules.values()], saved.journalRecords));
    this.state.bgpConfig.restore(saved.bgpGlobal, saved.bgpNeighbors);
    this.haR?.resync();
    // gobgpd first: its sessions take a second or more to come up, so they do
    // while the rules go into the datapath. Nothing is advertised before a
    // rule is programmed.
    if (this.bgpEnabled) await this.startBgp();
    // Rules into the datapath before connection sync: entries from peers are
    // only taken for services we have.
    if (this.dp) {
      for (const k of this.state.rules.keys()) this.dp.programmer.mark(k);
      await this.dp.programmer.pass();
    }
    this.datapath?.releaseAttach();
    await this.connSync?.start();
    this.log.info(
      { rules: this.state.rules.size, neighbors: this.state.bgpConfig.neighbors.size, global: Boolean(this.state.bgpConfig.global) },
      'restored saved configuration',
    );
    if (!this.bgpOnly) await this.restoreBfd(saved.bfdSessions);
    await this.neighborBfd.startAll(this.state.bgpConfig.neighbors.values());
    this.prober.sync(this.state.rules.values());
    this.vips.setCiStates(this.state.ciStates.all);
    this.offers.resync();
    this.bgpR?.node.publishRoutes();
    this.rest = new RestServer(this.api(), this.log.child({ part: 'api' }), this.opts.api);
    const rest = this.rest;
    this.reconcilers.register({ name: 'api', quiesce: () => rest.beginShutdown(), stop: () => rest.close() });
    await this.rest.listen(this.opts.host, this.opts.port);
    if (this.opts.api?.tls) await this.rest.listenTls(this.opts.api.tls.host, this.opts.api.tls.port);
    this.log.info({ host: this.opts.host, port: this.opts.port, mode: this.bgpOnly ? 'bgp-only' : 'lb' }, 'loxilb agent ready');
    this.haNode?.begin();
  }

  /** LB mode, before anything else: HA, stale VIPs released, the datapath, its reconcilers, the saved rules, roles and endpoint hosts. */
  private async startLb(saved: SavedState): Promise<void> {
    const ha = new HaNode(
      this.opts.ha,
      {
        roles: () => this.state.ciStates.all,
        changeRole: (s, reason) => this.state.ciStates.set(s, reason, false),
        resetRole: (instance) => this.vips.setCiStates(this.state.ciStates.reset(instance)),
        bfd: () => this.state.bfdSessions.current,
        isBgpNeighbor: (ip) => this.state.bgpConfig.has(ip),
        drainingChanged: () => this.bgpR?.publishConfig(true),
      },
      { port: this.opts.port, peer: this.opts.api?.peer },
      this.log,
    );
    this.haNode = ha;
    // A role BFD elects is not taken from before the restart; an API-driven saved MASTER is BACKUP until confirmed.
    const roles = ha.restoreRoles(saved.ciStates, saved.bfdSessions);
    // An in-subnet VIP a killed agent left behind stops answering ARP now, not once the datapath is up.
    // Nothing is MASTER at start (an elected role is NOT_DEFINED, an API-set MASTER BACKUP until
    // confirmed), so every saved rule's VIP may go; a MASTER takes it back with a gratuitous ARP.
    await releaseStaleVips(systemAddressDriver, saved.rules.flatMap((r) => ruleVips(r)), this.log.child({ part: 'vip' }));
    if (this.opts.datapath) {
      // Before anything but the saved state: without a datapath an LB node must not come up
      // looking healthy (no silent no-op).
      this.datapath = Datapath.open(this.opts.datapath, this.log.child({ part: 'datapath' }));
      // An adopted table comes with the dead agent's program still attached: it serves until our rules are in.
      this.datapath.start({ holdAttach: this.datapath.pin.adopted });
    }
    this.registerLb();
    this.state.ruleTable.restore(saved.rules);
    this.state.ciStates.restore(roles);
    // Red hosts stay out from the first datapath pass on.
    for (const gone of this.prober.restore(saved.endpointHosts)) this.log.warn({ hostState: gone }, 'saved endpoint host state not restored: no such endpoint host any more');
    this.startHa();
  }

  /** Saved sessions come back, and the --ka session; one that cannot (a key file gone) is logged and kept on disk. */
  private async restoreBfd(specs: BfdSessionSpec[]): Promise<void> {
    const ka = this.opts.ha?.ka;
    const kaSpec: BfdSessionSpec | undefined = ka && {
      instance: DEFAULT_INSTANCE,
      remoteIp: ka.remoteIp,
      sourceIp: ka.sourceIp,
      intervalUs: ka.intervalUs,
      multiplier: ka.multiplier,
    };
    await this.state.bfdSessions.restore(specs, kaSpec);
  }

  // ---- HA roles ----

  private startHa(): void {
    const dp = this.datapath;
    this.haNode?.start({
      // Without --cluster there is no peer table to wait for.
      sync: this.connSync ?? alwaysSynced,
      servicePackets: dp
        ? () => {
            const st = dp.stats();
            return st ? st.ctHit + st.ctNew : undefined;
          }
        : undefined,
    });
  }

  /** What a BFD session is for, as GET config/bfd/all reports it. */
  private bfdPurpose(instance: string, remoteIp: string): BfdSessionInfo['purpose'] {
    if (this.haNode?.isPeerSession(instance, remoteIp)) return 'ha-peer';
    return this.state.bgpConfig.has(remoteIp) ? 'bgp-neighbor' : 'link';
  }

  /** LB mode: the datapath, HA and sync reconcilers. */
  private registerLb(): void {
    const programmer = new RuleProgrammer({
      rules: this.state.rules,
      datapath: () => this.datapath,
      alive: (rule, ep) => this.prober.endpointState(rule, ep) !== 'inactive',
      instanceVip: (instance) => {
        const vip = this.state.ciStates.get(instance)?.vip;
        return vip && !UNSPECIFIED.has(vip) ? vip : undefined;
      },
      programmed: (key, rule) => this.haNode?.ruleProgrammed(key, rule),
      offerChanged: (key, rule) => this.vips.setOffer(key, this.offers.offerOf(key, rule)),
      passDone: (offersChanged) => {
        this.haNode?.ownershipChanged();
        if (offersChanged) this.bgpR?.node.publishRoutes();
      },
      log: this.log,
    });
    const o = this.opts.ha;
    if (this.datapath && o && o.cluster.length > 0) {
      this.connSync = new ConnSync(
        this.datapath,
        {
          self: o.self,
          peers: o.cluster,
          tls: o.sync?.tls,
          udp: o.sync?.udp,
          port: o.sync?.port,
          // A peer may fill 7/8 of our connection table: an eighth stays for our own new connections.
          maxEntriesPerPeer: peerQuota(this.datapath.ctCapacity),
          isMaster: () => this.state.ciStates.get(DEFAULT_INSTANCE)?.state === 'MASTER',
        },
        this.log.child({ part: 'sync' }),
      );
    }
    this.dp = new DatapathReconciler(programmer, this.state.rules, this.prober, this.datapath);
    if (this.haNode) this.haR = new HaReconciler(this.haNode, () => ({ list: this.state.bgpConfig.neighbors.values(), localAs: this.state.bgpConfig.global?.localAs }));
    registerLbReconcilers(this.reconcilers, {
      datapath: this.dp,
      ha: this.haR,
      sync: this.connSync && new SyncReconciler(this.connSync),
    });
  }

  private async startBgp(): Promise<void> {
    this.bgp = new BgpNode(this.opts, {
      vips: this.vips,
      peerState: (ip, established) => {
        this.haNode?.bgpState(ip, established);
        this.neighborBfd.bgpState(ip, established);
      },
      peersReset: () => {
        this.haNode?.bgpReset();
        this.neighborBfd.bgpReset();
      },
    }, this.log);
    this.bgpR = new BgpNodeReconciler(this.bgp, {
      global: () => this.state.bgpConfig.global,
      neighbors: () => [...this.state.bgpConfig.neighbors.values()],
      timers: this.opts.peerTimers,
      bfdDown: () => this.bfdEvents.neighborsDown(),
      draining: () => this.haNode?.draining ?? false,
    });
    registerBgpReconcilers(this.reconcilers, { bgp: this.bgpR });
    this.bgpR.publishConfig();
    await this.bgp.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    // A planned stop of an HA node hands over first; the API stays up meanwhile (peers read our view).
    if (this.haNode?.canDrain && !this.stopping) {
      this.stopping = true;
      await this.haNode.drain().catch((err) => this.log.error({ err: (err as Error).message }, 'drain failed; stopping anyway'));
      if (this.stopped) return;
    }
    this.stopped = true;
    // Every part quiesces first (the API answers 503 from then on, so no request changes state
    // half-way through the stop), then each stops in the declared order (Reconciler.ts).
    await this.reconcilers.stop();
    await this.state.close();
  }

  /** Synchronous cleanup for process 'exit': never leave our gobgpd behind. */
  killChildren(): void {
    this.bgp?.killNow();
  }

  /** Resolves once every reconciler (datapath, VIP ownership, BGP and kernel routes) has caught up with the current state. */
  async settled(): Promise<void> {
    await this.reconcilers.whenIdle();
  }

  /** The API by mode: the LB part or its refusing stand-in, the BGP part or its refusing stand-in. */
  private api(): NodeApi {
    const { dp, haNode: ha, datapath, bgp } = this;
    return new NodeApi({
      bgpOnly: this.bgpOnly,
      bgpEnabled: this.bgpEnabled,
      prometheus: this.opts.prometheus ?? false,
      flagsNotInEffect: this.opts.flagsNotInEffect,
      lb: dp ? new LbApiPart({ state: this.state, prober: this.prober, dp, datapath, ha, stopping: () => this.stopping }) : bgpOnlyLbApi,
      bgp: bgp ? new BgpApiPart(this.state, bgp.client, this.log) : disabledBgpApi,
      state: this.state,
      prober: this.prober,
      roleChanges: this.roleLog.counts,
      dp,
      datapath,
      bgpNode: bgp,
      ha,
      connSync: this.connSync,
      rest: () => this.rest,
      stopped: () => this.stopped,
      bfdPurpose: (instance, remoteIp) => this.bfdPurpose(instance, remoteIp),
      log: this.log,
    });
  }
}
