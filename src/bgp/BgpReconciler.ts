// Converges gobgpd to the desired BGP state: global config, export policy,
// neighbours and the VIP routes. One pass per burst of changes; a pass after
// every gobgpd (re)start, so nothing has to be re-sent by hand. Routes are
// diffed against a cache of what was applied since the last full observation,
// so a role flip of 10,000 VIPs costs one AddPathStream, not a RIB dump.
import type { Logger } from '../util/logger.ts';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import type { GobgpClient } from './GobgpClient.ts';
import type { VipRoute } from './pathCodec.ts';
import { diffRoutes } from './planVipRoutes.ts';
import { planBgpConfig, type BgpAction, type DesiredBgp } from './planBgpConfig.ts';

export interface ReconcileStats {
  passes: number;
  lastError?: string;
}

export class BgpReconciler {
  private desired: DesiredBgp = { neighbors: [], timers: { connectRetry: 5, holdTime: 90, keepalive: 30 } };
  /** Computed lazily, once per pass, so a burst of 10,000 rule changes plans routes once. */
  private routeSource: () => ReadonlyMap<string, VipRoute> = () => new Map();
  private applied = new Map<string, VipRoute>();
  private appliedValid = false;
  private retryMs = 500;
  private readonly loop = new CoalescingLoop(() => this.runPass(), { onError: (err) => this.onPassError(err) });
  readonly stats: ReconcileStats = { passes: 0 };

  constructor(
    private readonly client: GobgpClient,
    private readonly log: Logger,
  ) {}

  setConfig(d: DesiredBgp): void {
    this.desired = d;
    this.kick();
  }

  setRouteSource(source: () => ReadonlyMap<string, VipRoute>): void {
    this.routeSource = source;
    this.kick();
  }

  /** gobgpd was (re)started: it has forgotten everything. */
  resync(): void {
    this.appliedValid = false;
    this.applied.clear();
    this.retryMs = 500;
    // A fresh gobgpd is worth trying at once, not after the failed pass's backoff.
    this.loop.kickNow();
  }

  get advertisedCount(): number {
    return this.appliedValid ? this.applied.size : 0;
  }

  kick(): void {
    this.loop.kick();
  }

  /** Resolves once no pass is pending or running (for tests and benchmarks). */
  whenIdle(): Promise<void> {
    return this.loop.whenIdle();
  }

  close(): void {
    this.loop.close();
  }

  private async runPass(): Promise<void> {
    await this.pass();
    this.stats.passes++;
    this.stats.lastError = undefined;
    this.retryMs = 500;
  }

  /** A failed pass: distrust the route cache and retry with backoff. */
  private onPassError(err: unknown): number {
    this.appliedValid = false;
    this.stats.lastError = (err as Error).message;
    const delay = this.retryMs;
    this.log.warn({ err: (err as Error).message, retryMs: delay }, 'BGP reconcile failed; retrying');
    this.retryMs = Math.min(this.retryMs * 2, 5000);
    return delay;
  }

  private async pass(): Promise<void> {
    const c = this.client;
    if (!this.desired.global) return; // gobgpd accepts no paths before StartBgp
    const [global, peers, exportPolicies, policies] = await Promise.all([
      c.getBgp(),
      c.listPeers(),
      c.globalExportPolicies(),
      c.listPolicies(),
    ]);
    const actions = planBgpConfig(this.desired, { global, peers, exportPolicies, policyNames: policies.map((p) => p.name) });
    for (const a of actions) await this.apply(a);

    if (!this.appliedValid) {
      // Only locally originated paths are ours to manage.
      const local = [...(await c.listPaths(4)), ...(await c.listPaths(6))].filter((p) => !p.neighborIp);
      this.applied = new Map(
        local.map((p) => [p.prefix, { ip: p.prefix, family: p.family, med: p.med, localPref: p.localPref }] as const),
      );
      this.appliedValid = true;
    }
    const routes = this.routeSource();
    const { add, withdraw } = diffRoutes(routes, this.applied);
    if (withdraw.length > 0) {
      await c.withdrawPaths(withdraw);
      for (const r of withdraw) this.applied.delete(r.ip);
    }
    if (add.length > 0) {
      await c.addPaths(add);
      for (const r of add) this.applied.set(r.ip, r);
    }
    if (actions.length > 0 || add.length > 0 || withdraw.length > 0) {
      this.log.info(
        { actions: actions.map((a) => a.kind), added: add.length, withdrawn: withdraw.length, advertised: this.applied.size },
        'BGP state converged',
      );
    }
  }

  private async apply(a: BgpAction): Promise<void> {
    const c = this.client;
    switch (a.kind) {
      case 'stopBgp':
        await c.stopBgp();
        break;
      case 'startBgp':
        await c.startBgp(a.global);
        // StartBgp starts from an empty RIB and policy table.
        this.applied.clear();
        this.appliedValid = true;
        break;
      case 'addPolicy':
        await c.addPolicy(a.policy);
        break;
      case 'setExportPolicies':
        await c.setGlobalExportPolicies(a.names);
        break;
      case 'deletePeer':
        await c.deletePeer(a.address);
        break;
      case 'addPeer':
        await c.addPeer(a.peer);
        break;
      case 'softResetOut':
        await c.resetPeerSoftOut('all');
        break;
    }
  }
}
