// The node's BFD sessions: owns one BfdSession and one sending socket per
// (instance, remote IP), hands every received Control packet to the session
// it belongs to (RFC 5880 §6.8.6 demultiplexing), keeps local discriminators
// unique, drains deleted sessions with AdminDown, and reports state changes
// as 'stateChange' events. Sockets come from an injected BfdTransport and
// time from an injected Clock, so tests can run two managers back to back in
// memory.
//
// Where loxilb differs (reference §4): sessions are matched by discriminator
// first and by source address only while the peer does not know ours yet;
// discriminators are random and constant; authentication, Poll/Final timer
// changes and IPv6 are supported; a deleted session keeps sending AdminDown
// for one Detection Time rather than one packet.
//
// On a transport that has them (the native one), sessions send their
// periodic packets from the transport's timer thread and count received
// packets from their arrival on its receive thread (see BfdSession), so a
// stalled event loop neither silences us nor makes us miss the peer.
//
// Over 400 lines: RFC 5880 §6.8.6 demultiplexing, discriminator allocation and the
// sessions' lifecycle all work on the same session tables.
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import {
  BFD_DECODE_DROP_REASONS,
  BfdAuthType,
  BfdDiag,
  BfdState,
  bfdAuthTypeName,
  bfdStateName,
  decodeBfdPacket,
  type BfdAuthKey,
} from './BfdPacket.ts';
import { BFD_SESSION_DROP_REASONS, BfdSession, type BfdRemoteLimits, type BfdSessionStatus } from './BfdSession.ts';
import { readBfdKeyFile } from './bfdKeyFile.ts';
import {
  hasPeriodicTx,
  type BfdArrivalWatch,
  type BfdPacketMeta,
  type BfdSender,
  type BfdSenderStats,
  type BfdTransport,
} from './BfdTransport.ts';
import { ConflictError, NotFoundError, ValidationError } from '../util/errors.ts';
import { parseIp } from '../util/ipAddress.ts';
import { silentLogger, type Logger } from '../util/logger.ts';

/** Shortest interval a session accepts, µs. loxilb's floor is 100 ms; BIRD holds 10 ms. */
export const BFD_MANAGER_MIN_INTERVAL_US = 10_000;
const MAX_U32 = 0xffff_ffff;

/** Auth type names accepted besides the RFC 5880 numbers. */
export const BFD_AUTH_TYPE_NAMES = {
  'simple-password': BfdAuthType.SimplePassword,
  'keyed-md5': BfdAuthType.KeyedMd5,
  'meticulous-keyed-md5': BfdAuthType.MeticulousKeyedMd5,
  'keyed-sha1': BfdAuthType.KeyedSha1,
  'meticulous-keyed-sha1': BfdAuthType.MeticulousKeyedSha1,
} as const;
export type BfdAuthTypeName = keyof typeof BFD_AUTH_TYPE_NAMES;

export interface BfdAuthConfig {
  type: BfdAuthType | BfdAuthTypeName;
  /** 0..255; must match the peer's. */
  keyId: number;
  /**
   * File holding the key (the password for simple-password), read once when
   * the session is added: a regular file in the manager's keyDir, named
   * relative to it or by an absolute path inside it. Its bytes are the key,
   * less one trailing newline, so `echo secret > file` works. Lengths: see
   * BFD_KEY_LENGTHS (16 bytes for MD5 types, 16-20 for SHA1, 1-16 for a
   * simple password).
   */
  keyFile: string;
}

export interface BfdSessionParams {
  /** The HA instance the session belongs to (loxilb's `llb-inst0`, ...). */
  instance: string;
  remoteIp: string;
  /** Source address; undefined, 0.0.0.0 or :: let the kernel choose. Same family as remoteIp. */
  sourceIp?: string;
  /** Desired Min TX Interval, µs (>= 10000). */
  txIntervalUs: number;
  /** Required Min RX Interval, µs (>= 10000); defaults to, and then follows, txIntervalUs. */
  rxIntervalUs?: number;
  /** Detect Mult, 1..255. */
  multiplier: number;
  auth?: BfdAuthConfig;
  /** Start in AdminDown (release it with updateSession); default false. */
  adminDown?: boolean;
}

export interface BfdSessionUpdate {
  txIntervalUs?: number;
  rxIntervalUs?: number;
  multiplier?: number;
  /** Hold the session in AdminDown (true) or release it (false). */
  adminDown?: boolean;
}

