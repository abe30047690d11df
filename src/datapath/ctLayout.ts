// The connection table's entries (struct ct_key and ct_val of
// native/bpf/lb_maps.h): decoded for the API and sync, encoded for tests,
// benchmarks and sync fixtures.
import { decodeAddr, decodeLbKey, encodeAddr, encodeLbKey, familyOfAddr, protoName, protoNumber, type DpFamily, type DpProtocol, type ServiceKey } from './addressLayout.ts';

export const CT_KEY_SIZE = 40;
export const CT_VAL_SIZE = 96;

/** ct_val.state, in the order of lb_maps.h; the names loxicmd shows. */
export const CT_STATE_NAMES = ['syn-sent', 'syn-recv', 'est', 'fin-wait', 'closed', 'udp-new', 'udp-est'] as const;
/** The same states for an SCTP association. */
export const SCTP_STATE_NAMES = ['init', 'init-ack', 'est', 'shutdown', 'closed'] as const;

export function ctStateName(proto: DpProtocol, state: number): string {
  return (proto === 'sctp' ? SCTP_STATE_NAMES[state] : CT_STATE_NAMES[state]) ?? String(state);
}
export const CT_EST = 2;
export const CT_UDP_EST = 6;
export const CT_DIR_ORIG = 0;
export const CT_DIR_REPLY = 1;
export const CT_F_SYNCED = 0x04;

export interface CtEntry {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: DpProtocol;
  family: DpFamily;
  xsaddr: string;
  xdaddr: string;
  xsport: number;
  xdport: number;
  /** Family of the translated packet (differs from family for NAT64). */
  xfamily: DpFamily;
  svc: ServiceKey;
  ruleId: number;
  dir: number;
  state: number;
  epIdx: number;
  flags: number;
  timeoutS: number;
  lastNs: bigint;
  packets: bigint;
  bytes: bigint;
}

/** Byte offsets inside ct_key and ct_val. */
export const CT_KEY = { saddr: 0, daddr: 16, sport: 32, dport: 34, proto: 36, family: 37 } as const;
export const CT_VAL = {
  xsaddr: 0,
  xdaddr: 16,
  xsport: 32,
  xdport: 34,
  svc: 36,
  ruleId: 56,
  dir: 60,
  state: 61,
  epIdx: 62,
  flags: 63,
  timeoutS: 64,
  xfamily: 68,
  lastNs: 72,
  packets: 80,
  bytes: 88,
} as const;

/** Decodes entry i of a dump (keys and values packed back to back). */
export function decodeCt(keys: Buffer, values: Buffer, i: number): CtEntry | undefined {
  const k = i * CT_KEY_SIZE;
  const v = i * CT_VAL_SIZE;
  const proto = protoName(keys[k + CT_KEY.proto]!);
  const family = keys[k + CT_KEY.family];
  const xfamily = values[v + CT_VAL.xfamily];
  const svc = decodeLbKey(values, v + CT_VAL.svc);
  if (!proto || !svc || (family !== 4 && family !== 6) || (xfamily !== 4 && xfamily !== 6)) return undefined;
  return {
    saddr: decodeAddr(keys, k + CT_KEY.saddr, family),
    daddr: decodeAddr(keys, k + CT_KEY.daddr, family),
    sport: keys.readUInt16BE(k + CT_KEY.sport),
    dport: keys.readUInt16BE(k + CT_KEY.dport),
    proto,
    family,
    xsaddr: decodeAddr(values, v + CT_VAL.xsaddr, xfamily),
    xdaddr: decodeAddr(values, v + CT_VAL.xdaddr, xfamily),
    xsport: values.readUInt16BE(v + CT_VAL.xsport),
    xdport: values.readUInt16BE(v + CT_VAL.xdport),
    xfamily,
    svc,
    ruleId: values.readUInt32LE(v + CT_VAL.ruleId),
    dir: values[v + CT_VAL.dir]!,
    state: values[v + CT_VAL.state]!,
    epIdx: values[v + CT_VAL.epIdx]!,
    flags: values[v + CT_VAL.flags]!,
    timeoutS: values.readUInt32LE(v + CT_VAL.timeoutS),
    lastNs: values.readBigUInt64LE(v + CT_VAL.lastNs),
    packets: values.readBigUInt64LE(v + CT_VAL.packets),
    bytes: values.readBigUInt64LE(v + CT_VAL.bytes),
  };
}

/** The bytes of one connection-table entry (tests, benchmarks, sync fixtures). */
export function encodeCt(e: Omit<CtEntry, 'family' | 'xfamily' | 'lastNs' | 'packets' | 'bytes'> & Partial<Pick<CtEntry, 'lastNs' | 'packets' | 'bytes'>>): { key: Buffer; value: Buffer } {
  const key = Buffer.alloc(CT_KEY_SIZE);
  encodeAddr(e.saddr).copy(key, CT_KEY.saddr);
  encodeAddr(e.daddr).copy(key, CT_KEY.daddr);
  key.writeUInt16BE(e.sport, CT_KEY.sport);
  key.writeUInt16BE(e.dport, CT_KEY.dport);
  key[CT_KEY.proto] = protoNumber(e.proto, familyOfAddr(e.saddr));
  key[CT_KEY.family] = familyOfAddr(e.saddr);
  const value = Buffer.alloc(CT_VAL_SIZE);
  encodeAddr(e.xsaddr).copy(value, CT_VAL.xsaddr);
  encodeAddr(e.xdaddr).copy(value, CT_VAL.xdaddr);
  value.writeUInt16BE(e.xsport, CT_VAL.xsport);
  value.writeUInt16BE(e.xdport, CT_VAL.xdport);
  encodeLbKey(e.svc).copy(value, CT_VAL.svc);
  value.writeUInt32LE(e.ruleId, CT_VAL.ruleId);
  value[CT_VAL.dir] = e.dir;
  value[CT_VAL.state] = e.state;
  value[CT_VAL.epIdx] = e.epIdx;
  value[CT_VAL.flags] = e.flags;
  value.writeUInt32LE(e.timeoutS, CT_VAL.timeoutS);
  value[CT_VAL.xfamily] = familyOfAddr(e.xsaddr);
  value.writeBigUInt64LE(e.lastNs ?? 0n, CT_VAL.lastNs);
  value.writeBigUInt64LE(e.packets ?? 0n, CT_VAL.packets);
  value.writeBigUInt64LE(e.bytes ?? 0n, CT_VAL.bytes);
  return { key, value };
}
