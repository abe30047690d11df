import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatLbRuleForGet, parseLbRule } from '../../src/lb/validateLbRule.ts';
import { ValidationError } from '../../src/util/errors.ts';

function body(sa: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    serviceArguments: { externalIP: '123.123.123.1', port: 80, protocol: 'tcp', ...sa },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
    ...rest,
  };
}

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.ok(err.message.startsWith(`invalid ${err.field}: `), err.message);
    return err.field;
  }
  assert.fail('expected a ValidationError');
}

test('a minimal rule is normalized with zero defaults', () => {
  assert.deepEqual(parseLbRule(body()), {
    serviceArguments: {
      externalIP: '123.123.123.1', port: 80, protocol: 'tcp', sel: 0, mode: 0, block: 0,
      bgp: false, monitor: false, managed: false, snat: false, proxyprotocolv2: false, egress: false,
    },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
    secondaryIPs: [],
    allowedSources: [],
  });
});

test('a full rule keeps every set field', () => {
  const rule = parseLbRule(body(
    {
      externalIP: '2001:DB8:0:0::10', port: 5000, portMax: 5010, protocol: 'sctp', sel: 1, mode: 2, bgp: true,
      monitor: true, probetype: 'sctp', probeport: 8080, probereq: 'GET /', proberesp: 'ok', probeTimeout: 10,
      probeRetries: 3, managed: true, security: 1, block: 7, inactiveTimeOut: 30, name: 'default_svc:llb-inst1',
      oper: 1, host: 'example.com', egress: true, privateIP: '2001:db8::99',
    },
    {
      endpoints: [{ endpointIP: '2001:db8::1', targetPort: 80, weight: 60 }, { endpointIP: '2001:db8::2', targetPort: 80, weight: 40 }],
      secondaryIPs: [{ secondaryIP: '2001:db8::11' }],
      allowedSources: [{ prefix: '10.1.2.3/8' }, { prefix: '192.168.1.1' }, { prefix: '10.0.0.0/8' }, { prefix: '2001:db8::5/64' }],
    },
  ));
  assert.equal(rule.serviceArguments.externalIP, '2001:db8::10');
  assert.equal(rule.serviceArguments.portMax, 5010);
  assert.equal(rule.serviceArguments.probetype, 'sctp');
  assert.equal(rule.serviceArguments.oper, 1);
  assert.equal(rule.serviceArguments.privateIP, '2001:db8::99');
  assert.deepEqual(rule.secondaryIPs, [{ secondaryIP: '2001:db8::11' }]);
  assert.deepEqual(rule.allowedSources, [{ prefix: '10.0.0.0/8' }, { prefix: '192.168.1.1/32' }, { prefix: '2001:db8::/64' }]);
});

test('keys match case-insensitively at every level, as kube-loxilb relies on', () => {
  const rule = parseLbRule({
    ServiceArguments: { EXTERNALIP: '1.2.3.4', Port: 80, Protocol: 'udp', BGP: true, Monitor: true, path_prefix: '/x' },
    Endpoints: [{ EndpointIP: '10.0.0.1', TARGETPORT: 53, Weight: 1 }],
    SecondaryIPs: [{ SECONDARYIP: '1.2.3.5' }],
    allowedsources: [{ Prefix: '10.0.0.0/24' }],
    backend_protocol: 'http',
    mtls_frontend: true,
  });
  assert.equal(rule.serviceArguments.bgp, true);
  assert.equal(rule.serviceArguments.monitor, true);
  assert.equal(rule.serviceArguments.protocol, 'udp');
  assert.equal(rule.endpoints[0]!.targetPort, 53);
  assert.deepEqual(rule.secondaryIPs, [{ secondaryIP: '1.2.3.5' }]);
  assert.deepEqual(rule.allowedSources, [{ prefix: '10.0.0.0/24' }]);
});

test('an exact-case key wins over a case-folded one', () => {
  assert.equal(parseLbRule(body({ bgp: true, BGP: false })).serviceArguments.bgp, true);
  assert.equal(parseLbRule(body({ BGP: false, bgp: true })).serviceArguments.bgp, true);
});

