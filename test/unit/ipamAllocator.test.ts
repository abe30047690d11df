import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  IpAllocator,
  IpamConfigError,
  type Allocation,
  type AllocationRequest,
  type IpamMode,
  type IpamResult,
  type PortProto,
} from '../../src/ipam/IpAllocator.ts';
import { parsePoolList, type PoolDef } from '../../src/ipam/poolSpec.ts';
import type { Family } from '../../src/ipam/ipRange.ts';

function pools(text: string, family: Family, unnamed = 'defaultPool'): PoolDef[] {
  const r = parsePoolList(text, family, (i) => (unnamed === 'defaultPool' ? unnamed : `${unnamed}${i}`));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.pools;
}

function ipam(opts: { v4?: string; v6?: string; sec?: string; mode?: IpamMode } = {}): IpAllocator {
  return new IpAllocator({
    v4Pools: pools(opts.v4 ?? 'defaultPool=10.0.0.0/24', 4),
    v6Pools: pools(opts.v6 ?? 'defaultPool=fd00::/64', 6),
    secondaryPools: opts.sec ? pools(opts.sec, 4, 'secondary') : [],
    mode: opts.mode ?? 'shared',
  });
}

const tcp = (...ports: number[]): PortProto[] => ports.map((port) => ({ port, protocol: 'tcp' }));

function ok(r: IpamResult): Allocation {
  assert.ok(r.ok, r.ok ? '' : `${r.error.code}: ${r.error.message}`);
  return r.allocation;
}

function vip(r: IpamResult, i = 0): string {
  return ok(r).vips[i]!.ip;
}

function req(serviceKey: string, ports: PortProto[], extra: Partial<AllocationRequest> = {}): AllocationRequest {
  return { serviceKey, ports, families: [4], ...extra };
}

test('shared mode: Services share an IP while their ports do not collide', () => {
  const a = ipam();
  assert.equal(vip(a.allocate(req('ns/a', tcp(80)))), '10.0.0.1');
  assert.equal(vip(a.allocate(req('ns/b', tcp(443)))), '10.0.0.1');
  assert.equal(vip(a.allocate(req('ns/c', [{ port: 80, protocol: 'UDP' }]))), '10.0.0.1', 'same port, other protocol');
  assert.equal(vip(a.allocate(req('ns/d', tcp(80)))), '10.0.0.2', 'port 80/tcp is taken on .1');
  assert.equal(vip(a.allocate(req('ns/e', tcp(8080)))), '10.0.0.1', 'the lowest address that fits');
});

test('shared mode counts every port of a Service, not only the first', () => {
  const a = ipam();
  assert.equal(vip(a.allocate(req('ns/a', tcp(80, 443)))), '10.0.0.1');
  // kube-loxilb registers only port 80 for ns/a and would put ns/b on .1 too.
  assert.equal(vip(a.allocate(req('ns/b', tcp(443)))), '10.0.0.2');
  assert.equal(vip(a.allocate(req('ns/c', tcp(22, 443)))), '10.0.0.3');
});

test('unique mode: one Service per IP', () => {
  const a = ipam({ mode: 'unique' });
  assert.equal(vip(a.allocate(req('ns/a', tcp(80)))), '10.0.0.1');
  assert.equal(vip(a.allocate(req('ns/b', tcp(443)))), '10.0.0.2');
  a.release('ns/a');
  assert.equal(vip(a.allocate(req('ns/c', tcp(22)))), '10.0.0.1', 'released addresses are reused, lowest first');
});

test('exhaustion is a typed result that leaves everything as it was', () => {
  const a = ipam({ v4: 'defaultPool=10.0.0.0/30', mode: 'unique' });
  ok(a.allocate(req('ns/a', tcp(80))));
  ok(a.allocate(req('ns/b', tcp(80))));
  const r = a.allocate(req('ns/c', tcp(80)));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.code, 'exhausted');
    assert.equal(r.error.pool, 'defaultPool');
    assert.match(r.error.message, /pool defaultPool \(IPv4\) is exhausted/);
  }
  assert.deepEqual(a.addressesInUse(), ['10.0.0.1', '10.0.0.2']);
  assert.equal(a.get('ns/c'), undefined);
  const shared = ipam({ v4: 'defaultPool=10.0.0.5/32' });
  ok(shared.allocate(req('ns/a', tcp(80))));
  ok(shared.allocate(req('ns/b', tcp(81))));
  const s = shared.allocate(req('ns/c', tcp(81)));
  assert.ok(!s.ok && s.error.code === 'exhausted' && /already carries one of the ports/.test(s.error.message));
});

