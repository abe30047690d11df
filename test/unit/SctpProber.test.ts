import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/bfd/clock.ts';
import { SctpProber, type SctpProbeResult } from '../../src/lb/SctpProber.ts';
import { decodeSctpPacket, encodeSctpPacket, setSctpChecksum, type SctpChunk, type SctpPacket } from '../../src/lb/sctp.ts';
import type { RawPacket } from '../../src/net/RawSocket.ts';
import { FakeRawNetwork, type FakeRawHost } from '../lab/fakeRawNetwork.ts';

const PROBER = '10.0.0.1';
const ENDPOINT = '10.0.0.2';

/** A host at ENDPOINT answering every INIT with `answer` (returning undefined: silence). */
function endpoint(net: FakeRawNetwork, answer: (init: SctpPacket & { chunks: [Extract<SctpChunk, { type: 'INIT' }>] }, rx: RawPacket) => SctpPacket | undefined, addrs = [ENDPOINT]) {
  const host = net.addHost(addrs);
  const got: SctpPacket[] = [];
  const sock = host.openSocket(4, (rx) => {
    const d = decodeSctpPacket(rx.payload);
    assert.ok(d.ok, 'the prober sends valid packets');
    got.push(d.packet);
    const first = d.packet.chunks[0];
    if (first?.type !== 'INIT') return;
    const reply = answer(d.packet as never, rx);
    if (reply) sock.send(rx.src, encodeSctpPacket(reply), { src: rx.dst });
  });
  return { host, got };
}

function initAck(init: SctpPacket & { chunks: [Extract<SctpChunk, { type: 'INIT' }>] }, tag = 0xabcdef01): SctpPacket {
  return {
    srcPort: init.dstPort,
    dstPort: init.srcPort,
    verificationTag: init.chunks[0].initiateTag,
    chunks: [{ type: 'INIT_ACK', initiateTag: tag, arwnd: 65535, outboundStreams: 1, inboundStreams: 1, initialTsn: 1, params: [{ type: 'STATE_COOKIE', cookie: Buffer.from('c') }] }],
  };
}

function setup() {
  const net = new FakeRawNetwork();
  const clock = new ManualClock();
  const me: FakeRawHost = net.addHost([PROBER]);
  let seed = 12345;
  const random32 = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  const prober = new SctpProber({ openSocket: me.openSocket, clock, random32, idleCloseMs: 1000 });
  return { net, clock, me, prober };
}

/** The promise's value if it has settled (a settled probe resolves within a few microtasks). */
async function settled<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

test('INIT ACK: up, and an ABORT with the endpoint tag frees it', async () => {
  const { net, prober } = setup();
  const ep = endpoint(net, (init) => initAck(init));
  const r = await settled(prober.probe(ENDPOINT, 9000, 2000));
  assert.deepEqual(r, { up: true, outcome: 'init-ack' });
  const [init, abort] = ep.got;
  assert.equal(init!.dstPort, 9000);
  assert.equal(init!.verificationTag, 0);
  assert.ok(init!.srcPort >= 49152);
  const chunk = init!.chunks[0];
  assert.ok(chunk?.type === 'INIT' && chunk.initiateTag !== 0);
  assert.equal(abort!.chunks[0]?.type, 'ABORT');
  assert.equal(abort!.verificationTag, 0xabcdef01);
  assert.equal(abort!.srcPort, init!.srcPort);
  assert.equal((abort!.chunks[0] as { tBit: boolean }).tBit, false);
  assert.equal(net.log.length, 3, 'INIT, INIT ACK, ABORT');
});

test('ABORT: down, whether it carries our tag or reflects the INIT (T bit, tag 0)', async () => {
  for (const reflect of [false, true]) {
    const { net, prober } = setup();
    endpoint(net, (init) => ({
      srcPort: init.dstPort,
      dstPort: init.srcPort,
      verificationTag: reflect ? 0 : init.chunks[0].initiateTag,
      chunks: [{ type: 'ABORT', tBit: reflect, causes: [] }],
    }));
    assert.deepEqual(await settled(prober.probe(ENDPOINT, 9000, 2000)), { up: false, outcome: 'abort' });
  }
});

test('silence: down at the timeout, not before', async () => {
  const { net, clock, prober } = setup();
  endpoint(net, () => undefined);
  const p = prober.probe(ENDPOINT, 9000, 2000);
  clock.advance(1999);
  assert.equal(await settled(p), 'pending');
  clock.advance(1);
  assert.deepEqual(await settled(p), { up: false, outcome: 'timeout' });
  // An absent host is the same.
  const q = prober.probe('10.0.0.99', 9000, 500);
  clock.advance(500);
  assert.deepEqual(await settled(q), { up: false, outcome: 'timeout' });
});

