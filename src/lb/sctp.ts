// Wire codec for SCTP packets (RFC 9260, which replaced RFC 4960): the
// common header with its CRC32c checksum, and the chunks an association's
// life needs (INIT, INIT ACK, COOKIE ECHO, COOKIE ACK, DATA, SACK,
// HEARTBEAT, HEARTBEAT ACK, SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE,
// ABORT, ERROR) with the INIT / INIT ACK parameters for multihoming (IPv4
// and IPv6 Address, State Cookie, Supported Address Types). Other chunks and
// parameters pass through as opaque 'UNKNOWN' values, so decode-encode keeps
// them. Shared by the agent's SCTP liveness probe and the test peers.
//
// Decoding never throws: hostile bytes give { ok: false, reason }. Encoding
// throws a RangeError on values that do not fit their fields (a caller bug).
//
// Padding (§3.2, §3.2.1): chunks, parameters and error causes are padded to
// 4 bytes with zeros, and their length fields do not count their own
// padding. A chunk's length does count the padding of every parameter but
// its last; decode accepts the last one's padding inside or outside it.
//
// Over 400 lines: the RFC 9260 wire codec; each chunk's encoder and decoder sit side
// by side so they are read (and round-trip tested) against each other.
import ipaddr from 'ipaddr.js';
import { crc32cRaw } from '../util/crc32c.ts';
import { parseIp } from '../util/ipAddress.ts';

export const SCTP_HEADER_LEN = 12;
/** The checksum's offset in the common header; it is stored little-endian. */
export const SCTP_CHECKSUM_OFFSET = 8;

export const SctpChunkType = {
  DATA: 0,
  INIT: 1,
  INIT_ACK: 2,
  SACK: 3,
  HEARTBEAT: 4,
  HEARTBEAT_ACK: 5,
  ABORT: 6,
  SHUTDOWN: 7,
  SHUTDOWN_ACK: 8,
  ERROR: 9,
  COOKIE_ECHO: 10,
  COOKIE_ACK: 11,
  SHUTDOWN_COMPLETE: 14,
} as const;
export type SctpChunkName = keyof typeof SctpChunkType;

export const SctpParamType = {
  HEARTBEAT_INFO: 1,
  IPV4_ADDRESS: 5,
  IPV6_ADDRESS: 6,
  STATE_COOKIE: 7,
  SUPPORTED_ADDRESS_TYPES: 12,
} as const;

/** DATA chunk flags (§3.3.1; I from RFC 7053). */
export const SctpDataFlags = { END: 0x01, BEGINNING: 0x02, UNORDERED: 0x04, IMMEDIATE: 0x08 } as const;

/** Error cause codes (§3.3.10) the probe and the peers use. */
export const SctpCauseCode = {
  INVALID_STREAM_ID: 1,
  MISSING_MANDATORY_PARAMETER: 2,
  STALE_COOKIE: 3,
  OUT_OF_RESOURCE: 4,
  UNRESOLVABLE_ADDRESS: 5,
  UNRECOGNIZED_CHUNK: 6,
  INVALID_MANDATORY_PARAMETER: 7,
  UNRECOGNIZED_PARAMETERS: 8,
  NO_USER_DATA: 9,
  COOKIE_RECEIVED_WHILE_SHUTTING_DOWN: 10,
  RESTART_WITH_NEW_ADDRESSES: 11,
  USER_INITIATED_ABORT: 12,
  PROTOCOL_VIOLATION: 13,
} as const;

export type SctpParam =
  | { type: 'IPV4_ADDRESS'; address: string }
  | { type: 'IPV6_ADDRESS'; address: string }
  | { type: 'STATE_COOKIE'; cookie: Buffer }
  /** Address type parameter codes: 5 (IPv4), 6 (IPv6), 11 (host name). */
  | { type: 'SUPPORTED_ADDRESS_TYPES'; addressTypes: number[] }
  | { type: 'UNKNOWN'; paramType: number; value: Buffer };

export interface SctpErrorCause {
  code: number;
  info: Buffer;
}

export interface SctpInitFields {
  initiateTag: number;
  /** Advertised receiver window credit. */
  arwnd: number;
  outboundStreams: number;
  inboundStreams: number;
  initialTsn: number;
  params: SctpParam[];
}

