import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_INACTIVE_TIMEOUT_S,
  allocationRequest,
  defaultServiceSettings,
  isServiceSelected,
  parseServiceAnnotations,
  vipFamilies,
  type AnnotationContext,
  type AnnotationProblem,
  type ServiceSettings,
} from '../../src/kube/annotations.ts';

const ctx: AnnotationContext = {
  v4Pools: ['defaultPool', 'pool2'],
  v6Pools: ['defaultPool', 'v6only'],
  secondaryPools: ['secondary0', 'secondary1'],
  zone: 'llb',
  numZoneInstances: 2,
};

function settings(ann: Record<string, string>): ServiceSettings {
  const r = parseServiceAnnotations(ann, ctx);
  assert.ok(r.ok, r.ok ? '' : r.errors.map((e) => e.message).join('\n'));
  return r.settings;
}

function errors(ann: Record<string, string>): AnnotationProblem[] {
  const r = parseServiceAnnotations(ann, ctx);
  assert.ok(!r.ok, `expected errors for ${JSON.stringify(ann)}`);
  return r.errors;
}

const L = (k: string) => `loxilb.io/${k}`;

test('no annotations: kube-loxilb defaults', () => {
  const s = settings({ 'app.kubernetes.io/name': 'x' });
  assert.deepEqual(s, {
    ipam: 'ipv4',
    ipamExplicit: false,
    pool: 'defaultPool',
    secondary: { kind: 'none' },
    sel: 0,
    liveness: false,
    inactiveTimeout: DEFAULT_INACTIVE_TIMEOUT_S,
    prefLocalPod: false,
    multusNets: [],
    proxyProtocolV2: false,
    egress: false,
    mtls: {},
  });
  assert.deepEqual(defaultServiceSettings(), s);
  assert.equal(DEFAULT_INACTIVE_TIMEOUT_S, 1800);
});

test('the documented example annotations', () => {
  const s = settings({ [L('liveness')]: 'yes', [L('lbmode')]: 'default', [L('ipam')]: 'ipv4', [L('num-secondary-networks')]: '2' });
  assert.equal(s.liveness, true);
  assert.equal(s.lbMode, 0);
  assert.equal(s.ipam, 'ipv4');
  assert.equal(s.ipamExplicit, true);
  assert.deepEqual(s.secondary, { kind: 'count', count: 2 });
});

test('every value of the enumerations', () => {
  const modes = { default: 0, onearm: 1, fullnat: 2, dsr: 3, fullproxy: 4, hostonearm: 5 };
  for (const [name, n] of Object.entries(modes)) assert.equal(settings({ [L('lbmode')]: name }).lbMode, n, name);
  assert.equal(settings({ [L('lbmode')]: 'FullNAT' }).lbMode, 2, 'values ignore case');
  const sels = { rr: 0, roundrobin: 0, hash: 1, persist: 3, lc: 4, n2: 5, n2det: 6, n3: 6 };
  for (const [name, n] of Object.entries(sels)) assert.equal(settings({ [L('epselect')]: name }).sel, n, name);
  const ipams = { ipv4: 'ipv4', ip: 'ipv4', ip4: 'ipv4', ipv6: 'ipv6', ip6: 'ipv6', nat66: 'ipv6', ipv6to4: 'ipv6to4', nat64: 'ipv6to4' };
  for (const [name, m] of Object.entries(ipams)) assert.equal(settings({ [L('ipam')]: name }).ipam, m, name);
  for (const t of ['none', 'ping', 'udp', 'tcp', 'sctp', 'http', 'https']) assert.equal(settings({ [L('probetype')]: t }).probe?.type, t);
});

