// loxilb's REST API (/netlox/v1, reference §2) over plain node:http. This file
// owns the transport: routing, limits, CORS and the error body format. What
// each path does lives in routes.ts; state changes happen in AgentApi.
//
// By default the API listens on every address without authentication (as
// loxilb), so anyone on the segment is a client. With a token (--api-token-file)
// every request but GET /status must carry it, on the HTTP listener and on the
// HTTPS one (--tls) alike; both share one handler, one set of limits and one
// connection count. Whatever a client does costs one connection slot and
// bounded time and memory:
// - connections are capped in total and per client address (IPv6 by /64),
//   and the total cap is at most half the process's descriptor limit; near
//   the limit new connections are refused, so the agent's own timers and
//   sockets always find a descriptor. A refused connection gets a 503.
// - header size and time, request time, body size and idle time are bounded;
//   a connection idle past its limit (also one that never sent a byte) is
//   closed.
// - no CORS headers unless --cors-origin names an origin, and a request that
//   carries another Origin is refused before it reaches a handler, so a web
//   page an operator happens to visit cannot change the node's config.
//
// Over 400 lines: one node:http(s) handler with connection admission (per client,
// descriptor pressure, idle sweep), auth, CORS and the error body over one connection table;
// split candidate: connection admission into its own class.
import { RawReply } from './metrics.ts';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { AgentApi } from './AgentApi.ts';
import type { Logger } from '../util/logger.ts';
import { ApiError, NotFoundError, errnoCode, errorMessage } from '../util/errors.ts';
import { invalid } from '../util/FieldReader.ts';
import { hostPort, parseIp } from '../util/ipAddress.ts';
import { FdGauge, readFdLimit } from '../util/fdUsage.ts';
import { processFaults, guarded, type FaultRegistry } from '../util/faults.ts';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { buildRoutes, checkGuard, type Route } from './routes.ts';
import { API_BASE_PATH } from './basePath.ts';
import { AuthError, BearerToken, isOpenRequest } from './apiAuth.ts';

export const BASE_PATH = API_BASE_PATH;

export interface ApiLimits {
  /** Open connections at most (further capped at half the descriptor limit). */
  maxConnections: number;
  /** Open connections per client address (IPv6: per /64); at most half the connection cap. */
  maxConnectionsPerClient: number;
  /** Request line and headers, bytes (larger: 431). */
  maxHeaderBytes: number;
  /** Request body, bytes (larger: 413). */
  maxBodyBytes: number;
  /** Time to receive the request line and headers, ms (then 408). */
  headersTimeoutMs: number;
  /** Time to receive the whole request, ms (then 408). */
  requestTimeoutMs: number;
  /** A connection with no request in progress for this long is closed, ms. */
  idleTimeoutMs: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  maxConnections: 512,
  maxConnectionsPerClient: 128,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
};

/** Kept for callers that need the default body limit. */
export const MAX_BODY_BYTES = DEFAULT_API_LIMITS.maxBodyBytes;

export interface RestServerOptions {
  limits?: Partial<ApiLimits>;
  /** The one origin browsers may call the API from (CORS); none by default. */
  corsOrigin?: string;
  faults?: FaultRegistry;
  /** The process's descriptor limit (default: read from /proc/self/limits). */
  fdLimit?: number;
  /** Counts open descriptors (default: /proc/self/fd). */
  countFds?: () => number | undefined;
  /** Time for idle tracking and its sweep (tests drive it). */
  clock?: Clock;
  /** Every request but GET /status must carry `Authorization: Bearer <token>` (--api-token-file). */
  token?: string;
  /** Certificate chain and key (PEM) of the HTTPS listener (--tls); listenTls() opens it. */
  tls?: { cert: Buffer; key: Buffer };
}

/** Why connections were refused, counted since start. */
export interface ApiRefusals {
  /** The total cap was reached. */
  total: number;
  /** The client already held its share. */
  perClient: number;
  /** Too few descriptors left for the agent itself. */
  fdPressure: number;
  /** accept() failed (EMFILE, ENFILE, ...): the kernel refused before we could. */
  acceptErrors: number;
}