export type SctpChunk =
  | { type: 'DATA'; flags: number; tsn: number; streamId: number; streamSeq: number; ppid: number; data: Buffer }
  | ({ type: 'INIT' } & SctpInitFields)
  | ({ type: 'INIT_ACK' } & SctpInitFields)
  | { type: 'SACK'; cumulativeTsnAck: number; arwnd: number; gapBlocks: Array<{ start: number; end: number }>; duplicateTsns: number[] }
  /** `info` is the value of the Heartbeat Info parameter: opaque, echoed back in the ACK. */
  | { type: 'HEARTBEAT'; info: Buffer }
  | { type: 'HEARTBEAT_ACK'; info: Buffer }
  /** tBit: the verification tag is the receiver's own, reflected (§8.4, §8.5.1). */
  | { type: 'ABORT'; tBit: boolean; causes: SctpErrorCause[] }
  | { type: 'SHUTDOWN'; cumulativeTsnAck: number }
  | { type: 'SHUTDOWN_ACK' }
  | { type: 'ERROR'; causes: SctpErrorCause[] }
  | { type: 'COOKIE_ECHO'; cookie: Buffer }
  | { type: 'COOKIE_ACK' }
  | { type: 'SHUTDOWN_COMPLETE'; tBit: boolean }
  | { type: 'UNKNOWN'; chunkType: number; flags: number; value: Buffer };

export interface SctpPacket {
  srcPort: number;
  dstPort: number;
  verificationTag: number;
  chunks: SctpChunk[];
}

export const SCTP_DECODE_ERRORS = [
  /** Shorter than the common header. */
  'short',
  /** The CRC32c does not match. */
  'checksum',
  /** A chunk header or length that does not fit the packet. */
  'chunk-length',
  /** A chunk whose fixed fields or parameters do not parse. */
  'chunk-value',
] as const;
export type SctpDecodeError = (typeof SCTP_DECODE_ERRORS)[number];

export interface SctpCommonHeader {
  srcPort: number;
  dstPort: number;
  verificationTag: number;
}

export type SctpDecodeResult =
  | { ok: true; packet: SctpPacket }
  /** header is there whenever the packet had 12 bytes, so a receiver can tell whose bad packet it was. */
  | { ok: false; reason: SctpDecodeError; detail: string; header?: SctpCommonHeader };

export interface SctpDecodeOptions {
  /** Check the CRC32c (default true). */
  verifyChecksum?: boolean;
}

const CHUNK_NAMES = new Map<number, SctpChunkName>(Object.entries(SctpChunkType).map(([k, v]) => [v, k as SctpChunkName]));

const pad4 = (n: number): number => (n + 3) & ~3;

// ---------------------------------------------------------------------------
// Checksum

/** The CRC32c of an SCTP packet as if its checksum field were zero. */
export function sctpChecksum(pkt: Uint8Array): number {
  if (pkt.length < SCTP_HEADER_LEN) throw new RangeError(`an SCTP packet has at least ${SCTP_HEADER_LEN} bytes, got ${pkt.length}`);
  let r = crc32cRaw(0xffffffff, pkt, 0, SCTP_CHECKSUM_OFFSET);
  r = crc32cRaw(r, ZERO4);
  r = crc32cRaw(r, pkt, SCTP_HEADER_LEN);
  return ~r >>> 0;
}
const ZERO4 = new Uint8Array(4);

/** Whether the packet's checksum field holds its CRC32c. False for fewer than 12 bytes. */
export function sctpChecksumOk(pkt: Uint8Array): boolean {
  if (pkt.length < SCTP_HEADER_LEN) return false;
  return Buffer.from(pkt.buffer, pkt.byteOffset, pkt.byteLength).readUInt32LE(SCTP_CHECKSUM_OFFSET) === sctpChecksum(pkt);
}

/** Writes the CRC32c into the packet's checksum field (in place) and returns it. */
export function setSctpChecksum(pkt: Buffer): number {
  const c = sctpChecksum(pkt);
  pkt.writeUInt32LE(c, SCTP_CHECKSUM_OFFSET);
  return c;
}

