import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePath, encodeVipRoute } from '../../src/bgp/pathCodec.ts';
import { formatUpDown } from '../../src/agent/Agent.ts';

test('IPv4 VIP encodes as /32 with origin IGP, next-hop, MED and local-pref, and decodes back', () => {
  const w = encodeVipRoute({ ip: '123.123.123.1', family: 4, med: 10, localPref: 5000 });
  assert.deepEqual(w.family, { afi: 'AFI_IP', safi: 'SAFI_UNICAST' });
  const types = (w.pattrs as { type_url: string }[]).map((a) => a.type_url.split('.').pop());
  assert.deepEqual(types, ['OriginAttribute', 'NextHopAttribute', 'MultiExitDiscAttribute', 'LocalPrefAttribute']);
  const d = decodePath({ ...w, best: true });
  assert.deepEqual(d, { prefix: '123.123.123.1', prefixLen: 32, family: 4, best: true, withdraw: false, nextHop: '0.0.0.0', med: 10, localPref: 5000 });
});

test('IPv6 VIP carries MP_REACH with an unspecified next-hop in the IPv6 family', () => {
  const w = encodeVipRoute({ ip: '2001:db8::10', family: 6 }, true);
  assert.deepEqual(w.family, { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' });
  assert.equal(w.is_withdraw, true);
  const d = decodePath(w)!;
  assert.equal(d.prefixLen, 128);
  assert.equal(d.nextHop, '::');
  assert.equal(d.withdraw, true);
  assert.equal(d.med, undefined);
});

test('decodePath ignores NLRI it does not understand and reads the neighbour', () => {
  assert.equal(decodePath({ nlri: { type_url: 'type.googleapis.com/apipb.Unknown', value: Buffer.alloc(0) } }), undefined);
  const w = encodeVipRoute({ ip: '1.1.1.1', family: 4 });
  assert.equal(decodePath({ ...w, neighbor_ip: '192.168.80.10' })!.neighborIp, '192.168.80.10');
  assert.equal(decodePath({ ...w, neighbor_ip: '<nil>' })!.neighborIp, undefined);
});

test('Up/Down is formatted like gobgp neigh', () => {
  assert.equal(formatUpDown(5), '00:00:05');
  assert.equal(formatUpDown(3723), '01:02:03');
  assert.equal(formatUpDown(90000), '1d 01:00:00');
});

test('learnedAttributesOnly skips the attributes of local paths, not of learned ones', () => {
  const w = encodeVipRoute({ ip: '1.1.1.1', family: 4, med: 10 });
  assert.deepEqual(decodePath({ ...w, neighbor_ip: '<nil>' }, { learnedAttributesOnly: true }), { prefix: '1.1.1.1', prefixLen: 32, family: 4, best: false, withdraw: false });
  const learned = decodePath({ ...w, neighbor_ip: '192.168.80.1' }, { learnedAttributesOnly: true })!;
  assert.equal(learned.nextHop, '0.0.0.0');
  assert.equal(learned.med, 10);
});
