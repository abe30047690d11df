// BFD against hostile input: key files only from the key directory, only
// regular files, bounded and non-blocking, with errors that reveal nothing
// about other files; a peer's timers held at the remote limits so one spoofed
// packet cannot keep a dead peer Up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../src/bfd/clock.ts';
import { BfdAuthType, BfdDiag, BfdState, encodeBfdPacket } from '../../src/bfd/BfdPacket.ts';
import { BFD_DEFAULT_REMOTE_LIMITS, BfdSession } from '../../src/bfd/BfdSession.ts';
import { BFD_KEY_FILE_MAX_BYTES, readBfdKeyFile } from '../../src/bfd/bfdKeyFile.ts';
import { ValidationError } from '../../src/util/errors.ts';
import { BfdManager } from '../../src/bfd/BfdManager.ts';
import type { BfdPacketHandler, BfdTransport } from '../../src/bfd/BfdTransport.ts';
import { controlPacket } from '../lab/bfdPackets.ts';

const SHA1 = BfdAuthType.KeyedSha1;

function withKeyDir(fn: (dir: string, outside: string) => void): void {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bfdkeys-'));
  const dir = path.join(root, 'bfd-keys');
  const outside = path.join(root, 'outside');
  mkdirSync(dir);
  mkdirSync(outside);
  try {
    fn(dir, outside);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function refusal(dir: string, keyFile: string, type: BfdAuthType = SHA1): string {
  try {
    readBfdKeyFile(dir, keyFile, type, 'keyed-sha1');
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    assert.equal(e.field, 'auth.keyFile');
    return e.message;
  }
  assert.fail(`${keyFile} was accepted`);
}

test('a key file in the key directory is read by name or by absolute path, less one trailing newline', () => {
  withKeyDir((dir) => {
    writeFileSync(path.join(dir, 'r1.key'), 'sixteen-byte-key\n');
    writeFileSync(path.join(dir, 'crlf.key'), 'a-twenty-byte-key-xx\r\n');
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'k'), 'sixteen-byte-key');
    assert.equal(readBfdKeyFile(dir, 'r1.key', SHA1, 'keyed-sha1').toString(), 'sixteen-byte-key');
    assert.equal(readBfdKeyFile(dir, path.join(dir, 'crlf.key'), SHA1, 'keyed-sha1').toString(), 'a-twenty-byte-key-xx');
    assert.equal(readBfdKeyFile(dir, 'sub/k', SHA1, 'keyed-sha1').toString(), 'sixteen-byte-key');
    writeFileSync(path.join(dir, 'pw'), 'x\n');
    assert.equal(readBfdKeyFile(dir, 'pw', BfdAuthType.SimplePassword, 'simple-password').toString(), 'x', 'a simple password may be 1 byte (RFC 5880 §4.2)');
  });
});

test('paths outside the key directory are refused without looking at them: /etc/shadow and a missing file read the same', () => {
  withKeyDir((dir) => {
    const shadow = refusal(dir, '/etc/shadow');
    const missing = refusal(dir, '/etc/no-such-file-here');
    const up = refusal(dir, '../outside/x');
    assert.match(shadow, /keyFile "\/etc\/shadow" must name a file in the BFD key directory /);
    assert.equal(shadow.replace('/etc/shadow', 'X'), missing.replace('/etc/no-such-file-here', 'X'), 'no oracle for what exists outside');
    assert.match(up, /must name a file in the BFD key directory/);
    for (const m of [shadow, missing, up]) assert.doesNotMatch(m, /bytes|ENOENT|EACCES|holds/);
    assert.match(refusal(dir, ''), /must name a key file/);
    assert.match(refusal(dir, 'a\0b'), /must name a key file/);
    assert.match(refusal(undefined as unknown as string, 'r1.key'), /no BFD key directory is configured/);
  });
});

