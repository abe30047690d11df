// The connection-sync port against an attacker on the segment: without TLS
// (the default), only the --cluster peers may subscribe (anyone else gets
// PERMISSION_DENIED and learns nothing of the table), a peer cannot hold more
// subscriptions than it could need, and the agent says at start that its sync
// runs without TLS. Entries offered by a peer are checked against the rules
// before they are installed (see connSync.test.ts and the datapath's
// ctInstall); this file is about who gets to talk at all.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess } from '../lab/Lab.ts';
import { mustAgentApi, startAgentProcess } from '../lab/agentProcess.ts';
import { waitFor } from '../lab/wait.ts';

const SUBSCRIBER = fileURLToPath(new URL('./fixtures/syncSubscriber.ts', import.meta.url));
const FAKE_PEER = fileURLToPath(new URL('./fixtures/fakeSyncPeer.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const LB = '192.168.78.10';
const PEER = '192.168.78.20';
const ATTACKER = '192.168.78.66';

interface SubResult {
  ok: boolean;
  code?: string;
  details?: string;
  entries: number;
}

describe('the sync port against an attacker on the segment', { timeout: 120_000 }, () => {
  let lab: Lab;
  let agent: LabProcess;

  const subscribe = async (node: string, hold = 0): Promise<SubResult> => {
    const out = await lab.run(node, [process.execPath, '--import', 'tsx', SUBSCRIBER, '--target', `${LB}:22222`, '--hold', String(hold)], { cwd: REPO, timeoutMs: 30_000 });
    return JSON.parse(out.trim().split('\n').pop()!) as SubResult;
  };

  before(async () => {
    lab = await Lab.create();
    await lab.addSwitch('sw');
    await lab.addNode('lb', { switch: 'sw', ipv4: `${LB}/24` });
    await lab.addNode('peer', { switch: 'sw', ipv4: `${PEER}/24` });
    await lab.addNode('attacker', { switch: 'sw', ipv4: `${ATTACKER}/24` });
    // The peer's address serves a forged table: a node that took over a --cluster address, or a confused one.
    const fake = lab.spawn('peer', process.execPath, ['--import', 'tsx', FAKE_PEER, '--endpoint', PEER, '--forged', ATTACKER], { cwd: REPO, logName: 'fakepeer' });
    await waitFor(() => fake.log().includes('ready'), { timeoutMs: 15_000, what: 'the fake sync peer' });
    agent = await startAgentProcess(lab, 'lb', [`--cluster=${PEER}`, '--self=0', '--ha-init-wait=500'], 'info');
    await mustAgentApi(lab, 'lb', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: '20.20.20.1', port: 80, protocol: 'tcp', name: 'svc' },
      endpoints: [{ endpointIP: PEER, targetPort: 8080, weight: 1 }],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('warns at start that connection sync runs without TLS', () => {
    assert.match(agent.log(), /connection sync runs without TLS/);
  });

  it('a host that is no --cluster peer is refused and learns nothing', async () => {
    const r = await subscribe('attacker');
    assert.equal(r.ok, false);
    assert.equal(r.code, 'PERMISSION_DENIED');
    assert.match(r.details ?? '', /192\.168\.78\.66 is not a --cluster peer/);
    assert.equal(r.entries, 0);
    const st = await mustAgentApi(lab, 'lb', 'GET', '/status');
    assert.ok(st.sync.refusedSubscribers >= 1);
  });

  it('the --cluster peer gets the table; more subscriptions than it could need are refused', async () => {
    const first = await subscribe('peer');
    assert.equal(first.ok, true, JSON.stringify(first));
    // The table it gets: empty, or the one genuine entry the agent may already
    // have pulled from the peer (its link reconnects on its own schedule):
    // FULL_END alone, or one FULL batch with that entry before it.
    assert.ok(first.entries <= 1, JSON.stringify(first));
    assert.equal((first as SubResult & { batches?: number }).batches, first.entries === 0 ? 1 : 2, JSON.stringify(first));
    const many = await Promise.all(Array.from({ length: 5 }, () => subscribe('peer', 2000)));
    const okCount = many.filter((r) => r.ok).length;
    assert.equal(okCount, 2, JSON.stringify(many));
    for (const r of many.filter((x) => !x.ok)) assert.equal(r.code, 'RESOURCE_EXHAUSTED');
  });

  it('entries a peer offers are checked against our rules: one to a real endpoint is taken, a forged one refused', async () => {
    type Ct = { sourceIP: string; conntrackAct: string };
    const table = async () => (await mustAgentApi(lab, 'lb', 'GET', '/config/conntrack/all')).ctAttr as Ct[];
    // The rule exists now; the link pulls the peer's table again on its next connection.
    await waitFor(async () => (await table()).some((e) => e.sourceIP === '10.9.9.1'), { timeoutMs: 15_000, intervalMs: 200, what: 'the genuine entry from the peer' });
    const all = await table();
    assert.equal(all.find((e) => e.sourceIP === '10.9.9.1')!.conntrackAct, `dnat-${PEER}:8080,synced`);
    assert.ok(!all.some((e) => e.sourceIP === '10.9.9.2'), 'the forged entry (to the attacker) is not installed');
    const peer = (await mustAgentApi(lab, 'lb', 'GET', '/status')).sync.peers[0];
    assert.ok(peer.rejected >= 1, JSON.stringify(peer));
  });
});
