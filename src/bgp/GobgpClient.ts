// Typed client for gobgpd 3.10's gRPC API (apipb.GobgpApi). It is the only
// code that speaks to gobgpd; everything above works with plain objects.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { decodeWatchTable, encodeAddPathStreamRequest, type VipWirePath } from './protoWire.ts';
import { PROTO_FILE, decodePath, encodeVipRoute, familyOf, type DecodedPath, type IpFamily, type VipRoute, type WirePath } from './pathCodec.ts';

const packageDef = protoLoader.loadSync(PROTO_FILE, {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
// The two bulk messages take the lean codec (protoWire.ts): the best-path
// watch's table events (peer events as usual), and AddPathStream requests,
// which stream() hands over already encoded.
const service = packageDef['apipb.GobgpApi'] as protoLoader.ServiceDefinition;
const watchMethod = service.WatchEvent!;
const genericWatchDecode = watchMethod.responseDeserialize;
watchMethod.responseDeserialize = (buf: Buffer) => decodeWatchTable(buf) ?? genericWatchDecode(buf);
const addPathStream = service.AddPathStream!;
const genericAddPathEncode = addPathStream.requestSerialize;
addPathStream.requestSerialize = (req: unknown) => (Buffer.isBuffer(req) ? req : genericAddPathEncode(req as object));
const apipb = (grpc.loadPackageDefinition(packageDef) as any).apipb;

export interface GlobalSpec {
  asn: number;
  routerId: string;
  /** 0 means 179, -1 means do not listen. */
  listenPort: number;
  listenAddresses?: string[];
}

export interface PeerSpec {
  address: string;
  peerAsn: number;
  remotePort?: number;
  multihopTtl?: number;
  families: IpFamily[];
  connectRetry?: number;
  holdTime?: number;
  keepalive?: number;
  description?: string;
  /** Configured administratively down: no session until enabled. */
  adminDown?: boolean;
}

export interface PeerInfo {
  address: string;
  peerAsn: number;
  remotePort: number;
  multihopTtl: number;
  families: IpFamily[];
  sessionState: string;
  adminState: string;
  /** Seconds since the epoch of the last up (or down) transition; 0 if never. */
  uptime: number;
  downtime: number;
  received: number;
  accepted: number;
  /** Prefixes advertised to the peer, all families (filled only when listPeers was asked for it). */
  advertised: number;
}

export interface PolicyStatementSpec {
  name: string;
  conditions?: { prefixSet?: string; neighborSet?: string };
  /** communities: added to the path ("65535:0" form). */
  actions: { routeAction?: 'NONE' | 'ACCEPT' | 'REJECT'; nextHopSelf?: boolean; med?: number; localPref?: number; communities?: string[] };
}

export interface PrefixSetEntry {
  /** CIDR, e.g. 10.0.0.1/32. */
  prefix: string;
  min: number;
  max: number;
}

export interface PolicySpec {
  name: string;
  statements: PolicyStatementSpec[];
}

/** Paths per AddPathStream message: big enough to amortise, small enough to stay far below gRPC's 4 MiB. */
const STREAM_BATCH = 2000;
const DEADLINE_MS = 10_000;

export class GobgpClient {
  private readonly client: any;

  constructor(readonly target: string) {
    this.client = new apipb.GobgpApi(target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // Reconnect quickly after a gobgpd restart.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
  }

  close(): void {
    this.client.close();
  }

  waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (err: Error | undefined) => (err ? reject(err) : resolve())),
    );
  }

  private unary<T = any>(method: string, req: unknown, deadlineMs = DEADLINE_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client[method](req, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: T) =>
        err ? reject(new Error(`gobgpd ${method}: ${err.details || err.message}`)) : resolve(res),
      );
    });
  }

  private collect<T = any>(method: string, req: unknown, deadlineMs = 60_000): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      const call = this.client[method](req, { deadline: Date.now() + deadlineMs });
      call.on('data', (d: T) => out.push(d));
      call.on('error', (err: grpc.ServiceError) => reject(new Error(`gobgpd ${method}: ${err.details || err.message}`)));
      call.on('end', () => resolve(out));
    });
  }

  async getBgp(): Promise<GlobalSpec> {
    const res = await this.unary('GetBgp', {});
    const g = res.global ?? {};
    return { asn: g.asn ?? 0, routerId: g.router_id ?? '', listenPort: g.listen_port ?? 0, listenAddresses: g.listen_addresses ?? [] };
  }

  async startBgp(g: GlobalSpec): Promise<void> {
    await this.unary('StartBgp', {
      global: {
        asn: g.asn,
        router_id: g.routerId,
        listen_port: g.listenPort,
        listen_addresses: g.listenAddresses ?? ['0.0.0.0', '::'],
      },
    });
  }

  async stopBgp(): Promise<void> {
    await this.unary('StopBgp', {});
  }

  async addPeer(p: PeerSpec): Promise<void> {
    await this.unary('AddPeer', {
      peer: {
        conf: { neighbor_address: p.address, peer_asn: p.peerAsn, description: p.description ?? '', admin_down: p.adminDown ?? false },
        ebgp_multihop: p.multihopTtl ? { enabled: true, multihop_ttl: p.multihopTtl } : undefined,
        timers: {
          config: {
            connect_retry: p.connectRetry ?? 0,
            hold_time: p.holdTime ?? 0,
            keepalive_interval: p.keepalive ?? 0,
          },
        },
        transport: { remote_port: p.remotePort ?? 0 },
        afi_safis: p.families.map((f) => ({ config: { family: familyOf(f), enabled: true } })),
      },
    });
  }

  /** Shuts the session down (Cease/Administrative Shutdown) and keeps it down until enablePeer. */
  async disablePeer(address: string, communication = ''): Promise<void> {
    await this.unary('DisablePeer', { address, communication });
  }

  async enablePeer(address: string): Promise<void> {
    await this.unary('EnablePeer', { address });
  }

  async deletePeer(address: string): Promise<void> {
    await this.unary('DeletePeer', { address });
  }

  /** `advertised`: have gobgpd count each peer's adj-RIB-out too (it walks the table for that). */
  async listPeers(opts: { advertised?: boolean } = {}): Promise<PeerInfo[]> {
    const rows = await this.collect('ListPeer', { address: '', enableAdvertised: Boolean(opts.advertised) });
    return rows.map((r) => toPeerInfo(r.peer));
  }

  /** Adds (or, with the same prefix, replaces) paths in the global RIB over one client stream. */
  async addPaths(routes: VipRoute[]): Promise<void> {
    await this.stream(routes.map((r) => encodeVipRoute(r, false)));
  }

  /** Withdraws locally originated paths over one client stream. */
  async withdrawPaths(routes: VipRoute[]): Promise<void> {
    await this.stream(routes.map((r) => encodeVipRoute(r, true)));
  }

  private stream(paths: VipWirePath[]): Promise<void> {
    if (paths.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const call = this.client.AddPathStream({ deadline: Date.now() + 120_000 }, (err: grpc.ServiceError | null) =>
        err ? reject(new Error(`gobgpd AddPathStream: ${err.details || err.message}`)) : resolve(),
      );
      for (let i = 0; i < paths.length; i += STREAM_BATCH) {
        // { table_type: GLOBAL, vrf_id: '', paths }, encoded here (see requestSerialize above).
        call.write(encodeAddPathStreamRequest(paths.slice(i, i + STREAM_BATCH)));
      }
      call.end();
    });
  }

  /** Every path of a family in the global RIB (all candidates, not only the best). */
  async listPaths(family: IpFamily): Promise<DecodedPath[]> {
    const rows = await this.collect('ListPath', { table_type: 'GLOBAL', name: '', family: familyOf(family), prefixes: [], sort_type: 'NONE' });
    const out: DecodedPath[] = [];
    for (const r of rows) {
      for (const p of r.destination?.paths ?? []) {
        const d = decodePath(p);
        if (d) out.push(d);
      }
    }
    return out;
  }

  async getTable(family: IpFamily): Promise<{ destinations: number; paths: number }> {
    const r = await this.unary('GetTable', { table_type: 'GLOBAL', family: familyOf(family), name: '' });
    return { destinations: Number(r.num_destination ?? 0), paths: Number(r.num_path ?? 0) };
  }

  /**
   * Streams best-path changes (after the current best paths, since init is set)
   * and peer state changes. Returns a cancel function.
   */
  watch(handlers: {
    onPaths?: (paths: DecodedPath[]) => void;
    onPeer?: (peer: PeerInfo) => void;
    onEnd: (err?: Error) => void;
  }): () => void {
    const req: Record<string, unknown> = {};
    if (handlers.onPeer) req.peer = {};
    if (handlers.onPaths) req.table = { filters: [{ type: 'BEST', init: true }] };
    const call = this.client.WatchEvent(req);
    let ended = false;
    const finish = (err?: Error) => {
      if (ended) return;
      ended = true;
      handlers.onEnd(err);
    };
    call.on('data', (ev: any) => {
      if (ev.table && handlers.onPaths) {
        const paths: DecodedPath[] = [];
        for (const p of ev.table.paths ?? []) {
          let d: DecodedPath | undefined;
          try {
            d = decodePath(p, { learnedAttributesOnly: true });
          } catch {
            // An NLRI or attribute that does not decode: that path is skipped, the watch goes on.
            d = undefined;
          }
          if (d) paths.push(d);
        }
        if (paths.length > 0) handlers.onPaths(paths);
      } else if (ev.peer && handlers.onPeer && ev.peer.type !== 'END_OF_INIT' && ev.peer.peer) {
        handlers.onPeer(toPeerInfo(ev.peer.peer));
      }
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code === grpc.status.CANCELLED) finish();
      else finish(new Error(`gobgpd WatchEvent: ${err.details || err.message}`));
    });
    call.on('end', () => finish());
    return () => call.cancel();
  }

  async resetPeerSoftOut(address = 'all'): Promise<void> {
    await this.unary('ResetPeer', { address, communication: '', soft: true, direction: 'OUT' });
  }

  // ---- policy ----

  async listPolicies(): Promise<PolicySpec[]> {
    const rows = await this.collect('ListPolicy', { name: '' });
    return rows.map((r) => ({
      name: r.policy.name,
      statements: (r.policy.statements ?? []).map((s: any) => ({
        name: s.name,
        conditions: {
          prefixSet: s.conditions?.prefix_set?.name || undefined,
          neighborSet: s.conditions?.neighbor_set?.name || undefined,
        },
        actions: {
          routeAction: s.actions?.route_action,
          nextHopSelf: Boolean(s.actions?.nexthop?.self),
          med: s.actions?.med ? Number(s.actions.med.value) : undefined,
          localPref: s.actions?.local_pref ? Number(s.actions.local_pref.value) : undefined,
          communities: s.actions?.community?.type === 'ADD' && s.actions.community.communities?.length ? [...s.actions.community.communities] : undefined,
        },
      })),
    }));
  }

  async addPolicy(p: PolicySpec): Promise<void> {
    await this.unary('AddPolicy', {
      policy: {
        name: p.name,
        statements: p.statements.map((s) => ({
          name: s.name,
          conditions: {
            prefix_set: s.conditions?.prefixSet ? { type: 'ANY', name: s.conditions.prefixSet } : undefined,
            neighbor_set: s.conditions?.neighborSet ? { type: 'ANY', name: s.conditions.neighborSet } : undefined,
          },
          actions: {
            route_action: s.actions.routeAction ?? 'NONE',
            nexthop: s.actions.nextHopSelf ? { self: true } : undefined,
            med: s.actions.med !== undefined ? { type: 'REPLACE', value: s.actions.med } : undefined,
            local_pref: s.actions.localPref !== undefined ? { value: s.actions.localPref } : undefined,
            community: s.actions.communities?.length ? { type: 'ADD', communities: s.actions.communities } : undefined,
          },
        })),
      },
      refer_existing_statements: false,
    });
  }

  /**
   * Deletes a policy and its statements. gobgpd refuses while the policy is
   * assigned; `all: false` would only remove the listed statements (none).
   */
  async deletePolicy(name: string): Promise<void> {
    await this.unary('DeletePolicy', { policy: { name, statements: [] }, preserve_statements: false, all: true });
  }

  /** Creates the prefix set, or appends to it (gobgpd 3.10 has no replace). */
  async addPrefixSet(name: string, prefixes: PrefixSetEntry[]): Promise<void> {
    await this.unary('AddDefinedSet', { defined_set: prefixSetMsg(name, prefixes) });
  }

  /** Removes the listed prefixes from a set; the set itself stays. */
  async deletePrefixes(name: string, prefixes: PrefixSetEntry[]): Promise<void> {
    await this.unary('DeleteDefinedSet', { defined_set: prefixSetMsg(name, prefixes), all: false });
  }

  /** Deletes a whole prefix set; gobgpd refuses while a policy refers to it. */
  async deletePrefixSet(name: string): Promise<void> {
    await this.unary('DeleteDefinedSet', { defined_set: prefixSetMsg(name, []), all: true });
  }

  async listPrefixSets(): Promise<{ name: string; prefixes: PrefixSetEntry[] }[]> {
    const rows = await this.collect('ListDefinedSet', { defined_type: 'PREFIX', name: '' });
    return rows.map((r) => ({
      name: String(r.defined_set?.name ?? ''),
      prefixes: (r.defined_set?.prefixes ?? []).map((p: any) => ({
        prefix: String(p.ip_prefix),
        min: Number(p.mask_length_min ?? 0),
        max: Number(p.mask_length_max ?? 0),
      })),
    }));
  }

  /** Names of the policies assigned to the global export direction, in order. */
  async globalExportPolicies(): Promise<string[]> {
    const rows = await this.collect('ListPolicyAssignment', { name: 'global', direction: 'EXPORT' });
    return rows.flatMap((r) => (r.assignment?.policies ?? []).map((p: any) => String(p.name)));
  }

  async setGlobalExportPolicies(names: string[]): Promise<void> {
    await this.unary('SetPolicyAssignment', {
      assignment: { name: 'global', direction: 'EXPORT', policies: names.map((name) => ({ name })), default_action: 'ACCEPT' },
    });
  }
}