test('named pools and unknown pool names', () => {
  const a = ipam({ v4: 'defaultPool=10.0.0.0/24,pool2=10.0.9.10-10.0.9.20' });
  assert.equal(vip(a.allocate(req('ns/a', tcp(80), { pool: 'pool2' }))), '10.0.9.10');
  const r = a.allocate(req('ns/b', tcp(80), { pool: 'nope' }));
  assert.ok(!r.ok && r.error.code === 'unknown-pool');
  if (!r.ok) assert.match(r.error.message, /no IPv4 pool named nope \(known: defaultPool, pool2\)/);
  assert.deepEqual(a.poolNames('v4'), ['defaultPool', 'pool2']);
});

test('static IPs: reserved inside a pool, allowed outside, conflicts reported', () => {
  const a = ipam({ mode: 'unique' });
  const s = ok(a.allocate(req('ns/a', tcp(80), { staticIPs: ['10.0.0.1'] })));
  assert.deepEqual(s.vips[0], { ip: '10.0.0.1', family: 4, pool: 'defaultPool', ports: tcp(80) });
  assert.equal(vip(a.allocate(req('ns/b', tcp(80)))), '10.0.0.2', 'the pool skips the reserved static IP');
  const out = ok(a.allocate(req('ns/c', tcp(80), { staticIPs: ['192.0.2.7'] })));
  assert.equal(out.vips[0]!.pool, undefined, 'outside every pool');
  const clash = a.allocate(req('ns/d', tcp(443), { staticIPs: ['192.0.2.7'] }));
  assert.ok(!clash.ok && clash.error.code === 'conflict' && clash.error.heldBy === 'ns/c');
  const shared = ipam();
  ok(shared.allocate(req('ns/a', tcp(80), { staticIPs: ['192.0.2.7'] })));
  ok(shared.allocate(req('ns/b', tcp(443), { staticIPs: ['192.0.2.7'] })));
  const c = shared.allocate(req('ns/c', tcp(443), { staticIPs: ['192.0.2.7'] }));
  assert.ok(!c.ok);
  if (!c.ok) assert.deepEqual([c.error.code, c.error.ip, c.error.port, c.error.protocol, c.error.heldBy], ['conflict', '192.0.2.7', 443, 'tcp', 'ns/b']);
  shared.release('ns/a');
  shared.release('ns/b');
  assert.deepEqual(shared.addressesInUse(), [], 'static IPs outside pools are released too');
});

test('dual-stack takes one VIP per family, all or nothing', () => {
  const a = ipam({ v6: 'defaultPool=fd00::1-fd00::1' });
  const d = ok(a.allocate(req('ns/a', tcp(80), { families: [4, 6] })));
  assert.deepEqual(d.vips.map((v) => [v.ip, v.family]), [['10.0.0.1', 4], ['fd00::1', 6]]);
  const six = ok(a.allocate(req('ns/b', tcp(443), { families: [6] })));
  assert.equal(six.vips[0]!.ip, 'fd00::1', 'shared in IPv6 too');
  const r = a.allocate(req('ns/c', tcp(80), { families: [4, 6] }));
  assert.ok(!r.ok && r.error.code === 'exhausted' && r.error.pool === 'defaultPool');
  assert.deepEqual(a.addressesInUse(), ['10.0.0.1', 'fd00::1'], 'the IPv4 address taken before the IPv6 failure went back');
});