test('answers that are not for this probe are ignored', async () => {
  const cases: Array<[string, (init: Parameters<Parameters<typeof endpoint>[1]>[0]) => SctpPacket]> = [
    ['wrong tag', (init) => ({ ...initAck(init), verificationTag: (init.chunks[0].initiateTag + 1) >>> 0 })],
    ['wrong source port', (init) => ({ ...initAck(init), srcPort: 9001 })],
    ['wrong destination port', (init) => ({ ...initAck(init), dstPort: (init.srcPort + 1) & 0xffff })],
    ['ABORT with a tag of someone else', (init) => ({ ...initAck(init), verificationTag: 77, chunks: [{ type: 'ABORT', tBit: true, causes: [] }] })],
  ];
  for (const [what, answer] of cases) {
    const { net, clock, prober } = setup();
    endpoint(net, answer);
    const p = prober.probe(ENDPOINT, 9000, 1000);
    clock.advance(1000);
    assert.equal((await settled(p) as SctpProbeResult).outcome, 'timeout', what);
  }
  // A right answer with a broken checksum, from the right address and ports.
  const { net, clock, prober } = setup();
  endpoint(net, () => undefined);
  const p = prober.probe(ENDPOINT, 9000, 1000);
  const init = decodeSctpPacket(net.log[0]!.payload);
  assert.ok(init.ok);
  const bad = encodeSctpPacket(initAck(init.packet as never));
  bad[bad.length - 1]! ^= 0xff;
  net.inject(ENDPOINT, PROBER, bad);
  clock.advance(1000);
  assert.equal((await settled(p) as SctpProbeResult).outcome, 'timeout');
  // ... and the same bytes with the checksum fixed are believed.
  const q = prober.probe(ENDPOINT, 9000, 1000);
  const init2 = decodeSctpPacket(net.log.at(-1)!.payload);
  assert.ok(init2.ok);
  const good = encodeSctpPacket(initAck(init2.packet as never));
  setSctpChecksum(good);
  net.inject(ENDPOINT, PROBER, good);
  assert.equal((await settled(q) as SctpProbeResult).outcome, 'init-ack');
});

test('probes share one socket per family, use distinct ports, and the socket closes when idle', async () => {
  const { net, clock, me, prober } = setup();
  endpoint(net, () => undefined);
  const ps = [prober.probe(ENDPOINT, 9000, 1000), prober.probe(ENDPOINT, 9000, 1000), prober.probe(ENDPOINT, 9001, 1000)];
  assert.equal(me.opened, 1);
  assert.equal(prober.inFlight, 3);
  const ports = new Set(net.log.map((p) => p.payload.readUInt16BE(0)));
  assert.equal(ports.size, 3);
  clock.advance(1000);
  for (const p of ps) assert.equal((await settled(p) as SctpProbeResult).outcome, 'timeout');
  assert.equal(me.openSockets, 1, 'kept for a while');
  clock.advance(999);
  assert.equal(me.openSockets, 1);
  // A probe within the idle time reuses it and cancels the close.
  const again = prober.probe(ENDPOINT, 9000, 100);
  clock.advance(100);
  await settled(again);
  assert.equal(me.opened, 1);
  clock.advance(1000);
  assert.equal(me.openSockets, 0, 'closed after idleCloseMs');
  const later = prober.probe(ENDPOINT, 9000, 100);
  assert.equal(me.opened, 2, 'reopened');
  prober.close();
  assert.deepEqual(await settled(later), { up: false, outcome: 'timeout', detail: 'prober closed' });
  assert.equal(me.openSockets, 0);
});

test('IPv6 endpoints get their own socket, answers come back by family', async () => {
  const net = new FakeRawNetwork();
  const clock = new ManualClock();
  const me = net.addHost([PROBER, 'fd00::1']);
  const prober = new SctpProber({ openSocket: me.openSocket, clock });
  const host = net.addHost(['fd00::2']);
  const sock = host.openSocket(6, (rx) => {
    const d = decodeSctpPacket(rx.payload);
    if (d.ok && d.packet.chunks[0]?.type === 'INIT') sock.send(rx.src, encodeSctpPacket(initAck(d.packet as never)), { src: rx.dst });
  });
  // A non-canonical spelling of the address still matches the answer.
  assert.deepEqual(await settled(prober.probe('FD00:0::2', 9000, 1000)), { up: true, outcome: 'init-ack' });
  assert.equal(me.opened, 1);
  prober.close();
});

test('failures before anything is sent are down with a reason', async () => {
  const { prober } = setup();
  assert.deepEqual(await prober.probe('not-an-ip', 9000, 100), { up: false, outcome: 'send-failed', detail: '"not-an-ip" is not an IP address' });
  assert.equal((await prober.probe(ENDPOINT, 0, 100)).outcome, 'send-failed');
  // The fake host has no IPv6 address: the "kernel" refuses.
  assert.deepEqual(await prober.probe('fd00::2', 9000, 100), { up: false, outcome: 'send-failed', detail: 'ENETUNREACH' });
  const denied = new SctpProber({
    openSocket: () => {
      throw Object.assign(new Error('raw socket (IPv4, protocol 132) needs root (CAP_NET_RAW): Operation not permitted (EPERM)'), { code: 'EPERM' });
    },
  });
  const r = await denied.probe(ENDPOINT, 9000, 100);
  assert.equal(r.outcome, 'send-failed');
  assert.match(r.detail ?? '', /needs root/);
});
