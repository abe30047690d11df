// BfdSession with its time-critical parts offloaded, on a ManualClock: a
// fake periodic sender that keeps the native timer thread's schedule, and
// arrival times / a peek at packets still queued for the JS thread. What the
// session hands the sender (and when it stops it), Poll/Final through a
// repeated packet, keyed-auth sequence numbers, and the detection timer that
// waits for a queued packet instead of declaring a false Down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type TimerHandle } from '../../src/bfd/clock.ts';
import { BfdAuthType, BfdDiag, BfdState, decodeBfdPacket, encodeBfdPacket, type BfdControlPacket } from '../../src/bfd/BfdPacket.ts';
import { BfdSession, bfdJitterFactor, type BfdSessionConfig, type BfdStateChange } from '../../src/bfd/BfdSession.ts';
import { BfdManager } from '../../src/bfd/BfdManager.ts';
import type {
  BfdArrivalWatch,
  BfdPacketHandler,
  BfdPeriodicStats,
  BfdPeriodicTx,
  BfdSender,
  BfdSenderStats,
  BfdTransport,
} from '../../src/bfd/BfdTransport.ts';
import { controlPacket, lcg } from '../lab/bfdPackets.ts';

const { AdminDown, Down, Init, Up } = BfdState;
const EPS = 1e-6;


function decoded(raw: Buffer): BfdControlPacket {
  const r = decodeBfdPacket(raw);
  assert.ok(r.ok, 'a packet its own decoder refuses');
  return r.packet;
}

interface PeriodicCall {
  at: number;
  op: 'set' | 'stop';
  pkt?: BfdControlPacket;
  raw?: Buffer;
  intervalUs?: number;
  detectMult?: number;
}

/** The native sender's periodic mode on a ManualClock, with the same schedule rule. */
class FakePeriodic implements BfdPeriodicTx {
  readonly calls: PeriodicCall[] = [];
  /** When each periodic packet left, and what it was. */
  readonly sends: { at: number; pkt: BfdControlPacket; raw: Buffer }[] = [];
  active = false;
  extraStats: Partial<BfdPeriodicStats> = {};
  private packet?: Buffer;
  private intervalUs = 0;
  private detectMult = 0;
  private jitter?: number;
  private due = 0;
  private lastSentAt?: number;
  private timer?: TimerHandle;
  private sentCurrent = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly random: () => number,
    private readonly deliver: (raw: Buffer) => void = () => {},
  ) {}

  setPeriodic(packet: Buffer, intervalUs: number, detectMult: number): void {
    this.calls.push({ at: this.clock.now(), op: 'set', pkt: decoded(packet), raw: packet, intervalUs, detectMult });
    if (this.jitter === undefined || detectMult !== this.detectMult) this.jitter = bfdJitterFactor(detectMult, this.random());
    this.packet = packet;
    this.intervalUs = intervalUs;
    this.detectMult = detectMult;
    this.sentCurrent = 0;
    const now = this.clock.now();
    let due = this.lastSentAt === undefined ? now : this.lastSentAt + (intervalUs / 1000) * this.jitter;
    if (this.active) due = Math.min(due, this.due);
    due = Math.max(due, now);
    if (this.active && due === this.due) return;
    this.active = true;
    this.arm(due);
  }

  stopPeriodic(): void {
    this.calls.push({ at: this.clock.now(), op: 'stop' });
    this.active = false;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  periodicStats(): BfdPeriodicStats {
    const up = this.sends.filter((s) => s.pkt.state === Up).length;
    return { sent: this.sends.length, sentCurrent: this.sentCurrent, sentUp: up, errors: 0, lateMaxUs: 0, lateOverQuarter: 0, ...this.extraStats };
  }

  sets(): PeriodicCall[] {
    return this.calls.filter((c) => c.op === 'set');
  }

  private arm(due: number): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.due = due;
    this.timer = this.clock.setTimer(() => this.fire(), due - this.clock.now());
  }

  private fire(): void {
    this.timer = undefined;
    if (!this.active) return;
    const now = this.clock.now();
    this.sends.push({ at: now, pkt: decoded(this.packet!), raw: this.packet! });
    this.sentCurrent++;
    this.lastSentAt = now;
    this.jitter = bfdJitterFactor(this.detectMult, this.random());
    this.arm(now + (this.intervalUs / 1000) * this.jitter);
    this.deliver(this.packet!);
  }
}

