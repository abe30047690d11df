import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpointHost, parseEndpointHostDelete, parseEndpointHostState } from '../../src/lb/validateEndpointHost.ts';
import { EndpointHostTable, MAX_ENDPOINT_HOSTS, ruleEntryKey } from '../../src/lb/EndpointHosts.ts';
import { ValidationError, ConflictError, NotFoundError } from '../../src/util/errors.ts';
import type { LbRule, Protocol } from '../../src/lb/LbRule.ts';

function rule(protocol: Protocol, eps: [string, number][], monitor = false, port = 80): LbRule {
  return {
    serviceArguments: { externalIP: '20.0.0.1', port, protocol, sel: 0, bgp: false, monitor, mode: 0, block: 0 },
    endpoints: eps.map(([endpointIP, targetPort]) => ({ endpointIP, targetPort, weight: 1 })),
    secondaryIPs: [],
    allowedSources: [],
  };
}

function refused(fn: () => unknown, field: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, String(err));
    assert.equal(err.field, field);
    assert.match(err.message, pattern);
    return true;
  });
}

test('POST config/endpoint: loxilb defaults for 0, canonical address', () => {
  const s = parseEndpointHost({ hostName: '2001:db8::0:1', probeType: 'ping' });
  assert.deepEqual(s, { hostName: '2001:db8::1', name: '', inactiveReTries: 2, probeType: 'ping', probeReq: '', probeResp: '', probeDuration: 60, probePort: 0 });
  const h = parseEndpointHost({ hostName: '10.0.0.1', name: 'web', probeType: 'http', probePort: 8080, probeReq: '/health', probeResp: 'ok', inactiveReTries: 5, probeDuration: 10 });
  assert.equal(h.inactiveReTries, 5);
  assert.equal(h.probeDuration, 10);
  assert.equal(h.probeReq, '/health');
});

test('POST config/endpoint: every bad field is named with what is allowed', () => {
  refused(() => parseEndpointHost({ probeType: 'tcp', probePort: 80 }), 'hostName', /required: an IPv4 or IPv6 address/);
  refused(() => parseEndpointHost({ hostName: 'web1', probeType: 'tcp', probePort: 80 }), 'hostName', /IPv4 or IPv6/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1' }), 'probeType', /required: one of tcp, udp, sctp, http, https, ping, none/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'icmp' }), 'probeType', /one of tcp, udp/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp' }), 'probePort', /required for a tcp probe/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'https', probePort: 0 }), 'probePort', /required for a https probe/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp', probePort: 70000 }), 'probePort', /0 to 65535/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'ping', inactiveReTries: 101 }), 'inactiveReTries', /0 to 100/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'ping', probeDuration: 86401 }), 'probeDuration', /0 to 86400/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'ping', probeDuration: 1.5 }), 'probeDuration', /integer/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp', probePort: 80, probeReq: 'GET' }), 'probeReq', /only used by udp, http, https probes/);
  refused(() => parseEndpointHost({ hostName: '10.0.0.1', probeType: 'ping', name: 'a\nb' }), 'name', /printable/);
  refused(() => parseEndpointHost([]), 'body', /JSON object/);
});

test('POST config/endpointhoststate: state, and epPort / epProto together', () => {
  assert.deepEqual(parseEndpointHostState({ hostName: '10.0.0.1', state: 'red' }), { hostName: '10.0.0.1', epPort: 0, epProto: '', state: 'red' });
  assert.deepEqual(parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'ping', state: 'green' }).epProto, 'ping');
  refused(() => parseEndpointHostState({ hostName: '10.0.0.1', state: 'blue' }), 'state', /one of green, yellow, red/);
  refused(() => parseEndpointHostState({ hostName: '10.0.0.1' }), 'state', /required/);
  refused(() => parseEndpointHostState({ hostName: '10.0.0.1', epPort: 80, state: 'red' }), 'epProto', /required with epPort/);
  refused(() => parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'tcp', state: 'red' }), 'epPort', /required with epProto tcp/);
  refused(() => parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'icmp', epPort: 1, state: 'red' }), 'epProto', /must be empty .* or one of/);
});

