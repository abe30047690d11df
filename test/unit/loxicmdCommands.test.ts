import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { renderBfdTable, renderCtTable, renderBgpNeighTable, renderHaStateTable, renderLbTable, runLoxicmd } from '../../src/cli/loxicmdCommands.ts';
import { parseLoxicmdArgs, UsageError } from '../../src/cli/loxicmdArgs.ts';

const RULES = [
  {
    serviceArguments: { externalIP: '123.123.123.1', port: 55002, protocol: 'tcp', mode: 2 },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1, state: '-', counter: '0:0' }],
  },
  {
    serviceArguments: { externalIP: '10.10.10.1', port: 80, portMax: 90, protocol: 'tcp', security: 1, sel: 1, block: 5, monitor: true, inactiveTimeOut: 30, name: 'default_web', proxyprotocolv2: true, egress: true },
    endpoints: [
      { endpointIP: '10.0.0.2', targetPort: 80, weight: 50, state: 'active', counter: '3:200' },
      { endpointIP: '10.0.0.3', targetPort: 80, weight: 50, state: 'inactive', counter: '0:0' },
    ],
    secondaryIPs: [{ secondaryIP: '10.10.10.2' }, { secondaryIP: '10.10.10.3' }],
    allowedSources: [{ prefix: '10.0.0.0/8' }],
  },
  { serviceArguments: { externalIP: '10.10.10.1', port: 53, protocol: 'udp', snat: true }, endpoints: [] },
];

test('get lb: default columns, snat hidden, sorted by service key', () => {
  assert.equal(
    renderLbTable(RULES, false),
    '|    EXT IP     | PORT  |   PROTO   |    NAME     | MARK | SEL  |        MODE         | # OF ENDPOINTS | TIMEOUT | MONITOR |\n' +
      '|---------------|-------|-----------|-------------|------|------|---------------------|----------------|---------|---------|\n' +
      '| 10.10.10.1    | 80-90 | tcp:https | default_web |    5 | hash | default:ppv2:egress |              2 |      30 | On      |\n' +
      '| 123.123.123.1 | 55002 | tcp       |             |    0 | rr   | fullnat             |              1 |       0 | Off     |\n',
  );
});

test('get lb --servName filters by name', () => {
  assert.equal(renderLbTable(RULES, false, 'default_web').split('\n').length, 4);
});

test('get lb -o wide: one row per endpoint, continuation rows blank, state only when monitored', () => {
  assert.equal(
    renderLbTable(RULES, true),
    '|    EXT IP     |        SEC IPS         |  SOURCES   | HOST | PORT  |   PROTO   |    NAME     | MARK | SEL  |        MODE         | ENDPOINT | EPORT | WEIGHT |  STATE   | COUNTERS |\n' +
      '|---------------|------------------------|------------|------|-------|-----------|-------------|------|------|---------------------|----------|-------|--------|----------|----------|\n' +
      '| 10.10.10.1    | 10.10.10.2, 10.10.10.3 | 10.0.0.0/8 |      | 80-90 | tcp:https | default_web |    5 | hash | default:ppv2:egress | 10.0.0.2 |    80 |     50 | active   | 3:200    |\n' +
      '|               |                        |            |      |       |           |             |      |      |                     | 10.0.0.3 |    80 |     50 | inactive | 0:0      |\n' +
      '| 123.123.123.1 |                        |            |      | 55002 | tcp       |             |    0 | rr   | fullnat             | 10.0.0.1 |  8080 |      1 | -        | 0:0      |\n',
  );
});

test('get lb reads any key case and tolerates junk', () => {
  const out = renderLbTable([{ ServiceArguments: { ExternalIP: '1.1.1.1', PORT: 1, Protocol: 'sctp', Sel: 9 } }, null, 5], false);
  assert.match(out, /\| 1\.1\.1\.1 \|    1 \| sctp  \|/);
  assert.match(out, /\|   9 \|/);
  assert.equal(out.split('\n').length, 4);
});

