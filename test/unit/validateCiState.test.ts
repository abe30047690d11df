import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCiState } from '../../src/ha/validateCiState.ts';
import { ValidationError } from '../../src/util/errors.ts';

test('a valid state, with and without vip', () => {
  assert.deepEqual(parseCiState({ instance: 'llb-inst0', state: 'MASTER', vip: '10.0.0.100' }), { instance: 'llb-inst0', state: 'MASTER', vip: '10.0.0.100' });
  assert.deepEqual(parseCiState({ instance: 'llb-inst0', state: 'BACKUP' }), { instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' });
  assert.equal(parseCiState({ instance: 'a', state: 'STOP', vip: '2001:DB8::1' }).vip, '2001:db8::1');
});

test('keys match case-insensitively and unknown keys are ignored', () => {
  assert.deepEqual(parseCiState({ Instance: 'x', STATE: 'NOT_DEFINED', Vip: '', extra: 1 }), { instance: 'x', state: 'NOT_DEFINED', vip: '0.0.0.0' });
});

test('a bad state names the field and keeps loxilb\'s error text', () => {
  for (const state of ['master', 'ACTIVE', '', 1, undefined]) {
    assert.throws(
      () => parseCiState({ instance: 'x', state }),
      (err: unknown) => err instanceof ValidationError && err.field === 'state' && /invalid cluster-state/.test(err.message) && /MASTER, BACKUP, FAULT, STOP, NOT_DEFINED/.test(err.message),
    );
  }
});

test('instance and vip are checked', () => {
  const fieldOf = (b: unknown) => {
    try {
      parseCiState(b);
    } catch (err) {
      assert.ok(err instanceof ValidationError);
      return err.field;
    }
    return undefined;
  };
  assert.equal(fieldOf({ state: 'MASTER' }), 'instance');
  assert.equal(fieldOf({ instance: '', state: 'MASTER' }), 'instance');
  assert.equal(fieldOf({ instance: 7, state: 'MASTER' }), 'instance');
  assert.equal(fieldOf({ instance: 'a', state: 'MASTER', vip: '300.1.1.1' }), 'vip');
  assert.equal(fieldOf([]), 'body');
});
