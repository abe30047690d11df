// kube-loxilb's Service reconciler (reference §6.2-§6.5). It owns, for every
// Service of type LoadBalancer with our loadBalancerClass: the IPAM claims
// (ServiceAddressing.ts), status.loadBalancer.ingress and the Events that
// explain what happened (ServiceReporter.ts), and the desired LB rules every
// live LB agent is given (ServiceRules.ts). This file is the pass that ties
// them together, when it runs, and what /metrics shows of it.
//
// Everything is one idempotent pass over the informer caches, run through a
// CoalescingLoop: a burst of watch events costs one pass, and the periodic
// resync and agent (re)starts run the same code. Before the first pass
// allocates anything, IPAM is rebuilt from every selected Service's status
// (oldest Service first), so a restarted or newly elected controller
// changes no address and hands out no duplicate.
//
// Failure handling, on purpose different from kube-loxilb:
// - A bad annotation is a Warning Event naming it and what is allowed; the
//   Service keeps the settings (and IP) it had. A new Service stays pending.
// - An exhausted pool is a Warning Event; the Service stays pending and is
//   retried on every pass (e.g. when another Service frees an address).
//   Nothing exits the process.
// - Status is written as a whole (merge patch of ingress), so stale entries
//   go away; a pending Service shows no address.
import type { KubeConfig, V1Service } from '@kubernetes/client-node';
import type { Allocation, IpAllocator } from '../ipam/IpAllocator.ts';
import type { KubeLoxilbConfig } from './config.ts';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import type { HistogramData } from '../util/Histogram.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import type { AgentPool } from './agentPool.ts';
import { isServiceSelected } from './annotations.ts';
import { EventRecorder } from './EventRecorder.ts';
import { errorText, type ClusterView, type ResourceName } from './KubeWatch.ts';
import { zoneInstances } from './planRules.ts';
import { eachBounded } from './eachBounded.ts';
import { Backoff } from '../util/Backoff.ts';
import { repeatEvery, systemClock, type Clock, type RepeatingTimer, type TimerHandle } from '../util/clock.ts';
import { byAge, keyOf, planNode, planService, slicesByService } from './serviceObjects.ts';
import { REASONS, ServiceReporter, type ServiceState } from './ServiceReporter.ts';
import { ServiceAddressing } from './ServiceAddressing.ts';
import { ServiceRules, type PlannedService } from './ServiceRules.ts';

export { REASONS };

/**
 * Status patches in flight at once. A burst of new Services (a Helm chart,
 * a namespace restored) then costs a few round trips to the API server
 * instead of one per Service, without flooding it.
 */
const STATUS_WRITES_IN_FLIGHT = 16;

export type ServiceControllerConfig = Pick<
  KubeLoxilbConfig,
  | 'v4Pools'
  | 'v6Pools'
  | 'secondaryPools'
  | 'ipamMode'
  | 'zone'
  | 'numZoneInstances'
  | 'noZoneName'
  | 'loadBalancerClass'
  | 'setBGP'
  | 'monitor'
  | 'setLBMode'
  | 'privateIP'
  | 'usePodNetwork'
  | 'useExternalEndpoint'
>;

export interface ServiceControllerOptions {
  config: ServiceControllerConfig;
  kubeConfig: KubeConfig;
  cluster: ClusterView;
  pool: AgentPool;
  log?: Logger;
  /** Default: a recorder on kubeConfig. */
  events?: EventRecorder;
  /** Full reconcile (every agent re-synced) this often; default 30 s. */
  resyncMs?: number;
  /** Pause before a pass that threw is retried; default 2 s. */
  retryMs?: number;
  /** Minimum time between passes while changes keep coming; default 100 ms. */
  spacingMs?: number;
  /** The spacing doubles while changes keep coming, up to this; default 800 ms. */
  maxSpacingMs?: number;
  /**
   * `ip` (default): status entries carry the address, so `kubectl get svc`
   * shows it as EXTERNAL-IP. `hostname`: kube-loxilb's `<zone>-<ip>` form
   * (unless --noZoneName). Both forms are read back after a restart.
   */
  ingressForm?: 'ip' | 'hostname';
  /** Resync period, retry delays and pass spacing run on it; the default EventRecorder gets it too (default: the system clock). */
  clock?: Clock;
}

/**
 * How /metrics counts a Service: programmed (an address, and every agent
 * took its rules), not_programmed (an address, but an agent refused a rule or
 * it has none to install: RuleNotInstalled / ProgrammingFailed), pending_ip
 * (no address: the pool is exhausted or IPAM refused), invalid (its
 * annotations cannot be used).
 */
export type ServiceMetricState = 'programmed' | 'not_programmed' | 'pending_ip' | 'invalid';

