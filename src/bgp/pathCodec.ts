// Encodes VIP paths into GoBGP 3.10's Path message (NLRI and attributes packed
// as google.protobuf.Any) and decodes the paths gobgpd reports. The message
// types come from the proto the gRPC client is built from (gobgpProto.ts,
// loaded once), so type names line up.
import protobuf from 'protobufjs';
import { gobgpProto } from './gobgpProto.ts';
import { PROTO_LOADER_OPTIONS } from '../util/grpcProto.ts';
import { prefixFamily } from '../util/ipAddress.ts';
import type { LocalPrefAttribute__Output } from '../gen/apipb/LocalPrefAttribute.ts';
import type { MpReachNLRIAttribute__Output } from '../gen/apipb/MpReachNLRIAttribute.ts';
import type { MultiExitDiscAttribute__Output } from '../gen/apipb/MultiExitDiscAttribute.ts';
import type { NextHopAttribute__Output } from '../gen/apipb/NextHopAttribute.ts';
import { PREFIX_TYPE_URL, learnedFrom, packIpAddressPrefix, readIpAddressPrefix, type RawAny, type VipWirePath } from './protoWire.ts';

export const PROTO_FILE = gobgpProto.file;
const root = gobgpProto.root;

const TYPE_PREFIX = 'type.googleapis.com/apipb.';

export type AnyMsg = RawAny;

// Name lookups walk the namespace tree; ten thousand paths a burst make that show up.
const types = new Map<string, protobuf.Type | null>();
function typeNamed(name: string): protobuf.Type | null {
  let t = types.get(name);
  if (t === undefined) {
    const found = root.lookup(`apipb.${name}`);
    t = found instanceof protobuf.Type ? found : null;
    types.set(name, t);
  }
  return t;
}

function pack(typeName: string, obj: Record<string, unknown>): AnyMsg {
  const t = typeNamed(typeName);
  if (!t) throw new Error(`apipb.${typeName} is not in ${PROTO_FILE}`);
  return { type_url: TYPE_PREFIX + typeName, value: Buffer.from(t.encode(t.fromObject(obj)).finish()) };
}

/**
 * Attributes most paths share (origin IGP, next hop "0.0.0.0", the few MED
 * and local-pref values roles use), packed once. Bounded: a value outside
 * the first 256 distinct ones is packed afresh each time.
 */
const packed = new Map<string, AnyMsg>();
function packShared(typeName: string, field: string, value: unknown): AnyMsg {
  const k = `${typeName}\0${String(value)}`;
  let m = packed.get(k);
  if (!m) {
    m = pack(typeName, { [field]: value });
    if (packed.size < 256) packed.set(k, m);
  }
  return m;
}

/** The attributes decodePath reads, in the shape the generated types give them. */
interface ReadAttributes {
  NextHopAttribute: NextHopAttribute__Output;
  MpReachNLRIAttribute: MpReachNLRIAttribute__Output;
  MultiExitDiscAttribute: MultiExitDiscAttribute__Output;
  LocalPrefAttribute: LocalPrefAttribute__Output;
}
type ReadAttribute = { [K in keyof ReadAttributes]: { type: K; msg: ReadAttributes[K] } }[keyof ReadAttributes];
const READ_ATTRIBUTES = new Set<string>(['NextHopAttribute', 'MpReachNLRIAttribute', 'MultiExitDiscAttribute', 'LocalPrefAttribute'] satisfies (keyof ReadAttributes)[]);

/** An attribute decodePath reads, decoded; undefined for any other (gobgpd sends ones our proto subset does not model). */
function unpack(any: AnyMsg): ReadAttribute | undefined {
  if (!any.type_url.startsWith(TYPE_PREFIX)) return undefined;
  const type = any.type_url.slice(TYPE_PREFIX.length);
  if (!READ_ATTRIBUTES.has(type)) return undefined;
  const t = typeNamed(type)!;
  // toObject with the loader's options yields exactly the __Output shape of the type named.
  return { type, msg: t.toObject(t.decode(any.value), PROTO_LOADER_OPTIONS) } as ReadAttribute;
}

export type IpFamily = 4 | 6;

