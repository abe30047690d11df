import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/bfd/clock.ts';
import {
  BfdAuthType,
  BfdDiag,
  BfdState,
  decodeBfdPacket,
  encodeBfdPacket,
  type BfdControlPacket,
} from '../../src/bfd/BfdPacket.ts';
import {
  BfdSession,
  bfdJitterFactor,
  type BfdSessionConfig,
  type BfdStateChange,
} from '../../src/bfd/BfdSession.ts';
import { controlPacket, lcg } from '../lab/bfdPackets.ts';

const { AdminDown, Down, Init, Up } = BfdState;
const EPS = 1e-6;


type Who = 'a' | 'b';
interface Sent {
  from: Who;
  at: number;
  pkt: BfdControlPacket;
  raw: Buffer;
}

const DISCR = { a: 0x0a0a0a0a, b: 0x0b0b0b0b };
const ADDR = { a: '10.0.0.1', b: '10.0.0.2' };
const BASE: BfdSessionConfig = { desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, detectMult: 3 };

function decoded(raw: Buffer): BfdControlPacket {
  const r = decodeBfdPacket(raw);
  assert.ok(r.ok, 'a session sent a packet its own decoder refuses');
  return r.packet;
}

/** Two sessions wired back to back through a zero-latency link on a manual clock. */
function makePair(cfgA: Partial<BfdSessionConfig> = {}, cfgB: Partial<BfdSessionConfig> = {}, random?: () => number) {
  const clock = new ManualClock();
  const sent: Sent[] = [];
  const events: { who: Who; at: number; change: BfdStateChange }[] = [];
  /** Whether packets sent by a / b reach the other side. */
  const link = { a: true, b: true };
  /** When a / b last accepted a packet. */
  const lastRx = { a: NaN, b: NaN };
  const sessions = {} as Record<Who, BfdSession>;
  const make = (who: Who, other: Who, cfg: Partial<BfdSessionConfig>) =>
    new BfdSession(
      { ...BASE, localDiscriminator: DISCR[who], ...cfg },
      {
        clock,
        random: random ?? lcg(DISCR[who]),
        send: (raw) => {
          sent.push({ from: who, at: clock.now(), pkt: decoded(raw), raw });
          if (!link[who]) return;
          clock.setTimer(() => {
            const dropped = sessions[other].receive(raw, { ttl: 255, srcAddr: ADDR[who], srcPort: 49152 });
            if (dropped === undefined) lastRx[other] = clock.now();
          }, 0);
        },
      },
    );
  sessions.a = make('a', 'b', cfgA);
  sessions.b = make('b', 'a', cfgB);
  for (const who of ['a', 'b'] as const) {
    sessions[who].on('stateChange', (change) => events.push({ who, at: clock.now(), change }));
  }
  return {
    clock,
    a: sessions.a,
    b: sessions.b,
    sent,
    events,
    link,
    lastRx,
    start() {
      sessions.a.start();
      sessions.b.start();
    },
    transitions(who: Who) {
      return events.filter((e) => e.who === who).map((e) => [e.change.from, e.change.to, e.change.diag]);
    },
    /** Gaps between consecutive periodic (non-Final) packets of one side sent in [from, to]. */
    gaps(who: Who, from: number, to: number) {
      const at = sent.filter((s) => s.from === who && !s.pkt.final && s.at >= from && s.at <= to).map((s) => s.at);
      return at.slice(1).map((t, i) => t - at[i]!);
    },
  };
}

function assertWithin(values: number[], lo: number, hi: number, what: string): void {
  assert.ok(values.length > 0, `${what}: no samples`);
  for (const v of values) assert.ok(v >= lo - EPS && v <= hi + EPS, `${what}: ${v} not in [${lo}, ${hi}]`);
}

