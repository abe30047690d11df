import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ROLE_RANK, VipTable, familyOf, roleAttributes, type VipEntry, type VipOffer } from '../../src/bgp/VipTable.ts';
import { DEFAULT_INSTANCE, ruleInstance, ruleVips, type LbRule } from '../../src/lb/LbRule.ts';
import type { CiState, CiStateName } from '../../src/ha/ClusterState.ts';

function rule(ip: string, opts: { name?: string; port?: number; secondary?: string[] } = {}): LbRule {
  return {
    serviceArguments: { externalIP: ip, port: opts.port ?? 80, protocol: 'tcp', sel: 0, bgp: true, monitor: false, mode: 0, block: 0, name: opts.name },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
    secondaryIPs: (opts.secondary ?? []).map((secondaryIP) => ({ secondaryIP })),
    allowedSources: [],
  };
}
/** What the agent offers for a live bgp rule. */
const offerOf = (r: LbRule): VipOffer => ({ instance: ruleInstance(r), ips: ruleVips(r) });
const offer = (instance: string, ...ips: string[]): VipOffer => ({ instance, ips });
const ci = (...s: [string, CiStateName, string?][]) =>
  new Map<string, CiState>(s.map(([instance, state, vip]) => [instance, { instance, state, vip: vip ?? '0.0.0.0' }]));

/** An entry with the MED / local-pref its instance's role gives it, as the reconciler's policy would. */
function advertised(t: VipTable, ip: string) {
  const e = t.entry(ip);
  return e && { ...e, attrs: roleAttributes(t.role(e.instance)) };
}

// ---- what is advertised, and with which attributes ----

test('roleAttributes: MASTER local-pref 5000 / MED 10, BACKUP 100 / 20, other roles none', () => {
  assert.deepEqual(roleAttributes('MASTER'), { localPref: 5000, med: 10 });
  assert.deepEqual(roleAttributes('BACKUP'), { localPref: 100, med: 20 });
  for (const s of ['NOT_DEFINED', 'FAULT', 'STOP', undefined] as const) assert.equal(roleAttributes(s), undefined, String(s));
  // A copy: callers may not change the constants.
  const a = roleAttributes('MASTER')!;
  a.med = 99;
  assert.deepEqual(roleAttributes('MASTER'), { localPref: 5000, med: 10 });
});

test('a MASTER / BACKUP / undefined-role instance advertises its VIPs with the role attributes', () => {
  const t = new VipTable();
  t.setOffer('r1', offerOf(rule('123.123.123.1')));
  t.setCiStates(ci(['llb-inst0', 'MASTER']));
  assert.deepEqual(advertised(t, '123.123.123.1'), { ip: '123.123.123.1', family: 4, instance: 'llb-inst0', attrs: { localPref: 5000, med: 10 } });
  t.setCiStates(ci(['llb-inst0', 'BACKUP']));
  assert.deepEqual(advertised(t, '123.123.123.1'), { ip: '123.123.123.1', family: 4, instance: 'llb-inst0', attrs: { localPref: 100, med: 20 } });
  // No role set: no MED or local-pref, identical on every node (ECMP).
  t.setCiStates(ci(['llb-inst0', 'NOT_DEFINED']));
  assert.deepEqual(advertised(t, '123.123.123.1'), { ip: '123.123.123.1', family: 4, instance: 'llb-inst0', attrs: undefined });
  // An instance without any CI record counts as NOT_DEFINED.
  t.setCiStates(ci());
  assert.equal(t.role('llb-inst0'), 'NOT_DEFINED');
  assert.deepEqual(t.snapshot(), new Map([['123.123.123.1', { ip: '123.123.123.1', family: 4, instance: 'llb-inst0' }]]));
});

