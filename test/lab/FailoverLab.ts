// Failover lab: how long a client loses a VIP when the MASTER's link dies.
//
// Two topologies, shared by the baselines (failoverBaselines.ts) and by any
// loxilb-ts setup plugged in through the Setup interface:
//
//   l3:  client 192.168.90.2 --[switch wan]-- 192.168.90.1 router 192.168.80.1 --[switch lan]-- lb1 .11, lb2 .12
//        VIP 20.20.20.1/32 on lo of both LBs; the router (BIRD, forwarding,
//        routes into its kernel) learns the VIP over BGP from both and
//        forwards to the path it prefers: that LB is the MASTER.
//   l2:  client 192.168.80.100, lb1 .11, lb2 .12 all on switch lan; VIP
//        192.168.80.200 inside the subnet, on the MASTER's eth0 only; the
//        client finds it by ARP (gratuitous ARP when it moves).
//
// IPv6 (fd00:90::/64, fd00:80::/64, same host parts) is on every link for
// setups that want it; the probe uses the IPv4 VIP. The wan "link" is a
// two-port switch, because the Lab joins nodes through switches only. Both
// LBs run udpEcho.ts on VIP:7777, so every reply names the LB that answered.
//
// A trial (runTrial) probes the VIP every 10 ms from the client (vipProbe.ts),
// checks that the master answers steadily, waits a random 0-1 s (so the cut
// hits a random phase of keepalives and adverts), cuts the master's link at
// the switch (Lab.cutLink: the node sees carrier loss, nobody else sees
// anything), waits until another node answers steadily, and takes the longest
// gap between two replies as the loss window. Then it restores the link and
// waits for the setup's steady state before the next trial.

import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess } from './Lab.ts';
import { Bird, type BirdBfdOptions, type BirdBgpNeighbor } from './Bird.ts';
import { CLUSTER_AS, ROUTER_AS } from './BgpLab.ts';
import { percentile } from './longestGap.ts';
import { StopWaiting, WaitTimeoutError, waitFor } from './wait.ts';

export { CLUSTER_AS as LB_AS, ROUTER_AS };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ECHO_SCRIPT = fileURLToPath(new URL('./udpEcho.ts', import.meta.url));

/**
 * The router, the echo servers (the endpoints) and the prober (the client)
 * stand for other machines; here they share two cores with the LB nodes under
 * test. Run ahead of the LB nodes' processes, they measure the LB setup's
 * failover rather than how long the echo server waited for a CPU the agents
 * took while they reacted to the fault. The same for every setup, baselines
 * included.
 */
const OTHER_HOST_NICE = -10;
function otherHost(p: LabProcess): void {
  if (p.child.pid !== undefined) os.setPriority(p.child.pid, OTHER_HOST_NICE);
}
const PROBE_SCRIPT = fileURLToPath(new URL('./vipProbe.ts', import.meta.url));

export type FailoverKind = 'l3' | 'l2';
export type LbName = 'lb1' | 'lb2';
export const LB_NAMES: readonly LbName[] = ['lb1', 'lb2'];

export interface Addr {
  ipv4: string;
  ipv6: string;
}

export const LB_ADDR: Record<LbName, Addr> = {
  lb1: { ipv4: '192.168.80.11', ipv6: 'fd00:80::11' },
  lb2: { ipv4: '192.168.80.12', ipv6: 'fd00:80::12' },
};
export const ROUTER_LAN: Addr = { ipv4: '192.168.80.1', ipv6: 'fd00:80::1' };
export const ROUTER_WAN: Addr = { ipv4: '192.168.90.1', ipv6: 'fd00:90::1' };
export const CLIENT_L3: Addr = { ipv4: '192.168.90.2', ipv6: 'fd00:90::2' };
export const CLIENT_L2: Addr = { ipv4: '192.168.80.100', ipv6: 'fd00:80::100' };
export const VIP_L3 = '20.20.20.1';
export const VIP_L2 = '192.168.80.200';
export const ECHO_PORT = 7777;

