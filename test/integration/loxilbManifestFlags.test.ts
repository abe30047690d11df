// The loxilb command lines in kube-loxilb's own manifests (read from the
// pinned kube-loxilb module in Go's module cache, see test/lab/goPeers.ts)
// all parse: a pod from those manifests starts, and every flag it passes that
// loxilb-ts does not act on is named in one warning line. The agent started
// with the flags the issue found refused shows them in /status.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseLoxilbFlags } from '../../src/cli/loxilbFlags.ts';
import { goPeerModuleDir } from '../lab/goPeers.ts';
import { Lab, type LabProcess } from '../lab/Lab.ts';
import { mustAgentApi, startAgentProcess } from '../lab/agentProcess.ts';

interface Container {
  image?: string;
  command?: string[];
  args?: string[];
}

function* yamlFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* yamlFiles(p);
    else if (/\.ya?ml$/.test(e.name)) yield p;
  }
}

/** Every loxilb container's arguments (after the binary) in the manifests under dir. */
function loxilbCommandLines(dir: string): { file: string; argv: string[] }[] {
  const out: { file: string; argv: string[] }[] = [];
  const visit = (node: unknown, file: string): void => {
    if (Array.isArray(node)) return node.forEach((n) => visit(n, file));
    if (!node || typeof node !== 'object') return;
    const c = node as Container;
    if (typeof c.image === 'string' && /loxilb-io\/loxilb:/.test(c.image)) {
      const cmd = [...(c.command ?? []), ...(c.args ?? [])];
      const bin = cmd.findIndex((a) => /(^|\/)loxilb$/.test(a));
      if (bin >= 0) out.push({ file, argv: cmd.slice(bin + 1) });
    }
    for (const v of Object.values(node)) visit(v, file);
  };
  for (const file of yamlFiles(dir)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) visit(doc.toJS(), path.relative(dir, file));
  }
  return out;
}

describe("loxilb flags from kube-loxilb's manifests", { timeout: 120_000 }, () => {
  it('every loxilb command line in the pinned kube-loxilb module parses', () => {
    const lines = loxilbCommandLines(path.join(goPeerModuleDir('kube-loxilb'), 'manifest'));
    // The manifests have a dozen loxilb DaemonSets; far fewer means the walk broke.
    assert.ok(lines.length >= 8, `found ${lines.length} loxilb command lines`);
    const seen = new Set<string>();
    for (const { file, argv } of lines) {
      const f = parseLoxilbFlags(argv);
      for (const a of argv) seen.add(a.replace(/=.*/, ''));
      for (const line of f.notInEffect) assert.ok(argv.some((a) => line.startsWith(a.replace(/=.*/, ''))), `${file}: ${line}`);
    }
    // The flags the issue found refused are among them.
    for (const flag of ['--localsockpolicy', '--ipvs-compat', '--clusterinterface', '--fallback']) assert.ok(seen.has(flag), `${flag} in the manifests`);
  });
});

describe('an agent started with those flags and loxilb defaults', { timeout: 120_000 }, () => {
  let lab: Lab;
  let agent: LabProcess;
  const ARGS = ['--localsockpolicy', '--ipvs-compat', '--clusterinterface=eth1', '--fallback', '--rpc=netrpc', '--cloud=on-prem', '--k8s-api=none', '--cpuprofile=none'];

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw');
    await lab.addNode('lb', { switch: 'sw', ipv4: '192.168.80.10/24' });
    agent = await startAgentProcess(lab, 'lb', ['--host=0.0.0.0', ...ARGS]);
  });

  after(async () => {
    await lab?.destroy();
  });

  it('starts, serves, and names each flag it does not act on once, in its log and in /status', async () => {
    const st = (await mustAgentApi(lab, 'lb', 'GET', '/status')) as { status: string; flagsNotInEffect?: string[] };
    assert.equal(st.status, 'ok');
    assert.deepEqual(
      st.flagsNotInEffect?.map((l) => l.split(':')[0]),
      ['--clusterinterface', '--ipvs-compat', '--localsockpolicy'],
    );
    const warned = agent.log().split('\n').filter((l) => l.includes('flag not in effect'));
    assert.equal(warned.length, 3, warned.join('\n'));
    // It works as a load balancer all the same.
    await mustAgentApi(lab, 'lb', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: '20.20.20.1', port: 80, protocol: 'tcp', sel: 0, mode: 0 },
      endpoints: [{ endpointIP: '192.168.80.30', targetPort: 8080, weight: 1 }],
    });
    const all = (await mustAgentApi(lab, 'lb', 'GET', '/config/loadbalancer/all')) as { lbAttr: { programmed: boolean }[] };
    assert.equal(all.lbAttr[0]?.programmed, true);
  });
});