const DISCR = { a: 0x0a0a0a0a, b: 0x0b0b0b0b };
const ADDR = { a: '10.0.0.1', b: '10.0.0.2' };
const BASE: BfdSessionConfig = { desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, detectMult: 3 };
type Who = 'a' | 'b';

/** Two offloaded sessions back to back through a zero-latency link. */
function makeOffloadedPair(cfg: Partial<BfdSessionConfig> = {}) {
  const clock = new ManualClock();
  const sessions = {} as Record<Who, BfdSession>;
  const periodic = {} as Record<Who, FakePeriodic>;
  const immediate: { from: Who; at: number; pkt: BfdControlPacket; raw: Buffer }[] = [];
  const events: { who: Who; at: number; change: BfdStateChange }[] = [];
  const link = (from: Who, to: Who) => (raw: Buffer) =>
    clock.setTimer(() => sessions[to].receive(raw, { ttl: 255, srcAddr: ADDR[from], srcPort: 49152, arrivalAt: clock.now() }), 0);
  for (const [who, other] of [
    ['a', 'b'],
    ['b', 'a'],
  ] as const) {
    periodic[who] = new FakePeriodic(clock, lcg(DISCR[who] ^ 1), link(who, other));
    sessions[who] = new BfdSession(
      { ...BASE, localDiscriminator: DISCR[who], ...cfg },
      {
        clock,
        random: lcg(DISCR[who]),
        periodic: periodic[who],
        send: (raw) => {
          immediate.push({ from: who, at: clock.now(), pkt: decoded(raw), raw });
          link(who, other)(raw);
        },
      },
    );
    sessions[who].on('stateChange', (change) => events.push({ who, at: clock.now(), change }));
  }
  return { clock, sessions, periodic, immediate, events };
}

