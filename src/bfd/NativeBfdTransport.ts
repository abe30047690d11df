// BFD over UDP, single hop (RFC 5881), on the native addon: what
// UdpBfdTransport does, plus the receive-side GTSM check of §5 and the
// destination address of every packet.
//
// Receiving: one listener per address family on the BFD Control port (IPv6
// IPv6-only), read by a thread in the addon with IP_RECVTTL /
// IPV6_RECVHOPLIMIT and IP_PKTINFO / IPV6_RECVPKTINFO. Packets whose TTL /
// Hop Limit is not 255 are dropped there and counted (droppedTtl) and never
// cost a trip into JS; the rest arrive in batches, each delivered with
// meta.ttl (always 255) and meta.dstAddr.
//
// Every packet's meta carries arrivalAt, stamped on the receive thread and
// converted to the performance.now() timebase, and watchArrivals() reads the
// latest arrival from a peer synchronously, even while its packets still
// wait for the JS thread.
//
// Sending: one non-blocking socket per session, bound to the session's source
// address and a port of its own in 49152-65535, TTL / Hop Limit 255 and
// traffic class CS6 (network control, as routers mark BFD). A send never
// blocks the JS thread and never throws: failures are counted per sender.
// Senders offer periodic mode (BfdPeriodicTx): the addon's timer thread
// repeats the session's packet on schedule with no JS involvement.
import { errnoCode, errorMessage } from '../util/errors.ts';
import type { Logger } from '../util/logger.ts';
import { parseIp } from '../util/ipAddress.ts';
import { loadNativeAddon, type NativeAddon, type NativeBfdReceiver, type NativeRxPacket, type NativeUdpSender } from '../util/nativeAddon.ts';
import type {
  BfdArrivalWatch,
  BfdPacketHandler,
  BfdPeriodicStats,
  BfdPeriodicTx,
  BfdSender,
  BfdSenderOptions,
  BfdSenderStats,
  BfdTransport,
} from './BfdTransport.ts';
import {
  BFD_CONTROL_PORT,
  BFD_TTL,
  canonicalSource,
  resolveBfdTransportOptions,
  resolveSenderAddresses,
  sourcePortCandidates,
  type BfdTransportOptions,
} from './transportOptions.ts';

/** IPv4 TOS / IPv6 Traffic Class of our packets: DSCP CS6 (network control). */
export const BFD_TRAFFIC_CLASS = 0xc0;


/** Same options as UdpBfdTransport. */
export type NativeBfdTransportOptions = BfdTransportOptions;

export interface NativeBfdTransportStats {
  /** Datagrams read from the listeners, including those dropped below. */
  received: number;
  /** Datagrams handed to the receive handler. */
  delivered: number;
  /** Dropped because their TTL / Hop Limit was not 255 (RFC 5881 §5). */
  droppedTtl: number;
  /** Dropped because 4096 datagrams were already waiting for the JS thread. */
  droppedOverflow: number;
  /** Receive errors (recvmsg failures, truncated datagrams). */
  errors: number;
  /** Receive handlers that threw. */
  handlerErrors: number;
}

/**
 * performance.now() minus CLOCK_MONOTONIC ms, from the tightest of a few
 * bracketing samples. Node's performance.now() is libuv's hrtime (the
 * monotonic clock) less the process's time origin, so the difference is
 * constant and measured once.
 */
export function monotonicToPerformanceOffsetMs(addon: Pick<NativeAddon, 'monotonicNowMs'>): number {
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 8; i++) {
    const before = performance.now();
    const mono = addon.monotonicNowMs();
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = (before + after) / 2 - mono;
    }
  }
  return offset;
}

class NativeBfdSender implements BfdSender, BfdPeriodicTx {
  private readonly counters: BfdSenderStats = { sent: 0, errors: 0 };
  private closed = false;

  constructor(
    private readonly socket: NativeUdpSender,
    readonly localPort: number,
    private readonly onClose: (s: NativeBfdSender) => void,
  ) {}

  send(packet: Buffer): void {
    if (this.closed) return this.fail('sender closed');
    let code: string | undefined;
    try {
      code = this.socket.send(packet);
    } catch (e) {
      return this.fail(errorMessage(e));
    }
    if (code === undefined) this.counters.sent++;
    else this.fail(code);
  }

