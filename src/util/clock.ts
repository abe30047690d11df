// Time for every timer-driven part of the agent and of kube-loxilb (BFD,
// probes, the reconcilers' spacing and retries, leader election, the REST
// server's idle sweep, gobgpd restarts): a Clock gives monotonic
// milliseconds, wall-clock milliseconds for timestamps that leave the process,
// and one-shot timers. systemClock is the real one and every part's default;
// ManualClock lets tests move time by hand and runs the timers that fall due,
// in order (test/lab/FakeClock.ts also lets promises settle between them).

/** Opaque to callers: whatever the clock's setTimer returned. */
export type TimerHandle = unknown;

export interface Clock {
  /** Monotonic milliseconds; fractions allowed. For durations and deadlines. */
  now(): number;
  /**
   * Milliseconds since the Unix epoch, for timestamps other processes read
   * (Lease times, Events, sync batches); never for measuring a duration.
   */
  epochMs(): number;
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  // performance.now() rather than Date.now(): a wall-clock step must not fire
  // or postpone a detection timer.
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, Math.max(0, delayMs)),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Lets a system timer not hold the process open; other clocks' handles are left alone. */
export function unrefTimer(handle: TimerHandle): TimerHandle {
  (handle as { unref?: () => void } | undefined)?.unref?.();
  return handle;
}

export interface RepeatingTimer {
  stop(): void;
}

/**
 * Calls fn every periodMs on clock until stop(), each call periodMs after the
 * previous one fired (as setInterval does). The next run is armed before fn
 * runs, so a throwing fn does not end the repetition. unref: a system timer
 * that must not hold the process open.
 */
export function repeatEvery(clock: Clock, periodMs: number, fn: () => void, opts: { unref?: boolean } = {}): RepeatingTimer {
  let handle: TimerHandle | undefined;
  let stopped = false;
  const arm = () => {
    handle = clock.setTimer(tick, periodMs);
    if (opts.unref) unrefTimer(handle);
  };
  const tick = () => {
    if (stopped) return;
    arm();
    fn();
  };
  arm();
  return {
    stop() {
      stopped = true;
      if (handle !== undefined) clock.clearTimer(handle);
      handle = undefined;
    },
  };
}

/** Resolves after delayMs on clock, or at once when signal aborts (no rejection). */
export function sleepOn(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clock.clearTimer(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = clock.setTimer(done, delayMs);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Rejects with `error()` if p has not settled within ms on clock; the timer is cleared either way. */
export function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let handle: TimerHandle | undefined;
  const deadline = new Promise<never>((_, reject) => {
    handle = clock.setTimer(() => reject(error()), ms);
  });
  return Promise.race([p, deadline]).finally(() => clock.clearTimer(handle));
}

interface ManualTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** The pending timers of a test clock: added, cleared, and taken in (due, creation) order. */
export class TimerQueue {
  private nextId = 1;
  private readonly timers = new Map<number, ManualTimer>();

  add(fn: () => void, due: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, due, fn });
    return id;
  }

  clear(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  get size(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, if any. */
  nextDue(): number | undefined {
    return this.earliest(Infinity)?.due;
  }

  /** Removes and returns the earliest timer due at or before `limit`. */
  takeDue(limit: number): ManualTimer | undefined {
    const t = this.earliest(limit);
    if (t) this.timers.delete(t.id);
    return t;
  }

  private earliest(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const tm of this.timers.values()) {
      if (tm.due > limit) continue;
      if (!best || tm.due < best.due || (tm.due === best.due && tm.id < best.id)) best = tm;
    }
    return best;
  }
}

/** A clock whose time moves only when told: what ManualClock and the tests' FakeClock share. */
export abstract class SteppedClock implements Clock {
  protected t: number;
  protected readonly timers = new TimerQueue();

  constructor(
    startMs = 0,
    /** What epochMs() answers at now() = 0. */
    private readonly epochAtZero = Date.UTC(2025, 0, 1),
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
    return this.timers.add(fn, this.t + Math.max(0, delayMs));
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.clear(handle);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, if any. */
  nextDue(): number | undefined {
    return this.timers.nextDue();
  }
}

export class ManualClock extends SteppedClock {
  /** Moves time forward by ms, firing due timers in (due, creation) order at their due time. */
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  advanceTo(target: number): void {
    for (let next = this.timers.takeDue(target); next; next = this.timers.takeDue(target)) {
      this.t = Math.max(this.t, next.due);
      next.fn();
    }
    this.t = Math.max(this.t, target);
  }
}