test('offloaded pair: Down -> Init -> Up, then Poll/Final to 100 ms; the repeated packet follows every change, only Finals go through send()', () => {
  const p = makeOffloadedPair();
  p.sessions.a.start();
  p.sessions.b.start();
  p.clock.advance(5000);
  for (const who of ['a', 'b'] as const) {
    const s = p.sessions[who].status();
    assert.equal(s.state, Up);
    assert.equal(s.pollActive, false, `${who}: Poll answered`);
    assert.equal(s.txIntervalUs, 100_000);
    assert.equal(s.timing.txOffloaded, true);

    const sets = p.periodic[who].sets();
    // Distinct (state, poll, advertised TX) templates in order.
    const seq = sets.map((c) => `${c.pkt!.state}/${c.pkt!.poll ? 'P' : '-'}/${c.pkt!.desiredMinTxUs}/${c.intervalUs}`);
    assert.deepEqual(seq.slice(0, 1), [`${Down}/-/1000000/1000000`], `${who} starts with a Down packet at 1 s: ${seq.join(' ')}`);
    // Speeding up is safe at once (§6.8.3): the Poll already goes at 100 ms.
    assert.ok(seq.includes(`${Up}/P/100000/100000`), `${who} polls for the fast rate: ${seq.join(' ')}`);
    assert.equal(seq.at(-1), `${Up}/-/100000/100000`, `${who} ends with a plain Up packet at 100 ms: ${seq.join(' ')}`);
    assert.ok(sets.every((c) => !c.pkt!.final), 'the repeated packet never carries F');
    assert.ok(p.periodic[who].calls.every((c) => c.op === 'set'), 'never stopped');

    // Immediate packets: only the Finals answering the peer's Poll.
    const imm = p.immediate.filter((x) => x.from === who);
    assert.ok(imm.length >= 1 && imm.every((x) => x.pkt.final && !x.pkt.poll), `${who} sends only Finals itself`);

    // The fast rate, 75-100 % of 100 ms, once both are at it.
    const upAt = p.periodic[who].sets().at(-1)!.at;
    const at = p.periodic[who].sends.filter((x) => x.at > upAt + 200).map((x) => x.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.ok(gaps.length > 30 && gaps.every((g) => g >= 75 - EPS && g <= 100 + EPS), `gaps ${Math.min(...gaps)}..${Math.max(...gaps)}`);
    assert.equal(s.counters.tx, imm.length + p.periodic[who].sends.length, 'tx counts the periodic sends');
    assert.equal(s.timing.txPeriodicUp, p.periodic[who].sends.filter((x) => x.pkt.state === Up).length);
  }
  // The periodic packet is handed over only when it changes, not on every received packet.
  assert.ok(p.periodic.a.sets().length < 10, `${p.periodic.a.sets().length} setPeriodic calls`);

  // A local timer change on an Up session polls through the repeated packet.
  p.sessions.a.setTimers({ desiredMinTxUs: 50_000, requiredMinRxUs: 50_000 });
  const pollSet = p.periodic.a.sets().at(-1)!;
  assert.equal(pollSet.pkt!.poll, true);
  assert.equal(pollSet.pkt!.desiredMinTxUs, 50_000);
  p.clock.advance(1000);
  assert.equal(p.sessions.a.status().pollActive, false, 'the Final ended the Poll');
  assert.equal(p.periodic.a.sets().at(-1)!.pkt!.poll, false, 'and the repeated packet lost its P bit');
  assert.equal(p.sessions.a.status().desiredMinTxUs, 50_000);
  assert.equal(p.sessions.b.status().remoteDesiredMinTxUs, 50_000);
  assert.deepEqual(
    p.events.map((e) => e.change.to),
    [Init, Init, Up, Up],
    'no flap',
  );
});

/** One offloaded session and a hand-driven peer at 10 ms x 3. */
function makeSingle(opts: { auth?: BfdSessionConfig['auth']; peek?: () => number | undefined; periodic?: boolean } = {}) {
  const clock = new ManualClock();
  const periodic = new FakePeriodic(clock, lcg(7));
  const immediate: BfdControlPacket[] = [];
  const immediateRaw: Buffer[] = [];
  const events: BfdStateChange[] = [];
  const s = new BfdSession(
    { desiredMinTxUs: 10_000, requiredMinRxUs: 10_000, detectMult: 3, localDiscriminator: 0x1111, ...(opts.auth ? { auth: opts.auth } : {}) },
    {
      clock,
      random: lcg(3),
      randomUint32: () => 1000,
      send: (raw) => {
        immediate.push(decoded(raw));
        immediateRaw.push(raw);
      },
      ...(opts.periodic === false ? {} : { periodic }),
      ...(opts.peek ? { peekArrival: opts.peek } : {}),
    },
  );
  s.on('stateChange', (c) => events.push(c));
  let peerSeq = 500;
  /** A packet from the peer (Your Discriminator ours once it is Up), arriving at `arrivalAt` (default now). */
  const fromPeer = (over: Partial<BfdControlPacket> = {}, arrivalAt?: number) => {
    const pkt = controlPacket({
      myDiscriminator: 0x2222,
      yourDiscriminator: 0x1111,
      desiredMinTxUs: 10_000,
      requiredMinRxUs: 10_000,
      state: Up,
      ...over,
    });
    const raw = opts.auth
      ? encodeBfdPacket({ ...pkt, authPresent: true }, { ...opts.auth, sequence: peerSeq++ })
      : encodeBfdPacket(pkt);
    return s.receive(raw, { ttl: 255, srcAddr: '10.0.0.2', srcPort: 49152, arrivalAt: arrivalAt ?? clock.now() });
  };
  /** Brings the session Up at 10 ms and lets any Poll finish. */
  const bringUp = () => {
    s.start();
    // The first packet leaves (at once, from the sender's thread).
    clock.advance(1);
    fromPeer({ state: Down, yourDiscriminator: 0 });
    fromPeer({ state: Up });
    assert.equal(s.state, Up);
    // Answer our Poll once it has gone out.
    for (let i = 0; i < 200 && s.status().pollActive; i++) {
      clock.advance(10);
      fromPeer({ final: periodic.sends.some((x) => x.pkt.poll) || immediate.some((x) => x.poll) });
    }
    assert.equal(s.status().pollActive, false);
  };
  /** Lets ms pass with the peer sending every 10 ms (changes in `over`). */
  const run = (ms: number, over: Partial<BfdControlPacket> = {}) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      fromPeer(over);
    }
  };
  return { clock, periodic, immediate, immediateRaw, events, s, fromPeer, bringUp, run };
}