test('probe annotations, timeouts and switches', () => {
  const s = settings({
    [L('liveness')]: 'yes',
    [L('probetype')]: 'http',
    [L('probeport')]: '8080',
    [L('probereq')]: 'GET /healthz',
    [L('proberesp')]: 'ok',
    [L('probetimeout')]: '10',
    [L('proberetries')]: '3',
    [L('timeout')]: '60',
    [L('prefLocalPod')]: 'yes',
    [L('usepodnetwork')]: 'yes',
    [L('useExternalEndpoint')]: 'no',
    [L('useproxyprotov2')]: 'yes',
    [L('egress')]: 'yes',
    [L('nodelabel')]: 'node-role.kubernetes.io/worker',
    [L('multus-nets')]: 'macvlan1,kube-system/sriov-net',
    [L('zoneinstance')]: 'llb-inst1',
    [L('zoneselect')]: 'llb',
  });
  assert.deepEqual(s.probe, { type: 'http', port: 8080, req: 'GET /healthz', resp: 'ok' });
  assert.equal(s.probeTimeout, 10);
  assert.equal(s.probeRetries, 3);
  assert.equal(s.inactiveTimeout, 60);
  assert.equal(s.prefLocalPod, true);
  assert.equal(s.usePodNetwork, true);
  assert.equal(s.useExternalEndpoint, false);
  assert.equal(s.proxyProtocolV2, true);
  assert.equal(s.egress, true);
  assert.equal(s.nodeLabel, 'node-role.kubernetes.io/worker');
  assert.deepEqual(s.multusNets, ['macvlan1', 'kube-system/sriov-net']);
  assert.equal(s.zoneInstance, 'llb-inst1');
  assert.equal(s.zoneSelect, 'llb');
});

test('probe details without a probe type are ignored with a warning', () => {
  const r = parseServiceAnnotations({ [L('probeport')]: '99999', [L('probereq')]: 'x' }, ctx);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.settings.probe, undefined);
  assert.deepEqual(r.warnings.map((w) => w.annotation), [L('probeport'), L('probereq')]);
  assert.match(r.warnings[0]!.message, /annotation loxilb.io\/probeport: ignored; set loxilb.io\/probetype/);
  const none = parseServiceAnnotations({ [L('probetype')]: 'none', [L('probeport')]: '80' }, ctx);
  assert.ok(none.ok && none.settings.probe?.port === undefined && none.warnings.length === 1);
});

test('addresses: static IP, pools, secondary IPs', () => {
  assert.equal(settings({ [L('staticIP')]: '10.9.9.9' }).staticIP, '10.9.9.9');
  const v6 = settings({ [L('staticIP')]: 'FD00::0:5' });
  assert.deepEqual([v6.staticIP, v6.ipam, v6.ipamExplicit], ['fd00::5', 'ipv6', true], 'an IPv6 static IP implies ipam ipv6');
  assert.equal(settings({ [L('poolSelect')]: 'pool2' }).pool, 'pool2');
  assert.equal(settings({ [L('ipam')]: 'ipv6', [L('poolSelect')]: 'v6only' }).pool, 'v6only');
  assert.deepEqual(settings({ [L('poolSelectSecondary')]: 'secondary1, pool2' }).secondary, { kind: 'pools', pools: ['secondary1', 'pool2'] });
  assert.deepEqual(settings({ [L('secondaryIPs')]: '10.1.1.1,10.1.1.2' }).secondary, { kind: 'ips', ips: ['10.1.1.1', '10.1.1.2'] });
  assert.deepEqual(settings({ [L('num-secondary-networks')]: '0' }).secondary, { kind: 'none' });
});

