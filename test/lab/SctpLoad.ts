// A load generator of SCTP DATA for benchmarks (bench/l4.bench.ts), over an
// SctpHost and its raw sockets: N associations, each keeping a window of DATA
// chunks in flight to a server that echoes them (test/lab/SctpHost.ts), and
// counting what comes back. What it measures is packets through a path, so
// it spends as little CPU per packet as it can:
//
// - Associations are set up by SctpClient (INIT, COOKIE ECHO through the
//   path, as any client), then handed over (SctpClient.handOver) to this.
// - DATA goes out of one preformatted buffer per association: TSN, stream
//   sequence number and checksum are written in place, and the send copies
//   the bytes into the kernel at once, so nothing is allocated per packet.
// - Packets come in through SctpHost's raw fast path (checksum checked by the
//   host; a bad one is counted there and never reaches us): SACK and DATA
//   chunks are read where they lie, nothing is decoded into objects. Others
//   (SHUTDOWN ACK, ABORT, HEARTBEAT) take the general path.
// - No promise, timer or JSON per packet: a window slot frees when the
//   server's cumulative SACK passes our DATA and is refilled at once; echoes
//   are SACKed every second one (RFC 9260 §6.2), or after 200 ms; one timer
//   per load (a tick) does retransmission, delayed SACKs and the drain.
//
// Every DATA packet carries one DATA chunk and nothing else, so the first
// chunk of what the client sends is DATA (a datapath may do more for DATA
// than for control chunks: the bench should see that cost). Loss is
// recovered go-back-N (the test server drops DATA after a gap): after rtoMs
// without progress every unacknowledged DATA goes again, counted in
// retransmits. Echoes are counted once each, by the server's TSN: a TSN
// skipped is an echo lost (echoGaps), a repeated one a duplicate. Each
// association remembers the endpoint name its first echo starts with
// ("<name>@<address>: ") and counts echoes that name another one
// (endpointChanges) or come from an address other than the one it sends to
// (wrongSource).
import type { TimerHandle } from '../../src/bfd/clock.ts';
import { encodeSctpPacket, SCTP_HEADER_LEN, SctpChunkType, SctpDataFlags, setSctpChecksum, tsnAfter, type SctpChunk, type SctpPacket } from '../../src/lb/sctp.ts';
import type { RawPacket } from '../../src/net/RawSocket.ts';
import type { SctpClient, SctpHandOver, SctpHost, SctpPortUser } from './SctpHost.ts';

export interface SctpLoadTarget {
  server: string;
  port: number;
}

export interface SctpLoadOptions {
  /** Where the associations go, round robin (a VIP, or endpoints themselves). */
  targets: SctpLoadTarget[];
  associations: number;
  /** DATA chunks in flight per association. */
  window: number;
  /** User data bytes per DATA chunk. */
  payloadBytes: number;
  /** Our source address; default the kernel's choice. */
  src?: string;
  /** Go-back-N retransmission after this long without progress (default 500 ms). */
  rtoMs?: number;
  /** SACK every this many echoes (default 2). */
  sackEvery?: number;
  /** New DATA per association before it stops sending (tests; default no limit). */
  maxData?: number;
  /** The association set-up's retransmission timeout and tries (SctpClient's defaults). */
  connectRtoMs?: number;
  connectRetransmits?: number;
}

export interface SctpLoadCounters {
  /** When these were taken, host clock milliseconds. */
  at: number;
  associations: number;
  /** New DATA chunks sent (retransmissions not counted). */
  dataSent: number;
  /** DATA chunks sent again (go-back-N). */
  retransmits: number;
  /** DATA chunks the servers' cumulative SACKs acknowledged. */
  acked: number;
  /** Echoes received, each once. */
  echoes: number;
  duplicateEchoes: number;
  /** Echoes never seen: TSNs the servers' echoes skipped. */
  echoGaps: number;
  sacksSent: number;
  /** Every packet of these associations, both ways (set-up excluded: that was SctpClient's). */
  packetsSent: number;
  packetsReceived: number;
  /** Packets from an address other than the one the association sends to. */
  wrongSource: number;
  /** Echoes naming another endpoint than the association's first echo did. */
  endpointChanges: number;
  aborted: number;
  /** By the endpoint name the echoes start with. */
  echoesByEndpoint: Record<string, number>;
  associationsByEndpoint: Record<string, number>;
}

