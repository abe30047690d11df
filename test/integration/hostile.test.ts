// Hostile input never harms a node: an attacker on the agent's segment, in a
// namespace of its own, does what broke nodes before, and the agent, run with
// a low descriptor limit so exhaustion would be quick, keeps serving:
// - thousands of idle connections from one address and from several: the
//   caps refuse the excess with 503, /status still answers another client,
//   and the once-a-second link sync still picks up a new interface;
// - keyFile pointing at a FIFO, /dev/zero, /etc/shadow: clear refusals at
//   once, no hang, no memory growth, nothing said about files outside the key
//   directory; a saved session with such a key is reported at start;
// - a foreign Origin: no CORS headers, and DELETE of every rule refused;
// - a spoofed BFD Up packet with absurd timers right after the peer died:
//   the peer is Down within the bound, and TTL drops show per session.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess } from '../lab/Lab.ts';
import { LOXILB_BIN, agentApi, mustAgentApi } from '../lab/agentProcess.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';
import { BfdPeer } from '../lab/BfdPeer.ts';
import { controlPacket, sendWithTtl } from '../lab/bfdPackets.ts';
import { ConfigStore } from '../../src/agent/ConfigStore.ts';
import { BfdState, encodeBfdPacket } from '../../src/bfd/BfdPacket.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FLOOD = fileURLToPath(new URL('./fixtures/connFlood.ts', import.meta.url));
const SPOOFER = fileURLToPath(new URL('./fixtures/bfdSpoofer.ts', import.meta.url));

const LB = '192.168.77.10';
const PEER = '192.168.77.20';
const CLIENT = '192.168.77.30';
const ATTACKER = ['192.168.77.66', '192.168.77.67', '192.168.77.68', '192.168.77.69', '192.168.77.70'];
interface FloodReport {
  attempted: number;
  open: number;
  refused503: number;
  closed: number;
  failed: number;
}

/** The agent's descriptor limit: its connection cap becomes 128 (half), 64 per client. */
const FD_LIMIT = 256;