// ---------------------------------------------------------------------------
// The plug-in point

/**
 * One way of keeping the VIP available (a baseline or loxilb-ts). The lab
 * builds the topology of `kind` with the echo servers running; the setup
 * brings up its daemons, says which LB is MASTER, and waits for its steady
 * state. Setups are single-use: start() once, stop() once.
 */
export interface Setup {
  /** Row name in the bench table, e.g. `bird-bfd-100`. */
  readonly name: string;
  readonly kind: FailoverKind;
  /**
   * How long a failover may take before the trial gives up and records the
   * outage as unrecovered (default 15 s).
   */
  readonly failoverTimeoutMs?: number;
  /**
   * The cut comes after a random pause of 0 to this many ms (default 1000),
   * so it lands at a uniformly random phase of the setup's periodic timers
   * (keepalives, adverts, BFD packets). Without it every trial runs at about
   * the same time after the previous recovery, which locks the cut to those
   * timers and biases the gap. Make it at least the longest period involved.
   */
  readonly cutJitterMs?: number;
  /** How runTrials builds the lab for this setup (e.g. `{ vipOnLoopback: false }`). */
  readonly labOptions?: FailoverLabOptions;
  /** Starts the setup's daemons in the built lab (router BIRD, LB daemons, VIP placement). */
  start(lab: FailoverLab): Promise<void>;
  /** The LB the client's traffic goes to right now (the one whose link a trial cuts). */
  currentMaster(): Promise<LbName>;
  /**
   * The LBs that say they are MASTER right now (their own view). With it, a
   * trial also measures the heal: how long after the link came back some
   * node claimed MASTER while the traffic went elsewhere (or no node, or two).
   */
  claimedMasters?(): Promise<LbName[]>;
  /**
   * Resolves when the setup is in steady state: after start(), and after a
   * trial restored the cut link (old master back and BACKUP or MASTER again,
   * nothing left to move). Rejects after `timeoutMs` (default 60 s).
   */
  waitSteady(timeoutMs?: number): Promise<void>;
  /** Stops the setup's daemons (the lab's destroy() would too; this ends them first). */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Topology

export interface RouterOptions {
  /** The router's `protocol bfd` (none by default). */
  bfd?: BirdBfdOptions;
  /** Applied to the router's BGP session with each LB (e.g. `{ bfd: true }`, `{ holdTime: 3, keepaliveTime: 1 }`). */
  neighbor?: Partial<Omit<BirdBgpNeighbor, 'localAddress' | 'localAs' | 'neighborAddress' | 'neighborAs'>>;
  /** Also run BGP sessions over IPv6 with each LB. */
  ipv6Sessions?: boolean;
}

export interface FailoverLabOptions {
  /** Run udpEcho.ts on both LBs (default true). */
  echo?: boolean;
  /**
   * l3: put the VIP on lo of both LBs (default true). Off for a setup that
   * places the VIP itself; the echo servers still bind it (non-local bind).
   */
  vipOnLoopback?: boolean;
  /** Passed to Lab.create (e.g. keepDir). */
  keepDir?: boolean;
}

let staleSwept: Promise<string[]> | undefined;

export class FailoverLab {
  /** The router's BIRD once startRouter() ran (l3 only). */
  router: Bird | undefined;
  readonly echo = new Map<LbName, LabProcess>();

  private constructor(
    readonly lab: Lab,
    readonly kind: FailoverKind,
  ) {}

  get vip(): string {
    return this.kind === 'l3' ? VIP_L3 : VIP_L2;
  }

  get client(): Addr {
    return this.kind === 'l3' ? CLIENT_L3 : CLIENT_L2;
  }

