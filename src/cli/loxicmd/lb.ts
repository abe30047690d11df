// `loxicmd create lb` and `delete lb` with loxicmd's flags (--tcp=80:8080,
// --endpoints=ip:weight, --mode, --select, ...). Every rule the command line
// makes is checked with the agent's own validator before the first is sent.
import { MODE_NAMES, SEL_NAMES } from '../../lb/LbRule.ts';
import { parseLbRule } from '../../lb/validateLbRule.ts';
import { ValidationError } from '../../util/errors.ts';
import type { LbDeleteKey, LbRuleModel } from '../../apiclient/models.ts';
import { UsageError, expectArgs, ipArg, parseIntArg, printResult, type CommandSpec, type Flags } from './command.ts';

const SECURITY: Record<string, number> = { none: 0, plain: 0, https: 1, tls: 1, e2ehttps: 2, e2etls: 2 };
const PROTOS = ['tcp', 'udp', 'sctp'] as const;

interface PortPair {
  port: number;
  portMax: number;
  targets: number[];
}

/** `<port>[-<portMax>]:<targetPort>[-<targetPortMax>]`, as loxicmd writes it. */
export function parsePortPair(flag: string, text: string): PortPair {
  const m = /^([0-9]+)(?:-([0-9]+))?:([0-9]+)(?:-([0-9]+))?$/.exec(text);
  if (!m) throw new UsageError(`--${flag}: "${text}" is not <port>[-<portMax>]:<targetPort>[-<targetPortMax>]`);
  const port = parseIntArg(`--${flag} port`, m[1]!, 1, 65535);
  const portMax = m[2] === undefined ? 0 : parseIntArg(`--${flag} port range end`, m[2], port, 65535);
  const t0 = parseIntArg(`--${flag} target port`, m[3]!, 1, 65535);
  const t1 = m[4] === undefined ? t0 : parseIntArg(`--${flag} target port range end`, m[4], t0, 65535);
  if (t1 - t0 >= 32) throw new UsageError(`--${flag}: a target port range makes one endpoint per port, at most 32; "${text}" has ${t1 - t0 + 1}`);
  const targets: number[] = [];
  for (let t = t0; t <= t1; t++) targets.push(t);
  return { port, portMax: portMax === port ? 0 : portMax, targets };
}

/** `<ip>:<weight>`; the last colon splits, so IPv6 endpoints work. */
export function parseEndpoint(text: string): { ip: string; weight: number } {
  const i = text.lastIndexOf(':');
  if (i <= 0) throw new UsageError(`--endpoints: "${text}" is not <endpointIP>:<weight>`);
  return { ip: ipArg('--endpoints address', text.slice(0, i)), weight: parseIntArg(`--endpoints weight of ${text.slice(0, i)}`, text.slice(i + 1), 0, 255) };
}

function oneOfName(flag: string, names: readonly string[], value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const n = names.indexOf(value);
  if (n < 0) throw new UsageError(`--${flag} must be one of ${names.join(', ')}, got "${value}"`);
  return n;
}

/** The rules `create lb` posts: one per protocol and port pair. */
export function buildLbRules(args: string[], f: Flags): LbRuleModel[] {
  expectArgs('create lb', args, ['EXTERNAL-IP']);
  const externalIP = ipArg('create lb: EXTERNAL-IP', args[0]);
  const sel = oneOfName('select', SEL_NAMES, f.str('select'), 0);
  const mode = oneOfName('mode', MODE_NAMES, f.str('mode'), 0);
  const securityText = f.str('security');
  if (securityText !== undefined && !Object.hasOwn(SECURITY, securityText)) throw new UsageError(`--security must be one of ${Object.keys(SECURITY).join(', ')}, got "${securityText}"`);
  if (f.bool('attachEP') && f.bool('detachEP')) throw new UsageError('--attachEP and --detachEP cannot be used together');
  const pairs = PROTOS.flatMap((p) => f.list(p).map((t) => ({ protocol: p as string, pair: parsePortPair(p, t) })));
  if (f.bool('icmp')) pairs.push({ protocol: 'icmp', pair: { port: 0, portMax: 0, targets: [0] } });
  if (pairs.length === 0) throw new UsageError('create lb: give the service ports: --tcp, --udp or --sctp <port>:<targetPort>, or --icmp');
  const secips = f.list('secips');
  if (secips.length > 0 && !pairs.every((p) => p.protocol === 'sctp')) throw new UsageError('--secips: secondary IPs are for SCTP multihoming: use them with --sctp only');
  const endpoints = f.list('endpoints').map(parseEndpoint);
  const seen = new Set<string>();
  for (const e of endpoints) {
    if (seen.has(e.ip)) throw new UsageError(`--endpoints: ${e.ip} is given twice`);
    seen.add(e.ip);
  }
  const rules = pairs.map(({ protocol, pair }) => {
    if (mode === MODE_NAMES.indexOf('dsr') && pair.targets.some((t) => t !== pair.port && protocol !== 'icmp')) {
      throw new UsageError(`--${protocol}: dsr mode does no port translation: the target port must equal the port (${pair.port})`);
    }
    const rule: LbRuleModel = {
      serviceArguments: {
        externalIP, port: pair.port, protocol, sel, mode,
        bgp: f.bool('bgp'), monitor: f.bool('monitor'),
        inactiveTimeOut: f.int('inatimeout', 0, 86_400) ?? 0,
        block: f.int('mark', 0, 4294967295) ?? 0,
        oper: f.bool('attachEP') ? 1 : f.bool('detachEP') ? 2 : 0,
        security: securityText === undefined ? 0 : SECURITY[securityText]!,
        proxyprotocolv2: f.bool('ppv2en'), egress: f.bool('egress'),
      },
      endpoints: endpoints.flatMap((e) => pair.targets.map((t) => ({ endpointIP: e.ip, targetPort: t, weight: e.weight }))),
    };
    if (pair.portMax !== 0) rule.serviceArguments.portMax = pair.portMax;
    const name = f.str('name');
    if (name !== undefined) rule.serviceArguments.name = name;
    const host = f.str('host');
    if (host !== undefined) rule.serviceArguments.host = host;
    if (secips.length > 0) rule.secondaryIPs = secips.map((s) => ({ secondaryIP: ipArg('--secips', s) }));
    const sources = f.list('sources');
    if (sources.length > 0) rule.allowedSources = sources.map((s) => ({ prefix: s }));
    return rule;
  });
  for (const r of rules) checkWithAgentRules(`create lb (${r.serviceArguments.protocol} ${r.serviceArguments.port})`, r);
  return rules;
}