export interface BfdManagerStateChange {
  instance: string;
  remoteIp: string;
  from: BfdState;
  to: BfdState;
  /** Our diagnostic after the change (RFC 5880 §4.1). */
  diag: BfdDiag;
  /**
   * The peer's last diagnostic: AdministrativelyDown (7) here with diag 3
   * means the peer was taken down on purpose, not that the path failed.
   */
  remoteDiag: BfdDiag;
  /**
   * The peer's last state: AdminDown while it holds the session down on
   * purpose. Its diagnostic alone can be stale (it stays AdministrativelyDown
   * after the peer released its hold, until the session comes Up).
   */
  remoteState: BfdState;
}

export interface BfdManagerSessionStatus extends BfdSessionStatus {
  instance: string;
  remoteIp: string;
  sourceIp?: string;
  /** `Up`, `Down`, ... */
  stateName: string;
  /** UDP source port of the session's socket. */
  localPort: number;
  configured: { txIntervalUs: number; rxIntervalUs: number; multiplier: number };
  auth?: { type: BfdAuthType; typeName: string; keyId: number };
  sender: BfdSenderStats;
  /**
   * Received packets this session lost, by reason, whoever dropped them: the
   * transport (bad-ttl: RFC 5881 GTSM, on the native receive thread), the
   * manager (a packet that failed to decode but carried this session's
   * discriminator from its peer) and the session itself. Non-zero reasons only.
   */
  rxDrops: Record<string, number>;
}

/** Why the manager dropped a packet before any session saw it. */
export const BFD_MANAGER_DROP_REASONS = [
  ...BFD_DECODE_DROP_REASONS,
  /** Your Discriminator names no session of ours. */
  'unknown-discriminator',
  /** Your Discriminator 0 and no session with that peer address. */
  'unknown-source',
  /** Your Discriminator names a session whose peer has another address. */
  'source-mismatch',
  /** Your Discriminator 0 and more than one session could be meant. */
  'ambiguous-source',
] as const;

/** Every reason a received packet can be dropped, at any stage. */
export const BFD_RX_DROP_REASONS = [...new Set<string>([...BFD_MANAGER_DROP_REASONS, ...BFD_SESSION_DROP_REASONS])];
export type BfdManagerDropReason = (typeof BFD_MANAGER_DROP_REASONS)[number];

export interface BfdManagerStats {
  /** Datagrams the transport delivered. */
  received: number;
  /** Datagrams handed to a session (which may still drop them; see its counters). */
  delivered: number;
  drops: Record<BfdManagerDropReason, number>;
}

export interface BfdManagerOptions {
  transport: BfdTransport;
  clock?: Clock;
  /** Jitter source for the sessions, uniform in [0, 1). */
  random?: () => number;
  /** Uniform 32-bit integers for discriminators and auth sequence seeds. */
  randomUint32?: () => number;
  logger?: Logger;
  /** Let senders that can send periodic packets from a thread of their own do so. Default true. */
  offloadPeriodicTx?: boolean;
  /** Directory key files must be in (see BfdAuthConfig.keyFile); without it, authentication cannot be configured. */
  keyDir?: string;
  /** What a peer may ask for at most (default BFD_DEFAULT_REMOTE_LIMITS). */
  remoteLimits?: BfdRemoteLimits;
  /**
   * Use the transport's arrival times (performance.now() timebase): count
   * packets from when they arrived and let detection timers see packets
   * still queued. Default: only with the system clock, whose timebase they share.
   */
  arrivalTimes?: boolean;
}

interface BfdManagerEvents {
  stateChange: [BfdManagerStateChange];
  /** The peer's own state changed (see BfdSession's remoteStateChange). */
  remoteStateChange: [{ instance: string; remoteIp: string; from: BfdState; to: BfdState }];
}

interface Entry {
  key: string;
  instance: string;
  remoteIp: string;
  sourceIp?: string;
  session: BfdSession;
  sender: BfdSender;
  txIntervalUs: number;
  rxIntervalUs: number;
  rxFollowsTx: boolean;
  multiplier: number;
  auth?: { type: BfdAuthType; keyId: number };
  watch?: BfdArrivalWatch;
  /** Manager-level drops attributable to this session (decode failures carrying its discriminator from its peer). */
  rxDrops: Partial<Record<BfdManagerDropReason, number>>;
  drain?: { timer: TimerHandle; done: Promise<void>; finish: () => void };
}