function toPeerInfo(peer: any): PeerInfo {
  const st = peer?.state ?? {};
  const fams: IpFamily[] = [];
  let received = 0;
  let accepted = 0;
  let advertised = 0;
  for (const a of peer?.afi_safis ?? []) {
    const afi = a.config?.family?.afi ?? a.state?.family?.afi;
    if (afi === 'AFI_IP') fams.push(4);
    else if (afi === 'AFI_IP6') fams.push(6);
    received += Number(a.state?.received ?? 0);
    accepted += Number(a.state?.accepted ?? 0);
    advertised += Number(a.state?.advertised ?? 0);
  }
  return {
    address: peer?.conf?.neighbor_address || st.neighbor_address || '',
    peerAsn: peer?.conf?.peer_asn || st.peer_asn || 0,
    remotePort: peer?.transport?.remote_port ?? 0,
    multihopTtl: peer?.ebgp_multihop?.enabled ? Number(peer.ebgp_multihop.multihop_ttl ?? 0) : 0,
    families: fams,
    sessionState: st.session_state ?? 'UNKNOWN',
    adminState: st.admin_state ?? 'UP',
    uptime: Number(peer?.timers?.state?.uptime?.seconds ?? 0),
    downtime: Number(peer?.timers?.state?.downtime?.seconds ?? 0),
    received,
    accepted,
    advertised,
  };
}

function prefixSetMsg(name: string, prefixes: PrefixSetEntry[]) {
  return {
    defined_type: 'PREFIX',
    name,
    prefixes: prefixes.map((p) => ({ ip_prefix: p.prefix, mask_length_min: p.min, mask_length_max: p.max })),
  };
}
