// The REST edge of load-balancer rules (reference §2.2): turns a POST
// /config/loadbalancer body into a normalized LbRule, and an LbRule into what
// GET /config/loadbalancer/all shows. Normalization makes equal rules compare
// equal however they were written (key case, address spelling, zero values).
import { FieldReader, UINT32_MAX, invalid } from '../util/FieldReader.ts';
import { hostPort, ipFamily, normalizePrefix } from '../util/ipAddress.ts';
import {
  MODE_NAMES,
  PROBE_TYPES,
  PROTOCOLS,
  SECURITY_NAMES,
  SEL_NAMES,
  type Endpoint,
  type LbRule,
  type ServiceArguments,
} from './LbRule.ts';

export const MAX_ENDPOINTS = 32;
/** loxilb's LbMaxInactiveTimeout: a day. */
export const MAX_INACTIVE_TIMEOUT_S = 86_400;
/** loxilb refuses a fourth secondary IP ("secondaryIP-args len error"). */
export const MAX_SECONDARY_IPS = 3;
/** loxilb carries weights as uint8; a sum above 100 is accepted and shares are taken in proportion. */
export const MAX_WEIGHT = 255;
/** Probe types an LB rule may name (loxilb's AddLbRule); http and https are endpoint probes (config/endpoint). */
export const RULE_PROBE_TYPES = ['tcp', 'udp', 'sctp', 'ping', 'none'] as const;

const RULE_FIELDS = ['serviceArguments', 'endpoints', 'secondaryIPs', 'allowedSources'] as const;
const SERVICE_FIELDS = [
  'externalIP', 'privateIP', 'port', 'portMax', 'protocol', 'sel', 'bgp', 'monitor', 'probetype', 'probeport',
  'probereq', 'proberesp', 'probeTimeout', 'probeRetries', 'managed', 'mode', 'security', 'block',
  'inactiveTimeOut', 'name', 'snat', 'oper', 'host', 'proxyprotocolv2', 'egress',
] as const;
// state and counter are output-only; accepted and ignored so a GET result can be posted back.
const ENDPOINT_FIELDS = ['endpointIP', 'targetPort', 'weight', 'state', 'counter'] as const;

/** Validates and normalizes a POST /config/loadbalancer body; throws ValidationError. */
export function parseLbRule(body: unknown): LbRule {
  const r = new FieldReader('', body, RULE_FIELDS);
  if (!r.has('serviceArguments')) throw invalid('serviceArguments', 'required: an object with at least externalIP, port and protocol');
  const serviceArguments = parseServiceArguments(r.raw('serviceArguments'));
  const endpoints = parseEndpoints(r.array('endpoints', { required: true }) ?? [], serviceArguments);
  const secondaryIPs = parseSecondaryIps(r.array('secondaryIPs') ?? [], serviceArguments.externalIP);
  const allowedSources = parseAllowedSources(r.array('allowedSources') ?? []);
  return { serviceArguments, endpoints, secondaryIPs, allowedSources };
}

