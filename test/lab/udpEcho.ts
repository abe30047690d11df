// UDP echo for the failover lab, run inside an LB node:
//
//   node --import tsx test/lab/udpEcho.ts --bind 20.20.20.1 --port 7777 --name lb1
//
// Answers every datagram with the datagram followed by the node's name, so
// the prober sees which LB answered. Bound to the VIP itself, so the reply's
// source is the VIP: in the L2 lab the VIP is only on the MASTER's interface,
// which needs net.ipv4.ip_nonlocal_bind=1 (FailoverLab sets it) to bind on
// the BACKUP too. Prints `listening <addr>:<port>` once bound; ends on
// SIGTERM/SIGINT.

import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    bind: { type: 'string' },
    port: { type: 'string' },
    name: { type: 'string' },
  },
  strict: true,
});

const bind = values.bind ?? '';
const port = Number(values.port);
const name = values.name ?? '';
if (isIP(bind) === 0) fail(`--bind "${bind}" is not an IP address`);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port "${values.port ?? ''}" is not a port (1-65535)`);
if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) fail('--name must be 1-32 letters, digits, _ . or -');

const suffix = Buffer.from(name, 'utf8');
const sock = dgram.createSocket({ type: isIP(bind) === 6 ? 'udp6' : 'udp4' });
sock.on('message', (msg, rinfo) => {
  sock.send(Buffer.concat([msg, suffix]), rinfo.port, rinfo.address);
});
sock.on('error', (e) => fail(`socket error: ${e.message}`));
sock.bind(port, bind, () => process.stdout.write(`listening ${bind}:${port}\n`));

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => sock.close(() => process.exit(0)));

function fail(msg: string): never {
  process.stderr.write(`udpEcho: ${msg}\n`);
  process.exit(2);
}
