// The load-balancer rules kube-loxilb wants on every agent (reference §6.3),
// computed from plain Service, EndpointSlice and Node views. Their diff
// against what one agent reports is in diffRules.ts, re-exported here.
import { ruleKey, type Endpoint, type LbRule, type Protocol } from '../lb/LbRule.ts';
import { MAX_ENDPOINTS, parseLbRule } from '../lb/validateLbRule.ts';
import { formatAddress, parseAddress, type Family } from '../ipam/ipRange.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';
import { normalizePrefix } from '../util/ipAddress.ts';
import { endpointFamilyOf, type ServiceSettings } from './annotations.ts';

/** Nodes with this label never carry load-balancer traffic (Kubernetes well-known label). */
export const EXCLUDE_FROM_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
const SEL_HASH = 1;
const MODE_DSR = 3;

export interface PlanServicePort {
  name?: string;
  port: number;
  /** TCP, UDP or SCTP, as in the Service spec. */
  protocol: string;
  nodePort?: number;
}

export interface PlanEndpoint {
  addresses: string[];
  nodeName?: string;
  /** conditions.ready; Kubernetes says absent means ready. */
  ready?: boolean;
  /** Multus: addresses per network ("namespace/name"), from the pod's network-status. */
  networkAddresses?: Record<string, string[]>;
}

export interface PlanEndpointSlice {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports?: { name?: string; port?: number; protocol?: string }[];
  endpoints: PlanEndpoint[];
}

export interface PlanNode {
  name: string;
  /** The Ready condition is True. */
  ready: boolean;
  internalIPs: string[];
  labels?: Record<string, string>;
}

export interface PlanService {
  namespace: string;
  name: string;
  ports: PlanServicePort[];
  externalTrafficPolicy?: 'Cluster' | 'Local';
  loadBalancerSourceRanges?: string[];
  /** The allocated VIPs, one per family. */
  vips: string[];
  secondaryIPs?: string[];
  settings: ServiceSettings;
  /** The HA instance the controller chose; loxilb.io/zoneinstance overrides it; default <zone>-inst0. */
  instance?: string;
  endpointSlices?: PlanEndpointSlice[];
}

export interface PlanConfig {
  /** 0: BGP off. */
  setBGP: number;
  monitor: boolean;
  setLBMode: number;
  zone: string;
  privateIP?: string;
  usePodNetwork: boolean;
  useExternalEndpoint: boolean;
}

export interface PlanInput {
  services: readonly PlanService[];
  nodes: readonly PlanNode[];
  config: PlanConfig;
}

/** Something the controller should tell the user about (a Warning Event on the Service). */
export interface PlanNote {
  service: string;
  message: string;
}

export interface RulePlan {
  rules: LbRule[];
  notes: PlanNote[];
}

export function ruleName(namespace: string, name: string, instance: string): string {
  return `${namespace}_${name}:${instance}`;
}

