// The VIP allocator of kube-loxilb (reference §6.4). It owns every claim a
// Service holds on an address: (IP, port, protocol) triples in shared mode,
// whole IPs in unique mode (--setUniqueIP). Pools are named, per family
// (--cidrPools, --cidr6Pools) plus secondary pools for SCTP multihoming.
//
// Differences from kube-loxilb, on purpose:
// - Every port of a Service is registered, not only the first one, so two
//   Services can never end up on the same IP:port/protocol.
// - Exhaustion and conflicts are returned as typed results; nothing throws
//   into the controller loop and nothing exits the process.
// - IPv6 pools of any size work (no 65535 cap): addresses are found by
//   walking past the ones in use, never by enumerating a pool.
// - A static IP outside every pool is allowed (the reference reserves it "in
//   the pool if it falls inside one") and is still tracked, so two Services
//   cannot claim the same static IP:port/protocol either.
//
// Over 400 lines: the claim bookkeeping (shared/unique, per family, secondary pools,
// restore) is one class holding one invariant; what is below it only serves it.
import type { Family } from './ipRange.ts';
import { formatAddress, parseAddress, rangeSize } from './ipRange.ts';
import { DEFAULT_POOL, findOverlap, type PoolDef } from './poolSpec.ts';

export type IpamMode = 'shared' | 'unique';
export type PoolKind = 'v4' | 'v6' | 'secondary';

export interface IpamConfig {
  v4Pools: readonly PoolDef[];
  v6Pools: readonly PoolDef[];
  secondaryPools: readonly PoolDef[];
  mode: IpamMode;
}

export interface PortProto {
  port: number;
  /** tcp, udp or sctp; compared without case. */
  protocol: string;
}

/**
 * Secondary addresses (SCTP multihoming): `count` takes one from each of
 * the first N secondary pools of the Service's family; `pools` one from each
 * named pool; `ips` reserves the given addresses.
 */
export type SecondaryRequest = { count: number } | { pools: readonly string[] } | { ips: readonly string[] };

export interface AllocationRequest {
  /** namespace/name */
  serviceKey: string;
  ports: readonly PortProto[];
  /** One VIP per family, in this order: [4], [6] or both for dual-stack. */
  families: readonly Family[];
  /** Pool name looked up in the pools of each requested family; default defaultPool. */
  pool?: string;
  /** Explicit VIPs, at most one per requested family; used instead of the pool for that family. */
  staticIPs?: readonly string[];
  secondary?: SecondaryRequest;
}

export interface AllocatedIp {
  ip: string;
  family: Family;
  /** The pool the address belongs to; undefined for a static IP outside every pool. */
  pool?: string;
  ports: PortProto[];
}

export interface Allocation {
  serviceKey: string;
  vips: AllocatedIp[];
  secondaryIPs: AllocatedIp[];
}

export type IpamErrorCode = 'exhausted' | 'unknown-pool' | 'conflict' | 'invalid-request';

export interface IpamError {
  code: IpamErrorCode;
  message: string;
  pool?: string;
  ip?: string;
  /** For conflicts: the Service that already holds the address (and port). */
  heldBy?: string;
  port?: number;
  protocol?: string;
}

export type IpamResult = { ok: true; allocation: Allocation } | { ok: false; error: IpamError };

/** One line of a snapshot: enough to rebuild a claim with restore(). */
export interface RestoreEntry {
  serviceKey: string;
  ip: string;
  ports: PortProto[];
  secondary: boolean;
}

export class IpamConfigError extends Error {}

interface Pool {
  name: string;
  kind: PoolKind;
  family: Family;
  ranges: PoolDef['ranges'];
  /** Addresses of this pool held by at least one Service. */
  inUse: Set<bigint>;
}

interface IpEntry {
  ip: string;
  family: Family;
  value: bigint;
  pool?: Pool;
  /** serviceKey -> "port/protocol" keys it holds on this address. */
  holders: Map<string, Set<string>>;
}

interface Collision {
  heldBy: string;
  self?: boolean;
  port?: number;
  protocol?: string;
}

class AllocationFailure {
  constructor(readonly error: IpamError) {}
}

export class IpAllocator {
  readonly mode: IpamMode;
  private readonly pools: Pool[] = [];
  private readonly entries = new Map<string, IpEntry>();
  private readonly services = new Map<string, Allocation>();

