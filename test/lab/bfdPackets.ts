// BFD control packets for tests: every field at a plain default (a Down
// packet at the slow 1 s rate, no flags, no auth), so a test names only the
// fields it is about.
import { BfdDiag, BfdState, type BfdControlPacket } from '../../src/bfd/BfdPacket.ts';

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
