// Raw IP sockets of one protocol number, on the native addon (raw_socket.cc):
// SCTP (132) on a kernel without an SCTP module, for the agent's SCTP probe
// and the test peers. The kernel builds the IP header of what we send and
// delivers every packet of the protocol that reaches this host (this network
// namespace) to every such socket: users demultiplex themselves (ports,
// verification tags). IPv4 and IPv6 look the same here: the payload never
// includes the IP header. Needs root (CAP_NET_RAW).
//
// RawIpSocket is the interface users depend on, so tests can hand them a
// fake (see test/lab/fakeRawNetwork.ts).
import { loadNativeAddon, type NativeRawSocket, type NativeRawSocketStats } from '../util/nativeAddon.ts';

export const IPPROTO_SCTP = 132;

export type IpFamily = 4 | 6;

export interface RawPacket {
  /** The protocol payload (an SCTP packet), never the IP header. */
  payload: Buffer;
  src: string;
  dst: string;
  /** Interface the packet came in on; 0 if unknown. */
  ifindex: number;
  /** TTL / Hop Limit; -1 if unknown. */
  ttl: number;
}

export interface RawSendOptions {
  /** Source address (must be local); the kernel's route choice when absent. */
  src?: string;
}

export interface RawIpSocket {
  readonly family: IpFamily;
  /** Undefined when the kernel took the packet, else the errno code ('ENETUNREACH', ...). Never throws on I/O. */
  send(dst: string, payload: Buffer, opts?: RawSendOptions): string | undefined;
  close(): void;
}

export type RawPacketHandler = (packet: RawPacket) => void;

/** How users open their sockets: openRawSocket in production, a fake network in unit tests. */
export type RawSocketFactory = (family: IpFamily, onPacket: RawPacketHandler) => RawIpSocket;

export interface RawSocketOptions {
  /** Kernel receive buffer (SO_RCVBUF); default 256 KiB. */
  receiveBufferBytes?: number;
  /** Whether the open socket keeps the process alive (default true, as a server's should; a probe's should not). */
  ref?: boolean;
  /** Called with what a packet handler threw (it is counted either way); default: ignored. */
  onHandlerError?: (err: unknown) => void;
}

export interface RawSocketStats extends NativeRawSocketStats {
  /** Packet handlers that threw. */
  handlerErrors: number;
}

export class RawSocket implements RawIpSocket {
  private readonly native: NativeRawSocket;
  private handlerErrors = 0;
  private closed = false;

  private constructor(
    readonly family: IpFamily,
    readonly protocol: number,
    onPacket: RawPacketHandler,
    opts: RawSocketOptions,
  ) {
    const addon = loadNativeAddon();
    this.native = new addon.RawSocket(family, protocol, opts.receiveBufferBytes ?? 0);
    this.native.start((batch) => {
      for (const [payload, src, dst, ifindex, ttl] of batch) {
        if (this.closed) return;
        try {
          onPacket({ payload, src, dst, ifindex, ttl });
        } catch (err) {
          this.handlerErrors++;
          opts.onHandlerError?.(err);
        }
      }
    });
    if (opts.ref === false) this.native.setRef(false);
  }

  /**
   * Opens a raw socket of `protocol` (1..254) for one address family and
   * starts delivering its packets to onPacket. Throws an Error with `code`
   * EPERM, and a message saying root is needed, without CAP_NET_RAW.
   */
  static open(family: IpFamily, protocol: number, onPacket: RawPacketHandler, opts: RawSocketOptions = {}): RawSocket {
    return new RawSocket(family, protocol, onPacket, opts);
  }

  send(dst: string, payload: Buffer, opts: RawSendOptions = {}): string | undefined {
    if (this.closed) return 'ERR_SOCKET_CLOSED';
    return this.native.send(dst, payload, opts.src);
  }

  stats(): RawSocketStats {
    return { ...this.native.stats(), handlerErrors: this.handlerErrors };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}

/** A RawSocketFactory for one protocol over the native addon. */
export function rawSocketFactory(protocol: number, opts: RawSocketOptions = {}): RawSocketFactory {
  return (family, onPacket) => RawSocket.open(family, protocol, onPacket, opts);
}
