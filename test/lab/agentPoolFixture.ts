// What the agent-pool unit tests share: a pool config with a short health
// period, fake agents on their own loopback addresses, and one cleanup list
// that an afterEach hook empties (the test file registers the hook).
import { LoxiAgentPool, type AgentPoolConfig } from '../../src/kube/LoxiAgentPool.ts';
import { FakeLoxiAgent } from './FakeLoxiAgent.ts';

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
    const p = new LoxiAgentPool({ config, healthTimeoutMs: 300, requestTimeoutMs: 1000, ...extra });
    this.cleanup.push(() => p.close());
    return p;
  }

  onCleanup(f: () => Promise<void>): void {
    this.cleanup.push(f);
  }

  async close(): Promise<void> {
    for (const f of this.cleanup.splice(0).reverse()) await f();
  }
}
