import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { RestServer, MAX_BODY_BYTES } from '../../src/api/RestServer.ts';
import type { ConntrackInfo } from '../../src/api/AgentApi.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import { ConflictError } from '../../src/util/errors.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeAgent } from './fixtures/FakeAgentApi.ts';
import { completeBfdSession } from '../../src/bfd/validateBfdConfig.ts';

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
  agent.bgpEnabled = true;
  agent.calls = [];
  agent.rules = [];
  agent.failWith = undefined;
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

function assertError(r: { status: number; body: any }, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.code, status);
  assert.match(r.body.message, pattern);
  assert.equal(r.body.result, r.body.message);
  assert.equal(r.body.fields, null);
}

const RULE = {
  serviceArguments: { externalIP: '123.123.123.1', port: 55002, protocol: 'tcp', mode: 2 },
  endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
};

test('version and status', async () => {
  assert.deepEqual((await call('GET', '/version')).body, { version: '0.1.0', buildInfo: 'test' });
  const st = await call('GET', '/status');
  assert.equal(st.status, 200);
  assert.equal(st.body.status, 'ok');
});

test('the base path and unknown paths answer 404 with a JSON error', async () => {
  assertError(await call('GET', ''), 404, /not found/);
  assertError(await call('GET', '/config/nothing'), 404, /not found/);
  const res = await fetch(base.replace('/netlox/v1', '/other'));
  assert.equal(res.status, 404);
  assert.equal((await res.json()).code, 404);
});

test('POST then GET a load-balancer rule', async () => {
  const r = await call('POST', '/config/loadbalancer', RULE);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { result: 'Success' });
  assert.equal(agent.calls.length, 1);
  const get = await call('GET', '/config/loadbalancer/all');
  assert.deepEqual(get.body, {
    lbAttr: [{
      serviceArguments: { externalIP: '123.123.123.1', port: 55002, protocol: 'tcp', mode: 2 },
      endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1, state: '-', counter: '0:0' }],
      programmed: true,
    }],
  });
  agent.notProgrammed = 'the kernel refused the rule: ENOMEM';
  const again = await call('GET', '/config/loadbalancer/all');
  const row = (again.body as { lbAttr: Record<string, unknown>[] }).lbAttr[0]!;
  assert.equal(row.programmed, false);
  assert.equal(row.reason, 'the kernel refused the rule: ENOMEM');
});

test('keys are case-insensitive over HTTP too', async () => {
  const r = await call('POST', '/config/loadbalancer', {
    serviceArguments: { externalIP: '1.2.3.4', port: 80, protocol: 'tcp', BGP: true, Monitor: true, path_prefix: '/' },
    Endpoints: [{ endpointIP: '10.0.0.1', targetPort: 80, weight: 1 }],
  });
  assert.equal(r.status, 200);
  const rule = agent.calls[0]![1] as LbRule;
  assert.equal(rule.serviceArguments.bgp, true);
  assert.equal(rule.serviceArguments.monitor, true);
});

test('a bad rule gets a 400 naming the field and never reaches the agent', async () => {
  assertError(await call('POST', '/config/loadbalancer', { ...RULE, serviceArguments: { ...RULE.serviceArguments, port: 0 } }), 400, /serviceArguments\.port/);
  assertError(await call('POST', '/config/loadbalancer', { ...RULE, endpoints: [RULE.endpoints[0], { endpointIP: '10.0.0.2', targetPort: 'x', weight: 1 }] }), 400, /endpoints\[1\]\.targetPort/);
  assertError(await call('POST', '/config/loadbalancer', { serviceArguments: RULE.serviceArguments }), 400, /invalid endpoints: required/);
  assert.deepEqual(agent.calls, []);
});

test('bodies that are not JSON objects', async () => {
  assertError(await call('POST', '/config/loadbalancer', '{"serviceArguments":'), 400, /^invalid body: must be a JSON object/);
  assertError(await call('POST', '/config/loadbalancer', ''), 400, /^invalid body: required/);
  assertError(await call('POST', '/config/loadbalancer', '[1,2]'), 400, /^invalid body: must be a JSON object/);
  assertError(await call('POST', '/config/cistate', 'null'), 400, /^invalid body/);
  assert.deepEqual(agent.calls, []);
});

test('an oversized body gets 413', async () => {
  assertError(await call('POST', '/config/loadbalancer', ' '.repeat(MAX_BODY_BYTES + 10)), 413, /too large/);
  assert.deepEqual(agent.calls, []);
  assert.equal((await call('GET', '/version')).status, 200);
});