test('AdminDown switches the repeated packet to AdminDown (diag 7, slow rate); stop() stops it; RequiredMinRx 0 stops it until the peer asks again', () => {
  const t = makeSingle();
  t.bringUp();
  t.s.setAdminDown(true);
  const last = t.periodic.sets().at(-1)!;
  assert.equal(last.pkt!.state, AdminDown);
  assert.equal(last.pkt!.diag, BfdDiag.AdministrativelyDown);
  assert.equal(last.intervalUs, 1_000_000, 'not Up: 1 s');
  assert.equal(t.periodic.active, true, 'AdminDown keeps telling the peer');
  t.s.setAdminDown(false);
  assert.equal(t.periodic.sets().at(-1)!.pkt!.state, Down);

  // The peer asks for no packets at all.
  t.fromPeer({ state: Down, yourDiscriminator: 0 });
  t.fromPeer({ state: Up, requiredMinRxUs: 0 });
  assert.equal(t.periodic.calls.at(-1)!.op, 'stop');
  assert.equal(t.periodic.active, false);
  t.run(100, { state: Up, requiredMinRxUs: 0 });
  assert.equal(t.s.state, Up);
  assert.equal(t.periodic.calls.filter((c) => c.op === 'stop').length, 1, 'stopped once, not on every packet');
  t.fromPeer({ state: Up, requiredMinRxUs: 10_000 });
  assert.equal(t.periodic.calls.at(-1)!.op, 'set', 'resumed');
  assert.equal(t.periodic.active, true);

  t.s.stop();
  assert.equal(t.periodic.calls.at(-1)!.op, 'stop');
  assert.equal(t.periodic.active, false);
  const n = t.periodic.calls.length;
  t.fromPeer({ state: Up });
  t.clock.advance(1000);
  assert.equal(t.periodic.calls.length, n, 'nothing after stop');
});

test('the peer in Demand mode stops the repeated packet; a Poll still goes out', () => {
  const t = makeSingle();
  t.bringUp();
  t.fromPeer({ state: Up, demand: true });
  assert.equal(t.periodic.calls.at(-1)!.op, 'stop');
  t.s.setTimers({ desiredMinTxUs: 20_000 });
  const set = t.periodic.calls.at(-1)!;
  assert.equal(set.op, 'set');
  assert.equal(set.pkt!.poll, true, 'the Poll Sequence is repeated until answered');
});

test('status().timing reports the sender thread\'s figures', () => {
  const t = makeSingle();
  t.bringUp();
  t.run(500);
  t.periodic.extraStats = { lateMaxUs: 2345, lateOverQuarter: 3 };
  const st = t.s.status();
  assert.equal(st.timing.txOffloaded, true);
  assert.equal(st.timing.txLateMaxUs, 2345);
  assert.equal(st.timing.txLateOverQuarter, 3);
  assert.ok(st.timing.txPeriodicUp > 40, `${st.timing.txPeriodicUp} Up packets`);
  assert.equal(st.counters.tx, t.immediate.length + t.periodic.sends.length);
});

