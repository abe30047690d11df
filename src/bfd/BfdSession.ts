// One BFD session in Asynchronous mode (RFC 5880 §6.8): the state machine,
// the transmit and detection timers, Poll/Final, authentication state and the
// session's counters. It owns no socket and no clock: packets arrive through
// receive(), leave through the send callback, and time comes from an injected
// Clock, so tests drive it deterministically. Not implemented: the Echo
// function, and asking the peer for Demand mode (a peer that asks for it is
// honoured).
//
// Two time-critical parts can be handed to a transport that runs a thread of
// its own (the native one), so a stalled JS event loop costs no false Down at
// 10 ms intervals:
// - Periodic transmission (deps.periodic): the session hands the packet to
//   repeat and the interval to the sender whenever either changes, and the
//   sender's thread keeps the schedule. Packets that must change per packet
//   (Meticulous Keyed authentication) stay on the JS timer.
// - Arrival times (meta.arrivalAt, deps.peekArrival): packets count from when
//   they arrived rather than from when JS got to them, and a detection timer
//   that fires while packets from the peer still wait for the JS thread sees
//   them and waits for them instead of declaring the peer gone.
//
// Over 400 lines: the RFC 5880 §6.8 state machine with its timers and Poll/Final;
// it reads best in one place against the RFC's sections.
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import type { Clock, TimerHandle } from './clock.ts';
import type { BfdPeriodicTx } from './BfdTransport.ts';
import {
  BFD_AUTH_DROP_REASONS,
  BFD_DECODE_DROP_REASONS,
  BFD_VERSION,
  BfdAuthType,
  BfdDiag,
  BfdState,
  bfdAuthSequenceAcceptable,
  bfdMaxKeyLength,
  checkBfdAuth,
  decodeBfdPacket,
  encodeBfdPacket,
  type BfdAuthKey,
  type BfdControlPacket,
} from './BfdPacket.ts';

/** RFC 5880 §6.8.3: the least Desired Min TX a session advertises while not Up. */
export const BFD_SLOW_TX_US = 1_000_000;

/**
 * The most a peer's packet is believed. Without authentication anyone on the
 * link can send one (RFC 5880 allows Detect Mult 255 and intervals up to
 * 71 minutes on the wire), and a single spoofed Up packet right after the
 * peer died would otherwise stretch the Detection Time to days, keeping the
 * dead peer Up. A session holds the peer's values at these bounds: the
 * Detection Time (and the rate we slow down to) is computed from the bound,
 * the session keeps running, and each packet held is counted
 * (counters.timersClamped). Bringing the session Down instead would let one
 * spoofed packet flap it; holding costs a real peer configured beyond the
 * bound only an earlier, visible, Detection Time.
 */
export interface BfdRemoteLimits {
  /** Largest remote Desired Min TX believed, µs (>= 1 s, the rate of a peer not yet Up). */
  maxRemoteTxUs: number;
  /** Largest remote Required Min RX honoured, µs: how far the peer can slow our transmissions. */
  maxRemoteRxUs: number;
  /** Largest remote Detect Mult believed. */
  maxRemoteMult: number;
}

/** 2 s × 16: a peer can keep itself Up for at most 32 s of silence. */
export const BFD_DEFAULT_REMOTE_LIMITS: BfdRemoteLimits = { maxRemoteTxUs: 2_000_000, maxRemoteRxUs: 2_000_000, maxRemoteMult: 16 };

const MAX_U32 = 0xffff_ffff;

export const BFD_SESSION_DROP_REASONS = [
  ...BFD_DECODE_DROP_REASONS,
  ...BFD_AUTH_DROP_REASONS,
  /** RFC 5881 §5: a single-hop packet must arrive with TTL/Hop Limit 255. */
  'bad-ttl',
  /** Your Discriminator is set but is not ours. */
  'your-discriminator-mismatch',
  /** A bit set but this session uses no authentication. */
  'auth-unexpected',
  /** Sequence number outside the replay window (Keyed and Meticulous types). */
  'auth-sequence',
  /** RFC 5880 §6.8.6: in AdminDown, packets update the remote's variables and are then discarded. */
  'local-admin-down',
  'session-stopped',
] as const;
export type BfdSessionDropReason = (typeof BFD_SESSION_DROP_REASONS)[number];

export interface BfdTimers {
  /** Desired Min TX Interval, µs (1..2^32-1). Advertised as at least 1 s while not Up. */
  desiredMinTxUs: number;
  /** Required Min RX Interval, µs (0..2^32-1); 0 asks the peer to send nothing. */
  requiredMinRxUs: number;
  /** Detect Mult, 1..255. */
  detectMult: number;
}

