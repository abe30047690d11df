// The bytes of the eBPF maps (native/bpf/lb_maps.h), encoded and decoded in
// TypeScript. Addresses and ports are in network byte order, as the program
// compares them on the wire; every address takes 16 bytes with a family byte
// beside it. checkLayout() compares these sizes with the ones the C compiler
// produced, so a drift between the two fails at start.
import ipaddr from 'ipaddr.js';
import { canonicalIpv4Value, ipFamily, parseIp } from '../util/ipAddress.ts';

export const LAYOUT_VERSION = 2;
export const MAX_EPS = 32;
export const MAX_SRCS = 16;
export const WSLOTS = 128;
export const MAX_RULES = 16384;
/** lb_rules entries: one per (match address, port, protocol), so port ranges and secondary IPs take several. */
export const MAX_SERVICE_ENTRIES = 65536;

/** Every address takes 16 bytes: IPv6, or IPv4 in the first 4 with the rest zero. */
export const ADDR_SIZE = 16;
export const LB_KEY_SIZE = 20;
export const LB_RULE_SIZE = 1384;
/** The main VIP and up to three secondary IPs in a rule (SCTP multihoming hands them out). */
export const MAX_VIPS = 4;
export const CT_KEY_SIZE = 40;
export const CT_VAL_SIZE = 96;
export const VIP_KEY_SIZE = 20;
export const IF_ADDRS_SIZE = 24;

export const IPPROTO = { tcp: 6, udp: 17, sctp: 132, icmp: 1 } as const;
export type DpProtocol = keyof typeof IPPROTO;
const IPPROTO_ICMPV6 = 58;

/** The IP protocol number of a rule's protocol in one family: ICMP over IPv6 is ICMPv6. */
export function protoNumber(proto: DpProtocol, family: DpFamily): number {
  return proto === 'icmp' && family === 6 ? IPPROTO_ICMPV6 : IPPROTO[proto];
}
/** lb_addr family bytes. */
export const AF = { 4: 4, 6: 6 } as const;
export type DpFamily = 4 | 6;

export const SEL = { rr: 0, hash: 1, priority: 2, persist: 3, lc: 4 } as const;
export const MODE = { default: 0, onearm: 1, fullnat: 2, dsr: 3, hostonearm: 5 } as const;

/** ct_val.state, in the order of lb_maps.h; the names loxicmd shows. */
export const CT_STATE_NAMES = ['syn-sent', 'syn-recv', 'est', 'fin-wait', 'closed', 'udp-new', 'udp-est'] as const;
/** The same states for an SCTP association. */
export const SCTP_STATE_NAMES = ['init', 'init-ack', 'est', 'shutdown', 'closed'] as const;

export function ctStateName(proto: DpProtocol, state: number): string {
  return (proto === 'sctp' ? SCTP_STATE_NAMES[state] : CT_STATE_NAMES[state]) ?? String(state);
}
export const CT_EST = 2;
export const CT_UDP_EST = 6;
export const CT_DIR_ORIG = 0;
export const CT_DIR_REPLY = 1;
export const CT_F_SYNCED = 0x04;

/** LB_STAT_* of lb_maps.h, in order. */
export const STAT_NAMES = [
  'packets',
  'ctHit',
  'ctNew',
  'noEndpoint',
  'notSyn',
  'sourceDenied',
  'natPortsExhausted',
  'ctFull',
  'redirected',
  'toKernel',
  'ctReused',
  'ctConflict',
  'icmpEcho',
  'familyTranslated',
  'translateFailed',
  'sctpNotInit',
  'sctpPaths',
  'sctpAddressRewrites',
  'dsr',
  'dsrNotOnLink',
] as const;

export function checkLayout(native: { version: number; lbKey: number; lbRule: number; ctKey: number; ctVal: number }): void {
  const want = { version: LAYOUT_VERSION, lbKey: LB_KEY_SIZE, lbRule: LB_RULE_SIZE, ctKey: CT_KEY_SIZE, ctVal: CT_VAL_SIZE };
  for (const k of Object.keys(want) as (keyof typeof want)[]) {
    if (native[k] !== want[k]) {
      throw new Error(`eBPF map layout mismatch: ${k} is ${native[k]} in the addon, ${want[k]} in src/datapath/layout.ts; rebuild with npm run build:native`);
    }
  }
}

/** A dotted-quad IPv4 address as 4 bytes in network order. */
export function encodeIp4(addr: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  writeIp4(b, 0, addr);
  return b;
}