test('agent errors map to their status; other errors to 500', async () => {
  agent.failWith = new ConflictError('lbrule-exists error');
  assertError(await call('POST', '/config/loadbalancer', RULE), 409, /^lbrule-exists error$/);
  agent.failWith = new Error('datapath exploded');
  assertError(await call('DELETE', '/config/loadbalancer/all'), 500, /^datapath exploded$/);
});

test('bgp-only mode refuses LB and CI endpoints with 403', async () => {
  agent.bgpOnly = true;
  assertError(await call('POST', '/config/loadbalancer', RULE), 403, /^running in bgp only mode$/);
  assertError(await call('GET', '/config/loadbalancer/all'), 403, /^running in bgp only mode$/);
  assertError(await call('DELETE', '/config/loadbalancer/name/x'), 403, /^running in bgp only mode$/);
  assertError(await call('POST', '/config/cistate', { instance: 'a', state: 'MASTER' }), 403, /^running in bgp only mode$/);
  assertError(await call('GET', '/config/cistate/all'), 403, /^running in bgp only mode$/);
  assertError(await call('GET', '/config/conntrack/all'), 403, /^running in bgp only mode$/);
  assert.equal((await call('GET', '/config/bgp/neigh/all')).status, 200);
  assert.deepEqual(agent.calls, []);
});

test('without --bgp the BGP endpoints answer 403', async () => {
  agent.bgpEnabled = false;
  assertError(await call('POST', '/config/bgp/global', { routerId: '10.0.0.1', localAs: 65001 }), 403, /^loxilb BGP mode is disabled$/);
  assertError(await call('POST', '/config/bgp/neigh', { ipAddress: '10.0.0.2', remoteAs: 65002 }), 403, /^loxilb BGP mode is disabled$/);
  assertError(await call('GET', '/config/bgp/neigh/all'), 403, /^loxilb BGP mode is disabled$/);
  assertError(await call('DELETE', '/config/bgp/neigh/10.0.0.2?remoteAs=1'), 403, /^loxilb BGP mode is disabled$/);
  assert.deepEqual(agent.calls, []);
});

test('a known path with the wrong method gets 405 and an Allow header', async () => {
  const r = await call('PUT', '/config/loadbalancer', RULE);
  assertError(r, 405, /not allowed/);
  assert.equal(r.headers.get('allow'), 'POST');
  assert.equal((await call('POST', '/config/bgp/neigh/all', {})).headers.get('allow'), 'GET, DELETE');
});

test('DELETE by service key parses path and query parameters', async () => {
  const del = async (path: string) => {
    agent.calls = [];
    const r = await call('DELETE', path);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return agent.calls[0]![1];
  };
  assert.deepEqual(await del('/config/loadbalancer/externalipaddress/123.123.123.1/port/55002/protocol/tcp'), {
    externalIP: '123.123.123.1', port: 55002, protocol: 'tcp', bgp: false, block: 0,
  });
  assert.deepEqual(await del('/config/loadbalancer/externalipaddress/2001:DB8::1/port/80/protocol/udp?bgp=true&block=3'), {
    externalIP: '2001:db8::1', port: 80, protocol: 'udp', bgp: true, block: 3,
  });
  assert.deepEqual(await del('/config/loadbalancer/externalipaddress/1.1.1.1/port/80/portmax/90/protocol/sctp'), {
    externalIP: '1.1.1.1', port: 80, portMax: 90, protocol: 'sctp', bgp: false, block: 0,
  });
  assert.deepEqual(await del('/config/loadbalancer/externalipaddress/1.1.1.1/port/80/portmax/80/protocol/tcp'), {
    externalIP: '1.1.1.1', port: 80, protocol: 'tcp', bgp: false, block: 0,
  });
  assert.deepEqual(await del('/config/loadbalancer/hosturl/any/externalipaddress/1.1.1.1/port/443/protocol/tcp'), {
    externalIP: '1.1.1.1', port: 443, protocol: 'tcp', bgp: false, block: 0,
  });
  assert.deepEqual(await del('/config/loadbalancer/hosturl/www.example.com/externalipaddress/1.1.1.1/port/443/portmax/444/protocol/tcp?bgp=false'), {
    externalIP: '1.1.1.1', port: 443, portMax: 444, protocol: 'tcp', bgp: false, block: 0, host: 'www.example.com',
  });
});

