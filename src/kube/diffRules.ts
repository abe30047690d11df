// The diff of the rules kube-loxilb wants (planRules.ts) against what one
// agent reports in GET /config/loadbalancer/all, so that reconciling is
// idempotent: an agent that has every rule gets no call, a restarted empty
// agent gets every rule, and only rules kube-loxilb owns are ever deleted.
// Split from planRules.ts: planning reads Kubernetes views, this reads an
// agent's answer, and they share nothing but the rule type.
import { ruleKey, type LbRule, type Protocol } from '../lb/LbRule.ts';
import { formatAddress, parseAddress } from '../ipam/ipRange.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';
import { normalizePrefix } from '../util/ipAddress.ts';
import type { LbDeleteKey } from '../apiclient/models.ts';

/** loxilb's lbmode for full proxy: switching to or from it needs a new rule. */
const MODE_FULLPROXY = 4;

function canonical(text: string): string | undefined {
  const a = parseAddress(text.trim());
  return a && formatAddress(a.family, a.value);
}

/**
 * One rule as the agent holds it: its key for a DELETE (the typed client,
 * LoxiClient.deleteRule, makes the request of it) and its name, taken from
 * the agent's copy of the rule.
 */
export interface RuleRef extends LbDeleteKey {
  block: number;
  /** The agent's bgp flag: the VIP is only withdrawn when the DELETE says ?bgp=true. */
  bgp: boolean;
  name?: string;
}

export interface RuleDiff {
  /** Not on the agent: POST. */
  add: LbRule[];
  /** On the agent with other endpoints, sources or attributes loxilb changes in place: POST. */
  modify: LbRule[];
  /** On the agent, but a field loxilb cannot change in place differs: DELETE `current`, then POST `desired`. */
  replace: { current: RuleRef; desired: LbRule }[];
  /** Ours and no longer wanted: DELETE. */
  delete: RuleRef[];
  /** The agent has a rule on the same VIP, port and protocol that is not ours; left alone. */
  conflicts: { desired: LbRule; current: RuleRef }[];
  /** Ours, up to date, and the agent says its datapath does not carry it (loxilb-ts agents report why). */
  notProgrammed: { current: RuleRef; reason: string }[];
}

export interface DiffOptions {
  zone: string;
  /**
   * What this controller last posted successfully to this agent, by
   * ruleKey. GET does not show privateIP, probereq, proberesp, probeTimeout
   * or probeRetries; with this record a change to one of them is still sent.
   */
  lastPosted?: ReadonlyMap<string, LbRule>;
}

interface ObservedRule {
  ref: RuleRef;
  key: string;
  sel: number;
  mode: number;
  security: number;
  inactiveTimeOut: number;
  monitor: boolean;
  managed: boolean;
  probetype?: string;
  probeport?: number;
  snat: boolean;
  host: string;
  proxyprotocolv2: boolean;
  egress: boolean;
  endpoints: string[];
  secondaryIPs: string[];
  allowedSources: string[];
  /** What a loxilb-ts agent reports; undefined for agents that do not (loxilb). */
  programmed?: boolean;
  reason?: string;
}

/**
 * A rule is kube-loxilb's when it is `managed` and named
 * `<namespace>_<service>:<zone>-inst<N>` for this controller's zone, which
 * is also how a real kube-loxilb names its rules. Rules made by hand
 * (loxicmd, other zones' controllers) are never modified or deleted.
 */
