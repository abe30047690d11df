import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { apipb } from '../../src/bgp/gobgpProto.ts';
import { syncV1 } from '../../src/sync/syncProto.ts';
import type { WatchEventResponse__Output } from '../../src/gen/apipb/WatchEventResponse.ts';
import type { GetTableResponse__Output } from '../../src/gen/apipb/GetTableResponse.ts';
import type { SyncBatch__Output } from '../../src/gen/loxilbts/sync/v1/SyncBatch.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function files(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))],
  );
}

test('src/gen is what npm run gen:proto makes of proto/ now', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'gen-proto-'));
  try {
    execFileSync(process.execPath, [path.join(repo, 'scripts/gen-proto.mjs'), out], { cwd: repo, stdio: 'pipe' });
    const want = files(out).sort();
    assert.deepEqual(files(path.join(repo, 'src/gen')).sort(), want, 'the same files (run npm run gen:proto and commit src/gen)');
    for (const f of want) {
      assert.equal(readFileSync(path.join(repo, 'src/gen', f), 'utf8'), readFileSync(path.join(out, f), 'utf8'), `src/gen/${f} is stale: run npm run gen:proto`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

// The generated types hold only if the loader is run with the options the
// generator was given: 64-bit integers as numbers, enums as their names,
// defaults filled in, a oneof's name beside it.
test('the loaded service definitions yield what the generated types describe', () => {
  const table = apipb.GobgpApi.service.GetTable;
  const t: GetTableResponse__Output = table.responseDeserialize(table.responseSerialize({ num_destination: 2 ** 40, num_path: 3 }));
  assert.deepEqual(t, { num_destination: 2 ** 40, num_path: 3, num_accepted: 0 });

  const watch = apipb.GobgpApi.service.WatchEvent;
  const ev: WatchEventResponse__Output = watch.responseDeserialize(watch.responseSerialize({ peer: { type: 'STATE', peer: { conf: { neighbor_address: '10.0.0.1' } } } }));
  assert.equal(ev.event, 'peer');
  assert.equal(ev.peer?.type, 'STATE');
  assert.equal(ev.peer?.peer?.conf?.neighbor_address, '10.0.0.1');
  assert.equal(ev.peer?.peer?.conf?.peer_asn, 0);
  assert.deepEqual(ev.peer?.peer?.afi_safis, []);

  const sub = syncV1.ConnSync.service.Subscribe;
  const b: SyncBatch__Output = sub.responseDeserialize(sub.responseSerialize({ kind: 'DELETE', seq: 2 ** 40, keys: Buffer.from([1]) }));
  assert.equal(b.kind, 'DELETE');
  assert.equal(b.seq, 2 ** 40);
  assert.ok(Buffer.isBuffer(b.values) && b.values.length === 0);
});
