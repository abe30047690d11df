// Start order of BFD with a BGP neighbour: the BFD session is held AdminDown
// from its start until gobgpd says the BGP session with that neighbour is
// Established, then released.
//
// Why: routers that tie BFD to the BGP session (FRR's `neighbor X bfd`)
// create their BFD session before BGP is up, with no source address, and give
// it the session's local address once BGP is Established. A BFD session that
// is already Up then changes its key under the router, goes Down and takes the
// fresh BGP session with it (Cease/BFD Down): measured here, 10-11 s with no
// route after every start, since the router then waits for us to connect
// again. A session held AdminDown never comes Up before BGP, so it has
// nothing to lose when the router re-keys it.
//
// Only the first Established releases a session: after that, BFD Down/Up is
// what tears BGP down and brings it back (Agent.onBfdChange), and the router
// has its source address already. A router that wants BFD Up before it lets
// BGP up (FRR 10.4's `bfd strict`) would wait for us forever, so the hold
// ends after maxHoldMs whatever BGP does; neither BIRD 2.0 nor FRR 8.4 has
// such a mode.
import type { Logger } from '../util/logger.ts';
import { systemClock, unrefTimer, type Clock, type TimerHandle } from '../util/clock.ts';

/** Longer than gobgpd 3.10's first connect (random 5-10 s) plus an OPEN exchange. */
export const NEIGHBOR_BFD_MAX_HOLD_MS = 15_000;

export interface NeighborBfdGateOptions {
  /** Release a held session (leave AdminDown). Errors are logged. */
  release(address: string): void;
  clock?: Clock;
  maxHoldMs?: number;
  logger?: Logger;
}

export type NeighborBfdReleaseReason = 'established' | 'timeout';

export class NeighborBfdGate {
  private readonly established = new Set<string>();
  private readonly held = new Map<string, { timer: TimerHandle; since: number }>();
  private readonly clock: Clock;
  private readonly maxHoldMs: number;
  /** Releases so far, by reason (for status and tests). */
  readonly releases: Record<NeighborBfdReleaseReason, number> = { established: 0, timeout: 0 };

  constructor(private readonly opts: NeighborBfdGateOptions) {
    this.clock = opts.clock ?? systemClock;
    this.maxHoldMs = opts.maxHoldMs ?? NEIGHBOR_BFD_MAX_HOLD_MS;
    if (!Number.isFinite(this.maxHoldMs) || this.maxHoldMs < 0) throw new Error(`maxHoldMs must be a non-negative number, got ${this.maxHoldMs}`);
  }

  /** Whether a BFD session started now for `address` must start AdminDown (its BGP session is not Established). */
  shouldHold(address: string): boolean {
    return !this.established.has(address);
  }

  /**
   * The session for `address` was started AdminDown: hold it until BGP is
   * Established (at once if it became Established meanwhile) or maxHoldMs.
   */
  hold(address: string): void {
    this.forget(address);
    if (this.established.has(address)) {
      this.release(address, 'established');
      return;
    }
    const timer = unrefTimer(this.clock.setTimer(() => this.release(address, 'timeout'), this.maxHoldMs));
    this.held.set(address, { timer, since: this.clock.now() });
    this.opts.logger?.info({ neighbor: address, maxHoldMs: this.maxHoldMs }, 'BFD with the BGP neighbour held AdminDown until its BGP session is Established');
  }

  /** gobgpd's view of one BGP session. */
  bgpState(address: string, established: boolean): void {
    if (!established) {
      this.established.delete(address);
      return;
    }
    this.established.add(address);
    if (this.held.has(address)) this.release(address, 'established');
  }

  /** gobgpd is gone or restarting: nothing is Established until it says so. Held sessions stay held. */
  bgpReset(): void {
    this.established.clear();
  }

  isHeld(address: string): boolean {
    return this.held.has(address);
  }

  /** The session was deleted: no release for it. */
  forget(address: string): void {
    const h = this.held.get(address);
    if (!h) return;
    this.clock.clearTimer(h.timer);
    this.held.delete(address);
  }

  close(): void {
    for (const a of [...this.held.keys()]) this.forget(a);
  }

  private release(address: string, reason: NeighborBfdReleaseReason): void {
    const h = this.held.get(address);
    if (h) this.clock.clearTimer(h.timer);
    this.held.delete(address);
    this.releases[reason]++;
    const heldMs = h ? Math.round(this.clock.now() - h.since) : 0;
    if (reason === 'established') this.opts.logger?.info({ neighbor: address, heldMs }, 'BGP session Established: BFD with the neighbour released from AdminDown');
    else this.opts.logger?.warn({ neighbor: address, heldMs }, 'BGP session not Established in time: BFD with the neighbour released from AdminDown anyway (the router may want BFD Up first)');
    try {
      this.opts.release(address);
    } catch (err) {
      this.opts.logger?.warn({ neighbor: address, err: (err as Error).message }, 'cannot release BFD with the neighbour from AdminDown');
    }
  }
}
