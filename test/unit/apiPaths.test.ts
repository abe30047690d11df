// Issue 13: the REST API's paths are spelled by the typed client
// (src/apiclient) and the server (src/api) only. Everyone else calls the
// client with typed values (a rule's key, a neighbour), so a path cannot
// drift between the agent and its callers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSource, relativeImports, sourceFiles } from '../lab/sourceTree.ts';

const OWNERS = ['api/', 'apiclient/'];
/** Files that name the base path to a reader, not to a request: the file, and why. */
const TEXT_ONLY = new Map([['cli/loxilbFlags.ts', '--help and flag docs tell the operator where /metrics is served']]);

/** Files outside the owners that spell the base path or a path below it. */
export function pathBuilders(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    if (OWNERS.some((o) => file.startsWith(o)) || TEXT_ONLY.has(file)) continue;
    if (/\/netlox\/v1|['"`]\/config\/[a-z]/.test(text)) out.push(file);
  }
  return out;
}

test('only src/api and src/apiclient spell REST paths', () => {
  const files = new Map(sourceFiles().map((f) => [f, readSource(f)]));
  assert.deepEqual(pathBuilders(files), [], 'call the typed client (src/apiclient) instead of building a path or URL');
  for (const f of TEXT_ONLY.keys()) assert.ok(files.has(f), `${f} is gone: remove it from TEXT_ONLY`);
});

test('kube-loxilb hands typed keys to its client: only kube/LoxiClient.ts uses the path builders', () => {
  const users = sourceFiles()
    .filter((f) => f.startsWith('kube/') && relativeImports(f, readSource(f)).includes('apiclient/paths.ts'))
    .sort();
  assert.deepEqual(users, ['kube/LoxiClient.ts'], 'a planner returns a typed reference (RuleRef, a neighbour); LoxiClient makes the request of it');
});

test('the check finds the base path and a path below it, and spares the owners', () => {
  const files = new Map([
    ['kube/a.ts', "const p = '/netlox/v1/config/loadbalancer';"],
    ['kube/b.ts', 'const p = `/config/bgp/neigh/${ip}`;'],
    ['kube/c.ts', '// reads config/loadbalancer/all through the client'],
    ['apiclient/paths.ts', "export const x = '/config/loadbalancer';"],
    ['api/basePath.ts', "export const API_BASE_PATH = '/netlox/v1';"],
  ]);
  assert.deepEqual(pathBuilders(files), ['kube/a.ts', 'kube/b.ts']);
});