function keyOf(instance: string, remoteIp: string): string {
  return `${instance}\u0000${remoteIp}`;
}

function checkInterval(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < BFD_MANAGER_MIN_INTERVAL_US || v > MAX_U32) {
    throw new ValidationError(field, `an integer number of µs in ${BFD_MANAGER_MIN_INTERVAL_US}..${MAX_U32}`, v);
  }
  return v;
}

function checkMultiplier(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 255) {
    throw new ValidationError('multiplier', 'an integer in 1..255', v);
  }
  return v;
}

function checkAddress(field: string, v: unknown): string {
  const a = typeof v === 'string' ? parseIp(v) : undefined;
  if (!a) throw new ValidationError(field, 'an IPv4 or IPv6 address', v);
  return a.toString();
}

function authTypeOf(v: unknown): BfdAuthType {
  if (typeof v === 'string' && Object.hasOwn(BFD_AUTH_TYPE_NAMES, v)) return BFD_AUTH_TYPE_NAMES[v as BfdAuthTypeName];
  if (typeof v === 'number' && Number.isInteger(v) && v >= BfdAuthType.SimplePassword && v <= BfdAuthType.MeticulousKeyedSha1) {
    return v as BfdAuthType;
  }
  throw new ValidationError('auth.type', `one of ${Object.keys(BFD_AUTH_TYPE_NAMES).join(', ')} (or 1..5)`, v);
}

/** Reads and checks the key file (see readBfdKeyFile); the key never appears in an error message. */
function loadAuthKey(a: BfdAuthConfig, keyDir: string | undefined): BfdAuthKey {
  const type = authTypeOf(a.type);
  if (typeof a.keyId !== 'number' || !Number.isInteger(a.keyId) || a.keyId < 0 || a.keyId > 255) {
    throw new ValidationError('auth.keyId', 'an integer in 0..255', a.keyId);
  }
  if (typeof a.keyFile !== 'string' || a.keyFile === '') {
    throw new ValidationError('auth.keyFile', 'the path of a file holding the key', a.keyFile);
  }
  const key = readBfdKeyFile(keyDir, a.keyFile, type, authTypeNameOf(type));
  return { type, keyId: a.keyId, key };
}

function authTypeNameOf(type: BfdAuthType): string {
  for (const [name, v] of Object.entries(BFD_AUTH_TYPE_NAMES)) if (v === type) return name;
  return bfdAuthTypeName(type);
}

function cryptoUint32(): number {
  return randomInt(0, 2 ** 32);
}

export class BfdManager extends EventEmitter<BfdManagerEvents> {
  private readonly transport: BfdTransport;
  private readonly clock: Clock;
  private readonly random?: () => number;
  private readonly randomUint32: () => number;
  private readonly log: Logger;
  private readonly offloadPeriodicTx: boolean;
  private readonly arrivalTimes: boolean;
  private readonly keyDir?: string;
  private readonly remoteLimits?: BfdRemoteLimits;

  /** Live sessions by (instance, remote). */
  private readonly byKey = new Map<string, Entry>();
  /** Keys whose addSession is still opening a socket. */
  private readonly pending = new Set<string>();
  /** Live and draining sessions by local discriminator. */
  private readonly byDisc = new Map<number, Entry>();
  /** Live and draining sessions by peer address. */
  private readonly byRemote = new Map<string, Set<Entry>>();
  private readonly draining = new Set<Entry>();
  private readonly statsCounters: BfdManagerStats;
  /** Session-level drops of sessions already gone, so totals never go backwards. */
  private readonly retiredDrops: Record<string, number> = {};
  private listening = false;
  private closed = false;

  constructor(opts: BfdManagerOptions) {
    super();
    this.transport = opts.transport;
    this.clock = opts.clock ?? systemClock;
    if (opts.random) this.random = opts.random;
    this.randomUint32 = opts.randomUint32 ?? cryptoUint32;
    this.log = opts.logger ?? silentLogger;
    this.offloadPeriodicTx = opts.offloadPeriodicTx ?? true;
    this.arrivalTimes = opts.arrivalTimes ?? this.clock === systemClock;
    if (opts.keyDir !== undefined) this.keyDir = opts.keyDir;
    if (opts.remoteLimits) this.remoteLimits = opts.remoteLimits;
    const drops = {} as Record<BfdManagerDropReason, number>;
    for (const r of BFD_MANAGER_DROP_REASONS) drops[r] = 0;
    this.statsCounters = { received: 0, delivered: 0, drops };
  }

