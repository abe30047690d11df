import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RuleIdAllocator, planDatapath, unsupportedReason, type PlanContext } from '../../src/datapath/planDatapath.ts';
import { LB_RULE_SIZE, MAX_EPS, WSLOTS, decodeLbKey, encodeIp4, encodeLbKey, encodeLbRule, weightSlots, type DpEndpoint } from '../../src/datapath/layout.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';

function rule(sa: Partial<LbRule['serviceArguments']> = {}, eps = ['10.0.0.1', '10.0.0.2'], extra: Partial<LbRule> = {}): LbRule {
  return {
    serviceArguments: { externalIP: '20.20.20.1', port: 80, protocol: 'tcp', sel: 0, mode: 0, bgp: false, monitor: false, block: 0, ...sa },
    endpoints: eps.map((ip) => ({ endpointIP: ip, targetPort: 8080, weight: 1 })),
    secondaryIPs: [],
    allowedSources: [],
    ...extra,
  };
}

function ctx(over: Partial<PlanContext> = {}): PlanContext {
  const ids = new RuleIdAllocator();
  return { alive: () => true, instanceVip: () => undefined, ruleId: (s, sig) => ids.idFor(s, sig), ...over };
}

test('one entry per VIP, secondary VIP and port of a range', () => {
  const p = planDatapath([rule({ port: 80, portMax: 82 }, undefined, { secondaryIPs: [{ secondaryIP: '20.20.20.2' }] })], ctx());
  assert.deepEqual(
    p.entries.map((e) => `${e.key.vip}:${e.key.port}`),
    ['20.20.20.1:80', '20.20.20.1:81', '20.20.20.1:82', '20.20.20.2:80', '20.20.20.2:81', '20.20.20.2:82'],
  );
  assert.equal(new Set(p.entries.map((e) => e.rule.id)).size, 1, 'they share one rule id (one rr position)');
  assert.deepEqual(p.vips, ['20.20.20.1', '20.20.20.2'], 'each VIP once: these answer ping');
});

test('only VIPs of programmed rules answer ping', () => {
  const p = planDatapath([rule({ externalIP: '20.20.20.9', protocol: 'sctp' }), rule({ port: 53, protocol: 'udp' }), rule()], ctx());
  assert.deepEqual(p.vips, ['20.20.20.1']);
});

test('fullnat takes the instance vip as source when one is set, else the rule VIP; other modes none', () => {
  const full = rule({ mode: 2, name: 'svc:llb-inst1' });
  assert.equal(planDatapath([full], ctx()).entries[0]!.rule.snatAddr, '20.20.20.1');
  assert.equal(planDatapath([full], ctx({ instanceVip: (i) => (i === 'llb-inst1' ? '20.20.20.254' : undefined) })).entries[0]!.rule.snatAddr, '20.20.20.254');
  assert.equal(planDatapath([full], ctx({ instanceVip: () => '::1' })).entries[0]!.rule.snatAddr, '20.20.20.1', 'an IPv6 floating address cannot source IPv4');
  assert.equal(planDatapath([rule({ mode: 1 })], ctx()).entries[0]!.rule.snatAddr, '');
});

test('what the datapath cannot carry yet is skipped with the reason', () => {
  assert.match(unsupportedReason(rule({ protocol: 'sctp' }))!, /protocol sctp/);
  assert.match(unsupportedReason(rule({ mode: 3 }))!, /mode dsr/);
  assert.match(unsupportedReason(rule({ sel: 5 }))!, /sel n2/);
  assert.match(unsupportedReason(rule({ externalIP: 'fd00::1' }))!, /IPv6/);
  assert.match(unsupportedReason(rule({}, ['fd00::2']))!, /endpoint fd00::2 is IPv6/);
  assert.match(unsupportedReason(rule({ port: 1000, portMax: 2000 }))!, /wider than 256/);
  const p = planDatapath([rule({ protocol: 'sctp' }), rule({ port: 81 })], ctx());
  assert.equal(p.entries.length, 1);
  assert.equal(p.skipped.length, 1);
});

