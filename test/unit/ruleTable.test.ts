// The LB rule table on its own: loxilb's POST rules, and a failed save that changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuleTable } from '../../src/agent/RuleTable.ts';
import type { RuleStore } from '../../src/agent/ConfigStore.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';

function rule(port: number, eps: string[], oper?: number): LbRule {
  return {
    serviceArguments: { externalIP: '20.0.0.1', port, protocol: 'tcp', sel: 0, mode: 0, bgp: false, monitor: false, block: 0, ...(oper ? { oper } : {}) },
    endpoints: eps.map((ip) => ({ endpointIP: ip, targetPort: 8080, weight: 1 })),
    secondaryIPs: [],
    allowedSources: [],
  } as LbRule;
}

function setup(opts: { failSave?: () => boolean; maxRules?: number } = {}) {
  const committed = new Map<string, LbRule>();
  const store = {
    save: async (ops: { key: string; rule?: LbRule }[]) => {
      if (opts.failSave?.()) throw new Error('disk full');
      for (const o of ops) (o.rule ? committed.set(o.key, o.rule) : committed.delete(o.key));
    },
    isPending: () => false,
    committedRule: (k: string) => committed.get(k),
  } as unknown as RuleStore;
  const changed: string[] = [];
  const t = new RuleTable({
    changed: (k, r) => changed.push(`${k} ${r ? r.endpoints.length : 'gone'}`),
    batchDone: () => undefined,
    nextPass: async () => undefined,
    capacity: () => ({ maxRules: opts.maxRules ?? 10, maxEntries: 100 }),
  });
  t.attach(store);
  return { t, changed, committed };
}

test('attach and detach endpoints; detaching the last one deletes the rule, as in loxilb', async () => {
  const { t } = setup();
  await t.add(rule(80, ['31.31.31.1']));
  await t.add(rule(80, ['31.31.31.2'], 1));
  assert.deepEqual([...t.rules.values()][0]!.endpoints.map((e) => e.endpointIP), ['31.31.31.1', '31.31.31.2']);
  await assert.rejects(t.add(rule(81, ['31.31.31.1'], 2)), /lbrule not-exists error/);
  await t.add(rule(80, ['31.31.31.1', '31.31.31.2'], 2));
  assert.equal(t.rules.size, 0);
});

test('the same rule again is a conflict; a full datapath refuses a new rule; unknown deletes name what is missing', async () => {
  const { t } = setup({ maxRules: 1 });
  await t.add(rule(80, ['31.31.31.1']));
  await assert.rejects(t.add(rule(80, ['31.31.31.1'])), /lbrule-exists error/);
  await assert.rejects(t.add(rule(81, ['31.31.31.1'])), /at most 1 rules/);
  await assert.rejects(t.delete('nope'), /lbrule not found: nope/);
  await assert.rejects(t.deleteByName('web'), /no lbrule named web found/);
  assert.equal(await t.deleteAll(), 1);
});

test('a failed save puts the table back to what is on disk and fails the request', async () => {
  let fail = false;
  const { t, changed } = setup({ failSave: () => fail });
  await t.add(rule(80, ['31.31.31.1']));
  fail = true;
  await assert.rejects(t.add(rule(80, ['31.31.31.9'], 1)), /disk full/);
  assert.deepEqual([...t.rules.values()][0]!.endpoints.map((e) => e.endpointIP), ['31.31.31.1']);
  assert.deepEqual(changed.map((c) => c.split(' ')[1]), ['1', '2', '1']);
  fail = false;
  await t.add(rule(81, ['31.31.31.1']));
  assert.equal(t.rules.size, 2, 'later requests go through');
});