describe('an attacker on the segment cannot harm the node', { timeout: 240_000 }, () => {
  let lab: Lab;
  let agent: LabProcess;
  let configDir: string;
  let keyDir: string;

  const api = (method: string, p: string, body?: unknown) => agentApi(lab, 'lb', method, p, body);
  const status = async () => (await mustAgentApi(lab, 'lb', 'GET', '/status')) as Record<string, any>;
  /** curl from another namespace over the segment; -i so headers can be checked. */
  const curlFrom = async (node: string, args: string[]) => {
    const r = await lab.exec(node, ['curl', '-s', '-i', '-m', '10', ...args], { timeoutMs: 15_000 });
    const code = Number(/^HTTP\/1\.1 (\d{3})/m.exec(r.stdout)?.[1] ?? 0);
    return { code, text: r.stdout };
  };
  const fdsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

  /** The agent with a low descriptor limit; resolves once it answers (or rejects with its last log lines if it exits). */
  async function startAgent(extra: string[] = []): Promise<LabProcess> {
    const args = ['--host=0.0.0.0', `--config-path=${configDir}`, '--loglevel=info', '--bfd-max-remote-tx=1000000', '--bfd-max-remote-mult=3', ...extra];
    const p = lab.spawn('lb', 'prlimit', [`--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--', LOXILB_BIN, ...args], { logName: 'lb.loxilb' });
    await waitFor(
      async () => {
        if (!p.alive()) throw new StopWaiting(`loxilb exited: ${p.log().split('\n').slice(-5).join('\n')}`);
        return (await api('GET', '/status')).status === 200;
      },
      { timeoutMs: 30_000, what: 'loxilb to answer' },
    );
    return p;
  }

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw');
    await lab.addNode('lb', { switch: 'sw', ipv4: `${LB}/24` });
    await lab.addNode('peer', { switch: 'sw', ipv4: `${PEER}/24` });
    await lab.addNode('client', { switch: 'sw', ipv4: `${CLIENT}/24` });
    await lab.addNode('attacker', { switch: 'sw', ipv4: ATTACKER.map((a) => `${a}/24`) });
    configDir = path.join(lab.dir, 'lb-config');
    keyDir = path.join(configDir, 'bfd-keys');
    mkdirSync(keyDir, { recursive: true });
    execFileSync('mkfifo', [path.join(keyDir, 'fifo.key')]);
    symlinkSync('/dev/zero', path.join(keyDir, 'zero.key'));
    // A session saved earlier whose key file is now a FIFO: the start must not hang on it.
    new ConfigStore(configDir).saveBfdSessions([{ instance: 'llb-inst0', remoteIp: '192.168.77.99', intervalUs: 100000, multiplier: 3, auth: { type: 'keyed-sha1', keyId: 1, keyFile: 'fifo.key' } }]);
    agent = await startAgent();
    assert.match(readFileSync(`/proc/${agent.pid}/limits`, 'utf8'), new RegExp(`Max open files\\s+${FD_LIMIT}\\s+${FD_LIMIT}`));
    process.stderr.write(`# agent holds ${fdsOf(agent.pid)} descriptors at start (limit ${FD_LIMIT})\n`);
    await mustAgentApi(lab, 'lb', 'POST', '/config/loadbalancer', { serviceArguments: { externalIP: '20.20.20.1', port: 80, protocol: 'tcp', name: 'victim' }, endpoints: [{ endpointIP: '20.20.30.5', targetPort: 8080, weight: 1 }] });
  });

  after(async () => {
    await lab?.destroy();
  });

  it('a saved session whose key file is now a FIFO is reported at start, and the agent started anyway', async () => {
    const st = await status();
    assert.equal(st.bfd.notStarted.length, 1);
    assert.match(st.bfd.notStarted[0].reason, /keyFile "fifo\.key" is a FIFO: a key must be a regular file/);
    assert.ok(st.degraded.some((d: string) => /BFD session with 192\.168\.77\.99 .* not started/.test(d)));
  });

  it('keyFile: a FIFO, /dev/zero and /etc/shadow are refused at once, saying nothing about files outside the key directory', async () => {
    const post = (keyFile: string) => api('POST', '/config/bfd', { remoteIp: PEER, interval: 100000, retryCount: 3, authType: 'keyed-sha1', keyId: 1, keyFile });
    const rssBefore = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1]);
    const t0 = Date.now();
    const fifo = await post('fifo.key');
    const zero = await post('/dev/zero');
    const zeroLink = await post('zero.key');
    const shadow = await post('/etc/shadow');
    const nothing = await post('/etc/no-such-file');
    const elapsed = Date.now() - t0;
    for (const r of [fifo, zero, zeroLink, shadow, nothing]) assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(fifo.body.message, /keyFile "fifo\.key" is a FIFO/);
    assert.match(zero.body.message, /keyFile "\/dev\/zero" must name a file in the BFD key directory/);
    assert.match(zeroLink.body.message, /keyFile "zero\.key" is a symbolic link/);
    assert.equal(shadow.body.message.replace('/etc/shadow', 'X'), nothing.body.message.replace('/etc/no-such-file', 'X'), 'no oracle for files outside');
    assert.doesNotMatch(shadow.body.message, /bytes|holds|ENOENT|EACCES/);
    assert.ok(elapsed < 10_000, `answered in ${elapsed} ms (curl per call included)`);
    const rssAfter = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1]);
    assert.ok(rssAfter - rssBefore < 50_000, `RSS grew ${rssAfter - rssBefore} kB`);
    assert.equal((await api('GET', '/status')).status, 200);
  });

  it('a foreign Origin gets no CORS headers, and its DELETE of every rule is refused', async () => {
    const base = `http://${LB}:11111/netlox/v1`;
    const pre = await curlFrom('attacker', ['-X', 'OPTIONS', '-H', 'Origin: http://evil.example', '-H', 'Access-Control-Request-Method: DELETE', `${base}/config/loadbalancer/all`]);
    assert.doesNotMatch(pre.text, /access-control-allow/i);
    const del = await curlFrom('attacker', ['-X', 'DELETE', '-H', 'Origin: http://evil.example', `${base}/config/loadbalancer/all`]);
    assert.equal(del.code, 403);
    assert.doesNotMatch(del.text, /access-control-allow/i);
    const post = await curlFrom('attacker', ['-X', 'POST', '-H', 'Origin: http://evil.example', '-H', 'Content-Type: text/plain', '--data', '{"instance":"llb-inst0","state":"MASTER"}', `${base}/config/cistate`]);
    assert.equal(post.code, 403);
    const rules = (await mustAgentApi(lab, 'lb', 'GET', '/config/loadbalancer/all')) as { lbAttr: unknown[] };
    assert.equal(rules.lbAttr.length, 1, 'the rule is still there');
  });

  /** Runs the flood in the attacker; resolves with its report once it settled. */
  async function flood(count: number, sources: string[], reopen: boolean): Promise<{ proc: LabProcess; report: FloodReport }> {
    const args = ['--import', 'tsx', FLOOD, LB, '11111', String(count), sources.join(','), ...(reopen ? ['--reopen'] : [])];
    const proc = lab.spawn('attacker', process.execPath, args, { output: 'pipe', cwd: REPO });
    let out = '';
    proc.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const report = await waitFor(() => {
      if (!proc.alive()) throw new StopWaiting(`flood exited: ${out}`);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      return line ? (JSON.parse(line) as FloodReport) : undefined;
    }, { timeoutMs: 60_000, what: 'the flood to settle' });
    return { proc, report };
  }

  it('2,000 idle connections from one address: it gets its share, the excess 503, and the node serves others and runs its timers', async () => {
    const { proc, report } = await flood(2000, [ATTACKER[0]!], false);
    try {
      const st = await status();
      assert.equal(st.api.maxConnections, FD_LIMIT / 2);
      assert.equal(st.api.maxConnectionsPerClient, FD_LIMIT / 4);
      assert.ok(report.open <= FD_LIMIT / 4, JSON.stringify(report));
      assert.ok(report.refused503 > 1000, JSON.stringify(report));
      // Another client is served over the segment meanwhile.
      const other = await curlFrom('client', [`http://${LB}:11111/netlox/v1/status`]);
      assert.equal(other.code, 200);
      assert.ok(st.api.refused.perClient > 0);
      assert.ok(st.degraded.some((d: string) => /REST connections refused or evicted/.test(d)), JSON.stringify(st.degraded));
      assert.ok(fdsOf(agent.pid) < FD_LIMIT - 16, `${fdsOf(agent.pid)} descriptors open`);
      // The once-a-second link sync still runs: a new interface gets the datapath.
      await lab.run('lb', ['ip', 'link', 'add', 'tst0', 'type', 'veth', 'peer', 'name', 'tst1']);
      await lab.run('lb', ['ip', 'link', 'set', 'tst0', 'up']);
      await waitFor(async () => ((await status()).datapath.interfaces as string[]).includes('tst0'), { timeoutMs: 15_000, what: 'tst0 attached' });
      assert.deepEqual((await status()).faults.filter((f: { lastCode?: string }) => f.lastCode === 'EMFILE'), []);
    } finally {
      proc.child.stdin!.end();
      await proc.exited;
    }
  });

  it('2,000 idle connections from five addresses: the total cap holds, idle ones make room, and /status answers', async () => {
    // Every connection the server closes is opened again at once: pressure all along.
    const { proc, report } = await flood(2000, ATTACKER, true);
    try {
      assert.ok(report.refused503 + report.closed > 1000, JSON.stringify(report));
      for (let i = 0; i < 3; i++) {
        const r = await curlFrom('client', [`http://${LB}:11111/netlox/v1/status`]);
        assert.equal(r.code, 200, r.text.slice(0, 300));
      }
      const st = await status();
      assert.ok(st.api.connections <= st.api.maxConnections);
      // Idle attacker connections were closed to make room (or newcomers refused when none was idle).
      assert.ok(st.api.evicted + st.api.refused.total + st.api.refused.perClient > 1000, JSON.stringify(st.api));
      assert.ok(fdsOf(agent.pid) < FD_LIMIT - 16, `${fdsOf(agent.pid)} descriptors open`);
      assert.ok(agent.alive());
    } finally {
      proc.child.stdin!.end();
      await proc.exited;
    }
    // Once the flood stops, idle connections go and the node is healthy again.
    await waitFor(async () => (await status()).api.connections <= 2, { timeoutMs: 20_000, what: 'flood connections closed' });
  });

  it('a spoofed Up packet with absurd timers right after the peer died keeps it Up no longer than the bound; TTL drops show per session', async () => {
    const peer = await BfdPeer.start(lab, 'peer', { transport: 'native' });
    await peer.add({ instance: 'llb-inst0', remoteIp: LB, sourceIp: PEER, txIntervalUs: 100_000, multiplier: 3 });
    await mustAgentApi(lab, 'lb', 'POST', '/config/bfd', { instance: 'llb-inst0', remoteIp: PEER, sourceIp: LB, interval: 100000, retryCount: 3 });
    await peer.waitState('llb-inst0', LB, 'Up');
    const row = async () => ((await mustAgentApi(lab, 'lb', 'GET', '/config/bfd/all')) as { Attr: Record<string, any>[] }).Attr.find((r) => r.remoteIp === PEER)!;
    await waitFor(async () => (await row())?.state === 'BFDUp', { timeoutMs: 10_000, what: 'the agent session Up' });
    const [mine] = (await peer.request('list')) as { localDiscriminator: number; remoteDiscriminator: number }[];
    const peerDisc = mine!.localDiscriminator;
    const agentDisc = mine!.remoteDiscriminator;

    // Off-link (TTL 64) packets for the session: dropped on the receive thread, counted on the session.
    for (let i = 0; i < 3; i++) await sendWithTtl(lab, 'peer', PEER, LB, 64, { state: BfdState.Up, myDiscriminator: peerDisc, yourDiscriminator: agentDisc });
    await waitFor(async () => ((await row()).rxDrops['bad-ttl'] ?? 0) >= 3, { timeoutMs: 5000, what: 'bad-ttl counted on the session' });
    assert.ok((await status()).bfd.rxDrops['bad-ttl'] >= 3);

    // The attacker takes the peer's address and, the moment the peer dies, sends one Up packet
    // asking for Detect Mult 255 and 71-minute intervals (12.7 days of Detection Time unbounded).
    await lab.run('attacker', ['ip', 'addr', 'add', `${PEER}/32`, 'dev', 'eth0']);
    const spoof = encodeBfdPacket(controlPacket({ state: BfdState.Up, myDiscriminator: peerDisc, yourDiscriminator: agentDisc, detectMult: 255, desiredMinTxUs: 0xffffffff, requiredMinRxUs: 0xffffffff }));
    const spoofer = lab.spawn('attacker', process.execPath, ['--import', 'tsx', SPOOFER, PEER, LB, '255', spoof.toString('hex')], { output: 'pipe', cwd: REPO });
    let said = '';
    spoofer.child.stdout!.on('data', (d: Buffer) => (said += d.toString()));
    await waitFor(() => said.includes('ready'), { timeoutMs: 20_000, what: 'the spoofer bound' });
    peer.proc.signal('SIGKILL');
    spoofer.child.stdin!.write('go\n');
    await waitFor(() => said.includes('sent'), { timeoutMs: 5000, what: 'the spoofed packet sent' });
    const sentAt = Date.now();
    await waitFor(async () => (await row()).timersClamped >= 1, { timeoutMs: 2000, intervalMs: 50, what: 'the spoofed packet accepted and held at the bound' });
    // The bound: 3 (--bfd-max-remote-mult) x 1 s (--bfd-max-remote-tx) = 3 s.
    const down = await waitFor(async () => {
      const r = await row();
      return r.state !== 'BFDUp' ? r : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100, what: 'the dead peer Down' });
    const ms = Date.now() - sentAt;
    assert.ok(ms <= 6000, `Down ${ms} ms after the spoofed packet (bound 3000 ms)`);
    assert.equal(down.diag, 'ControlDetectionTimeExpired');
    assert.equal(down.remote.detectMult, 255, 'GET shows what the peer asked for');
  });

  it('a damaged saved rule stops the next start naming file and line; --config-quarantine moves it aside and starts', async () => {
    await agent.stop();
    const journal = path.join(configDir, 'lbconfig.journal');
    const lines = readFileSync(journal, 'utf8').split('\n');
    // One byte of the acknowledged rule changes (20.20.20.1 to 21.20.20.1): its checksum no longer matches.
    const i = lines.findIndex((l) => l.includes('20.20.20.1'));
    assert.ok(i >= 0, 'the rule is in the journal');
    lines[i] = lines[i]!.replace('20.20.20.1', '21.20.20.1');
    writeFileSync(journal, lines.join('\n'));
    const failed = lab.spawn('lb', LOXILB_BIN, ['--host=0.0.0.0', `--config-path=${configDir}`, '--loglevel=info'], { logName: 'lb.loxilb-damaged' });
    const exit = await failed.exited;
    assert.equal(exit.code, 1);
    assert.match(failed.log(), new RegExp(`saved config ${journal.replace(/[.]/g, '\\.')} line ${i + 1}: checksum mismatch`));
    agent = await startAgent(['--config-quarantine']);
    assert.match(readFileSync(`${journal}.rejected`, 'utf8'), new RegExp(`line ${i + 1}: checksum mismatch`));
    const rules = (await mustAgentApi(lab, 'lb', 'GET', '/config/loadbalancer/all')) as { lbAttr: unknown[] };
    assert.deepEqual(rules.lbAttr, [], 'the damaged rule is not loaded as anything');
  });
});
