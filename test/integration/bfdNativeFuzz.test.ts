// Fuzzing BFD through the native receive path: fast-check datagrams (valid
// packets aimed at our sessions, mutations of them, random bytes), sent over
// real UDP sockets on loopback with TTL 255 or less, from a plain-session
// peer, a keyed-SHA1-session peer and a stranger, into the addon's receive
// thread (recvmsg, GTSM check, discriminator key, queue) and on through the
// BfdManager to its sessions. Nothing may throw or stop the receiver; every
// datagram is accounted for (dropped for its TTL in the addon, or delivered
// and then handed to a session or dropped with a known reason); no packet
// pushes a session's Detection Time past the remote limits. Loopback only,
// no root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { BFD_RX_DROP_REASONS, BfdManager } from '../../src/bfd/BfdManager.ts';
import { BFD_DEFAULT_REMOTE_LIMITS } from '../../src/bfd/BfdSession.ts';
import { NativeBfdTransport } from '../../src/bfd/NativeBfdTransport.ts';
import { bfdDatagrams } from '../lab/bfdFuzz.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const KEY = Buffer.from('a-fuzzing-key-of-20b');
/** The plain session's peer, the keyed session's peer, and an address no session has. */
const PEERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'] as const;
const DISCS = [0x1111, 0x2222];

async function udpFrom(address: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ address, port, exclusive: true }, () => resolve());
  });
  return s;
}

test('fast-check datagrams over loopback into the addon and the manager: no throw, every one accounted for, Detection Time bounded', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fuzzbfdnative-'));
  writeFileSync(path.join(dir, 'k'), KEY);
  const transport = new NativeBfdTransport({ listenPort: 0, ipv4Address: '127.0.0.1', ipv6Address: null });
  const draws = [DISCS[0]!, 7, DISCS[1]!, 9];
  // Slow timers so nothing of ours expires during the run: what the fuzzer asks for is what moves the sessions.
  const m = new BfdManager({ transport, keyDir: dir, randomUint32: () => draws.shift() ?? 12345 });
  const senders: dgram.Socket[] = [];
  try {
    await m.start();
    const port = transport.listeners()[0]!.port;
    await m.addSession({ instance: 'i', remoteIp: PEERS[0], txIntervalUs: 1_000_000, multiplier: 3 });
    await m.addSession({ instance: 'i', remoteIp: PEERS[1], txIntervalUs: 1_000_000, multiplier: 3, auth: { type: 'keyed-sha1', keyId: 1, keyFile: 'k' } });
    for (const [i, a] of PEERS.entries()) senders.push(await udpFrom(a, 49200 + i));
    const known = new Set<string>(BFD_RX_DROP_REASONS);

    // Valid-looking packets aimed at our sessions, mutations of them, random bytes up to past the receive buffer.
    const datagram = bfdDatagrams(KEY, DISCS, 2000);
    const step = fc.tuple(datagram, fc.constantFrom(0, 1, 2), fc.constantFrom(255, 255, 255, 254, 64, 1));

    let sent = 0;
    let lowTtl = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
        for (const [buf, who, ttl] of steps) {
          const s = senders[who]!;
          s.setTTL(ttl);
          await new Promise<void>((resolve, reject) => s.send(buf, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
          sent++;
          if (ttl !== 255) lowTtl++;
        }
        // The receive thread hands packets over asynchronously: wait until every one has arrived.
        const deadline = Date.now() + 5000;
        const settled = () => {
          const t = transport.stats();
          return t.received >= sent && t.delivered + t.droppedTtl + t.droppedOverflow + t.errors >= t.received;
        };
        while (!settled()) {
          if (Date.now() > deadline) assert.fail(`the addon read ${transport.stats().received} of ${sent} datagrams`);
          await sleep(2);
        }
        while (m.stats().received < transport.stats().delivered && Date.now() < deadline) await sleep(2);
        const t = transport.stats();
        assert.equal(t.errors, 0, 'no receive errors');
        assert.equal(t.handlerErrors, 0, 'the manager never threw');
        assert.equal(t.droppedOverflow, 0);
        assert.equal(t.droppedTtl, lowTtl, 'every datagram without TTL 255 dropped in the addon (RFC 5881 §5)');
        assert.equal(t.delivered, sent - lowTtl, 'every other one delivered');
        const st = m.stats();
        const managerDrops = Object.values(st.drops).reduce((a, b) => a + b, 0);
        assert.equal(st.received, t.delivered);
        assert.equal(st.delivered + managerDrops, st.received, 'every delivered datagram went to a session or was dropped with a reason');
        for (const s of m.list()) {
          const bound = BFD_DEFAULT_REMOTE_LIMITS.maxRemoteMult * Math.max(s.configured.rxIntervalUs, BFD_DEFAULT_REMOTE_LIMITS.maxRemoteTxUs);
          assert.ok(s.detectionTimeUs <= bound, `Detection Time ${s.detectionTimeUs} µs beyond the bound ${bound}`);
          for (const r of Object.keys(s.rxDrops)) assert.ok(known.has(r), `unknown drop reason ${r}`);
        }
      }),
      // The manager is stateful across runs: a failure is reported as found, not shrunk.
      { numRuns: RUNS, endOnFailure: true },
    );
    process.stderr.write(`# ${sent} datagrams (${lowTtl} below TTL 255) through the addon; manager drops ${JSON.stringify(m.rxDropTotals())}\n`);
    assert.ok(m.list().some((s) => s.rxDrops && Object.keys(s.rxDrops).length > 0) || Object.values(m.stats().drops).some((n) => n > 0), 'the fuzzer reached the drop paths');
  } finally {
    for (const s of senders) s.close();
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
