// --setBGP (reference §6.8): keeps every alive agent's BGP configuration
// equal to planBgpMesh's plan. An agent is programmed when it comes up (it
// may have lost everything: global config first, then its neighbours) and
// when the set of agents changes (neighbours only, unless its global config
// changed). Neighbours are diffed against GET /config/bgp/neigh/all, so only
// the difference is sent, and the peers of an agent that vanished are
// removed from every other agent.
//
// Passes run one at a time on a CoalescingLoop; an agent whose programming
// failed stays dirty and the loop retries after `retryMs` (kube-loxilb
// requeues after 2 s).
import type { Logger } from '../util/logger.ts';
import { silentLogger } from '../util/logger.ts';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import type { Clock } from '../util/clock.ts';
import { canonicalAddress } from '../ipam/ipRange.ts';
import { diffBgpNeighbors, planBgpMesh, type BgpGlobalBody, type BgpNeighborBody, type MeshConfig } from './planBgpMesh.ts';
import type { AgentInfo } from './agentPool.ts';
import { LoxiApiError, type LoxiClient } from './LoxiClient.ts';

export const DEFAULT_BGP_RETRY_MS = 2000;

export interface BgpMeshProgrammerOptions {
  config: MeshConfig;
  client: (agentId: string) => LoxiClient | undefined;
  logger?: Logger;
  retryMs?: number;
  /** The retry pause runs on it (default: the system clock). */
  clock?: Clock;
}

interface AgentBgpState {
  /** Global config must be (re)posted: the agent is new, came back, or its plan changed. */
  needsGlobal: boolean;
  dirty: boolean;
  /** Bumped whenever the agent is marked dirty, so a pass that started earlier does not clear a newer mark. */
  gen: number;
  globalPosted?: BgpGlobalBody;
  /** Neighbours this controller posted to the agent, by address. */
  posted: Map<string, BgpNeighborBody>;
  /** The agent refused BGP (started without --bgp); not retried until it comes back. */
  disabled: boolean;
}

export class BgpMeshProgrammer {
  private agents: readonly AgentInfo[] = [];
  private readonly state = new Map<string, AgentBgpState>();
  /** Node addresses of agents that were members and are gone: their peers are removed everywhere. */
  private readonly vanished = new Set<string>();
  private readonly loop: CoalescingLoop;
  private readonly log: Logger;
  private readonly seenNotes = new Set<string>();

  constructor(private readonly opts: BgpMeshProgrammerOptions) {
    this.log = (opts.logger ?? silentLogger).child({ part: 'BgpMeshProgrammer' });
    this.loop = new CoalescingLoop(() => this.pass(), {
      onError: (err) => {
        this.log.debug({ err: (err as Error).message }, 'BGP mesh pass incomplete; retrying');
        return opts.retryMs ?? DEFAULT_BGP_RETRY_MS;
      },
      clock: opts.clock,
    });
  }

  /**
   * The agent set, with `cameUp` naming agents that just answered after
   * being down or unknown. Membership changes re-diff every agent.
   */
  update(agents: readonly AgentInfo[], cameUp: Iterable<string> = []): void {
    const before = new Map(this.agents.map((a) => [a.id, a]));
    const after = new Map(agents.map((a) => [a.id, a]));
    let membership = before.size !== after.size;
    for (const [id, a] of before) {
      const now = after.get(id);
      if (now && now.nodeAddress === a.nodeAddress && now.kind === a.kind) continue;
      membership = true;
      const ip = canonicalAddress(a.nodeAddress);
      if (ip !== undefined) this.vanished.add(ip);
      // Gone, or back as another node or kind: what we knew of it no longer holds.
      this.state.delete(id);
    }
    for (const id of after.keys()) if (!before.has(id)) membership = true;
    this.agents = agents.map((a) => ({ ...a }));
    for (const a of this.agents) {
      const ip = canonicalAddress(a.nodeAddress);
      if (ip !== undefined) this.vanished.delete(ip);
      if (!this.state.has(a.id)) this.state.set(a.id, { needsGlobal: true, dirty: true, gen: 0, posted: new Map(), disabled: false });
    }
    for (const id of cameUp) {
      const s = this.state.get(id);
      if (!s) continue;
      // A restarted agent may have lost its config: send everything again.
      s.needsGlobal = true;
      s.dirty = true;
      s.gen++;
      s.disabled = false;
      s.posted.clear();
    }
    if (membership) {
      for (const s of this.state.values()) {
        s.dirty = true;
        s.gen++;
      }
    }
    if ([...this.state.values()].some((s) => s.dirty)) this.loop.kickNow();
  }

