// The loxilb.io/* Service annotations (reference §6.2 and the kube-loxilb
// docs). Parsing is all-or-nothing: either every annotation is valid and a
// complete settings object comes back, or a list of problems does, each
// naming the annotation, the bad value and what is allowed. The controller
// turns problems into Warning Events and keeps the Service's previous
// settings, so a typo never half-changes a live Service.
//
// Where kube-loxilb silently falls back (an unknown lbmode, probetype or
// epselect value, four or more secondaryIPs), this is an error instead: the
// user finds out from the Service's events rather than from traffic.
//
// Over 400 lines: parseServiceAnnotations is one all-or-nothing pass over every
// loxilb.io/* annotation (reference §6.2); kept whole so the annotation table reads in one place.
import { MODE_NAMES, type ProbeType } from '../lb/LbRule.ts';
import { MAX_INACTIVE_TIMEOUT_S } from '../lb/validateLbRule.ts';
import { parseAddress, formatAddress, type Family } from '../ipam/ipRange.ts';
import { DEFAULT_POOL } from '../ipam/poolSpec.ts';
import { UINT32_MAX } from '../util/FieldReader.ts';
import type { AllocationRequest, PortProto, SecondaryRequest } from '../ipam/IpAllocator.ts';

export const ANNOTATION_PREFIX = 'loxilb.io/';
/** kube-loxilb's inactiveTimeOut when loxilb.io/timeout is absent. */
export const DEFAULT_INACTIVE_TIMEOUT_S = 1800;
/** Fewer than 4 secondary addresses, as in kube-loxilb. */
export const MAX_SECONDARY_IPS = 3;

/**
 * ipv4: IPv4 VIP, IPv4 node endpoints. ipv6: IPv6 VIP and endpoints (NAT66).
 * ipv6to4: IPv6 VIP in front of IPv4 endpoints (NAT64).
 */
export type IpamFamilyMode = 'ipv4' | 'ipv6' | 'ipv6to4';

export type SecondarySetting = { kind: 'none' } | { kind: 'count'; count: number } | { kind: 'pools'; pools: string[] } | { kind: 'ips'; ips: string[] };

export interface ProbeSetting {
  type: ProbeType;
  /** Only for a probe type other than none. */
  port?: number;
  req?: string;
  resp?: string;
}

export interface ServiceSettings {
  ipam: IpamFamilyMode;
  /** Whether loxilb.io/ipam (or an IPv6 staticIP) chose the family, rather than the default. */
  ipamExplicit: boolean;
  pool: string;
  secondary: SecondarySetting;
  staticIP?: string;
  /** loxilb mode number; undefined means --setLBMode. */
  lbMode?: number;
  /** loxilb sel number. */
  sel: number;
  liveness: boolean;
  probe?: ProbeSetting;
  probeTimeout?: number;
  probeRetries?: number;
  inactiveTimeout: number;
  prefLocalPod: boolean;
  nodeLabel?: string;
  /** undefined means the global --usePodNetwork / --useExternalEndpoint. */
  usePodNetwork?: boolean;
  useExternalEndpoint?: boolean;
  multusNets: string[];
  zoneInstance?: string;
  zoneSelect?: string;
  proxyProtocolV2: boolean;
  egress: boolean;
  /** Accepted for compatibility and carried along; loxilb does not use them. */
  mtls: Record<string, string>;
}

export interface AnnotationContext {
  v4Pools: readonly string[];
  v6Pools: readonly string[];
  secondaryPools: readonly string[];
  zone: string;
  numZoneInstances: number;
}

export interface AnnotationProblem {
  annotation: string;
  value: string;
  allowed: string;
  /** One line for a Warning Event. */
  message: string;
}

export type AnnotationParse =
  | { ok: true; settings: ServiceSettings; warnings: AnnotationProblem[] }
  | { ok: false; errors: AnnotationProblem[] };

/**
 * sel numbers as loxilb defines them. kube-loxilb numbers n2det 6 and n3 7,
 * so n2det reaches loxilb as n3 and n3 is refused; we send n3 as loxilb's n3
 * and keep n2det meaning what a real loxilb ends up doing with it.
 */
const EPSELECT: Record<string, number> = { rr: 0, roundrobin: 0, hash: 1, persist: 3, lc: 4, n2: 5, n2det: 6, n3: 6 };
const IPAM: Record<string, IpamFamilyMode> = { ipv4: 'ipv4', ip: 'ipv4', ip4: 'ipv4', ipv6: 'ipv6', ip6: 'ipv6', nat66: 'ipv6', ipv6to4: 'ipv6to4', nat64: 'ipv6to4' };
// kube-loxilb does not take sctp here; loxilb itself probes SCTP, so we do.
const PROBE_TYPES: readonly ProbeType[] = ['none', 'ping', 'udp', 'tcp', 'sctp', 'http', 'https'];

