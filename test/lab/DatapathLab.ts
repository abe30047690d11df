// The datapath lab: a client behind a router, LB nodes and endpoints on one
// LAN, all in network namespaces.
//
//   client 192.168.90.2 --[wan]-- 192.168.90.1 router 192.168.80.1 --[lan]-- lb1 .11, lb2 .12, ep1 .21, ep2 .22
//          fd00:90::2                 fd00:90::1        fd00:80::1             fd00:80::11, ::12, ::21, ::22
//
// Every node is dual-stack. The router sends the VIP ranges (20.20.20.0/24,
// fd00:20::/64) to one LB (setVipRoute), and the endpoints route everything
// else through that LB too, so replies of default-mode (DNAT) connections
// come back through the node that translated them. Each endpoint runs
// l4Echo.ts (HTTP 8080, UDP 9090, line echo 7070) on both families.
//
// With `bgp`, routing is the seeds' HA scenario instead: the router is BIRD
// (AS 65101, BFD on its sessions with the LBs, best routes into its kernel),
// the LBs run `loxilb --bgp` (AS 64512) and the endpoints `loxilb --peer`,
// meshed over iBGP, so the endpoints learn the VIP (fullnat's source) from
// the LBs and reach it through the MASTER.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess } from './Lab.ts';
import { CLUSTER_AS, LOXICMD_BIN, ROUTER_AS } from './BgpLab.ts';
import { agentApi, mustAgentApi, startAgentProcess, type ApiReply } from './agentProcess.ts';
import { Bird, type BirdBfdOptions } from './Bird.ts';
import { StopWaiting, waitFor } from './wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ECHO = fileURLToPath(new URL('./l4Echo.ts', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('./l4Client.ts', import.meta.url));
const STREAMS = fileURLToPath(new URL('./streamClients.ts', import.meta.url));

/** What streamClients.ts prints at the end, per connection. */
export interface StreamSummary {
  conns: { error?: string; endedAt?: number; sent: number; echoed: number; bytes: number; maxGapMs: number; endpoints: string[] }[];
}

/** streamClients.ts's running totals (with progressMs), summed over its connections. */
export interface StreamProgress {
  sent: number;
  echoed: number;
  /** Echo bytes received. */
  bytes: number;
}

/** Long-lived connections running in the client (streamClients.ts). */
export interface StreamRun {
  /** Ends them early (SIGINT); summary() then resolves. */
  stop(): void;
  /** The client's summary, once it has exited. */
  summary(): Promise<StreamSummary>;
  /** The latest running totals (only with progressMs), undefined before the first. */
  progress(): StreamProgress | undefined;
  /** The client process (its PID, to show or signal). */
  readonly process: LabProcess;
}

/**
 * The seeds' hitless HA pair in this lab: `--bgp --ka --cluster` at
 * 100 ms × 3 with the other LB, each node's index, a 3 s initial wait; then
 * `extra`.
 */
export function haPairArgs(lb: LbNode, extra: string[] = []): string[] {
  const peer: LbNode = lb === 'lb1' ? 'lb2' : 'lb1';
  return ['--bgp', `--ka=${DP[peer]}:${DP[lb]}:100000:3`, `--cluster=${DP[peer]}`, `--self=${lb === 'lb1' ? 0 : 1}`, '--ha-init-wait=3000', ...extra];
}

export const DP = {
  client: '192.168.90.2',
  routerWan: '192.168.90.1',
  routerLan: '192.168.80.1',
  lb1: '192.168.80.11',
  lb2: '192.168.80.12',
  ep1: '192.168.80.21',
  ep2: '192.168.80.22',
  vip: '20.20.20.1',
  vipNet: '20.20.20.0/24',
  client6: 'fd00:90::2',
  routerWan6: 'fd00:90::1',
  routerLan6: 'fd00:80::1',
  lb1_6: 'fd00:80::11',
  lb2_6: 'fd00:80::12',
  ep1_6: 'fd00:80::21',
  ep2_6: 'fd00:80::22',
  vip6: 'fd00:20::1',
  vip6Net: 'fd00:20::/64',
  httpPort: 8080,
  udpPort: 9090,
  streamPort: 7070,
} as const;

export type LbNode = 'lb1' | 'lb2';
export type EpNode = 'ep1' | 'ep2';

/** A lab node's IPv6 address. */
export function v6of(node: LbNode | EpNode): string {
  return DP[`${node}_6`];
}

export interface Reply {
  name?: string;
  remote?: string;
  remotePort?: number;
  error?: string;
}

export interface DatapathLabOptions {
  lbs?: LbNode[];
  /** Extra agent flags per LB. */
  lbArgs?: (lb: LbNode) => string[];
  loglevel?: string;
  /** BIRD router, BGP agents and --peer endpoints instead of static routes. */
  bgp?: { bfd: BirdBfdOptions };
}

export class DatapathLab {
  readonly agents = new Map<LbNode, LabProcess>();
  readonly echoes = new Map<EpNode, LabProcess>();
  readonly peers = new Map<EpNode, LabProcess>();
  bird?: Bird;

