// Fuzzing the REST edge: random bodies into every validator and every POST
// route, random paths and methods, plus a corpus of the inputs that broke or
// could break a node. The server must answer every one with a 2xx/4xx (never
// 500, never a crash), and the agent may only ever see validated values.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import fc from 'fast-check';
import { RestServer } from '../../src/api/RestServer.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';
import { parseCiState } from '../../src/ha/validateCiState.ts';
import { parseBgpGlobal, parseBgpNeighbor } from '../../src/bgp/validateBgpConfig.ts';
import { parseBfdSession } from '../../src/bfd/validateBfdConfig.ts';
import { ApiError } from '../../src/util/errors.ts';
import { normalizeIp } from '../../src/util/ipAddress.ts';
import { FaultRegistry } from '../../src/util/faults.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeAgent } from './fixtures/FakeAgentApi.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 500);

// JSON-ish values, biased towards the field names and shapes the validators look at.
const FIELD_NAMES = [
  'serviceArguments', 'endpoints', 'secondaryIPs', 'allowedSources', 'externalIP', 'port', 'portMax', 'protocol', 'sel', 'mode',
  'endpointIP', 'targetPort', 'weight', 'prefix', 'instance', 'state', 'vip', 'routerId', 'localAs', 'ipAddress', 'remoteAs',
  'bfd', 'interval', 'retryCount', 'remoteIp', 'sourceIp', 'authType', 'keyId', 'keyFile', '__proto__', 'constructor', 'EXTERNALIP',
];
const scalar = fc.oneof(
  fc.constantFrom('10.0.0.1', '999.0.4.51', '::1', 'fd00::1%eth0', '1.2.3', '0x7f.1', '', 'tcp', 'udp', 'MASTER', 'keyed-sha1', '/etc/shadow', '../x', 'a\u0000b'),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.constantFrom(0, -1, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 1e308, Number.MAX_SAFE_INTEGER + 2, 0.5),
  fc.boolean(),
  fc.constant(null),
);
const { value: jsonish } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 6 }),
  ),
}));
/** A plausible rule with some fields replaced by anything. */
const mutatedRule = fc.record({
  serviceArguments: fc.oneof(
    fc.record({ externalIP: fc.oneof(scalar, fc.constant('10.1.1.1')), port: fc.oneof(scalar, fc.constant(80)), protocol: fc.oneof(scalar, fc.constant('tcp')), sel: scalar, mode: scalar, name: scalar }, { requiredKeys: [] }),
    jsonish,
  ),
  endpoints: fc.oneof(fc.array(fc.record({ endpointIP: scalar, targetPort: scalar, weight: scalar }, { requiredKeys: [] }), { maxLength: 40 }), jsonish),
  secondaryIPs: fc.oneof(fc.array(fc.record({ secondaryIP: scalar }), { maxLength: 4 }), jsonish),
  allowedSources: fc.oneof(fc.array(fc.record({ prefix: scalar }), { maxLength: 4 }), jsonish),
}, { requiredKeys: [] });

/** Throws unless `fn` returns or throws a 4xx ApiError. */
function onlyValidationErrors<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    assert.ok(e instanceof ApiError && e.status >= 400 && e.status < 500, `not a 4xx ApiError: ${String(e)}`);
    assert.ok(e.message.length < 600, 'errors stay short whatever the input');
    return undefined;
  }
}

const canonical = (ip: unknown) => typeof ip === 'string' && normalizeIp(ip) === ip;

test('validators: random bodies give a valid value or a 4xx naming a field, never anything else', () => {
  fc.assert(
    fc.property(fc.oneof(jsonish, mutatedRule), (body) => {
      const r = onlyValidationErrors(() => parseLbRule(body));
      if (r) {
        assert.ok(canonical(r.serviceArguments.externalIP));
        assert.ok(Number.isSafeInteger(r.serviceArguments.port) && r.serviceArguments.port >= 0 && r.serviceArguments.port <= 65535);
        assert.ok(Array.isArray(r.endpoints) && r.endpoints.length <= 32);
        for (const ep of r.endpoints) assert.ok(canonical(ep.endpointIP));
        assert.ok(r.endpoints.reduce((s, e) => s + e.weight, 0) <= 100);
        // Normalised: validating again changes nothing.
        assert.deepEqual(parseLbRule(r), r);
      }
      const ci = onlyValidationErrors(() => parseCiState(body));
      if (ci) assert.ok(canonical(ci.vip));
      onlyValidationErrors(() => parseBgpGlobal(body));
      const n = onlyValidationErrors(() => parseBgpNeighbor(body));
      if (n) assert.ok(canonical(n.ipAddress));
      const b = onlyValidationErrors(() => parseBfdSession(body));
      if (b) assert.ok(canonical(b.remoteIp) && b.intervalUs >= 10_000 && b.multiplier >= 1 && b.multiplier <= 255);
    }),
    { numRuns: RUNS * 10 },
  );
});

let agent: FakeAgent;
let server: RestServer;
let port: number;
before(async () => {
  agent = new FakeAgent();
  server = new RestServer(agent, silentLogger, { faults: new FaultRegistry(), limits: { maxBodyBytes: 64 * 1024 } });
  await server.listen('127.0.0.1', 0);
  port = server.address()!.port;
});
after(() => server.close());