test('two sessions come Up through Down -> Init -> Up at 1 s, then Poll/Final to the fast rate', () => {
  const p = makePair();
  p.start();
  p.clock.advance(5000);
  for (const who of ['a', 'b'] as const) {
    assert.deepEqual(p.transitions(who), [
      [Down, Init, BfdDiag.NoDiagnostic],
      [Init, Up, BfdDiag.NoDiagnostic],
    ]);
  }
  const upAt = Math.max(...p.events.filter((e) => e.change.to === Up).map((e) => e.at));
  assert.ok(upAt <= 1000, `both Up after one slow interval, not ${upAt}`);

  // Not Up: Desired Min TX advertised as 1 s and the slow rate used.
  for (const s of p.sent.filter((x) => x.pkt.state !== Up)) assert.equal(s.pkt.desiredMinTxUs, 1_000_000);
  const slowGaps = (['a', 'b'] as const).flatMap((who) => {
    const at = p.sent.filter((s) => s.from === who && !s.pkt.final && s.pkt.state !== Up).map((s) => s.at);
    assert.equal(at[0], 0, 'first packet at start');
    return at.slice(1).map((t, i) => t - at[i]!);
  });
  assertWithin(slowGaps, 750, 1000, 'slow gaps');

  // Each side's switch to 100 ms is a Poll answered at once by a Final.
  for (const [poller, answerer] of [['a', 'b'], ['b', 'a']] as const) {
    const poll = p.sent.find((s) => s.from === poller && s.pkt.poll);
    assert.ok(poll, `${poller} polls`);
    assert.equal(poll.pkt.state, Up);
    assert.equal(poll.pkt.desiredMinTxUs, 100_000);
    assert.equal(poll.pkt.final, false, 'never P and F together');
    const fin = p.sent.find((s) => s.from === answerer && s.pkt.final && s.at >= poll.at);
    assert.ok(fin, `${answerer} answers with Final`);
    assert.equal(fin.at, poll.at, 'Final goes out immediately');
    assert.equal(fin.pkt.poll, false);
  }
  assert.equal(p.sent.filter((s) => s.at > upAt + 200 && s.pkt.poll).length, 0, 'polls terminated');

  for (const who of ['a', 'b'] as const) assertWithin(p.gaps(who, upAt + 200, 5000), 75, 100, `${who} fast gaps`);
  const st = p.a.status();
  assert.equal(st.state, Up);
  assert.equal(st.remoteDiscriminator, DISCR.b);
  assert.equal(st.desiredMinTxUs, 100_000);
  assert.equal(st.txIntervalUs, 100_000);
  assert.equal(st.detectionTimeUs, 300_000);
  assert.equal(st.pollActive, false);
  assert.deepEqual(st.lastRxFrom, { addr: ADDR.b, port: 49152 });
  assert.equal(st.counters.transitions, 2);
  assert.ok(st.counters.rx > 40 && st.counters.tx > 40);
  assert.equal(Object.values(st.counters.drops).reduce((x, y) => x + y, 0), 0);
});

test('a side that stops sending is declared Down after exactly Detect Mult x interval, not before', () => {
  const p = makePair();
  p.start();
  p.clock.advance(3000);
  p.link.a = false;
  const last = p.lastRx.b;
  const detectMs = 3 * 100;
  p.clock.advanceTo(last + detectMs - 0.001);
  assert.equal(p.b.state, Up, 'still Up just before the Detection Time');
  p.clock.advance(0.002);
  const down = p.events.find((e) => e.who === 'b' && e.change.to === Down);
  assert.ok(down, 'b went Down');
  assert.deepEqual(down.change, { from: Up, to: Down, diag: BfdDiag.ControlDetectionTimeExpired });
  assert.ok(down.at >= last + detectMs - EPS && down.at <= last + detectMs + EPS, `Down at +${down.at - last} ms`);
  assert.equal(p.b.status().remoteDiscriminator, 0, 'forgets the peer');

  // b's next packet says Down with Your Discriminator 0: a follows with diag 3.
  p.clock.advance(200);
  const aDown = p.events.find((e) => e.who === 'a' && e.change.to === Down);
  assert.deepEqual(aDown?.change, { from: Up, to: Down, diag: BfdDiag.NeighborSignaledSessionDown });
  const bDownPkt = p.sent.find((s) => s.from === 'b' && s.at > down.at)!;
  assert.equal(bDownPkt.pkt.state, Down);
  assert.equal(bDownPkt.pkt.diag, BfdDiag.ControlDetectionTimeExpired);
  assert.equal(bDownPkt.pkt.yourDiscriminator, 0);
});

