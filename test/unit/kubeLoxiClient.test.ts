import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { LoxiApiError, LoxiClient, LoxiTransportError, isRetryable } from '../../src/kube/LoxiClient.ts';
import type { RuleRef } from '../../src/kube/planRules.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import { FakeLoxiAgent } from '../lab/FakeLoxiAgent.ts';

const rule: LbRule = {
  serviceArguments: { externalIP: '123.123.123.1', port: 80, protocol: 'tcp', sel: 0, bgp: false, monitor: false, mode: 0, block: 0, managed: true, name: 'default_web:llb-inst0' },
  endpoints: [{ endpointIP: '10.0.0.1', targetPort: 30080, weight: 1 }],
  secondaryIPs: [],
  allowedSources: [],
};

let fake: FakeLoxiAgent;
let client: LoxiClient;

before(async () => {
  fake = await FakeLoxiAgent.start();
  client = new LoxiClient(fake.url, { healthTimeoutMs: 300, requestTimeoutMs: 300 });
});
after(async () => {
  client.close();
  await fake.close();
});

test('health: any HTTP answer is alive (with our uptime when given); no answer is down', async () => {
  const h = await client.health();
  assert.equal(h.alive, true);
  assert.equal(h.httpStatus, 200);
  assert.equal(h.uptimeSeconds, 0);

  // A real loxilb has no /status: a 404 still proves it is there.
  const real = await FakeLoxiAgent.start({ statusCode: 404 });
  const c = new LoxiClient(real.url, { healthTimeoutMs: 300 });
  assert.deepEqual(await c.health(), { alive: true, httpStatus: 404 });
  await real.die();
  const down = await c.health();
  assert.equal(down.alive, false);
  assert.match(down.error!, /ECONNREFUSED/);
  c.close();
});

test('health and calls time out on a hung agent', async () => {
  fake.hang = true;
  try {
    const t0 = Date.now();
    const h = await client.health();
    assert.equal(h.alive, false);
    assert.match(h.error!, /no answer within 300 ms/);
    assert.ok(Date.now() - t0 < 2000);
    await assert.rejects(client.listRules(), (e: unknown) => e instanceof LoxiTransportError && e.timedOut && isRetryable(e));
  } finally {
    fake.hang = false;
  }
});

test('rules: post, an identical post is success, list, delete, delete again is success', async () => {
  assert.equal(await client.postRule(rule), 'applied');
  assert.equal(await client.postRule(rule), 'existed');
  const list = await client.listRules();
  assert.equal(list.length, 1);
  // By the planner's typed reference: the client makes the path, bgp and block in the query.
  const ref: RuleRef = { externalIP: '123.123.123.1', port: 80, protocol: 'tcp', block: 0, bgp: false, name: 'default_web:llb-inst0' };
  assert.equal(await client.deleteRule(ref), 'deleted');
  assert.equal(await client.deleteRule(ref), 'absent');
  const del = fake.callsTo('DELETE', '/config/loadbalancer/');
  assert.deepEqual(del.map((c) => [c.path, c.query.get('bgp'), c.query.get('block')]), Array(2).fill(['/netlox/v1/config/loadbalancer/externalipaddress/123.123.123.1/port/80/protocol/tcp', 'false', '0']));
  assert.deepEqual(await client.listRules(), []);
});

test('errors carry the HTTP status and the agent message; 4xx is not retryable, 5xx is', async () => {
  fake.fail('POST', '/config/loadbalancer', 400, 'malformed arguments: endpoints');
  await assert.rejects(client.postRule(rule), (e: unknown) => {
    assert.ok(e instanceof LoxiApiError);
    assert.equal(e.status, 400);
    assert.equal(e.agentMessage, 'malformed arguments: endpoints');
    assert.match(e.message, /POST \/netlox\/v1\/config\/loadbalancer: HTTP 400: malformed/);
    assert.equal(isRetryable(e), false);
    return true;
  });
  // A 409 that is not lbrule-exists (loxilb's "cant modify") is a failure.
  fake.fail('POST', '/config/loadbalancer', 409, 'cant modify lb rule');
  await assert.rejects(client.postRule(rule), (e: unknown) => e instanceof LoxiApiError && e.status === 409);
  fake.fail('GET', '/config/loadbalancer/all', 503, 'netrpc call timeout');
  await assert.rejects(client.listRules(), (e: unknown) => e instanceof LoxiApiError && e.status === 503 && isRetryable(e));
});

test("loxilb's HTTP 200 with an Error result is an error", async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ result: 'Error: Only Hash Selection criteria allowed for DSR mode' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = new LoxiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  try {
    await assert.rejects(c.postRule(rule), (e: unknown) => e instanceof LoxiApiError && e.status === 200 && /Only Hash/.test(e.agentMessage));
  } finally {
    c.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('CI states and BGP: bodies as loxilb takes them; neighbour delete sends remoteAs', async () => {
  await client.setCiState({ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
  assert.deepEqual(await client.listCiStates(), [{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
  await client.setBgpGlobal({ routerId: '10.0.0.1', localAs: 64512, setNextHopSelf: true, listenPort: 179 });
  assert.deepEqual(fake.bgpGlobal, { routerId: '10.0.0.1', localAs: 64512, setNextHopSelf: true, listenPort: 179 });
  const n = { ipAddress: '10.0.0.2', remoteAs: 64512, remotePort: 179, setMultiHop: false };
  assert.equal(await client.addBgpNeighbor(n), 'applied');
  assert.equal(await client.addBgpNeighbor(n), 'existed');
  assert.deepEqual(await client.listBgpNeighbors(), [{ ipAddress: '10.0.0.2', remoteAs: 64512, state: 'ACTIVE', updowntime: 'never' }]);
  assert.equal(await client.deleteBgpNeighbor(n), 'deleted');
  assert.equal(fake.callsTo('DELETE', '/config/bgp/neigh/10.0.0.2').at(-1)?.query.get('remoteAs'), '64512');
  assert.equal(await client.deleteBgpNeighbor(n), 'absent');
});

test('a closed client fails fast with a transport error', async () => {
  const c = new LoxiClient(fake.url);
  c.close();
  await assert.rejects(c.listRules(), (e: unknown) => e instanceof LoxiTransportError && e.reason === 'client closed');
  assert.equal((await c.health()).alive, false);
});

test('calls share a keep-alive connection; one the agent dropped is retried on a fresh connection', async () => {
  // Answers every request with {} and keeps the connection, except that the
  // second request on the first connection is met with a reset: what a
  // client sees when it reuses a pooled socket the agent (or its restart) closed.
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    const first = sockets.length === 1;
    let requests = 0;
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        requests++;
        if (first && requests === 2) {
          sock.resetAndDestroy();
          return;
        }
        sock.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = new LoxiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { requestTimeoutMs: 2000 });
  try {
    await c.setCiState({ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
    assert.equal(sockets.length, 1);
    // The reset on the pooled connection is not an error: the call is made again on a new one.
    await c.setCiState({ instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' });
    assert.equal(sockets.length, 2);
    assert.deepEqual(await c.listCiStates(), []);
  } finally {
    c.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});
