// The load-balancer rules kube-loxilb wants on every agent (reference §6.3),
// computed from plain Service, EndpointSlice and Node views, and the diff of
// those rules against what one agent reports, so that reconciling is
// idempotent: an agent that has every rule gets no call, a restarted empty
// agent gets every rule, and only rules kube-loxilb owns are ever deleted.
import { ruleKey, type Endpoint, type LbRule, type Protocol } from '../lb/LbRule.ts';
import { MAX_ENDPOINTS, parseLbRule } from '../lb/validateLbRule.ts';
import { formatAddress, parseAddress, type Family } from '../ipam/ipRange.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';
import { normalizePrefix } from '../util/ipAddress.ts';
import { endpointFamilyOf, type ServiceSettings } from './annotations.ts';
import { API_BASE_PATH, lbRuleDeletePath } from '../apiclient/paths.ts';

/** Nodes with this label never carry load-balancer traffic (Kubernetes well-known label). */
export const EXCLUDE_FROM_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
const SEL_HASH = 1;
const MODE_DSR = 3;
const MODE_FULLPROXY = 4;

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

// ---- diff against an agent ----

/** What DELETE /config/loadbalancer/externalipaddress/... needs, taken from the agent's copy of the rule. */
export interface RuleRef {
  externalIP: string;
  port: number;
  portMax?: number;
  protocol: string;
  block: number;
  /** The agent's bgp flag: the VIP is only withdrawn when the DELETE says ?bgp=true. */
  bgp: boolean;
  name?: string;
}

export interface RuleDiff {
  /** Not on the agent: POST. */
  add: LbRule[];
  /** On the agent with other endpoints, sources or attributes loxilb changes in place: POST. */
  modify: LbRule[];
  /** On the agent, but a field loxilb cannot change in place differs: DELETE `current`, then POST `desired`. */
  replace: { current: RuleRef; desired: LbRule }[];
  /** Ours and no longer wanted: DELETE. */
  delete: RuleRef[];
  /** The agent has a rule on the same VIP, port and protocol that is not ours; left alone. */
  conflicts: { desired: LbRule; current: RuleRef }[];
  /** Ours, up to date, and the agent says its datapath does not carry it (loxilb-ts agents report why). */
  notProgrammed: { current: RuleRef; reason: string }[];
}

export interface DiffOptions {
  zone: string;
  /**
   * What this controller last posted successfully to this agent, by
   * ruleKey. GET does not show privateIP, probereq, proberesp, probeTimeout
   * or probeRetries; with this record a change to one of them is still sent.
   */
  lastPosted?: ReadonlyMap<string, LbRule>;
}

interface ObservedRule {
  ref: RuleRef;
  key: string;
  sel: number;
  mode: number;
  security: number;
  inactiveTimeOut: number;
  monitor: boolean;
  managed: boolean;
  probetype?: string;
  probeport?: number;
  snat: boolean;
  host: string;
  proxyprotocolv2: boolean;
  egress: boolean;
  endpoints: string[];
  secondaryIPs: string[];
  allowedSources: string[];
  /** What a loxilb-ts agent reports; undefined for agents that do not (loxilb). */
  programmed?: boolean;
  reason?: string;
}

/**
 * A rule is kube-loxilb's when it is `managed` and named
 * `<namespace>_<service>:<zone>-inst<N>` for this controller's zone, which
 * is also how a real kube-loxilb names its rules. Rules made by hand
 * (loxicmd, other zones' controllers) are never modified or deleted.
 */
