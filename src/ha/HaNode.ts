// This node's part in HA, wired together: the election (HaManager) and its
// inputs (the upstream tracker, service activity, the HA peers' BFD sessions
// and REST views), and what follows a role that only HA cares about (L2 VIP
// ownership with gratuitous ARP, the role hook, holding the HA sessions
// AdminDown), plus the drain and the restore of saved MASTERs. The CI states
// themselves stay with the agent's desired state: this reads them and asks
// for changes through its host.
import type { CiState, CiStateName } from './ClusterState.ts';
import { HaManager, HA_DEFAULT_INIT_WAIT_MS, HA_DEFAULT_PRIORITY, type HaDecision, type HaHost, type PeerRoleView, type SyncGate } from './HaManager.ts';
import { UpstreamTracker } from './UpstreamTracker.ts';
import { DRAIN_DEFAULT_TIMEOUT_MS, Drainer } from './Drain.ts';
import type { KaSpec } from './KaSpec.ts';
import { RoleRestore } from './RoleRestore.ts';
import { ServiceActivity } from './ServiceActivity.ts';
import { fetchPeerView, localAddressTowards, type PeerApiAccess } from './peerView.ts';
import { RoleHook } from './RoleHook.ts';
import { VipOwner, systemAddressDriver, type Announcer } from './VipOwner.ts';
import { ProgrammedVips } from './ProgrammedVips.ts';
import type { BfdManager } from '../bfd/BfdManager.ts';
import { announceAddress } from '../net/gratuitous.ts';
import { DEFAULT_INSTANCE, type LbRule } from '../lb/LbRule.ts';
import { systemClock, unrefTimer, type Clock } from '../util/clock.ts';
import { ForbiddenError } from '../util/errors.ts';
import { guarded } from '../util/faults.ts';
import type { Logger } from '../util/logger.ts';

export interface HaNodeOptions {
  /** --ka: the BFD session with the HA peer that drives llb-inst0. */
  ka?: KaSpec;
  /** --cluster: peers whose connection tables this node syncs. */
  cluster: string[];
  priority: number;
  preempt: boolean;
  /** Command run as `<hook> <instance> <state> <vip>` on each role change. */
  hook?: string;
  /** How long an HA instance waits for its peers before it decides alone. */
  initWaitMs?: number;
  /** Sends gratuitous ARP / unsolicited NA for a VIP taken over (L2). */
  announce?: Announcer;
  /** --drain-timeout: how long a SIGTERM waits for the peer to take over and the traffic to move (0: no drain). */
  drainTimeoutMs?: number;
  /** Time for the election, its inputs and the gratuitous ARP repeats (default: systemClock). */
  clock?: Clock;
}

export interface HaNodeHost {
  /** The CI states as they are now. */
  roles(): ReadonlyMap<string, CiState>;
  /** A role change decided here (election, restored MASTER): applied, and saved after. */
  changeRole(s: CiState, reason: string): void;
  /** The instance is BFD-elected from now on: NOT_DEFINED (holds no VIP) until the election, not saved, no hook. */
  resetRole(instance: string): void;
  bfd(): BfdManager | undefined;
  isBgpNeighbor(ip: string): boolean;
  /** The drain began or ended: BGP must say so now. */
  drainingChanged(): void;
}

/** A BFD session is one per instance and peer, as in loxilb. */
export function bfdKey(instance: string, remoteIp: string): string {
  return `${instance}|${remoteIp}`;
}

export class HaNode implements HaHost {
  private ha?: HaManager;
  /** With --ka / --cluster: the routers and VIP links that make this node eligible for MASTER. */
  private upstream?: UpstreamTracker;
  /** Why the HA sessions are held AdminDown (upstream lost as MASTER, draining); released when empty. */
  private readonly holdReasons = new Set<'upstream' | 'drain'>();
  private drainer?: Drainer;
  /** Saved MASTERs of API-driven instances, BACKUP until confirmed. */
  private readonly roleRestore: RoleRestore;
  /** With a datapath: whether service traffic reaches this node (the election's tie-break for two MASTERs). */
  private activity?: ServiceActivity;
  private vipOwner?: VipOwner;
  private hook?: RoleHook;
  /** BFD sessions with HA peers (key bfdKey), as opposed to BGP neighbours and links. */
  private readonly sessions = new Map<string, { instance: string; remoteIp: string }>();
  readonly vips: ProgrammedVips;
  private readonly clock: Clock;