test('bad DELETE parameters get a 400 naming the parameter', async () => {
  const key = '/config/loadbalancer/externalipaddress';
  assertError(await call('DELETE', `${key}/1.1.1/port/80/protocol/tcp`), 400, /^invalid ip_address/);
  assertError(await call('DELETE', `${key}/1.1.1.1/port/http/protocol/tcp`), 400, /^invalid port/);
  assertError(await call('DELETE', `${key}/1.1.1.1/port/65536/protocol/tcp`), 400, /^invalid port/);
  assertError(await call('DELETE', `${key}/1.1.1.1/port/80/protocol/TCP`), 400, /^invalid proto: must be one of tcp, udp, sctp, icmp/);
  assertError(await call('DELETE', `${key}/1.1.1.1/port/80/portmax/70/protocol/tcp`), 400, /^invalid portmax/);
  assertError(await call('DELETE', `${key}/1.1.1.1/port/80/protocol/tcp?bgp=maybe`), 400, /^invalid bgp/);
  assertError(await call('DELETE', `${key}/1.1.1.1/port/80/protocol/tcp?block=-1`), 400, /^invalid block/);
  assertError(await call('DELETE', '/config/loadbalancer/name/%E0%A4%A'), 400, /^invalid url/);
  assert.deepEqual(agent.calls, []);
});

test('DELETE by name and all', async () => {
  assert.equal((await call('DELETE', '/config/loadbalancer/name/default_svc%3Allb-inst1')).status, 200);
  assert.deepEqual(agent.calls, [['deleteLbRulesByName', 'default_svc:llb-inst1']]);
  assert.deepEqual((await call('DELETE', '/config/loadbalancer/all')).body, { result: 'Success' });
});

test('cistate POST and GET', async () => {
  assert.equal((await call('POST', '/config/cistate', { Instance: 'llb-inst0', State: 'MASTER', vip: '10.0.0.100' })).status, 200);
  assert.deepEqual(agent.calls, [['setCiState', { instance: 'llb-inst0', state: 'MASTER', vip: '10.0.0.100' }]]);
  assert.deepEqual((await call('GET', '/config/cistate/all')).body, {
    Attr: [{ instance: 'llb-inst0', state: 'MASTER', vip: '10.0.0.100', sync: null, priority: 100, synced: true, driver: 'api' }],
  });
  assertError(await call('POST', '/config/cistate', { instance: 'llb-inst0', state: 'PRIMARY' }), 400, /invalid state: invalid cluster-state/);
});

test('conntrack GET answers ctAttr', async () => {
  const e: ConntrackInfo = {
    destinationIP: '20.20.20.1',
    destinationPort: 80,
    sourceIP: '10.0.0.5',
    sourcePort: 40000,
    protocol: 'tcp',
    conntrackState: 'est',
    conntrackAct: 'dnat-192.168.80.21:8080',
    packets: 3,
    bytes: 180,
    servName: 'web',
  };
  agent.ct = [e];
  assert.deepEqual((await call('GET', '/config/conntrack/all')).body, { ctAttr: [e] });
});

test('BGP global, neighbours and their deletion', async () => {
  assert.equal((await call('POST', '/config/bgp/global', { routerId: '10.0.0.1', localAs: 65001, setNextHopSelf: true })).status, 200);
  assert.equal((await call('POST', '/config/bgp/neigh', { ipAddress: '10.0.0.2', remoteAs: 65002 })).status, 200);
  assert.deepEqual(agent.calls, [
    ['setBgpGlobal', { routerId: '10.0.0.1', localAs: 65001, listenPort: 0, setNextHopSelf: true }],
    ['addBgpNeighbor', { ipAddress: '10.0.0.2', remoteAs: 65002, remotePort: 0, setMultiHop: false }],
  ]);
  assert.deepEqual((await call('GET', '/config/bgp/neigh/all')).body, { bgpNeiAttr: [{ ipAddress: '10.0.0.2', remoteAs: 65002, state: 'ACTIVE', updowntime: 'never' }] });
  agent.calls = [];
  assert.equal((await call('DELETE', '/config/bgp/neigh/10.0.0.2?remoteAs=65002')).status, 200);
  assert.equal((await call('DELETE', '/config/bgp/neigh/fd00::2')).status, 200);
  assert.deepEqual(agent.calls, [['deleteBgpNeighbor', '10.0.0.2'], ['deleteBgpNeighbor', 'fd00::2']]);
  assertError(await call('DELETE', '/config/bgp/neigh/10.0.0.2?remoteAs=abc'), 400, /^invalid remoteAs/);
  assertError(await call('DELETE', '/config/bgp/neigh/peer1'), 400, /^invalid ip_address/);
  assertError(await call('POST', '/config/bgp/global', { routerId: '10.0.0.1' }), 400, /^invalid localAs/);
});

