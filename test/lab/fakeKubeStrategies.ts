// Per-resource admission of the fake Kubernetes API server: defaulting,
// allocation and validation a real apiserver performs on create and update.
// Services get what a controller relies on: a clusterIP from the service
// CIDR, nodePorts from 30000-32767 for NodePort/LoadBalancer, the usual
// defaults, and the immutability rules (clusterIP, loadBalancerClass).
// Allocation scans the stored objects instead of keeping allocator state, so
// a rejected or dry-run request can never leak an address or a port.

import { randomInt } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { fieldErrors, type FieldError } from './fakeKubeErrors.js';
import type { ResourceType } from './fakeKubeResources.js';

// Admission reads and writes arbitrary manifest shapes; each access is guarded.
type Obj = Record<string, any>;

export interface AllocationConfig {
  /** Service CIDRs, at most one per family. */
  serviceCidrs: string[];
  nodePortRange: [number, number];
}

export interface AdmissionContext {
  config: AllocationConfig;
  /** Every stored object of a resource type (by plural, core group only needed here). */
  stored(resource: string): readonly Obj[];
}

export interface Strategy {
  /** Defaults, allocates and validates a new object in place; returns what is wrong with it. */
  admitCreate?(obj: Obj, ctx: AdmissionContext): FieldError[];
  /** Same for an update; `old` is the stored object. */
  admitUpdate?(obj: Obj, old: Obj, ctx: AdmissionContext): FieldError[];
}

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validateName(rt: ResourceType, name: string): FieldError[] {
  switch (rt.nameRule) {
    case 'dns1035Label':
      if (name.length > 63) return [fieldErrors.invalid('metadata.name', name, 'must be no more than 63 characters')];
      if (!DNS1035_LABEL.test(name)) {
        return [
          fieldErrors.invalid(
            'metadata.name',
            name,
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
          ),
        ];
      }
      return [];
    case 'dns1123Label':
      if (name.length > 63) return [fieldErrors.invalid('metadata.name', name, 'must be no more than 63 characters')];
      if (!DNS1123_LABEL.test(name)) {
        return [
          fieldErrors.invalid(
            'metadata.name',
            name,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
          ),
        ];
      }
      return [];
    case 'dns1123Subdomain':
      if (name.length > 253) return [fieldErrors.invalid('metadata.name', name, 'must be no more than 253 characters')];
      if (!DNS1123_SUBDOMAIN.test(name)) {
        return [
          fieldErrors.invalid(
            'metadata.name',
            name,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
          ),
        ];
      }
      return [];
  }
}

// ---------------------------------------------------------------- Services

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

type Family = 'IPv4' | 'IPv6';

function familyOf(ip: string): Family | undefined {
  if (!ipaddr.isValid(ip)) return undefined;
  return ipaddr.parse(ip).kind() === 'ipv4' ? 'IPv4' : 'IPv6';
}

function cidrFor(family: Family, config: AllocationConfig): string | undefined {
  return config.serviceCidrs.find((c) => (ipaddr.parseCIDR(c)[0].kind() === 'ipv4') === (family === 'IPv4'));
}

function inCidr(ip: string, cidr: string): boolean {
  try {
    const addr = ipaddr.parse(ip);
    const range = ipaddr.parseCIDR(cidr);
    return addr.kind() === range[0].kind() && addr.match(range);
  } catch {
    return false;
  }
}

function canonicalIp(ip: string): string {
  return ipaddr.parse(ip).toString();
}

function bytesToBigint(bytes: number[]): bigint {
  return bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function bigintToBytes(value: bigint, length: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < length; i++) {
    out.unshift(Number(value & 0xffn));
    value >>= 8n;
  }
  return out;
}