test('DELETE config/endpoint: by name, or by probe_type and probe_port', () => {
  assert.deepEqual(parseEndpointHostDelete('10.0.0.1', new URLSearchParams('probe_type=tcp&probe_port=80')), { hostName: '10.0.0.1', name: '', probeType: 'tcp', probePort: 80 });
  assert.equal(parseEndpointHostDelete('10.0.0.1', new URLSearchParams('name=web')).name, 'web');
  refused(() => parseEndpointHostDelete('10.0.0.1', new URLSearchParams('')), 'probe_type', /required without name/);
  refused(() => parseEndpointHostDelete('10.0.0.1', new URLSearchParams('probe_type=tcp&probe_port=x')), 'probe_port', /0 to 65535/);
  refused(() => parseEndpointHostDelete('10.0.0.1', new URLSearchParams('probe_type=bogus')), 'probe_type', /one of/);
});

test('rule entries are keyed as loxilb keys them and refuse a DELETE while a rule refers to them', () => {
  const t = new EndpointHostTable();
  const r = rule('tcp', [['10.0.0.1', 8080]]);
  assert.equal(ruleEntryKey(r, r.endpoints[0]!), '10.0.0.1_tcp_8080');
  assert.equal(ruleEntryKey(rule('icmp', [['10.0.0.1', 0]]), { endpointIP: '10.0.0.1', targetPort: 0, weight: 1 }), '10.0.0.1_ping_0');
  // Not POSTed: refused as rule-referred, not "not found".
  assert.throws(() => t.delete({ hostName: '10.0.0.1', name: '', probeType: 'tcp', probePort: 8080 }, [r]), (e: unknown) => e instanceof ConflictError && /LB Rule-referred/.test(e.message));
  // POSTed with the same key: still refused while the rule is there, deleted once it is not.
  t.add(parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp', probePort: 8080 }));
  assert.throws(() => t.delete({ hostName: '10.0.0.1', name: '', probeType: 'tcp', probePort: 8080 }, [r]), ConflictError);
  assert.equal(t.delete({ hostName: '10.0.0.1', name: '', probeType: 'tcp', probePort: 8080 }, []), '10.0.0.1_tcp_8080');
  assert.throws(() => t.delete({ hostName: '10.0.0.1', name: '', probeType: 'tcp', probePort: 8080 }, []), (e: unknown) => e instanceof NotFoundError && /host-notfound/.test(e.message));
});

test('a name is the key; it must be deleted with its own host, and cannot move to another', () => {
  const t = new EndpointHostTable();
  assert.equal(t.add(parseEndpointHost({ hostName: '10.0.0.1', name: 'web', probeType: 'ping' })), 'web');
  assert.throws(() => t.add(parseEndpointHost({ hostName: '10.0.0.2', name: 'web', probeType: 'ping' })), ConflictError);
  assert.throws(() => t.delete({ hostName: '10.0.0.2', name: 'web', probeType: '', probePort: 0 }, []), NotFoundError);
  // Re-POST replaces (loxilb updates the options of an existing key).
  t.add(parseEndpointHost({ hostName: '10.0.0.1', name: 'web', probeType: 'tcp', probePort: 22 }));
  assert.equal(t.apiEntries().get('web')!.probeType, 'tcp');
  t.delete({ hostName: '10.0.0.1', name: 'web', probeType: '', probePort: 0 }, []);
  assert.equal(t.apiEntries().size, 0);
});

test('red on the host or on the entry takes the endpoint out of every rule; green brings it back', () => {
  const t = new EndpointHostTable();
  const a = rule('tcp', [['10.0.0.1', 8080], ['10.0.0.2', 8080]]);
  const b = rule('udp', [['10.0.0.1', 53]], true, 53);
  const rules = [a, b];
  const red = (r: LbRule, i: number) => t.verdict(r, r.endpoints[i]!).red;
  t.setState(parseEndpointHostState({ hostName: '10.0.0.1', state: 'red' }), rules);
  assert.deepEqual([red(a, 0), red(a, 1), red(b, 0)], [true, false, true]);
  // A host-wide state replaces per-entry ones; green clears it.
  t.setState(parseEndpointHostState({ hostName: '10.0.0.1', state: 'green' }), rules);
  assert.deepEqual([red(a, 0), red(b, 0)], [false, false]);
  t.setState(parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'udp', epPort: 53, state: 'red' }), rules);
  assert.deepEqual([red(a, 0), red(b, 0)], [false, true]);
  t.setState(parseEndpointHostState({ hostName: '10.0.0.1', state: 'yellow' }), rules);
  assert.deepEqual([red(a, 0), red(b, 0)], [false, false], 'yellow has no effect and replaced the entry red');
  assert.equal(t.stateOf('10.0.0.1_udp_53', '10.0.0.1'), 'yellow');
  // Nothing to set: refused, not silently accepted.
  assert.throws(() => t.setState(parseEndpointHostState({ hostName: '10.9.9.9', state: 'red' }), rules), (e: unknown) => e instanceof NotFoundError && /ephost-notfound/.test(e.message));
  assert.throws(() => t.setState(parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'tcp', epPort: 9, state: 'red' }), rules), NotFoundError);
});

