// L2 VIP ownership (seeds' scenario 1): while an instance is MASTER, each of
// its VIPs that lies inside a subnet of a local interface is added to that
// interface as a host address (/32, /128) and announced with gratuitous ARP
// or an unsolicited Neighbour Advertisement, so clients on the segment move
// to this node at once. When the role goes, the address goes.
//
// Which host addresses are ours: any /32 or /128 on an interface that is a
// VIP of some rule. That also cleans up after a crash: a node that comes back
// as BACKUP drops a VIP it still held.
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { canonicalIpv4Value, ipValue } from '../util/ipAddress.ts';
import { loadNativeAddon } from '../util/nativeAddon.ts';


export interface IfaceAddress {
  address: string;
  prefixlen: number;
}

export interface AddressDriver {
  /** Interface name → its addresses. */
  interfaces(): Map<string, IfaceAddress[]>;
  add(ifname: string, address: string): Promise<void>;
  del(ifname: string, address: string): Promise<void>;
}

export type Announcer = (ifname: string, address: string) => Promise<void>;

function hostLen(address: string): number {
  return address.includes(':') ? 128 : 32;
}

/**
 * Addresses of the links os.networkInterfaces() leaves out: it lists only
 * links that are up and running, and a link that lost its carrier keeps its
 * addresses (and a VIP we hold on it, which must still be given back). One
 * `ip -j addr` when some link is missing, so only a fault pays for it.
 */
let downLinks: { key: string; at: number; addrs: Map<string, IfaceAddress[]> } | undefined;
/** A node may keep unused links down for good: read them at most once a second (or after we changed an address). */
const DOWN_LINKS_TTL_MS = 1000;

function downLinkAddresses(missing: Set<string>): Map<string, IfaceAddress[]> {
  const key = [...missing].sort().join(',');
  const now = performance.now();
  if (downLinks && downLinks.key === key && now - downLinks.at < DOWN_LINKS_TTL_MS) return downLinks.addrs;
  const out = readDownLinks(missing);
  downLinks = { key, at: now, addrs: out };
  return out;
}

function readDownLinks(missing: Set<string>): Map<string, IfaceAddress[]> {
  const out = new Map<string, IfaceAddress[]>();
  let rows: { ifname?: unknown; addr_info?: { local?: unknown; prefixlen?: unknown }[] }[];
  try {
    rows = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show'], { encoding: 'utf8', timeout: 2000, maxBuffer: 16 << 20 }));
  } catch {
    return out;
  }
  for (const r of Array.isArray(rows) ? rows : []) {
    if (typeof r.ifname !== 'string' || !missing.has(r.ifname)) continue;
    const addrs: IfaceAddress[] = [];
    for (const a of r.addr_info ?? []) {
      if (typeof a.local !== 'string' || typeof a.prefixlen !== 'number' || !ipaddr.isValid(a.local)) continue;
      addrs.push({ address: ipaddr.process(a.local).toString(), prefixlen: a.prefixlen });
    }
    if (addrs.length > 0) out.set(r.ifname, addrs);
  }
  return out;
}

export const systemAddressDriver: AddressDriver = {
  interfaces() {
    const out = new Map<string, IfaceAddress[]>();
    for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
      if (!addrs || name === 'lo') continue;
      out.set(
        name,
        addrs.map((a) => ({ address: ipaddr.process(a.address.split('%')[0]!).toString(), prefixlen: Number(a.cidr?.split('/')[1] ?? hostLen(a.address)) })),
      );
    }
    let links: string[] = [];
    try {
      links = readdirSync('/sys/class/net');
    } catch {
      // no sysfs: what is up is all we can see
    }
    const missing = new Set(links.filter((n) => n !== 'lo' && !out.has(n)));
    if (missing.size > 0) for (const [name, addrs] of downLinkAddresses(missing)) out.set(name, addrs);
    return out;
  },
  // Over rtnetlink from the addon: taking a VIP at failover must not wait
  // for a process to start (4 ms at the median, tens with the other core busy).
  async add(ifname, address) {
    downLinks = undefined;
    loadNativeAddon().addressChange('add', ifname, address, hostLen(address), address.includes(':'));
  },
  async del(ifname, address) {
    downLinks = undefined;
    loadNativeAddon().addressChange('del', ifname, address, hostLen(address), false);
  },
};

/** The interface whose (non-host) subnet holds `address`, if any. */
export function interfaceFor(address: string, ifaces: Map<string, IfaceAddress[]>): string | undefined {
  return subnetMatcher(ifaces)(address);
}