  constructor(
    private readonly o: HaNodeOptions | undefined,
    private readonly host: HaNodeHost,
    private readonly api: { port: number; peer?: PeerApiAccess },
    private readonly log: Logger,
  ) {
    this.clock = o?.clock ?? systemClock;
    this.vips = new ProgrammedVips(() => this.vipOwner, () => host.roles());
    // An API-driven saved MASTER is BACKUP until confirmed (see RoleRestore).
    this.roleRestore = new RoleRestore(
      {
        elected: (instance) => this.ha?.has(instance) ?? false,
        readPeers: (instance) => this.readPeers(instance),
        resume: (instance, reason) => {
          const cur = host.roles().get(instance);
          if (!cur || cur.state !== 'BACKUP') return;
          if (this.drainer?.draining) return this.log.info({ instance }, 'saved MASTER not resumed: the node is draining');
          host.changeRole({ ...cur, state: 'MASTER' }, reason);
        },
      },
      { waitMs: o?.initWaitMs ?? HA_DEFAULT_INIT_WAIT_MS, clock: this.clock, logger: log },
    );
  }

  /** The saved roles as this start takes them: one BFD elects starts NOT_DEFINED, an API-driven MASTER waits (see RoleRestore). */
  restoreRoles(saved: readonly CiState[], savedBfdPeers: readonly { instance: string; remoteIp: string }[]): CiState[] {
    const elected = new Set(savedBfdPeers.filter((b) => this.isPeerAddress(b.remoteIp)).map((b) => b.instance));
    if (this.o?.ka) elected.add(DEFAULT_INSTANCE);
    return this.roleRestore.restore(saved, elected);
  }

  /** Builds the election and its parts; `servicePackets` (with a datapath): service packets seen so far. */
  start(parts: { sync: SyncGate; servicePackets?: () => number | undefined }): void {
    const o = this.o;
    const peered = Boolean(o?.ka) || (o?.cluster.length ?? 0) > 0;
    if (parts.servicePackets && peered) this.activity = new ServiceActivity(parts.servicePackets, this.clock);
    if (peered) {
      this.upstream = new UpstreamTracker({
        interfaces: () => this.vips.trackedLinks(),
        bfdSilence: (ip) => this.host.bfd()?.silenceInIntervals(DEFAULT_INSTANCE, ip),
        clock: this.clock,
        logger: this.log.child({ part: 'upstream' }),
      });
    }
    this.ha = new HaManager({
      host: this,
      priority: o?.priority ?? HA_DEFAULT_PRIORITY,
      preempt: o?.preempt ?? false,
      sync: parts.sync,
      upstream: this.upstream,
      serving: this.activity ? () => this.activity!.serving() : undefined,
      initWaitMs: o?.initWaitMs,
      fetchPeerView: (remoteIp, instance) => this.peerView(remoteIp, instance),
      clock: this.clock,
      logger: this.log.child({ part: 'ha' }),
    });
    const drainMs = o?.drainTimeoutMs ?? DRAIN_DEFAULT_TIMEOUT_MS;
    if (this.upstream && drainMs > 0) {
      this.drainer = new Drainer(
        {
          setDraining: (on) => {
            this.ha?.setDraining(on);
            this.setHold('drain', on);
            this.host.drainingChanged();
          },
          readPeers: () => this.readPeers(),
          servicePackets: () => parts.servicePackets?.() ?? 0,
        },
        { timeoutMs: drainMs, logger: this.log.child({ part: 'drain' }) },
      );
    }
    this.vipOwner = new VipOwner(
      systemAddressDriver,
      o?.announce ?? gratuitousAnnouncer(this.clock),
      this.log.child({ part: 'vip' }),
      () => this.vips.ownership(),
      () => this.vips.resortLocal(),
    );
    if (o?.hook) this.hook = new RoleHook(o.hook, this.log.child({ part: 'hook' }));
  }

  /** The API listens: saved MASTERs start their wait. */
  begin(): void {
    this.roleRestore.begin();
  }

  /**
   * The nodes that take part in the HA election: the --ka peer and the
   * --cluster peers, and nobody else. A BFD session with any other address
   * (a router, a node POSTed through config/bfd) only tracks that link: a
   * router cannot be asked for its role, and counting it as a peer made the
   * election depend on its address and on the order of the POSTs.
   */
  isPeerAddress(ip: string): boolean {
    return this.o?.ka?.remoteIp === ip || (this.o?.cluster ?? []).includes(ip);
  }

  isPeerSession(instance: string, remoteIp: string): boolean {
    return this.sessions.has(bfdKey(instance, remoteIp));
  }

