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

export function restoredRoles(saved: readonly CiState[], elected: ReadonlySet<string>): CiState[] {
  return saved.map((s) => (elected.has(s.instance) && s.state !== 'NOT_DEFINED' ? { ...s, state: 'NOT_DEFINED' } : { ...s }));
}
