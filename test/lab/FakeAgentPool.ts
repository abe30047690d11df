// An in-memory AgentPool for controller tests: every agent's rule set is
// whatever it was last given; tests mark agents up or down, make an agent
// fail, and read back the rules and the calls.
import { EventEmitter } from 'node:events';
import type { AgentInfo, AgentPool, AgentPoolEvents } from '../../src/kube/agentPool.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';

export interface SyncCall {
  agentId: string;
  rules: LbRule[];
}

export class FakeAgentPool implements AgentPool {
  private readonly list = new Map<string, AgentInfo>();
  private readonly emitter = new EventEmitter();
  /** Rules each agent holds (what the last successful syncRules gave it). */
  readonly rules = new Map<string, LbRule[]>();
  readonly calls: SyncCall[] = [];
  /** agent id -> error texts the next syncRules calls report (and leave the agent's rules alone). */
  readonly failWith = new Map<string, string[]>();
  closed = false;

  constructor(agents: { address: string; kind?: 'lb' | 'peer'; alive?: boolean }[] = []) {
    for (const a of agents) this.add(a.address, a.kind ?? 'lb', a.alive ?? true);
  }

  add(address: string, kind: 'lb' | 'peer' = 'lb', alive = true): AgentInfo {
    const url = `http://${address}:11111`;
    const info: AgentInfo = { id: url, url, kind, nodeAddress: address, alive };
    this.list.set(url, info);
    this.emitter.emit('agentsChanged', this.agents());
    return info;
  }

  idOf(address: string): string {
    return `http://${address}:11111`;
  }

  /** Marks an agent up (emits agentUp, as after a restart: it lost its rules) or down. */
  setAlive(address: string, alive: boolean, opts: { lostRules?: boolean } = {}): void {
    const a = this.list.get(this.idOf(address));
    if (!a) throw new Error(`no agent ${address}`);
    a.alive = alive;
    if (alive && opts.lostRules) this.rules.delete(a.id);
    this.emitter.emit(alive ? 'agentUp' : 'agentDown', { ...a });
  }

  rulesOf(address: string): LbRule[] {
    return this.rules.get(this.idOf(address)) ?? [];
  }

  agents(): readonly AgentInfo[] {
    return [...this.list.values()].map((a) => ({ ...a }));
  }

  liveLbAgents(): readonly AgentInfo[] {
    return this.agents().filter((a) => a.kind === 'lb' && a.alive);
  }

  async syncRules(agentId: string, rules: readonly LbRule[]): Promise<{ added: number; modified: number; deleted: number; errors: string[] }> {
    this.calls.push({ agentId, rules: structuredClone([...rules]) });
    const errors = this.failWith.get(agentId);
    if (errors && errors.length > 0) return { added: 0, modified: 0, deleted: 0, errors: [...errors] };
    const before = this.rules.get(agentId) ?? [];
    const key = (r: LbRule) => `${r.serviceArguments.externalIP}|${r.serviceArguments.port}|${r.serviceArguments.protocol}`;
    const had = new Map(before.map((r) => [key(r), JSON.stringify(r)]));
    const want = new Set(rules.map(key));
    let added = 0;
    let modified = 0;
    for (const r of rules) {
      const prev = had.get(key(r));
      if (prev === undefined) added++;
      else if (prev !== JSON.stringify(r)) modified++;
    }
    const deleted = before.filter((r) => !want.has(key(r))).length;
    this.rules.set(agentId, structuredClone([...rules]));
    return { added, modified, deleted, errors: [] };
  }

  on<E extends keyof AgentPoolEvents>(event: E, listener: AgentPoolEvents[E]): this {
    this.emitter.on(event, listener);
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.emitter.removeAllListeners();
  }
}