test('IPv6 /64 pools allocate sequentially without enumerating', () => {
  const a = ipam({ v6: 'defaultPool=2001:db8::/64', mode: 'unique' });
  const got = Array.from({ length: 5 }, (_, i) => vip(a.allocate(req(`ns/s${i}`, tcp(80), { families: [6] }))));
  assert.deepEqual(got, ['2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8::4', '2001:db8::5']);
  a.release('ns/s1');
  assert.equal(vip(a.allocate(req('ns/x', tcp(80), { families: [6] }))), '2001:db8::2');
});

test('secondary IPs: by count, by pool name, explicit, and rolled back on failure', () => {
  const a = ipam({ sec: '124.124.124.1/24,125.125.125.1/24' });
  const sctp = [{ port: 38412, protocol: 'sctp' }];
  const byCount = ok(a.allocate(req('ns/a', sctp, { secondary: { count: 2 } })));
  assert.deepEqual(byCount.secondaryIPs.map((s) => [s.ip, s.pool]), [['124.124.124.1', 'secondary0'], ['125.125.125.1', 'secondary1']]);
  const byName = ok(a.allocate(req('ns/b', sctp, { secondary: { pools: ['secondary1', 'defaultPool'] } })));
  assert.equal(byName.vips[0]!.ip, '10.0.0.2', 'port 38412/sctp is taken on .1');
  assert.deepEqual(byName.secondaryIPs.map((s) => s.ip), ['125.125.125.2', '10.0.0.3'], 'never the same address twice for one Service');
  const explicit = ok(a.allocate(req('ns/c', sctp, { secondary: { ips: ['192.0.2.1', '192.0.2.2'] } })));
  assert.deepEqual(explicit.secondaryIPs.map((s) => [s.ip, s.pool]), [['192.0.2.1', undefined], ['192.0.2.2', undefined]]);
  const before = a.addressesInUse();
  const tooMany = a.allocate(req('ns/d', sctp, { secondary: { count: 3 } }));
  assert.ok(!tooMany.ok && /only 2 IPv4 secondary pool/.test(tooMany.error.message));
  const clash = a.allocate(req('ns/e', sctp, { secondary: { ips: ['198.51.100.1', '192.0.2.2'] } }));
  assert.ok(!clash.ok && clash.error.code === 'conflict' && clash.error.heldBy === 'ns/c');
  assert.deepEqual(a.addressesInUse(), before, 'failed requests leave no claim behind');
  const twice = a.allocate(req('ns/f', tcp(1), { staticIPs: ['192.0.2.9'], secondary: { ips: ['192.0.2.9'] } }));
  assert.ok(!twice.ok && /requested twice by ns\/f/.test(twice.error.message));
});

test('allocate is idempotent and keeps the VIP across port changes when it can', () => {
  const a = ipam();
  const first = ok(a.allocate(req('ns/a', tcp(80), { families: [4, 6] })));
  assert.deepEqual(ok(a.allocate(req('ns/a', tcp(80), { families: [4, 6] }))), first);
  ok(a.allocate(req('ns/b', tcp(443))));
  assert.equal(vip(a.allocate(req('ns/a', tcp(80, 8080)))), '10.0.0.1', 'a new port that fits keeps the address');
  assert.equal(vip(a.allocate(req('ns/a', tcp(80, 443)))), '10.0.0.2', '443 is ns/b\'s on .1, so ns/a must move');
  assert.deepEqual(a.addressesInUse(), ['10.0.0.1', '10.0.0.2'], 'the IPv6 VIP was released when the family was dropped');
  const failed = a.allocate(req('ns/a', tcp(443), { staticIPs: ['10.0.0.1'] }));
  assert.ok(!failed.ok && failed.error.code === 'conflict');
  assert.equal(a.get('ns/a')!.vips[0]!.ip, '10.0.0.2', 'a failed re-allocation keeps the old one');
});