test('get bgpneigh and get hastate', () => {
  assert.equal(
    renderBgpNeighTable([{ ipAddress: '10.0.0.2', remoteAs: 65002, updowntime: '00:01:02', state: 'ESTABLISHED' }]),
    '|   PEER   |  AS   | UP/DOWN  |    STATE    |\n' +
      '|----------|-------|----------|-------------|\n' +
      '| 10.0.0.2 | 65002 | 00:01:02 | ESTABLISHED |\n',
  );
  assert.equal(
    renderHaStateTable([{ instance: 'llb-inst1', state: 'BACKUP', vip: '0.0.0.0', sync: null }, { instance: 'llb-inst0', state: 'MASTER' }]),
    '| INSTANCE  | HASTATE |\n' + '|-----------|---------|\n' + '| llb-inst0 | MASTER  |\n' + '| llb-inst1 | BACKUP  |\n',
  );
  const wide = renderHaStateTable(
    [
      {
        instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0', sync: null, priority: 100, driver: 'bfd', peers: [{ remoteIp: '192.168.80.11', bfd: 'Up', state: 'MASTER' }],
        eligible: true, upstream: [{ kind: 'bgp', name: '192.168.80.1', up: true }, { kind: 'bgp', name: 'fd80::1', up: false }],
      },
      { instance: 'llb-inst1', state: 'MASTER', vip: '0.0.0.0', sync: null },
    ],
    true,
  );
  assert.match(wide, /^\| INSTANCE +\| HASTATE \| +VIP +\| PRIORITY \| DRIVER \| +PEERS +\| UPSTREAM \|$/m);
  assert.match(wide, /^\| llb-inst0 \| BACKUP +\| 0\.0\.0\.0 \| +100 \| bfd +\| 192\.168\.80\.11 BFDUp MASTER \| 1\/2 up +\|$/m);
  assert.match(wide, /^\| llb-inst1 \| MASTER +\| 0\.0\.0\.0 \| +\| +\| +\| +\|$/m);
});

test('argument parsing: aliases, defaults, flags anywhere', () => {
  for (const alias of ['lb', 'loadbalancer', 'loadbalancers', 'lbs']) {
    assert.deepEqual(parseLoxicmdArgs(['get', alias]), {
      kind: 'get', resource: 'lb', options: { apiserver: '127.0.0.1', port: 11111, timeoutSeconds: 10, protocol: 'http', output: 'table' },
    });
  }
  for (const alias of ['bgpneigh', 'bgpneighbor', 'bgpnei']) assert.equal((parseLoxicmdArgs(['get', alias]) as { resource: string }).resource, 'bgpneigh');
  for (const alias of ['hastate', 'ha', 'HAstate']) assert.equal((parseLoxicmdArgs(['get', alias]) as { resource: string }).resource, 'hastate');
  assert.deepEqual(parseLoxicmdArgs(['-s', '10.0.0.9', 'get', 'lb', '-o', 'wide', '--port=8099', '-t', '2.5']), {
    kind: 'get', resource: 'lb', options: { apiserver: '10.0.0.9', port: 8099, timeoutSeconds: 2.5, protocol: 'http', output: 'wide' },
  });
  assert.deepEqual(parseLoxicmdArgs(['-h']), { kind: 'help' });
  for (const bad of [[], ['list', 'lb'], ['get'], ['get', 'foo'], ['get', 'constructor'], ['get', 'lb', 'x'], ['get', 'lb', '-o', 'xml'], ['get', 'lb', '-p', '0'], ['get', 'lb', '-t', 'x'], ['get', 'lb', '--bogus'], ['get', 'lb', '--protocol', 'ftp']]) {
    assert.throws(() => parseLoxicmdArgs(bad), UsageError, bad.join(' '));
  }
});

function capture() {
  const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  return io;
}

