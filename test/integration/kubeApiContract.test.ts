// The contract between our Kubernetes API servers: the same tests, through
// the real kubectl and @kubernetes/client-node, run against a real
// kube-apiserver (test/lab/KubeApiServer.ts) and against the lab's
// FakeKubeApi (which the unit tests and bench:kube use), and pass on both:
// discovery, CRUD, optimistic concurrency, /status, allocation, selectors,
// Table printing, watches, Leases, EndpointSlices, Events, Nodes. What only
// the fake can be made to do (bookmarks on demand, 410 Expired after a
// compaction, dropped watches, stop/start) is checked on the fake alone.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type KubeConfig,
  type V1Lease,
  type V1Service,
} from '@kubernetes/client-node';
import { KubeConfig as KubeConfigClass } from '@kubernetes/client-node';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { KubeApiServer, resourcePath } from '../lab/KubeApiServer.ts';
import { goPeerBin } from '../lab/goPeers.ts';
import { killKubectls, runKubectl, type KubectlResult } from '../lab/kubectl.ts';
import { microTime } from '../../src/kube/LeaderElector.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

// ------------------------------------------------------------------ servers

/** One API server under test, driven the same way whichever it is. */
interface Backend {
  name: string;
  /** Set when the server is the fake (for what only it can do or show). */
  fake?: FakeKubeApi;
  kubectl: string;
  kubeconfigFile(dir: string): Promise<string>;
  kubeConfig(): KubeConfig;
  /** The newest resourceVersion (a list's). */
  resourceVersion(): Promise<string>;
  get<T = any>(resource: string, name: string, namespace?: string): Promise<T | undefined>;
  create(resource: string, obj: object, namespace?: string): Promise<void>;
  patch(resource: string, name: string, body: object, namespace?: string): Promise<void>;
  delete(resource: string, name: string, namespace?: string): Promise<void>;
  addNode(name: string, opts: { internalIP: string; labels?: Record<string, string> }): Promise<void>;
  setServiceIngress(name: string, ips: string[]): Promise<void>;
  stop(): Promise<void>;
}

async function fakeBackend(opts: ConstructorParameters<typeof FakeKubeApi>[0] = {}): Promise<Backend> {
  const api = new FakeKubeApi(opts);
  await api.start();
  return {
    name: 'FakeKubeApi',
    fake: api,
    kubectl: goPeerBin('kubectl'),
    kubeconfigFile: (dir) => api.writeKubeconfig(join(dir, 'kubeconfig')),
    kubeConfig: () => api.kubeConfig(),
    resourceVersion: async () => api.resourceVersion,
    get: async (r, n, ns) => api.get(r, n, ns),
    create: async (r, o, ns) => void api.create(r, o, ns),
    patch: async (r, n, b, ns) => void api.patch(r, n, b, { namespace: ns }),
    delete: async (r, n, ns) => void api.delete(r, n, ns),
    addNode: async (n, o) => void api.addNode(n, o),
    setServiceIngress: async (n, ips) => void api.setServiceIngress(n, ips),
    stop: () => api.stop(),
  };
}

async function realBackend(): Promise<Backend> {
  const api = await KubeApiServer.start();
  const kc = new KubeConfigClass();
  kc.loadFromFile(api.adminKubeconfig);
  const path = (r: string, ns = 'default', n?: string) => resourcePath(r, ns, n);
  return {
    name: 'kube-apiserver',
    kubectl: goPeerBin('kubectl'),
    kubeconfigFile: async () => api.adminKubeconfig,
    kubeConfig: () => kc,
    resourceVersion: async () => (await api.must('GET', '/api/v1/namespaces?limit=1')).metadata.resourceVersion as string,
    get: (r, n, ns) => api.get(r, n, ns),
    create: async (r, o, ns) => void (await api.create(r, o, ns)),
    patch: async (r, n, b, ns) => void (await api.must('PATCH', path(r, ns, n), b, { contentType: 'application/merge-patch+json' })),
    delete: async (r, n, ns) => void (await api.must('DELETE', path(r, ns, n))),
    addNode: (n, o) => api.addNode(n, o),
    setServiceIngress: async (n, ips) =>
      void (await api.must('PATCH', `${path('services', 'default', n)}/status`, { status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } }, { contentType: 'application/merge-patch+json' })),
    stop: () => api.stop(),
  };
}

const BACKENDS: [string, (opts?: ConstructorParameters<typeof FakeKubeApi>[0]) => Promise<Backend>][] = [
  ['kube-apiserver', () => realBackend()],
  ['FakeKubeApi', (opts) => fakeBackend(opts)],
];

