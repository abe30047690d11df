// The one typed client of a loxilb agent's REST API (/netlox/v1), used by
// loxicmd, kube-loxilb (through kube/LoxiClient.ts) and the HA peer view:
// base URL, HTTPS with a CA bundle, the Authorization header, a timeout per
// client and per call, pooled connections (httpTransport.ts). request()
// shapes failures into two errors worded for a user: the agent answered
// with an error (LoxiApiError, carrying loxilb's `message`), or it could not
// be reached (LoxiTransportError); send() hands callers that classify
// answers themselves the status and body as they came. It speaks to a real
// loxilb as well as to ours, so replies are returned as read and checked by callers.
import { API_BASE_PATH } from '../api/basePath.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';
import { FetchTransport, NodeHttpTransport, TransportFailure, type HttpTransport } from './httpTransport.ts';
import { API_PATHS, bfdSessionDeletePath, bgpNeighborDeletePath, endpointDeletePath, lbRuleByNamePath, lbRuleDeletePath, withQuery } from './paths.ts';
import type {
  BfdSessionModel, BgpGlobalModel, BgpNeighborModel, CiStateModel, EndpointModel, LbDeleteKey, LbRuleModel, ParamsModel, ResultReply,
} from './models.ts';

export interface LoxiApiClientOptions {
  /** Scheme, host and port, e.g. `http://127.0.0.1:11111` (IPv6 hosts in brackets); a trailing `/` is dropped. */
  origin: string;
  /** Sent as the Authorization header, as given (loxilb's loxicmd --token), e.g. `Bearer <token>`. */
  authorization?: string;
  /** CA bundle (PEM) an HTTPS agent's certificate is checked against; default: the system's CAs. */
  ca?: Buffer;
  /** Default for every call; a call may give its own. */
  timeoutMs: number;
  /** Pool connections to the agent (default true); a one-shot caller turns it off so nothing lingers. */
  keepAlive?: boolean;
  /** Replaces the transport (tests); ignored when `ca` is set. */
  fetch?: typeof fetch;
}

/** The agent answered, with an HTTP error status; `apiMessage` is loxilb's `message` field. */
export class LoxiApiError extends Error {
  constructor(
    readonly status: number,
    readonly apiMessage: string,
  ) {
    super(`loxilb API answered HTTP ${status}${apiMessage === '' ? '' : `: ${apiMessage}`}`);
    this.name = 'LoxiApiError';
  }
}

/** No usable answer: refused, unreachable, timed out, closed, or not JSON. */
export class LoxiTransportError extends Error {
  constructor(
    message: string,
    /** The bare cause (socket error and code, `no answer within N ms`, `client closed`), for logs that name the call themselves. */
    readonly reason: string = message,
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'LoxiTransportError';
  }
}

/** What GET /status says about an agent. */
export interface HealthResult {
  /** Any HTTP answer counts: a real loxilb has no /status and answers 404. */
  alive: boolean;
  httpStatus?: number;
  /** What our agent reports in GET /status; absent from a real loxilb. */
  uptimeSeconds?: number;
  /** Why the agent counts as down. */
  error?: string;
}

/** One exchange as it came: the status, the text and its JSON (undefined when empty or not JSON). */
export interface ApiAnswer {
  status: number;
  text: string;
  body: unknown;
}

/** `http://host:port` with IPv6 literals bracketed. */
export function apiOrigin(protocol: 'http' | 'https', host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${protocol}://${h}:${port}`;
}

export class LoxiApiClient {
  readonly baseUrl: string;
  private readonly transport: HttpTransport;

  constructor(private readonly opts: LoxiApiClientOptions) {
    const origin = opts.origin.replace(/\/+$/, '');
    this.baseUrl = origin + API_BASE_PATH;
    this.transport =
      opts.fetch !== undefined && opts.ca === undefined
        ? new FetchTransport(opts.fetch)
        : new NodeHttpTransport({ secure: /^https:/i.test(origin), ...(opts.ca ? { ca: opts.ca } : {}), keepAlive: opts.keepAlive ?? true });
  }

