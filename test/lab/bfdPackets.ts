// BFD control packets for tests: every field at a plain default (a Down
// packet at the slow 1 s rate, no flags, no auth), so a test names only the
// fields it is about.
import { BfdDiag, BfdState, encodeBfdPacket, type BfdControlPacket } from '../../src/bfd/BfdPacket.ts';
import type { Lab } from './Lab.ts';

export function controlPacket(over: Partial<BfdControlPacket> = {}): BfdControlPacket {
  return {
    version: 1,
    diag: BfdDiag.NoDiagnostic,
    state: BfdState.Down,
    poll: false,
    final: false,
    controlPlaneIndependent: false,
    authPresent: false,
    demand: false,
    multipoint: false,
    detectMult: 3,
    myDiscriminator: 1,
    yourDiscriminator: 0,
    desiredMinTxUs: 1_000_000,
    requiredMinRxUs: 1_000_000,
    requiredMinEchoRxUs: 0,
    ...over,
  };
}

/** Sends one BFD Down packet with the given TTL / hop limit from a throwaway socket in `node`. */
export async function sendWithTtl(lab: Lab, node: string, src: string, dst: string, ttl: number, over: Partial<BfdControlPacket> = {}): Promise<void> {
  const pkt = encodeBfdPacket(controlPacket({ myDiscriminator: 0x4242, ...over }));
  const type = src.includes(':') ? 'udp6' : 'udp4';
  const script =
    `const s = require('node:dgram').createSocket('${type}');` +
    `s.bind(0, '${src}', () => { s.setTTL(${ttl}); s.send(Buffer.from('${pkt.toString('hex')}', 'hex'), 3784, '${dst}', (e) => { s.close(); process.exit(e ? 1 : 0); }); });`;
  await lab.run(node, [process.execPath, '-e', script]);
}

/** Deterministic uniform [0, 1): a 32-bit linear congruential generator, for reproducible jitter. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
