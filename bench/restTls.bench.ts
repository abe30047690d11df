// Benchmark: what HTTPS costs the REST API. One real agent (bin/loxilb in LB
// mode, eBPF datapath loaded) with --tls and --api-token-file in a network
// namespace; a client in another namespace on the same switch POSTs LB rules
// one at a time (one request in flight: latency) and times each POST:
//
//   npm run bench:tls [-- --n 500 --rounds 3]      (root; about a minute)
//
// Cases, each over plain HTTP (the baseline, port 11111) and over HTTPS
// (port 8091, TLS 1.3, P-256 certificate from a CA made for the run), both
// with the bearer token, interleaved in rounds so a drift of the VM's speed
// hits both alike; the rules are deleted between cases:
//   POST, keep-alive      one connection reused (as kube-loxilb does);
//   POST, new connection  a fresh connection per POST, so HTTPS pays a full
//                         handshake each time (as a loxicmd or curl loop does);
//   GET cistate, keep-alive  a handler that costs next to nothing, so what
//                         TLS adds per request shows undiluted.
// Printed per case: median, p99 and mean latency in µs and the ratio of
// HTTPS to the HTTP baseline measured in the same run.
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../test/lab/Lab.ts';
import { startAgentProcess } from '../test/lab/agentProcess.ts';
import { issueCert, makeCa } from '../test/lab/pki.ts';
import type { RestTlsCase } from './lib/restTlsWorker.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const WORKER = fileURLToPath(new URL('./lib/restTlsWorker.ts', import.meta.url));
const LB = '192.168.81.10';
const CLIENT = '192.168.81.30';
const TOKEN = 'bench-token-0123456789abcdef0123';

const { values } = parseArgs({ options: { n: { type: 'string', default: '500' }, rounds: { type: 'string', default: '3' } } });
const n = Number(values.n);
const rounds = Number(values.rounds);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  await Lab.cleanupStale();
  const lab = await Lab.create();
  const pki = mkdtempSync(path.join(os.tmpdir(), 'lxt-bench-tls-'));
  try {
    await lab.addSwitch('sw');
    await lab.addNode('lb', { switch: 'sw', ipv4: `${LB}/24` });
    await lab.addNode('client', { switch: 'sw', ipv4: `${CLIENT}/24` });
    const ca = makeCa(pki);
    const { cert, key } = issueCert(pki, { name: 'lb', sans: [`IP:${LB}`], usage: 'serverAuth' });
    const tokenFile = path.join(pki, 'token');
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    await startAgentProcess(lab, 'lb', ['--tls', `--tls-certificate=${cert}`, `--tls-key=${key}`, `--api-token-file=${tokenFile}`]);

    const cases = [
      { name: 'POST rule, keep-alive', keepAlive: true, request: 'post-rule' },
      { name: 'POST rule, new connection', keepAlive: false, request: 'post-rule' },
      { name: 'GET cistate/all, keep-alive', keepAlive: true, request: 'get-cistate' },
    ] as const;
    const samples = new Map<string, number[]>();
    const run = async (c: RestTlsCase) => {
      const out = await lab.run('client', [process.execPath, '--import', 'tsx', WORKER, JSON.stringify(c)], { cwd: REPO, timeoutMs: 600_000 });
      return (JSON.parse(out.trim().split('\n').pop()!) as { us: number[] }).us;
    };
    const clear = () =>
      lab.run('client', ['curl', '-sS', '-m', '30', '-X', 'DELETE', '-H', `Authorization: Bearer ${TOKEN}`, `http://${LB}:11111/netlox/v1/config/loadbalancer/all`]);
    for (let r = 0; r < rounds; r++) {
      for (const c of cases) {
        // Alternate which transport goes first, so neither always follows the other.
        const order = (r + cases.indexOf(c)) % 2 === 0 ? ['http', 'https'] : ['https', 'http'];
        for (const scheme of order) {
          await clear();
          const url = scheme === 'https' ? `https://${LB}:8091` : `http://${LB}:11111`;
          const us = await run({ url, ca: scheme === 'https' ? ca : undefined, token: TOKEN, keepAlive: c.keepAlive, request: c.request, n, vipBase: [200, 0] });
          const k = `${c.name}|${scheme}`;
          samples.set(k, [...(samples.get(k) ?? []), ...us]);
        }
      }
    }
    const stat = (k: string) => {
      const s = [...samples.get(k)!].sort((a, b) => a - b);
      return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, count: s.length };
    };
    const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
    const lines = ['| case | requests each | HTTP p50 µs | HTTPS p50 µs | ratio p50 | HTTP p99 µs | HTTPS p99 µs | HTTP mean µs | HTTPS mean µs | ratio mean |', '|---|---|---|---|---|---|---|---|---|---|'];
    for (const c of cases) {
      const h = stat(`${c.name}|http`);
      const s = stat(`${c.name}|https`);
      lines.push(
        `| ${c.name} | ${h.count.toLocaleString('en-US')} | ${fmt(h.p50)} | ${fmt(s.p50)} | ${(s.p50 / h.p50).toFixed(2)}x | ${fmt(h.p99)} | ${fmt(s.p99)} | ${fmt(h.mean)} | ${fmt(s.mean)} | ${(s.mean / h.mean).toFixed(2)}x |`,
      );
    }
    process.stdout.write(`REST API over HTTPS vs HTTP, one request in flight, ${rounds} rounds x ${n} per case and transport, token on both\n${lines.join('\n')}\n`);
  } finally {
    await lab.destroy();
    rmSync(pki, { recursive: true, force: true });
  }
}

await main();