  /** Throws IpamConfigError for overlapping pools, wrong families or repeated names (a startup error). */
  constructor(config: IpamConfig) {
    this.mode = config.mode;
    const add = (defs: readonly PoolDef[], kind: PoolKind, family?: Family) => {
      for (const d of defs) {
        if (family !== undefined && d.family !== family) throw new IpamConfigError(`pool ${d.name} is IPv${d.family}, expected IPv${family}`);
        if (d.ranges.some((r) => r.family !== d.family)) throw new IpamConfigError(`pool ${d.name} mixes address families`);
        this.pools.push({ name: d.name, kind, family: d.family, ranges: d.ranges, inUse: new Set() });
      }
    };
    add(config.v4Pools, 'v4', 4);
    add(config.v6Pools, 'v6', 6);
    add(config.secondaryPools, 'secondary');
    const seen = new Set<string>();
    for (const p of this.pools) {
      // v4 and v6 each have their own defaultPool; secondary names share one space with both.
      const key = p.kind === 'secondary' ? p.name : `${p.kind}:${p.name}`;
      const clash = p.kind === 'secondary' ? seen.has(`v4:${p.name}`) || seen.has(`v6:${p.name}`) || seen.has(p.name) : seen.has(key) || seen.has(p.name);
      if (clash) throw new IpamConfigError(`pool name ${p.name} is used twice`);
      seen.add(key);
    }
    const overlap = findOverlap(this.pools.map((p) => ({ name: p.name, family: p.family, ranges: p.ranges })));
    if (overlap) throw new IpamConfigError(`pools overlap: ${overlap.a} and ${overlap.b}`);
  }

  poolNames(kind: PoolKind): string[] {
    return this.pools.filter((p) => p.kind === kind).map((p) => p.name);
  }

  get(serviceKey: string): Allocation | undefined {
    const a = this.services.get(serviceKey);
    return a && cloneAllocation(a);
  }

  allocations(): Allocation[] {
    return [...this.services.keys()].sort().map((k) => this.get(k)!);
  }

  /** Every claim, in a form restore() takes back: what survives a restart in Service status. */
  snapshot(): RestoreEntry[] {
    return this.allocations().flatMap((a) => [
      ...a.vips.map((v) => ({ serviceKey: a.serviceKey, ip: v.ip, ports: v.ports.map((p) => ({ ...p })), secondary: false })),
      ...a.secondaryIPs.map((v) => ({ serviceKey: a.serviceKey, ip: v.ip, ports: v.ports.map((p) => ({ ...p })), secondary: true })),
    ]);
  }

  /** Addresses held by at least one Service, canonical text, sorted by family then value. */
  addressesInUse(): string[] {
    return [...this.entries.values()].sort((a, b) => a.family - b.family || cmp(a.value, b.value)).map((e) => e.ip);
  }

  /** How many addresses of a pool are in use. */
  poolUsage(kind: PoolKind, name: string): number | undefined {
    return this.findPool(kind, name)?.inUse.size;
  }

  /** Every pool: its addresses (a very large IPv6 pool is rounded by the conversion to number) and how many are in use. */
  poolStats(): { kind: PoolKind; name: string; family: Family; size: number; inUse: number }[] {
    return this.pools.map((p) => ({ kind: p.kind, name: p.name, family: p.family, size: Number(p.ranges.reduce((n, r) => n + rangeSize(r), 0n)), inUse: p.inUse.size }));
  }

  /**
   * Gives a Service its VIPs (and secondary IPs). Calling it again for a
   * Service that already has an allocation keeps every address that still
   * satisfies the request (same pool or static IP, no port collision), so
   * a resync changes nothing and a port change moves the VIP only when it
   * must. On any error the previous allocation is left exactly as it was.
   */
  allocate(req: AllocationRequest): IpamResult {
    const invalid = validateRequest(req);
    if (invalid) return fail({ code: 'invalid-request', message: invalid });
    const keys = portKeys(req.ports);
    const old = this.services.get(req.serviceKey);
    if (old) this.unclaimAll(old);
    const next: Allocation = { serviceKey: req.serviceKey, vips: [], secondaryIPs: [] };
    try {
      for (const family of req.families) {
        const stat = req.staticIPs?.find((s) => parseAddress(s.trim())?.family === family);
        const prefer = old?.vips.find((v) => v.family === family)?.ip;
        next.vips.push(stat !== undefined ? this.claimStatic(req.serviceKey, stat, keys) : this.claimFromPool(req.serviceKey, this.primaryPool(family, req.pool), keys, prefer));
      }
      // Pushed one by one so a failure half-way still unclaims what was taken.
      if (req.secondary) this.claimSecondary(req, keys, old, next.secondaryIPs);
    } catch (err) {
      if (!(err instanceof AllocationFailure)) throw err;
      this.unclaimAll(next);
      if (old) this.reclaimAll(old);
      return fail(err.error);
    }
    this.services.set(req.serviceKey, next);
    return { ok: true, allocation: cloneAllocation(next) };
  }

