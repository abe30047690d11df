// NativeBfdTransport on loopback (real sockets, real time; no root needed):
// received TTL / Hop Limit and destination address, the GTSM drop in the
// addon, what our senders put on the wire, batching, and that a process with
// a receive thread still ends.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from '../lab/FakeClock.ts';
import type { BfdPacketMeta } from '../../src/bfd/BfdTransport.ts';
import { NativeBfdTransport } from '../../src/bfd/NativeBfdTransport.ts';
import { createBfdTransport } from '../../src/bfd/createBfdTransport.ts';
import { BfdManager } from '../../src/bfd/BfdManager.ts';
import { BFD_SOURCE_PORT_MAX, BFD_SOURCE_PORT_MIN } from '../../src/bfd/transportOptions.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./fixtures/nativeBfdChild.ts', import.meta.url));

interface Rx {
  data: string;
  meta: BfdPacketMeta;
}

/** A transport that records what it receives; closed by the suite's after(). */
async function recorder(opts: ConstructorParameters<typeof NativeBfdTransport>[0]): Promise<{ t: NativeBfdTransport; rx: Rx[]; port: number }> {
  const t = new NativeBfdTransport({ listenPort: 0, ...opts });
  open.push(t);
  const rx: Rx[] = [];
  await t.listen((buf, meta) => rx.push({ data: buf.toString(), meta }));
  return { t, rx, port: t.listeners()[0]!.port };
}

const open: NativeBfdTransport[] = [];
const sockets: dgram.Socket[] = [];

async function udpSocket(address: string, ttl?: number): Promise<dgram.Socket> {
  const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  sockets.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ address, port: 0, exclusive: true }, () => resolve());
  });
  if (ttl !== undefined) s.setTTL(ttl);
  return s;
}

function sendFrom(s: dgram.Socket, text: string, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => s.send(Buffer.from(text), port, address, (e) => (e ? reject(e) : resolve())));
}

/** Waits for packets from the addon's threads, checking each event-loop turn; timeoutMs only guards a hang. */
async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  await eventually(cond, undefined, { what, timeoutMs });
}

after(async () => {
  for (const t of open) await t.close();
  for (const s of sockets) s.close();
});