const MTLS_KEYS = [
  'mtls-frontend-mode', 'mtls-frontend-secret', 'mtls-frontend-require-cn', 'mtls-frontend-cn-pattern',
  'mtls-backend-verify', 'mtls-backend-ca-secret', 'mtls-backend-client-secret',
] as const;

const KNOWN_KEYS = [
  'liveness', 'lbmode', 'ipam', 'num-secondary-networks', 'poolSelect', 'poolSelectSecondary', 'secondaryIPs',
  'staticIP', 'epselect', 'probetype', 'probeport', 'probereq', 'proberesp', 'probetimeout', 'proberetries',
  'timeout', 'prefLocalPod', 'nodelabel', 'usepodnetwork', 'useExternalEndpoint', 'multus-nets', 'zoneinstance',
  'zoneselect', 'useproxyprotov2', 'egress', ...MTLS_KEYS,
] as const;
type Key = (typeof KNOWN_KEYS)[number];

export function parseServiceAnnotations(annotations: Readonly<Record<string, string>> | undefined, ctx: AnnotationContext): AnnotationParse {
  const errors: AnnotationProblem[] = [];
  const warnings: AnnotationProblem[] = [];
  const problem = (list: AnnotationProblem[], key: string, value: string, allowed: string, what?: string) => {
    const annotation = key.startsWith(ANNOTATION_PREFIX) ? key : ANNOTATION_PREFIX + key;
    list.push({ annotation, value, allowed, message: `annotation ${annotation}: ${what ?? `${JSON.stringify(value)} is not allowed`}; ${allowed}` });
  };

  // Annotation keys are case-sensitive in Kubernetes; kube-loxilb's are
  // camelCase in places, so a differently-cased key is accepted but two
  // spellings of the same key are an error.
  const given = new Map<Key, { key: string; value: string }>();
  for (const [fullKey, value] of Object.entries(annotations ?? {})) {
    if (!fullKey.startsWith(ANNOTATION_PREFIX)) continue;
    const short = fullKey.slice(ANNOTATION_PREFIX.length);
    const key = KNOWN_KEYS.find((k) => k.toLowerCase() === short.toLowerCase());
    if (!key) {
      problem(warnings, fullKey, value, 'it is ignored', 'not a loxilb-ts annotation');
      continue;
    }
    const prev = given.get(key);
    if (prev) {
      problem(errors, fullKey, value, `write it once as ${ANNOTATION_PREFIX}${key}`, `repeats ${prev.key}`);
      continue;
    }
    given.set(key, { key: fullKey, value });
  }
  const raw = (k: Key) => given.get(k)?.value;
  const err = (k: Key, allowed: string, what?: string) => problem(errors, given.get(k)?.key ?? k, raw(k) ?? '', allowed, what);
  const warn = (k: Key, allowed: string, what?: string) => problem(warnings, given.get(k)?.key ?? k, raw(k) ?? '', allowed, what);

  const yesNo = (k: Key): boolean | undefined => {
    const v = raw(k);
    if (v === undefined) return undefined;
    const t = v.trim().toLowerCase();
    if (t === 'yes' || t === 'true') return true;
    if (t === 'no' || t === 'false') return false;
    err(k, 'use "yes" or "no"');
    return undefined;
  };
  const int = (k: Key, min: number, max: number): number | undefined => {
    const v = raw(k);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
      err(k, `use an integer from ${min} to ${max}`);
      return undefined;
    }
    return Number(v);
  };
  const oneOf = <T>(k: Key, table: Record<string, T>, allowed: readonly string[]): T | undefined => {
    const v = raw(k);
    if (v === undefined) return undefined;
    const t = v.trim().toLowerCase();
    if (Object.hasOwn(table, t)) return table[t];
    err(k, `use one of ${allowed.join(', ')}`);
    return undefined;
  };

  // ---- family and addresses ----
  let ipam = oneOf('ipam', IPAM, Object.keys(IPAM));
  let ipamExplicit = ipam !== undefined;
  const staticText = raw('staticIP');
  let staticIP: string | undefined;
  if (staticText !== undefined) {
    const a = parseAddress(staticText.trim());
    if (!a) err('staticIP', 'use one IPv4 or IPv6 address');
    else {
      staticIP = formatAddress(a.family, a.value);
      if (ipam === undefined && raw('ipam') === undefined && a.family === 6) {
        // An IPv6 static IP says which family the Service wants.
        ipam = 'ipv6';
        ipamExplicit = true;
      } else if (ipam !== undefined && vipFamilyOf(ipam) !== a.family) {
        err('staticIP', `use an IPv${vipFamilyOf(ipam)} address, because ${ANNOTATION_PREFIX}ipam is ${raw('ipam')}`);
      }
    }
  }
  const mode: IpamFamilyMode = ipam ?? 'ipv4';
  const vipFamily = vipFamilyOf(mode);

  const poolNames = vipFamily === 4 ? ctx.v4Pools : ctx.v6Pools;
  let pool = DEFAULT_POOL;
  const poolText = raw('poolSelect');
  if (poolText !== undefined) {
    const p = poolText.trim();
    if (!poolNames.includes(p)) err('poolSelect', `use one of the IPv${vipFamily} pools: ${poolNames.join(', ') || 'none configured'}`);
    else pool = p;
  }

  let secondary: SecondarySetting = { kind: 'none' };
  const secondaryKeys = (['num-secondary-networks', 'poolSelectSecondary', 'secondaryIPs'] as const).filter((k) => raw(k) !== undefined);
  if (secondaryKeys.length > 1) {
    err(secondaryKeys[1]!, `use only one of ${secondaryKeys.map((k) => ANNOTATION_PREFIX + k).join(', ')}`, `cannot be combined with ${ANNOTATION_PREFIX}${secondaryKeys[0]}`);
  } else if (raw('num-secondary-networks') !== undefined) {
    const n = int('num-secondary-networks', 0, MAX_SECONDARY_IPS);
    if (n !== undefined && n > 0) {
      if (vipFamily !== 4) err('num-secondary-networks', `secondary pools are IPv4, so ${ANNOTATION_PREFIX}ipam must be ipv4`);
      else if (n > ctx.secondaryPools.length) {
        err('num-secondary-networks', `use at most ${ctx.secondaryPools.length}: one address comes from each --externalSecondaryCIDRs pool`);
      } else secondary = { kind: 'count', count: n };
    }
  } else if (raw('poolSelectSecondary') !== undefined) {
    const names = splitList(raw('poolSelectSecondary')!);
    const known = [...ctx.secondaryPools, ...ctx.v4Pools];
    const unknown = names.filter((n) => !known.includes(n));
    if (vipFamily !== 4) err('poolSelectSecondary', `secondary IPs are IPv4 only, so ${ANNOTATION_PREFIX}ipam must be ipv4`);
    else if (names.length === 0 || names.length > MAX_SECONDARY_IPS) err('poolSelectSecondary', `list 1 to ${MAX_SECONDARY_IPS} pool names separated by commas`);
    else if (new Set(names).size !== names.length) err('poolSelectSecondary', 'list each pool once');
    else if (unknown.length > 0) err('poolSelectSecondary', `use pools from ${known.join(', ') || 'none configured'}`, `unknown pool ${unknown.join(', ')}`);
    else secondary = { kind: 'pools', pools: names };
  } else if (raw('secondaryIPs') !== undefined) {
    const items = splitList(raw('secondaryIPs')!);
    const ips: string[] = [];
    for (const t of items) {
      const a = parseAddress(t);
      if (!a) {
        err('secondaryIPs', 'list IP addresses separated by commas', `"${t}" is not an IP address`);
        break;
      }
      if (a.family !== vipFamily) {
        err('secondaryIPs', `use IPv${vipFamily} addresses, the family of the VIP`, `${t} is IPv${a.family}`);
        break;
      }
      ips.push(formatAddress(a.family, a.value));
    }
    if (ips.length === items.length) {
      if (ips.length === 0 || ips.length > MAX_SECONDARY_IPS) err('secondaryIPs', `list 1 to ${MAX_SECONDARY_IPS} addresses (kube-loxilb ignores 4 or more)`);
      else if (new Set(ips).size !== ips.length || (staticIP !== undefined && ips.includes(staticIP))) err('secondaryIPs', 'list distinct addresses, none equal to the staticIP');
      else secondary = { kind: 'ips', ips };
    }
  }

  // ---- rule attributes ----
  const modeNames = MODE_NAMES as readonly string[];
  const lbMode = oneOf('lbmode', Object.fromEntries(modeNames.map((m, i) => [m, i])), modeNames);
  const sel = oneOf('epselect', EPSELECT, Object.keys(EPSELECT)) ?? 0;
  const liveness = yesNo('liveness') ?? false;

  const probeType = oneOf('probetype', Object.fromEntries(PROBE_TYPES.map((t) => [t, t])), PROBE_TYPES);
  let probe: ProbeSetting | undefined;
  if (probeType !== undefined) probe = { type: probeType };
  for (const k of ['probeport', 'probereq', 'proberesp'] as const) {
    if (raw(k) === undefined) continue;
    if (probe === undefined || probe.type === 'none') {
      if (raw('probetype') === undefined || probe?.type === 'none') warn(k, `set ${ANNOTATION_PREFIX}probetype to a probe other than none to use it`, 'ignored');
      continue;
    }
    if (k === 'probeport') {
      const port = int('probeport', 1, 65535);
      if (port !== undefined) probe.port = port;
    } else probe[k === 'probereq' ? 'req' : 'resp'] = raw(k)!;
  }
  const probeTimeout = int('probetimeout', 0, UINT32_MAX);
  const probeRetries = int('proberetries', 0, UINT32_MAX);
  const inactiveTimeout = int('timeout', 0, MAX_INACTIVE_TIMEOUT_S) ?? DEFAULT_INACTIVE_TIMEOUT_S;

  // ---- endpoints ----
  const prefLocalPod = yesNo('prefLocalPod') ?? false;
  const usePodNetwork = yesNo('usepodnetwork');
  const useExternalEndpoint = yesNo('useExternalEndpoint');
  let nodeLabel: string | undefined;
  if (raw('nodelabel') !== undefined) {
    const l = raw('nodelabel')!.trim();
    if (!isLabelKey(l)) err('nodelabel', 'use a node label key such as node-role.kubernetes.io/worker');
    else nodeLabel = l;
  }
  let multusNets: string[] = [];
  if (raw('multus-nets') !== undefined) {
    const nets = splitList(raw('multus-nets')!);
    const bad = nets.find((n) => !/^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(n));
    if (nets.length === 0 || bad !== undefined) err('multus-nets', 'list NetworkAttachmentDefinition names ([namespace/]name) separated by commas');
    else multusNets = nets;
  }

  // ---- placement ----
  let zoneInstance: string | undefined;
  if (raw('zoneinstance') !== undefined) {
    const z = raw('zoneinstance')!.trim();
    const known = Array.from({ length: ctx.numZoneInstances }, (_, i) => `${ctx.zone}-inst${i}`);
    if (!known.includes(z)) err('zoneinstance', `use one of ${known.join(', ')}`);
    else zoneInstance = z;
  }
  const zoneSelect = raw('zoneselect')?.trim();
  if (zoneSelect === '') err('zoneselect', 'name a zone');

  const proxyProtocolV2 = yesNo('useproxyprotov2') ?? false;
  const egress = yesNo('egress') ?? false;

  const mtls: Record<string, string> = {};
  for (const k of MTLS_KEYS) if (raw(k) !== undefined) mtls[k] = raw(k)!;
  if (Object.keys(mtls).length > 0) {
    warnings.push({
      annotation: `${ANNOTATION_PREFIX}mtls-*`,
      value: Object.keys(mtls).join(','),
      allowed: 'they are accepted but have no effect',
      message: `annotations ${Object.keys(mtls).map((k) => ANNOTATION_PREFIX + k).join(', ')}: loxilb does not implement mTLS for rules; they have no effect`,
    });
  }

  if (errors.length > 0) return { ok: false, errors };
  const settings: ServiceSettings = {
    ipam: mode,
    ipamExplicit,
    pool,
    secondary,
    sel,
    liveness,
    inactiveTimeout,
    prefLocalPod,
    multusNets,
    proxyProtocolV2,
    egress,
    mtls,
  };
  if (staticIP !== undefined) settings.staticIP = staticIP;
  if (lbMode !== undefined) settings.lbMode = lbMode;
  if (probe !== undefined) settings.probe = probe;
  if (probeTimeout !== undefined) settings.probeTimeout = probeTimeout;
  if (probeRetries !== undefined) settings.probeRetries = probeRetries;
  if (nodeLabel !== undefined) settings.nodeLabel = nodeLabel;
  if (usePodNetwork !== undefined) settings.usePodNetwork = usePodNetwork;
  if (useExternalEndpoint !== undefined) settings.useExternalEndpoint = useExternalEndpoint;
  if (zoneInstance !== undefined) settings.zoneInstance = zoneInstance;
  if (zoneSelect !== undefined) settings.zoneSelect = zoneSelect;
  return { ok: true, settings, warnings };
}