test('FAULT and STOP instances advertise nothing, and advertise again on leaving it', () => {
  for (const s of ['FAULT', 'STOP'] as const) {
    const t = new VipTable();
    t.setOffer('r1', offerOf(rule('1.1.1.1')));
    t.setCiStates(ci(['llb-inst0', s, '10.9.9.9']));
    assert.equal(t.snapshot().size, 0, s);
    assert.equal(t.entry('1.1.1.1'), undefined, s);
    assert.equal(t.entry('10.9.9.9'), undefined, s);
    t.setCiStates(ci(['llb-inst0', 'BACKUP', '10.9.9.9']));
    assert.deepEqual([...t.snapshot().keys()].sort(), ['1.1.1.1', '10.9.9.9'], s);
  }
});

test('the instance comes from the rule name after the first colon', () => {
  assert.equal(ruleInstance(rule('1.1.1.1', { name: 'default_a:llb-inst1' })), 'llb-inst1');
  assert.equal(ruleInstance(rule('1.1.1.1', { name: 'ns:svc:inst2' })), 'svc:inst2');
  assert.equal(ruleInstance(rule('1.1.1.1', { name: 'default_b' })), DEFAULT_INSTANCE);
  assert.equal(ruleInstance(rule('1.1.1.1', { name: 'trailing:' })), DEFAULT_INSTANCE);
  assert.equal(ruleInstance(rule('1.1.1.1')), DEFAULT_INSTANCE);

  const t = new VipTable();
  t.setOffer('a', offerOf(rule('1.1.1.1', { name: 'default_a:llb-inst1' })));
  t.setOffer('b', offerOf(rule('2.2.2.2', { name: 'default_b' })));
  t.setCiStates(ci(['llb-inst0', 'BACKUP'], ['llb-inst1', 'MASTER']));
  assert.equal(advertised(t, '1.1.1.1')?.attrs?.med, 10);
  assert.equal(advertised(t, '2.2.2.2')?.attrs?.med, 20);
});

test('no offer (no bgp, or all endpoints dead) or no addresses advertise nothing; secondary IPs do', () => {
  const t = new VipTable();
  t.setOffer('nobgp', undefined);
  t.setOffer('empty', offer('llb-inst0'));
  t.setOffer('r4', offerOf(rule('4.4.4.4', { secondary: ['4.4.4.5'] })));
  assert.deepEqual([...t.snapshot().keys()].sort(), ['4.4.4.4', '4.4.4.5']);
  // A rule whose endpoints all died: the agent sets its offer to undefined.
  t.setOffer('r4', undefined);
  assert.equal(t.snapshot().size, 0);
});

test('a VIP shared by rules stays while one offer uses it; MASTER wins across instances', () => {
  const t = new VipTable();
  t.setOffer('a', offerOf(rule('1.1.1.1', { port: 80, name: 'a:i1' })));
  t.setOffer('b', offerOf(rule('1.1.1.1', { port: 443, name: 'b:i2' })));
  t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'MASTER']));
  assert.equal(t.snapshot().size, 1);
  assert.deepEqual(advertised(t, '1.1.1.1'), { ip: '1.1.1.1', family: 4, instance: 'i2', attrs: { localPref: 5000, med: 10 } });
  // Roles swap: the other instance now sets the attributes.
  t.setCiStates(ci(['i1', 'MASTER'], ['i2', 'BACKUP']));
  assert.equal(t.entry('1.1.1.1')?.instance, 'i1');
  t.setOffer('a', undefined);
  assert.deepEqual(t.entry('1.1.1.1'), { ip: '1.1.1.1', family: 4, instance: 'i2' });
  t.setOffer('b', undefined);
  assert.equal(t.entry('1.1.1.1'), undefined);
  assert.equal(t.snapshot().size, 0);
});

test('the same address twice in one offer (external IP also a secondary) is counted, not lost', () => {
  const t = new VipTable();
  t.setOffer('a', offer('i1', '1.1.1.1', '1.1.1.1'));
  t.setOffer('b', offer('i1', '1.1.1.1'));
  t.setOffer('a', undefined);
  assert.equal(t.entry('1.1.1.1')?.instance, 'i1');
  t.setOffer('b', undefined);
  assert.equal(t.entry('1.1.1.1'), undefined);
});