  /** Starts receiving through the transport. Sessions may be added before or after. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('bfd manager is closed');
    if (this.listening) return;
    this.listening = true;
    try {
      await this.transport.listen((buf, meta) => this.receive(buf, meta));
    } catch (e) {
      this.listening = false;
      throw e;
    }
  }

  /**
   * Validates, opens the session's socket and starts the session. Throws a
   * ValidationError naming the field, a ConflictError if the instance already
   * has a session with that peer (or another instance has one with the same
   * peer and source), or the transport's error; nothing is left behind then.
   */
  async addSession(p: BfdSessionParams): Promise<BfdManagerSessionStatus> {
    if (this.closed) throw new Error('bfd manager is closed');
    if (typeof p.instance !== 'string' || p.instance === '') {
      throw new ValidationError('instance', 'a non-empty instance name', p.instance);
    }
    const remoteIp = checkAddress('remoteIp', p.remoteIp);
    let sourceIp: string | undefined;
    if (p.sourceIp !== undefined && p.sourceIp !== '') {
      const src = checkAddress('sourceIp', p.sourceIp);
      if (parseIp(src)!.kind() !== parseIp(remoteIp)!.kind()) {
        throw new ValidationError('sourceIp', `an address of the same family as remoteIp ${remoteIp}`, p.sourceIp);
      }
      if (src !== '0.0.0.0' && src !== '::') sourceIp = src;
    }
    const txIntervalUs = checkInterval('txIntervalUs', p.txIntervalUs);
    const rxFollowsTx = p.rxIntervalUs === undefined;
    const rxIntervalUs = rxFollowsTx ? txIntervalUs : checkInterval('rxIntervalUs', p.rxIntervalUs);
    const multiplier = checkMultiplier(p.multiplier);
    if (p.adminDown !== undefined && typeof p.adminDown !== 'boolean') throw new ValidationError('adminDown', 'true or false', p.adminDown);
    const key = keyOf(p.instance, remoteIp);
    if (this.byKey.has(key) || this.pending.has(key)) {
      throw new ConflictError(`bfd session to ${remoteIp} already exists in instance ${p.instance}`);
    }
    // Two sessions with the same addresses could not be told apart while the
    // peer does not know our discriminator yet.
    for (const e of this.byRemote.get(remoteIp) ?? []) {
      if (!e.drain && e.sourceIp === sourceIp) {
        throw new ConflictError(
          `bfd session to ${remoteIp} from ${sourceIp ?? 'any source'} already exists in instance ${e.instance}`,
        );
      }
    }
    const authKey = p.auth ? loadAuthKey(p.auth, this.keyDir) : undefined;

    this.pending.add(key);
    let sender: BfdSender;
    try {
      sender = await this.transport.openSender({ remoteAddress: remoteIp, localAddress: sourceIp });
    } catch (e) {
      authKey?.key.fill(0);
      throw e;
    } finally {
      this.pending.delete(key);
    }
    if (this.closed) {
      sender.close();
      authKey?.key.fill(0);
      throw new Error('bfd manager is closed');
    }
    // A deleted session with this key still draining gives way at once.
    for (const e of [...this.draining]) if (e.key === key) e.drain!.finish();

    const entry: Entry = {
      key,
      instance: p.instance,
      remoteIp,
      session: undefined as unknown as BfdSession,
      sender,
      txIntervalUs,
      rxIntervalUs,
      rxFollowsTx,
      multiplier,
      rxDrops: {},
    };
    if (sourceIp !== undefined) entry.sourceIp = sourceIp;
    if (authKey) entry.auth = { type: authKey.type, keyId: authKey.keyId };
    const localDiscriminator = this.newDiscriminator();
    const watch = this.arrivalTimes ? this.transport.watchArrivals?.(remoteIp, localDiscriminator) : undefined;
    if (watch) entry.watch = watch;
    const session = new BfdSession(
      {
        desiredMinTxUs: txIntervalUs,
        requiredMinRxUs: rxIntervalUs,
        detectMult: multiplier,
        localDiscriminator,
        ...(p.adminDown ? { adminDown: true } : {}),
        ...(authKey ? { auth: authKey } : {}),
        ...(this.remoteLimits ? { remoteLimits: this.remoteLimits } : {}),
      },
      {
        clock: this.clock,
        send: (b) => sender.send(b),
        ...(this.random ? { random: this.random } : {}),
        randomUint32: this.randomUint32,
        ...(this.offloadPeriodicTx && hasPeriodicTx(sender) ? { periodic: sender } : {}),
        ...(watch ? { peekArrival: () => watch.last() } : {}),
      },
    );
    // The session keeps its own copy.
    authKey?.key.fill(0);
    entry.session = session;
    session.on('stateChange', (c) => {
      const ev: BfdManagerStateChange = {
        instance: entry.instance,
        remoteIp: entry.remoteIp,
        from: c.from,
        to: c.to,
        diag: c.diag,
        remoteDiag: session.status().remoteDiag,
        remoteState: session.status().remoteState,
      };
      this.log.info(
        { instance: ev.instance, remoteIp: ev.remoteIp, from: bfdStateName(c.from), to: bfdStateName(c.to), diag: c.diag },
        'bfd session state change',
      );
      // Listeners run inside timers and socket callbacks: one that throws
      // must not take the process down.
      try {
        this.emit('stateChange', ev);
      } catch (e) {
        this.log.error({ err: e }, 'bfd stateChange listener threw');
      }
    });
    session.on('remoteStateChange', (r) => {
      try {
        this.emit('remoteStateChange', { instance: entry.instance, remoteIp: entry.remoteIp, from: r.from, to: r.to });
      } catch (e) {
        this.log.error({ err: e }, 'bfd remoteStateChange listener threw');
      }
    });
    this.byKey.set(key, entry);
    this.byDisc.set(session.localDiscriminator, entry);
    let set = this.byRemote.get(remoteIp);
    if (!set) this.byRemote.set(remoteIp, (set = new Set()));
    set.add(entry);
    session.start();
    return this.statusOf(entry);
  }

