import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  BFD_DECODE_DROP_REASONS,
  BfdAuthType,
  BfdDiag,
  BfdState,
  bfdAuthSequenceAcceptable,
  bfdDiagName,
  bfdStateName,
  checkBfdAuth,
  decodeBfdPacket,
  encodeBfdPacket,
  type BfdAuthKey,
  type BfdControlPacket,
  type BfdDecodeDropReason,
} from '../../src/bfd/BfdPacket.ts';
import { controlPacket } from '../lab/bfdPackets.ts';

function packet(over: Partial<BfdControlPacket> = {}): BfdControlPacket {
  return controlPacket({
    state: BfdState.Up,
    myDiscriminator: 0x01020304,
    yourDiscriminator: 0x0a0b0c0d,
    desiredMinTxUs: 100_000,
    requiredMinRxUs: 100_000,
    ...over,
  });
}

function decodeOk(buf: Buffer): BfdControlPacket {
  const r = decodeBfdPacket(buf);
  assert.ok(r.ok, `expected a packet, got ${r.ok ? '' : r.reason}`);
  return r.packet;
}

function reasonOf(buf: Buffer): string | undefined {
  const r = decodeBfdPacket(buf);
  return r.ok ? undefined : r.reason;
}

test('an Up packet with Poll matches the RFC 5880 §4.1 layout byte for byte', () => {
  const bytes = Buffer.from(
    '20e00318' + '01020304' + '0a0b0c0d' + '000186a0' + '000186a0' + '00000000',
    'hex',
  );
  assert.deepEqual(encodeBfdPacket(packet({ poll: true })), bytes);
  assert.deepEqual(decodeOk(bytes), packet({ poll: true }));
});

test('AdminDown with diag 7 and the F, C and D bits set matches its hand-computed bytes', () => {
  // 0x27 = version 1 << 5 | diag 7; 0x1a = state 0 << 6 | F 0x10 | C 0x08 | D 0x02.
  const bytes = Buffer.from('271a0518' + 'ffffffff' + '00000000' + '000f4240' + '00000000' + '0000c350', 'hex');
  const pkt = packet({
    diag: BfdDiag.AdministrativelyDown,
    state: BfdState.AdminDown,
    final: true,
    controlPlaneIndependent: true,
    demand: true,
    detectMult: 5,
    myDiscriminator: 0xffffffff,
    yourDiscriminator: 0,
    desiredMinTxUs: 1_000_000,
    requiredMinRxUs: 0,
    requiredMinEchoRxUs: 50_000,
  });
  assert.deepEqual(encodeBfdPacket(pkt), bytes);
  assert.deepEqual(decodeOk(bytes), pkt);
  assert.equal(bfdStateName(pkt.state), 'AdminDown');
  assert.equal(bfdDiagName(pkt.diag), 'AdministrativelyDown');
  assert.equal(bfdDiagName(20), 'Unassigned(20)');
});

test('bytes after Length in the datagram are ignored', () => {
  const buf = Buffer.concat([encodeBfdPacket(packet()), Buffer.from([1, 2, 3, 4])]);
  assert.deepEqual(decodeOk(buf), packet());
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const nonZeroU32 = fc.integer({ min: 1, max: 0xffffffff });
const validPacketArb: fc.Arbitrary<BfdControlPacket> = fc
  .record({
    diag: fc.integer({ min: 0, max: 31 }),
    state: fc.constantFrom(BfdState.AdminDown, BfdState.Down, BfdState.Init, BfdState.Up),
    poll: fc.boolean(),
    final: fc.boolean(),
    controlPlaneIndependent: fc.boolean(),
    demand: fc.boolean(),
    detectMult: fc.integer({ min: 1, max: 255 }),
    myDiscriminator: nonZeroU32,
    yourDiscriminator: nonZeroU32,
    desiredMinTxUs: u32,
    requiredMinRxUs: u32,
    requiredMinEchoRxUs: u32,
  })
  .map((r) => packet({ ...r, diag: r.diag as BfdDiag }));

const authSectionArb = fc.oneof(
  fc.record({
    type: fc.constant(BfdAuthType.SimplePassword),
    keyId: fc.integer({ min: 0, max: 255 }),
    sequence: fc.constant(0),
    digest: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((u) => Buffer.from(u)),
  }),
  fc.record({
    type: fc.constantFrom(BfdAuthType.KeyedMd5, BfdAuthType.MeticulousKeyedMd5),
    keyId: fc.integer({ min: 0, max: 255 }),
    sequence: u32,
    digest: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
  }),
  fc.record({
    type: fc.constantFrom(BfdAuthType.KeyedSha1, BfdAuthType.MeticulousKeyedSha1),
    keyId: fc.integer({ min: 0, max: 255 }),
    sequence: u32,
    digest: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u)),
  }),
);

