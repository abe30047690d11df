// The clients of a secured agent (issue 14): kube-loxilb's LoxiClient and
// flags, loxicmd, and the HA peer view, against an in-process RestServer
// with a token and an HTTPS listener whose certificate a test CA signed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RestServer } from '../../src/api/RestServer.ts';
import { LoxiApiError, LoxiClient, LoxiTransportError } from '../../src/kube/LoxiClient.ts';
import { KubeLoxilbFlagError, discoveredAgentUrls, loadAgentAccess, parseKubeLoxilbFlags } from '../../src/cli/kubeLoxilbFlags.ts';
import { parseLoxicmdArgs, UsageError } from '../../src/cli/loxicmdArgs.ts';
import { runLoxicmd } from '../../src/cli/loxicmdCommands.ts';
import { fetchPeerView } from '../../src/ha/peerView.ts';
import { FaultRegistry } from '../../src/util/faults.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { issueCert, makeCa } from '../lab/pki.ts';
import { FakeAgent } from './fixtures/FakeAgentApi.ts';

const TOKEN = 'f00dfeedf00dfeedf00dfeedf00dfeed';

describe('clients of an agent with --tls and --api-token-file', () => {
  let dir: string;
  let ca: Buffer;
  let otherCa: Buffer;
  let server: RestServer;
  let agent: FakeAgent;
  let httpsBase: string;
  let httpBase: string;
  let tokenFile: string;
  const clients: LoxiClient[] = [];
  const client = (url: string, opts: ConstructorParameters<typeof LoxiClient>[1] = {}) => {
    const c = new LoxiClient(url, { healthTimeoutMs: 2000, requestTimeoutMs: 2000, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-secure-clients-'));
    makeCa(dir);
    const { cert, key } = issueCert(dir, { name: 'agent', sans: ['IP:127.0.0.1'] });
    makeCa(dir, 'other');
    ca = readFileSync(path.join(dir, 'ca.pem'));
    otherCa = readFileSync(path.join(dir, 'other.pem'));
    tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    agent = new FakeAgent();
    server = new RestServer(agent, silentLogger, { faults: new FaultRegistry(), token: TOKEN, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    await server.listen('127.0.0.1', 0);
    await server.listenTls('127.0.0.1', 0);
    httpBase = `http://127.0.0.1:${server.address()!.port}`;
    httpsBase = `https://127.0.0.1:${server.tlsAddress()!.port}`;
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('LoxiClient: https:// with the CA and the token works (no more ERR_INVALID_PROTOCOL); plain HTTP with the token too', async () => {
    const c = client(httpsBase, { ca, token: TOKEN });
    const h = await c.health();
    assert.equal(h.alive, true, h.error);
    assert.equal(h.httpStatus, 200);
    assert.equal(h.uptimeSeconds, 1);
    assert.equal(await c.postRule({ serviceArguments: { externalIP: '10.0.0.9', port: 80, protocol: 'tcp' }, endpoints: [{ endpointIP: '10.1.0.1', targetPort: 80, weight: 1 }] } as never), 'applied');
    assert.equal((await c.listRules()).length, 1);
    assert.equal((await client(httpBase, { token: TOKEN }).listRules()).length, 1);
  });

  it('LoxiClient: without the token a 401 LoxiApiError; with another CA a transport error, and health says down', async () => {
    await assert.rejects(client(httpsBase, { ca }).listRules(), (e: unknown) => e instanceof LoxiApiError && e.status === 401 && /Invalid authentication credentials/.test(e.agentMessage));
    await assert.rejects(client(httpBase, { token: 'not-the-token-at-all' }).listCiStates(), (e: unknown) => e instanceof LoxiApiError && e.status === 401);
    const wrongCa = client(httpsBase, { ca: otherCa, token: TOKEN });
    await assert.rejects(wrongCa.listRules(), (e: unknown) => e instanceof LoxiTransportError && /certificate|self[- ]signed|verify/i.test(e.reason));
    const h = await wrongCa.health();
    assert.equal(h.alive, false);
    // The system CAs do not know the test CA either.
    assert.equal((await client(httpsBase, { token: TOKEN }).health()).alive, false);
  });

  it('the HA peer view sends the token, and with a CA reads the peer over HTTPS', async () => {
    const httpPort = server.address()!.port;
    const httpsPort = server.tlsAddress()!.port;
    assert.deepEqual(await fetchPeerView('127.0.0.1', httpPort, 'llb-inst0', 2000, { token: TOKEN }), { state: 'NOT_DEFINED', priority: 100, synced: true });
    assert.deepEqual(await fetchPeerView('127.0.0.1', httpPort, 'llb-inst0', 2000, { token: TOKEN, https: { port: httpsPort, ca } }), { state: 'NOT_DEFINED', priority: 100, synced: true });
    await assert.rejects(fetchPeerView('127.0.0.1', httpPort, 'llb-inst0', 2000), /HTTP 401 from http:\/\/127\.0\.0\.1:\d+: the peer wants another API token/);
    await assert.rejects(fetchPeerView('127.0.0.1', httpPort, 'llb-inst0', 2000, { token: TOKEN, https: { port: httpsPort, ca: otherCa } }), /https:\/\/127\.0\.0\.1:\d+: .*(certificate|verify)/i);
  });

  it('loxicmd: --protocol https --cacert --token-file prints the table; without the token or with another CA it fails naming why', async () => {
    const port = String(server.tlsAddress()!.port);
    const capture = () => {
      const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
      return io;
    };
    let io = capture();
    assert.equal(await runLoxicmd(['get', 'ha', '--protocol', 'https', '-p', port, '--cacert', path.join(dir, 'ca.pem'), '--token-file', tokenFile], io), 0, io.stderr);
    assert.match(io.stdout, /llb-inst0 \| NOT_DEFINED/);
    io = capture();
    assert.equal(await runLoxicmd(['get', 'ha', '--protocol', 'https', '-p', port, '--cacert', path.join(dir, 'ca.pem')], io), 1);
    assert.equal(io.stderr, 'Error: loxilb API answered HTTP 401: Invalid authentication credentials\n');
    io = capture();
    assert.equal(await runLoxicmd(['get', 'ha', '--protocol', 'https', '-p', port, '--cacert', path.join(dir, 'other.pem'), '--token-file', tokenFile], io), 1);
    assert.match(io.stderr, /^Error: cannot connect to loxilb API at https:\/\/127\.0\.0\.1:\d+\/netlox\/v1: .*(certificate|verify)/i);
    // loxilb's loxicmd sends --token as given: the bare token is accepted too.
    io = capture();
    assert.equal(await runLoxicmd(['get', 'ha', '-p', String(server.address()!.port), '--token', TOKEN], io), 0, io.stderr);
    io = capture();
    assert.equal(await runLoxicmd(['get', 'ha', '--token-file', path.join(dir, 'missing')], io), 2);
    assert.match(io.stderr, /^Error: --token-file: ".*missing" cannot be read \(no such file\)/);
  });
});

describe('loxicmd flags for a secured agent', () => {
  it('--cacert needs https; --token and --token-file exclude each other; empty paths are refused', () => {
    const opts = parseLoxicmdArgs(['get', 'lb', '--protocol', 'https', '-p', '8091', '--cacert', '/ca.pem', '--token-file', '/t']);
    assert.equal(opts.kind, 'get');
    if (opts.kind === 'get') {
      assert.equal(opts.options.caCert, '/ca.pem');
      assert.equal(opts.options.tokenFile, '/t');
      assert.equal(opts.options.protocol, 'https');
    }
    for (const [args, re] of [
      [['get', 'lb', '--cacert', '/ca.pem'], /--cacert is for HTTPS: add --protocol https/],
      [['get', 'lb', '--token', 'x', '--token-file', '/t'], /--token and --token-file cannot be used together/],
      [['get', 'lb', '--token-file='], /--token-file needs a file path/],
      [['get', 'lb', '--protocol', 'https', '--cacert='], /--cacert needs a file path/],
    ] as [string[], RegExp][]) {
      assert.throws(() => parseLoxicmdArgs(args), (e: Error) => e instanceof UsageError && re.test(e.message), args.join(' '));
    }
  });
});

describe('kube-loxilb flags for secured agents', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-kube-access-'));
    makeCa(dir);
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`);
    writeFileSync(path.join(dir, 'empty'), '\n');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--loxiCACert, --loxiTokenFile, --loxiDiscoverHTTPS (also as YAML keys); the files are read by loadAgentAccess', () => {
    const cfg = parseKubeLoxilbFlags(['--loxiURL=https://10.0.0.1:8091,http://10.0.0.2:11111', `--loxiCACert=${dir}/ca.pem`, `--loxiTokenFile=${dir}/token`]);
    assert.deepEqual(cfg.loxiURLs, ['https://10.0.0.1:8091', 'http://10.0.0.2:11111']);
    assert.deepEqual(cfg.loxiCACert, { path: `${dir}/ca.pem`, where: 'flag --loxiCACert' });
    assert.equal(cfg.loxiDiscoverHTTPS, false);
    const access = loadAgentAccess(cfg);
    assert.equal(access.token, TOKEN);
    assert.match(access.ca!.toString(), /BEGIN CERTIFICATE/);
    assert.deepEqual(loadAgentAccess(parseKubeLoxilbFlags([])), {});

    const yaml = parseKubeLoxilbFlags(['--config=/c.yaml'], { readFile: () => `loxiCACert: ${dir}/ca.pem\nloxiTokenFile: ${dir}/empty\nloxiDiscoverHTTPS: true\n` });
    assert.equal(yaml.loxiDiscoverHTTPS, true);
    assert.throws(() => loadAgentAccess(yaml), (e: Error) => e instanceof KubeLoxilbFlagError && new RegExp(`^key loxiTokenFile in /c.yaml: "${dir}/empty" is empty`).test(e.message));
  });

  it('--loxiDiscoverHTTPS: discovered agents are reached at https://<address>:8091', () => {
    const found = [
      { url: 'http://192.168.80.10:11111', kind: 'lb' as const, nodeAddress: '192.168.80.10' },
      { url: 'http://[fd00::10]:11111', kind: 'peer' as const, nodeAddress: 'fd00::10' },
    ];
    assert.deepEqual(discoveredAgentUrls({ loxiDiscoverHTTPS: false }, found), found);
    assert.deepEqual(
      discoveredAgentUrls(parseKubeLoxilbFlags(['--loxiDiscoverHTTPS', `--loxiCACert=${dir}/ca.pem`]), found).map((a) => a.url),
      ['https://192.168.80.10:8091', 'https://[fd00::10]:8091'],
    );
  });

  it('errors name the flag and what is allowed', () => {
    for (const [args, re] of [
      [['--loxiTokenFile='], /flag --loxiTokenFile needs a file path/],
      [['--loxiCACert=/ca.pem', '--loxiURL=http://10.0.0.1:11111'], /flag --loxiCACert is for agents reached over HTTPS, but no --loxiURL is https:\/\//],
      [['--loxiCACert=/ca.pem'], /--loxiDiscoverHTTPS is off/],
      [['--loxiURL=ftp://10.0.0.1'], /must be http\(s\) URLs/],
    ] as [string[], RegExp][]) {
      assert.throws(() => parseKubeLoxilbFlags(args), (e: Error) => e instanceof KubeLoxilbFlagError && re.test(e.message), args.join(' '));
    }
    assert.throws(
      () => loadAgentAccess(parseKubeLoxilbFlags(['--loxiURL=https://10.0.0.1:8091', `--loxiCACert=${dir}/token`])),
      (e: Error) => e instanceof KubeLoxilbFlagError && /flag --loxiCACert: ".*token" is not a PEM file/.test(e.message),
    );
    assert.throws(
      () => loadAgentAccess(parseKubeLoxilbFlags([`--loxiTokenFile=${dir}/nope`])),
      (e: Error) => e instanceof KubeLoxilbFlagError && /flag --loxiTokenFile: ".*nope" cannot be read \(no such file\)/.test(e.message),
    );
  });
});
