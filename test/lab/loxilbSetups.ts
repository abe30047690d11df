// loxilb-ts as a FailoverLab contender:
//
//   loxilb-bfd-<ms>     l3: `loxilb --bgp --ka=<peer>:<self>:<ms>000:3` on lb1/lb2,
//                       eBGP to the router's BIRD with BFD on both sides
//                       (neighbour `bfd` here, `bfd on` there, <ms> x 3); the
//                       VIP rule has bgp: true, so the MASTER advertises MED 10
//                       and the BACKUP MED 20.
//   loxilb-l2-<ms>      l2: the same agents with --ka at <ms> x 3 and a rule
//                       for 192.168.80.200 (in the LAN): the MASTER holds it
//                       on eth0 and announces it with gratuitous ARP.
//
// No preemption: after a trial the returning node stays BACKUP, so each
// trial cuts whichever node is MASTER then.
import path from 'node:path';
import { LOXILB_BIN } from './BgpLab.ts';
import { neighborProtocolName } from './Bird.ts';
import type { LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';
import { FailoverLab, LB_ADDR, LB_AS, LB_NAMES, ROUTER_AS, ROUTER_LAN, VIP_L2, VIP_L3, ECHO_PORT, waitStable, type LbName, type Setup } from './FailoverLab.ts';

async function api(flab: FailoverLab, node: string, method: string, p: string, body?: unknown): Promise<any> {
  const args = ['curl', '-s', '-m', '10', '-o', '-', '-w', '\n%{http_code}', '-X', method, `http://127.0.0.1:11111/netlox/v1${p}`];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body));
  const out = (await flab.lab.exec(node, args)).stdout;
  const nl = out.lastIndexOf('\n');
  const status = Number(out.slice(nl + 1));
  const text = out.slice(0, nl);
  if (status !== 200) throw new Error(`${method} ${p} on ${node}: HTTP ${status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * The VIP's rule: it makes the VIP advertised and owned. It is on another
 * port than the echo, so the datapath leaves the probes to the node's own
 * echo (the endpoint only makes the rule valid).
 */
function postEchoRule(flab: FailoverLab, lb: LbName, vip: string, bgp: boolean): Promise<unknown> {
  return api(flab, lb, 'POST', '/config/loadbalancer', {
    serviceArguments: { externalIP: vip, port: ECHO_PORT + 1, protocol: 'udp', sel: 0, mode: 0, bgp },
    endpoints: [{ endpointIP: '10.0.0.1', targetPort: ECHO_PORT, weight: 1 }],
  });
}

interface CiEntry {
  instance: string;
  state: string;
  peers?: { bfd: string }[];
}

abstract class LoxilbSetup implements Setup {
  abstract readonly name: string;
  abstract readonly kind: 'l3' | 'l2';
  readonly failoverTimeoutMs: number;
  protected flab: FailoverLab | undefined;
  private readonly agents = new Map<LbName, LabProcess>();

  constructor(readonly intervalMs: number) {
    this.failoverTimeoutMs = Math.max(5000, intervalMs * 3 * 10);
  }

  abstract start(flab: FailoverLab): Promise<void>;
  abstract currentMaster(): Promise<LbName>;
  abstract waitSteady(timeoutMs?: number): Promise<void>;

  protected get lab(): FailoverLab {
    if (!this.flab) throw new Error(`${this.name}: not started`);
    return this.flab;
  }

  protected async startAgents(flab: FailoverLab, extra: string[]): Promise<void> {
    this.flab = flab;
    await Promise.all(
      LB_NAMES.map(async (lb) => {
        const me = LB_ADDR[lb].ipv4;
        const peer = LB_ADDR[lb === 'lb1' ? 'lb2' : 'lb1'].ipv4;
        const p = flab.lab.spawn(
          lb,
          LOXILB_BIN,
          [
            ...extra,
            `--ka=${peer}:${me}:${this.intervalMs * 1000}:3`,
            '--ha-init-wait=3000',
            `--config-path=${path.join(flab.lab.dir, `${lb}-config`)}`,
            '--loglevel=info',
          ],
          { logName: `${lb}.loxilb` },
        );
        this.agents.set(lb, p);
        await waitFor(
          async () => {
            if (!p.alive()) throw new StopWaiting(`loxilb in ${lb} exited: ${p.log().split('\n').slice(-5).join('\n')}`);
            return (await flab.lab.exec(lb, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:11111/netlox/v1/status'], { check: false })).stdout === '200';
          },
          { timeoutMs: 20_000, what: `loxilb in ${lb}` },
        );
      }),
    );
  }

  protected async ciEntry(lb: LbName): Promise<CiEntry | undefined> {
    const r = (await api(this.lab, lb, 'GET', '/config/cistate/all')) as { Attr: CiEntry[] };
    return r.Attr.find((e) => e.instance === 'llb-inst0');
  }

  /** One MASTER, one BACKUP, their BFD Up. */
  protected async rolesSteady(): Promise<LbName | undefined> {
    const [a, b] = await Promise.all(LB_NAMES.map((lb) => this.ciEntry(lb)));
    const up = [a, b].every((e) => e?.peers?.[0]?.bfd === 'Up');
    const states = [a?.state, b?.state].sort().join();
    if (!up || states !== 'BACKUP,MASTER') return undefined;
    return a?.state === 'MASTER' ? 'lb1' : 'lb2';
  }

  async claimedMasters(): Promise<LbName[]> {
    const entries = await Promise.all(LB_NAMES.map((lb) => this.ciEntry(lb)));
    return LB_NAMES.filter((_, i) => entries[i]?.state === 'MASTER');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.agents.values()].map((p) => p.stop()));
  }
}

export class LoxilbL3Setup extends LoxilbSetup {
  readonly kind = 'l3' as const;
  readonly name: string;

  constructor(intervalMs: number) {
    super(intervalMs);
    this.name = `loxilb-bfd-${intervalMs}`;
  }

  async start(flab: FailoverLab): Promise<void> {
    const bfd = { minRxMs: this.intervalMs, minTxMs: this.intervalMs, multiplier: 3 };
    await flab.startRouter({ bfd, neighbor: { bfd: true } });
    await this.startAgents(flab, ['--bgp']);
    for (const lb of LB_NAMES) {
      await api(flab, lb, 'POST', '/config/bgp/global', { routerId: LB_ADDR[lb].ipv4, localAs: LB_AS, setNextHopSelf: true });
      await api(flab, lb, 'POST', '/config/bgp/neigh', { ipAddress: ROUTER_LAN.ipv4, remoteAs: ROUTER_AS, bfd: { interval: this.intervalMs * 1000, retryCount: 3 } });
      await postEchoRule(flab, lb, VIP_L3, true);
    }
  }

  async currentMaster(): Promise<LbName> {
    const nh = await this.lab.routerNextHop();
    if (!nh) throw new Error(`${this.name}: the router has no route for ${VIP_L3}`);
    return nh;
  }

  async waitSteady(timeoutMs = 60_000): Promise<void> {
    const router = this.lab.router!;
    const protos = LB_NAMES.map((lb) => neighborProtocolName(LB_ADDR[lb].ipv4));
    await waitStable(
      async () => {
        const master = await this.rolesSteady();
        if (!master) return false;
        const states = await router.bgpProtocolStates();
        if (!protos.every((p) => states[p]?.bgpState === 'Established')) return false;
        const routes = await router.routesFor(`${VIP_L3}/32`);
        if (!protos.every((p) => routes.some((r) => r.fromProtocol === p))) return false;
        const sessions = await router.bfdSessions();
        if (!LB_NAMES.every((lb) => sessions.some((s) => s.address === LB_ADDR[lb].ipv4 && s.state === 'Up'))) return false;
        return (await this.lab.routerNextHop()) === master;
      },
      300,
      { timeoutMs, what: `${this.name}: one MASTER, both advertising ${VIP_L3}, the router on the MASTER` },
    );
  }
}

export class LoxilbL2Setup extends LoxilbSetup {
  readonly kind = 'l2' as const;
  readonly name: string;

  constructor(intervalMs: number) {
    super(intervalMs);
    this.name = `loxilb-l2-${intervalMs}`;
  }

  async start(flab: FailoverLab): Promise<void> {
    await this.startAgents(flab, []);
    for (const lb of LB_NAMES) {
      await postEchoRule(flab, lb, VIP_L2, false);
    }
  }

  async currentMaster(): Promise<LbName> {
    const holders = await this.lab.vipHolders();
    if (holders.length !== 1) throw new Error(`${this.name}: ${VIP_L2} is on ${holders.length ? holders.join(' and ') : 'no LB'}`);
    return holders[0]!;
  }

  async waitSteady(timeoutMs = 60_000): Promise<void> {
    await waitStable(
      async () => {
        const master = await this.rolesSteady();
        if (!master) return false;
        const holders = await this.lab.vipHolders();
        return holders.length === 1 && holders[0] === master;
      },
      300,
      { timeoutMs, what: `${this.name}: one MASTER holding ${VIP_L2}` },
    );
  }
}

export const LOXILB_SETUPS: Record<string, () => Setup> = {
  'loxilb-bfd-100': () => new LoxilbL3Setup(100),
  'loxilb-bfd-50': () => new LoxilbL3Setup(50),
  'loxilb-bfd-10': () => new LoxilbL3Setup(10),
  'loxilb-l2-100': () => new LoxilbL2Setup(100),
  'loxilb-l2-50': () => new LoxilbL2Setup(50),
  'loxilb-l2-10': () => new LoxilbL2Setup(10),
};
