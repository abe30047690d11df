// The LB rules of kube-loxilb's Services on the live LB agents: one plan
// for all Services per pass (every agent gets the same rules, unless a
// Service asks for prefLocalPod), handed to the agent pool; an agent whose
// rules have not changed since it last took them without error is skipped
// unless the pass is forced. What the plan cannot install (RuleNotInstalled)
// and what an agent refused (ProgrammingFailed) become Warnings on the
// Service the rule belongs to.
import type { V1Service } from '@kubernetes/client-node';
import type { LbRule } from '../lb/LbRule.ts';
import type { Logger } from '../util/logger.ts';
import type { AgentInfo, AgentPool } from './agentPool.ts';
import type { KubeLoxilbConfig } from './config.ts';
import { errorText } from './KubeWatch.ts';
import { planRules, type PlanConfig, type PlanInput, type PlanNode, type PlanService } from './planRules.ts';
import { REASONS, type ServiceReporter, type ServiceState } from './ServiceReporter.ts';

export type ServiceRulesConfig = Pick<KubeLoxilbConfig, 'setBGP' | 'monitor' | 'setLBMode' | 'zone' | 'privateIP' | 'usePodNetwork' | 'useExternalEndpoint'>;

/** A Service with an address and settings, planned for this pass. */
export interface PlannedService {
  svc: V1Service;
  st: ServiceState;
  plan: PlanService;
}

export class ServiceRules {
  /** agent id -> fingerprint of the rules it last took without error. */
  private readonly synced = new Map<string, string>();
  /** Rules an agent refused or syncs that failed, by agent (for /metrics). */
  private readonly errorCounts = new Map<string, number>();

  constructor(
    private readonly cfg: ServiceRulesConfig,
    private readonly pool: AgentPool,
    private readonly reporter: ServiceReporter,
    private readonly log: Logger,
  ) {}

  /** The agent may have lost its rules (it came back, or went away): its next sync is not skipped. */
  forgetAgent(id: string): void {
    this.synced.delete(id);
  }

  /** Rules an agent refused or syncs that failed, by agent. */
  programmingErrors(): { agent: string; count: number }[] {
    return [...this.errorCounts].map(([agent, count]) => ({ agent, count }));
  }

  /** Plans every Service's rules and syncs the live LB agents; resolves false when an agent did not take them all. */
  async sync(planned: readonly PlannedService[], nodes: PlanNode[], force: boolean): Promise<boolean> {
    const services = planned.map((p) => p.plan);
    const config: PlanConfig = {
      setBGP: this.cfg.setBGP,
      monitor: this.cfg.monitor,
      setLBMode: this.cfg.setLBMode,
      zone: this.cfg.zone,
      usePodNetwork: this.cfg.usePodNetwork,
      useExternalEndpoint: this.cfg.useExternalEndpoint,
      ...(this.cfg.privateIP !== undefined ? { privateIP: this.cfg.privateIP } : {}),
    };
    const input: PlanInput = { services, nodes, config };
    const common = planRules(input);

    // Plan notes: why a Service (or one of its ports) has no rule.
    const notes = new Map<string, string[]>();
    for (const n of common.notes) notes.set(n.service, [...(notes.get(n.service) ?? []), n.message]);
    for (const { svc, st } of planned) {
      const msgs = notes.get(st.key);
      if (msgs) this.reporter.condition(svc, st, REASONS.ruleNotInstalled, 'Warning', msgs.join('; '));
      else this.reporter.clear(st, REASONS.ruleNotInstalled);
    }

    const perAgent = services.some((s) => s.settings.prefLocalPod);
    const agents = this.pool.liveLbAgents();
    const failures = new Map<string, string[]>();
    let ok = true;
    // Without prefLocalPod every agent gets the same rules: one fingerprint for all.
    const commonFp = perAgent || agents.length === 0 ? undefined : JSON.stringify(common.rules);
    await Promise.all(
      agents.map(async (agent) => {
        const rules = perAgent ? planRules(input, [agent.nodeAddress]).rules : common.rules;
        const fp = commonFp ?? JSON.stringify(rules);
        if (!force && this.synced.get(agent.id) === fp) return;
        let errors: string[];
        try {
          const r = await this.pool.syncRules(agent.id, rules);
          errors = r.errors;
          if (r.added + r.modified + r.deleted > 0 || errors.length > 0) {
            this.log.info({ agent: agent.id, rules: rules.length, added: r.added, modified: r.modified, deleted: r.deleted, errors: errors.length }, 'agent synced');
          }
        } catch (err) {
          errors = [errorText(err)];
          this.log.error({ agent: agent.id, err: errors[0] }, 'syncRules failed');
        }
        if (errors.length === 0) {
          this.synced.set(agent.id, fp);
          return;
        }
        this.errorCounts.set(agent.id, (this.errorCounts.get(agent.id) ?? 0) + errors.length);
        this.synced.delete(agent.id);
        ok = false;
        if (!this.stillAlive(agent)) return;
        for (const [key, msg] of attributeErrors(errors, rules, agent)) failures.set(key, [...(failures.get(key) ?? []), msg]);
      }),
    );
    for (const { svc, st } of planned) {
      const f = failures.get(st.key);
      if (f) this.reporter.condition(svc, st, REASONS.programmingFailed, 'Warning', f.join('; '));
      else if (agents.length > 0) this.reporter.clear(st, REASONS.programmingFailed);
    }
    return ok;
  }

  private stillAlive(agent: AgentInfo): boolean {
    return this.pool.liveLbAgents().some((a) => a.id === agent.id);
  }
}

/**
 * The pool reports errors as text naming the rule (`rule <ip>:<port>/<proto>`);
 * each goes to the Service whose rule it names. Agent-wide errors (cannot
 * list rules) go to every Service that has rules on that agent.
 */
function attributeErrors(errors: readonly string[], rules: readonly LbRule[], agent: AgentInfo): Map<string, string> {
  const byRule = new Map<string, string>();
  for (const r of rules) {
    const sa = r.serviceArguments;
    const name = sa.name ?? '';
    const svc = name.slice(0, name.indexOf(':')).replace('_', '/');
    byRule.set(`rule ${sa.externalIP}:${sa.port}/${sa.protocol}`, svc);
  }
  const out = new Map<string, string>();
  for (const e of errors) {
    const hits = [...byRule].filter(([text]) => e.includes(`${text} `) || e.endsWith(text)).map(([, svc]) => svc);
    const targets = hits.length > 0 ? hits : [...new Set(byRule.values())];
    for (const svc of targets) {
      const prev = out.get(svc);
      const msg = `agent ${agent.id}: ${e}`;
      out.set(svc, prev ? `${prev}; ${msg}` : msg);
    }
  }
  return out;
}