  setPeriodic(packet: Buffer, intervalUs: number, detectMult: number): void {
    if (this.closed) return;
    this.socket.setPeriodic(packet, intervalUs, detectMult);
  }

  stopPeriodic(): void {
    this.socket.stopPeriodic();
  }

  periodicStats(): BfdPeriodicStats {
    const { sent, sentCurrent, sentUp, errors, lateMaxUs, lateOverQuarter } = this.socket.periodicStats();
    return { sent, sentCurrent, sentUp, errors, lateMaxUs, lateOverQuarter };
  }

  /** Immediate and periodic sends together. */
  stats(): BfdSenderStats {
    const p = this.socket.periodicStats();
    const out: BfdSenderStats = { sent: this.counters.sent + p.sent, errors: this.counters.errors + p.errors };
    const lastError = this.counters.lastError ?? p.lastError;
    if (lastError !== undefined) out.lastError = lastError;
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    this.socket.close();
  }

  private fail(reason: string): void {
    this.counters.errors++;
    this.counters.lastError = reason;
  }
}

export class NativeBfdTransport implements BfdTransport {
  private readonly listenPort: number;
  private remotePort: number | undefined;
  private readonly ipv4Address: string | null;
  private readonly ipv6Address: string | null;
  private readonly portMin: number;
  private readonly portMax: number;
  private readonly log: Logger;
  private readonly addon: NativeAddon;
  private receiver: NativeBfdReceiver | undefined;
  private readonly bound: { address: string; port: number; family: 'IPv4' | 'IPv6' }[] = [];
  private readonly senders = new Set<NativeBfdSender>();
  private handlerErrors = 0;
  private listening = false;
  private closed = false;
  /** Added to CLOCK_MONOTONIC ms to give performance.now() ms. */
  private readonly monoOffsetMs: number;
  /** Watched (peer, discriminator) pairs with their watcher counts; applied to the receiver once it exists. */
  private readonly watched = new Map<string, { address: string; disc: number; refs: number }>();

  /** Throws if the addon is not built (see createBfdTransport) or an option is invalid. */
  constructor(opts: NativeBfdTransportOptions = {}, addon: NativeAddon = loadNativeAddon()) {
    const o = resolveBfdTransportOptions(opts);
    this.listenPort = o.listenPort;
    this.remotePort = o.remotePort;
    this.ipv4Address = o.ipv4Address;
    this.ipv6Address = o.ipv6Address;
    this.portMin = o.sourcePortMin;
    this.portMax = o.sourcePortMax;
    this.log = o.logger;
    this.addon = addon;
    this.monoOffsetMs = monotonicToPerformanceOffsetMs(addon);
  }

  /** CLOCK_MONOTONIC ms (the receive thread's arrival stamps) in the performance.now() timebase. */
  toPerformanceMs(monotonicMs: number): number {
    return monotonicMs + this.monoOffsetMs;
  }

  /**
   * Keeps the arrival time of the latest packet from remoteAddress whose Your
   * Discriminator is yourDiscriminator (the session's own), read
   * synchronously from the receive thread's table.
   */
  watchArrivals(remoteAddress: string, yourDiscriminator: number): BfdArrivalWatch {
    const address = parseIp(remoteAddress)?.toString() ?? remoteAddress;
    const disc = yourDiscriminator >>> 0;
    const key = `${address}/${disc}`;
    let w = this.watched.get(key);
    if (!w) {
      w = { address, disc, refs: 0 };
      this.watched.set(key, w);
      this.receiver?.watchArrival(address, disc);
    }
    w.refs++;
    let open = true;
    return {
      last: () => {
        const at = this.receiver?.lastArrival(address, disc);
        return at === undefined ? undefined : at + this.monoOffsetMs;
      },
      droppedTtl: () => this.receiver?.droppedTtl(address, disc) ?? 0,
      close: () => {
        if (!open) return;
        open = false;
        const cur = this.watched.get(key);
        if (!cur || --cur.refs > 0) return;
        this.watched.delete(key);
        if (!this.closed) this.receiver?.unwatchArrival(address, disc);
      },
    };
  }

  /** Latest arrival (performance.now() ms) from remoteAddress with that Your Discriminator, if watched and seen. */
  lastArrival(remoteAddress: string, yourDiscriminator: number): number | undefined {
    const at = this.receiver?.lastArrival(parseIp(remoteAddress)?.toString() ?? remoteAddress, yourDiscriminator >>> 0);
    return at === undefined ? undefined : at + this.monoOffsetMs;
  }

