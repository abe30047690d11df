import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoalescingLoop } from '../../src/util/CoalescingLoop.ts';
import { sleepOn } from '../../src/util/clock.ts';
import { FakeClock } from '../lab/FakeClock.ts';

test('a burst of kicks is one pass; kicks during a pass fold into one more', async () => {
  const clock = new FakeClock();
  let passes = 0;
  const loop = new CoalescingLoop(async () => {
    passes++;
    await sleepOn(clock, 5);
  }, { onError: () => undefined, clock });
  for (let i = 0; i < 100; i++) loop.kick();
  await clock.advance(1);
  assert.equal(passes, 1, 'the burst started one pass');
  for (let i = 0; i < 100; i++) loop.kick(); // while the first pass runs
  await clock.until(loop.whenIdle());
  assert.equal(passes, 2);
  loop.close();
});

test('with spacing, back-to-back passes start at least spacingMs apart, but a kick after a quiet spell runs at once', async () => {
  const clock = new FakeClock();
  const starts: number[] = [];
  const loop = new CoalescingLoop(async () => {
    starts.push(clock.now());
  }, { onError: () => undefined, spacingMs: 40, clock });
  const t0 = clock.now();
  loop.kick();
  await clock.advance(5);
  loop.kick();
  await clock.until(loop.whenIdle());
  assert.equal(starts.length, 2);
  assert.ok(starts[0]! - t0 < 20, 'the first pass is not delayed');
  assert.ok(starts[1]! - starts[0]! >= 40, `second pass ${starts[1]! - starts[0]!} ms after the first`);
  await clock.advance(60);
  const t1 = clock.now();
  loop.kick();
  await clock.until(loop.whenIdle());
  assert.ok(starts[2]! - t1 < 20, 'after a quiet spell the pass runs at once');
  loop.close();
});

test('a failed pass pauses for the delay onError returns, then retries', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const errors: string[] = [];
  const loop = new CoalescingLoop(async () => {
    calls++;
    if (calls === 1) throw new Error('boom');
  }, { onError: (e) => (errors.push((e as Error).message), 30), clock });
  loop.kick();
  await clock.advance(10);
  assert.deepEqual(errors, ['boom']);
  assert.equal(calls, 1, 'no retry before the delay');
  await clock.advance(19);
  assert.equal(calls, 1, 'no retry before the delay');
  await clock.advance(1);
  await loop.whenIdle();
  assert.equal(calls, 2);
  loop.close();
});

test('kickNow skips the spacing, also when the loop is already waiting it out', async () => {
  const clock = new FakeClock();
  const starts: number[] = [];
  const loop = new CoalescingLoop(async () => {
    starts.push(clock.now());
  }, { onError: () => undefined, spacingMs: 200, clock });
  loop.kick();
  await clock.advance(5);
  loop.kick(); // now waiting out the spacing
  await clock.advance(5);
  assert.equal(starts.length, 1, 'the second pass waits out the spacing');
  const t = clock.now();
  loop.kickNow();
  await clock.until(loop.whenIdle());
  assert.equal(starts.length, 2);
  assert.ok(starts[1]! - t < 20, `urgent pass ${starts[1]! - t} ms after kickNow`);
  loop.close();
});

test('with maxSpacingMs, a long trickle of changes stretches the spacing up to the bound, and a quiet spell resets it', async () => {
  const clock = new FakeClock();
  const starts: number[] = [];
  const loop = new CoalescingLoop(async () => {
    starts.push(clock.now());
  }, { onError: () => undefined, spacingMs: 20, maxSpacingMs: 80, clock });
  // A change every 5 ms for 500 ms: a fixed 20 ms spacing would take about 25 passes.
  const end = clock.now() + 500;
  while (clock.now() < end) {
    loop.kick();
    await clock.advance(5);
  }
  await clock.until(loop.whenIdle());
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  assert.ok(starts.length <= 11, `${starts.length} passes: ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
  // Doubling from 20 ms: 20, 40, 80, then held at 80 (each gap at least that).
  [20, 40, 80, 80].forEach((min, i) => assert.ok((gaps[i] ?? Infinity) >= min, `gap ${i} ${gaps[i]} ms, expected at least ${min}`));
  assert.equal(loop.currentSpacingMs, 80);
  // Quiet for longer than the spacing: the next change runs at once, and the spacing is back to 20 ms.
  await clock.advance(100);
  const t1 = clock.now();
  loop.kick();
  await clock.until(loop.whenIdle());
  assert.ok(starts.at(-1)! - t1 < 20, 'after a quiet spell the pass runs at once');
  assert.equal(loop.currentSpacingMs, 20);
  loop.close();
});
