// Endpoint liveness probes (reference §2.6): `loxicmd get ep`, `create
// endpoint <ip>` and `delete endpoint <ip>` with loxicmd's flags, and the
// check of one endpoint record that create and apply share.
import { FieldReader, invalid } from '../../util/FieldReader.ts';
import { ValidationError } from '../../util/errors.ts';
import { isPlainObject, pickFields } from '../../util/caseInsensitive.ts';
import { renderTable } from '../../util/table.ts';
import { PROBE_TYPES } from '../../lb/LbRule.ts';
import type { EndpointModel } from '../../apiclient/models.ts';
import { UsageError, expectArgs, ipArg, printResult, type CommandSpec, type Flags } from './command.ts';

const EP_FIELDS = ['hostName', 'name', 'inactiveReTries', 'probeType', 'probeReq', 'probeResp', 'probeDuration', 'probePort'] as const;
const PORTED = ['tcp', 'udp', 'sctp', 'http', 'https'];
export const MAX_PROBE_PERIOD_S = 86_400;

/** Checks a POST config/endpoint body as loxicmd and loxilb do; throws ValidationError naming the field. */
export function parseEndpointRecord(body: unknown): EndpointModel {
  const r = new FieldReader('', body, EP_FIELDS);
  const ep: EndpointModel = {
    hostName: r.ip('hostName', { required: true })!,
    name: r.string('name') ?? '',
    inactiveReTries: r.int('inactiveReTries', 0, 65535) ?? 0,
    probeType: r.oneOf('probeType', PROBE_TYPES) ?? 'ping',
    probeReq: r.string('probeReq') ?? '',
    probeResp: r.string('probeResp') ?? '',
    probeDuration: r.int('probeDuration', 0, MAX_PROBE_PERIOD_S) ?? 0,
    probePort: r.int('probePort', 0, 65535) ?? 0,
  };
  if (PORTED.includes(ep.probeType!) && ep.probePort === 0) throw invalid('probePort', `must be 1 to 65535 for ${ep.probeType} probes`, 0);
  if (ep.probeType === 'ping' && ep.probePort !== 0) throw invalid('probePort', 'must be 0 (or absent) for ping probes', ep.probePort);
  return ep;
}

function probeFlags(f: Flags): { probeType: string; probePort: number } {
  const probeType = f.oneOf('probetype', PROBE_TYPES) ?? 'ping';
  return { probeType, probePort: f.int('probeport', 0, 65535) ?? 0 };
}

export const createEndpoint: CommandSpec = {
  verb: 'create',
  names: ['endpoint', 'Endpoint', 'ep', 'endpoints'],
  flags: { name: 'string', desc: 'string', probetype: 'string', probereq: 'string', proberesp: 'string', probeport: 'string', period: 'string', retries: 'string' },
  usage: 'create endpoint <IP> [--name=<id>] [--probetype=ping|tcp|udp|sctp|http|https|none] [--probereq=<uri>] [--proberesp=<text>] [--probeport=<port>] [--period=<s, default 60>] [--retries=<n, default 2>]',
  prepare(args, f) {
    expectArgs('create endpoint', args, ['IP']);
    const body: EndpointModel = {
      hostName: ipArg('create endpoint: IP', args[0]),
      name: f.str('name') ?? f.str('desc') ?? '',
      ...probeFlags(f),
      probeReq: f.str('probereq') ?? '',
      probeResp: f.str('proberesp') ?? '',
      probeDuration: f.int('period', 0, MAX_PROBE_PERIOD_S) ?? 60,
      inactiveReTries: f.int('retries', 0, 65535) ?? 2,
    };
    try {
      parseEndpointRecord(body);
    } catch (err) {
      if (err instanceof ValidationError) throw new UsageError(`create endpoint: ${err.message.replace('probePort', '--probeport (probePort)')}`);
      throw err;
    }
    return async (ctx) => {
      printResult(ctx, await ctx.client.createEndpoint(body));
      return 0;
    };
  },
};

export const deleteEndpoint: CommandSpec = {
  verb: 'delete',
  names: ['endpoint', 'EndPoint', 'ep', 'endpoints'],
  flags: { name: 'string', probetype: 'string', probeport: 'string' },
  usage: 'delete endpoint <IP> [--name=<id>] [--probetype=<type>] [--probeport=<port>]',
  prepare(args, f) {
    expectArgs('delete endpoint', args, ['IP']);
    const ip = ipArg('delete endpoint: IP', args[0]);
    const q = { name: f.str('name') ?? '', ...probeFlags(f) };
    if (PORTED.includes(q.probeType) && q.probePort === 0) throw new UsageError(`--probeport must be 1 to 65535 for ${q.probeType} probes`);
    if (q.probeType === 'ping' && q.probePort !== 0) throw new UsageError('--probeport must be 0 (or absent) for ping probes');
    return async (ctx) => {
      printResult(ctx, await ctx.client.deleteEndpoint(ip, q));
      return 0;
    };
  },
};

const EP_HEADER = ['Host', 'Name', 'ptype', 'port', 'duration', 'retries', 'minDelay', 'avgDelay', 'maxDelay', 'State'];
const GET_FIELDS = [...EP_FIELDS, 'minDelay', 'avgDelay', 'maxDelay', 'currState'] as const;

function text(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : '';
}
function count(v: unknown): string {
  return String(typeof v === 'number' && Number.isFinite(v) ? v : 0);
}

/** Renders `get ep` from GET /config/endpoint/all's `Attr`, sorted by host, name, probe. */
export function renderEndpointTable(items: readonly unknown[]): string {
  const rows = items
    .filter(isPlainObject)
    .map((e) => {
      const r = pickFields(e, GET_FIELDS);
      return {
        key: [text(r.hostName), text(r.name), text(r.probeType), count(r.probePort).padStart(5, '0')].join('|'),
        cells: [text(r.hostName), text(r.name), `${text(r.probeType)}:${text(r.probeReq)}`, count(r.probePort), count(r.probeDuration), count(r.inactiveReTries), text(r.minDelay), text(r.avgDelay), text(r.maxDelay), text(r.currState)],
      };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return renderTable(EP_HEADER, rows.map((r) => r.cells));
}