function parseServiceArguments(value: unknown): ServiceArguments {
  const s = new FieldReader('serviceArguments', value, SERVICE_FIELDS);
  const externalIP = s.ip('externalIP', { required: true })!;
  const protocol = s.oneOf('protocol', PROTOCOLS, { required: true })!;
  // ICMP has no ports: 0 or nothing (loxilb refuses anything else).
  const port = protocol === 'icmp' ? (s.int('port', 0, 0) ?? 0) : s.int('port', 1, 65535, { required: true })!;
  const portMax = s.int('portMax', 0, 65535) ?? 0;
  if (portMax !== 0 && portMax < port) throw invalid(s.field('portMax'), `must be 0 or from port (${port}) to 65535`, portMax);

  const sa: ServiceArguments = {
    externalIP,
    port,
    protocol,
    sel: s.int('sel', 0, SEL_NAMES.length - 1) ?? 0,
    mode: s.int('mode', 0, MODE_NAMES.length - 1) ?? 0,
    block: s.int('block', 0, UINT32_MAX) ?? 0,
    bgp: s.bool('bgp') ?? false,
    monitor: s.bool('monitor') ?? false,
    managed: s.bool('managed') ?? false,
    snat: s.bool('snat') ?? false,
    proxyprotocolv2: s.bool('proxyprotocolv2') ?? false,
    egress: s.bool('egress') ?? false,
  };
  // Optional values are stored only when non-zero: Go cannot tell 0 from absent either.
  if (portMax > port) sa.portMax = portMax;
  setIfSet(sa, 'privateIP', s.ip('privateIP'));
  if (sa.privateIP && ipFamily(sa.privateIP) !== ipFamily(externalIP)) {
    throw invalid(s.field('privateIP'), `must be an IPv${ipFamily(externalIP)} address like externalIP`, sa.privateIP);
  }
  const probetype = s.has('probetype') && s.raw('probetype') === '' ? undefined : s.oneOf('probetype', PROBE_TYPES);
  if (probetype === 'http' || probetype === 'https') {
    throw invalid(s.field('probetype'), `must be one of ${RULE_PROBE_TYPES.join(', ')} on an LB rule (http and https probe endpoints through config/endpoint)`, probetype);
  }
  setIfSet(sa, 'probetype', probetype);
  const probeport = s.int('probeport', 0, 65535) ?? 0;
  // loxilb's combinations: connect probes need a port, ping and none must not have one.
  if ((probetype === 'tcp' || probetype === 'udp' || probetype === 'sctp') && probeport === 0) {
    throw invalid(s.field('probeport'), `required: a port from 1 to 65535 for a ${probetype} probe`);
  }
  if ((probetype === undefined || probetype === 'ping' || probetype === 'none') && probeport !== 0) {
    throw invalid(s.field('probeport'), `must be 0 or absent ${probetype ? `with probetype ${probetype}` : 'without a probetype'}`, probeport);
  }
  setIfSet(sa, 'probeport', probeport);
  // As in loxilb, naming a real probe turns monitoring on.
  if (probetype !== undefined && probetype !== 'none') sa.monitor = true;
  setIfSet(sa, 'probereq', s.string('probereq'));
  setIfSet(sa, 'proberesp', s.string('proberesp'));
  setIfSet(sa, 'probeTimeout', s.int('probeTimeout', 0, UINT32_MAX));
  setIfSet(sa, 'probeRetries', s.int('probeRetries', 0, UINT32_MAX));
  setIfSet(sa, 'security', s.int('security', 0, SECURITY_NAMES.length - 1));
  setIfSet(sa, 'inactiveTimeOut', s.int('inactiveTimeOut', 0, MAX_INACTIVE_TIMEOUT_S));
  setIfSet(sa, 'name', s.string('name'));
  setIfSet(sa, 'oper', s.int('oper', 0, 2));
  setIfSet(sa, 'host', s.string('host'));
  if (sa.proxyprotocolv2 && protocol !== 'tcp') throw invalid(s.field('proxyprotocolv2'), 'may only be true on a tcp rule', true);
  return sa;
}

function setIfSet<K extends keyof ServiceArguments>(sa: ServiceArguments, k: K, v: ServiceArguments[K] | undefined): void {
  if (v !== undefined && v !== '' && v !== 0) sa[k] = v;
}

function parseEndpoints(items: unknown[], sa: ServiceArguments): Endpoint[] {
  // loxilb: "endpoints-range error". A rule with nothing behind it would only black-hole its VIP.
  if (items.length === 0 || items.length > MAX_ENDPOINTS) throw invalid('endpoints', `must have from 1 to ${MAX_ENDPOINTS} entries`, items.length);
  const seen = new Set<string>();
  const vipFamily = ipFamily(sa.externalIP);
  let epFamily: 4 | 6 | undefined;
  return items.map((item, i): Endpoint => {
    const e = new FieldReader(`endpoints[${i}]`, item, ENDPOINT_FIELDS);
    const endpointIP = e.ip('endpointIP', { required: true })!;
    const family = ipFamily(endpointIP);
    // loxilb: "malformed-service nat46 error". IPv6 VIPs may have IPv4 endpoints (NAT64), not the reverse.
    if (vipFamily === 4 && family === 6) throw invalid(e.field('endpointIP'), 'must be an IPv4 address: an IPv4 VIP cannot have IPv6 endpoints (no NAT46)', endpointIP);
    if (epFamily !== undefined && family !== epFamily) throw invalid(e.field('endpointIP'), `must be an IPv${epFamily} address like the endpoints before it`, endpointIP);
    epFamily = family;
    // ICMP has no ports: loxicmd sends targetPort 0, and loxilb refuses anything else.
    const targetPort = sa.protocol === 'icmp' ? (e.int('targetPort', 0, 0) ?? 0) : e.int('targetPort', 1, 65535, { required: true })!;
    if (sa.mode === DSR_MODE && targetPort !== sa.port) {
      throw invalid(e.field('targetPort'), `must equal the service port (${sa.port}) in dsr mode: the endpoint answers the client directly`, targetPort);
    }
    const weight = e.int('weight', 0, MAX_WEIGHT, { required: true })!;
    const key = endpointKey(endpointIP, targetPort);
    if (seen.has(key)) throw invalid(`endpoints[${i}]`, 'must not repeat an earlier endpointIP and targetPort', key);
    seen.add(key);
    return { endpointIP, targetPort, weight };
  });
}

const DSR_MODE = MODE_NAMES.indexOf('dsr');

