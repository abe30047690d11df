import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBgpGlobal, parseBgpNeighbor } from '../../src/bgp/validateBgpConfig.ts';
import { ValidationError } from '../../src/util/errors.ts';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.field;
  }
  return undefined;
}

test('global: defaults, 4-byte AS, both spellings of SetNextHopSelf', () => {
  assert.deepEqual(parseBgpGlobal({ routerId: '10.0.0.1', localAs: 65001 }), { routerId: '10.0.0.1', localAs: 65001, listenPort: 0, setNextHopSelf: false });
  assert.deepEqual(parseBgpGlobal({ routerId: '10.0.0.1', localAs: 4200000000, listenPort: 1179, SetNextHopSelf: true }), {
    routerId: '10.0.0.1', localAs: 4200000000, listenPort: 1179, setNextHopSelf: true,
  });
  assert.equal(parseBgpGlobal({ routerID: '10.0.0.1', LocalAS: 1, setNextHopSelf: true }).setNextHopSelf, true);
});

test('global: each bad field is named', () => {
  assert.equal(fieldOf(() => parseBgpGlobal({ localAs: 1 })), 'routerId');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '2001:db8::1', localAs: 1 })), 'routerId');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '10.1', localAs: 1 })), 'routerId');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '10.0.0.1' })), 'localAs');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '10.0.0.1', localAs: 0 })), 'localAs');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '10.0.0.1', localAs: 4294967296 })), 'localAs');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '10.0.0.1', localAs: '65001' })), 'localAs');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '10.0.0.1', localAs: 1, listenPort: 65536 })), 'listenPort');
  assert.equal(fieldOf(() => parseBgpGlobal({ routerId: '10.0.0.1', localAs: 1, SetNextHopSelf: 'true' })), 'SetNextHopSelf');
  assert.equal(fieldOf(() => parseBgpGlobal('x')), 'body');
});

test('neighbor: IPv4 and IPv6, defaults', () => {
  assert.deepEqual(parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 65002 }), { ipAddress: '10.0.0.2', remoteAs: 65002, remotePort: 0, setMultiHop: false });
  assert.deepEqual(parseBgpNeighbor({ IPAddress: 'FD00::2', RemoteAS: 4200000001, remotePort: 1179, setmultihop: true }), {
    ipAddress: 'fd00::2', remoteAs: 4200000001, remotePort: 1179, setMultiHop: true,
  });
});

test('neighbor: bfd as true (100 ms x 3) or with its own timers', () => {
  assert.deepEqual(parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, bfd: true }).bfd, { intervalUs: 100000, multiplier: 3 });
  assert.deepEqual(parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, bfd: { interval: 50000, retryCount: 4 } }).bfd, { intervalUs: 50000, multiplier: 4 });
  assert.equal(parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, bfd: false }).bfd, undefined);
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, bfd: 'yes' })), 'bfd');
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, bfd: { interval: 5000 } })), 'bfd.interval');
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, bfd: { retryCount: 0 } })), 'bfd.retryCount');
});

test('neighbor: each bad field is named', () => {
  assert.equal(fieldOf(() => parseBgpNeighbor({ remoteAs: 1 })), 'ipAddress');
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: 'peer1', remoteAs: 1 })), 'ipAddress');
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: '10.0.0.2' })), 'remoteAs');
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: -1 })), 'remoteAs');
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, remotePort: 1.5 })), 'remotePort');
  assert.equal(fieldOf(() => parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 1, setMultiHop: 1 })), 'setMultiHop');
});
