// A lean reader for the table events of gobgpd's WatchEvent stream. An LB
// node's best-path watch carries every VIP it advertises (10,000 paths after
// a burst of POSTs) and the agent needs four fields of each: the prefix, the
// withdraw flag, the neighbour and (for learned paths only) the attributes.
// protobufjs decodes every field of every path into objects first, which was
// about a tenth of the agent's CPU in a 10,000-rule burst; this reads the
// wire format (https://protobuf.dev/programming-guides/encoding/) directly
// and leaves each attribute as the raw Any that pathCodec.unpack decodes only
// when a path was learned. Peer events, rare, go through the generic decoder.
//
// Field numbers are gobgp 3.10's api/gobgp.proto (proto/gobgp_api.proto):
// WatchEventResponse.table = 3, TableEvent.paths = 2, Path.nlri = 1,
// pattrs = 2, best = 4, is_withdraw = 5, neighbor_ip = 15; Any.type_url = 1,
// value = 2. Anything malformed throws (the watch ends and is restarted);
// unknown fields are skipped by their wire type, as protobuf requires.

/** google.protobuf.Any as the generic decoder yields it. */
export interface RawAny {
  type_url: string;
  value: Buffer;
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

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
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

function readAny(buf: Buffer, start: number, end: number): RawAny {
  const r = new Reader(buf, start, end);
  let type_url = '';
  let value: Buffer = EMPTY;
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      type_url = buf.toString('utf8', s, e);
    } else if (field === 2 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      value = buf.subarray(s, e);
    } else r.skip(wire);
  }
  return { type_url, value };
}

const EMPTY = Buffer.alloc(0);

function readPath(buf: Buffer, start: number, end: number): WatchPath {
  const r = new Reader(buf, start, end);
  const p: WatchPath = { pattrs: [], best: false, is_withdraw: false, neighbor_ip: '' };
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      p.nlri = readAny(buf, s, e);
    } else if (field === 2 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      p.pattrs.push(readAny(buf, s, e));
    } else if (field === 4 && wire === WIRE_VARINT) p.best = r.varint() !== 0;
    else if (field === 5 && wire === WIRE_VARINT) p.is_withdraw = r.varint() !== 0;
    else if (field === 15 && wire === WIRE_LEN) {
      const [s, e] = r.span();
      p.neighbor_ip = buf.toString('utf8', s, e);
    } else r.skip(wire);
  }
  return p;
}

/**
 * The paths of a WatchEventResponse that is a table event, or undefined when
 * it is not (a peer event: decode it the generic way).
 */
export function decodeWatchTable(buf: Buffer): { table: { paths: WatchPath[] } } | undefined {
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
