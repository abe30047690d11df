// Pure planning of the VIP host routes an agent advertises: which addresses,
// and with which MED / local-pref, from the LB rules and the HA roles.
import ipaddr from 'ipaddr.js';
import { ruleInstance, ruleVips, type LbRule } from '../lb/LbRule.ts';
import type { CiState, CiStateName } from '../ha/ClusterState.ts';
import type { VipRoute } from './pathCodec.ts';

/** loxilb's constants: routers prefer the MASTER by MED (eBGP) and local-pref (iBGP). */
export const ROLE_ATTRIBUTES: Record<'MASTER' | 'BACKUP', { localPref: number; med: number }> = {
  MASTER: { localPref: 5000, med: 10 },
  BACKUP: { localPref: 100, med: 20 },
};

/**
 * Attributes for a VIP of an instance in `state`, or null when the VIP must not
 * be advertised. No role (NOT_DEFINED): no MED or local-pref at all, so every
 * node advertises the same attributes and routers can spread load with ECMP.
 * FAULT and STOP: the instance must not attract traffic, so its VIPs go away.
 */
export function roleAttributes(state: CiStateName | undefined): { med?: number; localPref?: number } | null {
  switch (state) {
    case 'MASTER':
    case 'BACKUP':
      return { ...ROLE_ATTRIBUTES[state] };
    case 'FAULT':
    case 'STOP':
      return null;
    default:
      return {};
  }
}

// When one address belongs to instances in different roles, the most
// attractive advertisement wins: withholding a MASTER's VIP would black-hole it.
const ROLE_RANK: Record<CiStateName, number> = { MASTER: 3, NOT_DEFINED: 2, BACKUP: 1, FAULT: 0, STOP: 0 };

export interface VipPlanInput {
  rules: Iterable<LbRule>;
  ciStates: ReadonlyMap<string, CiState>;
  /** False for a monitored rule whose endpoints are all down. */
  ruleAlive: (rule: LbRule) => boolean;
}

export function planVipRoutes(input: VipPlanInput): Map<string, VipRoute> {
  const best = new Map<string, { rank: number; route: VipRoute }>();
  const offer = (ip: string, instance: string) => {
    const state = input.ciStates.get(instance)?.state ?? 'NOT_DEFINED';
    const attrs = roleAttributes(state);
    if (!attrs) return;
    const addr = ipaddr.process(ip);
    const route: VipRoute = { ip: addr.toString(), family: addr.kind() === 'ipv4' ? 4 : 6, ...attrs };
    const rank = ROLE_RANK[state];
    const cur = best.get(route.ip);
    if (!cur || rank > cur.rank) best.set(route.ip, { rank, route });
  };
  for (const rule of input.rules) {
    if (!rule.serviceArguments.bgp || !input.ruleAlive(rule)) continue;
    const inst = ruleInstance(rule);
    for (const vip of ruleVips(rule)) offer(vip, inst);
  }
  for (const ci of input.ciStates.values()) {
    if (ci.vip && !ipaddr.process(ci.vip).range().startsWith('unspecified')) offer(ci.vip, ci.instance);
  }
  return new Map([...best].map(([ip, v]) => [ip, v.route]));
}

export function sameRoute(a: VipRoute, b: VipRoute): boolean {
  return a.ip === b.ip && a.family === b.family && a.med === b.med && a.localPref === b.localPref && (a.nextHop ?? '') === (b.nextHop ?? '');
}

/** What to add (new or changed attributes) and what to withdraw to go from `applied` to `desired`. */
export function diffRoutes(
  desired: ReadonlyMap<string, VipRoute>,
  applied: ReadonlyMap<string, VipRoute>,
): { add: VipRoute[]; withdraw: VipRoute[] } {
  const add: VipRoute[] = [];
  const withdraw: VipRoute[] = [];
  for (const [ip, r] of desired) {
    const cur = applied.get(ip);
    if (!cur || !sameRoute(cur, r)) add.push(r);
  }
  for (const [ip, r] of applied) if (!desired.has(ip)) withdraw.push(r);
  return { add, withdraw };
}
