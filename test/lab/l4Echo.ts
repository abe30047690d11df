// Endpoint server for the datapath labs, run inside an endpoint node, on IPv4
// and IPv6 (separate IPv6-only sockets, so IPv4 peers are not shown mapped):
//
//   node --import tsx test/lab/l4Echo.ts --name ep1 --http 8080 --udp 9090 [--stream 7070]
//
// HTTP: every request gets `{"name","remote","remotePort"}`, so a test sees
// which endpoint answered and which source address the LB left on the
// packets. UDP: every datagram is answered with the same JSON. Stream (TCP):
// echoes every line back prefixed with the name, for long-lived connections.
// Prints `ready` once all listeners are bound; ends on SIGTERM/SIGINT.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { name: { type: 'string' }, http: { type: 'string' }, udp: { type: 'string' }, stream: { type: 'string' } },
  strict: true,
});
const name = values.name ?? 'ep';
const pending: Promise<void>[] = [];

if (values.http) {
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, remote: req.socket.remoteAddress, remotePort: req.socket.remotePort }));
    });
  });
  srv.keepAliveTimeout = 60_000;
  pending.push(new Promise((r) => srv.listen(Number(values.http), '0.0.0.0', r)));
  const srv6 = http.createServer(srv.listeners('request')[0] as http.RequestListener);
  srv6.keepAliveTimeout = 60_000;
  pending.push(new Promise((r) => srv6.listen({ port: Number(values.http), host: '::', ipv6Only: true }, r)));
}
if (values.udp) {
  for (const type of ['udp4', 'udp6'] as const) {
    const sock = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    sock.on('message', (_msg, rinfo) => {
      sock.send(JSON.stringify({ name, remote: rinfo.address, remotePort: rinfo.port }), rinfo.port, rinfo.address);
    });
    pending.push(new Promise((r) => sock.bind(Number(values.udp), type === 'udp4' ? '0.0.0.0' : '::', () => r())));
  }
}
if (values.stream) {
  const srv = net.createServer((s) => {
    s.setNoDelay(true);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        s.write(`${name} ${buf.slice(0, nl)}\n`);
        buf = buf.slice(nl + 1);
      }
    });
    s.on('error', () => s.destroy());
  });
  pending.push(new Promise((r) => srv.listen(Number(values.stream), '0.0.0.0', r)));
  const srv6 = net.createServer(srv.listeners('connection')[0] as (s: net.Socket) => void);
  pending.push(new Promise((r) => srv6.listen({ port: Number(values.stream), host: '::', ipv6Only: true }, r)));
}
await Promise.all(pending);
process.stdout.write('ready\n');
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
