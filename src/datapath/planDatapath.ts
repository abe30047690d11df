// From LB rules (the REST model) to what the eBPF maps hold: one lb_rules
// entry per (VIP or secondary VIP, port, protocol), with the endpoints'
// liveness and the NAT source folded in. Pure: the caller supplies liveness,
// the instances' floating addresses and the rule-id allocator.
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { MODE_NAMES, SEL_NAMES, ruleInstance, ruleKey, ruleVips, type Endpoint, type LbRule } from '../lb/LbRule.ts';
import { MAX_EPS, MAX_RULES, MAX_SRCS, encodeLbKey, type DpRule, type ServiceKey } from './layout.ts';

/** Port ranges are expanded into one map entry per port; wider ones are refused. */
export const MAX_PORT_RANGE = 256;
export const DEFAULT_TIMEOUT_S = 240;

export interface PlannedEntry {
  key: ServiceKey;
  /** Hex of the encoded key: the identity used to diff against the map. */
  keyHex: string;
  rule: DpRule;
  /** ruleKey() of the LB rule this entry comes from. */
  source: string;
}

export interface DatapathPlan {
  entries: PlannedEntry[];
  /** Rules the datapath cannot serve (yet), with the reason, for logs and the API. */
  skipped: { rule: string; reason: string }[];
  /** Every VIP some programmed rule serves: these answer ICMP echo. */
  vips: string[];
}

export interface PlanContext {
  /** Whether a monitored endpoint passes its probe (true when not monitored). */
  alive(rule: LbRule, ep: Endpoint): boolean;
  /** The floating address of an HA instance (cistate vip), if one is set. */
  instanceVip(instance: string): string | undefined;
  /** A stable id (< MAX_RULES) for a rule and its endpoint list. */
  ruleId(source: string, endpointsSignature: string): number | undefined;
}

/** Dotted-quad IPv4 only (no shorthand forms such as 10.1). */
const isV4 = isIPv4;

/** Why the datapath cannot carry this rule, or undefined if it can. */
export function unsupportedReason(rule: LbRule): string | undefined {
  const sa = rule.serviceArguments;
  if (sa.protocol !== 'tcp' && sa.protocol !== 'udp') return `protocol ${sa.protocol} is not in the eBPF datapath yet (tcp, udp)`;
  if (sa.mode > 2) return `mode ${MODE_NAMES[sa.mode] ?? sa.mode} is not in the eBPF datapath yet (default, onearm, fullnat)`;
  if (sa.sel > 4) return `sel ${SEL_NAMES[sa.sel] ?? sa.sel} is not in the eBPF datapath yet (rr, hash, priority, persist, lc)`;
  const vips = ruleVips(rule);
  const v6 = vips.find((v) => !isV4(v));
  if (v6) return `VIP ${v6} is IPv6; the eBPF datapath is IPv4 only so far`;
  const ep6 = rule.endpoints.find((e) => !isV4(e.endpointIP));
  if (ep6) return `endpoint ${ep6.endpointIP} is IPv6; the eBPF datapath is IPv4 only so far`;
  if (rule.endpoints.length > MAX_EPS) return `more than ${MAX_EPS} endpoints`;
  const span = (sa.portMax && sa.portMax > sa.port ? sa.portMax : sa.port) - sa.port + 1;
  if (span > MAX_PORT_RANGE) return `port range ${sa.port}-${sa.portMax} is wider than ${MAX_PORT_RANGE} ports`;
  return undefined;
}

function endpointsSignature(rule: LbRule): string {
  return rule.endpoints.map((e) => `${e.endpointIP}:${e.targetPort}`).join(',');
}

