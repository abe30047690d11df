// Connection sync between --cluster nodes over our gRPC service (proto/
// loxilb_sync.proto) on TCP 22222, optionally over TLS with client
// certificates.
//
// Every node serves its table and subscribes to every peer:
// - a subscriber first gets the peer's whole table of syncable connections
//   (established TCP, and UDP flows with a reply when --sync-udp is on);
// - after that, while the peer is MASTER, a scan every scanIntervalMs sends
//   what changed (new, changed or refreshed entries; deleted ones), in
//   batches of at most 8192 entries;
// - the subscriber installs a peer's entries into its own maps with its own
//   rule ids, restamped with its clock.
// A node counts as synced once every peer it can reach has sent its full
// table; the HA election keeps an unsynced node from becoming MASTER while a
// peer is alive (SyncGate).
//
// Over 400 lines: the sync server and its per-peer links (PeerLink) share the quotas,
// TLS identity checks and status counters; split candidate: PeerLink into its own file.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SyncGate } from '../ha/HaManager.ts';
import { LAYOUT_VERSION } from '../datapath/layout.ts';
import { errorMessage } from '../util/errors.ts';
import { hostPort, normalizeIp } from '../util/ipAddress.ts';
import { syncV1, type ConnSyncClient, type ConnSyncHandlers, type SubscribeRequest__Output, type SyncBatch, type SyncBatch__Output } from './syncProto.ts';
import { systemClock, unrefTimer, type Clock, type TimerHandle } from '../util/clock.ts';
import { batches, checkBatchShape, createDiffer, createKeySet, selectSyncable, type RawEntries } from './syncTable.ts';

const ConnSyncService = syncV1.ConnSync;

export const SYNC_PORT = 22222;
export const MAX_BATCH = 8192;

/** The connection table the sync reads and writes (the eBPF datapath). */
export interface ConnTable {
  dumpConnections(): RawEntries;
  /**
   * Installs a peer's entries with this node's rule ids; entries of services
   * it has no rule for are skipped, and ones that do not lead to an endpoint
   * of that rule are refused.
   */
  installConnections(keys: Buffer, values: Buffer): { installed: number; unknownService: number; rejected: number };
  deleteConnections(keys: Buffer): number;
}

export interface SyncTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface ConnSyncOptions {
  self: number;
  peers: string[];
  port?: number;
  /** Port the peers serve on (default: port; differs only when several nodes share a host, as in benchmarks). */
  peerPort?: number;
  /** Address the service listens on (default every address, as loxilb). */
  bindAddress?: string;
  /** Addresses that may subscribe (default: peers); a one-way setup such as the sync bench names them apart. */
  subscribers?: string[];
  tls?: SyncTls;
  udp?: boolean;
  scanIntervalMs?: number;
  /** Resend entries with traffic at least this often, so peers' copies never idle out (s). */
  refreshS?: number;
  reconnectMs?: number;
  /** Whether this node currently owns the connections (llb-inst0 is MASTER). */
  isMaster(): boolean;
  /** A subscriber whose unsent data passes this many bytes is cut off (it reconnects and pulls afresh). */
  maxSubscriberBacklogBytes?: number;
  /** Entries one peer may have installed here at once (default DEFAULT_MAX_ENTRIES_PER_PEER; the agent passes 7/8 of its table). */
  maxEntriesPerPeer?: number;
  /** Scans, reconnects and the shutdown grace run on it; batches carry its epochMs (default: the system clock). */
  clock?: Clock;
}

/**
 * Seven eighths of the smallest connection table (262,144 entries): a peer
 * can never fill the table and starve this node's own new connections, and
 * a MASTER's table up to that size still syncs in full for a hitless failover.
 */
export const DEFAULT_MAX_ENTRIES_PER_PEER = 229_376;

/** The share of this node's connection table one peer may fill. */
export function peerQuota(ctCapacity: number): number {
  return Math.floor((ctCapacity * 7) / 8);
}

/** A peer needs one subscription; two while a reconnect overlaps the old one going. */
export const MAX_SUBSCRIPTIONS_PER_PEER = 2;

