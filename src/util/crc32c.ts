// CRC32c (Castagnoli; RFC 3309, RFC 4960 appendix B), the SCTP checksum:
// reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF.
// SCTP computes it over the common header and the chunks with the checksum
// field zeroed and stores it little-endian.
//
// Besides the full computation (slicing-by-8), this owns the incremental
// update a NAT needs after rewriting a few bytes (a port): CRC is linear over
// GF(2), so for two messages of equal length
//   crc(m') = crc(m) xor raw0(m xor m'),
// where raw0 is the CRC with zero init and no final xor. m xor m' is zero
// except the rewritten bytes, and leading zero bytes do not move a zero-init
// register, so raw0(m xor m') is raw0(delta bytes) carried through the n
// bytes after them: a multiplication by x^(8n) modulo the polynomial. With
// the powers x^(8·2^i) precomputed that costs O(log n), not O(n).
// native/bpf/crc32c.h is the same algorithm for the eBPF datapath.
//
// Polynomials are in the reflected representation throughout: bit 31 is the
// coefficient of x^0, bit 0 that of x^31.

export const CRC32C_POLY = 0x82f63b78;
/** The polynomial 1 (x^0) in the reflected representation: the identity of crc32cMultiply. */
const X0 = 0x80000000;

/** Slicing-by-8 tables: TABLE[k*256 + b] is the raw CRC of byte b followed by k zero bytes. */
const TABLE = new Uint32Array(8 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CRC32C_POLY : c >>> 1;
  TABLE[b] = c >>> 0;
}
for (let b = 0; b < 256; b++) {
  for (let k = 1; k < 8; k++) {
    const prev = TABLE[(k - 1) * 256 + b]!;
    TABLE[k * 256 + b] = ((prev >>> 8) ^ TABLE[prev & 0xff]!) >>> 0;
  }
}

/**
 * Continues a raw CRC register over bytes [start, end) of buf (no init, no
 * final xor): crc32c(buf) is ~crc32cRaw(0xFFFFFFFF, buf).
 */
export function crc32cRaw(register: number, buf: Uint8Array, start = 0, end = buf.length): number {
  if (start < 0 || end > buf.length || start > end) throw new RangeError(`crc32c: range ${start}..${end} is outside the ${buf.length}-byte buffer`);
  let c = register >>> 0;
  let i = start;
  const t = TABLE;
  for (; i + 8 <= end; i += 8) {
    const lo = (c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^
      t[512 + ((hi >>> 8) & 0xff)]! ^
      t[256 + ((hi >>> 16) & 0xff)]! ^
      t[(hi >>> 24) & 0xff]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** CRC32c of bytes [start, end) of buf. crc32c(Buffer.from('123456789')) === 0xe3069283. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return ~crc32cRaw(0xffffffff, buf, start, end) >>> 0;
}

/** a·b modulo the polynomial (both reflected). Multiplying by x^k carries a raw CRC through k zero bits. */
export function crc32cMultiply(a: number, b: number): number {
  let p = 0;
  for (let m = X0; m !== 0; m >>>= 1) {
    if (a & m) p ^= b;
    b = b & 1 ? (b >>> 1) ^ CRC32C_POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod P, enough for byte counts below 2^53. */
const X2N: number[] = [X0 >>> 1];
for (let k = 1; k < 64; k++) X2N.push(crc32cMultiply(X2N[k - 1]!, X2N[k - 1]!));

/** x^(8n) mod P: what a raw CRC register is multiplied by to carry it through n zero bytes. */
export function crc32cZerosOperator(nBytes: number): number {
  if (!Number.isSafeInteger(nBytes) || nBytes < 0) throw new RangeError(`crc32c: byte count ${nBytes} is not a non-negative integer`);
  let p = X0;
  // Bit i of n contributes x^(8·2^i) = x^(2^(i+3)).
  for (let k = 3; nBytes > 0; k++, nBytes = Math.floor(nBytes / 2)) {
    if (nBytes % 2 === 1) p = crc32cMultiply(p, X2N[k]!);
  }
  return p;
}

/** The raw register after `nBytes` zero bytes, in O(log n): crc32cRaw(r, zeros(n)) without the zeros. */
export function crc32cShift(register: number, nBytes: number): number {
  return crc32cMultiply(register >>> 0, crc32cZerosOperator(nBytes));
}

/**
 * The CRC32c of a message of totalLength bytes whose CRC was oldCrc, after
 * the bytes at [offset, offset + oldBytes.length) changed from oldBytes to
 * newBytes. Costs O(changed bytes + log(totalLength)), never a pass over the
 * message. For SCTP, totalLength is the length of the SCTP packet (common
 * header and chunks) and offsets count from its first byte; the checksum
 * field itself must not be among the changed bytes.
 */
export function crc32cAdjust(oldCrc: number, offset: number, oldBytes: Uint8Array, newBytes: Uint8Array, totalLength: number): number {
  if (oldBytes.length !== newBytes.length) {
    throw new RangeError(`crc32cAdjust: old and new bytes differ in length (${oldBytes.length}, ${newBytes.length})`);
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(totalLength) || offset + oldBytes.length > totalLength) {
    throw new RangeError(`crc32cAdjust: ${oldBytes.length} bytes at offset ${offset} do not fit a ${totalLength}-byte message`);
  }
  let delta = 0;
  for (let i = 0; i < oldBytes.length; i++) delta = TABLE[(delta ^ oldBytes[i]! ^ newBytes[i]!) & 0xff]! ^ (delta >>> 8);
  return (oldCrc ^ crc32cShift(delta, totalLength - offset - oldBytes.length)) >>> 0;
}

/**
 * crc32cAdjust for a field of `width` (1-4) bytes whose old and new values
 * are given as big-endian numbers (a port: width 2; both SCTP ports at
 * offset 0: width 4, value sport << 16 | dport). The shape of the C
 * header's crc32c_adjust().
 */
export function crc32cAdjustField(oldCrc: number, offset: number, oldValue: number, newValue: number, width: number, totalLength: number): number {
  if (!Number.isInteger(width) || width < 1 || width > 4) throw new RangeError(`crc32cAdjustField: width ${width} is not 1..4`);
  const o = Buffer.alloc(4);
  const n = Buffer.alloc(4);
  o.writeUInt32BE(oldValue >>> 0);
  n.writeUInt32BE(newValue >>> 0);
  return crc32cAdjust(oldCrc, offset, o.subarray(4 - width), n.subarray(4 - width), totalLength);
}

/**
 * NIBBLE_POWERS[j][v] = x^(8·v·16^j) mod P for j 0..3, v 0..15: the table
 * native/bpf/crc32c.h carries (shift by any n < 65536 bytes in four
 * multiplications). Exported so the C header's copy can be checked.
 */
export function crc32cNibblePowers(): number[][] {
  const rows: number[][] = [];
  for (let j = 0; j < 4; j++) {
    const row: number[] = [];
    for (let v = 0; v < 16; v++) row.push(crc32cZerosOperator(v * 16 ** j));
    rows.push(row);
  }
  return rows;
}
