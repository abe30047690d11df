// Probes of the endpoint hosts POSTed to config/endpoint, as loxilb runs them
// (rules.go epCheckNow / transitionEPState):
// - the first probe runs at once and decides alone (threshold 1); after that a
//   host goes nok after inactiveReTries failures in a row and ok again on the
//   first success;
// - ping sends inactiveReTries echo requests 200 ms apart in one run (the
//   system's ping, iputils: raw ICMP needs its capability, not ours); any
//   reply is ok, and min/avg/max round trip are kept; none is nok at once;
// - an ok host is probed every probeDuration seconds; a nok one every
//   min(probeDuration, 4 s), so it comes back quickly (loxilb sweeps inactive
//   hosts every other 2 s tick);
// - 'none' is never probed and always ok.
import { EventEmitter } from 'node:events';
import { execFile } from 'node:child_process';
import type { Logger } from '../util/logger.ts';
import { systemClock, unrefTimer, type Clock, type TimerHandle } from '../util/clock.ts';
import { runProbe } from './EndpointProber.ts';
import type { EndpointHostSpec } from './validateEndpointHost.ts';

const NOK_RECHECK_MS = 4000;
const MAX_PROBE_TIMEOUT_MS = 2000;

export interface HostProbeOutcome {
  ok: boolean;
  /** Ping: round trips of this run, ms (min, avg, max). */
  rtt?: { min: number; avg: number; max: number };
}

export type HostProbeFn = (spec: EndpointHostSpec, timeoutMs: number) => Promise<HostProbeOutcome>;

export interface HostProbeResult {
  ok: boolean;
  /** Probes run since the entry was (re)configured. */
  probes: number;
  rtt?: { min: number; avg: number; max: number };
}

interface Running {
  spec: EndpointHostSpec;
  /** The spec as text: a changed POST restarts the probe. */
  sig: string;
  result: HostProbeResult;
  failures: number;
  timer?: TimerHandle;
  inFlight: boolean;
}

/** Emits 'change' (hostName) when an entry's ok/nok flips. */
export class EndpointHostProber extends EventEmitter {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly log: Logger,
    private readonly probe: HostProbeFn = runHostProbe,
    private readonly clock: Clock = systemClock,
  ) {
    super();
  }

  /** Probes exactly these entries (key -> spec); a changed spec starts over (ok until its first probe). */
  sync(entries: ReadonlyMap<string, EndpointHostSpec>): void {
    for (const [k, r] of this.running) {
      const s = entries.get(k);
      if (!s || JSON.stringify(s) !== r.sig) this.stop(k);
    }
    for (const [k, spec] of entries) {
      if (this.running.has(k) || spec.probeType === 'none') continue;
      const r: Running = { spec, sig: JSON.stringify(spec), result: { ok: true, probes: 0 }, failures: 0, inFlight: false };
      this.running.set(k, r);
      void this.runOne(k, r);
    }
  }

  /** undefined: not probed (probeType none, or unknown key). */
  result(key: string): HostProbeResult | undefined {
    return this.running.get(key)?.result;
  }

  close(): void {
    for (const k of [...this.running.keys()]) this.stop(k);
  }

  private stop(key: string): void {
    const r = this.running.get(key);
    if (r?.timer !== undefined) this.clock.clearTimer(r.timer);
    this.running.delete(key);
  }

  private async runOne(key: string, r: Running): Promise<void> {
    r.timer = undefined;
    if (r.inFlight) return;
    r.inFlight = true;
    const periodMs = r.spec.probeDuration * 1000;
    let out: HostProbeOutcome;
    try {
      out = await this.probe(r.spec, Math.min(MAX_PROBE_TIMEOUT_MS, periodMs));
    } catch {
      out = { ok: false };
    } finally {
      r.inFlight = false;
    }
    // Stopped or replaced while the probe ran: its answer is for nobody.
    if (this.running.get(key) !== r) return;
    const was = r.result.ok;
    const threshold = r.result.probes === 0 || r.spec.probeType === 'ping' ? 1 : r.spec.inactiveReTries;
    let ok = was;
    if (out.ok) {
      r.failures = 0;
      ok = true;
    } else if (++r.failures >= threshold) {
      ok = false;
    }
    const rtt = r.spec.probeType === 'ping' ? (out.ok && out.rtt ? out.rtt : { min: 0, avg: 0, max: 0 }) : undefined;
    r.result = { ok, probes: r.result.probes + 1, ...(rtt ? { rtt } : {}) };
    r.timer = unrefTimer(this.clock.setTimer(() => void this.runOne(key, r), ok ? periodMs : Math.min(periodMs, NOK_RECHECK_MS)));
    if (was !== ok) {
      this.log.info({ endpointHost: key, probe: r.spec.probeType, ok }, 'endpoint host state changed');
      this.emit('change', r.spec.hostName);
    }
  }
}

/** The probe itself: ping here (for its round trips), the rest through EndpointProber's runProbe. */
export async function runHostProbe(spec: EndpointHostSpec, timeoutMs: number): Promise<HostProbeOutcome> {
  if (spec.probeType === 'ping') return ping(spec.hostName, spec.inactiveReTries);
  const ok = await runProbe(
    { type: spec.probeType, ip: spec.hostName, port: spec.probePort, req: spec.probeReq, resp: spec.probeResp, periodMs: spec.probeDuration * 1000, retries: spec.inactiveReTries },
    timeoutMs,
  );
  return { ok };
}

/** `count` echo requests 200 ms apart, each given a second for its reply. */
export function ping(ip: string, count: number): Promise<HostProbeOutcome> {
  const deadline = Math.ceil(count * 0.2) + 1;
  return new Promise((resolve) => {
    execFile(
      'ping',
      ['-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', '-w', String(deadline), ip],
      { timeout: (deadline + 2) * 1000 },
      (_err, stdout) => resolve(parsePing(String(stdout))),
    );
  });
}

/** iputils' summary: "N packets transmitted, M received" and "rtt min/avg/max/mdev = a/b/c/d ms". */
export function parsePing(out: string): HostProbeOutcome {
  const recv = /(\d+) (?:packets )?received/.exec(out);
  if (!recv || Number(recv[1]) === 0) return { ok: false };
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/[\d.]+ ms/.exec(out);
  return m ? { ok: true, rtt: { min: Number(m[1]), avg: Number(m[2]), max: Number(m[3]) } } : { ok: true };
}

/** A duration as Go's time.Duration prints it (loxilb's minDelay / avgDelay / maxDelay): "0s", "412µs", "1.234ms", "2.5s". */
export function goDuration(ms: number): string {
  const ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const trim = (v: number, digits: number) => v.toFixed(digits).replace(/\.?0+$/, '');
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3, 3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6, 6)}ms`;
  const totalS = ns / 1e9;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = trim(totalS - h * 3600 - m * 60, 9);
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
