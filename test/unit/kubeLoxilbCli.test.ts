// bin/kube-loxilb as a process: flags and exit codes. Serving Services and
// the hand-over between two replicas, which run on real time, are
// test/integration/kubeLoxilbProcess.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/kube-loxilb');

interface Proc {
  child: ChildProcess;
  out: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(BIN, args, { env: { ...process.env, KUBECONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = {
    child,
    out: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (p.out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (p.out += d));
  return p;
}

describe('bin/kube-loxilb', { timeout: 60_000 }, () => {
  it('exits 2 with the message on a bad flag, 0 on --help', async () => {
    // Started together: each start is mostly loading the program.
    const [bad, unknown, help] = [run(['--setLBMode=9']), run(['--noSuchFlag']), run(['--help'])];
    assert.deepEqual(await bad.exited, { code: 2, signal: null });
    assert.match(bad.out, /^kube-loxilb: flag --setLBMode must be an integer from 0 to 5/);
    assert.equal((await unknown.exited).code, 2);
    assert.match(unknown.out, /unknown flag --noSuchFlag/);
    assert.equal((await help.exited).code, 0);
    assert.match(help.out, /^Usage: kube-loxilb/);
  });
});