export function planDatapath(rules: Iterable<LbRule>, ctx: PlanContext): DatapathPlan {
  const entries: PlannedEntry[] = [];
  const skipped: DatapathPlan['skipped'] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    const sa = rule.serviceArguments;
    const source = ruleKey(sa);
    const reason = unsupportedReason(rule);
    if (reason) {
      skipped.push({ rule: source, reason });
      continue;
    }
    const id = ctx.ruleId(source, endpointsSignature(rule));
    if (id === undefined || id >= MAX_RULES) {
      skipped.push({ rule: source, reason: `more than ${MAX_RULES} rules` });
      continue;
    }
    const floating = ctx.instanceVip(ruleInstance(rule));
    const snatAddr = sa.mode === 2 ? (floating && isV4(floating) && floating !== '0.0.0.0' ? floating : sa.externalIP) : '';
    const sources: DpRule['sources'] = [];
    for (const s of rule.allowedSources) {
      try {
        const [addr, bits] = ipaddr.parseCIDR(s.prefix.includes('/') ? s.prefix : `${s.prefix}/${ipaddr.parse(s.prefix).kind() === 'ipv4' ? 32 : 128}`);
        if (addr.kind() === 'ipv4') sources.push({ net: addr.toString(), bits });
      } catch {
        // validateLbRule has already refused malformed prefixes.
      }
    }
    if (rule.allowedSources.length > 0 && sources.length === 0) {
      // Only IPv6 sources were allowed: no IPv4 client may use this VIP.
      sources.push({ net: '255.255.255.255', bits: 32 });
    }
    if (sources.length > MAX_SRCS) {
      skipped.push({ rule: source, reason: `more than ${MAX_SRCS} allowed sources` });
      continue;
    }
    const timeoutS = sa.inactiveTimeOut && sa.inactiveTimeOut > 0 ? sa.inactiveTimeOut : DEFAULT_TIMEOUT_S;
    const dp: DpRule = {
      id,
      sel: sa.sel,
      mode: sa.mode,
      snatAddr,
      timeoutS,
      persistS: timeoutS,
      endpoints: rule.endpoints.map((e) => ({ addr: e.endpointIP, port: e.targetPort, weight: e.weight, alive: ctx.alive(rule, e) })),
      sources,
    };
    const pmax = sa.portMax && sa.portMax > sa.port ? sa.portMax : sa.port;
    for (const vip of ruleVips(rule)) {
      for (let port = sa.port; port <= pmax; port++) {
        const key: ServiceKey = { vip, port, proto: sa.protocol as 'tcp' | 'udp' };
        const keyHex = encodeLbKey(key).toString('hex');
        // Two rules on one (VIP, port, protocol) differ only in block/host,
        // which an L4 datapath cannot tell apart: the first one wins.
        if (seen.has(keyHex)) continue;
        seen.add(keyHex);
        entries.push({ key, keyHex, rule: dp, source });
      }
    }
  }
  return { entries, skipped, vips: [...new Set(entries.map((e) => e.key.vip))] };
}

/**
 * Rule ids index the round-robin and least-connection arrays. A rule keeps
 * its id while its endpoint list is unchanged; a new list gets a fresh id
 * (fresh counters), and ids unused by the latest plan return to the pool.
 */
export class RuleIdAllocator {
  private readonly byRule = new Map<string, { sig: string; id: number }>();
  private readonly free: number[] = [];
  private next = 0;
  /** Ids handed out since the last commit, whose counters must start at zero. */
  readonly fresh = new Set<number>();
  private used = new Set<string>();

  constructor(private readonly max = MAX_RULES) {}

  idFor(source: string, sig: string): number | undefined {
    this.used.add(source);
    const cur = this.byRule.get(source);
    if (cur && cur.sig === sig) return cur.id;
    const id = this.free.length > 0 ? this.free.shift() : this.next < this.max ? this.next++ : undefined;
    if (id === undefined) return undefined;
    if (cur) this.free.push(cur.id);
    this.byRule.set(source, { sig, id });
    this.fresh.add(id);
    return id;
  }

  /** Ends a planning pass: rules not asked for release their ids. */
  commit(): void {
    for (const [source, { id }] of this.byRule) {
      if (!this.used.has(source)) {
        this.byRule.delete(source);
        this.free.push(id);
      }
    }
    this.used = new Set();
  }
}
