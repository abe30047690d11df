import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../src/bfd/clock.ts';
import {
  BfdDiag,
  BfdState,
  decodeBfdPacket,
  encodeBfdPacket,
  type BfdControlPacket,
} from '../../src/bfd/BfdPacket.ts';
import {
  BfdManager,
  type BfdManagerStateChange,
  type BfdSessionParams,
} from '../../src/bfd/BfdManager.ts';
import type {
  BfdPacketHandler,
  BfdPacketMeta,
  BfdSender,
  BfdSenderOptions,
  BfdSenderStats,
  BfdTransport,
} from '../../src/bfd/BfdTransport.ts';
import { UdpBfdTransport } from '../lab/UdpBfdTransport.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/util/errors.ts';
import { controlPacket, lcg } from '../lab/bfdPackets.ts';
import { FakeClock, eventually, turn } from '../lab/FakeClock.ts';

const { AdminDown, Down, Init, Up } = BfdState;


interface Wire {
  at: number;
  src: string;
  srcPort: number;
  dst: string;
  pkt: BfdControlPacket;
}

/** A zero-latency network on a ManualClock: every address belongs to one FakeTransport. */
class FakeNet {
  readonly wire: Wire[] = [];
  /** Addresses whose packets are lost. */
  readonly silenced = new Set<string>();
  private readonly hosts = new Map<string, FakeTransport>();

  constructor(readonly clock: ManualClock) {}

  attach(addr: string, t: FakeTransport): void {
    this.hosts.set(addr, t);
  }

  deliver(src: string, srcPort: number, dst: string, buf: Buffer): void {
    const d = decodeBfdPacket(buf);
    assert.ok(d.ok, 'a manager sent a packet its own decoder refuses');
    this.wire.push({ at: this.clock.now(), src, srcPort, dst, pkt: d.packet });
    if (this.silenced.has(src)) return;
    const host = this.hosts.get(dst);
    if (!host) return;
    this.clock.setTimer(() => host.receive(buf, src, srcPort, dst), 0);
  }
}

class FakeSender implements BfdSender {
  closed = false;
  private readonly counters: BfdSenderStats = { sent: 0, errors: 0 };

  constructor(
    private readonly net: FakeNet,
    readonly localAddr: string,
    readonly localPort: number,
    readonly remoteAddr: string,
  ) {}

  send(packet: Buffer): void {
    if (this.closed) {
      this.counters.errors++;
      return;
    }
    this.counters.sent++;
    this.net.deliver(this.localAddr, this.localPort, this.remoteAddr, packet);
  }

  stats(): BfdSenderStats {
    return { ...this.counters };
  }

  close(): void {
    this.closed = true;
  }
}

class FakeTransport implements BfdTransport {
  readonly senders: FakeSender[] = [];
  closed = false;
  private handler?: BfdPacketHandler;
  private nextPort = 49152;

  constructor(
    private readonly net: FakeNet,
    readonly addrs: string[],
    /** Whether received packets carry their destination address (like IP_PKTINFO). */
    private readonly withDst = true,
  ) {
    for (const a of addrs) net.attach(a, this);
  }

  async listen(onPacket: BfdPacketHandler): Promise<void> {
    this.handler = onPacket;
  }

  async openSender(o: BfdSenderOptions): Promise<BfdSender> {
    const v6 = o.remoteAddress.includes(':');
    const local = o.localAddress ?? this.addrs.find((a) => a.includes(':') === v6)!;
    const s = new FakeSender(this.net, local, this.nextPort++, o.remoteAddress);
    this.senders.push(s);
    return s;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.senders) s.close();
  }

  openSenders(): FakeSender[] {
    return this.senders.filter((s) => !s.closed);
  }

  receive(buf: Buffer, src: string, srcPort: number, dst: string): void {
    if (this.closed || !this.handler) return;
    const meta: BfdPacketMeta = { srcAddr: src, srcPort, ttl: 255 };
    if (this.withDst) meta.dstAddr = dst;
    this.handler(buf, meta);
  }

  /** Hands the manager a datagram as if it had arrived. */
  inject(buf: Buffer, meta: BfdPacketMeta): void {
    this.handler!(buf, meta);
  }
}

interface Node {
  mgr: BfdManager;
  transport: FakeTransport;
  events: (BfdManagerStateChange & { at: number })[];
}

