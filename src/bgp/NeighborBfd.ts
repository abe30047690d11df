// BFD sessions run for BGP neighbours configured with `bfd` (not saved in
// bfdconfig.json: they follow the neighbour), and the gate that keeps each
// AdminDown until its BGP session is first Established (NeighborBfdGate).
import { NeighborBfdGate } from './NeighborBfdGate.ts';
import type { BgpNeighborConfig } from './BgpConfig.ts';
import type { BfdManager } from '../bfd/BfdManager.ts';
import type { Logger } from '../util/logger.ts';

export interface NeighborBfdDeps {
  /** The BFD manager if it runs. */
  bfd(): BfdManager | undefined;
  /** The BFD manager, started on first use. */
  startBfd(): Promise<BfdManager>;
  /** A config/bfd session with that address runs and serves the neighbour. */
  configured(instance: string, address: string): boolean;
  /** Whether BGP runs: without it no session waits for Established. */
  gated: boolean;
  /** A session was started for the neighbour (unauthenticated). */
  started(address: string): void;
  instance: string;
  logger: Logger;
}

export class NeighborBfd {
  /** Neighbours with a session of ours. */
  private readonly sessions = new Set<string>();
  readonly gate: NeighborBfdGate;

  constructor(private readonly d: NeighborBfdDeps) {
    this.gate = new NeighborBfdGate({
      release: (ip) => d.bfd()?.updateSession(d.instance, ip, { adminDown: false }),
      logger: d.logger.child({ part: 'bfd' }),
    });
  }

  /** At start: a session for every saved neighbour with bfd; one that fails is logged, the rest go on. */
  async startAll(neighbors: Iterable<BgpNeighborConfig>): Promise<void> {
    for (const n of neighbors) if (n.bfd) await this.ensure(n).catch((err) => this.d.logger.error({ neighbor: n.ipAddress, err: (err as Error).message }, 'BFD with BGP neighbour not started'));
  }

  async ensure(n: BgpNeighborConfig): Promise<void> {
    if (!n.bfd) return;
    const { instance } = this.d;
    const ip = n.ipAddress;
    if (this.d.configured(instance, ip)) return; // a config/bfd session with that router already runs
    // The --ka session with that node (a peer LB that is also a BGP neighbour) already runs and serves both.
    if (!this.sessions.has(ip) && this.d.bfd()?.get(instance, ip)) return;
    const m = await this.d.startBfd();
    const params = { instance, remoteIp: ip, txIntervalUs: n.bfd.intervalUs, rxIntervalUs: n.bfd.intervalUs, multiplier: n.bfd.multiplier };
    if (this.sessions.has(ip)) m.updateSession(instance, ip, params);
    else {
      const hold = this.d.gated && this.gate.shouldHold(ip);
      await m.addSession({ ...params, adminDown: hold });
      if (hold) this.gate.hold(ip);
      this.d.started(ip);
    }
    this.sessions.add(ip);
  }

  /** The neighbour is deleted: its session ends (AdminDown to the router) and nothing is kept about it. */
  async drop(ip: string): Promise<void> {
    const { instance } = this.d;
    this.gate.forget(ip);
    if (!this.sessions.delete(ip)) return;
    const bfd = this.d.bfd();
    if (bfd?.get(instance, ip)) await bfd.deleteSession(instance, ip);
  }

  bgpState(ip: string, established: boolean): void {
    this.gate.bgpState(ip, established);
  }

  bgpReset(): void {
    this.gate.bgpReset();
  }

  close(): void {
    this.gate.close();
  }
}
