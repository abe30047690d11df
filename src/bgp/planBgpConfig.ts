// Pure planning of gobgpd's global config, neighbours and export policies:
// compares what the agent wants with what gobgpd reports and lists the calls
// that converge them, in the order gobgpd needs (global first: StartBgp wipes
// policies and paths).
//
// Role attributes live in one export policy, `loxilb-role-g<N>`: a statement
// per VIP prefix set sets MED and local-pref. Statement names are global in
// gobgpd and cannot be edited, so a role change adds the next generation,
// assigns it in place of the old one, deletes the old one and soft-resets
// peers out: one policy swap instead of re-sending every path.
import { ipFamily, normalizeIp } from '../util/ipAddress.ts';
import type { BgpGlobalConfig, BgpNeighborConfig } from './BgpConfig.ts';
import type { GlobalSpec, PeerInfo, PeerSpec, PolicySpec } from './GobgpClient.ts';

export const NEXT_HOP_SELF_POLICY = 'set-next-hop-self-gpolicy';
export const NEXT_HOP_SELF_STATEMENT = 'set-next-hop-self-gstmt';
/** loxilb enables eBGP multihop with this TTL when a neighbour asks for it. */
export const MULTIHOP_TTL = 8;

export const nextHopSelfPolicy: PolicySpec = {
  name: NEXT_HOP_SELF_POLICY,
  statements: [{ name: NEXT_HOP_SELF_STATEMENT, actions: { nextHopSelf: true } }],
};

export const ROLE_POLICY_PREFIX = 'loxilb-role-g';

/** One statement of the role policy: the VIPs in `set` get this MED / local-pref (and communities, when draining). */
export interface RoleMatch {
  set: string;
  med: number;
  localPref: number;
  communities?: readonly string[];
}

export function rolePolicy(gen: number, matches: readonly RoleMatch[]): PolicySpec {
  const name = `${ROLE_POLICY_PREFIX}${gen}`;
  return {
    name,
    statements: matches.map((m) => ({
      name: `${name}-${m.set}`,
      conditions: { prefixSet: m.set },
      // No route action: evaluation goes on, the default (accept) decides.
      actions: { med: m.med, localPref: m.localPref, ...(m.communities?.length ? { communities: [...m.communities] } : {}) },
    })),
  };
}

