// The Kubernetes caches kube-loxilb works from: Services, EndpointSlices and
// Nodes, each a client-node ListWatch (list, then watch from the list's
// resourceVersion; a 410 Expired makes it list again). What ListWatch leaves
// to its user is done here: a watch or list that fails (apiserver down,
// connection cut) is restarted with exponential backoff, "synced" is known
// (the first list of every resource has landed), and the loxilb agents
// published by the headless Services loxilb-lb-service / loxilb-peer-service
// are read out of the EndpointSlice cache for in-cluster discovery.
import { EventEmitter } from 'node:events';
import {
  CoreV1Api,
  DiscoveryV1Api,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Node,
  type V1Service,
} from '@kubernetes/client-node';
import { formatAddress, parseAddress } from '../ipam/ipRange.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import type { AgentKind } from './agentPool.ts';
import type { DiscoveredAgent } from './agentPool.ts';
import { agentOrigin } from '../apiclient/origin.ts';
import { makeApiClient } from './kubeApiClient.ts';
import { Backoff } from '../util/Backoff.ts';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';

export type { DiscoveredAgent } from './agentPool.ts';

/** Label EndpointSlices carry with the name of their Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Headless Services whose endpoints are loxilb agents (reference §6.6). */
export const LB_AGENT_SERVICE = 'loxilb-lb-service';
export const PEER_AGENT_SERVICE = 'loxilb-peer-service';

export type ResourceName = 'services' | 'endpointslices' | 'nodes';

export interface BackoffOptions {
  /** First restart delay after a failed list or watch (default 500 ms). */
  initialMs?: number;
  /** Upper bound of the doubling delay (default 30 s). */
  maxMs?: number;
}

/** What the ServiceController reads; KubeWatch is the real one. */
export interface ClusterView {
  services(): V1Service[];
  endpointSlices(): V1EndpointSlice[];
  nodes(): V1Node[];
  /** Every resource has been listed at least once. */
  synced(): boolean;
  on(event: 'change', listener: (resource: ResourceName) => void): unknown;
  on(event: 'synced', listener: () => void): unknown;
  off(event: 'change', listener: (resource: ResourceName) => void): unknown;
  off(event: 'synced', listener: () => void): unknown;
}

/**
 * One resource's cache. ListWatch stops for good after an error; this
 * restarts it after a growing delay, which resumes the watch from the last
 * resourceVersion (or lists again if that is gone).
 */
export class WatchedResource<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private restartTimer?: TimerHandle;
  private readonly retry: Backoff;
  private stopping = true;
  private listed = false;
  /** Completed lists (the first one and every re-list, e.g. after 410). */
  lists = 0;
  errors = 0;

  constructor(
    readonly name: ResourceName,
    path: string,
    kc: KubeConfig,
    listFn: () => Promise<KubernetesListObject<T>>,
    private readonly onChange: () => void,
    private readonly onListed: () => void,
    private readonly log: Logger,
    backoff: Required<BackoffOptions>,
    /** The restart delay runs on it. */
    private readonly clock: Clock = systemClock,
  ) {
    this.retry = new Backoff(backoff.initialMs, backoff.maxMs);
    const counted = async (): Promise<KubernetesListObject<T>> => {
      const list = await listFn();
      this.lists++;
      this.retry.reset();
      // ListWatch stores the items right after this promise settles, in a
      // later microtask; setImmediate runs once they are in the cache.
      setImmediate(() => {
        if (this.stopping) return;
        this.listed = true;
        this.log.debug({ resource: name, items: list.items.length, lists: this.lists }, 'listed');
        this.onListed();
        this.onChange();
      });
      return list;
    };
    this.lw = new ListWatch<T>(path, new Watch(kc), counted, false);
    const changed = () => {
      this.retry.reset();
      this.onChange();
    };
    this.lw.on('add', changed);
    this.lw.on('update', changed);
    this.lw.on('delete', changed);
    this.lw.on('error', (err: unknown) => this.failed(err));
  }

  get hasListed(): boolean {
    return this.listed;
  }

  list(): T[] {
    return [...this.lw.list()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  start(): void {
    if (!this.stopping) return;
    this.stopping = false;
    this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== undefined) this.clock.clearTimer(this.restartTimer);
    this.restartTimer = undefined;
    await this.lw.stop();
  }

  private run(): void {
    // start() resolves when the watch is open or has failed; failures come through 'error'.
    this.lw.start().catch((err: unknown) => this.failed(err));
  }

  private failed(err: unknown): void {
    // Aborting the watch in stop() ends in an error callback too.
    if (this.stopping || this.restartTimer !== undefined) return;
    this.errors++;
    const delay = this.retry.next();
    this.log.warn({ resource: this.name, err: errorText(err), retryInMs: delay }, 'list/watch failed; restarting');
    this.restartTimer = this.clock.setTimer(() => {
      this.restartTimer = undefined;
      if (!this.stopping) this.run();
    }, delay);
  }
}

