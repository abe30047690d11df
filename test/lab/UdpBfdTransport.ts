// A test peer's BFD over UDP with node:dgram, single hop (RFC 5881): one listener per
// address family on the BFD Control port (3784), and one socket per session,
// bound to the session's source address and to a source port of its own in
// 49152-65535, sending with TTL / Hop Limit 255.
//
// The agent uses the native transport (src/bfd/NativeBfdTransport.ts); this
// one is a test peer's, driving a BfdManager of its own. Limits of
// node:dgram: it cannot read the received TTL (no IP_RECVTTL) nor the
// destination address (no IP_PKTINFO), so BfdPacketMeta.ttl and .dstAddr
// stay undefined and the receive-side GTSM check of RFC 5881 §5 is not
// enforced here (the native transport enforces it).
//
// Nothing here throws out of a timer or an event: send failures are counted
// per sender, socket errors are logged and counted, and a receive handler
// that throws is logged.
import { errnoCode, errorMessage } from '../../src/util/errors.ts';
import dgram from 'node:dgram';
import { silentLogger, type Logger } from '../../src/util/logger.ts';
import type {
  BfdPacketHandler,
  BfdSender,
  BfdSenderOptions,
  BfdSenderStats,
  BfdTransport,
} from '../../src/bfd/BfdTransport.ts';
import {
  BFD_CONTROL_PORT,
  BFD_TTL,
  canonicalSource,
  resolveBfdTransportOptions,
  resolveSenderAddresses,
  sourcePortCandidates,
  type BfdTransportOptions,
} from '../../src/bfd/transportOptions.ts';

/** The options of the node:dgram transport: those of every BFD transport. */
export type UdpBfdTransportOptions = BfdTransportOptions;


export interface UdpBfdTransportStats {
  /** Datagrams received on the listeners. */
  received: number;
  /** 'error' events from any socket. */
  socketErrors: number;
  /** Receive handlers that threw. */
  handlerErrors: number;
}

function bindSocket(socket: dgram.Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      socket.off('listening', onListening);
      reject(e);
    };
    const onListening = () => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    // exclusive: a cluster worker must not share the handle; SO_REUSEADDR is
    // never set, so a port someone else holds fails with EADDRINUSE.
    socket.bind({ address, port, exclusive: true });
  });
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.listenerCount('error') === 0) socket.on('error', () => {});
    try {
      socket.close(() => resolve());
    } catch {
      // Not running (never bound, or already closed).
      resolve();
    }
  });
}

class UdpBfdSender implements BfdSender {
  private readonly counters: BfdSenderStats = { sent: 0, errors: 0 };
  private closed = false;

  constructor(
    private readonly socket: dgram.Socket,
    readonly localPort: number,
    private readonly remoteAddress: string,
    private readonly remotePort: number,
    private readonly onClose: (s: UdpBfdSender) => void,
  ) {}

  send(packet: Buffer): void {
    if (this.closed) {
      this.fail(new Error('sender closed'));
      return;
    }
    try {
      this.socket.send(packet, this.remotePort, this.remoteAddress, (err) => {
        if (err) this.fail(err);
        else this.counters.sent++;
      });
    } catch (e) {
      this.fail(e);
    }
  }

  stats(): BfdSenderStats {
    return { ...this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    void closeSocket(this.socket);
  }

  closeAndWait(): Promise<void> {
    this.closed = true;
    return closeSocket(this.socket);
  }

  private fail(e: unknown): void {
    this.counters.errors++;
    this.counters.lastError = errnoCode(e) ?? errorMessage(e);
  }
}

export class UdpBfdTransport implements BfdTransport {
  private readonly listenPort: number;
  private remotePort: number | undefined;
  private readonly ipv4Address: string | null;
  private readonly ipv6Address: string | null;
  private readonly portMin: number;
  private readonly portMax: number;
  private readonly log: Logger;
  private readonly sockets: dgram.Socket[] = [];
  private readonly senders = new Set<UdpBfdSender>();
  private readonly counters: UdpBfdTransportStats = { received: 0, socketErrors: 0, handlerErrors: 0 };
  private listening = false;
  private closed = false;

  constructor(opts: UdpBfdTransportOptions = {}) {
    const o = resolveBfdTransportOptions(opts);
    this.listenPort = o.listenPort;
    this.remotePort = o.remotePort;
    this.ipv4Address = o.ipv4Address;
    this.ipv6Address = o.ipv6Address;
    this.portMin = o.sourcePortMin;
    this.portMax = o.sourcePortMax;
    this.log = o.logger;
  }

  stats(): UdpBfdTransportStats {
    return { ...this.counters };
  }