test('the body and serviceArguments must be objects', () => {
  assert.equal(fieldOf(() => parseLbRule(null)), 'body');
  assert.equal(fieldOf(() => parseLbRule([])), 'body');
  assert.equal(fieldOf(() => parseLbRule('x')), 'body');
  assert.equal(fieldOf(() => parseLbRule({ endpoints: [] })), 'serviceArguments');
  assert.equal(fieldOf(() => parseLbRule({ serviceArguments: [], endpoints: [] })), 'serviceArguments');
});

test('every bad serviceArguments field is named', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ externalIP: undefined }, 'serviceArguments.externalIP'],
    [{ externalIP: '' }, 'serviceArguments.externalIP'],
    [{ externalIP: '1.2.3' }, 'serviceArguments.externalIP'],
    [{ externalIP: '01.2.3.4' }, 'serviceArguments.externalIP'],
    [{ externalIP: 'fe80::1%eth0' }, 'serviceArguments.externalIP'],
    [{ externalIP: 42 }, 'serviceArguments.externalIP'],
    [{ port: undefined }, 'serviceArguments.port'],
    [{ port: 0 }, 'serviceArguments.port'],
    [{ port: 65536 }, 'serviceArguments.port'],
    [{ port: 80.5 }, 'serviceArguments.port'],
    [{ port: '80' }, 'serviceArguments.port'],
    [{ portMax: 79 }, 'serviceArguments.portMax'],
    [{ portMax: 70000 }, 'serviceArguments.portMax'],
    [{ protocol: undefined }, 'serviceArguments.protocol'],
    [{ protocol: 'TCP' }, 'serviceArguments.protocol'],
    [{ protocol: 'http' }, 'serviceArguments.protocol'],
    [{ sel: 7 }, 'serviceArguments.sel'],
    [{ sel: -1 }, 'serviceArguments.sel'],
    [{ mode: 6 }, 'serviceArguments.mode'],
    [{ security: 3 }, 'serviceArguments.security'],
    [{ probetype: 'icmp' }, 'serviceArguments.probetype'],
    [{ probeport: 65536 }, 'serviceArguments.probeport'],
    [{ probeTimeout: -1 }, 'serviceArguments.probeTimeout'],
    [{ probeRetries: 1.5 }, 'serviceArguments.probeRetries'],
    [{ block: 4294967296 }, 'serviceArguments.block'],
    [{ inactiveTimeOut: -5 }, 'serviceArguments.inactiveTimeOut'],
    [{ oper: 3 }, 'serviceArguments.oper'],
    [{ bgp: 'true' }, 'serviceArguments.bgp'],
    [{ monitor: 1 }, 'serviceArguments.monitor'],
    [{ managed: 'yes' }, 'serviceArguments.managed'],
    [{ snat: 0 }, 'serviceArguments.snat'],
    [{ proxyprotocolv2: {} }, 'serviceArguments.proxyprotocolv2'],
    [{ egress: [] }, 'serviceArguments.egress'],
    [{ name: 5 }, 'serviceArguments.name'],
    [{ host: false }, 'serviceArguments.host'],
    [{ privateIP: 'x' }, 'serviceArguments.privateIP'],
    [{ probereq: 1 }, 'serviceArguments.probereq'],
  ];
  for (const [sa, field] of cases) {
    const b = body(sa);
    for (const [k, v] of Object.entries(sa)) if (v === undefined) delete (b.serviceArguments as Record<string, unknown>)[k];
    assert.equal(fieldOf(() => parseLbRule(b)), field, JSON.stringify(sa));
  }
});

test('messages say what is allowed', () => {
  assert.throws(() => parseLbRule(body({ protocol: 'foo' })), /serviceArguments\.protocol: must be one of tcp, udp, sctp, icmp \(got "foo"\)/);
  assert.throws(() => parseLbRule(body({ port: 0 })), /must be an integer from 1 to 65535 \(got 0\)/);
  assert.throws(() => parseLbRule(body({ bgp: [] })), /must be true or false, got an array/);
});

