// Start order of BFD with a BGP neighbour (issue 15 §1b): the session is held
// AdminDown until gobgpd says the BGP session is first Established, so a
// router that re-keys its BFD session when BGP comes up (FRR) never sees it
// go Down under a fresh session; a router that waits for BFD first gets it
// after maxHoldMs anyway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeighborBfdGate, NEIGHBOR_BFD_MAX_HOLD_MS } from '../../src/bgp/NeighborBfdGate.ts';
import { ManualClock } from '../../src/util/clock.ts';

function gate(maxHoldMs?: number) {
  const clock = new ManualClock();
  const released: [string, number][] = [];
  const g = new NeighborBfdGate({ release: (a) => released.push([a, clock.now()]), clock, ...(maxHoldMs === undefined ? {} : { maxHoldMs }) });
  return { clock, released, g };
}

test('NeighborBfdGate: a held session is released when its BGP session is first Established, not before', () => {
  const { clock, released, g } = gate();
  assert.equal(g.shouldHold('192.168.80.1'), true);
  g.hold('192.168.80.1');
  g.hold('fd00:80::1');
  clock.advance(3000);
  g.bgpState('192.168.80.1', false);
  g.bgpState('10.9.9.9', true); // another neighbour: nothing of ours
  assert.deepEqual(released, []);
  assert.equal(g.isHeld('192.168.80.1'), true);
  g.bgpState('192.168.80.1', true);
  assert.deepEqual(released, [['192.168.80.1', 3000]]);
  assert.equal(g.isHeld('192.168.80.1'), false);
  assert.equal(g.isHeld('fd00:80::1'), true, 'each neighbour on its own');
  // Later flaps of BGP do not hold BFD again: BFD Down/Up drives BGP from then on.
  g.bgpState('192.168.80.1', false);
  g.bgpState('192.168.80.1', true);
  assert.equal(released.length, 1);
  assert.deepEqual(g.releases, { established: 1, timeout: 0 });
});

test('NeighborBfdGate: BGP already Established when the session starts: no hold (and one that raced in is released at once)', () => {
  const { released, g } = gate();
  g.bgpState('192.168.80.1', true);
  assert.equal(g.shouldHold('192.168.80.1'), false);
  // The session was started held, and Established arrived before hold() was called.
  g.hold('192.168.80.1');
  assert.deepEqual(released.map(([a]) => a), ['192.168.80.1']);
  assert.equal(g.isHeld('192.168.80.1'), false);
});

test('NeighborBfdGate: a router that wants BFD Up before BGP (no Established) gets it after maxHoldMs, so neither side waits forever', () => {
  const { clock, released, g } = gate();
  g.hold('192.168.80.1');
  clock.advance(NEIGHBOR_BFD_MAX_HOLD_MS - 1);
  assert.deepEqual(released, []);
  clock.advance(1);
  assert.deepEqual(released, [['192.168.80.1', NEIGHBOR_BFD_MAX_HOLD_MS]]);
  assert.deepEqual(g.releases, { established: 0, timeout: 1 });
  g.bgpState('192.168.80.1', true);
  assert.equal(released.length, 1, 'released once');
});

test('NeighborBfdGate: gobgpd gone keeps sessions held and forgets Established; a deleted session is never released', () => {
  const { clock, released, g } = gate(5000);
  g.bgpState('192.168.80.1', true);
  g.bgpReset();
  assert.equal(g.shouldHold('192.168.80.1'), true, 'after a gobgpd restart nothing is Established until it says so');
  g.hold('192.168.80.1');
  g.hold('192.168.80.2');
  g.bgpReset();
  assert.equal(g.isHeld('192.168.80.1'), true);
  g.forget('192.168.80.2');
  clock.advance(5000);
  assert.deepEqual(released.map(([a]) => a), ['192.168.80.1']);
  g.hold('192.168.80.3');
  g.close();
  clock.advance(10_000);
  assert.equal(released.length, 1, 'close() drops every pending release');
});

test('NeighborBfdGate: a release that throws is logged, not thrown into the peer watch', () => {
  const clock = new ManualClock();
  const warned: string[] = [];
  const logger = { info() {}, warn: (_o: unknown, msg: string) => warned.push(msg) } as never;
  const g = new NeighborBfdGate({ release: () => { throw new Error('no such session'); }, clock, logger });
  g.hold('192.168.80.1');
  assert.doesNotThrow(() => g.bgpState('192.168.80.1', true));
  assert.ok(warned.some((m) => /cannot release/.test(m)), warned.join('; '));
  assert.throws(() => new NeighborBfdGate({ release() {}, maxHoldMs: -1 }), /maxHoldMs/);
});