test('OPTIONS answers 200 on any path, with no CORS headers unless an origin is allowed', async () => {
  for (const path of ['/config/loadbalancer', '/whatever']) {
    const res = await fetch(base + path, { method: 'OPTIONS' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('allow'), 'GET, POST, DELETE, OPTIONS');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  }
});

test('raw HTTP oddities do not crash the server', async () => {
  const { port } = server.address()!;
  const raw = (request: string) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: request }, (res) => {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(`${res.statusCode} ${Buffer.concat(chunks).toString()}`));
      });
      req.on('error', (e) => resolve(`error ${e.message}`));
      req.end();
    });
  assert.match(await raw('//netlox/v1/version'), /^404 /);
  assert.match(await raw('/netlox/v1//version/'), /^200 /);
  assert.match(await raw('/netlox/v1/version?x=%ZZ'), /^200 /);
  assert.match(await raw('http://example.com/netlox/v1/version'), /^200 /);
  assert.equal((await call('GET', '/version')).status, 200);
});

test('listening on a port in use fails with a clear error', async () => {
  const other = new RestServer(new FakeAgent(), silentLogger);
  const { port } = server.address()!;
  await assert.rejects(other.listen('127.0.0.1', port), { message: `REST API cannot listen on 127.0.0.1:${port}: address already in use` });
  await other.close();
});

test('POST /config/bfd takes loxilb\'s body, with intervals down to 10 ms and optional auth', async () => {
  agent.calls = [];
  const ok = await call('POST', '/config/bfd', { instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIp: '192.168.80.10', interval: 100000, retryCount: 3 });
  assert.equal(ok.status, 200);
  assert.deepEqual(agent.calls, [['setBfdSession', { instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIp: '192.168.80.10', intervalUs: 100000, multiplier: 3 }]]);
  agent.calls = [];
  const auth = await call('POST', '/config/bfd', { RemoteIP: 'FD00:80::11', interval: 10000, retryCount: 3, authType: 'meticulous-keyed-sha1', keyId: 2, keyFile: '/etc/loxilb/bfd.key' });
  assert.equal(auth.status, 200);
  assert.deepEqual(agent.calls[0]![1], { instance: 'llb-inst0', remoteIp: 'fd00:80::11', sourceIp: undefined, intervalUs: 10000, multiplier: 3, auth: { type: 'meticulous-keyed-sha1', keyId: 2, keyFile: '/etc/loxilb/bfd.key' } });
});

test('POST /config/bfd refuses bad bodies naming the field, and reaches nothing', async () => {
  agent.calls = [];
  const cases: [unknown, string, RegExp][] = [
    [{ remoteIp: '10.0.0.1', interval: 5000, retryCount: 3 }, 'interval', /bfd interval too low/],
    [{ remoteIp: '10.0.0.1', interval: 100000, retryCount: 256 }, 'retryCount', /1 to 255/],
    [{ remoteIp: '10.0.0.1', interval: 'fast', retryCount: 3 }, 'interval', /integer/],
    [{ interval: 100000, retryCount: 3 }, 'remoteIp', /required/],
    [{ remoteIp: '10.0.0.1', sourceIp: 'fd00::1', interval: 100000, retryCount: 3 }, 'sourceIp', /same address family/],
    [{ remoteIp: '10.0.0.1', interval: 100000, retryCount: 3, authType: 'md5' }, 'authType', /keyed-sha1/],
    [{ remoteIp: '10.0.0.1', interval: 100000, retryCount: 3, authType: 'keyed-sha1' }, 'keyFile', /required/],
    [{ remoteIp: '10.0.0.1', interval: 100000, retryCount: 3, keyFile: '/k' }, 'authType', /required/],
  ];
  for (const [body, field, msg] of cases) {
    const r = await call('POST', '/config/bfd', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.message, new RegExp(`^invalid ${field}:`), JSON.stringify(r.body));
    assert.match(r.body.message, msg);
  }
  assert.deepEqual(agent.calls, []);
});