export function zoneInstances(zone: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${zone}-inst${i}`);
}

/**
 * Every rule for every Service: one per VIP and Service port. With
 * `agentAddresses`, the rules for that one agent, which differ only for
 * Services with loxilb.io/prefLocalPod (each agent then sends to its own
 * node when that node is an endpoint).
 */
export function planRules(input: PlanInput, agentAddresses?: readonly string[]): RulePlan {
  const notes: PlanNote[] = [];
  const rules: LbRule[] = [];
  const nodesByName = new Map(input.nodes.map((n) => [n.name, n]));
  const agent = new Set((agentAddresses ?? []).map(canonical).filter((a): a is string => a !== undefined));
  for (const svc of input.services) {
    const key = `${svc.namespace}/${svc.name}`;
    const note = (message: string) => notes.push({ service: key, message });
    planService(svc, input, nodesByName, agent, note, rules);
  }
  rules.sort(compareRules);
  return { rules, notes };
}

function planService(
  svc: PlanService,
  input: PlanInput,
  nodesByName: Map<string, PlanNode>,
  agent: Set<string>,
  note: (m: string) => void,
  out: LbRule[],
): void {
  const s = svc.settings;
  const c = input.config;
  const instance = s.zoneInstance ?? svc.instance ?? `${c.zone}-inst0`;
  const name = ruleName(svc.namespace, svc.name, instance);

  const sources: { prefix: string; family: Family }[] = [];
  for (const text of svc.loadBalancerSourceRanges ?? []) {
    const prefix = normalizePrefix(text.trim());
    if (prefix === undefined) {
      // Dropping one range would widen access; no rule is the safe side.
      note(`loadBalancerSourceRanges entry ${JSON.stringify(text)} is not a CIDR; no rules are installed until it is fixed`);
      return;
    }
    sources.push({ prefix, family: prefix.includes(':') ? 6 : 4 });
  }

  const mode = s.lbMode ?? c.setLBMode;
  let sel = s.sel;
  if (mode === MODE_DSR && sel !== SEL_HASH) {
    note('DSR mode only works with hash endpoint selection; using hash');
    sel = SEL_HASH;
  }
  const podMode = s.multusNets.length > 0 || (s.usePodNetwork ?? c.usePodNetwork) || (s.useExternalEndpoint ?? c.useExternalEndpoint);

  for (const vipText of svc.vips) {
    const vip = parseAddress(vipText);
    if (!vip) {
      note(`VIP ${JSON.stringify(vipText)} is not an IP address`);
      continue;
    }
    const vipIp = formatAddress(vip.family, vip.value);
    const epFamily = endpointFamilyOf(s.ipam, vip.family);
    const familySources = sources.filter((x) => x.family === vip.family).map((x) => ({ prefix: x.prefix }));
    if (sources.length > 0 && familySources.length === 0) {
      note(`no loadBalancerSourceRanges entry is IPv${vip.family}, so nothing may reach ${vipIp}; no rules for it`);
      continue;
    }
    const secondary = (svc.secondaryIPs ?? []).map(canonical).filter((ip): ip is string => ip !== undefined && parseAddress(ip)!.family === vip.family);

    for (const sp of svc.ports) {
      const protocol = sp.protocol.toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
        note(`port ${sp.port}/${sp.protocol}: loxilb balances TCP, UDP and SCTP only`);
        continue;
      }
      let endpoints = podMode
        ? podEndpoints(svc, sp, epFamily, nodesByName, s)
        : nodeEndpoints(svc, sp, epFamily, input.nodes, s, note);
      if (endpoints === undefined) continue;
      if (s.prefLocalPod && agent.size > 0) {
        const local = endpoints.filter((e) => agent.has(e.endpointIP));
        if (local.length > 0) endpoints = local;
      }
      if (endpoints.length === 0) {
        // kube-loxilb deletes a Service's rules while it has no endpoints; its IPs stay.
        note(`port ${sp.port}/${protocol} on ${vipIp}: no ready IPv${epFamily} endpoints; no rule until there are some`);
        continue;
      }
      if (endpoints.length > MAX_ENDPOINTS) {
        note(`port ${sp.port}/${protocol} on ${vipIp}: ${endpoints.length} endpoints, loxilb takes ${MAX_ENDPOINTS}; using the first ${MAX_ENDPOINTS} by address`);
        endpoints = endpoints.slice(0, MAX_ENDPOINTS);
      }
      const sa: Record<string, unknown> = {
        externalIP: vipIp,
        port: sp.port,
        protocol,
        sel,
        mode,
        bgp: c.setBGP !== 0,
        monitor: s.liveness || c.monitor,
        managed: true,
        block: 0,
        inactiveTimeOut: s.inactiveTimeout,
        name,
        proxyprotocolv2: s.proxyProtocolV2,
        egress: s.egress,
      };
      if (c.privateIP !== undefined && s.staticIP === undefined && vip.family === 4) sa.privateIP = c.privateIP;
      if (s.probe) {
        sa.probetype = s.probe.type;
        if (s.probe.type !== 'none') {
          if (s.probe.port !== undefined) sa.probeport = s.probe.port;
          if (s.probe.req !== undefined) sa.probereq = s.probe.req;
          if (s.probe.resp !== undefined) sa.proberesp = s.probe.resp;
        }
      }
      if (s.probeTimeout !== undefined) sa.probeTimeout = s.probeTimeout;
      if (s.probeRetries !== undefined) sa.probeRetries = s.probeRetries;
      const body = {
        serviceArguments: sa,
        endpoints,
        // loxilb uses secondary IPs for SCTP multihoming only; on other
        // rules they would just be advertised for nothing.
        secondaryIPs: protocol === 'sctp' ? secondary.map((secondaryIP) => ({ secondaryIP })) : [],
        allowedSources: familySources,
      };
      try {
        // The agent's own validation, so a rule it would refuse is reported here instead of posted.
        out.push(parseLbRule(body));
      } catch (e) {
        note(`port ${sp.port}/${protocol} on ${vipIp}: ${(e as Error).message}`);
      }
    }
  }
}

function nodeEndpoints(
  svc: PlanService,
  sp: PlanServicePort,
  family: Family,
  nodes: readonly PlanNode[],
  s: ServiceSettings,
  note: (m: string) => void,
): Endpoint[] | undefined {
  if (sp.nodePort === undefined || sp.nodePort === 0) {
    note(`port ${sp.port}/${sp.protocol} has no nodePort (allocateLoadBalancerNodePorts is false?); use loxilb.io/usepodnetwork`);
    return undefined;
  }
  let local: Set<string> | undefined;
  if (svc.externalTrafficPolicy === 'Local') {
    local = new Set();
    for (const slice of svc.endpointSlices ?? []) {
      for (const ep of slice.endpoints) if (ep.ready !== false && ep.nodeName) local.add(ep.nodeName);
    }
  }
  const out: Endpoint[] = [];
  for (const n of nodes) {
    if (!n.ready || n.labels?.[EXCLUDE_FROM_LB_LABEL] !== undefined) continue;
    if (s.nodeLabel !== undefined && n.labels?.[s.nodeLabel] === undefined) continue;
    if (local && !local.has(n.name)) continue;
    const ip = n.internalIPs.map((t) => parseAddress(t.trim())).find((a) => a?.family === family);
    if (ip) out.push({ endpointIP: formatAddress(ip.family, ip.value), targetPort: sp.nodePort, weight: 1 });
  }
  return sortEndpoints(out);
}

function podEndpoints(svc: PlanService, sp: PlanServicePort, family: Family, nodesByName: Map<string, PlanNode>, s: ServiceSettings): Endpoint[] {
  const out: Endpoint[] = [];
  const wantedNets = new Set(s.multusNets.flatMap((n) => (n.includes('/') ? [n] : [n, `${svc.namespace}/${n}`])));
  for (const slice of svc.endpointSlices ?? []) {
    if (slice.addressType !== (family === 4 ? 'IPv4' : 'IPv6')) continue;
    const port = (slice.ports ?? []).find(
      (p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP').toLowerCase() === sp.protocol.toLowerCase(),
    );
    if (port?.port === undefined) continue;
    for (const ep of slice.endpoints) {
      if (ep.ready === false) continue;
      if (s.nodeLabel !== undefined) {
        const node = ep.nodeName === undefined ? undefined : nodesByName.get(ep.nodeName);
        if (node?.labels?.[s.nodeLabel] === undefined) continue;
      }
      const candidates =
        wantedNets.size > 0
          ? Object.entries(ep.networkAddresses ?? {}).filter(([net]) => wantedNets.has(net)).flatMap(([, ips]) => ips)
          : ep.addresses.slice(0, 1);
      for (const text of candidates) {
        const a = parseAddress(text.trim());
        if (a?.family === family) out.push({ endpointIP: formatAddress(a.family, a.value), targetPort: port.port, weight: 1 });
      }
    }
  }
  return sortEndpoints(out);
}

/** Sorted by address then port, without repeats: a stable order keeps the diff quiet. */
function sortEndpoints(eps: Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  return eps
    .filter((e) => {
      const k = `${e.endpointIP}|${e.targetPort}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => compareAddress(a.endpointIP, b.endpointIP) || a.targetPort - b.targetPort);
}

function compareAddress(a: string, b: string): number {
  const x = parseAddress(a)!;
  const y = parseAddress(b)!;
  return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
}

function compareRules(a: LbRule, b: LbRule): number {
  const x = a.serviceArguments;
  const y = b.serviceArguments;
  return (x.name ?? '').localeCompare(y.name ?? '') || compareAddress(x.externalIP, y.externalIP) || x.port - y.port || x.protocol.localeCompare(y.protocol);
}

function canonical(text: string): string | undefined {
  const a = parseAddress(text.trim());
  return a && formatAddress(a.family, a.value);
}

export { diffRules, isOwnedRule, type DiffOptions, type RuleDiff, type RuleRef } from './diffRules.ts';
