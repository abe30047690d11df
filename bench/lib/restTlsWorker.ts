// The client side of bench/restTls.bench.ts, run inside the client node's
// namespace: POSTs LB rules to an agent one at a time (latency, not
// throughput) over a given transport and prints one JSON line with every
// request's latency in microseconds:
//
//   node --import tsx bench/lib/restTlsWorker.ts '<json RestTlsCase>'
//
// Keep-alive cases reuse one connection (as kube-loxilb does); "new
// connection" cases open a fresh one per request, so HTTPS pays a full
// handshake each time (as loxicmd or a curl loop does).
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

export interface RestTlsCase {
  url: string;
  /** CA bundle path, for https. */
  ca?: string;
  token: string;
  keepAlive: boolean;
  /** What each request is: a POST of a new rule, or GET config/cistate/all (a cheap handler: the transport's cost shows). */
  request: 'post-rule' | 'get-cistate';
  n: number;
  /** Second and third octets of the VIPs: 10.<a>.<b>.x, x from 1; more than 250 go on to b+1. */
  vipBase: [number, number];
}

function send(c: RestTlsCase, agent: http.Agent | false, ca: Buffer | undefined, body: string | undefined): Promise<number> {
  const mod = c.url.startsWith('https:') ? https : http;
  const headers: http.OutgoingHttpHeaders = { Authorization: `Bearer ${c.token}` };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = mod.request(
      `${c.url}/netlox/v1/config/${body === undefined ? 'cistate/all' : 'loadbalancer'}`,
      { method: body === undefined ? 'GET' : 'POST', agent, ...(ca ? { ca } : {}), headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const c = JSON.parse(process.argv[2]!) as RestTlsCase;
const ca = c.ca ? readFileSync(c.ca) : undefined;
const secure = c.url.startsWith('https:');
const agent = c.keepAlive ? (secure ? new https.Agent({ keepAlive: true, maxSockets: 1, ...(ca ? { ca } : {}) }) : new http.Agent({ keepAlive: true, maxSockets: 1 })) : false;
const us: number[] = [];
for (let i = 0; i < c.n; i++) {
  const b = c.vipBase[1] + Math.floor(i / 250);
  const body = c.request === 'get-cistate' ? undefined : JSON.stringify({
    serviceArguments: { externalIP: `10.${c.vipBase[0]}.${b}.${(i % 250) + 1}`, port: 80, protocol: 'tcp', name: `bench-${i}` },
    endpoints: [{ endpointIP: '10.99.0.1', targetPort: 8080, weight: 1 }],
  });
  const t0 = process.hrtime.bigint();
  await send(c, agent, ca, body);
  us.push(Number(process.hrtime.bigint() - t0) / 1000);
}
if (agent) agent.destroy();
process.stdout.write(`${JSON.stringify({ us })}\n`);
