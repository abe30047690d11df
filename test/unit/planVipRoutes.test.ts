import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffRoutes, planVipRoutes, roleAttributes } from '../../src/bgp/planVipRoutes.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import type { VipRoute } from '../../src/bgp/pathCodec.ts';
import type { CiState, CiStateName } from '../../src/ha/ClusterState.ts';

function rule(ip: string, opts: { bgp?: boolean; name?: string; port?: number; secondary?: string[] } = {}): LbRule {
  return {
    serviceArguments: { externalIP: ip, port: opts.port ?? 80, protocol: 'tcp', sel: 0, bgp: opts.bgp ?? true, monitor: false, mode: 0, block: 0, name: opts.name },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
    secondaryIPs: (opts.secondary ?? []).map((secondaryIP) => ({ secondaryIP })),
    allowedSources: [],
  };
}
const ci = (...s: [string, CiStateName, string?][]) =>
  new Map<string, CiState>(s.map(([instance, state, vip]) => [instance, { instance, state, vip: vip ?? '0.0.0.0' }]));
const alive = () => true;

test('MASTER VIPs carry local-pref 5000 / MED 10, BACKUP 100 / 20', () => {
  const rules = [rule('123.123.123.1')];
  const m = planVipRoutes({ rules, ciStates: ci(['llb-inst0', 'MASTER']), ruleAlive: alive });
  assert.deepEqual(m.get('123.123.123.1'), { ip: '123.123.123.1', family: 4, localPref: 5000, med: 10 });
  const b = planVipRoutes({ rules, ciStates: ci(['llb-inst0', 'BACKUP']), ruleAlive: alive });
  assert.deepEqual(b.get('123.123.123.1'), { ip: '123.123.123.1', family: 4, localPref: 100, med: 20 });
});

test('no role set: no MED or local-pref, identical on every node (ECMP)', () => {
  const m = planVipRoutes({ rules: [rule('123.123.123.1')], ciStates: ci(['llb-inst0', 'NOT_DEFINED']), ruleAlive: alive });
  assert.deepEqual(m.get('123.123.123.1'), { ip: '123.123.123.1', family: 4 });
  assert.deepEqual(roleAttributes(undefined), {});
});

test('FAULT and STOP instances advertise nothing', () => {
  for (const s of ['FAULT', 'STOP'] as const) {
    const m = planVipRoutes({ rules: [rule('1.1.1.1')], ciStates: ci(['llb-inst0', s]), ruleAlive: alive });
    assert.equal(m.size, 0, s);
  }
});

test('the instance comes from the rule name after the first colon', () => {
  const rules = [rule('1.1.1.1', { name: 'default_a:llb-inst1' }), rule('2.2.2.2', { name: 'default_b' })];
  const m = planVipRoutes({ rules, ciStates: ci(['llb-inst0', 'BACKUP'], ['llb-inst1', 'MASTER']), ruleAlive: alive });
  assert.equal(m.get('1.1.1.1')?.med, 10);
  assert.equal(m.get('2.2.2.2')?.med, 20);
});

test('rules without bgp, and dead monitored rules, advertise nothing; secondary IPs do', () => {
  const dead = rule('3.3.3.3');
  const rules = [rule('1.1.1.1', { bgp: false }), dead, rule('4.4.4.4', { secondary: ['4.4.4.5'] })];
  const m = planVipRoutes({ rules, ciStates: ci(), ruleAlive: (r) => r !== dead });
  assert.deepEqual([...m.keys()].sort(), ['4.4.4.4', '4.4.4.5']);
});

test('a VIP shared by rules stays while one rule uses it; MASTER wins across instances', () => {
  const rules = [rule('1.1.1.1', { port: 80, name: 'a:i1' }), rule('1.1.1.1', { port: 443, name: 'b:i2' })];
  const m = planVipRoutes({ rules, ciStates: ci(['i1', 'BACKUP'], ['i2', 'MASTER']), ruleAlive: alive });
  assert.equal(m.size, 1);
  assert.equal(m.get('1.1.1.1')?.localPref, 5000);
});

test('IPv6 VIPs are canonical /128 routes in family 6', () => {
  const m = planVipRoutes({ rules: [rule('2001:DB8:0::10')], ciStates: ci(['llb-inst0', 'MASTER']), ruleAlive: alive });
  assert.deepEqual(m.get('2001:db8::10'), { ip: '2001:db8::10', family: 6, localPref: 5000, med: 10 });
});

test('a CI instance vip other than 0.0.0.0 is advertised with the instance role', () => {
  const m = planVipRoutes({ rules: [], ciStates: ci(['llb-inst0', 'MASTER', '10.9.9.9']), ruleAlive: alive });
  assert.deepEqual(m.get('10.9.9.9'), { ip: '10.9.9.9', family: 4, localPref: 5000, med: 10 });
});

test('diffRoutes: adds new and changed routes, withdraws gone ones, keeps equal ones', () => {
  const a = { ip: '1.1.1.1', family: 4 as const, med: 10, localPref: 5000 };
  const b = { ip: '2.2.2.2', family: 4 as const, med: 10, localPref: 5000 };
  const c = { ip: '3.3.3.3', family: 4 as const };
  const applied = new Map([[a.ip, a], [b.ip, b], [c.ip, c]]);
  const desired = new Map<string, VipRoute>([[a.ip, a], [b.ip, { ...b, med: 20, localPref: 100 }], ['4.4.4.4', { ip: '4.4.4.4', family: 4 as const }]]);
  const d = diffRoutes(desired, applied);
  assert.deepEqual(d.add.map((r) => r.ip).sort(), ['2.2.2.2', '4.4.4.4']);
  assert.deepEqual(d.withdraw.map((r) => r.ip), ['3.3.3.3']);
  assert.deepEqual(diffRoutes(applied, applied), { add: [], withdraw: [] });
});
