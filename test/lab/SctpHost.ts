// SCTP endpoints for tests, over raw IP sockets (the kernel has no SCTP):
// an SctpHost owns one raw socket per address family and hands packets to
// its servers and clients by local port. Correct enough to exercise a load
// balancer, not a full SCTP stack:
//
// - SctpServer answers INIT with INIT ACK and a signed State Cookie (no state
//   before COOKIE ECHO, RFC 9260 §5.1.3), COOKIE ECHO with COOKIE ACK, DATA
//   with SACK plus an echo of the data prefixed "<name>@<address it arrived
//   at>: ", so a test sees which endpoint answered and on which address;
//   HEARTBEAT with HEARTBEAT ACK, SHUTDOWN with SHUTDOWN ACK, ABORT by
//   forgetting the association. It can list its own addresses in INIT ACK.
// - SctpClient associates (listing extra addresses in INIT for
//   multihoming), sends DATA and waits for SACK and echo (retransmitting to
//   the current path, so a test can move the path mid-way: a failover),
//   sends HEARTBEATs, shuts down or aborts.
// - Verification tags are checked both ways; TSNs are in order with
//   cumulative SACKs (out-of-order DATA is dropped, duplicates are SACKed
//   and their echo repeated).
// - A port's user may take packets before they are decoded (onRawPacket,
//   after the host checked the checksum): the server answers in-order DATA
//   that way, and test/lab/SctpLoad.ts its echoes, so a load test spends its
//   CPU on packets rather than on codec objects. Anything such a fast path
//   does not fully understand goes the general way.
// - SctpClient.handOver() gives an established association to another user
//   of its port (the load generator), with its sequence numbers.
// - Every packet with a wrong checksum is recorded in badChecksums, whoever
//   it was for. With answerOutOfTheBlue the host acts like a kernel stack
//   for packets no server or association claims (§8.4): ABORT. Every raw
//   SCTP socket of a namespace gets every SCTP packet, so use it only where
//   this host is the namespace's one SCTP user: it would ABORT the others'
//   associations.
//
// Time comes from a Clock, randomness from random32, sockets from a
// RawSocketFactory, so unit tests run it over test/lab/fakeRawNetwork.ts on
// a ManualClock; test/lab/sctpPeer.ts runs it in a namespace.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { systemClock, type Clock, type TimerHandle } from '../../src/bfd/clock.ts';
import {
  decodeSctpPacket,
  encodeSctpPacket,
  findSctpParam,
  sctpAddressParams,
  sctpListedAddresses,
  SCTP_HEADER_LEN,
  SctpCauseCode,
  SctpChunkType,
  SctpDataFlags,
  sctpChecksumOk,
  setSctpChecksum,
  tsnAfter,
  type SctpChunk,
  type SctpPacket,
} from '../../src/lb/sctp.ts';
import type { IpFamily, RawIpSocket, RawPacket, RawSocketFactory } from '../../src/net/RawSocket.ts';

export interface SctpHostOptions {
  openSocket: RawSocketFactory;
  clock?: Clock;
  /** 32 random bits (tags, TSNs, ports); default crypto. */
  random32?: () => number;
  /** Answer packets nobody here claims with ABORT, as a kernel SCTP stack does (§8.4). Default false. */
  answerOutOfTheBlue?: boolean;
}

export interface SctpBadChecksum {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  detail: string;
}

export interface SctpHostStats {
  /** Packets read from the sockets. */
  received: number;
  sent: number;
  badChecksum: number;
  /** Packets that did not decode for another reason. */
  malformed: number;
  /** Packets no server or association claimed. */
  outOfTheBlue: number;
  sendErrors: number;
  lastSendError?: string;
}

/** The most bad-checksum records kept (counting goes on). */
const MAX_BAD_RECORDS = 1000;
const ARWND = 65535;
const DYNAMIC_PORT_MIN = 49152;

type InitChunk = Extract<SctpChunk, { type: 'INIT' | 'INIT_ACK' }>;
type DataChunk = Extract<SctpChunk, { type: 'DATA' }>;

function familyOf(addr: string): IpFamily {
  return ipaddr.process(addr).kind() === 'ipv4' ? 4 : 6;
}

function canonical(addr: string): string {
  return ipaddr.process(addr).toString();
}

/** What owns a local port of an SctpHost: a server, a client, a load generator's association. */
export interface SctpPortUser {
  /** A decoded packet to this port; true if it was claimed. */
  onPacket(pkt: SctpPacket, rx: RawPacket): boolean;
  /**
   * A packet to this port before decoding, its checksum already found good;
   * true if it was fully handled, false to have it decoded and passed to
   * onPacket. For fast paths that only take the packets they understand.
   */
  onRawPacket?(buf: Buffer, rx: RawPacket): boolean;
  close(): void;
}

export class SctpHost {
  readonly clock: Clock;
  readonly random32: () => number;
  readonly badChecksums: SctpBadChecksum[] = [];
  private readonly openSocket: RawSocketFactory;
  private readonly answerOutOfTheBlue: boolean;
  private readonly sockets = new Map<IpFamily, RawIpSocket>();
  private readonly ports = new Map<number, SctpPortUser>();
  private readonly families = new Map<string, IpFamily>();
  private readonly counters: SctpHostStats = { received: 0, sent: 0, badChecksum: 0, malformed: 0, outOfTheBlue: 0, sendErrors: 0 };
  private closed = false;