test('restore rebuilds claims before new allocations and reports conflicts', () => {
  const a = ipam();
  ok(a.restore('ns/old', '10.0.0.1', tcp(80)));
  // Restoring twice (a duplicated status entry) is harmless.
  assert.deepEqual(ok(a.restore('ns/old', '10.0.0.1', tcp(80))).vips, [{ ip: '10.0.0.1', family: 4, pool: 'defaultPool', ports: tcp(80) }]);
  ok(a.restore('ns/other', '10.0.0.1', tcp(443)));
  const c = a.restore('ns/dup', '10.0.0.1', tcp(443));
  assert.ok(!c.ok && c.error.code === 'conflict' && c.error.heldBy === 'ns/other' && c.error.port === 443);
  assert.equal(a.get('ns/dup'), undefined);
  ok(a.restore('ns/out', '192.0.2.1', tcp(80)));
  assert.equal(a.get('ns/out')!.vips[0]!.pool, undefined);
  assert.equal(vip(a.allocate(req('ns/new', tcp(80)))), '10.0.0.2', 'the restored claim on 10.0.0.1:80 is respected');
  assert.equal(vip(a.allocate(req('ns/old', tcp(80)))), '10.0.0.1', 'a restored Service keeps its address');
  const u = ipam({ mode: 'unique' });
  ok(u.restore('ns/a', '10.0.0.1', tcp(80)));
  const uc = u.restore('ns/b', '10.0.0.1', tcp(443));
  assert.ok(!uc.ok && uc.error.code === 'conflict' && /unique IP mode/.test(uc.error.message));
  const bad = u.restore('ns/c', 'not-an-ip', tcp(80));
  assert.ok(!bad.ok && bad.error.code === 'invalid-request');
});

test('invalid requests and pool configurations', () => {
  const a = ipam();
  const cases: [Partial<AllocationRequest>, RegExp][] = [
    [{ families: [] }, /families/],
    [{ families: [4, 4] }, /families/],
    [{ staticIPs: ['fd00::1'] }, /static IP fd00::1 is IPv6/],
    [{ staticIPs: ['10.0.0.1', '10.0.0.2'] }, /more than one IPv4 static IP/],
    [{ ports: [{ port: 70000, protocol: 'tcp' }] }, /port 70000/],
    [{ ports: [{ port: 80, protocol: 'gre' }] }, /protocol "gre"/],
    [{ secondary: { ips: ['fd00::1'] } }, /must be IPv4/],
  ];
  for (const [extra, re] of cases) {
    const r = a.allocate(req('ns/x', tcp(80), extra));
    assert.ok(!r.ok && r.error.code === 'invalid-request' && re.test(r.error.message), JSON.stringify(extra));
  }
  assert.throws(() => ipam({ v4: 'defaultPool=10.0.0.0/24,p2=10.0.0.128/25' }), IpamConfigError);
  assert.throws(() => ipam({ sec: 'defaultPool=10.9.0.0/24' }), /pool name defaultPool is used twice/);
  assert.throws(() => new IpAllocator({ v4Pools: pools('defaultPool=fd00::/64', 6), v6Pools: [], secondaryPools: [], mode: 'shared' }), /expected IPv4/);
});

// ---- properties ----

type Op =
  | { kind: 'alloc'; svc: number; ports: PortProto[]; families: Family[]; pool: string; stat?: string; secondary: number }
  | { kind: 'release'; svc: number }
  | { kind: 'restart' };

const portArb = fc.record({ port: fc.integer({ min: 1, max: 6 }), protocol: fc.constantFrom('tcp', 'udp', 'sctp') });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('alloc' as const),
      svc: fc.integer({ min: 0, max: 9 }),
      ports: fc.array(portArb, { minLength: 1, maxLength: 4 }),
      families: fc.constantFrom<Family[]>([4], [6], [4, 6]),
      pool: fc.constantFrom('defaultPool', 'small'),
      stat: fc.option(fc.constantFrom('10.0.0.2', '10.0.0.3', '192.0.2.1', '10.1.0.1'), { nil: undefined }),
      secondary: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), svc: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

function propertyIpam(mode: IpamMode): IpAllocator {
  return new IpAllocator({
    // Small pools so sequences run into exhaustion and reuse.
    v4Pools: pools('defaultPool=10.0.0.0/29,small=10.1.0.1-10.1.0.2', 4),
    v6Pools: pools('defaultPool=fd00::/64,small=fd01::1-fd01::2', 6),
    secondaryPools: pools('172.16.0.1-172.16.0.3,172.16.1.1/32', 4, 'secondary'),
    mode,
  });
}