/** A random free address of the CIDR, skipping its network and last address as the apiserver's allocator does. */
function allocateIp(cidr: string, used: Set<string>): string | undefined {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  const bytes = net.toByteArray();
  const hostBits = bytes.length * 8 - bits;
  const base = bytesToBigint(bytes) & ~((1n << BigInt(hostBits)) - 1n);
  // Randomness over at most 2^24 offsets is plenty for a test cluster.
  const span = Math.min(2 ** Math.min(hostBits, 24) - 2, 2 ** 24);
  if (span < 1) return undefined;
  const start = randomInt(span);
  for (let i = 0; i < Math.min(span, 65536); i++) {
    const offset = BigInt(((start + i) % span) + 1);
    const candidate = ipaddr.fromByteArray(bigintToBytes(base + offset, bytes.length)).toString();
    if (!used.has(candidate)) return candidate;
  }
  return undefined;
}

function usedClusterIps(ctx: AdmissionContext, self: Obj): Set<string> {
  const used = new Set<string>();
  for (const svc of ctx.stored('services')) {
    if (isSameObject(svc, self)) continue;
    const ips: unknown[] = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
    for (const ip of ips) if (typeof ip === 'string' && ip !== 'None' && ipaddr.isValid(ip)) used.add(canonicalIp(ip));
  }
  return used;
}

function usedNodePorts(ctx: AdmissionContext, self: Obj): Set<number> {
  const used = new Set<number>();
  for (const svc of ctx.stored('services')) {
    if (isSameObject(svc, self)) continue;
    for (const p of (svc.spec?.ports ?? []) as Obj[]) if (typeof p.nodePort === 'number' && p.nodePort > 0) used.add(p.nodePort);
    if (typeof svc.spec?.healthCheckNodePort === 'number') used.add(svc.spec.healthCheckNodePort);
  }
  return used;
}

function isSameObject(a: Obj, b: Obj): boolean {
  return a.metadata?.name === b.metadata?.name && a.metadata?.namespace === b.metadata?.namespace;
}

function allocateNodePort(range: [number, number], used: Set<number>): number | undefined {
  const size = range[1] - range[0] + 1;
  const start = randomInt(size);
  for (let i = 0; i < size; i++) {
    const port = range[0] + ((start + i) % size);
    if (!used.has(port)) return port;
  }
  return undefined;
}

function needsNodePorts(spec: Obj): boolean {
  return spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
}

