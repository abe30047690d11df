// What a Service of ours shows to its users: status.loadBalancer.ingress
// (written as a whole by a merge patch, so stale entries go away and a
// pending Service shows no address) and the Events that explain what
// happened to it (one per condition that appears or changes its message).
// Also the per-Service state the ServiceController keeps, and the Event
// reasons, which every part of the controller reports through here.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import type { Allocation } from '../ipam/IpAllocator.ts';
import type { Logger } from '../util/logger.ts';
import type { ServiceSettings } from './annotations.ts';
import type { EventRecorder } from './EventRecorder.ts';
import { errorText } from './KubeWatch.ts';
import { statusOf } from './LeaderElector.ts';
import { makeApiClient } from './kubeApiClient.ts';
import { addressesOf, ingressOf } from './serviceObjects.ts';
import { formatIngress, parseIngress, type IngressEntry } from './serviceStatus.ts';

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

/** What the controller keeps per Service between passes. */
export interface ServiceState {
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

export interface ServiceReporterOptions {
  kubeConfig: KubeConfig;
  events: EventRecorder;
  log: Logger;
  zone: string;
  /** Status entries carry the bare address (`ip`), or kube-loxilb's `<zone>-<ip>` hostname. */
  ingressForm: 'ip' | 'hostname';
  noZoneName: boolean;
  loadBalancerClass: string;
  /** A status write failed in a way that may pass: the controller runs another pass later. */
  onWriteFailed: () => void;
}

export class ServiceReporter {
  private readonly core: CoreV1Api;

  constructor(private readonly opts: ServiceReporterOptions) {
    this.core = makeApiClient(opts.kubeConfig, CoreV1Api);
  }

  /** Writes an Event when a condition appears or its message changes. */
  condition(svc: V1Service, st: ServiceState, reason: string, type: 'Normal' | 'Warning', message: string): void {
    if (st.conditions.get(reason) === message) return;
    st.conditions.set(reason, message);
    this.opts.events.service(svc, type, reason, message);
  }

  clear(st: ServiceState, reason: string): void {
    st.conditions.delete(reason);
  }

  /** Brings status.loadBalancer.ingress to the Service's allocation; announces a new address with IPAllocated. */
  async writeStatus(svc: V1Service, st: ServiceState): Promise<void> {
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
      this.opts.events.service(svc, 'Normal', REASONS.allocated, `external IP ${ips.join(', ')} (${pools.join(', ')})`);
    }
    st.announced = announced;
  }

  /** A Service still there that is no longer ours (type or class changed): our entries for `ips` leave its status. */
  async withdraw(svc: V1Service, ips: readonly string[]): Promise<void> {
    const current = ingressOf(svc);
    const keep = current.filter((e) => {
      const ip = parseIngress(e, this.opts.zone);
      return ip === undefined || !ips.includes(ip);
    });
    if (keep.length === current.length) return;
    await this.patchIngress(svc, keep);
    this.opts.events.service(svc, 'Normal', REASONS.released, `released ${ips.join(', ')}: the Service is no longer a LoadBalancer of class ${this.opts.loadBalancerClass}`);
  }

  /** Addresses our status entries stand for (either form), in order, without repeats. */
  statusAddresses(svc: V1Service): string[] {
    const out: string[] = [];
    for (const e of ingressOf(svc)) {
      const ip = parseIngress(e, this.opts.zone);
      if (ip !== undefined && !out.includes(ip)) out.push(ip);
    }
    return out;
  }

  private ingressEntry(ip: string): IngressEntry {
    return formatIngress(ip, { zone: this.opts.zone, noZoneName: this.opts.ingressForm === 'ip' || this.opts.noZoneName });
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
      this.opts.log.info({ service: `${namespace}/${name}`, ingress }, 'status written');
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      this.opts.log.warn({ service: `${namespace}/${name}`, err: errorText(err) }, 'could not write status; retrying');
      this.opts.onWriteFailed();
      return false;
    }
  }
}
