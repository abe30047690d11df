// How LoxiApiClient moves bytes: one HTTP exchange with a deadline, over
// node:http(s) with pooled keep-alive connections (HTTPS: TLS 1.2+, the
// agent's certificate checked against a given CA bundle or the system's),
// or over an injected fetch (tests). Failures without an HTTP answer become
// a TransportFailure whose `reason` already says why (the socket error and
// its code, `no answer within N ms`, `client closed`).
import http from 'node:http';
import https from 'node:https';

export interface Exchange {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /**
   * Only for calls that are idempotent at the agent: a failure without an
   * answer is tried once more on a fresh connection, because a pooled
   * keep-alive socket the agent (or its restart) closed fails the first
   * write, and that must not count as the agent being down. The deadline
   * bounds both attempts together.
   */
  retryOnFreshConnection?: boolean;
}

export interface RawAnswer {
  status: number;
  text: string;
}

/** No HTTP answer: refused, reset, unreachable, timed out, or the client was closed. */
export class TransportFailure extends Error {
  constructor(
    readonly reason: string,
    readonly timedOut: boolean,
    /** The socket error's code (ECONNREFUSED, ENOTFOUND, ...), when there was one. */
    readonly code?: string,
  ) {
    super(reason);
    this.name = 'TransportFailure';
  }
}

export interface HttpTransport {
  exchange(x: Exchange): Promise<RawAnswer>;
  /** Aborts what is in flight and drops the connections; later exchanges fail with `client closed`. */
  close(): void;
}

/** The request ran past its deadline (ours, not the socket's). */
class Deadline extends Error {
  constructor() {
    super('deadline');
  }
}

function errorCode(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown })?.cause;
  const code = (err as NodeJS.ErrnoException)?.code ?? (cause as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The socket error, with its code when the message does not carry it. */
function socketReason(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  const e = cause instanceof Error ? cause : err;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(err);
}

/**
 * node:http(s). fetch would do, but costs several times the CPU and garbage
 * per request, which shows when kube-loxilb posts a thousand rules to every agent.
 */
export class NodeHttpTransport implements HttpTransport {
  private readonly agent: http.Agent | false;
  private readonly inFlight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(private readonly opts: { secure: boolean; ca?: Buffer; keepAlive?: boolean }) {
    const keepAlive = opts.keepAlive ?? true;
    const tls = { minVersion: 'TLSv1.2' as const, ...(opts.ca ? { ca: opts.ca } : {}) };
    this.agent = !keepAlive ? false : opts.secure ? new https.Agent({ keepAlive: true, ...tls }) : new http.Agent({ keepAlive: true });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const req of this.inFlight) req.destroy(new Error('client closed'));
    this.inFlight.clear();
    if (this.agent) this.agent.destroy();
  }

  async exchange(x: Exchange): Promise<RawAnswer> {
    const deadline = performance.now() + x.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(x, deadline - performance.now(), attempt === 0 ? this.agent : false);
      } catch (err) {
        const timedOut = err instanceof Deadline;
        if (attempt === 0 && x.retryOnFreshConnection === true && !timedOut && !this.closed) continue;
        if (this.closed) throw new TransportFailure('client closed', false);
        if (timedOut) throw new TransportFailure(`no answer within ${x.timeoutMs} ms`, true);
        throw new TransportFailure(socketReason(err), false, errorCode(err));
      }
    }
  }

  private once(x: Exchange, timeoutMs: number, agent: http.Agent | false): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('client closed'));
      const headers: http.OutgoingHttpHeaders = { ...x.headers };
      if (x.body !== undefined) headers['Content-Length'] = Buffer.byteLength(x.body);
      // A fresh connection (agent false) needs the TLS settings the pooled agent carries.
      const req = this.opts.secure
        ? https.request(x.url, { method: x.method, headers, agent, minVersion: 'TLSv1.2', ...(this.opts.ca ? { ca: this.opts.ca } : {}) })
        : http.request(x.url, { method: x.method, headers, agent });
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
      req.end(x.body);
    });
  }
}

/** An injected fetch (tests of the callers); no retry, no pooling of our own. */
export class FetchTransport implements HttpTransport {
  private readonly inFlight = new Set<AbortController>();
  private closed = false;

  constructor(private readonly fetchFn: typeof fetch) {}

  close(): void {
    this.closed = true;
    for (const c of this.inFlight) c.abort(new Error('client closed'));
    this.inFlight.clear();
  }

  async exchange(x: Exchange): Promise<RawAnswer> {
    if (this.closed) throw new TransportFailure('client closed', false);
    // One controller per call (AbortSignal.any over a timeout signal can lose the timeout).
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(new Deadline()), x.timeoutMs);
    this.inFlight.add(ctl);
    try {
      const res = await this.fetchFn(x.url, { method: x.method, headers: x.headers, ...(x.body !== undefined ? { body: x.body } : {}), signal: ctl.signal });
      return { status: res.status, text: await res.text() };
    } catch (err) {
      if (this.closed) throw new TransportFailure('client closed', false);
      if (ctl.signal.reason instanceof Deadline) throw new TransportFailure(`no answer within ${x.timeoutMs} ms`, true);
      throw new TransportFailure(socketReason(err), false, errorCode(err));
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(ctl);
    }
  }
}