/** A subscriber that lags this far behind is dropped: its backlog would otherwise grow without bound. */
export const DEFAULT_MAX_SUBSCRIBER_BACKLOG = 64 * 1024 * 1024;

/** The IP addresses a certificate's subjectAltName lists ("IP Address:1.2.3.4, DNS:x"), canonical. */
export function certificateIps(san: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (san ?? '').split(',')) {
    const m = /^\s*IP Address:(.+?)\s*$/.exec(part);
    const ip = m ? normalizeIp(m[1]!) : undefined;
    if (ip) out.add(ip);
  }
  return out;
}

/** The address part of a gRPC peer string ("1.2.3.4:5", "[fd00::1]:5", with or without an "ipv4:" prefix). */
export function peerAddress(peer: string): string | undefined {
  const p = peer.replace(/^ipv[46]:/, '');
  const host = p.startsWith('[') ? p.slice(1, p.indexOf(']')) : p.slice(0, p.lastIndexOf(':'));
  return normalizeIp(host);
}

type PeerState = 'connecting' | 'pulling' | 'synced' | 'unreachable';

/** A batch as a subscriber receives it. */
type Batch = SyncBatch__Output;
/** A subscription as the service holds it. */
type Subscription = grpc.ServerWritableStream<SubscribeRequest__Output, SyncBatch>;

export interface PeerSyncStatus {
  address: string;
  state: PeerState;
  /** Entries installed from this peer (full pulls and updates). */
  received: number;
  deleted: number;
  /** Entries dropped because this node has no rule for their service. */
  unknownService: number;
  /** Entries refused: their translation is not to an endpoint of this node's rule (a confused or hostile peer). */
  rejected: number;
  /** Entries refused because the peer already had its share of the table installed here. */
  overQuota: number;
  errors: number;
  lastError?: string;
  /** Time from the peer sending the latest batch to it being installed here, ms. */
  lagMs?: number;
  fullPulls: number;
  lastFullEntries?: number;
  lastFullMs?: number;
}

export interface SyncStatus {
  self: number;
  port: number;
  tls: boolean;
  udp: boolean;
  synced: boolean;
  subscribers: number;
  /** Subscriptions refused: not from a --cluster peer, or more than its peers could need. */
  refusedSubscribers: number;
  /** Subscribers cut off for not reading (their backlog passed the bound). */
  droppedSubscribers: number;
  /** Entries this node has sent (full tables and updates). */
  sent: number;
  sentDeletes: number;
  scans: number;
  lastScanMs: number;
  peers: PeerSyncStatus[];
}

class PeerLink {
  state: PeerState = 'connecting';
  status: PeerSyncStatus;
  private call?: grpc.ClientReadableStream<Batch>;
  private client?: ConnSyncClient;
  private retry?: TimerHandle;
  private closed = false;
  private fullStart = 0;
  private fullCount = 0;
  /** Entries this peer has installed here (its quota). */
  private readonly held = createKeySet();

  constructor(
    private readonly address: string,
    private readonly sync: ConnSync,
    private readonly creds: grpc.ChannelCredentials,
    private readonly port: number,
    private readonly self: number,
    private readonly reconnectMs: number,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    this.status = { address, state: 'connecting', received: 0, deleted: 0, unknownService: 0, rejected: 0, overQuota: 0, errors: 0, fullPulls: 0 };
  }

  start(): void {
    const target = hostPort(this.address, this.port);
    this.client = new ConnSyncService(target, this.creds, {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 2000,
      'grpc.keepalive_timeout_ms': 2000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': Math.min(1000, this.reconnectMs),
      'grpc.max_reconnect_backoff_ms': this.reconnectMs,
    });
    this.subscribe();
  }

  private setState(s: PeerState): void {
    if (this.state === s) return;
    this.state = s;
    this.status.state = s;
    this.sync.peerStateChanged();
  }

