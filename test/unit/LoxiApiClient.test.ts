// The typed REST client: the path, query and body of every method (loxilb's
// spelling), the Authorization header, and errors shaped from loxilb's error JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { LoxiApiClient, LoxiApiError, LoxiTransportError, apiOrigin } from '../../src/apiclient/LoxiApiClient.ts';
import { bgpNeighborDeletePath, lbRuleDeletePath } from '../../src/apiclient/paths.ts';

function recorder(reply: (url: string) => Response = () => new Response('{"result":"Success"}')) {
  const calls: string[] = [];
  const fetchFn = (async (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => {
    calls.push(`${init.method} ${url.replace('http://[fd00::1]:11111/netlox/v1', '')}${init.body === undefined ? '' : ` ${init.body}`}${init.headers.Authorization ? ` auth=${init.headers.Authorization}` : ''}`);
    return reply(url);
  }) as unknown as typeof fetch;
  return { calls, client: new LoxiApiClient({ origin: apiOrigin('http', 'fd00::1', 11111), timeoutMs: 1000, fetch: fetchFn, authorization: 'Bearer t' }) };
}

test('every method calls loxilb\'s path with its query and body', async () => {
  const { calls, client } = recorder();
  await client.deleteLbRule({ externalIP: '20.20.20.1', port: 80, protocol: 'tcp' });
  await client.deleteLbRule({ externalIP: '2001::1', port: 80, portMax: 90, protocol: 'udp', host: 'a/b', bgp: true, block: 4 });
  await client.deleteLbRulesByName('ns_svc:llb-inst0');
  await client.deleteBfdSession('10.0.0.2', 'llb-inst1');
  await client.deleteBgpNeighbor('10.0.0.3', 65000);
  await client.deleteEndpoint('10.0.0.4', { name: 'x', probeType: 'tcp', probePort: 80 });
  await client.setCiState({ instance: 'llb-inst0', state: 'MASTER' });
  await client.setParams({ logLevel: 'debug' });
  await client.drain(20);
  assert.deepEqual(calls, [
    'DELETE /config/loadbalancer/externalipaddress/20.20.20.1/port/80/protocol/tcp?bgp=false&block=0 auth=Bearer t',
    'DELETE /config/loadbalancer/hosturl/a%2Fb/externalipaddress/2001%3A%3A1/port/80/portmax/90/protocol/udp?bgp=true&block=4 auth=Bearer t',
    'DELETE /config/loadbalancer/name/ns_svc%3Allb-inst0 auth=Bearer t',
    'DELETE /config/bfd/remoteIP/10.0.0.2?instance=llb-inst1 auth=Bearer t',
    'DELETE /config/bgp/neigh/10.0.0.3?remoteAs=65000 auth=Bearer t',
    'DELETE /config/endpoint/epipaddress/10.0.0.4?name=x&probe_type=tcp&probe_port=80 auth=Bearer t',
    'POST /config/cistate {"instance":"llb-inst0","state":"MASTER"} auth=Bearer t',
    'POST /config/params {"logLevel":"debug"} auth=Bearer t',
    'POST /config/drain?timeoutSeconds=20 auth=Bearer t',
  ]);
});

test('errors: loxilb\'s message (or result) with the status; a body that is not JSON; a refused connection', async () => {
  let { client } = recorder(() => new Response(JSON.stringify({ code: 409, message: 'lbrule exists', result: 'lbrule exists', fields: null }), { status: 409 }));
  await assert.rejects(client.listLbRules(), (e: Error) => e instanceof LoxiApiError && e.status === 409 && e.apiMessage === 'lbrule exists' && e.message === 'loxilb API answered HTTP 409: lbrule exists');
  ({ client } = recorder(() => new Response(JSON.stringify({ result: 'bfd session not running' }), { status: 500 })));
  await assert.rejects(client.listBfdSessions(), /HTTP 500: bfd session not running$/);
  ({ client } = recorder(() => new Response('<html>', { status: 502 })));
  await assert.rejects(client.status(), (e: Error) => e instanceof LoxiTransportError && /answered HTTP 502 with a body that is not JSON/.test(e.message));
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const refused = new LoxiApiClient({ origin: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
  await assert.rejects(refused.version(), (e: Error) => e instanceof LoxiTransportError && e.message === `cannot connect to loxilb API at http://127.0.0.1:${port}/netlox/v1: connection refused (is loxilb running?)`);
});

test('health: any answer is alive, with our uptime; no answer is down with the reason; a per-call timeout wins', async () => {
  const server = http.createServer((req, res) => {
    if (req.url === '/netlox/v1/status') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"uptimeSeconds":42}');
    } else if (req.url === '/netlox/v1/config/cistate/all') {
      // Slower than the call's own timeout, faster than the client's.
      setTimeout(() => res.end('{"Attr":[]}'), 300);
    } else {
      res.writeHead(404);
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  const client = new LoxiApiClient({ origin, timeoutMs: 5000 });
  try {
    assert.equal(client.baseUrl, `${origin.slice(0, -1)}/netlox/v1`);
    assert.deepEqual(await client.health(), { alive: true, httpStatus: 200, uptimeSeconds: 42 });
    await assert.rejects(client.send('GET', '/config/cistate/all', { timeoutMs: 50 }), (e: Error) => e instanceof LoxiTransportError && e.timedOut && e.reason === 'no answer within 50 ms');
    assert.deepEqual((await client.send('GET', '/config/cistate/all')).body, { Attr: [] });
    const other = new LoxiApiClient({ origin, timeoutMs: 5000 });
    other.close();
    assert.deepEqual(await other.health(), { alive: false, error: 'client closed' });
  } finally {
    client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  const down = await new LoxiApiClient({ origin, timeoutMs: 1000 }).health();
  assert.equal(down.alive, false);
  assert.match(down.error!, /ECONNREFUSED/);
});

test('paths with a key are spelled once, here', () => {
  assert.equal(bgpNeighborDeletePath('fd00::1', 64512), '/config/bgp/neigh/fd00%3A%3A1?remoteAs=64512');
  assert.equal(lbRuleDeletePath({ externalIP: 'fd00::1', port: 80, portMax: 90, protocol: 'udp', block: 3, bgp: false }), '/config/loadbalancer/externalipaddress/fd00%3A%3A1/port/80/portmax/90/protocol/udp?bgp=false&block=3');
  assert.equal(lbRuleDeletePath({ externalIP: '10.0.0.1', port: 80, protocol: 'tcp', host: 'a b', block: 0, bgp: true }), '/config/loadbalancer/hosturl/a%20b/externalipaddress/10.0.0.1/port/80/protocol/tcp?bgp=true&block=0');
});