/** How requests are secured, and how many were refused for it. */
export interface ApiSecurity {
  /** A token is required (--api-token-file). */
  token: boolean;
  /** The HTTPS listener, when --tls opened one. */
  https?: { host: string; port: number };
  /** Requests answered 401 since start. */
  unauthorized: number;
  /** TLS handshakes that failed (wrong CA on the client's side, plain HTTP sent to the HTTPS port, ...). */
  tlsHandshakeFailures: number;
}

export interface ApiStats {
  connections: number;
  /** Distinct client addresses (IPv6 /64s) connected now. */
  clients: number;
  /** The effective cap on connections (the flag, or half the descriptor limit if lower). */
  maxConnections: number;
  maxConnectionsPerClient: number;
  refused: ApiRefusals;
  /** Date.now() of the last refusal or eviction, if any. */
  lastRefusedAt?: number;
  /** Idle connections closed at the cap to make room for a new one. */
  evicted: number;
  /** Connections closed after idling past the limit. */
  idleClosed: number;
  /** Descriptors in use (estimate) and the process limit. */
  fds?: { open?: number; limit: number };
  shuttingDown: boolean;
  security: ApiSecurity;
}

/** What kept a connection from being served. */
type Refusal = keyof Omit<ApiRefusals, 'acceptErrors'>;

interface Conn {
  /** The TCP socket (for HTTPS, the one under the TLS socket). */
  socket: net.Socket;
  client: string;
  inFlight: number;
  lastActive: number;
}

const CORS_METHODS = 'GET, POST, DELETE, OPTIONS';
const CORS_HEADERS = 'Content-Type, Authorization';

interface Matched {
  route: Route;
  params: Record<string, string>;
}

export class RestServer {
  private readonly server: http.Server;
  private readonly tlsServer?: https.Server;
  private readonly token?: BearerToken;
  /** TLS sockets -> their TCP connection's entry, so requests over HTTPS find it. */
  private readonly tlsConns = new WeakMap<net.Socket, Conn>();
  /** HTTPS connections between accept and handshake, by TCP endpoints. */
  private readonly handshaking = new Map<string, Conn>();
  private unauthorized = 0;
  private tlsHandshakeFailures = 0;
  private readonly routes: Route[];
  private readonly log: Logger;
  private readonly limits: ApiLimits;
  private readonly corsOrigin?: string;
  private readonly faults: FaultRegistry;
  private readonly fds: FdGauge;
  /** Descriptors always left to the agent: connections are refused below this. */
  private readonly fdReserve: number;
  private readonly maxConnections: number;
  private readonly maxPerClient: number;
  private readonly conns = new Map<net.Socket, Conn>();
  private readonly perClient = new Map<string, number>();
  private readonly refused: ApiRefusals = { total: 0, perClient: 0, fdPressure: 0, acceptErrors: 0 };
  private lastRefusedAt?: number;
  private lastRefusalLogAt?: number;
  private idleClosed = 0;
  private evicted = 0;
  private sweepTimer?: TimerHandle;
  private readonly clock: Clock;
  private shuttingDown = false;

