// loxilb's REST API (/netlox/v1, reference §2) over plain node:http. This file
// owns the transport: routing, body limits, CORS and the error body format.
// What each path does lives in routes.ts; state changes happen in AgentApi.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentApi } from './AgentApi.ts';
import type { Logger } from '../util/logger.ts';
import { ApiError, NotFoundError, errorMessage } from '../util/errors.ts';
import { invalid } from '../util/FieldReader.ts';
import { buildRoutes, checkGuard, type Route } from './routes.ts';

export const BASE_PATH = '/netlox/v1';
export const MAX_BODY_BYTES = 1024 * 1024;
// Past this the client is not sending a request any more, just load; cut it off.
const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;

const CORS_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';

interface Matched {
  route: Route;
  params: Record<string, string>;
}

export class RestServer {
  private readonly server: http.Server;
  private readonly routes: Route[];
  private readonly log: Logger;

  constructor(
    private readonly api: AgentApi,
    log: Logger,
  ) {
    this.log = log.child({ component: 'rest-api' });
    this.routes = buildRoutes(api);
    this.server = http.createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'request handling failed');
        res.destroy();
      });
    });
  }

  listen(host: string, port: number): Promise<void> {
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.server.off('listening', onListening);
        reject(new Error(`REST API cannot listen on ${where}: ${listenFailure(err)}`));
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.log.error({ err }, 'REST API server error'));
        this.log.info({ address: this.address() }, 'REST API listening');
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      try {
        this.server.listen(port, host);
      } catch (err) {
        this.server.off('error', onError);
        this.server.off('listening', onListening);
        reject(new Error(`REST API cannot listen on ${where}: ${errorMessage(err)}`));
      }
    });
  }

  /** Stops accepting connections; requests already being answered finish first. */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      // A client holding a request open must not keep the agent from shutting down.
      const force = setTimeout(() => this.server.closeAllConnections(), 2000).unref();
      this.server.close(() => {
        clearTimeout(force);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  address(): { host: string; port: number } | undefined {
    const a = this.server.address() as AddressInfo | string | null;
    return a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    // A client that vanished mid-answer must not turn into an unhandled 'error' event.
    res.on('error', (err) => this.log.debug({ err }, 'REST response not delivered'));
    res.setHeader('Access-Control-Allow-Origin', '*');
    let status = 200;
    let payload: unknown;
    try {
      const body = await readBody(req);
      if (method === 'OPTIONS') {
        res.setHeader('Access-Control-Allow-Methods', CORS_METHODS);
        res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Content-Type, Authorization');
        res.writeHead(200, { 'Content-Length': '0' }).end();
        return;
      }
      const url = parseUrl(req.url);
      const { route, params } = this.match(method === 'HEAD' ? 'GET' : method, url.pathname, res);
      checkGuard(this.api, route.guard);
      payload = await route.handle({ params, query: url.searchParams, json: () => parseJson(body) });
    } catch (err) {
      status = err instanceof ApiError ? err.status : 500;
      const message = errorMessage(err);
      payload = { code: status, message, result: message, fields: null };
      const fields = { method, url: truncate(req.url ?? '', 200), status, message };
      if (status >= 500) this.log.error({ ...fields, err }, 'REST request failed');
      else this.log.info(fields, 'REST request refused');
    }
    if (res.destroyed || res.writableEnded) return;
    let text: string;
    try {
      text = JSON.stringify(payload ?? null);
    } catch (err) {
      status = 500;
      const message = `cannot encode the answer: ${errorMessage(err)}`;
      text = JSON.stringify({ code: status, message, result: message, fields: null });
    }
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    if (status < 400) this.log.debug({ method, url: truncate(req.url ?? '', 200), status }, 'REST request');
  }

  /** Finds the route for a path; a path known under another method is a 405, not a 404. */
  private match(method: string, pathname: string, res: http.ServerResponse): Matched {
    const segments = splitPath(pathname);
    const allowed = new Set<string>();
    if (segments !== undefined) {
      for (const route of this.routes) {
        const params = matchSegments(route.segments, segments);
        if (params === undefined) continue;
        if (route.method === method) return { route, params };
        allowed.add(route.method);
      }
    }
    if (allowed.size > 0) {
      const list = [...allowed].join(', ');
      res.setHeader('Allow', list);
      throw new ApiError(405, `method ${truncate(method, 20)} is not allowed on ${truncate(pathname, 200)}; allowed: ${list}`);
    }
    const hint = segments === undefined ? ` (the API lives under ${BASE_PATH}/)` : '';
    throw new NotFoundError(`path not found: ${truncate(pathname, 200)}${hint}`);
  }
}

function listenFailure(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
      return 'permission denied';
    case 'EADDRNOTAVAIL':
      return 'address not available on this host';
    default:
      return err.message;
  }
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

function parseUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://localhost');
  } catch {
    throw invalid('url', 'must be a valid request path', truncate(raw ?? '', 200));
  }
}

/** Path segments below the base path, percent-decoded; undefined if outside it. */
function splitPath(pathname: string): string[] | undefined {
  if (pathname !== BASE_PATH && !pathname.startsWith(`${BASE_PATH}/`)) return undefined;
  const parts = pathname.slice(BASE_PATH.length).split('/').filter((s) => s !== '');
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    throw invalid('url', 'must be validly percent-encoded', truncate(pathname, 200));
  }
}

function matchSegments(pattern: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = Object.create(null);
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p.startsWith(':')) params[p.slice(1)] = s;
    else if (p !== s) return undefined;
  }
  return params;
}

function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw invalid('body', 'required: must be a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid('body', `must be a JSON object (${errorMessage(err)})`);
  }
}

/** Reads the whole body; past the limit the rest is drained so the 413 answer reaches the client. */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (size > MAX_DRAIN_BYTES) req.destroy();
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) reject(new ApiError(413, `request body too large: at most ${MAX_BODY_BYTES} bytes are accepted`));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
    req.on('close', () => reject(new Error('client closed the connection before sending the whole request')));
  });
}