/** The settings of a Service without any loxilb.io annotation. */
export function defaultServiceSettings(): ServiceSettings {
  const r = parseServiceAnnotations({}, { v4Pools: [DEFAULT_POOL], v6Pools: [DEFAULT_POOL], secondaryPools: [], zone: 'llb', numZoneInstances: 1 });
  if (!r.ok) throw new Error('unreachable: no annotations cannot be invalid');
  return r.settings;
}

export function vipFamilyOf(ipam: IpamFamilyMode): Family {
  return ipam === 'ipv4' ? 4 : 6;
}

/** The family of the endpoints behind a VIP of the given family. */
export function endpointFamilyOf(ipam: IpamFamilyMode, vipFamily: Family): Family {
  return ipam === 'ipv6to4' ? 4 : vipFamily;
}

export interface ServiceFamilySpec {
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  ipFamilies?: readonly ('IPv4' | 'IPv6')[];
}

/**
 * Which VIP families a Service gets. loxilb.io/ipam (or an IPv6 staticIP)
 * decides when present; otherwise a dual-stack Service gets one VIP per
 * family, primary family first, and a single-stack IPv6 Service an IPv6
 * VIP. `fallback` is what PreferDualStack settles for when the second
 * family cannot be allocated.
 */
export function vipFamilies(settings: Pick<ServiceSettings, 'ipam' | 'ipamExplicit'>, spec: ServiceFamilySpec = {}): { families: Family[]; fallback?: Family[] } {
  if (settings.ipamExplicit) return { families: [vipFamilyOf(settings.ipam)] };
  const primary: Family = spec.ipFamilies?.[0] === 'IPv6' ? 6 : 4;
  const other: Family = primary === 4 ? 6 : 4;
  if (spec.ipFamilyPolicy === 'RequireDualStack') return { families: [primary, other] };
  if (spec.ipFamilyPolicy === 'PreferDualStack') return { families: [primary, other], fallback: [primary] };
  return { families: [primary] };
}

