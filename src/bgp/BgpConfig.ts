// BGP configuration as set over the REST API (reference §2.4) and persisted.

export interface BgpGlobalConfig {
  localAs: number;
  routerId: string;
  /** 0 means 179. */
  listenPort: number;
  setNextHopSelf: boolean;
}

export interface BgpNeighborConfig {
  ipAddress: string;
  remoteAs: number;
  /** 0 means 179. */
  remotePort: number;
  setMultiHop: boolean;
}

/** What GET config/bgp/neigh/all reports for one neighbour. */
export interface BgpNeighborStatus {
  ipAddress: string;
  remoteAs: number;
  state: string;
  updowntime: string;
}
