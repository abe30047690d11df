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

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

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

type Labels = Record<string, string>;

/** Builds the exposition text family by family: HELP and TYPE once, then the samples. */
class Exposition {
  private readonly out: string[] = [];

  family(name: string, type: 'counter' | 'gauge', help: string, samples: readonly [Labels, number][]): void {
    if (samples.length === 0) return;
    this.out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  one(name: string, type: 'counter' | 'gauge', help: string, value: number | undefined): void {
    if (value !== undefined) this.family(name, type, help, [[{}, value]]);
  }

  text(): string {
    return this.out.length > 0 ? `${this.out.join('\n')}\n` : '';
  }
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
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
  if (st.sync) {
    e.one('loxilb_sync_synced', 'gauge', '1 once the connection table of the --cluster peers has been received.', st.sync.synced ? 1 : 0);
    e.one('loxilb_sync_subscribers', 'gauge', 'Cluster peers reading this node\'s connection table.', st.sync.subscribers);
    e.one('loxilb_sync_sent_entries_total', 'counter', 'Connection entries sent to cluster peers (full tables and updates).', st.sync.sent);
  }
  e.family(
    'loxilb_background_task_failures_total',
    'counter',
    'Failures of background tasks (timers, passes) by source since start; each is also in GET /status.',
    (st.faults ?? []).map((f) => [{ source: f.source }, f.count]),
  );
  return e.text();
}
