// The BGP side of a node, wired together: the gobgpd child process, the
// gRPC client, the reconciler that makes gobgpd's config and RIB match the
// desired state, the kernel route sync fed by the best-path watch, and the
// peer watch that tells the rest of the node which sessions are up. Exists
// only with --bgp or --peer: a node without BGP has none of it.
import { GobgpClient } from './GobgpClient.ts';
import { GobgpSupervisor } from './GobgpSupervisor.ts';
import { BgpReconciler, type VipSource } from './BgpReconciler.ts';
import { KernelRouteSync } from './KernelRouteSync.ts';
import { PeerRevival } from './PeerRevival.ts';
import { IprouteDriver } from './IprouteDriver.ts';
import type { DesiredBgp } from './planBgpConfig.ts';
import { normalizeIp } from '../util/ipAddress.ts';
import { guarded } from '../util/faults.ts';
import { systemClock, withTimeout, type Clock, type TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';

export interface BgpNodeOptions {
  gobgpApi: string;
  gobgpBin: string;
  gobgpLogLevel: 'debug' | 'info';
  /** Mirror BGP best paths into the kernel. */
  kernelRoutes: boolean;
  /** Time for the watch restarts (default: systemClock). */
  clock?: Clock;
}

export interface BgpNodeHost {
  /** What the rules and roles advertise. */
  vips: VipSource;
  /** gobgpd's peer watch: a session's state, every peer first and then each change. */
  peerState(address: string, established: boolean): void;
  /** gobgpd or its peer watch went away: no session state is known any more. */
  peersReset(): void;
}

/** Pause before a watch that ended is opened again (gobgpd not ready, or restarting). */
export const WATCH_RESTART_MS = 1000;
/** How long a BGP config write waits for gobgpd to take it before it is answered anyway. */
export const CONFIG_APPLY_WAIT_MS = 5000;

export class BgpNode {
  readonly client: GobgpClient;
  readonly reconciler: BgpReconciler;
  readonly routeSync?: KernelRouteSync;
  readonly supervisor: GobgpSupervisor;
  private readonly revival: PeerRevival;
  private cancelWatch?: () => void;
  private watchRetry?: TimerHandle;
  private cancelPeerWatch?: () => void;
  private peerWatchRetry?: TimerHandle;
  private closed = false;
  private readonly clock: Clock;

  constructor(
    opts: BgpNodeOptions,
    private readonly host: BgpNodeHost,
    private readonly log: Logger,
    /** Tests pass a stand-in for gobgpd's API. */
    client?: GobgpClient,
  ) {
    const bgpLog = log.child({ part: 'bgp' });
    this.clock = opts.clock ?? systemClock;
    this.client = client ?? new GobgpClient(opts.gobgpApi);
    this.reconciler = new BgpReconciler(this.client, bgpLog, undefined, this.clock);
    this.reconciler.setVipSource(host.vips);
    this.revival = new PeerRevival(this.clock, (address) => this.reconciler.revive(address), bgpLog);
    if (opts.kernelRoutes) this.routeSync = new KernelRouteSync(new IprouteDriver(), bgpLog.child({ part: 'kroute' }), undefined, this.clock);
    this.supervisor = new GobgpSupervisor({ binary: opts.gobgpBin, apiAddress: opts.gobgpApi, logLevel: opts.gobgpLogLevel, clock: this.clock }, log.child({ part: 'gobgpd' }));
    this.supervisor.on('started', () => this.onGobgpdStarted());
    this.supervisor.on('exit', () => {
      this.stopWatch();
      this.stopPeerWatch();
      this.revival.reset();
      this.host.peersReset();
    });
  }

  /** Starts gobgpd (set the config first: the reconciler applies it once gobgpd answers) and the kernel route sync. */
  async start(): Promise<void> {
    await this.supervisor.start();
    this.routeSync?.start();
  }

  setConfig(d: DesiredBgp, urgent = false): void {
    this.reconciler.setConfig(d);
    if (urgent) this.reconciler.kickNow();
  }

  /**
   * The config goes to gobgpd now, and the answer waits for that pass (at
   * most CONFIG_APPLY_WAIT_MS: a gobgpd that is restarting gets it when it
   * is back), so `loxicmd create bgpglobal` then `gobgp global` shows it.
   */
  async applyConfig(d: DesiredBgp): Promise<void> {
    this.reconciler.setConfig(d);
    const pass = this.reconciler.nextPass();
    this.reconciler.kickNow();
    await withTimeout(this.clock, pass, CONFIG_APPLY_WAIT_MS, () => new Error('gobgpd pass')).catch(() => {
      this.log.warn({ waitedMs: CONFIG_APPLY_WAIT_MS }, 'BGP config saved; gobgpd has not taken it yet (it is applied when gobgpd answers)');
    });
  }

  /** The reconciler picks up what changed in the VIP table once per pass, not once per request. */
  publishRoutes(urgent = false): void {
    if (urgent) this.reconciler.kickNow();
    else this.reconciler.kick();
  }

  /** Resolves once gobgpd and the kernel routes have caught up. */
  async whenIdle(): Promise<void> {
    await this.reconciler.whenIdle();
    await this.routeSync?.whenIdle();
  }

  /** First in a stop: no watch restarts any more. */
  stopWatches(): void {
    this.closed = true;
    this.stopWatch();
    this.stopPeerWatch();
  }

  /** The loops stop; gobgpd still runs (stopDaemon ends it). */
  closeLoops(): void {
    this.reconciler.close();
    this.routeSync?.close();
  }

  async stopDaemon(): Promise<void> {
    await this.supervisor.stop();
    this.client.close();
  }

  /** Synchronous cleanup for process 'exit': never leave our gobgpd behind. */
  killNow(): void {
    this.supervisor.killNow();
  }

  private onGobgpdStarted(): void {
    this.client
      .waitReady(10_000)
      .then(() => {
        this.reconciler.resync();
        this.startWatch();
        this.startPeerWatch();
      })
      .catch((err) => this.log.error({ err: (err as Error).message }, 'gobgpd API did not come up'));
  }

  /** Best-path watch feeding the kernel route sync; retried until gobgpd has a global config. */
  private startWatch(): void {
    if (!this.routeSync || this.closed) return;
    this.stopWatch();
    this.routeSync.resetBest();
    this.cancelWatch = this.client.watch({
      onPaths: (paths) => this.routeSync!.onBestPaths(paths),
      onEnd: (err) => {
        this.cancelWatch = undefined;
        if (this.closed) return;
        if (err) this.log.debug({ err: err.message }, 'best-path watch ended; retrying');
        this.watchRetry = this.clock.setTimer(guarded('best-path watch restart', () => this.startWatch(), { log: this.log }), WATCH_RESTART_MS);
      },
    });
  }

  /** Session states for the rest of the node: gobgpd reports every peer, then each change. */
  private startPeerWatch(): void {
    if (this.closed) return;
    this.stopPeerWatch();
    this.cancelPeerWatch = this.client.watch({
      onPeer: (p) => {
        const address = normalizeIp(p.address) ?? p.address;
        this.host.peerState(address, p.sessionState === 'ESTABLISHED');
        this.revival.onPeer({ address, sessionState: p.sessionState, adminState: p.adminState });
      },
      onEnd: (err) => {
        this.cancelPeerWatch = undefined;
        this.revival.reset();
        if (this.closed) return;
        this.host.peersReset();
        if (err) this.log.debug({ err: err.message }, 'peer watch ended; retrying');
        this.peerWatchRetry = this.clock.setTimer(guarded('peer watch restart', () => this.startPeerWatch(), { log: this.log }), WATCH_RESTART_MS);
      },
    });
  }

  private stopPeerWatch(): void {
    if (this.peerWatchRetry !== undefined) this.clock.clearTimer(this.peerWatchRetry);
    this.peerWatchRetry = undefined;
    const c = this.cancelPeerWatch;
    this.cancelPeerWatch = undefined;
    c?.();
  }

  private stopWatch(): void {
    if (this.watchRetry !== undefined) this.clock.clearTimer(this.watchRetry);
    this.watchRetry = undefined;
    const c = this.cancelWatch;
    this.cancelWatch = undefined;
    c?.();
  }
}