  private constructor(
    readonly lab: Lab,
    readonly opts: DatapathLabOptions,
  ) {}

  static create(opts: DatapathLabOptions = {}): Promise<DatapathLab> {
    return Lab.buildWith(async (lab) => {
      const t = new DatapathLab(lab, opts);
      await t.build();
      return t;
    });
  }

  get lbs(): LbNode[] {
    return this.opts.lbs ?? ['lb1'];
  }

  private async build(): Promise<void> {
    const { lab } = this;
    await lab.addSwitch('wan');
    await lab.addSwitch('lan');
    await lab.addNode('client', { switch: 'wan', ipv4: `${DP.client}/24`, ipv6: `${DP.client6}/64` });
    await lab.addNode('router', { switch: 'wan', ipv4: `${DP.routerWan}/24`, ipv6: `${DP.routerWan6}/64`, forwarding: true });
    await lab.addLink('router', { switch: 'lan', ipv4: `${DP.routerLan}/24`, ipv6: `${DP.routerLan6}/64` });
    for (const lb of this.lbs) await lab.addNode(lb, { switch: 'lan', ipv4: `${DP[lb]}/24`, ipv6: `${v6of(lb)}/64` });
    for (const ep of ['ep1', 'ep2'] as const) await lab.addNode(ep, { switch: 'lan', ipv4: `${DP[ep]}/24`, ipv6: `${v6of(ep)}/64` });
    await lab.run('client', ['ip', 'route', 'add', 'default', 'via', DP.routerWan]);
    await lab.run('client', ['ip', '-6', 'route', 'add', 'default', 'via', DP.routerWan6]);
    for (const lb of this.lbs) {
      await lab.run(lb, ['ip', 'route', 'add', 'default', 'via', DP.routerLan]);
      await lab.run(lb, ['ip', '-6', 'route', 'add', 'default', 'via', DP.routerLan6]);
    }
    if (this.opts.bgp) {
      for (const ep of ['ep1', 'ep2'] as const) {
        await lab.run(ep, ['ip', 'route', 'add', 'default', 'via', DP.routerLan]);
        await lab.run(ep, ['ip', '-6', 'route', 'add', 'default', 'via', DP.routerLan6]);
      }
      this.bird = await Bird.start(lab, 'router', {
        routerId: DP.routerLan,
        neighbors: this.lbs.map((lb) => ({ localAddress: DP.routerLan, localAs: ROUTER_AS, neighborAddress: DP[lb], neighborAs: CLUSTER_AS, bfd: true })),
        kernel: true,
        bfd: this.opts.bgp.bfd,
      });
    } else {
      await this.setVipRoute('lb1');
    }
    for (const ep of ['ep1', 'ep2'] as const) await this.startEcho(ep);
    await Promise.all(this.lbs.map((lb) => this.startAgent(lb)));
    if (this.opts.bgp) {
      for (const ep of ['ep1', 'ep2'] as const) this.peers.set(ep, await this.startAgentIn(ep, ['--peer']));
      await this.configureBgp();
    }
  }

  /**
   * What kube-loxilb --setBGP does: global config, the router as eBGP peer
   * (with BFD), the LB <-> endpoint iBGP mesh; with BFD on the mesh too, as
   * an operator should: without it an endpoint keeps a cut MASTER's path to
   * fullnat's source until the hold timer, and with equal local-prefs may
   * prefer it to the new MASTER's (the chaos soak found 2 s of loss so).
   */
  private async configureBgp(): Promise<void> {
    const bfd = { interval: 100000, retryCount: 3 };
    for (const lb of this.lbs) {
      await this.mustApi(lb, 'POST', '/config/bgp/global', { routerId: DP[lb], localAs: CLUSTER_AS, setNextHopSelf: true });
      await this.mustApi(lb, 'POST', '/config/bgp/neigh', { ipAddress: DP.routerLan, remoteAs: ROUTER_AS, bfd });
      for (const ep of ['ep1', 'ep2'] as const) await this.mustApi(lb, 'POST', '/config/bgp/neigh', { ipAddress: DP[ep], remoteAs: CLUSTER_AS, bfd });
    }
    for (const ep of ['ep1', 'ep2'] as const) {
      await this.mustApi(ep, 'POST', '/config/bgp/global', { routerId: DP[ep], localAs: CLUSTER_AS, setNextHopSelf: false });
      for (const lb of this.lbs) await this.mustApi(ep, 'POST', '/config/bgp/neigh', { ipAddress: DP[lb], remoteAs: CLUSTER_AS, bfd });
    }
  }

  /** The next hop a node's kernel uses for the VIP right now. */
  async vipNextHop(node: string): Promise<string | undefined> {
    const out = await this.lab.run(node, ['ip', '-j', '-4', 'route', 'show', `${DP.vip}/32`]);
    return (JSON.parse(out || '[]') as { gateway?: string }[])[0]?.gateway;
  }

