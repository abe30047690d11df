// What both BFD transports share (RFC 5881): the ports and TTL, the options
// and their validation, and how a sender's and a received packet's addresses
// are written. The native transport (NativeBfdTransport) is the agent's; the
// node:dgram one (test/lab/UdpBfdTransport.ts) is a test peer's.
import { randomInt } from 'node:crypto';
import { silentLogger, type Logger } from '../util/logger.ts';
import { ipFamily, parseIp } from '../util/ipAddress.ts';
import type { BfdSenderOptions } from './BfdTransport.ts';

/** RFC 5881 §4. */
export const BFD_CONTROL_PORT = 3784;
export const BFD_SOURCE_PORT_MIN = 49152;
export const BFD_SOURCE_PORT_MAX = 65535;
/** RFC 5881 §5: single-hop packets are sent with TTL / Hop Limit 255. */
export const BFD_TTL = 255;

const BIND_ATTEMPTS = 64;

export interface BfdTransportOptions {
  /** Port the listeners bind (default 3784; 0 picks a free one, see listeners()). */
  listenPort?: number;
  /** Port sessions send to (default: the port the listeners bound, so 3784). */
  remotePort?: number;
  /** IPv4 listen address (default 0.0.0.0); null: no IPv4 listener. */
  ipv4Address?: string | null;
  /** IPv6 listen address (default ::, IPv6 only); null: no IPv6 listener. */
  ipv6Address?: string | null;
  /** Source port range for session sockets (default 49152-65535). */
  sourcePortMin?: number;
  sourcePortMax?: number;
  logger?: Logger;
}

/** UdpBfdTransportOptions with the defaults filled in, validated. */
export interface ResolvedBfdTransportOptions {
  listenPort: number;
  remotePort: number | undefined;
  ipv4Address: string | null;
  ipv6Address: string | null;
  sourcePortMin: number;
  sourcePortMax: number;
  logger: Logger;
}

/** Defaults and validation shared by the transports; throws a RangeError naming the option. */
export function resolveBfdTransportOptions(opts: BfdTransportOptions): ResolvedBfdTransportOptions {
  const o: ResolvedBfdTransportOptions = {
    listenPort: opts.listenPort ?? BFD_CONTROL_PORT,
    remotePort: opts.remotePort,
    ipv4Address: opts.ipv4Address === undefined ? '0.0.0.0' : opts.ipv4Address,
    ipv6Address: opts.ipv6Address === undefined ? '::' : opts.ipv6Address,
    sourcePortMin: opts.sourcePortMin ?? BFD_SOURCE_PORT_MIN,
    sourcePortMax: opts.sourcePortMax ?? BFD_SOURCE_PORT_MAX,
    logger: opts.logger ?? silentLogger,
  };
  for (const [name, v] of [
    ['listenPort', o.listenPort],
    ['remotePort', o.remotePort ?? 0],
    ['sourcePortMin', o.sourcePortMin],
    ['sourcePortMax', o.sourcePortMax],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw new RangeError(`invalid ${name}: a port in 0..65535 (got ${v})`);
  }
  if (o.sourcePortMin > o.sourcePortMax || o.sourcePortMin === 0) {
    throw new RangeError(`invalid sourcePortMin..sourcePortMax: a non-empty range of non-zero ports (got ${o.sourcePortMin}..${o.sourcePortMax})`);
  }
  if (o.ipv4Address !== null && ipFamily(o.ipv4Address) !== 4) {
    throw new RangeError(`invalid ipv4Address: an IPv4 address (got ${JSON.stringify(o.ipv4Address)})`);
  }
  if (o.ipv6Address !== null && ipFamily(o.ipv6Address) !== 6) {
    throw new RangeError(`invalid ipv6Address: an IPv6 address (got ${JSON.stringify(o.ipv6Address)})`);
  }
  return o;
}

/** A sender's addresses in canonical text: the remote, and the local one to bind (the family's any address by default). */
export function resolveSenderAddresses(opts: BfdSenderOptions): { family: 'ipv4' | 'ipv6'; remote: string; local: string } {
  const remote = parseIp(opts.remoteAddress);
  if (!remote) throw new RangeError(`invalid remoteAddress: an IP address (got ${JSON.stringify(opts.remoteAddress)})`);
  const family = remote.kind();
  let local = family === 'ipv4' ? '0.0.0.0' : '::';
  if (opts.localAddress !== undefined) {
    const l = parseIp(opts.localAddress);
    if (!l || l.kind() !== family) {
      throw new RangeError(`invalid localAddress: an ${family} address like remoteAddress (got ${JSON.stringify(opts.localAddress)})`);
    }
    local = l.toString();
  }
  return { family, remote: remote.toString(), local };
}

/**
 * Source ports for a new session socket, in the order to try them: a random
 * start in [min, max], then the next ports in turn, so a small range is
 * covered completely and a large one is not tried forever.
 */
export function sourcePortCandidates(min: number, max: number): number[] {
  const span = max - min + 1;
  const start = randomInt(span);
  return Array.from({ length: Math.min(BIND_ATTEMPTS, span) }, (_, i) => min + ((start + i) % span));
}

/** Canonical text of a received address: no zone, IPv4-mapped IPv6 as IPv4. */
export function canonicalSource(addr: string): string {
  const pct = addr.indexOf('%');
  const bare = pct >= 0 ? addr.slice(0, pct) : addr;
  return parseIp(bare)?.toString() ?? bare;
}
