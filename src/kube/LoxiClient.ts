// kube-loxilb's view of one loxilb agent (reference §2): health, LB rules,
// CI states and BGP configuration, over the one REST client
// (apiclient/LoxiApiClient.ts). It only translates; retries, ordering and
// what to do about a failure belong to the caller.
//
// What it adds to the client is the controller's reading of answers: an
// identical rule or neighbour (409) and a missing one on DELETE (404) mean
// the agent is already where the call would take it; loxilb's HTTP 200
// "Error: ..." result is a refusal; errors name the call (method and path)
// for the controller's logs and Events; and every call is repeated once on a
// fresh connection when a pooled one fails, which is safe because each is
// idempotent at the agent.
//
// An https:// URL is reached over TLS 1.2+, the agent's certificate checked
// against `ca` (else the system's CAs); with `token` every request carries
// `Authorization: Bearer <token>` (the agent's --api-token-file).
import type { LbRule } from '../lb/LbRule.ts';
import type { CiState } from '../ha/ClusterState.ts';
import type { BgpGlobalBody, BgpNeighborBody } from './planBgpMesh.ts';
import { isPlainObject, pickFields } from '../util/caseInsensitive.ts';
import {
  LoxiApiClient,
  LoxiApiError as ApiClientError,
  LoxiTransportError as ApiClientTransportError,
  type HealthResult,
} from '../apiclient/LoxiApiClient.ts';
import { API_BASE_PATH, API_PATHS, bgpNeighborDeletePath, lbRuleDeletePath } from '../apiclient/paths.ts';
import type { LbDeleteKey } from '../apiclient/models.ts';

export type { HealthResult };
export const API_BASE = API_BASE_PATH;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** kube-loxilb gives a health check one second. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 1000;

/** The agent answered with an error (or with loxilb's HTTP 200 "Error: ..." quirk); the message names the call. */
export class LoxiApiError extends ApiClientError {
  override name = 'LoxiApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    status: number,
    /** The agent's own text: `message`, or `result` when it says more. */
    readonly agentMessage: string,
  ) {
    super(status, agentMessage);
    this.message = `${method} ${path}: HTTP ${status}${agentMessage ? `: ${agentMessage}` : ''}`;
  }
}

/** No HTTP answer at all: connection refused or reset, no route, timeout, client closed. */
export class LoxiTransportError extends ApiClientTransportError {
  override name = 'LoxiTransportError';
  constructor(
    readonly method: string,
    readonly path: string,
    reason: string,
    timedOut: boolean,
  ) {
    super(`${method} ${path}: ${reason}`, reason, timedOut);
  }
}

