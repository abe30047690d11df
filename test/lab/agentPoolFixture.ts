// What the agent-pool unit tests share: a pool config with a short health
// period, fake agents on their own loopback addresses, a FakeClock for the
// pools' timers (health rounds, retries, the BGP mesh), and one cleanup list
// that an afterEach hook empties (the test file registers the hook). Requests
// to the fake agents are real loopback I/O: advance() and until() wait for
// the ones each timer sets off (pool.whenIdle()) before moving time on.
import { LoxiAgentPool, type AgentPoolConfig } from '../../src/kube/LoxiAgentPool.ts';
import { FakeLoxiAgent } from './FakeLoxiAgent.ts';
import { FakeClock } from './FakeClock.ts';

export const PERIOD = 100;

export function poolConfig(over: Partial<AgentPoolConfig> = {}): AgentPoolConfig {
  return {
    loxiURLs: [],
    roleHealthPeriodMs: PERIOD,
    excludeRoleList: [],
    zone: 'llb',
    numZoneInstances: 1,
    setBGP: 0,
    listenBGPPort: 179,
    eBGPMultiHop: false,
    extBGPPeers: [],
    ...over,
  };
}

export class PoolFixture {
  private readonly cleanup: (() => Promise<void>)[] = [];
  /** The clock of the pools this test makes; a fresh one after each close(). */
  clock = new FakeClock();

  /** `firstHost`: the last octet of the first fake's 127.0.0.x, so test files do not share addresses. */
  constructor(private readonly firstHost: number) {}

  async fakes(n: number, opts: Parameters<typeof FakeLoxiAgent.start>[0] = {}): Promise<FakeLoxiAgent[]> {
    const out: FakeLoxiAgent[] = [];
    for (let i = 0; i < n; i++) {
      const f = await FakeLoxiAgent.start({ host: `127.0.0.${this.firstHost + i}`, ...opts });
      this.cleanup.push(() => f.close());
      out.push(f);
    }
    return out;
  }

  pool(config: AgentPoolConfig, extra: { bgpRetryMs?: number } = {}): LoxiAgentPool {
    const p = new LoxiAgentPool({ config, healthTimeoutMs: 300, requestTimeoutMs: 1000, clock: this.clock, ...extra });
    this.cleanup.push(() => p.close());
    return p;
  }

  onCleanup(f: () => Promise<void>): void {
    this.cleanup.push(f);
  }

  async close(): Promise<void> {
    for (const f of this.cleanup.splice(0).reverse()) await f();
    this.clock = new FakeClock();
  }

  /**
   * Moves the clock on by ms, one due timer at a time, waiting after each
   * for the requests it set off. Not while p's BGP mesh waits out a retry
   * with changes pending (whenIdle waits for that retry): use the clock.
   */
  advance(p: LoxiAgentPool, ms: number): Promise<void> {
    return this.clock.advance(ms, { idle: () => p.whenIdle() });
  }

  /** Runs p's timers in order until cond holds; answers how much (fake) time that took. Throws past maxMs. */
  until(p: LoxiAgentPool, cond: () => unknown, what = 'condition', maxMs = 20 * PERIOD): Promise<number> {
    return this.clock.runUntil(cond, { idle: () => p.whenIdle(), what, maxMs });
  }
}
