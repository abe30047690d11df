import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CT_KEY_SIZE, CT_VAL_SIZE, encodeLbKey, decodeCt, CT_F_SYNCED } from '../../src/datapath/layout.ts';
import { adoptEntries, batches, checkBatchShape, diffTable, selectSyncable, type RawEntries, type SentSnapshot } from '../../src/sync/syncTable.ts';

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
    const k = i * CT_KEY_SIZE;
    Buffer.from([10, 0, 0, 5]).copy(keys, k);
    Buffer.from([20, 20, 20, 1]).copy(keys, k + 4);
    keys.writeUInt16BE(e.sport, k + 8);
    keys.writeUInt16BE(e.dport ?? 80, k + 10);
    keys[k + 12] = e.proto === 'udp' ? 17 : 6;
    const v = i * CT_VAL_SIZE;
    Buffer.from([10, 0, 0, 5]).copy(values, v);
    Buffer.from([192, 168, 80, 21]).copy(values, v + 4);
    values.writeUInt16BE(e.sport, v + 8);
    values.writeUInt16BE(8080, v + 10);
    encodeLbKey({ vip: '20.20.20.1', port: e.dport ?? 80, proto: e.proto ?? 'tcp' }).copy(values, v + 12);
    values.writeUInt32LE(e.ruleId ?? 7, v + 20);
    values[v + 25] = e.state ?? TCP_EST;
    values[v + 27] = e.flags ?? 0;
    values.writeUInt32LE(240, v + 28);
    values.writeBigUInt64LE(e.lastNs ?? 1_000_000_000n, v + 32);
    values.writeBigUInt64LE(e.packets ?? 1n, v + 40);
  });
  return { keys, values, count: list.length };
}

function sports(e: RawEntries): number[] {
  return Array.from({ length: e.count }, (_, i) => e.keys.readUInt16BE(i * CT_KEY_SIZE + 8));
}

const policy = { udp: false, refreshNs: 30e9 };

test('only established TCP entries are synced, UDP ones with a reply when asked', () => {
  const t = entries([{ sport: 1 }, { sport: 2, state: 0 }, { sport: 3, state: 4 }, { sport: 4, proto: 'udp', state: UDP_EST }, { sport: 5, proto: 'udp', state: 5 }]);
  assert.deepEqual(sports(selectSyncable(t, { udp: false })), [1]);
  assert.deepEqual(sports(selectSyncable(t, { udp: true })), [1, 4]);
});

test('diff: new entries go out once; counters and timestamps alone do not resend them', () => {
  let snap: SentSnapshot = new Map();
  const d1 = diffTable(snap, entries([{ sport: 1 }, { sport: 2 }]), policy);
  assert.deepEqual(sports(d1.upserts), [1, 2]);
  assert.equal(d1.deletes.count, 0);
  snap = d1.next;
  const d2 = diffTable(snap, entries([{ sport: 1, packets: 99n, lastNs: 2_000_000_000n }, { sport: 2, flags: CT_F_SYNCED }]), policy);
  assert.equal(d2.upserts.count, 0, 'packets, last_ns (< refresh) and the synced flag are not changes');
});

test('diff: a changed translation is resent, a closed or gone entry is deleted', () => {
  const snap = diffTable(new Map(), entries([{ sport: 1 }, { sport: 2 }, { sport: 3 }]), policy).next;
  const d = diffTable(snap, entries([{ sport: 1, ruleId: 8 }, { sport: 2, state: 4 }]), policy);
  assert.deepEqual(sports(d.upserts), [1]);
  assert.deepEqual(sports(d.deletes), [2, 3]);
  assert.equal(d.deletes.values.length, 0);
  assert.equal(d.next.size, 1);
});

test('diff: an entry with traffic is refreshed once refreshNs has passed since the last send', () => {
  const snap = diffTable(new Map(), entries([{ sport: 1, lastNs: 1_000_000_000n }]), policy).next;
  assert.equal(diffTable(snap, entries([{ sport: 1, lastNs: 30_000_000_000n }]), policy).upserts.count, 0);
  const d = diffTable(snap, entries([{ sport: 1, lastNs: 31_000_000_001n }]), policy);
  assert.equal(d.upserts.count, 1);
  // And the refresh resets the clock.
  assert.equal(diffTable(d.next, entries([{ sport: 1, lastNs: 31_000_000_002n }]), policy).upserts.count, 0);
});

test('adopt: the rule id becomes the receiver\'s, unknown services are dropped and counted', () => {
  const t = entries([{ sport: 1, ruleId: 3 }, { sport: 2, dport: 443, ruleId: 3 }]);
  const known = encodeLbKey({ vip: '20.20.20.1', port: 80, proto: 'tcp' }).toString('hex');
  const { adopted, unknownService } = adoptEntries(t, (svc) => (svc === known ? 41 : undefined));
  assert.equal(unknownService, 1);
  assert.equal(adopted.count, 1);
  assert.equal(decodeCt(adopted.keys, adopted.values, 0)?.ruleId, 41);
  assert.equal(decodeCt(t.keys, t.values, 0)?.ruleId, 3, 'the input is not modified');
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
  assert.match(checkBatchShape(2, Buffer.alloc(CT_KEY_SIZE), Buffer.alloc(0), true)!, /keys hold 16 bytes, want 2 x 16/);
  assert.match(checkBatchShape(1, Buffer.alloc(CT_KEY_SIZE), Buffer.alloc(3), true)!, /values hold 3 bytes/);
  assert.match(checkBatchShape(1, Buffer.alloc(CT_KEY_SIZE), Buffer.alloc(CT_VAL_SIZE), false)!, /DELETE batch carries no values/);
});
