// Announcing that an address now answers at this node: a gratuitous ARP for
// IPv4, an unsolicited Neighbour Advertisement (Override set, to ff02::1) for
// IPv6, so neighbours replace a cache entry that still points at the node
// that held the address before (an HA failover, a moved VIP). The frames are
// built and sent by the native addon over AF_PACKET, on the libuv thread
// pool, with the interface's own MAC.
import { parseIp } from '../util/ipAddress.ts';
import { loadNativeAddon } from '../util/nativeAddon.ts';

export interface AnnounceOptions {
  /** How many frames to send (default 1). Receivers act on the first; more cover a lost frame. */
  count?: number;
  /** Pause between frames, ms (default 100). */
  intervalMs?: number;
}

/**
 * Sends gratuitous ARP (IPv4) or unsolicited NA (IPv6) for `address` on
 * interface `ifname`. Resolves once every frame was handed to the kernel;
 * rejects with a message naming the interface (no such interface, not
 * Ethernet, down, ...) or the invalid argument.
 */
export async function announceAddress(ifname: string, address: string, opts: AnnounceOptions = {}): Promise<void> {
  const ip = parseIp(address);
  if (!ip) throw new RangeError(`invalid address: an IPv4 or IPv6 address (got ${JSON.stringify(address)})`);
  if (ip.kind() === 'ipv6' && (ip.range() === 'multicast' || ip.range() === 'unspecified')) {
    throw new RangeError(`invalid address: a unicast IPv6 address (got ${address})`);
  }
  if (ip.kind() === 'ipv4' && (ip.range() === 'multicast' || ip.range() === 'broadcast' || ip.range() === 'unspecified')) {
    throw new RangeError(`invalid address: a unicast IPv4 address (got ${address})`);
  }
  const count = opts.count ?? 1;
  const intervalMs = opts.intervalMs ?? 100;
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new RangeError(`invalid count: an integer in 1..100 (got ${count})`);
  if (!Number.isInteger(intervalMs) || intervalMs < 0 || intervalMs > 60_000) {
    throw new RangeError(`invalid intervalMs: an integer in 0..60000 (got ${intervalMs})`);
  }
  if (typeof ifname !== 'string' || ifname === '' || Buffer.byteLength(ifname) > 15 || /[\s/:]/.test(ifname)) {
    throw new RangeError(`invalid interface name ${JSON.stringify(ifname)}: 1-15 characters, no space, / or :`);
  }
  await loadNativeAddon().announce(ifname, Buffer.from(ip.toByteArray()), count, intervalMs);
}
