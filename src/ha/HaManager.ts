// BFD-driven HA roles (`--ka`, config/bfd sessions with a cluster peer).
// Over 400 lines: one election loop per instance (session events, peer-view polls,
// doubt rechecks, decisions) over shared private state; election.ts already holds the pure rule.
//
// Per instance, the manager tracks the HA peers (BFD sessions of that
// instance whose remote is another LB node, not a BGP router), whether each
// session is Up, and each live peer's view (its role and priority, read from
// its own REST API), then applies the rule of election.ts:
// - a session going Down is acted on at once, with no I/O: if no live peer
//   is left, this node becomes MASTER within the BFD detection time;
// - a session coming Up first reads that peer's view, then decides, so a
//   returning node sees the survivor is MASTER and becomes BACKUP;
// - while sessions are Up, peers' views are re-read every pollMs, which
//   settles a preemption or any disagreement; two MASTERs decide again on
//   every read, by rank alone once they have disagreed for
//   HA_DUAL_RANK_AFTER_MS;
// - an instance whose peers never come Up becomes MASTER after initWaitMs.
//
// - a node that has lost its upstream (UpstreamTracker: every router and VIP
//   link it tracks is down) is FAULT: it holds no VIP, advertises nothing,
//   and peers leave it out of their election. A MASTER that goes FAULT holds
//   its HA sessions AdminDown, so its peers see it gone at once instead of at
//   their next read of its view. When the upstream is back, an instance whose
//   peers are all down is BACKUP and waits for them (initWaitMs) as at start,
//   so a node that was cut off comes back as BACKUP of whoever served
//   meanwhile, never as a second MASTER that could win the heal. Peers that
//   all hold their sessions (FAULT, draining) are not waited for, except by
//   a lower rank for HA_RETURN_WAIT_MS: they may be leaving FAULT too; the
//   same wait holds a promotion over a higher-ranked peer whose view reads
//   FAULT. A new MASTER reads its peers again after HA_CONFIRM_MS. Nor does it leave FAULT
//   while one of its routers' sessions is still coming back (BFD Up, BGP
//   not Established: UpstreamGate.returning): the routes that session
//   carries are not at the router, which would use the peer instead.
//
// The manager only decides; the host (the agent) applies a role: cistate,
// BGP attributes, VIP ownership, the hook.
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { compareRank, electRole, type HaPeerView, type HaRole } from './election.ts';
import type { CiStateName } from './ClusterState.ts';
import { alwaysHealthy, type UpstreamGate } from './UpstreamTracker.ts';

/** What the manager decides for an instance. */
export type HaDecision = HaRole | 'FAULT';

export const HA_DEFAULT_PRIORITY = 100;
export const HA_DEFAULT_INIT_WAIT_MS = 5000;
export const HA_DEFAULT_POLL_MS = 1000;
/** After this many failed reads of an Up peer's view, assume it has our priority and no role. */
export const HA_VIEW_ATTEMPTS = 3;
/** How often a promotion held in doubt is re-checked, and how long at most it is held. */
export const HA_DOUBT_RECHECK_MS = 10;
export const HA_DOUBT_MAX_MS = 1000;
/**
 * Two MASTERs that still disagree after this long decide by rank alone: who
 * carries the traffic is read on both sides at different moments, and a
 * stale read must not keep both MASTER.
 */
export const HA_DUAL_RANK_AFTER_MS = 3000;
/** How soon after taking MASTER with peers Up their views are read again. */
export const HA_CONFIRM_MS = 100;
/**
 * Two nodes that leave FAULT together (the router dropped both) each still
 * see the other as FAULT: its session held down, or its view read FAULT. Both
 * took MASTER. So a node about to take MASTER while a peer that outranks it
 * looks FAULT waits this long for that peer to show it is back (a released
 * hold is sent at once; its view is read again). The higher rank does not
 * wait, so one of the two is MASTER at once.
 */
export const HA_RETURN_WAIT_MS = 300;

