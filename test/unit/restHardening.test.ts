// The REST server against hostile clients: connection caps (total, per
// client, near the descriptor limit), idle connections, oversized requests,
// CORS and foreign origins, and the answers while the agent shuts down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { RestServer, clientKey, type RestServerOptions } from '../../src/api/RestServer.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { FaultRegistry } from '../../src/util/faults.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeAgent } from './fixtures/FakeAgentApi.ts';

async function withServer(opts: RestServerOptions, fn: (s: { server: RestServer; agent: FakeAgent; port: number; base: string }) => Promise<void>): Promise<void> {
  const agent = new FakeAgent();
  const server = new RestServer(agent, silentLogger, { faults: new FaultRegistry(), ...opts });
  await server.listen('127.0.0.1', 0);
  const port = server.address()!.port;
  try {
    await fn({ server, agent, port, base: `http://127.0.0.1:${port}/netlox/v1` });
  } finally {
    await server.close();
  }
}

/** A raw TCP connection from a loopback source address of our choosing (all of 127/8 is local). */
async function connect(port: number, from = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress: from });
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** Everything the server sends until it closes the connection. */
async function readToClose(s: net.Socket): Promise<string> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  if (!s.destroyed) await once(s, 'close');
  return Buffer.concat(chunks).toString();
}

function get(s: net.Socket, path: string, headers: Record<string, string> = {}): Promise<string> {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  s.write(`GET /netlox/v1${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`);
  return readToClose(s);
}

test('clientKey: IPv4 by address, IPv4-mapped as IPv4, IPv6 by /64', () => {
  assert.equal(clientKey('10.1.2.3'), '10.1.2.3');
  assert.equal(clientKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(clientKey('fd00:1:2:3:aaaa::1'), 'fd00:1:2:3::/64');
  assert.equal(clientKey('fd00:1:2:3:bbbb::9'), 'fd00:1:2:3::/64');
  assert.equal(clientKey(undefined), '?');
});

test('one client holds at most its share; others are still served, and /status counts the refusals', async () => {
  await withServer({ limits: { maxConnectionsPerClient: 3 } }, async ({ server, port }) => {
    const hog = await Promise.all([1, 2, 3].map(() => connect(port, '127.0.0.9')));
    const fourth = await connect(port, '127.0.0.9');
    const refused = await readToClose(fourth);
    assert.match(refused, /^HTTP\/1\.1 503 /);
    assert.match(refused, /too many connections from this client \(at most 3\)/);
    // Another client is served while the first holds its three.
    const other = await connect(port, '127.0.0.10');
    assert.match(await get(other, '/status'), /^HTTP\/1\.1 200 /);
    const st = server.stats();
    assert.equal(st.refused.perClient, 1);
    assert.equal(st.connections, 3);
    assert.equal(st.clients, 1);
    for (const s of hog) s.destroy();
  });
});

test('at the total cap an idle connection makes room; with every connection busy the newcomer gets 503', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  await withServer({ limits: { maxConnections: 3, maxConnectionsPerClient: 100 } }, async ({ server, agent, port }) => {
    const idle = await Promise.all([1, 2, 3].map((i) => connect(port, `127.0.1.${i}`)));
    const closed = idle.map((s) => once(s, 'close'));
    // A fourth client: the longest-idle connection is closed for it.
    const c4 = await connect(port, '127.0.1.4');
    await closed[0];
    assert.match(await get(c4, '/status'), /^HTTP\/1\.1 200 /);
    for (const s of idle) s.destroy();
    await Promise.all(closed);

    // Now three requests that do not finish: nothing may be evicted.
    let started = 0;
    agent.deleteAllLbRules = async () => {
      started++;
      await gate;
      return 0;
    };
    const busy = await Promise.all([1, 2, 3].map((i) => connect(port, `127.0.2.${i}`)));
    for (const s of busy) s.write('DELETE /netlox/v1/config/loadbalancer/all HTTP/1.1\r\nHost: x\r\n\r\n');
    while (started < 3) await new Promise((r) => setImmediate(r));
    const late = await connect(port, '127.0.2.9');
    assert.match(await readToClose(late), /^HTTP\/1\.1 503 [\s\S]*too many connections \(at most 3\)/);
    assert.equal(server.stats().refused.total, 1);
    release();
    for (const s of busy) s.destroy();
  });
});

test('the connection cap is at most half the descriptor limit, and near the limit connections are refused', async () => {
  let open = 10;
  const clock = new ManualClock(1000);
  await withServer({ clock, fdLimit: 200, countFds: () => open }, async ({ server, port }) => {
    assert.equal(server.stats().maxConnections, 100);
    const ok = await connect(port);
    assert.match(await get(ok, '/status'), /^HTTP\/1\.1 200 /);
    // 200 - 180 = 20 left, under the reserve (max(32, 200/8)): refused, whatever the caps say.
    open = 180;
    clock.advance(600); // the gauge counts descriptors at most every 500 ms
    const s = await connect(port);
    assert.match(await readToClose(s), /^HTTP\/1\.1 503 [\s\S]*short of file descriptors/);
    assert.equal(server.stats().refused.fdPressure, 1);
    assert.deepEqual(server.stats().fds, { open: 180, limit: 200 });
  });
});

