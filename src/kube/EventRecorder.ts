// core/v1 Events about Services, the way users look for them
// (`kubectl describe svc`, `kubectl get events`). The same event repeated
// within the aggregation window bumps `count` and `lastTimestamp` of the
// Event already written (a merge patch) instead of creating another one, as
// client-go's recorder does. Recording never throws and never blocks the
// caller's loop: failures are logged, and flush() lets tests wait. Writes
// queue behind a few in flight (client-go's recorder, too, writes from a
// queue), so a burst (an IPAllocated for each of a thousand new Services)
// neither floods the API server nor holds a thousand requests in memory.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../util/logger.ts';
import { errorText } from './KubeWatch.ts';
import { makeApiClient } from './kubeApiClient.ts';
import { systemClock, type Clock } from '../util/clock.ts';

export type EventType = 'Normal' | 'Warning';

export const EVENT_COMPONENT = 'kube-loxilb';
/** The apiserver refuses longer messages. */
const MAX_MESSAGE = 1024;
const AGGREGATE_WINDOW_MS = 10 * 60_000;
/** Event writes in flight at once; the rest wait their turn. */
const WRITES_IN_FLIGHT = 4;
/** Names tried for one Event when the apiserver says the name is taken (409). */
const NAME_ATTEMPTS = 3;

export interface EventRecorderOptions {
  /** reportingInstance: which replica wrote it (pod name). */
  instance?: string;
  log?: Logger;
  /** Its epochMs() stamps the Events and times their aggregation (default: the system clock). */
  clock?: Clock;
}

interface Written {
  name: string;
  namespace: string;
  count: number;
  first: string;
  at: number;
}

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly written = new Map<string, Written>();
  private pending = new Set<Promise<void>>();
  private seq = 0;
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    kc: KubeConfig,
    private readonly opts: EventRecorderOptions = {},
  ) {
    this.core = makeApiClient(kc, CoreV1Api);
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
  }

  /** Records an event about a Service; returns at once. */
  service(svc: Pick<V1Service, 'metadata'>, type: EventType, reason: string, message: string): void {
    const m = svc.metadata ?? {};
    if (!m.name) return;
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const ns = m.namespace ?? 'default';
    (type === 'Warning' ? this.log.warn : this.log.info).call(this.log, { service: `${ns}/${m.name}`, reason }, text);
    const ref = { kind: 'Service', apiVersion: 'v1', name: m.name, namespace: ns, uid: m.uid, resourceVersion: m.resourceVersion };
    const p = this.inTurn(() => this.write(ns, ref, type, reason, text))
      .catch((err: unknown) => this.log.warn({ service: `${ns}/${m.name}`, reason, err: errorText(err) }, 'could not write event'))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits for every event write started so far. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Runs `job` once fewer than WRITES_IN_FLIGHT writes are running, in the order asked. */
  private async inTurn(job: () => Promise<void>): Promise<void> {
    // A finished write hands its slot straight to the next in the queue.
    if (this.inFlight < WRITES_IN_FLIGHT) this.inFlight++;
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      await job();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private async write(namespace: string, ref: NonNullable<CoreV1Event['involvedObject']>, type: EventType, reason: string, message: string): Promise<void> {
    const key = [ref.namespace, ref.name, ref.uid ?? '', type, reason, message].join('\u0000');
    const now = this.clock.epochMs();
    const stamp = timeText(now);
    const prev = this.written.get(key);
    if (prev && now - prev.at < AGGREGATE_WINDOW_MS) {
      prev.count++;
      prev.at = now;
      try {
        await this.core.patchNamespacedEvent(
          { name: prev.name, namespace: prev.namespace, body: { count: prev.count, lastTimestamp: stamp } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
        // Expired or deleted: write it again.
      }
    }
    this.prune(now);
    // <object>.<hex time>, as client-go names them; seq keeps a burst unique.
    const base = `${ref.name}.${(now * 1000 + (this.seq++ % 1000)).toString(16)}`;
    // Another writer (a replica, or this one restarted) may have taken the name in the
    // same millisecond: a random tail then, rather than losing the Event.
    for (let attempt = 0; ; attempt++) {
      const name = attempt === 0 ? base : `${base}${randomBytes(3).toString('hex')}`;
      try {
        await this.create(namespace, name, ref, type, reason, message, stamp);
        this.written.set(key, { name, namespace, count: 1, first: stamp, at: now });
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= NAME_ATTEMPTS - 1) throw err;
      }
    }
  }

  private async create(namespace: string, name: string, ref: NonNullable<CoreV1Event['involvedObject']>, type: EventType, reason: string, message: string, stamp: string): Promise<void> {
    const body: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: ref,
      reason,
      message,
      type,
      count: 1,
      // metav1.Time is RFC 3339 in seconds; client-node types it as Date but sends strings as they are.
      firstTimestamp: stamp as unknown as Date,
      lastTimestamp: stamp as unknown as Date,
      source: { component: EVENT_COMPONENT },
      reportingComponent: EVENT_COMPONENT,
      reportingInstance: this.opts.instance ?? '',
    };
    await this.core.createNamespacedEvent({ namespace, body });
  }

  private prune(now: number): void {
    for (const [k, w] of this.written) if (now - w.at >= AGGREGATE_WINDOW_MS) this.written.delete(k);
  }
}

function timeText(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
