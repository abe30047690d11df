// Prints the files `node --test` is given, one per line, relative to the
// repository root: `unit` (the shard runners and the unit files that need a
// process of their own; see test/unit/shards/shard.ts) or `all` (those and
// every integration test file).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unitFiles } from './unit/shards/shard.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const which = process.argv[2];
if (which !== 'unit' && which !== 'all') {
  process.stderr.write('usage: node --import tsx test/testFiles.ts unit|all\n');
  process.exit(2);
}
const shardDir = path.join(root, 'test/unit/shards');
const shards = readdirSync(shardDir).filter((f) => /^\d+of\d+\.ts$/.test(f)).sort().map((f) => path.join(shardDir, f));
const integration = readdirSync(path.join(root, 'test/integration')).filter((f) => f.endsWith('.test.ts')).sort().map((f) => path.join(root, 'test/integration', f));
const files = [...shards, ...unitFiles().alone, ...(which === 'all' ? integration : [])];
process.stdout.write(files.map((f) => path.relative(root, f)).join('\n') + '\n');
