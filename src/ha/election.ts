// The HA election rule, as a pure function both nodes evaluate the same way.
//
// Rank: higher priority wins; on equal priority the higher address wins (as
// in VRRP). Each node knows both ranks: its own priority and address (the
// address its BFD session sends from, which is the peer's remote address),
// and the peer's priority, read from the peer's cistate.
//
// Roles, for one instance, from this node's point of view:
// - No live peer (BFD Down after the start-up wait): MASTER. A node alone has
//   nothing to sync from and nobody else would serve.
// - Live peers, one of them MASTER:
//   - this node MASTER too (a partition healed): the one the routers used
//     stays MASTER, the other becomes BACKUP: when exactly one side reports
//     service traffic (`serving`), that side; otherwise (both or neither, or
//     a side that does not say) the higher rank. Both compute the same
//     answer from the same two facts, so no flapping.
//   - this node not MASTER: BACKUP, unless preemption is on, this node
//     outranks that MASTER, its connection table is synced and its routers
//     have its routes again (`ready`).
// - Live peers, none MASTER: the highest rank among the synced nodes becomes
//   MASTER; everyone else BACKUP.
// - This node MASTER and no live peer MASTER: stays MASTER (no preemption by
//   a returning node unless that node preempts; if it does, the both-MASTER
//   rule above then demotes this node).
import ipaddr from 'ipaddr.js';

export interface HaRank {
  priority: number;
  /** The node's address on the HA link, canonical text. */
  address: string;
}

export interface HaSelf extends HaRank {
  isMaster: boolean;
  /** Load-balanced traffic seen within the last second (undefined: not known). */
  serving?: boolean;
  /** The routers have this node's routes (UpstreamGate.ready); false holds a preemption back. */
  ready?: boolean;
  /** Connection table synced from the cluster (always true without --cluster). */
  synced: boolean;
  preempt: boolean;
}

export interface HaPeerView extends HaRank {
  isMaster: boolean;
  /** The peer carries service traffic (its cistate says so; undefined when it does not say). */
  serving?: boolean;
  /** The peer's own connection-table sync is complete (peers that do not say count as synced). */
  synced: boolean;
}

export type HaRole = 'MASTER' | 'BACKUP';

function addressBytes(a: string): number[] {
  const ip = ipaddr.process(a);
  // IPv4 sorts below every IPv6 address; within a family, numerically.
  return ip.kind() === 'ipv4' ? [0, ...ip.toByteArray()] : [1, ...ip.toByteArray()];
}

/** Positive when a outranks b, negative when b outranks a, 0 only for the same rank. */
export function compareRank(a: HaRank, b: HaRank): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const x = addressBytes(a.address);
  const y = addressBytes(b.address);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The role this node takes, given the views of the peers whose BFD session
 * is Up (peers that are down are left out). `peers` empty means alone.
 */
export function electRole(self: HaSelf, peers: readonly HaPeerView[]): HaRole {
  if (peers.length === 0) return 'MASTER';
  const masters = peers.filter((p) => p.isMaster);
  const outranksAll = (others: readonly HaRank[]) => others.every((p) => compareRank(self, p) > 0);
  if (masters.length > 0) {
    if (self.isMaster) {
      const used = servingSide(self, masters);
      if (used !== undefined) return used;
      return outranksAll(masters) ? 'MASTER' : 'BACKUP';
    }
    return self.preempt && self.synced && self.ready !== false && outranksAll(masters) ? 'MASTER' : 'BACKUP';
  }
  if (self.isMaster) return 'MASTER';
  // The highest rank among the nodes allowed to serve: an unsynced node never
  // blocks a synced one, and both sides know who is synced.
  return self.synced && outranksAll(peers.filter((p) => p.synced)) ? 'MASTER' : 'BACKUP';
}

/**
 * Two (or more) MASTERs meet: when the traffic is on exactly one side, that
 * side is the one the routers use. undefined: the rank decides.
 */
function servingSide(self: HaSelf, masters: readonly HaPeerView[]): HaRole | undefined {
  if (self.serving === undefined || masters.some((m) => m.serving === undefined)) return undefined;
  const others = masters.filter((m) => m.serving).length;
  if (self.serving && others === 0) return 'MASTER';
  if (!self.serving && others > 0) return 'BACKUP';
  return undefined;
}
