// SCTP liveness probe: an INIT to the endpoint's port from a random port of
// ours. An INIT ACK (with our tag) means something listens there: up, and we
// send an ABORT with the endpoint's tag so it can forget us (it keeps no
// state before COOKIE ECHO anyway, RFC 9260 §5.1.3). An ABORT means the host
// runs SCTP but nothing listens on the port: down. Silence until the
// timeout: down.
//
// Without kernel SCTP sockets this rides on one raw IP socket per address
// family, shared by every probe in flight. Such a socket receives every
// SCTP packet reaching this network namespace, so probes demultiplex by
// addresses, ports and verification tag, and the sockets are closed once no
// probe has been in flight for idleCloseMs; they never keep the process
// alive on their own.
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { IPPROTO_SCTP, rawSocketFactory, type IpFamily, type RawIpSocket, type RawPacket, type RawSocketFactory } from '../net/RawSocket.ts';
import { parseIp } from '../util/ipAddress.ts';
import { decodeSctpPacket, encodeSctpPacket, SctpCauseCode } from './sctp.ts';

export type SctpProbeOutcome =
  /** INIT ACK: a listener answered. */
  | 'init-ack'
  /** ABORT: the host answered that nothing listens there. */
  | 'abort'
  | 'timeout'
  /** The kernel refused the INIT (no route, ...); detail has the errno code. */
  | 'send-failed';

export interface SctpProbeResult {
  up: boolean;
  outcome: SctpProbeOutcome;
  detail?: string;
}

export interface SctpProberOptions {
  /** Opens the per-family sockets; default raw IP sockets of protocol 132 that do not keep the process alive. */
  openSocket?: RawSocketFactory;
  clock?: Clock;
  /** 32 random bits; default crypto. */
  random32?: () => number;
  /** Close a family's socket after this long with no probe in flight (default 30 s). */
  idleCloseMs?: number;
}

/** Our probes' source ports: the dynamic range, as an ephemeral port would be. */
const PORT_MIN = 49152;
const PORT_SPAN = 65536 - PORT_MIN;
/** a_rwnd of our INIT: the RFC 9260 §6 minimum is 1500. */
const PROBE_ARWND = 65535;

interface Pending {
  family: IpFamily;
  ip: string;
  port: number;
  localPort: number;
  tag: number;
  timer: TimerHandle;
  resolve: (r: SctpProbeResult) => void;
}

interface FamilySocket {
  socket: RawIpSocket;
  idleTimer?: TimerHandle;
}

function defaultRandom32(): number {
  return randomBytes(4).readUInt32BE(0);
}

export class SctpProber {
  private readonly openSocket: RawSocketFactory;
  private readonly clock: Clock;
  private readonly random32: () => number;
  private readonly idleCloseMs: number;
  private readonly sockets = new Map<IpFamily, FamilySocket>();
  /** By `${family}|${ip}|${port}|${localPort}`. */
  private readonly pending = new Map<string, Pending>();

  constructor(opts: SctpProberOptions = {}) {
    this.openSocket = opts.openSocket ?? rawSocketFactory(IPPROTO_SCTP, { ref: false });
    this.clock = opts.clock ?? systemClock;
    this.random32 = opts.random32 ?? defaultRandom32;
    this.idleCloseMs = opts.idleCloseMs ?? 30_000;
  }

  /** Probes ip:port once. Never rejects: a bad address or a socket that cannot be opened is a 'send-failed' down. */
  probe(ip: string, port: number, timeoutMs: number): Promise<SctpProbeResult> {
    const addr = parseIp(ip);
    if (addr === undefined) return Promise.resolve({ up: false, outcome: 'send-failed', detail: `"${ip}" is not an IP address` });
    if (!Number.isInteger(port) || port < 1 || port > 65535) return Promise.resolve({ up: false, outcome: 'send-failed', detail: `port ${port}` });
    const family: IpFamily = addr.kind() === 'ipv4' ? 4 : 6;
    // The text the socket reports sources in.
    const peer = addr.toString();
    let fs: FamilySocket;
    try {
      fs = this.socketFor(family);
    } catch (err) {
      return Promise.resolve({ up: false, outcome: 'send-failed', detail: (err as Error).message });
    }
    let localPort = PORT_MIN + (this.random32() % PORT_SPAN);
    while (this.pending.has(keyOf(family, peer, port, localPort))) localPort = PORT_MIN + ((localPort - PORT_MIN + 1) % PORT_SPAN);
    // A zero Initiate Tag is not allowed (§3.3.2).
    const tag = this.random32() || 1;
    const key = keyOf(family, peer, port, localPort);
    return new Promise<SctpProbeResult>((resolve) => {
      const p: Pending = {
        family,
        ip: peer,
        port,
        localPort,
        tag,
        resolve,
        timer: this.clock.setTimer(() => this.finish(key, { up: false, outcome: 'timeout' }), timeoutMs),
      };
      this.pending.set(key, p);
      const init = encodeSctpPacket({
        srcPort: localPort,
        dstPort: port,
        verificationTag: 0,
        chunks: [
          {
            type: 'INIT',
            initiateTag: tag,
            arwnd: PROBE_ARWND,
            outboundStreams: 1,
            inboundStreams: 1,
            initialTsn: this.random32(),
            params: [{ type: 'SUPPORTED_ADDRESS_TYPES', addressTypes: [family === 4 ? 5 : 6] }],
          },
        ],
      });
      const err = fs.socket.send(peer, init);
      if (err !== undefined) this.finish(key, { up: false, outcome: 'send-failed', detail: err });
    });
  }

