// A small Kubernetes API server for tests, since no real kube-apiserver can
// run here. It owns the REST behaviour a controller and kubectl rely on:
// discovery, CRUD with optimistic concurrency on one global resourceVersion,
// the /status subresource, label and field selectors, server-side Table
// printing for kubectl, and watches replayed from a bounded history (410
// Expired once compacted) with bookmarks and timeouts. Everything is in
// memory; objects survive stop()/start() like etcd survives an apiserver
// restart. Tests drive it over HTTP (kubectl, @kubernetes/client-node) and
// through the in-process methods (seed, inspect, force compaction, drop
// watches).
//
// Served: core/v1 namespaces, nodes, services, endpoints, events;
// discovery.k8s.io/v1 endpointslices; coordination.k8s.io/v1 leases;
// events.k8s.io/v1 events (stored apart from core events, without conversion).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  KubeApiError,
  STALE_OBJECT,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  forbidden,
  internalError,
  invalid,
  methodNotAllowed,
  notFound,
  type FieldError,
  type KubeStatus,
} from './fakeKubeErrors.js';
import {
  RESOURCE_TYPES,
  apiGroupDoc,
  apiGroupListDoc,
  apiResourceListDoc,
  apiVersionOf,
  apiVersionsDoc,
  findResource,
  resolveResource,
  resourceForKind,
  resourceId,
  type ResourceType,
} from './fakeKubeResources.js';
import { parseFieldSelector, parseLabelSelector, type Selector } from './fakeKubeSelectors.js';
import { PATCH_CONTENT_TYPES, applyPatch, clone, type PatchType } from './fakeKubePatch.js';
import { STRATEGIES, validateName, type AdmissionContext, type AllocationConfig } from './fakeKubeStrategies.js';
import { toTable, type IncludeObject } from './fakeKubeTables.js';
import { decodeKnownFields, parseFieldValidation, type FieldValidation } from './fakeKubeFields.js';
import { OpenApiV3 } from './fakeKubeOpenApi.js';
import { kubeConfigFor, writeKubeconfig } from './kubeconfig.js';

export { KubeApiError } from './fakeKubeErrors.js';
export type { KubeStatus } from './fakeKubeErrors.js';
export type { PatchType } from './fakeKubePatch.js';

/** Any stored object. The fake keeps manifests as plain JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

// Internally objects are walked field by field; every access is guarded.
type Obj = Record<string, any>;

export interface FakeKubeApiOptions {
  /** Port to listen on (default 0: a free one, kept across stop()/start()). */
  port?: number;
  /** Watch events kept for replay; older resourceVersions get 410 Expired (default 1000). */
  historyLimit?: number;
  /** Interval of BOOKMARK events on watches that allow them (default 1000 ms; a real apiserver uses about a minute). */
  bookmarkIntervalMs?: number;
  /** Watch duration when the client sets no timeoutSeconds (default 1800 s, the apiserver's --min-request-timeout). */
  defaultWatchTimeoutSeconds?: number;
  /** Reported by /version (default v1.32.4, matching the kubectl installed here). */
  gitVersion?: string;
  /** Service CIDRs, one per family (default 10.96.0.0/12 and fd00:10:96::/112). */
  serviceCidrs?: string[];
  /** NodePort range (default 30000-32767). */
  nodePortRange?: [number, number];
  /** Create default/kubernetes (clusterIP .1 of the v4 service CIDR) like a real apiserver (default true). */
  seedKubernetesService?: boolean;
  /** Request log entries kept (default 10000). */
  requestLogLimit?: number;
}

export interface RequestLogEntry {
  seq: number;
  time: string;
  method: string;
  path: string;
  /** The raw query string without '?', '' if none. */
  query: string;
  accept?: string;
  contentType?: string;
  userAgent?: string;
  /** How the fake classified the request: 'unknown' means it had no route for it (a gap worth looking at). */
  route: 'discovery' | 'version' | 'health' | 'openapi' | 'resource' | 'watch' | 'unknown';
  /** HTTP status sent; for a watch, 200 as soon as the stream opened. */
  status?: number;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface PatchOptions {
  namespace?: string;
  /** Default 'merge'. */
  type?: PatchType;
  subresource?: 'status';
}

export interface AddNodeOptions {
  internalIP?: string;
  /** More InternalIP addresses after internalIP, e.g. the IPv6 one of a dual-stack node. */
  internalIPs?: string[];
  labels?: Record<string, string>;
  /** Ready condition status (default true). */
  ready?: boolean;
  kubeletVersion?: string;
}

export interface DropWatchesOptions {
  /** Destroy the sockets (as a network failure would) instead of ending the streams cleanly. */
  abrupt?: boolean;
  /** Only watches of this resource (as named to resolveResource). */
  resource?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

interface HistoryEvent {
  rv: number;
  rt: ResourceType;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
  /** State before the change, for selector transitions. */
  previous?: Obj;
}

/** How one write is carried out: dry-run, field validation, and the warnings it produced. */
interface WriteOptions {
  dryRun: boolean;
  validation: FieldValidation;
  warnings: string[];
}

/** In-process writes: persisted, and strict about fields so a typo in a test fails loudly. */
function inProcess(): WriteOptions {
  return { dryRun: false, validation: 'Strict', warnings: [] };
}

type Negotiated =
  | { as: 'json' }
  | { as: 'table'; version: string }
  | { as: 'partial'; version: string };

const PROTECTED_NAMESPACES = ['default', 'kube-system', 'kube-public'];
const MAX_BODY_BYTES = 3 * 1024 * 1024;

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function storeKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function generateSuffix(): string {
  let out = '';
  for (let i = 0; i < 5; i++) out += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return out;
}

/** Copy with kind/apiVersion set, as GET and watch events show objects (list items carry neither). */
function withTypeMeta(rt: ResourceType, obj: Obj): Obj {
  const { apiVersion: _a, kind: _k, ...rest } = clone(obj);
  return { kind: rt.kind, apiVersion: apiVersionOf(rt), ...rest };
}

function withoutTypeMeta(obj: Obj): Obj {
  const { apiVersion: _a, kind: _k, ...rest } = clone(obj);
  return rest;
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses Accept the way the apiserver negotiates: first acceptable media range wins. */
function negotiate(accept: string | undefined): Negotiated | undefined {
  if (accept === undefined || accept.trim() === '') return { as: 'json' };
  for (const range of accept.split(',')) {
    const [typePart, ...paramParts] = range.split(';').map((s) => s.trim());
    const type = (typePart ?? '').toLowerCase();
    const params: Record<string, string> = {};
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq > 0) params[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
    }
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') continue;
    const as = params.as;
    if (as === undefined) return { as: 'json' };
    if (params.g !== 'meta.k8s.io' || (params.v !== 'v1' && params.v !== 'v1beta1')) continue;
    if (as === 'Table') return { as: 'table', version: params.v };
    if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { as: 'partial', version: params.v };
  }
  return undefined;
}

class WatchStream {
  private headersSent = false;
  private sentTableHeader = false;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly rt: ResourceType,
    readonly namespace: string | undefined,
    private readonly selects: Selector,
    private readonly res: ServerResponse,
    private readonly negotiated: Negotiated,
    private readonly includeObject: IncludeObject,
    private readonly onClose: (w: WatchStream) => void,
  ) {
    res.on('close', () => this.finish());
  }