test('icmp rules have port 0 or none, and endpoints with targetPort 0 (as loxicmd sends them) or none', () => {
  const icmpEps = { endpoints: [{ endpointIP: '10.0.0.1', targetPort: 0, weight: 1 }, { endpointIP: '10.0.0.2', weight: 1 }] };
  const b = body({ protocol: 'icmp' }, icmpEps);
  delete (b.serviceArguments as Record<string, unknown>).port;
  assert.equal(parseLbRule(b).serviceArguments.port, 0);
  const r = parseLbRule(body({ protocol: 'icmp', port: 0 }, icmpEps));
  assert.deepEqual(r.endpoints.map((e) => e.targetPort), [0, 0]);
  assert.equal(fieldOf(() => parseLbRule(body({ protocol: 'icmp', port: 8 }, icmpEps))), 'serviceArguments.port');
  assert.equal(fieldOf(() => parseLbRule(body({ protocol: 'icmp', port: 0 }))), 'endpoints[0].targetPort');
});

test('portMax is stored only when it widens the range', () => {
  assert.equal(parseLbRule(body({ portMax: 0 })).serviceArguments.portMax, undefined);
  assert.equal(parseLbRule(body({ portMax: 80 })).serviceArguments.portMax, undefined);
  assert.equal(parseLbRule(body({ portMax: 90 })).serviceArguments.portMax, 90);
});

test('zero and empty optional values are left out', () => {
  const sa = parseLbRule(body({ security: 0, probetype: '', name: '', privateIP: '', inactiveTimeOut: 0, bgp: null })).serviceArguments;
  assert.equal('security' in sa, false);
  assert.equal('probetype' in sa, false);
  assert.equal('name' in sa, false);
  assert.equal('privateIP' in sa, false);
  assert.equal('inactiveTimeOut' in sa, false);
  assert.equal(sa.bgp, false);
});

test('endpoints are required and each field is checked', () => {
  const rest = (endpoints: unknown) => ({ endpoints });
  assert.equal(fieldOf(() => parseLbRule({ serviceArguments: body().serviceArguments })), 'endpoints');
  assert.equal(fieldOf(() => parseLbRule(body({}, rest(null)))), 'endpoints');
  assert.equal(fieldOf(() => parseLbRule(body({}, rest({})))), 'endpoints');
  assert.throws(() => parseLbRule(body({}, rest([]))), /invalid endpoints: must have from 1 to 32 entries \(got 0\)/);
  const good = { endpointIP: '10.0.0.1', targetPort: 80, weight: 1 };
  const cases: [unknown, string][] = [
    ['10.0.0.1', 'endpoints[1]'],
    [{ ...good, endpointIP: undefined }, 'endpoints[1].endpointIP'],
    [{ ...good, endpointIP: '10.0.0.256' }, 'endpoints[1].endpointIP'],
    [{ ...good, targetPort: undefined }, 'endpoints[1].targetPort'],
    [{ ...good, targetPort: 0 }, 'endpoints[1].targetPort'],
    [{ ...good, weight: undefined }, 'endpoints[1].weight'],
    [{ ...good, weight: 256 }, 'endpoints[1].weight'],
    [{ ...good, weight: -1 }, 'endpoints[1].weight'],
  ];
  for (const [ep, field] of cases) {
    assert.equal(fieldOf(() => parseLbRule(body({}, rest([{ endpointIP: '10.9.9.9', targetPort: 1, weight: 0 }, ep])))), field, JSON.stringify(ep));
  }
});

test('endpoint weights are uint8 as in loxilb; a sum above 100 is accepted (shares are proportional)', () => {
  const eps = (ws: number[]) => ws.map((weight, i) => ({ endpointIP: `10.0.0.${i + 1}`, targetPort: 80, weight }));
  assert.equal(parseLbRule(body({}, { endpoints: eps([50, 50]) })).endpoints.length, 2);
  assert.deepEqual(parseLbRule(body({}, { endpoints: eps([200, 255]) })).endpoints.map((e) => e.weight), [200, 255], 'kept as posted');
});

