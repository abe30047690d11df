// The TypeScript face of the eBPF datapath: loads it, keeps it attached to
// the interfaces the filter allows (new ones included), writes the LB rules
// into its maps, sweeps idle connections, and reads the connection table for
// the API and for connection sync.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { loadNativeAddon, type NativeLbDatapath, type NativeMapDump } from '../util/nativeAddon.ts';
import { errnoCode, errorMessage } from '../util/errors.ts';
import { guarded } from '../util/faults.ts';
import type { LbRule } from '../lb/LbRule.ts';
import { usesInterface, listLinks, type InterfaceFilter, type LinkInfo } from './interfaces.ts';
import {
  CT_KEY_SIZE,
  CT_VAL_SIZE,
  MAX_EPS,
  STAT_NAMES,
  checkLayout,
  decodeCt,
  encodeIp4,
  encodeLbRule,
  type CtEntry,
} from './layout.ts';
import { RuleIdAllocator, planDatapath, type PlanContext } from './planDatapath.ts';

export const BPF_OBJECT_RELATIVE_PATH = 'native/build/lb.bpf.o';
const BPF_OBJECT = fileURLToPath(new URL(`../../${BPF_OBJECT_RELATIVE_PATH}`, import.meta.url));

export interface DatapathOptions extends InterfaceFilter {
  /** Also attach at TC egress (--egr-hooks). */
  egressHooks?: boolean;
  /** How often idle connections are swept and new interfaces looked for. */
  sweepIntervalMs?: number;
  linkIntervalMs?: number;
  objectPath?: string;
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
  private readonly ids = new RuleIdAllocator();
  /** lb_rules as written: key hex -> value hex. */
  private installed = new Map<string, string>();
  /** VIPs in the vips map (they answer ICMP echo). */
  private installedVips = new Set<string>();
  private lastUnanswered = 0;
  private attached = new Map<string, LinkInfo>();
  private ifaddrs = new Map<number, string>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private lastSkipped = new Map<string, string>();
  private readonly ktimeNs: () => number;

  private constructor(
    private readonly dp: NativeLbDatapath,
    private readonly opts: DatapathOptions,
    private readonly log: Logger,
    ktimeNs: () => number,
  ) {
    this.ktimeNs = ktimeNs;
  }

