// The addresses of kube-loxilb's Services: the IPAM pools, the settings each
// Service's annotations give (a bad annotation keeps the last good ones),
// and the allocation they ask for. Before the first allocation, IPAM is
// rebuilt from every selected Service's status (oldest first), so a
// restarted or newly elected controller changes no address and hands out no
// duplicate. An exhausted pool or a refusal leaves the Service pending (or
// on its old address) with a Warning; it is retried on every pass.
import type { V1Service } from '@kubernetes/client-node';
import { IpAllocator, type Allocation } from '../ipam/IpAllocator.ts';
import { parseAddress } from '../ipam/ipRange.ts';
import type { Logger } from '../util/logger.ts';
import {
  allocationRequest,
  defaultServiceSettings,
  parseServiceAnnotations,
  type AnnotationContext,
  type AnnotationProblem,
  type ServiceSettings,
} from './annotations.ts';
import type { KubeLoxilbConfig } from './config.ts';
import { addressesOf, familySpec, keyOf, portsOf } from './serviceObjects.ts';
import { REASONS, type ServiceReporter, type ServiceState } from './ServiceReporter.ts';

export type AddressingConfig = Pick<KubeLoxilbConfig, 'v4Pools' | 'v6Pools' | 'secondaryPools' | 'ipamMode' | 'zone' | 'numZoneInstances'>;

export class ServiceAddressing {
  private readonly ipam: IpAllocator;
  private readonly ctx: AnnotationContext;
  /** Allocation attempts that failed, by "pool|code" (for /metrics). */
  private readonly failures = new Map<string, number>();

  constructor(
    cfg: AddressingConfig,
    private readonly reporter: ServiceReporter,
    private readonly log: Logger,
  ) {
    this.ipam = new IpAllocator({ v4Pools: cfg.v4Pools, v6Pools: cfg.v6Pools, secondaryPools: cfg.secondaryPools, mode: cfg.ipamMode });
    this.ctx = {
      v4Pools: this.ipam.poolNames('v4'),
      v6Pools: this.ipam.poolNames('v6'),
      secondaryPools: this.ipam.poolNames('secondary'),
      zone: cfg.zone,
      numZoneInstances: cfg.numZoneInstances,
    };
  }

  /**
   * Re-reserves what every selected Service already shows in its status:
   * per family, the first address is the VIP, later ones secondary IPs (the
   * order status is written in). Oldest Service first, so if two claim the
   * same address the older keeps it and the younger gets a new one.
   */
  restoreFromStatus(selected: readonly V1Service[], stateFor: (svc: V1Service) => ServiceState): void {
    let restored = 0;
    for (const svc of selected) {
      const key = keyOf(svc);
      const ips = this.reporter.statusAddresses(svc);
      if (ips.length === 0) continue;
      const st = stateFor(svc);
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
        this.reporter.condition(svc, st, REASONS.restoreConflict, 'Warning', `status address ${ip} cannot be kept: ${r.error.message}; a new address is allocated`);
      }
      st.allocation = this.ipam.get(key);
    }
    this.log.info({ services: selected.length, addresses: restored }, 'IPAM restored from Service status');
  }

  /** Settings from the annotations, then the allocation they ask for. */
  settle(svc: V1Service, st: ServiceState): void {
    const annotations = svc.metadata?.annotations ?? {};
    const parsed = parseServiceAnnotations(annotations, this.ctx);
    if (parsed.ok) {
      st.settings = parsed.settings;
      this.reporter.clear(st, REASONS.invalidAnnotation);
      if (parsed.warnings.length > 0) this.reporter.condition(svc, st, REASONS.ignoredAnnotation, 'Warning', joinProblems(parsed.warnings));
      else this.reporter.clear(st, REASONS.ignoredAnnotation);
    } else {
      let consequence: string;
      if (st.settings) consequence = 'the Service keeps its previous settings';
      else if (st.allocation) {
        // Restarted controller: the last good values are gone; the valid annotations still apply.
        st.settings = withoutProblems(annotations, this.ctx, parsed.errors);
        consequence = 'the invalid annotations are ignored and the Service keeps its address';
      } else consequence = 'the Service stays pending until this is fixed';
      this.reporter.condition(svc, st, REASONS.invalidAnnotation, 'Warning', `${joinProblems(parsed.errors)} (${consequence})`);
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
      this.reporter.clear(st, REASONS.exhausted);
      this.reporter.clear(st, REASONS.ipamFailed);
      return;
    }
    const reason = r.error.code === 'exhausted' ? REASONS.exhausted : REASONS.ipamFailed;
    const fk = `${r.error.pool ?? ''}|${r.error.code}`;
    this.failures.set(fk, (this.failures.get(fk) ?? 0) + 1);
    const keep = st.allocation ? `; the Service keeps ${addressesOf(st.allocation).join(', ')}` : '; the Service stays pending';
    this.reporter.condition(svc, st, reason, 'Warning', `${r.error.message}${keep}`);
  }

  /** Gives a Service's addresses back to the pools; returns them. */
  release(key: string): string[] {
    const released = this.ipam.release(key);
    return released ? addressesOf(released) : [];
  }

  allocations(): Allocation[] {
    return this.ipam.allocations();
  }

  poolStats(): ReturnType<IpAllocator['poolStats']> {
    return this.ipam.poolStats();
  }

  failureCounts(): { pool: string; code: string; count: number }[] {
    return [...this.failures].map(([k, count]) => {
      const [pool, code] = k.split('|') as [string, string];
      return { pool, code, count };
    });
  }
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
