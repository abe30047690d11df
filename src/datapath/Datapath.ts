// The TypeScript face of the eBPF datapath: loads it (loadDatapath.ts), keeps
// it attached to the interfaces the filter allows (LinkAttacher.ts), writes
// the LB rules into its maps (RuleWriter.ts), sweeps idle connections and
// reads the connection table for the API and for connection sync
// (ConnectionTable.ts). This class only composes them and runs the timers.
import type { Logger } from 'pino';
import type { CtInstallResult, NativeLbDatapath, NativeMapDump } from '../util/nativeAddon.ts';
import { errorMessage } from '../util/errors.ts';
import { guarded } from '../util/faults.ts';
import { repeatEvery, systemClock, type Clock, type RepeatingTimer } from '../util/clock.ts';
import type { LbRule } from '../lb/LbRule.ts';
import { MAX_RULES, MAX_SERVICE_ENTRIES, STAT_NAMES, type CtEntry } from './layout.ts';
import type { RuleContext } from './planDatapath.ts';
import type { RuleTraffic } from './RuleCounters.ts';
import { loadDatapath, type LoadOptions, type PinState } from './loadDatapath.ts';
import { LinkAttacher, type LinkOptions } from './LinkAttacher.ts';
import { RuleWriter, type RuleProgramState } from './RuleWriter.ts';
import { ConnectionTable } from './ConnectionTable.ts';

export type { RuleProgramState } from './RuleWriter.ts';
export type { PinState } from './loadDatapath.ts';
export { BPF_OBJECT_RELATIVE_PATH, CT_MAX_CEILING, CT_MAX_FLOOR, DEFAULT_BPF_PIN_DIR, connectionTablePin, defaultCtMax, explainLoadError } from './loadDatapath.ts';

export interface DatapathOptions extends LinkOptions, LoadOptions {
  /** How often idle connections are swept and new interfaces looked for. */
  sweepIntervalMs?: number;
  linkIntervalMs?: number;
  /** The sweep and link sync run on it (default: the system clock). */
  clock?: Clock;
}

export type DatapathStats = Record<(typeof STAT_NAMES)[number], number>;

export class Datapath {
  /** Rules the tables hold, and address/port entries (four per rule on average). */
  readonly ruleCapacity: number;
  readonly serviceEntryCapacity: number;
  /** Entries the connection table holds (both directions of a connection take one each). */
  ctCapacity = 0;
  /** The connection table's pin (path undefined: not pinned, and note says why). */
  pin: PinState = { adopted: false };
  /** Called when the node's addresses on the datapath's interfaces change: rules that depend on them must be planned again. */
  onAddressesChanged?: () => void;
  private readonly links: LinkAttacher;
  private readonly writer: RuleWriter;
  private readonly conns: ConnectionTable;
  private timers: RepeatingTimer[] = [];
  private closed = false;

  private constructor(
    private readonly dp: NativeLbDatapath,
    private readonly opts: DatapathOptions,
    private readonly log: Logger,
    private readonly ktimeNs: () => number,
  ) {
    this.ruleCapacity = opts.maxRules ?? MAX_RULES;
    this.serviceEntryCapacity = this.ruleCapacity * (MAX_SERVICE_ENTRIES / MAX_RULES);
    this.links = new LinkAttacher(dp, opts, log, () => this.onAddressesChanged?.());
    this.conns = new ConnectionTable(dp, log);
    this.writer = new RuleWriter(dp, this.ruleCapacity, this.conns, log);
  }

  /** Loads and verifies the programs; throws an Error whose message names what is missing. */
  static open(opts: DatapathOptions, log: Logger): Datapath {
    const loaded = loadDatapath(opts, log);
    const d = new Datapath(loaded.dp, opts, log, loaded.ktimeNs);
    d.ctCapacity = loaded.ctMax;
    d.pin = loaded.pin;
    return d;
  }

  /**
   * Turns on IPv4 and IPv6 forwarding (the FIB lookup of translated packets
   * needs it), attaches, and starts the sweep and the link sync.
   * `holdAttach`: the filters go on only at releaseAttach(). With an adopted
   * table the program of the agent that died is still attached and serves;
   * replacing it before the rules are programmed would leave new
   * connections without a rule for that while.
   */
  start(opts: { holdAttach?: boolean } = {}): void {
    this.links.hold(Boolean(opts.holdAttach));
    this.links.enableForwarding();
    this.syncLinks();
    // A pass that throws (os.networkInterfaces() with no descriptor left: EMFILE) costs that pass, not the process.
    const clock = this.opts.clock ?? systemClock;
    const sweep = repeatEvery(clock, this.opts.sweepIntervalMs ?? 1000, guarded('datapath connection sweep', () => this.sweep(), { log: this.log }), { unref: true });
    const links = repeatEvery(clock, this.opts.linkIntervalMs ?? 1000, guarded('datapath link sync', () => this.syncLinks(), { log: this.log }), { unref: true });
    this.timers.push(sweep, links);
  }

  /** Attaches to links the filter allows that are new (or whose ifindex changed), forgets gone ones. */
  syncLinks(): void {
    if (!this.closed) this.links.sync();
  }

  /** Attaches now, if start() held it. */
  releaseAttach(): void {
    if (!this.closed) this.links.release();
  }

  /** The node's own addresses of a family on the interfaces the datapath uses. */
  nodeAddresses(family: 4 | 6): string[] {
    return this.links.nodeAddresses(family);
  }

  /** Whether an address lies in a subnet of one of those interfaces. */
  isOnLink(address: string): boolean {
    return this.links.isOnLink(address);
  }

  attachedInterfaces(): string[] {
    return this.links.interfaces();
  }

  get egressHooks(): boolean {
    return Boolean(this.opts.egressHooks);
  }

  /**
   * Programs what changed: for each rule key, the rule now stored under it
   * (undefined: gone); see RuleWriter.program. Returns, per key still
   * present, whether its rule is in the maps and if not why.
   */
  program(changes: Iterable<readonly [string, LbRule | undefined]>, ctx: RuleContext): Map<string, RuleProgramState> {
    return this.writer.program(changes, ctx);
  }

  /** Packets, bytes (per endpoint too) and open connections of each programmed rule, by rule key. */
  ruleTraffic(): Map<string, RuleTraffic> {
    if (this.closed) return new Map();
    return this.writer.ruleTraffic(this.stats().packets);
  }

  /** How many rules are in the maps. */
  get programmedRules(): number {
    return this.writer.programmedRules;
  }

  /** Deletes idle connections (in the kernel, one pass); returns how many entries went. */
  sweep(): number {
    this.writer.trafficMoved();
    if (this.closed) return 0;
    return this.conns.sweep();
  }

  /** Entries in the connection table, counted in the kernel without copying them (for /status and /metrics). */
  connectionCount(): number {
    return this.closed ? 0 : this.conns.count();
  }

  /** The raw connection table (for sync). */
  dumpConnections(): NativeMapDump {
    return this.conns.dump();
  }

  connections(): CtEntry[] {
    return this.conns.entries();
  }

  installConnections(keys: Buffer, values: Buffer): CtInstallResult {
    return this.conns.install(keys, values);
  }

  deleteConnections(keys: Buffer): number {
    return this.conns.delete(keys);
  }

  nowNs(): number {
    return this.ktimeNs();
  }

  stats(): DatapathStats {
    const raw = this.dp.stats();
    return Object.fromEntries(STAT_NAMES.map((n, i) => [n, raw[i] ?? 0])) as DatapathStats;
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
    this.links.detachAll();
    this.dp.close();
    this.log.info('datapath detached');
  }
}
