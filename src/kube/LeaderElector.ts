// Leader election on a coordination.k8s.io/v1 Lease, so several kube-loxilb
// replicas can run and exactly one of them programs agents and writes
// Service status. @kubernetes/client-node 1.4 has no elector, so this is
// client-go's algorithm on CoordinationV1Api:
//
// - Every retry period each candidate reads the Lease. It takes it when the
//   Lease is missing, released (no holder), or has not changed for a whole
//   leaseDurationSeconds *as observed on our own clock* (remote renewTime is
//   never compared with local time, so clock skew does not matter).
// - Writes carry the resourceVersion read, so of two candidates racing for
//   the same Lease one gets 409 Conflict and stays a follower.
// - The leader renews every retry period; if it cannot renew for
//   renewDeadline (< leaseDuration), it stops leading before anyone else may
//   take over.
// - stop() releases a held Lease (empty holder, 1 s duration) so a successor
//   starts at once instead of waiting the lease out.
import { EventEmitter } from 'node:events';
import { CoordinationV1Api, type KubeConfig, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../util/logger.ts';
import { errorText } from './KubeWatch.ts';
import { makeApiClient } from './kubeApiClient.ts';
import { sleepOn, systemClock, withTimeout, type Clock, type TimerHandle } from '../util/clock.ts';

export interface LeaderElectorOptions {
  /** Lease name (default kube-loxilb). */
  name?: string;
  /** Lease namespace (default kube-system). */
  namespace?: string;
  /** This candidate's identity, unique among replicas (pod name). */
  identity: string;
  /** Default 15 s; written as whole seconds (at least 1). */
  leaseDurationMs?: number;
  /** Give up leading when renewing fails for this long (default 10 s). */
  renewDeadlineMs?: number;
  /** Time between attempts (default 2 s). */
  retryPeriodMs?: number;
  log?: Logger;
  /**
   * Retry period, renew deadline and lease expiry run on its monotonic now();
   * the times written into the Lease are its epochMs().
   */
  clock?: Clock;
}

export interface LeaderElectorEvents {
  startedLeading: () => void;
  stoppedLeading: () => void;
  /** The observed holder changed (our own identity included). */
  newLeader: (identity: string) => void;
}

export class LeaderElector extends EventEmitter {
  readonly name: string;
  readonly namespace: string;
  readonly identity: string;
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationS: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  private leading = false;
  private running = false;
  private deadlineTimer?: TimerHandle;
  private loop?: Promise<void>;
  private attempting?: Promise<boolean>;
  private wake?: AbortController;
  private lastRenewMs = 0;
  /** The Lease as last read and when we first saw that version of it. */
  private observedRv?: string;
  private observedAtMs = 0;
  private observedHolder = '';

  constructor(kc: KubeConfig, opts: LeaderElectorOptions) {
    super();
    if (!opts.identity) throw new Error('LeaderElector needs an identity');
    this.api = makeApiClient(kc, CoordinationV1Api);
    this.name = opts.name ?? 'kube-loxilb';
    this.namespace = opts.namespace ?? 'kube-system';
    this.identity = opts.identity;
    this.leaseDurationS = Math.max(1, Math.ceil((opts.leaseDurationMs ?? 15_000) / 1000));
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationS * 1000) throw new Error('renewDeadline must be shorter than the lease duration');
    if (this.retryPeriodMs >= this.renewDeadlineMs) throw new Error('retryPeriod must be shorter than renewDeadline');
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
  }

  override on<E extends keyof LeaderElectorEvents>(event: E, listener: LeaderElectorEvents[E]): this {
    return super.on(event, listener);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder seen in the Lease at the last read ('' when none). */
  get leader(): string {
    return this.observedHolder;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops campaigning; a held Lease is released. Emits stoppedLeading if we led. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clock.clearTimer(this.deadlineTimer);
    this.wake?.abort();
    await this.loop;
    if (this.leading) {
      this.setLeading(false);
      await this.release();
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.attempting = this.tryAcquireOrRenew();
      const ok = await this.attempting;
      this.attempting = undefined;
      if (!this.running) break;
      if (ok) {
        this.lastRenewMs = this.clock.now();
        // A timer, not a check after the next attempt: a hung request must
        // not keep us leading past the deadline.
        this.clock.clearTimer(this.deadlineTimer);
        this.deadlineTimer = this.clock.setTimer(() => {
          if (!this.leading || !this.running) return;
          this.log.warn({ lease: `${this.namespace}/${this.name}`, sinceRenewMs: this.clock.now() - this.lastRenewMs }, 'could not renew the lease in time; stepping down');
          this.setLeading(false);
        }, this.renewDeadlineMs);
        if (!this.leading) this.setLeading(true);
      }
      // client-go jitters followers' retries so candidates spread out.
      const delay = this.leading ? this.retryPeriodMs : this.retryPeriodMs * (1 + Math.random() * 0.2);
      this.wake = new AbortController();
      await sleepOn(this.clock, delay, this.wake.signal);
      this.wake = undefined;
    }
  }

  /** Resolves once no lease request is in flight (for tests on a fake clock: time may move on). */
  async whenIdle(): Promise<void> {
    while (this.attempting) await this.attempting;
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.log.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity }, v ? 'became leader' : 'stopped leading');
    this.emit(v ? 'startedLeading' : 'stoppedLeading');
  }

  /** One attempt; true when we hold the Lease afterwards. Never throws. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    try {
      return await this.withDeadline(this.attempt());
    } catch (err) {
      this.log.debug({ err: errorText(err) }, 'lease attempt failed');
      return false;
    }
  }

  private async attempt(): Promise<boolean> {
    // Lease expiry is judged on our monotonic clock (a wall-clock step must not
    // shorten the wait); the times written are wall-clock.
    const now = this.clock.now();
    const wall = this.clock.epochMs();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      const body: V1Lease = {
        metadata: { name: this.name, namespace: this.namespace },
        spec: this.spec({ acquire: wall, transitions: 0 }),
      };
      try {
        await this.api.createNamespacedLease({ namespace: this.namespace, body });
      } catch (e) {
        if (statusOf(e) === 409) return false;
        throw e;
      }
      this.observe(this.identity, undefined, now);
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.observe(holder, lease.metadata?.resourceVersion, now);
    const durationMs = (spec.leaseDurationSeconds ?? this.leaseDurationS) * 1000;
    if (holder !== '' && holder !== this.identity && now < this.observedAtMs + durationMs) return false;
    const mine = holder === this.identity;
    const transitions = spec.leaseTransitions ?? 0;
    const next: V1Lease = {
      metadata: { ...lease.metadata },
      spec: this.spec({
        acquire: mine ? undefined : wall,
        keepAcquire: mine ? spec.acquireTime : undefined,
        transitions: mine ? transitions : transitions + 1,
      }),
    };
    try {
      const written = await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: next });
      this.observe(this.identity, written.metadata?.resourceVersion, now);
      if (!mine) this.log.info({ previous: holder || '(released)' }, 'acquired the lease');
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  private spec(o: { acquire?: number; keepAcquire?: unknown; transitions: number }): V1LeaseSpec {
    const now = this.clock.epochMs();
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationS,
      // MicroTime must have six fractional digits for a real apiserver; client-node would send milliseconds.
      acquireTime: (o.acquire !== undefined ? microTime(o.acquire) : (o.keepAcquire ?? microTime(now))) as unknown as Date,
      renewTime: microTime(now) as unknown as Date,
      leaseTransitions: o.transitions,
    };
  }

  private observe(holder: string, rv: string | undefined, now: number): void {
    if (rv === undefined || rv !== this.observedRv) {
      this.observedRv = rv;
      this.observedAtMs = now;
    }
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder !== '') this.emit('newLeader', holder);
    }
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.withDeadline(this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }));
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime(this.clock.epochMs()) as unknown as Date;
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
      await this.withDeadline(this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: lease }));
      this.log.info({ lease: `${this.namespace}/${this.name}` }, 'released the lease');
    } catch (err) {
      this.log.warn({ err: errorText(err) }, 'could not release the lease; others wait for it to expire');
    }
  }

  /** Bounds one attempt, so a hung request does not stall the loop. */
  private withDeadline<T>(p: Promise<T>): Promise<T> {
    const ms = this.renewDeadlineMs;
    return withTimeout(this.clock, p, ms, () => new Error(`lease request took longer than ${ms} ms`));
  }
}

export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown } | undefined)?.code ?? (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
