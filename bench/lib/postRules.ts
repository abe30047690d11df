// Posts LB rules to an agent's REST API with keep-alive connections (the lean
// client of keepAliveClient.ts, one request in flight per connection) and a
// bounded number of requests in flight, and reports how long it took for all
// of them to be accepted (HTTP 200). Runs inside the node's namespace, where
// the agent listens on 127.0.0.1:11111: either imported by nsWorker.ts, or
// standalone:
//
//   ip netns exec <ns> node --import <abs>/node_modules/tsx/dist/loader.mjs \
//     bench/lib/postRules.ts --base 200 --start 0 --n 1000 --concurrency 48
//
// which prints one JSON line: { ms, ok, failed, firstError }.
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { KeepAliveConnection } from './keepAliveClient.ts';
import { vip } from './vips.ts';

export interface PostRulesOptions {
  host?: string;
  port?: number;
  /** Second octet of the VIP range (10.<base>.0.0/16). */
  base: number;
  start: number;
  n: number;
  /** Requests in flight at most (also the number of keep-alive sockets). */
  concurrency: number;
  instance?: string;
  /** Give up (and report) after this long. */
  timeoutMs?: number;
  /** Ports per rule: above 1, every rule serves 1000..1000+portSpan-1 (a port range). */
  portSpan?: number;
}

export interface PostRulesResult {
  ms: number;
  ok: number;
  failed: number;
  firstError?: string;
}

export interface HttpReply {
  status: number;
  body: string;
}

const API = '/netlox/v1';

/** The bench's endpoint: one HTTP server every rule balances to (onearm, so replies come back through the LB). */
export const BENCH_ENDPOINT = { ip: '192.168.80.30', port: 8080 } as const;

export function ruleBody(base: number, i: number, instance = 'llb-inst0', portSpan = 1): string {
  const ports = portSpan > 1 ? { port: 1000, portMax: 1000 + portSpan - 1 } : { port: 80 };
  return JSON.stringify({
    serviceArguments: { externalIP: vip(base, i), ...ports, protocol: 'tcp', mode: 1, bgp: true, name: `bench_svc${i}:${instance}` },
    endpoints: [{ endpointIP: BENCH_ENDPOINT.ip, targetPort: BENCH_ENDPOINT.port, weight: 1 }],
  });
}

/** One HTTP request with a JSON body; resolves with status and body text. */
export function request(
  method: string,
  path: string,
  body: string | undefined,
  opts: { host?: string; port?: number; agent?: http.Agent | false; timeoutMs?: number } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      { host: opts.host ?? '127.0.0.1', port: opts.port ?? 11111, method, path: `${API}${path}`, headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function postRules(o: PostRulesOptions): Promise<PostRulesResult> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 11111;
  const conns: KeepAliveConnection[] = [];
  const deadline = Date.now() + (o.timeoutMs ?? 300_000);
  let next = o.start;
  const end = o.start + o.n;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    let conn: KeepAliveConnection | undefined;
    while (next < end) {
      if (Date.now() > deadline) throw new Error(`posting rules timed out after ${o.timeoutMs ?? 300_000} ms (${ok} accepted)`);
      const i = next++;
      try {
        if (!conn) conns.push((conn = new KeepAliveConnection(host, port)));
        const r = await conn.send('POST', `${API}/config/loadbalancer`, ruleBody(o.base, i, o.instance, o.portSpan), 30_000).catch((err: Error) => {
          conn = undefined; // a fresh connection for the next request
          throw err;
        });
        if (r.status === 200) ok++;
        else {
          failed++;
          firstError ??= `rule ${i}: HTTP ${r.status} ${r.body.slice(0, 300)}`;
        }
      } catch (err) {
        failed++;
        firstError ??= `rule ${i}: ${(err as Error).message}`;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, o.n)) }, lane));
  } finally {
    for (const c of conns) c.close();
  }
  return { ms: performance.now() - t0, ok, failed, firstError };
}

// Standalone use (see the header).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      base: { type: 'string', default: '200' },
      start: { type: 'string', default: '0' },
      n: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '48' },
      port: { type: 'string', default: '11111' },
      'port-span': { type: 'string', default: '1' },
    },
  });
  const r = await postRules({
    base: Number(values.base),
    start: Number(values.start),
    n: Number(values.n),
    concurrency: Number(values.concurrency),
    port: Number(values.port),
    portSpan: Number(values['port-span']),
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exitCode = r.failed > 0 ? 1 : 0;
}
