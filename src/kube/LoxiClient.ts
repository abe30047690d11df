// REST client for one loxilb agent (reference §2), as kube-loxilb uses it:
// health, LB rules, CI states and BGP configuration. It only translates;
// retries, ordering and what to do about a failure belong to the caller.
//
// An https:// URL is reached over TLS 1.2+, the agent's certificate checked
// against `ca` (else the system's CAs); with `token` every request carries
// `Authorization: Bearer <token>` (the agent's --api-token-file).
//
// Every request has a timeout, and close() aborts whatever is in flight.
// Failures come in two kinds: LoxiTransportError (no HTTP answer: the agent
// is unreachable, refused or too slow) and LoxiApiError (the agent answered
// and refused, with its status and its own message).
import http from 'node:http';
import https from 'node:https';
import type { LbRule } from '../lb/LbRule.ts';
import type { CiState } from '../ha/ClusterState.ts';
import type { BgpGlobalBody, BgpNeighborBody } from './planBgpMesh.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';
import { API_BASE_PATH } from '../api/basePath.ts';

export const API_BASE = API_BASE_PATH;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** kube-loxilb gives a health check one second. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 1000;

/** The agent answered with an error (or with loxilb's HTTP 200 "Error: ..." quirk). */
export class LoxiApiError extends Error {
  override name = 'LoxiApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** The agent's own text: `message`, or `result` when it says more. */
    readonly agentMessage: string,
  ) {
    super(`${method} ${path}: HTTP ${status}${agentMessage ? `: ${agentMessage}` : ''}`);
  }
}

/** No HTTP answer at all: connection refused or reset, no route, timeout. */
export class LoxiTransportError extends Error {
  override name = 'LoxiTransportError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly reason: string,
    readonly timedOut: boolean,
  ) {
    super(`${method} ${path}: ${reason}`);
  }
}

/** Worth trying again later: the agent was unreachable, busy or failed inside. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof LoxiTransportError) return true;
  return err instanceof LoxiApiError && (err.status >= 500 || err.status === 0);
}

export interface HealthResult {
  /** Any HTTP answer counts: kube-loxilb never looks at the status. */
  alive: boolean;
  httpStatus?: number;
  /** What our agent reports in GET /status; absent from a real loxilb. */
  uptimeSeconds?: number;
  /** Why the agent counts as down. */
  error?: string;
}

export interface LoxiClientOptions {
  requestTimeoutMs?: number;
  healthTimeoutMs?: number;
  /** CA bundle (PEM) that signs the agents' HTTPS certificates; default: the system's CAs. */
  ca?: Buffer;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  token?: string;
}

export class LoxiClient {
  readonly baseUrl: string;
  private readonly requestTimeoutMs: number;
  private readonly healthTimeoutMs: number;
  /** Keep-alive connections to this agent, shared by every call. */
  private readonly agent: http.Agent;
  private readonly secure: boolean;
  private readonly ca?: Buffer;
  private readonly authorization?: string;
  private readonly inFlight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(url: string, opts: LoxiClientOptions = {}) {
    this.baseUrl = url.replace(/\/+$/, '');
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.healthTimeoutMs = opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    this.secure = /^https:/i.test(this.baseUrl);
    if (opts.ca) this.ca = opts.ca;
    if (opts.token !== undefined) this.authorization = `Bearer ${opts.token}`;
    this.agent = this.secure ? new https.Agent({ keepAlive: true, minVersion: 'TLSv1.2', ...(this.ca ? { ca: this.ca } : {}) }) : new http.Agent({ keepAlive: true });
  }

