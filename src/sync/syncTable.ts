// What connection sync sends, computed from raw dumps of the conntrack map:
// which entries are worth syncing, what changed since the last pass, and how
// a receiver adapts a peer's entries to its own rule ids. Pure functions over
// Buffers, so they are tested without a kernel.
import { CT_EST, CT_KEY_SIZE, CT_UDP_EST, CT_VAL_SIZE, CT_F_SYNCED, CT_VAL_LAST_NS_OFFSET, CT_VAL_RULE_ID_OFFSET, CT_VAL_STATE_OFFSET, CT_VAL_SVC_OFFSET, IPPROTO } from '../datapath/layout.ts';

export interface RawEntries {
  keys: Buffer;
  values: Buffer;
  count: number;
}

export interface SyncPolicy {
  /** Also sync UDP flows that have seen a reply. */
  udp: boolean;
  /** Resend an unchanged entry once it has seen traffic this long after the last send (ns), so peers' copies never idle out. */
  refreshNs: number;
}

/** Bytes of ct_val that define an entry; counters, timestamps and the synced flag are left out. */
const STABLE_BYTES = CT_VAL_LAST_NS_OFFSET;
const FLAGS_OFFSET = 27;

export function syncable(keys: Buffer, values: Buffer, i: number, policy: Pick<SyncPolicy, 'udp'>): boolean {
  const proto = keys.readUInt8(i * CT_KEY_SIZE + 12);
  const state = values.readUInt8(i * CT_VAL_SIZE + CT_VAL_STATE_OFFSET);
  if (proto === IPPROTO.tcp) return state === CT_EST;
  if (proto === IPPROTO.udp) return policy.udp && state === CT_UDP_EST;
  return false;
}

/** An entry's identity (key) and content (the stable bytes, synced flag cleared). */
function stableOf(values: Buffer, i: number): string {
  const v = Buffer.from(values.subarray(i * CT_VAL_SIZE, i * CT_VAL_SIZE + STABLE_BYTES));
  v[FLAGS_OFFSET] = v.readUInt8(FLAGS_OFFSET) & ~CT_F_SYNCED;
  return v.toString('latin1');
}

export interface SentEntry {
  stable: string;
  lastNs: bigint;
}

/** What the last pass sent, by key (latin1 string of the key bytes). */
export type SentSnapshot = Map<string, SentEntry>;

export interface Delta {
  upserts: RawEntries;
  deletes: RawEntries;
  next: SentSnapshot;
}

function pack(parts: Buffer[], size: number): Buffer {
  return parts.length === 0 ? Buffer.alloc(0) : Buffer.concat(parts, parts.length * size);
}

/**
 * Changes between the last sent snapshot and the current table: new or
 * changed syncable entries, entries with traffic since the last refresh, and
 * entries that are gone or no longer syncable (closed).
 */
export function diffTable(prev: SentSnapshot, cur: RawEntries, policy: SyncPolicy): Delta {
  const next: SentSnapshot = new Map();
  const upK: Buffer[] = [];
  const upV: Buffer[] = [];
  for (let i = 0; i < cur.count; i++) {
    if (!syncable(cur.keys, cur.values, i, policy)) continue;
    const kb = cur.keys.subarray(i * CT_KEY_SIZE, (i + 1) * CT_KEY_SIZE);
    const k = kb.toString('latin1');
    const stable = stableOf(cur.values, i);
    const lastNs = cur.values.readBigUInt64LE(i * CT_VAL_SIZE + CT_VAL_LAST_NS_OFFSET);
    const was = prev.get(k);
    if (was && was.stable === stable && lastNs - was.lastNs < BigInt(policy.refreshNs)) {
      next.set(k, was);
      continue;
    }
    next.set(k, { stable, lastNs });
    upK.push(kb);
    upV.push(cur.values.subarray(i * CT_VAL_SIZE, (i + 1) * CT_VAL_SIZE));
  }
  const delK: Buffer[] = [];
  for (const k of prev.keys()) if (!next.has(k)) delK.push(Buffer.from(k, 'latin1'));
  return {
    upserts: { keys: pack(upK, CT_KEY_SIZE), values: pack(upV, CT_VAL_SIZE), count: upK.length },
    deletes: { keys: pack(delK, CT_KEY_SIZE), values: Buffer.alloc(0), count: delK.length },
    next,
  };
}

/** Every syncable entry of a table (a full pull). */
export function selectSyncable(cur: RawEntries, policy: Pick<SyncPolicy, 'udp'>): RawEntries {
  const k: Buffer[] = [];
  const v: Buffer[] = [];
  for (let i = 0; i < cur.count; i++) {
    if (!syncable(cur.keys, cur.values, i, policy)) continue;
    k.push(cur.keys.subarray(i * CT_KEY_SIZE, (i + 1) * CT_KEY_SIZE));
    v.push(cur.values.subarray(i * CT_VAL_SIZE, (i + 1) * CT_VAL_SIZE));
  }
  return { keys: pack(k, CT_KEY_SIZE), values: pack(v, CT_VAL_SIZE), count: k.length };
}

/** Splits entries into batches of at most `max`. */
export function* batches(e: RawEntries, max: number): Generator<RawEntries> {
  for (let i = 0; i < e.count; i += max) {
    const n = Math.min(max, e.count - i);
    yield {
      keys: e.keys.subarray(i * CT_KEY_SIZE, (i + n) * CT_KEY_SIZE),
      values: e.values.length === 0 ? e.values : e.values.subarray(i * CT_VAL_SIZE, (i + n) * CT_VAL_SIZE),
      count: n,
    };
  }
}

/**
 * A peer's entries as this node installs them: the rule id becomes ours
 * (looked up by the service key the entry carries); entries of services
 * this node has no rule for are dropped and counted.
 */
export function adoptEntries(e: RawEntries, localRuleId: (svcHex: string) => number | undefined): { adopted: RawEntries; unknownService: number } {
  const k: Buffer[] = [];
  const v: Buffer[] = [];
  let unknownService = 0;
  for (let i = 0; i < e.count; i++) {
    const vo = i * CT_VAL_SIZE;
    const svcHex = e.values.subarray(vo + CT_VAL_SVC_OFFSET, vo + CT_VAL_SVC_OFFSET + 8).toString('hex');
    const id = localRuleId(svcHex);
    if (id === undefined) {
      unknownService++;
      continue;
    }
    const val = Buffer.from(e.values.subarray(vo, vo + CT_VAL_SIZE));
    val.writeUInt32LE(id, CT_VAL_RULE_ID_OFFSET);
    k.push(e.keys.subarray(i * CT_KEY_SIZE, (i + 1) * CT_KEY_SIZE));
    v.push(val);
  }
  return { adopted: { keys: pack(k, CT_KEY_SIZE), values: pack(v, CT_VAL_SIZE), count: k.length }, unknownService };
}

/** Checks that a batch's byte strings hold `count` whole entries; an error names what is wrong. */
export function checkBatchShape(count: number, keys: Buffer, values: Buffer, withValues: boolean): string | undefined {
  if (!Number.isInteger(count) || count < 0) return `count ${count} is not a non-negative integer`;
  if (keys.length !== count * CT_KEY_SIZE) return `keys hold ${keys.length} bytes, want ${count} x ${CT_KEY_SIZE}`;
  if (withValues && values.length !== count * CT_VAL_SIZE) return `values hold ${values.length} bytes, want ${count} x ${CT_VAL_SIZE}`;
  if (!withValues && values.length !== 0) return 'a DELETE batch carries no values';
  return undefined;
}
