// GET /netlox/v1/metrics (with --prometheus): the agent in the Prometheus
// text exposition format (version 0.0.4). Where loxilb publishes a metric
// this one carries its names, the legacy one and the `loxilb_` one (both
// with the same value, as loxilb's exporter does), so dashboards written for
// loxilb keep working; what only loxilb-ts knows (datapath events by kind,
// rules the datapath does not carry, HA roles and role changes, BFD and BGP
// sessions, connection sync, gobgpd restarts, failed background tasks) is
// added under `loxilb_` names loxilb does not use. Rendering is pure: the
// agent hands over a snapshot. The HA instance is labelled `ha_instance`:
// `instance` is the label Prometheus gives every target.
import type { AgentStatus, BfdSessionInfo, CiStateInfo } from './AgentApi.ts';
import type { Endpoint, LbRule } from '../lb/LbRule.ts';
import type { BgpNeighborStatus } from '../bgp/BgpConfig.ts';
import type { HistogramData } from '../util/Histogram.ts';
import { Exposition, type Labels } from '../util/exposition.ts';

export { METRICS_CONTENT_TYPE } from '../util/exposition.ts';

/** A route's answer that is not JSON: written as is, with its content type. */
export class RawReply {
  constructor(
    readonly contentType: string,
    readonly text: string,
  ) {}
}

export interface MetricsSnapshot {
  status: AgentStatus;
  ciStates: CiStateInfo[];
  roleChanges: ReadonlyMap<string, number>;
  bfd: BfdSessionInfo[];
  bgp: BgpNeighborStatus[];
  /** The rules' endpoints by probe state (countEndpoints). */
  endpoints: { healthy: number; unhealthy: number };
  /** The endpoint-host table (GET config/endpoint/all) with ping round trips, ms. */
  endpointHosts?: readonly EndpointHostSample[];
  /** Each programmed rule's traffic from the datapath counters (absent without a datapath). */
  rules?: RuleMetrics[];
  /** Prefix counts per BGP peer, from gobgpd (absent when it does not answer). */
  bgpPrefixes?: { peer: string; advertised: number; received: number; accepted: number }[];
  /** Pass durations of the reconcile loops, by loop. */
  reconcile?: { loop: string; durations: HistogramData }[];
}

export interface RuleMetrics {
  vip: string;
  /** "80", or "80-90" for a port range. */
  port: string;
  protocol: string;
  /** The service name (serviceArguments.name), '' if none. */
  name: string;
  packets: number;
  bytes: number;
  active: number;
  endpoints: { endpoint: string; state: string; packets: number; bytes: number }[];
}

export interface EndpointHostSample {
  hostName: string;
  name: string;
  probeType: string;
  probePort: number;
  /** ok, nok or red. */
  currState: string;
  rttMs?: { min: number; avg: number; max: number };
}

const EP_HOST_STATES = ['ok', 'nok', 'red'] as const;

/** Endpoints of the rules that pass their probe (or are not probed) and that fail it, counted in place. */
export function countEndpoints(rules: Iterable<LbRule>, stateOf: (rule: LbRule, ep: Endpoint) => string): { healthy: number; unhealthy: number } {
  let healthy = 0;
  let unhealthy = 0;
  for (const r of rules) for (const ep of r.endpoints) stateOf(r, ep) === 'inactive' ? unhealthy++ : healthy++;
  return { healthy, unhealthy };
}

/** What the datapath counted for one rule (Datapath.ruleTraffic). */
export interface RuleTrafficView {
  packets: number;
  bytes: number;
  active: number;
  /** By "endpointIP:targetPort". */
  endpoints: ReadonlyMap<string, { packets: number; bytes: number }>;
}

/** The endpoint's key in RuleTrafficView.endpoints. */
export const endpointKey = (ep: Pick<Endpoint, 'endpointIP' | 'targetPort'>): string => `${ep.endpointIP}:${ep.targetPort}`;

/** An endpoint's Counters as loxicmd shows them: "packets:bytes". */
export function endpointCounter(t: RuleTrafficView | undefined, ep: Endpoint): string {
  const c = t?.endpoints.get(endpointKey(ep));
  return `${c?.packets ?? 0}:${c?.bytes ?? 0}`;
}