function needsHealthCheckNodePort(spec: Obj): boolean {
  return spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

/** Field defaults the apiserver applies to every Service it decodes. */
function defaultService(svc: Obj): void {
  const spec: Obj = (svc.spec ??= {});
  spec.type ??= 'ClusterIP';
  if (spec.type !== 'ExternalName') {
    spec.sessionAffinity ??= 'None';
    spec.internalTrafficPolicy ??= 'Cluster';
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  for (const port of (spec.ports ?? []) as Obj[]) {
    port.protocol ??= 'TCP';
    if (port.targetPort === undefined || port.targetPort === 0 || port.targetPort === '') port.targetPort = port.port;
  }
}

function validateServiceSpec(svc: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const spec: Obj = svc.spec;
  if (!SERVICE_TYPES.includes(spec.type)) errs.push(fieldErrors.notSupported('spec.type', spec.type, SERVICE_TYPES));
  const ports: Obj[] = Array.isArray(spec.ports) ? spec.ports : [];
  if (ports.length === 0 && spec.type !== 'ExternalName' && spec.clusterIP !== 'None') errs.push(fieldErrors.required('spec.ports'));
  const names = new Set<string>();
  const keys = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) errs.push(fieldErrors.required(`${at}.name`));
    if (p.name) {
      if (names.has(p.name)) errs.push(fieldErrors.duplicate(`${at}.name`, p.name));
      names.add(p.name);
    }
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      errs.push(fieldErrors.invalid(`${at}.port`, p.port, 'must be between 1 and 65535, inclusive'));
    }
    if (!PROTOCOLS.includes(p.protocol)) errs.push(fieldErrors.notSupported(`${at}.protocol`, p.protocol, PROTOCOLS));
    const key = `${p.port}/${p.protocol}`;
    if (keys.has(key)) errs.push(fieldErrors.duplicate(at, { port: p.port, protocol: p.protocol }));
    keys.add(key);
    if (p.nodePort !== undefined && p.nodePort !== 0 && !needsNodePorts(spec)) {
      errs.push(fieldErrors.forbidden(`${at}.nodePort`, `may not be used when \`type\` is '${spec.type}'`));
    }
  });
  if (spec.loadBalancerClass !== undefined && spec.loadBalancerClass !== null && spec.type !== 'LoadBalancer') {
    errs.push(fieldErrors.forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.externalTrafficPolicy !== undefined) {
    if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') {
      errs.push(fieldErrors.invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"));
    } else if (!['Cluster', 'Local'].includes(spec.externalTrafficPolicy)) {
      errs.push(fieldErrors.notSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local']));
    }
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts !== null && spec.type !== 'LoadBalancer') {
    errs.push(fieldErrors.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  return errs;
}

/**
 * When an update changes the type, fields that only made sense for the old
 * type and were left as they were are cleared, as the apiserver does, so a
 * client can switch LoadBalancer -> ClusterIP by changing `type` alone.
 */
function dropTypeDependentFields(spec: Obj, oldSpec: Obj): void {
  if (spec.type === oldSpec.type) return;
  const same = (field: string): boolean => spec[field] === oldSpec[field];
  if (spec.type !== 'LoadBalancer') {
    if (same('allocateLoadBalancerNodePorts')) delete spec.allocateLoadBalancerNodePorts;
    if (same('loadBalancerClass')) delete spec.loadBalancerClass;
  }
  if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer' && same('externalTrafficPolicy')) delete spec.externalTrafficPolicy;
  if (!needsNodePorts(spec) && needsNodePorts(oldSpec)) {
    const oldPorts: Obj[] = oldSpec.ports ?? [];
    for (const p of (spec.ports ?? []) as Obj[]) {
      if (oldPorts.some((o) => o.port === p.port && o.nodePort === p.nodePort)) delete p.nodePort;
    }
  }
  if (spec.type === 'ExternalName' && same('clusterIP')) {
    for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) delete spec[f];
  }
}

/** Assigns clusterIP(s) and ipFamilies for a Service that has none yet, and checks requested ones. */
function allocateClusterIps(svc: Obj, ctx: AdmissionContext): FieldError[] {
  const spec: Obj = svc.spec;
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const requested: string[] = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0 ? [...spec.clusterIPs] : spec.clusterIP ? [spec.clusterIP] : [];
  if (requested[0] === 'None') {
    spec.clusterIP = 'None';
    spec.clusterIPs = ['None'];
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    return [];
  }
  let families: Family[] = Array.isArray(spec.ipFamilies) && spec.ipFamilies.length > 0 ? [...spec.ipFamilies] : [];
  if (families.length === 0) {
    families = requested.length > 0 ? requested.map((ip) => familyOf(ip) ?? 'IPv4') : ['IPv4'];
  }
  spec.ipFamilyPolicy ??= families.length > 1 ? 'RequireDualStack' : 'SingleStack';
  if (spec.ipFamilyPolicy !== 'SingleStack' && families.length === 1) {
    const other: Family = families[0] === 'IPv4' ? 'IPv6' : 'IPv4';
    if (cidrFor(other, ctx.config)) families.push(other);
    else if (spec.ipFamilyPolicy === 'RequireDualStack') {
      errs.push(fieldErrors.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'));
    }
  }
  const used = usedClusterIps(ctx, svc);
  const ips: string[] = [];
  families.forEach((family, i) => {
    const cidr = cidrFor(family, ctx.config);
    const at = `spec.clusterIPs[${i}]`;
    if (!cidr) {
      errs.push(fieldErrors.invalid('spec.ipFamilies', family, 'not configured on this cluster'));
      return;
    }
    const want = requested[i];
    if (want) {
      if (familyOf(want) !== family) {
        errs.push(fieldErrors.invalid(at, want, `expected an IP of family ${family}`));
      } else if (!inCidr(want, cidr)) {
        errs.push(fieldErrors.invalid(at, want, `failed to allocate IP ${want}: provided IP is not in the valid range. The range of valid IPs is ${cidr}`));
      } else if (used.has(canonicalIp(want))) {
        errs.push(fieldErrors.invalid(at, want, `failed to allocate IP ${want}: provided IP is already allocated`));
      } else {
        ips.push(canonicalIp(want));
      }
      return;
    }
    const ip = allocateIp(cidr, used);
    if (ip === undefined) errs.push(fieldErrors.invalid(at, '', `failed to allocate IP: range ${cidr} is full`));
    else ips.push(ip);
  });
  if (errs.length > 0) return errs;
  spec.ipFamilies = families;
  spec.clusterIPs = ips;
  spec.clusterIP = ips[0];
  return [];
}

function allocateNodePorts(svc: Obj, old: Obj | undefined, ctx: AdmissionContext): FieldError[] {
  const spec: Obj = svc.spec;
  const ports: Obj[] = spec.ports ?? [];
  const errs: FieldError[] = [];
  const [lo, hi] = ctx.config.nodePortRange;
  if (needsNodePorts(spec)) {
    const used = usedNodePorts(ctx, svc);
    const oldPorts: Obj[] = old?.spec?.ports ?? [];
    const mine = new Set<number>();
    ports.forEach((p, i) => {
      const at = `spec.ports[${i}].nodePort`;
      if (p.nodePort === undefined || p.nodePort === 0) {
        const previous = oldPorts.find((o) => o.port === p.port && (o.protocol ?? 'TCP') === p.protocol)?.nodePort;
        if (typeof previous === 'number' && previous > 0 && !mine.has(previous)) {
          p.nodePort = previous;
        } else {
          const port = allocateNodePort([lo, hi], new Set([...used, ...mine]));
          if (port === undefined) {
            errs.push(fieldErrors.invalid(at, 0, 'failed to allocate a nodePort: range is full'));
            return;
          }
          p.nodePort = port;
        }
      } else if (!Number.isInteger(p.nodePort) || p.nodePort < lo || p.nodePort > hi) {
        errs.push(fieldErrors.invalid(at, p.nodePort, `provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`));
      } else if (used.has(p.nodePort) || (mine.has(p.nodePort) && !sharesNodePort(ports, p))) {
        errs.push(fieldErrors.invalid(at, p.nodePort, 'provided port is already allocated'));
      }
      if (typeof p.nodePort === 'number') mine.add(p.nodePort);
    });
    if (needsHealthCheckNodePort(spec)) {
      const previous = old?.spec?.healthCheckNodePort;
      if (spec.healthCheckNodePort === undefined || spec.healthCheckNodePort === 0) {
        if (typeof previous === 'number' && previous > 0) spec.healthCheckNodePort = previous;
        else {
          const port = allocateNodePort([lo, hi], new Set([...used, ...mine]));
          if (port === undefined) errs.push(fieldErrors.invalid('spec.healthCheckNodePort', 0, 'failed to allocate a nodePort: range is full'));
          else spec.healthCheckNodePort = port;
        }
      }
    }
  }
  if (!needsHealthCheckNodePort(spec)) delete spec.healthCheckNodePort;
  return errs;
}

/** The same port number may back a TCP and a UDP port of one Service. */
function sharesNodePort(ports: Obj[], p: Obj): boolean {
  return ports.filter((o) => o.nodePort === p.nodePort).every((o) => o === p || o.port === p.port);
}

const serviceStrategy: Strategy = {
  admitCreate(svc, ctx) {
    defaultService(svc);
    // Status is the controllers' to write, through /status only.
    svc.status = { loadBalancer: {} };
    const errs = validateServiceSpec(svc);
    if (errs.length > 0) return errs;
    return [...allocateClusterIps(svc, ctx), ...allocateNodePorts(svc, undefined, ctx)];
  },
  admitUpdate(svc, old, ctx) {
    const spec: Obj = (svc.spec ??= {});
    const oldSpec: Obj = old.spec ?? {};
    spec.type ??= 'ClusterIP';
    dropTypeDependentFields(spec, oldSpec);
    defaultService(svc);
    const errs: FieldError[] = [];
    const hadIp = oldSpec.type !== 'ExternalName' && typeof oldSpec.clusterIP === 'string' && oldSpec.clusterIP !== '';
    if (spec.type !== 'ExternalName' && hadIp) {
      if (!spec.clusterIP && !(Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0)) {
        // Omitting allocated values in an update keeps them (kubectl replace, PUT of a hand-written manifest).
        spec.clusterIP = oldSpec.clusterIP;
        spec.clusterIPs = oldSpec.clusterIPs;
        spec.ipFamilies ??= oldSpec.ipFamilies;
        spec.ipFamilyPolicy ??= oldSpec.ipFamilyPolicy;
      } else if ((spec.clusterIP ?? spec.clusterIPs?.[0]) !== oldSpec.clusterIP) {
        errs.push(fieldErrors.invalid('spec.clusterIPs[0]', spec.clusterIP ?? spec.clusterIPs?.[0], 'may not change once set'));
      } else {
        spec.clusterIPs ??= oldSpec.clusterIPs;
        spec.ipFamilies ??= oldSpec.ipFamilies;
        spec.ipFamilyPolicy ??= oldSpec.ipFamilyPolicy;
      }
    }
    if (oldSpec.type === 'LoadBalancer' && spec.type === 'LoadBalancer' && (oldSpec.loadBalancerClass ?? null) !== (spec.loadBalancerClass ?? null)) {
      errs.push(fieldErrors.invalid('spec.loadBalancerClass', spec.loadBalancerClass ?? null, 'may not change once set'));
    }
    errs.push(...validateServiceSpec(svc));
    if (errs.length > 0) return errs;
    if (!hadIp) errs.push(...allocateClusterIps(svc, ctx));
    errs.push(...allocateNodePorts(svc, old, ctx));
    return errs;
  },
};

// ---------------------------------------------------------------- others

const namespaceStrategy: Strategy = {
  admitCreate(ns) {
    ns.spec = { finalizers: ['kubernetes'] };
    ns.status = { phase: 'Active' };
    ns.metadata.labels = { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns.metadata.name };
    return [];
  },
  admitUpdate(ns, old) {
    // spec.finalizers only changes through /finalize, which the fake does not serve.
    ns.spec = old.spec;
    ns.metadata.labels = { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns.metadata.name };
    return [];
  },
};

const ADDRESS_TYPES = ['IPv4', 'IPv6', 'FQDN'];

function validateEndpointSlice(slice: Obj): FieldError[] {
  slice.endpoints ??= [];
  if (slice.addressType === undefined) return [fieldErrors.required('addressType')];
  if (!ADDRESS_TYPES.includes(slice.addressType)) return [fieldErrors.notSupported('addressType', slice.addressType, ADDRESS_TYPES)];
  return [];
}

const endpointSliceStrategy: Strategy = {
  admitCreate: (slice) => validateEndpointSlice(slice),
  admitUpdate(slice, old) {
    const errs = validateEndpointSlice(slice);
    if (errs.length === 0 && slice.addressType !== old.addressType) {
      errs.push(fieldErrors.invalid('addressType', slice.addressType, 'field is immutable'));
    }
    return errs;
  },
};

function validateLease(lease: Obj): FieldError[] {
  const d = lease.spec?.leaseDurationSeconds;
  if (d !== undefined && d !== null && (!Number.isInteger(d) || d <= 0)) {
    return [fieldErrors.invalid('spec.leaseDurationSeconds', d, 'must be greater than 0')];
  }
  return [];
}

const leaseStrategy: Strategy = {
  admitCreate: (lease) => validateLease(lease),
  admitUpdate: (lease) => validateLease(lease),
};

export const STRATEGIES: Record<string, Strategy> = {
  services: serviceStrategy,
  namespaces: namespaceStrategy,
  'endpointslices.discovery.k8s.io': endpointSliceStrategy,
  'leases.coordination.k8s.io': leaseStrategy,
};
