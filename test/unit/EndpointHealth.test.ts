import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EndpointHealth } from '../../src/lb/EndpointHealth.ts';
import { goDuration, parsePing, type HostProbeOutcome } from '../../src/lb/EndpointHostProber.ts';
import { parseEndpointHost, parseEndpointHostState, type EndpointHostSpec } from '../../src/lb/validateEndpointHost.ts';
import type { EndpointHostRecord } from '../../src/lb/EndpointHosts.ts';
import { renderMetrics } from '../../src/api/metrics.ts';
import { silentLogger } from '../../src/util/logger.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import { FakeClock } from '../lab/FakeClock.ts';

function rule(eps: [string, number][], monitor = false): LbRule {
  return {
    serviceArguments: { externalIP: '20.0.0.1', port: 80, protocol: 'tcp', sel: 0, bgp: true, monitor, mode: 0, block: 0, probeTimeout: 1, probeRetries: 1 },
    endpoints: eps.map(([endpointIP, targetPort]) => ({ endpointIP, targetPort, weight: 1 })),
    secondaryIPs: [],
    allowedSources: [],
  };
}

interface Harness {
  health: EndpointHealth;
  clock: FakeClock;
  /** Probe answers by host; absent: ok. */
  answers: Map<string, HostProbeOutcome>;
  probedAt: number[];
  changes: (string[] | 'rules')[];
  saved: EndpointHostRecord[][];
  rules: LbRule[];
}

function harness(rules: LbRule[], opts: { failSave?: () => boolean } = {}): Harness {
  const clock = new FakeClock();
  const answers = new Map<string, HostProbeOutcome>();
  const h: Partial<Harness> = { clock, answers, probedAt: [], changes: [], saved: [], rules };
  h.health = new EndpointHealth({
    log: silentLogger,
    rules: () => rules,
    save: (r) => {
      if (opts.failSave?.()) throw new Error('disk full');
      h.saved!.push(r);
    },
    clock,
    ruleProbe: async () => true,
    hostProbe: async (spec: EndpointHostSpec) => {
      h.probedAt!.push(clock.now());
      return answers.get(spec.hostName) ?? { ok: true };
    },
  });
  h.health.on('change', (hosts?: Set<string>) => h.changes!.push(hosts ? [...hosts] : 'rules'));
  return h as Harness;
}

