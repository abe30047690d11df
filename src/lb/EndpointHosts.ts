// loxilb's endpoint-host table (GET/POST/DELETE config/endpoint, POST
// config/endpointhoststate): what it holds and what it decides, without I/O.
//
// Entries are keyed as loxilb keys them: the POSTed name, or
// `<host>_<probeType>_<port>`. Two kinds are listed together:
// - API entries, POSTed by an operator, probed as they say (EndpointHostProber);
// - rule entries, one per endpoint of every LB rule, keyed
//   `<ip>_<tcp|udp|sctp|ping>_<targetPort>` by the rule's protocol (icmp: ping,
//   port 0). They are derived from the rules on each call, never stored, and
//   a DELETE of one is refused ("LB Rule-referred"), also when the operator
//   POSTed the same key (that only changes how it is probed).
//
// What they decide, for one endpoint (ip, port) of a rule:
// - red, from POST config/endpointhoststate, on the endpoint's rule key, on an
//   API entry that covers it, or on the whole host: the endpoint is inactive
//   in every rule, monitored or not;
// - otherwise the API entries that cover it decide by their probe (any nok:
//   inactive). An API entry covers the endpoint when its key is the
//   endpoint's rule key, or it is on that host and port with a probe over the
//   rule's protocol (tcp: tcp, http, https; udp: udp; sctp: sctp; icmp:
//   ping). loxilb matches the key only, and only for monitored rules; we also
//   take a named entry or an http check of the same port, in every rule,
//   since that is what the operator configured it for;
// - otherwise the rule's own probe (EndpointProber, `monitor`).
// green and yellow follow the probes (loxilb gives yellow no effect either).
// A state stays until the operator changes it (green clears it) and is saved:
// unlike loxilb, an endpoint added later on a red host does not take traffic.
import { ApiError, ConflictError, NotFoundError } from '../util/errors.ts';
import type { Endpoint, LbRule, Protocol } from './LbRule.ts';
import {
  epHostKey,
  specKey,
  type EndpointHostDeleteQuery,
  type EndpointHostSpec,
  type EndpointHostStatePost,
  type HostState,
} from './validateEndpointHost.ts';

/** POSTed hosts at most: each is a probe on a timer (ping: a process per run). */
export const MAX_ENDPOINT_HOSTS = 1024;

/** The rule entries' probe type for a rule protocol (loxilb's modNatEpHost). */
const RULE_KEY_TYPE: Record<Protocol, string> = { tcp: 'tcp', udp: 'udp', sctp: 'sctp', icmp: 'ping' };
/** Probe types of an API entry that speak for an endpoint of a rule of that protocol. */
const COVERS: Record<Protocol, readonly string[]> = { tcp: ['tcp', 'http', 'https'], udp: ['udp'], sctp: ['sctp'], icmp: ['ping'] };

export function ruleEntryKey(rule: LbRule, ep: Endpoint): string {
  const proto = rule.serviceArguments.protocol;
  return epHostKey(ep.endpointIP, RULE_KEY_TYPE[proto], proto === 'icmp' ? 0 : ep.targetPort);
}

/** What the table says about one endpoint of a rule. */
export interface EndpointVerdict {
  red: boolean;
  /** Keys of the API entries whose probe decides it (empty: the rule's own probe does). */
  probes: string[];
}

/** One saved record of epconfig.json: an API entry, or a state as POSTed. */
export type EndpointHostRecord = { host: EndpointHostSpec } | { hostState: EndpointHostStatePost };

export class EndpointHostTable {
  private readonly api = new Map<string, EndpointHostSpec>();
  /** API keys by host, for the per-endpoint lookups of every datapath pass. */
  private byHost = new Map<string, string[]>();
  /** States set on one entry (key), as POSTed. */
  private readonly keyStates = new Map<string, EndpointHostStatePost>();
  /** States set on a whole host. */
  private readonly hostStates = new Map<string, HostState>();

  apiEntries(): ReadonlyMap<string, EndpointHostSpec> {
    return this.api;
  }

  /** POST config/endpoint: adds, or replaces the entry with that key (as loxilb does). Returns its key. */
  add(spec: EndpointHostSpec): string {
    const key = specKey(spec);
    const cur = this.api.get(key);
    if (cur && cur.hostName !== spec.hostName) throw new ConflictError(`ep-host exists: ${key} is an entry of ${cur.hostName}, not ${spec.hostName}`);
    if (!cur && this.api.size >= MAX_ENDPOINT_HOSTS) throw new ApiError(403, `ep-host capacity: at most ${MAX_ENDPOINT_HOSTS} endpoint hosts can be POSTed; delete one first`);
    this.api.set(key, spec);
    this.reindex();
    return key;
  }

