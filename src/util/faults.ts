// Background faults: errors thrown by timers and listeners that no request is
// waiting for. A timer callback that throws would otherwise be an uncaught
// exception (the process dies) or an unhandled rejection (the same, in Node
// 20). Wrapped with `guarded`, it costs that one pass: the error is logged
// (rate-limited per source) and kept here by source, so GET /status can say
// what is degraded without anyone reading logs.
import type { Logger } from './logger.ts';
import { errnoCode, errorMessage } from './errors.ts';
import { systemClock, type Clock } from './clock.ts';

export interface FaultRecord {
  /** What failed, e.g. "datapath link sync". */
  source: string;
  count: number;
  lastError: string;
  /** errno code of the last error (EMFILE, ...), if it had one. */
  lastCode?: string;
  /** Wall-clock ms (the registry clock's epochMs) of the last occurrence. */
  lastAt: number;
}

/** How often one source may log the same kind of failure again. */
const LOG_EVERY_MS = 10_000;

export class FaultRegistry {
  private readonly bySource = new Map<string, FaultRecord & { loggedAt: number }>();

  /** lastAt, recent() and the log throttle use its epochMs (default: the system clock). */
  constructor(private readonly clock: Clock = systemClock) {}

  /** Records a failure; logs it unless the same source logged one in the last 10 s. */
  record(source: string, err: unknown, log?: Logger): void {
    const at = this.clock.epochMs();
    let r = this.bySource.get(source);
    if (!r) {
      r = { source, count: 0, lastError: '', lastAt: at, loggedAt: -Infinity };
      this.bySource.set(source, r);
    }
    r.count++;
    r.lastError = errorMessage(err);
    const code = errnoCode(err);
    if (code !== undefined) r.lastCode = code;
    else delete r.lastCode;
    r.lastAt = at;
    if (log && at - r.loggedAt >= LOG_EVERY_MS) {
      r.loggedAt = at;
      log.error({ source, err: r.lastError, code, count: r.count }, 'background task failed; it runs again next time');
    }
  }

  /** Sources that failed within the last `withinMs`, most recent first. */
  recent(withinMs: number): FaultRecord[] {
    const since = this.clock.epochMs() - withinMs;
    return [...this.bySource.values()]
      .filter((r) => r.lastAt >= since)
      .sort((a, b) => b.lastAt - a.lastAt)
      .map(({ loggedAt: _, ...r }) => r);
  }

  /** Every source that ever failed. */
  all(): FaultRecord[] {
    return [...this.bySource.values()].map(({ loggedAt: _, ...r }) => r);
  }
}

/** The agent's registry: timers anywhere in the process report here. */
export const processFaults = new FaultRegistry();

/**
 * Wraps a timer or listener callback so that neither a synchronous throw nor
 * a rejected promise escapes it: both are recorded under `source`.
 */
export function guarded<A extends unknown[]>(
  source: string,
  fn: (...args: A) => unknown,
  opts: { log?: Logger; faults?: FaultRegistry } = {},
): (...args: A) => void {
  const faults = opts.faults ?? processFaults;
  return (...args: A) => {
    try {
      const r = fn(...args);
      if (r instanceof Promise) r.catch((err: unknown) => faults.record(source, err, opts.log));
    } catch (err) {
      faults.record(source, err, opts.log);
    }
  };
}
