// Whether this node is carrying the services' traffic right now: the
// datapath's count of load-balanced packets rose within the last window.
// It tells the election which of two MASTERs the routers actually use after
// a partition of the HA link alone (both kept their routers, both advertised
// as MASTER, and the routers picked one by their own tie-break): that node
// keeps MASTER at the heal, whatever the ranks, so no connection moves.
import { repeatEvery, type Clock, type RepeatingTimer } from '../util/clock.ts';

export const SERVICE_ACTIVITY_SAMPLE_MS = 250;
export const SERVICE_ACTIVITY_WINDOW_MS = 1000;

export class ServiceActivity {
  private last: number | undefined;
  private lastRiseAt = Number.NEGATIVE_INFINITY;
  private readonly timer: RepeatingTimer;

  constructor(
    /** Load-balanced packets so far (monotonic; undefined when unknown). */
    private readonly packets: () => number | undefined,
    private readonly clock: Clock,
    private readonly windowMs = SERVICE_ACTIVITY_WINDOW_MS,
  ) {
    this.timer = repeatEvery(clock, SERVICE_ACTIVITY_SAMPLE_MS, () => this.sample(), { unref: true });
  }

  /** Traffic was seen within the window (a sample taken now counts). */
  serving(): boolean {
    this.sample();
    return this.clock.now() - this.lastRiseAt <= this.windowMs;
  }

  close(): void {
    this.timer.stop();
  }

  private sample(): void {
    const n = this.packets();
    if (n === undefined) return;
    if (this.last !== undefined && n > this.last) this.lastRiseAt = this.clock.now();
    this.last = n;
  }
}