test('a POSTed entry decides the endpoints it covers: same key, or same host and port with a probe over the rule protocol', () => {
  const t = new EndpointHostTable();
  const tcp = rule('tcp', [['10.0.0.1', 8080], ['10.0.0.1', 9090]]);
  const udp = rule('udp', [['10.0.0.1', 8080]], false, 8080);
  const icmp = rule('icmp', [['10.0.0.1', 0]], false, 0);
  t.add(parseEndpointHost({ hostName: '10.0.0.1', probeType: 'http', probePort: 8080, probeReq: '/h' }));
  t.add(parseEndpointHost({ hostName: '10.0.0.1', probeType: 'ping' }));
  t.add(parseEndpointHost({ hostName: '10.0.0.1', name: '10.0.0.1_tcp_9090', probeType: 'none' }));
  assert.deepEqual(t.verdict(tcp, tcp.endpoints[0]!).probes, ['10.0.0.1_http_8080']);
  assert.deepEqual(t.verdict(tcp, tcp.endpoints[1]!).probes, [], 'probeType none decides nothing');
  assert.deepEqual(t.verdict(udp, udp.endpoints[0]!).probes, [], 'an http check does not speak for udp');
  assert.deepEqual(t.verdict(icmp, icmp.endpoints[0]!).probes, ['10.0.0.1_ping_0']);
  // A red entry takes what it covers out, whatever its probe type.
  // The none entry is named: its key is not 10.0.0.1_none_0 (loxilb cannot name it either).
  assert.throws(() => t.setState(parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'none', epPort: 0, state: 'red' }), []), NotFoundError);
  // The entry named as the rule key is found by it, rule or not.
  t.setState(parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'tcp', epPort: 9090, state: 'red' }), []);
  assert.equal(t.verdict(tcp, tcp.endpoints[1]!).red, true);
  assert.equal(t.touches(udp), true);
  assert.equal(t.touches(rule('tcp', [['10.0.0.7', 1]])), false);
});

test('records restore to the same table; a state whose entry is gone is skipped; clones are independent', () => {
  const t = new EndpointHostTable();
  const r = rule('tcp', [['10.0.0.1', 8080]]);
  t.add(parseEndpointHost({ hostName: '10.0.0.2', probeType: 'tcp', probePort: 22 }));
  t.setState(parseEndpointHostState({ hostName: '10.0.0.2', state: 'red' }), [r]);
  t.setState(parseEndpointHostState({ hostName: '10.0.0.1', epProto: 'tcp', epPort: 8080, state: 'red' }), [r]);
  const recs = JSON.parse(JSON.stringify(t.records()));
  const back = new EndpointHostTable();
  assert.deepEqual(back.restore(recs, [r]), []);
  assert.deepEqual(back.records(), t.records());
  const none = new EndpointHostTable();
  assert.deepEqual(none.restore(recs, []), [{ hostName: '10.0.0.1', epPort: 8080, epProto: 'tcp', state: 'red' }]);
  const c = t.clone();
  c.add(parseEndpointHost({ hostName: '10.0.0.3', probeType: 'ping' }));
  assert.equal(t.apiEntries().size, 1);
});

test('POSTed hosts are capped; a re-POST of an existing key still works at the cap', () => {
  const t = new EndpointHostTable();
  for (let i = 0; i < MAX_ENDPOINT_HOSTS; i++) t.add(parseEndpointHost({ hostName: `10.1.${i >> 8}.${i & 255}`, probeType: 'ping' }));
  assert.throws(() => t.add(parseEndpointHost({ hostName: '10.2.0.1', probeType: 'ping' })), (e: unknown) => (e as { status?: number }).status === 403 && /capacity: at most 1024/.test(String(e)));
  t.add(parseEndpointHost({ hostName: '10.1.0.0', probeType: 'ping', probeDuration: 5 }));
  assert.equal(t.apiEntries().get('10.1.0.0_ping_0')!.probeDuration, 5);
});