  /** DELETE config/endpoint/epipaddress/{ip}: only API entries that no rule refers to. Returns the deleted key. */
  delete(q: EndpointHostDeleteQuery, rules: Iterable<LbRule>): string {
    const key = q.name || epHostKey(q.hostName, q.probeType, q.probePort);
    const spec = this.api.get(key);
    const refs = ruleRefs(rules, key);
    if (refs > 0) throw new ConflictError(`LB Rule-referred: ${key} is an endpoint of ${refs} LB rule(s); delete or change the rule(s) instead`);
    if (!spec || spec.hostName !== q.hostName) throw new NotFoundError(`host-notfound error: no endpoint host ${key}${q.name ? ` of ${q.hostName}` : ''}`);
    this.api.delete(key);
    this.keyStates.delete(key);
    this.reindex();
    return key;
  }

  /** POST config/endpointhoststate. Something must be there to set: an entry with that key, or any entry of the host. */
  setState(post: EndpointHostStatePost, rules: Iterable<LbRule>): void {
    if (post.epProto !== '') {
      const key = epHostKey(post.hostName, post.epProto, post.epPort);
      if (!this.api.has(key) && ruleRefs(rules, key) === 0) throw new NotFoundError(`ephost-notfound error: no endpoint host ${key}`);
      if (post.state === 'green') this.keyStates.delete(key);
      else this.keyStates.set(key, post);
      return;
    }
    if (!this.hasHost(post.hostName, rules)) throw new NotFoundError(`ephost-notfound error: no endpoint host on ${post.hostName}`);
    // As in loxilb, a state for the host is a state for each of its entries.
    for (const [k, s] of this.keyStates) if (s.hostName === post.hostName) this.keyStates.delete(k);
    if (post.state === 'green') this.hostStates.delete(post.hostName);
    else this.hostStates.set(post.hostName, post.state);
  }

  /** The state an entry is in ('' when none was set). */
  stateOf(key: string, hostName: string): HostState | '' {
    return this.keyStates.get(key)?.state ?? this.hostStates.get(hostName) ?? '';
  }

  verdict(rule: LbRule, ep: Endpoint): EndpointVerdict {
    const ip = ep.endpointIP;
    const own = ruleEntryKey(rule, ep);
    let red = this.stateOf(own, ip) === 'red';
    const probes: string[] = [];
    for (const k of this.byHost.get(ip) ?? []) {
      const s = this.api.get(k)!;
      const covers = k === own || (s.probePort === ep.targetPort && COVERS[rule.serviceArguments.protocol].includes(s.probeType)) || (rule.serviceArguments.protocol === 'icmp' && s.probeType === 'ping');
      if (!covers) continue;
      red ||= this.stateOf(k, ip) === 'red';
      if (s.probeType !== 'none') probes.push(k);
    }
    return { red, probes };
  }

  /** True when a state or an API entry is set on one of these hosts: their rules need a new datapath pass on a change. */
  touches(rule: LbRule): boolean {
    return rule.endpoints.some((e) => this.byHost.has(e.endpointIP) || this.hostStates.has(e.endpointIP) || this.keyStates.has(ruleEntryKey(rule, e)));
  }

  records(): EndpointHostRecord[] {
    return [
      ...[...this.api.values()].map((host) => ({ host })),
      ...[...this.hostStates].map(([hostName, state]) => ({ hostState: { hostName, epPort: 0, epProto: '' as const, state } })),
      ...[...this.keyStates.values()].map((hostState) => ({ hostState })),
    ];
  }

  /** Saved records back in, after the rules: a state whose entry is gone is skipped and returned. */
  restore(records: readonly EndpointHostRecord[], rules: Iterable<LbRule>): EndpointHostStatePost[] {
    const list = [...rules];
    const skipped: EndpointHostStatePost[] = [];
    for (const r of records) if ('host' in r) this.add(r.host);
    for (const r of records) {
      if (!('hostState' in r)) continue;
      try {
        this.setState(r.hostState, list);
      } catch {
        skipped.push(r.hostState);
      }
    }
    return skipped;
  }

  /** A copy to change and keep only if the change is saved. */
  clone(): EndpointHostTable {
    const t = new EndpointHostTable();
    for (const [k, v] of this.api) t.api.set(k, v);
    for (const [k, v] of this.keyStates) t.keyStates.set(k, v);
    for (const [k, v] of this.hostStates) t.hostStates.set(k, v);
    t.reindex();
    return t;
  }

  private hasHost(ip: string, rules: Iterable<LbRule>): boolean {
    if (this.byHost.has(ip)) return true;
    for (const r of rules) if (r.endpoints.some((e) => e.endpointIP === ip)) return true;
    return false;
  }

  private reindex(): void {
    const m = new Map<string, string[]>();
    for (const [k, s] of this.api) {
      const l = m.get(s.hostName);
      if (l) l.push(k);
      else m.set(s.hostName, [k]);
    }
    this.byHost = m;
  }
}

/** How many rule endpoints have this rule key (loxilb's ruleCount). */
export function ruleRefs(rules: Iterable<LbRule>, key: string): number {
  let n = 0;
  for (const r of rules) for (const ep of r.endpoints) if (ruleEntryKey(r, ep) === key) n++;
  return n;
}
