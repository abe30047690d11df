// GET /status and GET /metrics with a big connection table: what the
// connection count in the status (and in /metrics, built from it) costs.
//
//   npm run bench:status [-- --sizes 100000,1000000 --rounds 15]
//
// One agent in a network namespace with its connection table pinned on a
// bpffs of the bench's own; bench/lib/fillCt.ts adopts that table from a
// second process and installs established connections, so the agent's
// table really holds them. Per size and path, the median of `rounds` GETs
// (curl's time_total, from inside the namespace); the baseline in the same
// run is the same GET with an empty table. Needs root.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab } from '../test/lab/Lab.ts';
import { mountTestBpffs } from '../test/lab/bpffs.ts';
import { mustAgentApi, startAgentProcess } from '../test/lab/agentProcess.ts';
import { FILL_RULE } from './lib/fillCt.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { sizes: { type: 'string' }, rounds: { type: 'string' } }, strict: true });
const SIZES = (values.sizes ?? '100000,1000000').split(',').map(Number);
const ROUNDS = Number(values.rounds ?? '15');
const CT_MAX = 2_097_152;

const PATHS = ['status', 'metrics'] as const;

async function getMs(lab: Lab, p: string): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const s = await lab.run('lb1', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{time_total}', `http://127.0.0.1:11111/netlox/v1/${p}`]);
    const [code, secs] = s.trim().split(' ');
    if (code !== '200') throw new Error(`GET /${p}: HTTP ${code}`);
    out.push(Number(secs) * 1000);
  }
  return out.sort((a, b) => a - b);
}

const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  await Lab.cleanupStale();
  const lab = await Lab.create();
  const fs = mountTestBpffs(['lb1']);
  try {
    await lab.addNode('lb1');
    const pinDir = path.join(fs.dir, 'lb1');
    await startAgentProcess(lab, 'lb1', [`--bpf-pin-dir=${pinDir}`, `--ct-max=${CT_MAX}`, '--prometheus'], 'warn');
    await mustAgentApi(lab, 'lb1', 'POST', '/config/loadbalancer', FILL_RULE);
    const measure = async (size: number) => {
      const ms: Record<string, number[]> = {};
      for (const p of PATHS) ms[p] = await getMs(lab, p);
      return { size, ms };
    };
    const rows = [await measure(0)];
    let have = 0;
    for (const size of SIZES) {
      const fill = JSON.parse(await lab.run('lb1', ['node', '--import', `file://${ROOT}/node_modules/tsx/dist/loader.mjs`, path.join(ROOT, 'bench/lib/fillCt.ts'), '--pin-dir', pinDir, '--ct-max', String(CT_MAX), '--start', String(have), '--n', String(size - have)], { timeoutMs: 300_000 }));
      have = size;
      const got = (await mustAgentApi(lab, 'lb1', 'GET', '/status')).datapath.connections;
      if (got !== size) throw new Error(`the agent counts ${got} connections, ${size} were installed (fill: ${JSON.stringify(fill)})`);
      rows.push(await measure(size));
    }
    console.log(`median of ${ROUNDS} GETs (min..max), baseline: the same GET with an empty table`);
    console.log('path      entries    median ms   min..max ms        x baseline');
    for (const p of PATHS) {
      const base = median(rows[0]!.ms[p]!);
      for (const r of rows) {
        const ms = r.ms[p]!;
        console.log(`${`/${p}`.padEnd(8)} ${String(r.size).padStart(8)} ${median(ms).toFixed(2).padStart(11)}   ${`${ms[0]!.toFixed(2)}..${ms.at(-1)!.toFixed(2)}`.padEnd(18)} ${(median(ms) / base).toFixed(1).padStart(6)}`);
      }
    }
  } finally {
    await lab.destroy();
    fs.release();
  }
}

await main();
