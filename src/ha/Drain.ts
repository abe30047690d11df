// Graceful drain (issue 15 §2): before a planned stop (SIGTERM) or for
// maintenance (POST config/drain), a node hands its role to its peer and
// waits until the traffic has moved, instead of vanishing under it.
//
// The host puts the node in drain (BACKUP at most, its HA sessions held
// AdminDown so the peer takes over at once, every VIP advertised with a
// worse MED, local-pref 0 and RFC 8326's GRACEFUL_SHUTDOWN community), then
// the drain waits, bounded by timeoutMs, until:
// - a peer says (over its REST API) it is MASTER, synced and not draining
//   itself: it holds the connection table and serves; and
// - the datapath has seen (almost) no load-balanced packet for quietMs: the
//   routers (and the endpoints' routes to a floating source) have moved.
// A drain with no peer to hand over to (none answers, or all are draining
// too, as when a whole cluster stops) ends at once: waiting would only delay
// a stop that nobody can take over from.
import { systemClock, type Clock } from '../util/clock.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import type { PeerRoleView } from './HaManager.ts';

export interface DrainHost {
  /** Enters or leaves drain (HA, BGP attributes, session hold). */
  setDraining(on: boolean): void;
  /** The HA peers' views, read now; undefined for a peer that did not answer. */
  readPeers(): Promise<{ remoteIp: string; view?: PeerRoleView }[]>;
  /** Packets of load-balanced connections seen so far (a counter). */
  servicePackets(): number;
}

export interface DrainOptions {
  timeoutMs: number;
  /** How long the traffic must stay (almost) still. */
  quietMs?: number;
  /** At most this many packets in a quiet window (stray retransmissions, a slow ACK). */
  quietPackets?: number;
  pollMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export type DrainPhase = 'serving' | 'handing-over' | 'waiting-for-traffic' | 'drained';

export interface DrainReport {
  phase: DrainPhase;
  /** The peer that took over, if one did. */
  handedTo?: string;
  waitedMs: number;
  timedOut: boolean;
  /** How it ended, in words. */
  reason: string;
}

export const DRAIN_DEFAULT_TIMEOUT_MS = 10_000;
const QUIET_MS = 500;
const QUIET_PACKETS = 5;
const POLL_MS = 100;

export class Drainer {
  private phase: DrainPhase = 'serving';
  private last?: DrainReport;
  private running?: Promise<DrainReport>;
  private cancelled = false;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(
    private readonly host: DrainHost,
    private readonly opts: DrainOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
  }

  get draining(): boolean {
    return this.phase !== 'serving';
  }

  /** For GET config/drain and /status. */
  state(): { draining: boolean; phase: DrainPhase; timeoutMs: number; last?: DrainReport } {
    return { draining: this.draining, phase: this.phase, timeoutMs: this.opts.timeoutMs, ...(this.last ? { last: this.last } : {}) };
  }

  /** Starts a drain (or joins the one running); resolves when it is done or timed out. */
  drain(timeoutMs = this.opts.timeoutMs): Promise<DrainReport> {
    if (this.running) return this.running;
    if (this.phase === 'drained' && this.last) return Promise.resolve(this.last);
    this.cancelled = false;
    this.phase = 'handing-over';
    this.host.setDraining(true);
    this.log.info({ timeoutMs }, 'draining: handing the role over and waiting for the traffic to move');
    this.running = this.run(timeoutMs).then((r) => {
      this.running = undefined;
      this.last = r;
      if (!this.cancelled) this.phase = 'drained';
      this.log.info(r, 'drain done');
      return r;
    });
    return this.running;
  }

  /** Ends the drain (maintenance over): the node is a candidate again. */
  undrain(): void {
    if (this.phase === 'serving') return;
    this.cancelled = true;
    this.phase = 'serving';
    this.host.setDraining(false);
    this.log.info('drain ended: this node is a candidate again');
  }

  private async run(timeoutMs: number): Promise<DrainReport> {
    const start = this.clock.now();
    const samples: { at: number; n: number }[] = [];
    let handedTo: string | undefined;
    const report = (reason: string, timedOut = false): DrainReport => ({
      phase: 'drained',
      ...(handedTo ? { handedTo } : {}),
      waitedMs: Math.round(this.clock.now() - start),
      timedOut,
      reason,
    });
    const quietMs = this.opts.quietMs ?? QUIET_MS;
    const quietPackets = this.opts.quietPackets ?? QUIET_PACKETS;
    let lastReport = start;
    let reportedAt = this.host.servicePackets();
    for (;;) {
      if (this.cancelled) return report('cancelled');
      const now = this.clock.now();
      samples.push({ at: now, n: this.host.servicePackets() });
      while (samples.length > 2 && samples[1]!.at <= now - quietMs) samples.shift();
      if (!handedTo) {
        const peers = await this.host.readPeers().catch(() => []);
        const answered = peers.filter((p) => p.view);
        if (answered.length === 0) return report('no HA peer answered: nobody to hand over to');
        if (answered.every((p) => p.view!.draining)) return report('every HA peer is draining too');
        handedTo = answered.find((p) => p.view!.state === 'MASTER' && p.view!.synced && !p.view!.draining)?.remoteIp;
        if (handedTo) {
          this.phase = 'waiting-for-traffic';
          this.log.info({ peer: handedTo }, 'draining: the peer is MASTER and synced; waiting for the traffic to move');
        }
      }
      if (now - lastReport >= 1000) {
        const n = samples.at(-1)!.n;
        this.log.info({ packetsPerSecond: Math.round(((n - reportedAt) * 1000) / (now - lastReport)), handedTo }, 'draining: load-balanced traffic still arriving');
        lastReport = now;
        reportedAt = n;
      }
      const first = samples[0]!;
      const quiet = now - first.at >= quietMs && samples.at(-1)!.n - first.n <= quietPackets;
      if (handedTo && quiet) return report(`${handedTo} took over and the traffic moved`);
      if (this.clock.now() - start >= timeoutMs) {
        return report(handedTo ? `${handedTo} took over; traffic still arriving when the time ran out` : 'no peer took over in time', true);
      }
      await new Promise<void>((r) => this.clock.setTimer(r, this.opts.pollMs ?? POLL_MS));
    }
  }
}
