// The bytes of the eBPF maps (native/bpf/lb_maps.h), encoded and decoded in
// TypeScript. Addresses and ports are in network byte order, as the program
// compares them on the wire. checkLayout() compares these sizes with the ones
// the C compiler produced, so a drift between the two fails at start.

export const LAYOUT_VERSION = 1;
export const MAX_EPS = 32;
export const MAX_SRCS = 16;
export const WSLOTS = 128;
export const MAX_RULES = 16384;
/** lb_rules entries: one per (match address, port, protocol), so port ranges and secondary IPs take several. */
export const MAX_SERVICE_ENTRIES = 65536;

export const LB_KEY_SIZE = 8;
export const LB_RULE_SIZE = 536;
export const CT_KEY_SIZE = 16;
export const CT_VAL_SIZE = 56;

export const IPPROTO = { tcp: 6, udp: 17 } as const;
export type DpProtocol = keyof typeof IPPROTO;

export const SEL = { rr: 0, hash: 1, priority: 2, persist: 3, lc: 4 } as const;
export const MODE = { default: 0, onearm: 1, fullnat: 2 } as const;

/** ct_val.state, in the order of lb_maps.h; the names loxicmd shows. */
export const CT_STATE_NAMES = ['syn-sent', 'syn-recv', 'est', 'fin-wait', 'closed', 'udp-new', 'udp-est'] as const;
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
  // Canonical dotted quads only (what net.isIPv4 accepts): no shorthand such
  // as 10.1, no octal or hex parts, nothing silently wrapped.
  const parts = addr.split('.');
  if (parts.length === 4) {
    const b = Buffer.allocUnsafe(4);
    let ok = true;
    for (let i = 0; i < 4; i++) {
      const n = Number(parts[i]);
      ok &&= String(n) === parts[i] && n >= 0 && n <= 255;
      b[i] = n;
    }
    if (ok) return b;
  }
  throw new Error(`not a dotted-quad IPv4 address: ${addr}`);
}

function ip4str(b: Buffer, off: number): string {
  return `${b.readUInt8(off)}.${b.readUInt8(off + 1)}.${b.readUInt8(off + 2)}.${b.readUInt8(off + 3)}`;
}

export interface ServiceKey {
  vip: string;
  port: number;
  proto: DpProtocol;
}

export function encodeLbKey(k: ServiceKey): Buffer {
  const b = Buffer.alloc(LB_KEY_SIZE);
  encodeIp4(k.vip).copy(b, 0);
  b.writeUInt16BE(k.port, 4);
  b[6] = IPPROTO[k.proto];
  return b;
}

export function protoName(n: number): DpProtocol | undefined {
  return n === 6 ? 'tcp' : n === 17 ? 'udp' : undefined;
}

export function decodeLbKey(b: Buffer, off = 0): ServiceKey | undefined {
  const proto = protoName(b.readUInt8(off + 6));
  if (!proto) return undefined;
  return { vip: ip4str(b, off), port: b.readUInt16BE(off + 4), proto };
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
  /** fullnat source address ('' otherwise). */
  snatAddr: string;
  timeoutS: number;
  persistS: number;
  endpoints: DpEndpoint[];
  /** allowedSources as network/prefix-length pairs. */
  sources: { net: string; bits: number }[];
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

export function encodeLbRule(r: DpRule): Buffer {
  if (r.endpoints.length > MAX_EPS) throw new Error(`at most ${MAX_EPS} endpoints per rule`);
  if (r.sources.length > MAX_SRCS) throw new Error(`at most ${MAX_SRCS} allowed sources per rule`);
  const b = Buffer.alloc(LB_RULE_SIZE);
  b.writeUInt32LE(r.id, 0);
  b[4] = r.sel;
  b[5] = r.mode;
  b[6] = r.endpoints.length;
  b[7] = r.sources.length;
  if (r.snatAddr) encodeIp4(r.snatAddr).copy(b, 8);
  b.writeUInt32LE(r.timeoutS, 12);
  b.writeUInt32LE(r.persistS, 16);
  b.writeUInt32LE(r.endpoints.filter((e) => e.alive).length, 20);
  let off = 24;
  for (const e of r.endpoints) {
    encodeIp4(e.addr).copy(b, off);
    b.writeUInt16BE(e.port, off + 4);
    b[off + 6] = Math.min(255, Math.max(0, e.weight));
    b[off + 7] = e.alive ? 1 : 0;
    off += 8;
  }
  off = 24 + MAX_EPS * 8;
  weightSlots(r.endpoints).forEach((s, i) => (b[off + i] = s));
  off += WSLOTS;
  for (const s of r.sources) {
    const mask = s.bits === 0 ? 0 : (0xffffffff << (32 - s.bits)) >>> 0;
    const net = encodeIp4(s.net).readUInt32BE(0) & mask;
    b.writeUInt32BE(net >>> 0, off);
    b.writeUInt32BE(mask, off + 4);
    off += 8;
  }
  return b;
}

export interface CtEntry {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: DpProtocol;
  xsaddr: string;
  xdaddr: string;
  xsport: number;
  xdport: number;
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

/** Decodes entry i of a dump (keys and values packed back to back). */
export function decodeCt(keys: Buffer, values: Buffer, i: number): CtEntry | undefined {
  const k = i * CT_KEY_SIZE;
  const v = i * CT_VAL_SIZE;
  const proto = protoName(keys.readUInt8(k + 12));
  const svc = decodeLbKey(values, v + 12);
  if (!proto || !svc) return undefined;
  return {
    saddr: ip4str(keys, k),
    daddr: ip4str(keys, k + 4),
    sport: keys.readUInt16BE(k + 8),
    dport: keys.readUInt16BE(k + 10),
    proto,
    xsaddr: ip4str(values, v),
    xdaddr: ip4str(values, v + 4),
    xsport: values.readUInt16BE(v + 8),
    xdport: values.readUInt16BE(v + 10),
    svc,
    ruleId: values.readUInt32LE(v + 20),
    dir: values.readUInt8(v + 24),
    state: values.readUInt8(v + 25),
    epIdx: values.readUInt8(v + 26),
    flags: values.readUInt8(v + 27),
    timeoutS: values.readUInt32LE(v + 28),
    lastNs: values.readBigUInt64LE(v + 32),
    packets: values.readBigUInt64LE(v + 40),
    bytes: values.readBigUInt64LE(v + 48),
  };
}

/** Byte offsets inside ct_val that the sync receiver rewrites. */
export const CT_VAL_RULE_ID_OFFSET = 20;
export const CT_VAL_STATE_OFFSET = 25;
export const CT_VAL_SVC_OFFSET = 12;
export const CT_VAL_LAST_NS_OFFSET = 32;
