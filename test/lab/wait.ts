// Polling helpers for integration tests: real daemons converge in real time,
// so tests wait for a condition instead of sleeping for a guessed duration.

import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number;
  /** What we are waiting for; used in the timeout error. */
  what?: string;
}

export class WaitTimeoutError extends Error {
  constructor(
    message: string,
    readonly lastValue: unknown,
    readonly lastError: unknown,
  ) {
    super(message);
    this.name = 'WaitTimeoutError';
  }
}

/** Thrown by a predicate to stop waiting at once (e.g. the daemon it polls has died). */
export class StopWaiting extends Error {
  override name = 'StopWaiting';
}

/**
 * Calls `predicate` until it returns a truthy value and resolves with that
 * value. A predicate that throws counts as "not yet"; the last value and the
 * last error are put in the timeout error so a failing test says why. A
 * StopWaiting thrown by the predicate is rethrown immediately.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutOrOptions: number | WaitOptions = {},
): Promise<NonNullable<T>> {
  const opts: WaitOptions =
    typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions } : timeoutOrOptions;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastValue: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
      lastValue = value;
      lastError = undefined;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const what = opts.what ?? 'condition';
  const detail =
    lastError !== undefined
      ? `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
      : `last value: ${safeJson(lastValue)}`;
  throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what} (${detail})`, lastValue, lastError);
}

function safeJson(value: unknown): string {
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s.length > 500 ? `${s.slice(0, 500)}…` : s;
  } catch {
    return String(value);
  }
}
