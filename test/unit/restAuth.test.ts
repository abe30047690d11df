// --api-token-file and --tls at the REST server: every request but GET
// /status needs the token (constant-time check, loxilb's 401 Error model),
// on the HTTP and the HTTPS listener alike; a refused request reaches nothing
// in the agent; GET /status without the token says only whether the agent
// is up.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RestServer, type RestServerOptions } from '../../src/api/RestServer.ts';
import { AUTH_FAILED_MESSAGE, AuthError, BearerToken, isOpenRequest } from '../../src/api/apiAuth.ts';
import { FaultRegistry } from '../../src/util/faults.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeAgent } from './fixtures/FakeAgentApi.ts';

const TOKEN = 'c2VjcmV0LXRva2VuLWZvci10ZXN0cw-0123456789';

test('BearerToken: the right token passes as "Bearer <token>" (any case) or bare; anything else is an AuthError', () => {
  const t = new BearerToken(TOKEN);
  t.check(`Bearer ${TOKEN}`);
  t.check(`bearer ${TOKEN}`);
  t.check(`BEARER \t${TOKEN} `);
  t.check(TOKEN);
  const refused = (h: string | string[] | undefined, result: RegExp) =>
    assert.throws(
      () => t.check(h),
      (e: unknown) => e instanceof AuthError && e.status === 401 && e.message === AUTH_FAILED_MESSAGE && result.test(e.result),
    );
  refused(undefined, /authorization required/);
  refused('', /authorization required/);
  refused('Bearer', /invalid token/);
  refused('Bearer ', /invalid token/);
  refused(`Bearer ${TOKEN}x`, /invalid token/);
  refused(`Bearer ${TOKEN.slice(0, -1)}`, /invalid token/, );
  refused(`Bearer ${'x'.repeat(10_000)}`, /invalid token/);
  refused(`Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, /invalid token/);
  refused([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`], /invalid token/);
  assert.equal(t.accepts(`Bearer ${TOKEN}`), true);
  assert.equal(t.accepts('Bearer nope'), false);
  assert.throws(() => new BearerToken(''), /must not be empty/);
});