/** What a peer says about itself for one instance (its cistate entry). */
export interface PeerRoleView {
  state: CiStateName;
  priority: number;
  /** Its connection-table sync is complete; a peer that does not say counts as synced. */
  synced: boolean;
  /** It is draining (leaving): no candidate for MASTER. */
  draining?: boolean;
  /** It carries service traffic now (absent when it does not say). */
  serving?: boolean;
}

export interface HaHost {
  /** The instance's current state. */
  roleOf(instance: string): CiStateName;
  /** Makes `role` true for the instance (cistate, BGP, VIPs, hook). */
  applyRole(instance: string, role: HaDecision, reason: string): void;
  /** Holds every HA peer session AdminDown (true) or releases them (false). */
  holdPeerSessions?(hold: boolean): void;
  /** Called when this node stays MASTER as a peer comes back (heal): announce the VIPs again. */
  reannounce?(instance: string): void;
}

/** The connection-table sync gate of --cluster. */
export interface SyncGate {
  synced(): boolean;
  /** Called whenever synced() may have changed. */
  onChange(cb: () => void): void;
}

export const alwaysSynced: SyncGate = { synced: () => true, onChange: () => undefined };

export interface HaManagerOptions {
  host: HaHost;
  /** Reads a peer's view of an instance over its REST API; rejects if unreachable. */
  fetchPeerView(remoteIp: string, instance: string): Promise<PeerRoleView | undefined>;
  priority?: number;
  preempt?: boolean;
  sync?: SyncGate;
  /** Without it the node is always eligible. */
  upstream?: UpstreamGate;
  /** This node carries service traffic now: which of two MASTERs the routers use (absent: the rank decides). */
  serving?: () => boolean;
  initWaitMs?: number;
  pollMs?: number;
  clock?: Clock;
  logger?: Logger;
}

interface PeerEntry {
  remoteIp: string;
  /** Our address towards this peer (the tie-break), once known. */
  localAddress?: string;
  up: boolean;
  /** Down because the peer holds the session AdminDown: alive, but FAULT or draining. */
  held: boolean;
  view?: PeerRoleView;
  /** Its priority as last read (its rank while its session is down). */
  lastPriority?: number;
  failedReads: number;
  reading: boolean;
  /** Bumped on every Up/Down so a read that straddles a change is dropped. */
  epoch: number;
}

interface InstanceEntry {
  peers: Map<string, PeerEntry>;
  /** A promotion held while the upstream is in doubt: since when, and the re-check. */
  doubt?: { since: number; timer?: TimerHandle };
  initTimer?: TimerHandle;
  /** The initial wait has passed or some peer has been Up. */
  started: boolean;
  /** Kept FAULT while a router's BGP session comes back (UpstreamGate.returning). */
  heldForReturn?: boolean;
  /** A promotion held while a live peer that outranks us reads FAULT (it may be leaving FAULT too). */
  faultWait?: { since: number; timer?: TimerHandle };
  /** Since when this node and a live peer have both been MASTER (clock ms). */
  dualSince?: number;
  lastDecision?: { role: HaDecision; reason: string };
}

export interface HaPeerInfo {
  remoteIp: string;
  bfdUp: boolean;
  /** The peer's state as last read; undefined while unknown. */
  state?: CiStateName;
  priority?: number;
}

export interface HaInstanceInfo {
  priority: number;
  preempt: boolean;
  synced: boolean;
  /** Some tracked upstream is up (or nothing is tracked). */
  eligible: boolean;
  peers: HaPeerInfo[];
  lastReason?: string;
}

export class HaManager {
  readonly priority: number;
  readonly preempt: boolean;
  private readonly instances = new Map<string, InstanceEntry>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly sync: SyncGate;
  private readonly upstream: UpstreamGate;
  /** The HA sessions are held AdminDown because this node went FAULT as MASTER. */
  private holding = false;
  /** Draining (SIGTERM, POST config/drain): BACKUP at most, whatever the election says. */
  private draining = false;
  private readonly initWaitMs: number;
  private readonly pollMs: number;
  private pollTimer?: TimerHandle;
  private closed = false;