test('only regular files: symbolic links (in or out), FIFOs and devices are refused at once, never read', () => {
  withKeyDir((dir, outside) => {
    writeFileSync(path.join(outside, 'secret'), 'sixteen-byte-key');
    writeFileSync(path.join(dir, 'real.key'), 'sixteen-byte-key');
    symlinkSync(path.join(outside, 'secret'), path.join(dir, 'out.key'));
    symlinkSync(path.join(dir, 'real.key'), path.join(dir, 'in.key'));
    symlinkSync('/dev/zero', path.join(dir, 'zero.key'));
    symlinkSync(outside, path.join(dir, 'escape'));
    execFileSync('mkfifo', [path.join(dir, 'fifo.key')]);
    mkdirSync(path.join(dir, 'adir'));
    const t0 = performance.now();
    assert.match(refusal(dir, 'out.key'), /is a symbolic link: a key must be a regular file/);
    assert.match(refusal(dir, 'in.key'), /is a symbolic link/);
    assert.match(refusal(dir, 'zero.key'), /is a symbolic link/);
    assert.match(refusal(dir, 'fifo.key'), /is a FIFO: a key must be a regular file/);
    assert.match(refusal(dir, 'adir'), /is a directory/);
    assert.match(refusal(dir, 'escape/secret'), /links out of it are not followed/);
    assert.match(refusal(dir, 'missing.key'), /names no file in the BFD key directory/);
    // Nothing above waited on a writer or read a device.
    assert.ok(performance.now() - t0 < 1000);
  });
});

test('a device node in the key directory is refused without being opened', { skip: process.getuid?.() !== 0 && 'needs root for mknod' }, () => {
  withKeyDir((dir) => {
    execFileSync('mknod', [path.join(dir, 'zero.key'), 'c', '1', '5']);
    assert.match(refusal(dir, 'zero.key'), /is a device: a key must be a regular file/);
  });
});

test('size and length: a large file is refused, a short key too, and neither message tells the size', () => {
  withKeyDir((dir) => {
    writeFileSync(path.join(dir, 'big'), Buffer.alloc(BFD_KEY_FILE_MAX_BYTES + 1, 0x41));
    writeFileSync(path.join(dir, 'short'), 'hostname\n');
    writeFileSync(path.join(dir, 'md5-20'), 'a-twenty-byte-key-xx');
    const big = refusal(dir, 'big');
    assert.match(big, new RegExp(`larger than ${BFD_KEY_FILE_MAX_BYTES} bytes: not a key file`));
    const short = refusal(dir, 'short');
    assert.match(short, /must hold a key of 16 to 20 bytes for keyed-sha1/);
    assert.doesNotMatch(short, /hostname|\b[89] bytes/);
    assert.match(refusal(dir, 'md5-20', BfdAuthType.KeyedMd5), /must hold a key of 16 bytes/);
  });
});

// ---- remote timer bounds ----

/** A session that came Up with a peer at 100 ms x 3, on a manual clock; `inject` delivers a packet as if from the peer. */
function upSession(limits = BFD_DEFAULT_REMOTE_LIMITS) {
  const clock = new ManualClock();
  const events: { at: number; to: number; diag: number }[] = [];
  const s = new BfdSession(
    { desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, detectMult: 3, localDiscriminator: 7, remoteLimits: limits },
    { clock, send: () => undefined, random: () => 0.5 },
  );
  s.on('stateChange', (c) => events.push({ at: clock.now(), to: c.to, diag: c.diag }));
  const inject = (over: Parameters<typeof controlPacket>[0]) =>
    s.receive(encodeBfdPacket(controlPacket({ myDiscriminator: 99, yourDiscriminator: 7, desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, ...over })), { ttl: 255, srcAddr: '10.0.0.2', srcPort: 49152 });
  s.start();
  inject({ state: BfdState.Down, yourDiscriminator: 0 });
  inject({ state: BfdState.Init });
  assert.equal(s.state, BfdState.Up);
  return { clock, s, events, inject };
}

