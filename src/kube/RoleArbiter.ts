// --setRoles (reference §6.7): after every health round, elect one MASTER per
// zone instance among the alive LB agents (electRoles) and tell each alive LB
// agent its roles with POST /config/cistate, but only where what it was last
// told differs. An agent that came back (or was never told) is told again, so
// a restarted agent gets its role back. Demotions are sent before promotions,
// so two agents are never told MASTER for the same instance at once.
//
// The arbiter owns the current masters and the record of what each agent was
// told; the pool owns the agents and calls reconcile() once per health round.
//
// A new arbiter (a restarted controller, a new leader) first adopts the
// MASTER the agents already report, so taking over changes no role; only
// where no single alive agent claims an instance is one elected.
import type { Logger } from '../util/logger.ts';
import { silentLogger } from '../util/logger.ts';
import type { CiState } from '../ha/ClusterState.ts';
import { electRoles, type RoleAgent } from './electRoles.ts';
import type { AgentInfo } from './agentPool.ts';
import type { LoxiClient } from './LoxiClient.ts';
import { systemClock, withTimeout, type Clock } from '../util/clock.ts';

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
  /** Election time (its wall clock, as the pool's lastSeenMs) and the CI state read timeout. */
  clock?: Clock;
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
  /** The agents' own CI states have been read once (adoptMasters). */
  private adopted = false;

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
    if (!this.adopted && agents.some((a) => a.kind === 'lb' && a.alive)) {
      this.adopted = true;
      await this.adoptMasters(agents);
    }
    const roleAgents: RoleAgent[] = agents.map((a) => ({ id: a.id, address: a.nodeAddress, kind: a.kind, alive: a.alive, lastSeenMs: a.lastSeenMs }));
    const r = electRoles({
      agents: roleAgents,
      instances: this.opts.instances,
      currentMasters: this.current,
      excludeRoleList: this.opts.excludeRoleList,
      vip: this.opts.vip,
      zone: this.opts.zone,
      rebalance: this.opts.rebalance,
      nowMs: (this.opts.clock ?? systemClock).epochMs(),
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

  /**
   * Takes as MASTER of an instance the one alive LB agent that already
   * reports MASTER for it (GET /config/cistate/all), so a controller that
   * starts does not move every VIP to the first agent in its list. Several
   * claimants or none: left to the election. Unreadable agents count as
   * claiming nothing. electRoles still drops an adopted agent that may not
   * lead (excludeRoleList), and every agent is told its role as usual.
   */
  private async adoptMasters(agents: readonly AgentInfo[]): Promise<void> {
    const timeoutMs = this.opts.postTimeoutMs ?? 1000;
    const claims = new Map<string, string[]>();
    await Promise.all(
      agents
        .filter((a) => a.kind === 'lb' && a.alive)
        .map(async (a) => {
          const client = this.opts.client(a.id);
          if (!client) return;
          try {
            const states = await withTimeout(this.opts.clock ?? systemClock, client.listCiStates(), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
            for (const s of states) if (s.state === 'MASTER') claims.set(s.instance, [...(claims.get(s.instance) ?? []), a.id]);
          } catch (err) {
            this.log.debug({ agent: a.id, err: (err as Error).message }, 'cannot read CI states; not adopting from it');
          }
        }),
    );
    for (const instance of this.opts.instances) {
      const ids = claims.get(instance) ?? [];
      if (ids.length !== 1 || this.current[instance] !== undefined) continue;
      this.current[instance] = ids[0];
      this.log.info({ instance, master: ids[0] }, 'keeping the MASTER the agents report');
    }
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
