import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RestServer } from '../../src/api/RestServer.ts';
import { ConfigStore } from '../../src/agent/ConfigStore.ts';
import { parseEndpointHost, parseEndpointHostState } from '../../src/lb/validateEndpointHost.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeAgent } from './fixtures/FakeAgentApi.ts';

let agent: FakeAgent;
let server: RestServer;
let base: string;

before(async () => {
  agent = new FakeAgent();
  server = new RestServer(agent, silentLogger);
  await server.listen('127.0.0.1', 0);
  base = `http://127.0.0.1:${server.address()!.port}/netlox/v1`;
});
after(() => server.close());
beforeEach(() => {
  agent.bgpOnly = false;
  agent.calls = [];
});

async function call(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + p, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

test('the four endpoint paths reach the agent with loxilb field names, validated', async () => {
  assert.deepEqual((await call('POST', '/config/endpoint', { hostName: '10.0.0.1', probeType: 'tcp', probePort: 80, probeDuration: 10, inactiveReTries: 3 })).body, { result: 'Success' });
  assert.deepEqual((await call('POST', '/config/endpointhoststate', { hostName: '10.0.0.1', epPort: 80, epProto: 'tcp', state: 'red' })).body, { result: 'Success' });
  assert.equal((await call('DELETE', '/config/endpoint/epipaddress/10.0.0.1?probe_type=tcp&probe_port=80')).status, 200);
  assert.deepEqual(agent.calls, [
    ['addEndpointHost', { hostName: '10.0.0.1', name: '', inactiveReTries: 3, probeType: 'tcp', probeReq: '', probeResp: '', probeDuration: 10, probePort: 80 }],
    ['setEndpointHostState', { hostName: '10.0.0.1', epPort: 80, epProto: 'tcp', state: 'red' }],
    ['deleteEndpointHost', { hostName: '10.0.0.1', name: '', probeType: 'tcp', probePort: 80 }],
  ]);
  agent.epHosts = [{ hostName: '10.0.0.1', name: 'x', inactiveReTries: 2, probeType: 'ping', probeReq: '', probeResp: '', probeDuration: 60, probePort: 0, minDelay: '0s', avgDelay: '0s', maxDelay: '0s', currState: 'ok', hostState: '', ruleCount: 0 }];
  const got = await call('GET', '/config/endpoint/all');
  // loxilb's omitempty: '' and 0 are left out.
  assert.deepEqual(got.body, { Attr: [{ hostName: '10.0.0.1', name: 'x', inactiveReTries: 2, probeType: 'ping', probeDuration: 60, minDelay: '0s', avgDelay: '0s', maxDelay: '0s', currState: 'ok' }] });
});

test('bad requests are refused naming the field, and reach nothing', async () => {
  const bad = await call('POST', '/config/endpoint', { hostName: '10.0.0.1', probeType: 'tcp' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /invalid probePort: required for a tcp probe/);
  const st = await call('POST', '/config/endpointhoststate', { hostName: '10.0.0.1', state: 'purple' });
  assert.equal(st.status, 400);
  assert.match(st.body.message, /invalid state: must be one of green, yellow, red/);
  const del = await call('DELETE', '/config/endpoint/epipaddress/not-an-ip?probe_type=tcp');
  assert.equal(del.status, 400);
  assert.match(del.body.message, /invalid ip_address/);
  assert.deepEqual(agent.calls, []);
});

test('refused in BGP-only mode, like the LB paths', async () => {
  agent.bgpOnly = true;
  for (const [m, p, b] of [
    ['POST', '/config/endpoint', { hostName: '10.0.0.1', probeType: 'ping' }],
    ['GET', '/config/endpoint/all', undefined],
    ['DELETE', '/config/endpoint/epipaddress/10.0.0.1?probe_type=ping', undefined],
    ['POST', '/config/endpointhoststate', { hostName: '10.0.0.1', state: 'red' }],
  ] as const) {
    const r = await call(m, p, b);
    assert.equal(r.status, 403, `${m} ${p}`);
    assert.match(r.body.message, /^running in bgp only mode$/);
  }
  assert.deepEqual(agent.calls, []);
});

test('saved endpoint hosts load back validated; a bad record stops the start naming file and field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ephosts-'));
  try {
    const store = new ConfigStore(dir);
    const recs = [
      { host: parseEndpointHost({ hostName: '10.0.0.1', probeType: 'http', probePort: 80, probeReq: '/h' }) },
      { hostState: parseEndpointHostState({ hostName: '10.0.0.1', state: 'red' }) },
    ];
    store.saveEndpointHosts(recs);
    assert.deepEqual(new ConfigStore(dir).load().endpointHosts, recs);
    // Tampered with (and re-checksummed): validated like a POST.
    store.saveEndpointHosts([{ host: { ...recs[0]!.host, probePort: 0 } } as never]);
    assert.throws(() => new ConfigStore(dir).load(), /epconfig\.json.*probePort: required for a http probe/);
    const q = new ConfigStore(dir, { quarantine: true }).load();
    assert.deepEqual(q.endpointHosts, []);
    assert.ok(fs.existsSync(path.join(dir, 'epconfig.json.rejected')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
