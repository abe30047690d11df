import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { restoredRoles, startupVips } from '../../src/ha/restoredRoles.ts';
import type { CiState } from '../../src/ha/ClusterState.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';

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

describe('startupVips', () => {
  const rule = (vip: string, instance?: string): LbRule => ({
    serviceArguments: { externalIP: vip, port: 80, protocol: 'tcp', sel: 0, mode: 0, bgp: false, monitor: false, block: 0, name: instance ? `svc:${instance}` : 'svc' },
    endpoints: [],
    secondaryIPs: instance ? [] : [{ secondaryIP: '192.168.80.210' }],
    allowedSources: [],
  });

  it("every saved rule's VIP may go; a MASTER instance's and its floating address are kept", () => {
    const roles = new Map([
      ['llb-inst0', { instance: 'llb-inst0', state: 'NOT_DEFINED' as const, vip: '0.0.0.0' }],
      ['api', { instance: 'api', state: 'MASTER' as const, vip: '192.168.80.250' }],
    ]);
    assert.deepEqual(startupVips([rule('192.168.80.200'), rule('192.168.80.201', 'api')], roles), { vips: ['192.168.80.200', '192.168.80.210', '192.168.80.201'], keep: ['192.168.80.250', '192.168.80.201'] });
  });
});
