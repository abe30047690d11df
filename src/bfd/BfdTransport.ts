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

/** One session's sending socket. */
export interface BfdSender {
  /** The source port actually bound (RFC 5881 §4: 49152-65535). */
  readonly localPort: number;
  /** Queues one datagram. Never throws: failures are counted in stats. */
  send(packet: Buffer): void;
  stats(): BfdSenderStats;
  /** Releases the socket; later sends are counted as errors. Idempotent. */
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
  /** Stops receiving and closes every socket the transport opened. Idempotent. */
  close(): Promise<void>;
}