/** One raw HTTP/1.1 exchange on a fresh connection; the status code (0 if the server closed without one). */
async function raw(request: string | Buffer): Promise<number> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.end(request);
  await once(s, 'close');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(Buffer.concat(chunks).toString('latin1'));
  return m ? Number(m[1]) : 0;
}

function post(path: string, body: string, headers = ''): Promise<number> {
  return raw(`POST /netlox/v1${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`);
}

const ROUTES = ['/config/loadbalancer', '/config/cistate', '/config/bgp/global', '/config/bgp/neigh', '/config/bfd'];

test('HTTP: random bodies to every POST route answer 200 or 4xx, and only validated values reach the agent', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ROUTES), fc.oneof(jsonish.map((v) => JSON.stringify(v) ?? ''), mutatedRule.map((v) => JSON.stringify(v)), fc.string({ maxLength: 200 })), async (route, body) => {
      agent.calls = [];
      const status = await post(route, body);
      assert.ok(status === 200 || (status >= 400 && status < 500), `${route} ${JSON.stringify(body).slice(0, 200)}: HTTP ${status}`);
      for (const [name, arg] of agent.calls) {
        if (name === 'addLbRule') assert.deepEqual(parseLbRule(arg), arg);
        if (name === 'setCiState') assert.deepEqual(parseCiState(arg), arg);
      }
    }),
    { numRuns: RUNS },
  );
});

test('HTTP: random paths, methods and query strings never get a 500 or kill the server', async () => {
  const segment = fc.oneof(
    fc.constantFrom('config', 'loadbalancer', 'all', 'externalipaddress', '10.0.0.1', 'port', '80', 'protocol', 'tcp', 'bfd', 'remoteIP', 'bgp', 'neigh', 'name', 'hosturl', 'any', '%', '%zz', '%00', '..', '.', '', 'status'),
    fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
  );
  const method = fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'FOO');
  await fc.assert(
    fc.asyncProperty(method, fc.array(segment, { maxLength: 10 }), fc.string({ maxLength: 30 }), async (m, segs, q) => {
      const path = `/netlox/v1/${segs.join('/')}?${encodeURIComponent(q)}=${encodeURIComponent(q)}`;
      const status = await raw(`${m} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      assert.ok(status >= 200 && status < 500, `${m} ${path}: HTTP ${status}`);
    }),
    { numRuns: RUNS },
  );
  assert.equal((await raw('GET /netlox/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 200);
});

test('corpus: every input that broke a node, or could, gets a clean 4xx', async () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const corpus: [string, string, number][] = [
    ['/config/loadbalancer', JSON.stringify({ serviceArguments: { externalIP: '10.0.0.9', port: 80, protocol: 'tcp' }, endpoints: null }), 400],
    ['/config/loadbalancer', JSON.stringify({ serviceArguments: { externalIP: '999.0.4.51', port: 80, protocol: 'tcp' }, endpoints: [] }), 400],
    ['/config/loadbalancer', JSON.stringify({ serviceArguments: { externalIP: '10.0.0.9', port: 80, protocol: 'tcp' }, endpoints: Array.from({ length: 33 }, (_, i) => ({ endpointIP: `10.1.0.${i}`, targetPort: 80, weight: 1 })) }), 400],
    ['/config/loadbalancer', '{"__proto__":{"polluted":true},"serviceArguments":{"externalIP":"10.0.0.1","port":80,"protocol":"tcp"},"endpoints":[{"endpointIP":"10.0.0.2","targetPort":80,"weight":1}]}', 200],
    ['/config/loadbalancer', deep.slice(0, 60_000), 400],
    ['/config/loadbalancer', `{"a":"${'x'.repeat(70 * 1024)}"}`, 413],
    ['/config/loadbalancer', '\u0000\u0001\u0002', 400],
    ['/config/loadbalancer', '', 400],
    ['/config/bfd', JSON.stringify({ remoteIp: '10.0.0.2', interval: 100000, retryCount: 3, authType: 'keyed-sha1', keyFile: '/dev/zero' }), 200],
    ['/config/bfd', JSON.stringify({ remoteIp: '10.0.0.2', interval: 100000, retryCount: 256 }), 400],
    ['/config/bfd', JSON.stringify({ remoteIp: '10.0.0.2', interval: 2 ** 32, retryCount: 3 }), 400],
    ['/config/cistate', JSON.stringify({ instance: 'llb-inst0', state: 'MASTER', vip: '999.1.1.1' }), 400],
    ['/config/bgp/global', JSON.stringify({ routerId: '::1', localAs: 1 }), 400],
    ['/config/bgp/neigh', JSON.stringify({ ipAddress: '10.0.0.1', remoteAs: 2 ** 32 }), 400],
  ];
  for (const [route, body, want] of corpus) {
    agent.calls = [];
    assert.equal(await post(route, body), want, `${route} ${body.slice(0, 120)}`);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  // Header abuse: oversized, bad Content-Length, a foreign Origin.
  assert.equal(await raw(`GET /netlox/v1/status HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`), 431);
  assert.equal(await raw('POST /netlox/v1/config/cistate HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'), 400);
  assert.equal(await raw('POST /netlox/v1/config/cistate HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'), 400);
  assert.equal(await post('/config/cistate', '{"instance":"llb-inst0","state":"MASTER"}', 'Origin: http://evil.example\r\n'), 403);
  assert.equal(await raw(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0x0d, 0x0a, 0x0d, 0x0a])), 400, 'a TLS hello');
  assert.equal((await raw('GET /netlox/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 200, 'still serving');
});