  /**
   * Changes timers or the admin state of a session. Interval changes on an Up
   * session go through a Poll Sequence (RFC 5880 §6.8.3), so neither side
   * sees a false failure. Source address and auth cannot change: delete and
   * add the session again.
   */
  updateSession(instance: string, remoteIp: string, u: BfdSessionUpdate): BfdManagerSessionStatus {
    const entry = this.mustGet(instance, remoteIp);
    for (const f of ['sourceIp', 'auth', 'instance', 'remoteIp'] as const) {
      if (f in (u as Record<string, unknown>)) {
        throw new ValidationError(f, 'unchangeable on an existing session: delete and add it again');
      }
    }
    const tx = u.txIntervalUs === undefined ? undefined : checkInterval('txIntervalUs', u.txIntervalUs);
    const rx = u.rxIntervalUs === undefined ? undefined : checkInterval('rxIntervalUs', u.rxIntervalUs);
    const mult = u.multiplier === undefined ? undefined : checkMultiplier(u.multiplier);
    if (u.adminDown !== undefined && typeof u.adminDown !== 'boolean') {
      throw new ValidationError('adminDown', 'true or false', u.adminDown);
    }
    if (tx !== undefined) entry.txIntervalUs = tx;
    if (rx !== undefined) {
      entry.rxIntervalUs = rx;
      entry.rxFollowsTx = false;
    } else if (tx !== undefined && entry.rxFollowsTx) {
      entry.rxIntervalUs = tx;
    }
    if (mult !== undefined) entry.multiplier = mult;
    entry.session.setTimers({
      desiredMinTxUs: entry.txIntervalUs,
      requiredMinRxUs: entry.rxIntervalUs,
      detectMult: entry.multiplier,
    });
    if (u.adminDown !== undefined) entry.session.setAdminDown(u.adminDown);
    return this.statusOf(entry);
  }

