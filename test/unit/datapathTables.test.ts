// The datapath's vips map (VipsMap) and connection-table flush
// (ConnectionTable) against a fake native side: which map writes they make.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VipsMap, type VipsMapNative } from '../../src/datapath/VipsMap.ts';
import { ConnectionTable, type ConnectionTableNative } from '../../src/datapath/ConnectionTable.ts';
import { CT_KEY_SIZE, VIP_KEY_SIZE, decodeAddr, encodeCt, encodeLbKey, type ServiceKey } from '../../src/datapath/layout.ts';

/** A vips map holding at most `room` entries, as the kernel would refuse more. */
class FakeVips implements VipsMapNative {
  readonly held = new Set<string>();
  batches = 0;
  constructor(private readonly room = Infinity) {}
  private put(k: Buffer): void {
    const v = decodeAddr(k, 0, k[16]!);
    if (!this.held.has(v) && this.held.size >= this.room) throw Object.assign(new Error('map full'), { code: 'E2BIG' });
    this.held.add(v);
  }
  mapUpdate(_map: string, key: Buffer): void {
    this.put(key);
  }
  mapUpdateBatch(_map: string, keys: Buffer): number {
    this.batches++;
    const n = keys.length / VIP_KEY_SIZE;
    if (this.held.size + n > this.room) throw new Error('map full');
    for (let i = 0; i < n; i++) this.put(keys.subarray(i * VIP_KEY_SIZE, (i + 1) * VIP_KEY_SIZE));
    return n;
  }
  mapDelete(_map: string, key: Buffer): boolean {
    return this.held.delete(decodeAddr(key, 0, key[16]!));
  }
}

const quietLog = () => {
  const warned: string[] = [];
  return { warned, log: { warn: (_o: unknown, m?: string) => void warned.push(m ?? ''), info: () => {} } };
};

test('a VIP is in the vips map while at least one rule serves it, written in one batch per pass', () => {
  const dp = new FakeVips();
  const vips = new VipsMap(dp, quietLog().log);
  const touched = new Set<string>();
  vips.ref('20.0.0.1', touched);
  vips.ref('20.0.0.1', touched);
  vips.ref('2001:db8::1', touched);
  vips.sync(touched);
  assert.deepEqual([...dp.held].sort(), ['20.0.0.1', '2001:db8::1']);
  assert.equal(dp.batches, 1);
  const t2 = new Set<string>();
  vips.unref('20.0.0.1', t2);
  vips.sync(t2);
  assert.ok(dp.held.has('20.0.0.1'), 'another rule still serves it');
  const t3 = new Set<string>();
  vips.unref('20.0.0.1', t3);
  vips.unref('2001:db8::1', t3);
  vips.sync(t3);
  assert.deepEqual([...dp.held], []);
});

test('a full vips map costs only ping: the VIPs that fit go in one by one, the rest are reported once', () => {
  const dp = new FakeVips(2);
  const { warned, log } = quietLog();
  const vips = new VipsMap(dp, log);
  const touched = new Set<string>();
  for (const v of ['20.0.0.1', '20.0.0.2', '20.0.0.3']) vips.ref(v, touched);
  vips.sync(touched);
  assert.equal(dp.held.size, 2);
  assert.deepEqual(warned, ['the vips map is full: these VIPs do not answer ping']);
  vips.sync(new Set());
  assert.equal(warned.length, 1, 'not reported again while nothing changed');
});

const SVC: ServiceKey = { vip: '20.0.0.1', port: 80, proto: 'tcp' };
const OTHER: ServiceKey = { vip: '20.0.0.2', port: 80, proto: 'tcp' };

/** A connection of `svc`, both directions, to endpoint `ep` (address:port). */
function conn(client: string, svc: ServiceKey, ep: string): { key: Buffer; value: Buffer }[] {
  const [addr, port] = [ep.slice(0, ep.lastIndexOf(':')), Number(ep.slice(ep.lastIndexOf(':') + 1))];
  const base = { proto: 'tcp' as const, svc, ruleId: 1, state: 2, epIdx: 0, flags: 0, timeoutS: 240 };
  return [
    encodeCt({ ...base, saddr: client, daddr: svc.vip, sport: 40000, dport: svc.port, xsaddr: client, xdaddr: addr, xsport: 40000, xdport: port, dir: 0 }),
    encodeCt({ ...base, saddr: addr, daddr: client, sport: port, dport: 40000, xsaddr: svc.vip, xdaddr: client, xsport: svc.port, xdport: 40000, dir: 1 }),
  ];
}

class FakeCt implements ConnectionTableNative {
  deleted: string[] = [];
  constructor(private readonly entries: { key: Buffer; value: Buffer }[]) {}
  mapDump() {
    return { keys: Buffer.concat(this.entries.map((e) => e.key)), values: Buffer.concat(this.entries.map((e) => e.value)), count: this.entries.length };
  }
  mapDeleteBatch(_map: string, keys: Buffer): number {
    for (let i = 0; i < keys.length / CT_KEY_SIZE; i++) this.deleted.push(decodeAddr(keys, i * CT_KEY_SIZE, 4));
    return keys.length / CT_KEY_SIZE;
  }
  ctSweep() {
    return { scanned: 0, count: 0 };
  }
  ctCount() {
    return this.entries.length;
  }
  ctInstall() {
    return { installed: 0, unknownService: 0, rejected: 0 };
  }
}

test('flush: a removed service loses every connection; a changed one only those to endpoints it no longer has, both directions', () => {
  const dp = new FakeCt([...conn('10.0.0.1', SVC, '192.168.1.1:8080'), ...conn('10.0.0.2', SVC, '192.168.1.2:8080'), ...conn('10.0.0.3', OTHER, '192.168.1.3:8080')]);
  const table = new ConnectionTable(dp, quietLog().log);
  table.flush(new Map([[encodeLbKey(SVC).toString('hex'), new Set(['192.168.1.1:8080'])]]));
  // By source address of the deleted keys: the client's original entry and the endpoint's reply entry.
  assert.deepEqual(dp.deleted, ['10.0.0.2', '192.168.1.2']);
  dp.deleted = [];
  table.flush(new Map([[encodeLbKey(OTHER).toString('hex'), undefined]]));
  assert.deepEqual(dp.deleted, ['10.0.0.3', '192.168.1.3']);
  dp.deleted = [];
  table.flush(new Map([[encodeLbKey({ ...SVC, port: 81 }).toString('hex'), undefined]]));
  assert.deepEqual(dp.deleted, [], 'no connection of that service: nothing deleted');
});