/** Runs the agent's validator on a rule, so a bad one is refused here, naming the field. */
export function checkWithAgentRules(what: string, rule: unknown): void {
  try {
    parseLbRule(rule);
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(`${what}: ${err.message}`);
    throw err;
  }
}

export const createLb: CommandSpec = {
  verb: 'create',
  names: ['lb', 'loadbalancer'],
  flags: {
    tcp: 'list', udp: 'list', sctp: 'list', icmp: 'boolean', mode: 'string', bgp: 'boolean', monitor: 'boolean', secips: 'list',
    select: 'string', inatimeout: 'string', mark: 'string', endpoints: 'list', name: 'string', attachEP: 'boolean', detachEP: 'boolean',
    security: 'string', host: 'string', sources: 'list', ppv2en: 'boolean', egress: 'boolean',
  },
  usage: 'create lb <EXTERNAL-IP> --tcp|--udp|--sctp=<port>[-<max>]:<targetPort>[-<max>] [--icmp] --endpoints=<ip>:<weight>,... [--mode=default|onearm|fullnat|dsr|fullproxy|hostonearm] [--select=rr|hash|priority|persist|lc|n2|n3] [--bgp] [--monitor] [--inatimeout=<s>] [--mark=<n>] [--name=<name>] [--secips=<ip>,...] [--sources=<cidr>,...] [--security=https|e2ehttps] [--host=<url>] [--ppv2en] [--egress] [--attachEP|--detachEP]',
  prepare(args, flags) {
    const rules = buildLbRules(args, flags);
    return async (ctx) => {
      let reply: unknown;
      for (const r of rules) reply = await ctx.client.createLbRule(r);
      printResult(ctx, reply);
      return 0;
    };
  },
};

/** The rules `delete lb` removes: by --name, or one per protocol given. */
export function buildLbDeletes(args: string[], f: Flags): { name: string } | LbDeleteKey[] {
  const name = f.str('name');
  if (name !== undefined) {
    if (args.length > 0 || PROTOS.some((p) => f.has(p)) || f.bool('icmp')) throw new UsageError('delete lb --name deletes by name: give no EXTERNAL-IP or ports with it');
    if (name === '') throw new UsageError('--name must not be empty');
    return { name };
  }
  expectArgs('delete lb', args, ['EXTERNAL-IP']);
  const externalIP = ipArg('delete lb: EXTERNAL-IP', args[0]);
  const keys: LbDeleteKey[] = [];
  for (const p of PROTOS) {
    const v = f.str(p);
    if (v === undefined) continue;
    const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(v);
    if (!m) throw new UsageError(`--${p} must be <port> or <port>-<portMax>, got "${v}"`);
    const port = parseIntArg(`--${p}`, m[1]!, 1, 65535);
    const k: LbDeleteKey = { externalIP, port, protocol: p, bgp: f.bool('bgp'), block: f.int('mark', 0, 4294967295) ?? 0 };
    if (m[2] !== undefined) k.portMax = parseIntArg(`--${p} range end`, m[2], port, 65535);
    const host = f.str('host');
    if (host !== undefined) k.host = host;
    keys.push(k);
  }
  if (f.bool('icmp')) keys.push({ externalIP, port: 0, protocol: 'icmp', bgp: f.bool('bgp'), block: f.int('mark', 0, 4294967295) ?? 0 });
  if (keys.length === 0) throw new UsageError('delete lb: say which rule: --tcp, --udp or --sctp <port>[-<portMax>], --icmp, or --name');
  return keys;
}

export const deleteLb: CommandSpec = {
  verb: 'delete',
  names: ['lb', 'loadbalancer'],
  flags: { tcp: 'string', udp: 'string', sctp: 'string', icmp: 'boolean', bgp: 'boolean', mark: 'string', name: 'string', host: 'string' },
  usage: 'delete lb <EXTERNAL-IP> --tcp|--udp|--sctp=<port>[-<portMax>] [--icmp] [--bgp] [--mark=<n>] [--host=<url>]  |  delete lb --name=<name>',
  prepare(args, flags) {
    const what = buildLbDeletes(args, flags);
    return async (ctx) => {
      let reply: unknown;
      if (!Array.isArray(what)) reply = await ctx.client.deleteLbRulesByName(what.name);
      else for (const k of what) reply = await ctx.client.deleteLbRule(k);
      printResult(ctx, reply);
      return 0;
    };
  },
};
