// From one LB rule (the REST model) to what the eBPF maps hold for it: one
// lb_rules entry per (match address, port, protocol), with the endpoints'
// liveness and the NAT source folded in. Pure and per rule, so a pass costs
// what changed, not the size of the table: the caller supplies liveness, the
// instances' floating addresses and the rule id.
import ipaddr from 'ipaddr.js';
import { ruleInstance, ruleVips, type Endpoint, type LbRule } from '../lb/LbRule.ts';
import { MAX_VIPS, encodeLbKey, familyOfAddr, type DpProtocol, type DpRule, type ServiceKey } from './layout.ts';
import { datapathRefusal } from './capabilities.ts';

/** loxilb's idle timeouts when a rule sets none: sessions (TCP, SCTP) and the rest (UDP, ICMP). */
export const DEFAULT_TIMEOUT_S = 240;
export const DEFAULT_TIMEOUT_NS_S = 20;

const MODE_DSR = 3;
const MODE_HOSTONEARM = 5;

export interface RuleContext {
  /** Whether a monitored endpoint passes its probe (true when not monitored). */
  alive(rule: LbRule, ep: Endpoint): boolean;
  /** The floating address of an HA instance (cistate vip), if one is set. */
  instanceVip(instance: string): string | undefined;
  /** The node's own addresses of a family, which a hostonearm rule serves. */
  localAddresses(family: 4 | 6): string[];
  /** Whether an address lies in a subnet of an interface of this node (dsr sends to endpoints' MACs). */
  onLink(address: string): boolean;
}

export interface RulePlan {
  /** The map keys of this rule: decoded, encoded, and their hex (the identity used to diff against the map). */
  keys: { key: ServiceKey; buf: Buffer; hex: string }[];
  /** The value every key maps to, but for the id the caller assigns. */
  rule: Omit<DpRule, 'id'>;
  /** Addresses that answer ping for this rule. */
  vips: string[];
  /** What identifies the endpoint list: a new list gets a fresh id and fresh rr/lc counters. */
  endpointsSignature: string;
}

/**
 * The addresses packets for this rule arrive at. With privateIP (loxilb's
 * cloud case: the external IP is NATed to a private one before the LB) the
 * rule matches the private address, and the external IP is only advertised.
 */
export function matchAddresses(rule: LbRule, ctx?: Pick<RuleContext, 'localAddresses'>): string[] {
  const sa = rule.serviceArguments;
  if (sa.mode === MODE_HOSTONEARM) return ctx ? ctx.localAddresses(familyOfAddr(sa.externalIP)) : [sa.externalIP];
  const vips = ruleVips(rule);
  if (sa.privateIP) vips[0] = sa.privateIP;
  return vips;
}

/** The datapath form of one rule, or why it cannot be carried. */
export function planRule(rule: LbRule, ctx: RuleContext): RulePlan | { reason: string } {
  const refusal = datapathRefusal(rule);
  if (refusal) return { reason: refusal.message };
  const sa = rule.serviceArguments;
  const floating = ctx.instanceVip(ruleInstance(rule));
  const matches = matchAddresses(rule, ctx);
  if (matches.length === 0) return { reason: `this node has no IPv${familyOfAddr(sa.externalIP)} address for the hostonearm rule to serve` };
  if (matches.length > MAX_VIPS) return { reason: `the node has ${matches.length} addresses; a hostonearm rule serves at most ${MAX_VIPS}` };
  if (sa.mode === MODE_DSR) {
    const far = rule.endpoints.find((e) => !ctx.onLink(e.endpointIP));
    if (far) return { reason: `endpoint ${far.endpointIP} is not in a subnet of this node: dsr hands packets to the endpoint's MAC` };
  }
  // fullnat's source: the instance's floating address, else the VIP, whichever
  // is of the endpoints' family; '' takes the egress interface's address
  // (onearm, and NAT64 without an IPv4 floating address).
  const epFamily = familyOfAddr(rule.endpoints[0]!.endpointIP);
  const usable = (a: string | undefined) => a !== undefined && a !== '0.0.0.0' && a !== '::' && familyOfAddr(a) === epFamily;
  const snatAddr = sa.mode === 2 ? (usable(floating) ? floating! : usable(matches[0]) ? matches[0]! : '') : '';
  const sources = rule.allowedSources.map((s) => {
    const [addr, bits] = ipaddr.parseCIDR(s.prefix);
    return { net: addr.toString(), bits };
  });
  const sessions = sa.protocol === 'tcp' || sa.protocol === 'sctp';
  const timeoutS = sa.inactiveTimeOut && sa.inactiveTimeOut > 0 ? sa.inactiveTimeOut : sessions ? DEFAULT_TIMEOUT_S : DEFAULT_TIMEOUT_NS_S;
  const pmax = sa.portMax && sa.portMax > sa.port ? sa.portMax : sa.port;
  const keys: RulePlan['keys'] = [];
  for (const vip of matches) {
    for (let port = sa.port; port <= pmax; port++) {
      const key: ServiceKey = { vip, port, proto: sa.protocol as DpProtocol };
      const buf = encodeLbKey(key);
      keys.push({ key, buf, hex: buf.toString('hex') });
    }
  }
  return {
    keys,
    vips: matches,
    endpointsSignature: rule.endpoints.map((e) => `${e.endpointIP}:${e.targetPort}`).join(','),
    rule: {
      sel: sa.sel,
      mode: sa.mode,
      snatAddr,
      timeoutS,
      persistS: timeoutS,
      endpoints: rule.endpoints.map((e) => ({ addr: e.endpointIP, port: e.targetPort, weight: e.weight, alive: ctx.alive(rule, e) })),
      sources,
      vips: matches,
    },
  };
}

/**
 * Rule ids index the round-robin and least-connection arrays. A rule keeps
 * its id while its endpoint list is unchanged; a new list gets a fresh id
 * (fresh counters). Ids never handed out come first, then released ones
 * in the order they were released: an id is not handed out again while
 * connections of its old rule may still count on it (their lc closes,
 * their traffic) unless every id has been used since.
 */
export class RuleIdAllocator {
  private readonly free: number[] = [];
  private next = 0;
  private inUse = 0;

  constructor(readonly max: number) {}

  alloc(): number | undefined {
    const id = this.next < this.max ? this.next++ : this.free.shift();
    if (id !== undefined) this.inUse++;
    return id;
  }

  release(id: number): void {
    this.free.push(id);
    this.inUse--;
  }

  get used(): number {
    return this.inUse;
  }
}