test('encode then decode gives the packet back, with and without an auth section', () => {
  fc.assert(
    fc.property(validPacketArb, fc.option(authSectionArb, { nil: undefined }), (p, auth) => {
      const pkt = auth ? { ...p, auth, authPresent: true } : p;
      const buf = encodeBfdPacket(pkt);
      assert.equal(buf.length, buf[3]);
      assert.deepEqual(decodeOk(buf), pkt);
    }),
    { numRuns: 2000 },
  );
});

/** Hand-built datagrams: [reason, bytes]. */
function dropCases(): [BfdDecodeDropReason, Buffer][] {
  const base = () => encodeBfdPacket(packet());
  const sha1 = () =>
    encodeBfdPacket(packet(), { type: BfdAuthType.KeyedSha1, keyId: 1, key: Buffer.from('secret'), sequence: 9 });
  const edit = (b: Buffer, f: (b: Buffer) => void) => {
    f(b);
    return b;
  };
  return [
    ['truncated', Buffer.alloc(0)],
    ['truncated', Buffer.from([0x20, 0xc0, 0x03])],
    ['bad-version', edit(base(), (b) => (b[0] = 0x40))],
    ['bad-version', edit(base(), (b) => (b[0] = 0x00))],
    ['bad-version', Buffer.from([0xe0])],
    ['length-too-short', edit(base(), (b) => (b[3] = 23))],
    ['length-too-short', edit(base(), (b) => (b[3] = 0))],
    // A bit set: 26 is the floor, so a plain 24 or 25 byte Length is too short.
    ['length-too-short', edit(base(), (b) => (b[1]! |= 0x04))],
    ['length-too-short', edit(Buffer.concat([base(), Buffer.alloc(1)]), (b) => ((b[1]! |= 0x04), (b[3] = 25)))],
    ['length-exceeds-payload', edit(base(), (b) => (b[3] = 25))],
    ['length-exceeds-payload', base().subarray(0, 20)],
    ['length-exceeds-payload', sha1().subarray(0, 51)],
    ['length-mismatch', edit(Buffer.concat([base(), Buffer.alloc(4)]), (b) => (b[3] = 28))],
    ['length-mismatch', edit(Buffer.concat([sha1(), Buffer.alloc(4)]), (b) => (b[3] = 56))],
    ['zero-detect-mult', edit(base(), (b) => (b[2] = 0))],
    ['multipoint', edit(base(), (b) => (b[1]! |= 0x01))],
    ['zero-my-discriminator', edit(base(), (b) => b.writeUInt32BE(0, 4))],
    ['zero-your-discriminator', edit(base(), (b) => b.writeUInt32BE(0, 8))],
    ['zero-your-discriminator', edit(encodeBfdPacket(packet({ state: BfdState.Init })), (b) => b.writeUInt32BE(0, 8))],
    ['auth-type-unsupported', edit(sha1(), (b) => (b[24] = 0))],
    ['auth-type-unsupported', edit(sha1(), (b) => (b[24] = 6))],
    ['auth-len-invalid', edit(sha1(), (b) => (b[25] = 24))],
    ['auth-len-invalid', edit(sha1(), (b) => (b[24] = BfdAuthType.KeyedMd5))],
    ['auth-len-invalid', edit(Buffer.concat([base(), Buffer.from([1, 3, 1, 0])]), (b) => ((b[1]! |= 0x04), (b[3] = 28)))],
    // Simple Password longer than 16 bytes.
    ['auth-len-invalid', edit(Buffer.concat([base(), Buffer.alloc(20)]), (b) => {
      b[1]! |= 0x04;
      b[3] = 44;
      b[24] = BfdAuthType.SimplePassword;
      b[25] = 20;
    })],
  ];
}

