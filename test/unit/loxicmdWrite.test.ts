// loxicmd's create/delete/set/save/apply against our real RestServer (over a
// fake agent that records what it is asked) and, for the endpoint commands
// whose agent side is not ours yet, against a small HTTP stub of loxilb's shapes.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RestServer } from '../../src/api/RestServer.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { runLoxicmd } from '../../src/cli/loxicmdCommands.ts';
import { parseLoxicmdArgs, UsageError } from '../../src/cli/loxicmdArgs.ts';
import { buildLbRules } from '../../src/cli/loxicmd/lb.ts';
import { Flags } from '../../src/cli/loxicmd/command.ts';
import { FakeAgent } from './fixtures/FakeAgentApi.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';
import { ConflictError } from '../../src/util/errors.ts';

function capture() {
  const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  return io;
}

describe('loxicmd create lb: loxicmd\'s flags into rule bodies', () => {
  it('one rule per protocol and port pair; ranges, target ranges, IPv6 endpoints, names of mode and select', () => {
    const f = new Flags('create lb', { tcp: ['2020:8080', '3000-3010:9000'], udp: ['53:5353-5354'], endpoints: ['31.31.31.1:1,33.33.33.2:3'], mode: 'fullnat', select: 'hash', monitor: true, name: 'web', inatimeout: '30', mark: '7', sources: ['10.0.0.0/8'] });
    const rules = buildLbRules(['20.20.20.1'], f);
    assert.equal(rules.length, 3);
    assert.deepEqual(rules[0], {
      serviceArguments: { externalIP: '20.20.20.1', port: 2020, protocol: 'tcp', sel: 1, mode: 2, bgp: false, monitor: true, inactiveTimeOut: 30, block: 7, oper: 0, security: 0, proxyprotocolv2: false, egress: false, name: 'web' },
      endpoints: [{ endpointIP: '31.31.31.1', targetPort: 8080, weight: 1 }, { endpointIP: '33.33.33.2', targetPort: 8080, weight: 3 }],
      allowedSources: [{ prefix: '10.0.0.0/8' }],
    });
    assert.equal(rules[1]!.serviceArguments.portMax, 3010);
    assert.deepEqual(rules[2]!.endpoints.map((e) => `${e.endpointIP}/${e.targetPort}`), ['31.31.31.1/5353', '31.31.31.1/5354', '33.33.33.2/5353', '33.33.33.2/5354']);
    for (const r of rules) parseLbRule(r);
  });

  it('refuses what it cannot do with exit 2, naming the flag and what is allowed', async () => {
    for (const [argv, re] of [
      [['create', 'lb', '20.20.20.1', '--tcp=2020:8080', '--select=fastest'], /--select must be one of rr, hash, priority, persist, lc, n2, n3, got "fastest"/],
      [['create', 'lb', '20.20.20.1', '--tcp=2020:8080', '--mode=nat'], /--mode must be one of default, onearm, fullnat, dsr, fullproxy, hostonearm/],
      [['create', 'lb', '20.20.20.1', '--tcp=2020'], /--tcp: "2020" is not <port>\[-<portMax>\]:<targetPort>/],
      [['create', 'lb', '20.20.20.1', '--tcp=70000:80'], /--tcp port must be an integer from 1 to 65535, got "70000"/],
      [['create', 'lb', '20.20.20.1', '--tcp=80:8080', '--mode=dsr', '--endpoints=1.1.1.1:1'], /dsr mode does no port translation/],
      [['create', 'lb', '20.20.20.1', '--tcp=80:80', '--secips=1.2.3.4'], /--secips: secondary IPs are for SCTP/],
      [['create', 'lb', '20.20.20.1', '--tcp=80:80', '--endpoints=1.1.1.1'], /--endpoints: "1.1.1.1" is not <endpointIP>:<weight>/],
      [['create', 'lb', '20.20.20.1', '--tcp=80:80', '--endpoints=1.1.1.1:1,1.1.1.1:2'], /1.1.1.1 is given twice/],
      [['create', 'lb', 'vip', '--tcp=80:80'], /EXTERNAL-IP must be an IPv4 or IPv6 address, got "vip"/],
      [['create', 'lb', '20.20.20.1'], /give the service ports/],
      [['create', 'lb', '20.20.20.1', '--tcp=80:80', '--inatimeout=99999999'], /--inatimeout must be an integer from 0 to 86400/],
      [['create', 'bfd', '10.0.0.2', '--tcp=80:80'], /--tcp is not a flag of "create bfd": its flags are --instance, --sourceIP, --interval, --retryCount/],
      [['create', 'bfd', '10.0.0.2', '--interval=5000'], /bfd interval too low/],
      [['create', 'bfd'], /create bfd: missing <remoteIP>/],
      [['create', 'bgpneighbor', '10.0.0.2'], /missing <ASN>/],
      [['create', 'bgpneighbor', '10.0.0.2', '0'], /ASN must be an integer from 1 to 4294967295/],
      [['create', 'bgpglobal', '--routerID=1.1.1.1'], /--localAS is required/],
      [['create', 'bgpglobal', '--localAS=65000', '--routerID=fd00::1'], /invalid routerId: must be an IPv4 address/],
      [['set', 'ha', '--state=LEADER'], /--state must be one of MASTER, BACKUP, FAULT, STOP, NOT_DEFINED, got "LEADER"/],
      [['set', 'ha'], /--state is required/],
      [['delete', 'lb', '20.20.20.1'], /say which rule/],
      [['create', 'endpoint', '10.0.0.5', '--probetype=http'], /--probeport \(probePort\): must be 1 to 65535 for http probes/],
      [['create', 'endpoint', '10.0.0.5', '--probetype=icmp'], /--probetype must be one of tcp, udp, sctp, http, https, ping, none/],
      [['save'], /say what to save/],
      [['apply'], /apply: give a file/],
      [['create', 'lb', '20.20.20.1', '--tcp=80:80', '--bgp=maybe'], /--bgp is a switch: give it alone, or as --bgp=true or --bgp=false, got "maybe"/],
      [['create', 'widget'], /create: unknown resource "widget": one of lb, bfd, bgpneighbor, bgpglobal, endpoint/],
    ] as [string[], RegExp][]) {
      assert.throws(() => parseLoxicmdArgs(argv), (e: Error) => e instanceof UsageError && re.test(e.message), `${argv.join(' ')}`);
      const io = capture();
      assert.equal(await runLoxicmd(argv, io), 2, argv.join(' '));
      assert.match(io.stderr, /^Error: .*\n\nUsage: loxicmd/);
    }
  });
});

