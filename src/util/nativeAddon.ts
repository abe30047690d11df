// Loads native/build/Release/loxilb_native.node (built by `npm ci`, see
// native/build.mjs) once, and types what it exports. The parts that use it
// (BFD transport, gratuitous ARP / NA, datapath, raw sockets) fail with the
// message below when the build is missing, so the rest of the agent still
// starts.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Where the addon is, relative to the repository root (for messages). */
export const NATIVE_ADDON_RELATIVE_PATH = 'native/build/Release/loxilb_native.node';
const ADDON_URL = new URL(`../../${NATIVE_ADDON_RELATIVE_PATH}`, import.meta.url);

/**
 * One received datagram: payload, source address and port, destination
 * address, TTL / Hop Limit, and when it arrived (CLOCK_MONOTONIC ms, taken
 * right after recvmsg; see monotonicNowMs).
 */
export type NativeRxPacket = [data: Buffer, srcAddr: string, srcPort: number, dstAddr: string | undefined, ttl: number, arrivalMs: number];

export interface NativeBfdReceiverStats {
  /** Datagrams read from the listening sockets, accepted or not. */
  received: number;
  /** Datagrams handed to JS. */
  delivered: number;
  /** Dropped because TTL / Hop Limit was not 255 (RFC 5881 §5). */
  droppedTtl: number;
  /** Dropped because JS had not taken the previous 4096 yet. */
  droppedOverflow: number;
  /** recvmsg failures and truncated datagrams. */
  errors: number;
}

export interface NativeBfdReceiver {
  /** Binds one listener (IPv6 ones are IPv6-only); returns the bound port. Throws an Error with `code`. */
  addSocket(address: string, port: number): number;
  /** Starts the receive thread; batches of accepted datagrams go to onPackets. */
  start(onPackets: (batch: NativeRxPacket[]) => void): void;
  stats(): NativeBfdReceiverStats;
  /**
   * Starts remembering the arrival of the latest datagram from peerAddress
   * whose Your Discriminator is `discriminator` (that passed the TTL check and
   * was queued for JS). False if peerAddress is not an IP address.
   */
  watchArrival(peerAddress: string, discriminator: number): boolean;
  unwatchArrival(peerAddress: string, discriminator: number): void;
  /** CLOCK_MONOTONIC ms of that latest datagram, delivered or still queued; undefined if none (or not watched). */
  lastArrival(peerAddress: string, discriminator: number): number | undefined;
  /** Datagrams from peerAddress with that Your Discriminator dropped for their TTL since it was watched (0 if not watched). */
  droppedTtl(peerAddress: string, discriminator: number): number;
  /** Stops and joins the thread, closes the sockets. Idempotent. */
  close(): void;
}

export interface NativeUdpPeriodicStats {
  /** Periodic mode is on. */
  active: boolean;
  /** Periodic datagrams the timer thread handed to the kernel. */
  sent: number;
  /** Of those, sent since the latest setPeriodic (copies of the current packet). */
  sentCurrent: number;
  /** Of those, BFD packets whose state field said Up; the lateness figures count these only. */
  sentUp: number;
  /** Failed periodic sends, and the errno code of the latest one. */
  errors: number;
  lastError?: string;
  /** Latest Up packet against its due time, µs. */
  lateMaxUs: number;
  /** Up packets sent more than a quarter of the interval late. */
  lateOverQuarter: number;
}

export interface NativeUdpSender {
  /** Undefined when the kernel took the datagram, else the errno code (e.g. 'ENETUNREACH'). */
  send(packet: Buffer): string | undefined;
  /**
   * Periodic mode: the addon's timer thread sends `packet` every intervalUs
   * (at least 1 ms) less RFC 5880 §6.8.7 jitter (0-25 %, 10-25 % with
   * detectMult 1), the first one a jittered interval after the previous
   * periodic one (at once if none). Called again, it swaps packet and
   * interval without resetting the schedule.
   */
  setPeriodic(packet: Buffer, intervalUs: number, detectMult: number): void;
  stopPeriodic(): void;
  periodicStats(): NativeUdpPeriodicStats;
  localPort(): number;
  close(): void;
}