export interface BfdSessionConfig extends BfdTimers {
  /** Non-zero; a random one from node:crypto when omitted. Must be unique among this system's sessions. */
  localDiscriminator?: number;
  auth?: BfdAuthKey;
  /** Passive role: send nothing until the peer has been heard from (RFC 5880 §6.1). */
  passive?: boolean;
  /** Start in AdminDown. */
  adminDown?: boolean;
  /** What the peer may ask for at most (default BFD_DEFAULT_REMOTE_LIMITS). */
  remoteLimits?: BfdRemoteLimits;
}

export interface BfdSessionDeps {
  clock: Clock;
  /** Hands one encoded Control packet to the transport. */
  send: (packet: Buffer) => void;
  /** Uniform in [0, 1); jitter source. Defaults to Math.random. */
  random?: () => number;
  /** Uniform 32-bit unsigned integers; seeds the discriminator and the auth sequence. Defaults to node:crypto. */
  randomUint32?: () => number;
  /**
   * Periodic transmission off the JS thread. Used unless the session's
   * packets change per packet (Meticulous Keyed MD5 / SHA1); immediate
   * packets (Final replies) still go through `send`.
   */
  periodic?: BfdPeriodicTx;
  /**
   * When the latest packet from the peer addressed to this session arrived
   * (clock timebase), including one not yet handed to receive(). Asked
   * before the detection timer declares the peer gone.
   */
  peekArrival?: () => number | undefined;
}

export interface BfdRxMeta {
  /** IP TTL / Hop Limit when the transport can read it; omitted, it is not checked. */
  ttl?: number;
  srcAddr: string;
  srcPort: number;
  /** When the packet arrived (clock timebase), if the transport knows; else now. */
  arrivalAt?: number;
}

export interface BfdStateChange {
  from: BfdState;
  to: BfdState;
  /** bfd.LocalDiag after the change. */
  diag: BfdDiag;
}

/**
 * How well the host keeps time, measured while the session is Up: how late
 * periodic packets leave against their schedule (event-loop delay), and the
 * longest silence between packets from the peer. A Detection Time that
 * approaches rxGapMaxUs is a flap waiting to happen.
 */
export interface BfdTimingStats {
  /** Latest periodic packet, µs after its due time. */
  txLateMaxUs: number;
  /** Periodic packets sent more than a quarter of the interval late. */
  txLateOverQuarter: number;
  /** Periodic packets sent while Up (what the two counters above are out of). */
  txPeriodicUp: number;
  /** Longest gap between two accepted packets while Up, µs. */
  rxGapMaxUs: number;
  /** Periodic packets leave from the transport's thread (the tx figures above are its own). */
  txOffloaded: boolean;
  /** Detection timers that found a packet from the peer still queued for JS and waited for it. */
  detectDeferred: number;
}

export interface BfdSessionCounters {
  /** Packets accepted and run through the state machine. */
  rx: number;
  tx: number;
  transitions: number;
  /** Accepted packets whose timers exceeded the remote limits and were held at them. */
  timersClamped: number;
  drops: Record<BfdSessionDropReason, number>;
}

export interface BfdSessionStatus {
  state: BfdState;
  localDiag: BfdDiag;
  remoteState: BfdState;
  remoteDiag: BfdDiag;
  localDiscriminator: number;
  remoteDiscriminator: number;
  /** What we advertise. */
  desiredMinTxUs: number;
  requiredMinRxUs: number;
  detectMult: number;
  /** What the peer last advertised. */
  remoteDesiredMinTxUs: number;
  remoteRequiredMinRxUs: number;
  remoteDetectMult: number;
  /** Negotiated transmit interval before jitter (§6.8.2). */
  txIntervalUs: number;
  /** 0 until the peer has been heard from (§6.8.4). */
  detectionTimeUs: number;
  pollActive: boolean;
  lastRxFrom?: { addr: string; port: number };
  counters: BfdSessionCounters;
  timing: BfdTimingStats;
}

interface BfdSessionEvents {
  stateChange: [BfdStateChange];
  /**
   * The peer's state changed without ours having to (a peer that starts or
   * stops holding the session AdminDown while we are Down): RFC 5882 §3.2
   * asks clients not to take AdminDown for a failed path.
   */
  remoteStateChange: [{ from: BfdState; to: BfdState }];
}

/**
 * Fraction of the transmit interval to wait before the next periodic packet,
 * for a random r in [0, 1) (RFC 5880 §6.8.7): 75-100 %, or 75-90 % with a
 * Detect Mult of 1 so that one slightly late packet cannot expire the peer.
 */