test('AdminDown: the local side sends AdminDown with diag 7 and stops detecting; the peer goes Down with diag 3', () => {
  const p = makePair();
  p.start();
  p.clock.advance(3000);
  const t0 = p.clock.now();
  p.a.setAdminDown(true);
  assert.deepEqual(p.transitions('a').at(-1), [Up, AdminDown, BfdDiag.AdministrativelyDown]);
  p.clock.advance(150);
  const bDown = p.events.find((e) => e.who === 'b' && e.change.to === Down)!;
  assert.deepEqual(bDown.change, { from: Up, to: Down, diag: BfdDiag.NeighborSignaledSessionDown });
  assert.ok(bDown.at - t0 <= 100, 'told within one fast interval, well before a timeout');

  p.clock.advance(10_000);
  assert.equal(p.a.state, AdminDown);
  assert.equal(p.b.state, Down);
  assert.equal(p.transitions('a').length, 3, 'no detection timeout while AdminDown');
  for (const s of p.sent.filter((x) => x.from === 'a' && x.at >= t0)) {
    assert.equal(s.pkt.state, AdminDown);
    assert.equal(s.pkt.diag, BfdDiag.AdministrativelyDown);
  }
  assert.ok(p.a.counters.drops['local-admin-down'] > 0);
  assertWithin(p.gaps('a', t0 + 150, p.clock.now()), 750, 1000, 'AdminDown at the slow rate');

  const released = p.clock.now();
  p.a.setAdminDown(false);
  assert.equal(p.a.state, Down);
  const told = p.sent.filter((x) => x.from === 'a' && x.at === released);
  assert.equal(told.length, 1, 'the release goes out at once, not at the next slow packet');
  assert.equal(told[0]!.pkt.state, Down);
  p.clock.advance(3000);
  assert.equal(p.a.state, Up);
  assert.equal(p.b.state, Up);
  assert.equal(p.a.diag, BfdDiag.NoDiagnostic);
});

test('jitter keeps every interval in 75-100 %, and in 75-90 % with Detect Mult 1', () => {
  for (const [mult, hi] of [[3, 100], [1, 90]] as const) {
    for (const seed of [1, 2, 3]) {
      const p = makePair({ detectMult: mult }, { detectMult: mult }, lcg(seed));
      p.start();
      p.clock.advance(30_000);
      assert.equal(p.transitions('a').length, 2, `mult ${mult}: stays Up (no false detection)`);
      for (const who of ['a', 'b'] as const) assertWithin(p.gaps(who, 2000, 30_000), 75, hi, `mult ${mult} seed ${seed} ${who}`);
    }
  }
  // Extreme random sources reach the ends of the range but not past them.
  for (const [r, lo, hi] of [[0, 75, 75], [0.9999999, 99.99, 100]] as const) {
    const p = makePair({}, {}, () => r);
    p.start();
    p.clock.advance(5000);
    assertWithin(p.gaps('a', 2000, 5000), lo, hi, `random ${r}`);
  }
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 255 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (mult, r) => {
      const f = bfdJitterFactor(mult, r);
      return f >= 0.75 && f <= (mult === 1 ? 0.9 : 1);
    }),
  );
});

test('alone and Down, a session sends at the slow rate with jitter (75-90 % for Detect Mult 1)', () => {
  for (const [mult, hi] of [[3, 1000], [1, 900]] as const) {
    const clock = new ManualClock();
    const at: number[] = [];
    const s = new BfdSession({ ...BASE, detectMult: mult }, { clock, random: lcg(9), send: () => at.push(clock.now()) });
    s.start();
    clock.advance(60_000);
    assertWithin(at.slice(1).map((t, i) => t - at[i]!), 750, hi, `mult ${mult}`);
    assert.equal(s.state, Down);
    s.stop();
    assert.equal(clock.pending, 0, 'stop leaves no timer behind');
  }
});

