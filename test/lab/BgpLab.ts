// The seeds' in-cluster BGP topology in namespaces, shared by the integration
// test, the demo and the benchmark: a BIRD router (AS 65101), LB nodes running
// `loxilb --bgp` and a worker running `loxilb --peer` (AS 64512), one switch.
// Agents are configured through their REST API, exactly as kube-loxilb does.
//
// With `client`, traffic can flow: a client outside the cluster sits behind
// the router on a second switch, BIRD puts its best paths into the router's
// kernel (so a VIP is routed to the node BGP prefers, the MASTER), and every
// cluster node has a default route through the router, as a cluster's nodes
// have a gateway (an LB node sends un-NATed replies there).
//
//   client 192.168.90.2 --[wan]-- 192.168.90.1 router 192.168.80.1 --[sw]-- lb1 .10, lb2 .11, worker .101
//          fd00:90::2                 fd00:90::1        fd00:80::1            fd00:80::10, ::11, ::101
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess } from './Lab.ts';
import { Bird, type BirdBfdOptions, type BirdBgpNeighbor } from './Bird.ts';
import { Frr, type FrrBfdOptions } from './Frr.ts';
import { waitFor } from './wait.ts';
import { agentApi, mustAgentApi, startAgentProcess, type ApiReply } from './agentProcess.ts';

export const ROUTER_AS = 65101;
export const CLUSTER_AS = 64512;
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export { LOXILB_BIN, type ApiReply } from './agentProcess.ts';
export const LOXICMD_BIN = path.join(ROOT, 'bin/loxicmd');

export interface NodeAddr {
  name: string;
  ipv4: string;
  ipv6: string;
}

export const ROUTER: NodeAddr = { name: 'router', ipv4: '192.168.80.1', ipv6: 'fd00:80::1' };
export const LB_NODES: NodeAddr[] = [
  { name: 'lb1', ipv4: '192.168.80.10', ipv6: 'fd00:80::10' },
  { name: 'lb2', ipv4: '192.168.80.11', ipv6: 'fd00:80::11' },
];
export const WORKER: NodeAddr = { name: 'worker', ipv4: '192.168.80.101', ipv6: 'fd00:80::101' };
/** With BgpLabOptions.client: the client outside the cluster, and the router's address on its side. */
export const CLIENT: NodeAddr = { name: 'client', ipv4: '192.168.90.2', ipv6: 'fd00:90::2' };
export const ROUTER_WAN = { ipv4: '192.168.90.1', ipv6: 'fd00:90::1' } as const;

export interface BgpLabOptions {
  lbCount?: number;
  worker?: boolean;
  /** Commands to run in the worker before its agent starts (e.g. a stale route). */
  beforeWorker?: string[][];
  loglevel?: string;
  /** The router's `protocol bfd` (off by default). */
  birdBfd?: BirdBfdOptions;
  /** The router ties its BGP sessions with the LB nodes to BFD (BIRD: `bfd on`, needs birdBfd; FRR: `neighbor X bfd`). */
  routerBgpBfd?: boolean;
  /**
   * The router's software: BIRD (default) or FRR 8.4 (zebra, bgpd, bfdd; see
   * Frr.ts). FRR keeps its own defaults (connect retry 120 s) except the BGP
   * timers (3 s / 9 s, as BIRD here), and runs BFD with `frrBfd` timers.
   * With FRR, `bird` is not set and `client` is not supported.
   */
  router?: 'bird' | 'frr';
  frrBfd?: FrrBfdOptions;
  /** FRR: extra `neighbor X ...` settings for its sessions with the LB nodes, e.g. `timers connect 1`. */
  frrNeighborExtra?: string[];
  /** Extra agent flags per LB node (e.g. --ka), on top of --bgp. */
  lbArgs?: (lb: NodeAddr, index: number) => string[];
  /**
   * Called with the half-built lab when create() fails, before it is torn
   * down, e.g. to show the agents' logs. Errors it throws are ignored.
   */
  onBuildError?: (lab: BgpLab, err: unknown) => void | Promise<void>;
  /** A client behind the router, BIRD's routes in the router's kernel, default routes on the nodes (see the header). */
  client?: boolean;
}

