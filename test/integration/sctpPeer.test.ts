// SCTP over raw sockets between two namespaces (the kernel has no SCTP):
// the test peers associate, exchange DATA, a multihomed client moves to its
// second path when the first is cut, IPv6 works too, and the agent's SCTP
// probe tells a listening port from a closed one and an absent host. Every
// SCTP packet the client's interfaces saw is checked by tshark's CRC32c.
//
//   client  eth0 10.70.0.2/24  fd00:70::2/64 ─┐
//           eth1 10.71.0.2/24                 ├─ switch
//   server  eth0 10.70.0.10/24 fd00:70::10/64 │
//           eth1 10.71.0.10/24               ─┘
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSctpPacket } from '../../src/lb/sctp.ts';
import { Lab } from '../lab/Lab.ts';
import { PacketCapture, tsharkSctpChecksums } from '../lab/PacketCapture.ts';
import { SctpPeerProcess } from '../lab/SctpPeerProcess.ts';
import { waitFor } from '../lab/wait.ts';

const C1 = '10.70.0.2';
const C2 = '10.71.0.2';
const S1 = '10.70.0.10';
const S2 = '10.71.0.10';
const C6 = 'fd00:70::2';
const S6 = 'fd00:70::10';
const PORT = 9000;

let lab: Lab;
let capture: PacketCapture;
let server: SctpPeerProcess;
let client: SctpPeerProcess;

before(async () => {
  lab = await Lab.buildWith(async (l) => {
    await l.addSwitch('sw');
    await l.addNode('client', { switch: 'sw', ipv4: `${C1}/24`, ipv6: `${C6}/64` });
    await l.addLink('client', { switch: 'sw', ipv4: `${C2}/24` });
    await l.addNode('server', { switch: 'sw', ipv4: `${S1}/24`, ipv6: `${S6}/64` });
    await l.addLink('server', { switch: 'sw', ipv4: `${S2}/24` });
    return l;
  });
  capture = await PacketCapture.start(lab, 'client', ['eth0', 'eth1'], { filter: 'sctp or ip6 proto 132' });
  server = await SctpPeerProcess.start(lab, 'server', { mode: 'server', port: PORT, name: 'srv', addresses: [S2], abortUnknown: true });
  client = await SctpPeerProcess.start(lab, 'client', { mode: 'client' });
});

after(async () => {
  await lab?.destroy();
});

test('associate, echo DATA, heartbeat, shut down', async () => {
  const a = await client.connect({ server: S1, port: PORT });
  assert.deepEqual(a.serverAddresses, [S1, S2]);
  const e = await client.send('hello');
  assert.deepEqual([e.text, e.from, e.to, e.transmissions], [`srv@${S1}: hello`, S1, C1, 1]);
  assert.equal((await client.send('world')).text, `srv@${S1}: world`);
  assert.deepEqual(await client.heartbeat(), { from: S1, to: C1 });
  await client.shutdown();
  // The client is done once it sends SHUTDOWN COMPLETE; the server closes
  // when that packet arrives, a moment later.
  const closed = async () => (await server.associations()).find((x) => x.peerTag === a.localTag);
  await waitFor(async () => (await closed())?.state === 'closed', { timeoutMs: 5000, what: 'the server to close on SHUTDOWN COMPLETE' });
  const sa = await closed();
  assert.equal(sa?.state, 'closed');
  assert.equal(sa?.closedBy, 'shutdown');
  assert.equal(sa?.dataReceived, 2);
});

