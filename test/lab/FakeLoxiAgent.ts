// A stand-in loxilb agent for kube-loxilb's unit tests: the REST paths the
// controller uses (reference §2), in memory, on 127.0.0.x and a random port.
// It records every call, can die (stop listening, drop connections) and
// restart on the same address with nothing configured, as a restarted loxilb
// without saved config would. Not a model of loxilb's validation.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCall {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  body?: any;
  status: number;
  /** Order of answering, across every fake in the process. */
  seq: number;
}

let callSeq = 0;

export interface FakeLoxiAgentOptions {
  host?: string;
  /** BGP endpoints answer 403 "loxilb BGP mode is disabled" unless true (default true). */
  bgp?: boolean;
  /** loxilb --peer: LB and CI endpoints answer 403 "running in bgp only mode". */
  peer?: boolean;
  /** Uptime it reports at start, in seconds (default 0). */
  uptimeSeconds?: number;
  /** Answer GET /status with this HTTP status instead of 200 (a real loxilb has no such path). */
  statusCode?: number;
}

type Handler = (m: RegExpMatchArray, body: any, q: URLSearchParams) => { status: number; body: unknown };

const OK = { status: 200, body: { result: 'Success' } };
const err = (status: number, message: string) => ({ status, body: { code: status, message, result: message, fields: null } });

export class FakeLoxiAgent {
  readonly calls: FakeCall[] = [];
  rules = new Map<string, any>();
  ciStates = new Map<string, { instance: string; state: string; vip: string }>();
  bgpGlobal?: any;
  neighbors = new Map<string, any>();
  /** Answers with this status for requests matching the predicate, `times` times. */
  private faults: { match: (method: string, path: string) => boolean; status: number; message: string; times: number }[] = [];
  /** While set, requests get no answer at all (a hung agent). */
  hang = false;
  private server?: http.Server;
  private port = 0;
  private startedAt = Date.now();
  private uptimeBase: number;
  private readonly routes: [string, RegExp, Handler][];

  private constructor(private readonly opts: FakeLoxiAgentOptions) {
    this.uptimeBase = opts.uptimeSeconds ?? 0;
    const lb = (h: Handler): Handler => (opts.peer ? () => err(403, 'running in bgp only mode') : h);
    const bgp = (h: Handler): Handler => (opts.bgp === false ? () => err(403, 'loxilb BGP mode is disabled') : h);
    this.routes = [
      ['GET', /^\/netlox\/v1\/status$/, () => ({ status: opts.statusCode ?? 200, body: { status: 'ok', uptimeSeconds: this.uptime() } })],
      ['GET', /^\/netlox\/v1\/config\/loadbalancer\/all$/, lb(() => ({ status: 200, body: { lbAttr: [...this.rules.values()] } }))],
      [
        'POST',
        /^\/netlox\/v1\/config\/loadbalancer$/,
        lb((_m, body) => {
          const key = ruleKey(body.serviceArguments);
          const cur = this.rules.get(key);
          if (cur && JSON.stringify(cur) === JSON.stringify(body)) return err(409, 'lbrule-exists error');
          this.rules.set(key, body);
          return OK;
        }),
      ],
      [
        'DELETE',
        /^\/netlox\/v1\/config\/loadbalancer\/externalipaddress\/([^/]+)\/port\/(\d+)(?:\/portmax\/(\d+))?\/protocol\/([a-z]+)$/,
        lb((m, _b, q) => {
          const key = ruleKey({ externalIP: decodeURIComponent(m[1]!), port: Number(m[2]), portMax: m[3] ? Number(m[3]) : 0, protocol: m[4], block: Number(q.get('block') ?? 0) });
          if (!this.rules.delete(key)) return err(404, 'lbrule-not-exists error');
          return OK;
        }),
      ],
      [
        'GET',
        /^\/netlox\/v1\/config\/cistate\/all$/,
        lb(() => ({ status: 200, body: { Attr: [...this.ciStates.values()].map((s) => ({ ...s, sync: null })) } })),
      ],
      [
        'POST',
        /^\/netlox\/v1\/config\/cistate$/,
        lb((_m, body) => {
          if (!['MASTER', 'BACKUP', 'FAULT', 'STOP', 'NOT_DEFINED'].includes(body?.state)) return err(400, 'invalid cluster-state');
          this.ciStates.set(body.instance, { instance: body.instance, state: body.state, vip: body.vip ?? '0.0.0.0' });
          return OK;
        }),
      ],
      [
        'POST',
        /^\/netlox\/v1\/config\/bgp\/global$/,
        bgp((_m, body) => {
          this.bgpGlobal = body;
          return OK;
        }),
      ],
      ['GET', /^\/netlox\/v1\/config\/bgp\/neigh\/all$/, bgp(() => ({ status: 200, body: { bgpNeiAttr: [...this.neighbors.values()].map((n) => ({ ipAddress: n.ipAddress, remoteAs: n.remoteAs, state: 'ACTIVE', updowntime: 'never' })) } }))],
      [
        'POST',
        /^\/netlox\/v1\/config\/bgp\/neigh$/,
        bgp((_m, body) => {
          if (this.neighbors.has(body.ipAddress)) return err(409, `bgp neighbor ${body.ipAddress} already exists`);
          this.neighbors.set(body.ipAddress, body);
          return OK;
        }),
      ],
      [
        'DELETE',
        /^\/netlox\/v1\/config\/bgp\/neigh\/([^/]+)$/,
        bgp((m, _b, q) => {
          // loxilb dereferences remoteAs unconditionally.
          if (!q.has('remoteAs')) return err(500, 'runtime error: invalid memory address or nil pointer dereference');
          const ip = decodeURIComponent(m[1]!);
          if (!this.neighbors.delete(ip)) return err(404, `bgp neighbor ${ip} not found`);
          return OK;
        }),
      ],
    ];
  }