  /**
   * Re-reserves an address a Service already had before a restart (from
   * status.loadBalancer.ingress, spec.externalIPs or its staticIP). Call it
   * for every existing Service before any allocate(), so new Services cannot
   * take addresses that are in use. Two Services claiming the same
   * IP:port/protocol (or the same IP in unique mode) is reported as a
   * conflict and the second claim is not recorded.
   */
  restore(serviceKey: string, ip: string, ports: readonly PortProto[], opts: { secondary?: boolean } = {}): IpamResult {
    const a = parseAddress(ip.trim());
    if (!a) return fail({ code: 'invalid-request', message: `"${ip}" is not an IP address`, ip });
    const invalid = validatePorts(ports) ?? (serviceKey === '' ? 'serviceKey must not be empty' : undefined);
    if (invalid) return fail({ code: 'invalid-request', message: invalid });
    const keys = portKeys(ports);
    const entry = this.entryFor(a.family, a.value);
    const held = entry.holders.get(serviceKey);
    const collision = this.collision(entry, serviceKey, keys, held !== undefined);
    if (collision) {
      this.dropIfUnused(entry);
      return fail(conflictError(entry, collision));
    }
    this.claim(entry, serviceKey, keys);
    const record = this.services.get(serviceKey) ?? { serviceKey, vips: [], secondaryIPs: [] };
    const existing = [...record.vips, ...record.secondaryIPs].find((v) => v.ip === entry.ip);
    const allPorts = fromPortKeys(entry.holders.get(serviceKey)!);
    if (existing) existing.ports = allPorts;
    else (opts.secondary ? record.secondaryIPs : record.vips).push({ ip: entry.ip, family: entry.family, pool: entry.pool?.name, ports: allPorts });
    this.services.set(serviceKey, record);
    return { ok: true, allocation: cloneAllocation(record) };
  }

  /** Returns every address of the Service to its pool. Returns what was released. */
  release(serviceKey: string): Allocation | undefined {
    const a = this.services.get(serviceKey);
    if (!a) return undefined;
    this.unclaimAll(a);
    this.services.delete(serviceKey);
    return cloneAllocation(a);
  }

  // ---- internals ----

  private primaryPool(family: Family, name = DEFAULT_POOL): Pool {
    const pool = this.findPool(family === 4 ? 'v4' : 'v6', name);
    if (!pool) {
      const known = this.poolNames(family === 4 ? 'v4' : 'v6');
      throw new AllocationFailure({ code: 'unknown-pool', pool: name, message: `no IPv${family} pool named ${name} (known: ${known.join(', ') || 'none'})` });
    }
    return pool;
  }

  private findPool(kind: PoolKind, name: string): Pool | undefined {
    return this.pools.find((p) => p.kind === kind && p.name === name);
  }

  private claimSecondary(req: AllocationRequest, keys: Set<string>, old: Allocation | undefined, out: AllocatedIp[]): void {
    const sec = req.secondary!;
    const family = req.families[0]!;
    if ('ips' in sec) {
      for (const ip of sec.ips) out.push(this.claimStatic(req.serviceKey, ip, keys));
      return;
    }
    let pools: Pool[];
    if ('pools' in sec) {
      pools = sec.pools.map((name) => {
        const p = this.findPool('secondary', name) ?? this.findPool(family === 4 ? 'v4' : 'v6', name);
        if (!p) throw new AllocationFailure({ code: 'unknown-pool', pool: name, message: `no secondary or IPv${family} pool named ${name}` });
        return p;
      });
    } else {
      const all = this.pools.filter((p) => p.kind === 'secondary' && p.family === family);
      if (sec.count > all.length) {
        throw new AllocationFailure({
          code: 'unknown-pool',
          message: `${sec.count} secondary IPs requested but only ${all.length} IPv${family} secondary pool(s) exist (one address is taken from each)`,
        });
      }
      pools = all.slice(0, sec.count);
    }
    // Prefer the same addresses as before, pool by pool, so a resync keeps them.
    const before = [...(old?.secondaryIPs ?? [])];
    for (const p of pools) {
      const i = before.findIndex((b) => b.pool === p.name);
      const prefer = i >= 0 ? before.splice(i, 1)[0]!.ip : undefined;
      out.push(this.claimFromPool(req.serviceKey, p, keys, prefer));
    }
  }