/**
 * One packet from a raw socket: the protocol payload (for IPv4 without the
 * IP header the kernel delivers), source and destination address, the
 * interface it came in on (0 if unknown) and its TTL / Hop Limit (-1 if
 * unknown).
 */
export type NativeRawRxPacket = [payload: Buffer, srcAddr: string, dstAddr: string, ifindex: number, ttl: number];

export interface NativeRawSocketStats {
  /** Packets read from the socket, delivered or not. */
  received: number;
  /** Packets handed to JS. */
  delivered: number;
  /** Dropped because JS had not taken the previous 1024 yet. */
  droppedOverflow: number;
  /** Truncated packets, IPv4 headers that do not parse. */
  malformed: number;
  /** recvmsg failures, exceptions escaping the JS callback. */
  errors: number;
}

export interface NativeRawSocket {
  /** Starts the receive thread; batches of packets go to onPackets. */
  start(onPackets: (batch: NativeRawRxPacket[]) => void): void;
  /**
   * Sends payload to dst (the kernel adds the IP header), from src when
   * given (IP_PKTINFO / IPV6_PKTINFO). Undefined when the kernel took it,
   * else the errno code ('ENETUNREACH', 'EINVAL' for a source that is not
   * local, ...). Throws only on bad arguments.
   */
  send(dst: string, payload: Buffer, src?: string): string | undefined;
  stats(): NativeRawSocketStats;
  /** Whether the started socket keeps the event loop alive (default true). */
  setRef(keepAlive: boolean): void;
  /** Stops and joins the thread, closes the socket. Idempotent. */
  close(): void;
}

export interface NativeAddon {
  BfdReceiver: new () => NativeBfdReceiver;
  /** Binds at construction; throws an Error with `code` ('EADDRINUSE', ...). */
  UdpSender: new (localAddress: string, localPort: number, remoteAddress: string, remotePort: number, ttl: number, tos: number) => NativeUdpSender;
  /** CLOCK_MONOTONIC in ms (what libuv's hrtime, and so performance.now(), count on). */
  monotonicNowMs(): number;
  /** Sends `count` gratuitous ARPs (4-byte address) or unsolicited NAs (16 bytes) on `ifname`, `intervalMs` apart. */
  announce(ifname: string, address: Buffer, count: number, intervalMs: number): Promise<void>;
  /**
   * Adds (as `ip addr replace`) or removes an interface address over
   * rtnetlink, synchronously. Throws an Error with `code` (ENODEV,
   * EADDRNOTAVAIL, EPERM, ...).
   */
  addressChange(op: 'add' | 'del', ifname: string, address: string, prefixLen: number, nodad: boolean): void;
  /** Loads native/build/lb.bpf.o; throws an Error with `code` (EPERM without root) and `log` (libbpf's). */
  /** ctMax: entries of the connection table (0: the size compiled in). */
  LbDatapath: new (objectPath: string, ctMax?: number, maxRules?: number, ctPinPath?: string) => NativeLbDatapath;
  /** CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns, so of ct last_ns. */
  ktimeNs(): number;
  /** if_nametoindex; 0 if there is no such interface. */
  ifIndex(name: string): number;
  /** The syncable entries of a raw conntrack dump (established TCP; UDP with a reply when udp). */
  ctSelect(keys: Buffer, values: Buffer, udp: boolean): NativeMapDump;
  /** The MASTER's scan state: what changed since the previous diff of a raw dump. */
  CtDiffer: new () => NativeCtDiffer;
  /** The conntrack keys one sync peer has installed here (its quota). */
  CtKeySet: new () => NativeCtKeySet;
  /**
   * A raw IP socket of one protocol (1..254), opened at once; rcvbufBytes 0
   * means 256 KiB. Throws an Error with `code` (EPERM without root).
   */
  RawSocket: new (family: 4 | 6, protocol: number, rcvbufBytes: number) => NativeRawSocket;
  /** Sizes of the structs in native/bpf/lb_maps.h, as the compiler laid them out. */
  datapathLayout: { version: number; lbKey: number; lbRule: number; ctKey: number; ctVal: number };
}

