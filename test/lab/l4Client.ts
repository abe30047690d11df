// Client for the datapath labs, run inside the client node:
//
//   node --import tsx test/lab/l4Client.ts http --target 20.20.20.1:80 --count 10 [--timeout 2000]
//   node --import tsx test/lab/l4Client.ts udp  --target 20.20.20.1:90 --count 4
//
// --local-port P makes every request use that client port (HTTP), as a
// client reusing its ports does; each connection then ends with a RST, so
// the port is free again at once (no TIME_WAIT on the client).
// Makes `count` requests one after another, each on a new connection (HTTP
// with Connection: close; UDP from a new socket), and prints one JSON line:
// `{"replies":[{name,remote,remotePort} | {"error":code}]}`.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { target: { type: 'string' }, count: { type: 'string' }, timeout: { type: 'string' }, 'local-port': { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
// host:port, or [v6]:port
const target = values.target ?? '';
const m = /^\[(.+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
if (!m) throw new Error(`--target must be host:port or [ipv6]:port, got ${target}`);
const host = m[1]!;
const port = Number(m[2]);
const count = Number(values.count ?? '1');
const timeoutMs = Number(values.timeout ?? '2000');
const localPort = values['local-port'] ? Number(values['local-port']) : undefined;

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

/** One HTTP/1.0 request from a fixed client port, ended with a RST so the port is free at once. */
function httpFromPort(): Promise<unknown> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, localPort, allowHalfOpen: true });
    let buf = '';
    const t = setTimeout(() => {
      sock.destroy();
      resolve({ error: 'ETIMEDOUT' });
    }, timeoutMs);
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    sock.on('data', (d) => (buf += d.toString()));
    sock.on('end', () => {
      clearTimeout(t);
      sock.resetAndDestroy();
      try {
        resolve(JSON.parse(buf.slice(buf.indexOf('\r\n\r\n') + 4)));
      } catch {
        resolve({ error: 'BADBODY' });
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve({ error: e.code ?? e.message });
    });
  });
}

function udpOnce(): Promise<unknown> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
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
const once = positionals[0] === 'udp' ? udpOnce : localPort !== undefined ? httpFromPort : httpOnce;
for (let i = 0; i < count; i++) replies.push(await once());
process.stdout.write(`${JSON.stringify({ replies })}\n`);