// ------------------------------------------------------------------ helpers

/** kubectl through the shared runner, with the server's kubectl binary. */
function kubectl(bin: string, kubeconfig: string, cacheDir: string, args: string[], stdin?: string): Promise<KubectlResult> {
  return runKubectl(kubeconfig, cacheDir, args, stdin, bin);
}

/** Splits kubectl's table output into rows of columns (header row first). */
function tableRows(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s{2,}/));
}

interface SeenEvent {
  type: string;
  object: any;
}

interface WatchHandle {
  events: SeenEvent[];
  ended: Promise<unknown>;
  isEnded(): boolean;
  abort(): void;
}

const openWatches = new Set<WatchHandle>();

/** Opens a client-node watch and records everything it delivers. */
async function openWatch(kc: KubeConfig, path: string, query: Record<string, string | number | boolean>): Promise<WatchHandle> {
  const events: SeenEvent[] = [];
  let ended = false;
  let resolveEnded!: (err: unknown) => void;
  const endedPromise = new Promise<unknown>((r) => (resolveEnded = r));
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, object) => events.push({ type, object }),
    (err) => {
      ended = true;
      resolveEnded(err);
    },
  );
  const handle: WatchHandle = {
    events,
    ended: endedPromise,
    isEnded: () => ended,
    abort: () => controller.abort(),
  };
  openWatches.add(handle);
  return handle;
}

function closeWatches(): void {
  for (const w of openWatches) w.abort();
  openWatches.clear();
}

function apiError(err: unknown): { code: number; body: any } {
  assert.ok(err instanceof ApiException, `expected an ApiException, got ${String(err)}`);
  const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  return { code: err.code, body };
}

/** Plain JSON of a client-node model object (its classes do not deepEqual plain objects). */
function plain<T>(v: T): unknown {
  return JSON.parse(JSON.stringify(v)) as unknown;
}

function lbService(name: string, extra: Partial<V1Service['spec']> = {}, labels: Record<string, string> = {}): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: { type: 'LoadBalancer', loadBalancerClass: 'loxilb.io/loxilb', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...extra },
  };
}

