// Writes the LB rules into the eBPF maps: each pass only the rules that
// changed, the lb_rules entries of a pass in one batch, a rule taken out
// whole when the kernel refuses part of it. Owns the rule ids and, per id,
// the counters a new rule starts from (rr position, lc counts) and the
// traffic counters read back; the VIPs the rules serve (vips map); and the
// flush of connections whose service or endpoint a pass removed.
import type { Logger } from 'pino';
import type { NativeLbDatapath } from '../util/nativeAddon.ts';
import { errorMessage } from '../util/errors.ts';
import type { LbRule } from '../lb/LbRule.ts';
import { LB_KEY_SIZE, LB_RULE_SIZE, MAX_EPS, SEL, encodeLbRule } from './layout.ts';
import { RuleIdAllocator, planRule, type RuleContext, type RulePlan } from './planDatapath.ts';
import { RuleCounters, type RuleTraffic } from './RuleCounters.ts';
import { VipsMap } from './VipsMap.ts';
import type { ConnectionTable } from './ConnectionTable.ts';

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

export class RuleWriter {
  private readonly ids: RuleIdAllocator;
  /** What each programmed rule (by ruleKey) wrote into lb_rules. */
  private readonly rules = new Map<string, Installed>();
  /** lb_rules key hex -> the rule that owns it. */
  private readonly owners = new Map<string, string>();
  private readonly vips: VipsMap;
  private readonly counters: RuleCounters;
  private trafficCache?: { stamp: string; traffic: Map<string, RuleTraffic> };
  /** Moves with every rule change and sweep: what ruleTraffic()'s last read depends on besides packets. */
  private trafficGen = 0;

  constructor(
    private readonly dp: NativeLbDatapath,
    private readonly ruleCapacity: number,
    private readonly conns: ConnectionTable,
    log: Logger,
  ) {
    this.ids = new RuleIdAllocator(ruleCapacity);
    this.counters = new RuleCounters(dp);
    this.vips = new VipsMap(dp, log);
  }

  /** The open-connection counts moved (a sweep ran): the next ruleTraffic() reads again. */
  trafficMoved(): void {
    this.trafficGen++;
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
          for (const v of prev.vips) this.vips.unref(v, touchedVips);
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
      if (prev) for (const v of prev.vips) this.vips.unref(v, touchedVips);
      for (const v of plan.vips) this.vips.ref(v, touchedVips);
      this.rules.set(key, { keys: plan.keys.map((k) => k.hex), value, id, sig: plan.endpointsSignature, vips: plan.vips, sel: plan.rule.sel });
      result.set(key, { programmed: true });
    }
    if (flush.size > 0) this.conns.flush(flush);
    this.vips.sync(touchedVips);
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
    for (const v of cur.vips) this.vips.unref(v, touchedVips);
  }

  /**
   * Packets, bytes (per endpoint too) and open connections of each programmed
   * rule, by rule key. A read costs a system call per rule; kube-loxilb's
   * sync GETs every rule on each pass. `packets`: the datapath's packet
   * counter now.
   */
  ruleTraffic(packets: number): Map<string, RuleTraffic> {
    // The counters only move with packets (and the active counts with a
    // sweep): while neither happened and no rule changed, the last read is
    // exact, and a GET of every rule costs no system call per rule.
    const stamp = `${packets}|${this.trafficGen}`;
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
}
