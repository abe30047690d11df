// What the eBPF datapath can carry. A rule the datapath cannot forward is
// refused at the REST edge with the field that makes it so, never accepted
// and then dropped: a 200 for traffic that is black-holed is the worst bug a
// load balancer can have. This is the one list; the planner checks it again
// for rules that come from elsewhere (state files from an older version).
import { MODE_NAMES, SEL_NAMES, ruleVips, type LbRule } from '../lb/LbRule.ts';
import { ValidationError } from '../util/errors.ts';
import { ipFamily } from '../util/ipAddress.ts';
import { MAX_SRCS } from './layout.ts';

/** Port ranges are expanded into one map entry per port; wider ones are refused. */
export const MAX_PORT_RANGE = 256;

const SUPPORTED_PROTOCOLS = ['tcp', 'udp', 'sctp', 'icmp'] as const;
const SUPPORTED_MODES = ['default', 'onearm', 'fullnat', 'dsr', 'hostonearm'] as const;
const SUPPORTED_SELS = ['rr', 'hash', 'priority', 'persist', 'lc'] as const;

function list(xs: readonly string[]): string {
  return xs.join(', ');
}

/** Verdicts by rule object: a stored rule never changes, and the planner asks again on every pass that touches it. */
const verdicts = new WeakMap<LbRule, ValidationError | null>();

/** Why the datapath cannot carry this rule (a 400 naming the field), or undefined if it can. */
export function datapathRefusal(rule: LbRule): ValidationError | undefined {
  let v = verdicts.get(rule);
  if (v === undefined) {
    v = refusal(rule) ?? null;
    verdicts.set(rule, v);
  }
  return v ?? undefined;
}

function refusal(rule: LbRule): ValidationError | undefined {
  const sa = rule.serviceArguments;
  const f = (k: string) => `serviceArguments.${k}`;
  if (!(SUPPORTED_PROTOCOLS as readonly string[]).includes(sa.protocol)) {
    return new ValidationError(f('protocol'), `must be one of ${list(SUPPORTED_PROTOCOLS)}: the eBPF datapath does not carry ${sa.protocol} yet`, sa.protocol);
  }
  const mode = MODE_NAMES[sa.mode] ?? String(sa.mode);
  if (mode === 'fullproxy') return new ValidationError(f('mode'), `must be one of ${list(SUPPORTED_MODES)}: fullproxy (an L7 proxy) is not part of loxilb-ts`, sa.mode);
  if (!(SUPPORTED_MODES as readonly string[]).includes(mode)) {
    return new ValidationError(f('mode'), `must be one of ${list(SUPPORTED_MODES)} (0-3, 5)`, sa.mode);
  }
  const sel = SEL_NAMES[sa.sel] ?? String(sa.sel);
  if (!(SUPPORTED_SELS as readonly string[]).includes(sel)) {
    return new ValidationError(f('sel'), `must be one of ${list(SUPPORTED_SELS)} (0-4): ${sel} (5G N2/N3 selection) is not part of loxilb-ts`, sa.sel);
  }
  if (sa.security) return new ValidationError(f('security'), 'must be 0 (plain): TLS termination needs an L7 proxy, which loxilb-ts does not have', sa.security);
  if (sa.host) return new ValidationError(f('host'), 'must be empty: URL-based rules need an L7 proxy, which loxilb-ts does not have', sa.host);
  if (sa.proxyprotocolv2) return new ValidationError(f('proxyprotocolv2'), 'must be false: the eBPF datapath does not insert PROXY protocol headers', true);
  if (sa.egress) return new ValidationError(f('egress'), 'must be false: egress rules (cluster gateway SNAT) are not part of loxilb-ts', true);
  if (sa.snat) return new ValidationError(f('snat'), 'must be false: SNAT rules are not part of loxilb-ts', true);

  const pmax = sa.portMax && sa.portMax > sa.port ? sa.portMax : sa.port;
  if (pmax - sa.port + 1 > MAX_PORT_RANGE) {
    return new ValidationError(f('portMax'), `must be at most ${sa.port + MAX_PORT_RANGE - 1}: a port range spans at most ${MAX_PORT_RANGE} ports`, sa.portMax);
  }
  const unspecified = (a: string) => a === '0.0.0.0' || a === '::';
  if (mode === 'hostonearm') {
    // loxilb: "hostarm needs unspec VIP": the rule serves the port on every address of the node.
    if (!unspecified(sa.externalIP)) return new ValidationError(f('externalIP'), 'must be 0.0.0.0 or :: in hostonearm mode: the rule serves every address of the node', sa.externalIP);
    if (sa.privateIP) return new ValidationError(f('privateIP'), 'must be absent in hostonearm mode', sa.privateIP);
    if (rule.secondaryIPs.length > 0) return new ValidationError('secondaryIPs', 'must be empty in hostonearm mode: the node\'s own addresses are the VIPs', rule.secondaryIPs.length);
  } else {
    for (const vip of [...ruleVips(rule), ...(sa.privateIP ? [sa.privateIP] : [])]) {
      if (unspecified(vip)) {
        const field = vip === sa.externalIP ? f('externalIP') : vip === sa.privateIP ? f('privateIP') : 'secondaryIPs';
        return new ValidationError(field, `must be a unicast address: ${vip} serves nothing in ${mode} mode (hostonearm serves every address of the node)`, vip);
      }
    }
  }
  const crossFamily = rule.endpoints.some((e) => ipFamily(e.endpointIP) !== ipFamily(sa.externalIP));
  if (mode === 'dsr') {
    // The endpoint answers the client itself, and no node keeps state: the flow's hash must pick the endpoint.
    if (sel !== 'hash') return new ValidationError(f('sel'), 'must be 1 (hash) in dsr mode: replies bypass the load balancer, so only a stateless choice keeps a connection on its endpoint (loxilb: "Only Hash Selection criteria allowed for DSR mode")', sa.sel);
    if (crossFamily) return new ValidationError('endpoints', 'must be of the VIP\'s family in dsr mode: the packet reaches the endpoint unchanged', rule.endpoints[0]!.endpointIP);
  }
  if (sa.protocol === 'icmp' && crossFamily) return new ValidationError('endpoints', 'must be of the VIP\'s family for an icmp rule: ICMP is not translated between IPv6 and IPv4', rule.endpoints[0]!.endpointIP);
  // IPv6 VIPs may have IPv4 endpoints (NAT64); parseLbRule has refused the reverse.
  if (sa.protocol === 'sctp' && ipFamily(sa.externalIP) === 6 && rule.endpoints.some((e) => ipFamily(e.endpointIP) === 4)) {
    return new ValidationError('endpoints', 'must be IPv6 addresses for an SCTP rule on an IPv6 VIP: SCTP through NAT64 (its address parameters) is not carried', rule.endpoints[0]!.endpointIP);
  }
  const vipFamily = ipFamily(sa.externalIP);
  const sources = rule.allowedSources.filter((s) => ipFamily(s.prefix.split('/')[0]!) === vipFamily);
  const other = rule.allowedSources.find((s) => ipFamily(s.prefix.split('/')[0]!) !== vipFamily);
  if (other) return new ValidationError('allowedSources', `must be IPv${vipFamily} prefixes like the VIP: ${other.prefix} can never match a client of it`, other.prefix);
  if (sources.length > MAX_SRCS) return new ValidationError('allowedSources', `must have at most ${MAX_SRCS} entries`, sources.length);
  return undefined;
}
