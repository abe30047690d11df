// Owns the gobgpd child process: starts it with its gRPC API bound where the
// agent says (loopback by default), passes its log lines to pino, restarts it
// when it dies (see RestartBackoff), and ends it by PID when the agent stops.
// It never touches a gobgpd it did not start: if the API address is already
// taken, it refuses to start and says so.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { tcpConnect } from '../util/tcpConnect.ts';
import { existsSync } from 'node:fs';
import readline from 'node:readline';
import type { Logger } from '../util/logger.ts';
import { guarded } from '../util/faults.ts';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { Backoff } from '../util/Backoff.ts';

export interface RestartBackoffOptions {
  /** Second restart in a row, ms; each further one doubles it. */
  baseMs?: number;
  maxMs?: number;
  /** A gobgpd that ran this long before it died was stable: its restart is immediate again. */
  stableMs?: number;
}

export const DEFAULT_RESTART_BACKOFF = { baseMs: 250, maxMs: 10_000, stableMs: 5_000 } as const;

/**
 * When to restart gobgpd after it died. Routes are gone from the routers
 * until it is back, so a lone crash is restarted at once; a crash loop (a
 * gobgpd that dies again within stableMs) waits baseMs, then twice that each
 * time, up to maxMs, so it cannot eat the node. One stable run (stableMs)
 * forgets the streak. (Before: 500 ms doubling to 10 s, forgotten only after
 * 30 s of uptime; a crash within 30 s of the last one waited seconds, and
 * routes were back at the router after 13 s at p50.)
 */
export class RestartBackoff {
  /** A restart is pending since the last stable run: the next death is part of a crash loop. */
  private looping = false;
  private readonly stableMs: number;
  private readonly loop: Backoff;

  constructor(opts: RestartBackoffOptions = {}) {
    const o = { ...DEFAULT_RESTART_BACKOFF, ...opts };
    this.stableMs = o.stableMs;
    this.loop = new Backoff(o.baseMs, o.maxMs);
  }

  /** The delay before the next start, for a process that ran `uptimeMs` (0 for one that failed to start). */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.stableMs) {
      this.looping = false;
      this.loop.reset();
    }
    if (!this.looping) {
      this.looping = true;
      return 0;
    }
    return this.loop.next();
  }
}

export interface SupervisorOptions {
  binary: string;
  /** host:port for --api-hosts. */
  apiAddress: string;
  logLevel: 'debug' | 'info';
  backoff?: RestartBackoffOptions;
  /** Time for uptime and restart delays (tests drive it). */
  clock?: Clock;
  /** How to start a process (tests pass a fake). */
  spawnProcess?: (command: string, args: string[], opts: SpawnOptions) => ChildProcess;
}

export type SupervisorState = 'stopped' | 'starting' | 'running' | 'backoff';

export class ApiAddressInUseError extends Error {
  constructor(addr: string) {
    super(
      `gobgpd API address ${addr} is already in use (another gobgpd?). loxilb starts its own gobgpd and never stops one it did not start: stop that process or choose another address with --gobgp-api`,
    );
  }
}