test('every stateless check of RFC 5880 §6.8.6 drops with its own reason', () => {
  const seen = new Set<string>();
  for (const [reason, buf] of dropCases()) {
    assert.equal(reasonOf(buf), reason, `case ${reason}: ${buf.toString('hex')}`);
    seen.add(reason);
  }
  assert.deepEqual([...seen].sort(), [...BFD_DECODE_DROP_REASONS].sort());
});

test('Your Discriminator 0 is fine from a Down or AdminDown sender', () => {
  for (const state of [BfdState.Down, BfdState.AdminDown]) {
    assert.equal(decodeOk(encodeBfdPacket(packet({ state, yourDiscriminator: 0 }))).yourDiscriminator, 0);
  }
});

test('decode never throws; what it accepts re-encodes to the same bytes', () => {
  const valid = fc.oneof(
    validPacketArb.map((p) => encodeBfdPacket(p)),
    fc.tuple(validPacketArb, authSectionArb).map(([p, auth]) => encodeBfdPacket({ ...p, auth })),
  );
  // Random bytes alone almost never get past the version and length checks,
  // so also corrupt real packets a few bytes at a time.
  const mutated = fc
    .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat({ max: 60 }))
    .map(([buf, edits, cut]) => {
      const b = Buffer.from(buf);
      for (const [i, v] of edits) b[i % b.length] = v;
      return cut > 50 ? b.subarray(0, cut % (b.length + 1)) : b;
    });
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 100 }).map((u) => Buffer.from(u)),
    mutated,
  );
  fc.assert(
    fc.property(bytes, (buf) => {
      const r = decodeBfdPacket(buf);
      if (!r.ok) return assert.ok(BFD_DECODE_DROP_REASONS.includes(r.reason));
      const again = encodeBfdPacket(r.packet);
      if (!r.packet.authPresent) assert.deepEqual(again, buf.subarray(0, 24));
      // The reserved byte of a digest section is ignored on receipt, so only the decoded form must survive.
      else assert.deepEqual(decodeOk(again), r.packet);
    }),
    { numRuns: 5000 },
  );
});

function signed(key: BfdAuthKey, sequence: number, over: Partial<BfdControlPacket> = {}): Buffer {
  return encodeBfdPacket(packet(over), { ...key, sequence });
}

test('Keyed SHA1: section layout and a digest over the packet with the zero-padded key', () => {
  const key: BfdAuthKey = { type: BfdAuthType.KeyedSha1, keyId: 7, key: Buffer.from('s3cret') };
  const buf = signed(key, 0x01020304);
  assert.equal(buf.length, 52);
  assert.equal(buf[1]! & 0x04, 0x04, 'A bit');
  assert.equal(buf[3], 52);
  assert.deepEqual([...buf.subarray(24, 32)], [4, 28, 7, 0, 1, 2, 3, 4]);
  const expected = Buffer.from(buf);
  Buffer.concat([Buffer.from('s3cret'), Buffer.alloc(14)]).copy(expected, 32);
  assert.deepEqual(buf.subarray(32), createHash('sha1').update(expected).digest());
  const p = decodeOk(buf);
  assert.deepEqual(p.auth && { ...p.auth, digest: undefined }, { type: 4, keyId: 7, sequence: 0x01020304, digest: undefined });
  assert.equal(checkBfdAuth(buf, p, key), undefined);
});

test('Keyed MD5: 24-byte section, digest over the packet with the key padded to 16 bytes', () => {
  const key: BfdAuthKey = { type: BfdAuthType.KeyedMd5, keyId: 1, key: Buffer.from('k') };
  const buf = signed(key, 5);
  assert.equal(buf.length, 48);
  const expected = Buffer.from(buf);
  Buffer.concat([Buffer.from('k'), Buffer.alloc(15)]).copy(expected, 32);
  assert.deepEqual(buf.subarray(32), createHash('md5').update(expected).digest());
  assert.equal(checkBfdAuth(buf, decodeOk(buf), key), undefined);
});