function makeNet() {
  const clock = new ManualClock();
  const net = new FakeNet(clock);
  let seed = 1;
  const node = async (addrs: string[], opts: { withDst?: boolean; randomUint32?: () => number; keyDir?: string } = {}): Promise<Node> => {
    const transport = new FakeTransport(net, addrs, opts.withDst ?? true);
    const rnd = lcg(seed++);
    const mgr = new BfdManager({
      transport,
      clock,
      random: rnd,
      randomUint32: opts.randomUint32 ?? (() => Math.floor(rnd() * 2 ** 32)),
      keyDir: opts.keyDir,
    });
    const events: Node['events'] = [];
    mgr.on('stateChange', (e) => events.push({ ...e, at: clock.now() }));
    await mgr.start();
    return { mgr, transport, events };
  };
  return { clock, net, node };
}

const p = (instance: string, remoteIp: string, extra: Partial<BfdSessionParams> = {}): BfdSessionParams => ({
  instance,
  remoteIp,
  txIntervalUs: 100_000,
  multiplier: 3,
  ...extra,
});

function transitions(n: Node, remoteIp: string, instance?: string): [number, number, number][] {
  return n.events
    .filter((e) => e.remoteIp === remoteIp && (instance === undefined || e.instance === instance))
    .map((e) => [e.from, e.to, e.diag]);
}

function downPacket(myDiscriminator: number, yourDiscriminator = 0): Buffer {
  return encodeBfdPacket(controlPacket({ state: yourDiscriminator === 0 ? Down : Up, myDiscriminator, yourDiscriminator }));
}

/** Two managers with an IPv4 and an IPv6 session between them, Up. */
async function upPair() {
  const t = makeNet();
  const a = await t.node(['10.0.0.1', 'fd00::1']);
  const b = await t.node(['10.0.0.2', 'fd00::2']);
  await a.mgr.addSession(p('llb-inst0', '10.0.0.2'));
  await b.mgr.addSession(p('llb-inst0', '10.0.0.1'));
  await a.mgr.addSession(p('llb-inst0', 'fd00::2'));
  await b.mgr.addSession(p('llb-inst0', 'fd00::1'));
  t.clock.advance(5000);
  return { ...t, a, b };
}

test('two managers back to back: IPv4 and IPv6 sessions come Up and settle at the configured rate', async () => {
  const { a, b } = await upPair();
  for (const n of [a, b]) {
    for (const ip of n === a ? ['10.0.0.2', 'fd00::2'] : ['10.0.0.1', 'fd00::1']) {
      const tr = transitions(n, ip);
      assert.ok(
        JSON.stringify(tr) === JSON.stringify([[Down, Init, 0], [Init, Up, 0]]) || JSON.stringify(tr) === JSON.stringify([[Down, Up, 0]]),
        `Down -> (Init ->) Up, got ${JSON.stringify(tr)}`,
      );
    }
    const list = n.mgr.list();
    assert.equal(list.length, 2);
    for (const s of list) {
      assert.equal(s.instance, 'llb-inst0');
      assert.equal(s.stateName, 'Up');
      assert.equal(s.state, Up);
      assert.equal(s.txIntervalUs, 100_000);
      assert.equal(s.detectionTimeUs, 300_000);
      assert.deepEqual(s.configured, { txIntervalUs: 100_000, rxIntervalUs: 100_000, multiplier: 3 });
      assert.ok(s.localPort >= 49152);
      assert.ok(s.sender.sent > 40, 'packets went out through the session socket');
    }
    const st = n.mgr.stats();
    assert.equal(Object.values(st.drops).reduce((x, y) => x + y, 0), 0, JSON.stringify(st.drops));
    assert.equal(st.delivered, st.received);
  }
  // Discriminators: each side learnt the other's.
  const aV4 = a.mgr.get('llb-inst0', '10.0.0.2')!;
  const bV4 = b.mgr.get('llb-inst0', '10.0.0.1')!;
  assert.equal(aV4.remoteDiscriminator, bV4.localDiscriminator);
  assert.equal(bV4.remoteDiscriminator, aV4.localDiscriminator);
  assert.equal(a.mgr.get('llb-inst0', 'FD00:0::2')?.remoteIp, 'fd00::2', 'addresses are compared in canonical form');
});

