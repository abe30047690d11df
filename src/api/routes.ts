// The loxilb REST paths we serve (reference §2) and what each one asks of the
// agent. Handlers only validate and translate: every change of state goes
// through AgentApi, which applies it atomically.
import { METRICS_CONTENT_TYPE, RawReply } from './metrics.ts';
import type { AgentApi, DeleteByKeyQuery } from './AgentApi.ts';
import { ForbiddenError } from '../util/errors.ts';
import { FieldReader, UINT32_MAX, invalid } from '../util/FieldReader.ts';
import { LOG_LEVELS } from '../util/logger.ts';
import { formatLbRuleForGet, parseLbRule } from '../lb/validateLbRule.ts';
import { parseCiState } from '../ha/validateCiState.ts';
import { parseBgpGlobal, parseBgpNeighbor } from '../bgp/validateBgpConfig.ts';
import { parseBfdSessionPost } from '../bfd/validateBfdConfig.ts';
import { parseEndpointHost, parseEndpointHostDelete, parseEndpointHostState } from '../lb/validateEndpointHost.ts';
import { DEFAULT_INSTANCE } from '../lb/LbRule.ts';
import { boolQuery, intParam, intQuery, ipParam, protocolParam } from './requestParams.ts';

export const SUCCESS = { result: 'Success' } as const;

export const BGP_ONLY_TEXT = 'running in bgp only mode';
export const BGP_DISABLED_TEXT = 'loxilb BGP mode is disabled';

export interface RouteContext {
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** The parsed JSON body; throws ValidationError naming `body` if it is missing or not JSON. */
  json(): unknown;
}

/** lb: refused in bgp-only mode; bgp: refused without --bgp. */
export type RouteGuard = 'lb' | 'bgp' | 'none';

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path below /netlox/v1, split on '/'; ':name' segments capture a parameter. */
  segments: string[];
  guard: RouteGuard;
  handle(ctx: RouteContext): unknown;
}

export function checkGuard(api: AgentApi, guard: RouteGuard): void {
  if (guard === 'lb' && api.bgpOnly) throw new ForbiddenError(BGP_ONLY_TEXT);
  if (guard === 'bgp' && !api.bgpEnabled) throw new ForbiddenError(BGP_DISABLED_TEXT);
}

function route(method: Route['method'], path: string, guard: RouteGuard, handle: Route['handle']): Route {
  return { method, segments: path.split('/').filter((s) => s !== ''), guard, handle };
}

/** ?timeoutSeconds= of POST config/drain (1-3600); absent: the agent's --drain-timeout. */
function optionalTimeout(query: URLSearchParams): number | undefined {
  const s = intQuery(query, 'timeoutSeconds', 1, 3600);
  return s === undefined ? undefined : s * 1000;
}

const KEY_TAIL = 'externalipaddress/:ip_address/port/:port/protocol/:proto';
const RANGE_KEY_TAIL = 'externalipaddress/:ip_address/port/:port/portmax/:portmax/protocol/:proto';

function deleteQuery({ params, query }: RouteContext): DeleteByKeyQuery {
  const port = intParam('port', params.port!, 0, 65535);
  const q: DeleteByKeyQuery = {
    externalIP: ipParam('ip_address', params.ip_address!),
    port,
    protocol: protocolParam('proto', params.proto!),
    bgp: boolQuery(query, 'bgp'),
    block: intQuery(query, 'block', 0, UINT32_MAX) ?? 0,
  };
  if (params.portmax !== undefined) {
    const portMax = intParam('portmax', params.portmax, 0, 65535);
    if (portMax !== 0 && portMax < port) throw invalid('portmax', `must be 0 or from port (${port}) to 65535`, portMax);
    // Stored rules keep portMax only when it widens the range; match that here.
    if (portMax > port) q.portMax = portMax;
  }
  // loxilb spells "no host" as the literal path segment "any".
  if (params.hosturl !== undefined && params.hosturl !== 'any' && params.hosturl !== '') q.host = params.hosturl;
  return q;
}

/** Go's omitempty over a flat JSON object. */
function omitEmpty(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== '' && v !== 0 && v !== undefined));
}

