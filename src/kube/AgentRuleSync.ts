// The LB rules of one loxilb agent, as kube-loxilb keeps them there: syncs
// are serialised, each reads the agent's rules, diffs them against the
// rules wanted (diffRules.ts) and sends only the difference, remembering
// what was posted (for the fields GET does not show). A failure that may
// pass (transport errors, 5xx) stops the sync and retries it with backoff;
// the last rules wanted are re-applied when the agent comes back.
//
// loxilb's API takes one rule per request, so the requests of each phase
// (deletes, replaces, posts) are pipelined with a bounded number in flight:
// a plain loop would pay the agent's per-request latency (its journal write)
// once per rule, while requests in flight together share its group commits.
import type { Logger } from '../util/logger.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import { ruleKey, type LbRule } from '../lb/LbRule.ts';
import { Backoff } from '../util/Backoff.ts';
import { diffRules } from './diffRules.ts';
import { eachBounded } from './eachBounded.ts';
import { isRetryable, type LoxiClient } from './LoxiClient.ts';

const MAX_SYNC_BACKOFF_MS = 60_000;
const MIN_SYNC_BACKOFF_MS = 1000;
/** Rule requests in flight per agent during a sync (see the header). */
export const DEFAULT_RULE_REQUESTS_IN_FLIGHT = 32;

export interface SyncResult {
  added: number;
  modified: number;
  deleted: number;
  errors: string[];
}

export interface AgentRuleSyncOptions {
  /** The agent's id, for logs and errors. */
  id: string;
  client: LoxiClient;
  /** Only rules named for this zone are ours to change (diffRules). */
  zone: string;
  /** Whether the agent answers now: a dead agent gets its rules when it comes back (reapply). */
  alive: () => boolean;
  clock: Clock;
  log: Logger;
  /** Rule requests (POST/DELETE) in flight during a sync; default DEFAULT_RULE_REQUESTS_IN_FLIGHT. */
  requestsInFlight?: number;
}

export class AgentRuleSync {
  /** The last rules given to sync(), re-applied when the agent comes back. */
  private desired?: readonly LbRule[];
  /** What this controller last posted successfully, by ruleKey. */
  private readonly lastPosted = new Map<string, LbRule>();
  /** Tail of the serialised syncs. */
  private queue: Promise<unknown> = Promise.resolve();
  private retryTimer?: TimerHandle;
  private readonly retry = new Backoff(MIN_SYNC_BACKOFF_MS, MAX_SYNC_BACKOFF_MS);
  private closed = false;

  constructor(private readonly o: AgentRuleSyncOptions) {}

  /** Makes the agent's rules (those kube-loxilb owns) exactly `rules`, after the syncs already queued. */
  sync(rules: readonly LbRule[]): Promise<SyncResult> {
    const copy = rules.slice();
    this.desired = copy;
    return this.enqueue(copy);
  }

  /** The agent came back (it may have lost everything): the last rules wanted, again. */
  reapply(): void {
    if (this.desired !== undefined) void this.enqueue();
  }

  /** Resolves when the syncs queued so far are done. */
  idle(): Promise<unknown> {
    return this.queue;
  }

