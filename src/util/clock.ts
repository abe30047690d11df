// Time for the timer-driven parts of the agent (BFD, the REST server's idle
// sweep, gobgpd restarts): a Clock gives monotonic milliseconds and one-shot
// timers. systemClock is the real one; ManualClock lets tests move time by
// hand and runs the timers that fall due, in order.

/** Opaque to callers: whatever the clock's setTimer returned. */
export type TimerHandle = unknown;

export interface Clock {
  /** Monotonic milliseconds; fractions allowed. */
  now(): number;
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  // performance.now() rather than Date.now(): a wall-clock step must not fire
  // or postpone a detection timer.
  now: () => performance.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, Math.max(0, delayMs)),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface ManualTimer {
  id: number;
  due: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private t: number;
  private nextId = 1;
  private readonly timers = new Map<number, ManualTimer>();

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
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

  /** Moves time forward by ms, firing due timers in (due, creation) order at their due time. */
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  advanceTo(target: number): void {
    for (let next = this.earliest(target); next; next = this.earliest(target)) {
      this.timers.delete(next.id);
      this.t = Math.max(this.t, next.due);
      next.fn();
    }
    this.t = Math.max(this.t, target);
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
