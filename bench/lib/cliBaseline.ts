// The baseline: one `gobgp global rib add` process per route, run one after
// another by a shell loop inside a node's namespace (so no `ip netns exec`
// per route), against that node's plain gobgpd on 127.0.0.1:50051.
import type { Lab } from '../../test/lab/Lab.ts';

const LOOP = `
set -e
b=$1; s=$2; n=$3; med=$4; lp=$5; label=$6
e=$((s + n))
for ((i = s; i < e; i++)); do
  gobgp global rib add "10.$b.$((i >> 8)).$((i & 255))/32" origin igp med "$med" local-pref "$lp" > /dev/null
  if (( (i - s + 1) % 1000 == 0 )); then echo "    $label: $((i - s + 1))/$n gobgp processes done" >&2; fi
done
`;

export interface CliLoopOptions {
  base: number;
  start: number;
  n: number;
  med: number;
  lp: number;
  timeoutMs: number;
  label: string;
}

/** Runs the loop; resolves with the loop's wall time (ms) once every process has exited. */
export async function cliAddLoop(lab: Lab, node: string, o: CliLoopOptions): Promise<number> {
  const t0 = performance.now();
  const p = lab.spawn(node, 'bash', ['-c', LOOP, 'cli-loop', String(o.base), String(o.start), String(o.n), String(o.med), String(o.lp), o.label], {
    output: 'pipe',
  });
  let errTail = '';
  p.child.stdout!.resume();
  p.child.stderr!.setEncoding('utf8');
  p.child.stderr!.on('data', (d: string) => {
    process.stderr.write(d);
    errTail = (errTail + d).slice(-2000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void p.stop();
  }, o.timeoutMs);
  const e = await p.exited;
  clearTimeout(timer);
  if (timedOut) throw new Error(`${o.label}: gobgp CLI loop timed out after ${o.timeoutMs} ms`);
  if (e.code !== 0) throw new Error(`${o.label}: gobgp CLI loop failed (${e.code ?? e.signal}): ${errTail.trim()}`);
  return performance.now() - t0;
}

/** `gobgp global rib -a ipv4 del all`: drops every locally originated IPv4 path at once. */
export async function cliDeleteAll(lab: Lab, node: string): Promise<void> {
  await lab.run(node, ['gobgp', 'global', 'rib', '-a', 'ipv4', 'del', 'all'], { timeoutMs: 30_000 });
}
