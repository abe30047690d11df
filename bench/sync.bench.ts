// Connection sync throughput: entries per second from one node's eBPF
// conntrack map into another's, through ConnSync over gRPC on loopback.
//
//   npm run bench:sync [-- --entries 100000 --rounds 3]
//
// Two real datapaths (two loads of native/build/lb.bpf.o, so two sets of
// maps; nothing is attached to any interface) and two ConnSync instances in
// this process, serving on 127.0.0.1:22301 and :22302. The source table is
// filled with `entries` established TCP connections of one fullnat service
// that both nodes have a rule for. Measured, best of `rounds`:
// - full pull: a fresh subscriber pulls the whole table (dump, batches of
//   8192, adopt, batch install) until FULL_END is installed;
// - live updates: the MASTER's scan finds `entries` new connections and
//   streams them; time until the subscriber has installed them all.
// Baseline in the same run: the kernel's own batch install of the same
// entries (bpf_map_update_batch), the ceiling for any sync. Goal: at least
// 100,000 entries/s. Needs root (BPF).
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Datapath } from '../src/datapath/Datapath.ts';
import { CT_KEY_SIZE, CT_VAL_SIZE, encodeCt } from '../src/datapath/layout.ts';
import { ConnSync, peerQuota } from '../src/sync/ConnSync.ts';
import { ruleKey, type LbRule } from '../src/lb/LbRule.ts';

const { values } = parseArgs({ options: { entries: { type: 'string' }, rounds: { type: 'string' } }, strict: true });
const N = Number(values.entries ?? '100000');
const ROUNDS = Number(values.rounds ?? '3');
const log = pino({ level: 'warn' });

const rule: LbRule = {
  serviceArguments: { externalIP: '20.20.20.1', port: 80, protocol: 'tcp', sel: 0, mode: 2, bgp: false, monitor: false, block: 0 },
  endpoints: [
    { endpointIP: '192.168.80.21', targetPort: 8080, weight: 1 },
    { endpointIP: '192.168.80.22', targetPort: 8080, weight: 1 },
  ],
  secondaryIPs: [],
  allowedSources: [],
};

/** n established connections (original-direction entries, fullnat from the VIP), key offset `base`. */
function table(n: number, base: number): { keys: Buffer; values: Buffer } {
  const keys = Buffer.alloc(n * CT_KEY_SIZE);
  const vals = Buffer.alloc(n * CT_VAL_SIZE);
  const svc = { vip: '20.20.20.1', port: 80, proto: 'tcp' as const };
  const now = BigInt(Math.round(performance.now() * 1e6));
  for (let i = 0; i < n; i++) {
    const id = base + i;
    const e = encodeCt({
      saddr: `10.${(id >>> 22) & 0xff}.${(id >>> 14) & 0xff}.1`,
      daddr: svc.vip,
      sport: 1024 + (id & 0x3fff),
      dport: 80,
      proto: 'tcp',
      xsaddr: svc.vip,
      xdaddr: `192.168.80.${21 + (id & 1)}`,
      xsport: 10000 + (id % 50000),
      xdport: 8080,
      svc,
      ruleId: 0,
      dir: 0,
      state: 2, // est
      epIdx: id & 1,
      flags: 0,
      timeoutS: 240,
      lastNs: now,
    });
    e.key.copy(keys, i * CT_KEY_SIZE);
    e.value.copy(vals, i * CT_VAL_SIZE);
  }
  return { keys, values: vals };
}

function rate(n: number, ms: number): string {
  return `${Math.round(n / (ms / 1000)).toLocaleString('en-US')}`;
}

async function waitUntil(pred: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function main(): Promise<void> {
  const a = Datapath.open({}, log);
  const b = Datapath.open({}, log);
  const ctx = { alive: () => true, instanceVip: () => undefined, localAddresses: () => [], onLink: () => true };
  a.program([[ruleKey(rule.serviceArguments), rule]], ctx);
  b.program([[ruleKey(rule.serviceArguments), rule]], ctx);
  const t = table(N, 0);

  // Baseline: the kernel's batch install of the same entries.
  let baseMs = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    b.deleteConnections(b.dumpConnections().keys);
    const t0 = performance.now();
    for (let i = 0; i < N; i += 8192) {
      const n = Math.min(8192, N - i);
      b.installConnections(t.keys.subarray(i * CT_KEY_SIZE, (i + n) * CT_KEY_SIZE), t.values.subarray(i * CT_VAL_SIZE, (i + n) * CT_VAL_SIZE));
    }
    baseMs = Math.min(baseMs, performance.now() - t0);
  }
  b.deleteConnections(b.dumpConnections().keys);

  a.installConnections(t.keys, t.values);
  let master = true;
  const syncA = new ConnSync(a, { self: 0, peers: [], subscribers: ['127.0.0.1'], port: 22301, bindAddress: '127.0.0.1', isMaster: () => master, scanIntervalMs: 50 }, log);
  await syncA.start();

  // Full pull: a fresh subscriber each round.
  let fullMs = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    b.deleteConnections(b.dumpConnections().keys);
    const syncB = new ConnSync(b, { self: 1, peers: ['127.0.0.1'], port: 22302, peerPort: 22301, bindAddress: '127.0.0.1', isMaster: () => false, maxEntriesPerPeer: peerQuota(b.ctCapacity) }, log);
    const t0 = performance.now();
    await syncB.start();
    await waitUntil(() => syncB.status().peers[0]!.fullPulls > 0, 60_000);
    fullMs = Math.min(fullMs, performance.now() - t0);
    const got = b.dumpConnections().count;
    if (got !== N) throw new Error(`full pull installed ${got} of ${N}`);
    await syncB.close();
  }

  // Live updates: N new connections appear on the MASTER.
  let liveMs = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    b.deleteConnections(b.dumpConnections().keys);
    const syncB = new ConnSync(b, { self: 1, peers: ['127.0.0.1'], port: 22302, peerPort: 22301, bindAddress: '127.0.0.1', isMaster: () => false, maxEntriesPerPeer: peerQuota(b.ctCapacity) }, log);
    await syncB.start();
    await waitUntil(() => syncB.status().peers[0]!.fullPulls > 0, 60_000);
    await new Promise((res) => setTimeout(res, 200)); // the scanner's snapshot now holds the old table
    const fresh = table(N, (r + 1) * N);
    const before = syncB.status().peers[0]!.received;
    const t0 = performance.now();
    a.installConnections(fresh.keys, fresh.values);
    await waitUntil(() => syncB.status().peers[0]!.received - before >= N, 60_000);
    liveMs = Math.min(liveMs, performance.now() - t0);
    await syncB.close();
    a.deleteConnections(fresh.keys);
  }
  master = false;
  await syncA.close();
  a.close();
  b.close();

  const rows = [
    ['kernel batch install (baseline)', baseMs],
    ['sync: full pull', fullMs],
    ['sync: live updates (MASTER scan + stream)', liveMs],
  ] as const;
  console.log(`\nConnection sync throughput, ${N.toLocaleString('en-US')} entries, best of ${ROUNDS}\n`);
  console.log('| path | time | entries/s | vs baseline | goal >= 100,000/s |');
  console.log('|---|---|---|---|---|');
  for (const [name, ms] of rows) {
    const eps = N / (ms / 1000);
    const goal = name.startsWith('sync') ? (eps >= 100_000 ? 'met' : 'MISSED') : '';
    console.log(`| ${name} | ${ms.toFixed(0)} ms | ${rate(N, ms)} | ${(baseMs / ms).toFixed(2)}x | ${goal} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
