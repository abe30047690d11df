// The Kubernetes side of kube-loxilb against the lab's FakeKubeApi (a real
// HTTP API server, in-process) and an in-memory agent pool: IP allocation,
// status, Events, rules for every agent, restarts, re-lists and leader
// election.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Event, V1Service } from '@kubernetes/client-node';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { FakeAgentPool } from '../lab/FakeAgentPool.ts';
import { FakeClock, eventually } from '../lab/FakeClock.ts';
import { parseKubeLoxilbFlags } from '../../src/cli/kubeLoxilbFlags.ts';
import { KubeWatch, discoverAgents } from '../../src/kube/KubeWatch.ts';
import { ServiceController } from '../../src/kube/ServiceController.ts';
import { LeaderElector } from '../../src/kube/LeaderElector.ts';
import { EventRecorder } from '../../src/kube/EventRecorder.ts';

const LB1 = '192.168.80.10';
const LB2 = '192.168.80.11';

interface Running {
  watch: KubeWatch;
  ctl: ServiceController;
  pool: FakeAgentPool;
  stop(): Promise<void>;
}

const running = new Set<Running>();
/** The controllers' timers (resync, retries, watch restarts, the Lease); a fresh one per test. */
let clock = new FakeClock();
/**
 * Waits move time on only within half the resync period (60 s): a test sees
 * retries, watch restarts and the Lease, but never a periodic full resync.
 */
const HORIZON = 30_000;

function startController(api: FakeKubeApi, flags: string[], pool = new FakeAgentPool([{ address: LB1 }, { address: LB2 }])): Running {
  const cfg = parseKubeLoxilbFlags(flags);
  const kc = api.kubeConfig();
  const watch = new KubeWatch(kc, { backoff: { initialMs: 50, maxMs: 400 }, clock });
  const ctl = new ServiceController({ config: cfg, kubeConfig: kc, cluster: watch, pool, resyncMs: 60_000, spacingMs: 0, retryMs: 200, clock });
  watch.start();
  ctl.start();
  const r: Running = {
    watch,
    ctl,
    pool,
    stop: async () => {
      running.delete(r);
      await ctl.stop();
      await watch.stop();
    },
  };
  running.add(r);
  return r;
}

function lbService(name: string, opts: { port?: number; protocol?: string; annotations?: Record<string, string>; cls?: string | null; type?: string } = {}): object {
  const spec: Record<string, unknown> = {
    type: opts.type ?? 'LoadBalancer',
    selector: { app: name },
    ports: [{ name: 'p', port: opts.port ?? 80, protocol: opts.protocol ?? 'TCP', targetPort: 8080 }],
  };
  if (opts.cls !== null) spec.loadBalancerClass = opts.cls ?? 'loxilb.io/loxilb';
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', annotations: opts.annotations ?? {} }, spec };
}

function ingress(api: FakeKubeApi, name: string): unknown[] {
  return api.get<V1Service>('services', name)?.status?.loadBalancer?.ingress ?? [];
}

function ips(api: FakeKubeApi, name: string): string[] {
  return (ingress(api, name) as { ip?: string }[]).map((e) => e.ip ?? '?');
}

function events(api: FakeKubeApi, name: string, reason?: string): CoreV1Event[] {
  return api.list<CoreV1Event>('events', { namespace: 'default' }).filter((e) => e.involvedObject?.name === name && (reason === undefined || e.reason === reason));
}

function vipsOn(pool: FakeAgentPool, address: string): string[] {
  return pool
    .rulesOf(address)
    .map((r) => `${r.serviceArguments.externalIP}:${r.serviceArguments.port}/${r.serviceArguments.protocol}`)
    .sort();
}

async function settle(r: Running): Promise<void> {
  await r.ctl.whenIdle();
}

