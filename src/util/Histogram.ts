// A Prometheus-style histogram of durations: counts per upper bound, their
// sum and how many. Observing is a loop over a dozen bounds, so the
// reconcile loops can record every pass; rendering (cumulative buckets) is
// the exporter's job.

/** Seconds: 1 ms to 10 s, the span of a reconcile pass from a no-op to a full gobgpd resync. */
export const DEFAULT_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export interface HistogramData {
  /** Upper bounds, ascending (+Inf is implied). */
  bounds: readonly number[];
  /** Observations at or below each bound, not cumulative; one more entry for above the last. */
  counts: readonly number[];
  sum: number;
  count: number;
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[] = DEFAULT_DURATION_BUCKETS) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError('histogram bounds must ascend');
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  data(): HistogramData {
    return { bounds: this.bounds, counts: [...this.counts], sum: this.sum, count: this.count };
  }
}