/** An address as a bigint (IPv4 in the low 32 bits) and its family (util/ipAddress's one rule), or undefined. */
function addressValue(text: string): { v6: boolean; value: bigint } | undefined {
  const a = ipValue(text);
  return a && { v6: a.family === 6, value: a.value };
}

/**
 * The interfaces' subnets (host addresses left out), parsed once: a lookup
 * per VIP costs a number compare per subnet instead of parsing every
 * interface address again (10,000 VIPs took 110 ms that way).
 */
export function subnetMatcher(ifaces: Map<string, IfaceAddress[]>): (address: string) => string | undefined {
  const v4: { name: string; net: number; mask: number }[] = [];
  const v6: { name: string; net: bigint; mask: bigint }[] = [];
  for (const [name, addrs] of ifaces) {
    for (const a of addrs) {
      if (a.prefixlen >= hostLen(a.address)) continue;
      const p = addressValue(a.address);
      if (!p) continue;
      if (p.v6) {
        const mask = ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - a.prefixlen)) - 1n);
        v6.push({ name, net: p.value & mask, mask });
      } else {
        const mask = a.prefixlen === 0 ? 0 : (0xffffffff << (32 - a.prefixlen)) >>> 0;
        v4.push({ name, net: (Number(p.value) & mask) >>> 0, mask });
      }
    }
  }
  return (address) => {
    // Canonical dotted quads (what the REST layer stores) take the fast path; the rest the general one.
    let n = canonicalIpv4Value(address);
    if (n < 0) {
      const p = addressValue(address);
      if (!p) return undefined;
      if (p.v6) {
        for (const s of v6) if ((p.value & s.mask) === s.net) return s.name;
        return undefined;
      }
      n = Number(p.value);
    }
    for (const s of v4) if (((n & s.mask) >>> 0) === s.net) return s.name;
    return undefined;
  };
}

/**
 * At an agent's start, before anything slow (the datapath loads for
 * seconds): gives back every host address among `vips` (the saved rules'
 * VIPs) that lies in a local subnet. An address a
 * killed agent left behind then stops answering ARP at once; if the election
 * makes the node MASTER, the VIP comes back with a gratuitous ARP. Returns
 * what it released; an address it cannot delete is left to the first pass.
 */
export async function releaseStaleVips(driver: AddressDriver, vips: Iterable<string>, log: Logger): Promise<string[]> {
  const ifaces = driver.interfaces();
  const inSubnet = subnetMatcher(ifaces);
  const present = new Map<string, string>();
  for (const [name, addrs] of ifaces) for (const a of addrs) if (a.prefixlen === hostLen(a.address)) present.set(a.address, name);
  const released: string[] = [];
  for (const addr of new Set(vips)) {
    const ifname = present.get(addr);
    if (ifname === undefined || inSubnet(addr) === undefined) continue;
    try {
      await driver.del(ifname, addr);
    } catch (err) {
      log.warn({ vip: addr, dev: ifname, err: (err as Error).message }, 'could not release a VIP left behind; the first pass will');
      continue;
    }
    released.push(addr);
    log.info({ vip: addr, dev: ifname }, 'VIP released at start (left behind, not MASTER now)');
  }
  return released;
}

/** What to hold now: VIPs of MASTER instances, and every VIP (what may be given back). */
export type OwnershipSource = () => { wanted: Iterable<string>; all: Iterable<string> };

export class VipOwner {
  private readonly owned = new Map<string, string>();
  private pendingAnnounce = new Set<string>();
  private readonly loop: CoalescingLoop;
  /**
   * address -> the interface whose subnet holds it ('' for none), valid for
   * one set of interface addresses: a pass over 10,000 VIPs parses none of
   * them again unless an interface address changed.
   */
  private subnetOf = new Map<string, string>();
  private ifacesKey = '';
  /** The interface addresses subnetOf was computed for (read on first use, then once a pass). */
  private ifaces: Map<string, IfaceAddress[]> | undefined;
  private matchSubnet: (address: string) => string | undefined = () => undefined;

  /**
   * `onSubnetsChanged` is called (synchronously, in a pass) when the
   * interface subnets changed since isLocal last answered: a source that
   * keeps only local VIPs must sort its VIPs again.
   */
  constructor(
    private readonly driver: AddressDriver,
    private readonly announce: Announcer,
    private readonly log: Logger,
    private readonly source: OwnershipSource,
    private readonly onSubnetsChanged?: () => void,
  ) {
    this.loop = new CoalescingLoop(() => this.pass(), {
      onError: (err) => {
        this.log.error({ err: (err as Error).message }, 'VIP ownership pass failed; retrying');
        return 1000;
      },
      // Rule bursts: one pass per slot, computed from the table as it is then.
      spacingMs: 50,
    });
  }

