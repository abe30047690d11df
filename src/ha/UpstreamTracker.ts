// What connects this node to the rest of the network, and whether any of it
// still does: the upstream that makes a node eligible for MASTER (issue 15,
// keepalived's track_interface / FAULT in loxilb terms).
// Over 400 lines: one state per router and link, and the four questions the
// election asks of it (healthy, doubtful, ready, returning) over that state.
//
// Tracked, when configured:
// - each BGP neighbour that is not an HA peer (the routers): up while its
//   session is Established and, if BFD runs with it, BFD has not said it is
//   gone. BFD is the fast signal; Established is what makes the routers take
//   our routes.
// - each interface that holds a subnet with one of our VIPs (L2): up while
//   the link has carrier (operstate up, or unknown for links that do not say).
//
// A router the node has never reached since it was configured (or since the
// agent started) is pending, not down, for graceMs: adding the routers after
// the HA pair has elected, or an agent start, must not push a MASTER into
// FAULT before its sessions had a chance to come up. After graceMs, a router
// never reached counts as down.
//
// A router whose BFD is Up again while its BGP session is not Established
// yet is returning (for up to UPSTREAM_RETURN_MAX_MS): BFD answers within
// a few intervals, BGP only after the router's error wait and a connect.
// So is, for UPSTREAM_RETURN_MAX_MS after the upstream is back, a router
// lost in the same outage whose session is not back at all yet (its BFD
// still down): the sessions of a router that dropped them all come back one
// by one, in no set order.
// A node may have its upstream back through another session (the router's
// IPv6 session, a second router) while that one is still down, and the
// routes it does not carry (the IPv4 VIPs) are then where the router cannot
// see them: HaManager keeps such a node FAULT until the session is back.
//
// A node with nothing tracked is always eligible. A node where every tracked
// item is down has lost its upstream: HaManager makes its instances FAULT,
// which holds no VIP and advertises nothing, and it never wins an election
// or a heal in that state.
import { readFileSync } from 'node:fs';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { silentLogger, type Logger } from '../util/logger.ts';

export interface UpstreamGate {
  healthy(): boolean;
  /**
   * Healthy, but only thanks to routers whose BFD has gone quiet (more than
   * DOUBT_INTERVALS of their transmit interval): the cut that took an HA
   * peer away may be taking them too. A promotion waits for the answer.
   */
  doubtful?(): boolean;
  /** Called (synchronously) whenever healthy() changed. */
  onChange(cb: (healthy: boolean) => void): void;
  /**
   * The routers have this node's routes again: some tracked router's session
   * has been Established for READY_SETTLE_MS (its table sent and taken), or
   * only links are tracked and one is up. A preempting node takes MASTER
   * back only then: before, the router would keep sending to the other node
   * (BIRD holds a session Idle for tens of seconds after a BFD-triggered close).
   */
  ready?(): boolean;
  /**
   * Some router's BFD is Up again and its BGP session not Established yet
   * (for at most UPSTREAM_RETURN_MAX_MS after the BFD came Up), or a router
   * lost in the same outage is not back yet (for at most
   * UPSTREAM_RETURN_MAX_MS after the upstream was): what this node
   * advertises is not all at the routers yet. A node leaving FAULT waits
   * for it.
   */
  returning?(): boolean;
  /** Called whenever ready() or returning() may have changed. */
  onReadyChange?(cb: () => void): void;
}

export const alwaysHealthy: UpstreamGate = { healthy: () => true, onChange: () => undefined };

export interface UpstreamItem {
  kind: 'bgp' | 'interface';
  /** Neighbour address or interface name. */
  name: string;
  up: boolean;
  /** Why it is down (or what keeps it up), for GET config/cistate/all. */
  detail: string;
}

interface NeighborEntry {
  established: boolean;
  /** Established at least once since configured. */
  seen: boolean;
  /** When it was configured (clock ms): pending until seen or graceMs later. */
  since: number;
  /** undefined: BFD does not run with it or never said anything. */
  bfdUp?: boolean;
  /** When the session last became Established (clock ms). */
  establishedAt?: number;
  /** When BFD last came Up (clock ms). */
  bfdUpAt?: number;
  /** Up (Established, BFD not down) at the last update. */
  up?: boolean;
  /** When it last stopped being up (clock ms). */
  lostAt?: number;
}