test('demultiplexing: by source while Your Discriminator is 0, by discriminator after, for two sessions to one peer address', async () => {
  for (const withDst of [true, false]) {
    const t = makeNet();
    // a talks to the same peer address from two local addresses, in two instances.
    const a = await t.node(['10.0.0.1', '10.0.0.11'], { withDst });
    const b = await t.node(['10.0.0.2']);
    await a.mgr.addSession(p('i1', '10.0.0.2', { sourceIp: '10.0.0.1' }));
    await a.mgr.addSession(p('i2', '10.0.0.2', { sourceIp: '10.0.0.11' }));
    await b.mgr.addSession(p('x', '10.0.0.1'));
    await b.mgr.addSession(p('y', '10.0.0.11'));
    t.clock.advance(5000);
    const i1 = a.mgr.get('i1', '10.0.0.2')!;
    const i2 = a.mgr.get('i2', '10.0.0.2')!;
    const x = b.mgr.get('x', '10.0.0.1')!;
    const y = b.mgr.get('y', '10.0.0.11')!;
    for (const s of [i1, i2, x, y]) assert.equal(s.stateName, 'Up', `withDst=${withDst}`);
    assert.equal(i1.remoteDiscriminator, x.localDiscriminator, 'i1 is paired with x');
    assert.equal(i2.remoteDiscriminator, y.localDiscriminator, 'i2 is paired with y');
    assert.notEqual(i1.localDiscriminator, i2.localDiscriminator);
    assert.ok(i1.counters.rx > 0 && i2.counters.rx > 0);
    for (const s of [i1, i2]) assert.deepEqual(s.lastRxFrom?.addr, '10.0.0.2');
    // Every packet b sent after Up named one of a's sessions.
    const fromB = t.net.wire.filter((w) => w.src === '10.0.0.2' && w.pkt.state === Up);
    assert.ok(fromB.every((w) => w.pkt.yourDiscriminator === (w.dst === '10.0.0.1' ? i1 : i2).localDiscriminator));
    const drops = a.mgr.stats().drops;
    if (withDst) {
      assert.equal(drops['ambiguous-source'], 0, 'the destination address tells the two sessions apart');
    } else {
      // Without the destination address the bootstrap packets cannot be
      // placed; the sessions still come Up once b names them.
      assert.ok(drops['ambiguous-source'] > 0);
    }
    assert.equal(drops['unknown-discriminator'] + drops['unknown-source'] + drops['source-mismatch'], 0);
  }
});

test('packets for no session are dropped and counted, and touch no session', async () => {
  const { a } = await upPair();
  const s = a.mgr.get('llb-inst0', '10.0.0.2')!;
  const before = a.mgr.stats();
  const ours = new Set(a.mgr.list().map((x) => x.localDiscriminator));
  const unknown = [0xdead_beef, 0xdead_bef0].find((d) => !ours.has(d))!;
  a.transport.inject(Buffer.from([0xff, 0, 0, 0]), { srcAddr: '10.0.0.2', srcPort: 49152 });
  a.transport.inject(downPacket(0x1234, unknown), { srcAddr: '10.0.0.2', srcPort: 49152 });
  a.transport.inject(downPacket(0x1234), { srcAddr: '10.0.0.99', srcPort: 49152 });
  a.transport.inject(downPacket(0x1234, s.localDiscriminator), { srcAddr: '10.0.0.99', srcPort: 49152 });
  a.transport.inject(downPacket(0x1234), { srcAddr: '192.0.2.1', srcPort: 1 });
  const after = a.mgr.stats();
  assert.equal(after.received - before.received, 5);
  assert.equal(after.delivered, before.delivered);
  assert.equal(after.drops['bad-version'], 1);
  assert.equal(after.drops['unknown-discriminator'], 1);
  assert.equal(after.drops['unknown-source'], 2);
  assert.equal(after.drops['source-mismatch'], 1, 'a known discriminator from the wrong address');
  const s2 = a.mgr.get('llb-inst0', '10.0.0.2')!;
  assert.equal(s2.stateName, 'Up');
  assert.equal(s2.counters.rx, s.counters.rx);
  assert.equal(Object.values(s2.counters.drops).reduce((x, y) => x + y, 0), 0);
});

