import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKaSpec } from '../../src/ha/KaSpec.ts';

test('--ka: loxilb\'s IPv4 form, with interval and multiplier honoured', () => {
  assert.deepEqual(parseKaSpec('192.168.80.11:192.168.80.10'), { remoteIp: '192.168.80.11', sourceIp: '192.168.80.10', intervalUs: 100000, multiplier: 3 });
  assert.deepEqual(parseKaSpec('192.168.80.11:0.0.0.0:50000:5'), { remoteIp: '192.168.80.11', sourceIp: undefined, intervalUs: 50000, multiplier: 5 });
  assert.deepEqual(parseKaSpec('192.168.80.11'), { remoteIp: '192.168.80.11', sourceIp: undefined, intervalUs: 100000, multiplier: 3 });
});

test('--ka: IPv6 addresses in brackets, canonicalised', () => {
  assert.deepEqual(parseKaSpec('[FD00:80::11]:[fd00:80:0::10]:10000:3'), { remoteIp: 'fd00:80::11', sourceIp: 'fd00:80::10', intervalUs: 10000, multiplier: 3 });
  assert.deepEqual(parseKaSpec('[fd00::2]'), { remoteIp: 'fd00::2', sourceIp: undefined, intervalUs: 100000, multiplier: 3 });
});

test('--ka: every bad part is named', () => {
  const bad: [string, RegExp][] = [
    ['', /RemoteIP/],
    ['fd00::2:fd00::1', /RemoteIP/],
    ['[fd00::2', /expected/],
    ['10.0.0.2:[fd00::1]', /same address family/],
    ['10.0.0.2:banana', /SourceIP/],
    ['10.0.0.2:10.0.0.1:9999', /IntervalUs must be an integer of at least 10000/],
    ['10.0.0.2:10.0.0.1:1e5', /IntervalUs/],
    ['10.0.0.2:10.0.0.1:100000:0', /Multiplier must be an integer from 1 to 255/],
    ['10.0.0.2:10.0.0.1:100000:3:9', /expected/],
    ['0.0.0.0', /RemoteIP/],
  ];
  for (const [v, re] of bad) assert.throws(() => parseKaSpec(v), re, v);
});