  private subscribe(): void {
    if (this.closed || !this.client) return;
    this.setState(this.state === 'unreachable' ? 'unreachable' : 'connecting');
    const call = this.client.Subscribe({ node: this.self, layout_version: LAYOUT_VERSION });
    this.call = call;
    call.on('data', (b: Batch) => this.onBatch(b));
    call.on('error', (err: grpc.ServiceError) => this.onEnd(err));
    call.on('end', () => this.onEnd(undefined));
  }

  private onEnd(err: grpc.ServiceError | undefined): void {
    if (this.closed || !this.call) return;
    this.call = undefined;
    if (err && err.code !== grpc.status.CANCELLED) {
      this.status.lastError = err.details || err.message;
      // A peer that is not there is not counted as an error: it is down.
      if (err.code !== grpc.status.UNAVAILABLE && err.code !== grpc.status.DEADLINE_EXCEEDED) this.status.errors++;
    }
    // Down or gone: what we pulled from it is all there is to have.
    this.setState('unreachable');
    this.retry = unrefTimer(this.clock.setTimer(() => this.subscribe(), this.reconnectMs));
  }

  private onBatch(b: Batch): void {
    const problem =
      b.layout_version !== LAYOUT_VERSION
        ? `peer ${this.address} uses conntrack layout ${b.layout_version}, this node ${LAYOUT_VERSION}`
        : checkBatchShape(b.count, b.keys, b.values, b.kind !== 'DELETE' && b.kind !== 'FULL_END');
    if (problem) {
      this.status.errors++;
      this.status.lastError = problem;
      this.log.warn({ peer: this.address, problem }, 'sync batch refused');
      return;
    }
    try {
      switch (b.kind) {
        case 'FULL':
          if (this.state !== 'pulling') {
            this.fullStart = this.clock.now();
            this.fullCount = 0;
            // A full pull is the peer's whole table: what it held before counts afresh.
            this.held.clear();
            this.setState('pulling');
          }
          this.fullCount += this.install(b);
          break;
        case 'FULL_END':
          if (this.state !== 'pulling') {
            this.fullStart = this.clock.now();
            this.fullCount = 0;
          }
          this.status.fullPulls++;
          this.status.lastFullEntries = this.fullCount;
          this.status.lastFullMs = Math.round(this.clock.now() - this.fullStart);
          this.log.info({ peer: this.address, entries: this.fullCount, ms: this.status.lastFullMs }, 'connection table pulled from peer');
          this.setState('synced');
          break;
        case 'UPSERT':
          this.install(b);
          break;
        case 'DELETE':
          this.status.deleted += this.sync.table.deleteConnections(b.keys);
          this.held.remove(b.keys);
          break;
      }
      this.status.lagMs = Math.max(0, this.clock.epochMs() - b.sent_unix_ms);
    } catch (err) {
      this.status.errors++;
      this.status.lastError = errorMessage(err);
      this.log.warn({ peer: this.address, err: errorMessage(err) }, 'installing synced connections failed');
    }
  }

  private install(b: Batch): number {
    if (b.count === 0) return 0;
    const { keys, values } = this.withinQuota(b);
    if (keys.length === 0) return 0;
    const { installed, unknownService, rejected } = this.sync.table.installConnections(keys, values);
    this.status.unknownService += unknownService;
    if (rejected > 0 && this.status.rejected === 0) this.log.warn({ peer: this.address, rejected }, 'refused synced connections that lead to no endpoint of our rules');
    this.status.rejected += rejected;
    this.status.received += installed;
    return installed;
  }

  /** The entries of a batch within this peer's share of the table; refusals counted and logged. */
  private withinQuota(b: Batch): { keys: Buffer; values: Buffer } {
    // Every entry it already has here (a refresh), new ones while under its share.
    const r = this.held.admit(b.keys, b.values, this.sync.maxEntriesPerPeer);
    if (r.refused > 0) {
      const before = this.status.overQuota;
      this.status.overQuota += r.refused;
      if (before === 0 || Math.floor(before / 10_000) !== Math.floor(this.status.overQuota / 10_000)) {
        this.log.warn({ peer: this.address, quota: this.sync.maxEntriesPerPeer, overQuota: this.status.overQuota }, 'a sync peer offers more connections than its share of the table: refused');
      }
    }
    return r;
  }

