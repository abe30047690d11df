// PeerRevival: which ended BGP sessions are made anew (gobgpd would hold them Idle 5 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerRevival, REVIVE_MIN_UP_MS } from '../../src/bgp/PeerRevival.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeClock } from '../lab/FakeClock.ts';

function setup() {
  const clock = new FakeClock();
  const revived: string[] = [];
  const r = new PeerRevival(clock, (a) => revived.push(a), silentLogger);
  const ev = (address: string, sessionState: string, adminState = 'UP') => r.onPeer({ address, sessionState, adminState });
  return { clock, revived, r, ev };
}

test('an Established session that ends in Idle, admin-up, after REVIVE_MIN_UP_MS up is revived once', async () => {
  const { clock, revived, ev } = setup();
  ev('192.168.80.1', 'ACTIVE');
  ev('192.168.80.1', 'ESTABLISHED');
  await clock.advance(REVIVE_MIN_UP_MS);
  ev('192.168.80.1', 'ESTABLISHED'); // a repeat does not restart the up time
  ev('192.168.80.1', 'IDLE');
  assert.deepEqual(revived, ['192.168.80.1']);
  ev('192.168.80.1', 'IDLE');
  ev('192.168.80.1', 'ACTIVE');
  assert.deepEqual(revived, ['192.168.80.1'], 'only the end of an Established session counts');
});

test('a session up for less than REVIVE_MIN_UP_MS keeps gobgpd\'s hold (a router that drops it at once is not redialled faster)', async () => {
  const { clock, revived, ev } = setup();
  ev('10.0.0.1', 'ESTABLISHED');
  await clock.advance(REVIVE_MIN_UP_MS - 1);
  ev('10.0.0.1', 'IDLE');
  assert.deepEqual(revived, []);
  // The next session, up long enough, is revived.
  ev('10.0.0.1', 'ESTABLISHED');
  await clock.advance(REVIVE_MIN_UP_MS);
  ev('10.0.0.1', 'IDLE');
  assert.deepEqual(revived, ['10.0.0.1']);
});

test('admin-down (ours: BFD Down, a drain) and a max-prefix shutdown are not undone; peers are told apart', async () => {
  const { clock, revived, ev } = setup();
  ev('10.0.0.1', 'ESTABLISHED');
  ev('10.0.0.2', 'ESTABLISHED');
  ev('fd00::1', 'ESTABLISHED');
  await clock.advance(60_000);
  ev('10.0.0.1', 'IDLE', 'DOWN');
  ev('10.0.0.2', 'IDLE', 'PFX_CT');
  assert.deepEqual(revived, []);
  ev('fd00::1', 'IDLE');
  assert.deepEqual(revived, ['fd00::1']);
});

test('after a reset (the watch or gobgpd went away) nothing counts as Established until the watch says so again', async () => {
  const { clock, revived, r, ev } = setup();
  ev('10.0.0.1', 'ESTABLISHED');
  await clock.advance(60_000);
  r.reset();
  ev('10.0.0.1', 'IDLE');
  assert.deepEqual(revived, []);
});
