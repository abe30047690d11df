// Exponential backoff, the one kind the agent and kube-loxilb use: the first
// retry waits initialMs, each following one twice as long up to maxMs, and a
// success starts over. Timers stay with the caller (and its clock).
export class Backoff {
  private current: number;

  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
  ) {
    if (!(initialMs > 0) || !(maxMs >= initialMs)) throw new RangeError(`backoff: need 0 < initialMs <= maxMs (got ${initialMs}, ${maxMs})`);
    this.current = initialMs;
  }

  /** The delay to wait before this retry; the next one doubles, up to maxMs. */
  next(): number {
    const d = this.current;
    this.current = Math.min(this.maxMs, this.current * 2);
    return d;
  }

  /** After a success: the next failure waits initialMs again. */
  reset(): void {
    this.current = this.initialMs;
  }
}
