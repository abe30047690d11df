// Converges gobgpd to the desired BGP state: global config, export policies,
// neighbours, the VIP paths and the prefix sets that give each VIP its role's
// MED / local-pref. One pass per burst of changes; a pass after every gobgpd
// (re)start, so nothing has to be re-sent by hand.
//
// Paths and set members are diffed against a cache of what was applied since
// the last full observation, and only for the addresses the VIP source says
// changed, so a pass costs what changed, not the size of the table. A failed
// pass distrusts the cache: the next one observes gobgpd again.
import type { Logger } from '../util/logger.ts';
import { CoalescingLoop } from '../util/CoalescingLoop.ts';
import type { HistogramData } from '../util/Histogram.ts';
import { guarded } from '../util/faults.ts';
import type { CiStateName } from '../ha/ClusterState.ts';
import type { GobgpControl, PrefixSetEntry } from './GobgpControl.ts';
import type { IpFamily, VipRoute } from './pathCodec.ts';
import { planBgpConfig, planGlobal, type BgpAction, type DesiredBgp, type ObservedBgp, type RoleMatch } from './planBgpConfig.ts';
import { DRAIN_ATTRIBUTES, LOCAL_PATH_LOCAL_PREF, roleAttributes, type VipEntry } from './VipTable.ts';
import { Backoff } from '../util/Backoff.ts';
import { normalizeIp } from '../util/ipAddress.ts';
import { repeatEvery, systemClock, type Clock, type RepeatingTimer } from '../util/clock.ts';

/** Where the reconciler learns which VIPs to advertise (VipTable). */
export interface VipSource {
  snapshot(): Map<string, VipEntry>;
  takeChanges(): Map<string, VipEntry | undefined>;
  role(instance: string): CiStateName;
}

export const VIP_SET_PREFIX = 'loxilb-vip';

/** gobgpd prefix sets hold one address family, so each instance has one per family. */
export function vipSetName(instance: string, family: IpFamily): string {
  return `${VIP_SET_PREFIX}${family}-${instance}`;
}

function parseVipSetName(name: string): { instance: string; family: IpFamily } | undefined {
  const m = /^loxilb-vip([46])-(.+)$/.exec(name);
  return m ? { family: Number(m[1]) as IpFamily, instance: m[2]! } : undefined;
}

const hostEntry = (ip: string, family: IpFamily): PrefixSetEntry => {
  const len = family === 4 ? 32 : 128;
  // Over the API the mask range is literal: 0..0 would never match a host route.
  return { prefix: `${ip}/${len}`, min: len, max: len };
};

const EMPTY_SOURCE: VipSource = { snapshot: () => new Map(), takeChanges: () => new Map(), role: () => 'NOT_DEFINED' };

/** In a burst of changes, a pass at most every 50 ms: bigger batches, far fewer RPCs. */
const PASS_SPACING_MS = 50;

export interface ReconcileStats {
  passes: number;
  lastError?: string;
}

export class BgpReconciler {
  private desired: DesiredBgp = { neighbors: [], timers: { connectRetry: 5, holdTime: 90, keepalive: 30 } };
  private source: VipSource = EMPTY_SOURCE;
  /** Paths we originated, by address. */
  private paths = new Map<string, IpFamily>();
  /** Our prefix sets and their members. */
  private sets = new Map<string, Set<string>>();
  private cacheValid = false;
  /** Neighbours whose session just ended (PeerRevival), for the next pass to make anew if gobgpd holds them Idle. */
  private reviving = new Set<string>();
  /** gobgpd's config as last observed, while no call of ours has changed it since. */
  private observed?: ObservedBgp;
  private readonly recheck: RepeatingTimer;
  private readonly retry = new Backoff(500, 5000);
  private readonly loop: CoalescingLoop;
  readonly stats: ReconcileStats = { passes: 0 };

  /** Durations of the reconcile passes (seconds). */
  get passDurations(): HistogramData {
    return this.loop.durations.data();
  }

  constructor(
    private readonly client: GobgpControl,
    private readonly log: Logger,
    /**
     * How often gobgpd's config is re-read, in case someone changed it behind
     * our back (gobgp CLI); every tenth time the paths and sets too.
     */
    recheckMs = 30_000,
    /** The recheck, the pass spacing and the retry backoff run on it. */
    clock: Clock = systemClock,
  ) {
    this.loop = new CoalescingLoop(() => this.runPass(), { onError: (err) => this.onPassError(err), spacingMs: PASS_SPACING_MS, clock });
    let ticks = 0;
    this.recheck = repeatEvery(
      clock,
      recheckMs,
      guarded('BGP recheck', () => {
        this.observed = undefined;
        if (++ticks % 10 === 0) this.cacheValid = false;
        this.kick();
      }, { log }),
      { unref: true },
    );
  }