describe('loxicmd against the REST server', () => {
  let agent: FakeAgent;
  let server: RestServer;
  let port: string;
  let dir: string;
  const run = async (...argv: string[]) => {
    const io = capture();
    const code = await runLoxicmd([...argv, '-p', port], io);
    return { code, ...io };
  };

  before(async () => {
    agent = new FakeAgent();
    server = new RestServer(agent, silentLogger);
    await server.listen('127.0.0.1', 0);
    port = String(server.address()!.port);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxt-loxicmd-'));
  });
  after(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    agent.calls = [];
    agent.rules = [];
    agent.bgpEnabled = true;
  });

  it('create / delete lb send loxilb\'s bodies and paths and print the result', async () => {
    let r = await run('create', 'lb', '20.20.20.1', '--tcp=2020:8080', '--endpoints=31.31.31.1:1,32.32.32.1:1', '--mode=fullnat', '--monitor=true', '--bgp', '--egress=false');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Success\n');
    const added = agent.calls[0]![1] as { serviceArguments: Record<string, unknown>; endpoints: unknown[] };
    assert.deepEqual([added.serviceArguments.externalIP, added.serviceArguments.port, added.serviceArguments.mode, added.serviceArguments.monitor, added.serviceArguments.bgp, added.endpoints.length], ['20.20.20.1', 2020, 2, true, true, 2]);
    r = await run('get', 'lb');
    assert.match(r.stdout, /\| 20\.20\.20\.1 \| 2020 \| tcp +\| +\| +0 \| rr +\| fullnat \| +2 \| +0 \| On +\|/);
    r = await run('delete', 'lb', '20.20.20.1', '--tcp=2020', '--bgp', '--mark=3');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(agent.calls.at(-1), ['deleteLbRule', { externalIP: '20.20.20.1', port: 2020, protocol: 'tcp', bgp: true, block: 3 }]);
    r = await run('delete', 'lb', '--name=web');
    assert.deepEqual(agent.calls.at(-1), ['deleteLbRulesByName', 'web']);
  });

  it('bfd, bgp neighbour and global, ha state and log level reach the agent as validated bodies', async () => {
    for (const argv of [
      ['create', 'bfd', '192.168.80.11', '--sourceIP=192.168.80.10', '--interval=100000', '--retryCount=5'],
      ['set', 'bfd', '192.168.80.11', '--interval=300000'],
      ['delete', 'bfd', '192.168.80.11', '--instance=default'],
      ['create', 'bgpneighbor', '10.10.10.1', '64512', '--remotePort=1179', '--setMultiHtop'],
      ['delete', 'bgpneighbor', '10.10.10.1', '64512'],
      ['create', 'bgpglobal', '--localAS=4200000001', '--routerID=10.10.10.254', '--setNextHopSelf'],
      ['set', 'ha', '--instance=llb-inst1', '--state=BACKUP', '--vip=20.20.20.1'],
      ['set', 'log-level', 'info'],
    ]) {
      const r = await run(...argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    }
    assert.deepEqual(agent.calls.filter(([n]) => n !== 'setLogLevel'), [
      ['setBfdSession', { instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIp: '192.168.80.10', intervalUs: 100000, multiplier: 5 }],
      ['setBfdSession', { instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIp: undefined, intervalUs: 300000, multiplier: undefined }],
      ['deleteBfdSession', { remoteIp: '192.168.80.11', instance: 'llb-inst0' }],
      ['addBgpNeighbor', { ipAddress: '10.10.10.1', remoteAs: 64512, remotePort: 1179, setMultiHop: true }],
      ['deleteBgpNeighbor', '10.10.10.1'],
      ['setBgpGlobal', { routerId: '10.10.10.254', localAs: 4200000001, listenPort: 0, setNextHopSelf: true }],
      ['setCiState', { instance: 'llb-inst1', state: 'BACKUP', vip: '20.20.20.1' }],
    ]);
    const r = await run('get', 'log-level');
    assert.equal(r.stdout, '| PARAM NAME | VALUE |\n|------------|-------|\n| Log level  | info  |\n');
    const y = await run('get', 'ha', '-o', 'yaml');
    assert.match(y.stdout, /^Attr:\n  - instance: llb-inst0\n[\s\S]*\n  - instance: llb-inst1\n    state: BACKUP\n    vip: 20\.20\.20\.1\n/);
  });

  it('an API refusal is shown with the agent\'s message and exit 1', async () => {
    agent.bgpEnabled = false;
    const r = await run('create', 'bgpneighbor', '10.10.10.1', '64512');
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error: loxilb API answered HTTP 403: loxilb BGP mode is disabled\n');
  });

  it('save writes lbconfig.txt and BFDconfig.txt in loxicmd\'s format; apply puts the same rules back', async () => {
    for (const argv of [
      ['create', 'lb', '20.20.20.1', '--tcp=2020:8080', '--endpoints=31.31.31.1:1,32.32.32.1:1', '--mode=fullnat', '--monitor', '--name=web'],
      ['create', 'lb', '2001::2', '--udp=5000-5010:5000', '--endpoints=fd00::7:2', '--select=persist', '--inatimeout=60'],
      ['create', 'lb', '20.20.20.3', '--sctp=38412:38412', '--secips=20.20.20.4', '--endpoints=33.33.33.1:1', '--sources=10.0.0.0/8'],
    ]) assert.equal((await run(...argv)).code, 0);
    // A rule kube-loxilb manages is its to re-create: loxicmd leaves it out of the file.
    agent.rules.push({ ...agent.rules[0]!, serviceArguments: { ...agent.rules[0]!.serviceArguments, externalIP: '20.20.20.9', managed: true } });
    agent.bfd = [{ instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIP: '192.168.80.10', port: 3784, interval: 100000, retryCount: 3, state: 'BFDUp' } as never];
    const before = agent.rules.filter((r) => !r.serviceArguments.managed).map((r) => JSON.stringify(r));
    let r = await run('save', '--lb', '-c', dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `LB Configuration saved in ${path.join(dir, 'lbconfig.txt')}\n`);
    r = await run('save', '-a', '-c', dir);
    assert.equal(r.code, 0, r.stderr);
    // The agent serves config/endpoint/all: the endpoint hosts are saved too.
    assert.equal(r.stderr, '');
    assert.ok(fs.existsSync(path.join(dir, 'EPconfig.txt')));
    assert.ok(fs.existsSync(path.join(dir, 'lbconfig.txt.bk')));
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'lbconfig.txt'), 'utf8'));
    assert.equal(saved.lbAttr.length, 3);
    assert.deepEqual(Object.keys(saved.lbAttr[0]), ['serviceArguments', 'secondaryIPs', 'allowedSources', 'endpoints']);
    assert.deepEqual(saved.lbAttr[0].endpoints[0], { endpointIP: '31.31.31.1', targetPort: 8080, weight: 1, state: 'active', counter: '' });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'BFDconfig.txt'), 'utf8')), {
      Attr: [{ instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIp: '192.168.80.10', port: 3784, interval: 100000, retryCount: 3, state: 'BFDUp' }],
    });

    agent.rules = [];
    agent.calls = [];
    r = await run('apply', '-l', path.join(dir, 'lbconfig.txt'), '--bfd', path.join(dir, 'BFDconfig.txt'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(agent.rules.map((x) => JSON.stringify(x)), before);
    assert.deepEqual(agent.calls.at(-1), ['setBfdSession', { instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIp: '192.168.80.10', intervalUs: 100000, multiplier: 3 }]);
  });

  it('apply refuses a bad file whole, naming the record and the field, and sends nothing', async () => {
    const good = { serviceArguments: { externalIP: '20.20.20.1', port: 80, protocol: 'tcp' }, endpoints: [{ endpointIP: '10.0.0.1', targetPort: 80, weight: 1 }] };
    const bad = { serviceArguments: { externalIP: '20.20.20.2', port: 80, protocol: 'tcpx' }, endpoints: [] };
    const file = path.join(dir, 'bad.txt');
    fs.writeFileSync(file, JSON.stringify({ lbAttr: [good, bad] }));
    let r = await run('apply', '-f', file);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Error: .*bad\.txt lbAttr\[1\] \(20\.20\.20\.2 tcpx 80\): invalid serviceArguments\.protocol: must be one of tcp, udp, sctp, icmp.*\nNothing was applied\.\n$/);
    assert.deepEqual(agent.calls, []);
    fs.writeFileSync(file, '{"Attr": [{"instance": "llb-inst0", "remoteIp": "10.0.0.9", "interval": 100000}]}');
    r = await run('apply', '-f', file);
    assert.match(r.stderr, /Attr\[0\] \(10\.0\.0\.9\): invalid retryCount: must be given to create a session/);
    fs.writeFileSync(file, 'kind: Firewall\nspec: {}\n');
    r = await run('apply', '-f', file);
    assert.match(r.stderr, /invalid kind: must be one of Loadbalancer/);
    fs.writeFileSync(file, 'lbAttr: [\n');
    r = await run('apply', '-f', file);
    assert.match(r.stderr, /bad\.txt: not JSON or YAML/);
    r = await run('apply', '-f', path.join(dir, 'missing.txt'));
    assert.match(r.stderr, /-f .*missing\.txt: cannot be read \(ENOENT\)/);
    assert.deepEqual(agent.calls, []);
  });

  it('apply: when the agent refuses a record, it says which, and how many went before it', async () => {
    const file = path.join(dir, 'two.txt');
    const rule = (ip: string) => ({ serviceArguments: { externalIP: ip, port: 80, protocol: 'tcp' }, endpoints: [{ endpointIP: '10.0.0.1', targetPort: 80, weight: 1 }] });
    fs.writeFileSync(file, JSON.stringify({ lbAttr: [rule('20.20.20.1'), rule('20.20.20.2'), rule('20.20.20.3')] }));
    const add = agent.addLbRule.bind(agent);
    agent.addLbRule = async (r) => {
      if (r.serviceArguments.externalIP === '20.20.20.2') throw new ConflictError('lbrule exists');
      return add(r);
    };
    try {
      const r = await run('apply', '-f', file);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'Error: lb 20.20.20.2 tcp 80: loxilb API answered HTTP 409: lbrule exists (1 of 3 records applied before it; the rest not sent)\n');
      assert.deepEqual(agent.rules.map((x) => x.serviceArguments.externalIP), ['20.20.20.1']);
    } finally {
      agent.addLbRule = add;
    }
  });

  it('apply -f takes loxicmd\'s kind/spec files, YAML with several documents', async () => {
    const file = path.join(dir, 'lb.yaml');
    fs.writeFileSync(file, [
      'apiVersion: netlox/v1', 'kind: Loadbalancer', 'spec:', '  serviceArguments:', '    externalIP: 123.123.123.1', '    port: 8080', '    protocol: tcp', '    sel: 0', '    mode: 2', '    path: /web',
      '  endpoints:', '    - endpointIP: 10.0.0.1', '      targetPort: 80', '      weight: 1',
      '---', 'kind: BFD', 'spec:', '  remoteIp: 10.0.0.2', '  interval: 200000', '  retryCount: 3', '',
    ].join('\n'));
    const r = await run('apply', '-f', file);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(agent.rules.length, 1);
    assert.equal(agent.rules[0]!.serviceArguments.host, '/web');
    assert.deepEqual(agent.calls.map(([n]) => n), ['addLbRule', 'setBfdSession']);
  });
});

