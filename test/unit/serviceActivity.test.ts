// ServiceActivity: "serving" while the load-balanced packet count rose within the window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceActivity, SERVICE_ACTIVITY_SAMPLE_MS } from '../../src/ha/ServiceActivity.ts';
import { ManualClock } from '../../src/bfd/clock.ts';

test('ServiceActivity: serving while the count rises, idle a window after it stops, unknown counts ignored', () => {
  const clock = new ManualClock();
  let n: number | undefined = 100;
  const a = new ServiceActivity(() => n, clock, 1000);
  assert.equal(a.serving(), false, 'a first sample is no rise');
  n = 101;
  assert.equal(a.serving(), true, 'a rise seen by the call itself');
  clock.advance(1000);
  assert.equal(a.serving(), true, 'still within the window');
  clock.advance(SERVICE_ACTIVITY_SAMPLE_MS);
  assert.equal(a.serving(), false, 'no rise for longer than the window');
  // A rise between two calls is caught by the periodic sample.
  n = 150;
  clock.advance(SERVICE_ACTIVITY_SAMPLE_MS);
  n = undefined;
  clock.advance(500);
  assert.equal(a.serving(), true);
  a.close();
  assert.equal(clock.pending, 0, 'close() stops the sampling');
});
