// What loxicmd's `get` commands print (reference §7), as pure renderers over
// the API's JSON, plus the runner of every command (through LoxiApiClient). Input is read leniently
// (any key case, missing fields as zero) because it may come from a real
// loxilb as well as from ours.
import { pickFields, isPlainObject } from '../util/caseInsensitive.ts';
import { renderTable } from '../util/table.ts';
import { MODE_NAMES, SECURITY_NAMES, SEL_NAMES } from '../lb/LbRule.ts';
import { LOXICMD_USAGE, UsageError, parseLoxicmdArgs, type LoxicmdOptions, type LoxicmdResource } from './loxicmdArgs.ts';
import { SecretFileError, readPemFile, readTokenFile } from '../util/secretFile.ts';
import { LoxiApiClient, LoxiApiError, LoxiTransportError, apiOrigin } from '../apiclient/LoxiApiClient.ts';
import { stringify as toYaml } from 'yaml';
import { renderEndpointTable } from './loxicmd/endpoint.ts';
import { renderParams } from './loxicmd/params.ts';

const LB_HEADER = ['Ext IP', 'Port', 'Proto', 'Name', 'Mark', 'Sel', 'Mode', '# of Endpoints', 'Timeout', 'Monitor'];
const LB_WIDE_HEADER = ['Ext IP', 'Sec IPs', 'Sources', 'Host', 'Port', 'Proto', 'Name', 'Mark', 'Sel', 'Mode', 'Endpoint', 'EPort', 'Weight', 'State', 'Counters'];
const BGP_NEIGH_HEADER = ['Peer', 'AS', 'UP/Down', 'State'];
const HA_STATE_HEADER = ['Instance', 'HAState'];
const HA_STATE_WIDE_HEADER = ['Instance', 'HAState', 'VIP', 'Priority', 'Driver', 'Peers', 'Upstream'];
const BFD_HEADER = ['Instance', 'RemoteIP', 'State'];
const CT_HEADER = ['Service Name', 'destIP', 'srcIP', 'dport', 'sport', 'proto', 'state', 'act', 'packets', 'bytes'];
const BFD_WIDE_HEADER = ['Instance', 'RemoteIP', 'SourceIP', 'Port', 'Interval', 'Retry Count', 'State'];

function obj<K extends string>(v: unknown, fields: readonly K[]): Partial<Record<K, unknown>> {
  return isPlainObject(v) ? pickFields(v, fields) : {};
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}
function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function nameOf(names: readonly string[], n: number): string {
  return names[n] ?? String(n);
}

const SA_FIELDS = [
  'externalIP', 'port', 'portMax', 'protocol', 'block', 'sel', 'mode', 'security', 'inactiveTimeOut',
  'monitor', 'name', 'snat', 'host', 'proxyprotocolv2', 'egress',
] as const;

interface LbRow {
  sa: Partial<Record<(typeof SA_FIELDS)[number], unknown>>;
  endpoints: Partial<Record<'endpointIP' | 'targetPort' | 'weight' | 'state' | 'counter', unknown>>[];
  secondaryIPs: string[];
  sources: string[];
}

function readLbRule(v: unknown): LbRow {
  const r = obj(v, ['serviceArguments', 'endpoints', 'secondaryIPs', 'allowedSources'] as const);
  return {
    sa: obj(r.serviceArguments, SA_FIELDS),
    endpoints: list(r.endpoints).map((e) => obj(e, ['endpointIP', 'targetPort', 'weight', 'state', 'counter'] as const)),
    secondaryIPs: list(r.secondaryIPs).map((s) => str(obj(s, ['secondaryIP'] as const).secondaryIP)),
    sources: list(r.allowedSources).map((s) => str(obj(s, ['prefix'] as const).prefix)),
  };
}