test('a slower Desired Min TX waits for the Final; a shorter Required Min RX keeps the old Detection Time until then', () => {
  const p = makePair();
  p.start();
  p.clock.advance(3000);
  const t0 = p.clock.now();
  p.a.setTimers({ desiredMinTxUs: 300_000 });
  assert.equal(p.a.status().pollActive, true);
  assert.equal(p.a.status().txIntervalUs, 100_000, 'old rate until the peer confirms');
  p.clock.advance(2000);
  const poll = p.sent.find((s) => s.from === 'a' && s.at >= t0 && s.pkt.poll)!;
  assert.equal(poll.pkt.desiredMinTxUs, 300_000);
  assert.ok(poll.at - t0 <= 100, 'the Poll rides on the next periodic packet');
  const fin = p.sent.find((s) => s.from === 'b' && s.at >= poll.at && s.pkt.final)!;
  assert.equal(fin.at, poll.at);
  assert.equal(p.a.status().pollActive, false);
  assert.equal(p.a.status().txIntervalUs, 300_000);
  assert.equal(p.b.status().detectionTimeUs, 900_000);
  assertWithin(p.gaps('a', fin.at + 400, p.clock.now()), 225, 300, 'a at 300 ms');

  // Raising Required Min RX slows the peer and lengthens detection at once.
  p.a.setTimers({ requiredMinRxUs: 300_000 });
  assert.equal(p.a.status().detectionTimeUs, 900_000);
  p.clock.advance(2000);
  assertWithin(p.gaps('b', p.clock.now() - 1500, p.clock.now()), 225, 300, 'b honours a 300 ms Required Min RX');

  // Lowering it keeps the longer Detection Time until the Final arrives.
  p.a.setTimers({ requiredMinRxUs: 100_000 });
  assert.equal(p.a.status().detectionTimeUs, 900_000);
  assert.equal(p.a.status().pollActive, true);
  p.clock.advance(400);
  assert.equal(p.a.status().pollActive, false);
  assert.equal(p.a.status().detectionTimeUs, 300_000);
  p.clock.advance(3000);
  assert.equal(p.a.state, Up);
  assert.equal(p.b.state, Up);
  assert.equal(p.transitions('a').length, 2);
});

test('Detect Mult 1 set while Up re-draws the pending jitter into 75-90 %', () => {
  const p = makePair({}, {}, () => 0.99);
  p.start();
  p.clock.advance(3000);
  p.a.setTimers({ detectMult: 1 });
  p.b.setTimers({ detectMult: 1 });
  const t0 = p.clock.now();
  p.clock.advance(3000);
  assertWithin(p.gaps('a', t0 - 100, p.clock.now()), 75, 90, 'a');
  assert.equal(p.transitions('b').length, 2);
});

/** A scripted peer: a packet as if from discriminator 0xbeef. */
function peer(over: Partial<BfdControlPacket> = {}): Buffer {
  return encodeBfdPacket(controlPacket({ myDiscriminator: 0xbeef, requiredMinRxUs: 100_000, ...over }));
}
const META = { ttl: 255, srcAddr: '10.0.0.9', srcPort: 49999 };
const LOCAL = 0x1234;

function lone(cfg: Partial<BfdSessionConfig> = {}) {
  const clock = new ManualClock();
  const out: { at: number; pkt: BfdControlPacket }[] = [];
  const s = new BfdSession(
    { ...BASE, localDiscriminator: LOCAL, ...cfg },
    { clock, random: lcg(5), send: (raw) => out.push({ at: clock.now(), pkt: decoded(raw) }) },
  );
  const events: BfdStateChange[] = [];
  s.on('stateChange', (e) => events.push(e));
  return { clock, s, out, events };
}

/** Brings a lone session Up against the scripted peer. */
function loneUp(cfg: Partial<BfdSessionConfig> = {}) {
  const l = lone(cfg);
  l.s.start();
  l.clock.advance(0);
  assert.equal(l.s.receive(peer(), META), undefined);
  assert.equal(l.s.receive(peer({ state: Init, yourDiscriminator: LOCAL }), META), undefined);
  assert.equal(l.s.state, Up);
  // Going Up changed our Desired Min TX: answer the Poll that announces it.
  l.clock.advance(100);
  assert.equal(l.out.at(-1)!.pkt.poll, true);
  l.s.receive(peer({ state: Up, yourDiscriminator: LOCAL, final: true, desiredMinTxUs: 100_000 }), META);
  assert.equal(l.s.status().pollActive, false);
  return l;
}

/** Keeps the scripted peer talking every 100 ms for ms milliseconds. */
function feed(l: ReturnType<typeof lone>, ms: number, over: Partial<BfdControlPacket> = {}) {
  for (let t = 0; t < ms; t += 100) {
    l.s.receive(peer({ state: Up, yourDiscriminator: LOCAL, desiredMinTxUs: 100_000, ...over }), META);
    l.clock.advance(100);
  }
}