test('delete: AdminDown goes out at once, the peer goes Down (diag 3, peer diag 7), the socket closes after one Detection Time', async () => {
  const { clock, net, a, b } = await upPair();
  const t0 = clock.now();
  const old = a.mgr.get('llb-inst0', '10.0.0.2')!;
  const bChanges = transitions(b, '10.0.0.1').length;
  const done = a.mgr.deleteSession('llb-inst0', '10.0.0.2');
  let resolved = false;
  void done.then(() => (resolved = true));
  assert.deepEqual(a.events.at(-1), { instance: 'llb-inst0', remoteIp: '10.0.0.2', from: Up, to: AdminDown, diag: BfdDiag.AdministrativelyDown, remoteDiag: 0, remoteState: Up, at: t0 });
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2'), undefined, 'gone from the listing at once');
  assert.deepEqual(a.mgr.list().map((s) => s.remoteIp), ['fd00::2']);

  clock.advance(100);
  const bDown = b.events.find((e) => e.remoteIp === '10.0.0.1' && e.to === Down)!;
  assert.ok(bDown, 'the peer went Down');
  assert.equal(bDown.diag, BfdDiag.NeighborSignaledSessionDown, 'RFC 5880 §6.8.6: the receiver of AdminDown says 3');
  assert.equal(bDown.remoteDiag, BfdDiag.AdministrativelyDown, 'and can tell the peer was taken down on purpose (7)');
  assert.ok(bDown.at - t0 <= 100, `within one interval, not by timeout (${bDown.at - t0} ms)`);
  const adminDowns = net.wire.filter((w) => w.src === '10.0.0.1' && w.dst === '10.0.0.2' && w.pkt.state === AdminDown);
  assert.ok(adminDowns.length >= 1);
  assert.equal(adminDowns[0]!.pkt.diag, BfdDiag.AdministrativelyDown);
  assert.equal(adminDowns[0]!.pkt.myDiscriminator, old.localDiscriminator);

  await Promise.resolve();
  assert.equal(resolved, false, 'still draining');
  clock.advance(300);
  await done;
  assert.equal(a.transport.openSenders().length, 1, 'only the IPv6 session socket is left');
  const sentAfterStop = net.wire.filter((w) => w.src === '10.0.0.1' && w.at > t0 + 300);
  assert.deepEqual(sentAfterStop, []);

  // The peer keeps naming the old discriminator: counted as unknown, no crash.
  clock.advance(3000);
  assert.ok(a.mgr.stats().drops['unknown-discriminator'] >= 2);
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')!.stateName, 'Down');
  assert.equal(transitions(b, '10.0.0.1').length, bChanges + 1, 'the peer went Down once and stays Down');

  // The same session can be added again and comes back Up with a new discriminator.
  const again = await a.mgr.addSession(p('llb-inst0', '10.0.0.2'));
  assert.notEqual(again.localDiscriminator, old.localDiscriminator);
  clock.advance(5000);
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2')!.stateName, 'Up');
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')!.stateName, 'Up');
});

test('deleting the peer session: the other side sees AdminDown, goes Down with diag 3 and the event carries diag 7', async () => {
  // The same from b's point of view, with a listener that throws: it must not break the session.
  const { clock, a, b } = await upPair();
  b.mgr.on('stateChange', () => {
    throw new Error('listener bug');
  });
  const done = a.mgr.deleteSession('llb-inst0', 'fd00::2');
  clock.advance(1000);
  await done;
  const ev = b.events.find((e) => e.remoteIp === 'fd00::1' && e.to === Down)!;
  assert.equal(ev.remoteDiag, BfdDiag.AdministrativelyDown);
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')!.stateName, 'Up', 'the other session is untouched');
});

test('a held session says so by its state; once released, the diagnostic 7 lingers but the state is Down (not a hold)', async () => {
  const { clock, a, b } = await upPair();
  const remote: string[] = [];
  b.mgr.on('remoteStateChange', (r) => r.remoteIp === '10.0.0.1' && remote.push(`${r.from}->${r.to}`));
  a.mgr.updateSession('llb-inst0', '10.0.0.2', { adminDown: true });
  clock.advance(100);
  assert.deepEqual(remote, [`${Up}->${AdminDown}`], 'the peer\'s own state change is reported');
  const held = b.events.filter((e) => e.remoteIp === '10.0.0.1' && e.to === Down).at(-1)!;
  assert.equal(held.remoteState, AdminDown, 'the peer holds the session: its state is AdminDown');
  const bSeen = b.events.length;
  a.mgr.updateSession('llb-inst0', '10.0.0.2', { adminDown: false });
  const released = a.events.filter((e) => e.remoteIp === '10.0.0.2').at(-1)!;
  assert.equal(released.to, Down);
  assert.equal(released.remoteState, Down, 'b is Down, not holding anything');
  // b hears a's Down, still carrying diag 7 from the hold: the state is what tells a hold apart.
  clock.advance(1000);
  const next = b.events.slice(bSeen).find((e) => e.remoteIp === '10.0.0.1')!;
  assert.ok(next, 'b moved on once a released the session');
  assert.notEqual(next.remoteState, AdminDown);
  assert.equal(next.remoteDiag, BfdDiag.AdministrativelyDown, 'the diagnostic alone would still say "held"');
  assert.equal(remote[1], `${AdminDown}->${Down}`, 'and the end of the hold');
  clock.advance(5000);
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2')!.stateName, 'Up');
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')!.stateName, 'Up');
});

