import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unitFiles } from './shards/shard.ts';

test('unitFiles: a file with a top-level hook runs alone; an indented hook or a test shares a process', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lxt-unitfiles-'));
  try {
    writeFileSync(path.join(dir, 'a.test.ts'), "test('x', () => {});\n");
    writeFileSync(path.join(dir, 'b.test.ts'), "import { after } from 'node:test';\nafter(() => {});\n");
    writeFileSync(path.join(dir, 'c.test.ts'), "describe('d', () => {\n  beforeEach(() => {});\n});\n");
    writeFileSync(path.join(dir, 'd.test.ts'), 'beforeEach(() => {});\n');
    writeFileSync(path.join(dir, 'helper.ts'), 'before(() => {});\n');
    const { shared, alone } = unitFiles(dir);
    assert.deepEqual(shared.map((f) => path.basename(f)), ['a.test.ts', 'c.test.ts']);
    assert.deepEqual(alone.map((f) => path.basename(f)), ['b.test.ts', 'd.test.ts']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the unit files are each in exactly one place: a shard or a process of their own', () => {
  const { shared, alone } = unitFiles();
  assert.ok(shared.length > 0 && alone.length > 0);
  assert.equal(new Set([...shared, ...alone]).size, shared.length + alone.length);
  assert.ok(shared.some((f) => f.endsWith('testFiles.test.ts')), 'this file has no top-level hook, so a shard runs it');
});

test('the shard runners are 1..n of one n, so together they import every shared file', () => {
  const names = readdirSync(path.dirname(fileURLToPath(import.meta.url)) + '/shards').filter((f) => /^\d+of\d+\.ts$/.test(f));
  const parsed = names.map((f) => f.match(/^(\d+)of(\d+)\.ts$/)!.slice(1).map(Number) as [number, number]);
  const n = parsed[0]![1];
  assert.ok(parsed.every(([, m]) => m === n));
  assert.deepEqual(parsed.map(([k]) => k).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
});
