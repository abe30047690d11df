// The protobuf wire format (https://protobuf.dev/programming-guides/encoding/)
// for the two gobgpd messages an LB node moves ten thousand at a time: the
// paths it adds (AddPathStream) and the best paths it watches (WatchEvent).
// protobufjs builds and walks an object for every field of every path; in a
// 10,000-rule burst that was about a fifth of the agent's CPU. Here a path
// is written from the few fields the agent sets, and a watched path is read
// for the few the agent uses: the prefix, the withdraw flag, the neighbour,
// and the attributes only of a path learned from a neighbour (a local path's
// attributes are never looked at). Everything else still goes through the
// generic decoder (peer events, ListPath, policies).
//
// Field numbers are gobgp 3.10's api/gobgp.proto (proto/gobgp_api.proto):
// AddPathStreamRequest.paths = 3; WatchEventResponse.peer = 2, table = 3;
// TableEvent.paths = 2; Path.nlri = 1, pattrs = 2, best = 4,
// is_withdraw = 5, family = 9, neighbor_ip = 15; Family.afi = 1, safi = 2;
// Any.type_url = 1, value = 2; IPAddressPrefix.prefix_len = 1, prefix = 2.
// Reading, anything malformed throws an Error starting "WatchEvent:" (the
// watch ends and is restarted); unknown fields are skipped by wire type.

/** google.protobuf.Any as the generic decoder yields it. */
export interface RawAny {
  type_url: string;
  value: Buffer | Uint8Array;
}

/** The fields of a Path that decodePath reads, in the generic decoder's shape (a WirePath). */
export interface WatchPath extends Record<string, unknown> {
  nlri?: RawAny;
  pattrs: RawAny[];
  best: boolean;
  is_withdraw: boolean;
  neighbor_ip: string;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export const TYPE_URL_PREFIX = 'type.googleapis.com/apipb.';
export const PREFIX_TYPE_URL = `${TYPE_URL_PREFIX}IPAddressPrefix`;

/** The peer a path was learned from, or undefined for a locally originated one (gobgpd says "<nil>", nothing, or an unspecified address). */
export function learnedFrom(neighborIp: unknown): string | undefined {
  if (typeof neighborIp !== 'string' || neighborIp === '' || neighborIp === '<nil>' || neighborIp === '0.0.0.0' || neighborIp === '::') return undefined;
  return neighborIp;
}

// ---- reading ----

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('WatchEvent: truncated varint');
      const b = this.buf[this.pos++]!;
      // Beyond 2^53 a number loses precision; no field read here can be that large.
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('WatchEvent: varint longer than 10 bytes');
    }
  }

  /** [start, end) of a length-delimited field's payload; moves past it. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new Error('WatchEvent: field length past the end of its message');
    this.pos = start + len;
    return [start, this.pos];
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.span();
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      default:
        throw new Error(`WatchEvent: unsupported wire type ${wire}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new Error('WatchEvent: truncated fixed-width field');
    this.pos += n;
  }
}

function text(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8');
}

function readAny(buf: Uint8Array, start: number, end: number): RawAny {
  const r = new Reader(buf, start, end);
  let type_url = '';
  let value: Uint8Array = EMPTY;
  while (!r.done) {
    const tag = r.varint();
    const wire = tag & 7;
    if (tag === (1 << 3) + WIRE_LEN) {
      const [s, e] = r.span();
      type_url = text(buf, s, e);
    } else if (tag === (2 << 3) + WIRE_LEN) {
      const [s, e] = r.span();
      value = buf.subarray(s, e);
    } else r.skip(wire);
  }
  return { type_url, value };
}

const EMPTY = new Uint8Array(0);

function readPath(buf: Uint8Array, start: number, end: number): WatchPath {
  const r = new Reader(buf, start, end);
  const p: WatchPath = { pattrs: [], best: false, is_withdraw: false, neighbor_ip: '' };
  // The neighbour comes after the attributes on the wire: keep where they are, read them once it is known.
  const attrs: [number, number][] = [];
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      p.nlri = readAny(buf, s, e);
    } else if (field === 2 && wire === WIRE_LEN) attrs.push(r.span());
    else if (field === 4 && wire === WIRE_VARINT) p.best = r.varint() !== 0;
    else if (field === 5 && wire === WIRE_VARINT) p.is_withdraw = r.varint() !== 0;
    else if (field === 15 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      p.neighbor_ip = text(buf, s, e);
    } else r.skip(wire);
  }
  if (learnedFrom(p.neighbor_ip)) for (const [s, e] of attrs) p.pattrs.push(readAny(buf, s, e));
  return p;
}

/**
 * The paths of a WatchEventResponse that is a table event, or undefined when
 * it is not (a peer event: decode it the generic way). Attributes are read
 * only for paths learned from a neighbour; a local path's pattrs is empty.
 */