export interface NativeCtDiffer {
  /**
   * Syncable entries that are new, changed (not counting counters and
   * timestamps) or have seen traffic refreshNs after they were last returned;
   * and the keys of returned entries that are gone or no longer syncable.
   */
  diff(keys: Buffer, values: Buffer, refreshNs: number, udp: boolean): { upserts: NativeMapDump; deletes: NativeMapDump };
  reset(): void;
  size(): number;
}

export interface NativeCtKeySet {
  /**
   * The entries of a batch within the quota: those already in the set (a
   * refresh), and new ones while the set holds fewer than max (added). The
   * batch itself comes back when nothing is refused.
   */
  admit(keys: Buffer, values: Buffer, max: number): { keys: Buffer; values: Buffer; refused: number };
  remove(keys: Buffer): void;
  clear(): void;
  size(): number;
}

export interface NativeMapDump {
  keys: Buffer;
  values: Buffer;
  count: number;
}

/** The loaded eBPF datapath. Map names are the ones in native/bpf/lb.bpf.c. */
export interface NativeLbDatapath {
  /** Our filter (handle 1, priority 1) on the clsact hook; replaces a leftover one. */
  attach(ifindex: number, direction: 'ingress' | 'egress'): void;
  /** False if no filter of ours was there. */
  detach(ifindex: number, direction: 'ingress' | 'egress'): boolean;
  mapUpdate(map: string, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(map: string, key: Buffer): boolean;
  mapLookup(map: string, key: Buffer): Buffer | undefined;
  mapDump(map: string): NativeMapDump;
  mapUpdateBatch(map: string, keys: Buffer, values: Buffer): number;
  /** Deletes the keys that exist; returns how many did. */
  mapDeleteBatch(map: string, keys: Buffer): number;
  /** The per-CPU counters of native/bpf/lb_maps.h (LB_STAT_*), summed. */
  stats(): number[];
  /** Map sizes and the rule mask of the loaded object, read back from the kernel. */
  tableSizes(): { ct: number; rr_ctr: number; lc_opened: number; lc_closed: number; lb_rules: number; vips: number; ep_stats: number; rule_conns: number; ruleMask: number };
  /**
   * Per rule id (u32 LE each), RULE_COUNTER_STRIDE numbers: the open
   * connections the latest sweep counted, then packets and bytes of each
   * endpoint slot (both directions, summed over CPUs).
   */
  ruleCounters(ids: Buffer): Float64Array;
  /** Zeroes the traffic counters of these rule ids' endpoint slots on every CPU. */
  ruleCountersReset(ids: Buffer): void;
  /** Runs the in-kernel sweep (lb_sweep) once: idle connections go, both entries together. */
  ctSweep(): { scanned: number; count: number };
  /** Entries in the connection table, counted in the kernel (lb_ct_count): nothing is copied out. */
  ctCount(): number;
  /**
   * Installs conntrack entries from a cluster peer with this node's rule ids
   * and endpoint indexes (by the service key each carries), restamped with
   * our clock, timeouts capped at the rule's, marked synced. Entries of
   * services without a rule here are skipped (unknownService); entries that
   * do not translate to one of the rule's endpoints are refused (rejected).
   */
  ctInstall(keys: Buffer, values: Buffer): CtInstallResult;
  /** Frees maps and programs; attached filters keep their own reference. */
  close(): void;
  /** The connection table's pin: where, whether an earlier run's table was adopted, and what was replaced if not. */
  pinState(): { path: string; adopted: boolean; note: string };
  /** Removes the connection table's pin. */
  unpin(): void;
}

export interface CtInstallResult {
  installed: number;
  unknownService: number;
  rejected: number;
}

let cached: NativeAddon | undefined;

/** The addon, or an Error naming the missing build and how to make it. */
export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const file = fileURLToPath(ADDON_URL);
  try {
    cached = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND') {
      throw new Error(`native addon ${NATIVE_ADDON_RELATIVE_PATH} not found: run npm ci (needs g++, make, python3)`, { cause: e });
    }
    throw new Error(`native addon ${NATIVE_ADDON_RELATIVE_PATH} cannot be loaded (rebuild it with npm run build:native): ${(e as Error).message}`, {
      cause: e,
    });
  }
  return cached;
}
