// fast-check arbitraries for BFD datagrams, shared by the fuzz tests: valid
// Control packets aimed at given sessions (plain or keyed SHA1), mutations of
// them (bytes overwritten, the tail cut), and random bytes.
import fc from 'fast-check';
import { BfdAuthType, BfdState, encodeBfdPacket } from '../../src/bfd/BfdPacket.ts';
import { controlPacket } from './bfdPackets.ts';

/**
 * Datagrams for sessions whose discriminators are `discs`; signed ones use
 * `key` with key id 1. Random datagrams are up to `maxRandomBytes` long.
 */
export function bfdDatagrams(key: Buffer, discs: number[], maxRandomBytes = 64): fc.Arbitrary<Buffer> {
  const aimed = fc
    .record({
      state: fc.constantFrom(BfdState.AdminDown, BfdState.Down, BfdState.Init, BfdState.Up),
      detectMult: fc.integer({ min: 0, max: 255 }),
      myDiscriminator: fc.integer({ min: 0, max: 0xffffffff }),
      yourDiscriminator: fc.constantFrom(0, ...discs, 0xdeadbeef),
      desiredMinTxUs: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(0xffffffff)),
      requiredMinRxUs: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(0)),
      poll: fc.boolean(),
      final: fc.boolean(),
      demand: fc.boolean(),
      signed: fc.boolean(),
      seq: fc.integer({ min: 0, max: 0xffffffff }),
    })
    .map((r) => {
      const pkt = controlPacket({ ...r, detectMult: Math.max(1, r.detectMult), myDiscriminator: r.myDiscriminator || 1 });
      return r.signed ? encodeBfdPacket(pkt, { type: BfdAuthType.KeyedSha1, keyId: 1, key, sequence: r.seq }) : encodeBfdPacket(pkt);
    });
  const mutated = fc.tuple(aimed, fc.array(fc.tuple(fc.nat(60), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.option(fc.nat(60), { nil: undefined })).map(([b, flips, cut]) => {
    const buf = Buffer.from(b);
    for (const [i, v] of flips) if (i < buf.length) buf[i] = v;
    return cut === undefined ? buf : buf.subarray(0, cut);
  });
  return fc.oneof(aimed, mutated, fc.uint8Array({ minLength: 1, maxLength: maxRandomBytes }).map((u) => Buffer.from(u)));
}