/** An address of either family as the 16 bytes of an lb_addr. */
export function encodeAddr(addr: string): Buffer {
  const b = Buffer.alloc(ADDR_SIZE);
  writeAddr(b, 0, addr);
  return b;
}

/**
 * Writes an address as an lb_addr at `off` of `b` (16 bytes; IPv4 in the
 * first 4, the rest left as they are) and returns its family. IPv4-mapped
 * IPv6 is written as the IPv4 address, the family familyOfAddr gives it.
 */
export function writeAddr(b: Buffer, off: number, addr: string): DpFamily {
  const v4 = canonicalIpv4Value(addr);
  if (v4 >= 0) {
    b.writeUInt32BE(v4, off);
    return 4;
  }
  const parsed = parseIp(addr);
  if (!parsed) throw new Error(`not an IP address: ${addr}`);
  const bytes = parsed.toByteArray();
  for (let i = 0; i < bytes.length; i++) b[off + i] = bytes[i]!;
  return parsed.kind() === 'ipv4' ? 4 : 6;
}

/** A canonical dotted quad (no shorthand such as 10.1, no leading zeros, nothing wrapped) into 4 bytes of `b`. */
function writeIp4(b: Buffer, off: number, addr: string): void {
  const v4 = canonicalIpv4Value(addr);
  if (v4 < 0) throw new Error(`not a dotted-quad IPv4 address: ${addr}`);
  b.writeUInt32BE(v4, off);
}

/** The family of an address (util/ipAddress's rule: IPv4-mapped IPv6 is IPv4); 4 for one that is none (writeAddr refuses it). */
export function familyOfAddr(addr: string): DpFamily {
  // Text without a colon is no IPv6 address in any spelling: only the rest needs parsing.
  return addr.includes(':') && ipFamily(addr) === 6 ? 6 : 4;
}

