import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { restoredRoles } from '../../src/ha/restoredRoles.ts';
import type { CiState } from '../../src/ha/ClusterState.ts';

describe('restoredRoles', () => {
  const saved: CiState[] = [
    { instance: 'llb-inst0', state: 'MASTER', vip: '192.168.80.250' },
    { instance: 'other', state: 'MASTER', vip: '0.0.0.0' },
    { instance: 'third', state: 'BACKUP', vip: '0.0.0.0' },
  ];

  it('an instance BFD elects starts NOT_DEFINED, keeping its floating address', () => {
    const r = restoredRoles(saved, new Set(['llb-inst0', 'third']));
    assert.deepEqual(r, [
      { instance: 'llb-inst0', state: 'NOT_DEFINED', vip: '192.168.80.250' },
      { instance: 'other', state: 'MASTER', vip: '0.0.0.0' },
      { instance: 'third', state: 'NOT_DEFINED', vip: '0.0.0.0' },
    ]);
  });

  it('instances nobody elects keep their saved role; the input is not changed', () => {
    assert.deepEqual(restoredRoles(saved, new Set()), saved);
    assert.equal(saved[0]!.state, 'MASTER');
  });
});
