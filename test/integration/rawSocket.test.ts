// RawSocket over loopback, with IP protocol 253 (RFC 3692, for experiments)
// so no SCTP user on this machine sees our packets. Needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { RawSocket, type RawPacket } from '../../src/net/RawSocket.ts';
import { waitFor } from '../lab/wait.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROTO = 253;

function collect(): { packets: RawPacket[]; on: (p: RawPacket) => void } {
  const packets: RawPacket[] = [];
  return { packets, on: (p) => packets.push(p) };
}

test('IPv4: payload without the IP header, addresses, TTL, chosen source', async () => {
  const rx = collect();
  const sock = RawSocket.open(4, PROTO, rx.on);
  try {
    const tag = `v4-${process.pid}-${Date.now()}`;
    assert.equal(sock.send('127.0.0.1', Buffer.from(`${tag}-a`)), undefined);
    assert.equal(sock.send('127.0.0.1', Buffer.from(`${tag}-b`), { src: '127.0.0.2' }), undefined);
    const mine = () => rx.packets.filter((p) => p.payload.toString().startsWith(tag));
    await waitFor(() => mine().length === 2, { timeoutMs: 5000, what: 'both packets back' });
    const [a, b] = mine();
    assert.deepEqual([a!.payload.toString(), a!.src, a!.dst, a!.ttl], [`${tag}-a`, '127.0.0.1', '127.0.0.1', 64]);
    assert.deepEqual([b!.payload.toString(), b!.src, b!.dst], [`${tag}-b`, '127.0.0.2', '127.0.0.1']);
    assert.ok(a!.ifindex > 0, 'arrival interface (lo)');
    // A source that is not local is refused by the kernel, not thrown.
    assert.equal(typeof sock.send('127.0.0.1', Buffer.from('x'), { src: '192.0.2.1' }), 'string');
    assert.throws(() => sock.send('::1', Buffer.from('x')), /not an IPv4 address/);
    assert.ok(sock.stats().delivered >= 2);
  } finally {
    sock.close();
  }
  sock.close();
  assert.equal(sock.send('127.0.0.1', Buffer.from('x')), 'ERR_SOCKET_CLOSED');
});

test('IPv6: payload, addresses, hop limit, large payloads', async () => {
  const rx = collect();
  const sock = RawSocket.open(6, PROTO, rx.on);
  try {
    const tag = `v6-${process.pid}-${Date.now()}`;
    const big = Buffer.concat([Buffer.from(tag), Buffer.alloc(30_000, 0x5a)]);
    assert.equal(sock.send('::1', Buffer.from(tag), { src: '::1' }), undefined);
    assert.equal(sock.send('::1', big), undefined);
    const mine = () => rx.packets.filter((p) => p.payload.subarray(0, tag.length).toString() === tag);
    await waitFor(() => mine().length === 2, { timeoutMs: 5000, what: 'both packets back' });
    const [a, b] = mine();
    assert.deepEqual([a!.payload.toString(), a!.src, a!.dst], [tag, '::1', '::1']);
    assert.ok(a!.ttl > 0);
    assert.deepEqual(b!.payload, big);
  } finally {
    sock.close();
  }
});

test('a handler that throws is counted and the socket keeps delivering', async () => {
  let n = 0;
  const errors: unknown[] = [];
  const sock = RawSocket.open(
    4,
    PROTO,
    (p) => {
      if (!p.payload.toString().startsWith(`thrower-${process.pid}`)) return;
      n++;
      if (n === 1) throw new Error('boom');
    },
    { onHandlerError: (e) => errors.push(e) },
  );
  try {
    sock.send('127.0.0.1', Buffer.from(`thrower-${process.pid}-1`));
    await waitFor(() => n === 1, { timeoutMs: 5000 });
    sock.send('127.0.0.1', Buffer.from(`thrower-${process.pid}-2`));
    await waitFor(() => n === 2, { timeoutMs: 5000 });
    assert.equal(sock.stats().handlerErrors, 1);
    assert.equal((errors[0] as Error).message, 'boom');
  } finally {
    sock.close();
  }
});

test('without CAP_NET_RAW the error says root is needed', async () => {
  const script = `
    import { RawSocket } from ${JSON.stringify(path.join(root, 'src/net/RawSocket.ts'))};
    try { RawSocket.open(4, ${PROTO}, () => {}); console.log('opened'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
  const { stdout } = await promisify(execFile)('setpriv', ['--bounding-set', '-net_raw', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    timeout: 30_000,
  });
  assert.match(stdout, /^EPERM raw socket \(IPv4, protocol 253\) needs root \(CAP_NET_RAW\)/);
});

test('a socket opened with ref: false lets the process exit while it is open; close() lets a default one exit', async () => {
  const script = (ref: string) => `
    import { RawSocket } from ${JSON.stringify(path.join(root, 'src/net/RawSocket.ts'))};
    const s = RawSocket.open(4, ${PROTO}, () => {}, { ref: ${ref} });
    if (${ref}) setTimeout(() => { s.close(); console.log('closed'); }, 100);
    else console.log('left open');`;
  const run = (ref: string) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(ref)], { cwd: root, timeout: 30_000 });
  assert.equal((await run('false')).stdout.trim(), 'left open');
  assert.equal((await run('true')).stdout.trim(), 'closed');
});

test('bad arguments are TypeErrors / RangeErrors', () => {
  assert.throws(() => RawSocket.open(5 as 4, PROTO, () => {}), /family must be 4 or 6/);
  assert.throws(() => RawSocket.open(4, 0, () => {}), /protocol must be/);
  assert.throws(() => RawSocket.open(4, 255, () => {}), /protocol must be/);
  const sock = RawSocket.open(4, PROTO, () => {});
  try {
    assert.throws(() => sock.send('127.0.0.1', Buffer.alloc(65516)), /longer than an IP datagram/);
  } finally {
    sock.close();
  }
});
