// The unit suite in few processes: starting node with tsx costs about half a
// second per file, more than most unit files take to run, so the files are
// imported into shard processes instead of one process each. A file with
// top-level hooks (`before(`, `afterEach(` ... at the start of a line) would
// hook every other file's tests in a shared process: it runs in its own
// process, as node --test runs any file (scripts/testFiles.mjs lists them).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const UNIT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOP_LEVEL_HOOK = /^(before|after|beforeEach|afterEach)\(/m;

/** Unit test files, split into those that may share a process and those that need their own. */
export function unitFiles(dir = UNIT_DIR): { shared: string[]; alone: string[] } {
  const shared: string[] = [];
  const alone: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.test.ts')).sort()) {
    const file = path.join(dir, f);
    (TOP_LEVEL_HOOK.test(readFileSync(file, 'utf8')) ? alone : shared).push(file);
  }
  return { shared, alone };
}

/** Imports shard k (1-based) of n of the files that may share a process: their tests run here. */
export async function runShard(k: number, n: number): Promise<void> {
  const files = unitFiles().shared.filter((_, i) => i % n === k - 1);
  for (const file of files) await import(pathToFileURL(file).href);
}