test('updateSession changes timers through a Poll Sequence, without a flap on either side', async () => {
  const { clock, net, a, b } = await upPair();
  const t0 = clock.now();
  const st = a.mgr.updateSession('llb-inst0', '10.0.0.2', { txIntervalUs: 300_000 });
  assert.deepEqual(st.configured, { txIntervalUs: 300_000, rxIntervalUs: 300_000, multiplier: 3 }, 'rx follows tx when never set');
  clock.advance(3000);
  const polls = net.wire.filter((w) => w.at >= t0 && w.src === '10.0.0.1' && w.dst === '10.0.0.2' && w.pkt.poll);
  assert.ok(polls.length >= 1, 'a Poll carried the new timers');
  assert.equal(polls[0]!.pkt.desiredMinTxUs, 300_000);
  const fin = net.wire.find((w) => w.at >= polls[0]!.at && w.src === '10.0.0.2' && w.dst === '10.0.0.1' && w.pkt.final);
  assert.ok(fin, 'the peer answered with Final');
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2')!.pollActive, false);
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')!.detectionTimeUs, 900_000);
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2')!.txIntervalUs, 300_000);
  for (const n of [a, b]) assert.equal(n.events.filter((e) => e.at >= t0).length, 0, 'no state change');

  a.mgr.updateSession('llb-inst0', '10.0.0.2', { rxIntervalUs: 50_000, multiplier: 5 });
  clock.advance(3000);
  const s = a.mgr.get('llb-inst0', '10.0.0.2')!;
  assert.deepEqual(s.configured, { txIntervalUs: 300_000, rxIntervalUs: 50_000, multiplier: 5 });
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')!.detectionTimeUs, 1_500_000, '5 x our 300 ms');
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')!.txIntervalUs, 100_000, 'b may send at its own 100 ms');

  a.mgr.updateSession('llb-inst0', '10.0.0.2', { adminDown: true });
  clock.advance(1000);
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2')!.stateName, 'AdminDown');
  a.mgr.updateSession('llb-inst0', '10.0.0.2', { adminDown: false });
  clock.advance(5000);
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2')!.stateName, 'Up');
});