  setConfig(d: DesiredBgp): void {
    this.desired = d;
    this.observed = undefined;
    this.kick();
  }

  setVipSource(source: VipSource): void {
    this.source = source;
    this.cacheValid = false;
    this.kick();
  }

  /** gobgpd was (re)started: it has forgotten everything. */
  resync(): void {
    this.cacheValid = false;
    this.observed = undefined;
    this.retry.reset();
    // A fresh gobgpd is worth trying at once, not after the failed pass's backoff.
    this.loop.kickNow();
  }

  /** A neighbour's Established session ended: the next pass makes it anew if gobgpd still holds it Idle. */
  revive(address: string): void {
    this.reviving.add(address);
    // Its state is read afresh: the pass must see it Idle, not a cached Established.
    this.observed = undefined;
    this.loop.kickNow();
  }

  get advertisedCount(): number {
    return this.cacheValid ? this.paths.size : 0;
  }

  kick(): void {
    this.loop.kick();
  }

  /** A change that must not wait for the burst spacing (roles, dead endpoints). */
  kickNow(): void {
    this.loop.kickNow();
  }

  /** Resolves once a pass that starts after this call has ended (applied or failed). */
  nextPass(): Promise<void> {
    return this.loop.nextPass();
  }

  /** Resolves once no pass is pending or running (for tests and benchmarks). */
  whenIdle(): Promise<void> {
    return this.loop.whenIdle();
  }

  close(): void {
    this.recheck.stop();
    this.loop.close();
  }

  private async runPass(): Promise<void> {
    await this.pass();
    this.stats.passes++;
    this.stats.lastError = undefined;
    this.retry.reset();
  }

  private onPassError(err: unknown): number {
    this.cacheValid = false;
    this.stats.lastError = (err as Error).message;
    const delay = this.retry.next();
    this.log.warn({ err: (err as Error).message, retryMs: delay }, 'BGP reconcile failed; retrying');
    return delay;
  }

  private async pass(): Promise<void> {
    if (!this.desired.global) return; // gobgpd accepts no paths before StartBgp
    // Taken before observing, so a revive that comes in during the pass gets a pass of its own;
    // given back if the pass fails (the retry still finds the peer Idle: gobgpd holds it 5 s).
    const reviving = this.reviving;
    this.reviving = new Set();
    try {
      await this.passWith(reviving);
    } catch (err) {
      for (const a of reviving) this.reviving.add(a);
      throw err;
    }
  }

  private async passWith(reviving: ReadonlySet<string>): Promise<void> {
    const c = this.client;
    // Passes that only carry VIP changes plan against the last observation;
    // any config call, a failure, a resync or the periodic check re-observes.
    const seen = this.observed ?? (await this.observe());
    this.observed = undefined;
    let { global, peers, exportPolicies, policies } = seen;
    const globalActions = planGlobal(this.desired, global);
    for (const a of globalActions) await this.apply(a);
    if (globalActions.length > 0) {
      // StartBgp begins with an empty RIB, policy table and peer list.
      global = (globalActions.at(-1) as Extract<BgpAction, { kind: 'startBgp' }>).global;
      [peers, exportPolicies, policies] = [[], [], []];
      this.paths.clear();
      this.sets.clear();
    }

    let changes: Map<string, VipEntry | undefined>;
    if (this.cacheValid && globalActions.length === 0) changes = this.source.takeChanges();
    else {
      if (globalActions.length === 0) await this.observeVips();
      this.cacheValid = true;
      const want = this.source.snapshot();
      changes = new Map(want);
      for (const ip of this.paths.keys()) if (!want.has(ip)) changes.set(ip, undefined);
      for (const members of this.sets.values()) for (const ip of members) if (!want.has(ip)) changes.set(ip, undefined);
    }
    const d = this.diff(changes);

    // Members first: a new path, and a new role policy, must find its set.
    for (const [set, ips] of d.setAdds) {
      await c.addPrefixSet(set, ips.map((ip) => hostEntry(ip, parseVipSetName(set)!.family)));
      let members = this.sets.get(set);
      if (!members) this.sets.set(set, (members = new Set()));
      for (const ip of ips) members.add(ip);
    }

    const actions = planBgpConfig({ ...this.desired, roles: this.roleMatches(d.setDels), revive: reviving }, { global, peers, exportPolicies, policies });
    let softReset = d.moved;
    for (const a of actions) {
      if (a.kind === 'softResetOut') softReset = true;
      else await this.apply(a);
    }

    if (d.withdraw.length > 0) {
      await c.withdrawPaths(d.withdraw);
      for (const r of d.withdraw) this.paths.delete(r.ip);
    }
    if (d.add.length > 0) {
      await c.addPaths(d.add);
      for (const r of d.add) this.paths.set(r.ip, r.family);
    }
    for (const [set, ips] of d.setDels) {
      const members = this.sets.get(set)!;
      if (ips.length === members.size) {
        // No role statement refers to an empty set any more (roleMatches left it out).
        await c.deletePrefixSet(set);
        this.sets.delete(set);
      } else {
        await c.deletePrefixes(set, ips.map((ip) => hostEntry(ip, parseVipSetName(set)!.family)));
        for (const ip of ips) members.delete(ip);
      }
    }
    if (softReset && peers.length > 0) await c.resetPeerSoftOut('all');
    if (actions.length === 0 && globalActions.length === 0) this.observed = { global, peers, exportPolicies, policies };

    const routeChanges = d.add.length + d.withdraw.length;
    if (actions.length > 0 || routeChanges > 0 || d.moved) {
      this.log.info(
        { actions: actions.map((a) => a.kind), added: d.add.length, withdrawn: d.withdraw.length, advertised: this.paths.size },
        'BGP state converged',
      );
    }
  }

