// The LB rules: the part of the node's desired state config/loadbalancer
// writes. It applies loxilb's rules for a POST (attach/detach endpoints,
// the same rule again is a conflict, one rule per service, room in the
// datapath), changes the table, and answers once the change is on disk and
// through a datapath pass. Saves are group commits to a journal (RuleStore):
// requests that arrive while a write runs share the next one. If the write
// fails, every request it carried fails and its rules go back to what is on
// disk, so a failed request changes nothing.
import { isDeepStrictEqual } from 'node:util';
import type { RuleOp, RuleStore } from './ConfigStore.ts';
import { ServiceIndex } from './ServiceIndex.ts';
import { ruleKey, type LbRule } from '../lb/LbRule.ts';
import { MAX_ENDPOINTS, parseLbRule } from '../lb/validateLbRule.ts';
import { datapathRefusal } from '../datapath/capabilities.ts';
import { ApiError, ConflictError, NotFoundError } from '../util/errors.ts';

export interface RuleTableDeps {
  /** The rule under `key` changed in memory (undefined: removed): what it advertises and the datapath follow. */
  changed(key: string, rule: LbRule | undefined): void;
  /** A batch of changes is in memory, or was undone: the probes follow if `probes`, and BGP. */
  batchDone(probes: boolean): void;
  /** Resolves after the next datapath pass. */
  nextPass(): Promise<void>;
  /** What the datapath has room for. */
  capacity(): { maxRules: number; maxEntries: number };
}

const monitored = (r?: LbRule) => Boolean(r?.serviceArguments.monitor);

export class RuleTable {
  /** key -> rule, as the datapath, probes and REST answers read it. */
  readonly rules = new Map<string, LbRule>();
  /** Every (match address, port, protocol) a rule serves -> that rule's key: one rule per service. */
  private readonly services = new ServiceIndex();
  private store?: RuleStore;

  constructor(private readonly d: RuleTableDeps) {}

  /** Start-up: the saved rules, taken as they are. */
  restore(rules: Iterable<LbRule>): void {
    for (const r of rules) this.rules.set(ruleKey(r.serviceArguments), r);
  }

  /** The journal the table saves to; the services of the restored rules are claimed. */
  attach(store: RuleStore): void {
    this.store = store;
    for (const [k, r] of this.rules) this.services.claim(k, r);
  }

  async add(rule: LbRule): Promise<void> {
    const key = ruleKey(rule.serviceArguments);
    const cur = this.rules.get(key);
    const oper = rule.serviceArguments.oper ?? 0;
    let stored: LbRule;
    if (oper === 1 || oper === 2) {
      // Attach / detach endpoints of an existing rule (kube-loxilb --appendEPs).
      const base = cur ?? (oper === 1 ? { ...rule, endpoints: [] } : undefined);
      if (!base) throw new NotFoundError(`lbrule not-exists error: ${key}`);
      const same = (a: { endpointIP: string; targetPort: number }, b: { endpointIP: string; targetPort: number }) =>
        a.endpointIP === b.endpointIP && a.targetPort === b.targetPort;
      const kept = base.endpoints.filter((e) => !rule.endpoints.some((n) => same(e, n)));
      const endpoints = oper === 1 ? [...kept, ...rule.endpoints] : kept;
      if (endpoints.length > MAX_ENDPOINTS) throw new ApiError(403, `lbrule endpoints exceed ${MAX_ENDPOINTS}: capacity`);
      // As in loxilb, detaching the last endpoint deletes the rule.
      if (endpoints.length === 0) {
        await this.change([{ key }]);
        return;
      }
      stored = { ...base, serviceArguments: { ...base.serviceArguments, oper: 0 }, endpoints };
      // The merged rule must itself be valid (one endpoint family, ...): what is
      // saved has to pass the same validator when it is loaded again.
      parseLbRule(stored);
    } else {
      stored = { ...rule, serviceArguments: { ...rule.serviceArguments, oper: 0 } };
      if (cur && isDeepStrictEqual(cur, stored)) throw new ConflictError('lbrule-exists error');
    }
    const refusal = datapathRefusal(stored);
    if (refusal) throw refusal;
    const room = this.d.capacity();
    this.services.checkRoom(key, stored, cur, this.rules.size, room.maxRules, room.maxEntries);
    await this.change([{ key, rule: stored }]);
  }

  /** Deletes the rule under `key`. The VIP stays advertised exactly as long as some rule with bgp uses it. */
  async delete(key: string): Promise<void> {
    if (!this.rules.get(key)) throw new NotFoundError(`lbrule not found: ${key}`);
    await this.change([{ key }]);
  }

  async deleteByName(name: string): Promise<number> {
    const gone = [...this.rules].filter(([, r]) => r.serviceArguments.name === name);
    if (gone.length === 0) throw new NotFoundError(`no lbrule named ${name} found`);
    await this.change(gone.map(([key]) => ({ key })));
    return gone.length;
  }

  async deleteAll(): Promise<number> {
    const gone = [...this.rules.keys()];
    await this.change(gone.map((key) => ({ key })));
    return gone.length;
  }

  /** Applies changes to the table and resolves once they are on disk and through a datapath pass (a 200 means traffic flows). */
  private async change(ops: RuleOp[]): Promise<void> {
    const store = this.store;
    if (!store) throw new Error('rule table used before the agent started');
    let probesChanged = false;
    for (const o of ops) {
      probesChanged ||= monitored(this.rules.get(o.key)) || monitored(o.rule);
      this.put(o.key, o.rule);
    }
    this.d.batchDone(probesChanged);
    const programmed = this.d.nextPass();
    try {
      await store.save(ops);
      await programmed;
    } catch (err) {
      // A later request's queued change to the same rule is newer; it keeps it.
      for (const o of ops) if (!store.isPending(o.key)) this.put(o.key, store.committedRule(o.key));
      this.d.batchDone(probesChanged);
      throw err;
    }
  }

  /** Changes the in-memory table; the caller makes it durable. */
  private put(key: string, rule: LbRule | undefined): void {
    const cur = this.rules.get(key);
    if (cur) this.services.release(key, cur);
    if (rule) {
      this.rules.set(key, rule);
      this.services.claim(key, rule);
    } else {
      this.rules.delete(key);
    }
    this.d.changed(key, rule);
  }
}