test('every bad value is reported with the key, the value and what is allowed', () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ [L('lbmode')]: 'fastnat' }, 'lbmode', /"fastnat" is not allowed; use one of default, onearm, fullnat, dsr, fullproxy, hostonearm/],
    [{ [L('epselect')]: 'random' }, 'epselect', /use one of rr, roundrobin, hash, persist, lc, n2, n2det, n3/],
    [{ [L('ipam')]: 'ipv5' }, 'ipam', /use one of ipv4/],
    [{ [L('liveness')]: 'sure' }, 'liveness', /use "yes" or "no"/],
    [{ [L('probetype')]: 'icmp' }, 'probetype', /use one of none, ping/],
    [{ [L('probetype')]: 'tcp', [L('probeport')]: '0' }, 'probeport', /integer from 1 to 65535/],
    [{ [L('timeout')]: '-5' }, 'timeout', /integer from 0 to 86400/],
    [{ [L('timeout')]: '86401' }, 'timeout', /integer from 0 to 86400/],
    [{ [L('probetimeout')]: 'soon' }, 'probetimeout', /integer/],
    [{ [L('staticIP')]: '10.0.0' }, 'staticIP', /one IPv4 or IPv6 address/],
    [{ [L('ipam')]: 'ipv6', [L('staticIP')]: '10.0.0.1' }, 'staticIP', /use an IPv6 address, because loxilb.io\/ipam is ipv6/],
    [{ [L('poolSelect')]: 'nope' }, 'poolSelect', /use one of the IPv4 pools: defaultPool, pool2/],
    [{ [L('ipam')]: 'ipv6', [L('poolSelect')]: 'pool2' }, 'poolSelect', /IPv6 pools: defaultPool, v6only/],
    [{ [L('poolSelectSecondary')]: 'secondary0,ghost' }, 'poolSelectSecondary', /unknown pool ghost/],
    [{ [L('secondaryIPs')]: '1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4' }, 'secondaryIPs', /1 to 3 addresses/],
    [{ [L('secondaryIPs')]: '1.1.1.1,fd00::1' }, 'secondaryIPs', /fd00::1 is IPv6/],
    [{ [L('secondaryIPs')]: '1.1.1.1', [L('staticIP')]: '1.1.1.1' }, 'secondaryIPs', /none equal to the staticIP/],
    [{ [L('secondaryIPs')]: '1.1.1.1', [L('poolSelectSecondary')]: 'secondary0' }, 'secondaryIPs', /cannot be combined with loxilb.io\/poolSelectSecondary/],
    [{ [L('num-secondary-networks')]: '3' }, 'num-secondary-networks', /at most 2: one address comes from each/],
    [{ [L('ipam')]: 'ipv6', [L('num-secondary-networks')]: '1' }, 'num-secondary-networks', /ipam must be ipv4/],
    [{ [L('nodelabel')]: 'bad key!' }, 'nodelabel', /node label key/],
    [{ [L('multus-nets')]: 'Bad_Net' }, 'multus-nets', /NetworkAttachmentDefinition/],
    [{ [L('zoneinstance')]: 'llb-inst2' }, 'zoneinstance', /use one of llb-inst0, llb-inst1/],
    [{ [L('liveness')]: 'yes', 'loxilb.io/Liveness': 'yes' }, 'Liveness', /repeats loxilb.io\/liveness/],
  ];
  for (const [ann, key, re] of cases) {
    const errs = errors(ann);
    assert.equal(errs.length, 1, `${JSON.stringify(ann)}: ${errs.map((e) => e.message).join(' | ')}`);
    const e = errs[0]!;
    assert.equal(e.annotation, L(key));
    assert.equal(e.value, ann[L(key)]);
    assert.match(e.message, re);
    assert.ok(e.message.startsWith(`annotation ${L(key)}: `));
  }
});

test('all or nothing: several errors at once, and no settings', () => {
  const r = parseServiceAnnotations({ [L('lbmode')]: 'x', [L('epselect')]: 'y', [L('liveness')]: 'yes' }, ctx);
  assert.equal(r.ok, false);
  assert.equal('settings' in r, false);
  if (!r.ok) assert.deepEqual(r.errors.map((e) => e.annotation).sort(), [L('epselect'), L('lbmode')]);
});