/** Ports and tag of the common header, without decoding or checking anything else. */
export function peekSctpHeader(pkt: Buffer): SctpCommonHeader | undefined {
  if (pkt.length < SCTP_HEADER_LEN) return undefined;
  return { srcPort: pkt.readUInt16BE(0), dstPort: pkt.readUInt16BE(2), verificationTag: pkt.readUInt32BE(4) };
}

// ---------------------------------------------------------------------------
// Encoding

class Writer {
  private readonly parts: Buffer[] = [];
  length = 0;

  bytes(b: Uint8Array): void {
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    this.parts.push(buf);
    this.length += buf.length;
  }

  u8(v: number, what: string): void {
    const b = Buffer.alloc(1);
    b.writeUInt8(checkUint(v, 0xff, what));
    this.bytes(b);
  }

  u16(v: number, what: string): void {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(checkUint(v, 0xffff, what));
    this.bytes(b);
  }

  u32(v: number, what: string): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(checkUint(v, 0xffffffff, what));
    this.bytes(b);
  }

  pad(): void {
    const n = pad4(this.length) - this.length;
    if (n > 0) this.bytes(Buffer.alloc(n));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

function checkUint(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`SCTP ${what} must be an integer in 0..${max}, got ${v}`);
  return v;
}

/** A TLV (parameter or error cause) with its own padding. */
function tlv(type: number, value: Uint8Array, what: string): Buffer {
  const w = new Writer();
  w.u16(type, `${what} type`);
  w.u16(4 + value.length, `${what} length`);
  w.bytes(value);
  w.pad();
  return w.toBuffer();
}

function addressBytes(address: string, kind: 'ipv4' | 'ipv6'): Buffer {
  const name = kind === 'ipv4' ? 'IPv4' : 'IPv6';
  const parsed = kind === 'ipv4' ? ipaddr.IPv4.isValidFourPartDecimal(address) && ipaddr.IPv4.parse(address) : ipaddr.IPv6.isValid(address) && ipaddr.IPv6.parse(address);
  if (!parsed) throw new RangeError(`SCTP ${name} Address parameter: "${address}" is not an ${name} address`);
  return Buffer.from(parsed.toByteArray());
}

function encodeParam(p: SctpParam): Buffer {
  switch (p.type) {
    case 'IPV4_ADDRESS':
      return tlv(SctpParamType.IPV4_ADDRESS, addressBytes(p.address, 'ipv4'), 'parameter');
    case 'IPV6_ADDRESS':
      return tlv(SctpParamType.IPV6_ADDRESS, addressBytes(p.address, 'ipv6'), 'parameter');
    case 'STATE_COOKIE':
      return tlv(SctpParamType.STATE_COOKIE, p.cookie, 'parameter');
    case 'SUPPORTED_ADDRESS_TYPES': {
      const w = new Writer();
      for (const t of p.addressTypes) w.u16(t, 'address type');
      return tlv(SctpParamType.SUPPORTED_ADDRESS_TYPES, w.toBuffer(), 'parameter');
    }
    case 'UNKNOWN':
      return tlv(p.paramType, p.value, 'parameter');
  }
}

/** Parameters one after the other; the last one's padding is left to the chunk (§3.2). */
function encodeParams(params: SctpParam[]): Buffer {
  const bufs = params.map(encodeParam);
  const last = params[params.length - 1];
  if (last !== undefined) {
    const i = bufs.length - 1;
    bufs[i] = bufs[i]!.subarray(0, bufs[i]!.readUInt16BE(2));
  }
  return Buffer.concat(bufs);
}

function encodeCauses(causes: SctpErrorCause[]): Buffer {
  return Buffer.concat(causes.map((c) => tlv(c.code, c.info, 'error cause')));
}

