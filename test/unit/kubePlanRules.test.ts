import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
import { formatLbRuleForGet } from '../../src/lb/validateLbRule.ts';
import { defaultServiceSettings, type ServiceSettings } from '../../src/kube/annotations.ts';
import {
  EXCLUDE_FROM_LB_LABEL,
  diffRules,
  isOwnedRule,
  planRules,
  ruleName,
  zoneInstances,
  type PlanConfig,
  type PlanNode,
  type PlanService,
  type RuleDiff,
} from '../../src/kube/planRules.ts';
import { formatIngress, parseIngress } from '../../src/kube/serviceStatus.ts';

const config: PlanConfig = { setBGP: 0, monitor: false, setLBMode: 0, zone: 'llb', usePodNetwork: false, useExternalEndpoint: false };

const nodes: PlanNode[] = [
  { name: 'worker2', ready: true, internalIPs: ['192.168.80.102', 'fd00::102'] },
  { name: 'worker1', ready: true, internalIPs: ['192.168.80.101', 'fd00::101'], labels: { 'node-role.kubernetes.io/worker': '' } },
  { name: 'worker3', ready: false, internalIPs: ['192.168.80.103'] },
  { name: 'master1', ready: true, internalIPs: ['192.168.80.10'], labels: { [EXCLUDE_FROM_LB_LABEL]: '' } },
];

function svc(extra: Omit<Partial<PlanService>, 'settings'> & { settings?: Partial<ServiceSettings> } = {}): PlanService {
  const { settings, ...rest } = extra;
  return {
    namespace: 'default',
    name: 'nginx-lb1',
    ports: [{ port: 55002, protocol: 'TCP', nodePort: 32694 }],
    vips: ['123.123.123.1'],
    settings: { ...defaultServiceSettings(), ...settings },
    ...rest,
  };
}

function plan(services: PlanService[], cfg: Partial<PlanConfig> = {}, agent?: string[]) {
  return planRules({ services, nodes, config: { ...config, ...cfg } }, agent);
}

const eps = (port: number, ...ips: string[]) => ips.map((endpointIP) => ({ endpointIP, targetPort: port, weight: 1 }));

test('one rule per VIP and port: Ready, non-excluded nodes at the NodePort', () => {
  const p = plan([svc()]);
  assert.deepEqual(p.notes, []);
  assert.deepEqual(p.rules, [
    {
      serviceArguments: {
        externalIP: '123.123.123.1',
        port: 55002,
        protocol: 'tcp',
        sel: 0,
        mode: 0,
        block: 0,
        bgp: false,
        monitor: false,
        managed: true,
        snat: false,
        proxyprotocolv2: false,
        egress: false,
        inactiveTimeOut: 1800,
        name: 'default_nginx-lb1:llb-inst0',
      },
      endpoints: eps(32694, '192.168.80.101', '192.168.80.102'),
      secondaryIPs: [],
      allowedSources: [],
    },
  ]);
});

test('rule names, instances and helpers', () => {
  assert.equal(ruleName('ns', 'svc', 'llb-inst1'), 'ns_svc:llb-inst1');
  assert.deepEqual(zoneInstances('aws', 2), ['aws-inst0', 'aws-inst1']);
  assert.equal(plan([svc({ instance: 'llb-inst1' })]).rules[0]!.serviceArguments.name, 'default_nginx-lb1:llb-inst1');
  assert.equal(plan([svc({ instance: 'llb-inst1', settings: { zoneInstance: 'llb-inst0' } })]).rules[0]!.serviceArguments.name, 'default_nginx-lb1:llb-inst0', 'the annotation wins');
  assert.equal(plan([svc()], { zone: 'aws' }).rules[0]!.serviceArguments.name, 'default_nginx-lb1:aws-inst0');
});

test('externalTrafficPolicy Local keeps only nodes with a ready local endpoint', () => {
  const s = svc({
    externalTrafficPolicy: 'Local',
    endpointSlices: [{ addressType: 'IPv4', ports: [{ port: 80 }], endpoints: [
      { addresses: ['10.42.1.5'], nodeName: 'worker2' },
      { addresses: ['10.42.2.5'], nodeName: 'worker1', ready: false },
    ] }],
  });
  assert.deepEqual(plan([s]).rules[0]!.endpoints, eps(32694, '192.168.80.102'));
});