  open(timeoutMs: number, bookmarkIntervalMs: number | undefined, currentRv: () => number): void {
    this.res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    this.res.flushHeaders();
    this.res.socket?.setNoDelay(true);
    this.headersSent = true;
    this.timeoutTimer = setTimeout(() => this.end(), timeoutMs);
    if (bookmarkIntervalMs !== undefined) {
      this.bookmarkTimer = setInterval(() => this.bookmark(String(currentRv())), bookmarkIntervalMs);
    }
  }

  get isOpen(): boolean {
    return this.headersSent && !this.closed;
  }

  private matches(obj: Obj | undefined): boolean {
    if (!obj) return false;
    if (this.namespace !== undefined && obj.metadata?.namespace !== this.namespace) return false;
    return this.selects(obj);
  }

  /** Offers a stored change; the watcher sees it as the apiserver would through its selectors. */
  offer(event: HistoryEvent): void {
    if (event.rt !== this.rt || !this.isOpen) return;
    const now = this.matches(event.object);
    const before = this.matches(event.previous);
    if (event.type === 'ADDED') {
      if (now) this.send('ADDED', event.object);
    } else if (event.type === 'MODIFIED') {
      if (now && before) this.send('MODIFIED', event.object);
      else if (now) this.send('ADDED', event.object);
      else if (before) this.send('DELETED', event.object);
    } else if (before || now) {
      this.send('DELETED', event.object);
    }
  }

  sendInitial(obj: Obj): void {
    if (this.matches(obj)) this.send('ADDED', obj);
  }

