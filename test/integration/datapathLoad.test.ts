// Loading the eBPF object while signals keep arriving. The kernel's verifier
// gives up with EAGAIN when a signal is pending for the loading thread; node
// under --cpu-prof sends its main thread SIGPROF all the time, and a child's
// SIGCHLD can land at any moment. The agent must load anyway. Only loads and
// closes: nothing is attached to any interface.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BPF_OBJECT_RELATIVE_PATH } from '../../src/datapath/Datapath.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the datapath loads while SIGPROF arrives every 50 µs (node --cpu-prof)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lxt-dpload-'));
  try {
    const script = `
      import { loadNativeAddon } from ${JSON.stringify(path.join(root, 'src/util/nativeAddon.ts'))};
      const addon = loadNativeAddon();
      for (let i = 0; i < 5; i++) new addon.LbDatapath(${JSON.stringify(path.join(root, BPF_OBJECT_RELATIVE_PATH))}).close();
      console.log('loaded 5 times');`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--cpu-prof', '--cpu-prof-interval=50', `--cpu-prof-dir=${dir}`, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, timeout: 60_000 },
    );
    assert.match(stdout, /loaded 5 times/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