export function bfdJitterFactor(detectMult: number, r: number): number {
  const u = Math.min(1, Math.max(0, r));
  return detectMult === 1 ? 0.75 + 0.15 * u : 0.75 + 0.25 * u;
}

function checkInt(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`invalid bfd ${field}: an integer in ${min}..${max} (got ${JSON.stringify(v)})`);
  }
}

function validateTimers(t: Partial<BfdTimers>): void {
  if (t.desiredMinTxUs !== undefined) checkInt('desiredMinTxUs', t.desiredMinTxUs, 1, MAX_U32);
  if (t.requiredMinRxUs !== undefined) checkInt('requiredMinRxUs', t.requiredMinRxUs, 0, MAX_U32);
  if (t.detectMult !== undefined) checkInt('detectMult', t.detectMult, 1, 255);
}

function validateAuth(a: BfdAuthKey): void {
  checkInt('auth.type', a.type, BfdAuthType.SimplePassword, BfdAuthType.MeticulousKeyedSha1);
  checkInt('auth.keyId', a.keyId, 0, 255);
  checkInt('auth.key length', a.key.length, 1, bfdMaxKeyLength(a.type));
}

function cryptoUint32(): number {
  return randomInt(0, 2 ** 32);
}

export class BfdSession extends EventEmitter<BfdSessionEvents> {
  readonly localDiscriminator: number;
  readonly counters: BfdSessionCounters;
  /** Timing measured on the JS side; status().timing adds the transport's periodic figures. */
  readonly timing: BfdTimingStats;

  private readonly clock: Clock;
  private readonly sendPacket: (packet: Buffer) => void;
  private readonly random: () => number;
  private readonly auth?: BfdAuthKey;
  private readonly passive: boolean;
  /** Set when periodic transmission is offloaded. */
  private readonly periodic?: BfdPeriodicTx;
  private readonly peekArrival?: () => number | undefined;
  private readonly limits: BfdRemoteLimits;

  private sessionState: BfdState;
  private localDiag: BfdDiag = BfdDiag.NoDiagnostic;
  private remoteState: BfdState = BfdState.Down;
  private remoteDiag: BfdDiag = BfdDiag.NoDiagnostic;
  private remoteDiscr = 0;
  // §6.8.1 initial value: transmit at our own rate until told otherwise.
  private remoteMinRxUs = 1;
  private remoteDesiredMinTxUs = 0;
  private remoteDetectMult = 0;
  private remoteDemand = false;

  // Configured values.
  private desiredMinTxUs: number;
  private requiredMinRxUs: number;
  private detectMult: number;
  // Values last put on the wire; a change starts a Poll Sequence.
  private advertisedTxUs: number;
  private advertisedRxUs: number;
  // Values in force for our transmit interval and detection time. They trail
  // the advertised ones while a Poll Sequence runs (§6.8.3).
  private txDesiredUs: number;
  private rxRequiredUs: number;
  private pollActive = false;
  // A Final only proves the peer has our current values if it answers a Poll
  // that carried them.
  private pollSentCurrent = false;

  private xmitSeq: number;
  private rcvSeq = 0;
  private seqKnown = false;

  private lastRxAt?: number;
  /** Latest arrival time of any packet handed to receive(), accepted or dropped. */
  private lastSeenArrival = -Infinity;
  /** A packet the detection timer saw arrive that receive() has not had yet. */
  private queuedArrivalAt?: number;
  private lastRxFrom?: { addr: string; port: number };
  /** What the periodic sender currently repeats (offloaded only): a digest of its fields, and the Poll it carries. */
  private periodicKey?: string;
  private periodicPoll?: { advertisedTxUs: number; advertisedRxUs: number };
  private lastPeriodicTxAt?: number;
  private txJitter: number;
  private txTimer?: TimerHandle;
  private txDueAt = 0;
  private detectTimer?: TimerHandle;
  private detectDueAt = 0;
  private started = false;
  private stopped = false;
  private readonly pendingEvents: BfdStateChange[] = [];
  private readonly pendingRemote: { from: BfdState; to: BfdState }[] = [];