export function isOwnedRule(rule: { managed?: boolean; name?: string }, zone: string): boolean {
  if (rule.managed !== true || rule.name === undefined) return false;
  const colon = rule.name.indexOf(':');
  if (colon < 0) return false;
  const svc = rule.name.slice(0, colon);
  const inst = rule.name.slice(colon + 1);
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?_[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(svc) && inst.startsWith(`${zone}-inst`) && /^\d+$/.test(inst.slice(zone.length + 5));
}

/**
 * Desired rules against `GET /config/loadbalancer/all`'s `lbAttr` from one
 * agent. The GET leaves out zero and false fields, so both sides are
 * compared in that light; endpoint weights and states are not compared
 * (loxilb may rescale weights), and the probe type only when we set one.
 */
export function diffRules(desired: readonly LbRule[], current: readonly unknown[], opts: DiffOptions): RuleDiff {
  const diff: RuleDiff = { add: [], modify: [], replace: [], delete: [], conflicts: [], notProgrammed: [] };
  const observed = new Map<string, ObservedRule>();
  for (const item of current) {
    const o = readObserved(item);
    if (o) observed.set(o.key, o);
  }
  const wanted = new Set<string>();
  for (const d of desired) {
    const key = ruleKey(d.serviceArguments);
    if (wanted.has(key)) continue;
    wanted.add(key);
    const cur = observed.get(key);
    if (!cur) {
      diff.add.push(d);
      continue;
    }
    if (!isOwnedRule({ managed: cur.managed, name: cur.ref.name }, opts.zone)) {
      diff.conflicts.push({ desired: d, current: cur.ref });
      continue;
    }
    const want = observe(d);
    if (needsReplace(want, cur)) diff.replace.push({ current: cur.ref, desired: d });
    else if (!sameVisible(want, cur, d) || hiddenChanged(d, opts.lastPosted?.get(key))) diff.modify.push(d);
    else if (cur.programmed === false) diff.notProgrammed.push({ current: cur.ref, reason: cur.reason ?? 'no reason given' });
  }
  for (const [key, cur] of observed) {
    if (!wanted.has(key) && isOwnedRule({ managed: cur.managed, name: cur.ref.name }, opts.zone)) diff.delete.push(cur.ref);
  }
  return diff;
}

function needsReplace(want: ObservedRule, cur: ObservedRule): boolean {
  // loxilb refuses to change these on an existing rule, or (name, bgp) keeps
  // its old value, which would leave the VIP with the wrong owner or route.
  const proxyFlip = (want.mode === MODE_FULLPROXY) !== (cur.mode === MODE_FULLPROXY);
  return want.ref.name !== cur.ref.name || want.ref.bgp !== cur.ref.bgp || want.security !== cur.security || want.egress !== cur.egress || want.managed !== cur.managed || proxyFlip;
}

function sameVisible(want: ObservedRule, cur: ObservedRule, d: LbRule): boolean {
  const probeSet = d.serviceArguments.probetype !== undefined;
  return (
    want.sel === cur.sel &&
    want.mode === cur.mode &&
    (want.inactiveTimeOut === 0 || want.inactiveTimeOut === cur.inactiveTimeOut) &&
    want.monitor === cur.monitor &&
    (!probeSet || (want.probetype === cur.probetype && (want.probeport ?? 0) === (cur.probeport ?? 0))) &&
    want.snat === cur.snat &&
    want.host === cur.host &&
    want.proxyprotocolv2 === cur.proxyprotocolv2 &&
    sameList(want.endpoints, cur.endpoints) &&
    sameList(want.secondaryIPs, cur.secondaryIPs) &&
    sameList(want.allowedSources, cur.allowedSources)
  );
}

function hiddenChanged(d: LbRule, posted: LbRule | undefined): boolean {
  if (!posted) return false;
  const a = d.serviceArguments;
  const b = posted.serviceArguments;
  return a.privateIP !== b.privateIP || a.probereq !== b.probereq || a.proberesp !== b.proberesp || a.probeTimeout !== b.probeTimeout || a.probeRetries !== b.probeRetries;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function observe(r: LbRule): ObservedRule {
  const sa = r.serviceArguments;
  return {
    ref: { externalIP: sa.externalIP, port: sa.port, ...(sa.portMax ? { portMax: sa.portMax } : {}), protocol: sa.protocol, block: sa.block, bgp: sa.bgp, name: sa.name },
    key: ruleKey(sa),
    sel: sa.sel,
    mode: sa.mode,
    security: sa.security ?? 0,
    inactiveTimeOut: sa.inactiveTimeOut ?? 0,
    monitor: sa.monitor,
    managed: sa.managed ?? false,
    probetype: sa.probetype,
    probeport: sa.probeport,
    snat: sa.snat ?? false,
    host: sa.host ?? '',
    proxyprotocolv2: sa.proxyprotocolv2 ?? false,
    egress: sa.egress ?? false,
    endpoints: r.endpoints.map((e) => `${e.endpointIP}|${e.targetPort}`).sort(),
    secondaryIPs: r.secondaryIPs.map((x) => x.secondaryIP).sort(),
    allowedSources: r.allowedSources.map((x) => x.prefix).sort(),
  };
}

const SA_FIELDS = [
  'externalIP', 'port', 'portMax', 'protocol', 'block', 'bgp', 'sel', 'mode', 'security', 'inactiveTimeOut', 'monitor',
  'managed', 'probetype', 'probeport', 'name', 'snat', 'host', 'proxyprotocolv2', 'egress',
] as const;

/** Reads one GET entry leniently (Go's omitempty, any key case); undefined if it is not a rule at all. */
function readObserved(item: unknown): ObservedRule | undefined {
  if (!isPlainObject(item)) return undefined;
  const top = pickFields(item, ['serviceArguments', 'endpoints', 'secondaryIPs', 'allowedSources', 'programmed', 'reason'] as const);
  if (!isPlainObject(top.serviceArguments)) return undefined;
  const f = pickFields(top.serviceArguments, SA_FIELDS);
  const ip = typeof f.externalIP === 'string' ? canonical(f.externalIP) : undefined;
  const protocol = typeof f.protocol === 'string' ? (f.protocol.toLowerCase() as Protocol) : undefined;
  if (ip === undefined || protocol === undefined) return undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const bool = (v: unknown) => v === true;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const list = <K extends string>(v: unknown, fields: readonly K[]) =>
    (Array.isArray(v) ? v : []).flatMap((x) => (isPlainObject(x) ? [pickFields(x, fields)] : []));
  const port = num(f.port);
  const portMax = num(f.portMax);
  const ref: RuleRef = { externalIP: ip, port, protocol, block: num(f.block), bgp: bool(f.bgp) };
  if (portMax > port) ref.portMax = portMax;
  if (typeof f.name === 'string' && f.name !== '') ref.name = f.name;
  // A rule with a host (loxilb's hosturl) is deleted by it too: without it the DELETE names another rule.
  if (typeof f.host === 'string' && f.host !== '') ref.host = f.host;
  return {
    ref,
    key: ruleKey({ externalIP: ip, port, portMax, protocol, block: ref.block, host: str(f.host) }),
    sel: num(f.sel),
    mode: num(f.mode),
    security: num(f.security),
    inactiveTimeOut: num(f.inactiveTimeOut),
    monitor: bool(f.monitor),
    managed: bool(f.managed),
    probetype: typeof f.probetype === 'string' && f.probetype !== '' ? f.probetype : undefined,
    probeport: num(f.probeport) || undefined,
    snat: bool(f.snat),
    host: str(f.host),
    proxyprotocolv2: bool(f.proxyprotocolv2),
    egress: bool(f.egress),
    endpoints: list(top.endpoints, ['endpointIP', 'targetPort'] as const)
      .map((e) => `${canonical(str(e.endpointIP)) ?? str(e.endpointIP)}|${num(e.targetPort)}`)
      .sort(),
    secondaryIPs: list(top.secondaryIPs, ['secondaryIP'] as const).map((x) => canonical(str(x.secondaryIP)) ?? str(x.secondaryIP)).sort(),
    allowedSources: list(top.allowedSources, ['prefix'] as const).map((x) => normalizePrefix(str(x.prefix)) ?? str(x.prefix)).sort(),
    ...(typeof top.programmed === 'boolean' ? { programmed: top.programmed } : {}),
    ...(typeof top.reason === 'string' ? { reason: top.reason } : {}),
  };
}