test('Meticulous Keyed SHA1 stays on the JS timer; Keyed MD5 is offloaded with a sequence number that never goes back', () => {
  const key = Buffer.from('0123456789abcdef0123');
  const met = makeSingle({ auth: { type: BfdAuthType.MeticulousKeyedSha1, keyId: 1, key } });
  met.s.start();
  met.clock.advance(3000);
  assert.equal(met.periodic.calls.length, 0, 'no periodic mode');
  assert.ok(met.immediate.length >= 3, 'sent from JS');
  assert.equal(met.s.status().timing.txOffloaded, false);

  const md5Key = Buffer.from('secret');
  const k = makeSingle({ auth: { type: BfdAuthType.KeyedMd5, keyId: 1, key: md5Key } });
  k.bringUp();
  k.fromPeer({ state: Up, poll: true });
  k.run(100);
  k.s.setTimers({ desiredMinTxUs: 20_000 });
  k.run(100);
  k.fromPeer({ state: Up, poll: true, final: true });
  k.run(100);
  assert.ok(k.periodic.sets().length >= 4);
  // A new repeated packet takes the next number; an immediate one reuses the current one.
  const seqOf = (raw: Buffer) => raw.readUInt32BE(24 + 4);
  const templateSeqs = k.periodic.sets().map((c) => seqOf(c.raw!));
  for (let i = 1; i < templateSeqs.length; i++) assert.ok(templateSeqs[i]! > templateSeqs[i - 1]!, `template seqs ${templateSeqs.join(',')}`);
  for (const raw of k.immediateRaw) {
    const seq = seqOf(raw);
    assert.ok(templateSeqs.includes(seq), `the Final reuses the repeated packet's number (${seq} in ${templateSeqs.join(',')})`);
  }
  assert.ok(k.immediateRaw.length >= 2, 'Finals were sent');
  assert.equal(k.events.at(-1)!.to, Up);
});

test('detection: a packet seen arriving (still queued for JS) when the timer fires holds the session Up; handled, it counts from its arrival', () => {
  let peeked: number | undefined;
  const t = makeSingle({ peek: () => peeked });
  t.bringUp();
  for (let i = 0; i < 5; i++) {
    t.clock.advance(10);
    t.fromPeer();
  }
  const last = t.clock.now();
  // The peer's next packet arrived at +15 ms but the JS thread was busy.
  peeked = last + 15;
  t.clock.advanceTo(last + 30 + 1);
  assert.equal(t.s.state, Up, 'not Down while a newer packet waits');
  assert.equal(t.s.status().timing.detectDeferred, 1);
  // The stall ends: the queued packet is handled with its arrival time.
  t.clock.advanceTo(last + 40);
  assert.equal(t.fromPeer({}, last + 15), undefined);
  // Nothing more arrives: Down one Detection Time after that packet's arrival, not after it was handled.
  t.clock.advanceTo(last + 15 + 30 - 0.001);
  assert.equal(t.s.state, Up);
  t.clock.advance(0.002);
  assert.equal(t.s.state, Down);
  assert.deepEqual(t.events.at(-1), { from: Up, to: Down, diag: BfdDiag.ControlDetectionTimeExpired });
});

test('detection: with no newer arrival (or one already handled and dropped) the session goes Down on time', () => {
  for (const mode of ['none', 'old', 'handled'] as const) {
    let peeked: number | undefined;
    const t = makeSingle({ peek: () => peeked });
    t.bringUp();
    t.clock.advance(10);
    t.fromPeer();
    const last = t.clock.now();
    if (mode === 'old') peeked = last;
    if (mode === 'handled') {
      // A packet that arrived at +5 and was dropped (say, failed authentication) when handled.
      peeked = last + 5;
      t.s.noteArrival(last + 5);
    }
    t.clock.advanceTo(last + 30 - 0.001);
    assert.equal(t.s.state, Up, mode);
    t.clock.advance(0.002);
    assert.equal(t.s.state, Down, `${mode}: Down at the Detection Time`);
    assert.equal(t.s.status().timing.detectDeferred, 0);
  }
});

test('detection: a queued packet older than the Detection Time does not hold the session', () => {
  let peeked: number | undefined;
  const t = makeSingle({ peek: () => peeked });
  t.bringUp();
  t.clock.advance(10);
  t.fromPeer();
  const last = t.clock.now();
  peeked = last + 5;
  // The timer itself was held up 40 ms by a stall: the queued packet is 45 ms old, past the 30 ms.
  t.clock.advanceTo(last + 50);
  assert.equal(t.s.state, Down);
});

test('packets count from their arrival time: one handled 15 ms late leaves 15 ms of the Detection Time', () => {
  const t = makeSingle({ periodic: false });
  t.bringUp();
  t.clock.advance(10);
  const arrived = t.clock.now();
  t.clock.advance(15);
  t.fromPeer({}, arrived);
  t.clock.advanceTo(arrived + 30 - 0.001);
  assert.equal(t.s.state, Up);
  t.clock.advance(0.002);
  assert.equal(t.s.state, Down);
});