function roleGeneration(name: string): number | undefined {
  if (!name.startsWith(ROLE_POLICY_PREFIX)) return undefined;
  const n = Number(name.slice(ROLE_POLICY_PREFIX.length));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function policyDoes(p: PolicySpec, matches: readonly RoleMatch[]): boolean {
  return (
    p.statements.length === matches.length &&
    matches.every((m) =>
      p.statements.some(
        (s) =>
          s.conditions?.prefixSet === m.set &&
          s.actions.med === m.med &&
          s.actions.localPref === m.localPref &&
          (s.actions.communities ?? []).join() === (m.communities ?? []).join(),
      ),
    )
  );
}

export interface PeerTimers {
  connectRetry: number;
  holdTime: number;
  keepalive: number;
}

export interface DesiredBgp {
  global?: BgpGlobalConfig;
  neighbors: BgpNeighborConfig[];
  timers: PeerTimers;
  /** Role attributes by VIP prefix set; empty when no advertised instance has a role. */
  roles?: readonly RoleMatch[];
  /** Neighbours (canonical addresses) that BFD says are gone: their sessions stay shut down. */
  bfdDown?: ReadonlySet<string>;
  /** The node is draining: every VIP gets DRAIN_ATTRIBUTES whatever its role (the reconciler fills roles so). */
  drain?: boolean;
  /**
   * Neighbours whose Established session just ended (PeerRevival): one that
   * gobgpd still holds Idle, admin-up, is made anew (see planBgpConfig).
   */
  revive?: ReadonlySet<string>;
}

export interface ObservedBgp {
  global: GlobalSpec;
  peers: PeerInfo[];
  exportPolicies: string[];
  policies: PolicySpec[];
}

export type BgpAction =
  | { kind: 'stopBgp' }
  | { kind: 'startBgp'; global: GlobalSpec }
  | { kind: 'addPolicy'; policy: PolicySpec }
  | { kind: 'setExportPolicies'; names: string[] }
  | { kind: 'deletePolicy'; name: string }
  | { kind: 'deletePeer'; address: string }
  | { kind: 'addPeer'; peer: PeerSpec }
  | { kind: 'disablePeer'; address: string; communication: string }
  | { kind: 'enablePeer'; address: string }
  | { kind: 'softResetOut' };

export function globalSpec(g: BgpGlobalConfig): GlobalSpec {
  // Listen on both families so IPv6 neighbours can connect to us too.
  return { asn: g.localAs, routerId: g.routerId, listenPort: g.listenPort || 179, listenAddresses: ['0.0.0.0', '::'] };
}

/** A neighbour address in canonical text (gobgpd's spelling and ours compare equal). */
function peerKey(address: string): string {
  return normalizeIp(address) ?? address;
}

export function peerSpec(n: BgpNeighborConfig, timers: PeerTimers): PeerSpec {
  // Each VIP goes out in its own family: IPv4 VIPs over IPv4 sessions, IPv6
  // VIPs over IPv6 sessions, so gobgpd can fill a next-hop of the right family.
  // An IPv4-mapped neighbour address is the IPv4 peer, and its session carries IPv4.
  const family = ipFamily(n.ipAddress) === 6 ? 6 : 4;
  return {
    address: peerKey(n.ipAddress),
    peerAsn: n.remoteAs,
    remotePort: n.remotePort || 179,
    multihopTtl: n.setMultiHop ? MULTIHOP_TTL : 0,
    families: [family],
    connectRetry: timers.connectRetry,
    holdTime: timers.holdTime,
    keepalive: timers.keepalive,
  };
}

function peerMatches(want: PeerSpec, have: PeerInfo): boolean {
  return (
    want.peerAsn === have.peerAsn &&
    (want.remotePort ?? 179) === (have.remotePort || 179) &&
    (want.multihopTtl ?? 0) === have.multihopTtl &&
    want.families.length === have.families.length &&
    want.families.every((f) => have.families.includes(f))
  );
}

/** A revived neighbour gobgpd still holds Idle, admin-up (not PFX_CT: a max-prefix shutdown stays shut). */
function heldIdle(desired: DesiredBgp, addr: string, have: PeerInfo): boolean {
  return (desired.revive?.has(addr) ?? false) && have.sessionState === 'IDLE' && have.adminState === 'UP';
}

/** Start, or restart, BGP when gobgpd's global config is not the wanted one. */
export function planGlobal(desired: DesiredBgp, observed: GlobalSpec): BgpAction[] {
  const g = desired.global;
  if (!g) return [];
  const want = globalSpec(g);
  if (observed.asn === 0) return [{ kind: 'startBgp', global: want }];
  if (observed.asn !== want.asn || observed.routerId !== want.routerId || (observed.listenPort || 179) !== want.listenPort) {
    // gobgpd cannot change these in place; a second StartBgp would stack listeners.
    return [{ kind: 'stopBgp' }, { kind: 'startBgp', global: want }];
  }
  return [];
}

export function planBgpConfig(desired: DesiredBgp, observed: ObservedBgp): BgpAction[] {
  const g = desired.global;
  if (!g) return [];
  const actions = planGlobal(desired, observed.global);
  // StartBgp starts from empty policies, assignments and peers.
  const restarted = actions.length > 0;
  const haveExport = restarted ? [] : observed.exportPolicies;
  const havePolicies = restarted ? [] : observed.policies;

  if (g.setNextHopSelf && !havePolicies.some((p) => p.name === NEXT_HOP_SELF_POLICY)) actions.push({ kind: 'addPolicy', policy: nextHopSelfPolicy });

  const roles = desired.roles ?? [];
  const rolePolicies = havePolicies.filter((p) => roleGeneration(p.name) !== undefined);
  const active = rolePolicies.find((p) => haveExport.includes(p.name));
  let wantRole: string | undefined;
  if (roles.length > 0) {
    if (active && policyDoes(active, roles)) wantRole = active.name;
    else {
      const gen = Math.max(0, ...rolePolicies.map((p) => roleGeneration(p.name)!)) + 1;
      const policy = rolePolicy(gen, roles);
      actions.push({ kind: 'addPolicy', policy });
      wantRole = policy.name;
    }
  }

  const wantExport = [...(g.setNextHopSelf ? [NEXT_HOP_SELF_POLICY] : []), ...(wantRole ? [wantRole] : [])];
  const exportChanged = wantExport.length !== haveExport.length || wantExport.some((n, i) => haveExport[i] !== n);
  if (exportChanged) actions.push({ kind: 'setExportPolicies', names: wantExport });
  // Only after it is no longer assigned: gobgpd refuses to delete an assigned policy.
  for (const p of rolePolicies) if (p.name !== wantRole) actions.push({ kind: 'deletePolicy', name: p.name });

  const wantPeers = new Map(desired.neighbors.map((n) => [peerKey(n.ipAddress), peerSpec(n, desired.timers)]));
  const havePeers = restarted ? new Map<string, PeerInfo>() : new Map(observed.peers.map((p) => [peerKey(p.address), p]));
  for (const [addr, have] of havePeers) {
    const want = wantPeers.get(addr);
    if (!want || !peerMatches(want, have)) actions.push({ kind: 'deletePeer', address: have.address });
  }
  for (const [addr, want] of wantPeers) {
    const have = havePeers.get(addr);
    const down = desired.bfdDown?.has(addr) ?? false;
    if (!have || !peerMatches(want, have)) actions.push({ kind: 'addPeer', peer: down ? { ...want, adminDown: true } : want });
    else if (down && have.adminState !== 'DOWN') actions.push({ kind: 'disablePeer', address: have.address, communication: 'BFD down' });
    else if (!down && (have.adminState === 'DOWN' || heldIdle(desired, addr, have))) {
      // Made anew rather than enabled or left to gobgpd, in two cases:
      // - back up (BFD Up, or shut behind our back): gobgpd 3.10 holds an
      //   enabled peer Idle for 5 s, closing every connection the router
      //   makes meanwhile, and then waits another 5-10 s before its own first
      //   connect;
      // - the session ended on the router's NOTIFICATION (a router restart,
      //   `clear bgp`), a TCP reset or the hold timer, with BFD Up or no BFD
      //   (PeerRevival): gobgpd holds the peer Idle the same 5 s (FRR, having
      //   been refused, then waits its 120 s connect retry).
      // A new peer starts Active at once and takes the router's connection
      // (BIRD tries within a second): Established in about 1 s instead of 5-15.
      actions.push({ kind: 'deletePeer', address: have.address }, { kind: 'addPeer', peer: want });
    }
  }
  // Export policy changes do not touch routes already sent; a soft reset out does.
  if (exportChanged && havePeers.size > 0) actions.push({ kind: 'softResetOut' });
  return actions;
}
