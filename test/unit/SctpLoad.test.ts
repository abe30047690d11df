// The SCTP load generator (test/lab/SctpLoad.ts) and the server's fast echo
// path (SctpServer.onRawPacket) over the in-memory raw network on a manual
// clock: windows kept full, echoes counted per endpoint, go-back-N after a
// lost DATA, a lost echo counted as lost, the drain and the shutdowns, and
// the fast path's answer byte for byte what the codec would have built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/bfd/clock.ts';
import { decodeSctpPacket, encodeSctpPacket, sctpChecksumOk, SctpDataFlags } from '../../src/lb/sctp.ts';
import { FakeRawNetwork, type FakeRawPacket } from '../lab/fakeRawNetwork.ts';
import { SctpHost } from '../lab/SctpHost.ts';
import { SctpLoad } from '../lab/SctpLoad.ts';

const C = '10.0.0.2';
const S1 = '10.0.0.10';
const S2 = '10.0.0.11';

function lab() {
  const net = new FakeRawNetwork();
  const clock = new ManualClock();
  let seed = 11;
  const random32 = () => (seed = (seed * 1664525 + 1013904223) >>> 0);
  const client = new SctpHost({ openSocket: net.addHost([C]).openSocket, clock, random32 });
  const h1 = new SctpHost({ openSocket: net.addHost([S1]).openSocket, clock, random32 });
  const h2 = new SctpHost({ openSocket: net.addHost([S2]).openSocket, clock, random32 });
  const srv1 = h1.listen({ port: 9100, name: 'ep1', families: [4] });
  const srv2 = h2.listen({ port: 9100, name: 'ep2', families: [4] });
  const kinds = (from: string) =>
    net.log
      .filter((p) => p.src === from)
      .map((p) => {
        const d = decodeSctpPacket(p.payload);
        return d.ok ? d.packet.chunks.map((c) => c.type).join('+') : `bad:${d.reason}`;
      });
  return { net, clock, client, h1, h2, srv1, srv2, kinds };
}

function hasData(p: FakeRawPacket): boolean {
  const d = decodeSctpPacket(p.payload);
  return d.ok && d.packet.chunks.some((c) => c.type === 'DATA');
}

const targets = [
  { server: S1, port: 9100 },
  { server: S2, port: 9100 },
];

test('windows stay full, every DATA is echoed by the endpoint of its association, then a clean shutdown', async () => {
  const { net, client, h1, h2, srv1, srv2, kinds } = lab();
  const load = await SctpLoad.start(client, { targets, associations: 4, window: 3, payloadBytes: 10, maxData: 25 });
  // The fake network is synchronous: by now every association sent its 25.
  const c = load.counters();
  assert.equal(c.associations, 4);
  assert.equal(c.dataSent, 100);
  assert.equal(c.acked, 100);
  assert.equal(c.echoes, 100);
  assert.deepEqual(c.echoesByEndpoint, { ep1: 50, ep2: 50 });
  assert.deepEqual(c.associationsByEndpoint, { ep1: 2, ep2: 2 });
  assert.deepEqual([c.retransmits, c.duplicateEchoes, c.echoGaps, c.wrongSource, c.endpointChanges, c.aborted], [0, 0, 0, 0, 0, 0]);
  const r = await load.stop();
  assert.deepEqual([r.unacked, r.unechoed, r.shutdownFailed], [0, 0, 0]);
  // Every echo acknowledged, at least every second one.
  assert.ok(r.sacksSent >= 50, `${r.sacksSent} SACKs`);
  assert.ok(net.log.every((p) => sctpChecksumOk(p.payload)));
  const fromClient = kinds(C);
  // Set-up, DATA alone (DATA first, for the datapath), SACKs, the shutdown.
  assert.deepEqual([...new Set(fromClient)].sort(), ['COOKIE_ECHO', 'DATA', 'INIT', 'SACK', 'SHUTDOWN', 'SHUTDOWN_COMPLETE']);
  assert.equal(fromClient.filter((k) => k === 'DATA').length, 100);
  assert.ok(kinds(S1).filter((k) => k === 'SACK+DATA').length === 50);
  for (const srv of [srv1, srv2]) {
    const assocs = srv.associations();
    assert.equal(assocs.length, 2);
    for (const a of assocs) {
      assert.equal(a.dataReceived, 25);
      assert.equal(a.closedBy, 'shutdown');
    }
  }
  assert.equal(r.packetsSent, net.log.filter((p) => p.src === C).length - 4 * 2, 'every packet after the set-up (INIT, COOKIE ECHO)');
  assert.equal(client.stats().badChecksum + h1.stats().badChecksum + h2.stats().badChecksum, 0);
});