test('run: fetches the right URL and prints the table or pretty JSON', async () => {
  const urls: string[] = [];
  const fakeFetch = (async (url: string) => {
    urls.push(url);
    return new Response(JSON.stringify({ Attr: [{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0', sync: null }] }), { status: 200 });
  }) as unknown as typeof fetch;
  let io = capture();
  assert.equal(await runLoxicmd(['get', 'ha', '-s', 'fd00::1', '-p', '1234'], { ...io, fetch: fakeFetch }), 0);
  assert.deepEqual(urls, ['http://[fd00::1]:1234/netlox/v1/config/cistate/all']);
  assert.equal(io.stdout, '| INSTANCE  | HASTATE |\n|-----------|---------|\n| llb-inst0 | MASTER  |\n');
  io = capture();
  assert.equal(await runLoxicmd(['get', 'ha', '-o', 'json'], { ...io, fetch: fakeFetch }), 0);
  assert.equal(io.stdout, `${JSON.stringify({ Attr: [{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0', sync: null }] }, null, 4)}\n`);
});

test('run: API errors and usage errors give exit codes 1 and 2', async () => {
  const forbidden = (async () => new Response(JSON.stringify({ code: 403, message: 'loxilb BGP mode is disabled', result: 'loxilb BGP mode is disabled', fields: null }), { status: 403 })) as unknown as typeof fetch;
  let io = capture();
  assert.equal(await runLoxicmd(['get', 'bgpneigh'], { ...io, fetch: forbidden }), 1);
  assert.equal(io.stderr, 'Error: loxilb API answered HTTP 403: loxilb BGP mode is disabled\n');
  io = capture();
  assert.equal(await runLoxicmd(['get', 'nothing'], io), 2);
  assert.match(io.stderr, /unknown resource "nothing"[\s\S]*Usage: loxicmd/);
  io = capture();
  assert.equal(await runLoxicmd(['--help'], io), 0);
  assert.match(io.stdout, /^Usage: loxicmd/);
});

test('run: connection refused names the server address', async () => {
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const io = capture();
  assert.equal(await runLoxicmd(['get', 'lb', '-p', String(port)], io), 1);
  assert.equal(io.stderr, `Error: cannot connect to loxilb API at http://127.0.0.1:${port}/netlox/v1: connection refused (is loxilb running?)\n`);
});

test('run: a timeout is reported as such', async () => {
  // AbortSignal.timeout does not hold the event loop open; a real socket would.
  const hang = ((_url: string, init: RequestInit) =>
    new Promise((_resolve, reject) => {
      const keepAlive = setTimeout(() => {}, 5000);
      init.signal!.addEventListener('abort', () => {
        clearTimeout(keepAlive);
        reject(init.signal!.reason);
      });
    })) as unknown as typeof fetch;
  const io = capture();
  assert.equal(await runLoxicmd(['get', 'lb', '-t', '0.05'], { ...io, fetch: hang }), 1);
  assert.equal(io.stderr, 'Error: no answer from loxilb API at http://127.0.0.1:11111/netlox/v1 within 0.05 s\n');
});

test('get bfd: loxicmd\'s columns, and the wide view with source, port, interval and retry count', () => {
  const rows = [
    { instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIP: '192.168.80.10', port: 3784, interval: 100000, retryCount: 3, state: 'BFDUp', diag: 'No Diagnostic', txInterval: 100000, detectionTime: 300000 },
  ];
  const narrow = renderBfdTable(rows, false).split('\n');
  assert.match(narrow[0]!, /^\| +INSTANCE +\| +REMOTEIP +\| +STATE +\|$/);
  assert.match(narrow[2]!, /^\| llb-inst0 \| 192\.168\.80\.11 \| BFDUp \|$/);
  const wide = renderBfdTable(rows, true).split('\n');
  assert.match(wide[0]!, /SOURCEIP +\| PORT \| +INTERVAL +\| RETRY COUNT \|/);
  assert.match(wide[2]!, /\| 192\.168\.80\.10 \| 3784 \| 100000 us \| +3 \| BFDUp \|$/);
  assert.equal((parseLoxicmdArgs(['get', 'bfd', '-o', 'wide']) as { resource: string }).resource, 'bfd');
});

test('get ct: one row per tracked entry, sorted by service and addresses', () => {
  const rows = [
    { servName: 'web', destinationIP: '20.20.20.1', sourceIP: '192.168.90.9', destinationPort: 80, sourcePort: 40001, protocol: 'tcp', conntrackState: 'est', conntrackAct: 'dnat-192.168.80.21:8080', packets: 5, bytes: 420 },
    { servName: 'web', destinationIP: '20.20.20.1', sourceIP: '192.168.90.2', destinationPort: 80, sourcePort: 40000, protocol: 'tcp', conntrackState: 'syn-sent', conntrackAct: 'dnat-192.168.80.22:8080', packets: 1, bytes: 60 },
  ];
  const lines = renderCtTable(rows).split('\n');
  assert.match(lines[0]!, /^\| SERVICE NAME \| +DESTIP +\| +SRCIP +\| DPORT \| SPORT \| PROTO \| +STATE +\| +ACT +\| PACKETS \| BYTES \|$/);
  assert.match(lines[2]!, /^\| web +\| 20\.20\.20\.1 \| 192\.168\.90\.2 +\| +80 \| 40000 \| tcp +\| syn-sent \| dnat-192\.168\.80\.22:8080 \| +1 \| +60 \|$/);
  assert.match(lines[3]!, /192\.168\.90\.9 .*\| est +\|/);
  assert.equal((parseLoxicmdArgs(['get', 'conntrack']) as { resource: string }).resource, 'ct');
});

test('set drain on|off and get drain: POST / DELETE / GET config/drain, with a clear usage error for anything else', async () => {
  const calls: string[] = [];
  let draining = false;
  const fakeFetch = (async (url: string, init: { method?: string }) => {
    calls.push(`${init.method ?? 'GET'} ${url}`);
    if (init.method === 'POST') draining = true;
    if (init.method === 'DELETE') {
      draining = false;
      return new Response(JSON.stringify({ result: 'Success' }));
    }
    const body = draining
      ? { draining: true, phase: 'drained', timeoutMs: 10000, last: { handedTo: '192.168.80.11', waitedMs: 617, timedOut: false, reason: '192.168.80.11 took over and the traffic moved' } }
      : { draining: false, phase: 'serving', timeoutMs: 10000 };
    return new Response(JSON.stringify(body));
  }) as unknown as typeof fetch;
  let io = capture();
  assert.equal(await runLoxicmd(['set', 'drain', 'on', '--drainTimeout', '20'], { ...io, fetch: fakeFetch }), 0);
  assert.match(io.stdout, /\| yes +\| drained \| 192\.168\.80\.11 \| 617 ms \| 192\.168\.80\.11 took over and the traffic moved \|/);
  io = capture();
  assert.equal(await runLoxicmd(['get', 'drain'], { ...io, fetch: fakeFetch }), 0);
  assert.match(io.stdout, /\| yes +\| drained/);
  io = capture();
  assert.equal(await runLoxicmd(['set', 'drain', 'off'], { ...io, fetch: fakeFetch }), 0);
  assert.match(io.stdout, /\| no +\| serving/);
  assert.deepEqual(calls, [
    'POST http://127.0.0.1:11111/netlox/v1/config/drain?timeoutSeconds=20',
    'GET http://127.0.0.1:11111/netlox/v1/config/drain',
    'DELETE http://127.0.0.1:11111/netlox/v1/config/drain',
    'GET http://127.0.0.1:11111/netlox/v1/config/drain',
  ]);
  for (const [argv, msg] of [
    [['set', 'drain'], /set drain: expected on or off, got ""/],
    [['set', 'drain', 'maybe'], /expected on or off, got "maybe"/],
    [['set', 'loglevel', 'loud'], /the level must be one of/],
    [['set', 'mood', 'on'], /set: unknown resource "mood"/],
    [['set', 'drain', 'on', '--drainTimeout', '0'], /--drainTimeout must be an integer from 1 to 3600/],
    [['set', 'drain', 'off', '--drainTimeout', '5'], /--drainTimeout is for "set drain on"/],
    [['get', 'lb', '--drainTimeout', '5'], /--drainTimeout is for "set drain on"/],
    [['delete', 'drain'], /delete: unknown resource "drain"/],
    [['remove', 'lb'], /unknown command "remove"/],
  ] as const) {
    io = capture();
    assert.equal(await runLoxicmd([...argv], { ...io, fetch: fakeFetch }), 2, argv.join(' '));
    assert.match(io.stderr, msg);
  }
});