test('malformed or foreign input is counted and never moves an Up session', () => {
  const l = loneUp();
  const eventsBefore = l.events.length;
  const down = (over: Partial<BfdControlPacket>) => peer({ state: Down, yourDiscriminator: LOCAL, ...over });
  const cases: [string, Buffer, { ttl?: number }?][] = [
    ['truncated', Buffer.from([0x20])],
    ['bad-version', Buffer.from(down({}).map((b, i) => (i === 0 ? 0x40 : b)))],
    ['length-exceeds-payload', down({}).subarray(0, 20)],
    ['multipoint', down({ multipoint: true })],
    ['zero-detect-mult', Buffer.from(down({}).map((b, i) => (i === 2 ? 0 : b)))],
    ['your-discriminator-mismatch', down({ yourDiscriminator: LOCAL + 1 })],
    ['your-discriminator-mismatch', peer({ state: AdminDown, yourDiscriminator: 99 })],
    ['bad-ttl', down({}), { ttl: 254 }],
    ['auth-unexpected', encodeBfdPacket(
      decoded(down({})),
      { type: BfdAuthType.KeyedSha1, keyId: 1, key: Buffer.from('k'), sequence: 1 },
    )],
  ];
  for (const [reason, buf, meta] of cases) {
    assert.equal(l.s.receive(buf, { ...META, ...meta }), reason);
    assert.equal(l.s.state, Up, reason);
  }
  assert.equal(l.events.length, eventsBefore);
  const st = l.s.status();
  assert.equal(st.counters.drops['your-discriminator-mismatch'], 2);
  assert.equal(st.counters.drops['bad-ttl'], 1);
  assert.equal(st.remoteDiscriminator, 0xbeef);

  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (u) => {
      const reason = l.s.receive(Buffer.from(u), META);
      if (reason !== undefined) assert.equal(l.s.state, Up);
    }),
    { numRuns: 3000 },
  );
  assert.equal(l.s.state, Up);
});

test('a Poll is answered at once with a Final, in any state and at any rate', () => {
  const l = lone();
  l.s.start();
  l.clock.advance(500);
  const n = l.out.length;
  l.s.receive(peer({ poll: true }), META);
  assert.equal(l.out.length, n + 1);
  const fin = l.out.at(-1)!;
  assert.equal(fin.at, 500);
  assert.equal(fin.pkt.final, true);
  assert.equal(fin.pkt.poll, false);
  assert.equal(fin.pkt.state, Init, 'reflects the state after the packet');
  assert.equal(fin.pkt.yourDiscriminator, 0xbeef);
});

test('Required Min RX 0 from the peer stops periodic packets; Polls still get their Final', () => {
  const l = loneUp();
  feed(l, 1000);
  const n = l.out.length;
  feed(l, 2000, { requiredMinRxUs: 0 });
  assert.equal(l.out.length, n, 'silent');
  assert.equal(l.s.state, Up);
  l.s.receive(peer({ state: Up, yourDiscriminator: LOCAL, requiredMinRxUs: 0, poll: true }), META);
  assert.equal(l.out.length, n + 1);
  assert.equal(l.out.at(-1)!.pkt.final, true);
  feed(l, 1000);
  assert.ok(l.out.length >= n + 9, 'resumes when allowed again');
});

test('a peer in Demand mode is not sent periodic packets once both are Up', () => {
  const l = loneUp();
  feed(l, 1000);
  const n = l.out.length;
  feed(l, 2000, { demand: true });
  assert.equal(l.out.length, n, 'silent while the peer demands it');
  feed(l, 500);
  assert.ok(l.out.length >= n + 4, 'periodic again once the peer drops Demand');
  assert.equal(l.s.state, Up);
});

test('Detection Time uses the peer multiplier and the larger of our Required Min RX and its Desired Min TX', () => {
  const l = loneUp();
  l.s.receive(peer({ state: Up, yourDiscriminator: LOCAL, detectMult: 5, desiredMinTxUs: 200_000 }), META);
  const t0 = l.clock.now();
  assert.equal(l.s.status().detectionTimeUs, 1_000_000);
  l.clock.advance(999.9);
  assert.equal(l.s.state, Up);
  l.clock.advance(0.2);
  assert.equal(l.s.state, Down);
  assert.deepEqual(l.events.at(-1), { from: Up, to: Down, diag: BfdDiag.ControlDetectionTimeExpired });
  assert.ok(l.clock.now() - t0 >= 1000);
});