  constructor(config: BfdSessionConfig, deps: BfdSessionDeps) {
    super();
    validateTimers(config);
    if (config.auth) validateAuth(config.auth);
    const randomUint32 = deps.randomUint32 ?? cryptoUint32;
    if (config.localDiscriminator !== undefined) {
      checkInt('localDiscriminator', config.localDiscriminator, 1, MAX_U32);
      this.localDiscriminator = config.localDiscriminator;
    } else {
      let d = 0;
      while (d === 0) d = randomUint32() >>> 0;
      this.localDiscriminator = d;
    }
    this.clock = deps.clock;
    this.sendPacket = deps.send;
    this.random = deps.random ?? Math.random;
    if (config.auth) this.auth = { ...config.auth, key: Buffer.from(config.auth.key) };
    this.passive = config.passive ?? false;
    this.limits = config.remoteLimits ?? BFD_DEFAULT_REMOTE_LIMITS;
    this.xmitSeq = randomUint32() >>> 0;
    const meticulous = config.auth?.type === BfdAuthType.MeticulousKeyedMd5 || config.auth?.type === BfdAuthType.MeticulousKeyedSha1;
    if (deps.periodic && !meticulous) this.periodic = deps.periodic;
    if (deps.peekArrival) this.peekArrival = deps.peekArrival;
    this.timing = {
      txLateMaxUs: 0,
      txLateOverQuarter: 0,
      txPeriodicUp: 0,
      rxGapMaxUs: 0,
      txOffloaded: this.periodic !== undefined,
      detectDeferred: 0,
    };

    this.desiredMinTxUs = config.desiredMinTxUs;
    this.requiredMinRxUs = config.requiredMinRxUs;
    this.detectMult = config.detectMult;
    this.sessionState = config.adminDown ? BfdState.AdminDown : BfdState.Down;
    if (config.adminDown) this.localDiag = BfdDiag.AdministrativelyDown;
    this.advertisedTxUs = this.wantedTxUs();
    this.advertisedRxUs = this.requiredMinRxUs;
    this.txDesiredUs = this.advertisedTxUs;
    this.rxRequiredUs = this.advertisedRxUs;
    this.txJitter = bfdJitterFactor(this.detectMult, this.random());

    const drops = {} as Record<BfdSessionDropReason, number>;
    for (const r of BFD_SESSION_DROP_REASONS) drops[r] = 0;
    this.counters = { rx: 0, tx: 0, transitions: 0, timersClamped: 0, drops };
  }

  get state(): BfdState {
    return this.sessionState;
  }

  get diag(): BfdDiag {
    return this.localDiag;
  }

  /** Starts periodic transmission (the first packet goes out at once). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.armTx();
  }

  /** Ends the session for good: no timer stays armed and later packets are dropped. */
  stop(): void {
    this.stopped = true;
    this.clearTxTimer();
    this.stopPeriodic();
    this.clearDetectTimer();
  }

  /**
   * A packet that arrived at `at` (clock timebase) and is being handled now,
   * whether or not it is accepted; BfdManager calls this for packets it
   * drops before the session sees them. An arrival the session has handled
   * no longer holds off its detection timer.
   */
  noteArrival(at: number): void {
    if (at > this.lastSeenArrival) this.lastSeenArrival = at;
  }

  /**
   * Holds the session administratively down (RFC 5880 §6.8.16): the session
   * stops detecting and keeps sending AdminDown with `diag`, so the peer goes
   * Down with Neighbor Signaled Session Down rather than by timeout.
   * Releasing it returns to Down and sends one packet at once.
   */
  setAdminDown(down: boolean, diag: BfdDiag = BfdDiag.AdministrativelyDown): void {
    if (this.stopped) return;
    if (down && this.sessionState !== BfdState.AdminDown) this.setState(BfdState.AdminDown, diag);
    else if (!down && this.sessionState === BfdState.AdminDown) {
      this.setState(BfdState.Down);
      // The release is told at once, not at the next slow (1 s) packet: an
      // HA peer back from FAULT at the same moment still took us for held
      // (no candidate) and made itself MASTER beside us.
      if (this.mayTransmitPeriodic()) this.transmit(false, false);
    }
    this.flushEvents();
  }

  /** Changes local timers; a changed interval starts a Poll Sequence (RFC 5880 §6.8.3). */
  setTimers(timers: Partial<BfdTimers>): void {
    validateTimers(timers);
    if (this.stopped) return;
    if (timers.desiredMinTxUs !== undefined) this.desiredMinTxUs = timers.desiredMinTxUs;
    if (timers.requiredMinRxUs !== undefined) this.requiredMinRxUs = timers.requiredMinRxUs;
    const multChanged = timers.detectMult !== undefined && timers.detectMult !== this.detectMult;
    if (timers.detectMult !== undefined) this.detectMult = timers.detectMult;
    this.localParamsChanged();
    if (multChanged) {
      // The pending packet's jitter was drawn for the old multiplier; with 1
      // it must be re-drawn into 75-90 %.
      this.txJitter = bfdJitterFactor(this.detectMult, this.random());
      this.clearTxTimer();
    }
    this.armTx();
    this.armDetect();
    this.flushEvents();
  }