export function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid address ${addr}: expected host:port`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

/** True when something accepts TCP connections on addr. */
export async function isListening(addr: string, timeoutMs = 500): Promise<boolean> {
  const { host, port } = splitHostPort(addr);
  return (await tcpConnect(host, port, timeoutMs)) === 'connected';
}

export class GobgpSupervisor extends EventEmitter {
  private child?: ChildProcess;
  private stopping = false;
  private restartTimer?: TimerHandle;
  private readonly backoff: RestartBackoff;
  private readonly clock: Clock;
  private startedAt = 0;
  private _state: SupervisorState = 'stopped';
  restarts = 0;
  /** The delay the latest restart waited, ms. */
  lastRestartDelayMs?: number;

  constructor(
    private readonly opts: SupervisorOptions,
    private readonly log: Logger,
  ) {
    super();
    this.backoff = new RestartBackoff(opts.backoff);
    this.clock = opts.clock ?? systemClock;
  }

  get state(): SupervisorState {
    return this._state;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts gobgpd; rejects if the API address is taken or the binary is missing. */
  async start(): Promise<void> {
    if (await isListening(this.opts.apiAddress)) throw new ApiAddressInUseError(this.opts.apiAddress);
    if (this.opts.binary.includes('/') && !existsSync(this.opts.binary)) {
      throw new Error(`gobgpd binary not found at ${this.opts.binary} (set it with --gobgp-bin)`);
    }
    this.stopping = false;
    await this.spawnOnce();
  }

  private spawnOnce(): Promise<void> {
    this._state = 'starting';
    const args = [`--api-hosts=${this.opts.apiAddress}`, '--pprof-disable', '-p', '-l', this.opts.logLevel];
    // setpriv --pdeathsig makes the kernel stop gobgpd if the agent dies without
    // cleaning up (SIGKILL), so a dead agent never leaves routes advertised.
    const usePdeath = existsSync('/usr/bin/setpriv');
    const cmd = usePdeath ? '/usr/bin/setpriv' : this.opts.binary;
    const argv = usePdeath ? ['--pdeathsig', 'SIGTERM', '--', this.opts.binary, ...args] : args;
    return new Promise((resolve, reject) => {
      const child = (this.opts.spawnProcess ?? spawn)(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        this.startedAt = this.clock.now();
        this._state = 'running';
        this.log.info({ pid: child.pid, api: this.opts.apiAddress }, 'gobgpd started');
        this.emit('started', child.pid);
        resolve();
      });
      child.once('error', (err) => {
        if (!spawned) {
          if (this.child === child) this.child = undefined;
          reject(new Error(`cannot start gobgpd (${this.opts.binary}): ${err.message}`));
        }
      });
      for (const stream of [child.stdout!, child.stderr!]) {
        readline.createInterface({ input: stream }).on('line', (line) => this.passLog(line));
      }
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (!spawned) return;
        this.emit('exit', code, signal);
        if (this.stopping) {
          this._state = 'stopped';
          return;
        }
        const ranMs = this.clock.now() - this.startedAt;
        this.log.warn({ code, signal, ranMs: Math.round(ranMs) }, 'gobgpd exited; restarting');
        this.scheduleRestart(ranMs);
      });
    });
  }

  private passLog(line: string): void {
    // gobgpd -p prints logrus text: time="..." level=info msg="..." Key=Value
    const lvl = /level=(\w+)/.exec(line)?.[1] ?? 'info';
    const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line;
    const l = this.log;
    if (lvl === 'error' || lvl === 'fatal' || lvl === 'panic') l.error({ gobgpd: line }, msg);
    else if (lvl === 'warning' || lvl === 'warn') l.warn({ gobgpd: line }, msg);
    else if (lvl === 'debug' || lvl === 'trace') l.debug({ gobgpd: line }, msg);
    else l.info({ gobgpd: line }, msg);
  }

  /** `ranMs`: how long the gobgpd that died ran (0 when it never started). */
  private scheduleRestart(ranMs: number): void {
    const delay = this.backoff.next(ranMs);
    this.lastRestartDelayMs = delay;
    this._state = 'backoff';
    if (delay > 0) this.log.warn({ delayMs: delay }, 'gobgpd keeps dying: restart delayed');
    this.restartTimer = this.clock.setTimer(
      guarded('gobgpd restart', () => {
        this.restartTimer = undefined;
        if (this.stopping) return;
        this.restarts++;
        this.spawnOnce().catch((err: Error) => {
          this.log.error({ err: err.message }, 'gobgpd restart failed');
          if (!this.stopping) this.scheduleRestart(0);
        });
      }, { log: this.log }),
      delay,
    );
  }

  /** Ends gobgpd by PID: SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== undefined) this.clock.clearTimer(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this._state = 'stopped';
      return;
    }
    await new Promise<void>((resolve) => {
      const t = this.clock.setTimer(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        this.clock.clearTimer(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
    this._state = 'stopped';
  }

  /** Synchronous last resort for process 'exit' handlers. */
  killNow(): void {
    this.stopping = true;
    if (this.child?.pid && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  }
}
