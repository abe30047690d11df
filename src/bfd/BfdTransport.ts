// The seam between BfdManager and the network: receive every BFD Control
// datagram addressed to us, and send each session's packets from a socket of
// its own. UdpBfdTransport (node:dgram) is the first implementation; a native
// one (libbpf / a thread with IP_RECVTTL and IP_PKTINFO) can replace it
// without BfdManager noticing, and unit tests plug in an in-memory one.

/** What the transport knows about a received datagram besides its payload. */
export interface BfdPacketMeta {
  /** Source address, canonical text, without an IPv6 zone. */
  srcAddr: string;
  srcPort: number;
  /** Destination address, when the transport can read it (IP_PKTINFO); used to tell sessions apart. */
  dstAddr?: string;
  /**
   * Received IP TTL / Hop Limit, when the transport can read it. Omitted, the
   * RFC 5881 §5 check (must be 255) is skipped.
   */
  ttl?: number;
  /**
   * When the datagram arrived, in performance.now() milliseconds, if the
   * transport stamps arrivals (the native one does, on its receive thread):
   * a packet that waited for a busy JS thread still counts from when it came.
   */
  arrivalAt?: number;
}

export type BfdPacketHandler = (packet: Buffer, meta: BfdPacketMeta) => void;

export interface BfdSenderOptions {
  /** Where the session's peer is; the packet goes to its BFD port. */
  remoteAddress: string;
  /** Source address to bind, or undefined to let the kernel choose. Same family as remoteAddress. */
  localAddress?: string;
}

export interface BfdSenderStats {
  /** Datagrams handed to the kernel. */
  sent: number;
  /** Sends that failed (no route, interface down, ...); never thrown. */
  errors: number;
  lastError?: string;
}

export interface BfdPeriodicStats {
  /** Periodic packets sent off the JS thread. */
  sent: number;
  /** Of those, copies of the packet of the latest setPeriodic. */
  sentCurrent: number;
  /** Of those, packets whose BFD state was Up; the lateness figures count these only. */
  sentUp: number;
  /** Periodic sends that failed. */
  errors: number;
  /** Latest Up periodic packet against its schedule, µs. */
  lateMaxUs: number;
  /** Up periodic packets sent more than a quarter of the interval late. */
  lateOverQuarter: number;
}

/**
 * Periodic transmission off the JS thread (the native transport's timer
 * thread): the sender repeats one packet on the RFC 5880 §6.8.7 schedule,
 * each gap a random 75-100 % of intervalUs (75-90 % with detectMult 1), the
 * first one gap after the previous periodic packet, so handing over a new
 * packet never speeds the rate up. A shorter interval pulls the pending
 * packet forward; a longer one applies from the packet after it.
 */
export interface BfdPeriodicTx {
  /** Starts periodic mode, or swaps packet / interval in place. */
  setPeriodic(packet: Buffer, intervalUs: number, detectMult: number): void;
  stopPeriodic(): void;
  periodicStats(): BfdPeriodicStats;
}

/** One session's sending socket. */
export interface BfdSender extends Partial<BfdPeriodicTx> {
  /** The source port actually bound (RFC 5881 §4: 49152-65535). */
  readonly localPort: number;
  /** Queues one datagram. Never throws: failures are counted in stats. */
  send(packet: Buffer): void;
  /** Counts periodic sends too. */
  stats(): BfdSenderStats;
  /** Releases the socket and ends periodic mode; later sends are counted as errors. Idempotent. */
  close(): void;
}

/** A sender that supports periodic mode. */
export function hasPeriodicTx(s: BfdSender): s is BfdSender & BfdPeriodicTx {
  return typeof s.setPeriodic === 'function' && typeof s.stopPeriodic === 'function' && typeof s.periodicStats === 'function';
}

/** See BfdTransport.watchArrivals. */
export interface BfdArrivalWatch {
  /** performance.now() ms of the latest such packet, handled by JS or still queued for it; undefined if none yet. */
  last(): number | undefined;
  /** Such packets the transport dropped before JS saw them because their TTL / Hop Limit was not 255. */
  droppedTtl?(): number;
  /** Stops watching. Idempotent. */
  close(): void;
}

export interface BfdTransport {
  /**
   * Starts receiving; `onPacket` is called for every datagram that arrives
   * on the BFD port, in arrival order. Resolves once the listeners are bound.
   * A handler that throws does not stop the transport.
   */
  listen(onPacket: BfdPacketHandler): Promise<void>;
  /** Opens a sending socket for one session. Rejects if no source port could be bound. */
  openSender(opts: BfdSenderOptions): Promise<BfdSender>;
  /**
   * Optional: remember when the latest packet from `remoteAddress` with Your
   * Discriminator `yourDiscriminator` arrived, readable at any time, even
   * while the packet still waits for the JS thread. Only transports that
   * receive on a thread of their own offer it.
   */
  watchArrivals?(remoteAddress: string, yourDiscriminator: number): BfdArrivalWatch;
  /** Stops receiving and closes every socket the transport opened. Idempotent. */
  close(): Promise<void>;
}