  /** Something changed; urgent for role changes (a takeover must not wait for a burst slot). */
  changed(urgent = false): void {
    if (urgent) this.loop.kickNow();
    else this.loop.kick();
  }

  /** Announces every held VIP again (a peer came back and may have cached the other MAC). */
  reannounce(): void {
    for (const a of this.owned.keys()) this.pendingAnnounce.add(a);
    this.loop.kickNow();
  }

  /** Addresses this node holds now, with their interface. */
  held(): Map<string, string> {
    return new Map(this.owned);
  }

  whenIdle(): Promise<void> {
    return this.loop.whenIdle();
  }

  /** Gives every VIP back (a planned stop: the peer takes over). */
  async close(): Promise<void> {
    this.loop.close();
    for (const [addr, ifname] of this.owned) {
      try {
        await this.driver.del(ifname, addr);
        this.log.info({ vip: addr, dev: ifname }, 'VIP released (stopping)');
      } catch (err) {
        this.log.warn({ vip: addr, dev: ifname, err: (err as Error).message }, 'could not release the VIP while stopping; the next start will');
      }
    }
    this.owned.clear();
  }

  /**
   * Whether `addr` lies in a subnet of a local interface: only such VIPs can
   * be held. Cached per set of interface addresses, so a source can sort
   * 10,000 VIPs as they come and go instead of handing all of them to every
   * pass.
   */
  isLocal(addr: string): boolean {
    if (!this.ifaces) this.readInterfaces();
    return this.inSubnet(addr) !== '';
  }

  /** The interface whose subnet holds `addr`, if any (cached as isLocal). */
  interfaceOf(addr: string): string | undefined {
    if (!this.ifaces) this.readInterfaces();
    return this.inSubnet(addr) || undefined;
  }

  /** Reads the interface addresses; true if their subnets changed (the cache is then dropped). */
  private readInterfaces(): boolean {
    const ifaces = this.driver.interfaces();
    this.ifaces = ifaces;
    const key = [...ifaces].map(([n, addrs]) => `${n}=${addrs.filter((a) => a.prefixlen < hostLen(a.address)).map((a) => `${a.address}/${a.prefixlen}`).join(',')}`).join(';');
    if (key === this.ifacesKey) return false;
    this.ifacesKey = key;
    this.subnetOf = new Map();
    this.matchSubnet = subnetMatcher(ifaces);
    return true;
  }

  /** The interface whose subnet holds `addr` ('' for none), cached. */
  private inSubnet(addr: string): string {
    let ifname = this.subnetOf.get(addr);
    if (ifname === undefined) {
      ifname = this.matchSubnet(addr) ?? '';
      if (this.subnetOf.size > 1_000_000) this.subnetOf.clear();
      this.subnetOf.set(addr, ifname);
    }
    return ifname;
  }

  private async pass(): Promise<void> {
    const first = !this.ifaces;
    if (this.readInterfaces() && !first) this.onSubnetsChanged?.();
    const ifaces = this.ifaces!;
    const inSubnet = (addr: string) => this.inSubnet(addr);
    const src = this.source();
    const wanted = new Set<string>();
    for (const a of src.wanted) if (inSubnet(a)) wanted.add(a);
    const candidates = new Set(wanted);
    for (const a of src.all) if (inSubnet(a)) candidates.add(a);
    if (candidates.size === 0 && this.owned.size === 0) return;
    const present = new Map<string, string>();
    for (const [name, addrs] of ifaces) for (const a of addrs) if (a.prefixlen === hostLen(a.address)) present.set(a.address, name);
    // Removals first, so a VIP that lost its role stops answering before anything else.
    for (const [addr, ifname] of present) {
      if (wanted.has(addr) || !candidates.has(addr)) continue;
      await this.driver.del(ifname, addr);
      this.owned.delete(addr);
      this.log.info({ vip: addr, dev: ifname }, 'VIP released');
    }
    for (const addr of wanted) {
      const ifname = inSubnet(addr);
      if (present.get(addr) !== ifname) {
        await this.driver.add(ifname, addr);
        this.pendingAnnounce.add(addr);
        this.log.info({ vip: addr, dev: ifname }, 'VIP taken');
      }
      this.owned.set(addr, ifname);
    }
    for (const addr of [...this.owned.keys()]) if (!wanted.has(addr)) this.owned.delete(addr);
    const announce = [...this.pendingAnnounce].filter((a) => this.owned.has(a));
    this.pendingAnnounce.clear();
    await Promise.all(
      announce.map((a) =>
        this.announce(this.owned.get(a)!, a).catch((err) => this.log.warn({ vip: a, err: (err as Error).message }, 'VIP announcement failed')),
      ),
    );
  }
}
