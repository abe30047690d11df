// The BGP configuration kube-loxilb gives every agent when --setBGP is set
// (reference §6.8): a global config (router-id = the agent's node address,
// next-hop-self on LB agents) and an iBGP mesh among the agents, plus the
// --extBGPPeers on LB agents; and the diff of a desired neighbour set
// against what an agent reports, so the peers of a vanished agent go away.
//
// Mesh shape, from what the reference and the in-cluster deployment show:
// LB <-> peer and peer <-> peer always; LB <-> LB only when `lbToLbMesh`
// (kube-loxilb does it only for discovered agents, i.e. without --loxiURL).
// A pair peers once per address family both agents have, because gobgpd
// carries IPv6 routes on IPv6 sessions.
import { formatAddress, parseAddress, type Family } from '../ipam/ipRange.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';

export const DEFAULT_BGP_PORT = 179;

export interface MeshAgent {
  /** Stable identity, e.g. the agent's API URL. */
  id: string;
  /** lb: a load-balancing loxilb; peer: loxilb --peer on a worker. */
  kind: 'lb' | 'peer';
  /** The node's addresses; the first of each family is used. */
  addresses: readonly string[];
  alive: boolean;
}

export interface MeshConfig {
  /** Local AS; 0 means BGP is off and nothing is planned. */
  setBGP: number;
  listenBGPPort: number;
  eBGPMultiHop: boolean;
  extBGPPeers: readonly { ip: string; asn: number }[];
  lbToLbMesh: boolean;
}

/** POST /config/bgp/global */
export interface BgpGlobalBody {
  routerId: string;
  localAs: number;
  setNextHopSelf: boolean;
  listenPort: number;
}

/** POST /config/bgp/neigh */
export interface BgpNeighborBody {
  ipAddress: string;
  remoteAs: number;
  remotePort: number;
  setMultiHop: boolean;
}

export interface AgentBgpPlan {
  id: string;
  kind: 'lb' | 'peer';
  /** Dead agents are planned too (they are still mesh members); only alive ones can be configured. */
  alive: boolean;
  global: BgpGlobalBody;
  neighbors: BgpNeighborBody[];
}

export interface MeshPlan {
  agents: AgentBgpPlan[];
  notes: string[];
}

interface Member {
  agent: MeshAgent;
  byFamily: Map<Family, string>;
}

export function planBgpMesh(agents: readonly MeshAgent[], cfg: MeshConfig): MeshPlan {
  const notes: string[] = [];
  if (cfg.setBGP === 0) return { agents: [], notes };
  const members: Member[] = [];
  const taken = new Map<string, string>();
  for (const agent of agents) {
    const byFamily = new Map<Family, string>();
    for (const text of agent.addresses) {
      const a = parseAddress(text.trim());
      if (a && !byFamily.has(a.family)) byFamily.set(a.family, formatAddress(a.family, a.value));
    }
    if (byFamily.size === 0) {
      notes.push(`agent ${agent.id} has no node address; it is left out of the BGP mesh`);
      continue;
    }
    const dup = [...byFamily.values()].find((ip) => taken.has(ip));
    if (dup !== undefined) {
      notes.push(`agent ${agent.id} has address ${dup}, already used by agent ${taken.get(dup)}; it is left out of the BGP mesh`);
      continue;
    }
    for (const ip of byFamily.values()) taken.set(ip, agent.id);
    members.push({ agent, byFamily });
  }

  const routerIds = new Map<string, string>();
  const plans = members.map((m): AgentBgpPlan => {
    const routerId = routerIdOf(m);
    if (!m.byFamily.has(4)) notes.push(`agent ${m.agent.id} has no IPv4 address; its router-id ${routerId} is derived from its IPv6 address`);
    const clash = routerIds.get(routerId);
    if (clash !== undefined) notes.push(`agents ${clash} and ${m.agent.id} share router-id ${routerId}; their sessions with each other will fail`);
    routerIds.set(routerId, m.agent.id);
    const isLb = m.agent.kind === 'lb';
    const neighbors: BgpNeighborBody[] = [];
    for (const other of members) {
      if (other === m) continue;
      if (isLb && other.agent.kind === 'lb' && !cfg.lbToLbMesh) continue;
      for (const [family, ip] of other.byFamily) {
        if (!m.byFamily.has(family)) continue;
        neighbors.push({ ipAddress: ip, remoteAs: cfg.setBGP, remotePort: cfg.listenBGPPort, setMultiHop: false });
      }
    }
    if (isLb) {
      for (const p of cfg.extBGPPeers) {
        const a = parseAddress(p.ip);
        const ip = a ? formatAddress(a.family, a.value) : p.ip;
        if (taken.has(ip)) {
          notes.push(`external peer ${ip} is agent ${taken.get(ip)}; it is meshed, not configured as external`);
          continue;
        }
        neighbors.push({ ipAddress: ip, remoteAs: p.asn, remotePort: DEFAULT_BGP_PORT, setMultiHop: cfg.eBGPMultiHop });
      }
    }
    return {
      id: m.agent.id,
      kind: m.agent.kind,
      alive: m.agent.alive,
      global: { routerId, localAs: cfg.setBGP, setNextHopSelf: isLb, listenPort: cfg.listenBGPPort },
      neighbors: neighbors.sort((x, y) => compareIp(x.ipAddress, y.ipAddress)),
    };
  });
  return { agents: plans, notes: [...new Set(notes)] };
}