export interface SctpLoadResult extends SctpLoadCounters {
  /** DATA the servers had not acknowledged when the drain ended. */
  unacked: number;
  /** DATA without an echo (lost echoes and unacknowledged DATA). */
  unechoed: number;
  /** Associations whose SHUTDOWN was not answered (they were let go). */
  shutdownFailed: number;
  drainMs: number;
}

/** Counters every association adds to. */
type Totals = Omit<SctpLoadCounters, 'at' | 'associations' | 'echoesByEndpoint' | 'associationsByEndpoint'>;

const SACK_LEN = 16;
const DATA_HEADER_LEN = 16;
const ARWND = 65535;
/** Echoes are SACKed at the latest this long after they came (RFC 9260 §6.2 allows 500 ms). */
const DELAYED_SACK_MS = 200;
/** SHUTDOWN is sent this many times before the association is let go. */
const SHUTDOWN_TRIES = 5;

const pad4 = (n: number): number => (n + 3) & ~3;

function positiveInt(name: string, v: number | undefined, min = 1): number {
  if (v === undefined || !Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

export class SctpLoad {
  readonly totals: Totals = {
    dataSent: 0,
    retransmits: 0,
    acked: 0,
    echoes: 0,
    duplicateEchoes: 0,
    echoGaps: 0,
    sacksSent: 0,
    packetsSent: 0,
    packetsReceived: 0,
    wrongSource: 0,
    endpointChanges: 0,
    aborted: 0,
  };
  readonly rtoMs: number;
  readonly sackEvery: number;
  readonly window: number;
  readonly maxData: number | undefined;
  private readonly assocs: LoadAssociation[] = [];
  private timer: TimerHandle | undefined;
  private readonly tickMs: number;
  private draining: { deadline: number; started: number; resolve: (r: SctpLoadResult) => void } | undefined;
  private closed = false;

  private constructor(
    readonly host: SctpHost,
    readonly opts: SctpLoadOptions,
  ) {
    this.rtoMs = positiveInt('rtoMs', opts.rtoMs ?? 500);
    this.sackEvery = positiveInt('sackEvery', opts.sackEvery ?? 2);
    this.window = positiveInt('window', opts.window);
    this.maxData = opts.maxData === undefined ? undefined : positiveInt('maxData', opts.maxData, 0);
    this.tickMs = Math.max(5, Math.min(50, Math.floor(this.rtoMs / 4)));
  }

  /** Sets up every association (in parallel), then starts sending. Throws if any fails to associate; the others are aborted. */
  static async start(host: SctpHost, opts: SctpLoadOptions): Promise<SctpLoad> {
    const n = positiveInt('associations', opts.associations);
    positiveInt('window', opts.window);
    positiveInt('payloadBytes', opts.payloadBytes, 0);
    if (opts.payloadBytes > 1200) throw new RangeError(`payloadBytes ${opts.payloadBytes} would not fit one packet of a 1500-byte MTU`);
    if (opts.targets.length === 0) throw new RangeError('no targets');
    const load = new SctpLoad(host, opts);
    const settled = await Promise.allSettled(
      Array.from({ length: n }, (_, i) => {
        const t = opts.targets[i % opts.targets.length]!;
        return host.connect({ server: t.server, port: t.port, src: opts.src, rtoMs: opts.connectRtoMs, maxRetransmits: opts.connectRetransmits });
      }),
    );
    const up = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    if (failed.length > 0) {
      for (const c of up) c.abort();
      throw new Error(`${failed.length} of ${n} associations failed to set up: ${failed[0] instanceof Error ? failed[0].message : String(failed[0])}`);
    }
    load.begin(up);
    return load;
  }

  counters(): SctpLoadCounters {
    const echoesByEndpoint: Record<string, number> = {};
    const associationsByEndpoint: Record<string, number> = {};
    for (const a of this.assocs) {
      const ep = a.endpoint ?? '(no echo yet)';
      echoesByEndpoint[ep] = (echoesByEndpoint[ep] ?? 0) + a.echoes;
      associationsByEndpoint[ep] = (associationsByEndpoint[ep] ?? 0) + 1;
    }
    return { at: this.host.clock.now(), associations: this.assocs.length, ...this.totals, echoesByEndpoint, associationsByEndpoint };
  }

  /**
   * Stops new DATA, waits up to drainMs for what is in flight to be
   * acknowledged and echoed (retransmitting as needed), SACKs the last
   * echoes and shuts every association down (SHUTDOWN, SHUTDOWN ACK,
   * SHUTDOWN COMPLETE). Resolves with the final counters.
   */
  stop(drainMs = 3000): Promise<SctpLoadResult> {
    if (this.draining !== undefined || this.closed) return Promise.reject(new Error('the load is already stopping'));
    for (const a of this.assocs) a.drain();
    return new Promise((resolve) => {
      const now = this.host.clock.now();
      this.draining = { deadline: now + drainMs, started: now, resolve };
      this.checkDrain();
    });
  }

  /** Lets every association go without a word (the process is ending). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.host.clock.clearTimer(this.timer);
    for (const a of this.assocs) a.close();
  }

  // ---- for the associations ---------------------------------------------------

  transmit(dst: string, buf: Buffer, src: string | undefined): void {
    if (this.host.sendRaw(dst, buf, src)) this.totals.packetsSent++;
  }

  // ---- internals --------------------------------------------------------------

  private begin(clients: SctpClient[]): void {
    const now = this.host.clock.now();
    for (const c of clients) {
      const a = new LoadAssociation(this, c.handOver(), now);
      this.host.adopt(a.localPort, a);
      this.assocs.push(a);
    }
    this.arm();
    for (const a of this.assocs) a.refill();
  }

  private arm(): void {
    this.timer = this.host.clock.setTimer(() => this.tick(), this.tickMs);
  }

  private tick(): void {
    if (this.closed) return;
    const now = this.host.clock.now();
    for (const a of this.assocs) a.tick(now);
    this.checkDrain();
    if (!this.closed) this.arm();
  }

  private checkDrain(): void {
    const d = this.draining;
    if (d === undefined) return;
    const now = this.host.clock.now();
    const timedOut = now >= d.deadline;
    for (const a of this.assocs) {
      if (a.state === 'draining' && (a.drained() || timedOut)) a.shutdown(now);
    }
    if (this.assocs.some((a) => a.state !== 'closed')) return;
    this.closed = true;
    this.host.clock.clearTimer(this.timer);
    let unacked = 0;
    for (const a of this.assocs) unacked += a.outstanding();
    const c = this.counters();
    d.resolve({
      ...c,
      unacked,
      unechoed: c.dataSent - c.echoes,
      shutdownFailed: this.assocs.filter((a) => a.shutdownFailed).length,
      drainMs: now - d.started,
    });
  }
}

type LoadState = 'loading' | 'draining' | 'shutdown-sent' | 'closed';

class LoadAssociation implements SctpPortUser {
  readonly localPort: number;
  readonly server: string;
  readonly serverPort: number;
  readonly src: string | undefined;
  readonly localTag: number;
  readonly peerTag: number;
  state: LoadState = 'loading';
  /** Name of the endpoint that echoes (from the first echo). */
  endpoint: string | undefined;
  echoes = 0;
  /** Echoes never seen (TSNs skipped). */
  private gaps = 0;
  shutdownFailed = false;
  private nextTsn: number;
  /** Our last TSN the server's cumulative SACK covered. */
  private cumAck: number;
  private readonly baseTsn: number;
  private readonly baseSsn: number;
  /** The server's last TSN (an echo) we have seen. */
  private peerCum: number;
  private sent = 0;
  private unsacked = 0;
  private resending = false;
  private lastProgress: number;
  private lastSack: number;
  private shutdownAt = 0;
  private shutdownTries = 0;
  private prefix: Buffer | undefined;
  private readonly dataPkt: Buffer;
  private readonly sackPkt: Buffer;
  private readonly t: Totals;

  constructor(
    private readonly load: SctpLoad,
    h: SctpHandOver,
    now: number,
  ) {
    this.localPort = h.localPort;
    this.server = h.path.dst;
    this.serverPort = h.port;
    this.src = h.path.src;
    this.localTag = h.localTag;
    this.peerTag = h.peerTag;
    this.nextTsn = h.nextTsn;
    this.cumAck = (h.nextTsn - 1) >>> 0;
    this.baseTsn = h.nextTsn;
    this.baseSsn = h.streamSeq;
    this.peerCum = h.peerCumTsn;
    this.lastProgress = now;
    this.lastSack = now;
    this.t = load.totals;

    const payload = load.opts.payloadBytes;
    const clen = DATA_HEADER_LEN + payload;
    this.dataPkt = Buffer.alloc(SCTP_HEADER_LEN + pad4(clen));
    this.header(this.dataPkt);
    const d = SCTP_HEADER_LEN;
    this.dataPkt[d] = SctpChunkType.DATA;
    this.dataPkt[d + 1] = SctpDataFlags.BEGINNING | SctpDataFlags.END;
    this.dataPkt.writeUInt16BE(clen, d + 2);
    // Stream 0 and PPID 0 stay; TSN and stream sequence number are written per packet.
    for (let i = 0; i < payload; i++) this.dataPkt[d + DATA_HEADER_LEN + i] = 0x61 + (i % 26);

    this.sackPkt = Buffer.alloc(SCTP_HEADER_LEN + SACK_LEN);
    this.header(this.sackPkt);
    this.sackPkt[d] = SctpChunkType.SACK;
    this.sackPkt.writeUInt16BE(SACK_LEN, d + 2);
    this.sackPkt.writeUInt32BE(ARWND, d + 8);
  }

  outstanding(): number {
    return (this.nextTsn - 1 - this.cumAck) >>> 0;
  }

  /** Everything sent is acknowledged and every echo of it is in (or known lost). */
  drained(): boolean {
    return this.outstanding() === 0 && this.echoes + this.gaps === ((this.cumAck - this.baseTsn + 1) >>> 0);
  }

  refill(): void {
    if (this.state !== 'loading' || this.resending) return;
    const max = this.load.maxData;
    while (this.outstanding() < this.load.window && (max === undefined || this.sent < max)) {
      // State first: an answer may come back within the send (a fake network) and refill again.
      const tsn = this.nextTsn;
      this.nextTsn = (tsn + 1) >>> 0;
      this.sent++;
      this.t.dataSent++;
      this.sendData(tsn);
    }
  }

  drain(): void {
    if (this.state === 'loading') this.state = 'draining';
  }

  tick(now: number): void {
    if (this.state === 'loading' || this.state === 'draining') {
      const n = this.outstanding();
      if (n > 0 && now - this.lastProgress >= this.load.rtoMs) {
        // Go-back-N: the server drops whatever follows a gap.
        this.t.retransmits += n;
        this.lastProgress = now;
        // No new DATA in between (answers may come within a send on a fake network): it would land behind a gap again.
        this.resending = true;
        for (let tsn = (this.cumAck + 1) >>> 0, i = 0; i < n; i++, tsn = (tsn + 1) >>> 0) this.sendData(tsn);
        this.resending = false;
        this.refill();
      }
      if (this.unsacked > 0 && now - this.lastSack >= DELAYED_SACK_MS) this.sendSack(now);
    } else if (this.state === 'shutdown-sent' && now - this.shutdownAt >= this.load.rtoMs) {
      if (this.shutdownTries >= SHUTDOWN_TRIES) {
        this.shutdownFailed = true;
        this.finish();
      } else {
        this.sendShutdown(now);
      }
    }
  }

  shutdown(now: number): void {
    const sack = this.unsacked > 0;
    this.state = 'shutdown-sent';
    if (sack) this.sendSack(now);
    this.sendShutdown(now);
  }

  close(): void {
    this.finish();
  }

  onRawPacket(buf: Buffer, rx: RawPacket): boolean {
    if (buf.readUInt32BE(4) !== this.localTag || buf.readUInt16BE(0) !== this.serverPort) return false;
    // SACK and DATA chunks that fit, or the general path.
    for (let off = SCTP_HEADER_LEN; off < buf.length; ) {
      if (buf.length - off < 4) return false;
      const type = buf[off]!;
      const len = buf.readUInt16BE(off + 2);
      if (len < 4 || off + len > buf.length) return false;
      if (type === SctpChunkType.DATA) {
        if (len < DATA_HEADER_LEN) return false;
      } else if (type !== SctpChunkType.SACK || len < SACK_LEN) {
        return false;
      }
      off += pad4(len);
    }
    this.arrived(rx);
    for (let off = SCTP_HEADER_LEN; off < buf.length; ) {
      const len = buf.readUInt16BE(off + 2);
      if (buf[off] === SctpChunkType.SACK) this.onSack(buf.readUInt32BE(off + 4));
      else this.onEcho(buf.readUInt32BE(off + 4), buf, off + DATA_HEADER_LEN, off + len);
      off += pad4(len);
    }
    this.afterPacket();
    return true;
  }

  onPacket(pkt: SctpPacket, rx: RawPacket): boolean {
    if (pkt.srcPort !== this.serverPort) return false;
    if (pkt.verificationTag !== this.localTag) {
      // An ABORT with the T bit carries the server's own tag.
      if (pkt.verificationTag !== this.peerTag || !pkt.chunks.some((c) => c.type === 'ABORT' && c.tBit)) return false;
      this.arrived(rx);
      this.aborted();
      return true;
    }
    this.arrived(rx);
    for (const c of pkt.chunks) {
      switch (c.type) {
        case 'SACK':
          this.onSack(c.cumulativeTsnAck);
          break;
        case 'DATA':
          this.onEcho(c.tsn, c.data, 0, c.data.length);
          break;
        case 'HEARTBEAT':
          this.sendChunk({ type: 'HEARTBEAT_ACK', info: c.info }, rx.src);
          break;
        case 'SHUTDOWN_ACK':
          if (this.state === 'shutdown-sent') {
            this.sendChunk({ type: 'SHUTDOWN_COMPLETE', tBit: false });
            this.finish();
          }
          return true;
        case 'ABORT':
          this.aborted();
          return true;
        default:
          break;
      }
    }
    this.afterPacket();
    return true;
  }

  // ---- internals --------------------------------------------------------------

  private header(b: Buffer): void {
    b.writeUInt16BE(this.localPort, 0);
    b.writeUInt16BE(this.serverPort, 2);
    b.writeUInt32BE(this.peerTag, 4);
  }

  private arrived(rx: RawPacket): void {
    this.t.packetsReceived++;
    if (rx.src !== this.server) this.t.wrongSource++;
  }

  private onSack(cum: number): void {
    if (!tsnAfter(cum, this.cumAck) || tsnAfter(cum, (this.nextTsn - 1) >>> 0)) return;
    this.t.acked += (cum - this.cumAck) >>> 0;
    this.cumAck = cum;
    this.lastProgress = this.load.host.clock.now();
  }

  /** An echo: the server's TSN, and its user data at buf[start, end). */
  private onEcho(tsn: number, buf: Buffer, start: number, end: number): void {
    this.unsacked++;
    if (!tsnAfter(tsn, this.peerCum)) {
      this.t.duplicateEchoes++;
      return;
    }
    const skipped = (tsn - this.peerCum - 1) >>> 0;
    this.gaps += skipped;
    this.t.echoGaps += skipped;
    this.peerCum = tsn;
    this.echoes++;
    this.t.echoes++;
    const p = this.prefix;
    if (p === undefined) {
      // "<name>@<address>: <our data>"
      const at = buf.indexOf(0x40, start);
      const name = at >= start && at < end && at - start <= 64 ? buf.toString('latin1', start, at) : '(unnamed)';
      this.endpoint = name;
      this.prefix = Buffer.from(buf.subarray(start, at >= start && at < end ? at + 1 : start));
    } else if (end - start < p.length || buf.compare(p, 0, p.length, start, start + p.length) !== 0) {
      this.t.endpointChanges++;
    }
  }

  private afterPacket(): void {
    this.refill();
    if (this.unsacked >= this.load.sackEvery && (this.state === 'loading' || this.state === 'draining')) this.sendSack(this.load.host.clock.now());
  }

  private sendData(tsn: number): void {
    const b = this.dataPkt;
    b.writeUInt32BE(tsn, SCTP_HEADER_LEN + 4);
    b.writeUInt16BE((this.baseSsn + ((tsn - this.baseTsn) >>> 0)) & 0xffff, SCTP_HEADER_LEN + 10);
    setSctpChecksum(b);
    this.load.transmit(this.server, b, this.src);
  }

  private sendSack(now: number): void {
    const b = this.sackPkt;
    b.writeUInt32BE(this.peerCum, SCTP_HEADER_LEN + 4);
    setSctpChecksum(b);
    this.t.sacksSent++;
    this.unsacked = 0;
    this.lastSack = now;
    this.load.transmit(this.server, b, this.src);
  }

  private sendShutdown(now: number): void {
    this.shutdownTries++;
    this.shutdownAt = now;
    this.sendChunk({ type: 'SHUTDOWN', cumulativeTsnAck: this.peerCum });
  }

  private sendChunk(chunk: SctpChunk, dst = this.server): void {
    const buf = encodeSctpPacket({ srcPort: this.localPort, dstPort: this.serverPort, verificationTag: this.peerTag, chunks: [chunk] });
    this.load.transmit(dst, buf, this.src);
  }

  private aborted(): void {
    if (this.state === 'closed') return;
    this.t.aborted++;
    this.finish();
  }

  private finish(): void {
    this.state = 'closed';
    this.load.host.releasePort(this.localPort, this);
  }
}
