import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RuleIdAllocator, matchAddresses, planRule, type RuleContext, type RulePlan } from '../../src/datapath/planDatapath.ts';
import { datapathRefusal } from '../../src/datapath/capabilities.ts';
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

function ctx(over: Partial<RuleContext> = {}): RuleContext {
  return { alive: () => true, instanceVip: () => undefined, localAddresses: () => [], onLink: () => true, ...over };
}

function plan(r: LbRule, c = ctx()): RulePlan {
  const p = planRule(r, c);
  assert.ok(!('reason' in p), 'reason' in p ? p.reason : '');
  return p;
}

test('one entry per VIP, secondary VIP and port of a range, all with one value', () => {
  const p = plan(rule({ port: 80, portMax: 82 }, undefined, { secondaryIPs: [{ secondaryIP: '20.20.20.2' }] }));
  assert.deepEqual(
    p.keys.map((e) => `${e.key.vip}:${e.key.port}`),
    ['20.20.20.1:80', '20.20.20.1:81', '20.20.20.1:82', '20.20.20.2:80', '20.20.20.2:81', '20.20.20.2:82'],
  );
  assert.deepEqual(p.vips, ['20.20.20.1', '20.20.20.2'], 'each VIP once: these answer ping');
  assert.equal(p.endpointsSignature, '10.0.0.1:8080,10.0.0.2:8080');
});

test('privateIP is what packets arrive at: the rule matches it, fullnat sources from it', () => {
  const p = plan(rule({ privateIP: '10.9.9.9', mode: 2 }));
  assert.deepEqual(p.keys.map((e) => e.key.vip), ['10.9.9.9']);
  assert.equal(p.rule.snatAddr, '10.9.9.9');
  assert.deepEqual(matchAddresses(rule({ privateIP: '10.9.9.9' }, undefined, { secondaryIPs: [{ secondaryIP: '20.20.20.2' }] })), ['10.9.9.9', '20.20.20.2']);
});

test('fullnat takes the instance vip as source when one is set, else the rule VIP; other modes none', () => {
  const full = rule({ mode: 2, name: 'svc:llb-inst1' });
  assert.equal(plan(full).rule.snatAddr, '20.20.20.1');
  assert.equal(plan(full, ctx({ instanceVip: (i) => (i === 'llb-inst1' ? '20.20.20.254' : undefined) })).rule.snatAddr, '20.20.20.254');
  assert.equal(plan(full, ctx({ instanceVip: () => '::1' })).rule.snatAddr, '20.20.20.1', 'an IPv6 floating address cannot source IPv4');
  assert.equal(plan(rule({ mode: 1 })).rule.snatAddr, '');
});

test('what the datapath cannot carry is refused with the field and the reason', () => {
  const cases: [LbRule, string, RegExp][] = [
    [rule({ protocol: 'sctp', externalIP: 'fd00::1' }), 'endpoints', /NAT64/],
    [rule({ mode: 6 }), 'serviceArguments.mode', /must be one of/],
    [rule({ mode: 4 }), 'serviceArguments.mode', /fullproxy/],
    [rule({ sel: 5 }), 'serviceArguments.sel', /n2/],
    [rule({ security: 1 }), 'serviceArguments.security', /TLS/],
    [rule({ host: 'a.example' }), 'serviceArguments.host', /URL/],
    [rule({ proxyprotocolv2: true }), 'serviceArguments.proxyprotocolv2', /PROXY/],
    [rule({ egress: true }), 'serviceArguments.egress', /egress/],
    [rule({ snat: true }), 'serviceArguments.snat', /SNAT/],
    [rule({ port: 1000, portMax: 2000 }), 'serviceArguments.portMax', /at most 256 ports/],
    [rule({}, undefined, { allowedSources: [{ prefix: 'fd00::/8' }] }), 'allowedSources', /can never match/],
  ];
  for (const [r, field, re] of cases) {
    const err = datapathRefusal(r);
    assert.ok(err, field);
    assert.equal(err.field, field);
    assert.match(err.message, re);
    const p = planRule(r, ctx());
    assert.ok('reason' in p && p.reason === err.message, 'the planner refuses the same rules');
  }
  assert.equal(datapathRefusal(rule({ sel: 4, mode: 2 })), undefined);
});