export function decodeWatchTable(buf: Uint8Array): { table: { paths: WatchPath[] } } | undefined {
  const r = new Reader(buf, 0, buf.length);
  let paths: WatchPath[] | undefined;
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 3 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      paths ??= [];
      const t = new Reader(buf, s, e);
      while (!t.done) {
        const ttag = t.varint();
        if (ttag === (2 << 3) + WIRE_LEN) {
          const [ps, pe] = t.span();
          paths.push(readPath(buf, ps, pe));
        } else t.skip(ttag & 7);
      }
    } else if (field === 2) return undefined;
    else r.skip(wire);
  }
  return paths ? { table: { paths } } : undefined;
}

/** An IPAddressPrefix's value: { prefix_len, prefix }. Throws on malformed input. */
export function readIpAddressPrefix(value: Uint8Array): { prefix_len: number; prefix: string } {
  const r = new Reader(value, 0, value.length);
  let prefix_len = 0;
  let prefix = '';
  while (!r.done) {
    const tag = r.varint();
    if (tag === (1 << 3) + WIRE_VARINT) prefix_len = r.varint();
    else if (tag === (2 << 3) + WIRE_LEN) {
      const [s, e] = r.span();
      prefix = text(value, s, e);
    } else r.skip(tag & 7);
  }
  return { prefix_len, prefix };
}

// ---- writing ----

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function putVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** A length-delimited field: tag, length, payload. */
function lenField(field: number, payload: Uint8Array): Buffer {
  const head = 1 + varintSize(payload.length);
  const out = Buffer.allocUnsafe(head + payload.length);
  out[0] = (field << 3) | WIRE_LEN;
  putVarint(out, 1, payload.length);
  out.set(payload, head);
  return out;
}

/** An IPAddressPrefix packed as an Any (what a path's nlri is). */
export function packIpAddressPrefix(prefix: string, prefixLen: number): RawAny {
  const p = Buffer.from(prefix, 'latin1');
  const value = Buffer.allocUnsafe(1 + varintSize(prefixLen) + 1 + varintSize(p.length) + p.length);
  let at = 0;
  value[at++] = (1 << 3) | WIRE_VARINT;
  at = putVarint(value, at, prefixLen);
  value[at++] = (2 << 3) | WIRE_LEN;
  at = putVarint(value, at, p.length);
  value.set(p, at);
  return { type_url: PREFIX_TYPE_URL, value };
}

/** An Any as a message (type_url, value), encoded. */
function encodeAny(a: RawAny): Buffer {
  return Buffer.concat([lenField(1, Buffer.from(a.type_url, 'utf8')), lenField(2, a.value)]);
}

/** encodeAny, memoised per Any object: the attributes most paths share (pathCodec's packShared) are encoded once. */
const encodedAnys = new WeakMap<object, Buffer>();
function encodeSharedAny(a: RawAny): Buffer {
  let b = encodedAnys.get(a);
  if (!b) {
    b = encodeAny(a);
    encodedAnys.set(a, b);
  }
  return b;
}

const AFI: Record<string, number> = { AFI_IP: 1, AFI_IP6: 2 };
const SAFI: Record<string, number> = { SAFI_UNICAST: 1 };

/** The path shape encodeVipRoute builds; anything else is left to the generic encoder. */
export interface VipWirePath extends Record<string, unknown> {
  nlri: RawAny;
  pattrs: RawAny[];
  family: { afi: string; safi: string };
  is_withdraw: boolean;
}

function encodeFamily(f: { afi: string; safi: string }): Buffer {
  const afi = AFI[f.afi];
  const safi = SAFI[f.safi];
  if (afi === undefined || safi === undefined) throw new Error(`AddPathStream: family ${f.afi}/${f.safi} is not one the lean encoder writes`);
  return Buffer.from([(1 << 3) | WIRE_VARINT, afi, (2 << 3) | WIRE_VARINT, safi]);
}

/** One Path message: nlri, pattrs, is_withdraw (when set), family, in field order as protobufjs writes them. */
export function encodeVipPath(p: VipWirePath): Buffer {
  // Every path has its own NLRI: encoded as is, not remembered.
  const parts: Buffer[] = [lenField(1, encodeAny(p.nlri))];
  for (const a of p.pattrs) parts.push(lenField(2, encodeSharedAny(a)));
  if (p.is_withdraw) parts.push(Buffer.from([(5 << 3) | WIRE_VARINT, 1]));
  parts.push(lenField(9, encodeFamily(p.family)));
  return Buffer.concat(parts);
}

/** AddPathStreamRequest { table_type: GLOBAL, vrf_id: '', paths } encoded (GLOBAL and '' are proto3 defaults: not written). */
export function encodeAddPathStreamRequest(paths: readonly VipWirePath[]): Buffer {
  return Buffer.concat(paths.map((p) => lenField(3, encodeVipPath(p))));
}