  static async start(opts: FakeLoxiAgentOptions = {}): Promise<FakeLoxiAgent> {
    const f = new FakeLoxiAgent(opts);
    await f.listen();
    return f;
  }

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get alive(): boolean {
    return this.server !== undefined;
  }

  uptime(): number {
    return this.uptimeBase + Math.round((Date.now() - this.startedAt) / 1000);
  }

  /** Calls matching method and a path fragment, for assertions. */
  callsTo(method: string, pathPart: string | RegExp = ''): FakeCall[] {
    return this.calls.filter((c) => c.method === method && (typeof pathPart === 'string' ? c.path.includes(pathPart) : pathPart.test(c.path)));
  }

  /** CI state posts as "instance=STATE", in order. */
  rolePosts(): string[] {
    return this.callsTo('POST', '/config/cistate').filter((c) => c.status === 200).map((c) => `${c.body.instance}=${c.body.state}`);
  }

  role(instance = 'llb-inst0'): string | undefined {
    return this.ciStates.get(instance)?.state;
  }

  /** The next `times` requests matching get `status` with `message`. */
  fail(method: string, pathPart: string, status: number, message = 'injected failure', times = 1): void {
    this.faults.push({ match: (m, p) => m === method && p.includes(pathPart), status, message, times });
  }

  /** Stops listening and drops every connection, like a killed process. */
  async die(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }

  /** Listens again on the same address with nothing configured and uptime 0. */
  async restart(): Promise<void> {
    await this.die();
    this.rules = new Map();
    this.ciStates = new Map();
    this.bgpGlobal = undefined;
    this.neighbors = new Map();
    this.uptimeBase = 0;
    this.startedAt = Date.now();
    await this.listen();
  }

  async close(): Promise<void> {
    this.hang = false;
    await this.die();
  }

  private async listen(): Promise<void> {
    const server = http.createServer((req, res) => void this.serve(req, res));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += chunk;
    if (this.hang) return; // never answered; the client times out (die() drops the socket)
    const url = new URL(req.url ?? '/', 'http://x');
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const method = req.method ?? 'GET';
    let answer: { status: number; body: unknown } = err(404, 'Resource not found');
    const fault = this.faults.find((f) => f.times > 0 && f.match(method, url.pathname));
    if (fault) {
      fault.times--;
      answer = err(fault.status, fault.message);
    } else {
      for (const [m, re, h] of this.routes) {
        if (m !== method) continue;
        const match = url.pathname.match(re);
        if (match) {
          answer = h(match, body, url.searchParams);
          break;
        }
      }
    }
    this.calls.push({ method, path: url.pathname, query: url.searchParams, body, status: answer.status, seq: ++callSeq });
    const out = JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
    res.end(out);
  }
}

function ruleKey(sa: any): string {
  const port = Number(sa?.port ?? 0);
  const pmax = Number(sa?.portMax ?? 0) > port ? Number(sa.portMax) : port;
  return `${sa?.externalIP}|${port}-${pmax}|${String(sa?.protocol ?? 'tcp').toLowerCase()}|${Number(sa?.block ?? 0)}`;
}