test('unknown loxilb.io keys and mTLS keys warn but do not fail; other prefixes are not ours', () => {
  const r = parseServiceAnnotations({ [L('livness')]: 'yes', [L('mtls-frontend-mode')]: 'strict', 'metallb.io/address-pool': 'x' }, ctx);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(r.settings.mtls, { 'mtls-frontend-mode': 'strict' });
  assert.deepEqual(r.warnings.map((w) => w.annotation), [L('livness'), 'loxilb.io/mtls-*']);
  assert.match(r.warnings[0]!.message, /not a loxilb-ts annotation/);
  assert.equal(settings({ 'loxilb.io/poolselect': 'pool2' }).pool, 'pool2', 'keys are matched without case');
});

test('VIP families: ipam wins, then the dual-stack policy', () => {
  const s4 = settings({});
  assert.deepEqual(vipFamilies(s4), { families: [4] });
  assert.deepEqual(vipFamilies(s4, { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }), { families: [6, 4] });
  assert.deepEqual(vipFamilies(s4, { ipFamilyPolicy: 'PreferDualStack' }), { families: [4, 6], fallback: [4] });
  assert.deepEqual(vipFamilies(s4, { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] }), { families: [6] });
  assert.deepEqual(vipFamilies(settings({ [L('ipam')]: 'ipv4' }), { ipFamilyPolicy: 'RequireDualStack' }), { families: [4] });
  assert.deepEqual(vipFamilies(settings({ [L('ipam')]: 'nat64' })), { families: [6] });
});

test('Service selection: type, class, multus and zone', () => {
  const cfg = { loadBalancerClass: 'loxilb.io/loxilb', zone: 'llb' };
  assert.equal(isServiceSelected({ type: 'LoadBalancer', loadBalancerClass: 'loxilb.io/loxilb' }, cfg), true);
  assert.equal(isServiceSelected({ type: 'LoadBalancer' }, cfg), false, 'no class: another load balancer');
  assert.equal(isServiceSelected({ type: 'LoadBalancer', loadBalancerClass: 'metallb.io/metallb' }, cfg), false);
  assert.equal(isServiceSelected({ type: 'ClusterIP', loadBalancerClass: 'loxilb.io/loxilb' }, cfg), false);
  assert.equal(isServiceSelected({ type: 'ClusterIP', annotations: { [L('multus-nets')]: 'macvlan1' } }, cfg), true);
  assert.equal(isServiceSelected({ type: 'LoadBalancer', loadBalancerClass: 'loxilb.io/loxilb', annotations: { [L('zoneselect')]: 'aws' } }, cfg), false);
  assert.equal(isServiceSelected({ type: 'LoadBalancer', loadBalancerClass: 'loxilb.io/loxilb', annotations: { [L('zoneselect')]: 'llb' } }, cfg), true);
});

test('settings become an IPAM request', () => {
  const ports = [{ port: 38412, protocol: 'sctp' }];
  const s = settings({ [L('poolSelect')]: 'pool2', [L('staticIP')]: '10.9.9.9', [L('poolSelectSecondary')]: 'secondary0' });
  assert.deepEqual(allocationRequest('ns/a', ports, s), {
    request: { serviceKey: 'ns/a', ports, families: [4], pool: 'pool2', staticIPs: ['10.9.9.9'], secondary: { pools: ['secondary0'] } },
  });
  const dual = allocationRequest('ns/b', ports, settings({ [L('num-secondary-networks')]: '1' }), { ipFamilyPolicy: 'PreferDualStack' });
  assert.deepEqual(dual.request.families, [4, 6]);
  assert.deepEqual(dual.request.secondary, { count: 1 });
  assert.deepEqual(dual.fallback?.families, [4]);
  assert.deepEqual(allocationRequest('ns/c', ports, settings({ [L('secondaryIPs')]: '10.1.1.1' })).request.secondary, { ips: ['10.1.1.1'] });
  assert.equal(allocationRequest('ns/d', ports, settings({})).request.secondary, undefined);
});