/** The rules the datapath counted, with their endpoints' probe states, as the exporter labels them. */
export function ruleMetrics(rules: Iterable<readonly [string, LbRule]>, traffic: ReadonlyMap<string, RuleTrafficView>, stateOf: (rule: LbRule, ep: Endpoint) => string): RuleMetrics[] {
  const out: RuleMetrics[] = [];
  for (const [key, r] of rules) {
    const t = traffic.get(key);
    if (!t) continue;
    const sa = r.serviceArguments;
    out.push({
      vip: sa.externalIP,
      port: sa.portMax && sa.portMax > sa.port ? `${sa.port}-${sa.portMax}` : String(sa.port),
      protocol: sa.protocol,
      name: sa.name ?? '',
      packets: t.packets,
      bytes: t.bytes,
      active: t.active,
      endpoints: r.endpoints.map((ep) => {
        const c = t.endpoints.get(endpointKey(ep));
        return { endpoint: endpointKey(ep), state: stateOf(r, ep), packets: c?.packets ?? 0, bytes: c?.bytes ?? 0 };
      }),
    });
  }
  return out;
}

const CI_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'NOT_DEFINED'] as const;

/** Both of loxilb's names for one value: the legacy one (marked so in its help) and the canonical one. */
function pair(e: Exposition, legacy: string, canonical: string, type: 'counter' | 'gauge', help: string, value: number | undefined): void {
  e.one(legacy, 'gauge', `${help} (loxilb's legacy name; use ${canonical})`, value);
  e.one(canonical, type, help, value);
}

