// Fuzzing BFD reception: random datagrams and mutations of valid ones, from
// the peer's address and from others, into the decoder, the manager's
// demultiplexing and the sessions (plain and keyed SHA1). Nothing may throw,
// every packet is either handed to a session or dropped for a known reason,
// and no packet can push a session's Detection Time past the remote limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ManualClock } from '../../src/util/clock.ts';
import { BfdState, decodeBfdPacket, encodeBfdPacket } from '../../src/bfd/BfdPacket.ts';
import { BFD_RX_DROP_REASONS, BfdManager } from '../../src/bfd/BfdManager.ts';
import { BFD_DEFAULT_REMOTE_LIMITS } from '../../src/bfd/BfdSession.ts';
import type { BfdPacketHandler, BfdTransport } from '../../src/bfd/BfdTransport.ts';
import { bfdDatagrams } from '../lab/bfdFuzz.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const KEY = Buffer.from('a-fuzzing-key-of-20b');
const PEERS = ['10.0.0.2', '10.0.0.3'];
const DISCS = [0x1111, 0x2222];

test('decodeBfdPacket never throws on any bytes, and what it accepts re-encodes to a packet that decodes the same', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (u) => {
      const r = decodeBfdPacket(Buffer.from(u));
      if (r.ok) assert.deepEqual(decodeBfdPacket(encodeBfdPacket(r.packet)), r);
    }),
    { numRuns: RUNS * 20 },
  );
});

test('random and mutated datagrams through the manager and its sessions: no throw, every packet accounted for, Detection Time bounded', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fuzzbfd-'));
  writeFileSync(path.join(dir, 'k'), KEY);
  let deliver!: BfdPacketHandler;
  const transport: BfdTransport = {
    listen: async (h) => {
      deliver = h;
    },
    openSender: async () => ({ localPort: 49152, send: () => undefined, stats: () => ({ sent: 0, errors: 0 }), close: () => undefined }),
    close: async () => undefined,
  };
  const clock = new ManualClock();
  // Discriminator, auth sequence seed, discriminator, seed: our sessions get DISCS.
  const draws = [DISCS[0]!, 7, DISCS[1]!, 9];
  const m = new BfdManager({ transport, clock, keyDir: dir, randomUint32: () => draws.shift() ?? 12345 });
  let ups = 0;
  m.on('stateChange', (c) => {
    if (c.to === BfdState.Up) ups++;
  });
  await m.start();
  await m.addSession({ instance: 'i', remoteIp: PEERS[0]!, txIntervalUs: 100_000, multiplier: 3 });
  await m.addSession({ instance: 'i', remoteIp: PEERS[1]!, txIntervalUs: 100_000, multiplier: 3, auth: { type: 'keyed-sha1', keyId: 1, keyFile: 'k' } });
  const known = new Set<string>(BFD_RX_DROP_REASONS);

  // Valid-looking packets aimed at our sessions, mutations of them, random bytes.
  const datagram = bfdDatagrams(KEY, DISCS);
  const source = fc.constantFrom(...PEERS, '10.6.6.6', '::ffff:10.0.0.2', 'fd00::2');

  let sent = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(datagram, source, fc.nat(300)), { minLength: 1, maxLength: 20 }), (steps) => {
      for (const [buf, src, waitMs] of steps) {
        deliver(buf, { srcAddr: src, srcPort: 49152, ttl: 255 });
        sent++;
        clock.advance(waitMs);
      }
      for (const s of m.list()) {
        const bound = BFD_DEFAULT_REMOTE_LIMITS.maxRemoteMult * Math.max(s.configured.rxIntervalUs, BFD_DEFAULT_REMOTE_LIMITS.maxRemoteTxUs);
        assert.ok(s.detectionTimeUs <= bound, `Detection Time ${s.detectionTimeUs} µs beyond the bound ${bound}`);
        assert.ok(s.txIntervalUs <= Math.max(s.configured.txIntervalUs, 1_000_000, BFD_DEFAULT_REMOTE_LIMITS.maxRemoteRxUs));
        for (const r of Object.keys(s.rxDrops)) assert.ok(known.has(r), `unknown drop reason ${r}`);
      }
      const st = m.stats();
      const managerDrops = Object.values(st.drops).reduce((a, b) => a + b, 0);
      assert.equal(st.received, sent);
      assert.equal(st.delivered + managerDrops, sent, 'every packet went to a session or was dropped with a reason');
    }),
    // The manager is stateful across runs: a failure is reported as found, not shrunk.
    { numRuns: RUNS, endOnFailure: true },
  );
  assert.ok(ups > 10, `the fuzzer brought sessions Up (${ups} times), so the bounds were exercised`);
  // A minute of silence: every session is Down, whatever the fuzzer made the peers ask for.
  clock.advance(60_000);
  for (const s of m.list()) assert.notEqual(s.state, BfdState.Up);
  await m.close();
  rmSync(dir, { recursive: true, force: true });
});
