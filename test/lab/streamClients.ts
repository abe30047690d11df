// Long-lived TCP connections for the hitless-failover tests, run in the client:
//
//   node --import tsx test/lab/streamClients.ts --target 20.20.20.1:7070 --conns 100 --every 10 --duration 8000
//
// Opens `conns` connections (all before any traffic), then each sends a
// numbered line every `every` ms and expects the echo (l4Echo's stream
// port answers `<name> <line>`). Prints `established` once all are up, then
// at the end one JSON line: per connection whether it failed (and how, and
// when: epoch ms), how many lines came back, the longest silence between two
// echoes, and which endpoint answered. With `--progress <ms>` it also prints, every that many
// ms, `progress {"sent","echoed","bytes"}` summed over the connections
// (bytes: echo bytes received), so a watcher sees traffic as it flows.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { target: { type: 'string' }, conns: { type: 'string' }, every: { type: 'string' }, duration: { type: 'string' }, progress: { type: 'string' } },
  strict: true,
});
const [host, portText] = (values.target ?? '').split(':');
const port = Number(portText);
const conns = Number(values.conns ?? '100');
const every = Number(values.every ?? '10');
const duration = Number(values.duration ?? '8000');
const progressMs = Number(values.progress ?? '0');

interface Conn {
  sock: net.Socket;
  sent: number;
  echoed: number;
  bytes: number;
  lastEcho: number;
  maxGapMs: number;
  endpoints: Set<string>;
  error?: string;
  /** When it failed or closed (epoch ms, to set beside the faults of a soak). */
  endedAt?: number;
  closed: boolean;
}

const all: Conn[] = [];
const ended = (c: Conn) => (c.endedAt ??= Date.now());
await Promise.all(
  Array.from({ length: conns }, () => new Promise<void>((resolve) => {
    const sock = net.connect({ host, port });
    const c: Conn = { sock, sent: 0, echoed: 0, bytes: 0, lastEcho: 0, maxGapMs: 0, endpoints: new Set(), closed: false };
    all.push(c);
    let buf = '';
    sock.setNoDelay(true);
    sock.on('connect', () => resolve());
    sock.on('data', (d) => {
      c.bytes += d.length;
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        c.endpoints.add(line.split(' ')[0] ?? '');
        const now = performance.now();
        if (c.lastEcho > 0) c.maxGapMs = Math.max(c.maxGapMs, now - c.lastEcho);
        c.lastEcho = now;
        c.echoed++;
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      c.error ??= e.code ?? e.message;
      ended(c);
      resolve();
    });
    sock.on('close', () => {
      c.closed = true;
      ended(c);
    });
  })),
);
process.stdout.write('established\n');
const start = performance.now();
const timer = setInterval(() => {
  for (const c of all) {
    if (c.closed || c.error) continue;
    c.sock.write(`${++c.sent}\n`);
  }
}, every);
const progress =
  progressMs > 0
    ? setInterval(() => {
        const sum = (k: 'sent' | 'echoed' | 'bytes') => all.reduce((n, c) => n + c[k], 0);
        process.stdout.write(`progress ${JSON.stringify({ sent: sum('sent'), echoed: sum('echoed'), bytes: sum('bytes') })}\n`);
      }, progressMs)
    : undefined;
// Ends at --duration, or earlier on SIGINT (a soak that knows when it is done).
await new Promise<void>((r) => {
  const t = setTimeout(r, duration);
  process.once('SIGINT', () => {
    clearTimeout(t);
    r();
  });
});
clearInterval(timer);
clearInterval(progress);
// Let the last echoes arrive.
await new Promise((r) => setTimeout(r, 300));
const now = performance.now();
const summary = all.map((c, i) => ({
  i,
  error: c.error ?? (c.closed ? 'CLOSED' : undefined),
  ...(c.endedAt !== undefined ? { endedAt: c.endedAt } : {}),
  sent: c.sent,
  echoed: c.echoed,
  bytes: c.bytes,
  // A connection that went silent at the end counts that silence too.
  maxGapMs: Math.round(Math.max(c.maxGapMs, c.lastEcho > 0 ? now - 300 - c.lastEcho : now - start)),
  endpoints: [...c.endpoints],
}));
for (const c of all) c.sock.destroy();
process.stdout.write(`${JSON.stringify({ conns: summary })}\n`);
process.exit(0);
