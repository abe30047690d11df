// Pure planning of gobgpd's global config, neighbours and export policy:
// compares what the agent wants with what gobgpd reports and lists the calls
// that converge them, in the order gobgpd needs (global first: StartBgp wipes
// policies and paths).
import ipaddr from 'ipaddr.js';
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

export interface PeerTimers {
  connectRetry: number;
  holdTime: number;
  keepalive: number;
}

export interface DesiredBgp {
  global?: BgpGlobalConfig;
  neighbors: BgpNeighborConfig[];
  timers: PeerTimers;
}

export interface ObservedBgp {
  global: GlobalSpec;
  peers: PeerInfo[];
  exportPolicies: string[];
  policyNames: string[];
}

export type BgpAction =
  | { kind: 'stopBgp' }
  | { kind: 'startBgp'; global: GlobalSpec }
  | { kind: 'addPolicy'; policy: PolicySpec }
  | { kind: 'setExportPolicies'; names: string[] }
  | { kind: 'deletePeer'; address: string }
  | { kind: 'addPeer'; peer: PeerSpec }
  | { kind: 'softResetOut' };

export function globalSpec(g: BgpGlobalConfig): GlobalSpec {
  // Listen on both families so IPv6 neighbours can connect to us too.
  return { asn: g.localAs, routerId: g.routerId, listenPort: g.listenPort || 179, listenAddresses: ['0.0.0.0', '::'] };
}

export function peerSpec(n: BgpNeighborConfig, timers: PeerTimers): PeerSpec {
  // Each VIP goes out in its own family: IPv4 VIPs over IPv4 sessions, IPv6
  // VIPs over IPv6 sessions, so gobgpd can fill a next-hop of the right family.
  const family = ipaddr.parse(n.ipAddress).kind() === 'ipv4' ? 4 : 6;
  return {
    address: ipaddr.process(n.ipAddress).toString(),
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

export function planBgpConfig(desired: DesiredBgp, observed: ObservedBgp): BgpAction[] {
  const actions: BgpAction[] = [];
  const g = desired.global;
  if (!g) return actions;
  const want = globalSpec(g);
  let restarted = false;
  if (observed.global.asn === 0) {
    actions.push({ kind: 'startBgp', global: want });
    restarted = true;
  } else if (
    observed.global.asn !== want.asn ||
    observed.global.routerId !== want.routerId ||
    (observed.global.listenPort || 179) !== want.listenPort
  ) {
    // gobgpd cannot change these in place; a second StartBgp would stack listeners.
    actions.push({ kind: 'stopBgp' }, { kind: 'startBgp', global: want });
    restarted = true;
  }

  const wantExport = g.setNextHopSelf ? [NEXT_HOP_SELF_POLICY] : [];
  const haveExport = restarted ? [] : observed.exportPolicies;
  const havePolicies = restarted ? [] : observed.policyNames;
  if (g.setNextHopSelf && !havePolicies.includes(NEXT_HOP_SELF_POLICY)) actions.push({ kind: 'addPolicy', policy: nextHopSelfPolicy });
  const exportChanged = wantExport.length !== haveExport.length || wantExport.some((n, i) => haveExport[i] !== n);
  if (exportChanged) actions.push({ kind: 'setExportPolicies', names: wantExport });

  const wantPeers = new Map(desired.neighbors.map((n) => [ipaddr.process(n.ipAddress).toString(), peerSpec(n, desired.timers)]));
  const havePeers = restarted ? new Map<string, PeerInfo>() : new Map(observed.peers.map((p) => [ipaddr.process(p.address).toString(), p]));
  for (const [addr, have] of havePeers) {
    const want = wantPeers.get(addr);
    if (!want || !peerMatches(want, have)) actions.push({ kind: 'deletePeer', address: have.address });
  }
  for (const [addr, want] of wantPeers) {
    const have = havePeers.get(addr);
    if (!have || !peerMatches(want, have)) actions.push({ kind: 'addPeer', peer: want });
  }
  // Export policy changes do not touch routes already sent; a soft reset out does.
  if (exportChanged && !restarted && observed.peers.length > 0) actions.push({ kind: 'softResetOut' });
  return actions;
}