  close(): void {
    this.closed = true;
    if (this.retry !== undefined) this.clock.clearTimer(this.retry);
    this.call?.cancel();
    this.client?.close();
  }
}

export class ConnSync implements SyncGate {
  private server?: grpc.Server;
  private readonly links: PeerLink[] = [];
  private readonly subscribers = new Set<Subscription>();
  private readonly seqs = new WeakMap<object, number>();
  private readonly differ = createDiffer();
  private scanTimer?: TimerHandle;
  private listeners: (() => void)[] = [];
  private lastSynced = false;
  private closed = false;
  private stats = { sent: 0, sentDeletes: 0, scans: 0, lastScanMs: 0, refusedSubscribers: 0, droppedSubscribers: 0 };
  /** The --cluster peers: the only addresses that may subscribe. */
  private readonly allowed: Set<string>;
  /** Subscribers cut off for not reading whose streams have not closed yet. */
  private readonly cutOff = new Set<Subscription>();
  /** Bytes written to each subscriber's stream and not yet flushed. */
  private readonly backlog = new WeakMap<object, { bytes: number; full: number }>();
  private readonly port: number;
  readonly maxEntriesPerPeer: number;
  private readonly clock: Clock;

  constructor(
    readonly table: ConnTable,
    private readonly opts: ConnSyncOptions,
    private readonly log: Logger,
  ) {
    this.port = opts.port ?? SYNC_PORT;
    this.allowed = new Set((opts.subscribers ?? opts.peers).map((p) => normalizeIp(p) ?? p));
    this.maxEntriesPerPeer = opts.maxEntriesPerPeer ?? DEFAULT_MAX_ENTRIES_PER_PEER;
    this.clock = opts.clock ?? systemClock;
  }

  async start(): Promise<void> {
    const server = new grpc.Server({ 'grpc.max_send_message_length': 64 * 1024 * 1024 });
    const handlers: ConnSyncHandlers = { Subscribe: (call) => this.onSubscribe(call) };
    server.addService(ConnSyncService.service, handlers);
    const creds = this.opts.tls
      ? grpc.ServerCredentials.createSsl(this.opts.tls.ca, [{ private_key: this.opts.tls.key, cert_chain: this.opts.tls.cert }], true)
      : grpc.ServerCredentials.createInsecure();
    const bind = this.opts.bindAddress ?? '0.0.0.0';
    const addr = hostPort(bind, this.port);
    await new Promise<void>((resolve, reject) => server.bindAsync(addr, creds, (err) => (err ? reject(new Error(`connection sync cannot listen on ${addr}: ${err.message}`)) : resolve())));
    this.server = server;
    const clientCreds = this.opts.tls ? grpc.credentials.createSsl(this.opts.tls.ca, this.opts.tls.key, this.opts.tls.cert) : grpc.credentials.createInsecure();
    for (const peer of this.opts.peers) {
      const link = new PeerLink(peer, this, clientCreds, this.opts.peerPort ?? this.port, this.opts.self, this.opts.reconnectMs ?? 1000, this.log.child({ peer }), this.clock);
      this.links.push(link);
      link.start();
    }
    this.lastSynced = this.synced();
    this.scheduleScan();
    this.log.info({ port: this.port, peers: this.opts.peers, tls: Boolean(this.opts.tls) }, 'connection sync started');
    if (!this.opts.tls) {
      this.log.warn(
        { port: this.port },
        'connection sync runs without TLS: any host that can reach this port from a --cluster address can read the connection table or offer entries (checked against our rules); set --sync-tls-ca/-cert/-key',
      );
    }
  }

  // ---- SyncGate ----

  synced(): boolean {
    return this.links.every((l) => l.state === 'synced' || l.state === 'unreachable');
  }

  onChange(cb: () => void): void {
    this.listeners.push(cb);
  }