describe('NativeBfdTransport receive side', () => {
  for (const fam of [
    { name: 'IPv4', opts: { ipv6Address: null }, src: '127.0.0.1', dst: '127.0.0.2' },
    { name: 'IPv6', opts: { ipv4Address: null }, src: '::1', dst: '::1' },
  ] as const) {
    test(`${fam.name}: TTL 255 arrives with ttl, source and destination; TTL 254 is dropped in the addon and counted`, async () => {
      const { t, rx, port } = await recorder(fam.opts);
      const s255 = await udpSocket(fam.src, 255);
      const s254 = await udpSocket(fam.src, 254);
      const sentAt = performance.now();
      await sendFrom(s255, 'first', port, fam.dst);
      await until(() => rx.length === 1, 'the TTL 255 packet');
      const { arrivalAt, ...meta } = rx[0]!.meta;
      assert.deepEqual({ data: rx[0]!.data, meta }, {
        data: 'first',
        meta: { srcAddr: fam.src, srcPort: s255.address().port, dstAddr: fam.dst, ttl: 255 },
      });
      // Stamped on the receive thread, in the performance.now() timebase.
      assert.ok(arrivalAt !== undefined && arrivalAt >= sentAt && arrivalAt <= performance.now(), `arrivalAt ${arrivalAt} vs sent ${sentAt}`);
      // The dropped one goes first: once the marker behind it is in, it had its chance.
      await sendFrom(s254, 'ttl-254', port, fam.dst);
      await sendFrom(s255, 'marker', port, fam.dst);
      await until(() => rx.length >= 2, 'the marker');
      assert.deepEqual(
        rx.map((r) => r.data),
        ['first', 'marker'],
      );
      const st = t.stats();
      assert.equal(st.droppedTtl, 1);
      assert.equal(st.received, 3);
      assert.equal(st.delivered, 2);
      assert.equal(st.errors, 0);
    });
  }

  test('IPv4 and IPv6 listeners share the port; the IPv6 one is IPv6-only', async () => {
    const { t, rx, port } = await recorder({});
    assert.deepEqual(
      t.listeners().map((l) => [l.family, l.port]),
      [
        ['IPv4', port],
        ['IPv6', port],
      ],
    );
    const s4 = await udpSocket('127.0.0.1', 255);
    const s6 = await udpSocket('::1', 255);
    await sendFrom(s4, 'v4', port, '127.0.0.1');
    await sendFrom(s6, 'v6', port, '::1');
    await until(() => rx.length === 2, 'both packets');
    assert.deepEqual(rx.map((r) => [r.data, r.meta.srcAddr]).sort(), [
      ['v4', '127.0.0.1'],
      ['v6', '::1'],
    ]);
  });

  test('a burst sent while the JS thread is busy arrives complete and in order; a throwing handler stops nothing', async () => {
    const t = new NativeBfdTransport({ listenPort: 0, ipv6Address: null });
    open.push(t);
    const seen: number[] = [];
    let calls = 0;
    await t.listen((buf) => {
      calls++;
      const n = Number(buf.toString());
      seen.push(n);
      if (n % 50 === 0) throw new Error('handler failure');
    });
    const port = t.listeners()[0]!.port;
    const s = await udpSocket('127.0.0.1', 255);
    for (let i = 0; i < 200; i++) s.send(Buffer.from(String(i)), port, '127.0.0.1');
    // Hold the JS thread: the receive thread must queue and batch meanwhile.
    const stop = Date.now() + 100;
    while (Date.now() < stop) {
      // busy
    }
    await until(() => seen.length === 200, '200 packets');
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => i));
    assert.equal(calls, 200);
    assert.equal(t.stats().handlerErrors, 4);
    assert.equal(t.stats().droppedOverflow, 0);
  });

  test('a port already taken fails listen() with EADDRINUSE in the message; close() is idempotent', async () => {
    const { port } = await recorder({ ipv6Address: null, ipv4Address: '127.0.0.1' });
    const t = new NativeBfdTransport({ listenPort: port, ipv4Address: '127.0.0.1', ipv6Address: null });
    await assert.rejects(t.listen(() => {}), /cannot listen on port \d+: .*EADDRINUSE/);
    await t.close();
    await t.close();
    await assert.rejects(t.openSender({ remoteAddress: '127.0.0.1' }), /closed/);
  });
});

describe('NativeBfdTransport send side', () => {
  for (const fam of [
    { name: 'IPv4', opts: { ipv6Address: null }, local: '127.0.0.1', remote: '127.0.0.2' },
    { name: 'IPv6', opts: { ipv4Address: null }, local: '::1', remote: '::1' },
  ] as const) {
    test(`${fam.name}: a sender binds its local address and a port in 49152-65535 and sends with TTL 255 to the listen port`, async () => {
      const { t, rx, port } = await recorder(fam.opts);
      const s = await t.openSender({ remoteAddress: fam.remote, localAddress: fam.local });
      assert.ok(s.localPort >= BFD_SOURCE_PORT_MIN && s.localPort <= BFD_SOURCE_PORT_MAX, `source port ${s.localPort}`);
      s.send(Buffer.from('from-sender'));
      await until(() => rx.length === 1, 'the sender packet');
      // The listener drops anything below 255, so arriving at all proves the TTL.
      const { arrivalAt, ...meta } = rx[0]!.meta;
      assert.deepEqual(meta, { srcAddr: fam.local, srcPort: s.localPort, dstAddr: fam.remote, ttl: 255 });
      assert.equal(typeof arrivalAt, 'number');
      assert.equal(t.stats().droppedTtl, 0);
      assert.deepEqual(s.stats(), { sent: 1, errors: 0 });
      s.close();
      s.send(Buffer.from('after close'));
      assert.deepEqual(s.stats(), { sent: 1, errors: 1, lastError: 'sender closed' });
    });
  }

  test('a taken source port is skipped (EADDRINUSE retry); a full range is an error', async () => {
    const blocker = await udpSocket('127.0.0.1');
    const taken = blocker.address().port;
    const tr = new NativeBfdTransport({ listenPort: 0, ipv6Address: null, sourcePortMin: taken, sourcePortMax: taken + 1 });
    open.push(tr);
    for (let i = 0; i < 5; i++) {
      const s = await tr.openSender({ remoteAddress: '127.0.0.1', localAddress: '127.0.0.1' }).catch((e: Error) => e);
      if (s instanceof Error) {
        // taken+1 may belong to someone else on this machine; then both are taken.
        assert.match(s.message, /no free source port/);
        continue;
      }
      assert.equal(s.localPort, taken + 1);
      s.close();
    }
    const full = new NativeBfdTransport({ listenPort: 0, ipv6Address: null, sourcePortMin: taken, sourcePortMax: taken });
    open.push(full);
    await assert.rejects(full.openSender({ remoteAddress: '127.0.0.1', localAddress: '127.0.0.1' }), new RegExp(`no free source port in ${taken}-${taken}.*EADDRINUSE`));
  });

  test('send errors are counted, never thrown', async () => {
    const t = new NativeBfdTransport({ listenPort: 0, ipv6Address: null, remotePort: 3784 });
    open.push(t);
    // A local address that cannot reach the remote: the kernel refuses at send time.
    const s = await t.openSender({ remoteAddress: '192.0.2.1', localAddress: '127.0.0.1' });
    assert.doesNotThrow(() => s.send(Buffer.from('x')));
    const st = s.stats();
    assert.equal(st.sent + st.errors, 1);
    if (st.errors === 1) assert.match(st.lastError ?? '', /^E[A-Z]+$/);
  });

  test('invalid addresses are refused with the option named', async () => {
    const t = new NativeBfdTransport({ listenPort: 0 });
    open.push(t);
    await assert.rejects(t.openSender({ remoteAddress: 'nope' }), /invalid remoteAddress/);
    await assert.rejects(t.openSender({ remoteAddress: '::1', localAddress: '127.0.0.1' }), /invalid localAddress/);
    assert.throws(() => new NativeBfdTransport({ sourcePortMin: 70000 }), /invalid sourcePortMin/);
  });
});