const MANIFEST = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  type: LoadBalancer
  loadBalancerClass: loxilb.io/loxilb
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
`;

// ------------------------------------------------------------------ kubectl

for (const [serverName, makeBackend] of BACKENDS) describe(`${serverName} with kubectl`, { timeout: 120_000 }, () => {
  let b: Backend;
  let dir: string;
  let kubeconfig: string;
  let cacheDir: string;
  const k = (...args: string[]): Promise<KubectlResult> => kubectl(b.kubectl, kubeconfig, cacheDir, args);

  before(async () => {
    b = await makeBackend();
    dir = await mkdtemp(join(tmpdir(), 'fake-kube-'));
    cacheDir = join(dir, 'cache');
    kubeconfig = await b.kubeconfigFile(dir);
  });

  after(async () => {
    killKubectls();
    await b?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers discovery the way kubectl resolves resources and short names', async () => {
    const res = await k('api-resources', '-o', 'name');
    assert.equal(res.code, 0, res.stderr);
    const names = res.stdout.trim().split('\n');
    for (const n of ['services', 'nodes', 'namespaces', 'events', 'endpoints', 'leases.coordination.k8s.io', 'endpointslices.discovery.k8s.io', 'events.events.k8s.io']) {
      assert.ok(names.includes(n), `api-resources lacks ${n}: ${names.join(' ')}`);
    }
    const ns = await k('get', 'ns', '-o', 'name');
    assert.equal(ns.code, 0, ns.stderr);
    assert.match(ns.stdout, /namespace\/default/);
    assert.match(ns.stdout, /namespace\/kube-system/);
    const svc = await k('get', 'svc', 'kubernetes');
    assert.equal(svc.code, 0, svc.stderr);
    assert.match(svc.stdout, /kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443\/TCP/);
  });

  it('creates a LoadBalancer Service from YAML, shows <pending> then the IP (also to get -w), and deletes it', async () => {
    const file = join(dir, 'web.yaml');
    await writeFile(file, MANIFEST);
    b.fake?.clearRequestLog();

    const applied = await k('apply', '-f', file);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /service\/web created/);
    // kubectl's default --validate=strict went through server-side field validation.
    if (b.fake) assert.ok(
      b.fake.requests.some((r) => r.method === 'POST' && r.path === '/api/v1/namespaces/default/services' && r.query.includes('fieldValidation=Strict') && r.status === 201),
      'kubectl did not POST with fieldValidation=Strict',
    );

    const stored = (await b.get<V1Service>('services', 'web'))!;
    assert.equal(stored.spec?.loadBalancerClass, 'loxilb.io/loxilb');
    const clusterIp = stored.spec?.clusterIP ?? '';
    assert.ok(ipaddr.parse(clusterIp).match(ipaddr.parseCIDR('10.96.0.0/12')), `clusterIP ${clusterIp} outside the service CIDR`);
    const nodePort = stored.spec?.ports?.[0]?.nodePort ?? 0;
    assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort}`);

    const pending = await k('get', 'svc', 'web');
    assert.equal(pending.code, 0, pending.stderr);
    const [header, row] = tableRows(pending.stdout);
    assert.deepEqual(header, ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
    assert.deepEqual(row?.slice(0, 5), ['web', 'LoadBalancer', clusterIp, '<pending>', `80:${nodePort}/TCP`]);

    const watcher = spawn(b.kubectl, ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, 'get', 'svc', 'web', '-w'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let watched = '';
    watcher.stdout.setEncoding('utf8').on('data', (d: string) => (watched += d));
    watcher.stderr.setEncoding('utf8').on('data', (d: string) => (watched += d));
    const watcherAlive = (): void => {
      if (watcher.exitCode !== null || watcher.signalCode !== null) throw new StopWaiting(`kubectl get -w ended: ${watched}`);
    };
    try {
      await waitFor(
        () => {
          watcherAlive();
          // kubectl watches from its list's resourceVersion: a change after the list reaches it either way.
          return watched.includes('<pending>') && (!b.fake || b.fake.activeWatches('services') > 0);
        },
        { timeoutMs: 20_000, what: 'kubectl get -w to print the pending Service and open its watch' },
      );
      await b.setServiceIngress('web', ['192.168.10.5']);
      await waitFor(
        () => {
          watcherAlive();
          return /web\s+LoadBalancer\s+\S+\s+192\.168\.10\.5\s/.test(watched);
        },
        { timeoutMs: 20_000, what: 'kubectl get -w to print the new EXTERNAL-IP' },
      );
    } finally {
      watcher.kill('SIGKILL');
    }

    const assigned = await k('get', 'svc', 'web');
    assert.equal(tableRows(assigned.stdout)[1]?.[3], '192.168.10.5');

    const immutable = await k('patch', 'svc', 'web', '--type', 'merge', '-p', '{"spec":{"loadBalancerClass":"other.io/lb"}}');
    assert.notEqual(immutable.code, 0);
    assert.match(immutable.stderr, /spec\.loadBalancerClass: Invalid value: "other\.io\/lb": may not change once set/);

    await writeFile(join(dir, 'typo.yaml'), MANIFEST.replace('name: web\n  labels', 'name: typo\n  labels').replace('targetPort: 8080', 'targetPort: 8080\n    nodeport: 31000'));
    const typo = await k('create', '-f', join(dir, 'typo.yaml'));
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /strict decoding error: unknown field "spec\.ports\[0\]\.nodeport"/);
    assert.equal(await b.get('services', 'typo'), undefined);

    const deleted = await k('delete', '-f', file);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /service "web" deleted/);
    const gone = await k('get', 'svc', 'web');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /NotFound.*services "web" not found/);
    assert.equal(await b.get('services', 'web'), undefined);

    const unrouted = (b.fake?.requests ?? []).filter((r) => r.route === 'unknown');
    assert.deepEqual(unrouted, [], 'kubectl asked for paths the fake does not serve');
  });
});

// ------------------------------------------------------------------ client-node

