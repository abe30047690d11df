// The BGP part of the node's desired state: the global config and the
// neighbours, as config/bgp/global and config/bgp/neigh set them. A change is
// on disk before it is made (a failed save changes nothing), the neighbour
// map is replaced rather than changed in place, and listeners hear of each
// change after it is made.
import type { BgpGlobalConfig, BgpNeighborConfig } from '../bgp/BgpConfig.ts';
import { ConflictError, NotFoundError } from '../util/errors.ts';

export interface BgpConfigSaver {
  saveBgp(global: BgpGlobalConfig | undefined, neighbors: BgpNeighborConfig[]): void;
}

export class BgpConfigTable {
  private globalCfg?: BgpGlobalConfig;
  private neighborMap = new Map<string, BgpNeighborConfig>();
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly store: BgpConfigSaver) {}

  get global(): BgpGlobalConfig | undefined {
    return this.globalCfg;
  }

  get neighbors(): ReadonlyMap<string, BgpNeighborConfig> {
    return this.neighborMap;
  }

  has(ip: string): boolean {
    return this.neighborMap.has(ip);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Start-up: the saved config, taken as it is, not saved again, nobody told. */
  restore(global: BgpGlobalConfig | undefined, neighbors: Iterable<BgpNeighborConfig>): void {
    this.globalCfg = global;
    for (const n of neighbors) this.neighborMap.set(n.ipAddress, n);
  }

  setGlobal(cfg: BgpGlobalConfig): void {
    this.store.saveBgp(cfg, [...this.neighborMap.values()]);
    this.globalCfg = cfg;
    this.changed();
  }

  addNeighbor(n: BgpNeighborConfig): void {
    const ip = n.ipAddress;
    if (this.neighborMap.has(ip)) throw new ConflictError(`bgp neighbor ${ip} already exists`);
    const next = new Map(this.neighborMap);
    next.set(ip, n);
    this.store.saveBgp(this.globalCfg, [...next.values()]);
    this.neighborMap = next;
    this.changed();
  }

  deleteNeighbor(ip: string): void {
    if (!this.neighborMap.has(ip)) throw new NotFoundError(`bgp neighbor ${ip} not found`);
    const next = new Map(this.neighborMap);
    next.delete(ip);
    this.store.saveBgp(this.globalCfg, [...next.values()]);
    this.neighborMap = next;
    this.changed();
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}
