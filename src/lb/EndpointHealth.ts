// Endpoint liveness as the agent sees it: the rules' own probes
// (EndpointProber, `monitor`), the endpoint-host table of config/endpoint and
// config/endpointhoststate (EndpointHostTable, which says what decides each
// endpoint) and the probes of its API entries (EndpointHostProber). The
// datapath, BGP offers, GET config/loadbalancer/all and the metrics ask it
// one question: is this endpoint of this rule active.
//
// Emits 'change' with the hosts whose endpoints may have changed, or with no
// argument when a rule probe changed (every monitored rule).
import { EventEmitter } from 'node:events';
import type { Logger } from '../util/logger.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import type { Endpoint, LbRule } from './LbRule.ts';
import { EndpointProber, type ProbeFn } from './EndpointProber.ts';
import { EndpointHostProber, goDuration, type HostProbeFn } from './EndpointHostProber.ts';
import { EndpointHostTable, ruleEntryKey, type EndpointHostRecord } from './EndpointHosts.ts';
import { type EndpointHostDeleteQuery, type EndpointHostSpec, type EndpointHostStatePost } from './validateEndpointHost.ts';

/** One row of GET config/endpoint/all: loxilb's fields, then ours (hostState, ruleCount). */
export interface EndpointHostRow {
  hostName: string;
  name: string;
  inactiveReTries: number;
  probeType: string;
  probeReq: string;
  probeResp: string;
  probeDuration: number;
  probePort: number;
  minDelay: string;
  avgDelay: string;
  maxDelay: string;
  /** ok, nok, or red (a red state wins). */
  currState: string;
  /** The state POSTed to config/endpointhoststate ('' for none). */
  hostState: string;
  /** Endpoints of LB rules with this key (a DELETE is refused while there are any). */
  ruleCount: number;
}

export interface EndpointHealthOptions {
  log: Logger;
  /** The rule table as it is now. */
  rules: () => Iterable<LbRule>;
  /** Makes the table's records durable; throws if it cannot (the change is then undone). */
  save: (records: EndpointHostRecord[]) => void;
  clock?: Clock;
  ruleProbe?: ProbeFn;
  hostProbe?: HostProbeFn;
}

export class EndpointHealth extends EventEmitter {
  private table = new EndpointHostTable();
  private readonly ruleProber: EndpointProber;
  private readonly hostProber: EndpointHostProber;

  constructor(private readonly o: EndpointHealthOptions) {
    super();
    const clock = o.clock ?? systemClock;
    this.ruleProber = new EndpointProber(o.log, o.ruleProbe, clock);
    this.hostProber = new EndpointHostProber(o.log, o.hostProbe, clock);
    this.ruleProber.on('change', () => this.emit('change'));
    this.hostProber.on('change', (host: string) => this.emit('change', new Set([host])));
  }

  /** The rules' own probes follow the rule table. */
  sync(rules: Iterable<LbRule>): void {
    this.ruleProber.sync(rules);
  }

  /** Saved entries and states, before the first datapath pass. Returns the states whose entry is gone (not restored). */
  restore(records: readonly EndpointHostRecord[]): EndpointHostStatePost[] {
    const skipped = this.table.restore(records, this.o.rules());
    this.hostProber.sync(this.table.apiEntries());
    return skipped;
  }

  close(): void {
    this.ruleProber.close();
    this.hostProber.close();
  }

  endpointState(rule: LbRule, ep: Endpoint): string {
    const v = this.table.verdict(rule, ep);
    if (v.red) return 'inactive';
    if (v.probes.length > 0) return v.probes.every((k) => this.hostProber.result(k)?.ok ?? true) ? 'active' : 'inactive';
    return this.ruleProber.endpointState(rule, ep);
  }

  /** A rule is alive unless it has endpoints and none of them is active. */
  ruleAlive(rule: LbRule): boolean {
    return rule.endpoints.length === 0 || rule.endpoints.some((ep) => this.endpointState(rule, ep) !== 'inactive');
  }

  /** Whether a change on these hosts (undefined: a rule probe) may change this rule's endpoints. */
  affects(rule: LbRule, hosts: ReadonlySet<string> | undefined): boolean {
    if (!hosts) return rule.serviceArguments.monitor;
    return rule.endpoints.some((e) => hosts.has(e.endpointIP));
  }