  send(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Obj): void {
    let object: unknown;
    if (this.negotiated.as === 'table') {
      object = toTable(this.rt, [withTypeMeta(this.rt, obj)], {
        includeObject: this.includeObject,
        tableVersion: this.negotiated.version,
        noHeaders: this.sentTableHeader,
      });
      this.sentTableHeader = true;
    } else if (this.negotiated.as === 'partial') {
      object = { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${this.negotiated.version}`, metadata: clone(obj.metadata) };
    } else {
      object = withTypeMeta(this.rt, obj);
    }
    this.write({ type, object });
  }

  bookmark(rv: string, annotations?: Record<string, string>): void {
    if (!this.isOpen) return;
    const metadata: Obj = { resourceVersion: rv };
    if (annotations) metadata.annotations = annotations;
    this.write({ type: 'BOOKMARK', object: { kind: this.rt.kind, apiVersion: apiVersionOf(this.rt), metadata } });
  }

  error(status: KubeStatus): void {
    this.write({ type: 'ERROR', object: status });
    this.end();
  }

  private write(event: unknown): void {
    if (!this.isOpen) return;
    this.res.write(`${JSON.stringify(event)}\n`);
  }

  /** Ends the stream cleanly (terminating chunk), as the apiserver does on timeout. */
  end(): void {
    if (this.closed) return;
    this.res.end();
    this.finish();
  }

  /** Cuts the connection without a terminating chunk. */
  destroy(): void {
    if (this.closed) return;
    this.res.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timeoutTimer);
    clearInterval(this.bookmarkTimer);
    this.onClose(this);
  }
}

export class FakeKubeApi {
  private readonly store = new Map<string, Map<string, Obj>>();
  private rv = 0;
  private history: HistoryEvent[] = [];
  /** Highest resourceVersion whose event is no longer replayable. */
  private compactedRv = 0;
  private readonly watches = new Set<WatchStream>();
  private readonly log: RequestLogEntry[] = [];
  private logSeq = 0;
  private server: Server | undefined;
  private port: number;
  private readonly opts: Required<Omit<FakeKubeApiOptions, 'port'>>;
  private readonly allocation: AllocationConfig;
  private readonly openApi: OpenApiV3;

  constructor(options: FakeKubeApiOptions = {}) {
    this.port = options.port ?? 0;
    this.opts = {
      historyLimit: options.historyLimit ?? 1000,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
      defaultWatchTimeoutSeconds: options.defaultWatchTimeoutSeconds ?? 1800,
      gitVersion: options.gitVersion ?? 'v1.32.4',
      serviceCidrs: options.serviceCidrs ?? ['10.96.0.0/12', 'fd00:10:96::/112'],
      nodePortRange: options.nodePortRange ?? [30000, 32767],
      seedKubernetesService: options.seedKubernetesService ?? true,
      requestLogLimit: options.requestLogLimit ?? 10000,
    };
    this.allocation = { serviceCidrs: this.opts.serviceCidrs, nodePortRange: this.opts.nodePortRange };
    this.openApi = new OpenApiV3(this.opts.gitVersion);
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.create('namespaces', { metadata: { name } });
    }
    if (this.opts.seedKubernetesService) {
      const v4 = this.opts.serviceCidrs.find((c) => c.includes('.'));
      if (v4) {
        const base = v4.split('/')[0]!.split('.').map(Number);
        const first = [base[0], base[1], base[2], (base[3] ?? 0) + 1].join('.');
        this.create('services', {
          metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
          spec: { clusterIP: first, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
        });
      }
    }
  }

  // ------------------------------------------------------------ lifecycle

  /** Listens on 127.0.0.1 (the same port again after stop()) and returns the base URL. */
  async start(): Promise<string> {
    if (this.server) return this.url;
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this.url;
  }

  /** Ends every watch stream, closes all connections and stops listening. Objects are kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.dropWatches();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  get url(): string {
    if (!this.server) throw new Error('FakeKubeApi is not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** Writes a kubeconfig for kubectl and returns its path. */
  writeKubeconfig(path: string): Promise<string> {
    return writeKubeconfig(this.url, path);
  }

  /** A client-node KubeConfig for this server. */
  kubeConfig(): KubeConfig {
    return kubeConfigFor(this.url);
  }

  // ------------------------------------------------------------ test controls

  /** The newest resourceVersion handed out. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Forgets the watch history: any watch from an older resourceVersion now gets 410 Expired. */
  compactHistory(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  /** Sends a BOOKMARK now on every open watch that allowed bookmarks; returns how many. */
  sendBookmarks(): number {
    let n = 0;
    for (const w of this.watches) {
      if (w.isOpen && this.bookmarkWatches.has(w)) {
        w.bookmark(String(this.rv));
        n++;
      }
    }
    return n;
  }

  /** Closes open watch connections (to exercise client reconnects); returns how many. */
  dropWatches(opts: DropWatchesOptions = {}): number {
    const rt = opts.resource === undefined ? undefined : resolveResource(opts.resource);
    let n = 0;
    for (const w of [...this.watches]) {
      if (rt && w.rt !== rt) continue;
      if (opts.abrupt) w.destroy();
      else w.end();
      n++;
    }
    return n;
  }

  /** Open watch connections, optionally of one resource. */
  activeWatches(resource?: string): number {
    const rt = resource === undefined ? undefined : resolveResource(resource);
    let n = 0;
    for (const w of this.watches) if (w.isOpen && (!rt || w.rt === rt)) n++;
    return n;
  }

  /** Requests served so far, oldest first. */
  get requests(): RequestLogEntry[] {
    return this.log.map((e) => ({ ...e }));
  }

  clearRequestLog(): void {
    this.log.length = 0;
  }

  // ------------------------------------------------------------ in-process API (same rules as HTTP)

  create<T = KubeObject>(resource: string, obj: object, namespace?: string): T {
    const rt = resolveResource(resource);
    const ns = rt.namespaced ? (namespace ?? (obj as Obj).metadata?.namespace ?? 'default') : undefined;
    return this.doCreate(rt, ns, clone(obj) as Obj, inProcess()) as T;
  }

  get<T = KubeObject>(resource: string, name: string, namespace = 'default'): T | undefined {
    const rt = resolveResource(resource);
    const found = this.bucket(rt).get(storeKey(rt.namespaced ? namespace : undefined, name));
    return found ? (withTypeMeta(rt, found) as T) : undefined;
  }

  list<T = KubeObject>(resource: string, opts: ListOptions = {}): T[] {
    const rt = resolveResource(resource);
    const selects = this.selector(rt, opts.labelSelector, opts.fieldSelector);
    return this.sorted(rt, opts.namespace)
      .filter(selects)
      .map((o) => withTypeMeta(rt, o) as T);
  }

  /** PUT semantics: metadata.resourceVersion, when set, must be current (else 409). */
  update<T = KubeObject>(resource: string, obj: object): T {
    const rt = resolveResource(resource);
    const meta = (obj as Obj).metadata ?? {};
    const old = this.mustGet(rt, rt.namespaced ? (meta.namespace ?? 'default') : undefined, meta.name);
    return this.doUpdate(rt, old, clone(obj) as Obj, undefined, inProcess()) as T;
  }

  /** PUT on /status: only status changes. */
  updateStatus<T = KubeObject>(resource: string, obj: object): T {
    const rt = resolveResource(resource);
    const meta = (obj as Obj).metadata ?? {};
    const old = this.mustGet(rt, rt.namespaced ? (meta.namespace ?? 'default') : undefined, meta.name);
    return this.doUpdate(rt, old, clone(obj) as Obj, 'status', inProcess()) as T;
  }

  patch<T = KubeObject>(resource: string, name: string, patch: unknown, opts: PatchOptions = {}): T {
    const rt = resolveResource(resource);
    const old = this.mustGet(rt, rt.namespaced ? (opts.namespace ?? 'default') : undefined, name);
    return this.doPatch(rt, old, opts.type ?? 'merge', patch, opts.subresource, inProcess()) as T;
  }

  /** Merge-patches status through the /status subresource. */
  patchStatus<T = KubeObject>(resource: string, name: string, status: object, namespace = 'default'): T {
    return this.patch<T>(resource, name, { status }, { namespace, subresource: 'status' });
  }

  /** Sets status.loadBalancer.ingress of a Service (what kube-loxilb writes). */
  setServiceIngress<T = KubeObject>(name: string, ingress: ReadonlyArray<string | { ip?: string; hostname?: string }>, namespace = 'default'): T {
    const entries = ingress.map((i) => (typeof i === 'string' ? { ip: i } : i));
    const old = this.mustGet(resolveResource('services'), namespace, name);
    const status = clone(old.status ?? {});
    status.loadBalancer = { ...(status.loadBalancer ?? {}), ingress: entries };
    return this.updateStatus<T>('services', { metadata: { name, namespace }, status });
  }

  /** Deletes like DELETE does (finalizers respected); false if there was nothing to delete. */
  delete(resource: string, name: string, namespace = 'default'): boolean {
    const rt = resolveResource(resource);
    const found = this.bucket(rt).get(storeKey(rt.namespaced ? namespace : undefined, name));
    if (!found) return false;
    this.doDelete(rt, found, undefined, false);
    return true;
  }

  /** Creates each manifest (by apiVersion/kind), or replaces it when it exists. */
  seed(...manifests: object[]): KubeObject[] {
    return manifests.map((m) => {
      const obj = m as Obj;
      const rt = resourceForKind(String(obj.apiVersion), String(obj.kind));
      const ns = rt.namespaced ? (obj.metadata?.namespace ?? 'default') : undefined;
      const existing = this.bucket(rt).get(storeKey(ns, obj.metadata?.name ?? ''));
      if (!existing) return this.doCreate(rt, ns, clone(obj), inProcess());
      const next = clone(obj);
      next.metadata = { ...next.metadata, resourceVersion: '' };
      const updated = this.doUpdate(rt, existing, next, undefined, inProcess());
      return rt.statusSubresource && obj.status !== undefined ? this.doUpdate(rt, this.mustGet(rt, ns, updated.metadata.name), clone(obj), 'status', inProcess()) : updated;
    });
  }

  /** A Ready node with an InternalIP, as a kubelet would register it. */
  addNode<T = KubeObject>(name: string, opts: AddNodeOptions = {}): T {
    const internal = [...(opts.internalIP ? [opts.internalIP] : []), ...(opts.internalIPs ?? [])];
    const addresses = [...internal.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }];
    return this.create<T>('nodes', {
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...(opts.labels ?? {}) } },
      spec: {},
      status: {
        addresses,
        conditions: [
          {
            type: 'Ready',
            status: opts.ready === false ? 'False' : 'True',
            reason: opts.ready === false ? 'KubeletNotReady' : 'KubeletReady',
            lastHeartbeatTime: nowTimestamp(),
            lastTransitionTime: nowTimestamp(),
          },
        ],
        nodeInfo: { kubeletVersion: opts.kubeletVersion ?? this.opts.gitVersion, osImage: 'Debian GNU/Linux', kernelVersion: '6.1.0', containerRuntimeVersion: 'containerd://1.7.0' },
      },
    });
  }

  // ------------------------------------------------------------ storage

  private bucket(rt: ResourceType): Map<string, Obj> {
    const id = resourceId(rt);
    let b = this.store.get(id);
    if (!b) {
      b = new Map();
      this.store.set(id, b);
    }
    return b;
  }

  private sorted(rt: ResourceType, namespace: string | undefined): Obj[] {
    const items = [...this.bucket(rt).entries()]
      .filter(([, o]) => namespace === undefined || o.metadata.namespace === namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return items.map(([, o]) => o);
  }

  private mustGet(rt: ResourceType, namespace: string | undefined, name: string | undefined): Obj {
    if (!name) throw badRequest('name is required');
    const found = this.bucket(rt).get(storeKey(namespace, name));
    if (!found) throw notFound(rt, name);
    return found;
  }

  private selector(rt: ResourceType, labelSelector: string | undefined | null, fieldSelector: string | undefined | null): Selector {
    const byLabel = parseLabelSelector(labelSelector);
    const byField = parseFieldSelector(fieldSelector, rt.fieldLabels);
    return (o) => byLabel(o) && byField(o);
  }

  private admissionContext(): AdmissionContext {
    return { config: this.allocation, stored: (resource: string) => [...this.bucket(resolveResource(resource)).values()] };
  }

  /** Stores a change under a new resourceVersion and hands it to the watches. */
  private commit(rt: ResourceType, type: HistoryEvent['type'], obj: Obj, previous?: Obj): Obj {
    // As kube-apiserver (LoadBalancerIPMode, GA in 1.32): an ingress IP without ipMode is a VIP.
    if (rt.resource === 'services' && type !== 'DELETED') {
      for (const i of obj.status?.loadBalancer?.ingress ?? []) if (isObject(i) && i.ip && i.ipMode === undefined) i.ipMode = 'VIP';
    }
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const key = storeKey(obj.metadata.namespace, obj.metadata.name);
    if (type === 'DELETED') this.bucket(rt).delete(key);
    else this.bucket(rt).set(key, obj);
    const event: HistoryEvent = { rv: this.rv, rt, type, object: obj };
    if (previous) event.previous = previous;
    this.history.push(event);
    while (this.history.length > this.opts.historyLimit) {
      const dropped = this.history.shift()!;
      this.compactedRv = dropped.rv;
    }
    for (const w of this.watches) w.offer(event);
    return obj;
  }

  private checkTypeMeta(rt: ResourceType, body: Obj): void {
    // MicroTime fields decode only with six fractional digits (client-node sends a Date as milliseconds).
    if (rt.resource === 'leases' && isObject(body.spec)) {
      for (const f of ['acquireTime', 'renewTime']) {
        const v = body.spec[f];
        if (v !== undefined && v !== null && !(typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/.test(v))) {
          throw badRequest(`Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(String(v))} as "2006-01-02T15:04:05.000000Z07:00": a MicroTime needs six fractional digits`);
        }
      }
    }
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(rt)) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersionOf(rt)})`);
    }
    if (body.kind !== undefined && body.kind !== rt.kind) {
      throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${rt.kind})`);
    }
  }

  private fail(rt: ResourceType, name: string, errors: FieldError[]): never {
    throw invalid(rt.kind, name, errors, rt.group);
  }

  private doCreate(rt: ResourceType, namespace: string | undefined, body: Obj, w: WriteOptions): Obj {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    this.checkTypeMeta(rt, body);
    w.warnings.push(...decodeKnownFields(rt, body, w.validation));
    const meta: Obj = isObject(body.metadata) ? body.metadata : {};
    if (rt.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      const ns = this.bucket(resolveResource('namespaces')).get(storeKey(undefined, namespace!));
      if (!ns) throw notFound(resolveResource('namespaces'), namespace!);
      if (ns.metadata.deletionTimestamp) {
        throw forbidden(`${rt.resource} "${meta.name ?? meta.generateName ?? ''}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`);
      }
    }
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      throw internalError('resourceVersion should not be set on objects to be created');
    }
    let name: string | undefined = meta.name;
    if (!name) {
      if (!meta.generateName) this.fail(rt, '', [{ type: 'FieldValueRequired', field: 'metadata.name', detail: 'Required value: name or generateName is required' }]);
      name = `${meta.generateName}${generateSuffix()}`;
    }
    const nameErrors = validateName(rt, name);
    if (nameErrors.length > 0) this.fail(rt, name, nameErrors);
    if (this.bucket(rt).has(storeKey(namespace, name))) throw alreadyExists(rt, name);

    const obj: Obj = { ...withoutTypeMeta(body), apiVersion: apiVersionOf(rt), kind: rt.kind };
    const { managedFields: _m, selfLink: _s, deletionTimestamp: _d, deletionGracePeriodSeconds: _g, resourceVersion: _r, ...keptMeta } = clone(meta);
    obj.metadata = { ...keptMeta, name, uid: randomUUID(), creationTimestamp: nowTimestamp() };
    if (namespace !== undefined) obj.metadata.namespace = namespace;
    else delete obj.metadata.namespace;
    if (rt.tracksGeneration || obj.spec !== undefined) obj.metadata.generation = 1;
    else delete obj.metadata.generation;

    const errors = STRATEGIES[resourceId(rt)]?.admitCreate?.(obj, this.admissionContext()) ?? [];
    if (errors.length > 0) this.fail(rt, name, errors);
    if (w.dryRun) return withTypeMeta(rt, obj);
    return withTypeMeta(rt, this.commit(rt, 'ADDED', obj));
  }

  /** The part of an object whose change bumps metadata.generation. */
  private specOf(rt: ResourceType, obj: Obj): unknown {
    if (!rt.tracksGeneration) return obj.spec;
    const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
    return rest;
  }

  private doUpdate(rt: ResourceType, old: Obj, body: Obj, subresource: 'status' | undefined, w: WriteOptions): Obj {
    if (!isObject(body)) throw badRequest('the body of the request must be a JSON object');
    this.checkTypeMeta(rt, body);
    w.warnings.push(...decodeKnownFields(rt, body, w.validation));
    const meta: Obj = isObject(body.metadata) ? body.metadata : {};
    const name: string = old.metadata.name;
    if (meta.name !== undefined && meta.name !== name) {
      throw badRequest(`the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
    }
    if (rt.namespaced && meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== old.metadata.namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && meta.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(rt, name, STALE_OBJECT);
    }

    let next: Obj;
    const { managedFields: _m, selfLink: _s, ...keptMeta } = clone(meta);
    const nextMeta: Obj = {
      ...keptMeta,
      name,
      uid: old.metadata.uid,
      creationTimestamp: old.metadata.creationTimestamp,
    };
    if (old.metadata.namespace !== undefined) nextMeta.namespace = old.metadata.namespace;
    else delete nextMeta.namespace;
    for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
      if (old.metadata[k] !== undefined) nextMeta[k] = old.metadata[k];
      else delete nextMeta[k];
    }
    if (subresource === 'status') {
      // As kube-apiserver's status strategies: the spec stays as stored; status and
      // metadata (labels, annotations) come from the write.
      next = clone(old);
      next.metadata = nextMeta;
      if (body.status === undefined) delete next.status;
      else next.status = clone(body.status);
    } else {
      next = { ...withoutTypeMeta(body), apiVersion: apiVersionOf(rt), kind: rt.kind };
      next.metadata = nextMeta;
      if (rt.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      const errors = STRATEGIES[resourceId(rt)]?.admitUpdate?.(next, old, this.admissionContext()) ?? [];
      if (errors.length > 0) this.fail(rt, name, errors);
      if (old.metadata.generation !== undefined && !isDeepStrictEqual(this.specOf(rt, next), this.specOf(rt, old))) {
        next.metadata.generation = old.metadata.generation + 1;
      }
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (isDeepStrictEqual(next, old)) return withTypeMeta(rt, old); // a no-op write is not a new version
    if (w.dryRun) return withTypeMeta(rt, next);
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      // The last finalizer is gone: the pending deletion completes now.
      return withTypeMeta(rt, this.commit(rt, 'DELETED', next, old));
    }
    return withTypeMeta(rt, this.commit(rt, 'MODIFIED', next, old));
  }

  private doPatch(rt: ResourceType, old: Obj, type: PatchType, patch: unknown, subresource: 'status' | undefined, w: WriteOptions): Obj {
    const current = withTypeMeta(rt, old);
    const patched = applyPatch(type, current, patch);
    if (!isObject(patched)) throw badRequest('the patch produced something other than an object');
    const rv = patched.metadata?.resourceVersion;
    if (rv !== undefined && rv !== old.metadata.resourceVersion) throw conflict(rt, old.metadata.name, STALE_OBJECT);
    return this.doUpdate(rt, old, patched, subresource, w);
  }

  private doDelete(rt: ResourceType, obj: Obj, options: Obj | undefined, dryRun: boolean): Obj {
    const name: string = obj.metadata.name;
    const pre: Obj | undefined = options?.preconditions;
    if (pre?.uid !== undefined && pre.uid !== null && pre.uid !== obj.metadata.uid) {
      throw conflict(rt, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== null && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw conflict(rt, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
    }
    if (rt.resource === 'namespaces' && rt.group === '' && PROTECTED_NAMESPACES.includes(name)) {
      throw forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    if (dryRun) return withTypeMeta(rt, obj);
    if ((obj.metadata.finalizers ?? []).length > 0) {
      if (obj.metadata.deletionTimestamp) return withTypeMeta(rt, obj);
      const next = clone(obj);
      next.metadata.deletionTimestamp = nowTimestamp();
      next.metadata.deletionGracePeriodSeconds = 0;
      return withTypeMeta(rt, this.commit(rt, 'MODIFIED', next, obj));
    }
    if (rt.resource === 'namespaces' && rt.group === '') {
      // The namespace controller's job, done at once: contents go first.
      for (const other of RESOURCE_TYPES) {
        if (!other.namespaced) continue;
        for (const item of this.sorted(other, name)) this.commit(other, 'DELETED', clone(item), item);
      }
    }
    return withTypeMeta(rt, this.commit(rt, 'DELETED', clone(obj), obj));
  }

  // ------------------------------------------------------------ HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const entry: RequestLogEntry = {
      seq: ++this.logSeq,
      time: new Date().toISOString(),
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      route: 'unknown',
    };
    if (req.headers.accept !== undefined) entry.accept = req.headers.accept;
    if (req.headers['content-type'] !== undefined) entry.contentType = req.headers['content-type'];
    if (req.headers['user-agent'] !== undefined) entry.userAgent = req.headers['user-agent'];
    this.log.push(entry);
    if (this.log.length > this.opts.requestLogLimit) this.log.shift();
    res.on('close', () => {
      entry.status ??= res.statusCode;
    });
    try {
      await this.route(req, res, url, entry);
    } catch (err) {
      const error = err instanceof KubeApiError ? err : internalError(err instanceof Error ? err.message : String(err));
      if (res.headersSent) {
        res.destroy();
        return;
      }
      this.sendJson(res, error.code, error.toStatus());
    }
    if (res.headersSent && entry.status === undefined) entry.status = res.statusCode;
  }

  private sendJson(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
    const text = JSON.stringify(body);
    if (warnings.length > 0) res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-cache, private',
    });
    res.end(text);
  }

  private notFoundPath(): KubeApiError {
    return new KubeApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  private async readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new KubeApiError(413, 'BadRequest', 'the request body is too large');
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
    }
  }

  private checkJsonBody(req: IncomingMessage): void {
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new KubeApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json`);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, entry: RequestLogEntry): Promise<void> {
    const method = req.method ?? 'GET';
    const segments = url.pathname.split('/').filter((s) => s !== '');
    const [root, second, third] = segments;

    if (segments.length === 1 && root === 'version') {
      entry.route = 'version';
      const [major, minor] = this.opts.gitVersion.replace(/^v/, '').split('.');
      return this.sendJson(res, 200, {
        major,
        minor,
        gitVersion: this.opts.gitVersion,
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2025-01-01T00:00:00Z',
        goVersion: 'go1.23.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
    }
    if (segments.length === 1 && (root === 'healthz' || root === 'livez' || root === 'readyz')) {
      entry.route = 'health';
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (root === 'openapi') {
      // Only v3, and only what kubectl's field-validation probe reads (see fakeKubeOpenApi.ts).
      entry.route = 'openapi';
      if (second !== 'v3') throw this.notFoundPath();
      if (segments.length === 2) return this.sendJson(res, 200, this.openApi.root());
      const doc = this.openApi.groupVersion(segments.slice(2).join('/'));
      if (doc === undefined) throw this.notFoundPath();
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(doc) });
      res.end(doc);
      return;
    }

    let group: string;
    let version: string;
    let rest: string[];
    if (root === 'api') {
      if (segments.length === 1) {
        entry.route = 'discovery';
        return this.sendJson(res, 200, apiVersionsDoc(`127.0.0.1:${this.port}`));
      }
      if (second !== 'v1') throw this.notFoundPath();
      group = '';
      version = 'v1';
      rest = segments.slice(2);
    } else if (root === 'apis') {
      if (segments.length === 1) {
        entry.route = 'discovery';
        return this.sendJson(res, 200, apiGroupListDoc());
      }
      if (segments.length === 2) {
        const doc = apiGroupDoc(second!);
        if (!doc) throw this.notFoundPath();
        entry.route = 'discovery';
        return this.sendJson(res, 200, doc);
      }
      group = second!;
      version = third!;
      rest = segments.slice(3);
    } else {
      throw this.notFoundPath();
    }

    if (rest.length === 0) {
      const doc = apiResourceListDoc(group, version);
      if (!doc) throw this.notFoundPath();
      entry.route = 'discovery';
      return this.sendJson(res, 200, doc);
    }

    const target = this.resolvePath(group, version, rest);
    if (!target) throw this.notFoundPath();
    entry.route = 'resource';
    const { rt, namespace, name, subresource } = target;
    const query = url.searchParams;
    const dryRun = query.getAll('dryRun').includes('All');
    const writeOptions = (): WriteOptions => ({ dryRun, validation: parseFieldValidation(query.get('fieldValidation')), warnings: [] });

    if (subresource !== undefined && subresource !== 'status') throw this.notFoundPath();
    if (subresource === 'status' && !rt.statusSubresource) throw this.notFoundPath();

    if (name === undefined) {
      if (method === 'GET') {
        const watch = query.get('watch');
        if (watch === 'true' || watch === '1') {
          entry.route = 'watch';
          return this.startWatch(req, res, rt, namespace, query, entry);
        }
        return this.serveList(req, res, rt, namespace, query);
      }
      if (rt.namespaced && namespace === undefined) throw methodNotAllowed(method);
      if (method === 'POST') {
        this.checkJsonBody(req);
        const body = (await this.readBody(req)) as Obj;
        const w = writeOptions();
        const created = this.doCreate(rt, namespace, body, w);
        return this.sendJson(res, 201, created, w.warnings);
      }
      if (method === 'DELETE' && rt.verbs.includes('deletecollection')) {
        const options = (await this.readBody(req)) as Obj | undefined;
        const selects = this.selector(rt, query.get('labelSelector'), query.get('fieldSelector'));
        const deleted = this.sorted(rt, namespace)
          .filter(selects)
          .map((o) => withoutTypeMeta(this.doDelete(rt, o, options, dryRun)));
        return this.sendJson(res, 200, { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(this.rv) }, items: deleted });
      }
      throw methodNotAllowed(method);
    }

    const negotiated = negotiate(req.headers.accept);
    const watchParam = query.get('watch');
    if (method === 'GET' && subresource === undefined && (watchParam === 'true' || watchParam === '1')) {
      // The older form of watching one object: same as a collection watch on metadata.name.
      const byName = new URLSearchParams(query);
      const field = `metadata.name=${name}`;
      byName.set('fieldSelector', query.get('fieldSelector') ? `${query.get('fieldSelector')},${field}` : field);
      entry.route = 'watch';
      return this.startWatch(req, res, rt, namespace, byName, entry);
    }
    switch (method) {
      case 'GET': {
        const obj = this.mustGet(rt, namespace, name);
        if (!negotiated) throw this.notAcceptable();
        return this.sendJson(res, 200, this.render(rt, [withTypeMeta(rt, obj)], negotiated, query, true));
      }
      case 'PUT': {
        this.checkJsonBody(req);
        const body = (await this.readBody(req)) as Obj;
        const old = this.mustGet(rt, namespace, name);
        const w = writeOptions();
        const updated = this.doUpdate(rt, old, body, subresource as 'status' | undefined, w);
        return this.sendJson(res, 200, updated, w.warnings);
      }
      case 'PATCH': {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const type = PATCH_CONTENT_TYPES[contentType];
        if (!type) {
          throw new KubeApiError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_CONTENT_TYPES).join(', ')}`,
          );
        }
        const body = await this.readBody(req);
        if (body === undefined) throw badRequest('the patch body is empty');
        const old = this.mustGet(rt, namespace, name);
        const w = writeOptions();
        const patched = this.doPatch(rt, old, type, body, subresource as 'status' | undefined, w);
        return this.sendJson(res, 200, patched, w.warnings);
      }
      case 'DELETE': {
        if (subresource !== undefined) throw methodNotAllowed(method);
        const options = (await this.readBody(req)) as Obj | undefined;
        const obj = this.mustGet(rt, namespace, name);
        const deleted = this.doDelete(rt, obj, options, dryRun);
        if (rt.deleteReturnsObject || deleted.metadata.deletionTimestamp) return this.sendJson(res, 200, deleted);
        const details: Obj = { name, kind: rt.resource, uid: obj.metadata.uid };
        if (rt.group !== '') details.group = rt.group;
        return this.sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details });
      }
      default:
        throw methodNotAllowed(method);
    }
  }

  private notAcceptable(): KubeApiError {
    return new KubeApiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json');
  }

  /**
   * Maps a path below /api/v1 or /apis/<group>/<version> to a resource.
   * `namespaces/<ns>/status` is the Namespace's own subresource; any other
   * `namespaces/<ns>/<x>` is a namespaced resource.
   */
  private resolvePath(
    group: string,
    version: string,
    rest: string[],
  ): { rt: ResourceType; namespace?: string; name?: string; subresource?: string } | undefined {
    const nsType = findResource('', 'v1', 'namespaces')!;
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      const rt = findResource(group, version, rest[2]!);
      if (!rt || !rt.namespaced || rest.length > 5) return undefined;
      const out: { rt: ResourceType; namespace?: string; name?: string; subresource?: string } = { rt, namespace: rest[1]! };
      if (rest[3] !== undefined) out.name = rest[3];
      if (rest[4] !== undefined) out.subresource = rest[4];
      return out;
    }
    const rt = findResource(group, version, rest[0]!);
    if (!rt || rest.length > 3) return undefined;
    if (rt.namespaced && rest.length > 1) return undefined;
    if (rt === nsType || !rt.namespaced) {
      const out: { rt: ResourceType; name?: string; subresource?: string } = { rt };
      if (rest[1] !== undefined) out.name = rest[1];
      if (rest[2] !== undefined) out.subresource = rest[2];
      return out;
    }
    return { rt };
  }

  private includeObjectOf(query: URLSearchParams): IncludeObject {
    const v = query.get('includeObject');
    if (v === null || v === '') return 'Metadata';
    if (v === 'None' || v === 'Metadata' || v === 'Object') return v;
    throw badRequest(`includeObject: Unsupported value: "${v}": supported values: "None", "Metadata", "Object"`);
  }

  /** One object (single) or a list page in the negotiated representation. */
  private render(rt: ResourceType, objects: Obj[], negotiated: Negotiated, query: URLSearchParams, single: boolean, continueToken?: string, remaining?: number): unknown {
    if (negotiated.as === 'table') {
      const opts: Parameters<typeof toTable>[2] = {
        includeObject: this.includeObjectOf(query),
        tableVersion: negotiated.version,
        resourceVersion: single ? objects[0]!.metadata.resourceVersion : String(this.rv),
      };
      if (continueToken) opts.continueToken = continueToken;
      return toTable(rt, objects, opts);
    }
    if (negotiated.as === 'partial') {
      const partial = (o: Obj): Obj => ({ kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${negotiated.version}`, metadata: clone(o.metadata) });
      if (single) return partial(objects[0]!);
      const metadata: Obj = { resourceVersion: String(this.rv) };
      if (continueToken) metadata.continue = continueToken;
      return { kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${negotiated.version}`, metadata, items: objects.map(partial) };
    }
    if (single) return objects[0];
    const metadata: Obj = { resourceVersion: String(this.rv) };
    if (continueToken) {
      metadata.continue = continueToken;
      if (remaining !== undefined) metadata.remainingItemCount = remaining;
    }
    return { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata, items: objects.map(withoutTypeMeta) };
  }

  private serveList(req: IncomingMessage, res: ServerResponse, rt: ResourceType, namespace: string | undefined, query: URLSearchParams): void {
    const negotiated = negotiate(req.headers.accept);
    if (!negotiated) throw this.notAcceptable();
    const selects = this.selector(rt, query.get('labelSelector'), query.get('fieldSelector'));
    let items = this.sorted(rt, namespace).filter(selects);
    const cont = query.get('continue');
    if (cont) {
      let after: string;
      try {
        after = (JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { after: string }).after;
      } catch {
        throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      items = items.filter((o) => storeKey(o.metadata.namespace, o.metadata.name) > after);
    }
    const limit = Number(query.get('limit') ?? '0');
    let token: string | undefined;
    let remaining: number | undefined;
    if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
      remaining = items.length - limit;
      items = items.slice(0, limit);
      const last = items[items.length - 1]!;
      token = Buffer.from(JSON.stringify({ after: storeKey(last.metadata.namespace, last.metadata.name) })).toString('base64url');
    }
    this.sendJson(res, 200, this.render(rt, items.map((o) => withTypeMeta(rt, o)), negotiated, query, false, token, remaining));
  }

  private readonly bookmarkWatches = new WeakSet<WatchStream>();

  private startWatch(req: IncomingMessage, res: ServerResponse, rt: ResourceType, namespace: string | undefined, query: URLSearchParams, entry: RequestLogEntry): void {
    const negotiated = negotiate(req.headers.accept);
    if (!negotiated) throw this.notAcceptable();
    const selects = this.selector(rt, query.get('labelSelector'), query.get('fieldSelector'));
    const rvParam = query.get('resourceVersion') ?? '';
    if (rvParam !== '' && !/^[0-9]+$/.test(rvParam)) throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a non-negative integer`);
    const timeoutParam = query.get('timeoutSeconds');
    const timeoutSeconds = timeoutParam === null || timeoutParam === '' ? this.opts.defaultWatchTimeoutSeconds : Number(timeoutParam);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) throw badRequest(`timeoutSeconds: Invalid value: "${timeoutParam}"`);
    const bookmarks = query.get('allowWatchBookmarks') === 'true';
    const sendInitialEvents = query.get('sendInitialEvents');
    if (sendInitialEvents === 'true' && (query.get('resourceVersionMatch') !== 'NotOlderThan' || !bookmarks)) {
      throw invalid('ListOptions', '', [
        { type: 'FieldValueForbidden', field: 'sendInitialEvents', detail: 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks to true' },
      ], 'meta.k8s.io');
    }

    const watch = new WatchStream(rt, namespace, selects, res, negotiated, this.includeObjectOf(query), (w) => this.watches.delete(w));
    if (bookmarks) this.bookmarkWatches.add(watch);
    watch.open(timeoutSeconds === 0 ? this.opts.defaultWatchTimeoutSeconds * 1000 : timeoutSeconds * 1000, bookmarks ? this.opts.bookmarkIntervalMs : undefined, () => this.rv);
    entry.status = 200;

    const fromRv = rvParam === '' ? undefined : Number(rvParam);
    if (sendInitialEvents === 'true' || fromRv === undefined || fromRv === 0) {
      // "Start at most recent" (and rv=0, "any"): the current state as ADDED events first.
      for (const obj of this.sorted(rt, namespace)) watch.sendInitial(obj);
      if (sendInitialEvents === 'true') watch.bookmark(String(this.rv), { 'k8s.io/initial-events-end': 'true' });
    } else {
      if (fromRv < this.compactedRv) {
        watch.error(expired(fromRv, this.compactedRv + 1).toStatus());
        return;
      }
      for (const event of this.history) if (event.rv > fromRv) watch.offer(event);
    }
    if (watch.closed) return;
    this.watches.add(watch);
  }
}

/** Convenience: a started FakeKubeApi. */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const api = new FakeKubeApi(options);
  await api.start();
  return api;
}
