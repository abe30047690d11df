import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RULE_COUNTER_STRIDE, RuleCounters } from '../../src/datapath/RuleCounters.ts';
import { Histogram } from '../../src/util/Histogram.ts';

/** The native side as arrays: per id, the active count and [packets, bytes] per endpoint slot. */
class FakeNative {
  readonly slots = new Map<number, { active: number; eps: [number, number][] }>();
  resets: number[] = [];

  ruleCounters(ids: Buffer): Float64Array {
    const n = ids.length / 4;
    const out = new Float64Array(RULE_COUNTER_STRIDE * n);
    for (let i = 0; i < n; i++) {
      const s = this.slots.get(ids.readUInt32LE(4 * i));
      if (!s) continue;
      out[i * RULE_COUNTER_STRIDE] = s.active;
      s.eps.forEach(([p, b], slot) => {
        out[i * RULE_COUNTER_STRIDE + 1 + 2 * slot] = p;
        out[i * RULE_COUNTER_STRIDE + 2 + 2 * slot] = b;
      });
    }
    return out;
  }

  ruleCountersReset(ids: Buffer): void {
    for (let i = 0; i < ids.length / 4; i++) {
      const id = ids.readUInt32LE(4 * i);
      this.resets.push(id);
      this.slots.delete(id);
    }
  }
}

test('a rule reads its endpoints in slot order, summed into the rule', () => {
  const dp = new FakeNative();
  dp.slots.set(7, { active: 3, eps: [[10, 1000], [4, 400]] });
  const c = new RuleCounters(dp);
  const t = c.read(new Map([['r', { id: 7, endpoints: ['10.0.0.1:80', '10.0.0.2:80'] }]])).get('r')!;
  assert.deepEqual({ packets: t.packets, bytes: t.bytes, active: t.active }, { packets: 14, bytes: 1400, active: 3 });
  assert.deepEqual(t.endpoints.get('10.0.0.2:80'), { packets: 4, bytes: 400 });
});

test('a rule moving to a new id keeps counting what its old id counts (connections opened before the move), until the id is reused', () => {
  const dp = new FakeNative();
  dp.slots.set(1, { active: 0, eps: [[10, 100], [20, 200]] });
  const c = new RuleCounters(dp);
  const r = (id: number, endpoints: string[]) => new Map([['r', { id, endpoints }]]);
  // ep B leaves, ep C joins: new id 2, slots [A, C].
  c.renumber([{ key: 'r', from: 1, endpoints: ['A', 'B'] }], [2]);
  assert.deepEqual(dp.resets, [2], 'the new id starts from zero');
  dp.slots.set(2, { active: 1, eps: [[1, 10], [5, 50]] });
  let t = c.read(r(2, ['A', 'C'])).get('r')!;
  assert.equal(t.packets, 10 + 20 + 1 + 5);
  assert.equal(t.bytes, 100 + 200 + 10 + 50);
  assert.equal(t.active, 1, 'active comes from the current id only');
  assert.deepEqual(t.endpoints.get('A'), { packets: 11, bytes: 110 });
  assert.deepEqual(t.endpoints.get('C'), { packets: 5, bytes: 50 });
  assert.equal(t.endpoints.has('B'), false, 'only current endpoints are listed');
  // A connection to A opened before the move still counts on id 1.
  dp.slots.get(1)!.eps[0] = [13, 130];
  assert.deepEqual(c.read(r(2, ['A', 'C'])).get('r')!.endpoints.get('A'), { packets: 14, bytes: 140 });
  // Id 1 handed to another rule: what it counted stays r's, and it starts from zero for the other.
  c.renumber([], [1]);
  assert.deepEqual(dp.resets, [2, 1]);
  dp.slots.set(1, { active: 0, eps: [[99, 999]] });
  t = c.read(r(2, ['A', 'C'])).get('r')!;
  assert.equal(t.packets, 13 + 20 + 1 + 5, 'the snapshot, not the new owner\'s traffic');
  assert.deepEqual(t.endpoints.get('A'), { packets: 14, bytes: 140 });
  // Gone from the datapath: back to nothing if it comes again.
  c.forget('r');
  assert.equal(c.read(r(2, ['A', 'C'])).get('r')!.packets, 6);
});

test('histogram: counts per bound, +Inf beyond the last, sum and count; bounds must ascend', () => {
  const h = new Histogram([0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 3, Number.NaN]) h.observe(v);
  assert.deepEqual(h.data(), { bounds: [0.1, 1], counts: [2, 1, 1], sum: 3.65, count: 4 });
  assert.throws(() => new Histogram([1, 1]), /ascend/);
});
