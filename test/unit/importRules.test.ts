// DESIGN.md's import rules, checked on src/ as it is:
// - no module imports agent/ or cli/ ("Dependencies point inward: cli ->
//   agent -> {api, bgp, ha, ...}. No module imports agent or cli."); files
//   inside cli/ may import each other, and the agent's entry point
//   cli/loxilb.ts is the one file that builds the agent;
// - kube/ talks to agents only through the REST API ("exactly as it would to
//   a real loxilb"): it imports none of the agent-side parts (agent, api
//   server, datapath, bgp, sync, bfd sessions), only apiclient/ for the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSource, relativeImports, sourceFiles, topFolder } from '../lab/sourceTree.ts';

/** Files allowed to import agent/: the node agent's entry point. */
const AGENT_IMPORTERS = new Set(['cli/loxilb.ts']);

/** Agent-side folders kube/ must not reach into. */
const AGENT_SIDE = new Set(['agent', 'api', 'datapath', 'bgp', 'sync', 'bfd']);

/** Known breaches, each to be fixed and removed (the last test fails when one is gone). None now. */
const KNOWN_BREACHES = new Set<string>([]);

export function importBreaches(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    const from = topFolder(file);
    for (const target of relativeImports(file, text)) {
      const to = topFolder(target);
      const edge = `${file} -> ${target}`;
      if (to === 'cli' && from !== 'cli') out.push(`${edge}: only cli/ imports cli/`);
      if (to === 'agent' && from !== 'agent' && !AGENT_IMPORTERS.has(file)) out.push(`${edge}: only ${[...AGENT_IMPORTERS].join(', ')} imports agent/`);
      if (from === 'kube' && AGENT_SIDE.has(to)) out.push(`${edge}: kube/ reaches agents only through the REST API (apiclient/)`);
    }
  }
  return out;
}

test('src/ keeps DESIGN.md import rules', () => {
  const files = new Map(sourceFiles().map((f) => [f, readSource(f)]));
  const breaches = importBreaches(files).filter((b) => !KNOWN_BREACHES.has(b.slice(0, b.indexOf(':'))));
  assert.deepEqual(breaches, []);
});

test('the known breaches still exist (remove them from the list once fixed)', () => {
  const files = new Map(sourceFiles().map((f) => [f, readSource(f)]));
  const found = new Set(importBreaches(files).map((b) => b.slice(0, b.indexOf(':'))));
  for (const k of KNOWN_BREACHES) assert.ok(found.has(k), `${k} is no longer there: drop it from KNOWN_BREACHES`);
});

test('the checker finds each kind of breach, whatever the import form', () => {
  const files = new Map([
    ['ha/x.ts', "import { a } from '../cli/loxicmdArgs.ts';\nexport { b } from '../agent/Agent.ts';"],
    ['kube/y.ts', "import type { C } from '../api/RestServer.ts';\nconst m = await import('../datapath/Datapath.ts');\nimport '../sync/ConnSync.ts';"],
    ['cli/kube-loxilb.ts', "import { Agent } from '../agent/Agent.ts';\nimport { p } from './kubeLoxilbFlags.ts';"],
    ['cli/loxilb.ts', "import { Agent } from '../agent/Agent.ts';"],
    ['kube/z.ts', "// import { x } from '../agent/Agent.ts';\nimport { LoxiApiClient } from '../apiclient/LoxiApiClient.ts';"],
  ]);
  assert.deepEqual(importBreaches(files), [
    'ha/x.ts -> cli/loxicmdArgs.ts: only cli/ imports cli/',
    'ha/x.ts -> agent/Agent.ts: only cli/loxilb.ts imports agent/',
    'kube/y.ts -> api/RestServer.ts: kube/ reaches agents only through the REST API (apiclient/)',
    'kube/y.ts -> datapath/Datapath.ts: kube/ reaches agents only through the REST API (apiclient/)',
    'kube/y.ts -> sync/ConnSync.ts: kube/ reaches agents only through the REST API (apiclient/)',
    'cli/kube-loxilb.ts -> agent/Agent.ts: only cli/loxilb.ts imports agent/',
  ]);
});