test('NOT_DEFINED beats BACKUP; FAULT/STOP never win; equal roles: smallest instance name', () => {
  const t = new VipTable();
  t.setOffer('a', offer('i1', '1.1.1.1'));
  t.setOffer('b', offer('i2', '1.1.1.1'));
  t.setOffer('c', offer('i3', '1.1.1.1'));
  t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'NOT_DEFINED'], ['i3', 'FAULT']));
  assert.equal(t.entry('1.1.1.1')?.instance, 'i2');
  t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'STOP'], ['i3', 'FAULT']));
  assert.equal(t.entry('1.1.1.1')?.instance, 'i1');
  t.setCiStates(ci(['i1', 'FAULT'], ['i2', 'STOP'], ['i3', 'FAULT']));
  assert.equal(t.entry('1.1.1.1'), undefined);
  t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'MASTER'], ['i3', 'MASTER']));
  assert.equal(t.entry('1.1.1.1')?.instance, 'i2');
  t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'BACKUP'], ['i3', 'BACKUP']));
  assert.equal(t.entry('1.1.1.1')?.instance, 'i1');
  assert.deepEqual(ROLE_RANK, { MASTER: 3, NOT_DEFINED: 2, BACKUP: 1, FAULT: 0, STOP: 0 });
});

test('IPv6 VIPs are entries in family 6', () => {
  const t = new VipTable();
  t.setOffer('r', offerOf(rule('2001:db8::10', { secondary: ['10.1.1.1'] })));
  t.setCiStates(ci(['llb-inst0', 'MASTER']));
  assert.deepEqual(advertised(t, '2001:db8::10'), { ip: '2001:db8::10', family: 6, instance: 'llb-inst0', attrs: { localPref: 5000, med: 10 } });
  assert.equal(t.entry('10.1.1.1')?.family, 4);
  // util/ipAddress's one rule: an IPv4-mapped address is IPv4 (the REST edge stores it as a.b.c.d anyway).
  assert.equal(familyOf('::ffff:1.2.3.4'), 4);
  assert.equal(familyOf('2001:db8::1'), 6);
  assert.equal(familyOf('1.2.3.4'), 4);
});

test('a CI instance vip other than 0.0.0.0 / :: is offered by its instance', () => {
  const t = new VipTable();
  t.setCiStates(ci(['llb-inst0', 'MASTER', '10.9.9.9'], ['i1', 'MASTER', '0.0.0.0'], ['i2', 'MASTER', '::'], ['i3', 'BACKUP', '']));
  assert.deepEqual(t.snapshot(), new Map([['10.9.9.9', { ip: '10.9.9.9', family: 4, instance: 'llb-inst0' }]]));
  assert.deepEqual(advertised(t, '10.9.9.9')?.attrs, { localPref: 5000, med: 10 });
  // A rule on the same address shares it: dropping the rule keeps the CI vip.
  t.setOffer('r', offer('llb-inst0', '10.9.9.9'));
  t.setOffer('r', undefined);
  assert.equal(t.entry('10.9.9.9')?.instance, 'llb-inst0');
  // The vip moves: the old one is withdrawn, the new one advertised.
  t.setCiStates(ci(['llb-inst0', 'MASTER', 'fd00::9']));
  assert.deepEqual(t.takeChanges(), new Map<string, VipEntry | undefined>([
    ['10.9.9.9', undefined],
    ['fd00::9', { ip: 'fd00::9', family: 6, instance: 'llb-inst0' }],
  ]));
  // The instance record goes away: so does its vip.
  t.setCiStates(ci());
  assert.deepEqual(t.takeChanges(), new Map([['fd00::9', undefined]]));
  assert.equal(t.snapshot().size, 0);
});

test('reset replaces every offer', () => {
  const t = new VipTable();
  t.setOffer('a', offer('i1', '1.1.1.1'));
  t.setOffer('b', offer('i1', '2.2.2.2'));
  t.snapshot();
  t.reset([['b', offer('i1', '2.2.2.2')], ['c', offer('i2', '3.3.3.3')], ['d', undefined]]);
  assert.deepEqual([...t.snapshot().keys()].sort(), ['2.2.2.2', '3.3.3.3']);
});

