// The CI states: saved before an API answer, after an election, and every change told once, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CiStateTable, type CiStateChange } from '../../src/agent/CiStateTable.ts';
import type { CiState } from '../../src/ha/ClusterState.ts';
import { silentLogger } from '../../src/util/logger.ts';

function setup(failSync = false) {
  const saved: string[] = [];
  let release: (() => void) | undefined;
  const store = {
    saveCiStates: (s: CiState[]) => {
      if (failSync) throw new Error('disk full');
      saved.push(`sync ${s.map((x) => x.state).join(',')}`);
    },
    saveCiStatesAsync: (s: CiState[]) =>
      new Promise<void>((resolve) => {
        saved.push(`async ${s.map((x) => x.state).join(',')}`);
        release = resolve;
      }),
  };
  const t = new CiStateTable(store, silentLogger);
  const changes: CiStateChange[] = [];
  t.onChange((c) => changes.push(c));
  return { t, saved, changes, release: () => release?.() };
}

const st = (state: CiState['state'], vip = '0.0.0.0'): CiState => ({ instance: 'llb-inst0', state, vip });

test('the API\'s change is on disk before anyone hears of it; the same state again is no change', () => {
  const { t, saved, changes } = setup();
  t.set(st('MASTER'), 'api', true);
  t.set(st('MASTER'), 'api', true);
  assert.deepEqual(saved, ['sync MASTER']);
  assert.equal(changes.length, 1);
  assert.equal(changes[0]!.cur, undefined);
  assert.equal(changes[0]!.states.get('llb-inst0')?.state, 'MASTER');
});

test('a failed save changes nothing and tells nobody', () => {
  const { t, changes } = setup(true);
  assert.throws(() => t.set(st('MASTER'), 'api', true), /disk full/);
  assert.equal(t.get('llb-inst0'), undefined);
  assert.equal(changes.length, 0);
});

test('elections are served first and saved after, one write at a time, the last with the latest states', async () => {
  const { t, saved, changes, release } = setup();
  const before = t.all;
  t.set(st('BACKUP'), 'bfd', false);
  t.set(st('MASTER'), 'bfd', false);
  assert.equal(changes.length, 2);
  assert.equal(before.get('llb-inst0'), undefined, 'a held map is never changed in place');
  assert.deepEqual(saved, ['async BACKUP']);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(saved, ['async BACKUP', 'async MASTER']);
  release();
  await t.whenSaved();
});

test('reset makes an instance NOT_DEFINED, keeping its address, without a save or a change', () => {
  const { t, saved, changes } = setup();
  t.restore([st('MASTER', '10.0.0.100')]);
  const m = t.reset('llb-inst0');
  assert.deepEqual(m.get('llb-inst0'), { instance: 'llb-inst0', state: 'NOT_DEFINED', vip: '10.0.0.100' });
  assert.deepEqual(saved, []);
  assert.equal(changes.length, 0);
});