test('validation errors name the field, and a refused session leaves nothing behind', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bfdmgr-'));
  try {
    const empty = path.join(dir, 'empty.key');
    const long = path.join(dir, 'long.key');
    const md5Long = path.join(dir, 'md5.key');
    const ok = path.join(dir, 'ok.key');
    const short = path.join(dir, 'short.key');
    writeFileSync(empty, '\n');
    writeFileSync(long, `${'x'.repeat(21)}\n`);
    writeFileSync(md5Long, 'y'.repeat(17));
    writeFileSync(short, 'secret\n');
    writeFileSync(ok, 'a-secret-of-20-bytes\n');
    const { node } = makeNet();
    const a = await node(['10.0.0.1', 'fd00::1'], { keyDir: dir });
    const cases: [Partial<BfdSessionParams> & Record<string, unknown>, string, RegExp?][] = [
      [{ instance: '' }, 'instance'],
      [{ remoteIp: 'not-an-ip' }, 'remoteIp'],
      [{ remoteIp: '10.0.0.256' }, 'remoteIp'],
      [{ remoteIp: 'fe80::1%eth0' }, 'remoteIp'],
      [{ sourceIp: '10.0.0' }, 'sourceIp'],
      [{ sourceIp: 'fd00::1' }, 'sourceIp', /same family/],
      [{ multiplier: 0 }, 'multiplier'],
      [{ multiplier: 256 }, 'multiplier'],
      [{ multiplier: 2.5 }, 'multiplier'],
      [{ txIntervalUs: 9_999 }, 'txIntervalUs', /10000/],
      [{ txIntervalUs: 2 ** 32 }, 'txIntervalUs'],
      [{ rxIntervalUs: 5_000 }, 'rxIntervalUs'],
      [{ auth: { type: 'keyed-sha256' as never, keyId: 1, keyFile: ok } }, 'auth.type'],
      [{ auth: { type: 'keyed-sha1', keyId: 256, keyFile: ok } }, 'auth.keyId'],
      [{ auth: { type: 'keyed-sha1', keyId: 1, keyFile: path.join(dir, 'missing.key') } }, 'auth.keyFile', /names no file in the BFD key directory/],
      [{ auth: { type: 'keyed-sha1', keyId: 1, keyFile: empty } }, 'auth.keyFile', /must hold a key of 16 to 20 bytes for keyed-sha1/],
      [{ auth: { type: 'keyed-sha1', keyId: 1, keyFile: long } }, 'auth.keyFile', /must hold a key of 16 to 20 bytes/],
      [{ auth: { type: 'keyed-sha1', keyId: 1, keyFile: 'short.key' } }, 'auth.keyFile', /must hold a key of 16 to 20 bytes/],
      [{ auth: { type: 'keyed-md5', keyId: 1, keyFile: md5Long } }, 'auth.keyFile', /must hold a key of 16 bytes for keyed-md5/],
      [{ auth: { type: 'keyed-md5', keyId: 1, keyFile: '/etc/hostname' } }, 'auth.keyFile', /must name a file in the BFD key directory/],
    ];
    for (const [bad, field, detail] of cases) {
      await assert.rejects(
        a.mgr.addSession({ ...p('llb-inst0', '10.0.0.2'), ...bad } as BfdSessionParams),
        (e: unknown) => {
          assert.ok(e instanceof ValidationError, `${JSON.stringify(bad)}: ${String(e)}`);
          assert.equal(e.field, field);
          assert.match(e.message, new RegExp(`^invalid ${field.replace('.', '\\.')}: `));
          if (detail) assert.match(e.message, detail);
          assert.doesNotMatch(e.message, /xxxxxxxx|yyyyyyyy|secret\b|a-secret/, 'the key never shows in an error');
          assert.doesNotMatch(e.message, /\b(17|21|6) bytes/, 'nor its size');
          return true;
        },
      );
    }
    assert.deepEqual(a.mgr.list(), []);
    assert.equal(a.transport.senders.length, 0, 'no socket was opened for a refused session');

    // Accepted forms: key file with a trailing newline, auth type by number, unspecified source.
    const s = await a.mgr.addSession(p('llb-inst0', '10.0.0.2', { sourceIp: '0.0.0.0', auth: { type: 4, keyId: 3, keyFile: ok } }));
    assert.equal(s.sourceIp, undefined);
    assert.deepEqual(s.auth, { type: 4, typeName: 'keyed-sha1', keyId: 3 });
    await assert.rejects(a.mgr.addSession(p('llb-inst0', '10.0.0.2')), ConflictError);
    await assert.rejects(a.mgr.addSession(p('other', '10.0.0.2')), ConflictError, 'same peer and source in another instance');
    await a.mgr.addSession(p('other', '10.0.0.2', { sourceIp: '10.0.0.1' }));
    assert.throws(() => a.mgr.updateSession('llb-inst0', '10.0.0.9', { multiplier: 4 }), NotFoundError);
    assert.throws(() => a.mgr.updateSession('llb-inst0', '10.0.0.2', { multiplier: 0 }), /^ValidationError: invalid multiplier/);
    assert.throws(() => a.mgr.updateSession('llb-inst0', '10.0.0.2', { txIntervalUs: 1 }), /invalid txIntervalUs/);
    assert.throws(
      () => a.mgr.updateSession('llb-inst0', '10.0.0.2', { sourceIp: '10.0.0.1' } as never),
      (e: unknown) => e instanceof ValidationError && e.field === 'sourceIp',
    );
    assert.throws(() => a.mgr.deleteSession('llb-inst0', '10.0.0.9'), NotFoundError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keyed SHA1 and meticulous keyed SHA1 from key files come Up; a different key never does', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bfdmgr-'));
  try {
    const k1 = path.join(dir, 'k1');
    const k1crlf = path.join(dir, 'k1crlf');
    const k2 = path.join(dir, 'k2');
    writeFileSync(k1, 'the-shared-key-of-20\n');
    writeFileSync(k1crlf, 'the-shared-key-of-20\r\n');
    writeFileSync(k2, 'another-key-18bytes');
    const { clock, node } = makeNet();
    const a = await node(['10.0.0.1', '10.0.0.3', '10.0.0.5'], { keyDir: dir });
    const b = await node(['10.0.0.2', '10.0.0.4', '10.0.0.6'], { keyDir: dir });
    const sha1 = (keyFile: string) => ({ auth: { type: 'keyed-sha1' as const, keyId: 7, keyFile } });
    const met = (keyFile: string) => ({ auth: { type: 'meticulous-keyed-sha1' as const, keyId: 9, keyFile } });
    await a.mgr.addSession(p('i', '10.0.0.2', { sourceIp: '10.0.0.1', ...sha1(k1) }));
    await b.mgr.addSession(p('i', '10.0.0.1', { sourceIp: '10.0.0.2', ...sha1(k1crlf) }));
    await a.mgr.addSession(p('i', '10.0.0.4', { sourceIp: '10.0.0.3', ...met(k1) }));
    await b.mgr.addSession(p('i', '10.0.0.3', { sourceIp: '10.0.0.4', ...met(k1) }));
    await a.mgr.addSession(p('i', '10.0.0.6', { sourceIp: '10.0.0.5', ...sha1(k1) }));
    await b.mgr.addSession(p('i', '10.0.0.5', { sourceIp: '10.0.0.6', ...sha1(k2) }));
    clock.advance(10_000);
    assert.equal(a.mgr.get('i', '10.0.0.2')!.stateName, 'Up');
    assert.equal(a.mgr.get('i', '10.0.0.4')!.stateName, 'Up');
    const wrong = a.mgr.get('i', '10.0.0.6')!;
    assert.equal(wrong.stateName, 'Down');
    assert.deepEqual(transitions(a, '10.0.0.6'), []);
    assert.ok(wrong.counters.drops['auth-digest-mismatch'] >= 5);
    for (const ip of ['10.0.0.2', '10.0.0.4']) {
      const s = a.mgr.get('i', ip)!;
      assert.equal(Object.values(s.counters.drops).reduce((x, y) => x + y, 0), 0, ip);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local discriminators stay unique (and non-zero) when the random source repeats', async () => {
  const values = [5, 100, 5, 0, 5, 7, 200];
  const { node } = makeNet();
  const a = await node(['10.0.0.1'], { randomUint32: () => values.shift() ?? 9 });
  const s1 = await a.mgr.addSession(p('i', '10.0.0.2'));
  const s2 = await a.mgr.addSession(p('i', '10.0.0.3'));
  assert.equal(s1.localDiscriminator, 5);
  assert.equal(s2.localDiscriminator, 7);
});

test('close stops every session and the transport; graceful close tells the peers first', async () => {
  {
    const { clock, a, b } = await upPair();
    let closed = false;
    const closing = a.mgr.close({ graceful: true }).then(() => (closed = true));
    clock.advance(100);
    await Promise.resolve();
    assert.equal(closed, false, 'still draining');
    clock.advance(1000);
    await closing;
    for (const ip of ['10.0.0.1', 'fd00::1']) {
      const ev = b.events.find((e) => e.remoteIp === ip && e.to === Down)!;
      assert.equal(ev.diag, BfdDiag.NeighborSignaledSessionDown);
    }
    assert.equal(a.transport.closed, true);
    assert.equal(a.transport.openSenders().length, 0);
    await assert.rejects(a.mgr.addSession(p('i', '10.0.0.2')), /closed/);
  }
  {
    const { clock, a, b } = await upPair();
    await a.mgr.close();
    assert.deepEqual(a.mgr.list(), []);
    assert.equal(a.transport.openSenders().length, 0);
    const t0 = clock.now();
    clock.advance(1000);
    const ev = b.events.find((e) => e.remoteIp === '10.0.0.1' && e.to === Down)!;
    assert.equal(ev.diag, BfdDiag.ControlDetectionTimeExpired, 'an abrupt close looks like a failure to the peer');
    assert.ok(ev.at - t0 <= 300);
    assert.equal(clock.pending > 0, true, 'b still runs');
  }
});

// ---------------------------------------------------------------------------
// UdpBfdTransport on loopback (real sockets; no root needed). The managers'
// timers run on a FakeClock that moves on whenever no datagram is in flight.

async function bindBlocker(address: string, port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ address, port, exclusive: true }, () => resolve());
  });
  return s;
}

