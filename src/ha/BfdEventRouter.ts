// Where a BFD session's state change goes. One session may serve several
// parts at once: an HA peer's session drives the election, a BGP
// neighbour's tells the upstream tracker whether the router is there and
// shuts the BGP session while the router is gone, and an HA peer that is also
// a BGP neighbour (kube-loxilb's mesh) does both.
import { BfdState } from '../bfd/BfdPacket.ts';
import { DEFAULT_INSTANCE } from '../lb/LbRule.ts';
import type { Logger } from '../util/logger.ts';

export interface BfdEventTargets {
  /** A session with an HA peer of `instance` (the HA side ignores others). `held`: the peer holds it AdminDown (alive, no candidate). */
  haPeer?(instance: string, remoteIp: string, up: boolean, held: boolean): void;
  /** A BGP neighbour's BFD went Up, or Down after being Up (the upstream tracker's view of the router). */
  router?(remoteIp: string, up: boolean): void;
  isBgpNeighbor(remoteIp: string): boolean;
  /** The set of neighbours BFD says are gone changed: BGP must follow now. */
  neighborsDownChanged(): void;
  logger: Logger;
}

export class BfdEventRouter {
  /** BGP neighbours whose BFD session went down after being up: their BGP sessions stay shut. */
  private readonly down = new Set<string>();

  constructor(private readonly t: BfdEventTargets) {}

  /**
   * `remoteState`: the peer's own last state. A peer holding the session
   * AdminDown is alive: for the election no candidate (FAULT, draining), for
   * BGP not gone (RFC 5882 §3.2; an agent that starts holds BFD until its BGP
   * session is Established). Its diagnostic cannot tell: it stays
   * AdministrativelyDown after the hold is released (a node that took it for
   * a hold became MASTER beside the one serving).
   */
  onChange(instance: string, remoteIp: string, from: BfdState, to: BfdState, remoteState?: BfdState): void {
    const remoteHeld = to !== BfdState.Up && remoteState === BfdState.AdminDown;
    this.t.haPeer?.(instance, remoteIp, to === BfdState.Up, remoteHeld);
    if (!this.t.isBgpNeighbor(remoteIp)) return;
    if (to === BfdState.Up) this.t.router?.(remoteIp, true);
    else if (from === BfdState.Up && !remoteHeld) this.t.router?.(remoteIp, false);
    // Only a session that was Up can say the router is gone; one that never
    // came up (a router without BFD) leaves BGP alone.
    if (from === BfdState.Up && to !== BfdState.Up && !remoteHeld && !this.down.has(remoteIp)) {
      this.down.add(remoteIp);
      this.t.logger.warn({ neighbor: remoteIp }, 'BFD says the BGP neighbour is gone: shutting its session down');
      this.t.neighborsDownChanged();
    } else if (to === BfdState.Up && this.down.delete(remoteIp)) {
      this.t.logger.info({ neighbor: remoteIp }, 'BFD with the BGP neighbour is up again: enabling its session');
      this.t.neighborsDownChanged();
    }
  }

  /**
   * The peer's own state changed while ours did not have to. A neighbour
   * that now holds BFD AdminDown (it restarted and waits for BGP before BFD)
   * gets the BGP session we shut when its BFD went away back, or both sides
   * would wait for each other (ours for BFD Up, its for BGP Established)
   * until its hold times out.
   */
  onRemoteState(remoteIp: string, to: BfdState, instance: string = DEFAULT_INSTANCE): void {
    // An HA peer that starts holding the session while ours is already Down
    // (it went FAULT just as this node, back from FAULT, released its own
    // hold) changes nothing on our side: without this the election waited
    // its whole initial wait for a peer that had declined, with no MASTER
    // (3 s in the failover bench, where the router dropped both nodes' BFD).
    if (to === BfdState.AdminDown) this.t.haPeer?.(instance, remoteIp, false, true);
    if (to !== BfdState.AdminDown || !this.t.isBgpNeighbor(remoteIp) || !this.down.delete(remoteIp)) return;
    this.t.logger.info({ neighbor: remoteIp }, 'the BGP neighbour holds BFD AdminDown (it is starting): enabling its session');
    this.t.neighborsDownChanged();
  }

  /** The neighbours whose BGP sessions BFD keeps shut, as a copy for the BGP config. */
  neighborsDown(): Set<string> {
    return new Set(this.down);
  }

  /** The neighbour is deleted: nothing is kept about it. */
  forget(remoteIp: string): void {
    this.down.delete(remoteIp);
  }
}
