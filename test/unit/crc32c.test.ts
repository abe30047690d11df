import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  crc32c,
  crc32cAdjust,
  crc32cAdjustField,
  crc32cMultiply,
  crc32cNibblePowers,
  crc32cRaw,
  crc32cShift,
  crc32cZerosOperator,
} from '../../src/util/crc32c.ts';

/** Bit-at-a-time reference, the definition the table-driven code must match. */
function crc32cBitwise(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test('crc32c: published check values', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
  // RFC 3720 appendix B.4 (iSCSI uses the same CRC32c).
  assert.equal(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
});

test('crc32c: slicing-by-8 equals the bitwise definition at every length and alignment', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(16), fc.nat(16), (bytes, a, b) => {
      const start = Math.min(a, bytes.length);
      const end = Math.max(start, bytes.length - b);
      assert.equal(crc32c(bytes, start, end), crc32cBitwise(bytes.subarray(start, end)));
    }),
    { numRuns: 500 },
  );
});

test('crc32c: a register carries across split buffers', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(200), (bytes, cut) => {
      const k = Math.min(cut, bytes.length);
      const r = crc32cRaw(crc32cRaw(0xffffffff, bytes, 0, k), bytes, k);
      assert.equal(~r >>> 0, crc32c(bytes));
    }),
  );
});

test('crc32c: a range outside the buffer is a RangeError', () => {
  assert.throws(() => crc32c(Buffer.alloc(4), 2, 5), RangeError);
  assert.throws(() => crc32c(Buffer.alloc(4), 3, 2), RangeError);
});

test('crc32cMultiply: x^0 is the identity, the product commutes and distributes over xor', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(
    fc.property(u32, u32, u32, (a, b, c) => {
      assert.equal(crc32cMultiply(a, 0x80000000), a);
      assert.equal(crc32cMultiply(a, b), crc32cMultiply(b, a));
      assert.equal(crc32cMultiply(a, (b ^ c) >>> 0), (crc32cMultiply(a, b) ^ crc32cMultiply(a, c)) >>> 0);
    }),
  );
});

test('crc32cShift equals feeding that many zero bytes', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.nat(3000), (reg, n) => {
      assert.equal(crc32cShift(reg, n), crc32cRaw(reg, Buffer.alloc(n)));
    }),
    { numRuns: 200 },
  );
  assert.equal(crc32cZerosOperator(0), 0x80000000);
  assert.throws(() => crc32cZerosOperator(-1), RangeError);
});

test('crc32cAdjust equals a full recomputation for any message and rewrite', () => {
  const rewrite = fc
    .uint8Array({ minLength: 1, maxLength: 2000 })
    .chain((msg) =>
      fc.tuple(fc.constant(msg), fc.nat(msg.length - 1)).chain(([m, off]) =>
        fc.tuple(fc.constant(m), fc.constant(off), fc.uint8Array({ minLength: 0, maxLength: Math.min(8, m.length - off) })),
      ),
    );
  fc.assert(
    fc.property(rewrite, ([msg, off, repl]) => {
      const next = Buffer.from(msg);
      next.set(repl, off);
      const adjusted = crc32cAdjust(crc32c(msg), off, msg.subarray(off, off + repl.length), repl, msg.length);
      assert.equal(adjusted, crc32c(next));
    }),
    { numRuns: 500 },
  );
});

test('crc32cAdjust: SCTP port rewrites on a packet with the checksum field zeroed', () => {
  // A 52-byte SCTP packet: common header (ports 5000 -> 9000, tag, checksum 0) and a chunk.
  const pkt = Buffer.alloc(52);
  pkt.writeUInt16BE(5000, 0);
  pkt.writeUInt16BE(9000, 2);
  pkt.writeUInt32BE(0xdeadbeef, 4);
  for (let i = 12; i < pkt.length; i++) pkt[i] = (i * 37) & 0xff;
  const before = crc32c(pkt);
  const after = Buffer.from(pkt);
  after.writeUInt16BE(41000, 2); // DNAT to the endpoint's port
  assert.equal(crc32cAdjust(before, 2, pkt.subarray(2, 4), after.subarray(2, 4), pkt.length), crc32c(after));
  assert.equal(crc32cAdjustField(before, 2, 9000, 41000, 2, pkt.length), crc32c(after));
  after.writeUInt16BE(61000, 0); // and SNAT
  assert.equal(crc32cAdjustField(before, 0, (5000 << 16) | 9000, ((61000 << 16) | 41000) >>> 0, 4, pkt.length), crc32c(after));
  // No change, no adjustment.
  assert.equal(crc32cAdjustField(before, 0, 5000, 5000, 2, pkt.length), before);
});

test('crc32cAdjust: mismatched lengths and fields past the end are RangeErrors', () => {
  assert.throws(() => crc32cAdjust(0, 0, Buffer.alloc(2), Buffer.alloc(3), 10), RangeError);
  assert.throws(() => crc32cAdjust(0, 9, Buffer.alloc(2), Buffer.alloc(2), 10), RangeError);
  assert.throws(() => crc32cAdjustField(0, 0, 1, 2, 5, 10), RangeError);
});

test('crc32cNibblePowers: entry [j][v] carries a register through v·16^j zero bytes', () => {
  const rows = crc32cNibblePowers();
  assert.equal(rows.length, 4);
  for (let j = 0; j < 4; j++) {
    assert.equal(rows[j]!.length, 16);
    assert.equal(rows[j]![0], 0x80000000);
  }
  assert.equal(crc32cMultiply(0x12345678, rows[0]![3]!), crc32cRaw(0x12345678, Buffer.alloc(3)));
  assert.equal(crc32cMultiply(0x12345678, rows[1]![2]!), crc32cRaw(0x12345678, Buffer.alloc(32)));
  assert.equal(crc32cMultiply(0x12345678, rows[2]![1]!), crc32cRaw(0x12345678, Buffer.alloc(256)));
});