test('several ports and dual-stack VIPs: endpoints of each VIP family', () => {
  const s = svc({
    vips: ['123.123.123.1', '3ffe:cafe::1'],
    ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }, { port: 53, protocol: 'UDP', nodePort: 30053 }],
  });
  const r = plan([s]).rules;
  assert.deepEqual(r.map((x) => [x.serviceArguments.externalIP, x.serviceArguments.port, x.serviceArguments.protocol]), [
    ['123.123.123.1', 53, 'udp'], ['123.123.123.1', 80, 'tcp'], ['3ffe:cafe::1', 53, 'udp'], ['3ffe:cafe::1', 80, 'tcp'],
  ]);
  assert.deepEqual(r[3]!.endpoints, eps(30080, 'fd00::101', 'fd00::102'));
  const nat64 = plan([svc({ vips: ['3ffe:cafe::1'], settings: { ipam: 'ipv6to4', ipamExplicit: true } })]).rules[0]!;
  assert.deepEqual(nat64.endpoints, eps(32694, '192.168.80.101', '192.168.80.102'), 'ipv6to4: IPv6 VIP, IPv4 endpoints');
});

test('Service and global settings reach the rule', () => {
  const s = svc({
    ports: [{ port: 38412, protocol: 'SCTP', nodePort: 31402 }, { port: 80, protocol: 'TCP', nodePort: 30080 }],
    secondaryIPs: ['124.124.124.1', 'fd00::9'],
    loadBalancerSourceRanges: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'],
    settings: {
      lbMode: 2, sel: 1, liveness: true, inactiveTimeout: 60, egress: true,
      probe: { type: 'tcp', port: 8080, req: '/healthz', resp: 'ok' }, probeTimeout: 10, probeRetries: 3,
    },
  });
  const [http, sctp] = plan([s], { setBGP: 64512, privateIP: '10.10.0.1' }).rules;
  assert.deepEqual(http!.serviceArguments, {
    externalIP: '123.123.123.1', port: 80, protocol: 'tcp', sel: 1, mode: 2, block: 0, bgp: true, monitor: true, managed: true,
    snat: false, proxyprotocolv2: false, egress: true, inactiveTimeOut: 60, name: 'default_nginx-lb1:llb-inst0', privateIP: '10.10.0.1',
    probetype: 'tcp', probeport: 8080, probereq: '/healthz', proberesp: 'ok', probeTimeout: 10, probeRetries: 3,
  });
  assert.deepEqual(http!.secondaryIPs, [], 'secondary IPs only on SCTP rules');
  assert.deepEqual(http!.allowedSources, [{ prefix: '10.0.0.0/8' }, { prefix: '192.168.1.7/32' }], 'sources of the VIP family');
  assert.deepEqual(sctp!.secondaryIPs, [{ secondaryIP: '124.124.124.1' }], 'secondary IPs of the VIP family');
  assert.equal(plan([svc({ settings: { staticIP: '123.123.123.1' } })], { privateIP: '10.10.0.1' }).rules[0]!.serviceArguments.privateIP, undefined);
  const global = plan([svc()], { monitor: true, setLBMode: 1 }).rules[0]!.serviceArguments;
  assert.deepEqual([global.monitor, global.mode], [true, 1]);
  const none = plan([svc({ settings: { probe: { type: 'none', port: 1 } } })]).rules[0]!.serviceArguments;
  assert.deepEqual([none.probetype, none.probeport], ['none', undefined]);
  // What the agent (and loxilb) refuses is a note for the Service, not a post.
  const httpProbe = plan([svc({ settings: { probe: { type: 'http', port: 8080 } } })]);
  assert.deepEqual(httpProbe.rules, []);
  assert.match(httpProbe.notes[0]!.message, /probetype: must be one of tcp, udp, sctp, ping, none on an LB rule/);
  const ppv2 = plan([svc({ ports: [{ port: 38412, protocol: 'SCTP', nodePort: 31402 }], settings: { proxyProtocolV2: true } })]);
  assert.match(ppv2.notes[0]!.message, /proxyprotocolv2: may only be true on a tcp rule/);
});