export function isOwnedRule(rule: { managed?: boolean; name?: string }, zone: string): boolean {
  if (rule.managed !== true || rule.name === undefined) return false;
  const colon = rule.name.indexOf(':');
  if (colon < 0) return false;
  const svc = rule.name.slice(0, colon);
  const inst = rule.name.slice(colon + 1);
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?_[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(svc) && inst.startsWith(`${zone}-inst`) && /^\d+$/.test(inst.slice(zone.length + 5));
}

/**
 * Desired rules against `GET /config/loadbalancer/all`'s `lbAttr` from one
 * agent. The GET leaves out zero and false fields, so both sides are
 * compared in that light; endpoint weights and states are not compared
 * (loxilb may rescale weights), and the probe type only when we set one.
 */
export function diffRules(desired: readonly LbRule[], current: readonly unknown[], opts: DiffOptions): RuleDiff {
  const diff: RuleDiff = { add: [], modify: [], replace: [], delete: [], conflicts: [], notProgrammed: [] };
  const observed = new Map<string, ObservedRule>();
  for (const item of current) {
    const o = readObserved(item);
    if (o) observed.set(o.key, o);
  }
  const wanted = new Set<string>();
  for (const d of desired) {
    const key = ruleKey(d.serviceArguments);
    if (wanted.has(key)) continue;
    wanted.add(key);
    const cur = observed.get(key);
    if (!cur) {
      diff.add.push(d);
      continue;
    }
    if (!isOwnedRule({ managed: cur.managed, name: cur.ref.name }, opts.zone)) {
      diff.conflicts.push({ desired: d, current: cur.ref });
      continue;
    }
    const want = observe(d);
    if (needsReplace(want, cur)) diff.replace.push({ current: cur.ref, desired: d });
    else if (!sameVisible(want, cur, d) || hiddenChanged(d, opts.lastPosted?.get(key))) diff.modify.push(d);
    else if (cur.programmed === false) diff.notProgrammed.push({ current: cur.ref, reason: cur.reason ?? 'no reason given' });
  }
  for (const [key, cur] of observed) {
    if (!wanted.has(key) && isOwnedRule({ managed: cur.managed, name: cur.ref.name }, opts.zone)) diff.delete.push(cur.ref);
  }
  return diff;
}

/** The REST path that deletes one rule, as kube-loxilb builds it. */
export function deleteRulePath(ref: RuleRef): string {
  return API_BASE_PATH + lbRuleDeletePath({ externalIP: ref.externalIP, port: ref.port, ...(ref.portMax ? { portMax: ref.portMax } : {}), protocol: ref.protocol, bgp: ref.bgp, block: ref.block });
}

function needsReplace(want: ObservedRule, cur: ObservedRule): boolean {
  // loxilb refuses to change these on an existing rule, or (name, bgp) keeps
  // its old value, which would leave the VIP with the wrong owner or route.
  const proxyFlip = (want.mode === MODE_FULLPROXY) !== (cur.mode === MODE_FULLPROXY);
  return want.ref.name !== cur.ref.name || want.ref.bgp !== cur.ref.bgp || want.security !== cur.security || want.egress !== cur.egress || want.managed !== cur.managed || proxyFlip;
}

function sameVisible(want: ObservedRule, cur: ObservedRule, d: LbRule): boolean {
  const probeSet = d.serviceArguments.probetype !== undefined;
  return (
    want.sel === cur.sel &&
    want.mode === cur.mode &&
    (want.inactiveTimeOut === 0 || want.inactiveTimeOut === cur.inactiveTimeOut) &&
    want.monitor === cur.monitor &&
    (!probeSet || (want.probetype === cur.probetype && (want.probeport ?? 0) === (cur.probeport ?? 0))) &&
    want.snat === cur.snat &&
    want.host === cur.host &&
    want.proxyprotocolv2 === cur.proxyprotocolv2 &&
    sameList(want.endpoints, cur.endpoints) &&
    sameList(want.secondaryIPs, cur.secondaryIPs) &&
    sameList(want.allowedSources, cur.allowedSources)
  );
}

function hiddenChanged(d: LbRule, posted: LbRule | undefined): boolean {
  if (!posted) return false;
  const a = d.serviceArguments;
  const b = posted.serviceArguments;
  return a.privateIP !== b.privateIP || a.probereq !== b.probereq || a.proberesp !== b.proberesp || a.probeTimeout !== b.probeTimeout || a.probeRetries !== b.probeRetries;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function observe(r: LbRule): ObservedRule {
  const sa = r.serviceArguments;
  return {
    ref: { externalIP: sa.externalIP, port: sa.port, ...(sa.portMax ? { portMax: sa.portMax } : {}), protocol: sa.protocol, block: sa.block, bgp: sa.bgp, name: sa.name },
    key: ruleKey(sa),
    sel: sa.sel,
    mode: sa.mode,
    security: sa.security ?? 0,
    inactiveTimeOut: sa.inactiveTimeOut ?? 0,
    monitor: sa.monitor,
    managed: sa.managed ?? false,
    probetype: sa.probetype,
    probeport: sa.probeport,
    snat: sa.snat ?? false,
    host: sa.host ?? '',
    proxyprotocolv2: sa.proxyprotocolv2 ?? false,
    egress: sa.egress ?? false,
    endpoints: r.endpoints.map((e) => `${e.endpointIP}|${e.targetPort}`).sort(),
    secondaryIPs: r.secondaryIPs.map((x) => x.secondaryIP).sort(),
    allowedSources: r.allowedSources.map((x) => x.prefix).sort(),
  };
}

const SA_FIELDS = [
  'externalIP', 'port', 'portMax', 'protocol', 'block', 'bgp', 'sel', 'mode', 'security', 'inactiveTimeOut', 'monitor',
  'managed', 'probetype', 'probeport', 'name', 'snat', 'host', 'proxyprotocolv2', 'egress',
] as const;

/** Reads one GET entry leniently (Go's omitempty, any key case); undefined if it is not a rule at all. */
function readObserved(item: unknown): ObservedRule | undefined {
  if (!isPlainObject(item)) return undefined;
  const top = pickFields(item, ['serviceArguments', 'endpoints', 'secondaryIPs', 'allowedSources', 'programmed', 'reason'] as const);
  if (!isPlainObject(top.serviceArguments)) return undefined;
  const f = pickFields(top.serviceArguments, SA_FIELDS);
  const ip = typeof f.externalIP === 'string' ? canonical(f.externalIP) : undefined;
  const protocol = typeof f.protocol === 'string' ? (f.protocol.toLowerCase() as Protocol) : undefined;
  if (ip === undefined || protocol === undefined) return undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const bool = (v: unknown) => v === true;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const list = <K extends string>(v: unknown, fields: readonly K[]) =>
    (Array.isArray(v) ? v : []).flatMap((x) => (isPlainObject(x) ? [pickFields(x, fields)] : []));
  const port = num(f.port);
  const portMax = num(f.portMax);
  const ref: RuleRef = { externalIP: ip, port, protocol, block: num(f.block), bgp: bool(f.bgp) };
  if (portMax > port) ref.portMax = portMax;
  if (typeof f.name === 'string' && f.name !== '') ref.name = f.name;
  return {
    ref,
    key: ruleKey({ externalIP: ip, port, portMax, protocol, block: ref.block, host: str(f.host) }),
    sel: num(f.sel),
    mode: num(f.mode),
    security: num(f.security),
    inactiveTimeOut: num(f.inactiveTimeOut),
    monitor: bool(f.monitor),
    managed: bool(f.managed),
    probetype: typeof f.probetype === 'string' && f.probetype !== '' ? f.probetype : undefined,
    probeport: num(f.probeport) || undefined,
    snat: bool(f.snat),
    host: str(f.host),
    proxyprotocolv2: bool(f.proxyprotocolv2),
    egress: bool(f.egress),
    endpoints: list(top.endpoints, ['endpointIP', 'targetPort'] as const)
      .map((e) => `${canonical(str(e.endpointIP)) ?? str(e.endpointIP)}|${num(e.targetPort)}`)
      .sort(),
    secondaryIPs: list(top.secondaryIPs, ['secondaryIP'] as const).map((x) => canonical(str(x.secondaryIP)) ?? str(x.secondaryIP)).sort(),
    allowedSources: list(top.allowedSources, ['prefix'] as const).map((x) => normalizePrefix(str(x.prefix)) ?? str(x.prefix)).sort(),
    ...(typeof top.programmed === 'boolean' ? { programmed: top.programmed } : {}),
    ...(typeof top.reason === 'string' ? { reason: top.reason } : {}),
  };
}