  /** Loads and verifies the programs; throws an Error whose message names what is missing. */
  static open(opts: DatapathOptions, log: Logger): Datapath {
    const objectPath = opts.objectPath ?? BPF_OBJECT;
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new Error('the eBPF datapath needs root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON); run loxilb as root, or with --peer for BGP only');
    }
    const addon = loadNativeAddon();
    checkLayout(addon.datapathLayout);
    let dp: NativeLbDatapath;
    try {
      dp = new addon.LbDatapath(objectPath);
    } catch (err) {
      throw new Error(explainLoadError(err, objectPath), { cause: err });
    }
    return new Datapath(dp, opts, log, () => addon.ktimeNs());
  }

  /** Turns on IPv4 forwarding (the FIB lookup of translated packets needs it) and attaches. */
  start(): void {
    this.enableForwarding();
    this.syncLinks();
    // A pass that throws (os.networkInterfaces() with no descriptor left: EMFILE) costs that pass, not the process.
    const sweep = setInterval(guarded('datapath connection sweep', () => this.sweep(), { log: this.log }), this.opts.sweepIntervalMs ?? 1000);
    const links = setInterval(guarded('datapath link sync', () => this.syncLinks(), { log: this.log }), this.opts.linkIntervalMs ?? 1000);
    sweep.unref();
    links.unref();
    this.timers.push(sweep, links);
  }

  private enableForwarding(): void {
    const f = '/proc/sys/net/ipv4/ip_forward';
    try {
      if (readFileSync(f, 'utf8').trim() !== '1') {
        writeFileSync(f, '1\n');
        this.log.info('enabled net.ipv4.ip_forward: the datapath forwards translated packets');
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot enable net.ipv4.ip_forward; translated packets may not be forwarded');
    }
  }

  /** Attaches to links the filter allows that are new (or whose ifindex changed), forgets gone ones. */
  syncLinks(): void {
    if (this.closed) return;
    const links = listLinks();
    const now = new Set<string>();
    for (const l of links) {
      if (l.ipv4 && this.ifaddrs.get(l.ifindex) !== l.ipv4) {
        this.setIfaddr(l.ifindex, l.ipv4);
      }
      if (!usesInterface(l.name, this.opts)) continue;
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
  }

  private setIfaddr(ifindex: number, addr: string): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(ifindex);
    const v = encodeIp4(addr);
    try {
      this.dp.mapUpdate('ifaddr', k, v);
      this.ifaddrs.set(ifindex, addr);
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
   * Writes the rules into lb_rules: changed entries are updated in place
   * (live connections keep flowing), removed ones deleted, and the
   * connections of removed services or endpoints flushed.
   */
  applyRules(rules: Iterable<LbRule>, ctx: Omit<PlanContext, 'ruleId'>): void {
    const plan = planDatapath(rules, { ...ctx, ruleId: (s, sig) => this.ids.idFor(s, sig) });
    this.ids.commit();
    this.resetCounters(this.ids.fresh);
    this.ids.fresh.clear();

    const skipped = new Map(plan.skipped.map((s) => [s.rule, s.reason]));
    for (const [rule, reason] of skipped) {
      if (this.lastSkipped.get(rule) !== reason) this.log.warn({ rule, reason }, 'rule not programmed into the eBPF datapath');
    }
    this.lastSkipped = skipped;

    const desired = new Map<string, string>();
    const endpointsBySvc = new Map<string, Set<string>>();
    for (const e of plan.entries) {
      desired.set(e.keyHex, encodeLbRule(e.rule).toString('hex'));
      endpointsBySvc.set(e.keyHex, new Set(e.rule.endpoints.map((ep) => `${ep.addr}:${ep.port}`)));
    }
    const flush = new Map<string, Set<string> | undefined>();
    for (const [k, v] of desired) {
      const cur = this.installed.get(k);
      if (cur === v) continue;
      this.dp.mapUpdate('lb_rules', Buffer.from(k, 'hex'), Buffer.from(v, 'hex'));
      if (cur !== undefined) flush.set(k, endpointsBySvc.get(k));
    }
    for (const k of this.installed.keys()) {
      if (desired.has(k)) continue;
      this.dp.mapDelete('lb_rules', Buffer.from(k, 'hex'));
      flush.set(k, undefined);
    }
    this.installed = desired;
    if (flush.size > 0) this.flushConnections(flush);

    this.syncVips(plan.vips);
  }

  /** The VIPs that answer ping. A courtesy: a full vips map must not stop rule programming. */
  private syncVips(wanted: readonly string[]): void {
    const vips = new Set(wanted);
    for (const v of this.installedVips) {
      if (!vips.has(v)) {
        this.dp.mapDelete('vips', encodeIp4(v));
        this.installedVips.delete(v);
      }
    }
    const one = Buffer.alloc(4);
    one.writeUInt32LE(1);
    let unanswered = 0;
    for (const v of vips) {
      if (this.installedVips.has(v)) continue;
      try {
        this.dp.mapUpdate('vips', encodeIp4(v), one);
        this.installedVips.add(v);
      } catch {
        unanswered++;
      }
    }
    if (unanswered > 0 && unanswered !== this.lastUnanswered) this.log.warn({ vips: unanswered }, 'the vips map is full: these VIPs do not answer ping');
    this.lastUnanswered = unanswered;
  }

  /** Fresh rule ids start their rr position and lc counts at zero: three batch writes, not 65 per id. */
  private resetCounters(ids: Iterable<number>): void {
    const list = [...ids];
    if (list.length === 0) return;
    const rrKeys = Buffer.alloc(4 * list.length);
    const epKeys = Buffer.alloc(4 * list.length * MAX_EPS);
    list.forEach((id, n) => {
      rrKeys.writeUInt32LE(id, 4 * n);
      for (let i = 0; i < MAX_EPS; i++) epKeys.writeUInt32LE(id * MAX_EPS + i, 4 * (n * MAX_EPS + i));
    });
    this.dp.mapUpdateBatch('rr_ctr', rrKeys, Buffer.alloc(4 * list.length));
    const zeros = Buffer.alloc(8 * list.length * MAX_EPS);
    this.dp.mapUpdateBatch('lc_opened', epKeys, zeros);
    this.dp.mapUpdateBatch('lc_closed', epKeys, zeros);
  }

  /**
   * Deletes connections of services that are gone (endpoints undefined) or
   * that go to an endpoint no longer in the service's list.
   */
  private flushConnections(svcs: Map<string, Set<string> | undefined>): void {
    const d = this.dp.mapDump('ct');
    const doomed: Buffer[] = [];
    for (let i = 0; i < d.count; i++) {
      const svcHex = d.values.subarray(i * CT_VAL_SIZE + 12, i * CT_VAL_SIZE + 20).toString('hex');
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
    if (this.closed) return 0;
    try {
      return this.dp.ctSweep().count;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'conntrack sweep failed');
      return 0;
    }
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

  installConnections(keys: Buffer, values: Buffer): { installed: number; unknownService: number } {
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

  /** Detaches from every interface and frees the maps (a planned stop). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
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