test("loxilb's AddLbRule checks: timeout, probes, proxy protocol, secondary IPs, families, dsr ports", () => {
  assert.equal(parseLbRule(body({ inactiveTimeOut: 86400 })).serviceArguments.inactiveTimeOut, 86400);
  assert.equal(fieldOf(() => parseLbRule(body({ inactiveTimeOut: 86401 }))), 'serviceArguments.inactiveTimeOut');
  // probe type and port combinations
  for (const t of ['http', 'https']) {
    assert.throws(() => parseLbRule(body({ probetype: t, probeport: 80 })), /probetype: must be one of tcp, udp, sctp, ping, none on an LB rule/);
  }
  assert.equal(fieldOf(() => parseLbRule(body({ probetype: 'tcp' }))), 'serviceArguments.probeport');
  assert.equal(fieldOf(() => parseLbRule(body({ probetype: 'ping', probeport: 80 }))), 'serviceArguments.probeport');
  assert.equal(fieldOf(() => parseLbRule(body({ probetype: 'none', probeport: 80 }))), 'serviceArguments.probeport');
  assert.equal(fieldOf(() => parseLbRule(body({ probeport: 80 }))), 'serviceArguments.probeport');
  assert.equal(parseLbRule(body({ probetype: 'tcp', probeport: 80 })).serviceArguments.monitor, true, 'a real probe turns monitoring on');
  assert.equal(parseLbRule(body({ probetype: 'none' })).serviceArguments.monitor, false);
  assert.equal(fieldOf(() => parseLbRule(body({ protocol: 'udp', proxyprotocolv2: true }))), 'serviceArguments.proxyprotocolv2');
  const sec = (n: number) => ({ secondaryIPs: Array.from({ length: n }, (_, i) => ({ secondaryIP: `123.123.124.${i + 1}` })) });
  assert.equal(parseLbRule(body({}, sec(3))).secondaryIPs.length, 3);
  assert.throws(() => parseLbRule(body({}, sec(4))), /invalid secondaryIPs: must have at most 3 entries/);
  // families: no NAT46, one family of endpoints, NAT64 allowed here (the datapath decides)
  assert.throws(() => parseLbRule(body({}, { endpoints: [{ endpointIP: 'fd00::1', targetPort: 80, weight: 1 }] })), /endpoints\[0\]\.endpointIP: .*no NAT46/);
  const mixed = [{ endpointIP: 'fd00::1', targetPort: 80, weight: 1 }, { endpointIP: '10.0.0.1', targetPort: 80, weight: 1 }];
  assert.equal(fieldOf(() => parseLbRule(body({ externalIP: 'fd00::10' }, { endpoints: mixed }))), 'endpoints[1].endpointIP');
  assert.equal(parseLbRule(body({ externalIP: 'fd00::10' })).endpoints[0]!.endpointIP, '10.0.0.1');
  assert.equal(fieldOf(() => parseLbRule(body({ privateIP: 'fd00::1' }))), 'serviceArguments.privateIP');
  // dsr keeps the port
  assert.equal(fieldOf(() => parseLbRule(body({ mode: 3, port: 80 }))), 'endpoints[0].targetPort');
  assert.equal(parseLbRule(body({ mode: 3, port: 8080 })).serviceArguments.mode, 3);
});

test('at most 32 endpoints', () => {
  const eps = (n: number) => Array.from({ length: n }, (_, i) => ({ endpointIP: `10.0.1.${i + 1}`, targetPort: 80, weight: 0 }));
  assert.equal(parseLbRule(body({}, { endpoints: eps(32) })).endpoints.length, 32);
  assert.throws(() => parseLbRule(body({}, { endpoints: eps(33) })), /invalid endpoints: must have from 1 to 32 entries \(got 33\)/);
});

