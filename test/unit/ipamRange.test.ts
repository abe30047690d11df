import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalAddress, formatAddress, parseRange, rangeSize, type IpRange } from '../../src/ipam/ipRange.ts';
import { findOverlap, formatPoolList, parsePoolList } from '../../src/ipam/poolSpec.ts';

function range(text: string): IpRange {
  const r = parseRange(text);
  assert.ok(r.ok, `${text}: ${r.ok ? '' : r.reason}`);
  return r.range;
}

function bounds(text: string): [string, string] {
  const r = range(text);
  return [formatAddress(r.family, r.first), formatAddress(r.family, r.last)];
}

test('IPv4 CIDRs: written host part is the start, network and broadcast are skipped', () => {
  assert.deepEqual(bounds('123.123.123.1/24'), ['123.123.123.1', '123.123.123.254']);
  assert.deepEqual(bounds('123.123.123.0/24'), ['123.123.123.1', '123.123.123.254']);
  assert.deepEqual(bounds('192.168.80.200/24'), ['192.168.80.200', '192.168.80.254']);
  // Not a multiple of 8: loxilb would hand out .64 and .127; we do not.
  assert.deepEqual(bounds('10.0.0.64/26'), ['10.0.0.65', '10.0.0.126']);
  assert.deepEqual(bounds('10.0.0.0/30'), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(bounds('10.0.0.0/31'), ['10.0.0.0', '10.0.0.1']);
  assert.deepEqual(bounds('192.168.80.5/32'), ['192.168.80.5', '192.168.80.5']);
  assert.deepEqual(bounds('192.168.80.5'), ['192.168.80.5', '192.168.80.5']);
  assert.equal(rangeSize(range('10.0.0.0/24')), 254n);
});

test('ranges are inclusive and may span octets', () => {
  assert.deepEqual(bounds('10.0.0.250-10.0.1.3'), ['10.0.0.250', '10.0.1.3']);
  assert.equal(rangeSize(range('10.0.0.250-10.0.1.3')), 10n);
  assert.deepEqual(bounds(' 10.0.0.5 - 10.0.0.5 '), ['10.0.0.5', '10.0.0.5']);
  assert.deepEqual(bounds('fd00::10-fd00::1:0'), ['fd00::10', 'fd00::1:0']);
});

test('IPv6 CIDRs of any size, without enumerating them', () => {
  assert.deepEqual(bounds('3ffe:cafe::1/96'), ['3ffe:cafe::1', '3ffe:cafe::ffff:ffff']);
  assert.deepEqual(bounds('2001:db8:1::/64'), ['2001:db8:1::1', '2001:db8:1:0:ffff:ffff:ffff:ffff']);
  assert.equal(rangeSize(range('2001:db8::/32')), (1n << 96n) - 1n);
  assert.deepEqual(bounds('fd00::7/128'), ['fd00::7', 'fd00::7']);
});

test('bad entries say what is wrong', () => {
  const bad: [string, RegExp][] = [
    ['10.0.0.0/33', /prefix length that is not 0-32/],
    ['10.0.0.0/024', /prefix length/],
    ['010.0.0.1/24', /does not start with an IP address/],
    ['10.1/16', /does not start with an IP address/],
    ['10.0.0.255/24', /broadcast/],
    ['10.0.0.9-10.0.0.1', /ends before it starts/],
    ['10.0.0.1-fd00::1', /mixes IPv4 and IPv6/],
    ['0.0.0.0/32', /unspecified address/],
    ['fe80::1%eth0/64', /does not start with an IP address/],
    ['nonsense', /is not a CIDR/],
    ['', /empty/],
  ];
  for (const [text, re] of bad) {
    const r = parseRange(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.reason, re, text);
  }
});

test('canonical addresses', () => {
  assert.equal(canonicalAddress('3FFE:CAFE:0:0::1'), '3ffe:cafe::1');
  assert.equal(canonicalAddress('10.0.0.1'), '10.0.0.1');
  assert.equal(canonicalAddress('10.0.1'), undefined);
});

test('pool lists: names, repeated names, unnamed entries, family', () => {
  const r = parsePoolList('defaultPool=10.0.0.0/24, pool2=10.0.1.10-10.0.1.20,defaultPool=10.0.2.0/24', 4, () => 'x');
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(r.pools.map((p) => [p.name, p.ranges.map((x) => x.text)]), [
    ['defaultPool', ['10.0.0.0/24', '10.0.2.0/24']],
    ['pool2', ['10.0.1.10-10.0.1.20']],
  ]);
  assert.equal(formatPoolList(r.pools), 'defaultPool=10.0.0.0/24,defaultPool=10.0.2.0/24,pool2=10.0.1.10-10.0.1.20');
  const u = parsePoolList('124.124.124.1/24,125.125.125.1/24', 4, (i) => `secondary${i}`);
  assert.ok(u.ok);
  if (u.ok) assert.deepEqual(u.pools.map((p) => p.name), ['secondary0', 'secondary1']);
  const v6 = parsePoolList('defaultPool=10.0.0.0/24', 6, () => 'x');
  assert.equal(v6.ok, false);
  if (!v6.ok) assert.match(v6.reason, /IPv4, but this list takes IPv6 only/);
  const badName = parsePoolList('bad name=10.0.0.0/24', 4, () => 'x');
  assert.equal(badName.ok, false);
});

test('overlapping pools are found', () => {
  const a = parsePoolList('p1=10.0.0.0/24,p2=10.0.0.200-10.0.1.5', 4, () => 'x');
  assert.ok(a.ok);
  if (a.ok) assert.deepEqual(findOverlap(a.pools), { a: 'p1=10.0.0.0/24', b: 'p2=10.0.0.200-10.0.1.5' });
  const b = parsePoolList('p1=10.0.0.0/24,p2=10.0.1.0/24', 4, () => 'x');
  assert.ok(b.ok);
  if (b.ok) assert.equal(findOverlap(b.pools), undefined);
});

test('IPv4-mapped IPv6: an address is its IPv4 address (as the agents store it); a pool written that way is refused, naming it', () => {
  // A static IP or --setRoles address written as ::ffff:a.b.c.d is the dotted quad the agents will report.
  assert.equal(canonicalAddress('::ffff:10.0.0.5'), '10.0.0.5');
  assert.equal(canonicalAddress('::FFFF:a00:5'), '10.0.0.5');
  for (const pool of ['::ffff:10.0.0.0/120', '::ffff:10.0.0.1-::ffff:10.0.0.9', '::ffff:10.0.0.1']) {
    const r = parseRange(pool);
    assert.equal(r.ok, false, pool);
    assert.match(r.ok ? '' : r.reason, /IPv4-mapped IPv6 address .*agents store it as IPv4; write the pool in IPv4/, pool);
  }
  // Other IPv6 pools, and a range that merely ends in :ffff, are fine.
  assert.deepEqual(bounds('3ffe:cafe::ffff:0/120'), ['3ffe:cafe::ffff:1', '3ffe:cafe::ffff:ff']);
  // The strict rules hold: no inet_aton forms, no zone ids.
  assert.equal(canonicalAddress('010.0.0.1'), undefined);
  assert.equal(canonicalAddress('127.1'), undefined);
  assert.equal(canonicalAddress('fe80::1%eth0'), undefined);
});