/**
 * The IPAM request for a Service with these settings. `fallback` is set for
 * PreferDualStack: what to ask for when the dual-stack request fails.
 */
export function allocationRequest(
  serviceKey: string,
  ports: readonly PortProto[],
  settings: ServiceSettings,
  spec: ServiceFamilySpec = {},
): { request: AllocationRequest; fallback?: AllocationRequest } {
  const { families, fallback } = vipFamilies(settings, spec);
  const sec = settings.secondary;
  const secondary: SecondaryRequest | undefined =
    sec.kind === 'count' ? { count: sec.count } : sec.kind === 'pools' ? { pools: sec.pools } : sec.kind === 'ips' ? { ips: sec.ips } : undefined;
  const make = (f: Family[]): AllocationRequest => {
    const r: AllocationRequest = { serviceKey, ports, families: f, pool: settings.pool };
    if (settings.staticIP !== undefined) r.staticIPs = [settings.staticIP];
    if (secondary) r.secondary = secondary;
    return r;
  };
  return fallback ? { request: make(families), fallback: make(fallback) } : { request: make(families) };
}

export interface ServiceSelection {
  type?: string;
  loadBalancerClass?: string;
  annotations?: Readonly<Record<string, string>>;
}

/**
 * Whether kube-loxilb handles a Service: type LoadBalancer with our class
 * (or any Service carrying loxilb.io/multus-nets), and a zoneselect, if
 * present, naming our zone.
 */
export function isServiceSelected(svc: ServiceSelection, cfg: { loadBalancerClass: string; zone: string }): boolean {
  const ann = svc.annotations ?? {};
  const multus = Object.keys(ann).some((k) => k.toLowerCase() === `${ANNOTATION_PREFIX}multus-nets`);
  const ours = (svc.type === 'LoadBalancer' && svc.loadBalancerClass === cfg.loadBalancerClass) || multus;
  if (!ours) return false;
  const zoneKey = Object.keys(ann).find((k) => k.toLowerCase() === `${ANNOTATION_PREFIX}zoneselect`);
  return zoneKey === undefined || ann[zoneKey]!.trim() === cfg.zone;
}

function splitList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** A Kubernetes label key: optional DNS-subdomain prefix, '/', and a name of at most 63 characters. */
function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(name)) return false;
  return prefix === undefined || (prefix.length <= 253 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(prefix));
}