  constructor(
    private readonly api: AgentApi,
    log: Logger,
    opts: RestServerOptions = {},
  ) {
    this.log = log.child({ component: 'rest-api' });
    this.routes = buildRoutes(api);
    this.limits = { ...DEFAULT_API_LIMITS, ...opts.limits };
    this.corsOrigin = opts.corsOrigin;
    this.faults = opts.faults ?? processFaults;
    this.clock = opts.clock ?? systemClock;
    const fdLimit = opts.fdLimit ?? readFdLimit();
    this.fds = new FdGauge(fdLimit, 500, opts.countFds, () => this.clock.now());
    this.fdReserve = fdLimit === undefined ? 0 : Math.max(32, Math.floor(fdLimit / 8));
    this.maxConnections = fdLimit === undefined ? this.limits.maxConnections : Math.max(1, Math.min(this.limits.maxConnections, Math.floor(fdLimit / 2)));
    // One client never holds more than half the slots, so others always find room.
    this.maxPerClient = Math.max(1, Math.min(this.limits.maxConnectionsPerClient, Math.ceil(this.maxConnections / 2)));
    if (opts.token !== undefined) this.token = new BearerToken(opts.token);
    const serverOptions: http.ServerOptions = {
      maxHeaderSize: this.limits.maxHeaderBytes,
      headersTimeout: this.limits.headersTimeoutMs,
      requestTimeout: this.limits.requestTimeoutMs,
      // Node checks the two timeouts above on this period.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(this.limits.headersTimeoutMs / 4))),
      keepAliveTimeout: this.limits.idleTimeoutMs,
    };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      // A refused or evicted connection may still have had a request parsed: it does nothing.
      if (!this.onRequest(req, res)) {
        res.destroy();
        return;
      }
      this.serve(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'request handling failed');
        res.destroy();
      });
    };
    this.server = http.createServer(serverOptions, handler);
    this.server.on('connection', (socket: net.Socket) => this.onConnection(socket, false));
    if (opts.tls) {
      this.tlsServer = https.createServer(
        {
          ...serverOptions,
          cert: opts.tls.cert,
          key: opts.tls.key,
          minVersion: 'TLSv1.2',
          // A client that connects and never finishes the handshake holds its slot no longer than one that sends no headers.
          handshakeTimeout: this.limits.headersTimeoutMs,
        },
        handler,
      );
      this.tlsServer.on('connection', (socket: net.Socket) => this.onConnection(socket, true));
      this.tlsServer.on('secureConnection', (socket: tls.TLSSocket) => this.onSecureConnection(socket));
      this.tlsServer.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
        this.tlsHandshakeFailures++;
        this.log.debug({ err: err.message, client: socket.remoteAddress }, 'TLS handshake failed');
        socket.destroy();
      });
    }
  }

  /** Opens the plain HTTP listener (--host, --port). */
  listen(host: string, port: number): Promise<void> {
    return this.listenOn(this.server, 'REST API', host, port);
  }

  /** Opens the HTTPS listener (--tls-host, --tls-port); the server must have been built with `tls`. */
  listenTls(host: string, port: number): Promise<void> {
    if (!this.tlsServer) return Promise.reject(new Error('REST API: HTTPS needs a certificate and key (--tls-certificate, --tls-key)'));
    return this.listenOn(this.tlsServer, 'REST API (HTTPS)', host, port);
  }

  private listenOn(server: http.Server, what: string, host: string, port: number): Promise<void> {
    const where = hostPort(host, port);
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.off('listening', onListening);
        reject(new Error(`${what} cannot listen on ${where}: ${listenFailure(err)}`));
      };
      const onListening = (): void => {
        server.off('error', onError);
        server.on('error', (err: NodeJS.ErrnoException) => this.onServerError(err));
        this.log.info(
          {
            address: addressOf(server),
            maxConnections: this.maxConnections,
            perClient: this.maxPerClient,
            cors: this.corsOrigin ?? 'off',
            token: this.token ? 'required' : 'off',
          },
          `${what} listening`,
        );
        if (!this.token && !isLoopbackHost(host)) {
          this.log.warn({ address: addressOf(server) }, `${what} accepts requests without authentication from anyone who can reach it; set --api-token-file (or --host=127.0.0.1)`);
        }
        if (this.sweepTimer === undefined) this.armSweep();
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      try {
        server.listen(port, host);
      } catch (err) {
        server.off('error', onError);
        server.off('listening', onListening);
        reject(new Error(`${what} cannot listen on ${where}: ${errorMessage(err)}`));
      }
    });
  }

  /**
   * The agent is stopping: from now on every request answers 503 (GET
   * /status with the agent's status, so health checks see why) and
   * connections are not kept alive.
   */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  /** Stops accepting connections; requests already being answered finish first. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    this.sweepTimer = undefined;
    await Promise.all([this.server, this.tlsServer].map((s) => (s ? closeServer(s) : undefined)));
  }

  /** Where the plain HTTP listener is. */
  address(): { host: string; port: number } | undefined {
    return addressOf(this.server);
  }

  /** Where the HTTPS listener is (undefined without --tls). */
  tlsAddress(): { host: string; port: number } | undefined {
    return this.tlsServer ? addressOf(this.tlsServer) : undefined;
  }

  stats(): ApiStats {
    const out: ApiStats = {
      connections: this.conns.size,
      clients: this.perClient.size,
      maxConnections: this.maxConnections,
      maxConnectionsPerClient: this.maxPerClient,
      refused: { ...this.refused },
      evicted: this.evicted,
      idleClosed: this.idleClosed,
      shuttingDown: this.shuttingDown,
      security: { token: Boolean(this.token), unauthorized: this.unauthorized, tlsHandshakeFailures: this.tlsHandshakeFailures },
    };
    const httpsAt = this.tlsAddress();
    if (httpsAt) out.security.https = httpsAt;
    if (this.lastRefusedAt !== undefined) out.lastRefusedAt = this.lastRefusedAt;
    if (this.fds.limit !== undefined) out.fds = { open: this.fds.estimate(), limit: this.fds.limit };
    return out;
  }

  // ---- connections ----

  private onConnection(socket: net.Socket, tls: boolean): void {
    const client = clientKey(socket.remoteAddress);
    const refusal = this.admit(client);
    if (refusal) {
      // Its descriptor goes at once; it does not count against the others.
      this.refuse(socket, refusal, tls);
      return;
    }
    this.fds.opened();
    const conn: Conn = { socket, client, inFlight: 0, lastActive: this.clock.now() };
    this.conns.set(socket, conn);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    const tlsKey = tls ? endpointsKey(socket) : undefined;
    if (tlsKey !== undefined) this.handshaking.set(tlsKey, conn);
    socket.once('close', () => {
      if (tlsKey !== undefined && this.handshaking.get(tlsKey) === conn) this.handshaking.delete(tlsKey);
      this.fds.closed();
      this.conns.delete(socket);
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n > 0) this.perClient.set(client, n);
      else this.perClient.delete(client);
    });
  }

  /** The handshake is done: requests on the TLS socket count against its TCP connection. */
  private onSecureConnection(socket: tls.TLSSocket): void {
    const key = endpointsKey(socket);
    const conn = this.handshaking.get(key);
    this.handshaking.delete(key);
    if (!conn || !this.conns.has(conn.socket)) {
      // Evicted or swept while it shook hands.
      socket.destroy();
      return;
    }
    this.tlsConns.set(socket, conn);
  }

  private admit(client: string): Refusal | undefined {
    if (this.fds.underPressure(this.fdReserve)) return 'fdPressure';
    if ((this.perClient.get(client) ?? 0) >= this.maxPerClient) return 'perClient';
    if (this.conns.size >= this.maxConnections && !this.evictIdle()) return 'total';
    return undefined;
  }

  /** At the cap, a connection that has been idle longest makes room (keep-alive clients reconnect). */
  private evictIdle(): boolean {
    let victim: Conn | undefined;
    for (const c of this.conns.values()) {
      if (c.inFlight === 0 && (!victim || c.lastActive < victim.lastActive)) victim = c;
    }
    if (!victim) return false;
    this.evicted++;
    this.lastRefusedAt = Date.now();
    this.conns.delete(victim.socket);
    victim.socket.destroy();
    return true;
  }

  private refuse(socket: net.Socket, why: Refusal, tls: boolean): void {
    this.refused[why]++;
    this.lastRefusedAt = Date.now();
    const message =
      why === 'perClient'
        ? `too many connections from this client (at most ${this.maxPerClient})`
        : why === 'total'
          ? `too many connections (at most ${this.maxConnections})`
          : 'the agent is short of file descriptors';
    const body = JSON.stringify({ code: 503, message, result: message, fields: null });
    socket.on('error', () => undefined);
    if (tls) {
      // No handshake yet, so no way to say why: the TLS client sees the connection closed.
      socket.destroy();
    } else {
      // Written straight to the socket: no parser, no request, and the descriptor goes at once.
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      socket.destroySoon();
    }
    if (this.refused.total + this.refused.perClient + this.refused.fdPressure === 1 || Date.now() - (this.lastRefusalLogAt ?? 0) > 10_000) {
      this.lastRefusalLogAt = Date.now();
      this.log.warn({ reason: why, refused: this.refused, connections: this.conns.size }, 'REST API connection refused');
    }
  }

  private onServerError(err: NodeJS.ErrnoException): void {
    // accept() failing (EMFILE, ENFILE, ...) is the kernel refusing a client for us.
    if (err.syscall === 'accept' || errnoCode(err) === 'EMFILE' || errnoCode(err) === 'ENFILE') {
      this.refused.acceptErrors++;
      this.lastRefusedAt = Date.now();
      this.faults.record('REST API accept', err, this.log);
      return;
    }
    this.log.error({ err }, 'REST API server error');
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const conn = this.conns.get(req.socket) ?? this.tlsConns.get(req.socket);
    if (conn && !this.conns.has(conn.socket)) return false;
    if (!conn) return false;
    conn.inFlight++;
    conn.lastActive = this.clock.now();
    res.once('close', () => {
      conn.inFlight--;
      conn.lastActive = this.clock.now();
    });
    return true;
  }

  private armSweep(): void {
    const every = Math.max(50, Math.min(1000, Math.floor(this.limits.idleTimeoutMs / 2)));
    const sweep = guarded('REST idle connection sweep', () => this.sweepIdle(), { log: this.log, faults: this.faults });
    this.sweepTimer = this.clock.setTimer(() => {
      sweep();
      if (this.sweepTimer !== undefined) this.armSweep();
    }, every);
    (this.sweepTimer as { unref?: () => void }).unref?.();
  }

  /** Closes connections with no request in progress for longer than the idle limit (also ones that never sent a byte). */
  private sweepIdle(): void {
    const cutoff = this.clock.now() - this.limits.idleTimeoutMs;
    for (const c of this.conns.values()) {
      if (c.inFlight === 0 && c.lastActive < cutoff) {
        this.idleClosed++;
        c.socket.destroy();
      }
    }
  }

  // ---- requests ----

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    // A client that vanished mid-answer must not turn into an unhandled 'error' event.
    res.on('error', (err) => this.log.debug({ err }, 'REST response not delivered'));
    let status = 200;
    let payload: unknown;
    try {
      this.checkOrigin(req, res);
      if (method === 'OPTIONS') {
        // A browser's preflight never carries credentials; it changes nothing and says only the methods.
        await this.readBody(req, res);
        this.preflight(req, res);
        return;
      }
      const url = parseUrl(req.url);
      // Before the body is read: an unauthenticated client costs no parsing.
      const authed = this.authenticate(req, res, method, url.pathname);
      const body = await this.readBody(req, res);
      const { route, params } = this.match(method === 'HEAD' ? 'GET' : method, url.pathname, res);
      const isStatus = route.segments.length === 1 && route.segments[0] === 'status';
      if (this.shuttingDown) {
        res.setHeader('Connection', 'close');
        if (isStatus) {
          status = 503;
          payload = authed ? this.api.status() : healthOnly(this.api.status());
        } else {
          throw new ApiError(503, 'loxilb is shutting down: not-ready');
        }
      } else {
        checkGuard(this.api, route.guard);
        payload = await route.handle({ params, query: url.searchParams, json: () => parseJson(body) });
        if (isStatus && !authed) payload = healthOnly(payload as ReturnType<AgentApi['status']>);
      }
    } catch (err) {
      status = err instanceof ApiError ? err.status : 500;
      const message = errorMessage(err);
      payload = { code: status, message, result: err instanceof AuthError ? err.result : message, fields: null };
      const fields = { method, url: truncate(req.url ?? '', 200), status, message };
      if (status >= 500 && status !== 503) this.log.error({ ...fields, err }, 'REST request failed');
      else this.log.info(fields, 'REST request refused');
    }
    if (res.destroyed || res.writableEnded) return;
    if (payload instanceof RawReply) {
      res.writeHead(status, { 'Content-Type': payload.contentType, 'Content-Length': Buffer.byteLength(payload.text) });
      res.end(method === 'HEAD' ? undefined : payload.text);
      return;
    }
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

  /**
   * With a token: true when the request carries it; the health check may go
   * without (false), anything else without it is a 401 thrown before its
   * body is read (the connection then closes, so the unread body goes with
   * it). Without a token every request counts as authenticated.
   */
  private authenticate(req: http.IncomingMessage, res: http.ServerResponse, method: string, pathname: string): boolean {
    if (!this.token) return true;
    try {
      this.token.check(req.headers.authorization);
      return true;
    } catch (err) {
      if (isOpenRequest(method, pathname)) return false;
      this.unauthorized++;
      res.setHeader('WWW-Authenticate', 'Bearer realm="loxilb"');
      res.setHeader('Connection', 'close');
      req.resume();
      throw err;
    }
  }

  /**
   * Browsers send Origin with every cross-origin request (and with same-origin
   * POST / DELETE). Only the --cors-origin one is served, and gets CORS
   * headers; any other is refused before the request does anything.
   */
  private checkOrigin(req: http.IncomingMessage, res: http.ServerResponse): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (this.corsOrigin !== undefined && origin === this.corsOrigin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      return;
    }
    res.setHeader('Vary', 'Origin');
    throw new ApiError(403, `cross-origin request refused: Origin ${truncate(origin, 100)} is not allowed${this.corsOrigin === undefined ? ' (CORS is off; see --cors-origin)' : ''}`);
  }

  /** OPTIONS: the allowed origin gets a CORS preflight answer; anyone else just the methods. */
  private preflight(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('Allow', CORS_METHODS);
    if (req.headers.origin !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', CORS_METHODS);
      res.setHeader('Access-Control-Allow-Headers', CORS_HEADERS);
      res.setHeader('Access-Control-Max-Age', '600');
    }
    res.writeHead(200, { 'Content-Length': '0' }).end();
  }

  /**
   * Reads the whole body. Past the limit the answer is 413; the rest of the
   * body is drained (up to 4x the limit, so the 413 reaches the client), then
   * the connection is closed.
   */
  private readBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<Buffer> {
    const max = this.limits.maxBodyBytes;
    const tooLarge = () => new ApiError(413, `request body too large: at most ${max} bytes are accepted`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      res.setHeader('Connection', 'close');
      if (declared > 4 * max) {
        // Not worth draining: answer and close.
        req.resume();
        return Promise.reject(tooLarge());
      }
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= max) chunks.push(chunk);
        else {
          res.setHeader('Connection', 'close');
          if (size > 4 * max) req.destroy();
        }
      });
      req.on('end', () => {
        if (size > max) reject(tooLarge());
        else resolve(Buffer.concat(chunks));
      });
      req.on('error', reject);
      // 'close' follows every request; only one that ended early is an error (an Error's stack costs ~10 µs a request).
      req.on('close', () => {
        if (!req.complete) reject(new Error('client closed the connection before sending the whole request'));
      });
    });
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

