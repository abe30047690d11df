// A real Prometheus (Debian's prometheus 2.42) in a lab node, scraping
// targets in that node's namespace, with its HTTP API on a loopback port of
// the node. The data lives in the lab dir; the process is a tracked
// LabProcess (stopped by PID with the lab).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Lab, LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';

export interface PrometheusOptions {
  /** host:port of each target, as seen from the node. */
  targets: string[];
  metricsPath: string;
  /** Loopback port of the HTTP API inside the node. */
  port: number;
  scrapeIntervalMs?: number;
  job?: string;
  name?: string;
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export class Prometheus {
  private constructor(
    private readonly lab: Lab,
    readonly node: string,
    readonly job: string,
    private readonly api: string,
    readonly process: LabProcess,
  ) {}

  /** Starts it and waits until its first scrape of every target succeeded. */
  static async start(lab: Lab, node: string, o: PrometheusOptions): Promise<Prometheus> {
    const name = o.name ?? `prometheus-${node}`;
    const job = o.job ?? 'loxilb';
    const dir = path.join(lab.dir, name);
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    const interval = o.scrapeIntervalMs ?? 1000;
    const config = path.join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${interval}ms`,
        `  scrape_timeout: ${Math.max(100, interval - 100)}ms`,
        'scrape_configs:',
        `  - job_name: ${job}`,
        `    metrics_path: ${o.metricsPath}`,
        '    static_configs:',
        `      - targets: [${o.targets.map((t) => `'${t}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const api = `127.0.0.1:${o.port}`;
    const proc = lab.spawn(node, 'prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${api}`], { logName: `${node}.${name}` });
    const p = new Prometheus(lab, node, job, api, proc);
    await waitFor(
      async () => {
        if (!proc.alive()) throw new StopWaiting(`prometheus in ${node} exited: ${proc.log().slice(-1000)}`);
        try {
          const up = await p.query(`up{job="${job}"}`);
          return up.length === o.targets.length && up.every((s) => s.value === 1);
        } catch {
          return false; // not listening yet
        }
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `prometheus in ${node} scraping ${o.targets.join(', ')}` },
    );
    return p;
  }

  /** An instant query; throws with Prometheus's error for a bad one. */
  async query(q: string): Promise<PromSample[]> {
    const r = await this.lab.exec(this.node, ['curl', '-s', '-m', '5', '--get', '--data-urlencode', `query=${q}`, `http://${this.api}/api/v1/query`]);
    const body = JSON.parse(r.stdout) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`prometheus query ${q}: ${body.error ?? r.stdout}`);
    return body.data.result.map((x) => ({ metric: x.metric, value: Number(x.value[1]) }));
  }

  /** The single value of a query, or undefined when it has no series; throws when it has several. */
  async value(q: string): Promise<number | undefined> {
    const r = await this.query(q);
    if (r.length > 1) throw new Error(`prometheus query ${q}: ${r.length} series, one expected`);
    return r[0]?.value;
  }

  /** Successful scrapes of the job's targets in the last `window` (a PromQL duration). */
  async scrapes(window = '10m'): Promise<number> {
    return (await this.value(`sum(count_over_time(up{job="${this.job}"}[${window}]))`)) ?? 0;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