  constructor(opts: SctpHostOptions) {
    this.openSocket = opts.openSocket;
    this.clock = opts.clock ?? systemClock;
    this.random32 = opts.random32 ?? (() => randomBytes(4).readUInt32BE(0));
    this.answerOutOfTheBlue = opts.answerOutOfTheBlue ?? false;
  }

  /** Opens the sockets of these families now (they open on first use otherwise); errors (no root) surface here. */
  open(families: IpFamily[]): void {
    for (const f of families) this.socket(f);
  }

  /** A server on a port, receiving on the sockets of opts.families (default both) from now on. */
  listen(opts: SctpServerOptions): SctpServer {
    this.open(opts.families ?? [4, 6]);
    const server = new SctpServer(this, opts);
    this.claimPort(opts.port, server);
    return server;
  }

  /** Associates with a server; resolves once COOKIE ACK arrives. */
  async connect(opts: SctpConnectOptions): Promise<SctpClient> {
    const port = opts.localPort ?? this.freePort();
    const client = new SctpClient(this, port, opts);
    this.claimPort(port, client);
    try {
      await client.associate();
    } catch (err) {
      this.releasePort(port, client);
      throw err;
    }
    return client;
  }

  stats(): SctpHostStats {
    return { ...this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const user of [...this.ports.values()]) user.close();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  // ---- for servers and clients ----------------------------------------------

  /** Sends a packet; false (counted) if the kernel refused it. */
  send(dst: string, pkt: SctpPacket, src?: string): boolean {
    return this.sendRaw(dst, encodeSctpPacket(pkt), src);
  }

  /** Sends bytes as they are (a crafted or broken packet); false (counted) if the kernel refused them. */
  sendRaw(dst: string, payload: Buffer, src?: string): boolean {
    if (this.closed) return false;
    const err = this.socket(this.familyOf(dst)).send(dst, payload, src === undefined ? {} : { src });
    if (err !== undefined) {
      this.counters.sendErrors++;
      this.counters.lastSendError = err;
      return false;
    }
    this.counters.sent++;
    return true;
  }

  /** A fresh non-zero tag (§3.3.2: zero is not allowed). */
  tag(): number {
    return this.random32() || 1;
  }

  /** Gives a port to a user of the caller's (a load generator taking over a handed-over association). */
  adopt(port: number, user: SctpPortUser): void {
    this.claimPort(port, user);
  }

  releasePort(port: number, user: SctpPortUser): void {
    if (this.ports.get(port) === user) this.ports.delete(port);
  }

  // ---- internals ------------------------------------------------------------

  private claimPort(port: number, user: SctpPortUser): void {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`SCTP port ${port} is not in 1..65535`);
    if (this.ports.has(port)) throw new Error(`SCTP port ${port} is in use on this host`);
    this.ports.set(port, user);
  }

  private freePort(): number {
    for (;;) {
      const p = DYNAMIC_PORT_MIN + (this.random32() % (65536 - DYNAMIC_PORT_MIN));
      if (!this.ports.has(p)) return p;
    }
  }

  /** Parsing the address for every packet would cost a load test more than the packet. */
  private familyOf(addr: string): IpFamily {
    let f = this.families.get(addr);
    if (f === undefined) {
      f = familyOf(addr);
      if (this.families.size >= 1024) this.families.clear();
      this.families.set(addr, f);
    }
    return f;
  }

  private socket(family: IpFamily): RawIpSocket {
    if (this.closed) throw new Error('SCTP host is closed');
    let s = this.sockets.get(family);
    if (s === undefined) {
      s = this.openSocket(family, (rx) => this.onRaw(rx));
      this.sockets.set(family, s);
    }
    return s;
  }

  private onRaw(rx: RawPacket): void {
    this.counters.received++;
    const buf = rx.payload;
    let verified = false;
    if (buf.length >= SCTP_HEADER_LEN) {
      const fast = this.ports.get(buf.readUInt16BE(2));
      // A bad checksum goes the general way, which records it.
      if (fast?.onRawPacket !== undefined && sctpChecksumOk(buf)) {
        if (fast.onRawPacket(buf, rx)) return;
        verified = true;
      }
    }
    const d = decodeSctpPacket(buf, { verifyChecksum: !verified });
    if (!d.ok) {
      if (d.reason === 'checksum') {
        this.counters.badChecksum++;
        if (this.badChecksums.length < MAX_BAD_RECORDS) {
          this.badChecksums.push({ src: rx.src, dst: rx.dst, srcPort: d.header?.srcPort, dstPort: d.header?.dstPort, detail: d.detail });
        }
      } else {
        this.counters.malformed++;
      }
      return;
    }
    const user = this.ports.get(d.packet.dstPort);
    if (user?.onPacket(d.packet, rx)) return;
    this.counters.outOfTheBlue++;
    // Every raw SCTP socket of a namespace sees every packet, ours included
    // when they loop back (a client and a server on one host): one from a
    // port of ours may be our own, so it gets no ABORT.
    if (this.answerOutOfTheBlue && !this.ports.has(d.packet.srcPort)) this.abortOutOfTheBlue(d.packet, rx);
  }