export interface KubeWatchOptions {
  log?: Logger;
  backoff?: BackoffOptions;
  /** List/watch restart delays run on it (default: the system clock). */
  clock?: Clock;
}

/**
 * Emits 'change' (resource) after any add/update/delete or (re-)list, and
 * 'synced' once every resource has been listed; 'agents' (DiscoveredAgent[])
 * whenever the discovered agent set changes.
 */
export class KubeWatch extends EventEmitter implements ClusterView {
  private readonly svc: WatchedResource<V1Service>;
  private readonly slices: WatchedResource<V1EndpointSlice>;
  private readonly nodeCache: WatchedResource<V1Node>;
  private readonly log: Logger;
  private wasSynced = false;
  private lastAgents = '[]';

  constructor(kc: KubeConfig, opts: KubeWatchOptions = {}) {
    super();
    this.log = opts.log ?? silentLogger;
    const backoff = { initialMs: opts.backoff?.initialMs ?? 500, maxMs: opts.backoff?.maxMs ?? 30_000 };
    const core = makeApiClient(kc, CoreV1Api);
    const discovery = makeApiClient(kc, DiscoveryV1Api);
    const listed = () => {
      if (!this.wasSynced && this.synced()) {
        this.wasSynced = true;
        this.emit('synced');
      }
    };
    const changed = (resource: ResourceName) => () => {
      if (resource === 'endpointslices') this.checkAgents();
      this.emit('change', resource);
    };
    this.svc = new WatchedResource<V1Service>('services', '/api/v1/services', kc, () => core.listServiceForAllNamespaces(), changed('services'), listed, this.log, backoff, opts.clock);
    this.slices = new WatchedResource<V1EndpointSlice>(
      'endpointslices',
      '/apis/discovery.k8s.io/v1/endpointslices',
      kc,
      () => discovery.listEndpointSliceForAllNamespaces(),
      changed('endpointslices'),
      listed,
      this.log,
      backoff,
      opts.clock,
    );
    this.nodeCache = new WatchedResource<V1Node>('nodes', '/api/v1/nodes', kc, () => core.listNode(), changed('nodes'), listed, this.log, backoff, opts.clock);
  }

  get resources(): readonly WatchedResource<KubernetesObject>[] {
    return [this.svc, this.slices, this.nodeCache] as WatchedResource<KubernetesObject>[];
  }

  start(): void {
    for (const r of this.resources) r.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.resources.map((r) => r.stop()));
  }

  /** Resolves once every resource has been listed. */
  whenSynced(): Promise<void> {
    if (this.synced()) return Promise.resolve();
    return new Promise((resolve) => this.once('synced', resolve));
  }

  synced(): boolean {
    return this.resources.every((r) => r.hasListed);
  }

  services(): V1Service[] {
    return this.svc.list();
  }

  endpointSlices(): V1EndpointSlice[] {
    return this.slices.list();
  }

  nodes(): V1Node[] {
    return this.nodeCache.list();
  }

  /** loxilb agents behind loxilb-lb-service and loxilb-peer-service, in any namespace. */
  discoveredAgents(): DiscoveredAgent[] {
    return discoverAgents(this.slices.list());
  }

  private checkAgents(): void {
    const agents = this.discoveredAgents();
    const text = JSON.stringify(agents);
    if (text === this.lastAgents) return;
    this.lastAgents = text;
    this.log.info({ agents: agents.map((a) => `${a.kind}:${a.url}`) }, 'discovered loxilb agents changed');
    this.emit('agents', agents);
  }
}

/**
 * Ready addresses of the agents' EndpointSlices, as kube-loxilb discovers
 * them: each becomes http://<ip>:11111. An address listed by both Services
 * is an LB agent. Sorted by kind then address, so the order is stable.
 */
export function discoverAgents(slices: readonly V1EndpointSlice[]): DiscoveredAgent[] {
  const found = new Map<string, DiscoveredAgent>();
  for (const slice of slices) {
    const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const kind: AgentKind | undefined = svc === LB_AGENT_SERVICE ? 'lb' : svc === PEER_AGENT_SERVICE ? 'peer' : undefined;
    if (!kind || (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6')) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const text of ep.addresses ?? []) {
        const a = parseAddress(text.trim());
        if (!a) continue;
        // Agents run with hostNetwork: the endpoint address is the node's.
        const ip = formatAddress(a.family, a.value);
        const url = agentOrigin(ip);
        const prev = found.get(url);
        if (!prev || kind === 'lb') found.set(url, { url, kind, nodeAddress: ip });
      }
    }
  }
  return [...found.values()].sort((x, y) => (x.kind === y.kind ? compareIp(x.nodeAddress, y.nodeAddress) : x.kind === 'lb' ? -1 : 1));
}

function compareIp(a: string, b: string): number {
  const x = parseAddress(a)!;
  const y = parseAddress(b)!;
  return x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
    return code !== undefined && !err.message.includes(String(code)) ? `${err.message} (${String(code)})` : err.message;
  }
  return String(err);
}