test('two BfdManagers on native transports (127.0.0.1 / 127.0.0.2) come Up at 10 ms with no packet dropped for TTL', async () => {
  const ta = createBfdTransport({ listenPort: 0, ipv4Address: '127.0.0.1', ipv6Address: null });
  assert.ok(ta instanceof NativeBfdTransport);
  const a = new BfdManager({ transport: ta });
  await a.start();
  const port = ta.listeners()[0]!.port;
  const tb = new NativeBfdTransport({ listenPort: port, ipv4Address: '127.0.0.2', ipv6Address: null });
  const b = new BfdManager({ transport: tb });
  try {
    await b.start();
    await a.addSession({ instance: 'i', remoteIp: '127.0.0.2', sourceIp: '127.0.0.1', txIntervalUs: 10_000, multiplier: 3 });
    await b.addSession({ instance: 'i', remoteIp: '127.0.0.1', sourceIp: '127.0.0.2', txIntervalUs: 10_000, multiplier: 3 });
    await until(() => a.get('i', '127.0.0.2')?.stateName === 'Up' && b.get('i', '127.0.0.1')?.stateName === 'Up', 'both Up', 5000);
    // The native timer threads keep sending at 10 ms: more than ten packets in, none dropped.
    await until(() => ta.stats().delivered > 10, 'more than ten packets delivered');
    const s = a.get('i', '127.0.0.2')!;
    assert.equal(s.stateName, 'Up');
    assert.equal(s.lastRxFrom?.port, b.get('i', '127.0.0.1')!.localPort);
    assert.equal(s.counters.drops['bad-ttl'], 0);
    assert.ok(ta.stats().delivered > 10);
    assert.equal(ta.stats().droppedTtl, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

describe('process exit with a receive thread (and a periodic sender)', () => {
  for (const mode of ['close', 'exit', 'close-periodic', 'exit-periodic'] as const) {
    const what = `${mode.startsWith('close') ? 'close() and an empty event loop' : 'process.exit() without close()'}${mode.endsWith('periodic') ? ', periodic sender running' : ''}`;
    test(`${what}: the child ends at once with code 0`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
      clearTimeout(timer);
      assert.equal(signal, null, `the child hung and was killed; stderr: ${err}`);
      assert.equal(code, 0, `stderr: ${err}`);
      const line = JSON.parse(out.trim().split('\n')[0]!) as { event: string; stats: { received: number; delivered: number } };
      assert.equal(line.event, 'received');
      assert.equal(line.stats.delivered, 1);
    });
  }
});