  /** §8.4: what a stack answers a packet that belongs to no association. */
  private abortOutOfTheBlue(pkt: SctpPacket, rx: RawPacket): void {
    const types = new Set(pkt.chunks.map((c) => c.type));
    // (2), (6), (5): never answer these.
    if (types.has('ABORT') || types.has('SHUTDOWN_COMPLETE') || types.has('COOKIE_ACK')) return;
    const reply = { srcPort: pkt.dstPort, dstPort: pkt.srcPort };
    if (types.has('SHUTDOWN_ACK')) {
      this.send(rx.src, { ...reply, verificationTag: pkt.verificationTag, chunks: [{ type: 'SHUTDOWN_COMPLETE', tBit: true }] }, rx.dst);
      return;
    }
    const init = pkt.chunks.find((c): c is InitChunk => c.type === 'INIT');
    const abort: SctpChunk = { type: 'ABORT', tBit: init === undefined, causes: [] };
    // (3): an INIT is refused with its own Initiate Tag; (8): others get their tag reflected.
    this.send(rx.src, { ...reply, verificationTag: init ? init.initiateTag : pkt.verificationTag, chunks: [abort] }, rx.dst);
  }
}

// =============================================================================
// Server

export interface SctpServerOptions {
  port: number;
  /** Prefix of every echo: "<name>@<address>: <data>". Default 'server'. */
  name?: string;
  /** Addresses listed in INIT ACK (multihoming): the server's other addresses. */
  addresses?: string[];
  /** How long a State Cookie is good (default 60 s, §5.1.3). */
  cookieLifetimeMs?: number;
  /** Address families to receive on (default both). */
  families?: IpFamily[];
}

export interface SctpServerAssociation {
  peerPort: number;
  peerTag: number;
  localTag: number;
  /** The INIT's source and the addresses it listed. */
  peerAddresses: string[];
  /** Addresses the peer's packets came from, in order of first appearance. */
  sources: string[];
  /** Our addresses its packets arrived at, in order of first appearance. */
  localAddresses: string[];
  /** DATA chunks accepted (in order, not duplicates). */
  dataReceived: number;
  heartbeats: number;
  state: 'established' | 'shutdown-ack-sent' | 'closed';
  closedBy?: 'shutdown' | 'abort';
}

interface ServerAssoc extends SctpServerAssociation {
  /** Last TSN received in order. */
  peerCumTsn: number;
  nextTsn: number;
  /** Echo chunks by the peer TSN that caused them, to repeat on a duplicate. */
  echoes: Map<number, DataChunk>;
}

interface CookieBody {
  peerTag: number;
  localTag: number;
  peerTsn: number;
  localTsn: number;
  peerPort: number;
  peerAddresses: string[];
  createdAt: number;
}

const MAX_ECHOES_KEPT = 64;
/** A SACK without gap blocks or duplicates; a DATA chunk's header up to its user data. */
const SACK_LEN = 16;
const DATA_HEADER_LEN = 16;

const pad4 = (n: number): number => (n + 3) & ~3;

export class SctpServer implements SctpPortUser {
  readonly port: number;
  readonly name: string;
  private readonly listed: string[];
  private readonly cookieLifetimeMs: number;
  private readonly secret = randomBytes(32);
  /** By local (our) verification tag. */
  private readonly live = new Map<number, ServerAssoc>();
  private readonly ended: ServerAssoc[] = [];
  private readonly prefixes = new Map<string, Buffer>();

  constructor(
    private readonly host: SctpHost,
    opts: SctpServerOptions,
  ) {
    this.port = opts.port;
    this.name = opts.name ?? 'server';
    this.listed = (opts.addresses ?? []).map(canonical);
    this.cookieLifetimeMs = opts.cookieLifetimeMs ?? 60_000;
  }

  /** Live associations first, then ended ones (at most 1,000). */
  associations(): SctpServerAssociation[] {
    const view = (a: ServerAssoc): SctpServerAssociation => {
      const { peerCumTsn: _c, nextTsn: _n, echoes: _e, ...rest } = a;
      return { ...rest, peerAddresses: [...a.peerAddresses], sources: [...a.sources], localAddresses: [...a.localAddresses] };
    };
    return [...this.live.values(), ...this.ended].map(view);
  }

  close(): void {
    this.host.releasePort(this.port, this);
  }

  onPacket(pkt: SctpPacket, rx: RawPacket): boolean {
    const first = pkt.chunks[0];
    if (first?.type === 'INIT') {
      // §8.5.1: an INIT travels with tag 0 and alone in its packet.
      if (pkt.verificationTag !== 0 || pkt.chunks.length !== 1) return true;
      this.answerInit(pkt, first, rx);
      return true;
    }
    if (first?.type === 'COOKIE_ECHO') return this.onCookieEcho(pkt, first.cookie, rx);
    const a = this.live.get(pkt.verificationTag);
    if (a !== undefined && a.peerPort === pkt.srcPort) {
      this.onAssociationPacket(a, pkt.chunks, rx);
      return true;
    }
    // ABORT / SHUTDOWN COMPLETE with the T bit carry the peer's tag.
    const reflected = pkt.chunks.find((c) => (c.type === 'ABORT' || c.type === 'SHUTDOWN_COMPLETE') && c.tBit);
    if (reflected !== undefined) {
      const b = [...this.live.values()].find((x) => x.peerTag === pkt.verificationTag && x.peerPort === pkt.srcPort);
      if (b !== undefined) {
        this.end(b, reflected.type === 'ABORT' ? 'abort' : 'shutdown');
        return true;
      }
    }
    return false;
  }