function chunkValue(c: SctpChunk): { type: number; flags: number; value: Buffer } {
  const w = new Writer();
  switch (c.type) {
    case 'DATA':
      w.u32(c.tsn, 'DATA TSN');
      w.u16(c.streamId, 'DATA stream identifier');
      w.u16(c.streamSeq, 'DATA stream sequence number');
      w.u32(c.ppid, 'DATA payload protocol identifier');
      w.bytes(c.data);
      return { type: SctpChunkType.DATA, flags: checkUint(c.flags, 0xff, 'DATA flags'), value: w.toBuffer() };
    case 'INIT':
    case 'INIT_ACK':
      w.u32(c.initiateTag, `${c.type} initiate tag`);
      w.u32(c.arwnd, `${c.type} a_rwnd`);
      w.u16(c.outboundStreams, `${c.type} outbound streams`);
      w.u16(c.inboundStreams, `${c.type} inbound streams`);
      w.u32(c.initialTsn, `${c.type} initial TSN`);
      w.bytes(encodeParams(c.params));
      return { type: SctpChunkType[c.type], flags: 0, value: w.toBuffer() };
    case 'SACK':
      w.u32(c.cumulativeTsnAck, 'SACK cumulative TSN ack');
      w.u32(c.arwnd, 'SACK a_rwnd');
      w.u16(c.gapBlocks.length, 'SACK gap block count');
      w.u16(c.duplicateTsns.length, 'SACK duplicate TSN count');
      for (const g of c.gapBlocks) {
        w.u16(g.start, 'SACK gap block start');
        w.u16(g.end, 'SACK gap block end');
      }
      for (const d of c.duplicateTsns) w.u32(d, 'SACK duplicate TSN');
      return { type: SctpChunkType.SACK, flags: 0, value: w.toBuffer() };
    case 'HEARTBEAT':
    case 'HEARTBEAT_ACK':
      return { type: SctpChunkType[c.type], flags: 0, value: tlv(SctpParamType.HEARTBEAT_INFO, c.info, 'heartbeat info').subarray(0, 4 + c.info.length) };
    case 'ABORT':
      return { type: SctpChunkType.ABORT, flags: c.tBit ? 1 : 0, value: encodeCauses(c.causes) };
    case 'SHUTDOWN':
      w.u32(c.cumulativeTsnAck, 'SHUTDOWN cumulative TSN ack');
      return { type: SctpChunkType.SHUTDOWN, flags: 0, value: w.toBuffer() };
    case 'ERROR':
      return { type: SctpChunkType.ERROR, flags: 0, value: encodeCauses(c.causes) };
    case 'COOKIE_ECHO':
      return { type: SctpChunkType.COOKIE_ECHO, flags: 0, value: Buffer.from(c.cookie) };
    case 'SHUTDOWN_COMPLETE':
      return { type: SctpChunkType.SHUTDOWN_COMPLETE, flags: c.tBit ? 1 : 0, value: Buffer.alloc(0) };
    case 'SHUTDOWN_ACK':
    case 'COOKIE_ACK':
      return { type: SctpChunkType[c.type], flags: 0, value: Buffer.alloc(0) };
    case 'UNKNOWN':
      return { type: checkUint(c.chunkType, 0xff, 'chunk type'), flags: checkUint(c.flags, 0xff, 'chunk flags'), value: Buffer.from(c.value) };
  }
}

/** The packet's bytes with the checksum filled in. */
export function encodeSctpPacket(pkt: SctpPacket): Buffer {
  const w = new Writer();
  w.u16(pkt.srcPort, 'source port');
  w.u16(pkt.dstPort, 'destination port');
  w.u32(pkt.verificationTag, 'verification tag');
  w.u32(0, 'checksum');
  for (const c of pkt.chunks) {
    const { type, flags, value } = chunkValue(c);
    w.u8(type, 'chunk type');
    w.u8(flags, 'chunk flags');
    w.u16(4 + value.length, `${c.type} chunk length`);
    w.bytes(value);
    w.pad();
  }
  const out = w.toBuffer();
  setSctpChecksum(out);
  return out;
}

// ---------------------------------------------------------------------------
// Decoding

class DecodeError extends Error {
  constructor(
    readonly reason: SctpDecodeError,
    detail: string,
  ) {
    super(detail);
  }
}

function fail(reason: SctpDecodeError, detail: string): never {
  throw new DecodeError(reason, detail);
}

/** TLVs (parameters or causes) in value; the last one may lack its padding. */
function decodeTlvs(value: Buffer, what: string): Array<{ type: number; body: Buffer }> {
  const out: Array<{ type: number; body: Buffer }> = [];
  let off = 0;
  while (off < value.length) {
    if (value.length - off < 4) fail('chunk-value', `${what}: ${value.length - off} stray bytes`);
    const type = value.readUInt16BE(off);
    const len = value.readUInt16BE(off + 2);
    if (len < 4 || off + len > value.length) fail('chunk-value', `${what} type ${type}: length ${len} does not fit`);
    out.push({ type, body: value.subarray(off + 4, off + len) });
    off += pad4(len);
  }
  return out;
}

