// The REST edge of POST /config/bgp/global and /config/bgp/neigh (reference §2.4).
import { FieldReader, UINT32_MAX, invalid } from '../util/FieldReader.ts';
import { normalizeIpv4 } from '../util/ipAddress.ts';
import { BFD_MIN_INTERVAL_US } from '../bfd/validateBfdConfig.ts';
import type { BgpGlobalConfig, BgpNeighborConfig } from './BgpConfig.ts';

const GLOBAL_FIELDS = ['routerId', 'localAs', 'listenPort', 'SetNextHopSelf'] as const;
const NEIGHBOR_FIELDS = ['ipAddress', 'remoteAs', 'remotePort', 'setMultiHop', 'bfd'] as const;
const NEIGHBOR_BFD_FIELDS = ['interval', 'retryCount'] as const;
/** What `"bfd": true` means: the --ka default, 100 ms × 3. */
export const NEIGHBOR_BFD_DEFAULT = { intervalUs: 100_000, multiplier: 3 };

/** Validates a BGP global body; 4-byte AS numbers are allowed. Throws ValidationError. */
export function parseBgpGlobal(body: unknown): BgpGlobalConfig {
  const r = new FieldReader('', body, GLOBAL_FIELDS);
  const routerIdText = r.string('routerId', { required: true })!;
  // A BGP identifier is 32 bits, written as a dotted quad even on IPv6-only routers.
  const routerId = normalizeIpv4(routerIdText);
  if (routerId === undefined) throw invalid(r.field('routerId'), 'must be an IPv4 address in dotted-quad form', routerIdText);
  return {
    routerId,
    localAs: r.int('localAs', 1, UINT32_MAX, { required: true })!,
    listenPort: r.int('listenPort', 0, 65535) ?? 0,
    setNextHopSelf: r.bool('SetNextHopSelf') ?? false,
  };
}

/** Validates a BGP neighbour body; throws ValidationError. */
export function parseBgpNeighbor(body: unknown): BgpNeighborConfig {
  const r = new FieldReader('', body, NEIGHBOR_FIELDS);
  const n: BgpNeighborConfig = {
    ipAddress: r.ip('ipAddress', { required: true })!,
    remoteAs: r.int('remoteAs', 1, UINT32_MAX, { required: true })!,
    remotePort: r.int('remotePort', 0, 65535) ?? 0,
    setMultiHop: r.bool('setMultiHop') ?? false,
  };
  const bfd = r.raw('bfd');
  if (bfd === true) n.bfd = { ...NEIGHBOR_BFD_DEFAULT };
  else if (bfd !== undefined && bfd !== false && bfd !== null) {
    if (typeof bfd !== 'object' || Array.isArray(bfd)) {
      throw invalid(r.field('bfd'), 'must be true, false or {"interval": µs, "retryCount": n}', bfd);
    }
    const b = new FieldReader('bfd', bfd, NEIGHBOR_BFD_FIELDS);
    n.bfd = {
      intervalUs: b.int('interval', BFD_MIN_INTERVAL_US, UINT32_MAX) ?? NEIGHBOR_BFD_DEFAULT.intervalUs,
      multiplier: b.int('retryCount', 1, 255) ?? NEIGHBOR_BFD_DEFAULT.multiplier,
    };
  }
  return n;
}
