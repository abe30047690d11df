import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickFields } from '../../src/util/caseInsensitive.ts';
import { formatIpValue, ipValue, isIpv4Mapped, normalizeIp, normalizePrefix } from '../../src/util/ipAddress.ts';

test('pickFields matches case-insensitively, exact case first, null as absent', () => {
  assert.deepEqual(pickFields({ FOO: 1, bar: 2, baz: 3 }, ['foo', 'Bar']), { foo: 1, Bar: 2 });
  assert.deepEqual(pickFields({ foo: 1, FOO: 2 }, ['foo']), { foo: 1 });
  assert.deepEqual(pickFields({ FOO: 2, foo: 1 }, ['foo']), { foo: 1 });
  assert.deepEqual(pickFields({ Foo: 1, FOO: 2 }, ['foo']), { foo: 2 });
  assert.deepEqual(pickFields({ foo: null }, ['foo']), {});
  assert.deepEqual(pickFields({ ['ho\u017ft']: 1 }, ['host']), { host: 1 });
  assert.deepEqual(pickFields(JSON.parse('{"__proto__": 1, "constructor": 2}'), ['foo']), {});
});

test('normalizeIp accepts only plain dotted quads and zone-less IPv6', () => {
  assert.equal(normalizeIp('10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(normalizeIp('::ffff:10.0.0.1'), '10.0.0.1');
  for (const bad of ['10.1', '010.0.0.1', '0x0a.0.0.1', ' 10.0.0.1', 'fe80::1%eth0', '', '10.0.0.1/32']) assert.equal(normalizeIp(bad), undefined, bad);
});

test('normalizePrefix clears host bits and accepts bare addresses', () => {
  assert.equal(normalizePrefix('10.1.2.3/8'), '10.0.0.0/8');
  assert.equal(normalizePrefix('10.1.2.3'), '10.1.2.3/32');
  assert.equal(normalizePrefix('2001:db8::7/64'), '2001:db8::/64');
  assert.equal(normalizePrefix('0.0.0.0/0'), '0.0.0.0/0');
  for (const bad of ['10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/', '/8', '10.0/8', 'x', '::/129']) assert.equal(normalizePrefix(bad), undefined, bad);
});

test('ipValue, formatIpValue and isIpv4Mapped share normalizeIp\'s rules', () => {
  assert.deepEqual(ipValue('10.0.0.1'), { family: 4, value: 0x0a000001n });
  assert.deepEqual(ipValue('::ffff:10.0.0.1'), { family: 4, value: 0x0a000001n });
  assert.deepEqual(ipValue('2001:db8::1'), { family: 6, value: (0x20010db8n << 96n) | 1n });
  for (const bad of ['010.0.0.1', '127.1', '0x7f.0.0.1', 'fe80::1%eth0', '', '1.2.3.4.5']) assert.equal(ipValue(bad), undefined, bad);
  assert.equal(formatIpValue(4, 0x0a000001n), '10.0.0.1');
  assert.equal(formatIpValue(6, (0x20010db8n << 96n) | 1n), '2001:db8::1');
  assert.equal(isIpv4Mapped('::ffff:1.2.3.4'), true);
  assert.equal(isIpv4Mapped('1.2.3.4'), false);
  assert.equal(isIpv4Mapped('2001:db8::1'), false);
});

test('setLogLevel changes the root logger and every child made before or after', async () => {
  const { createLogger, setLogLevel, currentLogLevel } = await import('../../src/util/logger.ts');
  const root = createLogger('info');
  const child = root.child({ part: 'x' });
  const grandchild = child.child({ part: 'y' });
  assert.equal(currentLogLevel(), 'info');
  assert.equal(setLogLevel('error'), true);
  for (const l of [root, child, grandchild]) assert.equal(l.level, 'error');
  assert.equal(root.child({ part: 'later' }).level, 'error');
  assert.equal(currentLogLevel(), 'error');
  assert.equal(setLogLevel('warning'), true);
  assert.equal(grandchild.level, 'warn', "loxilb's warning is pino's warn");
  assert.equal(setLogLevel('verbose'), false);
  assert.equal(setLogLevel('silent'), false, 'the API cannot silence the agent');
  assert.equal(currentLogLevel(), 'warning');
});