test('a POSTed tcp probe: the first failure is nok at once, later ones after inactiveReTries in a row; a nok host is rechecked every 4 s', async () => {
  const r = rule([['10.0.0.1', 8080], ['10.0.0.2', 8080]]);
  const h = harness([r]);
  h.answers.set('10.0.0.1', { ok: false });
  h.health.addHost(parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp', probePort: 8080, probeDuration: 10, inactiveReTries: 3 }));
  await h.clock.settle();
  assert.equal(h.health.endpointState(r, r.endpoints[0]!), 'inactive', 'first probe decides alone (loxilb initProberOn)');
  assert.equal(h.health.endpointState(r, r.endpoints[1]!), '-', 'another host: the rule (unmonitored) decides');
  assert.equal(h.health.ruleAlive(r), true);
  assert.deepEqual(h.changes, [['10.0.0.1'], ['10.0.0.1']], 'the POST, then the flip to nok');
  await h.clock.advance(4000);
  assert.deepEqual(h.probedAt, [0, 4000], 'nok: rechecked after 4 s, not 10 s');
  h.answers.delete('10.0.0.1');
  await h.clock.advance(4000);
  assert.equal(h.health.endpointState(r, r.endpoints[0]!), 'active', 'one success is enough');
  // Up: period 10 s, and now three failures in a row are needed.
  h.answers.set('10.0.0.1', { ok: false });
  await h.clock.advance(20_000);
  assert.equal(h.health.endpointState(r, r.endpoints[0]!), 'active', 'two failures of three');
  await h.clock.advance(10_000);
  assert.equal(h.health.endpointState(r, r.endpoints[0]!), 'inactive');
  assert.deepEqual(h.probedAt, [0, 4000, 8000, 18000, 28000, 38000]);
  const row = h.health.list().find((x) => x.name === '10.0.0.1_tcp_8080')!;
  assert.equal(row.currState, 'nok');
  assert.equal(row.ruleCount, 1);
  assert.equal(row.minDelay, '', 'only ping reports delays, as in loxilb');
  h.health.close();
  assert.equal(h.clock.pending, 0, 'close stops every probe timer');
});

test('red takes the host out of every rule, monitored or not, and green gives it back to its probes', async () => {
  const a = rule([['10.0.0.1', 8080], ['10.0.0.2', 8080]]);
  const b = rule([['10.0.0.1', 8080]], true);
  const h = harness([a, b]);
  h.health.setHostState(parseEndpointHostState({ hostName: '10.0.0.1', state: 'red' }));
  assert.equal(h.health.endpointState(a, a.endpoints[0]!), 'inactive');
  assert.equal(h.health.endpointState(b, b.endpoints[0]!), 'inactive');
  assert.equal(h.health.ruleAlive(b), false, 'b has no endpoint left: its VIP is not offered');
  assert.equal(h.health.ruleAlive(a), true);
  assert.equal(h.health.list().find((x) => x.name === '10.0.0.1_tcp_8080')!.currState, 'red');
  assert.deepEqual(h.changes.at(-1), ['10.0.0.1']);
  assert.equal(h.health.affects(a, new Set(['10.0.0.1'])), true);
  assert.equal(h.health.affects(rule([['10.0.0.9', 1]]), new Set(['10.0.0.1'])), false);
  h.health.setHostState(parseEndpointHostState({ hostName: '10.0.0.1', state: 'green' }));
  await h.clock.settle();
  assert.equal(h.health.endpointState(a, a.endpoints[0]!), '-');
  assert.equal(h.health.endpointState(b, b.endpoints[0]!), 'active');
  assert.deepEqual(h.saved.at(-1), []);
  h.health.close();
});

test('a failed save changes nothing', () => {
  let fail = false;
  const r = rule([['10.0.0.1', 8080]]);
  const h = harness([r], { failSave: () => fail });
  fail = true;
  assert.throws(() => h.health.setHostState(parseEndpointHostState({ hostName: '10.0.0.1', state: 'red' })), /disk full/);
  assert.throws(() => h.health.addHost(parseEndpointHost({ hostName: '10.0.0.1', probeType: 'ping' })), /disk full/);
  assert.equal(h.health.endpointState(r, r.endpoints[0]!), '-');
  assert.equal(h.health.list().length, 1, 'only the rule entry');
  assert.equal(h.clock.pending, 0, 'no probe started');
  assert.deepEqual(h.changes, []);
});

test('ping: GET shows the round trips as Go durations, zero when nothing answered; metrics carry state and delay', async () => {
  const r = rule([['10.0.0.1', 8080]]);
  const h = harness([r]);
  h.answers.set('10.0.0.5', { ok: true, rtt: { min: 0.045, avg: 0.5, max: 1.25 } });
  h.health.addHost(parseEndpointHost({ hostName: '10.0.0.5', probeType: 'ping', probeDuration: 5 }));
  h.health.addHost(parseEndpointHost({ hostName: '10.0.0.6', probeType: 'none' }));
  await h.clock.settle();
  const rows = h.health.list();
  assert.deepEqual(rows[0], {
    hostName: '10.0.0.5', name: '10.0.0.5_ping_0', inactiveReTries: 2, probeType: 'ping', probeReq: '', probeResp: '', probeDuration: 5, probePort: 0,
    minDelay: '45µs', avgDelay: '500µs', maxDelay: '1.25ms', currState: 'ok', hostState: '', ruleCount: 0,
  });
  assert.equal(rows[1]!.probeDuration, 0, 'none is not probed: loxilb shows 0');
  assert.deepEqual(rows[2]!.name, '10.0.0.1_tcp_8080');
  assert.equal(rows[2]!.probeType, 'none', 'an unmonitored rule endpoint is not probed');
  h.answers.set('10.0.0.5', { ok: false });
  await h.clock.advance(5000);
  const ping = h.health.list()[0]!;
  assert.deepEqual([ping.currState, ping.minDelay, ping.avgDelay], ['nok', '0s', '0s']);
  h.answers.set('10.0.0.5', { ok: true, rtt: { min: 1, avg: 2, max: 3 } });
  await h.clock.advance(4000);
  const text = renderMetrics({
    status: { status: 'ok', mode: 'lb', bgp: { enabled: false, gobgpd: 'disabled', restarts: 0 }, rules: 1, rulesNotProgrammed: 0, advertisedVips: 0, uptimeSeconds: 1 },
    ciStates: [], roleChanges: new Map(), bfd: [], bgp: [], endpoints: { healthy: 1, unhealthy: 0 },
    endpointHosts: h.health.listWithRtt().map(({ row, rttMs }) => ({ ...row, rttMs })),
  });
  assert.match(text, /^loxilb_endpoint_host_state\{host="10.0.0.5",name="10.0.0.5_ping_0",probe="ping",port="0",state="ok"\} 1$/m);
  assert.match(text, /^loxilb_endpoint_host_state\{host="10.0.0.5",name="10.0.0.5_ping_0",probe="ping",port="0",state="nok"\} 0$/m);
  assert.match(text, /^loxilb_endpoint_probe_delay_seconds\{host="10.0.0.5",name="10.0.0.5_ping_0",probe="ping",port="0",stat="avg"\} 0.002$/m);
  h.health.close();
});

test('a re-POST with other options starts the probe over; DELETE stops it', async () => {
  const h = harness([]);
  h.health.addHost(parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp', probePort: 1, probeDuration: 30 }));
  await h.clock.settle();
  h.health.addHost(parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp', probePort: 1, probeDuration: 5 }));
  await h.clock.settle();
  await h.clock.advance(5000);
  assert.deepEqual(h.probedAt, [0, 0, 5000]);
  h.health.deleteHost({ hostName: '10.0.0.1', name: '', probeType: 'tcp', probePort: 1 });
  assert.equal(h.clock.pending, 0);
  assert.deepEqual(h.health.list(), []);
});

test('restore brings entries and states back and starts their probes', async () => {
  const r = rule([['10.0.0.1', 8080]]);
  const h = harness([r]);
  const skipped = h.health.restore([
    { host: parseEndpointHost({ hostName: '10.0.0.1', probeType: 'tcp', probePort: 8080 }) },
    { hostState: parseEndpointHostState({ hostName: '10.0.0.1', state: 'red' }) },
    { hostState: parseEndpointHostState({ hostName: '10.0.0.9', epProto: 'tcp', epPort: 1, state: 'red' }) },
  ]);
  assert.deepEqual(skipped, [{ hostName: '10.0.0.9', epProto: 'tcp', epPort: 1, state: 'red' }]);
  assert.equal(h.health.endpointState(r, r.endpoints[0]!), 'inactive');
  await h.clock.settle();
  assert.deepEqual(h.probedAt, [0]);
  h.health.close();
});

test('parsePing reads iputils summaries; goDuration prints as Go does', () => {
  const ok = '--- 10.0.0.1 ping statistics ---\n2 packets transmitted, 2 received, 0% packet loss, time 201ms\nrtt min/avg/max/mdev = 0.041/0.052/0.063/0.011 ms\n';
  assert.deepEqual(parsePing(ok), { ok: true, rtt: { min: 0.041, avg: 0.052, max: 0.063 } });
  assert.deepEqual(parsePing('2 packets transmitted, 0 received, 100% packet loss, time 1021ms\n'), { ok: false });
  assert.deepEqual(parsePing(''), { ok: false });
  assert.equal(goDuration(0), '0s');
  assert.equal(goDuration(0.0005), '500ns');
  assert.equal(goDuration(0.041), '41µs');
  assert.equal(goDuration(1.5), '1.5ms');
  assert.equal(goDuration(2500), '2.5s');
  assert.equal(goDuration(61_000), '1m1s');
});
