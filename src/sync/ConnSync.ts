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
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { SyncGate } from '../ha/HaManager.ts';
import { LAYOUT_VERSION } from '../datapath/layout.ts';
import { errorMessage } from '../util/errors.ts';
import { batches, checkBatchShape, createDiffer, selectSyncable, type RawEntries } from './syncTable.ts';

const PROTO_FILE = fileURLToPath(new URL('../../proto/loxilb_sync.proto', import.meta.url));
const pkg = grpc.loadPackageDefinition(
  protoLoader.loadSync(PROTO_FILE, { keepCase: true, longs: Number, enums: String, defaults: true }),
) as any;
const ConnSyncService = pkg.loxilbts.sync.v1.ConnSync;

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
  tls?: SyncTls;
  udp?: boolean;
  scanIntervalMs?: number;
  /** Resend entries with traffic at least this often, so peers' copies never idle out (s). */
  refreshS?: number;
  reconnectMs?: number;
  /** Whether this node currently owns the connections (llb-inst0 is MASTER). */
  isMaster(): boolean;
}

type PeerState = 'connecting' | 'pulling' | 'synced' | 'unreachable';

interface Batch {
  kind: 'FULL' | 'FULL_END' | 'UPSERT' | 'DELETE';
  count: number;
  keys: Buffer;
  values: Buffer;
  seq: number;
  sent_unix_ms: number;
  layout_version: number;
  node: number;
}

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
  private client?: grpc.Client;
  private retry?: NodeJS.Timeout;
  private closed = false;
  private fullStart = 0;
  private fullCount = 0;

  constructor(
    private readonly address: string,
    private readonly sync: ConnSync,
    private readonly creds: grpc.ChannelCredentials,
    private readonly port: number,
    private readonly self: number,
    private readonly reconnectMs: number,
    private readonly log: Logger,
  ) {
    this.status = { address, state: 'connecting', received: 0, deleted: 0, unknownService: 0, rejected: 0, errors: 0, fullPulls: 0 };
  }

  start(): void {
    const target = this.address.includes(':') ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
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
    const call = (this.client as any).Subscribe({ node: this.self, layout_version: LAYOUT_VERSION }) as grpc.ClientReadableStream<Batch>;
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
    this.retry = setTimeout(() => this.subscribe(), this.reconnectMs);
    this.retry.unref();
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
            this.fullStart = performance.now();
            this.fullCount = 0;
            this.setState('pulling');
          }
          this.fullCount += this.install(b);
          break;
        case 'FULL_END':
          if (this.state !== 'pulling') {
            this.fullStart = performance.now();
            this.fullCount = 0;
          }
          this.status.fullPulls++;
          this.status.lastFullEntries = this.fullCount;
          this.status.lastFullMs = Math.round(performance.now() - this.fullStart);
          this.log.info({ peer: this.address, entries: this.fullCount, ms: this.status.lastFullMs }, 'connection table pulled from peer');
          this.setState('synced');
          break;
        case 'UPSERT':
          this.install(b);
          break;
        case 'DELETE':
          this.status.deleted += this.sync.table.deleteConnections(b.keys);
          break;
      }
      this.status.lagMs = Math.max(0, Date.now() - b.sent_unix_ms);
    } catch (err) {
      this.status.errors++;
      this.status.lastError = errorMessage(err);
      this.log.warn({ peer: this.address, err: errorMessage(err) }, 'installing synced connections failed');
    }
  }

  private install(b: Batch): number {
    if (b.count === 0) return 0;
    const { installed, unknownService, rejected } = this.sync.table.installConnections(b.keys, b.values);
    this.status.unknownService += unknownService;
    if (rejected > 0 && this.status.rejected === 0) this.log.warn({ peer: this.address, rejected }, 'refused synced connections that lead to no endpoint of our rules');
    this.status.rejected += rejected;
    this.status.received += installed;
    return installed;
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.call?.cancel();
    this.client?.close();
  }
}

export class ConnSync implements SyncGate {
  private server?: grpc.Server;
  private readonly links: PeerLink[] = [];
  private readonly subscribers = new Set<grpc.ServerWritableStream<unknown, Batch>>();
  private readonly seqs = new WeakMap<object, number>();
  private readonly differ = createDiffer();
  private scanTimer?: NodeJS.Timeout;
  private listeners: (() => void)[] = [];
  private lastSynced = false;
  private closed = false;
  private stats = { sent: 0, sentDeletes: 0, scans: 0, lastScanMs: 0 };
  private readonly port: number;

