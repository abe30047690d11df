// A secured REST API end to end (issue 14): two real agents in their own
// namespaces run with --tls (certificates from a CA made with openssl for
// this run), --api-token-file and --peer-api-ca, and --ka with each other.
// From a third namespace on the segment:
// - HTTPS with the CA and the token works; another CA fails the handshake;
//   no token or a wrong one is a 401 in loxilb's Error model;
// - plain HTTP needs the token too; GET /status alone answers without it,
//   and then only says whether the agent is up;
// - loxicmd with --cacert and --token-file, and kube-loxilb's LoxiClient
//   over https:// (loxiURL, loxiCACert, loxiTokenFile), work;
// - the HA peers read each other's role over HTTPS with the token (neither
//   counts a 401 or a failed handshake); lb2 serves plain HTTP on loopback
//   only (--host=127.0.0.1), so lb1 can read it over HTTPS alone;
// - garbage on the HTTPS port costs nothing;
// - an unreadable certificate or an empty token file stops an agent before it
//   starts anything, naming the flag and the path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess } from '../lab/Lab.ts';
import { LOXILB_BIN, startAgentProcess } from '../lab/agentProcess.ts';
import { LOXICMD_BIN } from '../lab/BgpLab.ts';
import { issueCert, makeCa } from '../lab/pki.ts';
import { waitFor } from '../lab/wait.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_CALL = fileURLToPath(new URL('./fixtures/loxiClientCall.ts', import.meta.url));

const LB1 = '192.168.79.10';
const LB2 = '192.168.79.11';
const CLIENT = '192.168.79.30';
const TOKEN = 'integration-token-3f9a1c0e5b7d4e21';