test('one spoofed Up packet with Detect Mult 255 and Desired Min TX 2^32-1 keeps a dead peer Up no longer than the bound', () => {
  const { clock, s, events, inject } = upSession();
  clock.advance(50);
  // The peer dies; an attacker sends one packet with absurd timers.
  assert.equal(inject({ state: BfdState.Up, detectMult: 255, desiredMinTxUs: 0xffff_ffff, requiredMinRxUs: 0xffff_ffff }), undefined);
  const st = s.status();
  assert.equal(st.remoteDetectMult, 255, 'shown as received');
  assert.equal(st.counters.timersClamped, 1);
  const bound = BFD_DEFAULT_REMOTE_LIMITS.maxRemoteMult * BFD_DEFAULT_REMOTE_LIMITS.maxRemoteTxUs;
  assert.equal(st.detectionTimeUs, bound, 'Detection Time from the bound: 16 x 2 s');
  assert.equal(st.txIntervalUs, BFD_DEFAULT_REMOTE_LIMITS.maxRemoteRxUs, 'and we slow down no further than the bound');
  const spoofedAt = clock.now();
  clock.advance(bound / 1000 + 1);
  const down = events.find((e) => e.to === BfdState.Down);
  assert.ok(down, 'the dead peer went Down');
  assert.equal(down.diag, BfdDiag.ControlDetectionTimeExpired);
  assert.ok(down.at - spoofedAt <= bound / 1000 + 1, `Down ${down.at - spoofedAt} ms after the spoofed packet`);
});

test('tighter bounds are honoured, and a peer within them is not counted', () => {
  const { clock, s, events, inject } = upSession({ maxRemoteTxUs: 1_000_000, maxRemoteRxUs: 1_000_000, maxRemoteMult: 3 });
  inject({ state: BfdState.Up, detectMult: 3, desiredMinTxUs: 1_000_000 });
  assert.equal(s.status().counters.timersClamped, 0);
  assert.equal(s.status().detectionTimeUs, 3_000_000);
  inject({ state: BfdState.Up, detectMult: 200, desiredMinTxUs: 50_000_000 });
  assert.equal(s.status().counters.timersClamped, 1);
  assert.equal(s.status().detectionTimeUs, 3_000_000);
  const t = clock.now();
  clock.advance(3001);
  assert.equal(events.at(-1)?.to, BfdState.Down);
  assert.ok(events.at(-1)!.at - t <= 3001);
});

// ---- drop counters ----

test('receive drops are shown per session where the packet names it, and in the totals', async () => {
  let deliver!: BfdPacketHandler;
  const transport: BfdTransport = {
    listen: async (h) => {
      deliver = h;
    },
    openSender: async () => ({ localPort: 49152, send: () => undefined, stats: () => ({ sent: 0, errors: 0 }), close: () => undefined }),
    close: async () => undefined,
  };
  const clock = new ManualClock();
  const m = new BfdManager({ transport, clock, randomUint32: () => 1234 });
  await m.start();
  await m.addSession({ instance: 'i', remoteIp: '10.0.0.2', txIntervalUs: 100_000, multiplier: 3 });
  const from = (srcAddr: string) => ({ srcAddr, srcPort: 49152, ttl: 255 });
  const good = encodeBfdPacket(controlPacket({ myDiscriminator: 5, yourDiscriminator: 1234, state: BfdState.Init }));
  const badVersion = Buffer.from(good);
  badVersion[0] = (2 << 5) | (badVersion[0]! & 0x1f);
  deliver(badVersion, from('10.0.0.2')); // names our session, from its peer: attributed
  deliver(badVersion, from('10.6.6.6')); // names it, but from elsewhere: only in the totals
  deliver(encodeBfdPacket(controlPacket({ myDiscriminator: 5, yourDiscriminator: 9999, state: BfdState.Init })), from('10.0.0.2'));
  const authed = encodeBfdPacket(controlPacket({ myDiscriminator: 5, yourDiscriminator: 1234, state: BfdState.Init }), { type: SHA1, keyId: 1, key: Buffer.from('sixteen-byte-key'), sequence: 1 });
  deliver(authed, from('10.0.0.2')); // the session drops it: auth-unexpected
  const st = m.get('i', '10.0.0.2')!;
  assert.deepEqual(st.rxDrops, { 'bad-version': 1, 'auth-unexpected': 1 });
  assert.deepEqual(m.rxDropTotals(), { 'bad-version': 2, 'unknown-discriminator': 1, 'auth-unexpected': 1 });
  // A deleted session's drops stay in the totals.
  const gone = m.deleteSession('i', '10.0.0.2');
  clock.advance(10_000);
  await gone;
  assert.deepEqual(m.rxDropTotals(), { 'bad-version': 2, 'unknown-discriminator': 1, 'auth-unexpected': 1 });
  await m.close();
});
