// The one typed client of a loxilb agent's REST API (/netlox/v1): base URL,
// HTTPS with a CA bundle, the Authorization header and a per-request
// timeout, with failures shaped into two errors worded for a user: the agent
// answered with an error (LoxiApiError, carrying loxilb's `message`), or it
// could not be reached (LoxiTransportError). It speaks to a real loxilb as
// well as to ours, so replies are returned as read and checked by callers.
import https from 'node:https';
import { API_BASE_PATH } from '../api/basePath.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';
import type {
  BfdSessionModel, BgpGlobalModel, BgpNeighborModel, CiStateModel, EndpointModel, LbDeleteKey, LbRuleModel, ParamsModel, ResultReply,
} from './models.ts';

export interface LoxiApiClientOptions {
  /** Scheme, host and port, e.g. `http://127.0.0.1:11111` (IPv6 hosts in brackets). */
  origin: string;
  /** Sent as the Authorization header, as given (loxilb's loxicmd --token), e.g. `Bearer <token>`. */
  authorization?: string;
  /** CA bundle (PEM) an HTTPS agent's certificate is checked against; default: the system's CAs. */
  ca?: Buffer;
  timeoutMs: number;
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

/** No usable answer: refused, unreachable, timed out, or not JSON. */
export class LoxiTransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoxiTransportError';
  }
}

interface RawReply {
  status: number;
  text(): Promise<string>;
}
type Transport = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal }) => Promise<RawReply>;

/** fetch cannot take a CA bundle: with one, requests go through node:https, failures shaped as fetch's. */
function httpsWithCa(ca: Buffer): Transport {
  return (url, init) =>
    new Promise((resolve, reject) => {
      const req = https.request(url, { method: init.method, headers: init.headers, ca, minVersion: 'TLSv1.2', signal: init.signal }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: async () => text }));
        res.on('error', (err) => reject(Object.assign(new Error('fetch failed'), { cause: err })));
      });
      req.on('error', (err) => {
        if (init.signal.aborted) reject(init.signal.reason);
        else reject(Object.assign(new Error('fetch failed'), { cause: err }));
      });
      req.end(init.body);
    });
}

/** `http://host:port` with IPv6 literals bracketed. */
export function apiOrigin(protocol: 'http' | 'https', host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${protocol}://${h}:${port}`;
}

function seg(s: string | number): string {
  return encodeURIComponent(String(s));
}

export class LoxiApiClient {
  readonly baseUrl: string;
  private readonly transport: Transport;

  constructor(private readonly opts: LoxiApiClientOptions) {
    this.baseUrl = opts.origin + API_BASE_PATH;
    this.transport = opts.ca !== undefined ? httpsWithCa(opts.ca) : ((opts.fetch ?? fetch) as unknown as Transport);
  }