  constructor(private readonly opts: HaManagerOptions) {
    this.priority = opts.priority ?? HA_DEFAULT_PRIORITY;
    this.preempt = opts.preempt ?? false;
    this.sync = opts.sync ?? alwaysSynced;
    this.upstream = opts.upstream ?? alwaysHealthy;
    this.initWaitMs = opts.initWaitMs ?? HA_DEFAULT_INIT_WAIT_MS;
    this.pollMs = opts.pollMs ?? HA_DEFAULT_POLL_MS;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.sync.onChange(() => {
      for (const name of this.instances.keys()) this.evaluate(name, 'connection sync changed');
    });
    this.upstream.onChange((healthy) => (healthy ? this.upstreamBack() : this.upstreamLost()));
    // A preemption held back until the routers had our routes, or a FAULT
    // held until a returning session is back, may go ahead now.
    this.upstream.onReadyChange?.(() => {
      for (const [name, inst] of this.instances) {
        if (inst.heldForReturn && !this.upstream.returning?.()) {
          // The views read while it was held may be old (a peer took MASTER meanwhile): read them again first.
          inst.heldForReturn = false;
          if (this.refreshViews(name, inst)) continue;
          if (!inst.started) this.leaveFault(name, 'the returning BGP sessions are back');
          this.evaluate(name, 'the returning BGP sessions are back');
        } else if (this.preempt) this.evaluate(name, 'routers have our routes');
      }
    });
  }

  /**
   * Draining: this node steps down to BACKUP (a FAULT stays FAULT) and is no
   * candidate until undrained; its peers, reading its view, leave it out.
   */
  setDraining(on: boolean): void {
    if (this.draining === on || this.closed) return;
    this.draining = on;
    for (const [name, inst] of this.instances) {
      if (on) this.evaluate(name, 'draining');
      else this.rejoin(name, inst, 'drain ended');
    }
  }

  /**
   * Back in the election (upstream returned, drain ended): decide on fresh
   * views, since a peer may have taken over meanwhile; with no peer up (the
   * sessions still coming back from a hold) wait for them as at start,
   * rather than become MASTER alone and then meet the node that served.
   */
  private rejoin(name: string, inst: InstanceEntry, why: string): void {
    if (this.refreshViews(name, inst)) return;
    this.leaveFault(name, why);
    this.waitForPeers(name, inst, why);
  }

  /**
   * Eligible again while waiting for the peers: BACKUP, as at start, not
   * FAULT. A peer that reads FAULT leaves this node out, so two nodes back
   * from FAULT together, each reading the other, both took MASTER.
   */
  private leaveFault(name: string, why: string): void {
    if (this.opts.host.roleOf(name) !== 'FAULT' || !this.upstream.healthy() || this.upstream.returning?.()) return;
    this.log.info({ instance: name, reason: why }, 'HA election: BACKUP (eligible again), waiting for the HA peers');
    this.opts.host.applyRole(name, 'BACKUP', `${why}; waiting for the HA peers`);
  }

  /** Re-reads every live peer's view; the reads decide. False when no peer is up. */
  private refreshViews(name: string, inst: InstanceEntry): boolean {
    const live = [...inst.peers.values()].filter((p) => p.up);
    for (const p of live) this.readAfresh(name, p);
    return live.length > 0;
  }

  /** Forgets a peer's view (a read already out is dropped) and reads it again; the read decides. */
  private readAfresh(instance: string, p: PeerEntry): void {
    this.forgetView(p);
    this.readView(instance, p);
  }

  private forgetView(p: PeerEntry): void {
    p.epoch++;
    p.view = undefined;
    p.failedReads = 0;
  }

