// The failover baselines users have today, as FailoverLab setups, all real
// Debian daemons:
//
//   bird-bfd-<ms>      l3: BIRD on lb1/lb2, eBGP to the router's BIRD with
//                      `bfd on`, BFD <ms> x 3 on all three; lb1 advertises the
//                      VIP with MED 10, lb2 with MED 20.
//   gobgpd-hold3s      l3: gobgpd 3.10 on lb1/lb2 (config file, API on
//                      127.0.0.1), keepalive 1 s / hold 3 s to the router's
//                      BIRD, VIP with MED 10 vs 20. No BFD (gobgpd has none):
//                      only the hold timer notices the cut.
//   keepalived-<int>   l2: keepalived VRRPv3 on lb1/lb2 (priorities 150/100),
//                      VIP 192.168.80.200/24 on eth0, advert_int <int>;
//                      the client learns the move from keepalived's gARP.
//
// In each, lb1 is the preferred node and takes the VIP back when its link
// returns, so "steady" means: lb1 is MASTER and lb2 is ready to take over.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Bird, neighborProtocolName } from './Bird.ts';
import { Gobgpd } from './Gobgpd.ts';
import { Keepalived } from './Keepalived.ts';
import {
  FailoverLab,
  LB_ADDR,
  LB_AS,
  LB_NAMES,
  ROUTER_AS,
  ROUTER_LAN,
  VIP_L2,
  VIP_L3,
  waitStable,
  type LbName,
  type Setup,
} from './FailoverLab.ts';

/** MED per LB: lower wins, so lb1 is the router's choice while both advertise. */
const MED: Record<LbName, number> = { lb1: 10, lb2: 20 };
const PREFERRED: LbName = 'lb1';

/** Shared l3 logic: the router's view decides who is MASTER and whether things are steady. */
abstract class RouterSetup implements Setup {
  abstract readonly name: string;
  readonly kind = 'l3' as const;
  abstract readonly failoverTimeoutMs: number;
  protected flab: FailoverLab | undefined;

  abstract start(lab: FailoverLab): Promise<void>;
  abstract stop(): Promise<void>;

  protected get lab(): FailoverLab {
    if (!this.flab) throw new Error(`${this.name}: not started`);
    return this.flab;
  }

  async currentMaster(): Promise<LbName> {
    const nh = await this.lab.routerNextHop();
    if (!nh) throw new Error(`${this.name}: the router has no route for ${VIP_L3}`);
    return nh;
  }

  /** Extra per-setup steady conditions (BFD sessions Up, ...). */
  protected async ready(): Promise<boolean> {
    return true;
  }

  async waitSteady(timeoutMs = 60_000): Promise<void> {
    const router = this.lab.router!;
    const protos = LB_NAMES.map((lb) => neighborProtocolName(LB_ADDR[lb].ipv4));
    await waitStable(
      async () => {
        const states = await router.bgpProtocolStates();
        if (!protos.every((p) => states[p]?.bgpState === 'Established')) return false;
        // Directly connected eBGP paths carry no `from`: the protocol names the LB.
        const routes = await router.routesFor(`${VIP_L3}/32`);
        if (!protos.every((p) => routes.some((r) => r.fromProtocol === p))) return false;
        if ((await this.lab.routerNextHop()) !== PREFERRED) return false;
        return this.ready();
      },
      300,
      { timeoutMs, what: `${this.name}: both LBs advertising ${VIP_L3} and the router forwarding to ${PREFERRED}` },
    );
  }
}

/** BIRD <-> BIRD eBGP with BFD `intervalMs` x 3 tied to the sessions. */
export class BirdBfdSetup extends RouterSetup {
  readonly name: string;
  readonly failoverTimeoutMs: number;
  private readonly birds: Bird[] = [];

  constructor(readonly intervalMs: number) {
    super();
    this.name = `bird-bfd-${intervalMs}`;
    // BFD detects in 3 intervals; the rest is margin for a slow run.
    this.failoverTimeoutMs = Math.max(5000, intervalMs * 3 * 10);
  }

  private get bfd() {
    return { minRxMs: this.intervalMs, minTxMs: this.intervalMs, multiplier: 3 };
  }

  async start(flab: FailoverLab): Promise<void> {
    this.flab = flab;
    await flab.startRouter({ bfd: this.bfd, neighbor: { bfd: true } });
    for (const lb of LB_NAMES) {
      const a = LB_ADDR[lb];
      const bird = await Bird.start(flab.lab, lb, {
        routerId: a.ipv4,
        bfd: this.bfd,
        staticRoutes: [`${VIP_L3}/32`],
        neighbors: [
          {
            localAddress: a.ipv4,
            localAs: LB_AS,
            neighborAddress: ROUTER_LAN.ipv4,
            neighborAs: ROUTER_AS,
            bfd: true,
            import: 'none',
            export: `filter { bgp_med = ${MED[lb]}; accept; }`,
          },
        ],
      });
      this.birds.push(bird);
    }
  }

  protected override async ready(): Promise<boolean> {
    const sessions = await this.lab.router!.bfdSessions();
    return LB_NAMES.every((lb) => sessions.some((s) => s.address === LB_ADDR[lb].ipv4 && s.state === 'Up'));
  }