  /** Sends the VIP range (router) and the endpoints' replies through one LB. */
  async setVipRoute(lb: LbNode): Promise<void> {
    await this.lab.run('router', ['ip', 'route', 'replace', DP.vipNet, 'via', DP[lb]]);
    await this.lab.run('router', ['ip', '-6', 'route', 'replace', DP.vip6Net, 'via', v6of(lb)]);
    for (const ep of ['ep1', 'ep2'] as const) {
      await this.lab.run(ep, ['ip', 'route', 'replace', 'default', 'via', DP[lb]]);
      await this.lab.run(ep, ['ip', '-6', 'route', 'replace', 'default', 'via', v6of(lb)]);
    }
  }

  async startEcho(ep: EpNode): Promise<void> {
    const p = this.lab.spawn(ep, process.execPath, ['--import', 'tsx', ECHO, '--name', ep, '--http', String(DP.httpPort), '--udp', String(DP.udpPort), '--stream', String(DP.streamPort)], {
      cwd: ROOT,
      logName: `${ep}.echo`,
    });
    this.echoes.set(ep, p);
    await waitFor(
      () => {
        if (!p.alive()) throw new StopWaiting(`l4Echo in ${ep} exited: ${p.log()}`);
        return p.log().includes('ready');
      },
      { timeoutMs: 15_000, what: `l4Echo in ${ep}` },
    );
  }

  async stopEcho(ep: EpNode): Promise<void> {
    await this.echoes.get(ep)?.stop();
    this.echoes.delete(ep);
  }

  async startAgent(lb: LbNode, extra: string[] = []): Promise<LabProcess> {
    const p = await this.startAgentIn(lb, [...(this.opts.lbArgs?.(lb) ?? []), ...extra]);
    this.agents.set(lb, p);
    return p;
  }

  private startAgentIn(node: string, args: string[]): Promise<LabProcess> {
    return startAgentProcess(this.lab, node, args, this.opts.loglevel);
  }

  api(node: string, method: string, p: string, body?: unknown): Promise<ApiReply> {
    return agentApi(this.lab, node, method, p, body);
  }

  mustApi(node: string, method: string, p: string, body?: unknown): Promise<any> {
    return mustAgentApi(this.lab, node, method, p, body);
  }

  /** `count` requests from the client, each on a new connection (or socket, for UDP). */
  async requests(kind: 'http' | 'udp', target: string, count: number, timeoutMs = 2000, localPort?: number): Promise<Reply[]> {
    const extra = localPort === undefined ? [] : ['--local-port', String(localPort)];
    const out = await this.lab.run('client', [process.execPath, '--import', 'tsx', CLIENT_SCRIPT, kind, '--target', target, '--count', String(count), '--timeout', String(timeoutMs), ...extra], {
      cwd: ROOT,
      timeoutMs: 30_000 + count * timeoutMs,
    });
    return (JSON.parse(out.trim().split('\n').pop()!) as { replies: Reply[] }).replies;
  }

  /**
   * Opens `conns` connections to VIP:port (default 100 to port 70), each
   * sending a line every `everyMs`; resolves once all are up. With
   * `progressMs` the client reports running totals that often (progress()).
   */
  startStreams(opts: { durationMs: number; conns?: number; everyMs?: number; port?: number; progressMs?: number }): Promise<StreamRun> {
    return startStreamClients(this.lab, 'client', `${DP.vip}:${opts.port ?? 70}`, opts);
  }

  loxicmd(node: string, ...args: string[]): Promise<string> {
    return this.lab.run(node, [LOXICMD_BIN, ...args]);
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}

/** Runs streamClients.ts in `node`: `conns` connections (default 100) to target (addr:port), a line every `everyMs` each; resolves once all are up. */
export async function startStreamClients(
  lab: Lab,
  node: string,
  target: string,
  opts: { durationMs: number; conns?: number; everyMs?: number; progressMs?: number },
): Promise<StreamRun> {
  const conns = opts.conns ?? 100;
  const args = ['--import', 'tsx', STREAMS, '--target', target, '--conns', String(conns), '--every', String(opts.everyMs ?? 10), '--duration', String(opts.durationMs)];
  if (opts.progressMs !== undefined) args.push('--progress', String(opts.progressMs));
  const p = lab.spawn(node, process.execPath, args, { cwd: ROOT, output: 'pipe' });
  let out = '';
  p.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(
    () => {
      if (!p.alive() && !out.includes('established')) throw new StopWaiting(`streamClients exited: ${out.slice(-500)}`);
      return out.includes('established');
    },
    { timeoutMs: 15_000, what: `${conns} connections established` },
  );
  return {
    process: p,
    progress: () => {
      // Complete lines only (the last piece may be half a line).
      const line = out.split('\n').slice(0, -1).reverse().find((l) => l.startsWith('progress '));
      return line === undefined ? undefined : (JSON.parse(line.slice('progress '.length)) as StreamProgress);
    },
    stop: () => p.signal('SIGINT'),
    summary: async () => {
      await p.exited;
      const line = out.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(line) as StreamSummary;
      } catch {
        throw new Error(`streamClients printed no summary: ${line.slice(0, 300)}`);
      }
    },
  };
}
