// A Clock for unit tests of async loops (reconcilers, probes, election,
// controller retries): time moves only when the test says so, and between two
// timers that fall due the promise chains they started are given the chance
// to settle, so `await clock.advance(2000)` behaves like two real seconds of
// an idle event loop without taking them. ManualClock (src/util/clock.ts) is
// its synchronous sibling for code that never awaits (BFD sessions).
//
// Real I/O (loopback HTTP to FakeKubeApi or FakeLoxiAgent) is not time:
// pass `idle` (e.g. pool.whenIdle()) and every step waits for the requests the
// last timer set off before time moves on. idle must not itself wait for a
// timer of this clock, or the step never ends.
import { SteppedClock } from '../../src/util/clock.ts';

export interface DriveOptions {
  /** Resolves when the code under test has no real I/O in flight. */
  idle?: () => Promise<unknown>;
}

export interface RunUntilOptions extends DriveOptions {
  /** Give up when more than this much (fake) time would pass; default 10 minutes. */
  maxMs?: number;
  /** What is awaited, for the error. */
  what?: string;
}


/** One turn of the event loop: every queued microtask, then the check phase. */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export class FakeClock extends SteppedClock {
  constructor(
    startMs = 0,
    epochAtZero = Date.UTC(2025, 0, 1),
    /** Event-loop turns given to promises after each timer (and before advancing). */
    private readonly settleTurns = 10,
  ) {
    super(startMs, epochAtZero);
  }

  /** Lets queued promise chains (and setImmediate work) run, without moving time. */
  async settle(turns = this.settleTurns): Promise<void> {
    for (let i = 0; i < turns; i++) await turn();
  }

  /**
   * Moves time forward by ms: fires the timers that fall due in (due,
   * creation) order, each at its due time, settling promises (and waiting for
   * `idle`) after each, so a timer armed by a callback within the window
   * fires too.
   */
  async advance(ms: number, opts: DriveOptions = {}): Promise<void> {
    await this.advanceTo(this.t + ms, opts);
  }

  async advanceTo(target: number, opts: DriveOptions = {}): Promise<void> {
    await this.quiesce(opts);
    for (let next = this.timers.takeDue(target); next; next = this.timers.takeDue(target)) {
      this.t = Math.max(this.t, next.due);
      next.fn();
      await this.quiesce(opts);
    }
    this.t = Math.max(this.t, target);
    await this.quiesce(opts);
  }

  /**
   * Runs timers in order (settling between them) until `done` holds, and
   * answers how much time that took. Throws when nothing is pending any more
   * or more than maxMs would pass: the awaited thing is stuck, not slow.
   */
  async runUntil(done: () => unknown, opts: RunUntilOptions = {}): Promise<number> {
    const maxMs = opts.maxMs ?? 600_000;
    const what = opts.what ?? 'condition';
    const start = this.t;
    for (;;) {
      await this.quiesce(opts);
      if (done()) return this.t - start;
      const next = this.nextDue();
      if (next === undefined) throw new Error(`FakeClock: no timer pending after ${this.t - start} ms and still no ${what}`);
      if (next - start > maxMs) throw new Error(`FakeClock: no ${what} within ${maxMs} ms`);
      await this.advanceTo(next, opts);
    }
  }

  /** Resolves with p's value, running timers in order until it settles (see runUntil). */
  async until<T>(p: Promise<T>, opts: RunUntilOptions = {}): Promise<T> {
    let settled = false;
    const tracked = p.then(
      (v) => ((settled = true), v),
      (e: unknown) => {
        settled = true;
        throw e;
      },
    );
    // Keep an early rejection from being reported as unhandled while we drive time.
    tracked.catch(() => undefined);
    await this.runUntil(() => settled, opts);
    return tracked;
  }

  private async quiesce(opts: DriveOptions): Promise<void> {
    await this.settle();
    if (opts.idle) {
      await opts.idle();
      await this.settle();
    }
  }
}

export interface EventuallyOptions extends DriveOptions {
  what?: string;
  /** Moves on to the clock's next timer when cond has not held for this many turns (default 20). */
  quietTurns?: number;
  /** Real milliseconds before giving up: a guard against a hang, never a wait (default 10 s). */
  timeoutMs?: number;
  /** Timers due after this (fake) time never fire here, e.g. a periodic resync the test must not see. */
  horizon?: number;
}

/**
 * Waits for cond while real loopback I/O (watch streams, status writes) runs,
 * checking once per event-loop turn instead of sleeping between polls. With
 * a clock, time moves on to the next due timer whenever cond has not held
 * for quietTurns turns, as it would for a process with nothing to do; idle
 * is awaited before each timer fires (see DriveOptions). Answers the fake
 * time that passed.
 */
export async function eventually(cond: () => unknown, clock?: FakeClock, opts: EventuallyOptions = {}): Promise<number> {
  const quiet = opts.quietTurns ?? 20;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const start = clock?.now() ?? 0;
  for (let turns = 1; !cond(); turns++) {
    if (Date.now() > deadline) throw new Error(`eventually: no ${opts.what ?? 'condition'} within ${opts.timeoutMs ?? 10_000} ms (real time)`);
    const next = clock?.nextDue();
    if (clock && next !== undefined && next <= (opts.horizon ?? Infinity) && turns % quiet === 0) await clock.advanceTo(next, opts);
    else await turn();
  }
  return (clock?.now() ?? 0) - start;
}
