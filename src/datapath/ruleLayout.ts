// The lb_rules value (struct lb_rule of native/bpf/lb_maps.h): a rule's
// selection, mode, endpoints, weighted slot table and allowed sources, and
// the limits that size it and the rule tables.
import { ADDR_SIZE, encodeAddr, familyOfAddr, writeAddr, type DpFamily } from './addressLayout.ts';

export const MAX_EPS = 32;
export const MAX_SRCS = 16;
export const WSLOTS = 128;
export const MAX_RULES = 16384;
/** lb_rules entries: one per (match address, port, protocol), so port ranges and secondary IPs take several. */
export const MAX_SERVICE_ENTRIES = 65536;
export const LB_RULE_SIZE = 1384;
/** The main VIP and up to three secondary IPs in a rule (SCTP multihoming hands them out). */
export const MAX_VIPS = 4;

export const SEL = { rr: 0, hash: 1, priority: 2, persist: 3, lc: 4 } as const;
export const MODE = { default: 0, onearm: 1, fullnat: 2, dsr: 3, hostonearm: 5 } as const;

export interface DpEndpoint {
  addr: string;
  port: number;
  weight: number;
  alive: boolean;
}

export interface DpRule {
  id: number;
  sel: number;
  mode: number;
  /** The NAT source when the client's cannot be kept ('' = the egress interface's address). */
  snatAddr: string;
  timeoutS: number;
  persistS: number;
  endpoints: DpEndpoint[];
  /** allowedSources as network/prefix-length pairs, in the VIP's family. */
  sources: { net: string; bits: number }[];
  /** The addresses the rule serves: the one packets arrive at, then the secondary IPs. */
  vips: string[];
}

/**
 * The weighted slot table of `priority` selection: each alive endpoint gets
 * slots in proportion to its weight (equal shares when no weight is given).
 */
export function weightSlots(endpoints: DpEndpoint[]): readonly number[] {
  // Every rule is re-encoded on each reconcile pass and most share a handful
  // of weight/liveness patterns, so the tables are memoised by that pattern.
  const sig = endpoints.map((e) => (e.alive ? Math.max(0, e.weight) : '-')).join(',');
  let slots = slotMemo.get(sig);
  if (!slots) {
    if (slotMemo.size >= 4096) slotMemo.clear();
    slots = computeWeightSlots(endpoints);
    slotMemo.set(sig, slots);
  }
  return slots;
}

const slotMemo = new Map<string, readonly number[]>();

function computeWeightSlots(endpoints: DpEndpoint[]): number[] {
  const alive = endpoints.flatMap((e, i) => (e.alive ? [{ i, w: Math.max(0, e.weight) }] : []));
  if (alive.length === 0) return new Array<number>(WSLOTS).fill(0);
  const total = alive.reduce((s, x) => s + x.w, 0);
  const shares = total > 0 ? alive.map((x) => x.w / total) : alive.map(() => 1 / alive.length);
  const slots: number[] = [];
  // Largest remainder, so the slot counts add up to WSLOTS exactly.
  const exact = shares.map((s) => s * WSLOTS);
  const counts = exact.map(Math.floor);
  let left = WSLOTS - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, j) => ({ j, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.j - b.j);
  for (const { j } of order) {
    if (left <= 0) break;
    counts[j] = (counts[j] ?? 0) + 1;
    left--;
  }
  // Interleave rather than run in blocks, so short bursts also spread.
  const remaining = [...counts];
  while (slots.length < WSLOTS) {
    for (let j = 0; j < alive.length && slots.length < WSLOTS; j++) {
      const left = remaining[j] ?? 0;
      if (left > 0) {
        slots.push(alive[j]!.i);
        remaining[j] = left - 1;
      }
    }
  }
  return slots;
}

/** The mask of a prefix length as 16 bytes (IPv4 masks use the first 4). */
function maskBytes(bits: number, family: DpFamily): Buffer {
  const b = Buffer.alloc(ADDR_SIZE);
  const total = family === 4 ? 32 : 128;
  for (let i = 0; i < total / 8; i++) {
    const left = bits - i * 8;
    b[i] = left >= 8 ? 0xff : left <= 0 ? 0 : (0xff << (8 - left)) & 0xff;
  }
  return b;
}

/**
 * The lb_rules value of a rule. With `slab`, it is written into that
 * (zeroed) buffer at `at` and a view of it returned: a pass encodes all its rules
 * into one allocation instead of one per rule.
 */
export function encodeLbRule(r: DpRule, slab?: Buffer, at = 0): Buffer {
  if (r.endpoints.length > MAX_EPS) throw new Error(`at most ${MAX_EPS} endpoints per rule`);
  if (r.sources.length > MAX_SRCS) throw new Error(`at most ${MAX_SRCS} allowed sources per rule`);
  const b = slab ? slab.subarray(at, at + LB_RULE_SIZE) : Buffer.alloc(LB_RULE_SIZE);
  b.writeUInt32LE(r.id, 0);
  b[4] = r.sel;
  b[5] = r.mode;
  b[6] = r.endpoints.length;
  b[7] = r.sources.length;
  if (r.snatAddr) writeAddr(b, 8, r.snatAddr);
  b.writeUInt32LE(r.timeoutS, 24);
  b.writeUInt32LE(r.persistS, 28);
  b.writeUInt32LE(r.endpoints.filter((e) => e.alive).length, 32);
  b[36] = r.endpoints.length > 0 ? familyOfAddr(r.endpoints[0]!.addr) : 4;
  if (r.vips.length > MAX_VIPS) throw new Error(`at most ${MAX_VIPS} addresses per rule`);
  b[37] = r.vips.length;
  r.vips.forEach((v, i) => writeAddr(b, 40 + i * ADDR_SIZE, v));
  let off = 40 + MAX_VIPS * ADDR_SIZE;
  for (const e of r.endpoints) {
    writeAddr(b, off, e.addr);
    b.writeUInt16BE(e.port, off + 16);
    b[off + 18] = Math.min(255, Math.max(0, e.weight));
    b[off + 19] = e.alive ? 1 : 0;
    off += 20;
  }
  off = 40 + MAX_VIPS * ADDR_SIZE + MAX_EPS * 20;
  weightSlots(r.endpoints).forEach((s, i) => (b[off + i] = s));
  off += WSLOTS;
  for (const s of r.sources) {
    const fam = familyOfAddr(s.net);
    const mask = maskBytes(s.bits, fam);
    const net = encodeAddr(s.net);
    for (let i = 0; i < ADDR_SIZE; i++) net[i]! &= mask[i]!;
    net.copy(b, off);
    mask.copy(b, off + 16);
    off += 32;
  }
  return b;
}
