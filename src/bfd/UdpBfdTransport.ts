// BFD over UDP with node:dgram, single hop (RFC 5881): one listener per
// address family on the BFD Control port (3784), and one socket per session,
// bound to the session's source address and to a source port of its own in
// 49152-65535, sending with TTL / Hop Limit 255.
//
// Limits of node:dgram, accepted for now: it cannot read the received TTL
// (no IP_RECVTTL) nor the destination address (no IP_PKTINFO), so
// BfdPacketMeta.ttl and .dstAddr stay undefined and the receive-side GTSM
// check of RFC 5881 §5 is not enforced here. The native transport that will
// replace this one enforces it; until then BfdManager checks that a packet's
// source is the session's peer, and authentication is the defence against
// off-link senders.
//
// Nothing here throws out of a timer or an event: send failures are counted
// per sender, socket errors are logged and counted, and a receive handler
// that throws is logged.
import { errnoCode, errorMessage } from '../util/errors.ts';
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { silentLogger, type Logger } from '../util/logger.ts';
import { parseIp } from '../util/ipAddress.ts';
import type {
  BfdPacketHandler,
  BfdSender,
  BfdSenderOptions,
  BfdSenderStats,
  BfdTransport,
} from './BfdTransport.ts';

/** RFC 5881 §4. */
export const BFD_CONTROL_PORT = 3784;
export const BFD_SOURCE_PORT_MIN = 49152;
export const BFD_SOURCE_PORT_MAX = 65535;
/** RFC 5881 §5: single-hop packets are sent with TTL / Hop Limit 255. */
export const BFD_TTL = 255;

const BIND_ATTEMPTS = 64;

export interface UdpBfdTransportOptions {
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
export function resolveBfdTransportOptions(opts: UdpBfdTransportOptions): ResolvedBfdTransportOptions {
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
  if (o.ipv4Address !== null && parseIp(o.ipv4Address)?.kind() !== 'ipv4') {
    throw new RangeError(`invalid ipv4Address: an IPv4 address (got ${JSON.stringify(o.ipv4Address)})`);
  }
  if (o.ipv6Address !== null && !(o.ipv6Address.includes(':') && parseIp(o.ipv6Address) !== undefined)) {
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

export interface UdpBfdTransportStats {
  /** Datagrams received on the listeners. */
  received: number;
  /** 'error' events from any socket. */
  socketErrors: number;
  /** Receive handlers that threw. */
  handlerErrors: number;
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