  addHost(spec: EndpointHostSpec): void {
    this.change((t) => t.add(spec), spec.hostName);
  }

  deleteHost(q: EndpointHostDeleteQuery): void {
    this.change((t) => t.delete(q, this.o.rules()), q.hostName);
  }

  setHostState(post: EndpointHostStatePost): void {
    this.change((t) => t.setState(post, this.o.rules()), post.hostName);
  }

  list(): EndpointHostRow[] {
    return this.listWithRtt().map((r) => r.row);
  }

  /** The rows with the ping round trips in ms (metrics). */
  listWithRtt(): { row: EndpointHostRow; rttMs?: { min: number; avg: number; max: number } }[] {
    const rows: { row: EndpointHostRow; rttMs?: { min: number; avg: number; max: number } }[] = [];
    const refs = new Map<string, { count: number; rule: LbRule; ep: Endpoint }>();
    for (const rule of this.o.rules()) {
      for (const ep of rule.endpoints) {
        const k = ruleEntryKey(rule, ep);
        const cur = refs.get(k);
        if (cur) {
          cur.count++;
          // The monitored rule's view is the one worth showing.
          if (!cur.rule.serviceArguments.monitor && rule.serviceArguments.monitor) Object.assign(cur, { rule, ep });
        } else refs.set(k, { count: 1, rule, ep });
      }
    }
    for (const [key, s] of this.table.apiEntries()) {
      const r = this.hostProber.result(key);
      const delay = (v: number | undefined) => (s.probeType === 'ping' ? goDuration(v ?? 0) : '');
      const hostState = this.table.stateOf(key, s.hostName);
      rows.push({ ...(r?.rtt ? { rttMs: r.rtt } : {}), row: {
        hostName: s.hostName,
        name: key,
        inactiveReTries: s.probeType === 'none' ? 0 : s.inactiveReTries,
        probeType: s.probeType,
        probeReq: s.probeReq,
        probeResp: s.probeResp,
        probeDuration: s.probeType === 'none' ? 0 : s.probeDuration,
        probePort: s.probePort,
        minDelay: delay(r?.rtt?.min),
        avgDelay: delay(r?.rtt?.avg),
        maxDelay: delay(r?.rtt?.max),
        currState: hostState === 'red' ? 'red' : (r?.ok ?? true) ? 'ok' : 'nok',
        hostState,
        ruleCount: refs.get(key)?.count ?? 0,
      } });
    }
    for (const [key, { count, rule, ep }] of refs) {
      if (this.table.apiEntries().has(key)) continue;
      const sa = rule.serviceArguments;
      const hostState = this.table.stateOf(key, ep.endpointIP);
      const probed = sa.monitor;
      const up = this.ruleProber.endpointState(rule, ep) !== 'inactive';
      rows.push({ row: {
        hostName: ep.endpointIP,
        name: key,
        inactiveReTries: probed ? sa.probeRetries || 2 : 0,
        probeType: probed ? (sa.probetype ?? (sa.protocol === 'icmp' ? 'ping' : sa.protocol)) : 'none',
        probeReq: probed ? (sa.probereq ?? '') : '',
        probeResp: probed ? (sa.proberesp ?? '') : '',
        probeDuration: probed ? sa.probeTimeout || 60 : 0,
        probePort: probed && sa.probeport ? sa.probeport : sa.protocol === 'icmp' ? 0 : ep.targetPort,
        // Rule probes do not time their round trips.
        minDelay: '',
        avgDelay: '',
        maxDelay: '',
        currState: hostState === 'red' ? 'red' : up ? 'ok' : 'nok',
        hostState,
        ruleCount: count,
      } });
    }
    return rows;
  }

  /** The table's records, as saved in epconfig.json. */
  records(): EndpointHostRecord[] {
    return this.table.records();
  }

  /** Applies a change to a copy, saves it, and only then keeps it: a failed request changes nothing. */
  private change(apply: (t: EndpointHostTable) => void, host: string): void {
    const next = this.table.clone();
    apply(next);
    this.o.save(next.records());
    this.table = next;
    this.hostProber.sync(next.apiEntries());
    this.emit('change', new Set([host]));
  }
}