/** A router carries our routes: its session is Established and BFD, if it runs, has not said it is gone. */
function routerUp(n: NeighborEntry): boolean {
  return n.established && n.bfdUp !== false;
}

/** Link state from sysfs: the agent runs in the network namespace it serves. */
export function sysfsLinkUp(ifname: string): boolean {
  if (!/^[A-Za-z0-9_.@:-]{1,15}$/.test(ifname)) return false;
  try {
    const s = readFileSync(`/sys/class/net/${ifname}/operstate`, 'utf8').trim();
    return s === 'up' || s === 'unknown';
  } catch {
    return false; // gone
  }
}

export interface UpstreamTrackerOptions {
  /** Interfaces to track now (those that hold a subnet with one of our VIPs); read on each poll. */
  interfaces?: () => Iterable<string>;
  linkUp?: (ifname: string) => boolean;
  /** How often links are read: carrier loss has no event here, so this bounds its detection. */
  pollMs?: number;
  /** How long a router never reached is pending rather than down. */
  graceMs?: number;
  /** BFD silence of a router's session in its transmit intervals (undefined: no BFD Up with it). */
  bfdSilence?: (address: string) => number | undefined;
  clock?: Clock;
  logger?: Logger;
}

export const UPSTREAM_POLL_MS = 100;
/** BFD transmit intervals without a packet after which a router's session is in doubt (jitter keeps a live one under 1). */
export const DOUBT_INTERVALS = 1.5;
export const UPSTREAM_GRACE_MS = 30_000;
/** How long after Established a router counts as having this node's routes (gobgpd sends the table at once; this covers the router's best-path run). */
export const READY_SETTLE_MS = 1000;
/**
 * How long a router whose BFD came back Up counts as returning while its BGP
 * session is not Established. Once BFD is Up we make the peer anew and
 * connect at once, and BIRD connects within a second (after its error wait,
 * 1-2 s in the labs): Established in 1-3 s. A router that takes longer (a
 * real BIRD's default error wait is 60 s; a BGP misconfiguration never
 * comes) must not keep a node with another live session out of service.
 */
export const UPSTREAM_RETURN_MAX_MS = 5000;
/** Routers lost at most this long before the upstream went were lost in the same outage (a router dropping all its sessions, one by one). */
export const UPSTREAM_LOST_TOGETHER_MS = 1000;

export class UpstreamTracker implements UpstreamGate {
  private readonly neighbors = new Map<string, NeighborEntry>();
  private links = new Map<string, boolean>();
  private readonly listeners: ((healthy: boolean) => void)[] = [];
  private readonly readyListeners: (() => void)[] = [];
  private readonly readyTimers = new Set<TimerHandle>();
  private last: boolean;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly linkUp: (ifname: string) => boolean;
  private timer?: TimerHandle;
  private graceTimer?: TimerHandle;
  private readonly graceMs: number;
  private closed = false;
  /** When the upstream was last lost, and when it was last back (clock ms). */
  private lostAt?: number;
  private backAt?: number;

  constructor(private readonly opts: UpstreamTrackerOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.linkUp = opts.linkUp ?? sysfsLinkUp;
    this.graceMs = opts.graceMs ?? UPSTREAM_GRACE_MS;
    if (opts.interfaces) this.readLinks();
    this.last = this.compute();
    if (opts.interfaces) this.schedule();
  }

  onChange(cb: (healthy: boolean) => void): void {
    this.listeners.push(cb);
  }

  healthy(): boolean {
    return this.last;
  }

  ready(): boolean {
    if (!this.last) return false;
    const now = this.clock.now();
    let routers = false;
    for (const n of this.neighbors.values()) {
      // A router not reached yet (pending) does not have our routes either.
      routers = true;
      if (routerUp(n) && n.establishedAt !== undefined && now - n.establishedAt >= READY_SETTLE_MS) return true;
    }
    return !routers;
  }

