import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import {
  SCTP_DECODE_ERRORS,
  decodeSctpPacket,
  encodeSctpPacket,
  findSctpParam,
  peekSctpHeader,
  sctpAddressParams,
  sctpChecksum,
  sctpChecksumOk,
  sctpListedAddresses,
  setSctpChecksum,
  tsnAfter,
  type SctpChunk,
  type SctpPacket,
  type SctpParam,
} from '../../src/lb/sctp.ts';
import { crc32c } from '../../src/util/crc32c.ts';

// ---- generators of valid packets -------------------------------------------

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));

const param: fc.Arbitrary<SctpParam> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b): SctpParam => ({ type: 'IPV4_ADDRESS', address: ipaddr.fromByteArray([...b]).toString() })),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b): SctpParam => ({ type: 'IPV6_ADDRESS', address: ipaddr.fromByteArray([...b]).toString() })),
  bytes(40).map((cookie): SctpParam => ({ type: 'STATE_COOKIE', cookie })),
  fc.array(u16, { maxLength: 5 }).map((addressTypes): SctpParam => ({ type: 'SUPPORTED_ADDRESS_TYPES', addressTypes })),
  fc
    .record({ paramType: u16.filter((t) => ![5, 6, 7, 12].includes(t)), value: bytes(20) })
    .map((r): SctpParam => ({ type: 'UNKNOWN', ...r })),
);

const cause = fc.record({ code: u16, info: bytes(20) });

const initFields = fc.record({
  initiateTag: u32,
  arwnd: u32,
  outboundStreams: u16,
  inboundStreams: u16,
  initialTsn: u32,
  params: fc.array(param, { maxLength: 6 }),
});

const chunk: fc.Arbitrary<SctpChunk> = fc.oneof(
  fc.record({ flags: u8, tsn: u32, streamId: u16, streamSeq: u16, ppid: u32, data: bytes(50) }).map((r): SctpChunk => ({ type: 'DATA', ...r })),
  initFields.map((r): SctpChunk => ({ type: 'INIT', ...r })),
  initFields.map((r): SctpChunk => ({ type: 'INIT_ACK', ...r })),
  fc
    .record({ cumulativeTsnAck: u32, arwnd: u32, gapBlocks: fc.array(fc.record({ start: u16, end: u16 }), { maxLength: 4 }), duplicateTsns: fc.array(u32, { maxLength: 4 }) })
    .map((r): SctpChunk => ({ type: 'SACK', ...r })),
  bytes(30).map((info): SctpChunk => ({ type: 'HEARTBEAT', info })),
  bytes(30).map((info): SctpChunk => ({ type: 'HEARTBEAT_ACK', info })),
  fc.record({ tBit: fc.boolean(), causes: fc.array(cause, { maxLength: 3 }) }).map((r): SctpChunk => ({ type: 'ABORT', ...r })),
  u32.map((cumulativeTsnAck): SctpChunk => ({ type: 'SHUTDOWN', cumulativeTsnAck })),
  fc.constant<SctpChunk>({ type: 'SHUTDOWN_ACK' }),
  fc.array(cause, { maxLength: 3 }).map((causes): SctpChunk => ({ type: 'ERROR', causes })),
  bytes(60).map((cookie): SctpChunk => ({ type: 'COOKIE_ECHO', cookie })),
  fc.constant<SctpChunk>({ type: 'COOKIE_ACK' }),
  fc.boolean().map((tBit): SctpChunk => ({ type: 'SHUTDOWN_COMPLETE', tBit })),
  fc
    .record({ chunkType: u8.filter((t) => t > 14 || t === 12 || t === 13), flags: u8, value: bytes(20) })
    .map((r): SctpChunk => ({ type: 'UNKNOWN', ...r })),
);

const packet: fc.Arbitrary<SctpPacket> = fc.record({ srcPort: u16, dstPort: u16, verificationTag: u32, chunks: fc.array(chunk, { maxLength: 5 }) });

// ---- tests ---------------------------------------------------------------------

test('sctp: valid packets survive encode and decode, and re-encode to the same bytes', () => {
  fc.assert(
    fc.property(packet, (p) => {
      const wire = encodeSctpPacket(p);
      assert.equal(wire.length % 4, 0, 'chunks are padded to 4 bytes');
      const d = decodeSctpPacket(wire);
      assert.ok(d.ok, d.ok ? '' : `${d.reason}: ${d.detail}`);
      assert.deepEqual(d.packet, p);
      assert.deepEqual(encodeSctpPacket(d.packet), wire);
    }),
    { numRuns: 1000 },
  );
});

