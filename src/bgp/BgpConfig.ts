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
  /**
   * Run BFD with this neighbour (our extension; loxilb has none): when BFD
   * says the neighbour is gone, its BGP session is shut down at once instead
   * of waiting for the hold timer, and routers running BFD on their side
   * (BIRD `bfd on`) drop our routes within their detection time.
   */
  bfd?: { intervalUs: number; multiplier: number };
}

/** What GET config/bgp/neigh/all reports for one neighbour. */
export interface BgpNeighborStatus {
  ipAddress: string;
  remoteAs: number;
  state: string;
  updowntime: string;
}