  /** Agents whose configuration is not known to be applied (for tests and status). */
  pendingAgents(): string[] {
    return [...this.state].filter(([, s]) => s.dirty && !s.disabled).map(([id]) => id);
  }

  whenIdle(): Promise<void> {
    return this.loop.whenIdle();
  }

  close(): void {
    this.loop.close();
  }

  private async pass(): Promise<void> {
    const { config } = this.opts;
    const plan = planBgpMesh(
      this.agents.map((a) => ({ id: a.id, kind: a.kind, addresses: [a.nodeAddress], alive: a.alive })),
      config,
    );
    for (const note of plan.notes) {
      if (this.seenNotes.has(note)) continue;
      this.seenNotes.add(note);
      this.log.warn({ note }, 'BGP mesh');
    }
    const byId = new Map(plan.agents.map((p) => [p.id, p]));
    const alive = new Set(this.agents.filter((a) => a.alive).map((a) => a.id));
    const failed: string[] = [];
    await Promise.all(
      [...this.state].map(async ([id, s]) => {
        if (!s.dirty || s.disabled || !alive.has(id)) return;
        const gen = s.gen;
        const p = byId.get(id);
        // Left out of the mesh (no usable address): nothing to configure on it.
        if (!p) {
          s.dirty = false;
          return;
        }
        try {
          await this.programAgent(id, s, p.global, p.neighbors);
          if (s.gen === gen) s.dirty = false;
        } catch (err) {
          if (err instanceof LoxiApiError && err.status === 403) {
            s.disabled = true;
            this.log.warn({ agent: id, err: err.agentMessage }, 'agent refuses BGP configuration (started without --bgp?); skipped until it comes back');
            return;
          }
          failed.push(id);
          this.log.warn({ agent: id, err: (err as Error).message }, 'cannot configure BGP; retrying');
        }
      }),
    );
    if (failed.length > 0) throw new Error(`BGP configuration failed on ${failed.join(', ')}`);
  }

  private async programAgent(id: string, s: AgentBgpState, global: BgpGlobalBody, neighbors: BgpNeighborBody[]): Promise<void> {
    const client = this.opts.client(id);
    if (!client) return;
    if (s.needsGlobal || !sameGlobal(s.globalPosted, global)) {
      await client.setBgpGlobal(global);
      s.globalPosted = global;
      s.needsGlobal = false;
      this.log.info({ agent: id, ...global }, 'BGP global config set');
    }
    const current = await client.listBgpNeighbors();
    const managed = new Set([...s.posted.keys(), ...this.vanished]);
    const diff = diffBgpNeighbors(neighbors, current, { managedAddresses: managed, lastPosted: s.posted });
    for (const n of diff.delete) {
      await client.deleteBgpNeighbor(n);
      s.posted.delete(n.ipAddress);
      this.log.info({ agent: id, neighbor: n.ipAddress, remoteAs: n.remoteAs }, 'BGP neighbour removed');
    }
    for (const n of diff.add) {
      await client.addBgpNeighbor(n);
      s.posted.set(n.ipAddress, n);
      this.log.info({ agent: id, neighbor: n.ipAddress, remoteAs: n.remoteAs, multihop: n.setMultiHop }, 'BGP neighbour added');
    }
    // Ours and still there: remembered, so a later change of port or multihop is re-sent.
    for (const n of neighbors) if (!s.posted.has(n.ipAddress)) s.posted.set(n.ipAddress, n);
  }
}

function sameGlobal(a: BgpGlobalBody | undefined, b: BgpGlobalBody): boolean {
  return a !== undefined && a.routerId === b.routerId && a.localAs === b.localAs && a.setNextHopSelf === b.setNextHopSelf && a.listenPort === b.listenPort;
}
