// SCTP test peer over raw sockets (test/lab/SctpHost.ts), run inside a
// network namespace. Needs root.
//
//   ip netns exec NS node --import tsx test/lab/sctpPeer.ts server --port 9000 --name ep1 \
//       [--address 10.0.1.10 ...] [--abort-unknown] [--family 4|6] [--rcvbuf BYTES]
//   ip netns exec NS node --import tsx test/lab/sctpPeer.ts client [--rcvbuf BYTES]
//
// It speaks the bench workers' line protocol on stdin/stdout (see
// bench/lib/workerProtocol.ts): `{"id":N,"op":...,"args":{...}}` in,
// `{"id":N,"ok":true,"result":...}` or `{"id":N,"ok":false,"error":"..."}`
// out, `{"id":0,...}` once ready; it ends when stdin closes or on SIGTERM.
// test/lab/SctpPeerProcess.ts drives it from a test. --abort-unknown makes
// it answer packets no server or association of its own claims with ABORT,
// as a kernel SCTP stack would: only for the namespace's one SCTP user,
// since every raw SCTP socket sees every SCTP packet of the namespace. With --detached (a
// server only) it reads no stdin, prints one `{"event":"listening",...}`
// line and runs until SIGTERM, then prints `{"event":"stats",...}`.
//
// Ops (any mode; `assoc` defaults to the latest association):
//   listen {port, name?, addresses?, families?}        -> {port}
//   connect {server, port, localPort?, src?, addresses?, rtoMs?, maxRetransmits?}
//                                                     -> {assoc, localPort, localTag, peerTag, serverAddresses}
//   send {data, assoc?}                                -> {text, from, to, transmissions}
//   heartbeat {assoc?, dst?, src?}                     -> {from, to}
//   setPath {assoc?, dst?, src?}                       -> {dst, src}
//   shutdown {assoc?} / abort {assoc?}                 -> {}
//   associations {port?}                               -> the servers' SctpServerAssociation[]
//   probe {ip, port, timeoutMs?}                       -> SctpProbeResult (the agent's SctpProber)
//   sendRaw {dst, hex, src?}                           -> {sent}: bytes as they are, as the SCTP payload
//   stats                                              -> {host: SctpHostStats, badChecksums, clients, sockets}
//   loadStart {targets, associations, window, payloadBytes, src?, rtoMs?}
//                                                     -> {associations, setupMs}: test/lab/SctpLoad.ts, one at a time
//   loadMark                                           -> SctpLoadCounters (the load runs on; no per-packet I/O here)
//   loadStop {drainMs?}                                -> SctpLoadResult, after the drain and the shutdowns
//
// `sockets` are the raw sockets' own counters (RawSocketStats: packets the
// kernel handed over, and droppedOverflow, those lost because JS fell
// behind). --rcvbuf sets their kernel receive buffer (SO_RCVBUF, capped by
// net.core.rmem_max): a load keeps many packets in flight.
import { parseArgs } from 'node:util';
import { serveOps, type Args, type Ops } from '../../bench/lib/workerProtocol.ts';
import { SctpProber } from '../../src/lb/SctpProber.ts';
import { IPPROTO_SCTP, RawSocket, type IpFamily, type RawSocketFactory } from '../../src/net/RawSocket.ts';
import { SctpHost, type SctpClient, type SctpServer } from './SctpHost.ts';
import { SctpLoad } from './SctpLoad.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string' },
    name: { type: 'string' },
    address: { type: 'string', multiple: true },
    family: { type: 'string', multiple: true },
    'abort-unknown': { type: 'boolean' },
    detached: { type: 'boolean' },
    rcvbuf: { type: 'string' },
  },
  strict: true,
});

const mode = positionals[0];
if (mode !== 'server' && mode !== 'client') fail('usage: sctpPeer.ts server --port N [--name X] [--address A]... [--abort-unknown] [--family 4|6] [--detached] | client');
const families = (values.family ?? ['4', '6']).map((f) => {
  if (f !== '4' && f !== '6') fail(`--family "${f}" must be 4 or 6`);
  return Number(f) as IpFamily;
});

const rcvbuf = values.rcvbuf === undefined ? 0 : Number(values.rcvbuf);
if (!Number.isInteger(rcvbuf) || rcvbuf < 0) fail(`--rcvbuf "${values.rcvbuf ?? ''}" is not a byte count`);
const sockets: RawSocket[] = [];
const openSocket: RawSocketFactory = (family, onPacket) => {
  const s = RawSocket.open(family, IPPROTO_SCTP, onPacket, { receiveBufferBytes: rcvbuf });
  sockets.push(s);
  return s;
};
const host = new SctpHost({ openSocket, answerOutOfTheBlue: values['abort-unknown'] ?? false });
const servers = new Map<number, SctpServer>();
const clients = new Map<number, SctpClient>();
let nextAssoc = 1;
let prober: SctpProber | undefined;
let load: SctpLoad | undefined;