export interface ControllerMetrics {
  pools: ReturnType<IpAllocator['poolStats']>;
  services: Record<ServiceMetricState, number>;
  ipamFailures: { pool: string; code: string; count: number }[];
  programmingErrors: { agent: string; count: number }[];
  passDurations: HistogramData;
}

export class ServiceController {
  private readonly cfg: ServiceControllerConfig;
  private readonly cluster: ClusterView;
  private readonly pool: AgentPool;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  private readonly reporter: ServiceReporter;
  private readonly addressing: ServiceAddressing;
  private readonly rules: ServiceRules;
  private readonly loop: CoalescingLoop;
  private readonly states = new Map<string, ServiceState>();
  private restored = false;
  private forceAll = true;
  private running = false;
  private resyncTimer?: RepeatingTimer;
  /** The pass running now, if any: stop() waits for it (and not for retries the closed loop will never run). */
  private current?: Promise<void>;
  /** A write or sync failed in this pass: run another after a growing delay. */
  private failedInPass = false;
  private retryTimer?: TimerHandle;
  private readonly retry: Backoff;
  private readonly clock: Clock;
  private stopped = false;
  private readonly onChange = (_r: ResourceName) => this.loop.kick();
  private readonly onSynced = () => this.loop.kick();
  /** Completed passes (for tests and logs). */
  passes = 0;

  constructor(private readonly opts: ServiceControllerOptions) {
    this.cfg = opts.config;
    this.cluster = opts.cluster;
    this.pool = opts.pool;
    this.log = (opts.log ?? silentLogger).child({ part: 'ServiceController' });
    this.clock = opts.clock ?? systemClock;
    this.events = opts.events ?? new EventRecorder(opts.kubeConfig, { log: this.log, clock: this.clock });
    this.reporter = new ServiceReporter({
      kubeConfig: opts.kubeConfig,
      events: this.events,
      log: this.log,
      zone: this.cfg.zone,
      ingressForm: opts.ingressForm ?? 'ip',
      noZoneName: this.cfg.noZoneName,
      loadBalancerClass: this.cfg.loadBalancerClass,
      onWriteFailed: () => (this.failedInPass = true),
    });
    this.addressing = new ServiceAddressing(this.cfg, this.reporter, this.log);
    this.rules = new ServiceRules(this.cfg, this.pool, this.reporter, this.log);
    const retryMs = opts.retryMs ?? 2000;
    // After a failed pass: retryMs, then doubling up to the resync period.
    this.retry = new Backoff(retryMs, Math.max(retryMs, opts.resyncMs ?? 30_000));
    this.loop = new CoalescingLoop(() => (this.current = this.pass()), {
      onError: (err) => {
        this.log.error({ err: errorText(err) }, 'reconcile pass failed; retrying');
        return retryMs;
      },
      spacingMs: opts.spacingMs ?? 100,
      // While Services keep arriving (kubectl apply of a thousand, one request each), every pass
      // re-plans and re-reads everything: stretch the spacing up to this so the burst costs a few
      // dozen passes, not one per 100 ms.
      maxSpacingMs: opts.maxSpacingMs ?? 800,
      clock: this.clock,
    });
    this.pool.on('agentUp', (a) => {
      if (!this.running) return;
      this.rules.forgetAgent(a.id);
      this.loop.kickNow();
    });
    this.pool.on('agentDown', (a) => {
      this.rules.forgetAgent(a.id);
    });
    this.pool.on('agentsChanged', () => {
      if (this.running) this.loop.kick();
    });
  }

  /** Starts reacting to the caches and the pool. A controller runs once: after stop(), make a new one. */
  start(): void {
    if (this.running) return;
    if (this.stopped) throw new Error('a stopped ServiceController cannot be started again');
    this.running = true;
    this.cluster.on('change', this.onChange);
    this.cluster.on('synced', this.onSynced);
    const resyncMs = this.opts.resyncMs ?? 30_000;
    this.resyncTimer = repeatEvery(this.clock, resyncMs, () => {
      this.forceAll = true;
      this.loop.kick();
    });
    this.loop.kick();
  }

  /** Stops reacting; waits for a running pass and pending Event writes. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopped = true;
    this.cluster.off('change', this.onChange);
    this.cluster.off('synced', this.onSynced);
    this.resyncTimer?.stop();
    if (this.retryTimer !== undefined) this.clock.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    this.loop.close();
    await this.current?.catch(() => undefined);
    await this.events.flush();
  }

  /** Resolves when no pass is pending or running and Events are written (tests). */
  async whenIdle(): Promise<void> {
    await this.loop.whenIdle();
    await this.events.flush();
  }

  /** Runs a full pass soon (every agent re-synced). */
  resync(): void {
    this.forceAll = true;
    this.loop.kick();
  }

