// kube-loxilb's Service reconciler (reference §6.2-§6.5). It owns, for every
// Service of type LoadBalancer with our loadBalancerClass: the IPAM claims,
// status.loadBalancer.ingress, the Events that explain what happened, and
// the desired LB rules every live LB agent is given.
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
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1EndpointSlice,
  type V1LoadBalancerIngress,
  type V1Node,
  type V1Service,
} from '@kubernetes/client-node';
import { IpAllocator, type Allocation, type PortProto } from '../ipam/IpAllocator.ts';
import { parseAddress } from '../ipam/ipRange.ts';
import type { LbRule } from '../lb/LbRule.ts';
import type { KubeLoxilbConfig } from './config.ts';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import type { HistogramData } from '../util/Histogram.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import type { AgentInfo, AgentPool } from './agentPool.ts';
import {
  allocationRequest,
  defaultServiceSettings,
  isServiceSelected,
  parseServiceAnnotations,
  type AnnotationContext,
  type AnnotationProblem,
  type ServiceFamilySpec,
  type ServiceSettings,
} from './annotations.ts';
import { EventRecorder } from './EventRecorder.ts';
import { SERVICE_NAME_LABEL, errorText, type ClusterView, type ResourceName } from './KubeWatch.ts';
import { statusOf } from './LeaderElector.ts';
import { planRules, zoneInstances, type PlanConfig, type PlanEndpointSlice, type PlanInput, type PlanNode, type PlanService } from './planRules.ts';
import { formatIngress, parseIngress, type IngressEntry } from './serviceStatus.ts';
import { makeApiClient } from './kubeApiClient.ts';
import { eachBounded } from './eachBounded.ts';
import { Backoff } from '../util/Backoff.ts';
import { repeatEvery, systemClock, type Clock, type RepeatingTimer, type TimerHandle } from '../util/clock.ts';

/**
 * Status patches in flight at once. A burst of new Services (a Helm chart,
 * a namespace restored) then costs a few round trips to the API server
 * instead of one per Service, without flooding it.
 */
const STATUS_WRITES_IN_FLIGHT = 16;

/** Event reasons, for `kubectl get events --field-selector reason=...`. */
export const REASONS = {
  allocated: 'IPAllocated',
  released: 'IPReleased',
  exhausted: 'IPAMExhausted',
  ipamFailed: 'IPAMFailed',
  restoreConflict: 'IPConflict',
  invalidAnnotation: 'InvalidAnnotation',
  ignoredAnnotation: 'AnnotationIgnored',
  ruleNotInstalled: 'RuleNotInstalled',
  programmingFailed: 'ProgrammingFailed',
} as const;

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

interface Planned {
  svc: V1Service;
  st: ServiceState;
  plan: PlanService;
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

interface ServiceState {
  key: string;
  uid: string;
  settings?: ServiceSettings;
  allocation?: Allocation;
  /** The allocation request that produced `allocation`. */
  requestFp?: string;
  instance: string;
  /** reason -> message currently reported; an Event is written when it changes. */
  conditions: Map<string, string>;
  /** The addresses last announced (IPAllocated) or found in status. */
  announced: string;
  /** Our last status write: what, and the resourceVersion it replaced. */
  written?: { ingress: string; replacedRv?: string };
}

export class ServiceController {
  private readonly cfg: ServiceControllerConfig;
  private readonly cluster: ClusterView;
  private readonly pool: AgentPool;
  private readonly core: CoreV1Api;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  private readonly ipam: IpAllocator;
  private readonly ctx: AnnotationContext;
  private readonly loop: CoalescingLoop;
  private readonly states = new Map<string, ServiceState>();
  /** agent id -> fingerprint of the rules it last took without error. */
  private readonly agentSynced = new Map<string, string>();
  private readonly ingressForm: 'ip' | 'hostname';
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
  /** Allocation attempts that failed, by "pool|code" (for /metrics). */
  private readonly ipamFailures = new Map<string, number>();
  /** Rules an agent refused or syncs that failed, by agent (for /metrics). */
  private readonly programmingErrors = new Map<string, number>();

