// Named VIP pools as written on the command line or in the --config YAML:
// `name=CIDR|range[,name=CIDR|range...]` (reference §6.1). One name may
// appear several times; its pool is then made of all those ranges.
import { parseRange, rangesOverlap, type Family, type IpRange } from './ipRange.ts';

export const DEFAULT_POOL = 'defaultPool';

export interface PoolDef {
  name: string;
  family: Family;
  ranges: IpRange[];
}

export type PoolListParse = { ok: true; pools: PoolDef[] } | { ok: false; reason: string };

const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * Parses a comma list of pool entries of one family. `unnamed(i)` names an
 * entry written without `name=` (i counts unnamed entries from 0), so
 * `--externalCIDR=10.0.0.0/24` becomes the pool `defaultPool`.
 */
export function parsePoolList(text: string, family: Family, unnamed: (i: number) => string): PoolListParse {
  const pools = new Map<string, PoolDef>();
  let unnamedCount = 0;
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = eq >= 0 ? entry.slice(0, eq).trim() : unnamed(unnamedCount++);
    if (!POOL_NAME.test(name)) {
      return { ok: false, reason: `pool name "${name}" must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit` };
    }
    const parsed = parseRange(eq >= 0 ? entry.slice(eq + 1) : entry);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    if (parsed.range.family !== family) {
      return { ok: false, reason: `"${parsed.range.text}" is IPv${parsed.range.family}, but this list takes IPv${family} only` };
    }
    const pool = pools.get(name) ?? { name, family, ranges: [] };
    pool.ranges.push(parsed.range);
    pools.set(name, pool);
  }
  return { ok: true, pools: [...pools.values()] };
}

/** The first pair of ranges (in different or the same pool) that share an address, if any. */
export function findOverlap(pools: readonly PoolDef[]): { a: string; b: string } | undefined {
  const all = pools.flatMap((p) => p.ranges.map((r) => ({ pool: p.name, r })));
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const x = all[i]!;
      const y = all[j]!;
      if (rangesOverlap(x.r, y.r)) return { a: `${x.pool}=${x.r.text}`, b: `${y.pool}=${y.r.text}` };
    }
  }
  return undefined;
}

/** Writes pools back in the flag syntax, for logs and the effective config. */
export function formatPoolList(pools: readonly PoolDef[]): string {
  return pools.flatMap((p) => p.ranges.map((r) => `${p.name}=${r.text}`)).join(',');
}