function decodeParams(value: Buffer, chunk: string): SctpParam[] {
  return decodeTlvs(value, `${chunk} parameter`).map(({ type, body }): SctpParam => {
    switch (type) {
      case SctpParamType.IPV4_ADDRESS:
        if (body.length !== 4) fail('chunk-value', `${chunk} IPv4 address parameter of ${body.length} bytes`);
        return { type: 'IPV4_ADDRESS', address: ipaddr.fromByteArray([...body]).toString() };
      case SctpParamType.IPV6_ADDRESS:
        if (body.length !== 16) fail('chunk-value', `${chunk} IPv6 address parameter of ${body.length} bytes`);
        return { type: 'IPV6_ADDRESS', address: ipaddr.fromByteArray([...body]).toString() };
      case SctpParamType.STATE_COOKIE:
        return { type: 'STATE_COOKIE', cookie: Buffer.from(body) };
      case SctpParamType.SUPPORTED_ADDRESS_TYPES: {
        if (body.length % 2 !== 0) fail('chunk-value', `${chunk} supported address types of ${body.length} bytes`);
        const addressTypes: number[] = [];
        for (let i = 0; i < body.length; i += 2) addressTypes.push(body.readUInt16BE(i));
        return { type: 'SUPPORTED_ADDRESS_TYPES', addressTypes };
      }
      default:
        return { type: 'UNKNOWN', paramType: type, value: Buffer.from(body) };
    }
  });
}

function decodeCauses(value: Buffer, chunk: string): SctpErrorCause[] {
  return decodeTlvs(value, `${chunk} error cause`).map(({ type, body }) => ({ code: type, info: Buffer.from(body) }));
}

function needLength(value: Buffer, min: number, chunk: string): void {
  if (value.length < min) fail('chunk-value', `${chunk} chunk with ${value.length} value bytes, needs ${min}`);
}

function decodeChunk(type: number, flags: number, value: Buffer): SctpChunk {
  const name = CHUNK_NAMES.get(type);
  switch (name) {
    case 'DATA':
      needLength(value, 12, name);
      return {
        type: name,
        flags,
        tsn: value.readUInt32BE(0),
        streamId: value.readUInt16BE(4),
        streamSeq: value.readUInt16BE(6),
        ppid: value.readUInt32BE(8),
        data: Buffer.from(value.subarray(12)),
      };
    case 'INIT':
    case 'INIT_ACK':
      needLength(value, 16, name);
      return {
        type: name,
        initiateTag: value.readUInt32BE(0),
        arwnd: value.readUInt32BE(4),
        outboundStreams: value.readUInt16BE(8),
        inboundStreams: value.readUInt16BE(10),
        initialTsn: value.readUInt32BE(12),
        params: decodeParams(value.subarray(16), name),
      };
    case 'SACK': {
      needLength(value, 12, name);
      const gaps = value.readUInt16BE(8);
      const dups = value.readUInt16BE(10);
      if (value.length !== 12 + 4 * gaps + 4 * dups) fail('chunk-value', `SACK with ${gaps} gap blocks and ${dups} duplicates in ${value.length} bytes`);
      const gapBlocks: Array<{ start: number; end: number }> = [];
      for (let i = 0; i < gaps; i++) gapBlocks.push({ start: value.readUInt16BE(12 + 4 * i), end: value.readUInt16BE(14 + 4 * i) });
      const duplicateTsns: number[] = [];
      for (let i = 0; i < dups; i++) duplicateTsns.push(value.readUInt32BE(12 + 4 * gaps + 4 * i));
      return { type: name, cumulativeTsnAck: value.readUInt32BE(0), arwnd: value.readUInt32BE(4), gapBlocks, duplicateTsns };
    }
    case 'HEARTBEAT':
    case 'HEARTBEAT_ACK': {
      const tlvs = decodeTlvs(value, `${name} parameter`);
      const info = tlvs[0];
      if (tlvs.length !== 1 || info === undefined || info.type !== SctpParamType.HEARTBEAT_INFO) {
        fail('chunk-value', `${name} without exactly one Heartbeat Info parameter`);
      }
      return { type: name, info: Buffer.from(info.body) };
    }
    case 'ABORT':
      return { type: name, tBit: (flags & 1) !== 0, causes: decodeCauses(value, name) };
    case 'SHUTDOWN':
      needLength(value, 4, name);
      return { type: name, cumulativeTsnAck: value.readUInt32BE(0) };
    case 'ERROR':
      return { type: name, causes: decodeCauses(value, name) };
    case 'COOKIE_ECHO':
      return { type: name, cookie: Buffer.from(value) };
    case 'SHUTDOWN_COMPLETE':
      return { type: name, tBit: (flags & 1) !== 0 };
    case 'SHUTDOWN_ACK':
    case 'COOKIE_ACK':
      return { type: name };
    default:
      return { type: 'UNKNOWN', chunkType: type, flags, value: Buffer.from(value) };
  }
}