function listen(port: number, name: string | undefined, addresses: string[] | undefined, fams: IpFamily[] = families): SctpServer {
  const s = host.listen({ port, name, addresses, families: fams });
  servers.set(port, s);
  return s;
}

try {
  host.open(families);
  if (mode === 'server') {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port "${values.port ?? ''}" is not a port (1-65535)`);
    listen(port, values.name, values.address);
  }
} catch (err) {
  fail((err as Error).message);
}

function client(args: Args): SctpClient {
  const id = args.assoc === undefined ? nextAssoc - 1 : Number(args.assoc);
  const c = clients.get(id);
  if (c === undefined) throw new Error(`no association ${id}`);
  return c;
}

const ops: Ops = {
  listen: async (a) => ({ port: listen(Number(a.port), a.name, a.addresses, a.families).port }),
  connect: async (a) => {
    const c = await host.connect({
      server: String(a.server),
      port: Number(a.port),
      localPort: a.localPort,
      src: a.src,
      addresses: a.addresses,
      rtoMs: a.rtoMs,
      maxRetransmits: a.maxRetransmits,
    });
    const assoc = nextAssoc++;
    clients.set(assoc, c);
    return { assoc, localPort: c.localPort, localTag: c.localTag, peerTag: c.peerTag, serverAddresses: c.serverAddresses };
  },
  send: async (a) => {
    const e = await client(a).send(String(a.data));
    return { text: e.text, from: e.from, to: e.to, transmissions: e.transmissions };
  },
  heartbeat: async (a) => client(a).heartbeat({ dst: a.dst, src: a.src }),
  setPath: async (a) => {
    const c = client(a);
    c.setPath({ dst: a.dst, src: a.src });
    return { ...c.path };
  },
  shutdown: async (a) => {
    await client(a).shutdown();
    return {};
  },
  abort: async (a) => {
    client(a).abort();
    return {};
  },
  associations: async (a) => [...servers.values()].filter((s) => a.port === undefined || s.port === Number(a.port)).flatMap((s) => s.associations()),
  probe: async (a) => {
    prober ??= new SctpProber();
    return prober.probe(String(a.ip), Number(a.port), a.timeoutMs ?? 1000);
  },
  sendRaw: async (a) => ({ sent: host.sendRaw(String(a.dst), Buffer.from(String(a.hex), 'hex'), a.src) }),
  stats: async () => ({
    host: host.stats(),
    badChecksums: host.badChecksums,
    clients: [...clients].map(([assoc, c]) => ({ assoc, state: c.state, path: c.path, ...c.stats() })),
    sockets: sockets.map((s) => ({ family: s.family, ...s.stats() })),
  }),
  loadStart: async (a) => {
    if (load !== undefined) throw new Error('a load is running: loadStop first');
    const t0 = performance.now();
    // Set below only once every association is up, so a failed start leaves no load behind.
    const l = await SctpLoad.start(host, {
      targets: (a.targets as { server: string; port: number }[]).map((t) => ({ server: String(t.server), port: Number(t.port) })),
      associations: Number(a.associations),
      window: Number(a.window),
      payloadBytes: Number(a.payloadBytes),
      src: a.src,
      rtoMs: a.rtoMs,
    });
    load = l;
    return { associations: l.counters().associations, setupMs: performance.now() - t0 };
  },
  loadMark: async () => {
    if (load === undefined) throw new Error('no load is running');
    return load.counters();
  },
  loadStop: async (a) => {
    const l = load;
    if (l === undefined) throw new Error('no load is running');
    try {
      return await l.stop(a.drainMs ?? 3000);
    } finally {
      load = undefined;
    }
  },
};

function shutdown(): void {
  load?.close();
  prober?.close();
  host.close();
}

if (values.detached) {
  if (mode !== 'server') fail('--detached is for servers only');
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: Number(values.port), families, pid: process.pid })}\n`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      process.stdout.write(`${JSON.stringify({ event: 'stats', host: host.stats(), badChecksums: host.badChecksums, associations: [...servers.values()].flatMap((s) => s.associations()) })}\n`);
      shutdown();
      process.exit(0);
    });
  }
} else {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      shutdown();
      process.exit(0);
    });
  }
  serveOps(`sctpPeer ${values.name ?? mode}`, ops, shutdown);
}

function fail(msg: string): never {
  process.stderr.write(`sctpPeer: ${msg}\n`);
  process.exit(2);
}