test('UdpBfdTransport: two managers over 127.0.0.1 / 127.0.0.2 come Up at 10 ms, from source ports in 49152-65535', async () => {
  const clock = new FakeClock();
  const ta = new UdpBfdTransport({ listenPort: 0, ipv4Address: '127.0.0.1', ipv6Address: null });
  const a = new BfdManager({ transport: ta, clock });
  await a.start();
  const port = ta.listeners()[0]!.port;
  assert.ok(port > 0);
  const tb = new UdpBfdTransport({ listenPort: port, ipv4Address: '127.0.0.2', ipv6Address: null });
  const b = new BfdManager({ transport: tb, clock });
  try {
    await b.start();
    const sa = await a.addSession({ instance: 'i', remoteIp: '127.0.0.2', sourceIp: '127.0.0.1', txIntervalUs: 10_000, multiplier: 3 });
    await b.addSession({ instance: 'i', remoteIp: '127.0.0.1', sourceIp: '127.0.0.2', txIntervalUs: 10_000, multiplier: 3 });
    assert.ok(sa.localPort >= 49152 && sa.localPort <= 65535);
    await eventually(() => a.get('i', '127.0.0.2')?.stateName === 'Up' && b.get('i', '127.0.0.1')?.stateName === 'Up', clock, { what: 'both Up' });
    // 300 ms more at 10 ms, datagrams delivered between timers.
    const until = clock.now() + 300;
    await eventually(() => clock.now() >= until, clock, { what: '300 ms more' });
    const s = a.get('i', '127.0.0.2')!;
    assert.equal(s.stateName, 'Up');
    assert.equal(b.get('i', '127.0.0.1')!.stateName, 'Up');
    assert.equal(s.txIntervalUs, 10_000, 'the Poll Sequence to 10 ms completed');
    assert.equal(s.lastRxFrom?.addr, '127.0.0.2');
    assert.equal(s.lastRxFrom?.port, b.get('i', '127.0.0.1')!.localPort, 'the peer sends from its session port');
    assert.equal(s.sender.errors, 0);
    assert.ok(ta.stats().received > 10);
  } finally {
    await a.close();
    await b.close();
  }
});