export function buildRoutes(api: AgentApi): Route[] {
  const deleteByKey = async (ctx: RouteContext) => {
    await api.deleteLbRule(deleteQuery(ctx));
    return SUCCESS;
  };
  return [
    route('GET', 'version', 'none', () => api.version()),
    route('GET', 'status', 'none', () => api.status()),
    route('GET', 'metrics', 'none', async () => new RawReply(METRICS_CONTENT_TYPE, await api.metrics())),
    // loxilb's operational params: the log level, changed at run time (loxicmd get|set log-level).
    route('GET', 'config/params', 'lb', () => ({ logLevel: api.logLevel() })),
    route('POST', 'config/params', 'lb', (ctx) => {
      const r = new FieldReader('', ctx.json(), ['logLevel'] as const);
      api.setLogLevel(r.oneOf('logLevel', LOG_LEVELS, { required: true })!);
      return SUCCESS;
    }),

    route('POST', 'config/loadbalancer', 'lb', async (ctx) => {
      await api.addLbRule(parseLbRule(ctx.json()));
      return SUCCESS;
    }),
    route('GET', 'config/loadbalancer/all', 'lb', () => ({ lbAttr: api.listLbRules().map((r) => formatLbRuleForGet(r)) })),
    route('DELETE', 'config/loadbalancer/all', 'lb', async () => {
      await api.deleteAllLbRules();
      return SUCCESS;
    }),
    route('DELETE', 'config/loadbalancer/name/:lb_name', 'lb', async ({ params }) => {
      await api.deleteLbRulesByName(params.lb_name!);
      return SUCCESS;
    }),
    route('DELETE', `config/loadbalancer/${KEY_TAIL}`, 'lb', deleteByKey),
    route('DELETE', `config/loadbalancer/${RANGE_KEY_TAIL}`, 'lb', deleteByKey),
    route('DELETE', `config/loadbalancer/hosturl/:hosturl/${KEY_TAIL}`, 'lb', deleteByKey),
    route('DELETE', `config/loadbalancer/hosturl/:hosturl/${RANGE_KEY_TAIL}`, 'lb', deleteByKey),

    route('POST', 'config/cistate', 'lb', async (ctx) => {
      await api.setCiState(parseCiState(ctx.json()));
      return SUCCESS;
    }),
    route('GET', 'config/cistate/all', 'lb', () => ({
      Attr: api.listCiStates().map((s) => ({
        instance: s.instance,
        state: s.state,
        vip: s.vip,
        sync: null,
        priority: s.priority,
        synced: s.synced,
        driver: s.driver,
        ...(s.peers ? { peers: s.peers } : {}),
        ...(s.eligible !== undefined ? { eligible: s.eligible, upstream: s.upstream } : {}),
        ...(s.draining ? { draining: true } : {}),
        ...(s.restoring ? { restoring: s.restoring } : {}),
        ...(s.serving !== undefined ? { serving: s.serving } : {}),
      })),
    })),

    route('GET', 'config/conntrack/all', 'lb', () => ({ ctAttr: api.listConntrack() })),

    // Endpoint hosts (reference §2.6, loxilb's rules.go AddEPHost / DeleteEPHost /
    // SetEPHostState). The table lists the POSTed entries and one per LB rule
    // endpoint (<ip>_<tcp|udp|sctp|ping>_<port>); a POSTed entry is probed as
    // it says and decides the endpoints it covers (same key, or same host and
    // port with a probe over the rule's protocol) in every rule; state red
    // takes an entry, or with epPort/epProto left out every entry of the host,
    // out of every rule until it is set green again (yellow: no effect, as in
    // loxilb). Rule entries refuse DELETE ("LB Rule-referred"). 0 for
    // inactiveReTries / probeDuration means 2 / 60 s; GET adds hostState and
    // ruleCount to loxilb's fields. Details: src/lb/EndpointHosts.ts.
    route('POST', 'config/endpoint', 'lb', async (ctx) => {
      await api.addEndpointHost(parseEndpointHost(ctx.json()));
      return SUCCESS;
    }),
    // loxilb's model is omitempty: '' and 0 are left out (a nok ping keeps its "0s").
    route('GET', 'config/endpoint/all', 'lb', () => ({ Attr: api.listEndpointHosts().map(omitEmpty) })),
    route('DELETE', 'config/endpoint/epipaddress/:ip_address', 'lb', async ({ params, query }) => {
      await api.deleteEndpointHost(parseEndpointHostDelete(ipParam('ip_address', params.ip_address!), query));
      return SUCCESS;
    }),
    route('POST', 'config/endpointhoststate', 'lb', async (ctx) => {
      await api.setEndpointHostState(parseEndpointHostState(ctx.json()));
      return SUCCESS;
    }),

    // Our extension: drain for maintenance (what SIGTERM does before a stop), and back.
    route('GET', 'config/drain', 'lb', () => api.drainState()),
    route('POST', 'config/drain', 'lb', async ({ query }) => api.drain(optionalTimeout(query))),
    route('DELETE', 'config/drain', 'lb', async () => {
      await api.undrain();
      return SUCCESS;
    }),

    route('POST', 'config/bfd', 'lb', async (ctx) => {
      await api.setBfdSession(parseBfdSessionPost(ctx.json()));
      return SUCCESS;
    }),
    route('GET', 'config/bfd/all', 'lb', () => ({ Attr: api.listBfdSessions() })),
    route('DELETE', 'config/bfd/remoteIP/:remote_ip', 'lb', async ({ params, query }) => {
      const ip = ipParam('remote_ip', params.remote_ip!);
      await api.deleteBfdSession(ip, query.get('instance') || DEFAULT_INSTANCE);
      return SUCCESS;
    }),

    route('POST', 'config/bgp/global', 'bgp', async (ctx) => {
      await api.setBgpGlobal(parseBgpGlobal(ctx.json()));
      return SUCCESS;
    }),
    route('POST', 'config/bgp/neigh', 'bgp', async (ctx) => {
      await api.addBgpNeighbor(parseBgpNeighbor(ctx.json()));
      return SUCCESS;
    }),
    route('GET', 'config/bgp/neigh/all', 'bgp', async () => ({ bgpNeiAttr: await api.listBgpNeighbors() })),
    route('DELETE', 'config/bgp/neigh/:ip_address', 'bgp', async ({ params, query }) => {
      const ip = ipParam('ip_address', params.ip_address!);
      // loxilb needs remoteAs here; we delete by address, but still refuse a malformed one.
      intQuery(query, 'remoteAs', 1, UINT32_MAX);
      await api.deleteBgpNeighbor(ip);
      return SUCCESS;
    }),
  ];
}