  /** A session with an --ka / --cluster peer is an HA peer: its state drives the instance's role. */
  async registerPeer(spec: { instance: string; remoteIp: string; sourceIp?: string }): Promise<void> {
    if (!this.ha) return;
    if (!this.isPeerAddress(spec.remoteIp)) {
      if (!this.host.isBgpNeighbor(spec.remoteIp)) {
        this.log.info(
          { remoteIp: spec.remoteIp, instance: spec.instance },
          'BFD session with a node that is not an HA peer (--ka, --cluster): it tracks the link and takes no part in the election',
        );
      }
      return;
    }
    this.sessions.set(bfdKey(spec.instance, spec.remoteIp), { instance: spec.instance, remoteIp: spec.remoteIp });
    // The instance's role from before (a restart, the API) means nothing now:
    // BFD elects it. Until then it is NOT_DEFINED, which holds no VIP.
    const cur = this.host.roles().get(spec.instance);
    if (!this.ha.has(spec.instance) && cur?.state !== 'NOT_DEFINED') {
      this.host.resetRole(spec.instance);
      this.vipOwner?.changed(true);
    }
    const local = spec.sourceIp ?? (await localAddressTowards(spec.remoteIp).catch(() => undefined));
    this.ha.addPeer(spec.instance, spec.remoteIp, local);
    if (!local) this.log.warn({ remoteIp: spec.remoteIp }, 'no local address towards the HA peer; set sourceIp');
  }

  unregisterPeer(instance: string, remoteIp: string): void {
    if (this.sessions.delete(bfdKey(instance, remoteIp))) this.ha?.removePeer(instance, remoteIp);
  }

  /** A BFD session changed; only an HA peer's drives the election. */
  peerBfd(instance: string, remoteIp: string, up: boolean, held: boolean): void {
    if (this.sessions.has(bfdKey(instance, remoteIp))) this.ha?.bfdState(instance, remoteIp, up, { held });
  }

  /** A BGP neighbour's BFD, for the upstream tracker. */
  routerBfd(remoteIp: string, up: boolean): void {
    this.upstream?.bfdState(remoteIp, up);
  }

  /** A BGP session's state from gobgpd's peer watch, for the upstream tracker. */
  bgpState(remoteIp: string, established: boolean): void {
    this.upstream?.bgpState(remoteIp, established);
  }

  /** gobgpd or its peer watch went away: no BGP session state is known. */
  bgpReset(): void {
    this.upstream?.bgpReset();
  }

  /**
   * The upstream's routers: BGP neighbours that are not HA peers, and of
   * those the eBGP ones when there are any. An iBGP mesh with the endpoints
   * or the cluster's nodes (kube-loxilb --setBGP) brings no client traffic:
   * a node that lost its routers but kept its mesh is still cut off.
   */
  trackNeighbors(neighbors: Iterable<{ ipAddress: string; remoteAs: number }>, localAs: number | undefined): void {
    const candidates = [...neighbors].filter((n) => !this.isPeerAddress(n.ipAddress));
    const ebgp = localAs === undefined ? [] : candidates.filter((n) => n.remoteAs !== localAs);
    this.upstream?.setNeighbors((ebgp.length > 0 ? ebgp : candidates).map((n) => n.ipAddress));
  }

  // ---- HaHost ----

  roleOf(instance: string): CiStateName {
    return this.host.roles().get(instance)?.state ?? 'NOT_DEFINED';
  }

  applyRole(instance: string, role: HaDecision, reason: string): void {
    const cur = this.host.roles().get(instance);
    // An election result is applied even if it cannot be saved (disk full, no
    // descriptor left): serving the role matters more, and a restarted node
    // elects again anyway.
    this.host.changeRole({ instance, state: role, vip: cur?.vip ?? '0.0.0.0' }, reason);
  }

  holdPeerSessions(hold: boolean): void {
    this.setHold('upstream', hold);
  }

  reannounce(): void {
    this.vipOwner?.reannounce();
  }

  // ---- what follows a role ----

  /** A role changed (from `cur`): VIP ownership now, and the hook when the state itself changed. */
  roleChanged(cur: CiState | undefined, s: CiState): void {
    if (cur?.vip !== s.vip) this.vips.rolesChanged();
    this.vipOwner?.changed(true);
    if (!cur || cur.state !== s.state) this.hook?.run(s.instance, s.state, s.vip);
  }

  /** The datapath carries `rule` under `key` now (undefined: nothing); ownershipChanged() follows a pass. */
  ruleProgrammed(key: string, rule: LbRule | undefined): void {
    this.vips.set(key, rule);
  }