test('DSR forces hash selection, with a note', () => {
  const p = plan([svc({ ports: [{ port: 30080, protocol: 'TCP', nodePort: 30080 }], settings: { lbMode: 3, sel: 0 } })]);
  assert.equal(p.rules[0]!.serviceArguments.sel, 1);
  assert.match(p.notes[0]!.message, /DSR mode only works with hash/);
  const moved = plan([svc({ settings: { lbMode: 3 } })]);
  assert.deepEqual(moved.rules, [], 'DSR cannot change the port, so a NodePort other than the port cannot be used');
  assert.match(moved.notes.at(-1)!.message, /must equal the service port/);
});

test('bad source ranges fail closed', () => {
  const bad = plan([svc({ loadBalancerSourceRanges: ['10.0.0.0/8', 'nonsense'] })]);
  assert.deepEqual(bad.rules, []);
  assert.deepEqual(bad.notes.map((n) => n.service), ['default/nginx-lb1']);
  assert.match(bad.notes[0]!.message, /"nonsense" is not a CIDR/);
  const v6only = plan([svc({ vips: ['123.123.123.1', '3ffe::1'], loadBalancerSourceRanges: ['fd00::/8'] })]);
  assert.deepEqual(v6only.rules.map((r) => r.serviceArguments.externalIP), ['3ffe::1']);
  assert.match(v6only.notes[0]!.message, /no loadBalancerSourceRanges entry is IPv4/);
});

test('pod network: ready pod IPs at the pod port from EndpointSlices; node label filter', () => {
  const slices = [
    { addressType: 'IPv4' as const, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [
      { addresses: ['10.42.1.5'], nodeName: 'worker1' },
      { addresses: ['10.42.2.5'], nodeName: 'worker2' },
      { addresses: ['10.42.2.6'], nodeName: 'worker2', ready: false },
    ] },
    { addressType: 'IPv6' as const, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: ['fd42::5'], nodeName: 'worker1' }] },
    { addressType: 'IPv4' as const, ports: [{ name: 'other', port: 9090, protocol: 'TCP' }], endpoints: [{ addresses: ['10.42.9.9'] }] },
  ];
  const s = svc({ ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }], endpointSlices: slices, settings: { usePodNetwork: true } });
  assert.deepEqual(plan([s]).rules[0]!.endpoints, eps(8080, '10.42.1.5', '10.42.2.5'));
  const viaGlobal = svc({ ports: [{ name: 'http', port: 80, protocol: 'TCP' }], endpointSlices: slices });
  assert.deepEqual(plan([viaGlobal], { usePodNetwork: true }).rules[0]!.endpoints, eps(8080, '10.42.1.5', '10.42.2.5'), 'no nodePort needed');
  const labelled = { ...s, settings: { ...s.settings, nodeLabel: 'node-role.kubernetes.io/worker' } };
  assert.deepEqual(plan([labelled]).rules[0]!.endpoints, eps(8080, '10.42.1.5'));
  assert.deepEqual(plan([svc({ settings: { nodeLabel: 'node-role.kubernetes.io/worker' } })]).rules[0]!.endpoints, eps(32694, '192.168.80.101'), 'node mode too');
});

test('multus networks: the pod addresses on the named networks', () => {
  const s = svc({
    ports: [{ port: 80, protocol: 'TCP' }],
    settings: { multusNets: ['macvlan1'] },
    endpointSlices: [{ addressType: 'IPv4', ports: [{ port: 8080 }], endpoints: [
      { addresses: ['10.42.1.5'], networkAddresses: { 'default/macvlan1': ['172.30.0.5'], 'default/other': ['172.31.0.5'] } },
      { addresses: ['10.42.1.6'] },
    ] }],
  });
  assert.deepEqual(plan([s]).rules[0]!.endpoints, eps(8080, '172.30.0.5'));
});