test('sctp: decoding hostile bytes never throws', () => {
  const check = (buf: Buffer, verifyChecksum: boolean) => {
    const d = decodeSctpPacket(buf, { verifyChecksum });
    if (!d.ok) {
      assert.ok(SCTP_DECODE_ERRORS.includes(d.reason));
      assert.ok(!d.detail.startsWith('internal'), d.detail);
      if (buf.length >= 12) assert.deepEqual(d.header, peekSctpHeader(buf));
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      check(Buffer.from(b), true);
      check(Buffer.from(b), false);
      // With a valid checksum the chunk parser sees the same bytes.
      if (b.length >= 12) {
        const withCrc = Buffer.from(b);
        setSctpChecksum(withCrc);
        check(withCrc, true);
      }
    }),
    { numRuns: 3000 },
  );
  // Valid packets with bytes changed and the checksum made right again:
  // lengths and counts that no longer fit must come back as errors.
  fc.assert(
    fc.property(packet, fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 4 }), fc.nat(), (p, edits, cut) => {
      let wire = encodeSctpPacket(p);
      for (const [at, v] of edits) wire[at % wire.length] = v;
      wire = wire.subarray(0, Math.max(12, wire.length - (cut % 8)));
      setSctpChecksum(wire);
      check(wire, true);
    }),
    { numRuns: 2000 },
  );
});

test('sctp: a packet whose checksum is wrong is refused, with its header', () => {
  const wire = encodeSctpPacket({ srcPort: 5000, dstPort: 9000, verificationTag: 7, chunks: [{ type: 'COOKIE_ACK' }] });
  assert.ok(sctpChecksumOk(wire));
  fc.assert(
    fc.property(fc.nat(wire.length * 8 - 1), (bit) => {
      const bad = Buffer.from(wire);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const d = decodeSctpPacket(bad);
      assert.equal(d.ok, false);
      if (!d.ok) {
        assert.equal(d.reason, 'checksum');
        assert.deepEqual(d.header, peekSctpHeader(bad));
      }
      // Without the check, a change to the ports, tag or checksum goes unnoticed.
      if (bit < 96) assert.equal(decodeSctpPacket(bad, { verifyChecksum: false }).ok, true);
    }),
  );
  assert.deepEqual(decodeSctpPacket(Buffer.alloc(11)), { ok: false, reason: 'short', detail: '11 bytes, the common header needs 12' });
});

test('sctp: the checksum is the little-endian CRC32c over the packet with the field zeroed', () => {
  const wire = encodeSctpPacket({ srcPort: 1, dstPort: 2, verificationTag: 0, chunks: [{ type: 'SHUTDOWN_ACK' }] });
  const zeroed = Buffer.from(wire);
  zeroed.writeUInt32LE(0, 8);
  assert.equal(wire.readUInt32LE(8), crc32c(zeroed));
  assert.equal(sctpChecksum(wire), crc32c(zeroed));
  assert.equal(sctpChecksumOk(Buffer.alloc(4)), false);
});

test('sctp: INIT bytes on the wire (fields, parameter padding, chunk length)', () => {
  const wire = encodeSctpPacket({
    srcPort: 0x1388,
    dstPort: 0x2328,
    verificationTag: 0,
    chunks: [
      {
        type: 'INIT',
        initiateTag: 0x01020304,
        arwnd: 0x10000,
        outboundStreams: 10,
        inboundStreams: 65535,
        initialTsn: 0xaabbccdd,
        params: [
          { type: 'IPV4_ADDRESS', address: '10.0.0.2' },
          { type: 'SUPPORTED_ADDRESS_TYPES', addressTypes: [5] },
        ],
      },
    ],
  });
  const expected = Buffer.from(
    [
      '1388 2328 00000000', // ports, tag
      'xxxxxxxx', // checksum
      '01 00 0022', // INIT, flags, length 34: 4 + 16 + 8 + 6 (the last parameter's padding not counted)
      '01020304 00010000 000a ffff aabbccdd',
      '0005 0008 0a000002', // IPv4 Address
      '000c 0006 0005 0000', // Supported Address Types, padded
    ]
      .join('')
      .replace(/\s/g, '')
      .replace('xxxxxxxx', wire.subarray(8, 12).toString('hex')),
    'hex',
  );
  assert.deepEqual(wire, expected);
  // A chunk length that does count the last parameter's padding decodes the same.
  const alt = Buffer.from(wire);
  alt.writeUInt16BE(36, 14);
  setSctpChecksum(alt);
  assert.deepEqual(decodeSctpPacket(alt), decodeSctpPacket(wire));
});