  /** One call below /netlox/v1; resolves to the parsed JSON body of a 2xx reply. */
  async request(method: 'GET' | 'POST' | 'DELETE', path: string, opts: { body?: unknown; query?: Record<string, string | number | boolean | undefined>; timeoutMs?: number } = {}): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs;
    const q = Object.entries(opts.query ?? {}).filter(([, v]) => v !== undefined && v !== '');
    const url = this.baseUrl + path + (q.length === 0 ? '' : `?${new URLSearchParams(q.map(([k, v]) => [k, String(v)])).toString()}`);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.opts.authorization !== undefined) headers.Authorization = this.opts.authorization;
    const init: Parameters<Transport>[1] = { method, headers, signal: AbortSignal.timeout(timeoutMs) };
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    let status: number;
    let text: string;
    try {
      const res = await this.transport(url, init);
      status = res.status;
      text = await res.text();
    } catch (err) {
      throw new LoxiTransportError(this.describeFailure(err, timeoutMs));
    }
    let body: unknown;
    try {
      body = text === '' && status >= 200 && status < 300 ? {} : JSON.parse(text);
    } catch {
      throw new LoxiTransportError(`loxilb API at ${this.baseUrl} answered HTTP ${status} with a body that is not JSON`);
    }
    if (status < 200 || status > 299) {
      const m = isPlainObject(body) ? pickFields(body, ['message', 'result'] as const) : {};
      const msg = typeof m.message === 'string' && m.message !== '' ? m.message : typeof m.result === 'string' ? m.result : '';
      throw new LoxiApiError(status, msg);
    }
    return body;
  }

  private describeFailure(err: unknown, timeoutMs: number): string {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer from loxilb API at ${this.baseUrl} within ${timeoutMs / 1000} s`;
    const code = e?.cause?.code;
    const why =
      code === 'ECONNREFUSED' ? 'connection refused (is loxilb running?)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'host not found'
      : code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'host unreachable'
      : (e?.cause?.message ?? e?.message ?? String(err));
    return `cannot connect to loxilb API at ${this.baseUrl}: ${why}`;
  }

  private post(path: string, body: unknown): Promise<ResultReply> {
    return this.request('POST', path, { body }) as Promise<ResultReply>;
  }

  // ---- status and params ----
  version(): Promise<unknown> { return this.request('GET', '/version'); }
  status(): Promise<unknown> { return this.request('GET', '/status'); }
  getParams(): Promise<ParamsModel> { return this.request('GET', '/config/params') as Promise<ParamsModel>; }
  setParams(p: ParamsModel): Promise<ResultReply> { return this.post('/config/params', p); }

  // ---- load balancer ----
  listLbRules(): Promise<unknown> { return this.request('GET', '/config/loadbalancer/all'); }
  createLbRule(rule: LbRuleModel): Promise<ResultReply> { return this.post('/config/loadbalancer', rule); }
  deleteLbRule(k: LbDeleteKey): Promise<ResultReply> {
    const range = k.portMax !== undefined && k.portMax > k.port ? `/portmax/${k.portMax}` : '';
    const host = k.host !== undefined && k.host !== '' ? `/hosturl/${seg(k.host)}` : '';
    const path = `/config/loadbalancer${host}/externalipaddress/${seg(k.externalIP)}/port/${k.port}${range}/protocol/${seg(k.protocol)}`;
    return this.request('DELETE', path, { query: { bgp: k.bgp === true, block: k.block ?? 0 } }) as Promise<ResultReply>;
  }
  deleteLbRulesByName(name: string): Promise<ResultReply> { return this.request('DELETE', `/config/loadbalancer/name/${seg(name)}`) as Promise<ResultReply>; }
  deleteAllLbRules(): Promise<ResultReply> { return this.request('DELETE', '/config/loadbalancer/all') as Promise<ResultReply>; }

  // ---- HA ----
  listCiStates(): Promise<unknown> { return this.request('GET', '/config/cistate/all'); }
  setCiState(s: CiStateModel): Promise<ResultReply> { return this.post('/config/cistate', s); }

  // ---- BFD ----
  listBfdSessions(): Promise<unknown> { return this.request('GET', '/config/bfd/all'); }
  setBfdSession(s: BfdSessionModel): Promise<ResultReply> { return this.post('/config/bfd', s); }
  deleteBfdSession(remoteIp: string, instance?: string): Promise<ResultReply> {
    return this.request('DELETE', `/config/bfd/remoteIP/${seg(remoteIp)}`, { query: { instance } }) as Promise<ResultReply>;
  }

  // ---- BGP ----
  setBgpGlobal(g: BgpGlobalModel): Promise<ResultReply> { return this.post('/config/bgp/global', g); }
  listBgpNeighbors(): Promise<unknown> { return this.request('GET', '/config/bgp/neigh/all'); }
  addBgpNeighbor(n: BgpNeighborModel): Promise<ResultReply> { return this.post('/config/bgp/neigh', n); }
  /** loxilb dereferences remoteAs on delete, so it is always sent. */
  deleteBgpNeighbor(ip: string, remoteAs: number): Promise<ResultReply> {
    return this.request('DELETE', `/config/bgp/neigh/${seg(ip)}`, { query: { remoteAs } }) as Promise<ResultReply>;
  }

  // ---- endpoints (liveness) ----
  listEndpoints(): Promise<unknown> { return this.request('GET', '/config/endpoint/all'); }
  createEndpoint(ep: EndpointModel): Promise<ResultReply> { return this.post('/config/endpoint', ep); }
  deleteEndpoint(ip: string, q: { name?: string; probeType?: string; probePort?: number }): Promise<ResultReply> {
    return this.request('DELETE', `/config/endpoint/epipaddress/${seg(ip)}`, {
      query: { name: q.name, probe_type: q.probeType, probe_port: q.probePort },
    }) as Promise<ResultReply>;
  }

  // ---- conntrack, drain ----
  listConntrack(): Promise<unknown> { return this.request('GET', '/config/conntrack/all'); }
  drainState(): Promise<unknown> { return this.request('GET', '/config/drain'); }
  /** A drain waits for the hand-over: the request gets that long and a margin. */
  drain(timeoutSeconds?: number): Promise<unknown> {
    return this.request('POST', '/config/drain', {
      query: { timeoutSeconds },
      timeoutMs: Math.max(this.opts.timeoutMs, ((timeoutSeconds ?? 60) + 10) * 1000),
    });
  }
  undrain(): Promise<ResultReply> { return this.request('DELETE', '/config/drain') as Promise<ResultReply>; }
}
