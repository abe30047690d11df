// What the BGP reconciler needs of gobgpd, in plain objects: the global
// config, neighbours, export policies, prefix sets and the locally originated
// VIP paths. GobgpClient implements it over gRPC; unit tests implement it in
// memory.
import type { DecodedPath, IpFamily, VipRoute } from './pathCodec.ts';

export interface GlobalSpec {
  asn: number;
  routerId: string;
  /** 0 means 179, -1 means do not listen. */
  listenPort: number;
  listenAddresses?: string[];
}

export interface PeerSpec {
  address: string;
  peerAsn: number;
  remotePort?: number;
  multihopTtl?: number;
  families: IpFamily[];
  connectRetry?: number;
  holdTime?: number;
  keepalive?: number;
  description?: string;
  /** Configured administratively down: no session until enabled. */
  adminDown?: boolean;
}

export interface PeerInfo {
  address: string;
  peerAsn: number;
  remotePort: number;
  multihopTtl: number;
  families: IpFamily[];
  sessionState: string;
  adminState: string;
  /** Seconds since the epoch of the last up (or down) transition; 0 if never. */
  uptime: number;
  downtime: number;
  received: number;
  accepted: number;
  /** Prefixes advertised to the peer, all families (filled only when listPeers was asked for it). */
  advertised: number;
}

export interface PolicyStatementSpec {
  name: string;
  conditions?: { prefixSet?: string; neighborSet?: string };
  /** communities: added to the path ("65535:0" form). */
  actions: { routeAction?: 'NONE' | 'ACCEPT' | 'REJECT'; nextHopSelf?: boolean; med?: number; localPref?: number; communities?: string[] };
}

export interface PrefixSetEntry {
  /** CIDR, e.g. 10.0.0.1/32. */
  prefix: string;
  min: number;
  max: number;
}

export interface PolicySpec {
  name: string;
  statements: PolicyStatementSpec[];
}

export interface GobgpControl {
  getBgp(): Promise<GlobalSpec>;
  startBgp(g: GlobalSpec): Promise<void>;
  stopBgp(): Promise<void>;

  /** `advertised`: have gobgpd count each peer's adj-RIB-out too (it walks the table for that). */
  listPeers(opts?: { advertised?: boolean }): Promise<PeerInfo[]>;
  addPeer(p: PeerSpec): Promise<void>;
  deletePeer(address: string): Promise<void>;
  /** Shuts the session down (Cease/Administrative Shutdown) and keeps it down until enablePeer. */
  disablePeer(address: string, communication?: string): Promise<void>;
  enablePeer(address: string): Promise<void>;
  /** Re-sends what passes the export policies to the peer ("all": every peer). */
  resetPeerSoftOut(address?: string): Promise<void>;

  listPolicies(): Promise<PolicySpec[]>;
  addPolicy(p: PolicySpec): Promise<void>;
  deletePolicy(name: string): Promise<void>;
  /** Names of the policies assigned to the global export direction, in order. */
  globalExportPolicies(): Promise<string[]>;
  setGlobalExportPolicies(names: string[]): Promise<void>;

  listPrefixSets(): Promise<{ name: string; prefixes: PrefixSetEntry[] }[]>;
  /** Creates the prefix set, or appends to it. */
  addPrefixSet(name: string, prefixes: PrefixSetEntry[]): Promise<void>;
  /** Removes the listed prefixes from a set; the set itself stays. */
  deletePrefixes(name: string, prefixes: PrefixSetEntry[]): Promise<void>;
  deletePrefixSet(name: string): Promise<void>;

  /** Every path of a family in the global RIB (all candidates, not only the best). */
  listPaths(family: IpFamily): Promise<DecodedPath[]>;
  /** Adds (or, with the same prefix, replaces) locally originated paths. */
  addPaths(routes: VipRoute[]): Promise<void>;
  withdrawPaths(routes: VipRoute[]): Promise<void>;
}
