// Typed client for gobgpd 3.10's gRPC API (apipb.GobgpApi). It is the only
// code that speaks to gobgpd; everything above works with plain objects
// (GobgpControl.ts). Requests and responses are the types generated from
// proto/gobgp_api.proto (src/gen/apipb).
import * as grpc from '@grpc/grpc-js';
import { decodeWatchTable, encodeAddPathStreamRequest, type VipWirePath } from './protoWire.ts';
import { decodePath, encodeVipRoute, familyOf, type DecodedPath, type IpFamily, type VipRoute } from './pathCodec.ts';
import { apipb } from './gobgpProto.ts';
import type { GobgpControl, GlobalSpec, PeerInfo, PeerSpec, PolicySpec, PrefixSetEntry } from './GobgpControl.ts';
import type { GobgpApiClient } from '../gen/apipb/GobgpApi.ts';
import type { Peer__Output } from '../gen/apipb/Peer.ts';
import type { AddPeerRequest } from '../gen/apipb/AddPeerRequest.ts';
import type { AddPolicyRequest } from '../gen/apipb/AddPolicyRequest.ts';
import type { DefinedSet } from '../gen/apipb/DefinedSet.ts';
import type { GetBgpResponse__Output } from '../gen/apipb/GetBgpResponse.ts';
import type { GetTableResponse__Output } from '../gen/apipb/GetTableResponse.ts';
import type { ListPathRequest } from '../gen/apipb/ListPathRequest.ts';
import type { ResetPeerRequest } from '../gen/apipb/ResetPeerRequest.ts';
import type { SetPolicyAssignmentRequest } from '../gen/apipb/SetPolicyAssignmentRequest.ts';
import type { StartBgpRequest } from '../gen/apipb/StartBgpRequest.ts';
import type { WatchEventRequest } from '../gen/apipb/WatchEventRequest.ts';
import type { WatchEventResponse__Output } from '../gen/apipb/WatchEventResponse.ts';
import type { Empty__Output } from '../gen/google/protobuf/Empty.ts';

export type { GlobalSpec, PeerInfo, PeerSpec, PolicySpec, PolicyStatementSpec, PrefixSetEntry } from './GobgpControl.ts';

// The two bulk messages take the lean codec (protoWire.ts): the best-path
// watch's table events (peer events decode the generic way), and
// AddPathStream requests, which stream() hands over already encoded. Both
// calls are made with their own (de)serializers; the shared service
// definition stays as loaded.
const service = apipb.GobgpApi.service;
type LeanTableEvent = NonNullable<ReturnType<typeof decodeWatchTable>>;
/** What the best-path watch yields: a lean table event, or the generic decoding of anything else. */
type WatchEvent = LeanTableEvent | WatchEventResponse__Output;
const decodeWatchEvent = (buf: Buffer): WatchEvent => decodeWatchTable(buf) ?? service.WatchEvent.responseDeserialize(buf);
const serializeEncoded = (req: Buffer): Buffer => req;

/** Paths per AddPathStream message: big enough to amortise, small enough to stay far below gRPC's 4 MiB. */
const STREAM_BATCH = 2000;
const DEADLINE_MS = 10_000;

function gobgpError(method: string, err: grpc.ServiceError): Error {
  return new Error(`gobgpd ${method}: ${err.details || err.message}`);
}

export class GobgpClient implements GobgpControl {
  private readonly client: GobgpApiClient;

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

