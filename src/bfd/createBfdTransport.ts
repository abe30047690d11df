// The BFD transport the agent runs on: the native one, which enforces the
// received-TTL check of RFC 5881 §5 and knows each packet's destination
// address. There is deliberately no silent fallback to UdpBfdTransport: a
// node without the addon would run BFD without GTSM, so a missing build is
// an error that says how to make it.
import { NativeBfdTransport, type NativeBfdTransportOptions } from './NativeBfdTransport.ts';

/**
 * Throws an Error naming the missing build ("native addon
 * native/build/Release/loxilb_native.node not found: run npm ci ...") when
 * the addon cannot be loaded, and a RangeError for an invalid option.
 */
export function createBfdTransport(opts: NativeBfdTransportOptions = {}): NativeBfdTransport {
  return new NativeBfdTransport(opts);
}
