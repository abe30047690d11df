// native/bpf/crc32c.h against src/util/crc32c.ts: the C driver runs the
// header on the host over vectors whose expected values come from a full
// recomputation in TypeScript, and the eBPF test program that includes the
// header must compile with clang -target bpf. (Loading it into the kernel
// needs root: test/integration/crc32cBpf.test.ts.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { crc32c } from '../../src/util/crc32c.ts';
import { NativeBuildDir } from '../native/buildNative.ts';

const build = new NativeBuildDir();
after(() => build.remove());

interface Rewrite {
  msg: Uint8Array;
  offset: number;
  width: number;
  newValue: number;
}

function applyField(msg: Uint8Array, offset: number, width: number, value: number): Buffer {
  const out = Buffer.from(msg);
  for (let i = 0; i < width; i++) out[offset + i] = (value >>> (8 * (width - 1 - i))) & 0xff;
  return out;
}

function fieldValue(msg: Uint8Array, offset: number, width: number): number {
  let v = 0;
  for (let i = 0; i < width; i++) v = v * 256 + msg[offset + i]!;
  return v;
}

function vectors(): string {
  const lines: string[] = [];
  const rewrite: fc.Arbitrary<Rewrite> = fc.uint8Array({ minLength: 4, maxLength: 3000 }).chain((msg) =>
    fc.integer({ min: 1, max: 4 }).chain((width) =>
      fc.record({
        msg: fc.constant(msg),
        width: fc.constant(width),
        offset: fc.integer({ min: 0, max: msg.length - width }),
        newValue: fc.integer({ min: 0, max: 2 ** (8 * width) - 1 }),
      }),
    ),
  );
  for (const r of fc.sample(rewrite, { numRuns: 400, seed: 4960 })) {
    const oldValue = fieldValue(r.msg, r.offset, r.width);
    const next = applyField(r.msg, r.offset, r.width, r.newValue);
    lines.push(`A ${crc32c(r.msg)} ${r.offset} ${oldValue} ${r.newValue} ${r.width} ${r.msg.length} ${crc32c(next)}`);
  }
  // SCTP packets up to the largest IP datagram, with both ports rewritten.
  const port = fc.integer({ min: 0, max: 65535 });
  const nat = fc.record({ len: fc.integer({ min: 12, max: 65515 }), seed: fc.nat(), ports: fc.tuple(port, port) });
  for (const r of fc.sample(nat, { numRuns: 200, seed: 3309 })) {
    const pkt = Buffer.alloc(r.len);
    for (let i = 0, x = r.seed | 1; i < r.len; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      pkt[i] = x >>> 24;
    }
    pkt.writeUInt32LE(0, 8);
    const after = Buffer.from(pkt);
    after.writeUInt16BE(r.ports[0], 0);
    after.writeUInt16BE(r.ports[1], 2);
    lines.push(`P ${crc32c(pkt)} ${pkt.readUInt16BE(0)} ${pkt.readUInt16BE(2)} ${r.ports[0]} ${r.ports[1]} ${r.len} ${crc32c(after)}`);
  }
  for (const c of [0, 1, 0xe3069283, 0xffffffff, 0x12345678]) lines.push(`W ${c} ${c}`);
  return `${lines.join('\n')}\n`;
}

test('crc32c.h on the host agrees with the TypeScript CRC on 600 rewrites', () => {
  const bin = build.cc('crc32c_test.c', 'crc32c_test');
  let out: string;
  try {
    out = execFileSync(bin, [], { input: vectors(), encoding: 'utf8' });
  } catch (e) {
    assert.fail(`crc32c_test failed:\n${(e as { stdout?: string }).stdout ?? (e as Error).message}`);
  }
  assert.equal(out.trim(), 'ok 605');
});

test('crc32c.h compiles for the eBPF target inside a program', () => {
  build.bpf('crc32c_nat.bpf.c', 'crc32c_nat.bpf.o');
});