  /** One unary call: `start` makes it with the given call options and callback. */
  private unary<T>(
    method: string,
    start: (options: grpc.CallOptions, callback: grpc.requestCallback<T>) => grpc.ClientUnaryCall,
    deadlineMs = DEADLINE_MS,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      start({ deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err) reject(gobgpError(method, err));
        else if (res === undefined) reject(new Error(`gobgpd ${method}: no response`));
        else resolve(res);
      });
    });
  }

  /** Every message of a server stream that `start` opens with the given call options. */
  private collect<T>(method: string, start: (options: grpc.CallOptions) => grpc.ClientReadableStream<T>, deadlineMs = 60_000): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      const call = start({ deadline: Date.now() + deadlineMs });
      call.on('data', (d: T) => out.push(d));
      call.on('error', (err: grpc.ServiceError) => reject(gobgpError(method, err)));
      call.on('end', () => resolve(out));
    });
  }

  async getBgp(): Promise<GlobalSpec> {
    const res = await this.unary<GetBgpResponse__Output>('GetBgp', (o, cb) => this.client.GetBgp({}, o, cb));
    const g = res.global;
    return { asn: g?.asn ?? 0, routerId: g?.router_id ?? '', listenPort: g?.listen_port ?? 0, listenAddresses: g?.listen_addresses ?? [] };
  }

  async startBgp(g: GlobalSpec): Promise<void> {
    const req: StartBgpRequest = {
      global: {
        asn: g.asn,
        router_id: g.routerId,
        listen_port: g.listenPort,
        listen_addresses: g.listenAddresses ?? ['0.0.0.0', '::'],
      },
    };
    await this.unary<Empty__Output>('StartBgp', (o, cb) => this.client.StartBgp(req, o, cb));
  }

  async stopBgp(): Promise<void> {
    await this.unary<Empty__Output>('StopBgp', (o, cb) => this.client.StopBgp({}, o, cb));
  }

  async addPeer(p: PeerSpec): Promise<void> {
    const req: AddPeerRequest = {
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
    };
    await this.unary<Empty__Output>('AddPeer', (o, cb) => this.client.AddPeer(req, o, cb));
  }

  /** Shuts the session down (Cease/Administrative Shutdown) and keeps it down until enablePeer. */
  async disablePeer(address: string, communication = ''): Promise<void> {
    await this.unary<Empty__Output>('DisablePeer', (o, cb) => this.client.DisablePeer({ address, communication }, o, cb));
  }

  async enablePeer(address: string): Promise<void> {
    await this.unary<Empty__Output>('EnablePeer', (o, cb) => this.client.EnablePeer({ address }, o, cb));
  }

  async deletePeer(address: string): Promise<void> {
    await this.unary<Empty__Output>('DeletePeer', (o, cb) => this.client.DeletePeer({ address }, o, cb));
  }

  /** `advertised`: have gobgpd count each peer's adj-RIB-out too (it walks the table for that). */
  async listPeers(opts: { advertised?: boolean } = {}): Promise<PeerInfo[]> {
    const rows = await this.collect('ListPeer', (o) => this.client.ListPeer({ address: '', enableAdvertised: Boolean(opts.advertised) }, o));
    return rows.flatMap((r) => (r.peer ? [toPeerInfo(r.peer)] : []));
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
      const call = this.client.makeClientStreamRequest(
        service.AddPathStream.path,
        serializeEncoded,
        service.AddPathStream.responseDeserialize,
        { deadline: Date.now() + 120_000 },
        (err) => (err ? reject(gobgpError('AddPathStream', err)) : resolve()),
      );
      for (let i = 0; i < paths.length; i += STREAM_BATCH) {
        // { table_type: GLOBAL, vrf_id: '', paths }, encoded here (serializeEncoded passes it through).
        call.write(encodeAddPathStreamRequest(paths.slice(i, i + STREAM_BATCH)));
      }
      call.end();
    });
  }

  /** Every path of a family in the global RIB (all candidates, not only the best). */
  async listPaths(family: IpFamily): Promise<DecodedPath[]> {
    const req: ListPathRequest = { table_type: 'GLOBAL', name: '', family: familyOf(family), prefixes: [], sort_type: 'NONE' };
    const rows = await this.collect('ListPath', (o) => this.client.ListPath(req, o));
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
    const r = await this.unary<GetTableResponse__Output>('GetTable', (o, cb) => this.client.GetTable({ table_type: 'GLOBAL', family: familyOf(family), name: '' }, o, cb));
    return { destinations: Number(r.num_destination), paths: Number(r.num_path) };
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
    const req: WatchEventRequest = {};
    if (handlers.onPeer) req.peer = {};
    if (handlers.onPaths) req.table = { filters: [{ type: 'BEST', init: true }] };
    const call = this.client.makeServerStreamRequest(service.WatchEvent.path, service.WatchEvent.requestSerialize, decodeWatchEvent, req);
    let ended = false;
    const finish = (err?: Error) => {
      if (ended) return;
      ended = true;
      handlers.onEnd(err);
    };
    call.on('data', (ev: WatchEvent) => {
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
      } else if ('peer' in ev && ev.peer && handlers.onPeer && ev.peer.type !== 'END_OF_INIT' && ev.peer.peer) {
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
    const req: ResetPeerRequest = { address, communication: '', soft: true, direction: 'OUT' };
    await this.unary<Empty__Output>('ResetPeer', (o, cb) => this.client.ResetPeer(req, o, cb));
  }

  // ---- policy ----

  async listPolicies(): Promise<PolicySpec[]> {
    const rows = await this.collect('ListPolicy', (o) => this.client.ListPolicy({ name: '' }, o));
    return rows.flatMap((r) => (r.policy ? [r.policy] : [])).map((policy) => ({
      name: policy.name,
      statements: policy.statements.map((s) => ({
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
    const req: AddPolicyRequest = {
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
    };
    await this.unary<Empty__Output>('AddPolicy', (o, cb) => this.client.AddPolicy(req, o, cb));
  }

  /**
   * Deletes a policy and its statements. gobgpd refuses while the policy is
   * assigned; `all: false` would only remove the listed statements (none).
   */
  async deletePolicy(name: string): Promise<void> {
    const req = { policy: { name, statements: [] }, preserve_statements: false, all: true };
    await this.unary<Empty__Output>('DeletePolicy', (o, cb) => this.client.DeletePolicy(req, o, cb));
  }

  /** Creates the prefix set, or appends to it (gobgpd 3.10 has no replace). */
  async addPrefixSet(name: string, prefixes: PrefixSetEntry[]): Promise<void> {
    await this.unary<Empty__Output>('AddDefinedSet', (o, cb) => this.client.AddDefinedSet({ defined_set: prefixSetMsg(name, prefixes) }, o, cb));
  }

  /** Removes the listed prefixes from a set; the set itself stays. */
  async deletePrefixes(name: string, prefixes: PrefixSetEntry[]): Promise<void> {
    await this.unary<Empty__Output>('DeleteDefinedSet', (o, cb) => this.client.DeleteDefinedSet({ defined_set: prefixSetMsg(name, prefixes), all: false }, o, cb));
  }

  /** Deletes a whole prefix set; gobgpd refuses while a policy refers to it. */
  async deletePrefixSet(name: string): Promise<void> {
    await this.unary<Empty__Output>('DeleteDefinedSet', (o, cb) => this.client.DeleteDefinedSet({ defined_set: prefixSetMsg(name, []), all: true }, o, cb));
  }

  async listPrefixSets(): Promise<{ name: string; prefixes: PrefixSetEntry[] }[]> {
    const rows = await this.collect('ListDefinedSet', (o) => this.client.ListDefinedSet({ defined_type: 'PREFIX', name: '' }, o));
    return rows.map((r) => ({
      name: r.defined_set?.name ?? '',
      prefixes: (r.defined_set?.prefixes ?? []).map((p) => ({ prefix: p.ip_prefix, min: p.mask_length_min, max: p.mask_length_max })),
    }));
  }

  /** Names of the policies assigned to the global export direction, in order. */
  async globalExportPolicies(): Promise<string[]> {
    const rows = await this.collect('ListPolicyAssignment', (o) => this.client.ListPolicyAssignment({ name: 'global', direction: 'EXPORT' }, o));
    return rows.flatMap((r) => (r.assignment?.policies ?? []).map((p) => p.name));
  }

  async setGlobalExportPolicies(names: string[]): Promise<void> {
    const req: SetPolicyAssignmentRequest = {
      assignment: { name: 'global', direction: 'EXPORT', policies: names.map((name) => ({ name })), default_action: 'ACCEPT' },
    };
    await this.unary<Empty__Output>('SetPolicyAssignment', (o, cb) => this.client.SetPolicyAssignment(req, o, cb));
  }
}

function toPeerInfo(peer: Peer__Output): PeerInfo {
  const st = peer.state;
  const fams: IpFamily[] = [];
  let received = 0;
  let accepted = 0;
  let advertised = 0;
  for (const a of peer.afi_safis) {
    const afi = a.config?.family?.afi ?? a.state?.family?.afi;
    if (afi === 'AFI_IP') fams.push(4);
    else if (afi === 'AFI_IP6') fams.push(6);
    received += Number(a.state?.received ?? 0);
    accepted += Number(a.state?.accepted ?? 0);
    advertised += Number(a.state?.advertised ?? 0);
  }
  return {
    address: peer.conf?.neighbor_address || st?.neighbor_address || '',
    peerAsn: peer.conf?.peer_asn || st?.peer_asn || 0,
    remotePort: peer.transport?.remote_port ?? 0,
    multihopTtl: peer.ebgp_multihop?.enabled ? Number(peer.ebgp_multihop.multihop_ttl) : 0,
    families: fams,
    sessionState: st?.session_state ?? 'UNKNOWN',
    adminState: st?.admin_state ?? 'UP',
    uptime: Number(peer.timers?.state?.uptime?.seconds ?? 0),
    downtime: Number(peer.timers?.state?.downtime?.seconds ?? 0),
    received,
    accepted,
    advertised,
  };
}

function prefixSetMsg(name: string, prefixes: PrefixSetEntry[]): DefinedSet {
  return {
    defined_type: 'PREFIX',
    name,
    prefixes: prefixes.map((p) => ({ ip_prefix: p.prefix, mask_length_min: p.min, mask_length_max: p.max })),
  };
}