  stats(): NativeBfdTransportStats {
    const rx = this.receiver?.stats() ?? { received: 0, delivered: 0, droppedTtl: 0, droppedOverflow: 0, errors: 0 };
    return { ...rx, handlerErrors: this.handlerErrors };
  }

  /** Addresses and ports the listeners are bound to. */
  listeners(): { address: string; port: number; family: 'IPv4' | 'IPv6' }[] {
    return this.bound.map((b) => ({ ...b }));
  }

  async listen(onPacket: BfdPacketHandler): Promise<void> {
    if (this.closed) throw new Error('bfd transport is closed');
    if (this.listening) throw new Error('bfd transport is already listening');
    this.listening = true;
    const receiver = new this.addon.BfdReceiver();
    try {
      if (this.ipv4Address !== null) {
        const port = receiver.addSocket(this.ipv4Address, this.listenPort);
        this.bound.push({ address: this.ipv4Address, port, family: 'IPv4' });
      }
      if (this.ipv6Address !== null) {
        // With port 0 both families share the port the first one got.
        const want = this.bound[0]?.port ?? this.listenPort;
        try {
          const port = receiver.addSocket(this.ipv6Address, want);
          this.bound.push({ address: this.ipv6Address, port, family: 'IPv6' });
        } catch (e) {
          // A kernel without IPv6 (or a namespace with it disabled) is not a
          // reason to run no BFD at all when nobody asked for a v6 address.
          const noV6 = errnoCode(e) === 'EAFNOSUPPORT' || errnoCode(e) === 'EADDRNOTAVAIL';
          if (!(noV6 && this.ipv6Address === '::')) throw e;
          this.log.warn({ err: e }, 'bfd: no IPv6 listener (IPv6 unavailable)');
        }
      }
    } catch (e) {
      receiver.close();
      this.bound.length = 0;
      this.listening = false;
      throw new Error(`bfd transport cannot listen on port ${this.listenPort}: ${errorMessage(e)}`);
    }
    for (const w of this.watched.values()) receiver.watchArrival(w.address, w.disc);
    const offset = this.monoOffsetMs;
    const deliver = (p: NativeRxPacket) => {
      const [data, src, srcPort, dst, ttl, arrivalMs] = p;
      try {
        const meta: Parameters<BfdPacketHandler>[1] = { srcAddr: canonicalSource(src), srcPort, ttl, arrivalAt: arrivalMs + offset };
        if (dst !== undefined) meta.dstAddr = parseIp(dst)?.toString() ?? dst;
        onPacket(data, meta);
      } catch (e) {
        this.handlerErrors++;
        this.log.error({ err: e, from: src }, 'bfd receive handler threw');
      }
    };
    receiver.start((batch) => {
      for (const p of batch) deliver(p);
    });
    this.receiver = receiver;
    this.remotePort ??= this.bound[0]?.port ?? this.listenPort;
  }

  async openSender(opts: BfdSenderOptions): Promise<BfdSender> {
    if (this.closed) throw new Error('bfd transport is closed');
    const { remote, local } = resolveSenderAddresses(opts);
    const remotePort = this.remotePort ?? (this.listenPort || BFD_CONTROL_PORT);
    let lastErr: unknown;
    for (const port of sourcePortCandidates(this.portMin, this.portMax)) {
      let socket: NativeUdpSender;
      try {
        socket = new this.addon.UdpSender(local, port, remote, remotePort, BFD_TTL, BFD_TRAFFIC_CLASS);
      } catch (e) {
        lastErr = e;
        if (errnoCode(e) === 'EADDRINUSE') continue;
        throw new Error(`bfd: cannot open a source socket on ${local}: ${errorMessage(e)}`);
      }
      const sender = new NativeBfdSender(socket, socket.localPort(), (s) => this.senders.delete(s));
      this.senders.add(sender);
      return sender;
    }
    throw new Error(`bfd: no free source port in ${this.portMin}-${this.portMax} on ${local}: ${errorMessage(lastErr)}`);
  }

  /** Stops the receive thread (joined before this resolves) and closes every socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.receiver?.close();
    for (const s of [...this.senders]) s.close();
    this.senders.clear();
  }
}