test('duplicate endpoints are refused, also when spelled differently', () => {
  const endpoints = [
    { endpointIP: '2001:db8::1', targetPort: 80, weight: 1 },
    { endpointIP: '2001:DB8:0::1', targetPort: 80, weight: 1 },
  ];
  assert.equal(fieldOf(() => parseLbRule(body({ externalIP: '2001:db8::10' }, { endpoints }))), 'endpoints[1]');
  endpoints[1]!.targetPort = 81;
  assert.equal(parseLbRule(body({ externalIP: '2001:db8::10' }, { endpoints })).endpoints[1]!.endpointIP, '2001:db8::1');
});

test('secondaryIPs: valid, same family, distinct, not the external IP', () => {
  const sec = (...ips: unknown[]) => ({ secondaryIPs: ips.map((secondaryIP) => ({ secondaryIP })) });
  assert.deepEqual(parseLbRule(body({}, sec('123.123.123.2', '123.123.123.3'))).secondaryIPs.length, 2);
  assert.equal(fieldOf(() => parseLbRule(body({}, sec('x')))), 'secondaryIPs[0].secondaryIP');
  assert.equal(fieldOf(() => parseLbRule(body({}, sec('2001:db8::1')))), 'secondaryIPs[0].secondaryIP');
  assert.equal(fieldOf(() => parseLbRule(body({}, sec('123.123.123.2', '123.123.123.2')))), 'secondaryIPs[1].secondaryIP');
  assert.equal(fieldOf(() => parseLbRule(body({}, sec('123.123.123.1')))), 'secondaryIPs[0].secondaryIP');
  assert.equal(fieldOf(() => parseLbRule(body({}, { secondaryIPs: ['1.1.1.1'] }))), 'secondaryIPs[0]');
  assert.equal(fieldOf(() => parseLbRule(body({}, { secondaryIPs: {} }))), 'secondaryIPs');
});

test('allowedSources: CIDR or bare address', () => {
  const src = (...prefixes: unknown[]) => ({ allowedSources: prefixes.map((prefix) => ({ prefix })) });
  assert.equal(fieldOf(() => parseLbRule(body({}, src('10.0.0.0/33')))), 'allowedSources[0].prefix');
  assert.equal(fieldOf(() => parseLbRule(body({}, src('10.0.0.0/8', 'x/8')))), 'allowedSources[1].prefix');
  assert.equal(fieldOf(() => parseLbRule(body({}, src('10.0.0/8')))), 'allowedSources[0].prefix');
  assert.equal(fieldOf(() => parseLbRule(body({}, src(8)))), 'allowedSources[0].prefix');
  assert.equal(fieldOf(() => parseLbRule(body({}, { allowedSources: [{}] }))), 'allowedSources[0].prefix');
  assert.deepEqual(parseLbRule(body({}, src('2001:db8::1'))).allowedSources, [{ prefix: '2001:db8::1/128' }]);
});

test('output-only endpoint fields are accepted and dropped', () => {
  const endpoints = [{ endpointIP: '10.0.0.1', targetPort: 80, weight: 1, state: 'active', counter: '1:2' }];
  assert.deepEqual(parseLbRule(body({}, { endpoints })).endpoints, [{ endpointIP: '10.0.0.1', targetPort: 80, weight: 1 }]);
});

test('huge string values are not echoed in full', () => {
  assert.throws(() => parseLbRule(body({ externalIP: 'x'.repeat(100000) })), (err: Error) => err.message.length < 300);
});