  private claimStatic(serviceKey: string, ip: string, keys: Set<string>): AllocatedIp {
    const a = parseAddress(ip.trim())!;
    const entry = this.entryFor(a.family, a.value);
    const collision = this.collision(entry, serviceKey, keys, false);
    if (collision) {
      this.dropIfUnused(entry);
      throw new AllocationFailure(conflictError(entry, collision));
    }
    this.claim(entry, serviceKey, keys);
    return { ip: entry.ip, family: entry.family, pool: entry.pool?.name, ports: fromPortKeys(keys) };
  }

  private claimFromPool(serviceKey: string, pool: Pool, keys: Set<string>, prefer?: string): AllocatedIp {
    const pick = this.pick(pool, serviceKey, keys, prefer);
    if (pick === undefined) {
      const how = this.mode === 'unique' ? 'every address is in use' : 'every address already carries one of the ports';
      throw new AllocationFailure({ code: 'exhausted', pool: pool.name, message: `pool ${pool.name} (IPv${pool.family}) is exhausted: ${how}` });
    }
    const entry = this.entryFor(pool.family, pick);
    this.claim(entry, serviceKey, keys);
    return { ip: entry.ip, family: entry.family, pool: pool.name, ports: fromPortKeys(keys) };
  }

  /** The address to claim in a pool: the preferred one, else a shared one, else the lowest free one. */
  private pick(pool: Pool, serviceKey: string, keys: Set<string>, prefer?: string): bigint | undefined {
    const fits = (v: bigint) => {
      const e = this.entries.get(formatAddress(pool.family, v));
      return !e || !this.collision(e, serviceKey, keys, false);
    };
    const p = prefer === undefined ? undefined : parseAddress(prefer);
    if (p && p.family === pool.family && inPool(pool, p.value) && fits(p.value)) return p.value;
    if (this.mode === 'shared') {
      // Pack Services onto addresses already in use, lowest first, as
      // kube-loxilb reuses a pool's first address while ports allow.
      const shared = [...pool.inUse].sort(cmp).find(fits);
      if (shared !== undefined) return shared;
    }
    for (const r of pool.ranges) {
      // Each step skips one address in use, so this is O(addresses in use).
      let v = r.first;
      while (v <= r.last && pool.inUse.has(v)) v++;
      if (v <= r.last) return v;
    }
    return undefined;
  }

  private collision(entry: IpEntry, serviceKey: string, keys: Set<string>, ignoreSelf: boolean): Collision | undefined {
    for (const [holder, held] of entry.holders) {
      if (holder === serviceKey) {
        // restore() merges repeated claims; an allocation never takes an address twice.
        if (ignoreSelf) continue;
        return { heldBy: holder, self: true };
      }
      if (this.mode === 'unique') return { heldBy: holder };
      for (const k of keys) {
        if (held.has(k)) {
          const [port, protocol] = k.split('/');
          return { heldBy: holder, port: Number(port), protocol };
        }
      }
    }
    return undefined;
  }

  private entryFor(family: Family, value: bigint): IpEntry {
    const ip = formatAddress(family, value);
    let e = this.entries.get(ip);
    if (!e) {
      const pool = this.pools.find((p) => p.family === family && inPool(p, value));
      e = { ip, family, value, pool, holders: new Map() };
      this.entries.set(ip, e);
    }
    return e;
  }

  private claim(entry: IpEntry, serviceKey: string, keys: Set<string>): void {
    const held = entry.holders.get(serviceKey) ?? new Set<string>();
    for (const k of keys) held.add(k);
    entry.holders.set(serviceKey, held);
    entry.pool?.inUse.add(entry.value);
  }

