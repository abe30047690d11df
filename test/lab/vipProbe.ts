// VIP prober for the failover lab, run inside the client node:
//
//   node --import tsx test/lab/vipProbe.ts --vip 20.20.20.1 --port 7777 [--interval 10] [--duration ms]
//
// Sends a UDP datagram carrying a sequence number to VIP:port every
// `interval` ms on a drift-free schedule (tick k is due at start + k *
// interval, however late tick k-1 ran) and records when each reply came back
// and which node answered it (udpEcho.ts appends the node's name).
//
// Commands on stdin, one per line; every answer is one JSON line on stdout:
//   status  -> {"event":"status", ...}  counters, the current responder, the
//              recent longest gap (is the path steady?) and the current streak
//   mark    -> {"event":"marked","at":t}  the measurement window starts here
//   stop    -> {"event":"result", ...}  longestGap() over [mark (or start), now], then exit
// Unprompted: {"event":"ready"} at the first reply. With --duration the
// prober stops by itself after that long. Times are ms since the prober
// started (performance.now()).

import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { longestGap, type Reply } from './longestGap.ts';

const { values } = parseArgs({
  options: {
    vip: { type: 'string' },
    port: { type: 'string' },
    interval: { type: 'string', default: '10' },
    duration: { type: 'string' },
    /** Length of the "recent" window status reports on. */
    recent: { type: 'string', default: '500' },
  },
  strict: true,
});

const vip = values.vip ?? '';
const port = Number(values.port);
const intervalMs = Number(values.interval);
const recentMs = Number(values.recent);
const durationMs = values.duration === undefined ? undefined : Number(values.duration);
if (isIP(vip) === 0) fail(`--vip "${vip}" is not an IP address`);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port "${values.port ?? ''}" is not a port (1-65535)`);
if (!(intervalMs >= 1 && intervalMs <= 10_000)) fail(`--interval "${values.interval}" must be 1-10000 ms`);
if (!(recentMs > 0)) fail(`--recent "${values.recent}" must be > 0 ms`);
if (durationMs !== undefined && !(durationMs > 0)) fail(`--duration "${values.duration}" must be > 0 ms`);

const now = () => performance.now();
const round = (ms: number) => Math.round(ms * 10) / 10;

interface Switch {
  at: number;
  from: string;
  to: string;
}

const replies: Reply[] = [];
const switches: Switch[] = [];
let sent = 0;
let lateTicks = 0;
let markAt: number | undefined;
let streak = { from: '', count: 0 };
let stopped = false;

const sock = dgram.createSocket({ type: isIP(vip) === 6 ? 'udp6' : 'udp4' });
sock.on('error', (e) => fail(`socket error: ${e.message}`));
sock.on('message', (msg, rinfo) => {
  const at = now();
  if (rinfo.address !== vip || rinfo.port !== port || msg.length < 4) return;
  const seq = msg.readUInt32BE(0);
  if (seq >= sent) return;
  const from = msg.subarray(4).toString('utf8') || '?';
  const last = replies.at(-1);
  replies.push({ at, from });
  if (!last) emit({ event: 'ready', at: round(at), from });
  else if (last.from !== from) switches.push({ at: round(at), from: last.from, to: from });
  streak = streak.from === from ? { from, count: streak.count + 1 } : { from, count: 1 };
});

/** Slot 0 of the send grid; set when the socket is bound. */
let t0 = now();
let tick = 0;
let timer: NodeJS.Timeout | undefined;

function send(): void {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(sent >>> 0, 0);
  sent++;
  // Unconnected socket: an ICMP error (no route yet) must not end the prober.
  sock.send(buf, port, vip, () => {});
}

function schedule(): void {
  if (stopped) return;
  send();
  // Drift-free: the next slot is on the grid; slots the event loop missed are skipped, not sent in a burst.
  const due = Math.floor((now() - t0) / intervalMs) + 1;
  if (due > tick + 1) lateTicks += due - tick - 1;
  tick = Math.max(tick + 1, due);
  timer = setTimeout(schedule, Math.max(0, t0 + tick * intervalMs - now()));
}

sock.bind(0, () => {
  t0 = now();
  schedule();
  if (durationMs !== undefined) setTimeout(stop, durationMs);
});

function status(): Record<string, unknown> {
  const t = now();
  const recent = longestGap(replies, { start: Math.max(t0, t - recentMs), end: t });
  const sinceMark = markAt === undefined ? undefined : longestGap(replies, { start: markAt, end: t });
  const last = replies.at(-1);
  return {
    event: 'status',
    at: round(t),
    sent,
    received: replies.length,
    lastResponder: last?.from,
    sinceLastReplyMs: last ? round(t - last.at) : undefined,
    streak,
    recent: {
      ms: Math.min(recentMs, t - t0),
      received: recent.received,
      longestGapMs: round(recent.longestGapMs),
      byResponder: recent.byResponder,
    },
    sinceMark: sinceMark && {
      received: sinceMark.received,
      longestGapMs: round(sinceMark.longestGapMs),
      byResponder: sinceMark.byResponder,
    },
  };
}

function stop(): void {
  if (stopped) return;
  stopped = true;
  clearTimeout(timer);
  const end = now();
  const start = markAt ?? t0;
  const a = longestGap(replies, { start, end });
  emit({
    event: 'result',
    intervalMs,
    window: { start: round(start), end: round(end) },
    longestGapMs: round(a.longestGapMs),
    gapFrom: round(a.gapFrom),
    gapTo: round(a.gapTo),
    recovered: a.recovered,
    firstResponder: a.firstResponder,
    lastResponder: a.lastResponder,
    byResponder: a.byResponder,
    receivedInWindow: a.received,
    sent,
    received: replies.length,
    lateTicks,
    switches,
  });
  sock.close();
  process.stdout.end(() => process.exit(0));
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'status') emit(status());
  else if (cmd === 'mark') {
    markAt = now();
    emit({ event: 'marked', at: round(markAt) });
  } else if (cmd === 'stop') stop();
  else if (cmd !== '') emit({ event: 'error', message: `unknown command "${cmd}" (status, mark, stop)` });
}).on('close', () => {
  // The harness went away (or closed our stdin on purpose): report and end.
  if (durationMs === undefined) stop();
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, stop);

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function fail(msg: string): never {
  process.stderr.write(`vipProbe: ${msg}\n`);
  process.exit(2);
}
