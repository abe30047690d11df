// The programmed rules' VIPs by instance: what L2 ownership holds and which links the upstream watches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgrammedVips, type VipLocality } from '../../src/ha/ProgrammedVips.ts';
import type { CiState } from '../../src/ha/ClusterState.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';

function rule(vip: string, name: string, secondary: string[] = []): LbRule {
  return {
    serviceArguments: { externalIP: vip, port: 80, protocol: 'tcp', sel: 0, mode: 0, name, bgp: false, monitor: false, block: 0 },
    endpoints: [],
    secondaryIPs: secondary.map((s) => ({ secondaryIP: s })),
    allowedSources: [],
  } as LbRule;
}

function setup() {
  let subnet = '192.168.10.';
  const locality: VipLocality = {
    isLocal: (a) => a.startsWith(subnet),
    interfaceOf: (a) => (a.startsWith(subnet) ? 'eth1' : undefined),
  };
  let roles = new Map<string, CiState>([
    ['llb-inst0', { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }],
    ['b', { instance: 'b', state: 'BACKUP', vip: '192.168.10.99' }],
  ]);
  const v = new ProgrammedVips(() => locality, () => roles);
  return { v, setSubnet: (s: string) => (subnet = s), setRoles: (r: typeof roles) => (roles = r) };
}

test('a MASTER instance holds its local rule VIPs; all lists every local one and the instance addresses', () => {
  const { v } = setup();
  v.set('k1', rule('192.168.10.1', 'web', ['192.168.10.2', '20.0.0.1']));
  v.set('k2', rule('192.168.10.3', 'db:b'));
  const o = v.ownership();
  assert.deepEqual([...o.wanted].sort(), ['192.168.10.1', '192.168.10.2']);
  assert.deepEqual([...o.all].sort(), ['192.168.10.1', '192.168.10.2', '192.168.10.3', '192.168.10.99']);
});

test('a VIP two rules serve stays until both are gone; a rule reprogrammed counts once', () => {
  const { v } = setup();
  v.set('k1', rule('192.168.10.1', 'a'));
  v.set('k1', rule('192.168.10.1', 'a'));
  v.set('k2', rule('192.168.10.1', 'b2'));
  v.set('k1', undefined);
  assert.deepEqual([...v.ownership().wanted], ['192.168.10.1']);
  v.set('k2', undefined);
  assert.deepEqual([...v.ownership().all], ['192.168.10.99']);
});

test('the tracked links follow the subnets once they are sorted again', () => {
  const { v, setSubnet } = setup();
  v.set('k1', rule('10.9.0.1', 'a'));
  assert.deepEqual([...v.trackedLinks()], ['eth1']);
  setSubnet('10.9.0.');
  v.resortLocal();
  assert.deepEqual([...v.ownership().wanted], ['10.9.0.1']);
  assert.deepEqual([...v.trackedLinks()], ['eth1']);
  setSubnet('172.16.');
  v.resortLocal();
  assert.deepEqual([...v.trackedLinks()], []);
});
