// Runs kubectl (the pinned one from scripts/build-go-peers.sh unless told
// otherwise) to completion for the tests and benchmarks; every run is
// killed after 30 s, and killKubectls() ends the ones still running (for an
// after hook that must not leave processes behind).
import { spawn, type ChildProcess } from 'node:child_process';
import { goPeerBin } from './goPeers.ts';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

export function runKubectl(kubeconfig: string, cacheDir: string, args: string[], stdin?: string, bin = goPeerBin('kubectl')): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const done = () => {
      clearTimeout(timer);
      running.delete(child);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('close', (code) => {
      done();
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Kills (SIGKILL) every kubectl runKubectl started that is still running. */
export function killKubectls(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  running.clear();
}