test('a lost DATA: the server drops what follows the gap, the window stalls, go-back-N after rtoMs recovers it', async () => {
  const { net, clock, client } = lab();
  let dataSeen = 0;
  let dropped: FakeRawPacket | undefined;
  net.drop = (p) => {
    if (p.src !== C || !hasData(p) || ++dataSeen !== 2) return false;
    dropped = p;
    return true;
  };
  const load = await SctpLoad.start(client, { targets: [targets[0]!], associations: 1, window: 4, payloadBytes: 8, maxData: 12, rtoMs: 400 });
  assert.ok(dropped !== undefined);
  const stalled = load.counters();
  assert.equal(stalled.acked, 1, 'only the DATA before the gap');
  assert.equal(stalled.retransmits, 0);
  clock.advance(450);
  const c = load.counters();
  assert.ok(c.retransmits >= 3, `go-back-N resent the window: ${c.retransmits}`);
  assert.deepEqual([c.dataSent, c.acked, c.echoes, c.echoGaps], [12, 12, 12, 0]);
  const r = await load.stop();
  assert.deepEqual([r.unacked, r.unechoed], [0, 0]);
});

test('a lost echo is counted as lost; the drain does not wait for it; the result says which DATA has no echo', async () => {
  const { net, clock, client } = lab();
  let echoes = 0;
  net.drop = (p) => p.src === S1 && hasData(p) && ++echoes === 3;
  const load = await SctpLoad.start(client, { targets: [targets[0]!], associations: 1, window: 4, payloadBytes: 8, maxData: 10 });
  const c = load.counters();
  assert.deepEqual([c.dataSent, c.acked, c.echoes, c.echoGaps], [10, 10, 9, 1]);
  const stopped = load.stop(1000);
  clock.advance(100);
  const r = await stopped;
  assert.deepEqual([r.unacked, r.unechoed, r.shutdownFailed], [0, 1, 0]);
  assert.ok(r.drainMs < 1000, 'drained without waiting for the lost echo');
});

test('a server that stops answering: the drain times out, SHUTDOWN is retried, then the association is let go', async () => {
  const { net, clock, client } = lab();
  const load = await SctpLoad.start(client, { targets: [targets[0]!], associations: 1, window: 2, payloadBytes: 8, maxData: 4, rtoMs: 100 });
  net.drop = (p) => p.src === S1;
  const stopped = load.stop(500);
  clock.advance(2000);
  const r = await stopped;
  assert.deepEqual([r.unacked, r.shutdownFailed], [0, 1]);
});

test("the server's fast echo answer is byte for byte what the codec builds, and duplicates still get the general path", async () => {
  const { net, client } = lab();
  const c = await client.connect({ server: S1, port: 9100 });
  const h = c.handOver();
  const data = (tsn: number, ssn: number, text: string) => ({ type: 'DATA' as const, flags: SctpDataFlags.BEGINNING | SctpDataFlags.END, tsn, streamId: 0, streamSeq: ssn, ppid: 7, data: Buffer.from(text) });
  const pkt = encodeSctpPacket({
    srcPort: h.localPort,
    dstPort: 9100,
    verificationTag: h.peerTag,
    chunks: [{ type: 'SACK', cumulativeTsnAck: h.peerCumTsn, arwnd: 1000, gapBlocks: [], duplicateTsns: [] }, data(h.nextTsn, 0, 'one'), data((h.nextTsn + 1) >>> 0, 1, 'three')],
  });
  net.inject(C, S1, pkt);
  const answer = net.log.at(-1)!;
  assert.equal(answer.src, S1);
  const d = decodeSctpPacket(answer.payload);
  assert.ok(d.ok);
  const echoTsn = (h.peerCumTsn + 1) >>> 0;
  const want = encodeSctpPacket({
    srcPort: 9100,
    dstPort: h.localPort,
    verificationTag: h.localTag,
    chunks: [
      { type: 'SACK', cumulativeTsnAck: (h.nextTsn + 1) >>> 0, arwnd: 65535, gapBlocks: [], duplicateTsns: [] },
      { ...data(echoTsn, 0, `ep1@${S1}: one`) },
      { ...data((echoTsn + 1) >>> 0, 1, `ep1@${S1}: three`) },
    ],
  });
  assert.deepEqual(answer.payload, want);
  // The same packet again: duplicates, answered by the general path with the same echoes.
  net.inject(C, S1, pkt);
  const again = decodeSctpPacket(net.log.at(-1)!.payload);
  assert.ok(again.ok);
  assert.deepEqual(
    again.packet.chunks.map((x) => (x.type === 'SACK' ? x.duplicateTsns : x.type === 'DATA' ? x.data.toString() : x.type)),
    [[h.nextTsn, (h.nextTsn + 1) >>> 0], `ep1@${S1}: one`, `ep1@${S1}: three`],
  );
});