export const FAMILY_IPV4 = { afi: 'AFI_IP', safi: 'SAFI_UNICAST' } as const;
export const FAMILY_IPV6 = { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' } as const;
export function familyOf(f: IpFamily) {
  return f === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
}

/** One locally originated host route, as the advertiser wants it in gobgpd. */
export interface VipRoute {
  /** The address (no prefix length): /32 for IPv4, /128 for IPv6. */
  ip: string;
  family: IpFamily;
  med?: number;
  localPref?: number;
  /** Unset: "0.0.0.0" / "::", so gobgpd puts the session's local address. */
  nextHop?: string;
}

/**
 * The fields of an apipb.Path that decodePath reads: a Path__Output of the
 * generic decoder (ListPath, peer events) or a WatchPath of the lean one.
 */
export interface WirePath {
  nlri?: RawAny | null;
  pattrs?: readonly RawAny[];
  best?: boolean;
  is_withdraw?: boolean;
  neighbor_ip?: string;
}

export function encodeVipRoute(r: VipRoute, withdraw = false): VipWirePath {
  const nlri = packIpAddressPrefix(r.ip, r.family === 4 ? 32 : 128);
  const nh = r.nextHop ?? (r.family === 4 ? '0.0.0.0' : '::');
  const pattrs: AnyMsg[] = [packShared('OriginAttribute', 'origin', 0)];
  if (r.family === 4) pattrs.push(packShared('NextHopAttribute', 'next_hop', nh));
  else pattrs.push(pack('MpReachNLRIAttribute', { family: FAMILY_IPV6, next_hops: [nh], nlris: [nlri] }));
  if (r.med !== undefined) pattrs.push(packShared('MultiExitDiscAttribute', 'med', r.med));
  if (r.localPref !== undefined) pattrs.push(packShared('LocalPrefAttribute', 'local_pref', r.localPref));
  return { nlri, pattrs, family: familyOf(r.family), is_withdraw: withdraw };
}

/** A path as gobgpd reports it (ListPath, WatchEvent). */
export interface DecodedPath {
  prefix: string;
  prefixLen: number;
  family: IpFamily;
  nextHop?: string;
  med?: number;
  localPref?: number;
  best: boolean;
  withdraw: boolean;
  /** Address of the peer it was learned from; undefined for locally originated paths. */
  neighborIp?: string;
}

/**
 * `learnedAttributesOnly`: skip the attributes of locally originated paths.
 * The best-path watch of an LB node carries every VIP it advertises, and only
 * the learned ones are of interest there; their attributes are most of the
 * decoding cost.
 */
export function decodePath(p: WirePath, opts: { learnedAttributesOnly?: boolean } = {}): DecodedPath | undefined {
  const any = p.nlri;
  // Host routes are all this decodes: read IPAddressPrefix straight off the wire (every watched path has one).
  if (!any || any.type_url !== PREFIX_TYPE_URL) return undefined;
  const nlri = readIpAddressPrefix(any.value);
  const prefix = nlri.prefix;
  const prefixLen = nlri.prefix_len;
  // The NLRI's own family (its length counts those bits); text that is no address: not a host route of ours.
  const family = prefixFamily(prefix);
  if (family === undefined) return undefined;
  const out: DecodedPath = {
    prefix,
    prefixLen,
    family,
    best: Boolean(p.best),
    withdraw: Boolean(p.is_withdraw),
  };
  const nb = learnedFrom(p.neighbor_ip);
  if (nb) out.neighborIp = nb;
  if (opts.learnedAttributesOnly && !out.neighborIp) return out;
  for (const a of p.pattrs ?? []) {
    const u = unpack(a);
    if (!u) continue;
    switch (u.type) {
      case 'NextHopAttribute':
        out.nextHop = u.msg.next_hop;
        break;
      case 'MpReachNLRIAttribute': {
        if (u.msg.next_hops.length > 0) out.nextHop = u.msg.next_hops[0];
        break;
      }
      case 'MultiExitDiscAttribute':
        out.med = u.msg.med;
        break;
      case 'LocalPrefAttribute':
        out.localPref = u.msg.local_pref;
        break;
    }
  }
  return out;
}
