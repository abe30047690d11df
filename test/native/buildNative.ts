// Builds the C test programs of test/native/ into a temp dir for the tests
// that run them: host drivers with cc, eBPF objects with clang -target bpf
// (the flags of native/build.mjs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const NATIVE_TEST_DIR = path.dirname(fileURLToPath(import.meta.url));

export class NativeBuildDir {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'loxilb-native-test-'));

  /** cc -O2 -Wall -Wextra -Werror <source> [libs] -o <dir>/<name>; returns the binary's path. */
  cc(source: string, name: string, libs: string[] = []): string {
    const out = path.join(this.dir, name);
    run('cc', ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', path.join(NATIVE_TEST_DIR, source), ...libs, '-o', out]);
    return out;
  }

  /** clang -target bpf, as native/build.mjs builds the datapath; returns the object's path. */
  bpf(source: string, name: string): string {
    const out = path.join(this.dir, name);
    const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
    run('clang', ['-O2', '-g', '-Wall', '-Werror', '-target', 'bpf', '-mcpu=v3', `-I/usr/include/${arch}-linux-gnu`, '-c', path.join(NATIVE_TEST_DIR, source), '-o', out]);
    return out;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function run(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${err.stderr?.toString() || err.message}`);
  }
}