export function renderMetrics(s: MetricsSnapshot): string {
  const e = new Exposition();
  const st = s.status;
  const dp = st.datapath;

  // -- loxilb's names --
  pair(e, 'active_conntrack_count', 'loxilb_active_conntrack_entries', 'gauge', 'Entries in the datapath connection table (one per direction of a connection).', dp?.connections);
  e.one('loxilb_conntrack_max_entries', 'gauge', 'Capacity of the datapath connection table (--ct-max).', dp?.connectionCapacity);
  pair(e, 'lb_rule_count', 'loxilb_lb_rules', 'gauge', 'Load-balancer rules configured.', st.mode === 'lb' ? st.rules : undefined);
  pair(e, 'processed_packets', 'loxilb_processed_packets_total', 'counter', 'Packets the eBPF datapath looked at.', dp?.stats.packets);
  const { healthy, unhealthy } = s.endpoints;
  if (st.mode === 'lb') {
    pair(e, 'healthy_host_count', 'loxilb_healthy_endpoints', 'gauge', 'Endpoints of the rules that pass their probe (or are not probed).', healthy);
    pair(e, 'unhealthy_host_count', 'loxilb_unhealthy_endpoints', 'gauge', 'Endpoints of the rules that fail their probe.', unhealthy);
  }

  // -- loxilb-ts --
  e.one('loxilb_uptime_seconds', 'gauge', 'Seconds since the agent started.', st.uptimeSeconds);
  e.one('loxilb_degraded', 'gauge', '1 while GET /status says degraded (its reasons are there).', st.status === 'degraded' ? 1 : 0);
  if (dp) {
    e.family(
      'loxilb_datapath_events_total',
      'counter',
      'Datapath counters by event: packets, connection-table hits and new entries, drops by reason, redirects, translations.',
      Object.keys(dp.stats)
        .sort()
        .map((k) => [{ event: k }, dp.stats[k]!]),
    );
  }
  if (st.mode === 'lb') {
    e.one('loxilb_lb_rules_not_programmed', 'gauge', 'Rules the datapath does not carry (their reason is in GET config/loadbalancer/all); their VIPs are not advertised for them.', st.rulesNotProgrammed);
  }
  e.one('loxilb_advertised_vips', 'gauge', 'VIPs advertised over BGP.', st.bgp.enabled ? st.advertisedVips : undefined);
  if (st.bgp.enabled) {
    e.one('loxilb_gobgpd_up', 'gauge', '1 while the gobgpd sidecar runs and answers.', st.bgp.gobgpd === 'running' ? 1 : 0);
    e.one('loxilb_gobgpd_restarts_total', 'counter', 'Times the agent restarted its gobgpd sidecar.', st.bgp.restarts);
    e.family(
      'loxilb_bgp_peer_established',
      'gauge',
      'BGP sessions: 1 when Established.',
      s.bgp.map((n) => [{ peer: n.ipAddress, remote_as: String(n.remoteAs) }, /^established$/i.test(n.state) ? 1 : 0]),
    );
  }
  if (st.mode === 'lb') {
    const states: [Labels, number][] = [];
    for (const c of s.ciStates) for (const name of CI_STATES) states.push([{ ha_instance: c.instance, state: name }, c.state === name ? 1 : 0]);
    e.family('loxilb_ha_state', 'gauge', 'HA role per instance: 1 for the current state.', states);
    e.family(
      'loxilb_ha_state_changes_total',
      'counter',
      'HA role changes per instance since the agent started.',
      s.ciStates.map((c) => [{ ha_instance: c.instance }, s.roleChanges.get(c.instance) ?? 0]),
    );
    // With --ka / --cluster: what makes the node eligible, and whether it is draining.
    const tracked = s.ciStates.find((c) => c.upstream !== undefined);
    if (tracked) {
      e.one('loxilb_ha_eligible', 'gauge', '1 while some tracked router or VIP link is up (0: the BFD-driven instances are FAULT).', tracked.eligible ? 1 : 0);
      e.family(
        'loxilb_ha_upstream_up',
        'gauge',
        'Each tracked upstream (a router: BGP Established and BFD not down; a VIP link: carrier): 1 when up.',
        tracked.upstream!.map((u) => [{ kind: u.kind, name: u.name }, u.up ? 1 : 0]),
      );
    }
    const hosts = s.endpointHosts ?? [];
    const hostLabels = (h: EndpointHostSample): Labels => ({ host: h.hostName, name: h.name, probe: h.probeType, port: String(h.probePort) });
    e.family(
      'loxilb_endpoint_host_state',
      'gauge',
      'Endpoint hosts (GET config/endpoint/all): 1 for the current state (ok, nok: fails its probe, red: set by config/endpointhoststate).',
      hosts.flatMap((h) => EP_HOST_STATES.map((state): [Labels, number] => [{ ...hostLabels(h), state }, h.currState === state ? 1 : 0])),
    );
    e.family(
      'loxilb_endpoint_probe_delay_seconds',
      'gauge',
      'Round trip of the last ping probe of an endpoint host, by stat (min, avg, max; 0 when nothing answered).',
      hosts.flatMap((h) => (h.rttMs ? (['min', 'avg', 'max'] as const).map((stat): [Labels, number] => [{ ...hostLabels(h), stat }, h.rttMs![stat] / 1000]) : [])),
    );
    if (st.drain) e.one('loxilb_draining', 'gauge', '1 while the node drains or is drained (SIGTERM, POST config/drain).', st.drain.draining ? 1 : 0);
  }
  if (dp) e.one('loxilb_datapath_table_adopted', 'gauge', '1 when this run adopted the pinned connection table of an earlier one.', dp.pinned.adopted ? 1 : 0);
  const bfdLabels = (b: BfdSessionInfo): Labels => ({ ha_instance: b.instance, remote: b.remoteIp, purpose: b.purpose });
  e.family('loxilb_bfd_session_up', 'gauge', 'BFD sessions: 1 when Up.', s.bfd.map((b) => [bfdLabels(b), b.state === 'BFDUp' ? 1 : 0]));
  e.family('loxilb_bfd_session_transitions_total', 'counter', 'BFD state changes per session (a flap is two).', s.bfd.map((b) => [bfdLabels(b), b.transitions]));
  e.family('loxilb_bfd_detection_time_seconds', 'gauge', 'BFD detection time in use per session (0 until the peer is heard).', s.bfd.map((b) => [bfdLabels(b), b.detectionTime / 1e6]));
  e.family('loxilb_bfd_rx_gap_max_seconds', 'gauge', 'Longest silence from the peer while the session was Up (compare with the detection time).', s.bfd.map((b) => [bfdLabels(b), b.timing.rxGapMaxUs / 1e6]));
  e.family('loxilb_bfd_tx_late_max_seconds', 'gauge', 'Latest a periodic packet of ours left after it was due, while Up.', s.bfd.map((b) => [bfdLabels(b), b.timing.txLateMaxUs / 1e6]));
  e.family('loxilb_bfd_tx_late_total', 'counter', 'Periodic packets of ours that left more than a quarter of the interval late, while Up.', s.bfd.map((b) => [bfdLabels(b), b.timing.txLateOverQuarter]));
  if (st.sync) {
    e.one('loxilb_sync_synced', 'gauge', '1 once the connection table of the --cluster peers has been received.', st.sync.synced ? 1 : 0);
    e.one('loxilb_sync_subscribers', 'gauge', 'Cluster peers reading this node\'s connection table.', st.sync.subscribers);
    e.one('loxilb_sync_sent_entries_total', 'counter', 'Connection entries sent to cluster peers (full tables and updates).', st.sync.sent);
  }
  renderRules(e, s.rules ?? []);
  if (s.bgpPrefixes) {
    const by = (k: 'advertised' | 'received' | 'accepted') => s.bgpPrefixes!.map((p): [Labels, number] => [{ peer: p.peer }, p[k]]);
    e.family('loxilb_bgp_peer_prefixes_advertised', 'gauge', 'Prefixes gobgpd advertises to each BGP peer (its adj-RIB-out, all families).', by('advertised'));
    e.family('loxilb_bgp_peer_prefixes_received', 'gauge', 'Prefixes received from each BGP peer.', by('received'));
    e.family('loxilb_bgp_peer_prefixes_accepted', 'gauge', 'Prefixes received from each BGP peer that its import policy accepted.', by('accepted'));
  }
  if (st.sync) {
    const peers = st.sync.peers;
    e.family('loxilb_sync_peer_synced', 'gauge', 'Connection sync from each --cluster peer: 1 once its table is pulled and its updates stream in.', peers.map((p) => [{ peer: p.address }, p.state === 'synced' ? 1 : 0]));
    e.family('loxilb_sync_received_entries_total', 'counter', 'Connection entries installed from each --cluster peer (full pulls and updates); entries per second is its rate().', peers.map((p) => [{ peer: p.address }, p.received]));
    e.family(
      'loxilb_sync_lag_seconds',
      'gauge',
      'Time from a --cluster peer sending its latest batch to it being installed here.',
      peers.filter((p) => p.lagMs !== undefined).map((p) => [{ peer: p.address }, p.lagMs! / 1000]),
    );
    e.one('loxilb_sync_scan_duration_seconds', 'gauge', 'How long the latest scan of the connection table for changes to send took.', st.sync.scans > 0 ? st.sync.lastScanMs / 1000 : undefined);
  }
  if (s.reconcile && s.reconcile.length > 0) {
    e.histogram('loxilb_reconcile_duration_seconds', 'Duration of the reconcile passes by loop (datapath: rules into the eBPF maps; bgp: gobgpd config and paths; kernel_routes: learned routes into the kernel).', s.reconcile.map((r) => [{ loop: r.loop }, r.durations]));
  }
  e.family(
    'loxilb_background_task_failures_total',
    'counter',
    'Failures of background tasks (timers, passes) by source since start; each is also in GET /status.',
    (st.faults ?? []).map((f) => [{ source: f.source }, f.count]),
  );
  return e.text();
}

