// The load-balancer rule model, in loxilb's REST shape (reference §2.2).
// Field names match loxilb's JSON exactly; enums are loxilb's numbers.

export const PROTOCOLS = ['tcp', 'udp', 'sctp', 'icmp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** sel: 0 rr, 1 hash, 2 priority, 3 persist, 4 lc, 5 n2, 6 n3. */
export const SEL_NAMES = ['rr', 'hash', 'priority', 'persist', 'lc', 'n2', 'n3'] as const;
/** mode: 0 default, 1 onearm, 2 fullnat, 3 dsr, 4 fullproxy, 5 hostonearm. */
export const MODE_NAMES = ['default', 'onearm', 'fullnat', 'dsr', 'fullproxy', 'hostonearm'] as const;
export const PROBE_TYPES = ['tcp', 'udp', 'sctp', 'http', 'https', 'ping', 'none'] as const;
export type ProbeType = (typeof PROBE_TYPES)[number];
export const SECURITY_NAMES = ['plain', 'https', 'e2ehttps'] as const;

export interface ServiceArguments {
  externalIP: string;
  privateIP?: string;
  port: number;
  portMax?: number;
  protocol: Protocol;
  sel: number;
  bgp: boolean;
  monitor: boolean;
  probetype?: ProbeType;
  probeport?: number;
  probereq?: string;
  proberesp?: string;
  probeTimeout?: number;
  probeRetries?: number;
  managed?: boolean;
  mode: number;
  security?: number;
  block: number;
  inactiveTimeOut?: number;
  name?: string;
  snat?: boolean;
  oper?: number;
  host?: string;
  proxyprotocolv2?: boolean;
  egress?: boolean;
}

export interface Endpoint {
  endpointIP: string;
  targetPort: number;
  weight: number;
  /** Filled on output: "active", "inactive" or "-" when not monitored. */
  state?: string;
  counter?: string;
}

export interface LbRule {
  serviceArguments: ServiceArguments;
  endpoints: Endpoint[];
  secondaryIPs: { secondaryIP: string }[];
  allowedSources: { prefix: string }[];
}

/** The HA instance that owns a rule's VIPs: text after the first ':' of its name. */
export function ruleInstance(rule: LbRule): string {
  const name = rule.serviceArguments.name ?? '';
  const i = name.indexOf(':');
  return i >= 0 && i < name.length - 1 ? name.slice(i + 1) : DEFAULT_INSTANCE;
}

export const DEFAULT_INSTANCE = 'llb-inst0';

/** Identity of a rule, as loxilb keys it: VIP, port range, protocol, block, host. */
export function ruleKey(sa: Pick<ServiceArguments, 'externalIP' | 'port' | 'portMax' | 'protocol' | 'block' | 'host'>): string {
  const pmax = sa.portMax && sa.portMax > sa.port ? sa.portMax : sa.port;
  return `${sa.externalIP}|${sa.port}-${pmax}|${sa.protocol}|${sa.block ?? 0}|${sa.host ?? ''}`;
}

/** Every VIP a rule advertises when bgp is on: the external IP and the secondary IPs. */
export function ruleVips(rule: LbRule): string[] {
  return [rule.serviceArguments.externalIP, ...rule.secondaryIPs.map((s) => s.secondaryIP)];
}