test('liveness, timeout and allowed sources land in the rule', () => {
  const r = rule({ inactiveTimeOut: 30 }, ['10.0.0.1', '10.0.0.2'], { allowedSources: [{ prefix: '192.168.0.0/16' }, { prefix: '10.1.1.1/32' }] });
  const dp = plan(r, ctx({ alive: (_r, ep) => ep.endpointIP !== '10.0.0.2' })).rule;
  assert.deepEqual(dp.endpoints.map((e) => e.alive), [true, false]);
  assert.equal(dp.timeoutS, 30);
  assert.deepEqual(dp.sources, [{ net: '192.168.0.0', bits: 16 }, { net: '10.1.1.1', bits: 32 }]);
  assert.equal(plan(rule()).rule.timeoutS, 240, 'the default idle timeout');
});

test('hostonearm serves the node\'s own addresses of the rule\'s family; dsr needs on-link endpoints; icmp has port 0', () => {
  const host = rule({ externalIP: '0.0.0.0', mode: 5 });
  const c = ctx({ localAddresses: (f) => (f === 4 ? ['192.168.80.11', '10.9.0.1'] : ['fd00::11']) });
  const p = plan(host, c);
  assert.deepEqual(p.keys.map((k) => k.key.vip), ['192.168.80.11', '10.9.0.1']);
  assert.equal(p.rule.snatAddr, '', 'the egress interface address, as onearm');
  const none = planRule(host, ctx());
  assert.ok('reason' in none && /no IPv4 address/.test(none.reason));
  assert.deepEqual(matchAddresses(host), ['0.0.0.0'], 'without a context: the claim on the unspecified address');

  const dsr = rule({ mode: 3, sel: 1, port: 8080 });
  assert.ok(!('reason' in planRule(dsr, ctx())));
  const far = planRule(dsr, ctx({ onLink: (a) => a !== '10.0.0.2' }));
  assert.ok('reason' in far && /endpoint 10\.0\.0\.2 is not in a subnet of this node/.test(far.reason));

  const icmp = plan(rule({ protocol: 'icmp', port: 0 }));
  assert.deepEqual(icmp.keys.map((k) => k.hex.slice(32)), ['00000104'], 'port 0, protocol 1, family 4');
  const icmp6 = plan(rule({ protocol: 'icmp', port: 0, externalIP: 'fd00::10' }, ['fd00::1']));
  assert.deepEqual(icmp6.keys.map((k) => k.hex.slice(32)), ['00003a06'], 'ICMPv6 is protocol 58');
  assert.equal(icmp.rule.timeoutS, 20, "loxilb's default for non-session protocols");
  assert.equal(plan(rule({ protocol: 'udp' })).rule.timeoutS, 20);
  assert.equal(plan(rule({ protocol: 'sctp' })).rule.timeoutS, 240);
});

test('dsr, hostonearm and icmp limits are refused by field', () => {
  const cases: [LbRule, string, RegExp][] = [
    [rule({ mode: 3, sel: 0, port: 8080 }), 'serviceArguments.sel', /must be 1 \(hash\) in dsr mode/],
    [rule({ mode: 3, sel: 1, externalIP: 'fd00::1', port: 8080 }), 'endpoints', /dsr mode/],
    [rule({ mode: 5 }), 'serviceArguments.externalIP', /0\.0\.0\.0 or ::/],
    [rule({ mode: 5, externalIP: '0.0.0.0', privateIP: '10.1.1.1' }), 'serviceArguments.privateIP', /absent/],
    [rule({ mode: 0, externalIP: '0.0.0.0' }), 'serviceArguments.externalIP', /hostonearm serves every address/],
    [rule({ protocol: 'icmp', port: 0, externalIP: 'fd00::1' }), 'endpoints', /ICMP is not translated/],
  ];
  for (const [r, field, re] of cases) {
    const err = datapathRefusal(r);
    assert.ok(err, field);
    assert.equal(err.field, field);
    assert.match(err.message, re);
  }
});