export class BgpLab {
  readonly agents = new Map<string, LabProcess>();
  readonly lbs: NodeAddr[];
  /** The router, when it is BIRD (the default). */
  bird!: Bird;
  /** The router, when BgpLabOptions.router is `frr`. */
  frr?: Frr;

  private constructor(
    readonly lab: Lab,
    private readonly opts: BgpLabOptions,
  ) {
    this.lbs = LB_NODES.slice(0, opts.lbCount ?? 2);
  }

  static async create(opts: BgpLabOptions = {}): Promise<BgpLab> {
    await Lab.cleanupStale();
    const lab = await Lab.create();
    const t = new BgpLab(lab, opts);
    try {
      await t.build();
    } catch (err) {
      try {
        await opts.onBuildError?.(t, err);
      } catch {
        /* the build error is the one to report */
      }
      await lab.destroy();
      throw err;
    }
    return t;
  }

  private async build(): Promise<void> {
    const { lab } = this;
    await lab.addSwitch('sw');
    const nodes = [ROUTER, ...this.lbs, ...(this.opts.worker === false ? [] : [WORKER])];
    const client = this.opts.client === true;
    for (const n of nodes) await lab.addNode(n.name, { switch: 'sw', ipv4: `${n.ipv4}/24`, ipv6: `${n.ipv6}/64`, forwarding: client && n === ROUTER });
    if (client) {
      await lab.addSwitch('wan');
      await lab.addLink(ROUTER.name, { switch: 'wan', ipv4: `${ROUTER_WAN.ipv4}/24`, ipv6: `${ROUTER_WAN.ipv6}/64` });
      await lab.addNode(CLIENT.name, { switch: 'wan', ipv4: `${CLIENT.ipv4}/24`, ipv6: `${CLIENT.ipv6}/64` });
      await lab.run(CLIENT.name, ['ip', 'route', 'add', 'default', 'via', ROUTER_WAN.ipv4]);
      await lab.run(CLIENT.name, ['ip', '-6', 'route', 'add', 'default', 'via', ROUTER_WAN.ipv6]);
      for (const n of nodes.filter((x) => x !== ROUTER)) {
        await lab.run(n.name, ['ip', 'route', 'add', 'default', 'via', ROUTER.ipv4]);
        await lab.run(n.name, ['ip', '-6', 'route', 'add', 'default', 'via', ROUTER.ipv6]);
      }
    }
    const bfd = this.opts.routerBgpBfd;
    if (this.opts.router === 'frr') {
      if (client) throw new Error('BgpLab: client is only supported with BIRD as the router');
      const frrNeighbors = this.lbs.flatMap((lb) => [lb.ipv4, lb.ipv6].map((address) => ({ address, remoteAs: CLUSTER_AS, bfd, extra: this.opts.frrNeighborExtra })));
      this.frr = await Frr.start(lab, ROUTER.name, { routerId: ROUTER.ipv4, asn: ROUTER_AS, neighbors: frrNeighbors, bfd: this.opts.frrBfd });
      await this.startNodes();
      return;
    }
    const neighbors: BirdBgpNeighbor[] = this.lbs.flatMap((lb) => [
      { localAddress: ROUTER.ipv4, localAs: ROUTER_AS, neighborAddress: lb.ipv4, neighborAs: CLUSTER_AS, bfd },
      { localAddress: ROUTER.ipv6, localAs: ROUTER_AS, neighborAddress: lb.ipv6, neighborAs: CLUSTER_AS, bfd },
    ]);
    this.bird = await Bird.start(lab, ROUTER.name, { routerId: ROUTER.ipv4, neighbors, bfd: this.opts.birdBfd, kernel: client });
    await this.startNodes();
  }

  private async startNodes(): Promise<void> {
    const { lab } = this;
    await Promise.all(this.lbs.map((lb) => this.startAgent(lb.name, this.lbMode(lb))));
    if (this.opts.worker !== false) {
      for (const cmd of this.opts.beforeWorker ?? []) await lab.run(WORKER.name, cmd);
      await this.startAgent(WORKER.name, ['--peer']);
    }
  }