  /**
   * The common case of a busy association, without the codec: a packet of
   * SACK and DATA chunks only, every DATA the next TSN in order. It gets the
   * answer the general path would give (a SACK, then one echo per DATA, in
   * one packet), written straight into one buffer. Anything else (a gap, a
   * duplicate, another chunk, a chunk that would not decode) returns false
   * and is decoded and handled as usual.
   */
  onRawPacket(buf: Buffer, rx: RawPacket): boolean {
    const a = this.live.get(buf.readUInt32BE(4));
    if (a === undefined || a.state !== 'established' || a.peerPort !== buf.readUInt16BE(0)) return false;
    const prefix = this.echoPrefix(rx.dst);
    let size = SCTP_HEADER_LEN + SACK_LEN;
    let expect = a.peerCumTsn;
    let data = 0;
    for (let off = SCTP_HEADER_LEN; off < buf.length; ) {
      if (buf.length - off < 4) return false;
      const type = buf[off]!;
      const len = buf.readUInt16BE(off + 2);
      if (len < 4 || off + len > buf.length) return false;
      if (type === SctpChunkType.DATA) {
        expect = (expect + 1) >>> 0;
        if (len < DATA_HEADER_LEN || buf.readUInt32BE(off + 4) !== expect) return false;
        size += pad4(len + prefix.length);
        data++;
      } else if (type === SctpChunkType.SACK) {
        // As the codec checks it: the gap and duplicate counts fill the chunk exactly.
        if (len < SACK_LEN || len !== SACK_LEN + 4 * (buf.readUInt16BE(off + 12) + buf.readUInt16BE(off + 14))) return false;
      } else {
        return false;
      }
      off += pad4(len);
    }
    note(a.sources, rx.src);
    note(a.localAddresses, rx.dst);
    // SACKs alone need no answer.
    if (data === 0) return true;
    const out = Buffer.allocUnsafe(size);
    out.writeUInt16BE(this.port, 0);
    out.writeUInt16BE(a.peerPort, 2);
    out.writeUInt32BE(a.peerTag, 4);
    out.writeUInt32BE(0, 8);
    let w = SCTP_HEADER_LEN + SACK_LEN;
    for (let off = SCTP_HEADER_LEN; off < buf.length; ) {
      const len = buf.readUInt16BE(off + 2);
      if (buf[off] === SctpChunkType.DATA) {
        a.peerCumTsn = buf.readUInt32BE(off + 4);
        a.dataReceived++;
        const clen = len + prefix.length;
        out[w] = SctpChunkType.DATA;
        out[w + 1] = SctpDataFlags.BEGINNING | SctpDataFlags.END;
        out.writeUInt16BE(clen, w + 2);
        out.writeUInt32BE(a.nextTsn, w + 4);
        // Stream, stream sequence number and PPID as they came.
        buf.copy(out, w + 8, off + 8, off + DATA_HEADER_LEN);
        prefix.copy(out, w + DATA_HEADER_LEN);
        buf.copy(out, w + DATA_HEADER_LEN + prefix.length, off + DATA_HEADER_LEN, off + len);
        out.fill(0, w + clen, w + pad4(clen));
        a.echoes.set(a.peerCumTsn, {
          type: 'DATA',
          flags: SctpDataFlags.BEGINNING | SctpDataFlags.END,
          tsn: a.nextTsn,
          streamId: out.readUInt16BE(w + 8),
          streamSeq: out.readUInt16BE(w + 10),
          ppid: out.readUInt32BE(w + 12),
          data: out.subarray(w + DATA_HEADER_LEN, w + clen),
        });
        if (a.echoes.size > MAX_ECHOES_KEPT) a.echoes.delete(a.echoes.keys().next().value!);
        a.nextTsn = (a.nextTsn + 1) >>> 0;
        w += pad4(clen);
      }
      off += pad4(len);
    }
    out[SCTP_HEADER_LEN] = SctpChunkType.SACK;
    out[SCTP_HEADER_LEN + 1] = 0;
    out.writeUInt16BE(SACK_LEN, SCTP_HEADER_LEN + 2);
    out.writeUInt32BE(a.peerCumTsn, SCTP_HEADER_LEN + 4);
    out.writeUInt32BE(ARWND, SCTP_HEADER_LEN + 8);
    out.writeUInt32BE(0, SCTP_HEADER_LEN + 12);
    setSctpChecksum(out);
    this.host.sendRaw(rx.src, out, rx.dst);
    return true;
  }

  /** "<name>@<address>: ", the start of every echo of DATA that arrived at this address. */
  private echoPrefix(local: string): Buffer {
    let p = this.prefixes.get(local);
    if (p === undefined) {
      p = Buffer.from(`${this.name}@${local}: `);
      this.prefixes.set(local, p);
    }
    return p;
  }

