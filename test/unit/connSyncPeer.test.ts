import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peerAddress } from '../../src/sync/ConnSync.ts';

test('the address of a gRPC peer, in every form grpc-js reports it, canonical', () => {
  assert.equal(peerAddress('192.168.80.11:43210'), '192.168.80.11');
  assert.equal(peerAddress('ipv4:192.168.80.11:43210'), '192.168.80.11');
  assert.equal(peerAddress('[fd00:80::11]:43210'), 'fd00:80::11');
  assert.equal(peerAddress('ipv6:[FD00:80:0::11]:1'), 'fd00:80::11');
  assert.equal(peerAddress('[::ffff:192.168.80.11]:43210'), '192.168.80.11', 'an IPv4-mapped address is the IPv4 peer');
  assert.equal(peerAddress('unix:/tmp/x'), undefined);
  assert.equal(peerAddress('garbage'), undefined);
});

test('a peer installs at most its share of the table: refreshes always, new entries while under the quota', async () => {
  const { certificateIps } = await import('../../src/sync/ConnSync.ts');
  const { createKeySet } = await import('../../src/sync/syncTable.ts');
  const { CT_KEY_SIZE, CT_VAL_SIZE } = await import('../../src/datapath/layout.ts');
  const batch = (ids: number[]) => {
    const keys = Buffer.alloc(ids.length * CT_KEY_SIZE);
    const values = Buffer.alloc(ids.length * CT_VAL_SIZE);
    ids.forEach((id, i) => {
      keys.writeUInt32BE(id, i * CT_KEY_SIZE);
      values.writeUInt32BE(id, i * CT_VAL_SIZE);
    });
    return { keys, values };
  };
  const held = createKeySet();
  const a = batch([1, 2, 3]);
  const r1 = held.admit(a.keys, a.values, 4);
  assert.equal(r1.refused, 0);
  assert.equal(r1.keys, a.keys, 'nothing refused: the batch as it came, no copy');
  const b = batch([1, 4, 5, 6, 2]);
  const r2 = held.admit(b.keys, b.values, 4);
  assert.equal(r2.refused, 2, 'two new entries past the quota of 4');
  const ids = (buf: Buffer, size: number) => Array.from({ length: buf.length / size }, (_, i) => buf.readUInt32BE(i * size));
  assert.deepEqual(ids(r2.keys, CT_KEY_SIZE), [1, 4, 2], 'refreshes pass, the first new one fits');
  assert.deepEqual(ids(r2.values, CT_VAL_SIZE), [1, 4, 2], 'values stay with their keys');
  assert.equal(held.size(), 4);
  // A deleted entry frees its place; a full pull starts the count afresh.
  held.remove(batch([4, 99]).keys);
  assert.equal(held.size(), 3);
  assert.equal(held.admit(batch([6]).keys, batch([6]).values, 4).refused, 0);
  held.clear();
  assert.equal(held.size(), 0);
  assert.throws(() => held.admit(Buffer.alloc(41), Buffer.alloc(CT_VAL_SIZE), 4), /whole conntrack entries/);
  assert.deepEqual([...certificateIps('DNS:lb1, IP Address:192.168.80.11, IP Address:FD00:80::11')], ['192.168.80.11', 'fd00:80::11']);
  assert.equal(certificateIps(undefined).size, 0);
});

test('the quota key set stays exact through growth, deletions and re-pulls', async () => {
  const { createKeySet } = await import('../../src/sync/syncTable.ts');
  const { CT_KEY_SIZE, CT_VAL_SIZE } = await import('../../src/datapath/layout.ts');
  const keysOf = (ids: number[]) => {
    const keys = Buffer.alloc(ids.length * CT_KEY_SIZE);
    ids.forEach((id, i) => keys.writeUInt32LE(id, i * CT_KEY_SIZE + 36));
    return keys;
  };
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const set = createKeySet();
  const admit = (ids: number[], max: number) => set.admit(keysOf(ids), Buffer.alloc(ids.length * CT_VAL_SIZE), max).refused;
  // 20,000 keys in batches: past several growths of the table.
  for (let i = 0; i < 20_000; i += 3000) assert.equal(admit(range(i, Math.min(3000, 20_000 - i)), 1e9), 0);
  assert.equal(set.size(), 20_000);
  // Half go (and some that were never there); the rest are still known as refreshes.
  set.remove(keysOf(range(0, 10_000)));
  set.remove(keysOf(range(50_000, 100)));
  assert.equal(set.size(), 10_000);
  assert.equal(admit(range(10_000, 10_000), 10_000), 0, 'refreshes are never refused, even at the quota');
  assert.equal(set.size(), 10_000);
  assert.equal(admit(range(0, 5), 10_000), 5, 'deleted keys are new again, and refused at the quota');
  // Churn through the tombstones many times over.
  for (let r = 0; r < 20; r++) {
    set.remove(keysOf(range(10_000 + r * 500, 500)));
    assert.equal(admit(range(100_000 + r * 500, 500), 10_000), 0);
  }
  assert.equal(set.size(), 10_000);
  set.clear();
  assert.equal(set.size(), 0);
  assert.equal(admit(range(10_000, 3), 2), 1, 'after a clear, all is new');
});