  static async create(kind: FailoverKind, opts: FailoverLabOptions = {}): Promise<FailoverLab> {
    // Once per process: later calls would also sweep the temp dirs of this
    // process's earlier labs, which LAB_KEEP=1 asked to keep.
    staleSwept ??= Lab.cleanupStale();
    await staleSwept;
    const lab = await Lab.create({ keepDir: opts.keepDir });
    const f = new FailoverLab(lab, kind);
    try {
      await f.build(opts);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return f;
  }

  private async build(opts: FailoverLabOptions): Promise<void> {
    const { lab } = this;
    await lab.addSwitch('lan');
    for (const lb of LB_NAMES) {
      const a = LB_ADDR[lb];
      await lab.addNode(lb, { switch: 'lan', ipv4: `${a.ipv4}/24`, ipv6: `${a.ipv6}/64` });
    }
    if (this.kind === 'l3') {
      await lab.addSwitch('wan');
      await lab.addNode('router', { switch: 'lan', ipv4: `${ROUTER_LAN.ipv4}/24`, ipv6: `${ROUTER_LAN.ipv6}/64`, forwarding: true });
      await lab.addLink('router', { switch: 'wan', ipv4: `${ROUTER_WAN.ipv4}/24`, ipv6: `${ROUTER_WAN.ipv6}/64` });
      await lab.addNode('client', { switch: 'wan', ipv4: `${CLIENT_L3.ipv4}/24`, ipv6: `${CLIENT_L3.ipv6}/64` });
      await lab.run('client', ['ip', 'route', 'add', 'default', 'via', ROUTER_WAN.ipv4]);
      await lab.run('client', ['ip', '-6', 'route', 'add', 'default', 'via', ROUTER_WAN.ipv6]);
      for (const lb of LB_NAMES) {
        if (opts.vipOnLoopback !== false) await lab.run(lb, ['ip', 'addr', 'add', `${VIP_L3}/32`, 'dev', 'lo']);
        await lab.run(lb, ['ip', 'route', 'add', 'default', 'via', ROUTER_LAN.ipv4]);
        await lab.run(lb, ['ip', '-6', 'route', 'add', 'default', 'via', ROUTER_LAN.ipv6]);
      }
    } else {
      await lab.addNode('client', { switch: 'lan', ipv4: `${CLIENT_L2.ipv4}/24`, ipv6: `${CLIENT_L2.ipv6}/64` });
    }
    // The echo binds the VIP on a node that does not hold it (yet): the l2 BACKUP.
    for (const lb of LB_NAMES) await lab.run(lb, ['sysctl', '-q', '-w', 'net.ipv4.ip_nonlocal_bind=1', 'net.ipv6.ip_nonlocal_bind=1']);
    if (opts.echo !== false) await Promise.all(LB_NAMES.map((lb) => this.startEcho(lb)));
  }

  private async startEcho(lb: LbName): Promise<void> {
    const p = this.lab.spawn(lb, process.execPath, ['--import', 'tsx', ECHO_SCRIPT, '--bind', this.vip, '--port', String(ECHO_PORT), '--name', lb], {
      cwd: ROOT,
      logName: `${lb}.udpEcho`,
    });
    otherHost(p);
    this.echo.set(lb, p);
    await waitFor(
      () => {
        if (!p.alive()) throw new StopWaiting(`udpEcho in ${lb} exited: ${p.log()}`);
        return p.log().includes('listening');
      },
      { timeoutMs: 15_000, intervalMs: 50, what: `udpEcho in ${lb}` },
    );
  }

  /** The LB with this IPv4 or IPv6 address on the lan. */
  lbByAddress(address: string): LbName | undefined {
    return LB_NAMES.find((lb) => LB_ADDR[lb].ipv4 === address || LB_ADDR[lb].ipv6 === address);
  }

  /**
   * Starts BIRD on the router (l3): one eBGP session (AS 65101 <-> 64512)
   * per LB, importing everything, best routes exported into the router's
   * kernel, test timers (reconnect within a second or two).
   */
  async startRouter(opts: RouterOptions = {}): Promise<Bird> {
    if (this.kind !== 'l3') throw new Error('startRouter: the l2 lab has no router');
    if (this.router) throw new Error('startRouter: the router already runs');
    const families: (keyof Addr)[] = opts.ipv6Sessions ? ['ipv4', 'ipv6'] : ['ipv4'];
    const neighbors: BirdBgpNeighbor[] = LB_NAMES.flatMap((lb) =>
      families.map((f) => ({
        ...opts.neighbor,
        localAddress: ROUTER_LAN[f],
        localAs: ROUTER_AS,
        neighborAddress: LB_ADDR[lb][f],
        neighborAs: CLUSTER_AS,
      })),
    );
    this.router = await Bird.start(this.lab, 'router', { routerId: ROUTER_LAN.ipv4, neighbors, kernel: true, bfd: opts.bfd });
    otherHost(this.router.process);
    return this.router;
  }

  /** The LB the router's kernel forwards the VIP to right now (l3), from `ip route`. */
  async routerNextHop(): Promise<LbName | undefined> {
    const out = await this.lab.run('router', ['ip', '-j', '-4', 'route', 'show', `${VIP_L3}/32`]);
    const routes = JSON.parse(out || '[]') as { gateway?: string }[];
    const gw = routes[0]?.gateway;
    return gw === undefined ? undefined : this.lbByAddress(gw);
  }

  /** LBs that hold the VIP on one of their interfaces (l2). */
  async vipHolders(): Promise<LbName[]> {
    const holders: LbName[] = [];
    for (const lb of LB_NAMES) {
      const out = await this.lab.run(lb, ['ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
      const ifs = JSON.parse(out || '[]') as { addr_info?: { local?: string }[] }[];
      if (ifs.some((i) => i.addr_info?.some((a) => a.local === VIP_L2))) holders.push(lb);
    }
    return holders;
  }

  /** Starts the prober in the client and waits for its first reply. */
  startProbe(opts: ProbeOptions = {}): Promise<VipProbe> {
    return VipProbe.start(this, opts);
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}

// ---------------------------------------------------------------------------
// The prober, driven over its stdin/stdout

export interface ProbeOptions {
  /** Probe interval (default 10 ms). */
  intervalMs?: number;
  /** Length of the status "recent" window (default 500 ms). */
  recentMs?: number;
  /** How long to wait for the first reply (default 20 s). */
  readyTimeoutMs?: number;
}

export interface ProbeStatus {
  at: number;
  sent: number;
  received: number;
  lastResponder?: string;
  sinceLastReplyMs?: number;
  /** The current run of consecutive replies from one node. */
  streak: { from: string; count: number };
  recent: { ms: number; received: number; longestGapMs: number; byResponder: Record<string, number> };
  sinceMark?: { received: number; longestGapMs: number; byResponder: Record<string, number> };
}

export interface ProbeResult {
  intervalMs: number;
  window: { start: number; end: number };
  longestGapMs: number;
  gapFrom: number;
  gapTo: number;
  recovered: boolean;
  firstResponder?: string;
  lastResponder?: string;
  byResponder: Record<string, number>;
  receivedInWindow: number;
  sent: number;
  received: number;
  /** Probe slots the prober's event loop missed (> 0 means the client was starved for CPU). */
  lateTicks: number;
  switches: { at: number; from: string; to: string }[];
}

interface Waiter {
  resolve: (msg: any) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class VipProbe {
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly ready: Promise<void>;
  private stderr = '';

  private constructor(
    readonly process: LabProcess,
    readyTimeoutMs: number,
  ) {
    const child = process.child;
    child.stderr!.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString('utf8')).slice(-4000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: { event?: string };
      try {
        msg = JSON.parse(line) as { event?: string };
      } catch {
        return;
      }
      const w = this.waiters.get(msg.event ?? '')?.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(msg);
      }
    });
    void process.exited.then(() => {
      // Lines written just before exit may still be in the pipe: give them a moment.
      setTimeout(() => {
        for (const [event, q] of this.waiters) {
          for (const w of q.splice(0)) {
            clearTimeout(w.timer);
            w.reject(new Error(`vipProbe exited (${JSON.stringify(process.exit)}) before "${event}"${this.stderrNote()}`));
          }
        }
      }, 100);
    });
    this.ready = this.expect('ready', readyTimeoutMs);
  }

  static async start(flab: Pick<FailoverLab, 'vip' | 'lab'>, opts: ProbeOptions = {}): Promise<VipProbe> {
    const args = ['--import', 'tsx', PROBE_SCRIPT, '--vip', flab.vip, '--port', String(ECHO_PORT)];
    args.push('--interval', String(opts.intervalMs ?? 10), '--recent', String(opts.recentMs ?? 500));
    const proc = flab.lab.spawn('client', process.execPath, args, { cwd: ROOT, output: 'pipe' });
    otherHost(proc);
    const probe = new VipProbe(proc, opts.readyTimeoutMs ?? 20_000);
    try {
      await probe.ready;
    } catch (err) {
      await proc.stop(500);
      throw err;
    }
    return probe;
  }

  status(): Promise<ProbeStatus> {
    return this.command('status', 'status');
  }

  /** Starts the measurement window; resolves once the prober has noted it. */
  async mark(): Promise<number> {
    return ((await this.command('mark', 'marked')) as { at: number }).at;
  }

  /** Ends the measurement and the prober; the longest gap since mark(). */
  async stop(): Promise<ProbeResult> {
    const r = (await this.command('stop', 'result')) as ProbeResult;
    await this.process.exited;
    return r;
  }

  /** Ends the prober without a result (cleanup paths). */
  async kill(): Promise<void> {
    await this.process.stop(500);
  }

  private command(cmd: string, event: string): Promise<any> {
    const reply = this.expect(event, 10_000);
    this.process.child.stdin!.write(`${cmd}\n`);
    return reply;
  }

  private expect(event: string, timeoutMs: number): Promise<any> {
    if (!this.process.alive()) return Promise.reject(new Error(`vipProbe is not running${this.stderrNote()}`));
    return new Promise((resolve, reject) => {
      const q = this.waiters.get(event) ?? [];
      this.waiters.set(event, q);
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = q.indexOf(w);
          if (i >= 0) q.splice(i, 1);
          reject(new Error(`vipProbe: no "${event}" within ${timeoutMs} ms${this.stderrNote()}`));
        }, timeoutMs),
      };
      q.push(w);
    });
  }