  private answerInit(pkt: SctpPacket, init: InitChunk, rx: RawPacket): void {
    const localTag = this.host.tag();
    const localTsn = this.host.random32();
    const body: CookieBody = {
      peerTag: init.initiateTag,
      localTag,
      peerTsn: init.initialTsn,
      localTsn,
      peerPort: pkt.srcPort,
      peerAddresses: [...new Set([rx.src, ...sctpListedAddresses(init.params).map(canonical)])],
      createdAt: this.host.clock.now(),
    };
    this.host.send(
      rx.src,
      {
        srcPort: this.port,
        dstPort: pkt.srcPort,
        verificationTag: init.initiateTag,
        chunks: [
          {
            type: 'INIT_ACK',
            initiateTag: localTag,
            arwnd: ARWND,
            outboundStreams: Math.min(init.inboundStreams, 16),
            inboundStreams: Math.min(init.outboundStreams, 16),
            initialTsn: localTsn,
            params: [{ type: 'STATE_COOKIE', cookie: this.sealCookie(body) }, ...sctpAddressParams(this.listed)],
          },
        ],
      },
      rx.dst,
    );
  }

  private sealCookie(body: CookieBody): Buffer {
    const json = Buffer.from(JSON.stringify(body));
    return Buffer.concat([createHmac('sha256', this.secret).update(json).digest(), json]);
  }

  private openCookie(cookie: Buffer): CookieBody | undefined {
    if (cookie.length < 33) return undefined;
    const mac = cookie.subarray(0, 32);
    const json = cookie.subarray(32);
    if (!timingSafeEqual(mac, createHmac('sha256', this.secret).update(json).digest())) return undefined;
    try {
      return JSON.parse(json.toString()) as CookieBody;
    } catch {
      return undefined;
    }
  }

  private onCookieEcho(pkt: SctpPacket, cookie: Buffer, rx: RawPacket): boolean {
    const body = this.openCookie(cookie);
    // §5.1.5: a cookie that is not ours, or not for this tag, is discarded silently.
    if (body === undefined || body.localTag !== pkt.verificationTag || body.peerPort !== pkt.srcPort) return true;
    let a = this.live.get(body.localTag);
    if (a === undefined) {
      if (this.host.clock.now() - body.createdAt > this.cookieLifetimeMs) {
        this.host.send(rx.src, { srcPort: this.port, dstPort: pkt.srcPort, verificationTag: body.peerTag, chunks: [{ type: 'ERROR', causes: [staleCookie()] }] }, rx.dst);
        return true;
      }
      a = {
        peerPort: body.peerPort,
        peerTag: body.peerTag,
        localTag: body.localTag,
        peerAddresses: body.peerAddresses,
        sources: [],
        localAddresses: [],
        dataReceived: 0,
        heartbeats: 0,
        state: 'established',
        peerCumTsn: (body.peerTsn - 1) >>> 0,
        nextTsn: body.localTsn,
        echoes: new Map(),
      };
      this.live.set(a.localTag, a);
    }
    // (A duplicate COOKIE ECHO of a live association: COOKIE ACK again, §5.2.4 case D.)
    this.onAssociationPacket(a, pkt.chunks, rx);
    return true;
  }

  private onAssociationPacket(a: ServerAssoc, chunks: SctpChunk[], rx: RawPacket): void {
    note(a.sources, rx.src);
    note(a.localAddresses, rx.dst);
    const out: SctpChunk[] = [];
    let sack = false;
    const dups: number[] = [];
    for (const c of chunks) {
      switch (c.type) {
        case 'COOKIE_ECHO':
          out.push({ type: 'COOKIE_ACK' });
          break;
        case 'DATA': {
          sack = true;
          if (c.tsn === ((a.peerCumTsn + 1) >>> 0)) {
            a.peerCumTsn = c.tsn;
            a.dataReceived++;
            const echo: DataChunk = {
              type: 'DATA',
              flags: SctpDataFlags.BEGINNING | SctpDataFlags.END,
              tsn: a.nextTsn,
              streamId: c.streamId,
              streamSeq: c.streamSeq,
              ppid: c.ppid,
              data: Buffer.concat([this.echoPrefix(rx.dst), c.data]),
            };
            a.nextTsn = (a.nextTsn + 1) >>> 0;
            a.echoes.set(c.tsn, echo);
            if (a.echoes.size > MAX_ECHOES_KEPT) a.echoes.delete(a.echoes.keys().next().value!);
            out.push(echo);
          } else if (!tsnAfter(c.tsn, a.peerCumTsn)) {
            // Our SACK (or echo) was lost: report the duplicate and say it again.
            dups.push(c.tsn);
            const echo = a.echoes.get(c.tsn);
            if (echo !== undefined) out.push(echo);
          }
          // Ahead of a gap: dropped; the client sends in order and retransmits.
          break;
        }
        case 'HEARTBEAT':
          a.heartbeats++;
          out.push({ type: 'HEARTBEAT_ACK', info: c.info });
          break;
        case 'SHUTDOWN':
          a.state = 'shutdown-ack-sent';
          out.push({ type: 'SHUTDOWN_ACK' });
          break;
        case 'SHUTDOWN_COMPLETE':
          this.end(a, 'shutdown');
          return;
        case 'ABORT':
          this.end(a, 'abort');
          return;
        default:
          // SACK, HEARTBEAT ACK, ERROR, COOKIE ACK: nothing to answer.
          break;
      }
    }
    // A COOKIE ACK goes first in its packet (§6.10); the SACK right after.
    if (sack) out.splice(out[0]?.type === 'COOKIE_ACK' ? 1 : 0, 0, { type: 'SACK', cumulativeTsnAck: a.peerCumTsn, arwnd: ARWND, gapBlocks: [], duplicateTsns: dups });
    if (out.length === 0) return;
    // Answers go back where the packet came from, from where it arrived.
    this.host.send(rx.src, { srcPort: this.port, dstPort: a.peerPort, verificationTag: a.peerTag, chunks: out }, rx.dst);
  }