test('prefLocalPod: each agent sends to itself when it is an endpoint', () => {
  const s = svc({ settings: { prefLocalPod: true } });
  assert.deepEqual(plan([s], {}, ['192.168.80.102']).rules[0]!.endpoints, eps(32694, '192.168.80.102'));
  assert.deepEqual(plan([s], {}, ['192.168.80.250']).rules[0]!.endpoints, eps(32694, '192.168.80.101', '192.168.80.102'), 'falls back to all');
  assert.deepEqual(plan([svc()], {}, ['192.168.80.102']).rules[0]!.endpoints.length, 2, 'only with the annotation');
});

test('no endpoints, too many endpoints, no nodePort, odd protocols', () => {
  const empty = planRules({ services: [svc()], nodes: [], config });
  assert.deepEqual(empty.rules, []);
  assert.match(empty.notes[0]!.message, /no ready IPv4 endpoints/);
  const many = Array.from({ length: 40 }, (_, i): PlanNode => ({ name: `n${i}`, ready: true, internalIPs: [`10.0.0.${100 - i}`] }));
  const big = planRules({ services: [svc()], nodes: many, config });
  assert.equal(big.rules[0]!.endpoints.length, 32);
  assert.equal(big.rules[0]!.endpoints[0]!.endpointIP, '10.0.0.61', 'the lowest addresses, in order');
  assert.match(big.notes[0]!.message, /40 endpoints, loxilb takes 32/);
  const noNodePort = plan([svc({ ports: [{ port: 80, protocol: 'TCP' }] })]);
  assert.deepEqual(noNodePort.rules, []);
  assert.match(noNodePort.notes[0]!.message, /no nodePort/);
  assert.match(plan([svc({ ports: [{ port: 80, protocol: 'GRE', nodePort: 1 }] })]).notes[0]!.message, /TCP, UDP and SCTP only/);
});

// ---- diff ----

const zone = 'llb';
/** What an agent's GET shows for these rules. */
const asGet = (rules: readonly LbRule[]) => rules.map((r) => formatLbRuleForGet(r));
const empty = (d: RuleDiff) => d.add.length + d.modify.length + d.replace.length + d.delete.length + d.conflicts.length === 0;

function foreign(name: string | undefined, managed: boolean, port = 9999): LbRule {
  const r = structuredClone(plan([svc()]).rules[0]!);
  r.serviceArguments.port = port;
  r.serviceArguments.managed = managed;
  if (name === undefined) delete r.serviceArguments.name;
  else r.serviceArguments.name = name;
  return r;
}

test('an agent that has every rule gets nothing; an empty agent gets everything', () => {
  const desired = plan([svc({ vips: ['123.123.123.1', '3ffe::1'], ports: [{ port: 80, protocol: 'TCP', nodePort: 30080 }, { port: 443, protocol: 'TCP', nodePort: 30443 }] })], { setBGP: 65001, monitor: true }).rules;
  assert.equal(desired.length, 4);
  assert.ok(empty(diffRules(desired, asGet(desired), { zone })));
  const fresh = diffRules(desired, [], { zone });
  assert.deepEqual(fresh.add, desired);
  assert.ok(empty({ ...fresh, add: [] }));
});

test('changed endpoints modify in place; name, bgp or egress changes replace', () => {
  const [rule] = plan([svc()]).rules;
  const onAgent = structuredClone(rule!);
  onAgent.endpoints = onAgent.endpoints.slice(0, 1);
  assert.deepEqual(diffRules([rule!], asGet([onAgent]), { zone }).modify, [rule]);
  for (const change of [
    (r: LbRule) => { r.serviceArguments.name = 'default_nginx-lb1:llb-inst1'; },
    (r: LbRule) => { r.serviceArguments.bgp = true; },
    (r: LbRule) => { r.serviceArguments.egress = true; },
  ]) {
    const old = structuredClone(rule!);
    change(old);
    const d = diffRules([rule!], asGet([old]), { zone });
    assert.equal(d.replace.length, 1);
    assert.equal(d.replace[0]!.current.bgp, old.serviceArguments.bgp, 'the DELETE carries the agent\'s bgp flag');
    assert.deepEqual(d.replace[0]!.desired, rule);
  }
  const weights = structuredClone(rule!);
  weights.endpoints = weights.endpoints.map((e) => ({ ...e, weight: 50 }));
  assert.ok(empty(diffRules([rule!], asGet([weights]), { zone })), 'rescaled weights are not a change');
});