  private stderrNote(): string {
    return this.stderr ? `; stderr: ${this.stderr.trim()}` : '';
  }
}

// ---------------------------------------------------------------------------
// Trials

export interface TrialOptions {
  intervalMs?: number;
  /** How long the client must see the master answer without a gap before the cut (default 500 ms). */
  steadyProbeMs?: number;
  /** Give up waiting for the client to see the master steadily (default 30 s). */
  steadyTimeoutMs?: number;
  /** Replies in a row from the new node that count as "failed over" (default 20, i.e. 200 ms at 10 ms). */
  settledReplies?: number;
  /** Overrides the setup's cutJitterMs (see Setup). */
  cutJitterMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface TrialResult {
  /** Loss window: the longest gap between two replies, from the last reply before the cut (ms). */
  gapMs: number;
  /** The LB whose link was cut. */
  master: LbName;
  /** The MASTER had moved to another node between the trial's start and the cut, with no fault injected. */
  movedBeforeCut: boolean;
  /** Who answered last (the new master, if the failover worked). */
  answeredBy?: string;
  /** Whether replies resumed before the trial gave up. */
  recovered: boolean;
  /** Time from the cut command's completion to restoreLink (ms, harness clock). */
  outageHeldMs: number;
  /** How long waitSteady took after the link came back (ms). */
  steadyAfterMs: number;
  /**
   * From the link's return to steady state: time during which the MASTER was
   * not exactly one node carrying the traffic (sampled; undefined when the
   * setup cannot say who claims MASTER).
   */
  healBadMs?: number;
  /** Heal samples taken, and how many of them were bad. */
  healSamples?: { total: number; bad: number };
  probe: ProbeResult;
}

export interface TrialsSummary {
  setup: string;
  kind: FailoverKind;
  trials: number;
  /** Nearest-rank percentiles of the gaps (ms). */
  p50: number;
  p95: number;
  max: number;
  /** Loss windows in trial order (ms). */
  samples: number[];
  /** Trials where the client never got replies back before the timeout (their sample is a lower bound). */
  unrecovered: number;
  /** Trials where the prober missed slots (client starved for CPU: the numbers are suspect). */
  lateTickTrials: number;
  /** Trials in which the MASTER moved with no fault injected before the cut (a BFD flap). */
  movedBeforeCut: number;
  results: TrialResult[];
}

/**
 * One failover on a lab whose setup is in steady state: probe, cut the
 * master's link, wait for another node to answer steadily, measure, restore,
 * wait for steady state again.
 */
export async function runTrial(flab: FailoverLab, setup: Setup, opts: TrialOptions = {}): Promise<TrialResult> {
  const intervalMs = opts.intervalMs ?? 10;
  const settled = opts.settledReplies ?? 20;
  const steadyProbeMs = opts.steadyProbeMs ?? 500;
  const before = await setup.currentMaster();
  let master = before;
  const probe = await flab.startProbe({ intervalMs, recentMs: steadyProbeMs });
  let cut = false;
  try {
    // The client must reach the master, without loss, before the cut (in l2
    // its ARP entry may still point at the node that held the VIP last). The
    // master is read again each time: a BFD flap between trials (10 ms timers
    // on a loaded box) may have moved the role, which the trial then reports.
    await waitFor(
      async () => {
        master = await setup.currentMaster().catch(() => master);
        const s = await probe.status();
        return (
          s.streak.from === master &&
          s.recent.ms >= steadyProbeMs &&
          s.recent.longestGapMs <= 3 * intervalMs &&
          s.streak.count * intervalMs >= steadyProbeMs
        );
      },
      { timeoutMs: opts.steadyTimeoutMs ?? 30_000, intervalMs: 50, what: `the client to get steady replies from ${master} before the cut` },
    );
    const jitter = opts.cutJitterMs ?? setup.cutJitterMs ?? 1000;
    if (jitter > 0) await new Promise((r) => setTimeout(r, Math.random() * jitter));
    await probe.mark();
    await flab.lab.cutLink(master);
    cut = true;
    const cutAt = performance.now();
    const failoverTimeoutMs = setup.failoverTimeoutMs ?? 15_000;
    let recovered = true;
    try {
      await waitFor(
        async () => {
          const s = await probe.status();
          return s.streak.from !== master && s.streak.from !== '' && s.streak.count >= settled;
        },
        { timeoutMs: failoverTimeoutMs, intervalMs: 20, what: 'another LB to answer' },
      );
    } catch (err) {
      if (!(err instanceof WaitTimeoutError)) throw err;
      recovered = false;
    }
    const result = await probe.stop();
    const outageHeldMs = performance.now() - cutAt;
    await flab.lab.restoreLink(master);
    cut = false;
    const t = performance.now();
    const heal = setup.claimedMasters ? watchHeal(setup) : undefined;
    try {
      await setup.waitSteady();
    } finally {
      heal?.stop();
    }
    const steadyAfterMs = performance.now() - t;
    const healed = await heal?.result;
    return {
      ...(healed ? { healBadMs: healed.badMs, healSamples: { total: healed.total, bad: healed.bad } } : {}),
      gapMs: result.longestGapMs,
      master,
      movedBeforeCut: master !== before,
      answeredBy: result.lastResponder,
      recovered: recovered && result.recovered,
      outageHeldMs,
      steadyAfterMs,
      probe: result,
    };
  } finally {
    await probe.kill();
    if (cut) await flab.lab.restoreLink(master).catch(() => {});
  }
}

/**
 * Samples, until stopped, whether exactly one node claims MASTER and it is
 * the one the traffic goes to; sums the time between a bad sample and the
 * next one.
 */
function watchHeal(setup: Setup): { stop(): void; result: Promise<{ badMs: number; total: number; bad: number }> } {
  let stopped = false;
  const result = (async () => {
    let badMs = 0;
    let total = 0;
    let bad = 0;
    let prev: { at: number; bad: boolean } | undefined;
    while (!stopped) {
      const [claimed, serving] = await Promise.all([setup.claimedMasters!().catch(() => undefined), setup.currentMaster().catch(() => undefined)]);
      const now = performance.now();
      const isBad = !claimed || claimed.length !== 1 || claimed[0] !== serving;
      if (prev?.bad) badMs += now - prev.at;
      prev = { at: now, bad: isBad };
      total++;
      if (isBad) bad++;
      await new Promise((r) => setTimeout(r, 20));
    }
    return { badMs, total, bad };
  })();
  return { stop: () => (stopped = true), result };
}

export interface RunTrialsOptions extends TrialOptions {
  /** Called after each trial. */
  onTrial?: (i: number, r: TrialResult) => void;
  /** Build options for the lab (over the setup's labOptions). */
  lab?: FailoverLabOptions;
}

/** Builds the setup's lab, starts the setup, runs `trials` trials, tears everything down. */
export async function runTrials(setup: Setup, trials: number, opts: RunTrialsOptions = {}): Promise<TrialsSummary> {
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`trials must be a positive integer, got ${trials}`);
  const log = opts.log ?? (() => {});
  const flab = await FailoverLab.create(setup.kind, { ...setup.labOptions, ...opts.lab });
  const results: TrialResult[] = [];
  try {
    log(`${setup.name}: lab ${flab.lab.prefix} built, starting the setup`);
    await setup.start(flab);
    await setup.waitSteady();
    for (let i = 0; i < trials; i++) {
      const r = await runTrial(flab, setup, opts);
      results.push(r);
      opts.onTrial?.(i, r);
      log(
        `${setup.name}: trial ${i + 1}/${trials}: gap ${r.gapMs.toFixed(1)} ms, ${r.master} -> ${r.answeredBy ?? '-'}` +
          `${r.recovered ? '' : ' (NOT recovered)'}${r.movedBeforeCut ? ' (the role had moved before the cut)' : ''}${r.probe.lateTicks ? `, ${r.probe.lateTicks} late ticks` : ''}, steady again in ${(r.steadyAfterMs / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    await setup.stop().catch(() => {});
    await flab.destroy();
  }
  return summarize(setup, results);
}

export function summarize(setup: Pick<Setup, 'name' | 'kind'>, results: TrialResult[]): TrialsSummary {
  const samples = results.map((r) => r.gapMs);
  return {
    setup: setup.name,
    kind: setup.kind,
    trials: results.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    max: Math.max(...samples),
    samples,
    unrecovered: results.filter((r) => !r.recovered).length,
    lateTickTrials: results.filter((r) => r.probe.lateTicks > 0).length,
    movedBeforeCut: results.filter((r) => r.movedBeforeCut).length,
    results,
  };
}

/** Helper for setups: waits until `check` holds continuously for `holdMs`. */
export async function waitStable(check: () => Promise<boolean>, holdMs: number, opts: { timeoutMs: number; what: string }): Promise<void> {
  let since: number | undefined;
  await waitFor(
    async () => {
      const ok = await check();
      const t = performance.now();
      if (!ok) {
        since = undefined;
        return false;
      }
      since ??= t;
      return t - since >= holdMs;
    },
    { timeoutMs: opts.timeoutMs, intervalMs: Math.min(100, Math.max(20, holdMs / 5)), what: opts.what },
  );
}