test("POST /config/bfd in loxicmd set bfd's shape: what it leaves out (0, \"\") reaches the agent as unset", async () => {
  agent.calls = [];
  const r = await call('POST', '/config/bfd', { instance: 'llb-inst0', remoteIp: '10.0.0.2', sourceIp: '', interval: 0, retryCount: 5 });
  assert.equal(r.status, 200);
  assert.deepEqual(agent.calls, [['setBfdSession', { instance: 'llb-inst0', remoteIp: '10.0.0.2', sourceIp: undefined, intervalUs: undefined, multiplier: 5 }]]);
  // Creating a session needs both timers; the error names the missing one.
  assert.throws(() => completeBfdSession({ instance: 'llb-inst0', remoteIp: '10.0.0.2', multiplier: 5 }), /^ValidationError: invalid interval: must be given to create a session: 10000 to 4294967295/);
  assert.throws(() => completeBfdSession({ instance: 'llb-inst0', remoteIp: '10.0.0.2', intervalUs: 100000 }, '; hint'), /invalid retryCount: must be given to create a session: 1 to 255 .*; hint\)/);
  assert.deepEqual(completeBfdSession({ instance: 'i', remoteIp: '10.0.0.2', intervalUs: 100000, multiplier: 3 }), { instance: 'i', remoteIp: '10.0.0.2', intervalUs: 100000, multiplier: 3 });
});

test('GET /config/bfd/all and DELETE /config/bfd/remoteIP/{ip}?instance=', async () => {
  agent.bfd = [{ instance: 'llb-inst0', remoteIp: '10.0.0.2', sourceIP: '10.0.0.1', port: 3784, interval: 100000, retryCount: 3, state: 'BFDUp', purpose: 'ha-peer', diag: 'No Diagnostic', txInterval: 100000, detectionTime: 300000, transitions: 2, timing: { txLateMaxUs: 800, txLateOverQuarter: 0, txPeriodicUp: 40, rxGapMaxUs: 99000 }, rxDrops: { 'bad-ttl': 2 }, timersClamped: 0, remote: { desiredMinTx: 100000, requiredMinRx: 100000, detectMult: 3 } }];
  const g = await call('GET', '/config/bfd/all');
  assert.equal(g.status, 200);
  assert.deepEqual(g.body, { Attr: agent.bfd });
  agent.calls = [];
  assert.equal((await call('DELETE', '/config/bfd/remoteIP/10.0.0.2?instance=llb-inst1')).status, 200);
  assert.equal((await call('DELETE', '/config/bfd/remoteIP/10.0.0.3')).status, 200);
  assert.deepEqual(agent.calls, [['deleteBfdSession', { remoteIp: '10.0.0.2', instance: 'llb-inst1' }], ['deleteBfdSession', { remoteIp: '10.0.0.3', instance: 'llb-inst0' }]]);
  assert.equal((await call('DELETE', '/config/bfd/remoteIP/not-an-ip')).status, 400);
});

test('GET /metrics: Prometheus text with its content type when on, a 404 naming --prometheus when off', async () => {
  agent.metricsText = undefined;
  const off = await call('GET', '/metrics');
  assertError(off, 404, /metrics are off: start loxilb with --prometheus/);
  agent.metricsText = '# HELP lb_rule_count x\n# TYPE lb_rule_count gauge\nlb_rule_count 3\n';
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(await res.text(), agent.metricsText);
  const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(agent.metricsText)));
  assert.equal(await head.text(), '');
  assert.equal((await call('POST', '/metrics', {})).status, 405);
  agent.metricsText = undefined;
});

test('GET and POST /config/params: the log level, validated against loxilb\'s level names', async () => {
  agent.calls = [];
  agent.level = 'debug';
  const g = await call('GET', '/config/params');
  assert.equal(g.status, 200);
  assert.deepEqual(g.body, { logLevel: 'debug' });
  const ok = await call('POST', '/config/params', { logLevel: 'warning' });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body, { result: 'Success' });
  assert.deepEqual(agent.calls.at(-1), ['setLogLevel', 'warning']);
  assert.deepEqual((await call('GET', '/config/params')).body, { logLevel: 'warning' });
  // loxilb would silently take an unknown name as debug; here it is a 400 naming the field and the choices.
  assertError(await call('POST', '/config/params', { logLevel: 'verbose' }), 400, /invalid logLevel: must be one of trace, debug, info, notice, warning, error, critical, alert, emergency \(got "verbose"\)/);
  assertError(await call('POST', '/config/params', {}), 400, /invalid logLevel: required: one of trace/);
  assertError(await call('POST', '/config/params', 'x'), 400, /invalid body: must be a JSON object/);
  assert.equal(agent.level, 'warning', 'a refused POST changes nothing');
});
