import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalCidr, planKernelRoutes, wantedKernelRoutes } from '../../src/bgp/planKernelRoutes.ts';

test('learned best paths become routes; local, unspecified and on-link ones do not', () => {
  const w = wantedKernelRoutes(
    [
      { dst: '123.123.123.1/32', nextHop: '192.168.80.10', local: false },
      { dst: '123.123.123.2/32', nextHop: '0.0.0.0', local: false },
      { dst: '123.123.123.3/32', nextHop: '0.0.0.0', local: true },
      { dst: '192.168.80.200/32', nextHop: '192.168.80.10', local: false },
      { dst: '2001:db8::10/128', nextHop: 'fd00:80::10', local: false },
    ],
    ['192.168.80.101/24', 'fd00:80::101/64'],
  );
  assert.deepEqual([...w.values()], [
    { dst: '123.123.123.1/32', gateway: '192.168.80.10' },
    { dst: '2001:db8::10/128', gateway: 'fd00:80::10' },
  ]);
});

test('plan: replace missing or moved routes, delete stale ones, leave equal ones', () => {
  const wanted = new Map([
    ['1.1.1.1/32', { dst: '1.1.1.1/32', gateway: '10.0.0.1' }],
    ['2.2.2.2/32', { dst: '2.2.2.2/32', gateway: '10.0.0.2' }],
    ['3.3.3.3/32', { dst: '3.3.3.3/32', gateway: '10.0.0.3' }],
  ]);
  const kernel = new Map([
    ['1.1.1.1/32', { dst: '1.1.1.1/32', gateway: '10.0.0.1' }],
    ['2.2.2.2/32', { dst: '2.2.2.2/32', gateway: '10.0.0.9' }],
    ['9.9.9.9/32', { dst: '9.9.9.9/32', gateway: '10.0.0.9' }],
  ]);
  assert.deepEqual(planKernelRoutes(wanted, kernel), [
    { op: 'delete', route: { dst: '9.9.9.9/32', gateway: '10.0.0.9' } },
    { op: 'replace', route: { dst: '2.2.2.2/32', gateway: '10.0.0.2' } },
    { op: 'replace', route: { dst: '3.3.3.3/32', gateway: '10.0.0.3' } },
  ]);
});

test('canonicalCidr adds host lengths and normalises IPv6 spelling', () => {
  assert.equal(canonicalCidr('1.2.3.4'), '1.2.3.4/32');
  assert.equal(canonicalCidr('2001:DB8:0:0::1'), '2001:db8::1/128');
});