/** Decodes a whole SCTP packet (what follows the IP header). Never throws. */
export function decodeSctpPacket(buf: Buffer, opts: SctpDecodeOptions = {}): SctpDecodeResult {
  const header = peekSctpHeader(buf);
  if (header === undefined) return { ok: false, reason: 'short', detail: `${buf.length} bytes, the common header needs ${SCTP_HEADER_LEN}` };
  if ((opts.verifyChecksum ?? true) && !sctpChecksumOk(buf)) {
    return {
      ok: false,
      reason: 'checksum',
      detail: `checksum 0x${buf.readUInt32LE(SCTP_CHECKSUM_OFFSET).toString(16)}, CRC32c is 0x${sctpChecksum(buf).toString(16)}`,
      header,
    };
  }
  try {
    const chunks: SctpChunk[] = [];
    let off = SCTP_HEADER_LEN;
    while (off < buf.length) {
      if (buf.length - off < 4) fail('chunk-length', `${buf.length - off} stray bytes after the chunks`);
      const type = buf.readUInt8(off);
      const flags = buf.readUInt8(off + 1);
      const len = buf.readUInt16BE(off + 2);
      if (len < 4 || off + len > buf.length) fail('chunk-length', `chunk type ${type} at ${off}: length ${len} does not fit ${buf.length} bytes`);
      chunks.push(decodeChunk(type, flags, buf.subarray(off + 4, off + len)));
      off += pad4(len);
    }
    return { ok: true, packet: { ...header, chunks } };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, reason: err.reason, detail: err.message, header };
    // A bug here, not hostile input: the property test looks for this prefix.
    return { ok: false, reason: 'chunk-value', detail: `internal: ${String(err)}`, header };
  }
}

// ---------------------------------------------------------------------------
// Small helpers for the probe and the peers

/** The first parameter of a type in an INIT or INIT ACK. */
export function findSctpParam<T extends SctpParam['type']>(params: SctpParam[], type: T): Extract<SctpParam, { type: T }> | undefined {
  return params.find((p): p is Extract<SctpParam, { type: T }> => p.type === type);
}

/** The addresses an INIT or INIT ACK lists (§5.1.2: in addition to the packet's source). */
export function sctpListedAddresses(params: SctpParam[]): string[] {
  return params.flatMap((p) => (p.type === 'IPV4_ADDRESS' || p.type === 'IPV6_ADDRESS' ? [p.address] : []));
}

/** Address parameters for a list of addresses. Throws a RangeError on an invalid one. */
export function sctpAddressParams(addresses: string[]): SctpParam[] {
  return addresses.map((a) => {
    // An IPv4-mapped address is the IPv4 one: listed as an IPv4 Address parameter.
    const ip = parseIp(a);
    if (!ip) throw new RangeError(`"${a}" is not an IP address`);
    return { type: ip.kind() === 'ipv4' ? 'IPV4_ADDRESS' : 'IPV6_ADDRESS', address: ip.toString() };
  });
}

/** TSN comparison modulo 2^32 (serial number arithmetic, RFC 1982): a after b. */
export function tsnAfter(a: number, b: number): boolean {
  const d = (a - b) >>> 0;
  return d !== 0 && d < 0x80000000;
}
