// What the ServiceController reads from Kubernetes objects, as plain values:
// a Service's key, age, ports, families and status entries, EndpointSlices
// by Service, Nodes and Services as the rule planner takes them. Pure
// functions over the informers' objects; no I/O.
import type { V1EndpointSlice, V1LoadBalancerIngress, V1Node, V1Service } from '@kubernetes/client-node';
import type { Allocation, PortProto } from '../ipam/IpAllocator.ts';
import type { ServiceFamilySpec, ServiceSettings } from './annotations.ts';
import { SERVICE_NAME_LABEL } from './KubeWatch.ts';
import type { PlanEndpointSlice, PlanNode, PlanService } from './planRules.ts';
import type { IngressEntry } from './serviceStatus.ts';

/** `namespace/name`, the key of everything kept per Service. */
export function keyOf(svc: { metadata?: { namespace?: string; name?: string } }): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

/** Oldest first (list items carry Dates, watch events strings), then by key. */
export function byAge(a: V1Service, b: V1Service): number {
  const t = (s: V1Service) => {
    const v = s.metadata?.creationTimestamp as unknown;
    const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
    return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
  };
  return t(a) - t(b) || keyOf(a).localeCompare(keyOf(b));
}

export function portsOf(svc: V1Service): PortProto[] {
  return (svc.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: (p.protocol ?? 'TCP').toLowerCase() }));
}

export function familySpec(svc: V1Service): ServiceFamilySpec {
  const spec = svc.spec ?? {};
  const out: ServiceFamilySpec = {};
  const policy = spec.ipFamilyPolicy;
  if (policy === 'SingleStack' || policy === 'PreferDualStack' || policy === 'RequireDualStack') out.ipFamilyPolicy = policy;
  const families = (spec.ipFamilies ?? []).filter((f): f is 'IPv4' | 'IPv6' => f === 'IPv4' || f === 'IPv6');
  if (families.length > 0) out.ipFamilies = families;
  return out;
}

/** Every address of an allocation: the VIPs, then the secondary IPs (the order status is written in). */
export function addressesOf(a: Allocation): string[] {
  return [...a.vips.map((v) => v.ip), ...a.secondaryIPs.map((v) => v.ip)];
}

/** Status entries reduced to the fields we write. */
export function ingressOf(svc: V1Service): IngressEntry[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((e: V1LoadBalancerIngress) => {
    const out: IngressEntry = {};
    if (e.ip) out.ip = e.ip;
    if (e.hostname) out.hostname = e.hostname;
    return out;
  });
}

export function slicesByService(slices: readonly V1EndpointSlice[]): Map<string, PlanEndpointSlice[]> {
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

export function planNode(n: V1Node): PlanNode {
  const ready = (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const out: PlanNode = {
    name: n.metadata?.name ?? '',
    ready,
    internalIPs: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
  };
  if (n.metadata?.labels) out.labels = n.metadata.labels;
  return out;
}

/** A Service with its addresses and settings, as planRules takes it. */
export function planService(svc: V1Service, a: { allocation: Allocation; settings: ServiceSettings; instance: string }, slices: PlanEndpointSlice[]): PlanService {
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
    vips: a.allocation.vips.map((v) => v.ip),
    secondaryIPs: a.allocation.secondaryIPs.map((v) => v.ip),
    settings: a.settings,
    instance: a.instance,
    endpointSlices: slices,
  };
  if (spec.externalTrafficPolicy === 'Local' || spec.externalTrafficPolicy === 'Cluster') p.externalTrafficPolicy = spec.externalTrafficPolicy;
  if (spec.loadBalancerSourceRanges?.length) p.loadBalancerSourceRanges = spec.loadBalancerSourceRanges;
  return p;
}
