// A bpffs of a test's own for pinned connection tables (--bpf-pin-dir), in
// the root mount namespace that the lab's `ip netns exec` processes also see
// (their /sys/fs/bpf is a fresh sysfs), with a directory per LB node.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestBpffs {
  readonly dir: string;
  /** Unmounts and removes it. */
  release(): void;
}

export function mountTestBpffs(nodes: readonly string[] = ['lb1', 'lb2']): TestBpffs {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-bpffs-'));
  try {
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  for (const n of nodes) mkdirSync(path.join(dir, n));
  return {
    dir,
    release: () => {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