test('Up and told Down by the peer: Down with diag 3; Up ignored while Down', () => {
  const l = loneUp();
  l.s.receive(peer({ state: Down, yourDiscriminator: LOCAL }), META);
  assert.deepEqual(l.events.at(-1), { from: Up, to: Down, diag: BfdDiag.NeighborSignaledSessionDown });
  l.s.receive(peer({ state: Up, yourDiscriminator: LOCAL }), META);
  assert.equal(l.s.state, Down, 'Up from the peer does not skip Init');
  l.s.receive(peer({ state: AdminDown, yourDiscriminator: LOCAL }), META);
  assert.equal(l.s.state, Down);
});

test('a passive session stays silent until it hears from the peer', () => {
  const l = lone({ passive: true });
  l.s.start();
  l.clock.advance(5000);
  assert.equal(l.out.length, 0);
  l.s.receive(peer(), META);
  l.clock.advance(0);
  assert.equal(l.s.state, Init);
  assert.equal(l.out.length, 1);
  assert.equal(l.out[0]!.pkt.yourDiscriminator, 0xbeef);

  const p = makePair({ passive: true }, {});
  p.start();
  p.clock.advance(3000);
  assert.equal(p.a.state, Up);
  assert.equal(p.b.state, Up);
  assert.ok(p.sent[0]!.from === 'b', 'the active side speaks first');
});

test('authenticated sessions come Up; replays, wrong keys and missing auth are dropped', () => {
  const key = (k: string, type: BfdAuthType = BfdAuthType.MeticulousKeyedSha1) => ({ type, keyId: 1, key: Buffer.from(k) });
  const p = makePair({ auth: key('shared') }, { auth: key('shared') });
  p.start();
  p.clock.advance(3000);
  assert.equal(p.a.state, Up);
  assert.equal(p.b.state, Up);
  const fromA = p.sent.filter((s) => s.from === 'a');
  assert.ok(fromA.every((s) => s.pkt.authPresent && s.pkt.auth?.type === BfdAuthType.MeticulousKeyedSha1));
  const seqs = fromA.map((s) => s.pkt.auth!.sequence);
  assert.ok(seqs.slice(1).every((q, i) => q === ((seqs[i]! + 1) >>> 0)), 'one new sequence number per packet');

  // Replaying a's latest packet: same sequence number, refused by Meticulous auth.
  const replay = fromA.at(-1)!.raw;
  assert.equal(p.b.receive(replay, { ttl: 255, srcAddr: ADDR.a, srcPort: 49152 }), 'auth-sequence');
  assert.equal(p.b.receive(fromA[5]!.raw, { ttl: 255, srcAddr: ADDR.a, srcPort: 49152 }), 'auth-sequence');
  const forged = Buffer.from(fromA.at(-1)!.raw);
  forged.writeUInt32BE((forged.readUInt32BE(28) + 1) >>> 0, 28);
  assert.equal(p.b.receive(forged, { ttl: 255, srcAddr: ADDR.a, srcPort: 49152 }), 'auth-digest-mismatch');
  assert.equal(p.b.state, Up);
  p.clock.advance(1000);
  assert.equal(p.b.state, Up);

  const wrong = makePair({ auth: key('shared') }, { auth: key('other') });
  wrong.start();
  wrong.clock.advance(5000);
  assert.equal(wrong.a.state, Down);
  assert.equal(wrong.b.state, Down);
  assert.ok(wrong.b.counters.drops['auth-digest-mismatch'] >= 5);

  const oneSided = makePair({ auth: key('shared') }, {});
  oneSided.start();
  oneSided.clock.advance(5000);
  assert.equal(oneSided.a.state, Down);
  assert.ok(oneSided.a.counters.drops['auth-missing'] > 0);
  assert.ok(oneSided.b.counters.drops['auth-unexpected'] > 0);

  // Keyed (not Meticulous) SHA1 and MD5 accept a repeat within the window.
  for (const type of [BfdAuthType.KeyedSha1, BfdAuthType.KeyedMd5, BfdAuthType.SimplePassword]) {
    const k = makePair({ auth: key('shared', type) }, { auth: key('shared', type) });
    k.start();
    k.clock.advance(3000);
    assert.equal(k.b.state, Up, `type ${type}`);
    const last = k.sent.filter((s) => s.from === 'a').at(-1)!.raw;
    assert.equal(k.b.receive(last, { ttl: 255, srcAddr: ADDR.a, srcPort: 49152 }), undefined);
  }
});