/** Per-rule and per-endpoint traffic, and loxilb's per-service families for named rules. */
function renderRules(e: Exposition, rules: readonly RuleMetrics[]): void {
  const ruleLabels = (r: RuleMetrics): Labels => ({ vip: r.vip, port: r.port, protocol: r.protocol, name: r.name });
  e.family('loxilb_lb_rule_packets_total', 'counter', 'Packets of each rule\'s connections the datapath translated, both directions (per-CPU datapath counters).', rules.map((r) => [ruleLabels(r), r.packets]));
  e.family('loxilb_lb_rule_bytes_total', 'counter', 'Bytes of those packets.', rules.map((r) => [ruleLabels(r), r.bytes]));
  e.family('loxilb_lb_rule_active_connections', 'gauge', 'Open connections of each rule at the latest sweep of the connection table (once a second).', rules.map((r) => [ruleLabels(r), r.active]));
  const eps = rules.flatMap((r) => r.endpoints.map((ep) => ({ labels: { ...ruleLabels(r), endpoint: ep.endpoint }, ep })));
  e.family('loxilb_lb_endpoint_packets_total', 'counter', 'Packets of each endpoint\'s connections, both directions.', eps.map((x) => [x.labels, x.ep.packets]));
  e.family('loxilb_lb_endpoint_bytes_total', 'counter', 'Bytes of those packets.', eps.map((x) => [x.labels, x.ep.bytes]));
  e.family('loxilb_lb_endpoint_up', 'gauge', 'Each endpoint\'s probe state: 1 when it passes its probe or is not probed, 0 when it fails.', eps.map((x) => [x.labels, x.ep.state === 'inactive' ? 0 : 1]));
  // loxilb's families: per NAMED service only, summed over its rules.
  const byName = new Map<string, { packets: number; bytes: number }>();
  const byEp = new Map<string, { service: string; dip: string; bytes: number }>();
  for (const r of rules) {
    if (!r.name) continue;
    const t = byName.get(r.name) ?? { packets: 0, bytes: 0 };
    byName.set(r.name, { packets: t.packets + r.packets, bytes: t.bytes + r.bytes });
    for (const ep of r.endpoints) {
      const dip = ep.endpoint.slice(0, ep.endpoint.lastIndexOf(':'));
      const k = `${r.name}|${dip}`;
      byEp.set(k, { service: r.name, dip, bytes: (byEp.get(k)?.bytes ?? 0) + ep.bytes });
    }
  }
  const named = [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  e.family('loxilb_service_traffic_packets_total', 'counter', 'Packets per NAMED service, from the datapath rule counters (loxilb\'s name; unnamed rules: loxilb_lb_rule_packets_total).', named.map(([service, t]) => [{ service }, t.packets]));
  e.family('loxilb_service_traffic_bytes_total', 'counter', 'Bytes per NAMED service, from the datapath rule counters.', named.map(([service, t]) => [{ service }, t.bytes]));
  e.family('loxilb_endpoint_traffic_bytes_total', 'counter', 'Bytes per endpoint of each NAMED service, from the datapath counters (exact: short connections count too).', [...byEp.values()].map((x) => [{ service: x.service, dip: x.dip }, x.bytes]));
}
