// The HA roles a starting agent takes from its saved state. An instance that
// BFD elects (the --ka peer's, or one with a saved session with an --ka /
// --cluster peer) starts NOT_DEFINED whatever it was before: the saved role
// is that of a node that died or stopped, and the peer has likely taken over
// since. Acting on it for even one VIP pass made a SIGKILLed MASTER, started
// again, put the VIP back on its interface and announce it with gratuitous
// ARP, moving the segment to a node the election then made BACKUP. The other
// instances (roles set through the API, kube-loxilb --setRoles) keep theirs,
// except a saved MASTER, which RoleRestore holds as BACKUP until the API or
// the end of its wait confirms it.
import type { CiState } from './ClusterState.ts';
import { ruleInstance, ruleVips, type LbRule } from '../lb/LbRule.ts';

export function restoredRoles(saved: readonly CiState[], elected: ReadonlySet<string>): CiState[] {
  return saved.map((s) => (elected.has(s.instance) && s.state !== 'NOT_DEFINED' ? { ...s, state: 'NOT_DEFINED' } : { ...s }));
}

/**
 * What a starting agent may give back at once (releaseStaleVips): the saved
 * rules' VIPs, keeping those of MASTER instances and their floating
 * addresses (none at start: an elected instance is NOT_DEFINED by now, a
 * saved MASTER set by the API BACKUP until confirmed, see RoleRestore).
 */
export function startupVips(rules: Iterable<LbRule>, roles: ReadonlyMap<string, CiState>): { vips: string[]; keep: string[] } {
  const vips: string[] = [];
  const keep: string[] = [];
  for (const s of roles.values()) if (s.state === 'MASTER') keep.push(s.vip);
  for (const r of rules) {
    const v = ruleVips(r);
    vips.push(...v);
    if (roles.get(ruleInstance(r))?.state === 'MASTER') keep.push(...v);
  }
  return { vips, keep };
}