  /**
   * One received datagram (RFC 5880 §6.8.6). Returns why it was dropped, or
   * undefined if it was accepted. Never throws on any input; exceptions from
   * the send callback or a stateChange listener do propagate.
   */
  receive(buf: Buffer, meta: BfdRxMeta): BfdSessionDropReason | undefined {
    if (this.stopped) return this.drop('session-stopped');
    if (meta.arrivalAt !== undefined) this.noteArrival(meta.arrivalAt);
    if (meta.ttl !== undefined && meta.ttl !== 255) return this.drop('bad-ttl');
    const decoded = decodeBfdPacket(buf);
    if (!decoded.ok) return this.drop(decoded.reason);
    const p = decoded.packet;
    if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== this.localDiscriminator) {
      return this.drop('your-discriminator-mismatch');
    }
    const authDrop = this.authenticate(buf, p);
    if (authDrop) return this.drop(authDrop);

    // Counted from its arrival, not from when the JS thread got to it; never
    // later than now nor earlier than the packet before it.
    const now = this.clock.now();
    let rxAt = meta.arrivalAt !== undefined ? Math.min(meta.arrivalAt, now) : now;
    if (this.lastRxAt !== undefined && rxAt < this.lastRxAt) rxAt = this.lastRxAt;
    if (this.sessionState === BfdState.Up && this.lastRxAt !== undefined) {
      this.timing.rxGapMaxUs = Math.max(this.timing.rxGapMaxUs, Math.round((rxAt - this.lastRxAt) * 1000));
    }
    this.lastRxAt = rxAt;
    this.lastRxFrom = { addr: meta.srcAddr, port: meta.srcPort };
    this.remoteDiscr = p.myDiscriminator;
    const remoteFrom = this.remoteState;
    this.remoteState = p.state;
    if (remoteFrom !== p.state) this.pendingRemote.push({ from: remoteFrom, to: p.state });
    this.remoteDiag = p.diag;
    this.remoteDemand = p.demand;
    this.remoteMinRxUs = p.requiredMinRxUs;
    this.remoteDesiredMinTxUs = p.desiredMinTxUs;
    this.remoteDetectMult = p.detectMult;
    const lim = this.limits;
    if (p.requiredMinRxUs > lim.maxRemoteRxUs || p.desiredMinTxUs > lim.maxRemoteTxUs || p.detectMult > lim.maxRemoteMult) {
      this.counters.timersClamped++;
    }
    if (p.final && this.pollActive && (this.pollSentCurrent || this.periodicPollSent())) {
      this.pollActive = false;
      this.txDesiredUs = this.advertisedTxUs;
      this.rxRequiredUs = this.advertisedRxUs;
    }

    if (this.sessionState === BfdState.AdminDown) {
      this.armTx();
      this.flushEvents();
      return this.drop('local-admin-down');
    }
    this.counters.rx++;

    const s = this.sessionState;
    if (p.state === BfdState.AdminDown) {
      if (s !== BfdState.Down) this.setState(BfdState.Down, BfdDiag.NeighborSignaledSessionDown);
    } else if (s === BfdState.Down) {
      if (p.state === BfdState.Down) this.setState(BfdState.Init);
      else if (p.state === BfdState.Init) this.setState(BfdState.Up);
    } else if (s === BfdState.Init) {
      if (p.state === BfdState.Init || p.state === BfdState.Up) this.setState(BfdState.Up);
    } else if (p.state === BfdState.Down) {
      this.setState(BfdState.Down, BfdDiag.NeighborSignaledSessionDown);
    }

