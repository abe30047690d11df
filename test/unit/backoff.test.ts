import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../src/util/Backoff.ts';

test('Backoff doubles from initialMs up to maxMs, and a reset starts over', () => {
  const b = new Backoff(500, 5000);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [500, 1000, 2000, 4000, 5000, 5000]);
  b.reset();
  assert.equal(b.next(), 500);
  const odd = new Backoff(300, 1000);
  assert.deepEqual([odd.next(), odd.next(), odd.next()], [300, 600, 1000]);
  assert.deepEqual([new Backoff(7, 7).next()], [7]);
  assert.throws(() => new Backoff(0, 10), /backoff: need 0 < initialMs <= maxMs/);
  assert.throws(() => new Backoff(10, 5), /backoff: need 0 < initialMs <= maxMs/);
});