  onReadyChange(cb: () => void): void {
    this.readyListeners.push(cb);
  }

  returning(): boolean {
    if (!this.last) return false;
    const now = this.clock.now();
    // Back through one session, while another lost in the same outage is not
    // back yet (its BFD may not even be Up again): its routes are not at the
    // router either.
    const afterOutage = this.backAt !== undefined && this.lostAt !== undefined && now - this.backAt < UPSTREAM_RETURN_MAX_MS;
    for (const n of this.neighbors.values()) {
      if (n.bfdUp === true && !n.established && n.bfdUpAt !== undefined && now - n.bfdUpAt < UPSTREAM_RETURN_MAX_MS) return true;
      if (afterOutage && !n.up && n.lostAt !== undefined && n.lostAt >= this.lostAt! - UPSTREAM_LOST_TOGETHER_MS) return true;
    }
    return false;
  }

  /** The routers: BGP neighbours that are not HA peers. Entries of those that stay keep their state. */
  setNeighbors(addresses: Iterable<string>): void {
    const keep = new Set(addresses);
    for (const a of [...this.neighbors.keys()]) if (!keep.has(a)) this.neighbors.delete(a);
    const now = this.clock.now();
    for (const a of keep) if (!this.neighbors.has(a)) this.neighbors.set(a, { established: false, seen: false, since: now });
    this.armGrace();
    this.update('neighbours changed');
  }

  doubtful(): boolean {
    if (!this.last || !this.opts.bfdSilence) return false;
    for (const up of this.links.values()) if (up) return false;
    let leaning = false;
    for (const [a, n] of this.neighbors) {
      if (!n.established || n.bfdUp === false || this.pending(n)) continue;
      const silence = this.opts.bfdSilence(a);
      // A router we hear from, or one we cannot judge (no BFD): no doubt.
      if (silence === undefined || silence <= DOUBT_INTERVALS) return false;
      leaning = true;
    }
    return leaning;
  }

  tracksNeighbor(address: string): boolean {
    return this.neighbors.has(address);
  }

  /** gobgpd's view of a session. */
  bgpState(address: string, established: boolean): void {
    const n = this.neighbors.get(address);
    if (!n || n.established === established) return;
    n.established = established;
    if (established) {
      n.seen = true;
      n.establishedAt = this.clock.now();
      this.armReady(n.establishedAt + READY_SETTLE_MS);
    }
    this.update(`BGP with ${address} ${established ? 'Established' : 'down'}`);
    // returning() may have ended (or begun, a session lost while BFD stays Up).
    this.notifyReady();
  }

  /** gobgpd is gone (or restarting): no session is Established until it says so again. */
  bgpReset(): void {
    let any = false;
    for (const n of this.neighbors.values()) {
      any ||= n.established;
      n.established = false;
    }
    if (any) this.update('gobgpd gone');
  }

  /** BFD with a neighbour: true Up, false went down after being Up. */
  bfdState(address: string, up: boolean): void {
    const n = this.neighbors.get(address);
    if (!n || n.bfdUp === up) return;
    n.bfdUp = up;
    if (!up && n.established) {
      // BFD going takes the BGP session with it (the agent shuts it, the
      // router tears its end), so it counts again only once gobgpd says
      // Established anew. Kept, a BFD flap of a few ms (a loaded router
      // dropping every session at once) read as "upstream back" on the old
      // Established before gobgpd had reported the shut: that node became
      // MASTER with no session at the router, and stayed so while the
      // router used its peer.
      n.established = false;
    }
    if (up) {
      n.bfdUpAt = this.clock.now();
      // Whatever BGP does, the return is over then.
      this.armReady(n.bfdUpAt + UPSTREAM_RETURN_MAX_MS);
    }
    this.update(`BFD with ${address} ${up ? 'Up' : 'down'}`);
    this.notifyReady();
  }