/** Every (ip, port, protocol) is held by at most one Service; in unique mode every IP is. */
function assertNoDoubleClaims(a: IpAllocator, mode: IpamMode): void {
  const owner = new Map<string, string>();
  const ipOwner = new Map<string, string>();
  for (const al of a.allocations()) {
    const mine = new Set<string>();
    for (const v of [...al.vips, ...al.secondaryIPs]) {
      assert.ok(!mine.has(v.ip), `${al.serviceKey} holds ${v.ip} twice`);
      mine.add(v.ip);
      if (mode === 'unique') {
        const o = ipOwner.get(v.ip);
        assert.ok(o === undefined, `${v.ip} held by ${o} and ${al.serviceKey} in unique mode`);
        ipOwner.set(v.ip, al.serviceKey);
      }
      for (const p of v.ports) {
        const k = `${v.ip}|${p.port}|${p.protocol}`;
        const o = owner.get(k);
        assert.ok(o === undefined, `${k} held by ${o} and ${al.serviceKey}`);
        owner.set(k, al.serviceKey);
      }
    }
  }
}

function portSet(ports: readonly PortProto[]): string[] {
  return [...new Set(ports.map((p) => `${p.port}/${p.protocol}`))].sort();
}

function runProperty(mode: IpamMode): void {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      let a = propertyIpam(mode);
      const lastRequest = new Map<string, AllocationRequest>();
      for (const op of ops) {
        if (op.kind === 'alloc') {
          const key = `ns/s${op.svc}`;
          const stat = op.stat && op.families.includes(4) ? [op.stat] : undefined;
          const r: AllocationRequest = { serviceKey: key, ports: op.ports, families: op.families, pool: op.pool, staticIPs: stat };
          if (op.secondary > 0) r.secondary = { count: op.secondary };
          const before = a.get(key);
          const res = a.allocate(r);
          if (res.ok) {
            lastRequest.set(key, r);
            const wanted = portSet(op.ports);
            for (const v of [...res.allocation.vips, ...res.allocation.secondaryIPs]) {
              assert.deepEqual(portSet(v.ports), wanted, `${v.ip} carries every port of ${key}`);
            }
          } else assert.deepEqual(a.get(key), before, 'a failed allocate changes nothing');
        } else if (op.kind === 'release') {
          a.release(`ns/s${op.svc}`);
          lastRequest.delete(`ns/s${op.svc}`);
        } else {
          const before = a.allocations();
          const snap = a.snapshot();
          a = propertyIpam(mode);
          for (const e of snap) ok(a.restore(e.serviceKey, e.ip, e.ports, { secondary: e.secondary }));
          assert.deepEqual(a.allocations(), before, 'restore changes no IP');
          for (const r of lastRequest.values()) {
            assert.deepEqual(ok(a.allocate(r)), before.find((b) => b.serviceKey === r.serviceKey), 're-allocating after restore keeps every address');
          }
        }
        assertNoDoubleClaims(a, mode);
      }
      for (const k of a.allocations().map((x) => x.serviceKey)) a.release(k);
      assert.deepEqual(a.addressesInUse(), [], 'no leak: everything released leaves nothing in use');
      for (const [kind, name] of [['v4', 'defaultPool'], ['v4', 'small'], ['v6', 'defaultPool'], ['secondary', 'secondary0']] as const) {
        assert.equal(a.poolUsage(kind, name), 0, `${kind} ${name} fully free`);
      }
      assert.equal(vip(a.allocate(req('ns/fresh', tcp(1)))), '10.0.0.1', 'the pool starts over from its first address');
    }),
    { numRuns: 300 },
  );
}

test('property: shared mode never double-claims, never leaks, restore is exact', () => runProperty('shared'));
test('property: unique mode never double-claims, never leaks, restore is exact', () => runProperty('unique'));
