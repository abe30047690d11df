// The one clock's helpers (repeatEvery, sleepOn, withTimeout) and the test
// clocks the other unit tests lean on: if FakeClock ran timers out of order or
// did not let promise chains settle between them, those tests would prove
// little.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, repeatEvery, sleepOn, systemClock, withTimeout } from '../../src/util/clock.ts';
import { FakeClock, eventually, turn } from '../lab/FakeClock.ts';

test('systemClock: monotonic now, wall-clock epochMs, timers that fire', async () => {
  const a = systemClock.now();
  assert.ok(systemClock.now() >= a);
  assert.ok(Math.abs(systemClock.epochMs() - Date.now()) < 1000);
  const fired = await new Promise<boolean>((resolve) => {
    systemClock.setTimer(() => resolve(true), 0);
  });
  assert.equal(fired, true);
  let cleared = false;
  const h = systemClock.setTimer(() => (cleared = true), 0);
  systemClock.clearTimer(h);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(cleared, false);
});

test('ManualClock: epochMs follows now from a fixed wall time', () => {
  const c = new ManualClock(0, Date.UTC(2030, 0, 1));
  c.advance(1500);
  assert.equal(c.now(), 1500);
  assert.equal(c.epochMs(), Date.UTC(2030, 0, 1) + 1500);
});

test('repeatEvery: every period after the previous run, on after a throw, nothing after stop', async () => {
  const clock = new FakeClock();
  const runs: number[] = [];
  const r = repeatEvery(clock, 100, () => {
    runs.push(clock.now());
    if (runs.length === 2) throw new Error('one bad run');
  });
  // The throw reaches whoever fired the timer (here advance(), at 200); the next run is armed already.
  await assert.rejects(clock.advance(250), /one bad run/);
  assert.equal(clock.now(), 200);
  await clock.advanceTo(300);
  assert.deepEqual(runs, [100, 200, 300]);
  r.stop();
  assert.equal(clock.pending, 0);
  await clock.advance(1000);
  assert.deepEqual(runs, [100, 200, 300]);
});

test('sleepOn resolves after the delay, or at once when aborted; withTimeout rejects only past the deadline', async () => {
  const clock = new FakeClock();
  let slept = false;
  void sleepOn(clock, 50).then(() => (slept = true));
  await clock.advance(49);
  assert.equal(slept, false);
  await clock.advance(1);
  assert.equal(slept, true);

  const ac = new AbortController();
  let woke = false;
  void sleepOn(clock, 10_000, ac.signal).then(() => (woke = true));
  ac.abort();
  await clock.settle();
  assert.equal(woke, true);
  assert.equal(clock.pending, 0, 'the aborted sleep left no timer');

  assert.equal(await withTimeout(clock, Promise.resolve(7), 10, () => new Error('late')), 7);
  assert.equal(clock.pending, 0, 'a settled race clears its timer');
  const never = new Promise<number>(() => {});
  const t0 = clock.now();
  await assert.rejects(clock.until(withTimeout(clock, never, 30, () => new Error('late'))), /late/);
  assert.equal(clock.now() - t0, 30);
});

test('FakeClock: timers in due then creation order, each at its due time, promises settled between them', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  clock.setTimer(() => seen.push(`b@${clock.now()}`), 20);
  clock.setTimer(() => seen.push(`a@${clock.now()}`), 10);
  clock.setTimer(() => seen.push(`c@${clock.now()}`), 20);
  // A chain started by a timer runs before the next timer: it arms one within the window.
  clock.setTimer(() => {
    void Promise.resolve()
      .then(() => turn())
      .then(() => clock.setTimer(() => seen.push(`chained@${clock.now()}`), 5));
  }, 12);
  await clock.advance(30);
  assert.deepEqual(seen, ['a@10', 'chained@17', 'b@20', 'c@20']);
  assert.equal(clock.now(), 30);
  assert.equal(clock.epochMs(), Date.UTC(2025, 0, 1) + 30);
});

test('FakeClock.runUntil answers the time taken and refuses to wait for nothing', async () => {
  const clock = new FakeClock();
  let done = false;
  clock.setTimer(() => (done = true), 250);
  assert.equal(await clock.runUntil(() => done), 250);
  await assert.rejects(clock.runUntil(() => false, { what: 'a miracle' }), /no timer pending .* no a miracle/);
  clock.setTimer(() => {}, 10_000);
  await assert.rejects(clock.runUntil(() => false, { maxMs: 1000, what: 'it' }), /no it within 1000 ms/);
});

test('FakeClock idle hook: no timer fires while the code under test still waits for I/O', async () => {
  const clock = new FakeClock();
  let inFlight: Promise<void> | undefined;
  const events: string[] = [];
  clock.setTimer(() => {
    events.push('request');
    // A request that takes longer than the turns FakeClock gives promises on its own.
    const io = async () => {
      for (let i = 0; i < 50; i++) await turn();
    };
    inFlight = io().then(() => {
      events.push('answer');
      inFlight = undefined;
    });
  }, 10);
  clock.setTimer(() => events.push('deadline'), 11);
  await clock.advance(20, { idle: () => inFlight ?? Promise.resolve() });
  assert.deepEqual(events, ['request', 'answer', 'deadline']);
});

test('eventually: checks each turn; with a clock, moves on to the next timer when quiet, never past the horizon', async () => {
  const clock = new FakeClock();
  let ready = false;
  clock.setTimer(() => (ready = true), 100);
  clock.setTimer(() => assert.fail('past the horizon'), 60_000);
  assert.equal(await eventually(() => ready, clock, { horizon: 30_000 }), 100);
  await assert.rejects(eventually(() => false, clock, { horizon: 30_000, timeoutMs: 50, what: 'nothing' }), /no nothing within 50 ms/);
  assert.equal(clock.now(), 100, 'the timer past the horizon did not fire');
});