  /** The flags an LB node's agent runs with. */
  lbMode(lb: NodeAddr): string[] {
    return ['--bgp', ...(this.opts.lbArgs?.(lb, this.lbs.indexOf(lb)) ?? [])];
  }

  /** Starts (or restarts) the agent of a node, keeping its --config-path. */
  async startAgent(node: string, mode: string[]): Promise<LabProcess> {
    const p = await startAgentProcess(this.lab, node, mode, this.opts.loglevel);
    this.agents.set(node, p);
    return p;
  }

  /** REST call to a node's agent from inside its namespace (curl), path below /netlox/v1. */
  api(node: string, method: string, p: string, body?: unknown): Promise<ApiReply> {
    return agentApi(this.lab, node, method, p, body);
  }

  mustApi(node: string, method: string, p: string, body?: unknown): Promise<any> {
    return mustAgentApi(this.lab, node, method, p, body);
  }

  /** What kube-loxilb --setBGP does: global config, router peers, and the LB <-> worker iBGP mesh. */
  async configureBgp(opts: { routerBfd?: unknown } = {}): Promise<void> {
    const withWorker = this.opts.worker !== false;
    const bfd = opts.routerBfd === undefined ? {} : { bfd: opts.routerBfd };
    for (const lb of this.lbs) {
      await this.mustApi(lb.name, 'POST', '/config/bgp/global', { routerId: lb.ipv4, localAs: CLUSTER_AS, setNextHopSelf: true });
      await this.mustApi(lb.name, 'POST', '/config/bgp/neigh', { ipAddress: ROUTER.ipv4, remoteAs: ROUTER_AS, ...bfd });
      await this.mustApi(lb.name, 'POST', '/config/bgp/neigh', { ipAddress: ROUTER.ipv6, remoteAs: ROUTER_AS, ...bfd });
      if (withWorker) await this.mustApi(lb.name, 'POST', '/config/bgp/neigh', { ipAddress: WORKER.ipv4, remoteAs: CLUSTER_AS });
    }
    if (withWorker) {
      await this.mustApi(WORKER.name, 'POST', '/config/bgp/global', { routerId: WORKER.ipv4, localAs: CLUSTER_AS, setNextHopSelf: false });
      for (const lb of this.lbs) await this.mustApi(WORKER.name, 'POST', '/config/bgp/neigh', { ipAddress: lb.ipv4, remoteAs: CLUSTER_AS });
    }
  }

  /** `gobgp` CLI against the node's own gobgpd (127.0.0.1:50051 in its namespace). */
  gobgp(node: string, ...args: string[]): Promise<string> {
    return this.lab.run(node, ['gobgp', ...args]);
  }

  async gobgpJson(node: string, ...args: string[]): Promise<any> {
    return JSON.parse(await this.gobgp(node, ...args, '-j'));
  }

  /** gobgp neigh as JSON: address -> session_state number (6 = ESTABLISHED). */
  async sessionStates(node: string): Promise<Record<string, number>> {
    const peers = (await this.gobgpJson(node, 'neighbor')) as { state?: { neighbor_address?: string; session_state?: number }; conf?: { neighbor_address?: string } }[];
    return Object.fromEntries(peers.map((p) => [p.conf?.neighbor_address ?? p.state?.neighbor_address ?? '', p.state?.session_state ?? 0]));
  }

  async waitEstablished(node: string, peers: string[], timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        const s = await this.sessionStates(node);
        return peers.every((p) => s[p] === 6);
      },
      { timeoutMs, what: `${node} sessions to ${peers.join(', ')} Established` },
    );
  }

  /** Kernel routes with proto bgp in a node, dst -> gateway. */
  async kernelBgpRoutes(node: string, family: 4 | 6 = 4): Promise<Record<string, string>> {
    const out = await this.lab.run(node, ['ip', '-j', `-${family}`, 'route', 'show', 'proto', 'bgp']);
    return Object.fromEntries((JSON.parse(out || '[]') as { dst: string; gateway?: string }[]).map((r) => [r.dst, r.gateway ?? '']));
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}