  /** Aborts what is in flight and drops pooled connections; later calls fail with a LoxiTransportError. */
  close(): void {
    this.transport.close();
  }

  /**
   * One exchange below /netlox/v1 (`path` may carry its query), whatever the
   * status: for callers that classify answers themselves. Throws only
   * LoxiTransportError. `idempotent` lets a call that failed on a pooled
   * connection be made once more on a fresh one.
   */
  async send(method: string, path: string, opts: { body?: unknown; timeoutMs?: number; idempotent?: boolean } = {}): Promise<ApiAnswer> {
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.opts.authorization !== undefined) headers.Authorization = this.opts.authorization;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(opts.body);
    }
    let raw;
    try {
      raw = await this.transport.exchange({
        method, url: this.baseUrl + path, headers, timeoutMs,
        ...(payload !== undefined ? { body: payload } : {}),
        ...(opts.idempotent === true ? { retryOnFreshConnection: true } : {}),
      });
    } catch (err) {
      if (!(err instanceof TransportFailure)) throw err;
      throw new LoxiTransportError(this.describeFailure(err, timeoutMs), err.reason, err.timedOut);
    }
    let body: unknown;
    try {
      body = raw.text === '' ? undefined : JSON.parse(raw.text);
    } catch {
      body = undefined;
    }
    return { status: raw.status, text: raw.text, body };
  }

  /** One call below /netlox/v1; resolves to the parsed JSON body of a 2xx reply. */
  async request(method: 'GET' | 'POST' | 'DELETE', path: string, opts: { body?: unknown; query?: Record<string, string | number | boolean | undefined>; timeoutMs?: number } = {}): Promise<unknown> {
    const { status, text, body } = await this.send(method, withQuery(path, opts.query ?? {}), opts);
    if (body === undefined && !(text === '' && status >= 200 && status < 300)) {
      throw new LoxiTransportError(`loxilb API at ${this.baseUrl} answered HTTP ${status} with a body that is not JSON`);
    }
    if (status < 200 || status > 299) {
      const m = isPlainObject(body) ? pickFields(body, ['message', 'result'] as const) : {};
      const msg = typeof m.message === 'string' && m.message !== '' ? m.message : typeof m.result === 'string' ? m.result : '';
      throw new LoxiApiError(status, msg);
    }
    return body ?? {};
  }

  /** GET /status. Never throws: no answer is `alive: false` with the reason. */
  async health(timeoutMs?: number): Promise<HealthResult> {
    try {
      const { status, body } = await this.send('GET', API_PATHS.status, { ...(timeoutMs !== undefined ? { timeoutMs } : {}), idempotent: true });
      const out: HealthResult = { alive: true, httpStatus: status };
      if (status === 200 && isPlainObject(body)) {
        const up = pickFields(body, ['uptimeSeconds'] as const).uptimeSeconds;
        if (typeof up === 'number' && Number.isFinite(up) && up >= 0) out.uptimeSeconds = up;
      }
      return out;
    } catch (err) {
      return { alive: false, error: err instanceof LoxiTransportError ? err.reason : String(err) };
    }
  }

  private describeFailure(f: TransportFailure, timeoutMs: number): string {
    if (f.timedOut) return `no answer from loxilb API at ${this.baseUrl} within ${timeoutMs / 1000} s`;
    const why =
      f.code === 'ECONNREFUSED' ? 'connection refused (is loxilb running?)'
      : f.code === 'ENOTFOUND' || f.code === 'EAI_AGAIN' ? 'host not found'
      : f.code === 'EHOSTUNREACH' || f.code === 'ENETUNREACH' ? 'host unreachable'
      : f.reason;
    return `cannot connect to loxilb API at ${this.baseUrl}: ${why}`;
  }

  private post(path: string, body: unknown): Promise<ResultReply> {
    return this.request('POST', path, { body }) as Promise<ResultReply>;
  }

  // ---- status and params ----
  version(): Promise<unknown> { return this.request('GET', API_PATHS.version); }
  status(): Promise<unknown> { return this.request('GET', API_PATHS.status); }
  getParams(): Promise<ParamsModel> { return this.request('GET', API_PATHS.params) as Promise<ParamsModel>; }
  setParams(p: ParamsModel): Promise<ResultReply> { return this.post(API_PATHS.params, p); }

  // ---- load balancer ----
  listLbRules(): Promise<unknown> { return this.request('GET', API_PATHS.lbRulesAll); }
  createLbRule(rule: LbRuleModel): Promise<ResultReply> { return this.post(API_PATHS.lbRule, rule); }
  deleteLbRule(k: LbDeleteKey): Promise<ResultReply> { return this.request('DELETE', lbRuleDeletePath(k)) as Promise<ResultReply>; }
  deleteLbRulesByName(name: string): Promise<ResultReply> { return this.request('DELETE', lbRuleByNamePath(name)) as Promise<ResultReply>; }
  deleteAllLbRules(): Promise<ResultReply> { return this.request('DELETE', API_PATHS.lbRulesAll) as Promise<ResultReply>; }

  // ---- HA ----
  listCiStates(): Promise<unknown> { return this.request('GET', API_PATHS.ciStatesAll); }
  setCiState(s: CiStateModel): Promise<ResultReply> { return this.post(API_PATHS.ciState, s); }

  // ---- BFD ----
  listBfdSessions(): Promise<unknown> { return this.request('GET', API_PATHS.bfdSessionsAll); }
  setBfdSession(s: BfdSessionModel): Promise<ResultReply> { return this.post(API_PATHS.bfdSession, s); }
  deleteBfdSession(remoteIp: string, instance?: string): Promise<ResultReply> {
    return this.request('DELETE', bfdSessionDeletePath(remoteIp, instance)) as Promise<ResultReply>;
  }

  // ---- BGP ----
  setBgpGlobal(g: BgpGlobalModel): Promise<ResultReply> { return this.post(API_PATHS.bgpGlobal, g); }
  listBgpNeighbors(): Promise<unknown> { return this.request('GET', API_PATHS.bgpNeighborsAll); }
  addBgpNeighbor(n: BgpNeighborModel): Promise<ResultReply> { return this.post(API_PATHS.bgpNeighbor, n); }
  /** loxilb dereferences remoteAs on delete, so it is always sent. */
  deleteBgpNeighbor(ip: string, remoteAs: number): Promise<ResultReply> {
    return this.request('DELETE', bgpNeighborDeletePath(ip, remoteAs)) as Promise<ResultReply>;
  }

  // ---- endpoints (liveness) ----
  listEndpoints(): Promise<unknown> { return this.request('GET', API_PATHS.endpointsAll); }
  createEndpoint(ep: EndpointModel): Promise<ResultReply> { return this.post(API_PATHS.endpoint, ep); }
  deleteEndpoint(ip: string, q: { name?: string; probeType?: string; probePort?: number }): Promise<ResultReply> {
    return this.request('DELETE', endpointDeletePath(ip, q)) as Promise<ResultReply>;
  }

  // ---- conntrack, drain ----
  listConntrack(): Promise<unknown> { return this.request('GET', API_PATHS.conntrackAll); }
  drainState(): Promise<unknown> { return this.request('GET', API_PATHS.drain); }
  /** A drain waits for the hand-over: the request gets that long and a margin. */
  drain(timeoutSeconds?: number): Promise<unknown> {
    return this.request('POST', API_PATHS.drain, {
      query: { timeoutSeconds },
      timeoutMs: Math.max(this.opts.timeoutMs, ((timeoutSeconds ?? 60) + 10) * 1000),
    });
  }
  undrain(): Promise<ResultReply> { return this.request('DELETE', API_PATHS.drain) as Promise<ResultReply>; }
}