// ---- change tracking ----

test('takeChanges: nothing pending after snapshot; setOffer marks the offered (and withdrawn) ips', () => {
  const t = new VipTable();
  t.setOffer('a', offer('i1', '1.1.1.1', '2001:db8::1'));
  t.setOffer('b', offer('i1', '2.2.2.2'));
  assert.ok(t.pendingChanges > 0);
  t.snapshot();
  assert.equal(t.pendingChanges, 0);
  assert.deepEqual(t.takeChanges(), new Map());

  t.setOffer('c', offer('i2', '3.3.3.3'));
  assert.equal(t.pendingChanges, 1);
  assert.deepEqual(t.takeChanges(), new Map([['3.3.3.3', { ip: '3.3.3.3', family: 4, instance: 'i2' }]]));
  assert.equal(t.pendingChanges, 0);
  assert.deepEqual(t.takeChanges(), new Map());

  // Changing an offer: the old ips it no longer has and the new ones are marked.
  t.setOffer('a', offer('i1', '2001:db8::1', '4.4.4.4'));
  assert.deepEqual(t.takeChanges(), new Map<string, VipEntry | undefined>([
    ['1.1.1.1', undefined],
    ['2001:db8::1', { ip: '2001:db8::1', family: 6, instance: 'i1' }],
    ['4.4.4.4', { ip: '4.4.4.4', family: 4, instance: 'i1' }],
  ]));
  // The same offer object again: nothing to do.
  const same = offer('i1', '5.5.5.5');
  t.setOffer('e', same);
  t.takeChanges();
  t.setOffer('e', same);
  assert.equal(t.pendingChanges, 0);
  // Removing an offer whose address another offer still holds marks it, with the entry still there.
  t.setOffer('b2', offer('i1', '2.2.2.2'));
  t.takeChanges();
  t.setOffer('b', undefined);
  const ch = t.takeChanges();
  assert.ok([...ch.values()].every((e) => e !== undefined));
  assert.equal(t.entry('2.2.2.2')?.instance, 'i1');
  // Removing an unknown key marks nothing.
  t.setOffer('nope', undefined);
  assert.equal(t.pendingChanges, 0);
});

test('takeChanges: MASTER <-> BACKUP <-> NOT_DEFINED of a single instance marks nothing', () => {
  const t = new VipTable();
  t.setOffer('a', offer('i1', '1.1.1.1', '2001:db8::1'));
  t.setOffer('b', offer('i2', '2.2.2.2'));
  t.setCiStates(ci(['i1', 'MASTER']));
  t.snapshot();
  for (const s of ['BACKUP', 'MASTER', 'NOT_DEFINED', 'BACKUP'] as const) {
    t.setCiStates(ci(['i1', s], ['i2', s === 'NOT_DEFINED' ? 'MASTER' : 'NOT_DEFINED']));
    assert.equal(t.pendingChanges, 0, s);
    assert.equal(t.takeChanges().size, 0, s);
  }
});

test('takeChanges: into or out of FAULT / STOP marks every ip of the instance', () => {
  for (const s of ['FAULT', 'STOP'] as const) {
    const t = new VipTable();
    t.setOffer('a', offer('i1', '1.1.1.1', '2001:db8::1'));
    t.setOffer('b', offer('i2', '2.2.2.2'));
    t.setCiStates(ci(['i1', 'MASTER'], ['i2', 'MASTER']));
    t.snapshot();
    t.setCiStates(ci(['i1', s], ['i2', 'MASTER']));
    assert.deepEqual(t.takeChanges(), new Map([['1.1.1.1', undefined], ['2001:db8::1', undefined]]), s);
    // FAULT <-> STOP: both withdrawn, nothing changes hands; marking is allowed but must be a withdrawal.
    t.setCiStates(ci(['i1', s === 'FAULT' ? 'STOP' : 'FAULT'], ['i2', 'MASTER']));
    for (const e of t.takeChanges().values()) assert.equal(e, undefined);
    t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'MASTER']));
    assert.deepEqual(t.takeChanges(), new Map([
      ['1.1.1.1', { ip: '1.1.1.1', family: 4, instance: 'i1' }],
      ['2001:db8::1', { ip: '2001:db8::1', family: 6, instance: 'i1' }],
    ]), s);
    // Dropping the record of a FAULT instance makes it NOT_DEFINED: advertised again.
    t.setCiStates(ci(['i1', s], ['i2', 'MASTER']));
    t.takeChanges();
    t.setCiStates(ci(['i2', 'MASTER']));
    assert.equal(t.takeChanges().size, 2, s);
  }
});