for (const [serverName, makeBackend] of BACKENDS) describe(`${serverName} with @kubernetes/client-node`, { timeout: 120_000 }, () => {
  let b: Backend;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let coordination: CoordinationV1Api;
  let discovery: DiscoveryV1Api;
  const informers: Array<{ stop(): Promise<void> }> = [];

  before(async () => {
    b = await makeBackend({ bookmarkIntervalMs: 200 });
    kc = b.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    coordination = kc.makeApiClient(CoordinationV1Api);
    discovery = kc.makeApiClient(DiscoveryV1Api);
  });

  afterEach(async () => {
    closeWatches();
    for (const inf of informers.splice(0)) await inf.stop();
  });

  after(async () => {
    closeWatches();
    for (const inf of informers.splice(0)) await inf.stop();
    await b?.stop();
  });

  it('lists, then watches from the list resourceVersion: only later changes arrive, in order', async () => {
    await core.createNamespacedService({ namespace: 'default', body: lbService('lw-a') });
    const list = await core.listNamespacedService({ namespace: 'default' });
    const rv = list.metadata?.resourceVersion ?? '';
    assert.match(rv, /^[0-9]+$/);
    assert.ok(list.items.some((s) => s.metadata?.name === 'lw-a'));

    await core.createNamespacedService({ namespace: 'default', body: lbService('lw-b') });
    await b.patch('services', 'lw-a', { metadata: { labels: { touched: 'yes' } } });
    await core.deleteNamespacedService({ name: 'lw-b', namespace: 'default' });

    const w = await openWatch(kc, '/api/v1/namespaces/default/services', { resourceVersion: rv });
    // Ours only: a real apiserver creates the `kubernetes` Service in default on its own schedule (its bootstrap controller).
    const ours = () => w.events.filter((e) => String(e.object.metadata.name).startsWith('lw-'));
    await waitFor(() => ours().length >= 3, { timeoutMs: 5000, what: 'three watch events' });
    assert.deepEqual(
      ours().map((e) => `${e.type} ${e.object.metadata.name}`),
      ['ADDED lw-b', 'MODIFIED lw-a', 'DELETED lw-b'],
    );
    const rvs = ours().map((e) => Number(e.object.metadata.resourceVersion));
    assert.ok(rvs.every((v, i) => v > Number(rv) && (i === 0 || v > rvs[i - 1]!)), `resourceVersions not increasing: ${rvs.join(',')}`);
    assert.equal(ours()[1]!.object.kind, 'Service');

    // Live events follow the replay on the same stream.
    await b.patch('services', 'lw-a', { metadata: { labels: { touched: 'again' } } });
    await waitFor(() => ours().length === 4, { timeoutMs: 5000, what: 'a live MODIFIED event' });
    assert.equal(ours()[3]!.object.metadata.labels.touched, 'again');
  });

  if (serverName === 'FakeKubeApi') it('sends BOOKMARK events, carrying the current resourceVersion, only to watches that allow them', async () => {
    const withBookmarks = await openWatch(kc, '/api/v1/services', { resourceVersion: b.fake!.resourceVersion, allowWatchBookmarks: true });
    const without = await openWatch(kc, '/api/v1/services', { resourceVersion: b.fake!.resourceVersion });
    await waitFor(() => withBookmarks.events.some((e) => e.type === 'BOOKMARK'), { timeoutMs: 5000, what: 'a periodic BOOKMARK' });
    const bookmark = withBookmarks.events.find((e) => e.type === 'BOOKMARK')!;
    assert.equal(bookmark.object.kind, 'Service');
    assert.equal(bookmark.object.metadata.resourceVersion, b.fake!.resourceVersion);
    assert.equal(b.fake!.sendBookmarks(), 1);
    assert.deepEqual(without.events, []);
  });

  if (serverName === 'FakeKubeApi') it('answers a watch from a compacted resourceVersion with an ERROR 410 Expired event and ends it', async () => {
    const old = b.fake!.resourceVersion;
    b.fake!.create('services', lbService('expired-a'));
    b.fake!.compactHistory();
    const w = await openWatch(kc, '/api/v1/namespaces/default/services', { resourceVersion: old });
    await w.ended;
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0]!.type, 'ERROR');
    assert.equal(w.events[0]!.object.kind, 'Status');
    assert.equal(w.events[0]!.object.code, 410);
    assert.equal(w.events[0]!.object.reason, 'Expired');

    // The newest resourceVersion is still a valid starting point.
    const fresh = await openWatch(kc, '/api/v1/namespaces/default/services', { resourceVersion: b.fake!.resourceVersion });
    b.fake!.delete('services', 'expired-a');
    await waitFor(() => fresh.events.some((e) => e.type === 'DELETED'), { timeoutMs: 5000, what: 'DELETED after compaction' });
  });

  if (serverName === 'FakeKubeApi') it('drives an informer through dropped watches: clean end → resume, 410 → re-list, cut → error and restart', async () => {
    b.fake!.create('services', lbService('inf-keep', {}, { inf: 'yes' }));
    b.fake!.create('services', lbService('inf-gone', {}, { inf: 'yes' }));
    b.fake!.create('services', lbService('inf-other')); // outside the label selector
    const informer = makeInformer<V1Service>(
      kc,
      '/api/v1/services',
      () => core.listServiceForAllNamespaces({ labelSelector: 'inf=yes' }),
      'inf=yes',
    );
    // What a controller does on an informer error: restart after a backoff,
    // unless it is shutting down (stop() itself ends in an error callback).
    let restart: NodeJS.Timeout | undefined;
    let stopping = false;
    informers.push({
      stop: async () => {
        stopping = true;
        clearTimeout(restart);
        await informer.stop();
      },
    });
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (s) => seen.push(`add ${s.metadata?.name}`));
    informer.on('update', (s) => seen.push(`update ${s.metadata?.name}`));
    informer.on('delete', (s) => seen.push(`delete ${s.metadata?.name}`));
    informer.on('error', (err) => {
      if (stopping) return;
      errors.push(err);
      restart = setTimeout(() => void informer.start(), 300);
    });
    await informer.start();
    await waitFor(() => b.fake!.activeWatches('services') === 1, { timeoutMs: 5000, what: 'the informer watch' });
    assert.deepEqual(seen.sort(), ['add inf-gone', 'add inf-keep']);
    const listsBefore = (): number => b.fake!.requests.filter((r) => r.path === '/api/v1/services' && r.route === 'resource').length;
    const lists0 = listsBefore();

    // 1. A clean end of the stream: the informer resumes from its resourceVersion, no re-list.
    seen.length = 0;
    assert.equal(b.fake!.dropWatches(), 1);
    b.fake!.patch('services', 'inf-keep', { metadata: { annotations: { step: '1' } } });
    await waitFor(() => seen.includes('update inf-keep'), { timeoutMs: 5000, what: 'the update after a resumed watch' });
    assert.equal(listsBefore(), lists0);

    // 2. Dropped and compacted before it comes back: 410, then a re-list that reconciles adds and deletes.
    seen.length = 0;
    assert.equal(b.fake!.dropWatches(), 1);
    b.fake!.delete('services', 'inf-gone');
    b.fake!.create('services', lbService('inf-late', {}, { inf: 'yes' }));
    b.fake!.compactHistory();
    await waitFor(() => seen.includes('delete inf-gone') && seen.includes('add inf-late'), { timeoutMs: 5000, what: 'the re-list after 410' });
    assert.equal(listsBefore(), lists0 + 1);
    assert.ok(b.fake!.requests.some((r) => r.route === 'watch' && r.path === '/api/v1/services'));
    assert.deepEqual(informer.list().map((s) => s.metadata?.name).sort(), ['inf-keep', 'inf-late']);
    assert.deepEqual(errors, []);

    // 3. Connection cut: the informer reports an error; the restart (with backoff) catches up.
    seen.length = 0;
    await waitFor(() => b.fake!.activeWatches('services') === 1, { timeoutMs: 5000, what: 'the watch after re-list' });
    assert.equal(b.fake!.dropWatches({ abrupt: true }), 1);
    b.fake!.patch('services', 'inf-late', { metadata: { annotations: { step: '3' } } });
    await waitFor(() => errors.length === 1 && seen.includes('update inf-late'), { timeoutMs: 5000, what: 'error, restart and update' });
  });

  it('rejects a PUT with a stale resourceVersion (409 Conflict) and a duplicate create (409 AlreadyExists)', async () => {
    const created = await core.createNamespacedService({ namespace: 'default', body: lbService('cas') });
    const stale = structuredClone(created);
    created.metadata!.labels = { version: '2' };
    const updated = await core.replaceNamespacedService({ name: 'cas', namespace: 'default', body: created });
    assert.ok(Number(updated.metadata?.resourceVersion) > Number(stale.metadata?.resourceVersion));
    assert.equal(updated.metadata?.uid, stale.metadata?.uid);
    assert.equal(updated.spec?.clusterIP, stale.spec?.clusterIP);

    stale.metadata!.labels = { version: 'stale' };
    const conflict = apiError(await core.replaceNamespacedService({ name: 'cas', namespace: 'default', body: stale }).then(() => undefined, (e: unknown) => e));
    assert.equal(conflict.code, 409);
    assert.equal(conflict.body.reason, 'Conflict');
    assert.match(conflict.body.message, /Operation cannot be fulfilled on services "cas": the object has been modified/);

    const dup = apiError(await core.createNamespacedService({ namespace: 'default', body: lbService('cas') }).then(() => undefined, (e: unknown) => e));
    assert.equal(dup.code, 409);
    assert.equal(dup.body.reason, 'AlreadyExists');

    const missing = apiError(await core.readNamespacedService({ name: 'nope', namespace: 'default' }).then(() => undefined, (e: unknown) => e));
    assert.equal(missing.code, 404);
    assert.equal(missing.body.reason, 'NotFound');

    const noNamespace = apiError(await core.createNamespacedService({ namespace: 'absent', body: lbService('x') }).then(() => undefined, (e: unknown) => e));
    assert.equal(noNamespace.code, 404);
    assert.match(noNamespace.body.message, /namespaces "absent" not found/);

    // A write that changes nothing is not a new version.
    const again = await core.replaceNamespacedService({ name: 'cas', namespace: 'default', body: updated });
    assert.equal(again.metadata?.resourceVersion, updated.metadata?.resourceVersion);
  });

  it('keeps status behind the /status subresource, and /status leaves the spec alone', async () => {
    const svc = await core.createNamespacedService({
      namespace: 'default',
      body: { ...lbService('st'), status: { loadBalancer: { ingress: [{ ip: '6.6.6.6' }] } } },
    });
    assert.deepEqual(plain(svc.status), { loadBalancer: {} }, 'create must not take status');

    svc.metadata!.labels = { spec: 'write' };
    svc.status = { loadBalancer: { ingress: [{ ip: '7.7.7.7' }] } };
    const afterPut = await core.replaceNamespacedService({ name: 'st', namespace: 'default', body: svc });
    assert.deepEqual(plain(afterPut.metadata?.labels), { spec: 'write' });
    assert.deepEqual(plain(afterPut.status), { loadBalancer: {} }, 'a normal PUT ignores status');

    afterPut.status = { loadBalancer: { ingress: [{ ip: '192.168.20.1' }] } };
    afterPut.spec!.selector = { changed: 'by-status-put' };
    afterPut.metadata!.labels = { changed: 'by-status-put' };
    const afterStatus = await core.replaceNamespacedServiceStatus({ name: 'st', namespace: 'default', body: afterPut });
    // An ingress IP without ipMode is stored as a VIP (LoadBalancerIPMode).
    assert.deepEqual(plain(afterStatus.status?.loadBalancer?.ingress), [{ ip: '192.168.20.1', ipMode: 'VIP' }]);
    assert.deepEqual(plain(afterStatus.spec?.selector), { app: 'st' }, '/status must not change spec');
    // As kube-apiserver's status strategy: the write's metadata is kept (only the spec is reset).
    assert.deepEqual(plain(afterStatus.metadata?.labels), { changed: 'by-status-put' });

    const merged = await core.patchNamespacedServiceStatus(
      { name: 'st', namespace: 'default', body: { status: { loadBalancer: { ingress: [{ ip: '192.168.20.2' }] } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    assert.deepEqual(plain(merged.status?.loadBalancer?.ingress), [{ ip: '192.168.20.2', ipMode: 'VIP' }]);

    // client-node's default patch type is JSON patch.
    const jsonPatched = await core.patchNamespacedService({
      name: 'st',
      namespace: 'default',
      body: [{ op: 'add', path: '/metadata/annotations', value: { 'loxilb.io/note': 'json-patch' } }],
    });
    assert.equal(jsonPatched.metadata?.annotations?.['loxilb.io/note'], 'json-patch');

    const immutable = apiError(
      await core
        .patchNamespacedService(
          { name: 'st', namespace: 'default', body: { spec: { loadBalancerClass: 'other.io/lb' } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .then(() => undefined, (e: unknown) => e),
    );
    assert.equal(immutable.code, 422);
    assert.equal(immutable.body.reason, 'Invalid');
    assert.equal(immutable.body.details.causes[0].field, 'spec.loadBalancerClass');
  });

  it('allocates clusterIP and nodePorts like an apiserver and refuses a nodePort already taken', async () => {
    const a = await core.createNamespacedService({ namespace: 'default', body: lbService('alloc-a', { ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] }) });
    const ports = a.spec?.ports ?? [];
    assert.equal(ports.length, 2);
    for (const p of ports) assert.ok(p.nodePort! >= 30000 && p.nodePort! <= 32767);
    assert.notEqual(ports[0]!.nodePort, ports[1]!.nodePort);
    assert.equal(ports[0]!.targetPort, 80, 'targetPort defaults to port');
    assert.deepEqual(a.spec?.clusterIPs, [a.spec?.clusterIP]);
    assert.equal(a.spec?.externalTrafficPolicy, 'Cluster');

    const taken = apiError(
      await core
        .createNamespacedService({ namespace: 'default', body: lbService('alloc-b', { ports: [{ name: 'http', port: 80, nodePort: ports[0]!.nodePort }] }) })
        .then(() => undefined, (e: unknown) => e),
    );
    assert.equal(taken.code, 422);
    assert.match(taken.body.message, /provided port is already allocated/);

    // Changing only the type LoadBalancer -> ClusterIP drops the LB-only fields and releases the node ports.
    const released = await core.patchNamespacedService(
      { name: 'alloc-a', namespace: 'default', body: { spec: { type: 'ClusterIP' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    assert.ok(released.spec?.ports?.every((p) => p.nodePort === undefined));
    assert.equal(released.spec?.clusterIP, a.spec?.clusterIP, 'clusterIP stays');
    assert.equal(released.spec?.loadBalancerClass, undefined);
    assert.equal(released.spec?.externalTrafficPolicy, undefined);
  });

  it('creates, renews and hands over a Lease with optimistic concurrency; its times are MicroTime', async () => {
    // client-node turns MicroTime fields into Dates and back into milliseconds, which a real
    // apiserver refuses: every write sets them as six-digit strings (as src/kube/LeaderElector does).
    const mt = (ms = Date.now()) => microTime(ms) as unknown as Date;
    const times = (l: V1Lease) => {
      l.spec!.acquireTime = mt();
      l.spec!.renewTime = mt();
      return l;
    };
    const lease: V1Lease = {
      metadata: { name: 'kube-loxilb', namespace: 'kube-system' },
      spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: mt(), renewTime: mt(), leaseTransitions: 0 },
    };
    const millis = apiError(
      await coordination.createNamespacedLease({ namespace: 'kube-system', body: { ...lease, spec: { ...lease.spec, renewTime: new Date() } } }).then(() => undefined, (e: unknown) => e),
    );
    assert.equal(millis.code, 400);
    assert.match(millis.body.message, /cannot be handled as a Lease: parsing time/);

    const created = await coordination.createNamespacedLease({ namespace: 'kube-system', body: lease });
    assert.equal(created.spec?.holderIdentity, 'a');

    const dup = apiError(await coordination.createNamespacedLease({ namespace: 'kube-system', body: lease }).then(() => undefined, (e: unknown) => e));
    assert.equal(dup.code, 409);
    assert.equal(dup.body.reason, 'AlreadyExists');
    assert.match(dup.body.message, /leases\.coordination\.k8s\.io "kube-loxilb" already exists/);

    const readA = times(await coordination.readNamespacedLease({ name: 'kube-loxilb', namespace: 'kube-system' }));
    const readB = times(structuredClone(readA));
    readA.spec!.renewTime = mt(Date.now() + 1000);
    const renewed = times(await coordination.replaceNamespacedLease({ name: 'kube-loxilb', namespace: 'kube-system', body: readA }));
    assert.ok(Number(renewed.metadata?.resourceVersion) > Number(readB.metadata?.resourceVersion));

    // Candidate b read before the renewal: its takeover must lose.
    readB.spec!.holderIdentity = 'b';
    readB.spec!.leaseTransitions = 1;
    const lost = apiError(await coordination.replaceNamespacedLease({ name: 'kube-loxilb', namespace: 'kube-system', body: readB }).then(() => undefined, (e: unknown) => e));
    assert.equal(lost.code, 409);
    assert.equal(lost.body.reason, 'Conflict');
    assert.equal((await b.get<V1Lease>('leases', 'kube-loxilb', 'kube-system'))?.spec?.holderIdentity, 'a');

    renewed.spec!.holderIdentity = 'b';
    const handedOver = await coordination.replaceNamespacedLease({ name: 'kube-loxilb', namespace: 'kube-system', body: renewed });
    assert.equal(handedOver.spec?.holderIdentity, 'b');

    const status = await coordination.deleteNamespacedLease({ name: 'kube-loxilb', namespace: 'kube-system' });
    assert.equal(status.status, 'Success');
    assert.equal(await b.get('leases', 'kube-loxilb', 'kube-system'), undefined);
  });

  it('filters list and watch by label and field selectors; leaving the selector is a DELETED event', async () => {
    await b.create('services', lbService('sel-a', {}, { tier: 'front' }));
    await b.create('services', lbService('sel-b', {}, { tier: 'back' }));
    const byLabel = await core.listNamespacedService({ namespace: 'default', labelSelector: 'tier in (front,middle),!absent' });
    assert.deepEqual(byLabel.items.map((s) => s.metadata?.name), ['sel-a']);
    const byField = await core.listServiceForAllNamespaces({ fieldSelector: 'metadata.name=sel-b,metadata.namespace=default' });
    assert.deepEqual(byField.items.map((s) => s.metadata?.name), ['sel-b']);
    const notB = await core.listNamespacedService({ namespace: 'default', labelSelector: 'tier', fieldSelector: 'metadata.name!=sel-b' });
    assert.deepEqual(notB.items.map((s) => s.metadata?.name), ['sel-a']);

    const bad = apiError(await core.listNamespacedService({ namespace: 'default', fieldSelector: 'spec.nope=1' }).then(() => undefined, (e: unknown) => e));
    assert.equal(bad.code, 400);
    assert.match(bad.body.message, /field label not supported: spec\.nope/);

    const w = await openWatch(kc, '/api/v1/namespaces/default/services', { resourceVersion: await b.resourceVersion(), labelSelector: 'tier=front' });
    await b.patch('services', 'sel-b', { metadata: { labels: { tier: 'front' } } });
    await b.patch('services', 'sel-a', { metadata: { labels: { tier: 'back' } } });
    await waitFor(() => w.events.length >= 2, { timeoutMs: 5000, what: 'selector transitions' });
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.object.metadata.name}`),
      ['ADDED sel-b', 'DELETED sel-a'],
    );
  });

  it('ends a watch after timeoutSeconds', async () => {
    const started = Date.now();
    const w = await openWatch(kc, '/api/v1/nodes', { resourceVersion: await b.resourceVersion(), timeoutSeconds: 1 });
    const err = await w.ended;
    assert.equal(err, null);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 3000, `watch lasted ${took} ms`);
  });

  it('serves EndpointSlices, Events and Nodes, including cluster-wide lists and watches', async () => {
    const before = await b.resourceVersion();
    const sliceWatch = await openWatch(kc, '/apis/discovery.k8s.io/v1/endpointslices', { resourceVersion: before });
    for (const namespace of ['default', 'kube-system']) {
      await discovery.createNamespacedEndpointSlice({
        namespace,
        body: {
          metadata: { generateName: 'web-', labels: { 'kubernetes.io/service-name': 'web' } },
          addressType: 'IPv4',
          endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }],
          ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        },
      });
    }
    const all = await discovery.listEndpointSliceForAllNamespaces({ labelSelector: 'kubernetes.io/service-name=web' });
    assert.deepEqual(all.items.map((s) => s.metadata?.namespace).sort(), ['default', 'kube-system']);
    for (const s of all.items) assert.match(s.metadata?.name ?? '', /^web-[a-z0-9]{5}$/);
    await waitFor(() => sliceWatch.events.length === 2, { timeoutMs: 5000, what: 'two EndpointSlice ADDED events' });

    const badSlice = apiError(
      await discovery.createNamespacedEndpointSlice({ namespace: 'default', body: { metadata: { name: 'x' }, addressType: 'IPX' as 'IPv4', endpoints: [] } }).then(() => undefined, (e: unknown) => e),
    );
    assert.equal(badSlice.code, 422);

    await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'web.' },
        involvedObject: { kind: 'Service', name: 'web', namespace: 'default' },
        reason: 'ExternalIPAllocated',
        message: 'allocated 192.168.10.5',
        type: 'Normal',
        source: { component: 'kube-loxilb' },
      },
    });
    const events = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=web,source=kube-loxilb' });
    assert.equal(events.items.length, 1);
    assert.equal(events.items[0]?.reason, 'ExternalIPAllocated');

    await b.addNode('node-1', { internalIP: '172.18.0.2', labels: { 'node-role.kubernetes.io/control-plane': '' } });
    const nodes = await core.listNode({ labelSelector: 'node-role.kubernetes.io/control-plane' });
    assert.deepEqual(nodes.items.map((n) => n.metadata?.name), ['node-1']);
    assert.equal(nodes.items[0]?.status?.addresses?.[0]?.address, '172.18.0.2');
  });

  if (serverName === 'FakeKubeApi') it('stop() ends open watches; start() again serves the same objects on the same port', async () => {
    const own = new FakeKubeApi();
    try {
      const url = await own.start();
      const ownKc = own.kubeConfig();
      own.create('services', lbService('survivor'));
      const w = await openWatch(ownKc, '/api/v1/services', { resourceVersion: own.resourceVersion });
      await waitFor(() => own.activeWatches() === 1, { timeoutMs: 5000, what: 'the watch to open' });
      await own.stop();
      await waitFor(() => w.isEnded(), { timeoutMs: 5000, what: 'the watch to end on stop()' });
      assert.equal(own.activeWatches(), 0);
      assert.equal(await own.start(), url);
      const list = await ownKc.makeApiClient(CoreV1Api).listNamespacedService({ namespace: 'default' });
      assert.ok(list.items.some((s) => s.metadata?.name === 'survivor'));
    } finally {
      await own.stop();
    }
  });
});
