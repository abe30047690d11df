// How many file descriptors the process holds against its limit. Every
// connection, socket, pipe and BPF object is one; at the limit, accept(),
// os.networkInterfaces(), spawn() and file reads fail with EMFILE. The REST
// server sizes its connection cap from the limit and refuses connections
// when the count gets close to it, so a flood of connections never starves
// the agent's own timers.
import { readFileSync, readdirSync } from 'node:fs';

/** The soft RLIMIT_NOFILE, from /proc/self/limits; undefined if it cannot be read or is unlimited. */
export function readFdLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Open descriptors now; undefined when they cannot be counted (which itself may mean EMFILE). */
export function countOpenFds(): number | undefined {
  try {
    // The directory handle used to read it is one of the entries.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/**
 * A cheap running estimate of open descriptors: one real count at most every
 * `sampleMs`, plus the connections opened since less those closed since (each
 * is one descriptor), so a flood is seen without a directory scan per
 * connection.
 */
export class FdGauge {
  private sampled?: number;
  private sampledAt = -Infinity;
  private openedSince = 0;
  /** The last sample failed: the count itself could not be taken. */
  unreadable = false;

  constructor(
    readonly limit: number | undefined,
    private readonly sampleMs = 500,
    private readonly count: () => number | undefined = countOpenFds,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A descriptor was just opened (an accepted connection). */
  opened(): void {
    this.openedSince++;
  }

  /** A descriptor counted by opened() was closed. */
  closed(): void {
    this.openedSince--;
  }

  /** Estimated descriptors in use. */
  estimate(): number | undefined {
    const t = this.now();
    if (t - this.sampledAt >= this.sampleMs) {
      const n = this.count();
      this.sampledAt = t;
      this.openedSince = 0;
      this.unreadable = n === undefined;
      this.sampled = n;
    }
    return this.sampled === undefined ? undefined : this.sampled + this.openedSince;
  }

  /** True when fewer than `reserve` descriptors are left (or they cannot even be counted). */
  underPressure(reserve: number): boolean {
    if (this.limit === undefined) return false;
    const n = this.estimate();
    if (n === undefined) return this.unreadable;
    return n > this.limit - reserve;
  }
}