  /** Aborts in-flight requests and drops the connections; later calls fail with a transport error. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const req of this.inFlight) req.destroy(new Error('client closed'));
    this.inFlight.clear();
    this.agent.destroy();
  }

  /** GET /status. Never throws: a transport failure is `alive: false`. */
  async health(): Promise<HealthResult> {
    const path = `${API_BASE}/status`;
    try {
      const { status, body } = await this.send('GET', path, undefined, this.healthTimeoutMs);
      const out: HealthResult = { alive: true, httpStatus: status };
      if (status === 200 && isPlainObject(body)) {
        const up = pickFields(body, ['uptimeSeconds'] as const).uptimeSeconds;
        if (typeof up === 'number' && Number.isFinite(up) && up >= 0) out.uptimeSeconds = up;
      }
      return out;
    } catch (err) {
      return { alive: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** GET /config/loadbalancer/all: the `lbAttr` entries as the agent wrote them (diffRules reads them leniently). */
  async listRules(): Promise<unknown[]> {
    return listField(await this.call('GET', `${API_BASE}/config/loadbalancer/all`), 'lbAttr');
  }

  /** POST /config/loadbalancer. An identical rule already there (409 lbrule-exists) is success: `existed`. */
  async postRule(rule: LbRule): Promise<'applied' | 'existed'> {
    const done = await this.callUnless('POST', `${API_BASE}/config/loadbalancer`, rule, (e) => e.status === 409 && /lbrule-exist/i.test(e.agentMessage));
    return done ? 'applied' : 'existed';
  }

  /** DELETE of a full API path (deleteRulePath). A rule already gone (404) is success: `absent`. */
  async deleteRule(path: string): Promise<'deleted' | 'absent'> {
    return (await this.callUnless('DELETE', path, undefined, (e) => e.status === 404)) ? 'deleted' : 'absent';
  }

  /** GET /config/cistate/all: loxilb's `Attr` entries. */
  async listCiStates(): Promise<CiState[]> {
    const out: CiState[] = [];
    for (const item of listField(await this.call('GET', `${API_BASE}/config/cistate/all`), 'Attr')) {
      if (!isPlainObject(item)) continue;
      const f = pickFields(item, ['instance', 'state', 'vip'] as const);
      if (typeof f.instance !== 'string' || typeof f.state !== 'string') continue;
      out.push({ instance: f.instance, state: f.state as CiState['state'], vip: typeof f.vip === 'string' ? f.vip : '0.0.0.0' });
    }
    return out;
  }

  /** `timeoutMs` overrides the request timeout: role changes are time-critical. */
  async setCiState(state: CiState, timeoutMs?: number): Promise<void> {
    await this.call('POST', `${API_BASE}/config/cistate`, state, timeoutMs);
  }

  async setBgpGlobal(body: BgpGlobalBody): Promise<void> {
    await this.call('POST', `${API_BASE}/config/bgp/global`, body);
  }

  /** GET /config/bgp/neigh/all: the `bgpNeiAttr` entries (diffBgpNeighbors reads them leniently). */
  async listBgpNeighbors(): Promise<unknown[]> {
    return listField(await this.call('GET', `${API_BASE}/config/bgp/neigh/all`), 'bgpNeiAttr');
  }

  /** POST /config/bgp/neigh. A neighbour already there (409) is `existed`. */
  async addBgpNeighbor(body: BgpNeighborBody): Promise<'applied' | 'existed'> {
    return (await this.callUnless('POST', `${API_BASE}/config/bgp/neigh`, body, (e) => e.status === 409)) ? 'applied' : 'existed';
  }

  /** DELETE of a full API path (deleteNeighborPath, which carries ?remoteAs=). A missing one (404) is `absent`. */
  async deleteBgpNeighbor(path: string): Promise<'deleted' | 'absent'> {
    return (await this.callUnless('DELETE', path, undefined, (e) => e.status === 404)) ? 'deleted' : 'absent';
  }

  /**
   * A call whose `alreadySo` answers (409 exists, 404 gone) mean the agent is
   * already where the call would take it: true when the call did it, false
   * when it was already so. Every other error is thrown.
   */
  private async callUnless(method: string, path: string, body: unknown, alreadySo: (e: LoxiApiError) => boolean): Promise<boolean> {
    try {
      await this.call(method, path, body);
      return true;
    } catch (err) {
      if (err instanceof LoxiApiError && alreadySo(err)) return false;
      throw err;
    }
  }

  /** A request whose non-2xx answer is a LoxiApiError. */
  private async call(method: string, path: string, body?: unknown, timeoutMs = this.requestTimeoutMs): Promise<unknown> {
    const r = await this.send(method, path, body, timeoutMs);
    if (r.status < 200 || r.status >= 300) throw new LoxiApiError(method, path, r.status, agentMessage(r.body, r.text));
    // loxilb answers some refusals (DSR without hash selection) with 200 and an "Error: ..." result.
    if (isPlainObject(r.body)) {
      const result = pickFields(r.body, ['result'] as const).result;
      if (typeof result === 'string' && /^error\b/i.test(result.trim())) throw new LoxiApiError(method, path, r.status, result);
    }
    return r.body;
  }

  /**
   * One request. A failure without an answer is tried once more on a fresh
   * connection: a pooled keep-alive socket the agent (or its restart) closed
   * fails the first write, and that must not count as the agent being down.
   * Repeating is safe because every call the controller makes is
   * idempotent at the agent (an identical rule or neighbour is a 409 that
   * counts as success, a missing one on DELETE a 404 that does too).
   * `timeoutMs` bounds both attempts together.
   */
  private async send(method: string, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: unknown; text: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const deadline = performance.now() + timeoutMs;
    let answer: { status: number; text: string } | undefined;
    for (let attempt = 0; answer === undefined; attempt++) {
      try {
        answer = await this.exchange(method, path, payload, deadline - performance.now(), attempt === 0 ? this.agent : false);
      } catch (err) {
        const timedOut = err instanceof Deadline;
        if (attempt === 0 && !timedOut && !this.closed) continue;
        const reason = this.closed ? 'client closed' : timedOut ? `no answer within ${timeoutMs} ms` : transportReason(err);
        throw new LoxiTransportError(method, path, reason, timedOut && !this.closed);
      }
    }
    let parsed: unknown;
    try {
      parsed = answer.text === '' ? undefined : JSON.parse(answer.text);
    } catch {
      parsed = undefined;
    }
    return { status: answer.status, body: parsed, text: answer.text };
  }

  /**
   * One HTTP exchange over node:http (pooled keep-alive sockets, or a fresh
   * one with `agent: false`). fetch would do, but costs several times the
   * CPU and garbage per request, which shows when a sync posts a thousand
   * rules to every agent.
   */
  private exchange(method: string, path: string, payload: string | undefined, timeoutMs: number, agent: http.Agent | false): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('client closed'));
      const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
      if (this.authorization !== undefined) headers.Authorization = this.authorization;
      if (payload !== undefined) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = Buffer.byteLength(payload);
      }
      // A fresh connection (agent false) needs the TLS settings the pooled agent carries.
      const req = this.secure
        ? https.request(this.url(path), { method, headers, agent, minVersion: 'TLSv1.2', ...(this.ca ? { ca: this.ca } : {}) })
        : http.request(this.url(path), { method, headers, agent });
      this.inFlight.add(req);
      const timer = setTimeout(() => req.destroy(new Deadline()), Math.max(0, timeoutMs));
      const done = () => {
        clearTimeout(timer);
        this.inFlight.delete(req);
      };
      req.on('error', (err) => {
        done();
        reject(err);
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          done();
          resolve({ status: res.statusCode ?? 0, text });
        });
        // The connection cut in the middle of the body.
        res.on('error', (err) => {
          done();
          reject(err);
        });
        res.on('close', () => {
          if (res.complete) return;
          done();
          reject(new Error('connection closed before the whole answer came'));
        });
      });
      req.end(payload);
    });
  }

  private url(path: string): URL {
    return new URL(`${this.baseUrl}${path}`);
  }
}

/** The request timed out (our own deadline, not the socket's). */
class Deadline extends Error {
  constructor() {
    super('deadline');
  }
}

function listField(body: unknown, field: string): unknown[] {
  if (!isPlainObject(body)) return [];
  const v = pickFields(body, [field] as const)[field];
  return Array.isArray(v) ? v : [];
}

/**
 * loxilb's Error model puts a generic text in `message` ("Resource
 * conflict: ...") and the raw error in `result`; keep whichever says more.
 */
function agentMessage(body: unknown, text: string): string {
  if (isPlainObject(body)) {
    const f = pickFields(body, ['message', 'result'] as const);
    const message = typeof f.message === 'string' ? f.message : '';
    const result = typeof f.result === 'string' ? f.result : '';
    if (result && message && !message.includes(result)) return result.includes(message) ? result : `${message} (${result})`;
    return message || result;
  }
  return text.trim().slice(0, 300);
}

/** The socket error, with its code when the message does not carry it. */
function transportReason(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  const e = cause instanceof Error ? cause : err;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(err);
}