test('liveness, timeout and allowed sources land in the rule', () => {
  const r = rule({ inactiveTimeOut: 30 }, ['10.0.0.1', '10.0.0.2'], { allowedSources: [{ prefix: '192.168.0.0/16' }, { prefix: 'fd00::/8' }] });
  const dp = planDatapath([r], ctx({ alive: (_r, ep) => ep.endpointIP !== '10.0.0.2' })).entries[0]!.rule;
  assert.deepEqual(dp.endpoints.map((e) => e.alive), [true, false]);
  assert.equal(dp.timeoutS, 30);
  assert.deepEqual(dp.sources, [{ net: '192.168.0.0', bits: 16 }]);
  // Only IPv6 sources allowed: no IPv4 client may pass.
  const v6only = planDatapath([rule({}, undefined, { allowedSources: [{ prefix: 'fd00::/8' }] })], ctx()).entries[0]!.rule;
  assert.deepEqual(v6only.sources, [{ net: '255.255.255.255', bits: 32 }]);
});

test('rule ids: stable while the endpoint list is, fresh when it changes, reused after release', () => {
  const ids = new RuleIdAllocator(4);
  const a = ids.idFor('a', 'x');
  assert.equal(ids.idFor('a', 'x'), a);
  ids.commit();
  const a2 = ids.idFor('a', 'y');
  assert.notEqual(a2, a);
  assert.ok(ids.fresh.has(a2!));
  ids.commit();
  ids.commit(); // 'a' not asked for: released
  const b = ids.idFor('b', 'z');
  assert.equal(b, a, 'the oldest free id comes back first');
  for (const s of ['c', 'd', 'e']) ids.idFor(s, '');
  assert.equal(ids.idFor('f', ''), undefined, 'no more than max ids');
});

test('encoded rule: size, key round trip, weighted slots over alive endpoints only', () => {
  const key = { vip: '20.20.20.1', port: 443, proto: 'udp' as const };
  assert.deepEqual(decodeLbKey(encodeLbKey(key)), key);
  const eps: DpEndpoint[] = [
    { addr: '10.0.0.1', port: 80, weight: 3, alive: true },
    { addr: '10.0.0.2', port: 80, weight: 1, alive: true },
    { addr: '10.0.0.3', port: 80, weight: 50, alive: false },
  ];
  const b = encodeLbRule({ id: 7, sel: 2, mode: 0, snatAddr: '', timeoutS: 240, persistS: 240, endpoints: eps, sources: [] });
  assert.equal(b.length, LB_RULE_SIZE);
  assert.equal(b.readUInt32LE(0), 7);
  assert.equal(b.readUInt32LE(20), 2, 'nalive');
  const slots = weightSlots(eps);
  assert.equal(slots.filter((s) => s === 0).length, 96);
  assert.equal(slots.filter((s) => s === 1).length, 32);
  assert.equal(slots.filter((s) => s === 2).length, 0);
});

test('weight slots: every slot names an alive endpoint, shares follow weights (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ weight: fc.integer({ min: 0, max: 100 }), alive: fc.boolean() }), { minLength: 1, maxLength: MAX_EPS }), (spec) => {
      const eps = spec.map((s, i) => ({ addr: `10.0.0.${i + 1}`, port: 80, ...s }));
      const slots = weightSlots(eps);
      assert.equal(slots.length, WSLOTS);
      const alive = eps.map((e, i) => (e.alive ? i : -1)).filter((i) => i >= 0);
      if (alive.length === 0) return;
      for (const s of slots) assert.ok(eps[s]!.alive, `slot points at dead endpoint ${s}`);
      const total = alive.reduce((t, i) => t + eps[i]!.weight, 0);
      for (const i of alive) {
        const want = total > 0 ? (eps[i]!.weight / total) * WSLOTS : WSLOTS / alive.length;
        const got = slots.filter((s) => s === i).length;
        assert.ok(Math.abs(got - want) < 1, `endpoint ${i}: ${got} slots, want ~${want}`);
      }
    }),
  );
});

test('addresses encode as 4 bytes in network order; a bad one is refused, never wrapped', () => {
  assert.deepEqual([...encodeIp4('192.168.80.11')], [192, 168, 80, 11]);
  assert.deepEqual([...encodeIp4('0.0.0.0')], [0, 0, 0, 0]);
  assert.throws(() => encodeIp4('1.2.3.256'), /not a dotted-quad IPv4 address: 1.2.3.256/);
  assert.throws(() => encodeIp4('010.0.0.1'));
  assert.throws(() => encodeIp4('1.2.3'));
  assert.throws(() => encodeIp4('fd00::1'));
});
