import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
// A subscriber that stops reading, against a real ConnSync on loopback
// serving a table of our own making: its backlog is bounded, it is cut off,
// its lingering stream still counts against its peer's subscriptions, and a
// stop does not wait on it. Scans are run by hand (no timers).
import { ConnSync, MAX_SUBSCRIPTIONS_PER_PEER, type ConnTable } from '../../src/sync/ConnSync.ts';
import { CT_KEY_SIZE, CT_VAL_SIZE, LAYOUT_VERSION, encodeCt } from '../../src/datapath/layout.ts';
import type { RawEntries } from '../../src/sync/syncTable.ts';
import { syncV1, type SyncBatch__Output } from '../../src/sync/syncProto.ts';


/** n established TCP entries, source ports from `first` on. */
function entries(first: number, n: number): RawEntries {
  const keys = Buffer.alloc(n * CT_KEY_SIZE);
  const values = Buffer.alloc(n * CT_VAL_SIZE);
  for (let i = 0; i < n; i++) {
    const sport = 1 + ((first + i) % 60000);
    const saddr = `10.0.${Math.floor((first + i) / 60000) % 256}.5`;
    const c = encodeCt({
      saddr,
      daddr: '20.20.20.1',
      sport,
      dport: 80,
      proto: 'tcp',
      xsaddr: saddr,
      xdaddr: '192.168.80.21',
      xsport: sport,
      xdport: 8080,
      svc: { vip: '20.20.20.1', port: 80, proto: 'tcp' },
      ruleId: 7,
      dir: 0,
      state: 2,
      epIdx: 0,
      flags: 0,
      timeoutS: 240,
      lastNs: 1_000_000_000n,
      packets: 1n,
    });
    c.key.copy(keys, i * CT_KEY_SIZE);
    c.value.copy(values, i * CT_VAL_SIZE);
  }
  return { keys, values, count: n };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('a subscriber that stops reading is cut off at the backlog bound, keeps its slot until it goes, and does not hold up a stop', { timeout: 60_000 }, async () => {
  // Every dump is 4,000 entries the last one did not have: each scan sends 4,000 upserts and 4,000 deletes.
  let gen = 0;
  const table: ConnTable = {
    dumpConnections: () => entries(4000 * gen++, 4000),
    installConnections: () => ({ installed: 0, unknownService: 0, rejected: 0 }),
    deleteConnections: () => 0,
  };
  const port = await freePort();
  const bound = 1 << 20;
  const sync = new ConnSync(
    table,
    // The peer link dials port 9 (nothing there); scans only when asked.
    { self: 0, peers: ['127.0.0.1'], port, peerPort: 9, bindAddress: '127.0.0.1', scanIntervalMs: 3_600_000, reconnectMs: 3_600_000, isMaster: () => true, maxSubscriberBacklogBytes: bound },
    pino({ level: 'silent' }),
  );
  await sync.start();
  const client = new syncV1.ConnSync(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const slow = client.Subscribe({ node: 1, layout_version: LAYOUT_VERSION });
    let received = 0;
    const ended = new Promise<grpc.ServiceError>((resolve) => slow.on('error', resolve));
    await new Promise<void>((resolve) =>
      slow.on('data', (b: SyncBatch__Output) => {
        received += b.count;
        if (b.kind === 'FULL_END') {
          slow.pause();
          resolve();
        }
      }),
    );
    const fullCount = received;
    assert.equal(fullCount, 4000, 'the full table arrived');

    let sent = 0;
    for (let i = 0; i < 500 && sync.status().droppedSubscribers === 0; i++) {
      sync.scan();
      sent += 8000;
      await tick();
    }
    const st = sync.status();
    assert.equal(st.droppedSubscribers, 1, `cut off after ${sent} entries were queued`);
    assert.equal(st.subscribers, 0);

    // Its stream is still open (it holds what was queued): it counts against its peer.
    const others = Array.from({ length: MAX_SUBSCRIPTIONS_PER_PEER }, () => client.Subscribe({ node: 1, layout_version: LAYOUT_VERSION }));
    const outcomes = await Promise.all(
      others.map(
        (c) =>
          new Promise<string>((resolve) => {
            c.on('data', (b: SyncBatch__Output) => b.kind === 'FULL_END' && resolve('OK'));
            c.on('error', (e: grpc.ServiceError) => resolve(grpc.status[e.code]!));
          }),
      ),
    );
    assert.deepEqual(outcomes.sort(), ['OK', 'RESOURCE_EXHAUSTED'], 'one slot left for the peer while the cut-off stream lingers');
    assert.equal(sync.status().refusedSubscribers, 1);

    // Reading again, it gets what was queued before the cut, then the reason.
    slow.resume();
    const err = await ended;
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /subscriber too slow: reconnect and pull the table again/);
    assert.ok(received - fullCount < sent, `it got ${received - fullCount} of the ${sent} updates offered`);
    for (const c of others) c.cancel();
  } finally {
    // A stop with a subscriber still open (paused) does not hang.
    const stuck = client.Subscribe({ node: 1, layout_version: LAYOUT_VERSION });
    stuck.on('error', () => {});
    stuck.pause();
    await sync.close();
    client.close();
  }
});