test('config is validated; the default discriminator is random and non-zero', () => {
  const clock = new ManualClock();
  const deps = { clock, send: () => {} };
  assert.throws(() => new BfdSession({ ...BASE, detectMult: 0 }, deps), /detectMult/);
  assert.throws(() => new BfdSession({ ...BASE, desiredMinTxUs: 0 }, deps), /desiredMinTxUs/);
  assert.throws(() => new BfdSession({ ...BASE, requiredMinRxUs: 2 ** 32 }, deps), /requiredMinRxUs/);
  assert.throws(() => new BfdSession({ ...BASE, localDiscriminator: 0 }, deps), /localDiscriminator/);
  assert.throws(
    () => new BfdSession({ ...BASE, auth: { type: BfdAuthType.KeyedSha1, keyId: 1, key: Buffer.alloc(21) } }, deps),
    /auth.key length/,
  );
  assert.throws(() => new BfdSession(BASE, deps).setTimers({ detectMult: 256 }), RangeError);

  const draws = [0, 0, 77, 5];
  const s = new BfdSession(BASE, { ...deps, randomUint32: () => draws.shift()! });
  assert.equal(s.localDiscriminator, 77);
  for (let i = 0; i < 20; i++) {
    const d = new BfdSession(BASE, deps).localDiscriminator;
    assert.ok(Number.isInteger(d) && d >= 1 && d <= 0xffffffff);
  }
});

test('sessions whose send calls the peer synchronously still come Up and finish their Polls', () => {
  const clock = new ManualClock();
  const s: Record<Who, BfdSession> = {} as Record<Who, BfdSession>;
  const polls = { a: 0, b: 0 };
  for (const [who, other] of [['a', 'b'], ['b', 'a']] as const) {
    s[who] = new BfdSession(
      { ...BASE, localDiscriminator: DISCR[who] },
      {
        clock,
        random: lcg(DISCR[who]),
        send: (raw) => {
          if (decoded(raw).poll) polls[who]++;
          s[other].receive(raw, { ttl: 255, srcAddr: ADDR[who], srcPort: 49152 });
        },
      },
    );
  }
  s.a.start();
  s.b.start();
  clock.advance(5000);
  assert.equal(s.a.state, Up);
  assert.equal(s.b.state, Up);
  assert.deepEqual(polls, { a: 1, b: 1 }, 'each Poll answered by the first Final');
});

test('a stopped session sends nothing more and drops what arrives', () => {
  const p = makePair();
  p.start();
  p.clock.advance(3000);
  p.a.stop();
  const n = p.sent.filter((s) => s.from === 'a').length;
  p.clock.advance(3000);
  assert.equal(p.sent.filter((s) => s.from === 'a').length, n);
  assert.equal(p.a.state, Up, 'stop is not a state change');
  assert.equal(p.b.state, Down, 'b stopped hearing a');
  assert.ok(p.a.counters.drops['session-stopped'] > 0, 'b keeps sending to a stopped session');
  p.b.stop();
  p.clock.advance(3000);
  assert.equal(p.clock.pending, 0);
});

test('timing stats: the longest silence from the peer while Up, and periodic packets on schedule', () => {
  const p = makePair();
  p.start();
  p.clock.advance(3000);
  assert.equal(p.b.state, Up);
  const t = p.b.status().timing;
  assert.ok(t.txPeriodicUp > 0, 'periodic packets counted while Up');
  assert.equal(t.txLateMaxUs, 0, 'a manual clock fires timers on time');
  assert.equal(t.txLateOverQuarter, 0);
  assert.ok(t.rxGapMaxUs > 0 && t.rxGapMaxUs <= 100_000, `gap ${t.rxGapMaxUs} µs within one interval`);
  // 250 ms of silence, short of the 300 ms Detection Time: no flap, but it shows.
  p.link.a = false;
  const last = p.lastRx.b;
  p.clock.advanceTo(last + 250);
  p.link.a = true;
  p.clock.advance(200);
  assert.equal(p.b.state, Up);
  assert.ok(p.b.status().timing.rxGapMaxUs >= 250_000, `gap ${p.b.status().timing.rxGapMaxUs} µs`);
});