test('takeChanges: ips shared by more than one instance are marked on any role change', () => {
  const t = new VipTable();
  t.setOffer('a', offer('i1', '1.1.1.1', '2.2.2.2'));
  t.setOffer('b', offer('i2', '1.1.1.1'));
  t.setCiStates(ci(['i1', 'MASTER'], ['i2', 'BACKUP']));
  t.snapshot();
  assert.equal(t.entry('1.1.1.1')?.instance, 'i1');
  // i1 MASTER -> BACKUP: the shared address now follows i1 still (tie: smallest name) but is re-checked; 2.2.2.2 is not.
  t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'BACKUP']));
  assert.deepEqual(t.takeChanges(), new Map([['1.1.1.1', { ip: '1.1.1.1', family: 4, instance: 'i1' }]]));
  // i2 BACKUP -> MASTER: the shared address changes hands.
  t.setCiStates(ci(['i1', 'BACKUP'], ['i2', 'MASTER']));
  assert.deepEqual(t.takeChanges(), new Map([['1.1.1.1', { ip: '1.1.1.1', family: 4, instance: 'i2' }]]));
  // i2 MASTER -> NOT_DEFINED (record dropped): NOT_DEFINED still beats BACKUP.
  t.setCiStates(ci(['i1', 'BACKUP']));
  assert.deepEqual(t.takeChanges(), new Map([['1.1.1.1', { ip: '1.1.1.1', family: 4, instance: 'i2' }]]));
  // A CI vip shares an address too.
  t.setOffer('b', undefined);
  t.setCiStates(ci(['i1', 'BACKUP'], ['i3', 'NOT_DEFINED', '2.2.2.2']));
  t.takeChanges();
  t.setCiStates(ci(['i1', 'BACKUP'], ['i3', 'MASTER', '2.2.2.2']));
  assert.deepEqual(t.takeChanges(), new Map([['2.2.2.2', { ip: '2.2.2.2', family: 4, instance: 'i3' }]]));
});

// ---- the incremental tracking never misses a change ----

const IPS = ['1.1.1.1', '1.1.1.2', '10.9.9.9', '2001:db8::1', 'fd00::9'] as const;
const INSTANCES = ['i1', 'i2', 'llb-inst0'] as const;
const KEYS = ['r1', 'r2', 'r3', 'r4'] as const;
const ROLES: CiStateName[] = ['MASTER', 'BACKUP', 'NOT_DEFINED', 'FAULT', 'STOP'];

/** The planner from scratch: per ip, the highest-ranked offering instance not in FAULT/STOP, ties to the smallest name. */
function referencePlan(offers: ReadonlyMap<string, VipOffer>, states: ReadonlyMap<string, CiState>): Map<string, VipEntry> {
  const offered = new Map<string, Set<string>>();
  const add = (ip: string, inst: string) => {
    let s = offered.get(ip);
    if (!s) offered.set(ip, (s = new Set()));
    s.add(inst);
  };
  for (const o of offers.values()) for (const ip of o.ips) add(ip, o.instance);
  for (const s of states.values()) if (s.vip && s.vip !== '0.0.0.0' && s.vip !== '::') add(s.vip, s.instance);
  const rank = (inst: string) => ({ MASTER: 3, NOT_DEFINED: 2, BACKUP: 1, FAULT: 0, STOP: 0 })[states.get(inst)?.state ?? 'NOT_DEFINED'];
  const out = new Map<string, VipEntry>();
  for (const [ip, insts] of offered) {
    const best = [...insts].filter((i) => rank(i) > 0).sort((a, b) => rank(b) - rank(a) || (a < b ? -1 : a > b ? 1 : 0))[0];
    if (best !== undefined) out.set(ip, { ip, family: ip.includes(':') ? 6 : 4, instance: best });
  }
  return out;
}

