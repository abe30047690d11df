// Connection sync between two LB nodes (--cluster), with the roles set over
// the API as kube-loxilb --setRoles does: the MASTER streams its established
// connections to the BACKUP; when the route moves to the BACKUP, 100
// long-lived connections keep going through it with no reset; a node that
// comes back pulls the whole table; the channel runs over TLS with client
// certificates and refuses a peer whose certificate it does not trust.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatapathLab, DP, type LbNode } from '../lab/DatapathLab.ts';
import { waitFor } from '../lab/wait.ts';
import { issueCert, makeCa } from '../lab/pki.ts';

const other = (lb: LbNode): LbNode => (lb === 'lb1' ? 'lb2' : 'lb1');

const streamRule = {
  serviceArguments: { externalIP: DP.vip, port: 70, protocol: 'tcp', sel: 0, mode: 2, name: 'stream' },
  endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
};

/** A CA and one certificate per name, signed by it, naming the node's address. */
function makePki(dir: string, names: string[], caName = 'ca'): void {
  makeCa(dir, caName);
  for (const n of names) issueCert(dir, { name: n, sans: [`IP:${DP[n as LbNode] ?? '127.0.0.1'}`] }, caName);
}

interface SyncStatus {
  synced: boolean;
  sent: number;
  peers: { address: string; state: string; received: number; errors: number; lastError?: string; lagMs?: number; fullPulls: number; lastFullEntries?: number }[];
}

async function syncStatus(t: DatapathLab, lb: LbNode): Promise<SyncStatus> {
  return (await t.mustApi(lb, 'GET', '/status')).sync as SyncStatus;
}

async function syncedStreamEntries(t: DatapathLab, lb: LbNode): Promise<number> {
  const ct = (await t.mustApi(lb, 'GET', '/config/conntrack/all')).ctAttr as { servName: string; conntrackAct: string; conntrackState: string }[];
  return ct.filter((e) => e.servName === 'stream' && e.conntrackState === 'est' && e.conntrackAct.endsWith(',synced')).length;
}