  private async observe(): Promise<ObservedBgp> {
    const c = this.client;
    const [global, peers, exportPolicies, policies] = await Promise.all([c.getBgp(), c.listPeers(), c.globalExportPolicies(), c.listPolicies()]);
    return { global, peers, exportPolicies, policies };
  }

  /** What gobgpd holds of ours: locally originated paths and our prefix sets. */
  private async observeVips(): Promise<void> {
    const c = this.client;
    const [v4, v6, sets] = await Promise.all([c.listPaths(4), c.listPaths(6), c.listPrefixSets()]);
    // Only locally originated paths are ours to manage.
    this.paths = new Map([...v4, ...v6].filter((p) => !p.neighborIp).map((p) => [p.prefix, p.family] as const));
    this.sets = new Map();
    for (const s of sets) {
      if (!parseVipSetName(s.name)) continue;
      this.sets.set(s.name, new Set(s.prefixes.map((p) => { const a = p.prefix.split('/')[0]!; return normalizeIp(a) ?? a; })));
    }
  }

  /** Path and set-member changes that take gobgpd from the cache to `changes`. */
  private diff(changes: Map<string, VipEntry | undefined>) {
    const add: VipRoute[] = [];
    const withdraw: VipRoute[] = [];
    const setAdds = new Map<string, string[]>();
    const setDels = new Map<string, string[]>();
    const push = (m: Map<string, string[]>, k: string, ip: string) => {
      const l = m.get(k);
      if (l) l.push(ip);
      else m.set(k, [ip]);
    };
    // A VIP whose path stays but whose set changes needs its attributes re-sent.
    let moved = false;
    for (const [ip, want] of changes) {
      const wantSet = want ? vipSetName(want.instance, want.family) : undefined;
      const havePath = this.paths.get(ip);
      for (const [set, members] of this.sets) {
        if (set !== wantSet && members.has(ip)) {
          push(setDels, set, ip);
          if (want && havePath) moved = true;
        }
      }
      if (want && wantSet && !this.sets.get(wantSet)?.has(ip)) push(setAdds, wantSet, ip);
      if (want && !havePath) add.push({ ip, family: want.family, localPref: LOCAL_PATH_LOCAL_PREF });
      if (!want && havePath) withdraw.push({ ip, family: havePath });
    }
    return { add, withdraw, setAdds, setDels, moved };
  }

  /** Role statements for every set that keeps members after this pass, whose instance has a role. */
  private roleMatches(setDels: Map<string, string[]>): RoleMatch[] {
    const out: RoleMatch[] = [];
    for (const [set, members] of this.sets) {
      if ((setDels.get(set)?.length ?? 0) >= members.size) continue;
      const attrs = this.desired.drain ? DRAIN_ATTRIBUTES : roleAttributes(this.source.role(parseVipSetName(set)!.instance));
      if (attrs) out.push({ set, ...attrs });
    }
    return out.sort((a, b) => (a.set < b.set ? -1 : a.set > b.set ? 1 : 0));
  }

  private async apply(a: BgpAction): Promise<void> {
    const c = this.client;
    switch (a.kind) {
      case 'stopBgp':
        await c.stopBgp();
        break;
      case 'startBgp':
        await c.startBgp(a.global);
        break;
      case 'addPolicy':
        await c.addPolicy(a.policy);
        break;
      case 'setExportPolicies':
        await c.setGlobalExportPolicies(a.names);
        break;
      case 'deletePolicy':
        await c.deletePolicy(a.name);
        break;
      case 'deletePeer':
        await c.deletePeer(a.address);
        break;
      case 'addPeer':
        await c.addPeer(a.peer);
        break;
      case 'disablePeer':
        await c.disablePeer(a.address, a.communication);
        break;
      case 'enablePeer':
        await c.enablePeer(a.address);
        break;
      case 'softResetOut':
        await c.resetPeerSoftOut('all');
        break;
    }
  }
}
