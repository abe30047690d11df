// Role arbitration for --setRoles (reference §6.7): one MASTER per zone
// instance among the LB agents, BACKUP for every other, and the
// `POST /config/cistate` bodies that tell each alive agent its roles.
//
// A MASTER keeps its role while it is alive (no flapping, no preemption by
// an agent that comes back); only when it is dead, gone or newly excluded
// is another chosen: the first alive, allowed agent in the given order (URL
// or discovery order) starting at the instance's index, as kube-loxilb's
// hint does, preferring one that leads fewer instances so that with several
// instances the masters spread over the agents.
import type { CiState } from '../ha/ClusterState.ts';
import { formatAddress, parseAddress } from '../ipam/ipRange.ts';

/** loxilb advertises VIPs and applies its BGP policy by this instance, whatever the zone. */
export const DEFAULT_INSTANCE = 'llb-inst0';

export interface RoleAgent {
  id: string;
  /** Node address, matched against excludeRoleList. */
  address: string;
  /** Peer-only (--peer) agents take no part and get no CI state. */
  kind?: 'lb' | 'peer';
  alive: boolean;
  /** When the agent last answered a health check (ms, same clock as nowMs). */
  lastSeenMs?: number;
}

export interface ElectionInput {
  agents: readonly RoleAgent[];
  /** The zone's instances, e.g. llb-inst0, llb-inst1. */
  instances: readonly string[];
  /** instance -> id of its MASTER as last decided. */
  currentMasters: Readonly<Record<string, string | undefined>>;
  excludeRoleList: readonly string[];
  /** The --setRoles address, sent as every CI state's vip. */
  vip: string;
  zone: string;
  /**
   * A MASTER reported dead keeps its role while its last answer is younger
   * than this, so one lost health check does not move every VIP. 0 (the
   * default) re-elects at the first dead report, as kube-loxilb does.
   */
  masterGraceMs?: number;
  nowMs?: number;
  /**
   * kube-loxilb's rebalance (with --setUniqueIP): when one agent is MASTER
   * of every instance although enough agents are alive, spread them again.
   */
  rebalance?: boolean;
}

export interface CiStatePost {
  agentId: string;
  body: CiState;
}

export interface ElectionResult {
  /** instance -> MASTER id; undefined when no agent may be MASTER. */
  masters: Record<string, string | undefined>;
  /** Instances whose MASTER differs from currentMasters. */
  changed: string[];
  /** What each alive LB agent should be told, every instance, in agent order. */
  ciStates: CiStatePost[];
  notes: string[];
}

export function electRoles(input: ElectionInput): ElectionResult {
  const notes: string[] = [];
  const excluded = new Set(input.excludeRoleList.map(canonical));
  const lbAgents = input.agents.filter((a) => a.kind !== 'peer');
  const byId = new Map(lbAgents.map((a) => [a.id, a]));
  const mayLead = (a: RoleAgent) => !excluded.has(canonical(a.address));
  const inGrace = (a: RoleAgent) =>
    (input.masterGraceMs ?? 0) > 0 && a.lastSeenMs !== undefined && input.nowMs !== undefined && input.nowMs - a.lastSeenMs < input.masterGraceMs!;

  const masters: Record<string, string | undefined> = {};
  const load = (id: string) => Object.values(masters).filter((m) => m === id).length;
  // The first alive, allowed agent from the instance's starting point, but
  // one that leads fewer instances wins, so masters spread over the agents.
  const pick = (index: number): string | undefined => {
    const n = lbAgents.length;
    let best: RoleAgent | undefined;
    for (let k = 0; k < n; k++) {
      const a = lbAgents[(index + k) % n]!;
      if (a.alive && mayLead(a) && (best === undefined || load(a.id) < load(best.id))) best = a;
    }
    return best?.id;
  };

  let current: Record<string, string | undefined> = { ...input.currentMasters };
  if (input.rebalance && input.instances.length > 1) {
    const held = input.instances.map((i) => current[i]);
    const eligibleAlive = lbAgents.filter((a) => a.alive && mayLead(a)).length;
    if (held[0] !== undefined && held.every((m) => m === held[0]) && eligibleAlive >= input.instances.length) {
      notes.push(`agent ${held[0]} is MASTER of every instance; spreading the roles again`);
      current = {};
    }
  }

  // Masters that may stay are kept first, so the new ones spread around them.
  for (const instance of input.instances) {
    const cur = current[instance] === undefined ? undefined : byId.get(current[instance]!);
    if (cur && mayLead(cur) && (cur.alive || inGrace(cur))) masters[instance] = cur.id;
  }
  input.instances.forEach((instance, index) => {
    if (masters[instance] !== undefined) return;
    masters[instance] = pick(index);
    if (masters[instance] === undefined) notes.push(`no alive agent may be MASTER of ${instance}; every agent is BACKUP`);
  });

  const changed = input.instances.filter((i) => masters[i] !== input.currentMasters[i]);
  const ciStates: CiStatePost[] = [];
  for (const a of lbAgents) {
    if (!a.alive) continue;
    const state = (instance: string): CiState['state'] => (masters[instance] === a.id ? 'MASTER' : 'BACKUP');
    for (const instance of input.instances) ciStates.push({ agentId: a.id, body: { instance, state: state(instance), vip: input.vip } });
    const first = input.instances[0];
    if (first !== undefined && !input.instances.includes(DEFAULT_INSTANCE)) {
      // Outside zone llb, loxilb still keys BGP advertisement on llb-inst0,
      // so it mirrors the zone's first instance.
      ciStates.push({ agentId: a.id, body: { instance: DEFAULT_INSTANCE, state: state(first), vip: input.vip } });
    }
  }
  return { masters, changed, ciStates, notes };
}

function canonical(text: string): string {
  const a = parseAddress(text.trim());
  return a ? formatAddress(a.family, a.value) : text.trim();
}