test('isOpenRequest: only GET and HEAD of /netlox/v1/status', () => {
  assert.equal(isOpenRequest('GET', '/netlox/v1/status'), true);
  assert.equal(isOpenRequest('HEAD', '/netlox/v1/status'), true);
  assert.equal(isOpenRequest('POST', '/netlox/v1/status'), false);
  assert.equal(isOpenRequest('GET', '/netlox/v1/status/process'), false);
  assert.equal(isOpenRequest('GET', '/netlox/v1/config/loadbalancer/all'), false);
  assert.equal(isOpenRequest('GET', '/netlox/v1//status'), false, 'a path the router folds to /status still needs the token');
  assert.equal(isOpenRequest('GET', '/netlox/v1/%73tatus'), false);
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

function request(base: string, method: string, p: string, opts: { token?: string; header?: string; body?: unknown; ca?: Buffer } = {}): Promise<Reply> {
  const headers: http.OutgoingHttpHeaders = {};
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.header !== undefined) headers.Authorization = opts.header;
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  const url = new URL(`${base}${p}`);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, agent: false, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const RULE = { serviceArguments: { externalIP: '10.0.0.1', port: 80, protocol: 'tcp' }, endpoints: [{ endpointIP: '10.1.0.1', targetPort: 8080, weight: 1 }] };

async function withServer(opts: RestServerOptions, fn: (s: { server: RestServer; agent: FakeAgent; base: string }) => Promise<void>): Promise<void> {
  const agent = new FakeAgent();
  const server = new RestServer(agent, silentLogger, { faults: new FaultRegistry(), ...opts });
  await server.listen('127.0.0.1', 0);
  try {
    await fn({ server, agent, base: `http://127.0.0.1:${server.address()!.port}/netlox/v1` });
  } finally {
    await server.close();
  }
}

test('with a token: no token, a wrong one and one of the wrong length get 401 in loxilb\'s Error model and reach nothing', async () => {
  await withServer({ token: TOKEN }, async ({ server, agent, base }) => {
    for (const opts of [{}, { token: 'wrong-token-of-some-length' }, { token: `${TOKEN}-longer` }, { token: TOKEN.slice(1) }, { header: `Basic ${TOKEN}` }]) {
      const r = await request(base, 'POST', '/config/loadbalancer', { ...opts, body: RULE });
      assert.equal(r.status, 401, JSON.stringify(opts));
      assert.equal(r.body.code, 401);
      assert.equal(r.body.message, 'Invalid authentication credentials');
      assert.equal(typeof r.body.result, 'string');
      assert.equal(r.body.fields, null);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="loxilb"');
      assert.equal(r.headers.connection, 'close');
    }
    assert.match((await request(base, 'GET', '/config/loadbalancer/all')).body.result, /authorization required/);
    assert.match((await request(base, 'GET', '/config/loadbalancer/all', { token: 'nope' })).body.result, /invalid token/);
    assert.equal((await request(base, 'DELETE', '/config/loadbalancer/all')).status, 401);
    assert.equal((await request(base, 'GET', '/config/cistate/all')).status, 401);
    assert.equal((await request(base, 'GET', '/no/such/path')).status, 401, 'no route discovery without the token');
    assert.deepEqual(agent.calls, [], 'nothing reached the agent');
    assert.equal(server.stats().security.unauthorized, 10);

    const ok = await request(base, 'POST', '/config/loadbalancer', { token: TOKEN, body: RULE });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body, { result: 'Success' });
    assert.equal((await request(base, 'GET', '/config/loadbalancer/all', { header: TOKEN })).status, 200, 'the bare token (loxilb loxicmd --token) is accepted');
    assert.equal(agent.rules.length, 1);
  });
});

test('with a token: GET /status answers without it, but only status, mode and uptime', async () => {
  await withServer({ token: TOKEN }, async ({ server, base }) => {
    const open = await request(base, 'GET', '/status');
    assert.equal(open.status, 200);
    assert.deepEqual(open.body, { status: 'ok', mode: 'lb', uptimeSeconds: 1 });
    const full = await request(base, 'GET', '/status', { token: TOKEN });
    assert.equal(full.status, 200);
    assert.equal(full.body.rules, 0);
    assert.ok(full.body.bgp);
    assert.equal((await request(base, 'GET', '/status', { token: 'wrong-token-wrong-token' })).body.rules, undefined, 'a wrong token gets the health answer too');
    assert.equal((await request(base, 'POST', '/status')).status, 401);
    server.beginShutdown();
    const stopping = await request(base, 'GET', '/status');
    assert.equal(stopping.status, 503);
    assert.deepEqual(Object.keys(stopping.body).sort(), ['mode', 'status', 'uptimeSeconds']);
  });
});

test('without a token every request is served, as in loxilb', async () => {
  await withServer({}, async ({ server, base }) => {
    assert.equal((await request(base, 'POST', '/config/loadbalancer', { body: RULE })).status, 200);
    assert.equal((await request(base, 'GET', '/status')).body.rules, 1);
    assert.deepEqual(server.stats().security, { token: false, unauthorized: 0, tlsHandshakeFailures: 0 });
  });
});

test('an OPTIONS preflight from the allowed origin needs no token (browsers send none)', async () => {
  await withServer({ token: TOKEN, corsOrigin: 'https://ui.example.com' }, async ({ base }) => {
    const pre = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}/config/loadbalancer`, { method: 'OPTIONS', headers: { Origin: 'https://ui.example.com', 'Access-Control-Request-Method': 'POST' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(pre, 200);
  });
});

describe('the HTTPS listener', () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  let otherCa: Buffer;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-restauth-'));
    const selfSigned = (name: string) =>
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`)], { stdio: 'ignore' });
    selfSigned('server');
    selfSigned('other');
    cert = readFileSync(path.join(dir, 'server.crt'));
    key = readFileSync(path.join(dir, 'server.key'));
    otherCa = readFileSync(path.join(dir, 'other.crt'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the same API with the same token check, TLS 1.2 at least; the wrong CA fails the handshake', async () => {
    await withServer({ token: TOKEN, tls: { cert, key } }, async ({ server, agent }) => {
      await server.listenTls('127.0.0.1', 0);
      const base = `https://127.0.0.1:${server.tlsAddress()!.port}/netlox/v1`;
      assert.equal((await request(base, 'POST', '/config/loadbalancer', { ca: cert, body: RULE })).status, 401);
      assert.equal((await request(base, 'POST', '/config/loadbalancer', { ca: cert, token: TOKEN, body: RULE })).status, 200);
      assert.equal(agent.rules.length, 1);
      assert.deepEqual((await request(base, 'GET', '/status', { ca: cert })).body, { status: 'ok', mode: 'lb', uptimeSeconds: 1 });
      await assert.rejects(request(base, 'GET', '/status', { ca: otherCa }), (e: NodeJS.ErrnoException) => /self[- ]signed|unable to verify|SELF_SIGNED/i.test(`${e.code} ${e.message}`));
      // TLS 1.1 is refused.
      await assert.rejects(
        new Promise((resolve, reject) => {
          const req = https.request(`${base}/status`, { ca: cert, agent: false, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, resolve);
          req.on('error', reject);
          req.end();
        }),
      );
      const st = server.stats();
      assert.deepEqual(st.security.https, server.tlsAddress());
      assert.ok(st.security.tlsHandshakeFailures >= 1);
      assert.equal(st.security.unauthorized, 1);
    });
  });

  it('HTTPS connections count against the same caps: past the per-client share the TCP connection is closed before any handshake', async () => {
    await withServer({ tls: { cert, key }, limits: { maxConnectionsPerClient: 2 } }, async ({ server }) => {
      await server.listenTls('127.0.0.1', 0);
      const port = server.tlsAddress()!.port;
      const open = () => {
        const t = tls.connect({ host: '127.0.0.1', port, ca: cert });
        t.on('error', () => undefined);
        return t;
      };
      const a = open();
      const b = open();
      await Promise.all([once(a, 'secureConnect'), once(b, 'secureConnect')]);
      const c = open();
      // events.once would reject on the 'error' the client reports; only the close matters.
      await new Promise((resolve) => c.on('close', resolve));
      assert.equal(c.authorized, false, 'the third never got a handshake');
      const st = server.stats();
      assert.equal(st.refused.perClient, 1);
      assert.equal(st.connections, 2);
      // The two admitted ones are served.
      a.write('GET /netlox/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      let text = '';
      a.on('data', (d: Buffer) => (text += d.toString()));
      await once(a, 'close');
      assert.match(text, /^HTTP\/1\.1 200 /);
      b.destroy();
    });
  });

  it('a TCP connection to the HTTPS port that never shakes hands is closed after the idle limit', async () => {
    const clock = new ManualClock(1000);
    await withServer({ tls: { cert, key }, clock, limits: { idleTimeoutMs: 5000 } }, async ({ server }) => {
      await server.listenTls('127.0.0.1', 0);
      const silent = net.connect({ host: '127.0.0.1', port: server.tlsAddress()!.port });
      silent.on('error', () => undefined);
      await once(silent, 'connect');
      const closed = once(silent, 'close');
      while (server.stats().connections < 1) await new Promise((r) => setImmediate(r));
      clock.advance(4000);
      assert.equal(silent.destroyed, false);
      clock.advance(2000);
      await closed;
      assert.equal(server.stats().idleClosed, 1);
    });
  });

  it('listenTls without a certificate is refused, naming the flags', async () => {
    await withServer({}, async ({ server }) => {
      await assert.rejects(server.listenTls('127.0.0.1', 0), /--tls-certificate, --tls-key/);
    });
  });
});
