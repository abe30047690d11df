// Runs an async pass whenever something changed, one pass at a time: changes
// that arrive while a pass runs are folded into the next one, so a burst of
// events costs one or two passes. The reconcilers (BGP, kernel routes) share it.
import { processFaults } from './faults.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import { Histogram } from './Histogram.ts';

export interface CoalescingLoopOptions {
  /**
   * Called when a pass throws. Return a delay in ms to pause the loop and
   * retry after it, or undefined to go on with the next pending change.
   */
  onError: (err: unknown) => number | undefined;
  /**
   * While changes keep coming, start passes at most this often. A change
   * after a quiet spell still runs at once; in a burst, each pass then
   * carries more changes and the fixed cost per pass (RPCs, syscalls) is
   * paid fewer times.
   */
  spacingMs?: number;
  /**
   * While changes keep coming pass after pass, the spacing doubles up to
   * this (default: spacingMs, i.e. fixed); a quiet spell as long as the
   * current spacing brings it back to spacingMs. A long trickle of changes
   * (a thousand Services created one request at a time) then costs a few
   * dozen passes over everything instead of one every spacingMs.
   */
  maxSpacingMs?: number;
  /** Spacing and retry delays run on it (default: the system clock). */
  clock?: Clock;
}

export class CoalescingLoop {
  private dirty = false;
  private running?: Promise<void>;
  private retryTimer?: TimerHandle;
  private closed = false;
  private lastStart = -Infinity;
  private lastEnd = -Infinity;
  private spacing: number;
  /** The last pass had to wait out the spacing (changes were coming faster than it). */
  private lastWaited = false;
  private urgent = false;
  private wakeSpacing?: () => void;
  private idleWaiters: (() => void)[] = [];
  private started = 0;
  private passWaiters: { after: number; resolve: () => void }[] = [];
  private readonly clock: Clock;
  /** How long each pass took, in seconds (failed ones too), by the loop's clock. */
  readonly durations = new Histogram();

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly opts: CoalescingLoopOptions,
  ) {
    this.spacing = opts.spacingMs ?? 0;
    this.clock = opts.clock ?? systemClock;
  }

  /** The spacing the next pass waits out (for tests). */
  get currentSpacingMs(): number {
    return this.spacing;
  }

  /** Something changed: run a pass soon (after a pending retry delay, if any). */
  kick(): void {
    if (this.closed) return;
    this.dirty = true;
    if (this.running || this.retryTimer !== undefined) return;
    // Let a burst of synchronous changes land before the pass starts.
    this.running = new Promise<void>((r) => setImmediate(r)).then(() => this.loop());
  }

  /** Like kick, but without waiting out a retry delay or the pass spacing (urgent changes: roles, a fresh gobgpd). */
  kickNow(): void {
    if (this.retryTimer !== undefined) this.clock.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    this.urgent = true;
    this.wakeSpacing?.();
    this.kick();
  }

  /** Resolves once no pass is pending or running (for tests and benchmarks). */
  whenIdle(): Promise<void> {
    if (!this.running && !this.dirty) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /**
   * Resolves once a pass that starts after this call has ended (whether it
   * threw or not), so a caller knows its change has been acted on. Kicks.
   */
  nextPass(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.passWaiters.push({ after: this.started, resolve }));
    this.kick();
    return p;
  }

  close(): void {
    this.closed = true;
    const w = this.passWaiters;
    this.passWaiters = [];
    for (const x of w) x.resolve();
    this.wakeSpacing?.();
    if (this.retryTimer !== undefined) this.clock.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
  }

  private passEnded(seq: number): void {
    if (this.passWaiters.length === 0) return;
    const keep: typeof this.passWaiters = [];
    for (const w of this.passWaiters) {
      if (w.after < seq) w.resolve();
      else keep.push(w);
    }
    this.passWaiters = keep;
  }

  private async loop(): Promise<void> {
    try {
      const base = this.opts.spacingMs ?? 0;
      const ceiling = Math.max(base, this.opts.maxSpacingMs ?? base);
      while (this.dirty && !this.closed) {
        // A change within the spacing of the last pass, which itself had to wait out the
        // spacing: changes keep coming, so space the next pass out further. Quiet for as
        // long as the spacing: back to the base.
        const sinceEnd = this.clock.now() - this.lastEnd;
        if (sinceEnd >= this.spacing) this.spacing = base;
        else if (this.lastWaited) this.spacing = Math.min(ceiling, Math.max(base, this.spacing * 2));
        // Timers run off libuv's cached loop clock and can fire up to a millisecond
        // early by performance.now(), so wait until the spacing has really passed.
        let wait: number;
        this.lastWaited = false;
        while ((wait = this.lastStart + this.spacing - this.clock.now()) > 0 && !this.urgent && !this.closed) {
          this.lastWaited = true;
          await new Promise<void>((r) => {
            const timer = this.clock.setTimer(r, Math.ceil(wait));
            this.wakeSpacing = () => {
              this.clock.clearTimer(timer);
              r();
            };
          });
          this.wakeSpacing = undefined;
        }
        this.urgent = false;
        if (this.closed) break;
        this.lastStart = this.clock.now();
        this.dirty = false;
        const seq = ++this.started;
        try {
          await this.pass();
          this.lastEnd = this.clock.now();
          this.durations.observe((this.lastEnd - this.lastStart) / 1000);
          this.passEnded(seq);
        } catch (err) {
          this.lastEnd = this.clock.now();
          this.durations.observe((this.lastEnd - this.lastStart) / 1000);
          this.passEnded(seq);
          let delay: number | undefined;
          try {
            delay = this.opts.onError(err);
          } catch (handlerErr) {
            // The loop must outlive its own error handler.
            processFaults.record('coalescing loop error handler', handlerErr);
            delay = 1000;
          }
          if (delay === undefined) continue;
          this.retryTimer = this.clock.setTimer(() => {
            this.retryTimer = undefined;
            this.kick();
          }, delay);
          return;
        }
      }
    } finally {
      this.running = undefined;
      if (!this.dirty || this.closed) {
        const w = this.idleWaiters;
        this.idleWaiters = [];
        for (const f of w) f();
      }
    }
  }
}