  constructor(private readonly opts: ServiceControllerOptions) {
    this.cfg = opts.config;
    this.cluster = opts.cluster;
    this.pool = opts.pool;
    this.log = (opts.log ?? silentLogger).child({ part: 'ServiceController' });
    this.core = makeApiClient(opts.kubeConfig, CoreV1Api);
    this.clock = opts.clock ?? systemClock;
    this.events = opts.events ?? new EventRecorder(opts.kubeConfig, { log: this.log, clock: this.clock });
    this.ingressForm = opts.ingressForm ?? 'ip';
    this.ipam = new IpAllocator({ v4Pools: this.cfg.v4Pools, v6Pools: this.cfg.v6Pools, secondaryPools: this.cfg.secondaryPools, mode: this.cfg.ipamMode });
    this.ctx = {
      v4Pools: this.ipam.poolNames('v4'),
      v6Pools: this.ipam.poolNames('v6'),
      secondaryPools: this.ipam.poolNames('secondary'),
      zone: this.cfg.zone,
      numZoneInstances: this.cfg.numZoneInstances,
    };
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
      this.agentSynced.delete(a.id);
      this.loop.kickNow();
    });
    this.pool.on('agentDown', (a) => {
      this.agentSynced.delete(a.id);
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
    const failures = [...this.ipamFailures].map(([k, count]) => {
      const [pool, code] = k.split('|') as [string, string];
      return { pool, code, count };
    });
    return {
      pools: this.ipam.poolStats(),
      services,
      ipamFailures: failures,
      programmingErrors: [...this.programmingErrors].map(([agent, count]) => ({ agent, count })),
      passDurations: this.loop.durations.data(),
    };
  }

  /** What IPAM holds now, by Service. */
  allocations(): Allocation[] {
    return this.ipam.allocations();
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
      this.restoreFromStatus(selected);
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
    const planned: Planned[] = [];
    const slices = slicesByService(this.cluster.endpointSlices());
    const settled: { svc: V1Service; st: ServiceState }[] = [];
    for (const svc of selected) {
      const st = this.stateFor(svc);
      this.settle(svc, st);
      settled.push({ svc, st });
      if (st.allocation && st.settings) planned.push({ svc, st, plan: this.planService(svc, st, slices.get(st.key) ?? []) });
    }

    await Promise.all([
      eachBounded(settled, STATUS_WRITES_IN_FLIGHT, ({ svc, st }) => this.writeStatus(svc, st)),
      this.syncAgents(planned, this.cluster.nodes().map(planNode), force),
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
        announced: JSON.stringify(this.statusAddresses(svc)),
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

  // ------------------------------------------------------------------ IPAM

  /**
   * Re-reserves what every selected Service already shows in its status:
   * per family, the first address is the VIP, later ones secondary IPs (the
   * order writeStatus uses). Oldest Service first, so if two claim the same
   * address the older keeps it and the younger gets a new one.
   */
  private restoreFromStatus(selected: readonly V1Service[]): void {
    let restored = 0;
    for (const svc of selected) {
      const key = keyOf(svc);
      const ips = this.statusAddresses(svc);
      if (ips.length === 0) continue;
      const st = this.stateFor(svc);
      const ports = portsOf(svc);
      const families = new Set<number>();
      for (const ip of ips) {
        const family = parseAddress(ip)!.family;
        const r = this.ipam.restore(key, ip, ports, { secondary: families.has(family) });
        families.add(family);
        if (r.ok) {
          restored++;
          continue;
        }
        this.condition(svc, st, REASONS.restoreConflict, 'Warning', `status address ${ip} cannot be kept: ${r.error.message}; a new address is allocated`);
      }
      st.allocation = this.ipam.get(key);
    }
    this.log.info({ services: selected.length, addresses: restored }, 'IPAM restored from Service status');
  }

  /** Settings from the annotations, then the allocation they ask for. */
  private settle(svc: V1Service, st: ServiceState): void {
    const annotations = svc.metadata?.annotations ?? {};
    const parsed = parseServiceAnnotations(annotations, this.ctx);
    if (parsed.ok) {
      st.settings = parsed.settings;
      this.clear(st, REASONS.invalidAnnotation);
      if (parsed.warnings.length > 0) this.condition(svc, st, REASONS.ignoredAnnotation, 'Warning', joinProblems(parsed.warnings));
      else this.clear(st, REASONS.ignoredAnnotation);
    } else {
      let consequence: string;
      if (st.settings) consequence = 'the Service keeps its previous settings';
      else if (st.allocation) {
        // Restarted controller: the last good values are gone; the valid annotations still apply.
        st.settings = withoutProblems(annotations, this.ctx, parsed.errors);
        consequence = 'the invalid annotations are ignored and the Service keeps its address';
      } else consequence = 'the Service stays pending until this is fixed';
      this.condition(svc, st, REASONS.invalidAnnotation, 'Warning', `${joinProblems(parsed.errors)} (${consequence})`);
    }
    if (!st.settings) return;

    const { request, fallback } = allocationRequest(st.key, portsOf(svc), st.settings, familySpec(svc));
    const fp = JSON.stringify([request, fallback]);
    if (st.allocation && st.requestFp === fp) return;
    let r = this.ipam.allocate(request);
    if (!r.ok && fallback) {
      const second = this.ipam.allocate(fallback);
      if (second.ok) r = second;
    }
    if (r.ok) {
      st.allocation = r.allocation;
      st.requestFp = fp;
      this.clear(st, REASONS.exhausted);
      this.clear(st, REASONS.ipamFailed);
      return;
    }
    const reason = r.error.code === 'exhausted' ? REASONS.exhausted : REASONS.ipamFailed;
    const fk = `${r.error.pool ?? ''}|${r.error.code}`;
    this.ipamFailures.set(fk, (this.ipamFailures.get(fk) ?? 0) + 1);
    const keep = st.allocation ? `; the Service keeps ${addressesOf(st.allocation).join(', ')}` : '; the Service stays pending';
    this.condition(svc, st, reason, 'Warning', `${r.error.message}${keep}`);
  }

  private async forget(st: ServiceState, svc: V1Service | undefined): Promise<void> {
    this.states.delete(st.key);
    const released = this.ipam.release(st.key);
    const ips = released ? addressesOf(released) : [];
    if (ips.length > 0) this.log.info({ service: st.key, released: ips }, svc ? 'Service left the loadBalancerClass; addresses released' : 'Service deleted; addresses released');
    // Still there (type or class changed, or re-created): take our entries out of its status.
    if (svc && svc.metadata?.uid === st.uid && ips.length > 0) {
      const current = ingressOf(svc);
      const keep = current.filter((e) => {
        const ip = parseIngress(e, this.cfg.zone);
        return ip === undefined || !ips.includes(ip);
      });
      if (keep.length !== current.length) {
        await this.patchIngress(svc, keep);
        this.events.service(svc, 'Normal', REASONS.released, `released ${ips.join(', ')}: the Service is no longer a LoadBalancer of class ${this.cfg.loadBalancerClass}`);
      }
    }
  }

  // ------------------------------------------------------------------ status

  private async writeStatus(svc: V1Service, st: ServiceState): Promise<void> {
    const ips = st.allocation ? addressesOf(st.allocation) : [];
    const desired = ips.map((ip) => this.ingressEntry(ip));
    const want = JSON.stringify(desired);
    const current = ingressOf(svc);
    const rv = svc.metadata?.resourceVersion;
    if (JSON.stringify(current) !== want) {
      // Our own write may simply not be in the cache yet.
      const cacheLags = st.written?.ingress === want && st.written.replacedRv === rv;
      if (!cacheLags) {
        if (await this.patchIngress(svc, desired)) st.written = { ingress: want, replacedRv: rv };
      }
    }
    const announced = JSON.stringify(ips);
    if (announced !== st.announced && ips.length > 0) {
      const pools = [...new Set(st.allocation!.vips.map((v) => v.pool ?? 'static'))];
      this.events.service(svc, 'Normal', REASONS.allocated, `external IP ${ips.join(', ')} (${pools.join(', ')})`);
    }
    st.announced = announced;
  }

  private ingressEntry(ip: string): IngressEntry {
    return formatIngress(ip, { zone: this.cfg.zone, noZoneName: this.ingressForm === 'ip' || this.cfg.noZoneName });
  }

  /** Merge patch of status.loadBalancer.ingress: the list is replaced as a whole. */
  private async patchIngress(svc: V1Service, ingress: IngressEntry[]): Promise<boolean> {
    const name = svc.metadata!.name!;
    const namespace = svc.metadata!.namespace ?? 'default';
    try {
      await this.core.patchNamespacedServiceStatus(
        { name, namespace, body: { status: { loadBalancer: { ingress } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      this.log.info({ service: `${namespace}/${name}`, ingress }, 'status written');
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      this.log.warn({ service: `${namespace}/${name}`, err: errorText(err) }, 'could not write status; retrying');
      this.failedInPass = true;
      return false;
    }
  }

  /** Addresses our status entries stand for (either form), in order, without repeats. */
  private statusAddresses(svc: V1Service): string[] {
    const out: string[] = [];
    for (const e of ingressOf(svc)) {
      const ip = parseIngress(e, this.cfg.zone);
      if (ip !== undefined && !out.includes(ip)) out.push(ip);
    }
    return out;
  }

  // ------------------------------------------------------------------ rules

  private planService(svc: V1Service, st: ServiceState, slices: PlanEndpointSlice[]): PlanService {
    const spec = svc.spec ?? {};
    const p: PlanService = {
      namespace: svc.metadata?.namespace ?? 'default',
      name: svc.metadata?.name ?? '',
      ports: (spec.ports ?? []).map((sp) => ({
        ...(sp.name ? { name: sp.name } : {}),
        port: sp.port,
        protocol: sp.protocol ?? 'TCP',
        ...(sp.nodePort ? { nodePort: sp.nodePort } : {}),
      })),
      vips: st.allocation!.vips.map((v) => v.ip),
      secondaryIPs: st.allocation!.secondaryIPs.map((v) => v.ip),
      settings: st.settings!,
      instance: st.instance,
      endpointSlices: slices,
    };
    if (spec.externalTrafficPolicy === 'Local' || spec.externalTrafficPolicy === 'Cluster') p.externalTrafficPolicy = spec.externalTrafficPolicy;
    if (spec.loadBalancerSourceRanges?.length) p.loadBalancerSourceRanges = spec.loadBalancerSourceRanges;
    return p;
  }

  private async syncAgents(planned: readonly Planned[], nodes: PlanNode[], force: boolean): Promise<void> {
    const services = planned.map((p) => p.plan);
    const config: PlanConfig = {
      setBGP: this.cfg.setBGP,
      monitor: this.cfg.monitor,
      setLBMode: this.cfg.setLBMode,
      zone: this.cfg.zone,
      usePodNetwork: this.cfg.usePodNetwork,
      useExternalEndpoint: this.cfg.useExternalEndpoint,
      ...(this.cfg.privateIP !== undefined ? { privateIP: this.cfg.privateIP } : {}),
    };
    const input: PlanInput = { services, nodes, config };
    const common = planRules(input);

    // Plan notes: why a Service (or one of its ports) has no rule.
    const notes = new Map<string, string[]>();
    for (const n of common.notes) notes.set(n.service, [...(notes.get(n.service) ?? []), n.message]);
    for (const { svc, st } of planned) {
      const msgs = notes.get(st.key);
      if (msgs) this.condition(svc, st, REASONS.ruleNotInstalled, 'Warning', msgs.join('; '));
      else this.clear(st, REASONS.ruleNotInstalled);
    }

    const perAgent = services.some((s) => s.settings.prefLocalPod);
    const agents = this.pool.liveLbAgents();
    const failures = new Map<string, string[]>();
    // Without prefLocalPod every agent gets the same rules: one fingerprint for all.
    const commonFp = perAgent || agents.length === 0 ? undefined : JSON.stringify(common.rules);
    await Promise.all(
      agents.map(async (agent) => {
        const rules = perAgent ? planRules(input, [agent.nodeAddress]).rules : common.rules;
        const fp = commonFp ?? JSON.stringify(rules);
        if (!force && this.agentSynced.get(agent.id) === fp) return;
        let errors: string[];
        try {
          const r = await this.pool.syncRules(agent.id, rules);
          errors = r.errors;
          if (r.added + r.modified + r.deleted > 0 || errors.length > 0) {
            this.log.info({ agent: agent.id, rules: rules.length, added: r.added, modified: r.modified, deleted: r.deleted, errors: errors.length }, 'agent synced');
          }
        } catch (err) {
          errors = [errorText(err)];
          this.log.error({ agent: agent.id, err: errors[0] }, 'syncRules failed');
        }
        if (errors.length === 0) {
          this.agentSynced.set(agent.id, fp);
          return;
        }
        this.programmingErrors.set(agent.id, (this.programmingErrors.get(agent.id) ?? 0) + errors.length);
        this.agentSynced.delete(agent.id);
        this.failedInPass = true;
        if (!this.stillAlive(agent)) return;
        for (const [key, msg] of attributeErrors(errors, rules, agent)) failures.set(key, [...(failures.get(key) ?? []), msg]);
      }),
    );
    for (const { svc, st } of planned) {
      const f = failures.get(st.key);
      if (f) this.condition(svc, st, REASONS.programmingFailed, 'Warning', f.join('; '));
      else if (agents.length > 0) this.clear(st, REASONS.programmingFailed);
    }
  }

  private stillAlive(agent: AgentInfo): boolean {
    return this.pool.liveLbAgents().some((a) => a.id === agent.id);
  }

  // ------------------------------------------------------------------ events

  /** Writes an Event when a condition appears or its message changes. */
  private condition(svc: V1Service, st: ServiceState, reason: string, type: 'Normal' | 'Warning', message: string): void {
    if (st.conditions.get(reason) === message) return;
    st.conditions.set(reason, message);
    this.events.service(svc, type, reason, message);
  }

  private clear(st: ServiceState, reason: string): void {
    st.conditions.delete(reason);
  }
}

// ------------------------------------------------------------------ helpers

function keyOf(svc: { metadata?: { namespace?: string; name?: string } }): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

/** Oldest first (list items carry Dates, watch events strings), then by key. */
function byAge(a: V1Service, b: V1Service): number {
  const t = (s: V1Service) => {
    const v = s.metadata?.creationTimestamp as unknown;
    const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
    return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
  };
  return t(a) - t(b) || keyOf(a).localeCompare(keyOf(b));
}

function portsOf(svc: V1Service): PortProto[] {
  return (svc.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: (p.protocol ?? 'TCP').toLowerCase() }));
}

function familySpec(svc: V1Service): ServiceFamilySpec {
  const spec = svc.spec ?? {};
  const out: ServiceFamilySpec = {};
  const policy = spec.ipFamilyPolicy;
  if (policy === 'SingleStack' || policy === 'PreferDualStack' || policy === 'RequireDualStack') out.ipFamilyPolicy = policy;
  const families = (spec.ipFamilies ?? []).filter((f): f is 'IPv4' | 'IPv6' => f === 'IPv4' || f === 'IPv6');
  if (families.length > 0) out.ipFamilies = families;
  return out;
}

function addressesOf(a: Allocation): string[] {
  return [...a.vips.map((v) => v.ip), ...a.secondaryIPs.map((v) => v.ip)];
}

/** Status entries reduced to the fields we write. */
function ingressOf(svc: V1Service): IngressEntry[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((e: V1LoadBalancerIngress) => {
    const out: IngressEntry = {};
    if (e.ip) out.ip = e.ip;
    if (e.hostname) out.hostname = e.hostname;
    return out;
  });
}

function joinProblems(problems: readonly AnnotationProblem[]): string {
  return problems.map((p) => p.message).join('; ');
}

/** Settings from the annotations minus the ones that are wrong. */
function withoutProblems(annotations: Record<string, string>, ctx: AnnotationContext, errors: readonly AnnotationProblem[]): ServiceSettings {
  const rest = { ...annotations };
  let problems = errors;
  for (let i = 0; i < 8; i++) {
    for (const p of problems) delete rest[p.annotation];
    const r = parseServiceAnnotations(rest, ctx);
    if (r.ok) return r.settings;
    problems = r.errors;
  }
  return defaultServiceSettings();
}

function slicesByService(slices: readonly V1EndpointSlice[]): Map<string, PlanEndpointSlice[]> {
  const out = new Map<string, PlanEndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const type = s.addressType;
    if (type !== 'IPv4' && type !== 'IPv6' && type !== 'FQDN') continue;
    const key = `${s.metadata?.namespace ?? 'default'}/${svc}`;
    const plan: PlanEndpointSlice = {
      addressType: type,
      ports: (s.ports ?? []).map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        ...(p.port !== undefined ? { port: p.port } : {}),
        ...(p.protocol ? { protocol: p.protocol } : {}),
      })),
      endpoints: (s.endpoints ?? []).map((e) => ({
        addresses: e.addresses ?? [],
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        ...(e.conditions?.ready !== undefined && e.conditions.ready !== null ? { ready: e.conditions.ready } : {}),
      })),
    };
    out.set(key, [...(out.get(key) ?? []), plan]);
  }
  return out;
}

function planNode(n: V1Node): PlanNode {
  const ready = (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const out: PlanNode = {
    name: n.metadata?.name ?? '',
    ready,
    internalIPs: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
  };
  if (n.metadata?.labels) out.labels = n.metadata.labels;
  return out;
}

/**
 * The pool reports errors as text naming the rule (`rule <ip>:<port>/<proto>`);
 * each goes to the Service whose rule it names. Agent-wide errors (cannot
 * list rules) go to every Service that has rules on that agent.
 */
function attributeErrors(errors: readonly string[], rules: readonly LbRule[], agent: AgentInfo): Map<string, string> {
  const byRule = new Map<string, string>();
  for (const r of rules) {
    const sa = r.serviceArguments;
    const name = sa.name ?? '';
    const svc = name.slice(0, name.indexOf(':')).replace('_', '/');
    byRule.set(`rule ${sa.externalIP}:${sa.port}/${sa.protocol}`, svc);
  }
  const out = new Map<string, string>();
  for (const e of errors) {
    const hits = [...byRule].filter(([text]) => e.includes(`${text} `) || e.endsWith(text)).map(([, svc]) => svc);
    const targets = hits.length > 0 ? hits : [...new Set(byRule.values())];
    for (const svc of targets) {
      const prev = out.get(svc);
      const msg = `agent ${agent.id}: ${e}`;
      out.set(svc, prev ? `${prev}; ${msg}` : msg);
    }
  }
  return out;
}