function parseSecondaryIps(items: unknown[], externalIP: string): { secondaryIP: string }[] {
  if (items.length > MAX_SECONDARY_IPS) throw invalid('secondaryIPs', `must have at most ${MAX_SECONDARY_IPS} entries`, items.length);
  const family = ipFamily(externalIP);
  const seen = new Set<string>([externalIP]);
  return items.map((item, i) => {
    const r = new FieldReader(`secondaryIPs[${i}]`, item, ['secondaryIP'] as const);
    const secondaryIP = r.ip('secondaryIP', { required: true })!;
    if (ipFamily(secondaryIP) !== family) throw invalid(r.field('secondaryIP'), `must be an IPv${family} address like externalIP`, secondaryIP);
    if (seen.has(secondaryIP)) {
      const what = secondaryIP === externalIP ? 'must differ from externalIP' : 'must not repeat an earlier secondaryIP';
      throw invalid(r.field('secondaryIP'), what, secondaryIP);
    }
    seen.add(secondaryIP);
    return { secondaryIP };
  });
}

/** Repeated prefixes are merged rather than refused: they mean the same filter. */
function parseAllowedSources(items: unknown[]): { prefix: string }[] {
  const prefixes = new Set<string>();
  items.forEach((item, i) => {
    const r = new FieldReader(`allowedSources[${i}]`, item, ['prefix'] as const);
    const text = r.string('prefix', { required: true })!;
    const prefix = normalizePrefix(text);
    if (prefix === undefined) throw invalid(r.field('prefix'), 'must be a CIDR prefix (e.g. 10.0.0.0/8) or an IP address', text);
    prefixes.add(prefix);
  });
  return [...prefixes].map((prefix) => ({ prefix }));
}

export function endpointKey(ip: string, port: number): string {
  return hostPort(ip, port);
}

// ---- GET output ----

/** What GET /config/loadbalancer/all shows for one endpoint. */
export interface EndpointGet {
  endpointIP: string;
  targetPort: number;
  weight: number;
  state: string;
  counter: string;
}

export type ServiceArgumentsGet = Partial<Omit<ServiceArguments, 'privateIP' | 'probereq' | 'proberesp' | 'probeTimeout' | 'probeRetries' | 'oper'>>;

export interface LbRuleGet {
  serviceArguments: ServiceArgumentsGet;
  endpoints: EndpointGet[];
  secondaryIPs?: { secondaryIP: string }[];
  allowedSources?: { prefix: string }[];
  /** Whether the datapath carries the rule (our addition; loxilb's clients ignore it). */
  programmed?: boolean;
  /** Why not, when programmed is false. */
  reason?: string;
}

/** Live state of one endpoint of a monitored rule, or undefined to use the rule's own. */
export type EndpointStateLookup = (ep: Endpoint, rule: LbRule) => string | undefined;

// The fields loxilb's GET fills, in its order; the rest stay internal.
const GET_SERVICE_FIELDS = [
  'externalIP', 'bgp', 'port', 'portMax', 'protocol', 'block', 'sel', 'mode', 'security', 'inactiveTimeOut',
  'monitor', 'managed', 'probetype', 'probeport', 'name', 'snat', 'host', 'proxyprotocolv2', 'egress',
] as const satisfies readonly (keyof ServiceArgumentsGet)[];

/**
 * The GET shape of a rule, with Go's omitempty: zero, false and empty values
 * are left out. Endpoint state is "-" when the rule is not monitored and no
 * endpoint host (config/endpoint, config/endpointhoststate) decides it.
 */
export function formatLbRuleForGet(rule: LbRule & { programmed?: boolean; reason?: string }, endpointStates?: EndpointStateLookup): LbRuleGet {
  const sa: Record<string, unknown> = {};
  for (const k of GET_SERVICE_FIELDS) {
    const v = rule.serviceArguments[k];
    if (v !== undefined && v !== false && v !== 0 && v !== '') sa[k] = v;
  }
  const monitor = rule.serviceArguments.monitor;
  const out: LbRuleGet = {
    serviceArguments: sa as ServiceArgumentsGet,
    endpoints: rule.endpoints.map((ep) => ({
      endpointIP: ep.endpointIP,
      targetPort: ep.targetPort,
      weight: ep.weight,
      // Unmonitored: "-", unless the endpoint-host table (config/endpoint, endpointhoststate) decides it.
      state: monitor ? (endpointStates?.(ep, rule) ?? ep.state ?? 'active') : ep.state === 'inactive' || ep.state === 'active' ? ep.state : '-',
      counter: ep.counter ?? '0:0',
    })),
  };
  if (rule.secondaryIPs.length > 0) out.secondaryIPs = rule.secondaryIPs.map((s) => ({ secondaryIP: s.secondaryIP }));
  if (rule.allowedSources.length > 0) out.allowedSources = rule.allowedSources.map((s) => ({ prefix: s.prefix }));
  if (rule.programmed !== undefined) out.programmed = rule.programmed;
  if (rule.reason !== undefined) out.reason = rule.reason;
  return out;
}