test('Simple Password: Auth Len is 3 + password, and the password must match', () => {
  const key: BfdAuthKey = { type: BfdAuthType.SimplePassword, keyId: 2, key: Buffer.from('pw1234') };
  const buf = signed(key, 0);
  assert.equal(buf.length, 24 + 9);
  assert.deepEqual([...buf.subarray(24, 27)], [1, 9, 2]);
  assert.equal(buf.subarray(27).toString(), 'pw1234');
  assert.equal(checkBfdAuth(buf, decodeOk(buf), key), undefined);
  const other = { ...key, key: Buffer.from('pw1235') };
  assert.equal(checkBfdAuth(buf, decodeOk(buf), other), 'auth-digest-mismatch');
  assert.equal(checkBfdAuth(buf, decodeOk(buf), { ...key, key: Buffer.from('pw123') }), 'auth-digest-mismatch');
});

test('every digest type verifies its own packets and rejects tampering, wrong keys, ids and types', () => {
  const { KeyedMd5, MeticulousKeyedMd5, KeyedSha1, MeticulousKeyedSha1 } = BfdAuthType;
  const digestTypes = [KeyedMd5, MeticulousKeyedMd5, KeyedSha1, MeticulousKeyedSha1];
  for (const type of digestTypes) {
    const key: BfdAuthKey = { type, keyId: 3, key: Buffer.from('0123456789abcdef') };
    const buf = signed(key, 1000);
    const p = decodeOk(buf);
    assert.equal(checkBfdAuth(buf, p, key), undefined, `type ${type}`);

    const badDigest = Buffer.from(buf);
    badDigest[40]! ^= 0x01;
    assert.equal(checkBfdAuth(badDigest, decodeOk(badDigest), key), 'auth-digest-mismatch');

    // The digest covers the header too: flip the state to Down.
    const badHeader = Buffer.from(buf);
    badHeader[1] = (badHeader[1]! & 0x3f) | (BfdState.Down << 6);
    assert.equal(checkBfdAuth(badHeader, decodeOk(badHeader), key), 'auth-digest-mismatch');

    const badSeq = Buffer.from(buf);
    badSeq.writeUInt32BE(1001, 28);
    assert.equal(checkBfdAuth(badSeq, decodeOk(badSeq), key), 'auth-digest-mismatch');

    assert.equal(checkBfdAuth(buf, p, { ...key, key: Buffer.from('0123456789abcdeF') }), 'auth-digest-mismatch');
    assert.equal(checkBfdAuth(buf, p, { ...key, keyId: 4 }), 'auth-key-id-mismatch');
    const otherType = type === BfdAuthType.KeyedSha1 ? BfdAuthType.MeticulousKeyedSha1 : BfdAuthType.KeyedSha1;
    assert.equal(checkBfdAuth(buf, p, { ...key, type: otherType }), 'auth-type-mismatch');
  }
  const plain = encodeBfdPacket(packet());
  assert.equal(
    checkBfdAuth(plain, decodeOk(plain), { type: BfdAuthType.KeyedSha1, keyId: 1, key: Buffer.from('x') }),
    'auth-missing',
  );
});

test('a key longer than the digest field cannot sign', () => {
  assert.throws(
    () => signed({ type: BfdAuthType.KeyedMd5, keyId: 1, key: Buffer.alloc(17, 1) }, 1),
    RangeError,
  );
});

test('sequence windows: Keyed accepts a repeat, Meticulous needs a newer number; both wrap at 2^32', () => {
  const keyed = BfdAuthType.KeyedSha1;
  const met = BfdAuthType.MeticulousKeyedSha1;
  assert.equal(bfdAuthSequenceAcceptable(keyed, 100, 100, 3), true);
  assert.equal(bfdAuthSequenceAcceptable(met, 100, 100, 3), false, 'replay');
  assert.equal(bfdAuthSequenceAcceptable(met, 101, 100, 3), true);
  assert.equal(bfdAuthSequenceAcceptable(met, 109, 100, 3), true, 'edge of 3 * Detect Mult');
  assert.equal(bfdAuthSequenceAcceptable(met, 110, 100, 3), false);
  assert.equal(bfdAuthSequenceAcceptable(keyed, 99, 100, 3), false, 'older');
  assert.equal(bfdAuthSequenceAcceptable(met, 2, 0xfffffffe, 3), true, 'wraps');
  assert.equal(bfdAuthSequenceAcceptable(met, 0xfffffffe, 2, 3), false);
  assert.equal(bfdAuthSequenceAcceptable(BfdAuthType.MeticulousKeyedMd5, 5, 5, 1), false);
  assert.equal(bfdAuthSequenceAcceptable(BfdAuthType.KeyedMd5, 8, 5, 1), true);
});