describe('ServiceController with FakeKubeApi', { timeout: 60_000 }, () => {
  let api: FakeKubeApi;

  before(async () => {
    api = new FakeKubeApi();
    await api.start();
    api.addNode('worker1', { internalIP: '192.168.80.101' });
    api.addNode('worker2', { internalIP: '192.168.80.102' });
  });

  afterEach(async () => {
    for (const r of [...running]) await r.stop();
    for (const s of api.list<V1Service>('services', { namespace: 'default' })) {
      if (s.metadata?.name !== 'kubernetes') api.delete('services', s.metadata!.name!);
    }
    for (const e of api.list<CoreV1Event>('events', { namespace: 'default' })) api.delete('events', e.metadata!.name!);
    for (const l of api.list('leases', { namespace: 'kube-system' })) api.delete('leases', l.metadata!.name!, 'kube-system');
    clock = new FakeClock();
  });

  after(async () => {
    await api?.stop();
  });

  it('gives a Service an IP, writes it to status, tells why in an Event and programs every live LB agent', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.1/24', '--setBGP=64512']);
    api.create('services', lbService('web', { port: 80 }));
    await eventually(() => ips(api, 'web').length === 1, clock, { horizon: HORIZON, what: 'web status' });
    assert.deepEqual(ingress(api, 'web'), [{ ip: '123.123.123.1', ipMode: 'VIP' }]);
    await eventually(() => vipsOn(r.pool, LB1).length === 1 && vipsOn(r.pool, LB2).length === 1, clock, { horizon: HORIZON, what: 'rules on both agents' });
    const rule = r.pool.rulesOf(LB1)[0]!;
    const nodePort = api.get<V1Service>('services', 'web')!.spec!.ports![0]!.nodePort!;
    assert.equal(rule.serviceArguments.externalIP, '123.123.123.1');
    assert.equal(rule.serviceArguments.port, 80);
    assert.equal(rule.serviceArguments.protocol, 'tcp');
    assert.equal(rule.serviceArguments.bgp, true);
    assert.equal(rule.serviceArguments.name, 'default_web:llb-inst0');
    assert.deepEqual(
      rule.endpoints.map((e) => `${e.endpointIP}:${e.targetPort}`),
      [`192.168.80.101:${nodePort}`, `192.168.80.102:${nodePort}`],
    );
    assert.deepEqual(r.pool.rulesOf(LB2), r.pool.rulesOf(LB1));
    await settle(r);
    const ev = events(api, 'web', 'IPAllocated');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.type, 'Normal');
    assert.match(ev[0]!.message ?? '', /123\.123\.123\.1/);
    assert.equal(ev[0]!.source?.component, 'kube-loxilb');

    // Shared IPAM (the default): a second Service on another port shares the VIP.
    api.create('services', lbService('dns', { port: 53, protocol: 'UDP' }));
    await eventually(() => vipsOn(r.pool, LB2).length === 2, clock, { horizon: HORIZON, what: 'the second rule' });
    assert.deepEqual(ips(api, 'dns'), ['123.123.123.1']);
    assert.deepEqual(vipsOn(r.pool, LB1), ['123.123.123.1:53/udp', '123.123.123.1:80/tcp']);

    // A node going NotReady drops out of the endpoints on every agent.
    api.patchStatus('nodes', 'worker2', { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }] });
    await eventually(() => r.pool.rulesOf(LB1).every((x) => x.endpoints.length === 1), clock, { horizon: HORIZON, what: 'worker2 out of the endpoints' });
    api.patchStatus('nodes', 'worker2', { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] });
    await eventually(() => r.pool.rulesOf(LB1).every((x) => x.endpoints.length === 2), clock, { horizon: HORIZON, what: 'worker2 back' });
  });

  it('acts only on type LoadBalancer Services of its loadBalancerClass', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.1/24']);
    api.create('services', lbService('other-class', { cls: 'example.com/other-lb' }));
    api.create('services', lbService('no-class', { cls: null }));
    api.create('services', lbService('cluster-ip', { cls: null, type: 'ClusterIP' }));
    api.create('services', lbService('ours'));
    await eventually(() => ips(api, 'ours').length === 1, clock, { horizon: HORIZON, what: 'ours gets an IP' });
    await settle(r);
    for (const name of ['other-class', 'no-class', 'cluster-ip']) {
      assert.deepEqual(ingress(api, name), [], `${name} must be left alone`);
      assert.deepEqual(events(api, name), []);
    }
    assert.deepEqual(r.ctl.allocations().map((a) => a.serviceKey), ['default/ours']);
    assert.deepEqual(vipsOn(r.pool, LB1), ['123.123.123.1:80/tcp']);
  });

  it('releases the IP and removes the rules when a Service is deleted or leaves the class', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.1-123.123.123.2', '--setUniqueIP']);
    api.create('services', lbService('a'));
    api.create('services', lbService('b'));
    await eventually(() => ips(api, 'a').length === 1 && ips(api, 'b').length === 1, clock, { horizon: HORIZON, what: 'both get IPs' });
    assert.notDeepEqual(ips(api, 'a'), ips(api, 'b'));
    await eventually(() => vipsOn(r.pool, LB1).length === 2 && vipsOn(r.pool, LB2).length === 2, clock, { horizon: HORIZON });
    const aIp = ips(api, 'a')[0]!;

    api.delete('services', 'a');
    await eventually(() => vipsOn(r.pool, LB1).length === 1 && vipsOn(r.pool, LB2).length === 1, clock, { horizon: HORIZON, what: 'a\'s rule removed' });
    assert.ok(!vipsOn(r.pool, LB1).some((v) => v.startsWith(`${aIp}:`)));
    assert.deepEqual(r.ctl.allocations().map((x) => x.serviceKey), ['default/b']);
    // The freed address goes to the next Service.
    api.create('services', lbService('c'));
    await eventually(() => ips(api, 'c').length === 1, clock, { horizon: HORIZON, what: 'c gets the freed IP' });
    assert.deepEqual(ips(api, 'c'), [aIp]);

    // Leaving: type changes to NodePort; the class goes with it. Its status entry is taken out.
    const bIp = ips(api, 'b')[0]!;
    api.patch('services', 'b', { spec: { type: 'NodePort', loadBalancerClass: null } });
    await eventually(() => !vipsOn(r.pool, LB2).some((v) => v.startsWith(`${bIp}:`)), clock, { horizon: HORIZON, what: 'b\'s rule removed' });
    await eventually(() => ingress(api, 'b').length === 0, clock, { horizon: HORIZON, what: 'b\'s status cleared' });
    await settle(r);
    assert.equal(events(api, 'b', 'IPReleased').length, 1);
    assert.deepEqual(r.ctl.allocations().map((x) => x.serviceKey), ['default/c']);
  });

  it('answers a bad annotation with a Warning naming it and the allowed values, and changes nothing', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.1/24']);
    api.create('services', lbService('web', { annotations: { 'loxilb.io/lbmode': 'fullnat' } }));
    await eventually(() => vipsOn(r.pool, LB1).length === 1, clock, { horizon: HORIZON, what: 'the rule' });
    assert.equal(r.pool.rulesOf(LB1)[0]!.serviceArguments.mode, 2);
    const before = { status: ingress(api, 'web'), rules: JSON.stringify(r.pool.rulesOf(LB1)) };

    api.patch('services', 'web', { metadata: { annotations: { 'loxilb.io/lbmode': 'fastest', 'loxilb.io/liveness': 'yes' } } });
    await eventually(() => events(api, 'web', 'InvalidAnnotation').length === 1, clock, { horizon: HORIZON, what: 'the InvalidAnnotation event' });
    const ev = events(api, 'web', 'InvalidAnnotation')[0]!;
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message ?? '', /loxilb\.io\/lbmode/);
    assert.match(ev.message ?? '', /"fastest"/);
    assert.match(ev.message ?? '', /default, onearm, fullnat, dsr, fullproxy, hostonearm/);
    assert.match(ev.message ?? '', /keeps its previous settings/);
    await settle(r);
    // All or nothing: the valid liveness change is not applied either.
    assert.deepEqual(ingress(api, 'web'), before.status);
    assert.equal(JSON.stringify(r.pool.rulesOf(LB1)), before.rules);

    // Resyncs do not repeat the Event; fixing the annotation applies the new settings.
    r.ctl.resync();
    await settle(r);
    assert.equal(events(api, 'web', 'InvalidAnnotation').length, 1);
    api.patch('services', 'web', { metadata: { annotations: { 'loxilb.io/lbmode': 'onearm' } } });
    await eventually(() => r.pool.rulesOf(LB1)[0]?.serviceArguments.mode === 1, clock, { horizon: HORIZON, what: 'onearm applied' });
    assert.equal(r.pool.rulesOf(LB1)[0]!.serviceArguments.monitor, true);

    // A new Service with a bad annotation stays pending.
    api.create('services', lbService('bad', { port: 81, annotations: { 'loxilb.io/poolSelect': 'nosuchpool' } }));
    await eventually(() => events(api, 'bad', 'InvalidAnnotation').length === 1, clock, { horizon: HORIZON, what: 'the event for bad' });
    assert.match(events(api, 'bad')[0]!.message ?? '', /loxilb\.io\/poolSelect.*defaultPool/);
    await settle(r);
    assert.deepEqual(ingress(api, 'bad'), []);
    assert.deepEqual(vipsOn(r.pool, LB1), ['123.123.123.1:80/tcp']);
  });

  it('keeps a Service pending with a Warning when the pool is exhausted, and serves it once an address frees up', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.7-123.123.123.7', '--setUniqueIP']);
    api.create('services', lbService('first'));
    await eventually(() => ips(api, 'first').length === 1, clock, { horizon: HORIZON, what: 'first gets the only IP' });
    api.create('services', lbService('second'));
    await eventually(() => events(api, 'second', 'IPAMExhausted').length === 1, clock, { horizon: HORIZON, what: 'IPAMExhausted' });
    const ev = events(api, 'second', 'IPAMExhausted')[0]!;
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message ?? '', /defaultPool/);
    assert.match(ev.message ?? '', /stays pending/);
    await settle(r);
    assert.deepEqual(ingress(api, 'second'), []);
    assert.deepEqual(vipsOn(r.pool, LB1), ['123.123.123.7:80/tcp']);
    // Periodic resyncs retry quietly.
    r.ctl.resync();
    await settle(r);
    assert.equal(events(api, 'second', 'IPAMExhausted').length, 1);
    // /metrics: the one address held, the pool exhausted, one Service programmed and one waiting for an address.
    const m = r.ctl.metrics();
    assert.deepEqual(m.pools.find((p) => p.kind === 'v4' && p.name === 'defaultPool'), { kind: 'v4', name: 'defaultPool', family: 4, size: 1, inUse: 1 });
    assert.deepEqual(m.services, { programmed: 1, not_programmed: 0, pending_ip: 1, invalid: 0 });
    assert.ok(m.ipamFailures.some((f) => f.pool === 'defaultPool' && f.code === 'exhausted' && f.count >= 2), JSON.stringify(m.ipamFailures));
    assert.ok(m.passDurations.count >= 1);

    api.delete('services', 'first');
    await eventually(() => ips(api, 'second').length === 1, clock, { horizon: HORIZON, what: 'second gets the freed IP' });
    assert.deepEqual(ips(api, 'second'), ['123.123.123.7']);
    await eventually(() => r.pool.rulesOf(LB1)[0]?.serviceArguments.name === 'default_second:llb-inst0', clock, { horizon: HORIZON, what: 'second\'s rule' });
  });

  it('restores IPAM from status before allocating: a restarted controller changes no IP and makes no duplicate', async () => {
    const flags = ['--cidrPools=defaultPool=123.123.123.1-123.123.123.3', '--setUniqueIP'];
    const a = startController(api, flags);
    api.create('services', lbService('s1'));
    await eventually(() => ips(api, 's1').length === 1, clock, { horizon: HORIZON });
    api.create('services', lbService('s2'));
    await eventually(() => ips(api, 's2').length === 1, clock, { horizon: HORIZON });
    assert.deepEqual([ips(api, 's1'), ips(api, 's2')], [['123.123.123.1'], ['123.123.123.2']]);
    api.delete('services', 's1');
    await eventually(() => a.ctl.allocations().length === 1, clock, { horizon: HORIZON });
    await a.stop();

    // While no controller runs, a Service appears. Without the restore, s2 (older) would take .1.
    api.create('services', lbService('s3'));
    const statusRv = api.get<V1Service>('services', 's2')!.metadata!.resourceVersion;
    const b = startController(api, flags);
    await eventually(() => ips(api, 's3').length === 1, clock, { horizon: HORIZON, what: 's3 gets an IP' });
    await settle(b);
    assert.deepEqual(ips(api, 's2'), ['123.123.123.2']);
    assert.deepEqual(ips(api, 's3'), ['123.123.123.1']);
    assert.equal(api.get<V1Service>('services', 's2')!.metadata!.resourceVersion, statusRv, 's2 was not written at all');
    assert.equal(events(api, 's2', 'IPAllocated').length, 1, 'no second IPAllocated for s2');
    assert.deepEqual(vipsOn(b.pool, LB1), ['123.123.123.1:80/tcp', '123.123.123.2:80/tcp']);

    // A kube-loxilb style status (<zone>-<ip> hostname) is read back too.
    await b.stop();
    api.setServiceIngress('s3', [{ hostname: 'llb-123.123.123.1' }]);
    const c = startController(api, flags);
    await eventually(() => JSON.stringify(ingress(api, 's3')) === JSON.stringify([{ ip: '123.123.123.1', ipMode: 'VIP' }]), clock, { horizon: HORIZON, what: 's3 status rewritten in ip form' });
    await settle(c);
    assert.deepEqual(
      c.ctl.allocations().map((x) => `${x.serviceKey}=${x.vips.map((v) => v.ip).join()}`),
      ['default/s2=123.123.123.2', 'default/s3=123.123.123.1'],
    );
  });

  it('after a restart, a Service whose annotation went bad meanwhile keeps its address and the valid annotations', async () => {
    const flags = ['--cidrPools=defaultPool=123.123.123.1/24'];
    const a = startController(api, flags);
    api.create('services', lbService('web', { annotations: { 'loxilb.io/lbmode': 'onearm' } }));
    await eventually(() => vipsOn(a.pool, LB1).length === 1, clock, { horizon: HORIZON });
    await a.stop();
    api.patch('services', 'web', { metadata: { annotations: { 'loxilb.io/epselect': 'fastest', 'loxilb.io/lbmode': 'fullnat' } } });
    // A restart takes a while: b's Event names (which carry the time) differ from a's.
    await clock.advance(1000);
    const b = startController(api, flags);
    await eventually(() => events(api, 'web', 'InvalidAnnotation').length === 1, clock, { horizon: HORIZON, what: 'InvalidAnnotation' });
    assert.match(events(api, 'web', 'InvalidAnnotation')[0]!.message ?? '', /loxilb\.io\/epselect.*invalid annotations are ignored and the Service keeps its address/);
    await eventually(() => vipsOn(b.pool, LB1).length === 1, clock, { horizon: HORIZON });
    assert.deepEqual(ips(api, 'web'), ['123.123.123.1']);
    assert.equal(b.pool.rulesOf(LB1)[0]!.serviceArguments.mode, 2, 'the valid lbmode applies');
    assert.equal(b.pool.rulesOf(LB1)[0]!.serviceArguments.sel, 0, 'the bad epselect is left at its default');
  });

  it('gives a dual-stack Service one VIP per family, primary family first', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.1/24', '--cidr6Pools=defaultPool=3ffe:cafe::1/96']);
    api.create('services', { ...lbService('dual'), spec: { ...(lbService('dual') as { spec: object }).spec, ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] } });
    await eventually(() => ips(api, 'dual').length === 2, clock, { horizon: HORIZON, what: 'two status entries' });
    assert.deepEqual(ips(api, 'dual'), ['3ffe:cafe::1', '123.123.123.1']);
    // The nodes have no IPv6 address: the IPv6 VIP has no endpoints yet, and the user is told.
    await eventually(() => events(api, 'dual', 'RuleNotInstalled').length === 1, clock, { horizon: HORIZON });
    assert.match(events(api, 'dual', 'RuleNotInstalled')[0]!.message ?? '', /no ready IPv6 endpoints/);
    assert.deepEqual(vipsOn(r.pool, LB1), ['123.123.123.1:80/tcp']);
  });

  it('re-lists after 410 Expired and catches up with what happened while the watch was down', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.1/24', '--setUniqueIP']);
    api.create('services', lbService('old'));
    await eventually(() => vipsOn(r.pool, LB1).length === 1, clock, { horizon: HORIZON, what: 'old programmed' });
    await eventually(() => api.activeWatches('services') === 1, clock, { horizon: HORIZON, what: 'the services watch' });
    const lists = r.watch.resources.find((x) => x.name === 'services')!.lists;

    assert.equal(api.dropWatches({ resource: 'services' }), 1);
    api.delete('services', 'old');
    api.create('services', lbService('new'));
    api.compactHistory();
    await eventually(() => ips(api, 'new').length === 1, clock, { horizon: HORIZON, what: 'new gets an IP after the re-list' });
    await eventually(() => vipsOn(r.pool, LB1).length === 1 && r.pool.rulesOf(LB1)[0]!.serviceArguments.name === 'default_new:llb-inst0', clock, { horizon: HORIZON, what: 'old removed, new programmed' });
    assert.ok(r.watch.resources.find((x) => x.name === 'services')!.lists > lists, 'the services were listed again');
    assert.deepEqual(r.ctl.allocations().map((x) => x.serviceKey), ['default/new']);

    // A cut connection (no clean end) is restarted with backoff.
    await eventually(() => api.activeWatches('services') === 1, clock, { horizon: HORIZON, what: 'the watch after the re-list' });
    api.dropWatches({ resource: 'services', abrupt: true });
    api.create('services', lbService('after-cut', { port: 81 }));
    await eventually(() => ips(api, 'after-cut').length === 1, clock, { horizon: HORIZON, what: 'a Service after the cut' });
  });

  it('re-syncs an agent that comes back and reports rules an agent refuses as ProgrammingFailed', async () => {
    const r = startController(api, ['--cidrPools=defaultPool=123.123.123.1/24']);
    api.create('services', lbService('web'));
    await eventually(() => vipsOn(r.pool, LB1).length === 1 && vipsOn(r.pool, LB2).length === 1, clock, { horizon: HORIZON });
    await settle(r);

    r.pool.setAlive(LB2, false);
    r.pool.setAlive(LB2, true, { lostRules: true });
    await eventually(() => vipsOn(r.pool, LB2).length === 1, clock, { horizon: HORIZON, what: 'LB2 re-programmed after agentUp' });

    api.create('services', lbService('dns', { port: 53, protocol: 'UDP' }));
    await eventually(() => vipsOn(r.pool, LB1).length === 2, clock, { horizon: HORIZON, what: 'dns programmed' });
    // The agent refuses dns's rule only: the Event goes to dns, not to web.
    r.pool.failWith.set(r.pool.idOf(LB1), ['cannot post rule 123.123.123.1:53/udp on http://192.168.80.10:11111: HTTP 400: no']);
    api.patch('services', 'dns', { metadata: { annotations: { 'loxilb.io/liveness': 'yes' } } });
    await eventually(() => events(api, 'dns', 'ProgrammingFailed').length === 1, clock, { horizon: HORIZON, what: 'ProgrammingFailed' });
    const ev = events(api, 'dns', 'ProgrammingFailed')[0]!;
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message ?? '', /^agent http:\/\/192\.168\.80\.10:11111: cannot post rule 123\.123\.123\.1:53\/udp .*HTTP 400: no$/);
    await r.ctl.whenIdle();
    assert.deepEqual(events(api, 'web', 'ProgrammingFailed'), []);
    // The other agent took the change.
    await eventually(() => r.pool.rulesOf(LB2).find((x) => x.serviceArguments.port === 53)?.serviceArguments.monitor === true, clock, { horizon: HORIZON });

    // The failing agent is retried on the next pass; once it takes the rules the condition clears.
    r.pool.failWith.delete(r.pool.idOf(LB1));
    r.ctl.resync();
    await eventually(() => r.pool.rulesOf(LB1).find((x) => x.serviceArguments.port === 53)?.serviceArguments.monitor === true, clock, { horizon: HORIZON, what: 'LB1 takes the rule' });
  });

  it('with two replicas and a Lease, only the leader writes; the other takes over with the same IPs', async () => {
    const kc = api.kubeConfig();
    const flags = ['--cidrPools=defaultPool=123.123.123.1/24'];
    const replicas = ['replica-a', 'replica-b'].map((identity) => {
      const cfg = parseKubeLoxilbFlags(flags);
      const watch = new KubeWatch(kc, { backoff: { initialMs: 50, maxMs: 400 }, clock });
      const pool = new FakeAgentPool([{ address: LB1 }, { address: LB2 }]);
      const events = new EventRecorder(kc, { instance: identity, clock });
      const ctl = new ServiceController({ config: cfg, kubeConfig: kc, cluster: watch, pool, events, resyncMs: 60_000, spacingMs: 0, clock });
      const elector = new LeaderElector(kc, { identity, leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100, clock });
      elector.on('startedLeading', () => ctl.start());
      elector.on('stoppedLeading', () => void ctl.stop());
      watch.start();
      return { identity, watch, pool, ctl, elector };
    });
    const cleanup = {
      watch: replicas[0]!.watch,
      ctl: replicas[0]!.ctl,
      pool: replicas[0]!.pool,
      stop: async () => {
        running.delete(cleanup);
        for (const x of replicas) {
          await x.elector.stop();
          await x.ctl.stop();
          await x.watch.stop();
        }
      },
    };
    running.add(cleanup);
    // Time moves on only once no lease request is in flight.
    const idle = () => Promise.all(replicas.map((x) => x.elector.whenIdle()));
    // Both campaign at the same moment: one create wins, the other gets 409.
    for (const x of replicas) x.elector.start();
    api.create('services', lbService('web'));
    await eventually(() => ips(api, 'web').length === 1, clock, { horizon: HORIZON, what: 'web status', idle });
    const leaders = replicas.filter((x) => x.elector.isLeader());
    assert.equal(leaders.length, 1);
    const leader = leaders[0]!;
    const follower = replicas.find((x) => x !== leader)!;
    await eventually(() => vipsOn(leader.pool, LB1).length === 1, clock, { horizon: HORIZON, idle });
    await leader.ctl.whenIdle();
    assert.equal(follower.pool.calls.length, 0, 'the follower programs nothing');
    assert.equal(follower.ctl.passes, 0);
    await eventually(() => follower.elector.leader === leader.identity, clock, { horizon: HORIZON, what: 'the follower to see the leader', idle });
    const ev = events(api, 'web', 'IPAllocated');
    assert.deepEqual(ev.map((e) => e.reportingInstance), [leader.identity]);
    const lease = api.get<{ spec: { holderIdentity: string } }>('leases', 'kube-loxilb', 'kube-system')!;
    assert.equal(lease.spec.holderIdentity, leader.identity);

    // The leader steps down (releases the Lease): the follower takes over and keeps the IP.
    await leader.elector.stop();
    await leader.ctl.stop();
    await eventually(() => follower.elector.isLeader(), clock, { horizon: HORIZON, what: 'the follower to lead', idle });
    await eventually(() => vipsOn(follower.pool, LB1).length === 1 && vipsOn(follower.pool, LB2).length === 1, clock, { horizon: HORIZON, what: 'the new leader programs the agents', idle });
    assert.deepEqual(ips(api, 'web'), ['123.123.123.1']);
    assert.deepEqual(vipsOn(follower.pool, LB1), ['123.123.123.1:80/tcp']);
  });

  it('finds the agents of loxilb-lb-service and loxilb-peer-service in EndpointSlices', async () => {
    const watch = new KubeWatch(api.kubeConfig());
    const seen: unknown[] = [];
    watch.on('agents', (a) => seen.push(a));
    watch.start();
    try {
      await watch.whenSynced();
      api.create(
        'endpointslices',
        {
          metadata: { name: 'loxilb-lb-service-x', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'loxilb-lb-service' } },
          addressType: 'IPv4',
          endpoints: [
            { addresses: [LB2], conditions: { ready: true } },
            { addresses: [LB1], conditions: { ready: true } },
            { addresses: ['192.168.80.12'], conditions: { ready: false } },
          ],
          ports: [{ name: 'loxilb-app', port: 11111, protocol: 'TCP' }],
        },
        'kube-system',
      );
      api.create(
        'endpointslices',
        {
          metadata: { name: 'loxilb-peer-service-y', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'loxilb-peer-service' } },
          addressType: 'IPv4',
          endpoints: [{ addresses: ['192.168.80.101'] }],
          ports: [{ name: 'loxilb-peer-app', port: 11111, protocol: 'TCP' }],
        },
        'kube-system',
      );
      await eventually(() => watch.discoveredAgents().length === 3, clock, { horizon: HORIZON, what: 'three agents' });
      assert.deepEqual(watch.discoveredAgents(), [
        { url: 'http://192.168.80.10:11111', kind: 'lb', nodeAddress: LB1 },
        { url: 'http://192.168.80.11:11111', kind: 'lb', nodeAddress: LB2 },
        { url: 'http://192.168.80.101:11111', kind: 'peer', nodeAddress: '192.168.80.101' },
      ]);
      assert.deepEqual(seen.at(-1), watch.discoveredAgents());
      assert.deepEqual(discoverAgents([{ addressType: 'IPv6', endpoints: [{ addresses: ['fd00::10'] }], metadata: { labels: { 'kubernetes.io/service-name': 'loxilb-lb-service' } } }]), [
        { url: 'http://[fd00::10]:11111', kind: 'lb', nodeAddress: 'fd00::10' },
      ]);
    } finally {
      await watch.stop();
      for (const s of api.list('endpointslices', { namespace: 'kube-system' })) api.delete('endpointslices', s.metadata!.name!, 'kube-system');
    }
  });
});