  async stop(): Promise<void> {
    await Promise.all(this.birds.map((b) => b.stop()));
  }
}

/** gobgpd on the LBs, keepalive 1 s / hold 3 s, no BFD. */
export class GobgpdHoldSetup extends RouterSetup {
  readonly name = 'gobgpd-hold3s';
  readonly failoverTimeoutMs = 15_000;
  private readonly daemons: Gobgpd[] = [];

  async start(flab: FailoverLab): Promise<void> {
    this.flab = flab;
    await flab.startRouter({ neighbor: { holdTime: 3, keepaliveTime: 1 } });
    for (const lb of LB_NAMES) {
      const a = LB_ADDR[lb];
      const conf = path.join(flab.lab.dir, `gobgpd-${lb}.toml`);
      writeFileSync(conf, gobgpdConfig(a.ipv4));
      const g = await Gobgpd.start(flab.lab, lb, { configFile: conf });
      // eBGP: gobgpd sends its own address as next hop.
      await g.cli('global', 'rib', 'add', '-a', 'ipv4', `${VIP_L3}/32`, 'med', String(MED[lb]));
      this.daemons.push(g);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.daemons.map((g) => g.stop()));
  }
}

/**
 * gobgpd's config: one neighbour (the router) with keepalive 1 s / hold 3 s,
 * and retry timers short enough that the session is back within seconds of
 * the link (gobgpd's defaults: 120 s connect retry, 30 s idle hold after a
 * reset).
 */
export function gobgpdConfig(routerId: string): string {
  return `[global.config]
  as = ${LB_AS}
  router-id = "${routerId}"

[[neighbors]]
  [neighbors.config]
    neighbor-address = "${ROUTER_LAN.ipv4}"
    peer-as = ${ROUTER_AS}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 3
    keepalive-interval = 1
    idle-hold-time-after-reset = 1
`;
}

/** keepalived VRRPv3 with `advert_int` seconds, priorities 150 (lb1) / 100 (lb2). */
export class KeepalivedSetup implements Setup {
  readonly kind = 'l2' as const;
  readonly failoverTimeoutMs: number;
  private flab: FailoverLab | undefined;
  private readonly daemons = new Map<LbName, Keepalived>();

  constructor(
    readonly name: string,
    readonly advertInt: number,
  ) {
    // Master_Down_Interval is 3 adverts plus the skew (< 1 advert).
    this.failoverTimeoutMs = Math.max(5000, advertInt * 1000 * 4 * 3);
  }

  async start(flab: FailoverLab): Promise<void> {
    this.flab = flab;
    for (const lb of LB_NAMES) {
      const k = await Keepalived.start(flab.lab, lb, {
        routerId: lb,
        vrrpVersion: 3,
        instances: [
          {
            name: 'VI_1',
            state: lb === PREFERRED ? 'MASTER' : 'BACKUP',
            interface: 'eth0',
            virtualRouterId: 51,
            priority: lb === PREFERRED ? 150 : 100,
            advertInt: this.advertInt,
            virtualIpAddresses: [`${VIP_L2}/24`],
          },
        ],
      });
      this.daemons.set(lb, k);
    }
  }

  async currentMaster(): Promise<LbName> {
    const holders = await this.lab().vipHolders();
    if (holders.length !== 1) throw new Error(`${this.name}: ${VIP_L2} is on ${holders.length ? holders.join(' and ') : 'no LB'}`);
    return holders[0]!;
  }

  async waitSteady(timeoutMs = 60_000): Promise<void> {
    const other = LB_NAMES.find((lb) => lb !== PREFERRED)!;
    // Hold it for 3 adverts: a BACKUP that has just come back may still be
    // counting down its Master_Down timer.
    await waitStable(
      async () => {
        const holders = await this.lab().vipHolders();
        return (
          holders.length === 1 &&
          holders[0] === PREFERRED &&
          this.daemons.get(PREFERRED)!.state() === 'MASTER' &&
          this.daemons.get(other)!.state() === 'BACKUP'
        );
      },
      Math.max(300, this.advertInt * 3000),
      { timeoutMs, what: `${this.name}: ${PREFERRED} MASTER with ${VIP_L2}, ${other} BACKUP` },
    );
  }

  async claimedMasters(): Promise<LbName[]> {
    return LB_NAMES.filter((lb) => this.daemons.get(lb)?.state() === 'MASTER');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.daemons.values()].map((k) => k.stop()));
  }

  private lab(): FailoverLab {
    if (!this.flab) throw new Error(`${this.name}: not started`);
    return this.flab;
  }
}

/** Every baseline by name, in the bench's default order. Factories: setups are single-use. */
export const BASELINE_SETUPS: Record<string, () => Setup> = {
  'bird-bfd-100': () => new BirdBfdSetup(100),
  'bird-bfd-50': () => new BirdBfdSetup(50),
  'bird-bfd-10': () => new BirdBfdSetup(10),
  'gobgpd-hold3s': () => new GobgpdHoldSetup(),
  'keepalived-default': () => new KeepalivedSetup('keepalived-default', 1),
  'keepalived-0.1': () => new KeepalivedSetup('keepalived-0.1', 0.1),
  'keepalived-0.01': () => new KeepalivedSetup('keepalived-0.01', 0.01),
};