function ip4str(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** The text of an lb_addr of the given family. */
export function decodeAddr(b: Buffer, off: number, family: number): string {
  if (family === 4) return ip4str(b, off);
  return ipaddr.fromByteArray([...b.subarray(off, off + 16)]).toString();
}

export interface ServiceKey {
  vip: string;
  port: number;
  proto: DpProtocol;
}

export function encodeLbKey(k: ServiceKey): Buffer {
  const b = Buffer.alloc(LB_KEY_SIZE);
  const family = writeAddr(b, 0, k.vip);
  b.writeUInt16BE(k.port, 16);
  b[18] = protoNumber(k.proto, family);
  b[19] = family;
  return b;
}

export function protoName(n: number): DpProtocol | undefined {
  return n === 6 ? 'tcp' : n === 17 ? 'udp' : n === 132 ? 'sctp' : n === 1 || n === IPPROTO_ICMPV6 ? 'icmp' : undefined;
}

export function decodeLbKey(b: Buffer, off = 0): ServiceKey | undefined {
  const proto = protoName(b[off + 18]!);
  const fam = b[off + 19];
  if (!proto || (fam !== 4 && fam !== 6)) return undefined;
  return { vip: decodeAddr(b, off, fam), port: b.readUInt16BE(off + 16), proto };
}

/** A vips map key: the address and its family. */
export function encodeVipKey(addr: string): Buffer {
  const b = Buffer.alloc(VIP_KEY_SIZE);
  encodeAddr(addr).copy(b, 0);
  b[16] = familyOfAddr(addr);
  return b;
}

/** An ifaddr map value: the interface's IPv4 and global IPv6 address (either may be absent). */
export function encodeIfAddrs(v4: string | undefined, v6: string | undefined): Buffer {
  const b = Buffer.alloc(IF_ADDRS_SIZE);
  if (v4) encodeIp4(v4).copy(b, 0);
  if (v6) encodeAddr(v6).copy(b, 8);
  return b;
}

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

export interface CtEntry {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: DpProtocol;
  family: DpFamily;
  xsaddr: string;
  xdaddr: string;
  xsport: number;
  xdport: number;
  /** Family of the translated packet (differs from family for NAT64). */
  xfamily: DpFamily;
  svc: ServiceKey;
  ruleId: number;
  dir: number;
  state: number;
  epIdx: number;
  flags: number;
  timeoutS: number;
  lastNs: bigint;
  packets: bigint;
  bytes: bigint;
}

/** Byte offsets inside ct_key and ct_val. */
export const CT_KEY = { saddr: 0, daddr: 16, sport: 32, dport: 34, proto: 36, family: 37 } as const;
export const CT_VAL = {
  xsaddr: 0,
  xdaddr: 16,
  xsport: 32,
  xdport: 34,
  svc: 36,
  ruleId: 56,
  dir: 60,
  state: 61,
  epIdx: 62,
  flags: 63,
  timeoutS: 64,
  xfamily: 68,
  lastNs: 72,
  packets: 80,
  bytes: 88,
} as const;

/** Decodes entry i of a dump (keys and values packed back to back). */
export function decodeCt(keys: Buffer, values: Buffer, i: number): CtEntry | undefined {
  const k = i * CT_KEY_SIZE;
  const v = i * CT_VAL_SIZE;
  const proto = protoName(keys[k + CT_KEY.proto]!);
  const family = keys[k + CT_KEY.family];
  const xfamily = values[v + CT_VAL.xfamily];
  const svc = decodeLbKey(values, v + CT_VAL.svc);
  if (!proto || !svc || (family !== 4 && family !== 6) || (xfamily !== 4 && xfamily !== 6)) return undefined;
  return {
    saddr: decodeAddr(keys, k + CT_KEY.saddr, family),
    daddr: decodeAddr(keys, k + CT_KEY.daddr, family),
    sport: keys.readUInt16BE(k + CT_KEY.sport),
    dport: keys.readUInt16BE(k + CT_KEY.dport),
    proto,
    family,
    xsaddr: decodeAddr(values, v + CT_VAL.xsaddr, xfamily),
    xdaddr: decodeAddr(values, v + CT_VAL.xdaddr, xfamily),
    xsport: values.readUInt16BE(v + CT_VAL.xsport),
    xdport: values.readUInt16BE(v + CT_VAL.xdport),
    xfamily,
    svc,
    ruleId: values.readUInt32LE(v + CT_VAL.ruleId),
    dir: values[v + CT_VAL.dir]!,
    state: values[v + CT_VAL.state]!,
    epIdx: values[v + CT_VAL.epIdx]!,
    flags: values[v + CT_VAL.flags]!,
    timeoutS: values.readUInt32LE(v + CT_VAL.timeoutS),
    lastNs: values.readBigUInt64LE(v + CT_VAL.lastNs),
    packets: values.readBigUInt64LE(v + CT_VAL.packets),
    bytes: values.readBigUInt64LE(v + CT_VAL.bytes),
  };
}

/** The bytes of one connection-table entry (tests, benchmarks, sync fixtures). */
export function encodeCt(e: Omit<CtEntry, 'family' | 'xfamily' | 'lastNs' | 'packets' | 'bytes'> & Partial<Pick<CtEntry, 'lastNs' | 'packets' | 'bytes'>>): { key: Buffer; value: Buffer } {
  const key = Buffer.alloc(CT_KEY_SIZE);
  encodeAddr(e.saddr).copy(key, CT_KEY.saddr);
  encodeAddr(e.daddr).copy(key, CT_KEY.daddr);
  key.writeUInt16BE(e.sport, CT_KEY.sport);
  key.writeUInt16BE(e.dport, CT_KEY.dport);
  key[CT_KEY.proto] = protoNumber(e.proto, familyOfAddr(e.saddr));
  key[CT_KEY.family] = familyOfAddr(e.saddr);
  const value = Buffer.alloc(CT_VAL_SIZE);
  encodeAddr(e.xsaddr).copy(value, CT_VAL.xsaddr);
  encodeAddr(e.xdaddr).copy(value, CT_VAL.xdaddr);
  value.writeUInt16BE(e.xsport, CT_VAL.xsport);
  value.writeUInt16BE(e.xdport, CT_VAL.xdport);
  encodeLbKey(e.svc).copy(value, CT_VAL.svc);
  value.writeUInt32LE(e.ruleId, CT_VAL.ruleId);
  value[CT_VAL.dir] = e.dir;
  value[CT_VAL.state] = e.state;
  value[CT_VAL.epIdx] = e.epIdx;
  value[CT_VAL.flags] = e.flags;
  value.writeUInt32LE(e.timeoutS, CT_VAL.timeoutS);
  value[CT_VAL.xfamily] = familyOfAddr(e.xsaddr);
  value.writeBigUInt64LE(e.lastNs ?? 0n, CT_VAL.lastNs);
  value.writeBigUInt64LE(e.packets ?? 0n, CT_VAL.packets);
  value.writeBigUInt64LE(e.bytes ?? 0n, CT_VAL.bytes);
  return { key, value };
}
