import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { electRoles, type ElectionInput, type RoleAgent } from '../../src/kube/electRoles.ts';

const A = (id: string, alive = true, extra: Partial<RoleAgent> = {}): RoleAgent => ({ id, address: `192.168.80.${id.slice(-1)}`, alive, ...extra });

function elect(over: Partial<ElectionInput>) {
  return electRoles({ agents: [A('llb1'), A('llb2')], instances: ['llb-inst0'], currentMasters: {}, excludeRoleList: [], vip: '0.0.0.0', zone: 'llb', ...over });
}

test('first election: the first alive agent is MASTER, the rest BACKUP, with the setRoles vip', () => {
  const r = elect({});
  assert.deepEqual(r.masters, { 'llb-inst0': 'llb1' });
  assert.deepEqual(r.changed, ['llb-inst0']);
  assert.deepEqual(r.ciStates, [
    { agentId: 'llb1', body: { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' } },
    { agentId: 'llb2', body: { instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' } },
  ]);
});

test('an alive MASTER keeps its role; a dead one is replaced; a returning one does not preempt', () => {
  const keep = elect({ currentMasters: { 'llb-inst0': 'llb2' } });
  assert.deepEqual([keep.masters['llb-inst0'], keep.changed], ['llb2', []]);
  const dead = elect({ agents: [A('llb1'), A('llb2', false)], currentMasters: { 'llb-inst0': 'llb2' } });
  assert.deepEqual([dead.masters['llb-inst0'], dead.changed], ['llb1', ['llb-inst0']]);
  assert.deepEqual(dead.ciStates.map((c) => c.agentId), ['llb1'], 'dead agents are not posted to');
  const back = elect({ currentMasters: { 'llb-inst0': 'llb1' }, agents: [A('llb2'), A('llb1')] });
  assert.equal(back.masters['llb-inst0'], 'llb1');
  const gone = elect({ currentMasters: { 'llb-inst0': 'llb9' } });
  assert.equal(gone.masters['llb-inst0'], 'llb1', 'a master that vanished is replaced');
});

test('excluded agents never become MASTER but are told BACKUP; peers get nothing', () => {
  const r = elect({
    agents: [A('llb1'), A('llb2'), A('peer3', true, { kind: 'peer' })],
    excludeRoleList: ['192.168.80.1'],
    currentMasters: { 'llb-inst0': 'llb1' },
  });
  assert.equal(r.masters['llb-inst0'], 'llb2', 'a MASTER that becomes excluded steps down');
  assert.deepEqual(r.ciStates.map((c) => [c.agentId, c.body.state]), [['llb1', 'BACKUP'], ['llb2', 'MASTER']]);
  const none = elect({ excludeRoleList: ['192.168.80.1', '192.168.80.2'] });
  assert.equal(none.masters['llb-inst0'], undefined);
  assert.ok(none.ciStates.every((c) => c.body.state === 'BACKUP'));
  assert.match(none.notes[0]!, /no alive agent may be MASTER of llb-inst0/);
  const v6 = elect({ agents: [A('a', true, { address: 'fd00::1' }), A('b')], excludeRoleList: ['fd00:0::1'] });
  assert.equal(v6.masters['llb-inst0'], 'b', 'addresses compare canonically');
});

test('several instances spread over the agents; other zones mirror llb-inst0', () => {
  const r = elect({ agents: [A('x1'), A('x2'), A('x3')], instances: ['aws-inst0', 'aws-inst1'], zone: 'aws', vip: '10.0.0.100' });
  assert.deepEqual(r.masters, { 'aws-inst0': 'x1', 'aws-inst1': 'x2' });
  assert.deepEqual(r.ciStates.filter((c) => c.agentId === 'x2').map((c) => [c.body.instance, c.body.state, c.body.vip]), [
    ['aws-inst0', 'BACKUP', '10.0.0.100'],
    ['aws-inst1', 'MASTER', '10.0.0.100'],
    ['llb-inst0', 'BACKUP', '10.0.0.100'],
  ]);
  assert.deepEqual(r.ciStates.filter((c) => c.agentId === 'x1').map((c) => c.body.instance), ['aws-inst0', 'aws-inst1', 'llb-inst0']);
  const around = elect({ agents: [A('x1'), A('x2')], instances: ['llb-inst0', 'llb-inst1'], currentMasters: { 'llb-inst0': 'x2' } });
  assert.deepEqual(around.masters, { 'llb-inst0': 'x2', 'llb-inst1': 'x1' }, 'a new master goes to the agent leading fewer instances');
  assert.deepEqual(around.changed, ['llb-inst1']);
});

test('grace period: a MASTER that missed one check keeps its role', () => {
  const agents = [A('llb1', false, { lastSeenMs: 9_700 }), A('llb2', true, { lastSeenMs: 10_000 })];
  const within = elect({ agents, currentMasters: { 'llb-inst0': 'llb1' }, nowMs: 10_000, masterGraceMs: 500 });
  assert.deepEqual([within.masters['llb-inst0'], within.changed], ['llb1', []]);
  const after = elect({ agents, currentMasters: { 'llb-inst0': 'llb1' }, nowMs: 10_300, masterGraceMs: 500 });
  assert.equal(after.masters['llb-inst0'], 'llb2');
  assert.equal(elect({ agents }).masters['llb-inst0'], 'llb2', 'grace never makes a dead agent a new MASTER');
});

test('rebalance spreads roles held by one agent, only when asked', () => {
  const input = { agents: [A('x1'), A('x2')], instances: ['llb-inst0', 'llb-inst1'], currentMasters: { 'llb-inst0': 'x2', 'llb-inst1': 'x2' } };
  assert.deepEqual(elect(input).masters, { 'llb-inst0': 'x2', 'llb-inst1': 'x2' });
  const r = elect({ ...input, rebalance: true });
  assert.deepEqual(r.masters, { 'llb-inst0': 'x1', 'llb-inst1': 'x2' });
  assert.deepEqual(r.changed, ['llb-inst0']);
  assert.deepEqual(elect({ ...input, agents: [A('x1', false), A('x2')], rebalance: true }).masters, { 'llb-inst0': 'x2', 'llb-inst1': 'x2' }, 'not enough agents alive');
});

test('property: one MASTER per instance, alive and not excluded; stable when nothing changes', () => {
  const agentArb = fc.uniqueArray(fc.record({ n: fc.integer({ min: 1, max: 9 }), alive: fc.boolean(), peer: fc.boolean() }), { selector: (a) => a.n, maxLength: 6 });
  fc.assert(
    fc.property(agentArb, fc.subarray([1, 2, 3, 4, 5, 6, 7, 8, 9]), fc.integer({ min: 1, max: 3 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 3 }), (spec, excl, nInst, cur) => {
      const agents = spec.map((s) => A(`a${s.n}`, s.alive, s.peer ? { kind: 'peer' } : {}));
      const instances = Array.from({ length: nInst }, (_, i) => `llb-inst${i}`);
      const currentMasters = Object.fromEntries(cur.map((c, i) => [`llb-inst${i}`, `a${c}`]));
      const input = { agents, instances, currentMasters, excludeRoleList: excl.map((n) => `192.168.80.${n}`), vip: '0.0.0.0', zone: 'llb' };
      const r = electRoles(input);
      for (const inst of instances) {
        const m = r.masters[inst];
        const eligible = agents.filter((a) => a.kind !== 'peer' && a.alive && !excl.includes(Number(a.id.slice(1))));
        if (eligible.length === 0) assert.equal(m, undefined);
        else assert.ok(eligible.some((a) => a.id === m), `${inst}: ${m} must be alive, LB and not excluded`);
        const masterPosts = r.ciStates.filter((c) => c.body.instance === inst && c.body.state === 'MASTER');
        assert.ok(masterPosts.length <= 1);
        if (currentMasters[inst] !== undefined && eligible.some((a) => a.id === currentMasters[inst])) assert.equal(m, currentMasters[inst], 'no flapping');
      }
      const again = electRoles({ ...input, currentMasters: r.masters });
      assert.deepEqual([again.masters, again.changed], [r.masters, []]);
      assert.equal(r.ciStates.length, agents.filter((a) => a.alive && a.kind !== 'peer').length * instances.length);
    }),
    { numRuns: 300 },
  );
});
