// Client for the datapath labs, run inside the client node:
//
//   node --import tsx test/lab/l4Client.ts http --target 20.20.20.1:80 --count 10 [--timeout 2000]
//   node --import tsx test/lab/l4Client.ts udp  --target 20.20.20.1:90 --count 4
//
// Makes `count` requests one after another, each on a new connection (HTTP
// with Connection: close; UDP from a new socket), and prints one JSON line:
// `{"replies":[{name,remote,remotePort} | {"error":code}]}`.
import dgram from 'node:dgram';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { target: { type: 'string' }, count: { type: 'string' }, timeout: { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
const [host, portText] = (values.target ?? '').split(':');
const port = Number(portText);
const count = Number(values.count ?? '1');
const timeoutMs = Number(values.timeout ?? '2000');

function httpOnce(): Promise<unknown> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve({ error: 'BADBODY' });
        }
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

function udpOnce(): Promise<unknown> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (v: unknown) => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done({ error: 'ETIMEDOUT' }), timeoutMs);
    s.on('message', (m) => done(JSON.parse(m.toString())));
    s.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
    // Connected: only replies from the VIP itself are accepted, as a real client would.
    s.connect(port, host, () => s.send('ping'));
  });
}

const replies: unknown[] = [];
for (let i = 0; i < count; i++) replies.push(await (positionals[0] === 'udp' ? udpOnce() : httpOnce()));
process.stdout.write(`${JSON.stringify({ replies })}\n`);
