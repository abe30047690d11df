// Wire codec for the BFD Control packet (RFC 5880 §4): the 24-byte mandatory
// section, the optional authentication section (§4.2-4.4), the reception
// checks of §6.8.6 that need no session state, and the password/digest half of
// authentication (§6.7). What does need session state (discriminator demux,
// whether auth is in use, sequence-number windows) is BfdSession's.
import { createHash, timingSafeEqual } from 'node:crypto';

export const BFD_VERSION = 1;
/** Length of the mandatory section; an unauthenticated packet is exactly this long. */
export const BFD_HEADER_LEN = 24;

export const BfdState = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
export type BfdState = (typeof BfdState)[keyof typeof BfdState];

/**
 * Diagnostic codes of RFC 5880 §4.1. A peer may send an unassigned code
 * (9..31); decode passes it through unchanged, so a switch over a received
 * diag needs a default branch.
 */
export const BfdDiag = {
  NoDiagnostic: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledSessionDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const;
export type BfdDiag = (typeof BfdDiag)[keyof typeof BfdDiag];

export const BfdAuthType = {
  SimplePassword: 1,
  KeyedMd5: 2,
  MeticulousKeyedMd5: 3,
  KeyedSha1: 4,
  MeticulousKeyedSha1: 5,
} as const;
export type BfdAuthType = (typeof BfdAuthType)[keyof typeof BfdAuthType];

const STATE_NAMES = invert(BfdState);
const DIAG_NAMES = invert(BfdDiag);
const AUTH_TYPE_NAMES = invert(BfdAuthType);

function invert(o: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(o).map(([k, v]) => [v, k]));
}

export function bfdStateName(state: number): string {
  return STATE_NAMES.get(state) ?? `Unknown(${state})`;
}

export function bfdDiagName(diag: number): string {
  return DIAG_NAMES.get(diag) ?? `Unassigned(${diag})`;
}

export function bfdAuthTypeName(type: number): string {
  return AUTH_TYPE_NAMES.get(type) ?? `Unassigned(${type})`;
}

/**
 * The authentication section as carried on the wire. For Simple Password
 * (type 1) `digest` carries the password and `sequence` is 0, since that
 * format has neither a sequence number nor a digest.
 */
export interface BfdAuthSection {
  type: BfdAuthType;
  keyId: number;
  sequence: number;
  digest: Buffer;
}

export interface BfdControlPacket {
  version: number;
  diag: BfdDiag;
  state: BfdState;
  poll: boolean;
  final: boolean;
  controlPlaneIndependent: boolean;
  /** Decode sets it from the A bit; encode ignores it and sets A exactly when it writes an auth section. */
  authPresent: boolean;
  demand: boolean;
  multipoint: boolean;
  detectMult: number;
  myDiscriminator: number;
  yourDiscriminator: number;
  desiredMinTxUs: number;
  requiredMinRxUs: number;
  requiredMinEchoRxUs: number;
  auth?: BfdAuthSection;
}

/** A configured key: the secret for types 2-5, the password for type 1. */
export interface BfdAuthKey {
  type: BfdAuthType;
  keyId: number;
  key: Buffer;
}

/** Why decodeBfdPacket refuses a datagram: the stateless checks of RFC 5880 §6.8.6 and §6.7. */
export const BFD_DECODE_DROP_REASONS = [
  /** Fewer than 4 bytes: not even the Length field is there. */
  'truncated',
  'bad-version',
  /** Length below 24, or below 26 with the A bit set. */
  'length-too-short',
  'length-exceeds-payload',
  /** Length is not 24 without auth, or not 24 + Auth Len with it. */
  'length-mismatch',
  'zero-detect-mult',
  'multipoint',
  'zero-my-discriminator',
  /** Your Discriminator 0 while the sender claims Init or Up. */
  'zero-your-discriminator',
  /** Auth Type 0 (reserved) or one we do not know. */
  'auth-type-unsupported',
  /** Auth Len is not what the Auth Type requires. */
  'auth-len-invalid',
] as const;
export type BfdDecodeDropReason = (typeof BFD_DECODE_DROP_REASONS)[number];

/** Why checkBfdAuth rejects a decoded packet under a configured key. */
export const BFD_AUTH_DROP_REASONS = [
  'auth-missing',
  'auth-type-mismatch',
  'auth-key-id-mismatch',
  'auth-digest-mismatch',
] as const;
export type BfdAuthDropReason = (typeof BFD_AUTH_DROP_REASONS)[number];

export type BfdDropReason = BfdDecodeDropReason | BfdAuthDropReason;

export type BfdDecodeResult = { ok: true; packet: BfdControlPacket } | { ok: false; reason: BfdDecodeDropReason };

const MAX_PASSWORD_LEN = 16;

function isDigestType(type: number): boolean {
  return type >= BfdAuthType.KeyedMd5 && type <= BfdAuthType.MeticulousKeyedSha1;
}