  /** Addresses and ports the listeners are bound to. */
  listeners(): { address: string; port: number; family: 'IPv4' | 'IPv6' }[] {
    return this.sockets.map((s) => {
      const a = s.address();
      return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
    });
  }

  async listen(onPacket: BfdPacketHandler): Promise<void> {
    if (this.closed) throw new Error('bfd transport is closed');
    if (this.listening) throw new Error('bfd transport is already listening');
    this.listening = true;
    const deliver = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      this.counters.received++;
      try {
        onPacket(msg, { srcAddr: canonicalSource(rinfo.address), srcPort: rinfo.port });
      } catch (e) {
        this.counters.handlerErrors++;
        this.log.error({ err: e, from: rinfo.address }, 'bfd receive handler threw');
      }
    };
    try {
      if (this.ipv4Address !== null) {
        const s = this.newSocket('udp4');
        s.on('message', deliver);
        this.sockets.push(s);
        await bindSocket(s, this.ipv4Address, this.listenPort);
      }
      if (this.ipv6Address !== null) {
        const s = this.newSocket('udp6');
        s.on('message', deliver);
        this.sockets.push(s);
        try {
          // With port 0 both families share the port the first one got.
          await bindSocket(s, this.ipv6Address, this.boundPort() ?? this.listenPort);
        } catch (e) {
          // A kernel without IPv6 (or a namespace with it disabled) is not a
          // reason to run no BFD at all when nobody asked for a v6 address.
          const noV6 = errnoCode(e) === 'EAFNOSUPPORT' || errnoCode(e) === 'EADDRNOTAVAIL';
          if (!(noV6 && this.ipv6Address === '::')) throw e;
          this.sockets.pop();
          void closeSocket(s);
          this.log.warn({ err: e }, 'bfd: no IPv6 listener (IPv6 unavailable)');
        }
      }
    } catch (e) {
      await this.closeListeners();
      this.listening = false;
      throw new Error(`bfd transport cannot listen on port ${this.listenPort}: ${errorMessage(e)}`);
    }
    this.remotePort ??= this.boundPort() ?? this.listenPort;
  }

  async openSender(opts: BfdSenderOptions): Promise<BfdSender> {
    if (this.closed) throw new Error('bfd transport is closed');
    const { family, remote, local } = resolveSenderAddresses(opts);
    let lastErr: unknown;
    for (const port of sourcePortCandidates(this.portMin, this.portMax)) {
      const socket = this.newSocket(family === 'ipv4' ? 'udp4' : 'udp6');
      try {
        await bindSocket(socket, local, port);
      } catch (e) {
        void closeSocket(socket);
        lastErr = e;
        if (errnoCode(e) === 'EADDRINUSE') continue;
        throw new Error(`bfd: cannot bind a source socket on ${local}: ${errorMessage(e)}`);
      }
      try {
        // libuv picks IP_TTL or IPV6_UNICAST_HOPS by the socket's family.
        socket.setTTL(BFD_TTL);
      } catch (e) {
        void closeSocket(socket);
        throw new Error(`bfd: cannot set TTL ${BFD_TTL} on ${local}:${port}: ${errorMessage(e)}`);
      }
      if (this.closed) {
        void closeSocket(socket);
        throw new Error('bfd transport is closed');
      }
      const remotePort = this.remotePort ?? (this.listenPort || BFD_CONTROL_PORT);
      const sender = new UdpBfdSender(socket, port, remote, remotePort, (s) => this.senders.delete(s));
      this.senders.add(sender);
      return sender;
    }
    throw new Error(`bfd: no free source port in ${this.portMin}-${this.portMax} on ${local}: ${errorMessage(lastErr)}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const senders = [...this.senders];
    this.senders.clear();
    await Promise.all([this.closeListeners(), ...senders.map((s) => s.closeAndWait())]);
  }

  private newSocket(type: 'udp4' | 'udp6'): dgram.Socket {
    const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    // An 'error' event without a listener would crash the process. Bind
    // errors are the binder's; anything later is counted here.
    socket.once('listening', () => {
      socket.on('error', (e) => {
        this.counters.socketErrors++;
        this.log.warn({ err: e }, 'bfd socket error');
      });
    });
    return socket;
  }

  private boundPort(): number | undefined {
    const s = this.sockets[0];
    if (!s) return undefined;
    try {
      return s.address().port;
    } catch {
      return undefined;
    }
  }

  private async closeListeners(): Promise<void> {
    const ls = this.sockets.splice(0);
    await Promise.all(ls.map((s) => closeSocket(s)));
  }
}