  private dropIfUnused(entry: IpEntry): void {
    if (entry.holders.size === 0) {
      this.entries.delete(entry.ip);
      entry.pool?.inUse.delete(entry.value);
    }
  }

  private unclaimAll(a: Allocation): void {
    for (const v of [...a.vips, ...a.secondaryIPs]) {
      const e = this.entries.get(v.ip);
      if (!e) continue;
      e.holders.delete(a.serviceKey);
      this.dropIfUnused(e);
    }
  }

  private reclaimAll(a: Allocation): void {
    for (const v of [...a.vips, ...a.secondaryIPs]) {
      const p = parseAddress(v.ip)!;
      this.claim(this.entryFor(p.family, p.value), a.serviceKey, portKeys(v.ports));
    }
    this.services.set(a.serviceKey, a);
  }
}

function inPool(pool: Pool, value: bigint): boolean {
  return pool.ranges.some((r) => r.first <= value && value <= r.last);
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function fail(error: IpamError): IpamResult {
  return { ok: false, error };
}

function conflictError(entry: IpEntry, c: Collision): IpamError {
  const what = c.self
    ? `${entry.ip} is requested twice by ${c.heldBy} (as VIP and secondary IP, or twice as secondary)`
    : c.port === undefined
      ? `${entry.ip} is already used by ${c.heldBy} (unique IP mode)`
      : `${entry.ip} port ${c.port}/${c.protocol} is already used by ${c.heldBy}`;
  return { code: 'conflict', message: what, ip: entry.ip, heldBy: c.heldBy, port: c.port, protocol: c.protocol, pool: entry.pool?.name };
}

function portKeys(ports: readonly PortProto[]): Set<string> {
  return new Set(ports.map((p) => `${p.port}/${p.protocol.toLowerCase()}`));
}

function fromPortKeys(keys: Iterable<string>): PortProto[] {
  return [...keys]
    .map((k) => {
      const [port, protocol] = k.split('/');
      return { port: Number(port), protocol: protocol! };
    })
    .sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

function validatePorts(ports: readonly PortProto[]): string | undefined {
  for (const p of ports) {
    if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) return `port ${p.port} is not 0-65535`;
    if (!/^(tcp|udp|sctp|icmp)$/i.test(p.protocol)) return `protocol ${JSON.stringify(p.protocol)} is not tcp, udp, sctp or icmp`;
  }
  return undefined;
}

function validateRequest(req: AllocationRequest): string | undefined {
  if (req.serviceKey === '') return 'serviceKey must not be empty';
  if (req.families.length === 0 || new Set(req.families).size !== req.families.length || req.families.some((f) => f !== 4 && f !== 6)) {
    return 'families must be [4], [6], [4, 6] or [6, 4]';
  }
  const bad = validatePorts(req.ports);
  if (bad) return bad;
  const staticFamilies = new Set<Family>();
  for (const s of req.staticIPs ?? []) {
    const a = parseAddress(s.trim());
    if (!a) return `static IP "${s}" is not an IP address`;
    if (!req.families.includes(a.family)) return `static IP ${s} is IPv${a.family}, but the Service asks for IPv${req.families.join(' and IPv')}`;
    if (staticFamilies.has(a.family)) return `more than one IPv${a.family} static IP`;
    staticFamilies.add(a.family);
  }
  const sec = req.secondary;
  if (sec && 'count' in sec && (!Number.isInteger(sec.count) || sec.count < 0)) return 'secondary count must be a non-negative integer';
  if (sec && 'ips' in sec) {
    const seen = new Set<string>();
    for (const s of sec.ips) {
      const a = parseAddress(s.trim());
      if (!a) return `secondary IP "${s}" is not an IP address`;
      if (a.family !== req.families[0]) return `secondary IP ${s} must be IPv${req.families[0]} like the Service's first VIP`;
      const c = formatAddress(a.family, a.value);
      if (seen.has(c)) return `secondary IP ${s} is listed twice`;
      seen.add(c);
    }
  }
  return undefined;
}

function cloneAllocation(a: Allocation): Allocation {
  const c = (v: AllocatedIp): AllocatedIp => ({ ...v, ports: v.ports.map((p) => ({ ...p })) });
  return { serviceKey: a.serviceKey, vips: a.vips.map(c), secondaryIPs: a.secondaryIPs.map(c) };
}