/** Who a connection counts against: its IPv4 address, or its IPv6 /64 (one host can hold a whole /64). */
export function clientKey(remote: string | undefined): string {
  const a = remote === undefined ? undefined : parseIp(remote);
  if (!a) return remote ?? '?';
  if (a.kind() === 'ipv4') return a.toString();
  const parts = (a as import('ipaddr.js').IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}

/** What GET /status says to a client without the token: whether the agent is up, and nothing about its setup. */
function healthOnly(s: ReturnType<AgentApi['status']>): Pick<ReturnType<AgentApi['status']>, 'status' | 'mode' | 'uptimeSeconds'> {
  return { status: s.status, mode: s.mode, uptimeSeconds: s.uptimeSeconds };
}

function addressOf(server: http.Server): { host: string; port: number } | undefined {
  const a = server.address() as AddressInfo | string | null;
  return a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
}

function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    // A client holding a request open must not keep the agent from shutting down.
    const force = setTimeout(() => server.closeAllConnections(), 2000).unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** A TCP connection's two ends, the same for the socket and the TLS socket over it. */
function endpointsKey(socket: net.Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localAddress}|${socket.localPort}`;
}

function isLoopbackHost(host: string): boolean {
  const a = parseIp(host);
  return a !== undefined && a.range() === 'loopback';
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
