// The SCTP test peers (test/lab/SctpHost.ts) over the in-memory raw network
// on a manual clock: association, echo, heartbeats, shutdown, multihoming and
// path failover, cookie and tag checks, out-of-the-blue answers, and the
// SCTP prober against them. Every packet on the wire must pass the codec's
// checksum check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/bfd/clock.ts';
import { SctpProber } from '../../src/lb/SctpProber.ts';
import { decodeSctpPacket, encodeSctpPacket, sctpChecksumOk } from '../../src/lb/sctp.ts';
import { FakeRawNetwork } from '../lab/fakeRawNetwork.ts';
import { SctpHost } from '../lab/SctpHost.ts';

const C1 = '10.0.0.2';
const C2 = '10.0.1.2';
const S1 = '10.0.0.10';
const S2 = '10.0.1.10';

function lab(opts: { answerOutOfTheBlue?: boolean } = {}) {
  const net = new FakeRawNetwork();
  const clock = new ManualClock();
  let seed = 7;
  const random32 = () => (seed = (seed * 1664525 + 1013904223) >>> 0);
  const clientHost = new SctpHost({ openSocket: net.addHost([C1, C2, 'fd00::2']).openSocket, clock, random32 });
  const serverHost = new SctpHost({ openSocket: net.addHost([S1, S2, 'fd00::10']).openSocket, clock, random32, answerOutOfTheBlue: opts.answerOutOfTheBlue });
  const chunkTypes = () =>
    net.log.map((p) => {
      const d = decodeSctpPacket(p.payload);
      return d.ok ? d.packet.chunks.map((c) => c.type).join('+') : `bad:${d.reason}`;
    });
  const allChecksumsGood = () => net.log.every((p) => sctpChecksumOk(p.payload));
  return { net, clock, clientHost, serverHost, chunkTypes, allChecksumsGood };
}

/** Settles a promise that the synchronous fake network has already decided. */
async function now<T>(p: Promise<T>): Promise<T> {
  const pending = Symbol('pending');
  const r = await Promise.race([p, new Promise<typeof pending>((res) => setImmediate(() => res(pending)))]);
  if (r === pending) throw new Error('still pending');
  return r as T;
}

test('associate, echo DATA, heartbeat, shut down: the four-way handshake and every answer', async () => {
  const { clientHost, serverHost, chunkTypes, allChecksumsGood } = lab();
  const server = serverHost.listen({ port: 9000, name: 'srv1' });
  const client = await now(clientHost.connect({ server: S1, port: 9000 }));
  assert.equal(client.state, 'established');
  assert.deepEqual(client.serverAddresses, [S1]);
  const echo = await now(client.send('hello'));
  assert.equal(echo.text, `srv1@${S1}: hello`);
  assert.deepEqual([echo.from, echo.to, echo.transmissions], [S1, C1, 1]);
  assert.equal((await now(client.send('again'))).text, `srv1@${S1}: again`);
  assert.deepEqual(await now(client.heartbeat()), { from: S1, to: C1 });
  await now(client.shutdown());
  assert.equal(client.state, 'closed');
  assert.deepEqual(chunkTypes(), [
    'INIT',
    'INIT_ACK',
    'COOKIE_ECHO',
    'COOKIE_ACK',
    'DATA',
    'SACK+DATA',
    'SACK',
    'DATA',
    'SACK+DATA',
    'SACK',
    'HEARTBEAT',
    'HEARTBEAT_ACK',
    'SHUTDOWN',
    'SHUTDOWN_ACK',
    'SHUTDOWN_COMPLETE',
  ]);
  assert.ok(allChecksumsGood());
  const [a] = server.associations();
  assert.equal(a?.state, 'closed');
  assert.equal(a?.closedBy, 'shutdown');
  assert.equal(a?.dataReceived, 2);
  assert.equal(a?.heartbeats, 1);
  assert.deepEqual(a?.peerAddresses, [C1]);
  assert.equal(clientHost.stats().badChecksum + serverHost.stats().badChecksum, 0);
});

test('verification tags: INIT ACK carries our tag, everything after carries the peer tag', async () => {
  const { net, clientHost, serverHost } = lab();
  serverHost.listen({ port: 9000 });
  const client = await now(clientHost.connect({ server: S1, port: 9000 }));
  await now(client.send('x'));
  const pkts = net.log.map((p) => decodeSctpPacket(p.payload)).map((d) => (d.ok ? d.packet : assert.fail('decodes')));
  const fromClient = pkts.filter((p) => p.dstPort === 9000);
  const fromServer = pkts.filter((p) => p.srcPort === 9000);
  assert.equal(fromClient[0]!.verificationTag, 0, 'INIT');
  for (const p of fromClient.slice(1)) assert.equal(p.verificationTag, client.peerTag);
  for (const p of fromServer) assert.equal(p.verificationTag, client.localTag);
});