  /**
   * Our rank against a peer's (by default its priority as last read, ours
   * when never read): positive when we outrank it. `self` is our address
   * towards it; undefined while unknown.
   */
  private rankAgainst(p: PeerEntry, priority = p.lastPriority ?? this.priority, self = p.localAddress): number | undefined {
    if (self === undefined) return undefined;
    return compareRank({ priority: this.priority, address: self }, { priority, address: p.remoteIp });
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Up peers' last read views, freshest first (the drain reads whether one took over). */
  peerViews(instance: string): { remoteIp: string; up: boolean; view?: PeerRoleView }[] {
    const inst = this.instances.get(instance);
    return inst ? [...inst.peers.values()].map((p) => ({ remoteIp: p.remoteIp, up: p.up, view: p.view })) : [];
  }

  private upstreamLost(): void {
    if (this.closed) return;
    const wasMaster = [...this.instances.keys()].some((name) => this.opts.host.roleOf(name) === 'MASTER');
    for (const name of this.instances.keys()) this.evaluate(name, 'upstream lost');
    // Peers would otherwise learn it at their next read of our view; AdminDown tells them now.
    if (wasMaster && !this.holding && this.opts.host.holdPeerSessions) {
      this.holding = true;
      this.opts.host.holdPeerSessions(true);
    }
  }

  private upstreamBack(): void {
    if (this.closed) return;
    if (this.holding) {
      this.holding = false;
      this.opts.host.holdPeerSessions?.(false);
    }
    for (const [name, inst] of this.instances) this.rejoin(name, inst, 'upstream back');
  }

  private allPeersHeld(inst: InstanceEntry): boolean {
    return inst.peers.size > 0 && [...inst.peers.values()].every((p) => p.held);
  }

  private startNow(instance: string, inst: InstanceEntry, why: string): void {
    if (inst.initTimer !== undefined) this.clock.clearTimer(inst.initTimer);
    inst.initTimer = undefined;
    inst.started = true;
    this.evaluate(instance, why);
  }

  /** This node outranks every peer, by the priorities last read (ours when never read). */
  private outranksPeers(inst: InstanceEntry): boolean {
    return [...inst.peers.values()].every((p) => (this.rankAgainst(p) ?? 0) > 0);
  }

  private waitForPeers(instance: string, inst: InstanceEntry, why: string): void {
    let held = this.allPeersHeld(inst);
    if (held && this.outranksPeers(inst)) {
      this.startNow(instance, inst, `${why}; every HA peer holds its session down (FAULT or draining)`);
      return;
    }
    inst.started = false;
    if (inst.initTimer !== undefined) this.clock.clearTimer(inst.initTimer);
    const armed = this.clock.now();
    const expire = (): void => {
      inst.initTimer = undefined;
      if (inst.started) return;
      const waited = this.clock.now() - armed;
      if (held && !this.allPeersHeld(inst) && waited < this.initWaitMs) {
        // A peer released its hold meanwhile (it is back too): wait for it as for any peer.
        held = false;
        inst.initTimer = this.clock.setTimer(expire, this.initWaitMs - waited);
        return;
      }
      inst.started = true;
      const none = held ? `every HA peer holds its session down (FAULT or draining), none back within ${HA_RETURN_WAIT_MS} ms` : `no HA peer came up within ${this.initWaitMs} ms`;
      this.evaluate(instance, `${why}; ${none}`);
    };
    inst.initTimer = this.clock.setTimer(expire, held ? HA_RETURN_WAIT_MS : this.initWaitMs);
  }

  /** Instances whose role BFD drives. */
  instanceNames(): string[] {
    return [...this.instances.keys()];
  }

  has(instance: string): boolean {
    return this.instances.has(instance);
  }

  /** Registers an HA peer (its BFD session exists, state Down until told otherwise). */
  addPeer(instance: string, remoteIp: string, localAddress?: string): void {
    if (this.closed) return;
    let inst = this.instances.get(instance);
    if (!inst) {
      inst = { peers: new Map(), started: false };
      this.instances.set(instance, inst);
      this.waitForPeers(instance, inst, 'start');
    }
    const cur = inst.peers.get(remoteIp);
    if (cur) {
      cur.localAddress = localAddress ?? cur.localAddress;
      return;
    }
    inst.peers.set(remoteIp, { remoteIp, localAddress, up: false, held: false, failedReads: 0, reading: false, epoch: 0 });
    this.ensurePoll();
  }

  setLocalAddress(instance: string, remoteIp: string, localAddress: string): void {
    const p = this.instances.get(instance)?.peers.get(remoteIp);
    if (p) p.localAddress = localAddress;
  }

  /** The peer's session is gone; the instance stops being BFD-driven when it was the last. */
  removePeer(instance: string, remoteIp: string): void {
    const inst = this.instances.get(instance);
    if (!inst?.peers.delete(remoteIp)) return;
    if (inst.peers.size === 0) {
      if (inst.initTimer !== undefined) this.clock.clearTimer(inst.initTimer);
      this.instances.delete(instance);
      return;
    }
    this.evaluate(instance, `HA peer ${remoteIp} removed`);
  }

  /**
   * BFD told us the session with a peer is Up (true) or not (false);
   * `held`: not Up because the peer holds it AdminDown (it is FAULT or
   * draining), so there is nobody to wait for.
   */
  bfdState(instance: string, remoteIp: string, up: boolean, opts: { held?: boolean } = {}): void {
    const inst = this.instances.get(instance);
    const p = inst?.peers.get(remoteIp);
    if (!inst || !p) return;
    p.held = !up && Boolean(opts.held);
    if (!up && p.held && !inst.started && this.allPeersHeld(inst)) {
      // Waiting (start, a return from FAULT, an undrain) for peers that all
      // declined: no longer, except the lower rank's short wait for a release.
      this.waitForPeers(instance, inst, 'the HA peers hold their sessions');
    }
    if (p.up === up) return;
    p.up = up;
    this.forgetView(p);
    if (up) {
      inst.started = true;
      if (inst.initTimer !== undefined) this.clock.clearTimer(inst.initTimer);
      inst.initTimer = undefined;
      this.readView(instance, p);
    } else {
      // Acting now, with nothing to wait for, is what makes failover as fast as detection.
      this.evaluate(instance, `BFD with ${remoteIp} went down`);
    }
  }

  info(instance: string): HaInstanceInfo | undefined {
    const inst = this.instances.get(instance);
    if (!inst) return undefined;
    return {
      priority: this.priority,
      preempt: this.preempt,
      synced: this.sync.synced(),
      eligible: this.upstream.healthy(),
      peers: [...inst.peers.values()].map((p) => ({ remoteIp: p.remoteIp, bfdUp: p.up, state: p.view?.state, priority: p.view?.priority })),
      lastReason: inst.lastDecision?.reason,
    };
  }

  close(): void {
    this.closed = true;
    if (this.pollTimer !== undefined) this.clock.clearTimer(this.pollTimer);
    this.pollTimer = undefined;
    for (const inst of this.instances.values()) {
      if (inst.initTimer !== undefined) this.clock.clearTimer(inst.initTimer);
      this.clearDoubt(inst);
    }
    this.instances.clear();
  }

  private ensurePoll(): void {
    if (this.pollTimer !== undefined || this.closed) return;
    this.pollTimer = this.clock.setTimer(() => {
      this.pollTimer = undefined;
      for (const [name, inst] of this.instances) for (const p of inst.peers.values()) if (p.up) this.readView(name, p);
      if (this.instances.size > 0) this.ensurePoll();
    }, this.pollMs);
  }

  private readView(instance: string, p: PeerEntry): void {
    if (p.reading || this.closed) return;
    p.reading = true;
    const epoch = p.epoch;
    this.opts.fetchPeerView(p.remoteIp, instance).then(
      (view) => {
        p.reading = false;
        if (p.epoch !== epoch) {
          // Asked again while this read was out: read afresh.
          if (p.up && !p.view) this.readView(instance, p);
          return;
        }
        if (!p.up) return;
        p.failedReads = 0;
        // A peer without that instance has no role in it yet.
        const next = view ?? { state: 'NOT_DEFINED' as CiStateName, priority: this.priority, synced: true };
        const first = !p.view;
        const changed =
          first || p.view!.state !== next.state || p.view!.priority !== next.priority || p.view!.synced !== next.synced || Boolean(p.view!.draining) !== Boolean(next.draining);
        p.view = next;
        p.lastPriority = next.priority;
        if (changed) this.evaluate(instance, `HA peer ${p.remoteIp} is ${next.state} (priority ${next.priority})`, first);
        // Two MASTERs are settled on every fresh read, not only when a role
        // changes: which side carries the traffic (`serving`) is read on each
        // side at its own moment, and a decision made on a stale one left
        // both MASTER with nothing to look again.
        else if (next.state === 'MASTER' && this.opts.host.roleOf(instance) === 'MASTER') this.evaluate(instance, `HA peer ${p.remoteIp} is MASTER too (read again)`);
      },
      (err: Error) => {
        p.reading = false;
        if (p.epoch !== epoch) {
          if (p.up && !p.view) this.readView(instance, p);
          return;
        }
        if (!p.up) return;
        p.failedReads++;
        this.log.warn({ instance, peer: p.remoteIp, err: err.message, attempt: p.failedReads }, 'cannot read the HA peer\'s role over its REST API');
        if (p.failedReads === HA_VIEW_ATTEMPTS && !p.view) {
          // Both sides then fall back to the address alone, which they compute alike.
          p.view = { state: 'NOT_DEFINED', priority: this.priority, synced: true };
          this.evaluate(instance, `HA peer ${p.remoteIp} API unreachable; deciding by address`);
        } else if (!p.view) {
          this.clock.setTimer(() => this.readView(instance, p), 300);
        }
      },
    );
  }

  private clearDoubt(inst: InstanceEntry): void {
    if (inst.doubt?.timer !== undefined) this.clock.clearTimer(inst.doubt.timer);
    inst.doubt = undefined;
    if (inst.faultWait?.timer !== undefined) this.clock.clearTimer(inst.faultWait.timer);
    inst.faultWait = undefined;
  }

  /**
   * Taking MASTER while live peers that outrank us read FAULT: true while
   * waiting (HA_RETURN_WAIT_MS) for them to be back too; their views are
   * read afresh when it ends, and that read decides again.
   */
  private waitForFaultPeers(instance: string, inst: InstanceEntry, reason: string): boolean {
    // Our address towards a peer not known yet ranks lowest: wait rather than guess.
    const above = [...inst.peers.values()].filter((p) => p.up && p.view?.state === 'FAULT' && this.rankAgainst(p, p.view.priority, p.localAddress ?? '0.0.0.0')! < 0);
    const now = this.clock.now();
    if (above.length === 0) return false;
    inst.faultWait ??= { since: now };
    if (now - inst.faultWait.since >= HA_RETURN_WAIT_MS) return false;
    if (inst.faultWait.timer === undefined) {
      this.log.info({ instance, reason, peers: above.map((p) => p.remoteIp) }, 'HA election: MASTER held back while a higher-ranked peer reads FAULT (it may be back too)');
      inst.faultWait.timer = this.clock.setTimer(() => {
        if (inst.faultWait) inst.faultWait.timer = undefined;
        for (const p of above) if (p.up) this.readAfresh(instance, p);
        // A peer that went away meanwhile left nothing to read: decide now.
        if (!above.some((p) => p.up)) this.evaluate(instance, reason);
      }, HA_RETURN_WAIT_MS - (now - inst.faultWait.since));
    }
    return true;
  }

  /** `peerCameUp`: the first decision after a peer's session came Up (a heal or a return). */
  private evaluate(instance: string, reason: string, peerCameUp = false): void {
    const inst = this.instances.get(instance);
    if (!inst || this.closed || !inst.started) return;
    const current = this.opts.host.roleOf(instance);
    if (!this.upstream.healthy()) {
      this.clearDoubt(inst);
      inst.lastDecision = { role: 'FAULT', reason };
      if (current !== 'FAULT') {
        this.log.warn({ instance, from: current, reason }, 'HA election: FAULT (no upstream), not eligible for MASTER');
        this.opts.host.applyRole(instance, 'FAULT', reason);
      }
      return;
    }
    if (current === 'FAULT' && this.upstream.returning?.()) {
      // The upstream is back through some session, but another one is still
      // coming back: the routes it carries (an IPv4 VIP over the IPv4
      // session) are not at the router. Taking a role now made this node
      // MASTER while the router used its peer (the peer's session came back
      // first); as FAULT its peers leave it out until the session is back.
      this.clearDoubt(inst);
      if (!inst.heldForReturn) this.log.info({ instance, reason }, 'HA election: stays FAULT while a router\'s BGP session comes back');
      inst.heldForReturn = true;
      inst.lastDecision = { role: 'FAULT', reason: `${reason}; a router's BGP session is coming back` };
      return;
    }
    if (this.draining) {
      this.clearDoubt(inst);
      inst.lastDecision = { role: 'BACKUP', reason };
      if (current !== 'BACKUP' && current !== 'FAULT') {
        this.log.info({ instance, from: current, reason }, 'HA election: BACKUP (draining)');
        this.opts.host.applyRole(instance, 'BACKUP', reason);
      }
      return;
    }
    // A peer in FAULT or draining is not a candidate: it is left out as if it were down.
    const live = [...inst.peers.values()].filter((p) => p.up && p.view?.state !== 'FAULT' && !p.view?.draining);
    // A live peer whose view we have not read yet: wait for it rather than guess.
    if (live.some((p) => !p.view || !p.localAddress)) return;
    const selfAddress = live[0]?.localAddress ?? '0.0.0.0';
    const peers: HaPeerView[] = live.map((p) => ({
      priority: p.view!.priority,
      address: p.remoteIp,
      isMaster: p.view!.state === 'MASTER',
      synced: p.view!.synced,
      serving: p.view!.serving,
    }));
    const dual = current === 'MASTER' && peers.some((p) => p.isMaster);
    if (!dual) inst.dualSince = undefined;
    else inst.dualSince ??= this.clock.now();
    // After HA_DUAL_RANK_AFTER_MS of two MASTERs the traffic no longer decides, the rank does (the same on both sides).
    const byRank = dual && this.clock.now() - inst.dualSince! >= HA_DUAL_RANK_AFTER_MS;
    const role = electRole(
      { priority: this.priority, address: selfAddress, isMaster: current === 'MASTER', synced: this.sync.synced(), preempt: this.preempt, serving: byRank ? undefined : this.opts.serving?.(), ready: this.upstream.ready?.() },
      peers,
    );
    inst.lastDecision = { role, reason };
    // A peer is back (a healed partition, or a node that returned) and this
    // node stays MASTER: clients may have followed the peer while it was cut
    // off, and the peer, stepping down, announces nothing. So announce again,
    // whatever state the peer was in when we read it (it may already have
    // stepped down). A node that steps down never re-announces.
    if (role === 'MASTER' && current === 'MASTER' && (peerCameUp || peers.some((p) => p.isMaster))) this.opts.host.reannounce?.(instance);
    if (role === 'MASTER' && current !== 'MASTER' && this.waitForFaultPeers(instance, inst, reason)) return;
    if (role === 'MASTER' && current !== 'MASTER' && this.upstream.doubtful?.()) {
      // The routers have gone quiet as the peer went: probably the same cut.
      // Their sessions answer within an interval or two either way (FAULT
      // through upstreamLost, or this re-check promotes).
      const now = this.clock.now();
      inst.doubt ??= { since: now };
      if (now - inst.doubt.since < HA_DOUBT_MAX_MS) {
        if (inst.doubt.timer === undefined) {
          this.log.info({ instance, reason }, 'HA election: MASTER held back while the routers are silent');
          inst.doubt.timer = this.clock.setTimer(() => {
            if (inst.doubt) inst.doubt.timer = undefined;
            this.evaluate(instance, reason);
          }, HA_DOUBT_RECHECK_MS);
        }
        return;
      }
    }
    this.clearDoubt(inst);
    if (role === current) return;
    this.log.info({ instance, from: current, to: role, reason }, 'HA election');
    this.opts.host.applyRole(instance, role, reason);
    if (role === 'MASTER') this.confirmSoon(instance, inst);
  }

  /**
   * Just promoted with peers Up: read them again shortly, not at the next
   * poll. A peer that decided at the same moment on a view of us read just
   * before is MASTER too; the read sees it and the two-MASTER rule settles it.
   */
  private confirmSoon(instance: string, inst: InstanceEntry): void {
    const up = [...inst.peers.values()].filter((p) => p.up);
    if (up.length === 0) return;
    this.clock.setTimer(() => {
      if (this.closed || this.instances.get(instance) !== inst) return;
      for (const p of up) if (p.up && p.view) this.readView(instance, p);
    }, HA_CONFIRM_MS);
  }
}
