// A real Kubernetes API server for the tests, started the way
// controller-runtime's envtest starts one: etcd (Debian's etcd-server) and
// kube-apiserver (built from its Go module by scripts/build-go-peers.sh) on the test process's
// loopback, with a generated CA, serving certificate and service-account
// signing key, authorization mode RBAC, and an admin client certificate
// (group system:masters) for the test itself and kubectl. A controller runs
// as a ServiceAccount with a token from the TokenRequest API, so the RBAC
// rules it is given are the ones that count.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { resolveResource } from './fakeKubeResources.ts';
import { goPeerBin } from './goPeers.ts';
import { kubeconfigDocument } from './kubeconfig.ts';
import { issueCert, makeCa } from './pki.ts';
import { StopWaiting, waitFor } from './wait.ts';

export interface KubeReply {
  status: number;
  body: any;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export class KubeApiServer {
  private stopped = false;
  /** Keep-alive connections for request() (a TLS handshake per call would dominate a burst). */
  private readonly agent = new https.Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(
    /** https://127.0.0.1:<port> */
    readonly url: string,
    readonly port: number,
    readonly dir: string,
    /** The CA that signs the serving and client certificates. */
    readonly caFile: string,
    /** kubeconfig of the admin (system:masters) user. */
    readonly adminKubeconfig: string,
    private readonly admin: { cert: Buffer; key: Buffer; ca: Buffer },
    private readonly procs: ChildProcess[],
    private readonly ownDir: boolean,
    private readonly etcdDir: string,
  ) {}

  /** Starts etcd and kube-apiserver; resolves once /readyz says ready (RBAC bootstrap roles included). */
  static async start(opts: { dir?: string } = {}): Promise<KubeApiServer> {
    const ownDir = !opts.dir;
    const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'loxilb-ts-kube-'));
    const pki = path.join(dir, 'pki');
    mkdirSync(pki, { recursive: true });
    const caFile = makeCa(pki);
    const serving = issueCert(pki, { name: 'apiserver', sans: ['IP:127.0.0.1', 'IP:10.96.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'], usage: 'serverAuth' });
    const admin = issueCert(pki, { name: 'admin', subject: '/CN=admin/O=system:masters', usage: 'clientAuth' });
    execFileSync('openssl', ['genrsa', '-out', 'sa.key', '2048'], { cwd: pki, stdio: 'ignore' });
    execFileSync('openssl', ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], { cwd: pki, stdio: 'ignore' });

    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdDir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'loxilb-ts-etcd-'));
    const procs: ChildProcess[] = [];
    const launch = (name: string, bin: string, args: string[]) => {
      const out = createWriteStream(path.join(dir, `${name}.log`));
      const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout!.pipe(out);
      p.stderr!.pipe(out);
      procs.push(p);
      return p;
    };
    const server = new KubeApiServer(
      `https://127.0.0.1:${apiPort}`,
      apiPort,
      dir,
      caFile,
      path.join(dir, 'admin.kubeconfig'),
      { cert: readFileSync(admin.cert), key: readFileSync(admin.key), ca: readFileSync(caFile) },
      procs,
      ownDir,
      etcdDir,
    );
    try {
      // Debian's etcd-server (3.4: no --unsafe-no-fsync), its data in memory so fsync is cheap.
      launch('etcd', 'etcd', [
        '--name=default',
        `--data-dir=${etcdDir}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        '--logger=zap',
        '--log-level=warn',
      ]);
      launch('kube-apiserver', goPeerBin('kube-apiserver'), [
        '--advertise-address=127.0.0.1',
        '--bind-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        `--cert-dir=${pki}`,
        `--tls-cert-file=${serving.cert}`,
        `--tls-private-key-file=${serving.key}`,
        `--client-ca-file=${caFile}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
        // Dual-stack, as the clusters that get IPv6 and 6to4 pools are.
        '--service-cluster-ip-range=10.96.0.0/12,fd00:10:96::/112',
        '--authorization-mode=RBAC',
        '--allow-privileged=true',
        // No pods run here: nothing for the priority-and-fairness machinery to protect.
        '--enable-priority-and-fairness=false',
        '--endpoint-reconciler-type=none',
        '--v=1',
      ]);
      writeFileSync(server.adminKubeconfig, server.kubeconfig({ user: 'admin', clientCert: admin.cert, clientKey: admin.key }));
      await waitFor(
        async () => {
          for (const p of procs) if (p.exitCode !== null) throw new StopWaiting(`${p.spawnfile} exited (${p.exitCode}); see ${dir}/*.log`);
          return (await server.request('GET', '/readyz').catch(() => ({ status: 0 }))).status === 200;
        },
        { timeoutMs: 90_000, intervalMs: 250, what: 'kube-apiserver ready' },
      );
      return server;
    } catch (err) {
      await server.stop();
      throw err;
    }
  }

  /** A kubeconfig for this server, with a client certificate or a bearer token. */
  kubeconfig(u: { user: string; clientCert?: string; clientKey?: string; token?: string; server?: string }): string {
    const { user, server, ...credentials } = u;
    return stringify(kubeconfigDocument(server ?? this.url, { name: user, ca: this.caFile, credentials }));
  }

  /** An API request as the admin; JSON in and out. */
  request(method: string, p: string, body?: unknown, opts: { token?: string; contentType?: string } = {}): Promise<KubeReply> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: this.port,
          agent: this.agent,
          method,
          path: p,
          ca: this.admin.ca,
          ...(opts.token ? { headers: { authorization: `Bearer ${opts.token}` } } : { cert: this.admin.cert, key: this.admin.key, headers: {} }),
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON (e.g. /readyz's "ok")
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      if (data) {
        req.setHeader('content-type', opts.contentType ?? 'application/json');
        req.setHeader('content-length', data.length);
      }
      req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  /** Like request(), but anything other than 2xx throws with the server's message. */
  async must(method: string, p: string, body?: unknown, opts?: { token?: string; contentType?: string }): Promise<any> {
    const r = await this.request(method, p, body, opts);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)?.slice(0, 400)}`);
    return r.body;
  }

  /**
   * A ServiceAccount (created when missing) and a token for it from the
   * TokenRequest API: what a pod running as that account presents.
   */
  async serviceAccountToken(namespace: string, name: string, expirationSeconds = 3600): Promise<string> {
    await this.ensure(`/api/v1/namespaces`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await this.ensure(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
    const r = await this.must('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds },
    });
    return r.status.token as string;
  }

  /** POSTs an object unless it already exists (409). */
  async ensure(collection: string, obj: { metadata: { name: string; [k: string]: unknown }; [k: string]: unknown }): Promise<void> {
    const r = await this.request('POST', collection, obj);
    if (r.status !== 201 && r.status !== 200 && r.status !== 409) throw new Error(`POST ${collection} ${obj.metadata.name}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Creates an object (as the admin); returns it as stored. */
  create<T = any>(resource: string, obj: object, namespace = 'default'): Promise<T> {
    return this.must('POST', resourcePath(resource, namespace), obj);
  }

  /** One object, or undefined when it does not exist. */
  async get<T = any>(resource: string, name: string, namespace = 'default'): Promise<T | undefined> {
    const r = await this.request('GET', resourcePath(resource, namespace, name));
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`GET ${resource} ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as T;
  }

  /**
   * A Node as a kubelet registers it: labels, addresses (InternalIPs, then
   * its hostname) and a Ready condition, written to the status subresource
   * as the kubelet does (no kubelet runs here to keep it fresh, and no
   * node controller to mark it NotReady).
   */
  async addNode(name: string, opts: { internalIP?: string; internalIPs?: string[]; labels?: Record<string, string>; ready?: boolean } = {}): Promise<void> {
    const internal = [...(opts.internalIP ? [opts.internalIP] : []), ...(opts.internalIPs ?? [])];
    await this.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...(opts.labels ?? {}) } }, spec: {} });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.must(
      'PATCH',
      `${resourcePath('nodes', undefined, name)}/status`,
      {
        status: {
          addresses: [...internal.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }],
          conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True', reason: opts.ready === false ? 'KubeletNotReady' : 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }],
        },
      },
      { contentType: 'application/merge-patch+json' },
    );
  }

  /** PIDs of etcd and kube-apiserver (for a caller that checks nothing outlived it). */
  get pids(): number[] {
    return this.procs.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Log of etcd or kube-apiserver. */
  log(name: 'etcd' | 'kube-apiserver'): string {
    try {
      return readFileSync(path.join(this.dir, `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops both processes (SIGTERM, then SIGKILL after 5 s) and removes the directory it made. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.agent.destroy();
    for (const p of [...this.procs].reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.etcdDir, { recursive: true, force: true });
    if (this.ownDir && !process.env.LAB_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The API path of a resource collection, or of one object when name is given (the resource table FakeKubeApi serves from). */
export function resourcePath(resource: string, namespace = 'default', name?: string): string {
  const rt = resolveResource(resource);
  const base = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  const collection = rt.namespaced ? `${base}/namespaces/${namespace}/${rt.resource}` : `${base}/${rt.resource}`;
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
}