export function isMeticulous(type: BfdAuthType): boolean {
  return type === BfdAuthType.MeticulousKeyedMd5 || type === BfdAuthType.MeticulousKeyedSha1;
}

/** Bytes of digest (and of the zero-padded key it is computed with) for a digest auth type. */
export function bfdDigestLength(type: BfdAuthType): number {
  return type === BfdAuthType.KeyedSha1 || type === BfdAuthType.MeticulousKeyedSha1 ? 20 : 16;
}

function hashName(type: BfdAuthType): 'md5' | 'sha1' {
  return bfdDigestLength(type) === 20 ? 'sha1' : 'md5';
}

/** Auth Len for a section of this type whose variable part (password or digest) is dataLen bytes. */
function authSectionLength(type: BfdAuthType, dataLen: number): number {
  return type === BfdAuthType.SimplePassword ? 3 + dataLen : 8 + dataLen;
}

/** Largest key a type accepts (the digest field length, or 16 for a password). */
export function bfdMaxKeyLength(type: BfdAuthType): number {
  return type === BfdAuthType.SimplePassword ? MAX_PASSWORD_LEN : bfdDigestLength(type);
}

function paddedKey(key: Buffer, len: number): Buffer {
  if (key.length > len) throw new RangeError(`bfd auth key is ${key.length} bytes, at most ${len} allowed`);
  const out = Buffer.alloc(len);
  key.copy(out);
  return out;
}

function digestOf(type: BfdAuthType, bytes: Buffer): Buffer {
  return createHash(hashName(type)).update(bytes).digest();
}

/**
 * Serialises a packet. With `sign`, writes an auth section for that key and
 * sequence (for digest types: the digest over the packet with the zero-padded
 * key in the digest field, RFC 5880 §6.7.3-6.7.4); without it, writes
 * `pkt.auth` verbatim if present. Field values are trusted: out-of-range
 * numbers throw RangeError, as Buffer writes do.
 */
export function encodeBfdPacket(pkt: BfdControlPacket, sign?: BfdAuthKey & { sequence: number }): Buffer {
  let section = pkt.auth;
  if (sign) {
    const data =
      sign.type === BfdAuthType.SimplePassword ? Buffer.from(sign.key) : paddedKey(sign.key, bfdDigestLength(sign.type));
    section = { type: sign.type, keyId: sign.keyId, sequence: sign.sequence, digest: data };
  }
  const authLen = section ? authSectionLength(section.type, section.digest.length) : 0;
  const buf = Buffer.alloc(BFD_HEADER_LEN + authLen);
  buf[0] = ((pkt.version & 0x07) << 5) | (pkt.diag & 0x1f);
  buf[1] =
    ((pkt.state & 0x03) << 6) |
    (pkt.poll ? 0x20 : 0) |
    (pkt.final ? 0x10 : 0) |
    (pkt.controlPlaneIndependent ? 0x08 : 0) |
    (section ? 0x04 : 0) |
    (pkt.demand ? 0x02 : 0) |
    (pkt.multipoint ? 0x01 : 0);
  buf.writeUInt8(pkt.detectMult, 2);
  buf.writeUInt8(buf.length, 3);
  buf.writeUInt32BE(pkt.myDiscriminator, 4);
  buf.writeUInt32BE(pkt.yourDiscriminator, 8);
  buf.writeUInt32BE(pkt.desiredMinTxUs, 12);
  buf.writeUInt32BE(pkt.requiredMinRxUs, 16);
  buf.writeUInt32BE(pkt.requiredMinEchoRxUs, 20);
  if (section) {
    buf.writeUInt8(section.type, 24);
    buf.writeUInt8(authLen, 25);
    buf.writeUInt8(section.keyId, 26);
    if (section.type === BfdAuthType.SimplePassword) {
      section.digest.copy(buf, 27);
    } else {
      // buf[27] is the reserved byte: zero on transmit.
      buf.writeUInt32BE(section.sequence, 28);
      section.digest.copy(buf, 32);
      if (sign) digestOf(section.type, buf).copy(buf, 32);
    }
  }
  return buf;
}

/**
 * Parses a datagram's payload. Never throws: anything that fails a stateless
 * check of RFC 5880 §6.8.6 (or an Auth Len rule of §6.7) comes back as a
 * drop reason. Bytes after Length are ignored, as the UDP payload may be
 * longer than the packet.
 */
