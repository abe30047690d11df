// The agent side of kube-loxilb (reference §6.6-§6.8): the set of loxilb
// agents (from --loxiURL, or from discovery), a health loop that finds out
// which answer, and what follows from that: CI states (--setRoles, through
// RoleArbiter), the BGP mesh (--setBGP, through BgpMeshProgrammer) and the
// LB rules of an agent that came back. It implements AgentPool, the contract
// the Kubernetes side programs against.
//
// One health round: probe every agent at once (any HTTP answer is alive),
// note who went down and who came up (a drop in the agent's reported uptime
// counts as coming up: it restarted between two probes), elect roles and
// post them, hand the changes to the BGP programmer, tell listeners, and
// re-apply the last rules given for every agent that came up. Rounds never
// overlap; the next starts one period after the previous one started (at
// once if it overran), so a dead MASTER is replaced within one period plus
// the time its probe takes to fail.
//
// Each LB agent's rules are kept by its AgentRuleSync (serialised syncs,
// pipelined requests, retries with backoff).
import { EventEmitter } from 'node:events';
import type { Logger } from '../util/logger.ts';
import { silentLogger } from '../util/logger.ts';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { canonicalAddress } from '../ipam/ipRange.ts';
import type { LbRule } from '../lb/LbRule.ts';
import type { ExtBgpPeer } from './config.ts';
import type { AgentInfo, AgentPool, AgentPoolEvents, DiscoveredAgent } from './agentPool.ts';
import { zoneInstances } from './planRules.ts';
import { DEFAULT_BGP_PORT } from './planBgpMesh.ts';
import { LoxiClient, type HealthResult } from './LoxiClient.ts';
import { RoleArbiter } from './RoleArbiter.ts';
import { BgpMeshProgrammer } from './BgpMeshProgrammer.ts';
import { AgentRuleSync, DEFAULT_RULE_REQUESTS_IN_FLIGHT, failedSync, type SyncResult } from './AgentRuleSync.ts';
import { originHost } from '../apiclient/origin.ts';

export { DEFAULT_RULE_REQUESTS_IN_FLIGHT, type DiscoveredAgent, type SyncResult };

/** The part of KubeLoxilbConfig the agent side uses (a KubeLoxilbConfig fits). */
export interface AgentPoolConfig {
  /** Static LB agents; empty means they come from setDiscovered(). */
  loxiURLs: readonly string[];
  roleHealthPeriodMs: number;
  /** --setRoles address; undefined: no role arbitration. */
  setRoles?: string;
  excludeRoleList: readonly string[];
  zone: string;
  numZoneInstances: number;
  /** Rebalancing of masters happens only with it, as in kube-loxilb. */
  setUniqueIP?: boolean;
  /** Local AS; 0: no BGP configuration. */
  setBGP: number;
  listenBGPPort: number;
  eBGPMultiHop: boolean;
  extBGPPeers: readonly ExtBgpPeer[];
}

export interface LoxiAgentPoolOptions {
  config: AgentPoolConfig;
  logger?: Logger;
  /** Per health probe; default the period, between 250 ms and kube-loxilb's 1 s. */
  healthTimeoutMs?: number;
  /** Per REST call other than health; default 5 s. */
  requestTimeoutMs?: number;
  /** Rule requests (POST/DELETE) in flight per agent during a sync; default DEFAULT_RULE_REQUESTS_IN_FLIGHT. */
  ruleRequestsInFlight?: number;
  /** The CA bundle the agents' HTTPS certificates are checked against, and their API token (--loxiCACert, --loxiTokenFile). */
  access?: { ca?: Buffer; token?: string };
  /** Timers of the health loop, retries, role arbitration and the BGP mesh; its epochMs() for lastSeenMs. */
  clock?: Clock;
  /** Pause before the BGP programmer retries a failed agent (default 2 s). */
  bgpRetryMs?: number;
}

interface AgentEntry {
  info: AgentInfo;
  client: LoxiClient;
  /** Static (--loxiURL) agents survive setDiscovered(). */
  fixed: boolean;
  /** Health has been checked at least once. */
  probed: boolean;
  lastUptime?: { seconds: number; atMs: number };
  rules: AgentRuleSync;
  removed: boolean;
}

export class LoxiAgentPool implements AgentPool {
  private readonly entries = new Map<string, AgentEntry>();
  private readonly emitter = new EventEmitter();
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly healthTimeoutMs: number;
  private readonly arbiter?: RoleArbiter;
  private readonly mesh?: BgpMeshProgrammer;
  private timer?: TimerHandle;
  private round?: Promise<void>;
  private roundAgain = false;
  private started = false;
  private closed = false;
  private ignoredDiscoveredLb = false;

