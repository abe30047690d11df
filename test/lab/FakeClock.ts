// A Clock for unit tests of async loops (reconcilers, probes, election,
// controller retries): time moves only when the test says so, and between two
// timers that fall due the promise chains they started are given the chance
// to settle, so `await clock.advance(2000)` behaves like two real seconds of
// an idle event loop without taking them. ManualClock (src/util/clock.ts) is
// its synchronous sibling for code that never awaits (BFD sessions).
//
// Real I/O (loopback HTTP to FakeKubeApi) is not time: wait for it with
// waitFor() from ./wait.ts, and move the clock only for what is timed.
import type { Clock, TimerHandle } from '../../src/util/clock.ts';

interface FakeTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** One turn of the event loop: every queued microtask, then the check phase. */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

export class FakeClock implements Clock {
  private t: number;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(
    startMs = 0,
    private readonly epochAtZero = Date.UTC(2025, 0, 1),
    /** Event-loop turns given to promises after each timer (and before advancing). */
    private readonly settleTurns = 10,
  ) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  epochMs(): number {
    return this.epochAtZero + this.t;
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, due: this.t + Math.max(0, delayMs), fn });
    return id;
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, if any. */
  nextDue(): number | undefined {
    return this.earliest(Infinity)?.due;
  }

  /** Lets queued promise chains (and setImmediate work) run, without moving time. */
  async settle(turns = this.settleTurns): Promise<void> {
    for (let i = 0; i < turns; i++) await turn();
  }

  /**
   * Moves time forward by ms: fires the timers that fall due in (due,
   * creation) order, each at its due time, settling promises after each, so
   * a timer armed by a callback within the window fires too.
   */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.t + ms);
  }

  async advanceTo(target: number): Promise<void> {
    await this.settle();
    for (let next = this.earliest(target); next; next = this.earliest(target)) {
      this.timers.delete(next.id);
      this.t = Math.max(this.t, next.due);
      next.fn();
      await this.settle();
    }
    this.t = Math.max(this.t, target);
    await this.settle();
  }

  /**
   * Runs timers in order (settling between them) until `done` holds, and
   * answers how much time that took. Throws when nothing is pending any more
   * or more than maxMs would pass: the awaited thing is stuck, not slow.
   */
  async runUntil(done: () => boolean, maxMs = 600_000): Promise<number> {
    const start = this.t;
    await this.settle();
    while (!done()) {
      const next = this.nextDue();
      if (next === undefined) throw new Error(`FakeClock.runUntil: no timer pending at ${this.t - start} ms and the condition is still false`);
      if (next - start > maxMs) throw new Error(`FakeClock.runUntil: condition still false after ${maxMs} ms`);
      await this.advanceTo(next);
    }
    return this.t - start;
  }

  /** Resolves with p's value, running timers in order until it settles (see runUntil). */
  async until<T>(p: Promise<T>, maxMs?: number): Promise<T> {
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
    await this.runUntil(() => settled, maxMs);
    return tracked;
  }

  private earliest(limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const tm of this.timers.values()) {
      if (tm.due > limit) continue;
      if (!best || tm.due < best.due || (tm.due === best.due && tm.id < best.id)) best = tm;
    }
    return best;
  }
}