test('multihoming: the INIT lists the client addresses, the client moves its source, the server follows', async () => {
  const { clientHost, serverHost } = lab();
  const server = serverHost.listen({ port: 9000, name: 's', addresses: [S2] });
  const client = await now(clientHost.connect({ server: S1, port: 9000, src: C1, addresses: [C1, C2] }));
  assert.deepEqual(client.serverAddresses, [S1, S2]);
  assert.equal((await now(client.send('one'))).to, C1);
  client.setPath({ src: C2 });
  const e = await now(client.send('two'));
  assert.deepEqual([e.text, e.from, e.to], [`s@${S1}: two`, S1, C2]);
  // And to the server's other address: its answer says where it arrived.
  client.setPath({ dst: S2 });
  const f = await now(client.send('three'));
  assert.deepEqual([f.text, f.from, f.to], [`s@${S2}: three`, S2, C2]);
  const [a] = server.associations();
  assert.deepEqual(a?.peerAddresses, [C1, C2]);
  assert.deepEqual(a?.sources, [C1, C2]);
  assert.deepEqual(a?.localAddresses, [S1, S2]);
  assert.equal(a?.dataReceived, 3);
});

test('path failover: DATA retransmitted into a dead path gets through once the path moves', async () => {
  const { net, clock, clientHost, serverHost } = lab();
  serverHost.listen({ port: 9000, name: 's', addresses: [S2] });
  const client = await now(clientHost.connect({ server: S1, port: 9000, rtoMs: 500, maxRetransmits: 5 }));
  net.drop = (p) => p.dst === S1;
  const sent = client.send('survive');
  clock.advance(500); // first retransmission, also lost
  client.setPath({ dst: S2 });
  clock.advance(500);
  const e = await now(sent);
  assert.deepEqual([e.text, e.transmissions], [`s@${S2}: survive`, 3]);
  assert.equal(client.stats().retransmits, 2);
});

test('a lost SACK+echo: the retransmitted DATA is reported duplicate and the echo repeated once', async () => {
  const { net, clock, clientHost, serverHost } = lab();
  const server = serverHost.listen({ port: 9000, name: 's' });
  const client = await now(clientHost.connect({ server: S1, port: 9000, rtoMs: 100 }));
  let lose = 1;
  const isSackAndEcho = (payload: Buffer) => {
    const d = decodeSctpPacket(payload);
    return d.ok && d.packet.chunks.map((c) => c.type).join('+') === 'SACK+DATA';
  };
  net.drop = (p) => p.src === S1 && isSackAndEcho(p.payload) && lose-- > 0;
  const sent = client.send('once');
  clock.advance(100);
  const e = await now(sent);
  assert.equal(e.text, `s@${S1}: once`);
  assert.equal(server.associations()[0]?.dataReceived, 1, 'delivered once');
  const dupSack = net.log.map((p) => decodeSctpPacket(p.payload)).find((d) => d.ok && d.packet.chunks[0]?.type === 'SACK' && (d.packet.chunks[0] as { duplicateTsns: number[] }).duplicateTsns.length === 1);
  assert.ok(dupSack, 'the duplicate TSN is reported');
});

test('IPv6 association', async () => {
  const { clientHost, serverHost } = lab();
  serverHost.listen({ port: 9000, name: 'six' });
  const client = await now(clientHost.connect({ server: 'FD00::10', port: 9000 }));
  const e = await now(client.send('v6'));
  assert.deepEqual([e.text, e.from, e.to], ['six@fd00::10: v6', 'fd00::10', 'fd00::2']);
});

test('bad checksums are recorded by the host that got them, whatever port they were for', async () => {
  const { net, clientHost, serverHost } = lab();
  serverHost.listen({ port: 9000 });
  const client = await now(clientHost.connect({ server: S1, port: 9000 }));
  const bad = encodeSctpPacket({ srcPort: 9000, dstPort: client.localPort, verificationTag: client.localTag, chunks: [{ type: 'COOKIE_ACK' }] });
  bad[8]! ^= 1;
  net.inject(S1, C1, bad);
  net.inject(S1, C1, Buffer.concat([bad.subarray(0, 2), Buffer.from([0x12, 0x34]), bad.subarray(4)]));
  assert.equal(clientHost.badChecksums.length, 2);
  assert.deepEqual({ ...clientHost.badChecksums[0], detail: undefined }, { src: S1, dst: C1, srcPort: 9000, dstPort: client.localPort, detail: undefined });
  assert.equal(clientHost.badChecksums[1]?.dstPort, 0x1234);
  assert.equal(client.state, 'established', 'and nothing else happens');
});