test('an up-to-date rule the agent reports as not programmed is listed with the reason', () => {
  const [rule] = plan([svc()]).rules;
  const got = asGet([rule!]).map((r) => ({ ...r, programmed: false, reason: 'the kernel refused the rule: ENOMEM' }));
  const d = diffRules([rule!], got, { zone });
  assert.ok(empty(d), 'nothing to post: the rule is there');
  assert.deepEqual(d.notProgrammed.map((n) => [n.current.port, n.reason]), [[rule!.serviceArguments.port, 'the kernel refused the rule: ENOMEM']]);
  assert.deepEqual(diffRules([rule!], asGet([rule!]).map((r) => ({ ...r, programmed: true })), { zone }).notProgrammed, []);
  assert.deepEqual(diffRules([rule!], asGet([rule!]), { zone }).notProgrammed, [], 'loxilb says nothing: nothing reported');
});

test('only owned rules are deleted; a foreign rule on our key is a conflict', () => {
  const [rule] = plan([svc()]).rules;
  const stale = foreign('default_gone:llb-inst0', true, 7000);
  const staleBgp = foreign('ns2_old-svc:llb-inst1', true, 7001);
  staleBgp.serviceArguments.bgp = true;
  const keep = [foreign('my-hand-made-rule', false, 7002), foreign('default_x:llb-inst0', false, 7003), foreign('default_x:aws-inst0', true, 7004), foreign(undefined, true, 7005)];
  const d = diffRules([rule!], asGet([rule!, stale, staleBgp, ...keep]), { zone });
  assert.deepEqual(d.delete.map((r) => [r.port, r.bgp, r.name]), [[7000, false, 'default_gone:llb-inst0'], [7001, true, 'ns2_old-svc:llb-inst1']]);
  assert.ok(empty({ ...d, delete: [] }));
  const clash = foreign('handmade', false, 55002);
  const c = diffRules([rule!], asGet([clash]), { zone });
  assert.equal(c.conflicts.length, 1);
  assert.deepEqual([c.add, c.modify, c.delete], [[], [], []]);
  assert.ok(isOwnedRule({ managed: true, name: 'kube-system_my.svc:llb-inst12' }, 'llb'));
  assert.ok(!isOwnedRule({ managed: true, name: 'a_b:llb-instX' }, 'llb'));
  assert.ok(!isOwnedRule({ managed: true, name: 'ab:llb-inst0' }, 'llb'));
});

test('fields GET hides are compared against what was last posted', () => {
  const [v1] = plan([svc({ settings: { probe: { type: 'udp', port: 53, req: '/a' } } })]).rules;
  const [v2] = plan([svc({ settings: { probe: { type: 'udp', port: 53, req: '/b' } } })]).rules;
  assert.ok(empty(diffRules([v2!], asGet([v1!]), { zone })), 'GET cannot show probereq');
  const lastPosted = new Map([[ruleKey(v1!.serviceArguments), v1!]]);
  assert.deepEqual(diffRules([v2!], asGet([v1!]), { zone, lastPosted }).modify, [v2]);
  assert.ok(empty(diffRules([v1!], asGet([v1!]), { zone, lastPosted })));
});

test('GET entries are read leniently: any key case, omitted zero fields, junk skipped', () => {
  const [rule] = plan([svc()]).rules;
  const get = formatLbRuleForGet(rule!) as unknown as Record<string, Record<string, unknown>>;
  const shouting = { ServiceArguments: { ...get.serviceArguments, ExternalIP: '123.123.123.1' }, Endpoints: get.endpoints };
  delete (shouting.ServiceArguments as Record<string, unknown>).externalIP;
  assert.ok(empty(diffRules([rule!], [shouting, 'junk', { serviceArguments: {} }], { zone })));
});

