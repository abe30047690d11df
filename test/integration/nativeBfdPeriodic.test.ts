// The native transport's time-critical parts on loopback (real sockets, real
// time; no root needed): arrival times stamped on the receive thread in the
// performance.now() timebase and readable synchronously before JS has the
// packet, and the periodic sender's timer thread, measured with those same
// arrival stamps: RFC 5880 §6.8.7 jitter, the rate kept while the JS thread is
// blocked, the handover rule, and stopping.
//
// Only what holds with the other core busy is asserted: never faster than the
// jitter rule allows (the sender's own doing, whatever the load), no silence
// that would cost a 3 x interval Detection Time, jitter present, and counts in
// broad bounds. How close to the schedule the timer thread wakes is a figure
// for `npm run bench:bfd-soak` (latest TX, late sends, longest RX silence),
// not a test: on a loaded VM a wake-up is now and then a few ms late.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { BfdState, encodeBfdPacket, type BfdControlPacket, type BfdDiag } from '../../src/bfd/BfdPacket.ts';
import type { BfdSender } from '../../src/bfd/BfdTransport.ts';
import { NativeBfdTransport, monotonicToPerformanceOffsetMs } from '../../src/bfd/NativeBfdTransport.ts';
import { loadNativeAddon } from '../../src/util/nativeAddon.ts';
import { controlPacket } from '../lab/bfdPackets.ts';

const LOCAL = '127.0.0.1';
const REMOTE = '127.0.0.2';

interface Arrival {
  at: number;
  pkt: Buffer;
  src: string;
}

