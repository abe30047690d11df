// What connection sync sends, over raw dumps of the conntrack map. The
// per-entry work (which entries are syncable, what changed since the last
// scan, adopting a peer's entries) runs in the addon: in JS it cost 0.3-0.8 s
// per 100,000 entries and starved the event loop. What is left here is
// slicing into batches and checking what arrives off the wire.
import { CT_KEY_SIZE, CT_VAL_SIZE } from '../datapath/layout.ts';
import { loadNativeAddon, type NativeCtDiffer, type NativeCtKeySet } from '../util/nativeAddon.ts';

export interface RawEntries {
  keys: Buffer;
  values: Buffer;
  count: number;
}

/** Every syncable entry of a table (a full pull): established TCP; UDP flows with a reply when udp. */
export function selectSyncable(cur: RawEntries, udp: boolean): RawEntries {
  return loadNativeAddon().ctSelect(cur.keys, cur.values, udp);
}

/** The keys a sync peer has installed here, for its quota (see NativeCtKeySet.admit). */
export function createKeySet(): NativeCtKeySet {
  return new (loadNativeAddon().CtKeySet)();
}

/** The MASTER's scan state between scans. */
export function createDiffer(): NativeCtDiffer {
  return new (loadNativeAddon().CtDiffer)();
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

/** Checks that a batch's byte strings hold `count` whole entries; an error names what is wrong. */
export function checkBatchShape(count: number, keys: Buffer, values: Buffer, withValues: boolean): string | undefined {
  if (!Number.isInteger(count) || count < 0) return `count ${count} is not a non-negative integer`;
  if (keys.length !== count * CT_KEY_SIZE) return `keys hold ${keys.length} bytes, want ${count} x ${CT_KEY_SIZE}`;
  if (withValues && values.length !== count * CT_VAL_SIZE) return `values hold ${values.length} bytes, want ${count} x ${CT_VAL_SIZE}`;
  if (!withValues && values.length !== 0) return 'a DELETE batch carries no values';
  return undefined;
}