  /**
   * Deletes a session gracefully (RFC 5880 §6.8.16): it goes AdminDown at
   * once, so its next packets tell the peer, and stops after one of the
   * peer's Detection Times for it. The session leaves list() at once and the
   * key can be added again meanwhile; the promise resolves once the socket is
   * closed.
   */
  deleteSession(instance: string, remoteIp: string): Promise<void> {
    const entry = this.mustGet(instance, remoteIp);
    this.byKey.delete(entry.key);
    // What the peer waits for us, computed before AdminDown slows us down.
    const st = entry.session.status();
    const drainMs = (st.detectMult * st.txIntervalUs) / 1000;
    entry.session.setAdminDown(true);
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = () => {
        if (!entry.drain) return;
        this.clock.clearTimer(entry.drain.timer);
        delete entry.drain;
        this.draining.delete(entry);
        this.forget(entry);
        resolve();
      };
    });
    const timer = this.clock.setTimer(() => finish(), drainMs);
    entry.drain = { timer, done, finish };
    this.draining.add(entry);
    return done;
  }

  /** BfdSession.silenceInIntervals of a live session (undefined: none, or not Up). */
  silenceInIntervals(instance: string, remoteIp: string): number | undefined {
    const ip = parseIp(remoteIp)?.toString();
    return ip === undefined ? undefined : this.byKey.get(keyOf(instance, ip))?.session.silenceInIntervals();
  }

  /** Status of one live session. */
  get(instance: string, remoteIp: string): BfdManagerSessionStatus | undefined {
    const ip = parseIp(remoteIp)?.toString();
    const e = ip === undefined ? undefined : this.byKey.get(keyOf(instance, ip));
    return e ? this.statusOf(e) : undefined;
  }

  /** Every live session (deleted ones still draining are not listed). */
  list(): BfdManagerSessionStatus[] {
    return [...this.byKey.values()].map((e) => this.statusOf(e));
  }

  stats(): BfdManagerStats {
    return { ...this.statsCounters, drops: { ...this.statsCounters.drops } };
  }

  /**
   * Received packets dropped since start by reason, at the manager and in
   * every session, live or gone (the transport's own drops, e.g. TTL on the
   * native receive thread, are its stats). Non-zero reasons only.
   */
  rxDropTotals(): Record<string, number> {
    const out: Record<string, number> = {};
    const add = (r: string, n: number) => {
      if (n > 0) out[r] = (out[r] ?? 0) + n;
    };
    for (const [r, n] of Object.entries(this.statsCounters.drops)) add(r, n);
    for (const [r, n] of Object.entries(this.retiredDrops)) add(r, n);
    const live = new Set<Entry>([...this.byKey.values(), ...this.draining]);
    for (const e of live) for (const [r, n] of Object.entries(e.session.counters.drops)) add(r, n);
    return out;
  }

  /**
   * Stops every session and the transport. With `graceful`, every session
   * is first drained as by deleteSession (the peers see AdminDown rather
   * than a timeout).
   */
  async close(opts: { graceful?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    if (opts.graceful) {
      const live = [...this.byKey.values()];
      await Promise.all([...live.map((e) => this.deleteSession(e.instance, e.remoteIp)), ...[...this.draining].map((e) => e.drain!.done)]);
    }
    this.closed = true;
    for (const e of [...this.draining]) e.drain!.finish();
    for (const e of [...this.byKey.values()]) this.forget(e);
    this.byKey.clear();
    await this.transport.close();
  }

  // -------------------------------------------------------------------------

  /** RFC 5880 §6.8.6: pick the session a received packet belongs to. */
  private receive(buf: Buffer, meta: BfdPacketMeta): void {
    this.statsCounters.received++;
    const src = parseIp(meta.srcAddr)?.toString() ?? meta.srcAddr;
    const arrivalAt = this.arrivalTimes ? meta.arrivalAt : undefined;
    // The session this packet claims to be for, when its peer sent it.
    const claimed = buf.length >= 12 ? this.byDisc.get(buf.readUInt32BE(8)) : undefined;
    const owner = claimed && claimed.remoteIp === src ? claimed : undefined;
    // Whatever becomes of it, the packet is handled: the session's
    // detection timer must not wait for it (see BfdSession.noteArrival).
    if (arrivalAt !== undefined && owner) owner.session.noteArrival(arrivalAt);
    const decoded = decodeBfdPacket(buf);
    if (!decoded.ok) return this.drop(decoded.reason, owner);
    const pkt = decoded.packet;
    let entry: Entry | undefined;
    if (pkt.yourDiscriminator !== 0) {
      entry = this.byDisc.get(pkt.yourDiscriminator);
      if (!entry) return this.drop('unknown-discriminator');
      // No GTSM with node:dgram: at least the packet must come from the peer.
      if (entry.remoteIp !== src) return this.drop('source-mismatch');
    } else {
      const found = this.bySource(src, meta.dstAddr, pkt.myDiscriminator);
      if (found === 'none') return this.drop('unknown-source');
      if (found === 'ambiguous') return this.drop('ambiguous-source');
      entry = found;
    }
    this.statsCounters.delivered++;
    const rx: { srcAddr: string; srcPort: number; ttl?: number; arrivalAt?: number } = { srcAddr: src, srcPort: meta.srcPort };
    if (meta.ttl !== undefined) rx.ttl = meta.ttl;
    if (arrivalAt !== undefined) rx.arrivalAt = arrivalAt;
    entry.session.receive(buf, rx);
  }

  /**
   * Your Discriminator is 0: the session is the one with that peer address
   * (and, when the transport knows it, our address the packet was sent to).
   * Live sessions win over draining ones.
   */
  private bySource(src: string, dst: string | undefined, peerDisc: number): Entry | 'none' | 'ambiguous' {
    const all = [...(this.byRemote.get(src) ?? [])];
    if (all.length === 0) return 'none';
    let c = all.filter((e) => !e.drain);
    if (c.length === 0) c = all;
    if (dst !== undefined && c.length > 1) {
      const d = parseIp(dst)?.toString() ?? dst;
      const exact = c.filter((e) => e.sourceIp === d);
      c = exact.length > 0 ? exact : c.filter((e) => e.sourceIp === undefined);
    }
    if (c.length > 1) {
      // The peer's own discriminator tells its sessions apart once learnt.
      const known = c.filter((e) => e.session.status().remoteDiscriminator === peerDisc);
      const fresh = c.filter((e) => e.session.status().remoteDiscriminator === 0);
      c = known.length > 0 ? known : fresh;
    }
    if (c.length === 1) return c[0]!;
    return c.length === 0 ? 'none' : 'ambiguous';
  }

  private drop(reason: BfdManagerDropReason, owner?: Entry): void {
    this.statsCounters.drops[reason]++;
    if (owner) owner.rxDrops[reason] = (owner.rxDrops[reason] ?? 0) + 1;
  }

  private newDiscriminator(): number {
    for (;;) {
      const d = this.randomUint32() >>> 0;
      if (d !== 0 && !this.byDisc.has(d)) return d;
    }
  }

  private mustGet(instance: string, remoteIp: string): Entry {
    const ip = checkAddress('remoteIp', remoteIp);
    const e = this.byKey.get(keyOf(instance, ip));
    if (!e) throw new NotFoundError(`no bfd session to ${ip} in instance ${instance}`);
    return e;
  }

  /** Stops the session and releases its socket and index entries. */
  private forget(e: Entry): void {
    for (const [r, n] of Object.entries(e.session.counters.drops)) if (n > 0) this.retiredDrops[r] = (this.retiredDrops[r] ?? 0) + n;
    e.session.stop();
    e.sender.close();
    e.watch?.close();
    if (this.byDisc.get(e.session.localDiscriminator) === e) this.byDisc.delete(e.session.localDiscriminator);
    const set = this.byRemote.get(e.remoteIp);
    set?.delete(e);
    if (set && set.size === 0) this.byRemote.delete(e.remoteIp);
  }

  private statusOf(e: Entry): BfdManagerSessionStatus {
    const st = e.session.status();
    const rxDrops: Record<string, number> = {};
    const add = (reason: string, n: number) => {
      if (n > 0) rxDrops[reason] = (rxDrops[reason] ?? 0) + n;
    };
    add('bad-ttl', e.watch?.droppedTtl?.() ?? 0);
    for (const [r, n] of Object.entries(e.rxDrops)) add(r, n);
    for (const [r, n] of Object.entries(st.counters.drops)) add(r, n);
    const out: BfdManagerSessionStatus = {
      ...st,
      instance: e.instance,
      remoteIp: e.remoteIp,
      stateName: bfdStateName(st.state),
      localPort: e.sender.localPort,
      configured: { txIntervalUs: e.txIntervalUs, rxIntervalUs: e.rxIntervalUs, multiplier: e.multiplier },
      sender: e.sender.stats(),
      rxDrops,
    };
    if (e.sourceIp !== undefined) out.sourceIp = e.sourceIp;
    if (e.auth) out.auth = { type: e.auth.type, typeName: authTypeNameOf(e.auth.type), keyId: e.auth.keyId };
    return out;
  }
}