  /** Probes in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Ends every probe in flight as a timeout and closes the sockets. The prober can be used again. */
  close(): void {
    for (const key of [...this.pending.keys()]) this.finish(key, { up: false, outcome: 'timeout', detail: 'prober closed' });
    for (const family of [...this.sockets.keys()]) this.closeSocket(family);
  }

  private socketFor(family: IpFamily): FamilySocket {
    let fs = this.sockets.get(family);
    if (fs === undefined) {
      fs = { socket: this.openSocket(family, (pkt) => this.onPacket(family, pkt)) };
      this.sockets.set(family, fs);
    }
    if (fs.idleTimer !== undefined) {
      this.clock.clearTimer(fs.idleTimer);
      fs.idleTimer = undefined;
    }
    return fs;
  }

  private closeSocket(family: IpFamily): void {
    const fs = this.sockets.get(family);
    if (fs === undefined) return;
    if (fs.idleTimer !== undefined) this.clock.clearTimer(fs.idleTimer);
    this.sockets.delete(family);
    fs.socket.close();
  }

  private onPacket(family: IpFamily, pkt: RawPacket): void {
    // A cheap look at the ports before decoding: the socket sees all SCTP.
    if (pkt.payload.length < 12) return;
    const key = keyOf(family, parseIp(pkt.src)?.toString() ?? pkt.src, pkt.payload.readUInt16BE(0), pkt.payload.readUInt16BE(2));
    const p = this.pending.get(key);
    if (p === undefined) return;
    const d = decodeSctpPacket(pkt.payload);
    if (!d.ok) return;
    const vtag = d.packet.verificationTag;
    for (const chunk of d.packet.chunks) {
      if (chunk.type === 'INIT_ACK' && vtag === p.tag) {
        // Let the endpoint forget us; with its tag, as §8.5.1 wants, and from the address it answered.
        const abort = encodeSctpPacket({
          srcPort: p.localPort,
          dstPort: p.port,
          verificationTag: chunk.initiateTag,
          chunks: [{ type: 'ABORT', tBit: false, causes: [{ code: SctpCauseCode.USER_INITIATED_ABORT, info: Buffer.alloc(0) }] }],
        });
        this.sockets.get(family)?.socket.send(p.ip, abort, { src: pkt.dst });
        this.finish(key, { up: true, outcome: 'init-ack' });
        return;
      }
      // §8.4 (3): an INIT is refused with our Initiate Tag and T clear; a
      // stack that reflects the INIT's own tag instead sets T and sends 0.
      if (chunk.type === 'ABORT' && (vtag === p.tag || (chunk.tBit && vtag === 0))) {
        this.finish(key, { up: false, outcome: 'abort' });
        return;
      }
    }
  }

  private finish(key: string, result: SctpProbeResult): void {
    const p = this.pending.get(key);
    if (p === undefined) return;
    this.pending.delete(key);
    this.clock.clearTimer(p.timer);
    p.resolve(result);
    if (![...this.pending.values()].some((o) => o.family === p.family)) {
      const fs = this.sockets.get(p.family);
      if (fs !== undefined && fs.idleTimer === undefined) {
        fs.idleTimer = this.clock.setTimer(() => this.closeSocket(p.family), this.idleCloseMs);
        // Only the system clock's handles can be unref'd; an idle socket must not hold the process.
        (fs.idleTimer as { unref?: () => void } | undefined)?.unref?.();
      }
    }
  }
}

function keyOf(family: IpFamily, ip: string, port: number, localPort: number): string {
  return `${family}|${ip}|${port}|${localPort}`;
}
