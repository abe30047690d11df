// Mirrors gobgpd's best paths into the kernel (main table, proto bgp), as
// loxilb does on every --bgp node and what --peer workers exist for. Best-path
// events update a local table; a pass per burst writes only the difference;
// a periodic full pass re-reads the kernel, which also removes routes a
// previous run left behind.
import type { Logger } from '../util/logger.ts';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import type { HistogramData } from '../util/Histogram.ts';
import { guarded } from '../util/faults.ts';
import type { DecodedPath } from './pathCodec.ts';
import { planKernelRoutes, wantedKernelRoutes, type BestPath, type KernelRoute } from './planKernelRoutes.ts';
import type { KernelRouteDriver } from './IprouteDriver.ts';
import { repeatEvery, systemClock, type Clock, type RepeatingTimer } from '../util/clock.ts';

export class KernelRouteSync {
  private best = new Map<string, BestPath>();
  private kernel?: Map<string, KernelRoute>;
  private subnets: string[] = [];
  private fullTimer?: RepeatingTimer;
  private readonly loop: CoalescingLoop;
  installed = 0;

  /** Durations of the sync passes (seconds). */
  get passDurations(): HistogramData {
    return this.loop.durations.data();
  }

  constructor(
    private readonly driver: KernelRouteDriver,
    private readonly log: Logger,
    private readonly fullResyncMs = 30_000,
    /** The periodic full pass runs on it. */
    private readonly clock: Clock = systemClock,
  ) {
    this.loop = new CoalescingLoop(() => this.pass(), {
      // Re-read the kernel next time so the cache tells the truth; go on with pending changes.
      onError: (err) => {
        this.kernel = undefined;
        this.log.warn({ err: (err as Error).message }, 'kernel route sync failed');
        return undefined;
      },
      clock,
    });
  }

  start(): void {
    this.fullTimer = repeatEvery(this.clock, this.fullResyncMs, guarded('kernel route full resync', () => this.fullResync(), { log: this.log }), { unref: true });
    this.fullResync();
  }

  close(): void {
    this.loop.close();
    this.fullTimer?.stop();
  }

  /** The best-path stream restarted (gobgpd restart): start from its initial dump. */
  resetBest(): void {
    this.best.clear();
    this.kick();
  }

  onBestPaths(paths: DecodedPath[]): void {
    for (const p of paths) {
      // gobgpd spells addresses canonically (RFC 5952), as ipaddr.js and iproute2 do.
      const dst = `${p.prefix}/${p.prefixLen}`;
      // A locally originated best path is never installed: it only hides a learned one.
      if (p.withdraw || !p.neighborIp) this.best.delete(dst);
      else this.best.set(dst, { dst, nextHop: p.nextHop, local: false });
    }
    this.kick();
  }

  fullResync(): void {
    this.kernel = undefined;
    this.kick();
  }

  whenIdle(): Promise<void> {
    return this.loop.whenIdle();
  }

  private kick(): void {
    this.loop.kick();
  }

  private async pass(): Promise<void> {
    if (!this.kernel) {
      [this.kernel, this.subnets] = await Promise.all([this.driver.listBgpRoutes(), this.driver.localSubnets()]);
    }
    const wanted = wantedKernelRoutes(this.best.values(), this.subnets);
    const ops = planKernelRoutes(wanted, this.kernel);
    if (ops.length === 0) return;
    const { failed } = await this.driver.apply(ops);
    for (const o of ops) {
      if (o.op === 'replace') this.kernel.set(o.route.dst, o.route);
      else this.kernel.delete(o.route.dst);
    }
    if (failed.length > 0) {
      this.log.warn({ failed: failed.slice(0, 5), count: failed.length }, 'some kernel routes could not be written');
      this.kernel = undefined; // re-read next time so the cache tells the truth
    }
    this.installed = wanted.size;
    this.log.info(
      { replaced: ops.filter((o) => o.op === 'replace').length, deleted: ops.filter((o) => o.op === 'delete').length },
      'kernel routes synced',
    );
  }
}