test('rule ids: handed out up to max, released ones come back oldest first', () => {
  const ids = new RuleIdAllocator(3);
  const [a, b, c] = [ids.alloc(), ids.alloc(), ids.alloc()];
  assert.deepEqual([a, b, c], [0, 1, 2]);
  assert.equal(ids.alloc(), undefined, 'no more than max ids');
  ids.release(b!);
  ids.release(a!);
  assert.equal(ids.used, 1);
  assert.equal(ids.alloc(), b);
  assert.equal(ids.alloc(), a);
});

test('encoded rule: size, key round trip, weighted slots over alive endpoints only', () => {
  const key = { vip: '20.20.20.1', port: 443, proto: 'udp' as const };
  assert.deepEqual(decodeLbKey(encodeLbKey(key)), key);
  const key6 = { vip: 'fd00:1::10', port: 80, proto: 'tcp' as const };
  assert.deepEqual(decodeLbKey(encodeLbKey(key6)), key6);
  assert.deepEqual([...encodeLbKey(key).subarray(16)], [1, 187, 17, 4], 'port, protocol, family after the 16 address bytes');
  const eps: DpEndpoint[] = [
    { addr: '10.0.0.1', port: 80, weight: 3, alive: true },
    { addr: '10.0.0.2', port: 80, weight: 1, alive: true },
    { addr: '10.0.0.3', port: 80, weight: 50, alive: false },
  ];
  const b = encodeLbRule({ id: 7, sel: 2, mode: 0, snatAddr: '', timeoutS: 240, persistS: 240, endpoints: eps, sources: [], vips: ['20.20.20.1', '20.20.20.2'] });
  assert.equal(b.length, LB_RULE_SIZE);
  assert.equal(b.readUInt32LE(0), 7);
  assert.equal(b.readUInt32LE(32), 2, 'nalive');
  assert.equal(b[36], 4, 'endpoint family');
  assert.equal(b[37], 2, 'two VIP addresses');
  assert.equal(b.subarray(56, 72).toString('hex'), '14141402000000000000000000000000', 'the secondary VIP, second in vips[]');
  const slots = weightSlots(eps);
  assert.equal(slots.filter((s) => s === 0).length, 96);
  assert.equal(slots.filter((s) => s === 1).length, 32);
  assert.equal(slots.filter((s) => s === 2).length, 0);
});

test('IPv6 endpoints, sources and NAT64 rules encode in 16-byte addresses', () => {
  const b = encodeLbRule({
    id: 1, sel: 0, mode: 2, snatAddr: '', timeoutS: 240, persistS: 240,
    endpoints: [{ addr: 'fd00::5', port: 8080, weight: 1, alive: true }],
    sources: [{ net: 'fd00:ab::', bits: 36 }, { net: '2001:db8::1', bits: 128 }],
    vips: ['fd00::10'],
  });
  assert.equal(b[36], 6);
  assert.equal(b.subarray(104, 120).toString('hex'), 'fd000000000000000000000000000005');
  assert.equal(b.readUInt16BE(120), 8080);
  const src = 104 + MAX_EPS * 20 + WSLOTS;
  assert.equal(b.subarray(src, src + 16).toString('hex'), 'fd0000ab000000000000000000000000');
  assert.equal(b.subarray(src + 16, src + 32).toString('hex'), 'fffffffff00000000000000000000000', '/36');
  assert.equal(b.subarray(src + 48, src + 64).toString('hex'), 'f'.repeat(32), '/128');
  const v4src = encodeLbRule({ id: 1, sel: 0, mode: 0, snatAddr: '', timeoutS: 1, persistS: 1, endpoints: [], sources: [{ net: '10.1.2.3', bits: 8 }], vips: [] });
  assert.equal(v4src.subarray(src, src + 32).toString('hex'), '0a000000000000000000000000000000ff000000000000000000000000000000');
  // NAT64: an IPv6 VIP whose endpoints are IPv4 sources from the egress interface unless fullnat has an IPv4 floating address
  const nat64 = rule({ externalIP: 'fd00::10', mode: 2, name: 'svc:llb-inst0' });
  assert.equal(plan(nat64).rule.snatAddr, '');
  assert.equal(plan(nat64, ctx({ instanceVip: () => '20.20.20.254' })).rule.snatAddr, '20.20.20.254');
  assert.equal(plan(rule({ externalIP: 'fd00::10', mode: 2 }, ['fd00::1'])).rule.snatAddr, 'fd00::10');
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
