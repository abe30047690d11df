// The FRR lab helper's config text: what the integration tests' router runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frrBfdConfig, frrBgpConfig } from '../lab/Frr.ts';

test('frrBgpConfig: neighbours in their own family, BFD through the lab profile, extras per neighbour', () => {
  const c = frrBgpConfig({
    routerId: '192.168.80.1',
    asn: 65101,
    neighbors: [
      { address: '192.168.80.10', remoteAs: 64512, bfd: true, extra: ['timers connect 1'] },
      { address: 'FD00:80::10', remoteAs: 64512 },
    ],
  });
  assert.match(c, /^router bgp 65101\n bgp router-id 192\.168\.80\.1\n/);
  assert.match(c, / timers bgp 3 9\n/);
  assert.match(c, / neighbor 192\.168\.80\.10 bfd\n neighbor 192\.168\.80\.10 bfd profile lab\n neighbor 192\.168\.80\.10 timers connect 1\n/);
  assert.doesNotMatch(c, /fd00:80::10 bfd/);
  assert.match(c, / address-family ipv4 unicast\n  neighbor 192\.168\.80\.10 activate\n exit-address-family/);
  assert.match(c, / address-family ipv6 unicast\n  neighbor fd00:80::10 activate\n exit-address-family/);
});

test('frr configs refuse what FRR would misread: bad addresses, numbers out of range, multi-line extras', () => {
  const base = { routerId: '192.168.80.1', asn: 65101, neighbors: [] };
  assert.throws(() => frrBgpConfig({ ...base, routerId: 'router' }), /routerId "router" is not an IP address/);
  assert.throws(() => frrBgpConfig({ ...base, asn: 0 }), /asn must be an integer/);
  assert.throws(() => frrBgpConfig({ ...base, neighbors: [{ address: '10.0.0.1', remoteAs: 1, extra: ['passive\nshutdown'] }] }), /one line/);
  assert.throws(() => frrBfdConfig({ minRxMs: 0 }), /bfd minRxMs must be an integer 1\.\.60000/);
  assert.match(frrBfdConfig({ minRxMs: 50, minTxMs: 60, multiplier: 5 }), / profile lab\n  detect-multiplier 5\n  receive-interval 50\n  transmit-interval 60\n/);
});