  constructor(private readonly opts: LoxiAgentPoolOptions) {
    const cfg = opts.config;
    this.log = (opts.logger ?? silentLogger).child({ part: 'LoxiAgentPool' });
    this.clock = opts.clock ?? systemClock;
    this.healthTimeoutMs = opts.healthTimeoutMs ?? Math.min(1000, Math.max(250, cfg.roleHealthPeriodMs));
    const client = (id: string) => this.entries.get(id)?.client;
    if (cfg.setRoles !== undefined) {
      this.arbiter = new RoleArbiter({
        vip: cfg.setRoles,
        zone: cfg.zone,
        instances: zoneInstances(cfg.zone, Math.max(1, cfg.numZoneInstances)),
        excludeRoleList: cfg.excludeRoleList,
        rebalance: cfg.setUniqueIP ?? false,
        client,
        logger: opts.logger,
        clock: this.clock,
        postTimeoutMs: Math.max(1000, this.healthTimeoutMs),
      });
    }
    if (cfg.setBGP !== 0) {
      this.mesh = new BgpMeshProgrammer({
        config: {
          setBGP: cfg.setBGP,
          listenBGPPort: cfg.listenBGPPort || DEFAULT_BGP_PORT,
          eBGPMultiHop: cfg.eBGPMultiHop,
          extBGPPeers: cfg.extBGPPeers,
          // kube-loxilb meshes LB agents with each other only when it discovered them.
          lbToLbMesh: cfg.loxiURLs.length === 0,
        },
        client,
        logger: opts.logger,
        retryMs: opts.bgpRetryMs,
        clock: this.clock,
      });
    }
    for (const url of cfg.loxiURLs) {
      const host = originHost(url);
      if (host === undefined) {
        this.log.error({ url }, 'not a URL; agent left out');
        continue;
      }
      this.addEntry({ url, kind: 'lb', nodeAddress: host }, true);
    }
    if (this.mesh) this.mesh.update(this.agents());
  }

  /** Starts the health loop; the first round runs at once. */
  start(): this {
    if (this.started || this.closed) return this;
    this.started = true;
    this.kickRound();
    return this;
  }

  /**
   * The agents found by discovery (EndpointSlices of loxilb-lb-service and
   * loxilb-peer-service), replacing the previous list. With --loxiURL, LB
   * agents come from the flag only and discovered LB agents are ignored;
   * discovered peer agents are always taken.
   */
  setDiscovered(agents: readonly DiscoveredAgent[]): void {
    if (this.closed) return;
    const wanted = new Map<string, DiscoveredAgent>();
    const staticLb = this.opts.config.loxiURLs.length > 0;
    for (const a of agents) {
      if (staticLb && a.kind === 'lb') {
        if (!this.ignoredDiscoveredLb) this.log.info('LB agents come from --loxiURL; discovered LB agents are ignored');
        this.ignoredDiscoveredLb = true;
        continue;
      }
      const id = normaliseUrl(a.url);
      if (!wanted.has(id) && !this.entries.get(id)?.fixed) wanted.set(id, a);
    }
    let changed = false;
    for (const [id, e] of [...this.entries]) {
      if (e.fixed) continue;
      const w = wanted.get(id);
      if (w && w.kind === e.info.kind && sameAddress(w.nodeAddress, e.info.nodeAddress)) continue;
      this.removeEntry(id);
      changed = true;
    }
    for (const [id, a] of wanted) {
      if (this.entries.has(id)) continue;
      this.addEntry(a, false);
      changed = true;
    }
    if (!changed) return;
    const list = this.agents();
    this.log.info({ agents: list.map((a) => `${a.kind} ${a.id}`) }, 'agent set changed');
    this.mesh?.update(list);
    this.emit('agentsChanged', list);
    // New agents are probed (and elections rerun) now rather than a period later.
    if (this.started) this.kickRound();
  }

  agents(): readonly AgentInfo[] {
    return [...this.entries.values()].map((e) => ({ ...e.info }));
  }

  liveLbAgents(): readonly AgentInfo[] {
    return this.agents().filter((a) => a.kind === 'lb' && a.alive);
  }

  /** instance -> MASTER agent id, with --setRoles; {} without. */
  masters(): Readonly<Record<string, string | undefined>> {
    return this.arbiter?.masters() ?? {};
  }

  on<E extends keyof AgentPoolEvents>(event: E, listener: AgentPoolEvents[E]): this {
    this.emitter.on(event, listener);
    return this;
  }

  off<E extends keyof AgentPoolEvents>(event: E, listener: AgentPoolEvents[E]): this {
    this.emitter.off(event, listener);
    return this;
  }

  syncRules(agentId: string, rules: readonly LbRule[]): Promise<SyncResult> {
    const e = this.entries.get(agentId);
    if (!e) return Promise.resolve(failedSync(`unknown agent ${agentId}`));
    if (e.info.kind !== 'lb') return Promise.resolve(failedSync(`agent ${agentId} is peer-only (loxilb --peer); it takes no LB rules`));
    return e.rules.sync(rules);
  }

  /** Runs one health round now (or waits for the running one and runs another); for tests and tools. */
  async checkNow(): Promise<void> {
    this.kickRound();
    while (this.round) await this.round;
  }

