import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countEndpoints, endpointCounter, renderMetrics, ruleMetrics, type MetricsSnapshot } from '../../src/api/metrics.ts';
import { Histogram } from '../../src/util/Histogram.ts';
import type { Endpoint, LbRule } from '../../src/lb/LbRule.ts';
import type { AgentStatus, BfdSessionInfo, CiStateInfo } from '../../src/api/AgentApi.ts';

function status(over: Partial<AgentStatus> = {}): AgentStatus {
  return {
    status: 'ok',
    mode: 'lb',
    bgp: { enabled: true, gobgpd: 'running', restarts: 2 },
    rules: 3,
    rulesNotProgrammed: 1,
    advertisedVips: 2,
    uptimeSeconds: 42,
    datapath: { interfaces: ['eth0'], egress: false, connections: 8, connectionCapacity: 262144, ruleCapacity: 16384, serviceEntryCapacity: 65536, stats: { packets: 1000, ctNew: 4, ctHit: 996 }, pinned: { adopted: false, note: 'no --bpf-pin-dir' } },
    faults: [{ source: 'datapath link sync', count: 3, lastError: 'EMFILE', lastAt: 0 }],
    ...over,
  };
}

function bfd(remoteIp: string, state: string, purpose: BfdSessionInfo['purpose'], transitions: number): BfdSessionInfo {
  return {
    instance: 'llb-inst0', remoteIp, sourceIP: '0.0.0.0', port: 3784, interval: 100000, retryCount: 3, state, purpose, diag: 'No Diagnostic',
    txInterval: 100000, detectionTime: 300000, transitions, timing: { txLateMaxUs: 0, txLateOverQuarter: 0, txPeriodicUp: 0, rxGapMaxUs: 0 }, rxDrops: {}, timersClamped: 0,
    remote: { desiredMinTx: 100000, requiredMinRx: 100000, detectMult: 3 },
  } as BfdSessionInfo;
}

/** A rule whose endpoints' probe states are `states` (read back by stateOf below). */
const rule = (states: string[]): LbRule =>
  ({ serviceArguments: { externalIP: '10.0.0.1', port: 80, protocol: 'tcp' }, endpoints: states.map((state, i) => ({ endpointIP: `10.1.0.${i + 1}`, targetPort: 8080, weight: 1, state })), secondaryIPs: [], allowedSources: [] }) as unknown as LbRule;
const stateOf = (_r: LbRule, ep: Endpoint) => (ep as Endpoint & { state: string }).state;