  /** What /metrics shows of the controller: pools, Services by state, failures, pass durations. */
  metrics(): ControllerMetrics {
    const services: Record<ServiceMetricState, number> = { programmed: 0, not_programmed: 0, pending_ip: 0, invalid: 0 };
    for (const st of this.states.values()) {
      if (!st.settings) services.invalid++;
      else if (!st.allocation) services.pending_ip++;
      else if (st.conditions.has(REASONS.programmingFailed) || st.conditions.has(REASONS.ruleNotInstalled)) services.not_programmed++;
      else services.programmed++;
    }
    return {
      pools: this.addressing.poolStats(),
      services,
      ipamFailures: this.addressing.failureCounts(),
      programmingErrors: this.rules.programmingErrors(),
      passDurations: this.loop.durations.data(),
    };
  }

  /** What IPAM holds now, by Service. */
  allocations(): Allocation[] {
    return this.addressing.allocations();
  }

  // ------------------------------------------------------------------ the pass

  private async pass(): Promise<void> {
    if (!this.running || !this.cluster.synced()) return;
    const force = this.forceAll;
    this.forceAll = false;
    this.failedInPass = false;
    const all = this.cluster.services();
    const byKey = new Map(all.map((s) => [keyOf(s), s]));
    const selected = all.filter((s) => this.isOurs(s)).sort(byAge);

    if (!this.restored) {
      this.addressing.restoreFromStatus(selected, (svc) => this.stateFor(svc));
      this.restored = true;
    }

    for (const [key, st] of [...this.states]) {
      const svc = byKey.get(key);
      if (svc && this.isOurs(svc) && svc.metadata?.uid === st.uid) continue;
      await this.forget(st, svc);
    }

    // Addresses are decided in one go, oldest Service first; then status
    // writes and agent programming run side by side, neither waiting for
    // the other (they share nothing but the allocations made here).
    const planned: PlannedService[] = [];
    const slices = slicesByService(this.cluster.endpointSlices());
    const settled: { svc: V1Service; st: ServiceState }[] = [];
    for (const svc of selected) {
      const st = this.stateFor(svc);
      this.addressing.settle(svc, st);
      settled.push({ svc, st });
      if (st.allocation && st.settings) {
        planned.push({ svc, st, plan: planService(svc, { allocation: st.allocation, settings: st.settings, instance: st.instance }, slices.get(st.key) ?? []) });
      }
    }

    await Promise.all([
      eachBounded(settled, STATUS_WRITES_IN_FLIGHT, ({ svc, st }) => this.reporter.writeStatus(svc, st)),
      this.rules.sync(planned, this.cluster.nodes().map(planNode), force).then((ok) => {
        if (!ok) this.failedInPass = true;
      }),
    ]);
    this.passes++;
    this.scheduleRetry();
  }

  /** After a failed status write or agent sync: another full pass later, backing off up to the resync period. */
  private scheduleRetry(): void {
    if (!this.failedInPass) {
      this.retry.reset();
      return;
    }
    if (this.retryTimer !== undefined || !this.running) return;
    const delay = this.retry.next();
    this.retryTimer = this.clock.setTimer(() => {
      this.retryTimer = undefined;
      this.forceAll = true;
      this.loop.kick();
    }, delay);
  }

  private isOurs(svc: V1Service): boolean {
    if (svc.metadata?.deletionTimestamp) return false;
    return isServiceSelected(
      { type: svc.spec?.type, loadBalancerClass: svc.spec?.loadBalancerClass, annotations: svc.metadata?.annotations },
      { loadBalancerClass: this.cfg.loadBalancerClass, zone: this.cfg.zone },
    );
  }

  private stateFor(svc: V1Service): ServiceState {
    const key = keyOf(svc);
    let st = this.states.get(key);
    if (!st) {
      st = {
        key,
        uid: svc.metadata?.uid ?? '',
        instance: this.instanceFor(key),
        conditions: new Map(),
        announced: JSON.stringify(this.reporter.statusAddresses(svc)),
      };
      this.states.set(key, st);
    }
    return st;
  }

  /** Unique IPs spread Services over the zone's instances; a hash keeps the choice across restarts. */
  private instanceFor(key: string): string {
    const instances = zoneInstances(this.cfg.zone, Math.max(1, this.cfg.numZoneInstances));
    if (this.cfg.ipamMode !== 'unique') return instances[0]!;
    let h = 0;
    for (const c of key) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return instances[h % instances.length]!;
  }

  /** A Service deleted, or no longer ours: its addresses go back to the pools and, if it is still there, leave its status. */
  private async forget(st: ServiceState, svc: V1Service | undefined): Promise<void> {
    this.states.delete(st.key);
    const ips = this.addressing.release(st.key);
    if (ips.length > 0) this.log.info({ service: st.key, released: ips }, svc ? 'Service left the loadBalancerClass; addresses released' : 'Service deleted; addresses released');
    // Still there (type or class changed, or re-created): take our entries out of its status.
    if (svc && svc.metadata?.uid === st.uid && ips.length > 0) await this.reporter.withdraw(svc, ips);
  }
}