export function decodeBfdPacket(buf: Buffer): BfdDecodeResult {
  const drop = (reason: BfdDecodeDropReason): BfdDecodeResult => ({ ok: false, reason });
  if (buf.length < 1) return drop('truncated');
  const b0 = buf[0]!;
  if (b0 >> 5 !== BFD_VERSION) return drop('bad-version');
  if (buf.length < 4) return drop('truncated');
  const b1 = buf[1]!;
  const authPresent = (b1 & 0x04) !== 0;
  const length = buf[3]!;
  if (length < (authPresent ? BFD_HEADER_LEN + 2 : BFD_HEADER_LEN)) return drop('length-too-short');
  if (length > buf.length) return drop('length-exceeds-payload');
  const detectMult = buf[2]!;
  if (detectMult === 0) return drop('zero-detect-mult');
  if ((b1 & 0x01) !== 0) return drop('multipoint');
  const state = (b1 >> 6) as BfdState;
  const myDiscriminator = buf.readUInt32BE(4);
  const yourDiscriminator = buf.readUInt32BE(8);
  if (myDiscriminator === 0) return drop('zero-my-discriminator');
  if (yourDiscriminator === 0 && state !== BfdState.Down && state !== BfdState.AdminDown) {
    return drop('zero-your-discriminator');
  }

  let auth: BfdAuthSection | undefined;
  if (authPresent) {
    const type = buf[24]!;
    const authLen = buf[25]!;
    if (type === BfdAuthType.SimplePassword) {
      if (authLen < 4 || authLen > 3 + MAX_PASSWORD_LEN) return drop('auth-len-invalid');
    } else if (isDigestType(type)) {
      if (authLen !== authSectionLength(type as BfdAuthType, bfdDigestLength(type as BfdAuthType))) {
        return drop('auth-len-invalid');
      }
    } else {
      return drop('auth-type-unsupported');
    }
    if (length !== BFD_HEADER_LEN + authLen) return drop('length-mismatch');
    const keyId = buf[26]!;
    auth =
      type === BfdAuthType.SimplePassword
        ? { type, keyId, sequence: 0, digest: Buffer.from(buf.subarray(27, length)) }
        : { type: type as BfdAuthType, keyId, sequence: buf.readUInt32BE(28), digest: Buffer.from(buf.subarray(32, length)) };
  } else if (length !== BFD_HEADER_LEN) {
    // Without auth nothing may follow the mandatory section; guessing what a
    // longer Length means would let two peers disagree about the packet.
    return drop('length-mismatch');
  }

  const packet: BfdControlPacket = {
    version: BFD_VERSION,
    diag: (b0 & 0x1f) as BfdDiag,
    state,
    poll: (b1 & 0x20) !== 0,
    final: (b1 & 0x10) !== 0,
    controlPlaneIndependent: (b1 & 0x08) !== 0,
    authPresent,
    demand: (b1 & 0x02) !== 0,
    multipoint: false,
    detectMult,
    myDiscriminator,
    yourDiscriminator,
    desiredMinTxUs: buf.readUInt32BE(12),
    requiredMinRxUs: buf.readUInt32BE(16),
    requiredMinEchoRxUs: buf.readUInt32BE(20),
  };
  if (auth) packet.auth = auth;
  return { ok: true, packet };
}

/**
 * Checks a decoded packet's auth section against a configured key: type, key
 * ID, then the password or digest (RFC 5880 §6.7.2-6.7.4). `raw` must be the
 * bytes the packet was decoded from, since the digest covers them as sent
 * (reserved byte included). Sequence numbers are the session's business (see
 * bfdAuthSequenceAcceptable). Returns undefined when the packet passes.
 */
export function checkBfdAuth(raw: Buffer, pkt: BfdControlPacket, key: BfdAuthKey): BfdAuthDropReason | undefined {
  const a = pkt.auth;
  if (!a) return 'auth-missing';
  if (a.type !== key.type) return 'auth-type-mismatch';
  if (a.keyId !== key.keyId) return 'auth-key-id-mismatch';
  if (a.type === BfdAuthType.SimplePassword) {
    return a.digest.length === key.key.length && timingSafeEqual(a.digest, key.key) ? undefined : 'auth-digest-mismatch';
  }
  const digestLen = bfdDigestLength(a.type);
  const length = raw[3] ?? 0;
  if (key.key.length > digestLen || a.digest.length !== digestLen || raw.length < length) return 'auth-digest-mismatch';
  const copy = Buffer.from(raw.subarray(0, length));
  paddedKey(key.key, digestLen).copy(copy, 32);
  return timingSafeEqual(digestOf(a.type, copy), a.digest) ? undefined : 'auth-digest-mismatch';
}

/**
 * The replay window of RFC 5880 §6.7.3-6.7.4, in circular 32-bit space: Keyed
 * types accept lastSeq .. lastSeq + 3*detectMult, Meticulous ones lastSeq + 1 ..
 * lastSeq + 3*detectMult, where detectMult is the one in the received packet.
 */
export function bfdAuthSequenceAcceptable(type: BfdAuthType, seq: number, lastSeq: number, detectMult: number): boolean {
  const ahead = (seq - lastSeq) >>> 0;
  return ahead >= (isMeticulous(type) ? 1 : 0) && ahead <= 3 * detectMult;
}