test('sctp: DATA, SACK and HEARTBEAT fields', () => {
  const wire = encodeSctpPacket({
    srcPort: 1,
    dstPort: 2,
    verificationTag: 0xdeadbeef,
    chunks: [
      { type: 'DATA', flags: 3, tsn: 100, streamId: 1, streamSeq: 2, ppid: 0, data: Buffer.from('hello') },
      { type: 'SACK', cumulativeTsnAck: 99, arwnd: 4096, gapBlocks: [{ start: 2, end: 3 }], duplicateTsns: [7] },
      { type: 'HEARTBEAT', info: Buffer.from('abc') },
    ],
  });
  // DATA: 4 + 12 + 5 = 21, padded to 24.
  assert.equal(wire.readUInt16BE(14), 21);
  assert.equal(wire.subarray(12 + 16, 12 + 21).toString(), 'hello');
  const sack = 12 + 24;
  assert.equal(wire[sack], 3);
  assert.equal(wire.readUInt16BE(sack + 2), 4 + 12 + 4 + 4);
  const hb = sack + 24;
  assert.equal(wire[hb], 4);
  assert.equal(wire.readUInt16BE(hb + 2), 4 + 4 + 3);
  assert.equal(wire.readUInt16BE(hb + 4), 1, 'Heartbeat Info parameter');
  assert.equal(wire.length, hb + 12);
});

test('sctp: malformed chunks are named', () => {
  const mk = (chunkBytes: string) => {
    const b = Buffer.concat([Buffer.alloc(12), Buffer.from(chunkBytes.replace(/\s/g, ''), 'hex')]);
    setSctpChecksum(b);
    return decodeSctpPacket(b);
  };
  assert.equal((mk('01 00 0008 00000000') as { reason: string }).reason, 'chunk-value'); // INIT too short
  assert.equal((mk('00 00 0020 00000000') as { reason: string }).reason, 'chunk-length'); // longer than the packet
  assert.equal((mk('0b 00 0002') as { reason: string }).reason, 'chunk-length'); // length below 4
  assert.equal((mk('03 00 0010 00000000 00000000 0001 0000') as { reason: string }).reason, 'chunk-value'); // SACK counts a gap it lacks
  assert.equal((mk('04 00 0008 0002 0004') as { reason: string }).reason, 'chunk-value'); // HEARTBEAT without Heartbeat Info
  assert.equal((mk('01 00 0018 00000001 00010000 0001 0001 00000001 0005 0006') as { reason: string }).reason, 'chunk-value'); // bad IPv4 param
  assert.equal(mk('0b 00 0004').ok, true);
});

test('sctp: encoding refuses values that do not fit', () => {
  assert.throws(() => encodeSctpPacket({ srcPort: 65536, dstPort: 1, verificationTag: 0, chunks: [] }), /source port/);
  assert.throws(() => encodeSctpPacket({ srcPort: 1, dstPort: 1, verificationTag: -1, chunks: [] }), /verification tag/);
  assert.throws(
    () =>
      encodeSctpPacket({
        srcPort: 1,
        dstPort: 1,
        verificationTag: 0,
        chunks: [{ type: 'INIT', initiateTag: 1, arwnd: 1, outboundStreams: 1, inboundStreams: 1, initialTsn: 1, params: [{ type: 'IPV4_ADDRESS', address: '::1' }] }],
      }),
    /IPv4 address/,
  );
});

test('sctp helpers: address parameters, listed addresses, TSN order', () => {
  const params = sctpAddressParams(['10.0.0.1', 'FD00::1']);
  assert.deepEqual(params, [
    { type: 'IPV4_ADDRESS', address: '10.0.0.1' },
    { type: 'IPV6_ADDRESS', address: 'fd00::1' },
  ]);
  assert.throws(() => sctpAddressParams(['10.0.1']), RangeError);
  assert.deepEqual(sctpListedAddresses([...params, { type: 'STATE_COOKIE', cookie: Buffer.alloc(1) }]), ['10.0.0.1', 'fd00::1']);
  assert.deepEqual(findSctpParam([{ type: 'STATE_COOKIE', cookie: Buffer.from('c') }], 'STATE_COOKIE')?.cookie, Buffer.from('c'));
  assert.equal(findSctpParam(params, 'STATE_COOKIE'), undefined);
  assert.equal(tsnAfter(1, 0), true);
  assert.equal(tsnAfter(0, 0xffffffff), true);
  assert.equal(tsnAfter(0xffffffff, 0), false);
  assert.equal(tsnAfter(5, 5), false);
});