describe('the REST API with --tls and --api-token-file', { timeout: 180_000 }, () => {
  let lab: Lab;
  let pki: string;
  const agents = new Map<string, LabProcess>();
  let ca: string;
  let otherCa: string;
  let tokenFile: string;

  const rule = (vip: string, name: string) => ({
    serviceArguments: { externalIP: vip, port: 80, protocol: 'tcp', name },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
  });

  /** curl from the client namespace: status code (0 when no HTTP answer), body, and curl's exit code. */
  async function curl(args: string[]): Promise<{ code: number; body: any; exit: number | null; stderr: string }> {
    const r = await lab.exec('client', ['curl', '-sS', '-m', '10', '-o', '-', '-w', '\n%{http_code}', ...args], { timeoutMs: 15_000 });
    const nl = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, nl);
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { code: Number(r.stdout.slice(nl + 1)) || 0, body, exit: r.code, stderr: r.stderr };
  }
  const https = (ip: string, p: string) => `https://${ip}:8091/netlox/v1${p}`;
  const http = (ip: string, p: string) => `http://${ip}:11111/netlox/v1${p}`;
  const bearer = (t: string) => ['-H', `Authorization: Bearer ${t}`];
  const json = (body: unknown) => ['-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body)];
  /** Full /status of an agent, read over HTTPS with the token. */
  const status = async (ip: string) => (await curl(['--cacert', ca, ...bearer(TOKEN), https(ip, '/status')])).body as Record<string, any>;

  const agentArgs = (self: string, peer: string, node: string) => [
    '--tls',
    `--tls-certificate=${path.join(pki, `${node}.pem`)}`,
    `--tls-key=${path.join(pki, `${node}.key`)}`,
    `--api-token-file=${tokenFile}`,
    `--peer-api-ca=${ca}`,
    `--ka=${peer}:${self}:100000:3`,
    '--ha-init-wait=2000',
  ];

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw');
    await lab.addNode('lb1', { switch: 'sw', ipv4: `${LB1}/24` });
    await lab.addNode('lb2', { switch: 'sw', ipv4: `${LB2}/24` });
    await lab.addNode('client', { switch: 'sw', ipv4: `${CLIENT}/24` });
    await lab.addNode('bad', { switch: 'sw', ipv4: '192.168.79.40/24' });
    pki = mkdtempSync(path.join(os.tmpdir(), 'lxt-api-pki-'));
    ca = makeCa(pki);
    otherCa = makeCa(pki, 'otherca');
    // Each agent's certificate names its address (the peer and the clients check it) and loopback.
    issueCert(pki, { name: 'lb1', sans: [`IP:${LB1}`, 'IP:127.0.0.1'], usage: 'serverAuth' });
    issueCert(pki, { name: 'lb2', sans: [`IP:${LB2}`, 'IP:127.0.0.1'], usage: 'serverAuth' });
    tokenFile = path.join(pki, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    // Both at once: each waits --ha-init-wait for the other.
    const [a1, a2] = await Promise.all([
      startAgentProcess(lab, 'lb1', agentArgs(LB1, LB2, 'lb1')),
      startAgentProcess(lab, 'lb2', ['--host=127.0.0.1', ...agentArgs(LB2, LB1, 'lb2')]),
    ]);
    agents.set('lb1', a1);
    agents.set('lb2', a2);
  });

  after(async () => {
    try {
      await lab?.destroy();
    } finally {
      if (pki) rmSync(pki, { recursive: true, force: true });
    }
  });

  it('HTTPS with the CA and the token works; another CA fails the handshake; no or a wrong token is a 401', async () => {
    const ok = await curl(['--cacert', ca, ...bearer(TOKEN), ...json(rule('20.20.20.1', 'web')), https(LB1, '/config/loadbalancer')]);
    assert.equal(ok.code, 200, JSON.stringify(ok));
    assert.deepEqual(ok.body, { result: 'Success' });
    const list = await curl(['--cacert', ca, ...bearer(TOKEN), https(LB1, '/config/loadbalancer/all')]);
    assert.equal(list.code, 200);
    assert.equal(list.body.lbAttr.length, 1);

    const wrongCa = await curl(['--cacert', otherCa, ...bearer(TOKEN), https(LB1, '/config/loadbalancer/all')]);
    assert.equal(wrongCa.code, 0, 'no HTTP answer');
    assert.equal(wrongCa.exit, 60, `curl: certificate not verified (${wrongCa.stderr.trim()})`);
    // TLS 1.1 is not offered.
    const old = await curl(['--cacert', ca, '--tls-max', '1.1', ...bearer(TOKEN), https(LB1, '/status')]);
    assert.equal(old.code, 0);

    for (const args of [[], bearer('integration-token-wrong-wrong-wrong'), bearer(TOKEN.slice(0, -1)), bearer(`${TOKEN}x`), ['-H', `Authorization: Basic ${TOKEN}`]]) {
      const r = await curl(['--cacert', ca, ...args, ...json(rule('20.20.20.9', 'intruder')), https(LB1, '/config/loadbalancer')]);
      assert.equal(r.code, 401, JSON.stringify(args));
      assert.equal(r.body.code, 401);
      assert.equal(r.body.message, 'Invalid authentication credentials');
      assert.equal(typeof r.body.result, 'string');
      assert.equal(r.body.fields, null);
    }
    const del = await curl(['--cacert', ca, '-X', 'DELETE', https(LB1, '/config/loadbalancer/all')]);
    assert.equal(del.code, 401);
    assert.equal((await curl(['--cacert', ca, ...bearer(TOKEN), https(LB1, '/config/loadbalancer/all')])).body.lbAttr.length, 1, 'nothing was added or deleted');
  });

  it('plain HTTP needs the token too; GET /status answers without it, saying only whether the agent is up', async () => {
    assert.equal((await curl([http(LB1, '/config/loadbalancer/all')])).code, 401);
    assert.equal((await curl([...json(rule('20.20.20.9', 'intruder')), http(LB1, '/config/loadbalancer')])).code, 401);
    assert.equal((await curl([...json({ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }), http(LB1, '/config/cistate')])).code, 401);
    const open = await curl([http(LB1, '/status')]);
    assert.equal(open.code, 200);
    assert.deepEqual(Object.keys(open.body).sort(), ['mode', 'status', 'uptimeSeconds']);
    const full = await curl([...bearer(TOKEN), http(LB1, '/status')]);
    assert.equal(full.code, 200);
    assert.equal(full.body.api.security.token, true);
    assert.deepEqual(full.body.api.security.https, { host: '0.0.0.0', port: 8091 });
    assert.equal((await curl([...bearer(TOKEN), http(LB1, '/config/loadbalancer/all')])).body.lbAttr.length, 1);
  });

  it('loxicmd with --cacert and --token-file prints the rules; without the token it names the 401', async () => {
    const table = await lab.run('client', [LOXICMD_BIN, 'get', 'lb', '-s', LB1, '--protocol', 'https', '-p', '8091', '--cacert', ca, '--token-file', tokenFile]);
    assert.match(table, /\| 20\.20\.20\.1 \| +80 \| tcp +\| web /);
    const refused = await lab.exec('client', [LOXICMD_BIN, 'get', 'lb', '-s', LB1, '--protocol', 'https', '-p', '8091', '--cacert', ca]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'Error: loxilb API answered HTTP 401: Invalid authentication credentials\n');
  });

  it("kube-loxilb's LoxiClient reaches the agent at https:// with --loxiCACert and --loxiTokenFile", async () => {
    const call = async (flags: string[]) => JSON.parse(await lab.run('client', [process.execPath, '--import', 'tsx', CLIENT_CALL, ...flags], { cwd: REPO, timeoutMs: 60_000 }));
    const ok = await call([`--loxiURL=https://${LB1}:8091`, `--loxiCACert=${ca}`, `--loxiTokenFile=${tokenFile}`]);
    assert.equal(ok.error, undefined, JSON.stringify(ok));
    assert.equal(ok.health.alive, true);
    assert.equal(ok.health.httpStatus, 200);
    assert.equal(ok.post, 'applied');
    assert.equal(ok.rules, 2);
    assert.ok(ok.ciStates.includes('llb-inst0'));
    const noToken = await call([`--loxiURL=https://${LB1}:8091`, `--loxiCACert=${ca}`]);
    assert.equal(noToken.error.name, 'LoxiApiError');
    assert.equal(noToken.error.status, 401);
    const wrongCa = await call([`--loxiURL=https://${LB1}:8091`, `--loxiCACert=${otherCa}`, `--loxiTokenFile=${tokenFile}`]);
    assert.equal(wrongCa.health.alive, false, 'an agent whose certificate does not verify counts as down');
    assert.equal(wrongCa.error.name, 'LoxiTransportError');
  });

  it('the HA peers elect over HTTPS with the token: each reads the other, and neither refused a request', async () => {
    const view = async (ip: string) => {
      const r = await curl(['--cacert', ca, ...bearer(TOKEN), https(ip, '/config/cistate/all')]);
      return (r.body?.Attr as Record<string, any>[] | undefined)?.find((e) => e.instance === 'llb-inst0');
    };
    await waitFor(
      async () => {
        const [v1, v2] = [await view(LB1), await view(LB2)];
        return [v1?.state, v2?.state].sort().join() === 'BACKUP,MASTER' && v1?.peers?.[0]?.state === v2?.state && v2?.peers?.[0]?.state === v1?.state;
      },
      { timeoutMs: 20_000, what: 'one MASTER, one BACKUP, each with the role of the other as read over HTTPS' },
    );
    // lb2's plain HTTP is on loopback only: what lb1 read, it read over HTTPS.
    const closed = await curl([...bearer(TOKEN), http(LB2, '/status')]);
    assert.equal(closed.code, 0);
    assert.equal(closed.exit, 7, `connection refused (${closed.stderr.trim()})`);
    // The test sent lb2 no unauthenticated request: every 401 there would be lb1's peer view.
    const s2 = await status(LB2);
    assert.equal(s2.api.security.unauthorized, 0);
    assert.equal(s2.api.security.tlsHandshakeFailures, 0);
    assert.doesNotMatch(agents.get('lb1')!.log() + agents.get('lb2')!.log(), /peer wants another API token|cannot read the HA peer/);
  });

  it('garbage on the HTTPS port costs nothing: the agent keeps serving', async () => {
    const before = (await status(LB1)).api.security.tlsHandshakeFailures as number;
    const plain = await curl([`http://${LB1}:8091/netlox/v1/status`]);
    assert.notEqual(plain.code, 200);
    await lab.exec('client', ['bash', '-c', `head -c 65536 /dev/urandom > /dev/tcp/${LB1}/8091 || true`], { timeoutMs: 10_000 });
    assert.equal((await curl(['--cacert', ca, ...bearer(TOKEN), https(LB1, '/config/loadbalancer/all')])).code, 200);
    const s = await status(LB1);
    assert.ok(s.api.security.tlsHandshakeFailures > before, `handshake failures ${before} -> ${s.api.security.tlsHandshakeFailures}`);
    assert.ok(agents.get('lb1')!.alive());
  });

  it('an unreadable certificate or an empty token file stops the agent before it starts anything, naming the flag and the path', async () => {
    const empty = path.join(pki, 'empty-token');
    writeFileSync(empty, '\n');
    for (const [args, message] of [
      [['--tls', `--tls-certificate=${path.join(pki, 'missing.pem')}`, `--tls-key=${path.join(pki, 'lb1.key')}`], `loxilb: flag --tls-certificate: "${path.join(pki, 'missing.pem')}" cannot be read (no such file)`],
      [['--tls', `--tls-certificate=${path.join(pki, 'lb1.pem')}`, `--tls-key=${path.join(pki, 'lb2.key')}`], 'are not a usable certificate and key'],
      [[`--api-token-file=${empty}`], `loxilb: flag --api-token-file: "${empty}" is empty: it must hold the API token`],
    ] as [string[], string][]) {
      const p = lab.spawn('bad', LOXILB_BIN, [...args, `--config-path=${path.join(lab.dir, 'bad-config')}`], { logName: 'bad.loxilb' });
      const exit = await p.exited;
      assert.equal(exit.code, 2, p.log());
      assert.ok(p.log().includes(message), p.log());
      // Nothing was started: no datapath on the node's interface, no listener.
      assert.doesNotMatch(await lab.run('bad', ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress']), /bpf/);
      assert.equal((await lab.run('bad', ['ss', '-Htln'])).trim(), '');
    }
  });
});
