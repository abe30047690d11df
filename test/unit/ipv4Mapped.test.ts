// One rule for IPv4-mapped IPv6 (util/ipAddress): ::ffff:a.b.c.d is the IPv4
// address a.b.c.d, as Go's net.ParseIP(...).To4() (and so loxilb) and a
// dual-stack socket see it, and ::ffff:a.b.c.d/96+n is the IPv4 prefix
// a.b.c.d/n, as Go's IPNet matches it. Each case below disagreed before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPort, ipFamily, normalizePrefix, prefixFamily } from '../../src/util/ipAddress.ts';
import { encodeLbKey, encodeLbRule, familyOfAddr } from '../../src/datapath/layout.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';
import { peerSpec } from '../../src/bgp/planBgpConfig.ts';
import { resolveBfdTransportOptions } from '../../src/bfd/transportOptions.ts';
import { sctpAddressParams } from '../../src/lb/sctp.ts';

const timers = { connectRetry: 5, holdTime: 90, keepalive: 30 };

test('an address: IPv4-mapped is IPv4; a prefix reported with its length keeps the family the length counts', () => {
  assert.equal(ipFamily('::ffff:1.2.3.4'), 4);
  assert.equal(ipFamily('::FFFF:0102:0304'), 4);
  assert.equal(ipFamily('2001:db8::1'), 6);
  assert.equal(prefixFamily('::ffff:1.2.3.4'), 6, 'an NLRI or kernel address/128 in that form is an IPv6 one');
  assert.equal(prefixFamily('1.2.3.4'), 4);
  assert.equal(prefixFamily('nonsense'), undefined);
  assert.equal(hostPort('2001:db8::1', 80), '[2001:db8::1]:80');
  assert.equal(hostPort('10.0.0.1', 80), '10.0.0.1:80');
});

test('a prefix in the mapped range is the IPv4 prefix; a shorter one stays IPv6', () => {
  assert.equal(normalizePrefix('::ffff:10.1.2.3/104'), '10.0.0.0/8');
  assert.equal(normalizePrefix('::ffff:1.2.3.4/128'), '1.2.3.4/32');
  assert.equal(normalizePrefix('::ffff:1.2.3.4'), '1.2.3.4/32');
  assert.equal(normalizePrefix('::ffff:0.0.0.0/96'), '0.0.0.0/0');
  assert.equal(normalizePrefix('::ffff:0:0/95'), '::fffe:0:0/95');
});

test('an allowed source written in mapped form filters IPv4 clients of an IPv4 VIP', () => {
  const rule = parseLbRule({
    serviceArguments: { externalIP: '123.123.123.1', port: 80, protocol: 'tcp' },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
    allowedSources: [{ prefix: '::ffff:192.168.0.0/112' }],
  });
  // Before, it stayed ::ffff:c0a8:0/112: counted as IPv4 for the VIP, written into the datapath as an IPv6 source.
  assert.deepEqual(rule.allowedSources, [{ prefix: '192.168.0.0/16' }]);
});

test('the datapath writes a mapped address as the IPv4 one it is', () => {
  assert.equal(familyOfAddr('::ffff:20.20.20.1'), 4);
  assert.deepEqual(encodeLbKey({ vip: '::ffff:20.20.20.1', port: 80, proto: 'tcp' }), encodeLbKey({ vip: '20.20.20.1', port: 80, proto: 'tcp' }));
  const rule = (addr: string) =>
    encodeLbRule({ id: 1, sel: 0, mode: 0, snatAddr: '', timeoutS: 1, persistS: 1, endpoints: [{ addr, port: 8080, weight: 1, alive: true }], sources: [], vips: [] });
  assert.deepEqual(rule('::ffff:10.0.0.1'), rule('10.0.0.1'));
});

test('a BGP neighbour written in mapped form is the IPv4 peer, with an IPv4 session', () => {
  const p = peerSpec({ ipAddress: '::ffff:10.0.0.254', remoteAs: 65001, remotePort: 0, setMultiHop: false }, timers);
  assert.equal(p.address, '10.0.0.254');
  assert.deepEqual(p.families, [4], 'before: address 10.0.0.254 but IPv6 unicast only, so no IPv4 VIP went out');
});

test('BFD transport: a mapped address is an IPv4 one, not an IPv6 listen address', () => {
  assert.equal(resolveBfdTransportOptions({ ipv4Address: '::ffff:127.0.0.1', ipv6Address: null }).ipv4Address, '::ffff:127.0.0.1');
  assert.throws(() => resolveBfdTransportOptions({ ipv4Address: null, ipv6Address: '::ffff:127.0.0.1' }), /invalid ipv6Address: an IPv6 address/);
  assert.equal(resolveBfdTransportOptions({ ipv4Address: null, ipv6Address: '::1' }).ipv6Address, '::1');
});

test('SCTP lists a mapped address as an IPv4 Address parameter', () => {
  assert.deepEqual(sctpAddressParams(['::ffff:10.0.0.1', '2001:db8::1']), [
    { type: 'IPV4_ADDRESS', address: '10.0.0.1' },
    { type: 'IPV6_ADDRESS', address: '2001:db8::1' },
  ]);
});
