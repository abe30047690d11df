// Runs Debian's wrk inside a lab node and reads its summary.
import type { Lab } from '../../test/lab/Lab.ts';

export const WRK_BIN = '/usr/bin/wrk';

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  durationS: number;
  /** Send `Connection: close` (a new connection per request). */
  close: boolean;
  /** wrk's per-request timeout (counted as a timeout error). */
  timeoutS?: number;
}

export interface WrkResult {
  requests: number;
  /** Seconds wrk says the run lasted. */
  seconds: number;
  /** wrk's `Requests/sec`. */
  rps: number;
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
  latencyAvg: string;
  raw: string;
}

export function wrkArgs(o: WrkOptions): string[] {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.durationS}s`, '--timeout', `${o.timeoutS ?? 2}s`];
  // The space after the colon matters: without it wrk quietly keeps the
  // connections alive (lab-notes). Passed as one argv element, no shell.
  if (o.close) args.push('-H', 'Connection: close');
  args.push(o.url);
  return args;
}

export async function runWrk(lab: Lab, node: string, o: WrkOptions): Promise<WrkResult> {
  const r = await lab.exec(node, [WRK_BIN, ...wrkArgs(o)], { timeoutMs: (o.durationS + 30) * 1000 });
  if (r.code !== 0) throw new Error(`wrk in ${node} failed (${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(0, 500)}`);
  return parseWrk(r.stdout);
}

/** Parses wrk 4.1's summary; throws if the lines every run prints are missing. */
export function parseWrk(out: string): WrkResult {
  const done = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(out);
  const rps = /^Requests\/sec:\s*([\d.]+)/m.exec(out);
  if (!done || !rps) throw new Error(`unexpected wrk output:\n${out}`);
  const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[done[3] as 'us' | 'ms' | 's' | 'm'];
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const lat = /^\s*Latency\s+(\S+)/m.exec(out);
  return {
    requests: Number(done[1]),
    seconds: Number(done[2]) * unit,
    rps: Number(rps[1]),
    errors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
      non2xx: Number(non2xx?.[1] ?? 0),
    },
    latencyAvg: lat?.[1] ?? '?',
    raw: out,
  };
}

export function totalErrors(r: WrkResult): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.timeout + e.non2xx;
}
