// The Prometheus text exposition format (version 0.0.4), family by family:
// the agent's /metrics (api/metrics.ts) and kube-loxilb's (kube/kubeMetrics.ts)
// both write through it.
import type { HistogramData } from './Histogram.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Record<string, string>;

/** Builds the exposition text family by family: HELP and TYPE once, then the samples. */
export class Exposition {
  private readonly out: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: readonly [Labels, number][], sampleName?: (i: number) => string): void {
    if (samples.length === 0) return;
    this.out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    samples.forEach(([labels, value], i) => this.out.push(`${sampleName?.(i) ?? name}${formatLabels(labels)} ${formatValue(value)}`));
  }

  /** A histogram family: per series, cumulative _bucket samples (le), then _sum and _count. */
  histogram(name: string, help: string, series: readonly [Labels, HistogramData][]): void {
    const samples: [Labels, number][] = [];
    const names: string[] = [];
    for (const [labels, h] of series) {
      let cum = 0;
      h.bounds.forEach((b, i) => {
        cum += h.counts[i] ?? 0;
        samples.push([{ ...labels, le: String(b) }, cum]);
        names.push(`${name}_bucket`);
      });
      samples.push([{ ...labels, le: '+Inf' }, h.count], [labels, h.sum], [labels, h.count]);
      names.push(`${name}_bucket`, `${name}_sum`, `${name}_count`);
    }
    this.family(name, 'histogram', help, samples, (i) => names[i]!);
  }

  one(name: string, type: 'counter' | 'gauge', help: string, value: number | undefined): void {
    if (value !== undefined) this.family(name, type, help, [[{}, value]]);
  }

  text(): string {
    return this.out.length > 0 ? `${this.out.join('\n')}\n` : '';
  }
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

