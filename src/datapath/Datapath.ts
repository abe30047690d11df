// The TypeScript face of the eBPF datapath: loads it, keeps it attached to
// the interfaces the filter allows (new ones included), writes the LB rules
// into its maps, sweeps idle connections, and reads the connection table for
// the API and for connection sync.
import { existsSync, mkdirSync, readFileSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { loadNativeAddon, type CtInstallResult, type NativeLbDatapath, type NativeMapDump } from '../util/nativeAddon.ts';
import { errnoCode, errorMessage } from '../util/errors.ts';
import { guarded } from '../util/faults.ts';
import { repeatEvery, systemClock, type Clock, type RepeatingTimer } from '../util/clock.ts';
import type { LbRule } from '../lb/LbRule.ts';
import ipaddr from 'ipaddr.js';
import { usesInterface, listLinks, localAddresses, type InterfaceFilter, type LinkInfo, type LocalAddress } from './interfaces.ts';
import {
  CT_KEY_SIZE,
  CT_VAL,
  CT_VAL_SIZE,
  LB_KEY_SIZE,
  LB_RULE_SIZE,
  MAX_EPS,
  MAX_RULES,
  MAX_SERVICE_ENTRIES,
  SEL,
  STAT_NAMES,
  checkLayout,
  decodeCt,
  encodeIfAddrs,
  encodeLbRule,
  encodeVipKey,
  type CtEntry,
} from './layout.ts';
import { RuleIdAllocator, planRule, type RuleContext, type RulePlan } from './planDatapath.ts';
import { ipFamily } from '../util/ipAddress.ts';
import { RuleCounters, type RuleTraffic } from './RuleCounters.ts';

/** Whether a rule is in the eBPF maps, and if not, why. */
export type RuleProgramState = { programmed: true } | { programmed: false; reason: string };

const EMPTY = Buffer.alloc(0);

/** One rule a pass writes: what it had, what it gets. */
interface Install {
  key: string;
  prev: Installed | undefined;
  plan: RulePlan;
  id: number;
  value: Buffer;
}

interface Installed {
  /** sel: which counters (rr position, lc counts) the rule's id uses. */
  sel: number;
  keys: string[];
  /** The encoded lb_rules value: compared byte for byte to skip unchanged writes. */
  value: Buffer;
  id: number;
  sig: string;
  vips: string[];
}

export const BPF_OBJECT_RELATIVE_PATH = 'native/build/lb.bpf.o';
const BPF_OBJECT = fileURLToPath(new URL(`../../${BPF_OBJECT_RELATIVE_PATH}`, import.meta.url));

export interface DatapathOptions extends InterfaceFilter {
  /** Also attach at TC egress (--egr-hooks). */
  egressHooks?: boolean;
  /** How often idle connections are swept and new interfaces looked for. */
  sweepIntervalMs?: number;
  linkIntervalMs?: number;
  objectPath?: string;
  /** Connection table entries (--ct-max); default sized by memory, see defaultCtMax. */
  ctMax?: number;
  /** Rules the datapath holds (--max-rules), a power of two; address/port entries are four times that. Default MAX_RULES. */
  maxRules?: number;
  /** The sweep and link sync run on it (default: the system clock). */
  clock?: Clock;
  /**
   * --bpf-pin-dir: a directory on a bpffs where the connection table is
   * pinned (below it, one directory per network namespace), so an agent
   * restarted after a crash or SIGKILL adopts the running table. Empty: none.
   */
  pinDir?: string;
}

/** Where loxilb-ts pins by default: the host's bpffs (a pod mounts it as a hostPath). */
export const DEFAULT_BPF_PIN_DIR = '/sys/fs/bpf/loxilb-ts';

/** statfs f_type of a bpffs. */
const BPF_FS_MAGIC = 0xcafe4a11;

/**
 * Where this network namespace's table is pinned, or why it cannot be: the
 * directory (made if missing) must be on a bpffs.
 */
export function connectionTablePin(root: string): { path?: string; reason?: string } {
  let ns: number;
  try {
    ns = statSync('/proc/self/ns/net').ino;
  } catch (err) {
    return { reason: `cannot read this network namespace: ${errorMessage(err)}` };
  }
  // The nearest existing ancestor tells which filesystem the directory would be on.
  let probe = path.resolve(root);
  while (!existsSync(probe)) probe = path.dirname(probe);
  try {
    if (statfsSync(probe).type !== BPF_FS_MAGIC) return { reason: `${root} is not on a bpffs (mount -t bpf bpf /sys/fs/bpf)` };
    const dir = path.join(root, `ns${ns}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return { path: path.join(dir, 'ct') };
  } catch (err) {
    return { reason: `cannot use ${root}: ${errorMessage(err)}` };
  }
}

/** The smallest and largest connection table the agent sizes by itself. */
export const CT_MAX_FLOOR = 262_144;
export const CT_MAX_CEILING = 4_194_304;
/** Kernel memory one preallocated entry takes (40-byte key, 96-byte value, hash table overhead), roughly. */
const CT_ENTRY_BYTES = 200;

/**
 * The connection table by memory: a quarter of a percent of RAM (a 24 GiB
 * node: about 320,000 entries, 64 MB of kernel memory), never fewer than
 * 262,144 entries nor more than 4,194,304.
 */
export function defaultCtMax(totalBytes = os.totalmem()): number {
  const n = Math.floor((totalBytes * 0.0025) / CT_ENTRY_BYTES);
  return Math.min(CT_MAX_CEILING, Math.max(CT_MAX_FLOOR, n));
}

export type DatapathStats = Record<(typeof STAT_NAMES)[number], number>;

/** Turns a load failure into what the operator has to fix. */
export function explainLoadError(err: unknown, objectPath: string): string {
  const code = errnoCode(err);
  const log = (err as { log?: string }).log ?? '';
  if (code === 'ENOENT' && !existsSync(objectPath)) {
    return `the eBPF datapath ${objectPath} is missing: build it with npm ci or npm run build:native (needs clang and libbpf-dev)`;
  }
  if (code === 'EPERM' || (code === 'EACCES' && !log.includes('PROG LOAD LOG'))) {
    return 'the eBPF datapath needs root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON) to load its programs; run loxilb as root';
  }
  if (log.includes('PROG LOAD LOG')) {
    const tail = log.trim().split('\n').slice(-6).join(' | ');
    return `the kernel's verifier refused the eBPF datapath (${errorMessage(err)}): ${tail}`;
  }
  return `the eBPF datapath cannot be loaded: ${errorMessage(err)} (the kernel needs BPF, BPF JIT and TC clsact support)`;
}

export class Datapath {
  /** Rules the tables hold, and address/port entries (four per rule on average). */
  readonly ruleCapacity: number;
  readonly serviceEntryCapacity: number;
  private readonly ids: RuleIdAllocator;
  /** What each programmed rule (by ruleKey) wrote into lb_rules. */
  private readonly rules = new Map<string, Installed>();
  /** lb_rules key hex -> the rule that owns it. */
  private readonly owners = new Map<string, string>();
  /** VIP -> how many programmed rules serve it. */
  private readonly vipRefs = new Map<string, number>();
  /** VIPs in the vips map (they answer ICMP echo). */
  private readonly installedVips = new Set<string>();
  private readonly unanswered = new Set<string>();
  private lastUnanswered = 0;
  private attached = new Map<string, LinkInfo>();
  /** ifindex -> the addresses written to the ifaddr map ("v4|v6"). */
  private ifaddrs = new Map<number, string>();
  private timers: RepeatingTimer[] = [];
  /** The node's addresses on the interfaces we use (hostonearm serves them; dsr endpoints must be in their subnets). */
  private locals: LocalAddress[] = [];
  private localsKey = '';
  /** Called when those addresses change: rules that depend on them must be planned again. */
  onAddressesChanged?: () => void;
  private closed = false;
  private readonly ktimeNs: () => number;
  private readonly counters: RuleCounters;
  private trafficCache?: { stamp: string; traffic: Map<string, RuleTraffic> };
  /** Moves with every rule change and sweep: what ruleTraffic()'s last read depends on besides packets. */
  private trafficGen = 0;

  private constructor(
    private readonly dp: NativeLbDatapath,
    private readonly opts: DatapathOptions,
    private readonly log: Logger,
    ktimeNs: () => number,
  ) {
    this.ktimeNs = ktimeNs;
    this.ruleCapacity = opts.maxRules ?? MAX_RULES;
    this.serviceEntryCapacity = this.ruleCapacity * (MAX_SERVICE_ENTRIES / MAX_RULES);
    this.ids = new RuleIdAllocator(this.ruleCapacity);
    this.counters = new RuleCounters(dp);
  }

  /** Loads and verifies the programs; throws an Error whose message names what is missing. */
  static open(opts: DatapathOptions, log: Logger): Datapath {
    const objectPath = opts.objectPath ?? BPF_OBJECT;
    const ctMax = opts.ctMax ?? defaultCtMax();
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error('the eBPF datapath needs root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON); run loxilb as root, or with --peer for BGP only');
    }
    const addon = loadNativeAddon();
    checkLayout(addon.datapathLayout);
    let dp: NativeLbDatapath;
    const pin = opts.pinDir ? connectionTablePin(opts.pinDir) : { reason: 'no --bpf-pin-dir' };
    if (opts.pinDir && pin.reason) log.warn({ reason: pin.reason }, 'connection table not pinned: a restarted agent will start with an empty one');
    try {
      dp = new addon.LbDatapath(objectPath, ctMax, opts.maxRules ?? MAX_RULES, pin.path);
    } catch (err) {
      throw new Error(explainLoadError(err, objectPath), { cause: err });
    }
    // What the kernel holds must be what was asked for: a table smaller than
    // the agent believes would refuse writes the API already acknowledged.
    const maxRules = opts.maxRules ?? MAX_RULES;
    const got = dp.tableSizes();
    const want = { ct: ctMax, rr_ctr: maxRules, lc_opened: maxRules * MAX_EPS, lc_closed: maxRules * MAX_EPS, lb_rules: 4 * maxRules, vips: 4 * maxRules, ep_stats: maxRules * MAX_EPS, rule_conns: maxRules, ruleMask: maxRules - 1 };
    const off = Object.entries(want).filter(([k, v]) => got[k as keyof typeof got] !== v);
    if (off.length > 0) {
      dp.close();
      throw new Error(`the eBPF datapath loaded with other table sizes than asked: ${off.map(([k, v]) => `${k} ${got[k as keyof typeof got]} (asked ${v})`).join(', ')}`);
    }
    const d = new Datapath(dp, opts, log, () => addon.ktimeNs());
    d.ctCapacity = ctMax;
    if (pin.path) {
      const st = dp.pinState();
      d.pin = { path: st.path, adopted: st.adopted, ...(st.note ? { note: st.note } : {}) };
      if (st.adopted) log.info({ path: st.path, connections: d.connectionCount() }, 'adopted the pinned connection table of an earlier run');
      if (st.note) log.warn({ path: st.path, note: st.note }, 'pinned connection table not adopted');
    } else {
      d.pin = { adopted: false, note: pin.reason };
    }
    return d;
  }

  /** Entries the connection table holds (both directions of a connection take one each). */
  ctCapacity = 0;
  /** The connection table's pin (path undefined: not pinned, and note says why). */
  pin: { path?: string; adopted: boolean; note?: string } = { adopted: false };
  /** While true, links are tracked but not attached to (an adopted table: the old program serves until the rules are in). */
  private attachHeld = false;

  /** Turns on IPv4 and IPv6 forwarding (the FIB lookup of translated packets needs it) and attaches. */
  /**
   * `holdAttach`: the filters go on only at releaseAttach(). With an adopted
   * table the program of the agent that died is still attached and serves;
   * replacing it before the rules are programmed would leave new
   * connections without a rule for that while.
   */
  start(opts: { holdAttach?: boolean } = {}): void {
    this.attachHeld = Boolean(opts.holdAttach);
    this.enableForwarding();
    this.syncLinks();
    // A pass that throws (os.networkInterfaces() with no descriptor left: EMFILE) costs that pass, not the process.
    const clock = this.opts.clock ?? systemClock;
    const sweep = repeatEvery(clock, this.opts.sweepIntervalMs ?? 1000, guarded('datapath connection sweep', () => this.sweep(), { log: this.log }), { unref: true });
    const links = repeatEvery(clock, this.opts.linkIntervalMs ?? 1000, guarded('datapath link sync', () => this.syncLinks(), { log: this.log }), { unref: true });
    this.timers.push(sweep, links);
  }

  private enableForwarding(): void {
    for (const [f, name] of [
      ['/proc/sys/net/ipv4/ip_forward', 'net.ipv4.ip_forward'],
      ['/proc/sys/net/ipv6/conf/all/forwarding', 'net.ipv6.conf.all.forwarding'],
    ] as const) {
      try {
        if (readFileSync(f, 'utf8').trim() !== '1') {
          writeFileSync(f, '1\n');
          this.log.info(`enabled ${name}: the datapath forwards translated packets`);
        }
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, `cannot enable ${name}; translated packets of that family may not be forwarded`);
      }
    }
  }

  /** Attaches to links the filter allows that are new (or whose ifindex changed), forgets gone ones. */
  syncLinks(): void {
    if (this.closed) return;
    const links = listLinks();
    const now = new Set<string>();
    for (const l of links) {
      if ((l.ipv4 || l.ipv6) && this.ifaddrs.get(l.ifindex) !== `${l.ipv4 ?? ''}|${l.ipv6 ?? ''}`) {
        this.setIfaddr(l.ifindex, l.ipv4, l.ipv6);
      }
      if (!usesInterface(l.name, this.opts)) continue;
      if (this.attachHeld) continue;
      now.add(l.name);
      const cur = this.attached.get(l.name);
      if (cur && cur.ifindex === l.ifindex) continue;
      try {
        this.dp.attach(l.ifindex, 'ingress');
        if (this.opts.egressHooks) this.dp.attach(l.ifindex, 'egress');
        this.attached.set(l.name, l);
        this.log.info({ ifname: l.name, ifindex: l.ifindex, egress: Boolean(this.opts.egressHooks) }, 'datapath attached');
      } catch (err) {
        // A link can vanish between listing and attaching; the next pass retries.
        this.log.warn({ ifname: l.name, err: errorMessage(err) }, 'cannot attach the datapath');
      }
    }
    for (const name of [...this.attached.keys()]) {
      if (!now.has(name)) this.attached.delete(name);
    }
    const locals = localAddresses(this.opts);
    const key = locals.map((a) => `${a.address}/${a.prefixlen}@${a.ifname}`).join(',');
    if (key !== this.localsKey) {
      const first = this.localsKey === '';
      this.locals = locals;
      this.localsKey = key;
      if (!first) this.onAddressesChanged?.();
    }
  }

  /** The node's own addresses of a family on the interfaces the datapath uses. */
  nodeAddresses(family: 4 | 6): string[] {
    return this.locals.filter((a) => ipFamily(a.address) === family).map((a) => a.address);
  }

  /** Whether an address lies in a subnet of one of those interfaces. */
  isOnLink(address: string): boolean {
    const ip = ipaddr.process(address);
    return this.locals.some((a) => {
      const net = ipaddr.process(a.address);
      return net.kind() === ip.kind() && ip.match(net, a.prefixlen);
    });
  }

  private setIfaddr(ifindex: number, v4: string | undefined, v6: string | undefined): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(ifindex);
    try {
      this.dp.mapUpdate('ifaddr', k, encodeIfAddrs(v4, v6));
      this.ifaddrs.set(ifindex, `${v4 ?? ''}|${v6 ?? ''}`);
    } catch (err) {
      this.log.warn({ ifindex, err: errorMessage(err) }, 'cannot record the interface address for onearm');
    }
  }

  attachedInterfaces(): string[] {
    return [...this.attached.keys()].sort();
  }

  get egressHooks(): boolean {
    return Boolean(this.opts.egressHooks);
  }

  /**
   * Programs what changed: for each rule key, the rule now stored under it
   * (undefined: gone). Only those rules' map entries are written or deleted,
   * so a pass costs what changed, not the size of the table; changed entries
   * are updated in place (live connections keep flowing), and connections of
   * removed services or endpoints are flushed once per pass. Returns, per
   * key still present, whether its rule is in the maps and if not why.
   */
  program(changes: Iterable<readonly [string, LbRule | undefined]>, ctx: RuleContext): Map<string, RuleProgramState> {
    this.trafficGen++;
    const result = new Map<string, RuleProgramState>();
    const flush = new Map<string, Set<string> | undefined>();
    const touchedVips = new Set<string>();
    const installs: Install[] = [];
    const claimed = new Map<string, string>();
    for (const [key, rule] of changes) {
      const prev = this.rules.get(key);
      if (!rule) {
        if (prev) this.uninstall(key, prev, flush, touchedVips);
        continue;
      }
      const plan = planRule(rule, ctx);
      if ('reason' in plan) {
        if (prev) this.uninstall(key, prev, flush, touchedVips);
        result.set(key, { programmed: false, reason: plan.reason });
        continue;
      }
      const clash = plan.keys.find((k) => {
        const owner = this.owners.get(k.hex) ?? claimed.get(k.hex);
        return owner !== undefined && owner !== key;
      });
      if (clash) {
        if (prev) this.uninstall(key, prev, flush, touchedVips);
        const k = clash.key;
        result.set(key, { programmed: false, reason: `${k.vip}:${k.port}/${k.proto} is served by the rule ${this.owners.get(clash.hex) ?? claimed.get(clash.hex)}` });
        continue;
      }
      const id = prev && prev.sig === plan.endpointsSignature ? prev.id : this.ids.alloc();
      if (id === undefined) {
        if (prev) this.uninstall(key, prev, flush, touchedVips);
        result.set(key, { programmed: false, reason: `the datapath holds at most ${this.ruleCapacity} rules` });
        continue;
      }
      for (const k of plan.keys) claimed.set(k.hex, key);
      installs.push({ key, prev, plan, id, value: EMPTY });
    }
    // Every value of the pass in one allocation.
    const slab = Buffer.alloc(installs.length * LB_RULE_SIZE);
    installs.forEach((op, i) => (op.value = encodeLbRule({ ...op.plan.rule, id: op.id }, slab, i * LB_RULE_SIZE)));

    // Counters first, so a rule never goes live with another rule's rr position or lc counts, or its traffic.
    const renumbered = installs.filter((op) => !op.prev || op.prev.id !== op.id);
    this.counters.renumber(
      renumbered.flatMap((op) => (op.prev ? [{ key: op.key, from: op.prev.id, endpoints: op.prev.sig.split(',') }] : [])),
      renumbered.map((op) => op.id),
    );
    this.resetCounters(installs.filter((op) => !op.prev || op.prev.id !== op.id || op.prev.sel !== op.plan.rule.sel));

    // Keys a changed rule no longer has, then every write of the pass in one batch.
    for (const op of installs) {
      if (!op.prev) continue;
      const wanted = new Set(op.plan.keys.map((k) => k.hex));
      for (const hex of op.prev.keys) {
        if (wanted.has(hex)) continue;
        this.deleteKey(hex);
        this.owners.delete(hex);
        flush.set(hex, undefined);
      }
    }
    const writes = installs.flatMap((op) => this.writesOf(op));
    let failed = new Map<Install, unknown>();
    try {
      if (writes.length > 0) {
        const keys = Buffer.allocUnsafe(writes.length * LB_KEY_SIZE);
        const values = Buffer.allocUnsafe(writes.length * LB_RULE_SIZE);
        writes.forEach((w, i) => {
          w.key.copy(keys, i * LB_KEY_SIZE);
          w.value.copy(values, i * LB_RULE_SIZE);
        });
        this.dp.mapUpdateBatch('lb_rules', keys, values);
      }
    } catch {
      // Which rule the kernel refused: write them one by one to find out.
      failed = this.writeEach(installs);
    }

    for (const op of installs) {
      const { key, prev, plan, id, value } = op;
      const err = failed.get(op);
      if (err !== undefined) {
        // The kernel refused (no memory, map full): take the rule out whole rather than half.
        for (const k of new Set([...(prev?.keys ?? []), ...plan.keys.map((x) => x.hex)])) {
          this.deleteKey(k);
          this.owners.delete(k);
          flush.set(k, undefined);
        }
        this.counters.forget(key);
        if (prev) {
          this.rules.delete(key);
          this.ids.release(prev.id);
          for (const v of prev.vips) this.unrefVip(v, touchedVips);
        }
        if (!prev || prev.id !== id) this.ids.release(id);
        result.set(key, { programmed: false, reason: `the kernel refused the rule: ${errorMessage(err)}` });
        continue;
      }
      // Connections to endpoints the rule no longer has are flushed (only when its endpoint list changed).
      const endpoints = prev && prev.sig !== plan.endpointsSignature ? new Set(plan.rule.endpoints.map((ep) => `${ep.addr}:${ep.port}`)) : undefined;
      for (const k of plan.keys) {
        this.owners.set(k.hex, key);
        if (endpoints && prev!.keys.includes(k.hex)) flush.set(k.hex, endpoints);
      }
      if (prev && prev.id !== id) this.ids.release(prev.id);
      if (prev) for (const v of prev.vips) this.unrefVip(v, touchedVips);
      for (const v of plan.vips) this.refVip(v, touchedVips);
      this.rules.set(key, { keys: plan.keys.map((k) => k.hex), value, id, sig: plan.endpointsSignature, vips: plan.vips, sel: plan.rule.sel });
      result.set(key, { programmed: true });
    }
    if (flush.size > 0) this.flushConnections(flush);
    this.syncVips(touchedVips);
    return result;
  }

  /** The lb_rules writes of one install: every key, unless the rule's value is unchanged where it already was. */
  private writesOf(op: Install): { key: Buffer; value: Buffer }[] {
    const same = op.prev !== undefined && op.prev.value.equals(op.value);
    return op.plan.keys.filter((k) => !(same && op.prev!.keys.includes(k.hex))).map((k) => ({ key: k.buf, value: op.value }));
  }

  /** Writes installs one rule at a time; returns the ones the kernel refused, with its error. */
  private writeEach(installs: Install[]): Map<Install, unknown> {
    const failed = new Map<Install, unknown>();
    for (const op of installs) {
      try {
        for (const w of this.writesOf(op)) this.dp.mapUpdate('lb_rules', w.key, w.value);
      } catch (err) {
        failed.set(op, err);
      }
    }
    return failed;
  }

  private deleteKey(hex: string): void {
    try {
      this.dp.mapDelete('lb_rules', Buffer.from(hex, 'hex'));
    } catch {
      // Not there: nothing to remove.
    }
  }

  /** Removes a programmed rule's entries from the map. */
  private uninstall(key: string, cur: Installed, flush: Map<string, Set<string> | undefined>, touchedVips: Set<string>): void {
    for (const hex of cur.keys) {
      if (this.owners.get(hex) !== key) continue;
      this.dp.mapDelete('lb_rules', Buffer.from(hex, 'hex'));
      this.owners.delete(hex);
      flush.set(hex, undefined);
    }
    this.rules.delete(key);
    this.counters.forget(key);
    this.trafficGen++;
    this.ids.release(cur.id);
    for (const v of cur.vips) this.unrefVip(v, touchedVips);
  }

  private refVip(v: string, touched: Set<string>): void {
    this.vipRefs.set(v, (this.vipRefs.get(v) ?? 0) + 1);
    touched.add(v);
  }

  private unrefVip(v: string, touched: Set<string>): void {
    const n = (this.vipRefs.get(v) ?? 0) - 1;
    if (n > 0) this.vipRefs.set(v, n);
    else this.vipRefs.delete(v);
    touched.add(v);
  }

  /**
   * Packets, bytes (per endpoint too) and open connections of each programmed
   * rule, by rule key. A read costs a system call per rule; kube-loxilb's
   * sync GETs every rule on each pass.
   */
  ruleTraffic(): Map<string, RuleTraffic> {
    if (this.closed) return new Map();
    // The counters only move with packets (and the active counts with a
    // sweep): while neither happened and no rule changed, the last read is
    // exact, and a GET of every rule costs no system call per rule.
    const stamp = `${this.stats().packets}|${this.trafficGen}`;
    if (this.trafficCache?.stamp === stamp) return this.trafficCache.traffic;
    const ids = new Map<string, { id: number; endpoints: string[] }>();
    for (const [key, r] of this.rules) ids.set(key, { id: r.id, endpoints: r.sig.split(',') });
    const traffic = this.counters.read(ids);
    this.trafficCache = { stamp, traffic };
    return traffic;
  }

  /** How many rules are in the maps. */
  get programmedRules(): number {
    return this.rules.size;
  }

  /** The VIPs that answer ping. A courtesy: a full vips map must not stop rule programming. */
  private syncVips(touched: Iterable<string>): void {
    const add: string[] = [];
    for (const v of touched) {
      const wanted = this.vipRefs.has(v);
      if (wanted === this.installedVips.has(v)) continue;
      if (wanted) {
        add.push(v);
        continue;
      }
      try {
        this.dp.mapDelete('vips', encodeVipKey(v));
      } catch {
        // Already gone.
      }
      this.installedVips.delete(v);
    }
    if (add.length > 0) {
      const one = Buffer.alloc(4);
      one.writeUInt32LE(1);
      try {
        this.dp.mapUpdateBatch('vips', Buffer.concat(add.map(encodeVipKey)), Buffer.concat(add.map(() => one)));
        for (const v of add) this.installedVips.add(v);
      } catch {
        for (const v of add) {
          try {
            this.dp.mapUpdate('vips', encodeVipKey(v), one);
            this.installedVips.add(v);
          } catch {
            this.unanswered.add(v);
          }
        }
      }
    }
    for (const v of this.unanswered) if (!this.vipRefs.has(v) || this.installedVips.has(v)) this.unanswered.delete(v);
    if (this.unanswered.size > 0 && this.unanswered.size !== this.lastUnanswered) {
      this.log.warn({ vips: this.unanswered.size }, 'the vips map is full: these VIPs do not answer ping');
    }
    this.lastUnanswered = this.unanswered.size;
  }

  /**
   * Rule ids that are new to their rule (or whose rule changed selection)
   * start their counters at zero: the rr position for rr rules, the lc counts
   * for lc rules. Only the counters a rule uses are written, in batches.
   */
  private resetCounters(ops: Install[]): void {
    const rr = ops.filter((op) => op.plan.rule.sel === SEL.rr).map((op) => op.id);
    const lc = ops.filter((op) => op.plan.rule.sel === SEL.lc).map((op) => op.id);
    if (rr.length > 0) {
      const keys = Buffer.alloc(4 * rr.length);
      rr.forEach((id, n) => keys.writeUInt32LE(id, 4 * n));
      this.dp.mapUpdateBatch('rr_ctr', keys, Buffer.alloc(4 * rr.length));
    }
    if (lc.length > 0) {
      const keys = Buffer.alloc(4 * lc.length * MAX_EPS);
      lc.forEach((id, n) => {
        for (let i = 0; i < MAX_EPS; i++) keys.writeUInt32LE(id * MAX_EPS + i, 4 * (n * MAX_EPS + i));
      });
      const zeros = Buffer.alloc(8 * lc.length * MAX_EPS);
      this.dp.mapUpdateBatch('lc_opened', keys, zeros);
      this.dp.mapUpdateBatch('lc_closed', keys, zeros);
    }
  }

  /**
   * Deletes connections of services that are gone (endpoints undefined) or
   * that go to an endpoint no longer in the service's list.
   */
  private flushConnections(svcs: Map<string, Set<string> | undefined>): void {
    const d = this.dp.mapDump('ct');
    const doomed: Buffer[] = [];
    for (let i = 0; i < d.count; i++) {
      const at = i * CT_VAL_SIZE + CT_VAL.svc;
      const svcHex = d.values.subarray(at, at + LB_KEY_SIZE).toString('hex');
      if (!svcs.has(svcHex)) continue;
      const keep = svcs.get(svcHex);
      if (keep) {
        const e = decodeCt(d.keys, d.values, i);
        if (!e) continue;
        const ep = e.dir === 0 ? `${e.xdaddr}:${e.xdport}` : `${e.saddr}:${e.sport}`;
        if (keep.has(ep)) continue;
      }
      doomed.push(d.keys.subarray(i * CT_KEY_SIZE, (i + 1) * CT_KEY_SIZE));
    }
    if (doomed.length > 0) {
      const n = this.dp.mapDeleteBatch('ct', Buffer.concat(doomed));
      this.log.info({ connections: n }, 'flushed connections of removed services or endpoints');
    }
  }

  /** Deletes idle connections (in the kernel, one pass); returns how many entries went. */
  sweep(): number {
    this.trafficGen++;
    if (this.closed) return 0;
    try {
      return this.dp.ctSweep().count;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'conntrack sweep failed');
      return 0;
    }
  }

  /** Entries in the connection table, counted in the kernel without copying them (for /status and /metrics). */
  connectionCount(): number {
    return this.closed ? 0 : this.dp.ctCount();
  }

  /** The raw connection table (for sync). */
  dumpConnections(): NativeMapDump {
    return this.dp.mapDump('ct');
  }

  connections(): CtEntry[] {
    const d = this.dp.mapDump('ct');
    const out: CtEntry[] = [];
    for (let i = 0; i < d.count; i++) {
      const e = decodeCt(d.keys, d.values, i);
      if (e) out.push(e);
    }
    return out;
  }

  installConnections(keys: Buffer, values: Buffer): CtInstallResult {
    return this.dp.ctInstall(keys, values);
  }

  deleteConnections(keys: Buffer): number {
    return this.dp.mapDeleteBatch('ct', keys);
  }

  nowNs(): number {
    return this.ktimeNs();
  }

  stats(): DatapathStats {
    const raw = this.dp.stats();
    return Object.fromEntries(STAT_NAMES.map((n, i) => [n, raw[i] ?? 0])) as DatapathStats;
  }

  /** Attaches now, if start() held it. */
  releaseAttach(): void {
    if (!this.attachHeld) return;
    this.attachHeld = false;
    this.syncLinks();
  }

  /** Detaches from every interface and frees the maps (a planned stop: the pinned table goes too). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pin.path) {
      try {
        this.dp.unpin();
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'cannot unpin the connection table');
      }
    }
    for (const t of this.timers) t.stop();
    for (const l of this.attached.values()) {
      for (const dir of this.opts.egressHooks ? (['ingress', 'egress'] as const) : (['ingress'] as const)) {
        try {
          this.dp.detach(l.ifindex, dir);
        } catch (err) {
          this.log.warn({ ifname: l.name, err: errorMessage(err) }, 'cannot detach the datapath');
        }
      }
    }
    this.attached.clear();
    this.dp.close();
  }
}