type Op =
  | { kind: 'offer'; key: string; offer: VipOffer | undefined }
  | { kind: 'same'; key: string }
  | { kind: 'reset'; offers: [string, VipOffer | undefined][] }
  | { kind: 'ci'; states: CiState[] }
  | { kind: 'role'; instance: string; state: CiStateName; vip?: string }
  | { kind: 'take' }
  | { kind: 'snapshot' };

const offerArb: fc.Arbitrary<VipOffer | undefined> = fc.option(
  fc.record({ instance: fc.constantFrom(...INSTANCES), ips: fc.array(fc.constantFrom(...IPS), { maxLength: 4 }) }),
  { nil: undefined, freq: 4 },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('offer' as const), key: fc.constantFrom(...KEYS), offer: offerArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('same' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), offers: fc.array(fc.tuple(fc.constantFrom(...KEYS), offerArb), { maxLength: 5 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('ci' as const),
      // Every record at once: many roles and vips change in one call.
      states: fc.uniqueArray(
        fc.record({ instance: fc.constantFrom(...INSTANCES), state: fc.constantFrom(...ROLES), vip: fc.constantFrom('0.0.0.0', '::', ...IPS) }),
        { selector: (s) => s.instance, maxLength: INSTANCES.length },
      ),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('role' as const),
      instance: fc.constantFrom(...INSTANCES),
      state: fc.constantFrom(...ROLES),
      // Mostly a pure role change; sometimes the vip moves too.
      vip: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('0.0.0.0', '::', ...IPS) }),
    }),
  },
  { weight: 6, arbitrary: fc.constant({ kind: 'take' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
);

test('property: changes folded from takeChanges always match snapshot() and a from-scratch plan', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60, size: 'medium' }), (ops) => {
      const t = new VipTable();
      const offers = new Map<string, VipOffer>();
      let states = new Map<string, CiState>();
      let mirror = new Map<string, VipEntry>();
      const setModel = (key: string, o: VipOffer | undefined) => {
        if (o && o.ips.length > 0) offers.set(key, o);
        else offers.delete(key);
      };
      const fold = () => {
        for (const [ip, e] of t.takeChanges()) {
          if (e) mirror.set(ip, e);
          else mirror.delete(ip);
        }
      };
      for (const op of ops) {
        switch (op.kind) {
          case 'offer':
            t.setOffer(op.key, op.offer);
            setModel(op.key, op.offer);
            break;
          case 'same': {
            // The stored object again: an early return must not lose anything either.
            const cur = offers.get(op.key);
            t.setOffer(op.key, cur);
            break;
          }
          case 'reset':
            t.reset(op.offers);
            offers.clear();
            for (const [k, o] of op.offers) setModel(k, o);
            break;
          case 'ci':
            states = new Map(op.states.map((s) => [s.instance, { ...s }]));
            t.setCiStates(states);
            break;
          case 'role': {
            // One instance changes role (and maybe vip), as a single CI update would.
            const cur = states.get(op.instance);
            states = new Map(states);
            states.set(op.instance, { instance: op.instance, state: op.state, vip: op.vip ?? cur?.vip ?? '0.0.0.0' });
            t.setCiStates(states);
            break;
          }
          case 'take':
            fold();
            assert.deepEqual(mirror, referencePlan(offers, states));
            assert.equal(t.pendingChanges, 0);
            break;
          case 'snapshot':
            mirror = t.snapshot();
            assert.equal(t.pendingChanges, 0);
            break;
        }
      }
      fold();
      const want = referencePlan(offers, states);
      assert.deepEqual(mirror, want);
      assert.deepEqual(t.snapshot(), want);
      for (const ip of IPS) assert.deepEqual(t.entry(ip), want.get(ip));
    }),
    { numRuns: 300 },
  );
});