describe('connection sync between two LB nodes', { timeout: 240_000 }, () => {
  let t: DatapathLab;
  let pki: string;

  before(async () => {
    pki = mkdtempSync(path.join(os.tmpdir(), 'lxt-pki-'));
    makePki(pki, ['lb1', 'lb2']);
    // Signed by the cluster's CA, but for another address (127.0.0.1): a node's certificate lent to a host that is not it.
    makePki(pki, ['imposter']);
    makePki(pki, ['rogue'], 'otherca');
    const tls = (lb: string) => [`--sync-tls-ca=${pki}/ca.pem`, `--sync-tls-cert=${pki}/${lb}.pem`, `--sync-tls-key=${pki}/${lb}.key`];
    t = await DatapathLab.create({
      lbs: ['lb1', 'lb2'],
      // lb2 also runs the egress hooks: the connections it takes over cross them.
      lbArgs: (lb) => [`--cluster=${DP[other(lb)]}`, `--self=${lb === 'lb1' ? 0 : 1}`, ...tls(lb), ...(lb === 'lb2' ? ['--egr-hooks'] : [])],
    });
    for (const lb of t.lbs) await t.mustApi(lb, 'POST', '/config/loadbalancer', streamRule);
    await t.mustApi('lb1', 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
    await t.mustApi('lb2', 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' });
  });
  after(async () => {
    await t?.destroy();
    if (pki) rmSync(pki, { recursive: true, force: true });
  });

  it('--egr-hooks attaches the program at TC egress too', async () => {
    assert.equal((await t.mustApi('lb2', 'GET', '/status')).datapath.egress, true);
    assert.match(await t.lab.run('lb2', ['tc', 'filter', 'show', 'dev', 'eth0', 'egress']), /bpf.*lb_egress.*direct-action/);
    assert.doesNotMatch(await t.lab.run('lb1', ['tc', 'filter', 'show', 'dev', 'eth0', 'egress']), /lb_egress/);
  });

  it('both nodes pull each other\'s table over TLS and count as synced', async () => {
    // A peer that is not listening yet counts as unreachable (and so as synced); wait for the real pulls.
    await waitFor(async () => (await syncStatus(t, 'lb1')).peers[0]!.state === 'synced' && (await syncStatus(t, 'lb2')).peers[0]!.state === 'synced', {
      timeoutMs: 20_000,
      what: 'both nodes to pull from each other',
    });
    for (const lb of t.lbs) {
      const s = await syncStatus(t, lb);
      assert.equal(s.synced, true);
      assert.ok(s.peers[0]!.fullPulls >= 1);
      assert.equal(s.peers[0]!.errors, 0, JSON.stringify(s.peers[0]));
    }
  });

  it('IPv6 connections are synced too', async () => {
    const rule6 = {
      serviceArguments: { externalIP: DP.vip6, port: 71, protocol: 'tcp', sel: 0, mode: 2, name: 'stream6' },
      endpoints: [DP.ep1_6, DP.ep2_6].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
    };
    for (const lb of t.lbs) await t.mustApi(lb, 'POST', '/config/loadbalancer', rule6);
    const code = `for(let i=0;i<5;i++){const s=require('net').connect(71,'${DP.vip6}',()=>setInterval(()=>s.write('x\\n'),100));s.on('data',()=>{})}`;
    const held = t.lab.spawn('client', process.execPath, ['-e', code], { logName: 'held6' });
    try {
      const synced6 = async () =>
        ((await t.mustApi('lb2', 'GET', '/config/conntrack/all')).ctAttr as { servName: string; conntrackState: string; conntrackAct: string; sourceIP: string }[]).filter(
          (e) => e.servName === 'stream6' && e.conntrackState === 'est' && e.conntrackAct.endsWith(',synced'),
        );
      await waitFor(async () => (await synced6()).length >= 10, { timeoutMs: 10_000, what: 'lb2 to hold both entries of 5 IPv6 connections, synced' });
      assert.ok((await synced6()).some((e) => e.sourceIP === DP.client6));
      const st = await syncStatus(t, 'lb2');
      assert.equal((st.peers[0] as { rejected?: number }).rejected ?? 0, 0, 'no synced entry was refused');
    } finally {
      await held.stop();
    }
  });

  it('moves 100 long-lived connections to the BACKUP with no reset once the MASTER has synced them', async () => {
    const clients = await t.startStreams({ durationMs: 7000 });
    // Both directions of all 100 connections reach the BACKUP.
    await waitFor(async () => (await syncedStreamEntries(t, 'lb2')) >= 200, { timeoutMs: 10_000, what: 'lb2 to hold 200 synced entries' });
    const lag = (await syncStatus(t, 'lb2')).peers[0]!.lagMs!;
    assert.ok(lag < 1000, `sync lag ${lag} ms`);

    // The failover as the network sees it: routes move to lb2, the old MASTER's agent dies.
    await t.setVipRoute('lb2');
    await t.mustApi('lb2', 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
    t.agents.get('lb1')!.signal('SIGKILL');

    const summary = await clients.summary();
    const failed = summary.conns.filter((c) => c.error);
    assert.deepEqual(failed, [], 'no connection was reset');
    for (const c of summary.conns) {
      assert.ok(c.echoed >= c.sent - 100, `lines kept coming back: ${JSON.stringify(c)}`);
      assert.ok(c.maxGapMs < 1000, `longest silence ${c.maxGapMs} ms`);
    }
    // lb2 carried them: its synced entries saw traffic.
    const ct = (await t.mustApi('lb2', 'GET', '/config/conntrack/all')).ctAttr as { servName: string; conntrackAct: string; packets: number }[];
    const carried = ct.filter((e) => e.servName === 'stream' && e.conntrackAct.endsWith(',synced') && e.packets > 0);
    assert.ok(carried.length >= 200, `synced entries with traffic on lb2: ${carried.length}`);
  });

  it('a node that comes back pulls the whole table before it counts as synced', async () => {
    // Keep connections in lb2's table, then restart lb1 (killed above).
    const clients = await t.startStreams({ durationMs: 6000, conns: 20, everyMs: 50 });
    await waitFor(async () => (await t.mustApi('lb2', 'GET', '/config/conntrack/all')).ctAttr.filter((e: { servName: string; conntrackState: string }) => e.servName === 'stream' && e.conntrackState === 'est').length >= 40, {
      timeoutMs: 10_000,
      what: 'lb2 to track the new connections',
    });
    await t.startAgent('lb1');
    await waitFor(async () => (await syncStatus(t, 'lb1')).synced, { timeoutMs: 20_000, what: 'lb1 synced again' });
    const peer = (await syncStatus(t, 'lb1')).peers[0]!;
    assert.ok((peer.lastFullEntries ?? 0) >= 40, `full pull brought ${peer.lastFullEntries} entries`);
    assert.ok((await syncedStreamEntries(t, 'lb1')) >= 40);
    await clients.summary();
  });

  it('refuses a peer whose certificate another CA signed', async () => {
    const before = (await syncStatus(t, 'lb2')).peers[0]!.fullPulls;
    await t.agents.get('lb1')!.stop();
    await t.startAgent('lb1', [`--sync-tls-ca=${pki}/otherca.pem`, `--sync-tls-cert=${pki}/rogue.pem`, `--sync-tls-key=${pki}/rogue.key`]);
    await new Promise((r) => setTimeout(r, 3000));
    const s = await syncStatus(t, 'lb1');
    assert.notEqual(s.peers[0]!.state, 'synced');
    assert.equal(s.peers[0]!.fullPulls, 0, 'nothing was pulled from a peer it cannot verify');
    assert.equal((await syncStatus(t, 'lb2')).peers[0]!.fullPulls, before, 'lb2 took nothing from the rogue node either');
  });

  it('refuses a subscriber whose certificate, from the right CA, names another address', async () => {
    const refusedBefore = ((await t.mustApi('lb2', 'GET', '/status')).sync as { refusedSubscribers: number }).refusedSubscribers;
    await t.agents.get('lb1')!.stop();
    await t.startAgent('lb1', [`--sync-tls-ca=${pki}/ca.pem`, `--sync-tls-cert=${pki}/imposter.pem`, `--sync-tls-key=${pki}/imposter.key`]);
    await waitFor(async () => ((await t.mustApi('lb2', 'GET', '/status')).sync as { refusedSubscribers: number }).refusedSubscribers > refusedBefore, {
      timeoutMs: 15_000,
      what: 'lb2 refusing the imposter subscription',
    });
    const s = await syncStatus(t, 'lb1');
    assert.equal(s.peers[0]!.fullPulls, 0, 'the imposter pulled nothing');
    assert.match(s.peers[0]!.lastError ?? '', /PERMISSION_DENIED|client certificate does not name/);
  });
});