  /** No more syncs or retries; queued ones resolve with an error. */
  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) this.o.clock.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Queues a sync of `rules`, or of the latest desired rules when the sync is a re-apply (agentUp, retry). */
  private enqueue(rules?: readonly LbRule[]): Promise<SyncResult> {
    const run = this.queue.then(() => this.syncNow(rules ?? this.desired ?? []));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async syncNow(rules: readonly LbRule[]): Promise<SyncResult> {
    const { id, client } = this.o;
    if (this.closed) return failedSync(`agent ${id} is no longer managed`);
    if (this.retryTimer !== undefined) this.o.clock.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    // A dead agent gets its rules when it answers again (agentUp re-applies them).
    if (!this.o.alive()) return failedSync(`agent ${id} is down; its rules are applied when it answers again`);
    const result: SyncResult = { added: 0, modified: 0, deleted: 0, errors: [] };
    let retry = false;
    const fail = (what: string, err: unknown) => {
      result.errors.push(`${what}: ${(err as Error).message}`);
      if (isRetryable(err)) retry = true;
    };
    try {
      let current: unknown[];
      try {
        current = await client.listRules();
      } catch (err) {
        fail(`cannot list rules of ${id}`, err);
        return result;
      }
      const diff = diffRules(rules, current, { zone: this.o.zone, lastPosted: this.lastPosted });
      for (const c of diff.conflicts) {
        result.errors.push(`${describe(c.current)} on ${id} is not kube-loxilb's (name ${c.current.name ?? 'none'}); left alone`);
      }
      for (const n of diff.notProgrammed) {
        // Accepted, but the agent's datapath does not carry it: a Warning (ProgrammingFailed) on its Service.
        result.errors.push(`${describe(n.current)} on ${id} is not in the agent's datapath: ${n.reason}`);
      }
      // Phases in order (deletes first: they may free what a new rule needs);
      // a failure that may pass stops the sync after the requests in flight.
      const limit = Math.max(1, this.o.requestsInFlight ?? DEFAULT_RULE_REQUESTS_IN_FLIGHT);
      const halted = () => retry;
      await eachBounded(diff.delete, limit, async (ref) => {
        try {
          await client.deleteRule(ref);
          result.deleted++;
        } catch (err) {
          fail(`cannot delete ${describe(ref)} on ${id}`, err);
        }
      }, halted);
      if (retry) return result;
      await eachBounded(diff.replace, limit, async (r) => {
        try {
          await client.deleteRule(r.current);
          await client.postRule(r.desired);
          this.lastPosted.set(ruleKey(r.desired.serviceArguments), r.desired);
          result.modified++;
        } catch (err) {
          fail(`cannot replace ${describe(r.current)} on ${id}`, err);
        }
      }, halted);
      if (retry) return result;
      const posts = [...diff.add.map((r) => [r, 'add'] as const), ...diff.modify.map((r) => [r, 'modify'] as const)];
      await eachBounded(posts, limit, async ([rule, how]) => {
        try {
          await client.postRule(rule);
          this.lastPosted.set(ruleKey(rule.serviceArguments), rule);
          if (how === 'add') result.added++;
          else result.modified++;
        } catch (err) {
          fail(`cannot post ${describe(rule.serviceArguments)} on ${id}`, err);
        }
      }, halted);
      if (retry) return result;
      // Only what is still wanted needs remembering.
      const wanted = new Set(rules.map((r) => ruleKey(r.serviceArguments)));
      for (const key of [...this.lastPosted.keys()]) if (!wanted.has(key)) this.lastPosted.delete(key);
      if (result.added + result.modified + result.deleted > 0) {
        this.o.log.info({ agent: id, added: result.added, modified: result.modified, deleted: result.deleted }, 'rules synced');
      }
      return result;
    } finally {
      if (result.errors.length > 0) this.o.log.warn({ agent: id, errors: result.errors }, 'rule sync incomplete');
      if (retry) this.scheduleRetry();
      else this.retry.reset();
    }
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = this.retry.next();
    this.retryTimer = this.o.clock.setTimer(() => {
      this.retryTimer = undefined;
      // Still down: agentUp will re-apply when it answers.
      if (this.o.alive()) void this.enqueue();
    }, delay);
  }
}

export function failedSync(message: string): SyncResult {
  return { added: 0, modified: 0, deleted: 0, errors: [message] };
}

function describe(r: { externalIP: string; port: number; portMax?: number; protocol: string }): string {
  const ports = r.portMax && r.portMax > r.port ? `${r.port}-${r.portMax}` : `${r.port}`;
  return `rule ${r.externalIP}:${ports}/${r.protocol}`;
}
