// Analysis of a VIP prober's replies: the loss window of a failover is the
// longest silence between two replies the client received. Pure functions,
// shared by the prober process (vipProbe.ts), the failover harness and its
// unit test.

export interface Reply {
  /** Receive time in ms (any monotonic clock, the same for every reply and the window). */
  at: number;
  /** Name of the node that answered. */
  from: string;
}

export interface GapWindow {
  /** Start of the measurement (e.g. the moment just before the link is cut). */
  start: number;
  /** End of the measurement (when the prober was stopped). */
  end: number;
}

export interface GapAnalysis {
  /** Longest interval without a reply, in ms (see longestGap for the edges). */
  longestGapMs: number;
  /** Where that interval starts and ends (reply times, or the window's edges). */
  gapFrom: number;
  gapTo: number;
  /** Replies received inside the window (after start, up to end). */
  received: number;
  /** Responder of the anchor reply (last one at or before start), else of the first reply in the window. */
  firstResponder: string | undefined;
  /** Responder of the last reply in the window. */
  lastResponder: string | undefined;
  /** Replies per responder inside the window. */
  byResponder: Record<string, number>;
  /** Whether any reply came in after the longest gap (false: the outage had not ended when measuring stopped). */
  recovered: boolean;
}

/**
 * Longest silence in `window`. The clock starts at the last reply at or
 * before `window.start` (the moment the service was last seen alive), or at
 * `window.start` itself when there was none; it ends at `window.end`, so an
 * outage that never ended counts up to the end of the measurement instead of
 * vanishing. Replies need not be sorted. Replies after `window.end` are
 * ignored.
 */
export function longestGap(replies: readonly Reply[], window: GapWindow): GapAnalysis {
  if (!(window.end >= window.start)) throw new Error(`gap window ends (${window.end}) before it starts (${window.start})`);
  const sorted = [...replies].sort((a, b) => a.at - b.at);
  let anchor: Reply | undefined;
  const inside: Reply[] = [];
  for (const r of sorted) {
    if (r.at <= window.start) anchor = r;
    else if (r.at <= window.end) inside.push(r);
  }
  const byResponder: Record<string, number> = {};
  for (const r of inside) byResponder[r.from] = (byResponder[r.from] ?? 0) + 1;

  let prev = anchor?.at ?? window.start;
  let best = { len: -1, from: prev, to: prev };
  for (const r of inside) {
    if (r.at - prev > best.len) best = { len: r.at - prev, from: prev, to: r.at };
    prev = r.at;
  }
  const tail = window.end - prev;
  let recovered = true;
  if (tail > best.len) {
    best = { len: tail, from: prev, to: window.end };
    recovered = false;
  }
  return {
    longestGapMs: best.len,
    gapFrom: best.from,
    gapTo: best.to,
    received: inside.length,
    firstResponder: (anchor ?? inside[0])?.from,
    lastResponder: inside.at(-1)?.from ?? anchor?.from,
    byResponder,
    recovered,
  };
}

/**
 * Nearest-rank percentile (p in (0, 100]): the smallest sample such that at
 * least p % of the samples are less than or equal to it. With 20 samples p95
 * is the 19th smallest, p50 the 10th.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new Error(`percentile ${p} is not in (0, 100]`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1]!;
}
