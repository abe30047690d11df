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
  const { quotaFilter, certificateIps } = await import('../../src/sync/ConnSync.ts');
  const { CT_KEY_SIZE, CT_VAL_SIZE } = await import('../../src/datapath/layout.ts');
  const batch = (ids: number[]) => {
    const keys = Buffer.alloc(ids.length * CT_KEY_SIZE);
    const values = Buffer.alloc(ids.length * CT_VAL_SIZE);
    ids.forEach((id, i) => {
      keys.writeUInt32BE(id, i * CT_KEY_SIZE);
      values.writeUInt32BE(id, i * CT_VAL_SIZE);
    });
    return { keys, values, count: ids.length };
  };
  const held = new Set<string>();
  const a = batch([1, 2, 3]);
  const r1 = quotaFilter(a.keys, a.values, a.count, held, 4);
  assert.equal(r1.refused, 0);
  assert.equal(r1.keys, a.keys, 'nothing refused: the batch as it came, no copy');
  const b = batch([1, 4, 5, 6, 2]);
  const r2 = quotaFilter(b.keys, b.values, b.count, held, 4);
  assert.equal(r2.refused, 2, 'two new entries past the quota of 4');
  const ids = (buf: Buffer, size: number) => Array.from({ length: buf.length / size }, (_, i) => buf.readUInt32BE(i * size));
  assert.deepEqual(ids(r2.keys, CT_KEY_SIZE), [1, 4, 2], 'refreshes pass, the first new one fits');
  assert.deepEqual(ids(r2.values, CT_VAL_SIZE), [1, 4, 2], 'values stay with their keys');
  assert.deepEqual([...certificateIps('DNS:lb1, IP Address:192.168.80.11, IP Address:FD00:80::11')], ['192.168.80.11', 'fd00:80::11']);
  assert.equal(certificateIps(undefined).size, 0);
});