// ---- BfdManager wiring --------------------------------------------------------

class OffloadTransport implements BfdTransport {
  handler?: BfdPacketHandler;
  readonly watches: { remote: string; disc: number; open: boolean }[] = [];
  readonly periodic: FakePeriodic[] = [];
  peekValue?: number;

  constructor(private readonly clock: ManualClock) {}

  async listen(onPacket: BfdPacketHandler): Promise<void> {
    this.handler = onPacket;
  }

  async openSender(): Promise<BfdSender> {
    const fp = new FakePeriodic(this.clock, lcg(9));
    this.periodic.push(fp);
    const counters: BfdSenderStats = { sent: 0, errors: 0 };
    return {
      localPort: 49152,
      send: () => void counters.sent++,
      stats: () => ({ ...counters }),
      close: () => fp.stopPeriodic(),
      setPeriodic: (p, i, m) => fp.setPeriodic(p, i, m),
      stopPeriodic: () => fp.stopPeriodic(),
      periodicStats: () => fp.periodicStats(),
    };
  }

  watchArrivals(remote: string, disc: number): BfdArrivalWatch {
    const w = { remote, disc, open: true };
    this.watches.push(w);
    return { last: () => this.peekValue, close: () => void (w.open = false) };
  }

  async close(): Promise<void> {}
}

test('BfdManager hands sessions the sender\'s periodic mode and the transport\'s arrival watch, and passes arrival times on', async () => {
  const clock = new ManualClock(1000);
  const tr = new OffloadTransport(clock);
  const m = new BfdManager({ transport: tr, clock, arrivalTimes: true, randomUint32: () => 0x1111 });
  await m.start();
  await m.addSession({ instance: 'i', remoteIp: '10.0.0.2', txIntervalUs: 10_000, multiplier: 3 });
  assert.deepEqual(tr.watches, [{ remote: '10.0.0.2', disc: 0x1111, open: true }]);
  assert.equal(tr.periodic[0]!.sets().length, 1, 'the session started in periodic mode');
  const meta = (arrivalAt: number) => ({ srcAddr: '10.0.0.2', srcPort: 49152, ttl: 255, arrivalAt });
  const pkt = (over: Partial<BfdControlPacket>) =>
    encodeBfdPacket(controlPacket({ myDiscriminator: 0x2222, desiredMinTxUs: 10_000, requiredMinRxUs: 10_000, ...over }));
  tr.handler!(pkt({ state: Down }), meta(clock.now()));
  tr.handler!(pkt({ state: Up, yourDiscriminator: 0x1111 }), meta(clock.now()));
  assert.equal(m.get('i', '10.0.0.2')!.stateName, 'Up');
  const t0 = clock.now();
  // A packet handled 20 ms after it arrived counts from its arrival (t0 + 5): Down due at t0 + 35.
  clock.advance(25);
  tr.handler!(pkt({ state: Up, yourDiscriminator: 0x1111 }), meta(t0 + 5));
  clock.advanceTo(t0 + 34.9);
  assert.equal(m.get('i', '10.0.0.2')!.stateName, 'Up');
  // The peek holds it: a packet arrived at t0 + 33 and waits for the JS thread.
  tr.peekValue = t0 + 33;
  clock.advanceTo(t0 + 35.1);
  assert.equal(m.get('i', '10.0.0.2')!.stateName, 'Up');
  assert.equal(m.get('i', '10.0.0.2')!.timing.detectDeferred, 1);
  // A malformed packet from the peer with our discriminator is handled (dropped by the manager): the hold ends.
  const bad = pkt({ state: Up, yourDiscriminator: 0x1111, detectMult: 0 });
  tr.handler!(bad, meta(tr.peekValue));
  clock.advance(30);
  assert.equal(m.get('i', '10.0.0.2')!.stateName, 'Down');
  const deleted = m.deleteSession('i', '10.0.0.2');
  // Drains for one of the peer's Detection Times at our (slow, not Up) rate.
  clock.advance(5000);
  await deleted;
  assert.equal(tr.watches[0]!.open, false, 'the watch is closed with the session');
  assert.equal(tr.periodic[0]!.active, false);
  await m.close();
});
