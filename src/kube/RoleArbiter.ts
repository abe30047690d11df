// --setRoles (reference §6.7): after every health round, elect one MASTER per
// zone instance among the alive LB agents (electRoles) and tell each alive LB
// agent its roles with POST /config/cistate, but only where what it was last
// told differs. An agent that came back (or was never told) is told again, so
// a restarted agent gets its role back. Demotions are sent before promotions,
// so two agents are never told MASTER for the same instance at once.
//
// The arbiter owns the current masters and the record of what each agent was
// told; the pool owns the agents and calls reconcile() once per health round.
import type { Logger } from '../util/logger.ts';
import { silentLogger } from '../util/logger.ts';
import type { CiState } from '../ha/ClusterState.ts';
import { electRoles, type RoleAgent } from './electRoles.ts';
import type { AgentInfo } from './agentPool.ts';
import type { LoxiClient } from './LoxiClient.ts';

export interface RoleArbiterOptions {
  /** The --setRoles address, sent as every CI state's vip. */
  vip: string;
  zone: string;
  /** The zone's instances (zoneInstances(zone, numZoneInstances)). */
  instances: readonly string[];
  excludeRoleList: readonly string[];
  /** kube-loxilb rebalances masters only with --setUniqueIP. */
  rebalance?: boolean;
  /** The client of an agent by id; undefined if the agent is gone. */
  client: (agentId: string) => LoxiClient | undefined;
  logger?: Logger;
  now?: () => number;
  /**
   * Per CI state post. Health rounds wait for the posts, so one agent that
   * answers health checks but hangs on a post must not hold up the next
   * election for long.
   */
  postTimeoutMs?: number;
}

export interface RoleChange {
  instance: string;
  from?: string;
  to?: string;
}

export class RoleArbiter {
  private current: Record<string, string | undefined> = {};
  /** agent id -> instance -> state it acknowledged. */
  private readonly told = new Map<string, Map<string, CiState['state']>>();
  private readonly log: Logger;
  private readonly seenNotes = new Set<string>();

  constructor(private readonly opts: RoleArbiterOptions) {
    this.log = (opts.logger ?? silentLogger).child({ part: 'RoleArbiter' });
  }

  /** instance -> MASTER agent id, as last elected. */
  masters(): Readonly<Record<string, string | undefined>> {
    return { ...this.current };
  }

  /** The agent may have lost its CI states (it was down, restarted or is gone): tell it again. */
  forget(agentId: string): void {
    this.told.delete(agentId);
  }

  /**
   * One election over `agents` (pool order) and the posts it calls for.
   * Resolves when every post has been answered or has failed; a failed post
   * is retried at the next call. Never rejects.
   */
  async reconcile(agents: readonly AgentInfo[]): Promise<RoleChange[]> {
    const roleAgents: RoleAgent[] = agents.map((a) => ({ id: a.id, address: a.nodeAddress, kind: a.kind, alive: a.alive, lastSeenMs: a.lastSeenMs }));
    const r = electRoles({
      agents: roleAgents,
      instances: this.opts.instances,
      currentMasters: this.current,
      excludeRoleList: this.opts.excludeRoleList,
      vip: this.opts.vip,
      zone: this.opts.zone,
      rebalance: this.opts.rebalance,
      nowMs: (this.opts.now ?? Date.now)(),
    });
    for (const note of r.notes) {
      if (this.seenNotes.has(note)) continue;
      this.seenNotes.add(note);
      this.log.warn({ note }, 'role arbitration');
    }
    // A note that no longer applies may be logged again when it recurs.
    for (const note of [...this.seenNotes]) if (!r.notes.includes(note)) this.seenNotes.delete(note);

    const changes: RoleChange[] = r.changed.map((instance) => ({ instance, from: this.current[instance], to: r.masters[instance] }));
    for (const c of changes) {
      this.log.info({ instance: c.instance, from: c.from ?? null, to: c.to ?? null }, c.to === undefined ? 'no agent may be MASTER' : 'new MASTER elected');
    }
    this.current = { ...r.masters };
    for (const id of this.told.keys()) if (!agents.some((a) => a.id === id)) this.told.delete(id);

    const pending = r.ciStates.filter((p) => this.told.get(p.agentId)?.get(p.body.instance) !== p.body.state);
    const demote = pending.filter((p) => p.body.state !== 'MASTER');
    const promote = pending.filter((p) => p.body.state === 'MASTER');
    await Promise.all(groupByAgent(demote).map(([id, bodies]) => this.post(id, bodies)));
    await Promise.all(groupByAgent(promote).map(([id, bodies]) => this.post(id, bodies)));
    return changes;
  }

  /** One agent's posts, in order; stops at its first failure (the rest would likely fail too). */
  private async post(agentId: string, bodies: CiState[]): Promise<void> {
    const client = this.opts.client(agentId);
    if (!client) return;
    for (const body of bodies) {
      try {
        await client.setCiState(body, this.opts.postTimeoutMs);
      } catch (err) {
        this.log.warn({ agent: agentId, instance: body.instance, state: body.state, err: (err as Error).message }, 'cannot set CI state; retrying next round');
        return;
      }
      let told = this.told.get(agentId);
      if (!told) this.told.set(agentId, (told = new Map()));
      told.set(body.instance, body.state);
      this.log.debug({ agent: agentId, ...body }, 'CI state set');
    }
  }
}

function groupByAgent(posts: readonly { agentId: string; body: CiState }[]): [string, CiState[]][] {
  const m = new Map<string, CiState[]>();
  for (const p of posts) {
    let list = m.get(p.agentId);
    if (!list) m.set(p.agentId, (list = []));
    list.push(p.body);
  }
  return [...m];
}