  /** Resolves when no health round, BGP pass or rule sync is running. */
  async whenIdle(): Promise<void> {
    for (;;) {
      if (this.round) await this.round;
      await this.mesh?.whenIdle();
      await Promise.all([...this.entries.values()].map((e) => e.rules.idle()));
      if (!this.round) return;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.mesh?.close();
    for (const e of this.entries.values()) {
      e.rules.close();
      e.client.close();
    }
    await this.round;
    await Promise.all([...this.entries.values()].map((e) => e.rules.idle()));
    this.emitter.removeAllListeners();
  }

  // ---- agents ----

  private addEntry(a: DiscoveredAgent, fixed: boolean): void {
    const id = normaliseUrl(a.url);
    if (this.entries.has(id)) {
      this.log.warn({ url: a.url }, 'agent listed twice; using the first');
      return;
    }
    const client = new LoxiClient(id, { healthTimeoutMs: this.healthTimeoutMs, requestTimeoutMs: this.opts.requestTimeoutMs, ...this.opts.access });
    const nodeAddress = canonicalAddress(a.nodeAddress.trim()) ?? a.nodeAddress.trim();
    const info: AgentInfo = { id, url: id, kind: a.kind, nodeAddress, alive: false };
    const rules = new AgentRuleSync({
      id,
      client,
      zone: this.opts.config.zone,
      alive: () => info.alive,
      clock: this.clock,
      log: this.log,
      ...(this.opts.ruleRequestsInFlight !== undefined ? { requestsInFlight: this.opts.ruleRequestsInFlight } : {}),
    });
    this.entries.set(id, { info, client, fixed, probed: false, rules, removed: false });
  }

  private removeEntry(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.removed = true;
    e.rules.close();
    e.client.close();
    this.entries.delete(id);
    this.arbiter?.forget(id);
    this.log.info({ agent: id, kind: e.info.kind }, 'agent removed');
  }

  // ---- health ----

  private kickRound(): void {
    if (this.closed) return;
    if (this.round) {
      this.roundAgain = true;
      return;
    }
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    const started = this.clock.now();
    this.round = this.healthRound()
      .catch((err: unknown) => this.log.error({ err }, 'health round failed'))
      .finally(() => {
        this.round = undefined;
        if (this.closed) return;
        if (this.roundAgain) {
          this.roundAgain = false;
          this.kickRound();
          return;
        }
        if (!this.started) return;
        const delay = started + this.opts.config.roleHealthPeriodMs - this.clock.now();
        this.timer = this.clock.setTimer(() => {
          this.timer = undefined;
          this.kickRound();
        }, Math.max(0, delay));
      });
  }

  private async healthRound(): Promise<void> {
    const list = [...this.entries.values()];
    const results = await Promise.all(list.map((e) => e.client.health()));
    if (this.closed) return;
    const up: AgentEntry[] = [];
    const down: AgentEntry[] = [];
    list.forEach((e, i) => {
      if (e.removed) return;
      const h = results[i]!;
      const wasAlive = e.info.alive;
      const firstProbe = !e.probed;
      e.probed = true;
      if (!h.alive) {
        e.lastUptime = undefined;
        if (wasAlive) {
          e.info.alive = false;
          down.push(e);
          this.log.warn({ agent: e.info.id, kind: e.info.kind, err: h.error }, 'agent down');
        } else if (firstProbe) {
          this.log.warn({ agent: e.info.id, kind: e.info.kind, err: h.error }, 'agent not answering');
        }
        return;
      }
      const restarted = wasAlive && this.restarted(e, h);
      e.info.alive = true;
      e.info.lastSeenMs = this.clock.epochMs();
      if (h.uptimeSeconds !== undefined) e.lastUptime = { seconds: h.uptimeSeconds, atMs: this.clock.now() };
      if (!wasAlive || restarted) {
        up.push(e);
        this.log.info({ agent: e.info.id, kind: e.info.kind, restarted }, 'agent up');
      }
    });

    for (const e of [...up, ...down]) this.arbiter?.forget(e.info.id);
    const agents = this.agents();
    // Roles first: an agent that comes back learns its role before it gets rules to advertise.
    await this.arbiter?.reconcile(agents);
    if (up.length > 0 || down.length > 0) {
      this.mesh?.update(
        agents,
        up.map((e) => e.info.id),
      );
    }
    for (const e of down) this.emit('agentDown', { ...e.info });
    for (const e of up) {
      this.emit('agentUp', { ...e.info });
      if (e.info.kind === 'lb') e.rules.reapply();
    }
  }

  /** Our agent reports its uptime: if it dropped, the agent restarted between two probes. */
  private restarted(e: AgentEntry, h: HealthResult): boolean {
    if (e.lastUptime === undefined || h.uptimeSeconds === undefined) return false;
    const expected = e.lastUptime.seconds + (this.clock.now() - e.lastUptime.atMs) / 1000;
    // uptimeSeconds is rounded to the second; allow for that and for probe latency.
    return h.uptimeSeconds + 2 < expected;
  }

  private emit<E extends keyof AgentPoolEvents>(event: E, ...args: Parameters<AgentPoolEvents[E]>): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.log.error({ err, event }, 'agent pool listener threw');
      }
    }
  }
}

function normaliseUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

function sameAddress(a: string, b: string): boolean {
  return (canonicalAddress(a.trim()) ?? a.trim()) === (canonicalAddress(b.trim()) ?? b.trim());
}