/** Worth trying again later: the agent was unreachable, busy or failed inside. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ApiClientTransportError) return true;
  return err instanceof ApiClientError && (err.status >= 500 || err.status === 0);
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
  /** The agent's URL as configured, without a trailing `/`. */
  readonly baseUrl: string;
  private readonly api: LoxiApiClient;
  private readonly healthTimeoutMs: number;

  constructor(url: string, opts: LoxiClientOptions = {}) {
    this.baseUrl = url.replace(/\/+$/, '');
    this.healthTimeoutMs = opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    this.api = new LoxiApiClient({
      origin: this.baseUrl,
      timeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {}),
    });
  }

  /** Aborts in-flight requests and drops the connections; later calls fail with a transport error. */
  close(): void {
    this.api.close();
  }

  /** GET /status. Never throws: a transport failure is `alive: false`. */
  async health(): Promise<HealthResult> {
    const h = await this.api.health(this.healthTimeoutMs);
    return h.alive ? h : { alive: false, error: `GET ${API_BASE}${API_PATHS.status}: ${h.error ?? 'no answer'}` };
  }

  /** GET /config/loadbalancer/all: the `lbAttr` entries as the agent wrote them (diffRules reads them leniently). */
  async listRules(): Promise<unknown[]> {
    return listField(await this.call('GET', API_PATHS.lbRulesAll), 'lbAttr');
  }

  /** POST /config/loadbalancer. An identical rule already there (409 lbrule-exists) is success: `existed`. */
  async postRule(rule: LbRule): Promise<'applied' | 'existed'> {
    const done = await this.callUnless('POST', API_PATHS.lbRule, rule, (e) => e.status === 409 && /lbrule-exist/i.test(e.agentMessage));
    return done ? 'applied' : 'existed';
  }

  /** DELETE of one rule, named by its key (a planner's RuleRef is one). A rule already gone (404) is success: `absent`. */
  async deleteRule(rule: LbDeleteKey): Promise<'deleted' | 'absent'> {
    return (await this.callUnless('DELETE', lbRuleDeletePath(rule), undefined, (e) => e.status === 404)) ? 'deleted' : 'absent';
  }

  /** GET /config/cistate/all: loxilb's `Attr` entries. */
  async listCiStates(): Promise<CiState[]> {
    const out: CiState[] = [];
    for (const item of listField(await this.call('GET', API_PATHS.ciStatesAll), 'Attr')) {
      if (!isPlainObject(item)) continue;
      const f = pickFields(item, ['instance', 'state', 'vip'] as const);
      if (typeof f.instance !== 'string' || typeof f.state !== 'string') continue;
      out.push({ instance: f.instance, state: f.state as CiState['state'], vip: typeof f.vip === 'string' ? f.vip : '0.0.0.0' });
    }
    return out;
  }

  /** `timeoutMs` overrides the request timeout: role changes are time-critical. */
  async setCiState(state: CiState, timeoutMs?: number): Promise<void> {
    await this.call('POST', API_PATHS.ciState, state, timeoutMs);
  }

  async setBgpGlobal(body: BgpGlobalBody): Promise<void> {
    await this.call('POST', API_PATHS.bgpGlobal, body);
  }

  /** GET /config/bgp/neigh/all: the `bgpNeiAttr` entries (diffBgpNeighbors reads them leniently). */
  async listBgpNeighbors(): Promise<unknown[]> {
    return listField(await this.call('GET', API_PATHS.bgpNeighborsAll), 'bgpNeiAttr');
  }

  /** POST /config/bgp/neigh. A neighbour already there (409) is `existed`. */
  async addBgpNeighbor(body: BgpNeighborBody): Promise<'applied' | 'existed'> {
    return (await this.callUnless('POST', API_PATHS.bgpNeighbor, body, (e) => e.status === 409)) ? 'applied' : 'existed';
  }

  /** DELETE /config/bgp/neigh/IP?remoteAs=AS. A missing one (404) is `absent`. */
  async deleteBgpNeighbor(n: { ipAddress: string; remoteAs: number }): Promise<'deleted' | 'absent'> {
    return (await this.callUnless('DELETE', bgpNeighborDeletePath(n.ipAddress, n.remoteAs), undefined, (e) => e.status === 404)) ? 'deleted' : 'absent';
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

  /** A request (path below the base) whose non-2xx answer is a LoxiApiError naming the call. */
  private async call(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
    const full = API_BASE + path;
    let r;
    try {
      r = await this.api.send(method, path, { body, idempotent: true, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    } catch (err) {
      if (err instanceof ApiClientTransportError) throw new LoxiTransportError(method, full, err.reason, err.timedOut);
      throw err;
    }
    if (r.status < 200 || r.status >= 300) throw new LoxiApiError(method, full, r.status, agentMessage(r.body, r.text));
    // loxilb answers some refusals (DSR without hash selection) with 200 and an "Error: ..." result.
    if (isPlainObject(r.body)) {
      const result = pickFields(r.body, ['result'] as const).result;
      if (typeof result === 'string' && /^error\b/i.test(result.trim())) throw new LoxiApiError(method, full, r.status, result);
    }
    return r.body;
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