  peerStateChanged(): void {
    const now = this.synced();
    if (now === this.lastSynced) return;
    this.lastSynced = now;
    this.log.info({ synced: now }, now ? 'connection tables synced from every reachable peer' : 'waiting for a peer connection table');
    for (const cb of this.listeners) cb();
  }

  // ---- serving ----

  private nextSeq(call: object): number {
    const n = (this.seqs.get(call) ?? 0) + 1;
    this.seqs.set(call, n);
    return n;
  }

  /** Sends one batch; false when the subscriber was cut off instead. */
  private send(call: Subscription, kind: Batch['kind'], e: RawEntries): boolean {
    // A subscriber that does not read must not make us buffer without bound:
    // bytes handed to the stream and not yet flushed to the socket are
    // counted. The full table is queued at once (its size is bounded by the
    // connection table); updates may add the bound on top of it.
    let backlog = this.backlog.get(call);
    if (!backlog) this.backlog.set(call, (backlog = { bytes: 0, full: 0 }));
    const size = e.keys.length + e.values.length + 64;
    if (kind === 'FULL' || kind === 'FULL_END') backlog.full += size;
    else if (backlog.bytes > backlog.full + (this.opts.maxSubscriberBacklogBytes ?? DEFAULT_MAX_SUBSCRIBER_BACKLOG)) {
      this.subscribers.delete(call);
      // Still the peer's until its stream closes: what is queued for it stays
      // queued, so it must not open fresh subscriptions to queue more.
      this.cutOff.add(call);
      const gone = () => this.cutOff.delete(call);
      call.on('cancelled', gone);
      call.on('close', gone);
      this.stats.droppedSubscribers++;
      this.log.warn({ peer: call.getPeer(), backlogBytes: backlog.bytes }, 'a sync subscriber stopped reading: cut off');
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'subscriber too slow: reconnect and pull the table again' });
      return false;
    }
    const b = backlog;
    b.bytes += size;
    call.write({
      kind,
      count: e.count,
      keys: e.keys,
      values: e.values,
      seq: this.nextSeq(call),
      sent_unix_ms: this.clock.epochMs(),
      layout_version: LAYOUT_VERSION,
      node: this.opts.self,
    }, () => {
      b.bytes -= size;
    });
    return true;
  }

  private onSubscribe(call: Subscription): void {
    const req = call.request;
    if (req.layout_version !== LAYOUT_VERSION) {
      call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: `conntrack layout ${req.layout_version} differs from this node's ${LAYOUT_VERSION}` });
      return;
    }
    const peer = call.getPeer();
    // Only the --cluster peers get the table (and TLS, when set, has already checked their certificate).
    const from = peerAddress(peer);
    if (from === undefined || !this.allowed.has(from)) {
      this.refuseSubscriber(call, peer, grpc.status.PERMISSION_DENIED, `${from ?? peer} is not a --cluster peer of this node`);
      return;
    }
    // With TLS, the certificate must name the address it connects from: a
    // certificate of the cluster's CA is not a licence to speak for another node.
    if (this.opts.tls) {
      const names = certificateIps(call.getAuthContext?.().sslPeerCertificate?.subjectaltname);
      if (!names.has(from)) {
        this.refuseSubscriber(call, peer, grpc.status.PERMISSION_DENIED, `the client certificate does not name ${from} (it names ${[...names].join(', ') || 'no IP address'})`);
        return;
      }
    }
    // Each peer needs one subscription (two while it reconnects).
    const held = [...this.subscribers, ...this.cutOff].filter((c) => peerAddress(c.getPeer()) === from).length;
    if (held >= MAX_SUBSCRIPTIONS_PER_PEER) {
      this.refuseSubscriber(call, peer, grpc.status.RESOURCE_EXHAUSTED, `${from} already holds ${held} subscriptions (at most ${MAX_SUBSCRIPTIONS_PER_PEER})`);
      return;
    }
    try {
      const dump = this.table.dumpConnections();
      // The first subscriber: the scan starts from what it was just sent,
      // instead of sending the whole table a second time as updates.
      if (this.subscribers.size === 0 && this.opts.isMaster()) this.differ.diff(dump.keys, dump.values, this.refreshNs(), Boolean(this.opts.udp));
      const all = selectSyncable(dump, Boolean(this.opts.udp));
      for (const b of batches(all, MAX_BATCH)) this.send(call, 'FULL', b);
      this.send(call, 'FULL_END', { keys: Buffer.alloc(0), values: Buffer.alloc(0), count: 0 });
      this.stats.sent += all.count;
      this.log.info({ peer, node: req.node, entries: all.count }, 'sent the connection table to a subscriber');
    } catch (err) {
      call.emit('error', { code: grpc.status.INTERNAL, details: `cannot read the connection table: ${errorMessage(err)}` });
      return;
    }
    this.subscribers.add(call);
    const drop = () => this.subscribers.delete(call);
    call.on('cancelled', drop);
    call.on('close', drop);
    call.on('error', drop);
  }

  private refuseSubscriber(call: Subscription, peer: string, code: grpc.status, details: string): void {
    this.stats.refusedSubscribers++;
    if (this.stats.refusedSubscribers === 1 || this.stats.refusedSubscribers % 100 === 0) {
      this.log.warn({ peer, refused: this.stats.refusedSubscribers, reason: details }, 'connection sync subscription refused');
    }
    call.emit('error', { code, details });
  }

  /**
   * The next scan after scanIntervalMs, or after 4x the last scan's own
   * duration if that is longer: a big table (100,000 entries cost about
   * 0.1 s to dump and diff) must not take the event loop over.
   */
  private scheduleScan(): void {
    if (this.closed) return;
    const wait = Math.max(this.opts.scanIntervalMs ?? 250, 4 * this.stats.lastScanMs);
    this.scanTimer = unrefTimer(
      this.clock.setTimer(() => {
        this.scan();
        this.scheduleScan();
      }, wait),
    );
  }

  /** Sends what changed since the last scan, while MASTER and someone listens. */
  scan(): void {
    if (!this.opts.isMaster() || this.subscribers.size === 0) {
      // A node that becomes MASTER later sends everything it then has.
      if (this.differ.size() > 0) this.differ.reset();
      return;
    }
    const t0 = this.clock.now();
    try {
      const dump = this.table.dumpConnections();
      const d = this.differ.diff(dump.keys, dump.values, this.refreshNs(), Boolean(this.opts.udp));
      for (const call of [...this.subscribers]) {
        let ok = true;
        for (const b of batches(d.upserts, MAX_BATCH)) if (ok) ok = this.send(call, 'UPSERT', b);
        for (const b of batches(d.deletes, MAX_BATCH)) if (ok) ok = this.send(call, 'DELETE', b);
      }
      this.stats.sent += d.upserts.count;
      this.stats.sentDeletes += d.deletes.count;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'connection sync scan failed');
    }
    this.stats.scans++;
    this.stats.lastScanMs = Math.round((this.clock.now() - t0) * 10) / 10;
  }

  private refreshNs(): number {
    return (this.opts.refreshS ?? 30) * 1e9;
  }

  status(): SyncStatus {
    return {
      self: this.opts.self,
      port: this.port,
      tls: Boolean(this.opts.tls),
      udp: Boolean(this.opts.udp),
      synced: this.synced(),
      subscribers: this.subscribers.size,
      ...this.stats,
      peers: this.links.map((l) => ({ ...l.status })),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.scanTimer !== undefined) this.clock.clearTimer(this.scanTimer);
    for (const l of this.links) l.close();
    for (const c of this.subscribers) c.end();
    this.subscribers.clear();
    this.cutOff.clear();
    // A subscriber that does not read never lets a graceful shutdown finish: it gets 2 s.
    const server = this.server;
    if (!server) return;
    await new Promise<void>((r) => {
      const t = this.clock.setTimer(() => {
        server.forceShutdown();
        r();
      }, 2000);
      server.tryShutdown(() => {
        this.clock.clearTimer(t);
        r();
      });
    });
  }
}