  private end(a: ServerAssoc, by: 'shutdown' | 'abort'): void {
    this.live.delete(a.localTag);
    a.state = 'closed';
    a.closedBy = by;
    this.ended.push(a);
    if (this.ended.length > 1000) this.ended.shift();
  }
}

function staleCookie() {
  const info = Buffer.alloc(4);
  info.writeUInt32BE(1000);
  return { code: SctpCauseCode.STALE_COOKIE, info };
}

function note(list: string[], addr: string): void {
  if (!list.includes(addr)) list.push(addr);
}

// =============================================================================
// Client

export interface SctpConnectOptions {
  /** The server's address (through a load balancer: the VIP). */
  server: string;
  port: number;
  /** Our port; default a free one in 49152-65535. */
  localPort?: number;
  /** Source address of our packets; default the kernel's choice. */
  src?: string;
  /** Addresses listed in the INIT (multihoming). Whether to list the source too is the caller's choice. */
  addresses?: string[];
  /** Retransmission timeout (default 1000 ms) and tries after the first (default 4). */
  rtoMs?: number;
  maxRetransmits?: number;
}

export interface SctpEcho {
  /** What the server sent back: "<name>@<address>: <our data>". */
  data: Buffer;
  text: string;
  /** The address it came from and the one it came to. */
  from: string;
  to: string;
  /** Transmissions our DATA needed. */
  transmissions: number;
}

export interface SctpClientStats {
  dataSent: number;
  retransmits: number;
  echoesReceived: number;
  heartbeatAcks: number;
}

interface PendingSend {
  tsn: number;
  chunk: DataChunk;
  sacked: boolean;
  echo?: { data: Buffer; from: string; to: string };
  transmissions: number;
  timer?: TimerHandle;
  resolve: (e: SctpEcho) => void;
  reject: (e: Error) => void;
}

/** Something waited for with retransmissions: INIT, COOKIE ECHO, SHUTDOWN, HEARTBEAT. */
interface Waiter {
  done: (chunk: SctpChunk, rx: RawPacket) => boolean;
  timer?: TimerHandle;
  reject: (e: Error) => void;
}

/** An established association as SctpClient.handOver() gives it away. */
export interface SctpHandOver {
  localPort: number;
  server: string;
  port: number;
  path: { dst: string; src?: string };
  localTag: number;
  peerTag: number;
  /** The TSN and stream sequence number our next DATA takes. */
  nextTsn: number;
  streamSeq: number;
  /** The server's last TSN we received. */
  peerCumTsn: number;
}

export type SctpClientState = 'cookie-wait' | 'cookie-echoed' | 'established' | 'shutdown-sent' | 'closed';

