// native/bpf/crc32c.h inside the kernel: a small tc program that NATs the
// SCTP ports and fixes the checksum with crc32c_adjust_ports is loaded (the
// verifier must accept it, cheaply) and run with BPF_PROG_TEST_RUN over
// packets with valid checksums; every packet it returns must carry the CRC
// that a full recomputation in TypeScript gives. Needs root.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { crc32c } from '../../src/util/crc32c.ts';
import { NativeBuildDir } from '../native/buildNative.ts';

const build = new NativeBuildDir();
after(() => build.remove());

/** Ethernet + IPv4 (ihl words, options zero) + SCTP of sctpLen bytes with a valid checksum, then `pad` trailer bytes. */
function frame(ihl: number, sctpLen: number, sport: number, dport: number, seed: number, pad: number): Buffer {
  const ipLen = ihl * 4;
  const f = Buffer.alloc(14 + ipLen + sctpLen + pad);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x40 | ihl;
  f.writeUInt16BE(ipLen + sctpLen, 16);
  f[22] = 64;
  f[23] = 132;
  f.writeUInt32BE(0x0a000001, 26);
  f.writeUInt32BE(0x0a000002, 30);
  const s = 14 + ipLen;
  for (let i = s, x = seed | 1; i < f.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    f[i] = x >>> 24;
  }
  f.writeUInt16BE(sport, s);
  f.writeUInt16BE(dport, s + 2);
  f.writeUInt32LE(0, s + 8);
  f.writeUInt32LE(crc32c(f, s, s + sctpLen), s + 8);
  return f;
}

test('crc32c_adjust_ports in a tc program: accepted by the verifier, and every rewritten packet carries the right CRC', () => {
  const runner = build.cc('crc32c_bpf_run.c', 'crc32c_bpf_run', ['-lbpf']);
  const obj = build.bpf('crc32c_nat.bpf.c', 'crc32c_nat.bpf.o');
  const port = fc.integer({ min: 0, max: 65535 });
  const cases = fc.sample(
    fc.record({
      ihl: fc.integer({ min: 5, max: 15 }),
      // BPF_PROG_TEST_RUN takes skbs up to about a page; the host test covers lengths to 64 KiB.
      sctpLen: fc.integer({ min: 12, max: 3000 }),
      pad: fc.integer({ min: 0, max: 40 }),
      seed: fc.nat(),
      from: fc.tuple(port, port),
      to: fc.tuple(port, port),
    }),
    { numRuns: 150, seed: 132 },
  );
  cases.push({ ihl: 5, sctpLen: 12, pad: 14, seed: 1, from: [5000, 9000], to: [5000, 41000] }); // padded minimum frame
  const frames = cases.map((c) => frame(c.ihl, c.sctpLen, c.from[0], c.from[1], c.seed, c.pad));
  const input = cases.map((c, i) => `${c.to[0]} ${c.to[1]} ${frames[i]!.toString('hex')}`).join('\n') + '\n';
  const r = spawnSync(runner, [obj], { input, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
  assert.equal(r.status, 0, `runner failed: ${r.stderr.slice(0, 4000)}`);
  const processed = /processed (\d+) insns/.exec(r.stderr);
  assert.ok(processed, `no verifier statistics in: ${r.stderr.slice(0, 500)}`);
  // A path explosion (see the note in crc32c.h) shows up here long before the 1M limit.
  assert.ok(Number(processed[1]) < 50_000, `the verifier walked ${processed[1]} instructions`);
  const outLines = r.stdout.trim().split('\n');
  assert.equal(outLines.length, cases.length);
  cases.forEach((c, i) => {
    const [ret, hex] = outLines[i]!.split(' ');
    assert.equal(ret, '0', `case ${i}: TC_ACT_OK`);
    const out = Buffer.from(hex!, 'hex');
    const s = 14 + c.ihl * 4;
    assert.equal(out.readUInt16BE(s), c.to[0]);
    assert.equal(out.readUInt16BE(s + 2), c.to[1]);
    const wire = out.readUInt32LE(s + 8);
    out.writeUInt32LE(0, s + 8);
    assert.equal(wire, crc32c(out, s, s + c.sctpLen), `case ${i}: ${JSON.stringify(c)}`);
  });
});