describe('loxicmd endpoint commands against a stub of loxilb\'s config/endpoint', () => {
  const requests: string[] = [];
  let stub: http.Server;
  let port: string;
  before(async () => {
    stub = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        requests.push(`${req.method} ${req.url} ${body}`);
        res.setHeader('Content-Type', 'application/json');
        if (req.method === 'GET') {
          res.end(JSON.stringify({ Attr: [
            { hostName: '32.32.32.1', name: '32.32.32.1_http_8080', inactiveReTries: 2, probeType: 'http', probeReq: '/health', probeResp: '', probeDuration: 60, probePort: 8080, minDelay: '1.2ms', avgDelay: '1.5ms', maxDelay: '2.0ms', currState: 'ok' },
            { hostName: '31.31.31.1', name: '', inactiveReTries: 2, probeType: 'ping', probeReq: '', probeResp: '', probeDuration: 60, probePort: 0, minDelay: '', avgDelay: '', maxDelay: '', currState: 'nok' },
          ] }));
        } else if (req.url?.includes('10.9.9.9')) {
          res.statusCode = 400;
          res.end(JSON.stringify({ code: 400, message: 'endpoint does not exist' }));
        } else res.end(JSON.stringify({ result: 'Success' }));
      });
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    port = String((stub.address() as { port: number }).port);
  });
  after(() => new Promise<void>((r) => stub.close(() => r())));

  it('get ep, create endpoint and delete endpoint use loxilb\'s shapes', async () => {
    let io = capture();
    assert.equal(await runLoxicmd(['get', 'ep', '-p', port], io), 0, io.stderr);
    assert.equal(io.stdout,
      '|    HOST    |         NAME         |    PTYPE     | PORT | DURATION | RETRIES | MINDELAY | AVGDELAY | MAXDELAY | STATE |\n' +
      '|------------|----------------------|--------------|------|----------|---------|----------|----------|----------|-------|\n' +
      '| 31.31.31.1 |                      | ping:        |    0 |       60 |       2 |          |          |          | nok   |\n' +
      '| 32.32.32.1 | 32.32.32.1_http_8080 | http:/health | 8080 |       60 |       2 | 1.2ms    | 1.5ms    | 2.0ms    | ok    |\n');
    io = capture();
    assert.equal(await runLoxicmd(['create', 'endpoint', '32.32.32.1', '--name=32.32.32.1_http_8080', '--probetype=http', '--probeport=8080', '--period=60', '--retries=2', '-p', port], io), 0, io.stderr);
    io = capture();
    assert.equal(await runLoxicmd(['delete', 'endpoint', '31.31.31.31', '--name=x', '--probetype=http', '--probeport=8080', '-p', port], io), 0, io.stderr);
    io = capture();
    assert.equal(await runLoxicmd(['delete', 'ep', '10.9.9.9', '-p', port], io), 1);
    assert.equal(io.stderr, 'Error: loxilb API answered HTTP 400: endpoint does not exist\n');
    assert.deepEqual(requests.slice(1), [
      'POST /netlox/v1/config/endpoint {"hostName":"32.32.32.1","name":"32.32.32.1_http_8080","probeType":"http","probePort":8080,"probeReq":"","probeResp":"","probeDuration":60,"inactiveReTries":2}',
      'DELETE /netlox/v1/config/endpoint/epipaddress/31.31.31.31?name=x&probe_type=http&probe_port=8080 ',
      'DELETE /netlox/v1/config/endpoint/epipaddress/10.9.9.9?probe_type=ping&probe_port=0 ',
    ]);
  });

  it('save --endpoint writes EPconfig.txt without the live delays; apply --endpoint posts them back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxt-loxicmd-ep-'));
    try {
      let io = capture();
      assert.equal(await runLoxicmd(['save', '--endpoint', '-c', dir, '-p', port], io), 0, io.stderr);
      const text = fs.readFileSync(path.join(dir, 'EPconfig.txt'), 'utf8');
      assert.equal(JSON.parse(text).Attr[0].minDelay, undefined);
      requests.length = 0;
      io = capture();
      assert.equal(await runLoxicmd(['apply', '--endpoint', path.join(dir, 'EPconfig.txt'), '-p', port], io), 0, io.stderr);
      assert.deepEqual(requests.map((r) => r.split(' ').slice(0, 2).join(' ')), ['POST /netlox/v1/config/endpoint', 'POST /netlox/v1/config/endpoint']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
