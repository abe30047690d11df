// Polls the BIRD router for route counts: the benchmark's clock stops when
// BIRD (the thing a real router would forward by) holds the expected routes.
// The polls go over one kept-open control-socket connection (Bird.query), not
// a birdc process each: on this 2-core VM a fork and exec every 20 ms took
// CPU from the agent, gobgpd and BIRD under test.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bird } from '../../test/lab/Bird.ts';

export const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 20);

/** Protocol of a BGP neighbour in the lab's BIRD config. */
export function proto(address: string): string {
  return `n_${address.replace(/[^0-9A-Za-z]/g, '_')}`;
}

/** `show route [primary] protocol P count` -> routes matched (first number of `N of M routes ...`). */
export async function birdCount(bird: Bird, protocol: string, primary = false): Promise<number> {
  const out = await bird.query(`show route ${primary ? 'primary ' : ''}protocol ${protocol} count`);
  const m = /^(\d+) of \d+ routes/m.exec(out);
  if (!m) throw new Error(`unexpected birdc count output: ${out.trim().slice(0, 200)}`);
  return Number(m[1]);
}

export interface WaitResult {
  /** From t0 to the answer of the first poll that met the condition. */
  ms: number;
  polls: number;
}

export interface CountWait {
  protocol: string;
  primary?: boolean;
  want: number;
}

export function describe(w: CountWait): string {
  return `${w.primary ? 'primary ' : ''}${w.protocol} = ${w.want}`;
}

/**
 * Polls every POLL_MS until every count matches, and returns the time since
 * t0 (a performance.now() value). Progress goes to stderr every few seconds.
 * Throws after timeoutMs with the last counts.
 */
export async function waitCounts(
  bird: Bird,
  waits: CountWait[],
  t0: number,
  timeoutMs: number,
  label: string,
  signal?: AbortSignal,
): Promise<WaitResult> {
  const deadline = t0 + timeoutMs;
  let polls = 0;
  let last: number[] = [];
  let lastReport = performance.now();
  let lastError: unknown;
  for (;;) {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(`${label}: aborted`);
    try {
      last = await Promise.all(waits.map((w) => birdCount(bird, w.protocol, w.primary)));
      polls++;
      if (last.every((n, i) => n === waits[i]!.want)) return { ms: performance.now() - t0, polls };
    } catch (err) {
      lastError = err;
    }
    const now = performance.now();
    if (now > deadline) {
      throw new Error(
        `${label}: timed out after ${timeoutMs} ms waiting for BIRD ${waits.map(describe).join(', ')} (last: ${last.join(', ')}${lastError ? `; last error: ${(lastError as Error).message}` : ''})`,
      );
    }
    if (now - lastReport > 5000) {
      lastReport = now;
      process.stderr.write(`    ${label}: ${((now - t0) / 1000).toFixed(1)} s, BIRD ${waits.map((w, i) => `${w.primary ? 'primary ' : ''}${w.protocol} ${last[i] ?? '?'}/${w.want}`).join(', ')}\n`);
    }
    await sleep(POLL_MS);
  }
}

/** Polls until a BGP protocol is (or is no longer) Established; returns ms since t0. */
export async function waitProtocol(bird: Bird, protocol: string, established: boolean, t0: number, timeoutMs: number): Promise<number> {
  const deadline = t0 + timeoutMs;
  let last = '?';
  for (;;) {
    try {
      last = (await bird.bgpProtocolStates(true))[protocol]?.bgpState ?? 'missing';
      if ((last === 'Established') === established) return performance.now() - t0;
    } catch {
      // birdc hiccup: try again.
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${protocol} to be ${established ? '' : 'not '}Established (last ${last})`);
    await sleep(POLL_MS);
  }
}

/**
 * One poll loop for a session coming back with its routes: each round reads
 * the protocol state, then the route count. Returns when the session was
 * first seen Established and when the count first matched (never before).
 */
export async function waitSessionAndCount(
  bird: Bird,
  protocol: string,
  want: number,
  t0: number,
  timeoutMs: number,
): Promise<{ establishedMs: number; allMs: number }> {
  const deadline = t0 + timeoutMs;
  let establishedMs: number | undefined;
  let lastState = '?';
  let lastCount = -1;
  let lastReport = performance.now();
  for (;;) {
    try {
      if (establishedMs === undefined) {
        lastState = (await bird.bgpProtocolStates(true))[protocol]?.bgpState ?? 'missing';
        if (lastState === 'Established') establishedMs = performance.now() - t0;
      }
      if (establishedMs !== undefined) {
        lastCount = await birdCount(bird, protocol);
        if (lastCount === want) return { establishedMs, allMs: performance.now() - t0 };
      }
    } catch {
      // birdc hiccup: try again.
    }
    const now = performance.now();
    if (now > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${protocol} Established with ${want} routes (state ${lastState}, routes ${lastCount})`);
    if (now - lastReport > 5000) {
      lastReport = now;
      process.stderr.write(`    ${protocol}: ${((now - t0) / 1000).toFixed(1)} s, state ${lastState}, routes ${lastCount}/${want}\n`);
    }
    await sleep(POLL_MS);
  }
}
