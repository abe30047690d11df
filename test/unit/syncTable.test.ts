import { test } from 'node:test';
import assert from 'node:assert/strict';
// The sync's per-entry work runs in the addon; these run it over crafted
// dumps (no maps, no root needed).
import { CT_KEY, CT_KEY_SIZE, CT_VAL_SIZE, encodeCt, CT_F_SYNCED } from '../../src/datapath/layout.ts';
import { batches, checkBatchShape, createDiffer, selectSyncable, type RawEntries } from '../../src/sync/syncTable.ts';

interface E {
  sport: number;
  proto?: 'tcp' | 'udp';
  state?: number;
  lastNs?: bigint;
  packets?: bigint;
  flags?: number;
  ruleId?: number;
  dport?: number;
}

const TCP_EST = 2;
const UDP_EST = 6;

function entries(list: E[]): RawEntries {
  const keys = Buffer.alloc(list.length * CT_KEY_SIZE);
  const values = Buffer.alloc(list.length * CT_VAL_SIZE);
  list.forEach((e, i) => {
    const c = encodeCt({
      saddr: '10.0.0.5',
      daddr: '20.20.20.1',
      sport: e.sport,
      dport: e.dport ?? 80,
      proto: e.proto ?? 'tcp',
      xsaddr: '10.0.0.5',
      xdaddr: '192.168.80.21',
      xsport: e.sport,
      xdport: 8080,
      svc: { vip: '20.20.20.1', port: e.dport ?? 80, proto: e.proto ?? 'tcp' },
      ruleId: e.ruleId ?? 7,
      dir: 0,
      state: e.state ?? TCP_EST,
      epIdx: 0,
      flags: e.flags ?? 0,
      timeoutS: 240,
      lastNs: e.lastNs ?? 1_000_000_000n,
      packets: e.packets ?? 1n,
    });
    c.key.copy(keys, i * CT_KEY_SIZE);
    c.value.copy(values, i * CT_VAL_SIZE);
  });
  return { keys, values, count: list.length };
}

function sports(e: RawEntries): number[] {
  return Array.from({ length: e.count }, (_, i) => e.keys.readUInt16BE(i * CT_KEY_SIZE + CT_KEY.sport));
}

const REFRESH = 30e9;
const diff = (d: ReturnType<typeof createDiffer>, e: RawEntries) => d.diff(e.keys, e.values, REFRESH, false);

test('only established TCP entries are synced, UDP ones with a reply when asked', () => {
  const t = entries([{ sport: 1 }, { sport: 2, state: 0 }, { sport: 3, state: 4 }, { sport: 4, proto: 'udp', state: UDP_EST }, { sport: 5, proto: 'udp', state: 5 }]);
  assert.deepEqual(sports(selectSyncable(t, false)), [1]);
  assert.deepEqual(sports(selectSyncable(t, true)), [1, 4]);
  const d = createDiffer();
  assert.deepEqual(sports(d.diff(t.keys, t.values, REFRESH, true).upserts), [1, 4]);
});

test('diff: new entries go out once; counters and timestamps alone do not resend them', () => {
  const d = createDiffer();
  const d1 = diff(d, entries([{ sport: 1 }, { sport: 2 }]));
  assert.deepEqual(sports(d1.upserts), [1, 2]);
  assert.equal(d1.upserts.values.length, 2 * CT_VAL_SIZE);
  assert.equal(d1.deletes.count, 0);
  const d2 = diff(d, entries([{ sport: 1, packets: 99n, lastNs: 2_000_000_000n }, { sport: 2, flags: CT_F_SYNCED }]));
  assert.equal(d2.upserts.count, 0, 'packets, last_ns (< refresh) and the synced flag are not changes');
  assert.equal(d.size(), 2);
  d.reset();
  assert.equal(diff(d, entries([{ sport: 1 }])).upserts.count, 1, 'after a reset everything is new');
});

test('diff: a changed rule is resent, a closed or gone entry is deleted', () => {
  const differ = createDiffer();
  diff(differ, entries([{ sport: 1 }, { sport: 2 }, { sport: 3 }]));
  const d = diff(differ, entries([{ sport: 1, ruleId: 8 }, { sport: 2, state: 4 }]));
  assert.deepEqual(sports(d.upserts), [1]);
  assert.deepEqual(sports(d.deletes).sort(), [2, 3]);
  assert.equal(d.deletes.values.length, 0);
  assert.equal(differ.size(), 1);
  assert.equal(diff(differ, entries([{ sport: 1, ruleId: 8 }])).deletes.count, 0, 'a delete goes out once');
});

test('diff: an entry with traffic is refreshed once refreshNs has passed since the last send', () => {
  const d = createDiffer();
  diff(d, entries([{ sport: 1, lastNs: 1_000_000_000n }]));
  assert.equal(diff(d, entries([{ sport: 1, lastNs: 30_000_000_000n }])).upserts.count, 0);
  assert.equal(diff(d, entries([{ sport: 1, lastNs: 31_000_000_001n }])).upserts.count, 1);
  // And the refresh resets the clock.
  assert.equal(diff(d, entries([{ sport: 1, lastNs: 31_000_000_002n }])).upserts.count, 0);
});

test('batches split at the limit and keep keys and values aligned', () => {
  const t = entries(Array.from({ length: 5 }, (_, i) => ({ sport: i + 1 })));
  const parts = [...batches(t, 2)];
  assert.deepEqual(parts.map((p) => p.count), [2, 2, 1]);
  assert.deepEqual(parts.flatMap(sports), [1, 2, 3, 4, 5]);
  assert.equal(parts[2]!.values.length, CT_VAL_SIZE);
});

test('batch shape check names what is wrong', () => {
  assert.equal(checkBatchShape(1, Buffer.alloc(CT_KEY_SIZE), Buffer.alloc(CT_VAL_SIZE), true), undefined);
  assert.match(checkBatchShape(2, Buffer.alloc(CT_KEY_SIZE), Buffer.alloc(0), true)!, /keys hold 40 bytes, want 2 x 40/);
  assert.match(checkBatchShape(1, Buffer.alloc(CT_KEY_SIZE), Buffer.alloc(3), true)!, /values hold 3 bytes/);
  assert.match(checkBatchShape(1, Buffer.alloc(CT_KEY_SIZE), Buffer.alloc(CT_VAL_SIZE), false)!, /DELETE batch carries no values/);
});