test('parseLbRule throws only ValidationError on arbitrary JSON', () => {
  const anyLeaf = fc.jsonValue({ maxDepth: 3 });
  const saArb = fc.record(
    {
      externalIP: fc.oneof(fc.constantFrom('1.2.3.4', '2001:db8::1', '', '1.2.3', '::ffff:1.2.3.4'), anyLeaf),
      port: fc.oneof(fc.integer({ min: -5, max: 70000 }), anyLeaf),
      portMax: fc.oneof(fc.integer({ min: -5, max: 70000 }), anyLeaf),
      protocol: fc.oneof(fc.constantFrom('tcp', 'udp', 'sctp', 'icmp', 'TCP'), anyLeaf),
      sel: fc.oneof(fc.integer({ min: -1, max: 8 }), anyLeaf),
      BGP: fc.oneof(fc.boolean(), anyLeaf),
      probetype: fc.oneof(fc.constantFrom('http', '', 'none'), anyLeaf),
    },
    { requiredKeys: [] },
  );
  const epArb = fc.record(
    {
      endpointIP: fc.oneof(fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1'), anyLeaf),
      targetPort: fc.oneof(fc.integer({ min: -1, max: 70000 }), anyLeaf),
      weight: fc.oneof(fc.integer({ min: -1, max: 120 }), anyLeaf),
    },
    { requiredKeys: [] },
  );
  const bodyArb = fc.oneof(
    anyLeaf,
    fc.record(
      {
        serviceArguments: fc.oneof(saArb, anyLeaf),
        endpoints: fc.oneof(fc.array(fc.oneof(epArb, anyLeaf), { maxLength: 40 }), anyLeaf),
        secondaryIPs: fc.oneof(fc.array(fc.record({ secondaryIP: fc.oneof(fc.constantFrom('1.2.3.5', '2001:db8::2'), anyLeaf) })), anyLeaf),
        allowedSources: fc.oneof(fc.array(fc.record({ prefix: fc.oneof(fc.constantFrom('10.0.0.0/8', '1.1.1.1', '::/0', '1.2.3.4/40'), anyLeaf) })), anyLeaf),
      },
      { requiredKeys: [] },
    ),
  );
  fc.assert(
    fc.property(bodyArb, (b) => {
      try {
        parseLbRule(b);
      } catch (err) {
        return err instanceof ValidationError;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
});

test('formatLbRuleForGet applies omitempty and hides internal fields', () => {
  const rule = parseLbRule(body(
    { bgp: true, probereq: 'x', proberesp: 'y', probeTimeout: 5, probeRetries: 2, oper: 1, privateIP: '10.1.1.1', name: 'svc' },
    { secondaryIPs: [{ secondaryIP: '123.123.123.2' }] },
  ));
  assert.deepEqual(formatLbRuleForGet(rule), {
    serviceArguments: { externalIP: '123.123.123.1', bgp: true, port: 80, protocol: 'tcp', name: 'svc' },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1, state: '-', counter: '0:0' }],
    secondaryIPs: [{ secondaryIP: '123.123.123.2' }],
  });
});

test('formatLbRuleForGet reports endpoint state for monitored rules, and for others only what an endpoint host decided', () => {
  const rule = parseLbRule(body({ monitor: true }, {
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: 80, weight: 1 }, { endpointIP: '10.0.0.2', targetPort: 80, weight: 1 }],
  }));
  rule.endpoints[1]!.state = 'inactive';
  rule.endpoints[1]!.counter = '5:100';
  const out = formatLbRuleForGet(rule, (ep) => (ep.endpointIP === '10.0.0.1' ? 'active' : undefined));
  assert.deepEqual(out.endpoints.map((e) => [e.state, e.counter]), [['active', '0:0'], ['inactive', '5:100']]);
  rule.serviceArguments.monitor = false;
  // Unmonitored: '-' unless config/endpoint or endpointhoststate decided (the agent fills state).
  assert.deepEqual(formatLbRuleForGet(rule).endpoints.map((e) => e.state), ['-', 'inactive']);
  rule.endpoints[1]!.state = '-';
  assert.deepEqual(formatLbRuleForGet(rule).endpoints.map((e) => e.state), ['-', '-']);
});

test('a GET entry posts back to the same rule', () => {
  const rule = parseLbRule(body({ sel: 2, mode: 2, portMax: 90, block: 3, monitor: true }, { allowedSources: [{ prefix: '10.0.0.0/8' }] }));
  assert.deepEqual(parseLbRule(formatLbRuleForGet(rule)), rule);
});