/** What a test sends: an Up packet whose My Discriminator tells the streams apart. */
function upPacket(over: Partial<BfdControlPacket> = {}): Buffer {
  return encodeBfdPacket(controlPacket({ state: BfdState.Up, desiredMinTxUs: 10_000, requiredMinRxUs: 10_000, ...over }));
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the JS thread is stuck
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function gapsOf(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function fmt(gaps: number[]): string {
  return `n=${gaps.length} min=${Math.min(...gaps).toFixed(2)} mean=${mean(gaps).toFixed(2)} max=${Math.max(...gaps).toFixed(2)} ms`;
}

/**
 * Gaps between kernel receive timestamps: never shorter than the rule allows
 * (the next one counts from the real departure, so a late wake-up never
 * makes the following gap short), and none long enough to cost a 3 x
 * interval Detection Time (a late wake-up on a loaded machine is allowed, a
 * stall is not).
 */
function assertGaps(gaps: number[], lo: number, interval: number, what: string): void {
  assert.ok(gaps.length > 0, `${what}: no gaps`);
  assert.ok(Math.min(...gaps) >= lo - 0.3, `${what}: faster than the jitter rule allows: ${fmt(gaps)}`);
  assert.ok(Math.max(...gaps) < 3 * interval, `${what}: a gap of ${Math.max(...gaps).toFixed(2)} ms would cost the Detection Time: ${fmt(gaps)}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

let listener: NativeBfdTransport;
let senders: NativeBfdTransport;
const arrivals: Arrival[] = [];
const dgramSockets: dgram.Socket[] = [];

/** Arrival times (performance.now() ms) of the packets with this My Discriminator. */
function timesOf(myDisc: number, from = -Infinity, to = Infinity): number[] {
  return arrivals.filter((a) => a.pkt.length >= 8 && a.pkt.readUInt32BE(4) === myDisc && a.at >= from && a.at <= to).map((a) => a.at);
}

before(async () => {
  listener = new NativeBfdTransport({ listenPort: 0, ipv4Address: REMOTE, ipv6Address: null });
  await listener.listen((pkt, meta) => arrivals.push({ at: meta.arrivalAt!, pkt, src: meta.srcAddr }));
  senders = new NativeBfdTransport({ listenPort: 0, ipv4Address: LOCAL, ipv6Address: null, remotePort: listener.listeners()[0]!.port });
});

after(async () => {
  await listener.close();
  await senders.close();
  for (const s of dgramSockets) s.close();
});

async function openSender(): Promise<BfdSender & Required<Pick<BfdSender, 'setPeriodic' | 'stopPeriodic' | 'periodicStats'>>> {
  const s = await senders.openSender({ remoteAddress: REMOTE, localAddress: LOCAL });
  assert.ok(s.setPeriodic && s.stopPeriodic && s.periodicStats, 'the native sender has periodic mode');
  return s as BfdSender & Required<Pick<BfdSender, 'setPeriodic' | 'stopPeriodic' | 'periodicStats'>>;
}

describe('arrival times', () => {
  test('CLOCK_MONOTONIC converts to performance.now() with one offset: no step, no drift', async () => {
    const addon = loadNativeAddon();
    const offset = monotonicToPerformanceOffsetMs(addon);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) {
        const before = performance.now();
        const converted = addon.monotonicNowMs() + offset;
        const after = performance.now();
        assert.ok(converted >= before - 0.05 && converted <= after + 0.05, `converted ${converted} outside [${before}, ${after}]`);
      }
      await sleep(100);
    }
  });

  test('meta.arrivalAt is when the packet came, not when the blocked JS thread got to it', async () => {
    // The native sender's send() is a synchronous sendto (node:dgram's is not).
    const s = await openSender();
    const n = arrivals.length;
    const pkt = upPacket({ myDiscriminator: 0x5e5e });
    const sentAt = performance.now();
    s.send(pkt);
    busy(50);
    await until(() => arrivals.length > n, 'the packet');
    const got = arrivals.find((a) => a.pkt.equals(pkt))!;
    assert.ok(got.at >= sentAt && got.at < sentAt + 20, `arrived ${(got.at - sentAt).toFixed(2)} ms after the send, during the 50 ms block`);
    s.close();
  });

  test('lastArrival: watched (source, Your Discriminator) pairs only, readable before the packet reaches JS; TTL 254 does not count', async () => {
    const disc = 0x0102_0304;
    const s255 = dgram.createSocket('udp4');
    const s254 = dgram.createSocket('udp4');
    dgramSockets.push(s255, s254);
    await new Promise<void>((resolve) => s255.bind(0, LOCAL, () => resolve()));
    await new Promise<void>((resolve) => s254.bind(0, LOCAL, () => resolve()));
    s255.setTTL(255);
    s254.setTTL(254);
    const port = listener.listeners()[0]!.port;
    const send = (s: dgram.Socket, yourDisc: number) =>
      new Promise<void>((resolve, reject) =>
        s.send(upPacket({ myDiscriminator: 0x77, yourDiscriminator: yourDisc }), port, REMOTE, (e) => (e ? reject(e) : resolve())),
      );

    await send(s255, disc);
    await sleep(20);
    assert.equal(listener.lastArrival(LOCAL, disc), undefined, 'not watched yet');

    const watch = listener.watchArrivals(LOCAL, disc);
    assert.equal(watch.last(), undefined);
    await send(s254, disc);
    await send(s255, disc + 1);
    await sleep(20);
    assert.equal(watch.last(), undefined, 'TTL 254 and another discriminator do not count');

    const n = arrivals.length;
    await send(s255, disc);
    // Hold the JS thread: the packet can only be seen through the receive thread's table.
    const deadline = performance.now() + 1000;
    let peeked: number | undefined;
    while (peeked === undefined && performance.now() < deadline) peeked = watch.last();
    assert.ok(peeked !== undefined, 'seen while JS was blocked');
    assert.equal(arrivals.length, n, 'and not yet delivered');
    await until(() => arrivals.length > n, 'the delivery');
    assert.equal(arrivals.at(-1)!.at, peeked, 'the same arrival time as the delivered meta');
    assert.equal(listener.lastArrival(LOCAL, disc), peeked);
    assert.equal(listener.lastArrival('127.0.0.9', disc), undefined, 'another source');
    watch.close();
    assert.equal(listener.lastArrival(LOCAL, disc), undefined, 'unwatched');
  });
});

describe('periodic sender (native timer thread)', () => {
  test('10 ms x 3: about 1 s of packets at 75-100 % of the interval, jittered', async (t) => {
    const s = await openSender();
    const disc = 0x1001;
    const t0 = performance.now();
    s.setPeriodic(upPacket({ myDiscriminator: disc }), 10_000, 3);
    await sleep(1000);
    s.stopPeriodic();
    const t1 = performance.now();
    await sleep(50);
    const times = timesOf(disc);
    const gaps = gapsOf(times);
    t.diagnostic(`10 ms x 3 over ${(t1 - t0).toFixed(0)} ms: ${times.length} packets, gaps ${fmt(gaps)}`);
    assert.ok(times[0]! - t0 < 20, 'the first packet at once');
    // 1 s at a mean of 8.75 ms is ~114 packets; at 7.5-10 ms, 100-133; late wake-ups only lengthen gaps.
    assert.ok(times.length >= 70 && times.length <= 134, `${times.length} packets in ~1 s`);
    assertGaps(gaps, 7.5, 10, '75-100 % of 10 ms');
    // Jittered, not a fixed period: both ends of the range show up.
    assert.ok(gaps.filter((g) => g < 8.2).length >= 5 && gaps.filter((g) => g > 9.3).length >= 5, `spread: ${fmt(gaps)}`);
    const st = s.periodicStats();
    assert.equal(st.sent, times.length);
    assert.equal(st.sentUp, times.length, 'Up packets are the ones timed');
    assert.equal(st.errors, 0);
    assert.ok(st.lateMaxUs >= 0 && st.lateMaxUs < 20_000, `late at most ${st.lateMaxUs} µs`);
    s.close();
  });

  test('Detect Mult 1: 75-90 % of the interval, against a Detect Mult 3 sender beside it', async (t) => {
    // Late wake-ups lengthen gaps on a loaded machine (the next packet counts
    // from the real departure), so the cap at 90 % is told from 75-100 %
    // against a Detect Mult 3 sender running at the same time, under the
    // same load: their 90th percentiles are 8.85 and 9.75 ms when on time.
    const one = await openSender();
    const three = await openSender();
    one.setPeriodic(upPacket({ myDiscriminator: 0x1002, detectMult: 1 }), 10_000, 1);
    three.setPeriodic(upPacket({ myDiscriminator: 0x1012, detectMult: 3 }), 10_000, 3);
    await sleep(1000);
    one.close();
    three.close();
    await sleep(50);
    const g1 = gapsOf(timesOf(0x1002));
    const g3 = gapsOf(timesOf(0x1012));
    const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;
    t.diagnostic(`10 ms x 1 gaps: ${fmt(g1)}, p90 ${p90(g1).toFixed(2)}; x 3 beside it: ${fmt(g3)}, p90 ${p90(g3).toFixed(2)}`);
    assert.ok(g1.length >= 70 && g1.length <= 140, fmt(g1));
    assertGaps(g1, 7.5, 10, '75-90 % of 10 ms');
    assert.ok(p90(g1) < p90(g3) - 0.4, `Detect Mult 1's 90th percentile ${p90(g1).toFixed(2)} ms is not below Detect Mult 3's ${p90(g3).toFixed(2)} by the 90 % cap: ${fmt(g1)} vs ${fmt(g3)}`);
  });

  test('keeps the rate while the JS thread is blocked for 200 ms', async (t) => {
    const s = await openSender();
    const disc = 0x1003;
    s.setPeriodic(upPacket({ myDiscriminator: disc }), 10_000, 3);
    await sleep(100);
    const blockFrom = performance.now();
    busy(200);
    const blockTo = performance.now();
    await sleep(100);
    s.close();
    await sleep(50);
    const during = timesOf(disc, blockFrom, blockTo);
    // Include the packet just before the block, so a silence at its start counts.
    const all = timesOf(disc);
    const i0 = all.indexOf(during[0]!);
    const gaps = gapsOf(all.slice(Math.max(0, i0 - 1), i0 + during.length + 1));
    t.diagnostic(`during a 200 ms JS block: ${during.length} packets, gaps ${fmt(gaps)}`);
    // 200 ms at 7.5-10 ms is 20-26 packets; the timer thread does not need the JS thread.
    assert.ok(during.length >= 12, `${during.length} packets while JS was blocked`);
    assertGaps(gaps, 7.5, 10, 'while blocked');
  });

  test('a new packet never goes out early; a shorter interval pulls the next one forward, a longer one waits a packet', async (t) => {
    const s = await openSender();
    const disc = 0x1004;
    // Swapping the packet every millisecond (a busy session) does not speed the rate up.
    s.setPeriodic(upPacket({ myDiscriminator: disc, diag: 0 }), 10_000, 3);
    const end = performance.now() + 300;
    let k = 0;
    while (performance.now() < end) {
      s.setPeriodic(upPacket({ myDiscriminator: disc, diag: (k++ % 8) as BfdDiag }), 10_000, 3);
      busy(1);
    }
    await sleep(20);
    const swapped = gapsOf(timesOf(disc));
    t.diagnostic(`packet swapped every 1 ms: ${fmt(swapped)}`);
    assert.ok(swapped.length >= 18, fmt(swapped));
    assertGaps(swapped, 7.5, 10, 'swapping the packet every 1 ms');
    const diags = new Set(arrivals.filter((a) => a.pkt.readUInt32BE(4) === disc).map((a) => a.pkt[0]! & 0x1f));
    assert.ok(diags.size > 1, 'the swapped packets went out');

    // 10 ms -> 1 s: the pending packet keeps its 10 ms schedule, then 1 s gaps.
    s.setPeriodic(upPacket({ myDiscriminator: disc }), 1_000_000, 3);
    const slowFrom = performance.now();
    await sleep(1000);
    const slow = timesOf(disc, slowFrom);
    assert.ok(slow.length >= 1 && slow.length <= 2, `${slow.length} packets in the second after slowing down`);
    assert.ok(slow[0]! - slowFrom < 20, 'the pending packet was not pushed back');
    // 1 s -> 10 ms: the next packet is pulled forward to now.
    const fastFrom = performance.now();
    s.setPeriodic(upPacket({ myDiscriminator: disc }), 10_000, 3);
    await sleep(100);
    const fast = timesOf(disc, fastFrom);
    // Pulled forward to one new (jittered, <= 10 ms) interval after the last
    // packet, or to now if that is past: a 1 s packet that left just before
    // the change still spaces the next one (CI once saw 7.8 ms here).
    const lastSlow = timesOf(disc).filter((x) => x < fastFrom).at(-1)!;
    const pulledTo = Math.max(fastFrom, lastSlow + 10);
    assert.ok(fast[0]! - pulledTo < 10, `first fast packet ${(fast[0]! - fastFrom).toFixed(2)} ms after the change, ${(fast[0]! - lastSlow).toFixed(2)} ms after the last slow one`);
    assert.ok(fast[0]! - lastSlow >= 7.5 - 0.5, 'and not sooner than 75 % of the new interval after the last one');
    assert.ok(fast.length >= 5, `${fast.length} fast packets in 100 ms`);

    // Stopped and restarted: no earlier than one interval after the last periodic packet.
    s.stopPeriodic();
    const last = timesOf(disc).at(-1)!;
    s.setPeriodic(upPacket({ myDiscriminator: disc }), 10_000, 3);
    await sleep(50);
    const resumed = timesOf(disc, last + 0.001);
    assert.ok(resumed.length > 0 && resumed[0]! - last >= 7.5 - 0.3, `resumed ${(resumed[0]! - last).toFixed(2)} ms after the last one`);
    s.close();
  });

  test('stopPeriodic and close end the stream; setPeriodic after close is ignored', async () => {
    const a = await openSender();
    const b = await openSender();
    a.setPeriodic(upPacket({ myDiscriminator: 0x1005 }), 10_000, 3);
    b.setPeriodic(upPacket({ myDiscriminator: 0x1006 }), 10_000, 3);
    await sleep(100);
    a.stopPeriodic();
    b.close();
    const stoppedAt = performance.now();
    const sentA = a.periodicStats().sent;
    const sentB = b.periodicStats().sent;
    await sleep(100);
    b.setPeriodic(upPacket({ myDiscriminator: 0x1006 }), 10_000, 3);
    await sleep(100);
    assert.ok(sentA >= 8 && sentB >= 8, `both ran: ${sentA}, ${sentB}`);
    // A packet already in flight when stopping may land a moment later.
    assert.deepEqual([timesOf(0x1005, stoppedAt + 2).length, timesOf(0x1006, stoppedAt + 2).length], [0, 0]);
    assert.equal(a.periodicStats().sent, sentA);
    assert.equal(b.periodicStats().sent, sentB);
    assert.equal(b.stats().sent, sentB, 'sender stats count periodic sends');
    a.close();
  });
});