function snapshot(over: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  const ci: CiStateInfo[] = [
    { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0', priority: 100, synced: true, driver: 'bfd' },
    { instance: 'we"ird\\inst\nx', state: 'BACKUP', vip: '0.0.0.0', priority: 100, synced: true, driver: 'api' },
  ];
  return {
    status: status(),
    ciStates: ci,
    roleChanges: new Map([['llb-inst0', 3]]),
    bfd: [bfd('192.168.80.11', 'BFDUp', 'ha-peer', 2), bfd('192.168.80.1', 'BFDDown', 'bgp-neighbor', 5)],
    bgp: [{ ipAddress: '192.168.80.1', remoteAs: 65101, state: 'Established', updowntime: '00:01:00' }, { ipAddress: 'fd00::1', remoteAs: 65101, state: 'Active', updowntime: '00:00:00' }],
    endpoints: countEndpoints([rule(['active', 'inactive']), rule(['active'])], stateOf),
    ...over,
  };
}

/** Parses the exposition text as a scraper would: every line a comment or a sample, HELP and TYPE once per family, before its samples. */
function parse(text: string): Map<string, { type: string; samples: Map<string, number> }> {
  const fams = new Map<string, { type: string; samples: Map<string, number> }>();
  let current: string | undefined;
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line);
    if (m) {
      assert.ok(!fams.has(m[1]!), `one HELP for ${m[1]}`);
      current = m[1];
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
    if (m) {
      assert.equal(m[1], current, 'TYPE follows its HELP');
      fams.set(m[1]!, { type: m[2]!, samples: new Map() });
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(m, `a valid sample line: ${JSON.stringify(line)}`);
    const fam = fams.get(current!);
    const suffix = fam?.type === 'histogram' ? m[1]!.slice(current!.length) : '';
    assert.ok(m[1] === current || (fam?.type === 'histogram' && ['_bucket', '_sum', '_count'].includes(suffix) && m[1]!.startsWith(current!)), `${m[1]} sample under its own family`);
    fam!.samples.set(`${suffix}${m[2] ?? ''}`, Number(m[3]));
  }
  return fams;
}

test('the text is valid exposition format, with loxilb\'s legacy and canonical names carrying the same value', () => {
  const f = parse(renderMetrics(snapshot()));
  const v = (name: string, labels = '') => f.get(name)?.samples.get(labels);
  for (const [legacy, canonical, value] of [
    ['active_conntrack_count', 'loxilb_active_conntrack_entries', 8],
    ['lb_rule_count', 'loxilb_lb_rules', 3],
    ['processed_packets', 'loxilb_processed_packets_total', 1000],
    ['healthy_host_count', 'loxilb_healthy_endpoints', 2],
    ['unhealthy_host_count', 'loxilb_unhealthy_endpoints', 1],
  ] as const) {
    assert.equal(v(legacy), value, legacy);
    assert.equal(v(canonical), value, canonical);
    assert.equal(f.get(legacy)!.type, 'gauge');
  }
  assert.equal(f.get('loxilb_processed_packets_total')!.type, 'counter');
  assert.equal(v('loxilb_conntrack_max_entries'), 262144);
  assert.equal(v('loxilb_lb_rules_not_programmed'), 1);
  assert.equal(v('loxilb_datapath_events_total', '{event="ctNew"}'), 4);
  assert.deepEqual([...f.get('loxilb_datapath_events_total')!.samples.keys()], ['{event="ctHit"}', '{event="ctNew"}', '{event="packets"}']);
  assert.equal(v('loxilb_gobgpd_restarts_total'), 2);
  assert.equal(v('loxilb_bgp_peer_established', '{peer="192.168.80.1",remote_as="65101"}'), 1);
  assert.equal(v('loxilb_bgp_peer_established', '{peer="fd00::1",remote_as="65101"}'), 0);
  assert.equal(v('loxilb_bfd_session_up', '{ha_instance="llb-inst0",remote="192.168.80.11",purpose="ha-peer"}'), 1);
  assert.equal(v('loxilb_bfd_session_up', '{ha_instance="llb-inst0",remote="192.168.80.1",purpose="bgp-neighbor"}'), 0);
  assert.equal(v('loxilb_bfd_session_transitions_total', '{ha_instance="llb-inst0",remote="192.168.80.1",purpose="bgp-neighbor"}'), 5);
  assert.equal(v('loxilb_bfd_detection_time_seconds', '{ha_instance="llb-inst0",remote="192.168.80.11",purpose="ha-peer"}'), 0.3);
  assert.equal(v('loxilb_background_task_failures_total', '{source="datapath link sync"}'), 3);
});

test('HA state is one-hot per instance, role changes count, and label values are escaped', () => {
  const f = parse(renderMetrics(snapshot()));
  const ha = f.get('loxilb_ha_state')!.samples;
  assert.equal(ha.get('{ha_instance="llb-inst0",state="MASTER"}'), 1);
  assert.equal(ha.get('{ha_instance="llb-inst0",state="BACKUP"}'), 0);
  assert.equal([...ha].filter(([k, n]) => k.startsWith('{ha_instance="llb-inst0"') && n === 1).length, 1);
  assert.equal(ha.get('{ha_instance="we\\"ird\\\\inst\\nx",state="BACKUP"}'), 1, 'quote, backslash and newline escaped');
  assert.equal(f.get('loxilb_ha_state_changes_total')!.samples.get('{ha_instance="llb-inst0"}'), 3);
  assert.equal(f.get('loxilb_ha_state_changes_total')!.samples.get('{ha_instance="we\\"ird\\\\inst\\nx"}'), 0);
});

test('what a mode does not have is left out, not reported as 0', () => {
  const peer = parse(
    renderMetrics(snapshot({ status: status({ mode: 'bgp-only', datapath: undefined, bgp: { enabled: true, gobgpd: 'down', restarts: 0 } }), ciStates: [], endpoints: countEndpoints([], stateOf), bfd: [] })),
  );
  for (const absent of ['active_conntrack_count', 'lb_rule_count', 'loxilb_lb_rules', 'processed_packets', 'loxilb_datapath_events_total', 'loxilb_ha_state', 'healthy_host_count', 'loxilb_bfd_session_up']) {
    assert.equal(peer.has(absent), false, absent);
  }
  assert.equal(peer.get('loxilb_gobgpd_up')!.samples.get(''), 0);
  const noBgp = parse(renderMetrics(snapshot({ status: status({ bgp: { enabled: false, gobgpd: 'disabled', restarts: 0 } }), bgp: [] })));
  for (const absent of ['loxilb_advertised_vips', 'loxilb_gobgpd_up', 'loxilb_bgp_peer_established']) assert.equal(noBgp.has(absent), false, absent);
});

test('upstream, drain and the adopted table: gauges an operator can alert on; absent without --ka / --cluster', () => {
  const ci: CiStateInfo[] = [
    {
      instance: 'llb-inst0', state: 'FAULT', vip: '0.0.0.0', priority: 100, synced: true, driver: 'bfd', eligible: false,
      upstream: [{ kind: 'bgp', name: '192.168.80.1', up: false, detail: 'BFD down' }, { kind: 'interface', name: 'eth0', up: false, detail: 'no carrier' }],
    },
  ];
  const base = status();
  const f = parse(
    renderMetrics(
      snapshot({
        ciStates: ci,
        status: status({ drain: { draining: true, phase: 'drained', timeoutMs: 10000 }, datapath: { ...base.datapath!, pinned: { path: '/sys/fs/bpf/loxilb-ts/ns1/ct', adopted: true } } }),
      }),
    ),
  );
  assert.equal(f.get('loxilb_ha_eligible')!.samples.get(''), 0);
  assert.equal(f.get('loxilb_ha_upstream_up')!.samples.get('{kind="bgp",name="192.168.80.1"}'), 0);
  assert.equal(f.get('loxilb_ha_upstream_up')!.samples.get('{kind="interface",name="eth0"}'), 0);
  assert.equal(f.get('loxilb_ha_state')!.samples.get('{ha_instance="llb-inst0",state="FAULT"}'), 1);
  assert.equal(f.get('loxilb_draining')!.samples.get(''), 1);
  assert.equal(f.get('loxilb_datapath_table_adopted')!.samples.get(''), 1);
  const plain = parse(renderMetrics(snapshot()));
  for (const absent of ['loxilb_ha_eligible', 'loxilb_ha_upstream_up', 'loxilb_draining']) assert.equal(plain.has(absent), false, absent);
  assert.equal(plain.get('loxilb_datapath_table_adopted')!.samples.get(''), 0);
});

test('per-rule and per-endpoint traffic, loxilb\'s per-service families for named rules, BGP prefixes, reconcile histograms', () => {
  const r: LbRule = { ...rule(['active', 'inactive']), serviceArguments: { externalIP: '10.0.0.1', port: 80, portMax: 82, protocol: 'tcp', name: 'web' } } as unknown as LbRule;
  const traffic = new Map([['k', { packets: 30, bytes: 3000, active: 2, endpoints: new Map([['10.1.0.1:8080', { packets: 20, bytes: 2000 }], ['10.1.0.2:8080', { packets: 10, bytes: 1000 }]]) }]]);
  const rules = ruleMetrics([['k', r], ['not-programmed', rule(['active'])]], traffic, stateOf);
  assert.equal(rules.length, 1, 'only rules the datapath counted');
  const h = new Histogram([0.01, 0.1]);
  h.observe(0.005);
  h.observe(0.05);
  h.observe(5);
  const f = parse(
    renderMetrics(
      snapshot({
        rules,
        bgpPrefixes: [{ peer: '192.168.80.1', advertised: 3, received: 1, accepted: 1 }],
        reconcile: [{ loop: 'datapath', durations: h.data() }],
      }),
    ),
  );
  const v = (name: string, labels = '') => f.get(name)?.samples.get(labels);
  const rl = 'vip="10.0.0.1",port="80-82",protocol="tcp",name="web"';
  assert.equal(v('loxilb_lb_rule_packets_total', `{${rl}}`), 30);
  assert.equal(v('loxilb_lb_rule_bytes_total', `{${rl}}`), 3000);
  assert.equal(v('loxilb_lb_rule_active_connections', `{${rl}}`), 2);
  assert.equal(v('loxilb_lb_endpoint_packets_total', `{${rl},endpoint="10.1.0.2:8080"}`), 10);
  assert.equal(v('loxilb_lb_endpoint_up', `{${rl},endpoint="10.1.0.1:8080"}`), 1);
  assert.equal(v('loxilb_lb_endpoint_up', `{${rl},endpoint="10.1.0.2:8080"}`), 0, 'the endpoint failing its probe');
  assert.equal(v('loxilb_service_traffic_packets_total', '{service="web"}'), 30);
  assert.equal(v('loxilb_endpoint_traffic_bytes_total', '{service="web",dip="10.1.0.1"}'), 2000);
  assert.equal(v('loxilb_bgp_peer_prefixes_advertised', '{peer="192.168.80.1"}'), 3);
  assert.equal(f.get('loxilb_reconcile_duration_seconds')?.type, 'histogram');
  assert.equal(v('loxilb_reconcile_duration_seconds', '_bucket{loop="datapath",le="0.01"}'), 1);
  assert.equal(v('loxilb_reconcile_duration_seconds', '_bucket{loop="datapath",le="0.1"}'), 2, 'buckets are cumulative');
  assert.equal(v('loxilb_reconcile_duration_seconds', '_bucket{loop="datapath",le="+Inf"}'), 3);
  assert.equal(v('loxilb_reconcile_duration_seconds', '_count{loop="datapath"}'), 3);
  assert.equal(v('loxilb_reconcile_duration_seconds', '_sum{loop="datapath"}'), 5.055);
  assert.equal(v('loxilb_bfd_rx_gap_max_seconds', '{ha_instance="llb-inst0",remote="192.168.80.11",purpose="ha-peer"}'), 0);
  assert.equal(v('loxilb_bfd_tx_late_total', '{ha_instance="llb-inst0",remote="192.168.80.11",purpose="ha-peer"}'), 0);
  assert.equal(endpointCounter(traffic.get('k'), r.endpoints[0]!), '20:2000');
  assert.equal(endpointCounter(undefined, r.endpoints[0]!), '0:0');
});