  items(): UpstreamItem[] {
    const out: UpstreamItem[] = [];
    for (const [a, n] of this.neighbors) {
      const up = routerUp(n);
      const detail = n.bfdUp === false ? 'BFD down' : n.established ? 'Established' : this.pending(n) ? 'pending: not reached yet' : 'BGP not Established';
      out.push({ kind: 'bgp', name: a, up, detail });
    }
    for (const [name, up] of this.links) out.push({ kind: 'interface', name, up, detail: up ? 'link up' : 'no carrier' });
    return out;
  }

  /** Reads the tracked links now (also done every pollMs). */
  pollLinks(): void {
    if (!this.opts.interfaces) return;
    this.readLinks();
    this.update('link state changed');
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    if (this.graceTimer !== undefined) this.clock.clearTimer(this.graceTimer);
    this.timer = undefined;
    this.graceTimer = undefined;
    for (const t of this.readyTimers) this.clock.clearTimer(t);
    this.readyTimers.clear();
  }

  /** Tells the ready listeners when a session's settle time ends. */
  private armReady(at: number): void {
    if (this.closed) return;
    const t = this.clock.setTimer(() => {
      this.readyTimers.delete(t);
      this.notifyReady();
    }, Math.max(0, at - this.clock.now()));
    this.readyTimers.add(t);
  }

  private notifyReady(): void {
    for (const cb of this.readyListeners) {
      try {
        cb();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'acting on upstream readiness failed');
      }
    }
  }

  private pending(n: NeighborEntry): boolean {
    return !n.seen && n.bfdUp !== false && this.clock.now() - n.since < this.graceMs;
  }

  /** Re-evaluates when the first pending router's grace ends. */
  private armGrace(): void {
    if (this.graceTimer !== undefined) this.clock.clearTimer(this.graceTimer);
    this.graceTimer = undefined;
    let first = Infinity;
    const now = this.clock.now();
    for (const n of this.neighbors.values()) if (!n.seen && n.since + this.graceMs > now) first = Math.min(first, n.since + this.graceMs);
    if (first === Infinity || this.closed) return;
    this.graceTimer = this.clock.setTimer(() => {
      this.graceTimer = undefined;
      this.update('a router was never reached within the grace period');
      this.armGrace();
    }, first - now);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      try {
        this.pollLinks();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'reading link states failed');
      }
      this.schedule();
    }, this.opts.pollMs ?? UPSTREAM_POLL_MS);
  }

  private readLinks(): void {
    const next = new Map<string, boolean>();
    for (const name of this.opts.interfaces!()) if (!next.has(name)) next.set(name, this.linkUp(name));
    this.links = next;
  }

  private compute(): boolean {
    let tracked = false;
    for (const n of this.neighbors.values()) {
      if (this.pending(n)) continue;
      tracked = true;
      if (routerUp(n)) return true;
    }
    for (const up of this.links.values()) {
      tracked = true;
      if (up) return true;
    }
    return !tracked;
  }

  private update(reason: string): void {
    const t = this.clock.now();
    for (const n of this.neighbors.values()) {
      const up = routerUp(n);
      if (n.up && !up) n.lostAt = t;
      n.up = up;
    }
    const now = this.compute();
    if (now === this.last) return;
    this.last = now;
    if (now) {
      this.backAt = t;
      // returning() may end with the bound: tell the listeners then.
      this.armReady(t + UPSTREAM_RETURN_MAX_MS);
    } else {
      this.lostAt = t;
    }
    const down = this.items().filter((i) => !i.up).map((i) => `${i.kind} ${i.name}: ${i.detail}`);
    if (now) this.log.info({ reason }, 'upstream back: this node may serve again');
    else this.log.warn({ reason, down }, 'upstream lost: every tracked link and router is down; HA instances go FAULT');
    for (const cb of this.listeners) {
      try {
        cb(now);
      } catch (err) {
        // One listener's failure must not keep the others (the HA election) from hearing it.
        this.log.error({ err: (err as Error).message }, 'acting on an upstream change failed');
      }
    }
  }
}