/** loxicmd's order: external IP, zero-padded port, protocol, compared as text. */
function serviceKey(sa: LbRow['sa']): string {
  return `${str(sa.externalIP)}|${String(num(sa.port)).padStart(5, '0')}|${str(sa.protocol)}`;
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Renders `get lb` from GET /config/loadbalancer/all's `lbAttr`; snat rules are internal and hidden. */
export function renderLbTable(rules: readonly unknown[], wide: boolean, servName?: string): string {
  const rows = rules
    .filter(isPlainObject)
    .map(readLbRule)
    .filter((r) => r.sa.snat !== true && (servName === undefined || str(r.sa.name) === servName))
    .map((r) => ({ r, key: serviceKey(r.sa) }))
    .sort((a, b) => byKey(a.key, b.key))
    .map(({ r }) => r);

  const cells: string[][] = [];
  for (const { sa, endpoints, secondaryIPs, sources } of rows) {
    const port = num(sa.port);
    const portMax = num(sa.portMax);
    const portText = portMax > port ? `${port}-${portMax}` : String(port);
    const security = num(sa.security);
    const proto = str(sa.protocol) + (security !== 0 ? `:${nameOf(SECURITY_NAMES, security)}` : '');
    const mode = nameOf(MODE_NAMES, num(sa.mode)) + (sa.proxyprotocolv2 === true ? ':ppv2' : '') + (sa.egress === true ? ':egress' : '');
    const sel = nameOf(SEL_NAMES, num(sa.sel));
    const mark = String(num(sa.block));
    const monitor = sa.monitor === true;
    if (!wide) {
      cells.push([str(sa.externalIP), portText, proto, str(sa.name), mark, sel, mode, String(endpoints.length), String(num(sa.inactiveTimeOut)), monitor ? 'On' : 'Off']);
      continue;
    }
    const service = [str(sa.externalIP), secondaryIPs.join(', '), sources.join(', '), str(sa.host), portText, proto, str(sa.name), mark, sel, mode];
    const blank = service.map(() => '');
    // A rule without endpoints still gets its line, so it does not vanish from the wide view.
    if (endpoints.length === 0) cells.push([...service, '', '', '', '', '']);
    endpoints.forEach((ep, i) => {
      const state = monitor ? str(ep.state) : '-';
      cells.push([...(i === 0 ? service : blank), str(ep.endpointIP), String(num(ep.targetPort)), String(num(ep.weight)), state, str(ep.counter)]);
    });
  }
  return renderTable(wide ? LB_WIDE_HEADER : LB_HEADER, cells);
}

/** Renders `get bgpneigh` from GET /config/bgp/neigh/all's `bgpNeiAttr`. */
export function renderBgpNeighTable(neighbors: readonly unknown[]): string {
  const cells = neighbors.filter(isPlainObject).map((n) => {
    const r = obj(n, ['ipAddress', 'remoteAs', 'updowntime', 'state'] as const);
    return [str(r.ipAddress), String(num(r.remoteAs)), str(r.updowntime), str(r.state)];
  });
  return renderTable(BGP_NEIGH_HEADER, cells);
}

/** Renders `get hastate` from GET /config/cistate/all's `Attr`, sorted by instance. */
export function renderHaStateTable(states: readonly unknown[], wide = false): string {
  const cells = states
    .filter(isPlainObject)
    .map((s) => {
      const r = obj(s, ['instance', 'state', 'vip', 'priority', 'driver', 'peers', 'upstream'] as const);
      if (!wide) return [str(r.instance), str(r.state)];
      // Our extension fields; a loxilb agent leaves them empty.
      const peers = Array.isArray(r.peers)
        ? r.peers
            .filter(isPlainObject)
            .map((p) => {
              const q = obj(p, ['remoteIp', 'bfd', 'state'] as const);
              return [str(q.remoteIp), `BFD${str(q.bfd)}`, str(q.state)].filter(Boolean).join(' ');
            })
            .join(', ')
        : '';
      // The routers and VIP links tracked: how many are up (FAULT when none is).
      const tracked = Array.isArray(r.upstream) ? r.upstream.filter(isPlainObject) : [];
      const upstream = tracked.length === 0 ? '' : `${tracked.filter((u) => u.up === true).length}/${tracked.length} up`;
      return [str(r.instance), str(r.state), str(r.vip), r.priority === undefined ? '' : String(num(r.priority)), str(r.driver), peers, upstream];
    })
    .sort((a, b) => byKey(a[0]!, b[0]!));
  return renderTable(wide ? HA_STATE_WIDE_HEADER : HA_STATE_HEADER, cells);
}

/** Renders `get bfd [-o wide]` from GET /config/bfd/all's `Attr`, as loxicmd does. */
export function renderBfdTable(sessions: readonly unknown[], wide: boolean): string {
  const cells = sessions
    .filter(isPlainObject)
    .map((s) => {
      const r = obj(s, ['instance', 'remoteIp', 'sourceIP', 'port', 'interval', 'retryCount', 'state'] as const);
      return wide
        ? [str(r.instance), str(r.remoteIp), str(r.sourceIP), String(num(r.port)), `${num(r.interval)} us`, String(num(r.retryCount)), str(r.state)]
        : [str(r.instance), str(r.remoteIp), str(r.state)];
    })
    .sort((a, b) => byKey(a[0]!, b[0]!) || byKey(a[1]!, b[1]!));
  return renderTable(wide ? BFD_WIDE_HEADER : BFD_HEADER, cells);
}

/** Renders `get ct` from GET /config/conntrack/all's `ctAttr`, sorted by service, then addresses. */
export function renderCtTable(entries: readonly unknown[]): string {
  const F = ['servName', 'destinationIP', 'sourceIP', 'destinationPort', 'sourcePort', 'protocol', 'conntrackState', 'conntrackAct', 'packets', 'bytes'] as const;
  const cells = entries
    .filter(isPlainObject)
    .map((e) => {
      const r = obj(e, F);
      return [str(r.servName), str(r.destinationIP), str(r.sourceIP), String(num(r.destinationPort)), String(num(r.sourcePort)), str(r.protocol), str(r.conntrackState), str(r.conntrackAct), String(num(r.packets)), String(num(r.bytes))];
    })
    .sort((a, b) => byKey(a.slice(0, 5).join('|'), b.slice(0, 5).join('|')));
  return renderTable(CT_HEADER, cells);
}

/** Renders `get drain` (and what `set drain` did) from GET config/drain. */
export function renderDrain(body: unknown): string {
  const r = obj(body, ['draining', 'phase', 'timeoutMs', 'last'] as const);
  const last = obj(r.last, ['handedTo', 'waitedMs', 'timedOut', 'reason'] as const);
  const row = [
    r.draining === true ? 'yes' : 'no',
    str(r.phase),
    str(last.handedTo),
    r.last === undefined ? '' : `${num(last.waitedMs)} ms${last.timedOut === true ? ' (timed out)' : ''}`,
    str(last.reason),
  ];
  return renderTable(['Draining', 'Phase', 'Handed to', 'Waited', 'Last drain'], [row]);
}

interface ResourceSpec {
  fetch(c: LoxiApiClient): Promise<unknown>;
  /** The list in the body; '' when the whole body is the row. */
  listKey: string;
  render(items: unknown[], o: LoxicmdOptions, body: unknown): string;
}

const RESOURCES: Record<LoxicmdResource, ResourceSpec> = {
  lb: { fetch: (c) => c.listLbRules(), listKey: 'lbAttr', render: (items, o) => renderLbTable(items, o.output === 'wide', o.servName) },
  bgpneigh: { fetch: (c) => c.listBgpNeighbors(), listKey: 'bgpNeiAttr', render: (items) => renderBgpNeighTable(items) },
  hastate: { fetch: (c) => c.listCiStates(), listKey: 'Attr', render: (items, o) => renderHaStateTable(items, o.output === 'wide') },
  bfd: { fetch: (c) => c.listBfdSessions(), listKey: 'Attr', render: (items, o) => renderBfdTable(items, o.output === 'wide') },
  ct: { fetch: (c) => c.listConntrack(), listKey: 'ctAttr', render: (items) => renderCtTable(items) },
  ep: { fetch: (c) => c.listEndpoints(), listKey: 'Attr', render: (items) => renderEndpointTable(items) },
  loglevel: { fetch: (c) => c.getParams(), listKey: '', render: (_items, _o, body) => renderParams(body) },
  drain: { fetch: (c) => c.drainState(), listKey: '', render: (_items, _o, body) => renderDrain(body) },
};

export interface LoxicmdIo {
  out(text: string): void;
  err(text: string): void;
  fetch?: typeof fetch;
}

/** -o json / -o yaml: the API's body as it came. */
function printBody(io: LoxicmdIo, o: LoxicmdOptions, body: unknown): boolean {
  if (o.output === 'json') io.out(`${JSON.stringify(body, null, 4)}\n`);
  else if (o.output === 'yaml') io.out(toYaml(body));
  else return false;
  return true;
}

/** Runs one loxicmd invocation and returns its exit code: 0 ok, 1 failed, 2 bad usage. */
export async function runLoxicmd(argv: readonly string[], io: LoxicmdIo): Promise<number> {
  let command;
  try {
    command = parseLoxicmdArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`Error: ${err.message}\n\n${LOXICMD_USAGE}`);
    return 2;
  }
  if (command.kind === 'help') {
    io.out(LOXICMD_USAGE);
    return 0;
  }
  const { options } = command;
  let client: LoxiApiClient;
  try {
    const token = options.tokenFile !== undefined ? `Bearer ${readTokenFile(options.tokenFile, '--token-file')}` : options.token;
    client = new LoxiApiClient({
      origin: apiOrigin(options.protocol, options.apiserver, options.port),
      timeoutMs: options.timeoutSeconds * 1000,
      ...(token !== undefined ? { authorization: token } : {}),
      ...(options.caCert !== undefined && io.fetch === undefined ? { ca: readPemFile(options.caCert, '--cacert', true) } : {}),
      ...(io.fetch !== undefined ? { fetch: io.fetch } : {}),
    });
  } catch (err) {
    if (!(err instanceof SecretFileError)) throw err;
    io.err(`Error: ${err.message}\n`);
    return 2;
  }
  try {
    if (command.kind === 'run') return await command.run({ client, output: options.output, io });
    if (command.kind === 'setDrain') {
      if (command.on) {
        io.out(renderDrain(await client.drain(command.timeoutSeconds)));
      } else {
        await client.undrain();
        io.out(renderDrain(await client.drainState()));
      }
      return 0;
    }
    const spec = RESOURCES[command.resource];
    const body = await spec.fetch(client);
    if (printBody(io, options, body)) return 0;
    const items = spec.listKey !== '' && isPlainObject(body) ? list(pickFields(body, [spec.listKey])[spec.listKey]) : [];
    io.out(spec.render(items, options, body));
    return 0;
  } catch (err) {
    if (!(err instanceof LoxiApiError || err instanceof LoxiTransportError)) throw err;
    io.err(`Error: ${err.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
