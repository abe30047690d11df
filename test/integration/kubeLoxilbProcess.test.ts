// bin/kube-loxilb as a process, without root: FakeKubeApi and in-memory
// loxilb agents (FakeLoxiAgent) on loopback. Flags and exit codes, a Service
// from creation to deletion, an agent restart, and two replicas behind the
// Lease with a clean hand-over on SIGTERM. Real processes on real time (the
// Lease's 2 s retry period; each start loads the program, about 1.5 CPU-s
// through tsx), so it runs with the integration tests, not the unit ones.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreV1Event, V1Lease, V1Service } from '@kubernetes/client-node';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { FakeLoxiAgent } from '../lab/FakeLoxiAgent.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/kube-loxilb');

interface Proc {
  child: ChildProcess;
  out: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const procs = new Set<Proc>();

function run(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(BIN, args, { env: { ...process.env, KUBECONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = {
    child,
    out: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (p.out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (p.out += d));
  procs.add(p);
  void p.exited.then(() => procs.delete(p));
  return p;
}

function alive(p: Proc): void {
  if (p.child.exitCode !== null || p.child.signalCode !== null) throw new StopWaiting(`kube-loxilb exited: ${p.out.slice(-3000)}`);
}

describe('bin/kube-loxilb', { timeout: 120_000 }, () => {
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;
  let agents: FakeLoxiAgent[];

  const ips = (name: string) => (api.get<V1Service>('services', name)?.status?.loadBalancer?.ingress ?? []).map((e) => e.ip);
  const rules = (a: FakeLoxiAgent) => [...a.rules.values()].map((r: { serviceArguments: { externalIP: string; port: number } }) => `${r.serviceArguments.externalIP}:${r.serviceArguments.port}`).sort();
  const holder = () => api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system')?.spec?.holderIdentity ?? '';

  before(async () => {
    api = new FakeKubeApi();
    await api.start();
    dir = await mkdtemp(path.join(tmpdir(), 'kube-loxilb-cli-'));
    kubeconfig = await api.writeKubeconfig(path.join(dir, 'kubeconfig'));
    api.addNode('worker1', { internalIP: '10.0.0.11' });
    agents = [await FakeLoxiAgent.start(), await FakeLoxiAgent.start()];
  });

  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    for (const a of agents ?? []) await a.close();
    await api?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exits 2 with the message on a bad flag, 0 on --help', async () => {
    // Started together: each start is mostly loading the program.
    const [bad, unknown, help] = [run(['--setLBMode=9']), run(['--noSuchFlag']), run(['--help'])];
    assert.deepEqual(await bad.exited, { code: 2, signal: null });
    assert.match(bad.out, /^kube-loxilb: flag --setLBMode must be an integer from 0 to 5/);
    assert.equal((await unknown.exited).code, 2);
    assert.match(unknown.out, /unknown flag --noSuchFlag/);
    assert.equal((await help.exited).code, 0);
    assert.match(help.out, /^Usage: kube-loxilb/);
  });

  it('serves Services, survives an agent restart, and two replicas hand over on SIGTERM', async () => {
    const args = [`--kubeconfig=${kubeconfig}`, `--loxiURL=${agents.map((a) => a.url).join(',')}`, '--externalCIDR=123.123.123.1/24', '--roleHealthPeriod=200ms', '--loglevel=debug'];
    const a = run(args, { POD_NAME: 'replica-a', POD_NAMESPACE: 'kube-system' });
    await waitFor(() => (alive(a), holder() === 'replica-a'), { timeoutMs: 20_000, what: 'replica-a to lead' });
    const b = run(args, { POD_NAME: 'replica-b', POD_NAMESPACE: 'kube-system' });
    await waitFor(() => (alive(b), /"kube-loxilb starting"/.test(b.out)), { timeoutMs: 20_000, what: 'replica-b to start' });

    api.create('services', {
      metadata: { name: 'web', namespace: 'default' },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'loxilb.io/loxilb', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await waitFor(() => (alive(a), ips('web').length === 1), { timeoutMs: 20_000, what: 'web status' });
    assert.deepEqual(ips('web'), ['123.123.123.1']);
    for (const ag of agents) await waitFor(() => rules(ag).length === 1, { timeoutMs: 10_000, what: `the rule on ${ag.url}` });
    assert.deepEqual(rules(agents[0]!), ['123.123.123.1:80']);
    const ev = api.list<CoreV1Event>('events', { namespace: 'default' }).filter((e) => e.reason === 'IPAllocated');
    assert.deepEqual(ev.map((e) => e.reportingInstance), ['replica-a']);
    assert.equal(holder(), 'replica-a');

    // An agent restarts empty: the leader gives it its rule back.
    await agents[1]!.restart();
    await waitFor(() => rules(agents[1]!).length === 1, { timeoutMs: 10_000, what: 'the rule back on the restarted agent' });

    // SIGTERM: the leader stops programming, releases the Lease and exits 0; b takes over.
    const postsBefore = agents.map((ag) => ag.callsTo('POST', '/config/loadbalancer').length + ag.callsTo('DELETE', '/config/loadbalancer').length);
    a.child.kill('SIGTERM');
    assert.deepEqual(await a.exited, { code: 0, signal: null }, a.out.slice(-2000));
    assert.match(a.out, /"released the lease"/);
    await waitFor(() => (alive(b), holder() === 'replica-b'), { timeoutMs: 15_000, what: 'replica-b to take the Lease' });
    await waitFor(() => /"addresses":1,"msg":"IPAM restored from Service status"/.test(b.out), { timeoutMs: 10_000, what: 'b to restore IPAM' });

    // The new leader keeps the IP, changes nothing on the agents, and serves the next change.
    api.create('services', {
      metadata: { name: 'dns', namespace: 'default' },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'loxilb.io/loxilb', selector: { app: 'dns' }, ports: [{ port: 53, protocol: 'UDP', targetPort: 53 }] },
    });
    await waitFor(() => (alive(b), ips('dns').length === 1), { timeoutMs: 20_000, what: 'dns status from b' });
    for (const ag of agents) await waitFor(() => rules(ag).length === 2, { timeoutMs: 10_000, what: `dns's rule on ${ag.url}` });
    assert.deepEqual(ips('web'), ['123.123.123.1']);
    assert.deepEqual(ips('dns'), ['123.123.123.1']);
    agents.forEach((ag, i) => {
      const writes = ag.callsTo('POST', '/config/loadbalancer').length + ag.callsTo('DELETE', '/config/loadbalancer').length;
      assert.equal(writes, postsBefore[i]! + 1, `${ag.url}: only dns's rule was written after the hand-over`);
    });

    api.delete('services', 'web');
    for (const ag of agents) await waitFor(() => rules(ag).join() === '123.123.123.1:53', { timeoutMs: 10_000, what: `web's rule gone from ${ag.url}` });
    b.child.kill('SIGTERM');
    assert.equal((await b.exited).code, 0);
    assert.equal(holder(), '');
  });
});
