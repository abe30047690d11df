// Saved agent state under --config-path, so a restarted agent comes back with
// the same rules, roles and BGP config. Files are replaced atomically
// (write + rename): a crash mid-write leaves the previous version.
//
// The rule table can hold tens of thousands of rules, so changes to it go to
// an append-only journal (lbconfig.journal, one JSON line per change) next to
// the snapshot (lbconfig.json), and the snapshot is rewritten only when the
// journal has grown as large as the table. Replaying a journal entry is
// idempotent (set or delete by key), so a crash between writing a new
// snapshot and truncating the journal loses nothing.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ruleKey, type LbRule } from '../lb/LbRule.ts';
import type { CiState } from '../ha/ClusterState.ts';
import type { BgpGlobalConfig, BgpNeighborConfig } from '../bgp/BgpConfig.ts';
import type { BfdSessionSpec } from '../bfd/validateBfdConfig.ts';

export interface SavedState {
  rules: LbRule[];
  ciStates: CiState[];
  bgpGlobal?: BgpGlobalConfig;
  bgpNeighbors: BgpNeighborConfig[];
  bfdSessions: BfdSessionSpec[];
}

const FILES = { rules: 'lbconfig.json', journal: 'lbconfig.journal', ci: 'ciconfig.json', bgp: 'bgpconfig.json', bfd: 'bfdconfig.json' } as const;

/** One change to the rule table: the rule now stored under `key`, or none. */
export interface RuleOp {
  key: string;
  rule?: LbRule;
}

export class ConfigStore {
  private journal?: fsp.FileHandle;

  constructor(readonly dir: string) {}

  load(): SavedState {
    const read = <T>(f: string, dflt: T): T => {
      const p = path.join(this.dir, f);
      if (!fs.existsSync(p)) return dflt;
      try {
        return JSON.parse(fs.readFileSync(p, 'utf8')) as T;
      } catch (err) {
        throw new Error(`saved config ${p} is not valid JSON (${(err as Error).message}); fix or remove it`);
      }
    };
    const bgp = read<{ global?: BgpGlobalConfig; neighbors?: BgpNeighborConfig[] }>(FILES.bgp, {});
    return {
      rules: this.loadRules(read<{ lbAttr?: LbRule[] }>(FILES.rules, {}).lbAttr ?? []),
      ciStates: read<{ Attr?: CiState[] }>(FILES.ci, {}).Attr ?? [],
      bgpGlobal: bgp.global,
      bgpNeighbors: bgp.neighbors ?? [],
      bfdSessions: read<{ Attr?: BfdSessionSpec[] }>(FILES.bfd, {}).Attr ?? [],
    };
  }

  /** The snapshot with the journal replayed over it. */
  private loadRules(snapshot: LbRule[]): LbRule[] {
    const rules = new Map(snapshot.map((r) => [ruleKey(r.serviceArguments), r]));
    const p = path.join(this.dir, FILES.journal);
    if (!fs.existsSync(p)) return snapshot;
    const lines = fs.readFileSync(p, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      let op: { set?: LbRule; del?: string };
      try {
        op = JSON.parse(line);
      } catch (err) {
        // A crash mid-append leaves a torn last line; that change was never
        // acknowledged. Cut it off, or the next append would be glued to it.
        if (i >= lines.length - 2) {
          fs.truncateSync(p, Buffer.byteLength(lines.slice(0, i).map((l) => `${l}\n`).join('')));
          break;
        }
        throw new Error(`saved config ${p} line ${i + 1} is not valid JSON (${(err as Error).message}); fix or remove it`);
      }
      if (op.set) rules.set(ruleKey(op.set.serviceArguments), op.set);
      else if (typeof op.del === 'string') rules.delete(op.del);
    }
    return [...rules.values()];
  }

  async appendRuleOps(ops: readonly RuleOp[]): Promise<void> {
    const text = ops.map((o) => JSON.stringify(o.rule ? { set: o.rule } : { del: o.key })).join('\n') + '\n';
    await this.withJournal((fh) => fh.write(text));
  }

  /** A new snapshot of the whole table, then an empty journal. */
  async compactRules(rules: LbRule[]): Promise<void> {
    await this.writeAsync(FILES.rules, { lbAttr: rules });
    await this.withJournal((fh) => fh.truncate(0));
  }

  /** Releases the journal's file handle. */
  async close(): Promise<void> {
    const fh = this.journal;
    this.journal = undefined;
    await fh?.close();
  }