/**
 * A BGP identifier is 32 bits written as a dotted quad: the node's IPv4
 * address, or the low 32 bits of its IPv6 address on IPv6-only nodes.
 */
function routerIdOf(m: Member): string {
  const v4 = m.byFamily.get(4);
  if (v4 !== undefined) return v4;
  const v6 = parseAddress(m.byFamily.get(6)!)!;
  return formatAddress(4, v6.value & 0xffffffffn);
}

function compareIp(a: string, b: string): number {
  const x = parseAddress(a);
  const y = parseAddress(b);
  if (!x || !y) return a.localeCompare(b);
  return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
}

// ---- diff against an agent ----

export interface NeighborRef {
  ipAddress: string;
  remoteAs: number;
}

export interface NeighborDiff {
  /** Send these first: DELETE /config/bgp/neigh/{ip}?remoteAs=N. */
  delete: NeighborRef[];
  /** Then POST /config/bgp/neigh. */
  add: BgpNeighborBody[];
}

export interface NeighborDiffOptions {
  /**
   * Addresses whose neighbours this controller manages beyond the desired
   * ones: agents that vanished, external peers it configured earlier. A
   * neighbour that is neither desired nor listed here (a peer from the
   * agent's own gobgpd config, one added by hand) is left alone.
   */
  managedAddresses?: Iterable<string>;
  /**
   * What was last posted to this agent, by address. GET does not show the
   * remote port or multihop; with this record a change to them is re-sent.
   */
  lastPosted?: ReadonlyMap<string, BgpNeighborBody>;
}

/** Desired neighbours against `GET /config/bgp/neigh/all`'s `bgpNeiAttr` from one agent. */
export function diffBgpNeighbors(desired: readonly BgpNeighborBody[], current: readonly unknown[], opts: NeighborDiffOptions = {}): NeighborDiff {
  const diff: NeighborDiff = { delete: [], add: [] };
  const have = new Map<string, NeighborRef>();
  for (const item of current) {
    if (!isPlainObject(item)) continue;
    const f = pickFields(item, ['ipAddress', 'remoteAs'] as const);
    const a = typeof f.ipAddress === 'string' ? parseAddress(f.ipAddress) : undefined;
    if (!a) continue;
    const ip = formatAddress(a.family, a.value);
    have.set(ip, { ipAddress: ip, remoteAs: typeof f.remoteAs === 'number' ? f.remoteAs : 0 });
  }
  const managed = new Set<string>();
  for (const t of opts.managedAddresses ?? []) {
    const a = parseAddress(t.trim());
    if (a) managed.add(formatAddress(a.family, a.value));
  }
  const want = new Map<string, BgpNeighborBody>();
  for (const n of desired) want.set(n.ipAddress, n);
  for (const [ip, n] of want) {
    const cur = have.get(ip);
    const posted = opts.lastPosted?.get(ip);
    const stale = posted !== undefined && (posted.remotePort !== n.remotePort || posted.setMultiHop !== n.setMultiHop);
    if (cur && cur.remoteAs === n.remoteAs && !stale) continue;
    // gobgpd cannot change a peer's AS, port or multihop in place: delete, then add.
    if (cur) diff.delete.push(cur);
    diff.add.push(n);
  }
  for (const [ip, cur] of have) {
    if (!want.has(ip) && managed.has(ip)) diff.delete.push(cur);
  }
  diff.delete.sort((x, y) => compareIp(x.ipAddress, y.ipAddress));
  return diff;
}