  constructor(
    readonly table: ConnTable,
    private readonly opts: ConnSyncOptions,
    private readonly log: Logger,
  ) {
    this.port = opts.port ?? SYNC_PORT;
  }

  async start(): Promise<void> {
    const server = new grpc.Server({ 'grpc.max_send_message_length': 64 * 1024 * 1024 });
    server.addService(ConnSyncService.service, { Subscribe: (call: grpc.ServerWritableStream<any, Batch>) => this.onSubscribe(call) });
    const creds = this.opts.tls
      ? grpc.ServerCredentials.createSsl(this.opts.tls.ca, [{ private_key: this.opts.tls.key, cert_chain: this.opts.tls.cert }], true)
      : grpc.ServerCredentials.createInsecure();
    const bind = this.opts.bindAddress ?? '0.0.0.0';
    const addr = bind.includes(':') ? `[${bind}]:${this.port}` : `${bind}:${this.port}`;
    await new Promise<void>((resolve, reject) => server.bindAsync(addr, creds, (err) => (err ? reject(new Error(`connection sync cannot listen on ${addr}: ${err.message}`)) : resolve())));
    this.server = server;
    const clientCreds = this.opts.tls ? grpc.credentials.createSsl(this.opts.tls.ca, this.opts.tls.key, this.opts.tls.cert) : grpc.credentials.createInsecure();
    for (const peer of this.opts.peers) {
      const link = new PeerLink(peer, this, clientCreds, this.opts.peerPort ?? this.port, this.opts.self, this.opts.reconnectMs ?? 1000, this.log.child({ peer }));
      this.links.push(link);
      link.start();
    }
    this.lastSynced = this.synced();
    this.scheduleScan();
    this.log.info({ port: this.port, peers: this.opts.peers, tls: Boolean(this.opts.tls) }, 'connection sync started');
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

  private send(call: grpc.ServerWritableStream<unknown, Batch>, kind: Batch['kind'], e: RawEntries): void {
    call.write({
      kind,
      count: e.count,
      keys: e.keys,
      values: e.values,
      seq: this.nextSeq(call),
      sent_unix_ms: Date.now(),
      layout_version: LAYOUT_VERSION,
      node: this.opts.self,
    });
  }

  private onSubscribe(call: grpc.ServerWritableStream<{ node: number; layout_version: number }, Batch>): void {
    const req = call.request;
    if (req.layout_version !== LAYOUT_VERSION) {
      call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: `conntrack layout ${req.layout_version} differs from this node's ${LAYOUT_VERSION}` });
      return;
    }
    const peer = call.getPeer();
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

  /**
   * The next scan after scanIntervalMs, or after 4x the last scan's own
   * duration if that is longer: a big table (100,000 entries cost about
   * 0.1 s to dump and diff) must not take the event loop over.
   */
  private scheduleScan(): void {
    if (this.closed) return;
    const wait = Math.max(this.opts.scanIntervalMs ?? 250, 4 * this.stats.lastScanMs);
    this.scanTimer = setTimeout(() => {
      this.scan();
      this.scheduleScan();
    }, wait);
    this.scanTimer.unref();
  }

  /** Sends what changed since the last scan, while MASTER and someone listens. */
  scan(): void {
    if (!this.opts.isMaster() || this.subscribers.size === 0) {
      // A node that becomes MASTER later sends everything it then has.
      if (this.differ.size() > 0) this.differ.reset();
      return;
    }
    const t0 = performance.now();
    try {
      const dump = this.table.dumpConnections();
      const d = this.differ.diff(dump.keys, dump.values, this.refreshNs(), Boolean(this.opts.udp));
      for (const call of this.subscribers) {
        for (const b of batches(d.upserts, MAX_BATCH)) this.send(call, 'UPSERT', b);
        for (const b of batches(d.deletes, MAX_BATCH)) this.send(call, 'DELETE', b);
      }
      this.stats.sent += d.upserts.count;
      this.stats.sentDeletes += d.deletes.count;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'connection sync scan failed');
    }
    this.stats.scans++;
    this.stats.lastScanMs = Math.round((performance.now() - t0) * 10) / 10;
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
    if (this.scanTimer) clearTimeout(this.scanTimer);
    for (const l of this.links) l.close();
    for (const c of this.subscribers) c.end();
    this.subscribers.clear();
    await new Promise<void>((r) => (this.server ? this.server.tryShutdown(() => r()) : r()));
  }
}