test('a connection that never sends a byte, or idles after a request, is closed after the idle limit', async () => {
  const clock = new ManualClock(1000);
  await withServer({ clock, limits: { idleTimeoutMs: 5000 } }, async ({ server, port }) => {
    const silent = await connect(port);
    const closed = once(silent, 'close');
    while (server.stats().connections < 1) await new Promise((r) => setImmediate(r));
    clock.advance(4000);
    assert.equal(silent.destroyed, false);
    clock.advance(2000);
    await closed;
    assert.equal(server.stats().idleClosed, 1);
  });
});

test('bodies past the limit get 413 and the connection is closed; oversized headers get 431', async () => {
  await withServer({ limits: { maxBodyBytes: 1000, maxHeaderBytes: 2048 } }, async ({ agent, port }) => {
    const s = await connect(port);
    // Declared far beyond the limit: answered at once, nothing is read.
    s.write('POST /netlox/v1/config/loadbalancer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n');
    const r = await readToClose(s);
    assert.match(r, /^HTTP\/1\.1 413 [\s\S]*Connection: close[\s\S]*at most 1000 bytes/i);
    // Chunked, growing past the limit.
    const c = await connect(port);
    c.write('POST /netlox/v1/config/loadbalancer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    c.write(`7d0\r\n${'x'.repeat(2000)}\r\n0\r\n\r\n`);
    assert.match(await readToClose(c), /^HTTP\/1\.1 413 /);
    const h = await connect(port);
    h.write(`GET /netlox/v1/status HTTP/1.1\r\nHost: x\r\nX-Junk: ${'j'.repeat(4000)}\r\n\r\n`);
    assert.match(await readToClose(h), /^HTTP\/1\.1 431 /);
    assert.deepEqual(agent.calls, []);
  });
});

test('no CORS by default: a foreign Origin is refused before it reaches the agent, with no CORS headers', async () => {
  await withServer({}, async ({ agent, base }) => {
    for (const [method, path] of [['DELETE', '/config/loadbalancer/all'], ['POST', '/config/cistate'], ['GET', '/config/loadbalancer/all']] as const) {
      const res = await fetch(base + path, { method, headers: { Origin: 'http://evil.example', 'Content-Type': 'text/plain' }, body: method === 'POST' ? '{"instance":"llb-inst0","state":"MASTER"}' : undefined });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.match(((await res.json()) as { message: string }).message, /cross-origin request refused: Origin http:\/\/evil\.example is not allowed \(CORS is off; see --cors-origin\)/);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    }
    const pre = await fetch(`${base}/config/loadbalancer/all`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'DELETE' } });
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.equal(pre.headers.get('access-control-allow-methods'), null);
    assert.deepEqual(agent.calls, []);
    // Clients without Origin (curl, kube-loxilb, loxicmd) are unaffected.
    assert.equal((await fetch(`${base}/config/loadbalancer/all`, { method: 'DELETE' })).status, 200);
  });
});

test('--cors-origin: that origin alone gets CORS headers and a preflight answer', async () => {
  const ui = 'https://ui.example:8443';
  await withServer({ corsOrigin: ui }, async ({ agent, base }) => {
    const pre = await fetch(`${base}/config/loadbalancer/all`, { method: 'OPTIONS', headers: { Origin: ui, 'Access-Control-Request-Method': 'DELETE' } });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers.get('access-control-allow-origin'), ui);
    assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, POST, DELETE, OPTIONS');
    assert.equal(pre.headers.get('vary'), 'Origin');
    const del = await fetch(`${base}/config/loadbalancer/all`, { method: 'DELETE', headers: { Origin: ui } });
    assert.equal(del.status, 200);
    assert.equal(del.headers.get('access-control-allow-origin'), ui);
    const other = await fetch(`${base}/config/loadbalancer/all`, { method: 'OPTIONS', headers: { Origin: 'https://ui.example' } });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const otherDel = await fetch(`${base}/config/loadbalancer/all`, { method: 'DELETE', headers: { Origin: 'null' } });
    assert.equal(otherDel.status, 403);
    assert.equal(agent.calls.length, 1);
  });
});

test('while shutting down, /status answers 503 with the status and every other request 503', async () => {
  await withServer({}, async ({ server, agent, base }) => {
    server.beginShutdown();
    const st = await fetch(`${base}/status`);
    assert.equal(st.status, 503);
    assert.equal(st.headers.get('connection'), 'close');
    assert.equal(((await st.json()) as { mode: string }).mode, 'lb');
    const del = await fetch(`${base}/config/loadbalancer/all`, { method: 'DELETE' });
    assert.equal(del.status, 503);
    assert.match(((await del.json()) as { message: string }).message, /shutting down/);
    assert.deepEqual(agent.calls, []);
  });
});