test('a rule to delete is a typed key taken from the agent\'s copy (bgp, block, port range, host), not a path', () => {
  const [rule] = plan([svc()]).rules;
  const get = formatLbRuleForGet(rule!) as unknown as { serviceArguments: Record<string, unknown> };
  const sa = get.serviceArguments;
  const mine = (over: Record<string, unknown>) => ({ ...get, serviceArguments: { ...sa, ...over } });
  const d = diffRules([], [mine({ externalIP: 'fd00:0::1', bgp: true, block: 3, port: 80, portMax: 90, host: 'a.example' }), mine({ port: 81 })], { zone });
  assert.deepEqual(d.delete, [
    { externalIP: 'fd00::1', port: 80, portMax: 90, protocol: 'tcp', block: 3, bgp: true, host: 'a.example', name: sa.name },
    { externalIP: sa.externalIP, port: 81, protocol: 'tcp', block: 0, bgp: false, name: sa.name },
  ]);
});

test('property: applying a diff converges and the next diff is empty', () => {
  const base = plan([svc({ ports: Array.from({ length: 6 }, (_, i) => ({ port: 1000 + i, protocol: i % 2 ? 'UDP' : 'TCP', nodePort: 30000 + i })) })]).rules;
  const variant = (r: LbRule, k: number): LbRule => {
    const c = structuredClone(r);
    if (k === 1) c.endpoints = c.endpoints.slice(1);
    if (k === 2) c.serviceArguments.name = 'default_nginx-lb1:llb-inst1';
    if (k === 3) c.serviceArguments.sel = 4;
    return c;
  };
  const hand = foreign('handmade', false, 2000);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 6, maxLength: 6 }), fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 6, maxLength: 6 }), (have, want) => {
      const agent = new Map<string, LbRule>([[ruleKey(hand.serviceArguments), hand]]);
      have.forEach((k, i) => { if (k >= 0) agent.set(ruleKey(base[i]!.serviceArguments), variant(base[i]!, k)); });
      const desired = want.flatMap((k, i) => (k >= 0 ? [variant(base[i]!, k)] : []));
      const d = diffRules(desired, asGet([...agent.values()]), { zone });
      for (const r of d.delete) agent.delete(ruleKey({ ...r, protocol: r.protocol as LbRule['serviceArguments']['protocol'] }));
      for (const { current } of d.replace) agent.delete(ruleKey({ ...current, protocol: current.protocol as LbRule['serviceArguments']['protocol'] }));
      for (const r of [...d.add, ...d.modify, ...d.replace.map((x) => x.desired)]) agent.set(ruleKey(r.serviceArguments), r);
      assert.ok(empty(diffRules(desired, asGet([...agent.values()]), { zone })), 'converged');
      assert.ok(agent.has(ruleKey(hand.serviceArguments)), 'the hand-made rule survives');
      assert.equal(agent.size, desired.length + 1);
    }),
    { numRuns: 200 },
  );
});

test('status ingress: zone prefix, IPv6 dashes, --noZoneName, and back', () => {
  assert.deepEqual(formatIngress('123.123.123.1', { zone: 'llb', noZoneName: false }), { hostname: 'llb-123.123.123.1' });
  assert.deepEqual(formatIngress('3ffe:cafe::1', { zone: 'llb', noZoneName: false }), { hostname: 'llb-3ffe-cafe--1' });
  assert.deepEqual(formatIngress('123.123.123.1', { zone: 'llb', noZoneName: true }), { ip: '123.123.123.1' });
  assert.equal(parseIngress({ hostname: 'llb-123.123.123.1' }, 'llb'), '123.123.123.1');
  assert.equal(parseIngress({ hostname: 'llb-3ffe-cafe--1' }, 'llb'), '3ffe:cafe::1');
  assert.equal(parseIngress({ hostname: 'us-east-10.0.0.1' }, 'us-east'), '10.0.0.1');
  assert.equal(parseIngress({ ip: '10.0.0.1' }, 'llb'), '10.0.0.1');
  assert.equal(parseIngress({ hostname: 'example.com' }, 'llb'), undefined);
});