test('multihomed client: INIT lists both addresses; a cut path fails over to the second one', async () => {
  const a = await client.connect({ server: S1, port: PORT, src: C1, addresses: [C1, C2], rtoMs: 300, maxRetransmits: 20 });
  assert.equal((await client.send('first')).to, C1);
  await lab.cutLink('client', 'eth0');
  try {
    const sent = client.send('across');
    // The DATA is retransmitted into the dead path until the path moves.
    await waitFor(async () => (await client.stats()).clients.find((c) => c.assoc === a.assoc)!.retransmits >= 1, { timeoutMs: 10_000, what: 'a retransmission' });
    await client.setPath({ assoc: a.assoc, src: C2, dst: S2 });
    const e = await sent;
    assert.equal(e.text, `srv@${S2}: across`);
    assert.deepEqual([e.from, e.to], [S2, C2]);
    assert.ok(e.transmissions >= 2);
    assert.deepEqual(await client.heartbeat({ assoc: a.assoc }), { from: S2, to: C2 });
  } finally {
    await lab.restoreLink('client', 'eth0');
  }
  const [sa] = (await server.associations()).filter((x) => x.peerTag === a.localTag);
  assert.deepEqual(sa?.peerAddresses, [C1, C2]);
  assert.deepEqual(sa?.sources, [C1, C2]);
  assert.deepEqual(sa?.localAddresses, [S1, S2]);
  await client.abort(a.assoc);
  await waitFor(async () => (await server.associations()).find((x) => x.peerTag === a.localTag)?.closedBy === 'abort', { timeoutMs: 5000, what: 'the server to see the ABORT' });
});

test('IPv6 association', async () => {
  await client.connect({ server: S6, port: PORT });
  const e = await client.send('six');
  assert.deepEqual([e.text, e.from, e.to], [`srv@${S6}: six`, S6, C6]);
  await client.shutdown();
});

test('SCTP probe: up for the listening port, down for a closed one and an absent host', async () => {
  const before = (await server.associations()).length;
  assert.deepEqual(await client.probe(S1, PORT, 2000), { up: true, outcome: 'init-ack' });
  assert.deepEqual(await client.probe(S6, PORT, 2000), { up: true, outcome: 'init-ack' });
  // The server answers out-of-the-blue packets like a kernel stack: ABORT.
  assert.deepEqual(await client.probe(S1, PORT + 1, 2000), { up: false, outcome: 'abort' });
  assert.deepEqual(await client.probe('10.70.0.99', PORT, 500), { up: false, outcome: 'timeout' });
  // A probe never leaves an association behind.
  assert.equal((await server.associations()).length, before);
});

test('no peer saw a bad checksum, and tshark finds every SCTP packet on the client links good but the one we broke', async () => {
  const [cs, ss] = [await client.stats(), await server.stats()];
  assert.deepEqual(cs.badChecksums, []);
  assert.deepEqual(ss.badChecksums, []);
  // The control: one packet with a broken checksum must be caught by both.
  const broken = encodeSctpPacket({ srcPort: PORT, dstPort: 40404, verificationTag: 1, chunks: [{ type: 'COOKIE_ACK' }] });
  broken[8]! ^= 0x01;
  assert.equal(await server.sendRaw(C1, broken, S1), true);
  await waitFor(async () => (await client.stats()).badChecksums.length === 1, { timeoutMs: 5000, what: 'the client to record the bad packet' });
  assert.deepEqual({ ...(await client.stats()).badChecksums[0], detail: '' }, { src: S1, dst: C1, srcPort: PORT, dstPort: 40404, detail: '' });
  await capture.waitForFrame('sctp.dstport == 40404');
  const file = await capture.stop();
  const report = await tsharkSctpChecksums(file);
  // 4 tests' handshakes, data, heartbeats, shutdowns, aborts and probes.
  assert.ok(report.frames.length >= 40, `only ${report.frames.length} SCTP frames captured`);
  assert.deepEqual(
    report.bad.map((f) => [f.src, f.srcPort, f.dstPort]),
    [[S1, PORT, 40404]],
  );
  assert.equal(report.unverified, 0);
  assert.equal(report.good, report.frames.length - 1);
  // Both families and both paths are in the capture.
  for (const addr of [C1, C2, C6, S1, S2, S6]) assert.ok(report.frames.some((f) => f.src === addr), `a packet from ${addr}`);
});