export class SctpClient implements SctpPortUser {
  readonly server: string;
  readonly port: number;
  readonly localTag: number;
  peerTag = 0;
  state: SctpClientState = 'cookie-wait';
  /** Where our packets go, and from which address (undefined: the kernel's choice). */
  path: { dst: string; src?: string };
  /** The INIT ACK's source and the addresses it listed. */
  serverAddresses: string[] = [];
  closeReason?: string;
  private readonly rtoMs: number;
  private readonly maxRetransmits: number;
  private readonly listed: string[];
  private nextTsn: number;
  private ssn = 0;
  private peerCumTsn = 0;
  private cookie: Buffer = Buffer.alloc(0);
  private readonly sends: PendingSend[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly counters: SctpClientStats = { dataSent: 0, retransmits: 0, echoesReceived: 0, heartbeatAcks: 0 };

  constructor(
    private readonly host: SctpHost,
    readonly localPort: number,
    opts: SctpConnectOptions,
  ) {
    this.server = canonical(opts.server);
    this.port = opts.port;
    this.path = { dst: this.server, src: opts.src === undefined ? undefined : canonical(opts.src) };
    this.listed = (opts.addresses ?? []).map(canonical);
    this.rtoMs = opts.rtoMs ?? 1000;
    this.maxRetransmits = opts.maxRetransmits ?? 4;
    this.localTag = host.tag();
    this.nextTsn = host.random32();
  }

  stats(): SctpClientStats {
    return { ...this.counters };
  }

  /** Moves our packets to another server address and/or source address (a path failover). */
  setPath(p: { dst?: string; src?: string | null }): void {
    if (p.dst !== undefined) this.path.dst = canonical(p.dst);
    if (p.src === null) this.path.src = undefined;
    else if (p.src !== undefined) this.path.src = canonical(p.src);
  }

  /** INIT, COOKIE ECHO; resolves when established. Called by SctpHost.connect. */
  async associate(): Promise<void> {
    const initAck = await this.exchange(
      () => ({
        verificationTag: 0,
        chunks: [
          {
            type: 'INIT',
            initiateTag: this.localTag,
            arwnd: ARWND,
            outboundStreams: 1,
            inboundStreams: 1,
            initialTsn: this.nextTsn,
            params: [...sctpAddressParams(this.listed), { type: 'SUPPORTED_ADDRESS_TYPES', addressTypes: [familyOf(this.server) === 4 ? 5 : 6] }],
          },
        ],
      }),
      (c) => c.type === 'INIT_ACK',
      'INIT ACK',
    );
    const ack = initAck.chunk as InitChunk;
    const cookie = findSctpParam(ack.params, 'STATE_COOKIE');
    if (cookie === undefined) {
      this.finish('INIT ACK without a State Cookie');
      throw new Error(`${this.server}:${this.port}: INIT ACK without a State Cookie`);
    }
    this.peerTag = ack.initiateTag;
    this.peerCumTsn = (ack.initialTsn - 1) >>> 0;
    this.cookie = cookie.cookie;
    this.serverAddresses = [...new Set([initAck.rx.src, ...sctpListedAddresses(ack.params).map(canonical)])];
    this.state = 'cookie-echoed';
    await this.exchange(() => ({ verificationTag: this.peerTag, chunks: [{ type: 'COOKIE_ECHO', cookie: this.cookie }] }), (c) => c.type === 'COOKIE_ACK', 'COOKIE ACK');
    this.state = 'established';
  }

  /** Sends one DATA chunk; resolves with the server's echo once it and the SACK are in. */
  send(data: Buffer | string): Promise<SctpEcho> {
    if (this.state !== 'established') return Promise.reject(new Error(`association is ${this.state}${this.closeReason ? ` (${this.closeReason})` : ''}`));
    const tsn = this.nextTsn;
    this.nextTsn = (this.nextTsn + 1) >>> 0;
    const chunk: DataChunk = {
      type: 'DATA',
      flags: SctpDataFlags.BEGINNING | SctpDataFlags.END,
      tsn,
      streamId: 0,
      streamSeq: this.ssn,
      ppid: 0,
      data: Buffer.from(data),
    };
    this.ssn = (this.ssn + 1) & 0xffff;
    return new Promise<SctpEcho>((resolve, reject) => {
      const p: PendingSend = { tsn, chunk, sacked: false, transmissions: 0, resolve, reject };
      this.sends.push(p);
      this.counters.dataSent++;
      this.transmitData(p);
    });
  }

  /** A HEARTBEAT on a path (default the current one); resolves with where the ACK came from. */
  async heartbeat(to: { dst?: string; src?: string } = {}): Promise<{ from: string; to: string }> {
    if (this.state !== 'established') throw new Error(`association is ${this.state}`);
    const info = Buffer.alloc(12);
    info.writeUInt32BE(this.host.random32(), 0);
    info.writeDoubleBE(this.host.clock.now(), 4);
    const r = await this.exchange(
      () => ({ verificationTag: this.peerTag, chunks: [{ type: 'HEARTBEAT', info }] }),
      (c) => c.type === 'HEARTBEAT_ACK' && c.info.equals(info),
      'HEARTBEAT ACK',
      { dst: to.dst === undefined ? undefined : canonical(to.dst), src: to.src === undefined ? undefined : canonical(to.src) },
    );
    this.counters.heartbeatAcks++;
    return { from: r.rx.src, to: r.rx.dst };
  }

  /** SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE (§9.2). */
  async shutdown(): Promise<void> {
    if (this.state !== 'established') throw new Error(`association is ${this.state}`);
    this.state = 'shutdown-sent';
    await this.exchange(() => ({ verificationTag: this.peerTag, chunks: [{ type: 'SHUTDOWN', cumulativeTsnAck: this.peerCumTsn }] }), (c) => c.type === 'SHUTDOWN_ACK', 'SHUTDOWN ACK');
    this.sendPacket({ verificationTag: this.peerTag, chunks: [{ type: 'SHUTDOWN_COMPLETE', tBit: false }] });
    this.finish('shut down');
  }

  /** ABORT now (§9.1). */
  abort(): void {
    if (this.state === 'closed') return;
    if (this.peerTag !== 0) this.sendPacket({ verificationTag: this.peerTag, chunks: [{ type: 'ABORT', tBit: false, causes: [] }] });
    this.finish('aborted by us');
  }

  /**
   * Gives the established association, with nothing in flight, to another
   * user of its port (test/lab/SctpLoad.ts): this client forgets it without
   * a word to the server, frees the port for SctpHost.adopt, and says where
   * the sequence numbers stand.
   */
  handOver(): SctpHandOver {
    if (this.state !== 'established' || this.sends.length > 0 || this.waiters.size > 0) {
      throw new Error(`association ${this.localPort} -> ${this.server}:${this.port} cannot be handed over: ${this.state}, ${this.sends.length} DATA and ${this.waiters.size} exchanges in flight`);
    }
    const s: SctpHandOver = {
      localPort: this.localPort,
      server: this.server,
      port: this.port,
      path: { ...this.path },
      localTag: this.localTag,
      peerTag: this.peerTag,
      nextTsn: this.nextTsn,
      streamSeq: this.ssn,
      peerCumTsn: this.peerCumTsn,
    };
    this.finish('handed over');
    return s;
  }

  /** Forgets the association without a word to the server. */
  close(): void {
    this.finish('closed');
  }

  onPacket(pkt: SctpPacket, rx: RawPacket): boolean {
    if (pkt.srcPort !== this.port) return false;
    const ours = pkt.verificationTag === this.localTag;
    const reflected = this.peerTag !== 0 && pkt.verificationTag === this.peerTag;
    if (!ours) {
      // Only ABORT / SHUTDOWN COMPLETE with the T bit may carry the peer's tag.
      const t = pkt.chunks.find((c) => c.type === 'ABORT' && c.tBit);
      if (reflected && t !== undefined) this.finish('aborted by the server');
      return reflected;
    }
    let sack = false;
    for (const c of pkt.chunks) {
      for (const w of [...this.waiters]) {
        if (w.done(c, rx)) this.waiters.delete(w);
      }
      switch (c.type) {
        case 'SACK':
          this.onSack(c.cumulativeTsnAck);
          break;
        case 'DATA':
          sack = true;
          if (c.tsn === ((this.peerCumTsn + 1) >>> 0)) {
            this.peerCumTsn = c.tsn;
            this.counters.echoesReceived++;
            const p = this.sends.find((s) => s.echo === undefined);
            if (p !== undefined) {
              p.echo = { data: c.data, from: rx.src, to: rx.dst };
              this.settle(p);
            }
          }
          break;
        case 'HEARTBEAT':
          this.sendPacket({ verificationTag: this.peerTag, chunks: [{ type: 'HEARTBEAT_ACK', info: c.info }] }, rx.src);
          break;
        case 'ABORT':
          this.finish('aborted by the server');
          return true;
        default:
          break;
      }
    }
    if (sack) this.sendPacket({ verificationTag: this.peerTag, chunks: [{ type: 'SACK', cumulativeTsnAck: this.peerCumTsn, arwnd: ARWND, gapBlocks: [], duplicateTsns: [] }] }, rx.src, rx.dst);
    return true;
  }

  // ---- internals ------------------------------------------------------------

  private sendPacket(p: Pick<SctpPacket, 'verificationTag' | 'chunks'>, dst = this.path.dst, src = this.path.src): void {
    this.host.send(dst, { srcPort: this.localPort, dstPort: this.port, ...p }, src);
  }

  /** Sends `make()` until a chunk satisfies `want` (retransmitting every rto). */
  private exchange(
    make: () => Pick<SctpPacket, 'verificationTag' | 'chunks'>,
    want: (c: SctpChunk, rx: RawPacket) => boolean,
    what: string,
    to: { dst?: string; src?: string } = {},
  ): Promise<{ chunk: SctpChunk; rx: RawPacket }> {
    return new Promise((resolve, reject) => {
      let tries = 0;
      const w: Waiter = {
        done: (c, rx) => {
          if (!want(c, rx)) return false;
          this.host.clock.clearTimer(w.timer);
          resolve({ chunk: c, rx });
          return true;
        },
        reject,
      };
      const attempt = () => {
        if (tries > this.maxRetransmits) {
          this.waiters.delete(w);
          reject(new Error(`${this.server}:${this.port}: no ${what} after ${tries} tries`));
          return;
        }
        if (tries > 0) this.counters.retransmits++;
        tries++;
        // Armed before sending: an answer may arrive within the send (a fake network) and clear it.
        w.timer = this.host.clock.setTimer(attempt, this.rtoMs);
        this.sendPacket(make(), to.dst ?? this.path.dst, to.src ?? this.path.src);
      };
      this.waiters.add(w);
      attempt();
    });
  }

  private transmitData(p: PendingSend): void {
    if (p.transmissions > this.maxRetransmits) {
      this.sends.splice(this.sends.indexOf(p), 1);
      p.reject(new Error(`${this.server}:${this.port}: DATA TSN ${p.tsn} not acknowledged after ${p.transmissions} transmissions`));
      return;
    }
    if (p.transmissions > 0) this.counters.retransmits++;
    p.transmissions++;
    p.timer = this.host.clock.setTimer(() => this.transmitData(p), this.rtoMs);
    this.sendPacket({ verificationTag: this.peerTag, chunks: [p.chunk] });
  }

  private onSack(cum: number): void {
    for (const p of [...this.sends]) {
      if (!tsnAfter(p.tsn, cum)) {
        p.sacked = true;
        this.settle(p);
      }
    }
  }

  private settle(p: PendingSend): void {
    if (!p.sacked || p.echo === undefined) return;
    this.host.clock.clearTimer(p.timer);
    this.sends.splice(this.sends.indexOf(p), 1);
    p.resolve({ data: p.echo.data, text: p.echo.data.toString(), from: p.echo.from, to: p.echo.to, transmissions: p.transmissions });
  }

  private finish(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    for (const p of this.sends.splice(0)) {
      this.host.clock.clearTimer(p.timer);
      p.reject(new Error(`association ${reason}`));
    }
    for (const w of this.waiters) {
      this.host.clock.clearTimer(w.timer);
      w.reject(new Error(`association ${reason}`));
    }
    this.waiters.clear();
    this.host.releasePort(this.localPort, this);
  }
}