    // §6.8.7: answer a Poll at once, whatever the timers, state or Demand mode.
    if (p.poll) this.transmit(false, true);
    this.armTx();
    this.armDetect();
    this.flushEvents();
    return undefined;
  }

  status(): BfdSessionStatus {
    const st: BfdSessionStatus = {
      state: this.sessionState,
      localDiag: this.localDiag,
      remoteState: this.remoteState,
      remoteDiag: this.remoteDiag,
      localDiscriminator: this.localDiscriminator,
      remoteDiscriminator: this.remoteDiscr,
      desiredMinTxUs: this.advertisedTxUs,
      requiredMinRxUs: this.advertisedRxUs,
      detectMult: this.detectMult,
      remoteDesiredMinTxUs: this.remoteDesiredMinTxUs,
      remoteRequiredMinRxUs: this.remoteMinRxUs,
      remoteDetectMult: this.remoteDetectMult,
      txIntervalUs: this.txIntervalUs(),
      detectionTimeUs: this.detectionTimeUs(),
      pollActive: this.pollActive,
      counters: { ...this.counters, drops: { ...this.counters.drops } },
      timing: { ...this.timing },
    };
    if (this.periodic) {
      // The sender's thread sent the periodic packets and timed them.
      const n = this.periodic.periodicStats();
      st.counters.tx += n.sent;
      st.timing.txPeriodicUp += n.sentUp;
      st.timing.txLateMaxUs = Math.max(st.timing.txLateMaxUs, n.lateMaxUs);
      st.timing.txLateOverQuarter += n.lateOverQuarter;
    }
    if (this.lastRxFrom) st.lastRxFrom = { ...this.lastRxFrom };
    return st;
  }

  private drop(reason: BfdSessionDropReason): BfdSessionDropReason {
    this.counters.drops[reason]++;
    return reason;
  }

  private authenticate(raw: Buffer, p: BfdControlPacket): BfdSessionDropReason | undefined {
    if (!this.auth) return p.authPresent ? 'auth-unexpected' : undefined;
    const bad = checkBfdAuth(raw, p, this.auth);
    if (bad) return bad;
    if (this.auth.type === BfdAuthType.SimplePassword) return undefined;
    const seq = p.auth!.sequence;
    // §6.8.1: after two Detection Times of silence the peer may have restarted
    // its sequence, so any number is accepted again.
    if (this.seqKnown && this.lastRxAt !== undefined) {
      const silentMs = this.clock.now() - this.lastRxAt;
      if (silentMs > (2 * this.detectionTimeUs()) / 1000) this.seqKnown = false;
    }
    if (this.seqKnown && !bfdAuthSequenceAcceptable(this.auth.type, seq, this.rcvSeq, p.detectMult)) {
      return 'auth-sequence';
    }
    this.rcvSeq = seq;
    this.seqKnown = true;
    return undefined;
  }

  /** Desired Min TX we want on the wire now: never below 1 s unless Up (§6.8.3). */
  private wantedTxUs(): number {
    return this.sessionState === BfdState.Up ? this.desiredMinTxUs : Math.max(this.desiredMinTxUs, BFD_SLOW_TX_US);
  }

  private localParamsChanged(): void {
    const tx = this.wantedTxUs();
    const rx = this.requiredMinRxUs;
    if (tx !== this.advertisedTxUs || rx !== this.advertisedRxUs) {
      this.advertisedTxUs = tx;
      this.advertisedRxUs = rx;
      // Nothing sent yet means nothing for the peer to unlearn.
      if (this.counters.tx > 0 || (this.periodic !== undefined && this.periodic.periodicStats().sent > 0)) {
        this.pollActive = true;
        this.pollSentCurrent = false;
      }
    }
    // §6.8.3: while Up, a slower transmit rate waits for the peer to have
    // lengthened its Detection Time, and a shorter Detection Time waits for
    // the peer to have sped up; the other directions are safe at once.
    const up = this.sessionState === BfdState.Up;
    if (!up || !this.pollActive || tx < this.txDesiredUs) this.txDesiredUs = tx;
    if (!up || !this.pollActive || rx > this.rxRequiredUs) this.rxRequiredUs = rx;
  }

  private setState(to: BfdState, diag?: BfdDiag): void {
    const from = this.sessionState;
    if (from === to) return;
    this.sessionState = to;
    if (to === BfdState.Up) this.localDiag = BfdDiag.NoDiagnostic;
    else if (diag !== undefined) this.localDiag = diag;
    this.counters.transitions++;
    this.pendingEvents.push({ from, to, diag: this.localDiag });
    this.localParamsChanged();
    this.armDetect();
    this.armTx();
  }

  private flushEvents(): void {
    // Emitted only once the session is consistent, so a listener may call
    // back into it.
    for (let e = this.pendingEvents.shift(); e; e = this.pendingEvents.shift()) this.emit('stateChange', e);
    for (let r = this.pendingRemote.shift(); r; r = this.pendingRemote.shift()) this.emit('remoteStateChange', r);
  }

  private txIntervalUs(): number {
    return Math.max(this.txDesiredUs, Math.min(this.remoteMinRxUs, this.limits.maxRemoteRxUs));
  }

  /**
   * While Up: how many of the peer's transmit intervals have passed since we
   * last heard from it (a packet handled or one seen queued). About 1 on a
   * healthy session; a session silent for more than 1.5 is probably on its
   * way Down. Undefined while not Up.
   */
  silenceInIntervals(): number | undefined {
    if (this.sessionState !== BfdState.Up || this.lastRxAt === undefined) return undefined;
    const mult = Math.max(1, Math.min(this.remoteDetectMult, this.limits.maxRemoteMult));
    const intervalMs = this.detectionTimeUs() / mult / 1000;
    if (!(intervalMs > 0)) return undefined;
    const queued = this.peekArrival?.();
    const heard = Math.max(this.lastRxAt, queued ?? 0);
    return Math.max(0, this.clock.now() - heard) / intervalMs;
  }

  /** §6.8.4, with the peer's values held at the remote limits. */
  private detectionTimeUs(): number {
    const mult = Math.min(this.remoteDetectMult, this.limits.maxRemoteMult);
    return mult * Math.max(this.rxRequiredUs, Math.min(this.remoteDesiredMinTxUs, this.limits.maxRemoteTxUs));
  }

  private mayTransmitPeriodic(): boolean {
    if (!this.started || this.stopped) return false;
    if (this.passive && this.remoteDiscr === 0) return false;
    if (this.remoteMinRxUs === 0) return false;
    // §6.8.7: the peer runs Demand mode; a Poll Sequence still goes out.
    const peerDemands = this.remoteDemand && this.sessionState === BfdState.Up && this.remoteState === BfdState.Up;
    return !peerDemands || this.pollActive;
  }

  /**
   * (Re)schedules the next periodic packet. The pending packet is pulled
   * forward when the interval shrinks but never pushed back when it grows:
   * the peer's Detection Time still expects the old rate for that packet.
   */
  private armTx(): void {
    if (this.periodic) {
      this.syncPeriodic(this.periodic);
      return;
    }
    if (!this.mayTransmitPeriodic()) {
      this.clearTxTimer();
      return;
    }
    const now = this.clock.now();
    const due =
      this.lastPeriodicTxAt === undefined ? now : this.lastPeriodicTxAt + (this.txIntervalUs() / 1000) * this.txJitter;
    if (this.txTimer !== undefined && due >= this.txDueAt) return;
    this.clearTxTimer();
    this.txDueAt = Math.max(due, now);
    this.txTimer = this.clock.setTimer(() => this.onTxTimer(), this.txDueAt - now);
  }

  private onTxTimer(): void {
    this.txTimer = undefined;
    if (!this.mayTransmitPeriodic()) return;
    // Bookkeeping first: a transport that delivers synchronously may bring
    // the peer's Final back before send() returns.
    const poll = this.pollActive;
    if (poll) this.pollSentCurrent = true;
    this.lastPeriodicTxAt = this.clock.now();
    if (this.sessionState === BfdState.Up) {
      const lateUs = Math.round((this.lastPeriodicTxAt - this.txDueAt) * 1000);
      this.timing.txPeriodicUp++;
      this.timing.txLateMaxUs = Math.max(this.timing.txLateMaxUs, lateUs);
      if (lateUs > this.txIntervalUs() / 4) this.timing.txLateOverQuarter++;
    }
    this.txJitter = bfdJitterFactor(this.detectMult, this.random());
    this.transmit(poll, false);
    this.armTx();
    this.flushEvents();
  }

  private clearTxTimer(): void {
    if (this.txTimer !== undefined) this.clock.clearTimer(this.txTimer);
    this.txTimer = undefined;
  }

  /**
   * Offloaded armTx: keeps the sender repeating the packet onTxTimer would
   * send now, at the interval it would use. The sender keeps the schedule
   * (the same rule as armTx), so a new packet never goes out early; it is
   * handed over only when its contents or the interval change, and the
   * Keyed-authentication sequence number advances with each new packet.
   */
  private syncPeriodic(periodic: BfdPeriodicTx): void {
    if (!this.mayTransmitPeriodic()) {
      this.stopPeriodic();
      return;
    }
    const poll = this.pollActive;
    const intervalUs = this.txIntervalUs();
    const key = [
      this.sessionState,
      this.localDiag,
      poll ? 1 : 0,
      this.remoteDiscr,
      this.advertisedTxUs,
      this.advertisedRxUs,
      this.detectMult,
      intervalUs,
    ].join(',');
    if (key === this.periodicKey) return;
    // The packet being replaced may have been the Poll that carried our
    // current values: remember that before its counter starts over.
    if (this.periodicPollSent()) this.pollSentCurrent = true;
    const bytes = this.encode(poll, false, true);
    this.periodicKey = key;
    this.periodicPoll = poll ? { advertisedTxUs: this.advertisedTxUs, advertisedRxUs: this.advertisedRxUs } : undefined;
    periodic.setPeriodic(bytes, intervalUs, this.detectMult);
  }

  private stopPeriodic(): void {
    if (!this.periodic || this.periodicKey === undefined) return;
    if (this.periodicPollSent()) this.pollSentCurrent = true;
    this.periodicKey = undefined;
    this.periodicPoll = undefined;
    this.periodic.stopPeriodic();
  }

  /** Offloaded: the sender has sent a Poll carrying the values we advertise now. */
  private periodicPollSent(): boolean {
    const pp = this.periodicPoll;
    if (!this.periodic || !pp || !this.pollActive) return false;
    if (pp.advertisedTxUs !== this.advertisedTxUs || pp.advertisedRxUs !== this.advertisedRxUs) return false;
    return this.periodic.periodicStats().sentCurrent > 0;
  }

  /**
   * Keeps a timer at or before the detection deadline. A pending timer that
   * is earlier than a new deadline is left alone (it re-checks when it fires),
   * so a steady stream of packets does not cost a timer per packet.
   */
  private armDetect(): void {
    const detectMs = this.detectionTimeUs() / 1000;
    const detecting =
      !this.stopped &&
      this.lastRxAt !== undefined &&
      (this.sessionState === BfdState.Init || this.sessionState === BfdState.Up) &&
      detectMs > 0;
    if (!detecting) {
      this.clearDetectTimer();
      return;
    }
    const due = this.detectBase() + detectMs;
    if (this.detectTimer !== undefined && this.detectDueAt <= due) return;
    this.clearDetectTimer();
    const now = this.clock.now();
    this.detectDueAt = Math.max(due, now);
    this.detectTimer = this.clock.setTimer(() => this.onDetectTimer(), this.detectDueAt - now);
  }

  private onDetectTimer(): void {
    this.detectTimer = undefined;
    if (this.lastRxAt === undefined) return;
    if (this.sessionState !== BfdState.Init && this.sessionState !== BfdState.Up) return;
    // Early on purpose (armed for an older deadline) or by rounding: going
    // Down before the full Detection Time would be a false failure.
    const detectMs = this.detectionTimeUs() / 1000;
    const now = this.clock.now();
    if (now < this.detectBase() + detectMs) {
      this.armDetect();
      return;
    }
    // The timer may fire late, after a stall of the JS thread, while packets
    // from the peer sit in the transport's queue: one that arrived within the
    // Detection Time and has not been handled yet proves the peer alive. Wait
    // for it (a Detection Time from its arrival) rather than going Down.
    const queued = this.peekArrival?.();
    if (queued !== undefined && queued > this.lastRxAt && queued > this.lastSeenArrival && now < queued + detectMs) {
      this.timing.detectDeferred++;
      this.queuedArrivalAt = queued;
      this.armDetect();
      return;
    }
    // §6.8.1, §6.8.18: the peer is gone; forget what it asked of us.
    this.remoteDiscr = 0;
    this.remoteState = BfdState.Down;
    this.remoteMinRxUs = 1;
    this.remoteDemand = false;
    this.setState(BfdState.Down, BfdDiag.ControlDetectionTimeExpired);
    this.flushEvents();
  }

  private clearDetectTimer(): void {
    if (this.detectTimer !== undefined) this.clock.clearTimer(this.detectTimer);
    this.detectTimer = undefined;
  }

  /** What the Detection Time runs from: the last accepted packet, or a later one seen queued and not handled yet. */
  private detectBase(): number {
    const q = this.queuedArrivalAt;
    if (q !== undefined && q > this.lastSeenArrival && q > this.lastRxAt!) return q;
    return this.lastRxAt!;
  }

  private transmit(poll: boolean, final: boolean): void {
    // Offloaded, the periodic packet carries the sequence number: an
    // immediate one reuses it, so the numbers the peer sees never go back.
    const bytes = this.encode(poll, final, this.periodic === undefined);
    this.counters.tx++;
    this.sendPacket(bytes);
  }

  private encode(poll: boolean, final: boolean, advanceSeq: boolean): Buffer {
    const pkt: BfdControlPacket = {
      version: BFD_VERSION,
      diag: this.localDiag,
      state: this.sessionState,
      poll,
      final,
      controlPlaneIndependent: false,
      authPresent: this.auth !== undefined,
      demand: false,
      multipoint: false,
      detectMult: this.detectMult,
      myDiscriminator: this.localDiscriminator,
      yourDiscriminator: this.remoteDiscr,
      desiredMinTxUs: this.advertisedTxUs,
      requiredMinRxUs: this.advertisedRxUs,
      // No Echo function: 0 tells the peer not to send Echo packets.
      requiredMinEchoRxUs: 0,
    };
    if (!this.auth) return encodeBfdPacket(pkt);
    // Meticulous types need a new number per packet; Keyed ones may reuse
    // one (RFC 5880 §6.7.3), but advancing it too keeps replays of old
    // packets short-lived.
    if (advanceSeq) this.xmitSeq = (this.xmitSeq + 1) >>> 0;
    return encodeBfdPacket(pkt, { ...this.auth, sequence: this.xmitSeq });
  }
}