  ownershipChanged(): void {
    this.vipOwner?.changed();
  }

  settleRole(instance: string): void {
    this.roleRestore.settle(instance);
  }

  whenIdle(): Promise<void> {
    return this.vipOwner?.whenIdle() ?? Promise.resolve();
  }

  // ---- drain ----

  get draining(): boolean {
    return this.drainer?.draining ?? false;
  }

  get canDrain(): boolean {
    return this.drainer !== undefined;
  }

  /** The drainer's state; undefined: this node cannot drain. */
  drainerState(): ReturnType<Drainer['state']> | undefined {
    return this.drainer?.state();
  }

  async drain(timeoutMs?: number): Promise<void> {
    if (!this.drainer) {
      throw new ForbiddenError(this.upstream ? 'drain is off (--drain-timeout=0)' : 'drain needs an HA peer to hand over to (--ka or --cluster)');
    }
    await this.drainer.drain(timeoutMs);
  }

  undrain(): void {
    this.drainer?.undrain();
  }

  /** What GET config/cistate/all adds to each state (api/stateViews ciStateList). */
  ciStateSources() {
    const upstream = this.upstream;
    const activity = this.activity;
    return {
      priority: this.ha?.priority ?? HA_DEFAULT_PRIORITY,
      info: (instance: string) => this.ha?.info(instance),
      draining: this.draining,
      restoring: (instance: string) => (this.roleRestore.waiting(instance) ? { remainingMs: this.roleRestore.remainingMs(instance) } : undefined),
      ...(upstream ? { upstream: () => upstream.items() } : {}),
      ...(activity ? { serving: () => activity.serving() } : {}),
    };
  }

  // ---- stop ----

  /** First in a stop: no more timers deciding roles. */
  stopTimers(): void {
    this.roleRestore.stop();
    this.activity?.close();
    this.upstream?.close();
  }

  /** Late in a stop: the election ends, the VIPs go back so the peer's announcement wins at once, the hook finishes. */
  async close(): Promise<void> {
    this.ha?.close();
    await this.vipOwner?.close();
    await this.hook?.idle();
  }

  private setHold(reason: 'upstream' | 'drain', hold: boolean): void {
    const before = this.holdReasons.size > 0;
    if (hold) this.holdReasons.add(reason);
    else this.holdReasons.delete(reason);
    hold = this.holdReasons.size > 0;
    if (hold === before) return;
    for (const spec of this.sessions.values()) {
      try {
        this.host.bfd()?.updateSession(spec.instance, spec.remoteIp, { adminDown: hold });
        this.log.info({ peer: spec.remoteIp, instance: spec.instance, adminDown: hold, reason }, hold ? 'HA session held AdminDown so the peer takes over now' : 'HA session released');
      } catch (err) {
        this.log.warn({ peer: spec.remoteIp, err: (err as Error).message }, 'cannot change the HA session\'s AdminDown state');
      }
    }
  }

  /** A peer's view of an instance over its REST API (the election's and the drain's one way to ask). */
  private peerView(remoteIp: string, instance: string): Promise<PeerRoleView | undefined> {
    return fetchPeerView(remoteIp, this.api.port, instance, undefined, this.api.peer);
  }

  /** Every HA peer's view of an instance, read now (the drain asks whether one took over; a restored MASTER whether one is). */
  private async readPeers(instance = DEFAULT_INSTANCE): Promise<{ remoteIp: string; view?: PeerRoleView }[]> {
    const o = this.o;
    const peers = [...new Set([...(o?.ka ? [o.ka.remoteIp] : []), ...(o?.cluster ?? [])])];
    return Promise.all(peers.map(async (remoteIp) => ({ remoteIp, view: await this.peerView(remoteIp, instance).catch(() => undefined) })));
  }
}

/**
 * Gratuitous ARP / unsolicited NA for a VIP taken over: one frame now (the
 * takeover waits for it), two more 100 ms apart in the background in case
 * one is lost. The background repeat starts 100 ms later on `clock`.
 */
export function gratuitousAnnouncer(clock: Clock, send: typeof announceAddress = announceAddress): Announcer {
  return async (ifname, address) => {
    await send(ifname, address);
    // Best effort: the first frame already went; a failed repeat is not a fault.
    unrefTimer(clock.setTimer(guarded('gratuitous ARP repeat', () => send(ifname, address, { count: 2, intervalMs: 100 }).catch(() => undefined)), 100));
  };
}