  /**
   * The journal stays open between commits (O_APPEND, so a truncation by
   * compaction needs no reopen); after an error it is reopened next time.
   */
  private async withJournal(op: (fh: fsp.FileHandle) => Promise<unknown>): Promise<void> {
    try {
      if (!this.journal) {
        await fsp.mkdir(this.dir, { recursive: true });
        this.journal = await fsp.open(path.join(this.dir, FILES.journal), 'a');
      }
      await op(this.journal);
    } catch (err) {
      const fh = this.journal;
      this.journal = undefined;
      await fh?.close().catch(() => undefined);
      throw err;
    }
  }
  saveBfdSessions(sessions: BfdSessionSpec[]): void {
    this.write(FILES.bfd, { Attr: sessions });
  }
  saveCiStates(states: CiState[]): void {
    this.write(FILES.ci, { Attr: states });
  }
  saveBgp(global: BgpGlobalConfig | undefined, neighbors: BgpNeighborConfig[]): void {
    this.write(FILES.bgp, { global, neighbors });
  }

  private async writeAsync(file: string, data: unknown): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const p = path.join(this.dir, file);
    const tmp = `${p}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(data));
    await fsp.rename(tmp, p);
  }

  private write(file: string, data: unknown): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const p = path.join(this.dir, file);
    const tmp = `${p}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data, null, 1));
    fs.renameSync(tmp, p);
  }
}

/**
 * Group commit: items saved while a write is running share the next write.
 * Each caller learns whether the write carrying its items succeeded.
 */
export class GroupCommit<T> {
  private queued?: { items: T[]; waiters: { resolve: () => void; reject: (e: unknown) => void }[] };
  private running = false;

  constructor(private readonly write: (items: T[]) => Promise<void>) {}

  save(items: readonly T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (!this.queued) this.queued = { items: [], waiters: [] };
      this.queued.items.push(...items);
      this.queued.waiters.push({ resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  /** Items waiting for the next write. */
  get pending(): readonly T[] {
    return this.queued?.items ?? [];
  }

  private async drain(): Promise<void> {
    this.running = true;
    // Let the requests already parsed in this turn join the first write.
    await new Promise((r) => setImmediate(r));
    while (this.queued) {
      const job = this.queued;
      this.queued = undefined;
      try {
        await this.write(job.items);
        for (const w of job.waiters) w.resolve();
      } catch (err) {
        for (const w of job.waiters) w.reject(err);
      }
    }
    this.running = false;
  }
}

/**
 * The rule table as it is on disk, and the writer that keeps it there:
 * changes are journalled in group commits; the snapshot is rewritten once the
 * journal is as long as the table (or after a failed append, which may have
 * left a partial batch behind).
 */
export class RuleStore {
  private committed: Map<string, LbRule>;
  private journalled = 0;
  private mustCompact = false;
  private readonly commit = new GroupCommit<RuleOp>((ops) => this.write(ops));

  constructor(
    private readonly store: ConfigStore,
    initial: readonly LbRule[],
  ) {
    this.committed = new Map(initial.map((r) => [ruleKey(r.serviceArguments), r]));
  }

  /** Resolves once the changes are on disk. */
  save(ops: readonly RuleOp[]): Promise<void> {
    return this.commit.save(ops);
  }

  /** The rule stored under `key` on disk. */
  committedRule(key: string): LbRule | undefined {
    return this.committed.get(key);
  }

  /** Whether a change to `key` is waiting for the next write. */
  isPending(key: string): boolean {
    return this.commit.pending.some((o) => o.key === key);
  }

  private async write(ops: RuleOp[]): Promise<void> {
    if (this.mustCompact || this.journalled + ops.length > Math.max(1000, this.committed.size)) {
      const next = new Map(this.committed);
      applyOps(next, ops);
      try {
        await this.store.compactRules([...next.values()]);
      } catch (err) {
        // The new snapshot may already be in place with this failed batch in it.
        this.mustCompact = true;
        throw err;
      }
      this.committed = next;
      this.journalled = 0;
      this.mustCompact = false;
      return;
    }
    try {
      await this.store.appendRuleOps(ops);
    } catch (err) {
      this.mustCompact = true;
      throw err;
    }
    applyOps(this.committed, ops);
    this.journalled += ops.length;
  }
}

function applyOps(rules: Map<string, LbRule>, ops: readonly RuleOp[]): void {
  for (const o of ops) {
    if (o.rule) rules.set(o.key, o.rule);
    else rules.delete(o.key);
  }
}
