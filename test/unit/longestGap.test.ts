import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longestGap, percentile, type Reply } from '../lab/longestGap.ts';

/** Replies every `step` ms from `from` to `to` inclusive, all from one node. */
function every(step: number, from: number, to: number, node: string): Reply[] {
  const out: Reply[] = [];
  for (let t = from; t <= to; t += step) out.push({ at: t, from: node });
  return out;
}

test('steady replies every 10 ms: the longest gap is 10 ms and nothing is lost', () => {
  const a = longestGap(every(10, 0, 1000, 'lb1'), { start: 95, end: 1000 });
  assert.equal(a.longestGapMs, 10);
  assert.equal(a.recovered, true);
  assert.equal(a.firstResponder, 'lb1');
  assert.equal(a.lastResponder, 'lb1');
  // 100..1000 are inside; 90 is the anchor.
  assert.equal(a.received, 91);
  assert.deepEqual(a.byResponder, { lb1: 91 });
});

test('a failover hole counts from the last reply before it to the first one after, across the window start', () => {
  const replies = [...every(10, 0, 500, 'lb1'), ...every(10, 837, 1200, 'lb2')];
  const a = longestGap(replies, { start: 503, end: 1200 });
  assert.equal(a.longestGapMs, 337);
  assert.equal(a.gapFrom, 500);
  assert.equal(a.gapTo, 837);
  assert.equal(a.firstResponder, 'lb1');
  assert.equal(a.lastResponder, 'lb2');
  assert.equal(a.recovered, true);
  assert.deepEqual(a.byResponder, { lb2: 37 });
});

test('order of replies does not matter', () => {
  const replies = [...every(10, 0, 500, 'lb1'), ...every(10, 700, 900, 'lb2')].reverse();
  assert.equal(longestGap(replies, { start: 0, end: 900 }).longestGapMs, 200);
});

test('an outage that has not ended counts up to the end of the window', () => {
  const a = longestGap(every(10, 0, 300, 'lb1'), { start: 305, end: 2000 });
  assert.equal(a.longestGapMs, 1700);
  assert.equal(a.gapFrom, 300);
  assert.equal(a.gapTo, 2000);
  assert.equal(a.recovered, false);
  assert.equal(a.received, 0);
  assert.equal(a.lastResponder, 'lb1');
});

test('no reply at all: the whole window is the gap', () => {
  const a = longestGap([], { start: 100, end: 400 });
  assert.equal(a.longestGapMs, 300);
  assert.equal(a.recovered, false);
  assert.equal(a.firstResponder, undefined);
});

test('without a reply before the window, the clock starts at the window start', () => {
  const a = longestGap(every(10, 250, 400, 'lb2'), { start: 100, end: 400 });
  assert.equal(a.longestGapMs, 150);
  assert.equal(a.gapFrom, 100);
  assert.equal(a.firstResponder, 'lb2');
});

test('replies after the window end are ignored', () => {
  const replies = [...every(10, 0, 100, 'lb1'), { at: 5000, from: 'lb2' }];
  const a = longestGap(replies, { start: 50, end: 300 });
  assert.equal(a.longestGapMs, 200);
  assert.equal(a.recovered, false);
  assert.deepEqual(a.byResponder, { lb1: 5 });
});

test('a window that ends before it starts is an error', () => {
  assert.throws(() => longestGap([], { start: 10, end: 5 }), /ends \(5\) before it starts \(10\)/);
});

test('nearest-rank percentiles', () => {
  const twenty = Array.from({ length: 20 }, (_, i) => (20 - i) * 10); // 200, 190, ..., 10
  assert.equal(percentile(twenty, 50), 100);
  assert.equal(percentile(twenty, 95), 190);
  assert.equal(percentile(twenty, 100), 200);
  assert.equal(percentile([42], 95), 42);
  assert.equal(percentile([3, 1, 2], 50), 2);
  assert.throws(() => percentile([], 50), /no samples/);
  assert.throws(() => percentile([1], 0), /not in \(0, 100\]/);
});
