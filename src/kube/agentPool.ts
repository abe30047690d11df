// The contract between kube-loxilb's two halves: the Kubernetes side
// (informers, ServiceController: IPAM, status, events, desired rules) and the
// agent side (LoxiClient per agent, health checks, role arbitration, BGP
// mesh). The controller only ever talks to agents through this interface,
// and agents only through their REST API (reference §2), as with loxilb.
import type { LbRule } from '../lb/LbRule.ts';

export type AgentKind = 'lb' | 'peer';

export interface AgentInfo {
  /** Stable identity: the API base URL, e.g. http://192.168.80.11:11111 */
  id: string;
  url: string;
  kind: AgentKind;
  /** The node address the agent uses for BGP (router-id, mesh peering). */
  nodeAddress: string;
  alive: boolean;
  /** Wall-clock ms (the pool clock's epochMs) of the last successful health check. */
  lastSeenMs?: number;
}

/** An agent found by discovery (or given by --loxiURL). */
export interface DiscoveredAgent {
  /** API base URL, e.g. http://192.168.80.10:11111 (apiclient's agentOrigin() builds it from an address). */
  url: string;
  kind: AgentKind;
  nodeAddress: string;
}

export interface AgentPoolEvents {
  /** An agent answered after being dead or unknown: it may have lost everything (a restart). */
  agentUp(agent: AgentInfo): void;
  agentDown(agent: AgentInfo): void;
  /** The set of known agents changed (discovery added or removed one). */
  agentsChanged(agents: readonly AgentInfo[]): void;
}

/**
 * What the ServiceController needs from the agent side. Implementations
 * keep per-agent state (what was posted), retry with backoff, and never
 * throw into the caller's loop for an unreachable agent (they report it).
 */
export interface AgentPool {
  agents(): readonly AgentInfo[];
  /** LB agents that are alive now. */
  liveLbAgents(): readonly AgentInfo[];
  /**
   * Makes one agent's kube-loxilb-owned rules exactly `rules` (idempotent:
   * reads the agent's rules, diffs, posts/deletes only the difference).
   * Resolves with what was done; rejects only on programming errors.
   */
  syncRules(agentId: string, rules: readonly LbRule[]): Promise<{ added: number; modified: number; deleted: number; errors: string[] }>;
  on<E extends keyof AgentPoolEvents>(event: E, listener: AgentPoolEvents[E]): this;
  close(): Promise<void>;
}