test('cookies: forged, stale and mis-tagged COOKIE ECHOs make no association', async () => {
  const { net, clock, clientHost, serverHost } = lab();
  const server = serverHost.listen({ port: 9000, cookieLifetimeMs: 1000 });
  clientHost.open([4]);
  const echo = (vtag: number, cookie: Buffer) =>
    net.inject(C1, S1, encodeSctpPacket({ srcPort: 5555, dstPort: 9000, verificationTag: vtag, chunks: [{ type: 'COOKIE_ECHO', cookie }] }));
  echo(1, Buffer.alloc(64, 7));
  assert.equal(server.associations().length, 0, 'forged');
  // A real cookie, from an INIT ACK (to C1, whose host ignores it: no client on port 5555).
  net.inject(C1, S1, encodeSctpPacket({ srcPort: 5555, dstPort: 9000, verificationTag: 0, chunks: [{ type: 'INIT', initiateTag: 42, arwnd: 1500, outboundStreams: 1, inboundStreams: 1, initialTsn: 1, params: [] }] }));
  const initAck = decodeSctpPacket(net.log.at(-1)!.payload);
  assert.ok(initAck.ok && initAck.packet.chunks[0]?.type === 'INIT_ACK');
  const ack = initAck.packet.chunks[0];
  const cookie = ack.params.find((p) => p.type === 'STATE_COOKIE');
  assert.ok(cookie?.type === 'STATE_COOKIE');
  echo(ack.initiateTag + 1, cookie.cookie);
  assert.equal(server.associations().length, 0, 'wrong tag');
  clock.advance(1001);
  echo(ack.initiateTag, cookie.cookie);
  assert.equal(server.associations().length, 0, 'stale');
  const stale = decodeSctpPacket(net.log.at(-1)!.payload);
  assert.ok(stale.ok && stale.packet.chunks[0]?.type === 'ERROR' && stale.packet.verificationTag === 42);
  assert.equal(clientHost.stats().outOfTheBlue, 2, 'the INIT ACK and the ERROR');
});

test('a packet with a tag the server never gave is out of the blue; with answerOutOfTheBlue it gets an ABORT', async () => {
  const { net, clientHost, serverHost } = lab({ answerOutOfTheBlue: true });
  serverHost.listen({ port: 9000 });
  const client = await now(clientHost.connect({ server: S1, port: 9000 }));
  const before = serverHost.stats().outOfTheBlue;
  net.inject(C1, S1, encodeSctpPacket({ srcPort: client.localPort, dstPort: 9000, verificationTag: (client.peerTag + 1) >>> 0, chunks: [{ type: 'HEARTBEAT', info: Buffer.from('x') }] }));
  assert.equal(serverHost.stats().outOfTheBlue, before + 1);
  const abort = decodeSctpPacket(net.log.at(-1)!.payload);
  assert.ok(abort.ok && abort.packet.chunks[0]?.type === 'ABORT');
  assert.equal(abort.packet.chunks[0].tBit, true, 'reflected tag');
  assert.equal(abort.packet.verificationTag, (client.peerTag + 1) >>> 0);
  // That ABORT carries a tag the client never gave either: ignored.
  assert.equal(client.state, 'established');
});

test('ABORT from either side ends the association at the other', async () => {
  const { clientHost, serverHost } = lab();
  const server = serverHost.listen({ port: 9000 });
  const client = await now(clientHost.connect({ server: S1, port: 9000 }));
  client.abort();
  assert.equal(server.associations()[0]?.closedBy, 'abort');
  await assert.rejects(client.send('late'), /association is closed \(aborted by us\)/);
});

test('connecting to nobody fails after the retransmissions', async () => {
  const { clock, clientHost } = lab();
  const p = clientHost.connect({ server: '10.9.9.9', port: 9000, rtoMs: 100, maxRetransmits: 2 });
  const caught = p.catch((e: Error) => e);
  clock.advance(300);
  assert.match(String(await now(caught)), /no INIT ACK after 3 tries/);
});

test('the SCTP prober against the peers: listener up, closed port on an SCTP host down (ABORT), absent host down (timeout)', async () => {
  const { net, clock, serverHost } = lab({ answerOutOfTheBlue: true });
  serverHost.listen({ port: 9000 });
  const prober = new SctpProber({ openSocket: net.addHost(['10.0.0.50']).openSocket, clock });
  assert.deepEqual(await now(prober.probe(S1, 9000, 1000)), { up: true, outcome: 'init-ack' });
  assert.deepEqual(await now(prober.probe(S1, 9001, 1000)), { up: false, outcome: 'abort' });
  const absent = prober.probe('10.0.0.77', 9000, 1000);
  clock.advance(1000);
  assert.deepEqual(await now(absent), { up: false, outcome: 'timeout' });
  // The probe's ABORT reached the server, which held no state for it anyway.
  assert.equal(serverHost.stats().badChecksum, 0);
  prober.close();
});

test('two hosts in one namespace (every raw socket sees every packet): the answering one leaves the other alone', async () => {
  const net = new FakeRawNetwork();
  const clock = new ManualClock();
  const ns = net.addHost(['127.0.0.1']);
  const serverHost = new SctpHost({ openSocket: ns.openSocket, clock, answerOutOfTheBlue: true });
  const clientHost = new SctpHost({ openSocket: ns.openSocket, clock });
  serverHost.listen({ port: 9000, name: 'lo' });
  const client = await now(clientHost.connect({ server: '127.0.0.1', port: 9000 }));
  assert.equal((await now(client.send('x'))).text, 'lo@127.0.0.1: x');
  assert.equal(client.state, 'established');
  assert.ok(serverHost.stats().outOfTheBlue > 0, 'it saw the packets it sent');
  const aborts = net.log.filter((p) => {
    const d = decodeSctpPacket(p.payload);
    return d.ok && d.packet.chunks.some((c) => c.type === 'ABORT');
  });
  assert.equal(aborts.length, 0);
});