test('UdpBfdTransport: IPv6 sender with hop limit 255 reaches a :: listener; closed senders count errors instead of throwing', async () => {
  const t = new UdpBfdTransport({ listenPort: 0, ipv4Address: null, ipv6Address: '::1' });
  const got: BfdPacketMeta[] = [];
  await t.listen((_buf, meta) => got.push(meta));
  try {
    const s = await t.openSender({ remoteAddress: '::1', localAddress: '::1' });
    s.send(downPacket(1));
    await eventually(() => got.length > 0, undefined, { what: 'the datagram' });
    assert.deepEqual(got, [{ srcAddr: '::1', srcPort: s.localPort }], 'no ttl or dstAddr: node:dgram cannot read them');
    assert.equal(s.stats().sent, 1);
    s.close();
    assert.doesNotThrow(() => s.send(downPacket(1)));
    assert.equal(s.stats().errors, 1);
    await assert.rejects(t.openSender({ remoteAddress: '::1', localAddress: '127.0.0.1' }), /localAddress/);
    await assert.rejects(t.openSender({ remoteAddress: 'nope' }), /remoteAddress/);
  } finally {
    await t.close();
  }
  await assert.rejects(t.openSender({ remoteAddress: '::1' }), /closed/);
});

test('UdpBfdTransport: a source port in use is skipped; none free is a clear error; a taken listen port too', async () => {
  const blocker = await bindBlocker('127.0.0.1');
  const q = blocker.address().port;
  const t = new UdpBfdTransport({ ipv4Address: null, ipv6Address: null, sourcePortMin: q, sourcePortMax: q + 1 });
  const full = new UdpBfdTransport({ ipv4Address: null, ipv6Address: null, sourcePortMin: q, sourcePortMax: q });
  const clash = new UdpBfdTransport({ listenPort: q, ipv4Address: '127.0.0.1', ipv6Address: null });
  try {
    for (let i = 0; i < 5; i++) {
      const s = await t.openSender({ remoteAddress: '127.0.0.1', localAddress: '127.0.0.1' });
      assert.equal(s.localPort, q + 1);
      s.close();
      // The socket's fd is released in the loop's close phase, after this turn's check phase.
      await turn();
      await turn();
    }
    await assert.rejects(full.openSender({ remoteAddress: '127.0.0.1', localAddress: '127.0.0.1' }), /no free source port/);
    await assert.rejects(clash.listen(() => {}), new RegExp(`cannot listen on port ${q}.*EADDRINUSE`));
  } finally {
    await Promise.all([t.close(), full.close(), clash.close()]);
    blocker.close();
  }
});

test('addSession with adminDown: the session starts AdminDown, the peer never comes Up, and Up follows the release', async () => {
  const t = makeNet();
  const a = await t.node(['10.0.0.1']);
  const b = await t.node(['10.0.0.2']);
  const held = await a.mgr.addSession(p('llb-inst0', '10.0.0.2', { adminDown: true }));
  assert.equal(held.state, AdminDown);
  await b.mgr.addSession(p('llb-inst0', '10.0.0.1'));
  t.clock.advance(5000);
  assert.deepEqual(transitions(b, '10.0.0.1'), [], 'the peer stays Down: it never saw Up to lose');
  assert.ok(t.net.wire.some((w) => w.src === '10.0.0.1' && w.pkt.state === AdminDown), 'AdminDown goes out');
  a.mgr.updateSession('llb-inst0', '10.0.0.2', { adminDown: false });
  t.clock.advance(5000);
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.2')?.state, Up);
  assert.equal(b.mgr.get('llb-inst0', '10.0.0.1')?.state, Up);
  await assert.rejects(a.mgr.addSession(p('llb-inst0', '10.0.0.3', { adminDown: 'yes' as never })), (e: Error) => e instanceof ValidationError && /adminDown/.test(e.message));
  assert.equal(a.mgr.get('llb-inst0', '10.0.0.3'), undefined, 'a refused session is not half-made');
});
