// Over 400 lines: the whole on-disk format (snapshot files, rule journal, their
// validators, group commit) in one place, so a format change is made once.
// Saved agent state under --config-path, so a restarted agent comes back with
// the same rules, roles and BGP / BFD config.
//
// The rule table can hold tens of thousands of rules, so changes to it go to
// an append-only journal (lbconfig.journal, one line per change) next to the
// snapshot (lbconfig.json), and the snapshot is rewritten only when the
// journal has grown as large as the table. Replaying a journal entry is
// idempotent (set or delete by key), so a crash between writing a new
// snapshot and truncating the journal loses nothing.
//
// What is on disk is trusted no more than a request (see recordFile.ts for
// the format):
// - every record carries a checksum, so damage is never taken for data;
// - every record goes through the REST API's own validators (parseLbRule,
//   parseCiState, parseBgpGlobal / parseBgpNeighbor, parseBfdSession);
// - a record that fails stops the start with file, line and reason, unless
//   the operator asked for quarantine (--config-quarantine): then it is
//   moved to <file>.rejected with a warning and the files are rewritten;
// - only a torn journal tail (bytes after the last newline: a crash
//   mid-append, never acknowledged) is cut off silently;
// - a missing snapshot next to a journal is an error, not an empty table
//   (the snapshot is written before the first journal line ever is);
// - durability: snapshots are written to a temp file, fsynced, renamed, and
//   the directory fsynced; the journal is opened O_DSYNC, so each group
//   commit's one write returns only once it is on disk, before any request
//   in it is answered (one trip to the thread pool, not a write and then an
//   fdatasync).
// Each journal line carries its change's sequence number, so a line removed,
// repeated or cut out is an error too, not a rule silently come back.
// Files from before checksums (version 1) and journals from before sequence
// numbers (version 2) are loaded once, validated the same way, and rewritten
// in the current format at once.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ruleKey, type LbRule } from '../lb/LbRule.ts';
import type { CiState } from '../ha/ClusterState.ts';
import type { BgpGlobalConfig, BgpNeighborConfig } from '../bgp/BgpConfig.ts';
import type { BfdSessionSpec } from '../bfd/validateBfdConfig.ts';
import { parseLbRule } from '../lb/validateLbRule.ts';
import { parseCiState } from '../ha/validateCiState.ts';
import { parseBgpGlobal, parseBgpNeighbor } from '../bgp/validateBgpConfig.ts';
import { parseBfdSession } from '../bfd/validateBfdConfig.ts';
import { parseEndpointHost, parseEndpointHostState } from '../lb/validateEndpointHost.ts';
import type { EndpointHostRecord } from '../lb/EndpointHosts.ts';
import { isPlainObject } from '../util/caseInsensitive.ts';
import { errorMessage } from '../util/errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { JOURNAL_VERSION, RecordError, decodeJournal, decodeRecordFile, encodeJournalLine, encodeRecordFile, type DecodedRecord } from './recordFile.ts';

/** The node's whole desired state as saved: what NodeState.snapshot() gives and saveSnapshot() writes. */
export interface NodeSnapshot {
  rules: LbRule[];
  ciStates: CiState[];
  bgpGlobal?: BgpGlobalConfig;
  bgpNeighbors: BgpNeighborConfig[];
  bfdSessions: BfdSessionSpec[];
  /** Endpoint hosts and host states from config/endpoint and config/endpointhoststate. */
  endpointHosts: EndpointHostRecord[];
}

export interface SavedState extends NodeSnapshot {
  /** Changes in the journal after loading (what RuleStore's compaction counts from). */
  journalRecords: number;
}

export const CONFIG_FILES = { rules: 'lbconfig.json', journal: 'lbconfig.journal', ci: 'ciconfig.json', bgp: 'bgpconfig.json', bfd: 'bfdconfig.json', endpoints: 'epconfig.json' } as const;
const FILES = CONFIG_FILES;
/** The kind written into each file's header and checksums: a record cannot move between files unnoticed. */
const KINDS = { rules: 'lbconfig', journal: 'lbconfig-journal', ci: 'ciconfig', bgp: 'bgpconfig', bfd: 'bfdconfig', endpoints: 'epconfig' } as const;

/** One change to the rule table: the rule now stored under `key`, or none. */
export interface RuleOp {
  key: string;
  rule?: LbRule;
}

export interface ConfigStoreOptions {
  /** Move records that fail their checksum or validation aside (<file>.rejected) instead of refusing to start. */
  quarantine?: boolean;
  log?: Logger;
}

/** A record as validated at load, with where it came from. */
interface Loaded<T> {
  value: T;
  line: number;
}

export class ConfigStore {
  private journal?: fsp.FileHandle;
  /** The next journal line's sequence number; unknown (undefined) until loaded, compacted, or read back after a failed append. */
  private nextSeq?: number;
  /** Temporary files are unique per write: a synchronous save may run while an asynchronous one is in flight. */
  private tmpSeq = 0;
  private readonly quarantine: boolean;
  private readonly log: Logger;

  constructor(
    readonly dir: string,
    opts: ConfigStoreOptions = {},
  ) {
    this.quarantine = opts.quarantine ?? false;
    this.log = opts.log ?? silentLogger;
  }

  /**
   * Reads, checks and validates everything saved. Throws an Error naming the
   * file, line and reason for the first bad record (RecordError), unless
   * quarantine is on. Old-format files and quarantined ones are rewritten
   * before this returns.
   */
  load(): SavedState {
    let rewrite = false;
    const note = (r: { rewrite: boolean }) => {
      rewrite ||= r.rewrite;
    };
    const ci = this.readSmall(FILES.ci, KINDS.ci, 'Attr', validCiState);
    note(ci);
    const bfd = this.readSmall(FILES.bfd, KINDS.bfd, 'Attr', validBfdSession);
    note(bfd);
    const bgp = this.readBgp();
    note(bgp);
    const eps = this.readSmall(FILES.endpoints, KINDS.endpoints, 'Attr', validEndpointRecord);
    note(eps);
    const rules = this.readRules();
    note(rules);
    const state: SavedState = {
      rules: [...rules.table.values()],
      ciStates: ci.values,
      bgpGlobal: bgp.global,
      bgpNeighbors: bgp.neighbors,
      bfdSessions: bfd.values,
      endpointHosts: eps.values,
      journalRecords: rules.journalRecords,
    };
    if (rewrite) {
      this.log.warn({ dir: this.dir }, 'saved config rewritten in the current format (migrated, or bad records moved aside)');
      this.saveSnapshot(state);
      state.journalRecords = 0;
    }
    return state;
  }

  /** Writes a whole state (before the rule journal is in use): every file, the rules as a fresh snapshot with an empty journal. */
  saveSnapshot(state: NodeSnapshot): void {
    this.writeSync(FILES.rules, encodeRecordFile(KINDS.rules, state.rules));
    this.truncateJournalSync();
    this.saveCiStates(state.ciStates);
    this.saveBfdSessions(state.bfdSessions);
    this.saveBgp(state.bgpGlobal, state.bgpNeighbors);
    this.saveEndpointHosts(state.endpointHosts);
  }

  async appendRuleOps(ops: readonly RuleOp[]): Promise<void> {
    // An empty batch wrote a bare newline: an empty line a reader cannot tell from a change cut out of the journal.
    if (ops.length === 0) return;
    await this.withJournal(async (fh) => {
      const first = this.nextSeq ?? this.journalEnd();
      const text = ops.map((o, i) => encodeJournalLine(KINDS.journal, first + i, JSON.stringify(o.rule ? { set: o.rule } : { del: o.key }))).join('\n') + '\n';
      // Unknown until this write is known whole: a partial one leaves a torn line the next load cuts off.
      this.nextSeq = undefined;
      // O_DSYNC: acknowledged means on disk; every request in this group commit waits for it.
      await fh.write(text);
      this.nextSeq = first + ops.length;
    });
  }

  /**
   * The sequence number after the journal's last line, read from the file
   * (no load() before, or the last append failed). Only a current-format
   * journal with nothing torn is appended to: anything else needs a
   * compaction first, which RuleStore does after a failed write.
   */
  private journalEnd(): number {
    const p = this.path(FILES.journal);
    const buf = fs.readFileSync(p);
    if (buf.length === 0) return 1;
    const j = decodeJournal(KINDS.journal, buf, p);
    if (j.version !== JOURNAL_VERSION || j.tornBytes > 0) throw new Error(`${p}: ${j.tornBytes > 0 ? 'ends in a torn line' : `is a version ${j.version} journal`}; not appending before a compaction`);
    return j.lastSeq + 1;
  }

  /** A new snapshot of the whole table, then an empty journal. */
  async compactRules(rules: LbRule[]): Promise<void> {
    await this.writeAsync(FILES.rules, encodeRecordFile(KINDS.rules, rules));
    await this.withJournal(async (fh) => {
      this.nextSeq = undefined;
      await fh.truncate(0);
      await fh.datasync();
      this.nextSeq = 1;
    });
  }

  /** Releases the journal's file handle. */
  async close(): Promise<void> {
    const fh = this.journal;
    this.journal = undefined;
    await fh?.close();
  }

  saveBfdSessions(sessions: BfdSessionSpec[]): void {
    this.writeSync(FILES.bfd, encodeRecordFile(KINDS.bfd, sessions));
  }
  saveEndpointHosts(records: EndpointHostRecord[]): void {
    this.writeSync(FILES.endpoints, encodeRecordFile(KINDS.endpoints, records));
  }
  saveCiStates(states: CiState[]): void {
    this.writeSync(FILES.ci, encodeRecordFile(KINDS.ci, states));
  }
  /**
   * The same, off the event loop: an election result is served first and
   * saved after (two fsyncs took 12 ms here, on the failover path).
   */
  async saveCiStatesAsync(states: CiState[]): Promise<void> {
    await this.writeAsync(FILES.ci, encodeRecordFile(KINDS.ci, states));
  }
  saveBgp(global: BgpGlobalConfig | undefined, neighbors: BgpNeighborConfig[]): void {
    const records = [...(global ? [{ global }] : []), ...neighbors.map((neighbor) => ({ neighbor }))];
    this.writeSync(FILES.bgp, encodeRecordFile(KINDS.bgp, records));
  }

  // ---- loading ----

  private path(file: string): string {
    return path.join(this.dir, file);
  }

  /**
   * The records of a snapshot file, each validated. Version 1 files are a
   * JSON document whose `listKey` array holds the records.
   */
  private readRecords<T>(file: string, kind: string, v1List: (doc: unknown) => unknown[] | undefined, validate: (data: unknown) => T): { values: Loaded<T>[]; rewrite: boolean; exists: boolean } {
    const p = this.path(file);
    if (!fs.existsSync(p)) return { values: [], rewrite: false, exists: false };
    const text = fs.readFileSync(p, 'utf8');
    let decoded;
    let rewrite = false;
    try {
      decoded = decodeRecordFile(kind, text, p, this.quarantine ? (err) => {
        this.reject(err);
        rewrite = true;
      } : undefined);
    } catch (err) {
      // The whole file is unreadable: nothing in it can be trusted.
      this.reject(err as RecordError, true);
      return { values: [], rewrite: true, exists: true };
    }
    rewrite ||= decoded.version === 1;
    let records: (DecodedRecord & { label?: string })[];
    if (decoded.version === 1) {
      const list = v1List(decoded.document);
      if (list === undefined) {
        this.reject(new RecordError(p, 1, `not a ${kind} file: expected a JSON object with its records in a list`), true);
        return { values: [], rewrite: true, exists: true };
      }
      // Version 1 files are one JSON document: name the record by its position in it.
      records = list.map((data, i) => ({ line: 1, data, label: `record ${i + 1}: ` }));
    } else {
      records = decoded.records;
    }
    const values: Loaded<T>[] = [];
    for (const r of records) {
      try {
        values.push({ value: validate(r.data), line: r.line });
      } catch (err) {
        this.reject(new RecordError(p, r.line, `${r.label ?? ''}${errorMessage(err)}`, JSON.stringify(r.data)));
        rewrite = true;
      }
    }
    return { values, rewrite, exists: true };
  }

  private readSmall<T>(file: string, kind: string, listKey: string, validate: (data: unknown) => T): { values: T[]; rewrite: boolean } {
    const r = this.readRecords(file, kind, (doc) => listOf(doc, listKey), validate);
    return { values: r.values.map((v) => v.value), rewrite: r.rewrite };
  }

  private readBgp(): { global?: BgpGlobalConfig; neighbors: BgpNeighborConfig[]; rewrite: boolean } {
    const v1 = (doc: unknown) => {
      if (!isPlainObject(doc)) return undefined;
      const n = doc.neighbors;
      if (!Array.isArray(n)) return undefined;
      return [...(doc.global !== undefined && doc.global !== null ? [{ global: doc.global }] : []), ...n.map((neighbor: unknown) => ({ neighbor }))];
    };
    const r = this.readRecords(FILES.bgp, KINDS.bgp, v1, validBgpRecord);
    let global: BgpGlobalConfig | undefined;
    const neighbors = new Map<string, BgpNeighborConfig>();
    let rewrite = r.rewrite;
    for (const { value, line } of r.values) {
      const dup = 'global' in value ? global !== undefined : neighbors.has(value.neighbor.ipAddress);
      if (dup) {
        this.reject(new RecordError(this.path(FILES.bgp), line, 'repeats an earlier record (one global, one record per neighbour)'));
        rewrite = true;
        continue;
      }
      if ('global' in value) global = value.global;
      else neighbors.set(value.neighbor.ipAddress, value.neighbor);
    }
    return { global, neighbors: [...neighbors.values()], rewrite };
  }

  /** The snapshot with the journal replayed over it. */
  private readRules(): { table: Map<string, LbRule>; journalRecords: number; rewrite: boolean } {
    const snap = this.readRecords(FILES.rules, KINDS.rules, (doc) => listOf(doc, 'lbAttr'), validRule);
    const table = new Map(snap.values.map(({ value }) => [ruleKey(value.serviceArguments), value]));
    let rewrite = snap.rewrite;
    const p = this.path(FILES.journal);
    if (!fs.existsSync(p)) return { table, journalRecords: 0, rewrite };
    const buf = fs.readFileSync(p);
    let journal;
    try {
      journal = decodeJournal(KINDS.journal, buf, p, this.quarantine ? (err) => {
        this.reject(err);
        rewrite = true;
      } : undefined);
    } catch (err) {
      if (err instanceof RecordError) this.reject(err);
      throw err;
    }
    // Older journals are read as they were written, then rewritten (a snapshot and an empty journal).
    if (journal.version !== JOURNAL_VERSION) rewrite = true;
    this.nextSeq = journal.lastSeq + 1;
    if (journal.tornBytes > 0) {
      // A crash mid-append: that change was never acknowledged. Cut it off,
      // or the next append would be glued to it.
      this.log.info({ file: p, bytes: journal.tornBytes }, 'cut off a torn last journal line (a crash mid-append)');
      fs.truncateSync(p, journal.validBytes);
    }
    if (!snap.exists && journal.version !== 1 && journal.records.length > 0) {
      const why = `the snapshot ${this.path(FILES.rules)} is missing while the journal holds ${journal.records.length} change(s) made after it: restore it (the rules in it would be lost)`;
      if (!this.quarantine) throw new RecordError(this.path(FILES.rules), 1, why);
      this.log.warn({ file: this.path(FILES.rules) }, `${why}; --config-quarantine: starting from the journal alone`);
      rewrite = true;
    }
    let applied = 0;
    for (const r of journal.records) {
      let op: RuleOp;
      try {
        op = validChange(r.data);
      } catch (err) {
        this.reject(new RecordError(p, r.line, errorMessage(err), JSON.stringify(r.data)));
        rewrite = true;
        continue;
      }
      if (op.rule) table.set(op.key, op.rule);
      else table.delete(op.key);
      applied++;
    }
    return { table, journalRecords: applied, rewrite };
  }

  /** Stops the start, or with quarantine logs the bad record and sets it aside. `whole`: the entire file is set aside. */
  private reject(err: RecordError, whole = false): void {
    if (!this.quarantine) {
      throw new Error(`${err.message}; fix or remove it, or start with --config-quarantine to move bad records aside`);
    }
    this.log.warn({ file: err.file, line: err.line, reason: err.reason }, 'saved record refused and moved aside (--config-quarantine)');
    const entry = `# ${new Date().toISOString()} line ${err.line}: ${err.reason}\n`;
    if (whole) {
      fs.appendFileSync(`${err.file}.rejected`, entry);
      fs.appendFileSync(`${err.file}.rejected`, fs.readFileSync(err.file));
      fs.appendFileSync(`${err.file}.rejected`, '\n');
    } else {
      fs.appendFileSync(`${err.file}.rejected`, err.text === undefined ? entry : `${entry}${err.text}\n`);
    }
  }

  // ---- writing ----

  /**
   * The journal stays open between commits (O_APPEND, so a truncation by
   * compaction needs no reopen); after an error it is reopened next time.
   * Before the first change is ever journalled there is a snapshot, so a
   * journal without one always means the snapshot was lost.
   */
  private async withJournal(op: (fh: fsp.FileHandle) => Promise<unknown>): Promise<void> {
    try {
      if (!this.journal) {
        await fsp.mkdir(this.dir, { recursive: true });
        if (!fs.existsSync(this.path(FILES.rules))) await this.writeAsync(FILES.rules, encodeRecordFile(KINDS.rules, []));
        const p = this.path(FILES.journal);
        const created = !fs.existsSync(p);
        const { O_WRONLY, O_APPEND, O_CREAT, O_DSYNC } = fs.constants;
        this.journal = await fsp.open(p, O_WRONLY | O_APPEND | O_CREAT | O_DSYNC, 0o600);
        if (created) await fsyncDir(this.dir);
      }
      await op(this.journal);
    } catch (err) {
      const fh = this.journal;
      this.journal = undefined;
      await fh?.close().catch(() => undefined);
      throw err;
    }
  }

  private truncateJournalSync(): void {
    const p = this.path(FILES.journal);
    this.nextSeq = undefined;
    if (fs.existsSync(p)) {
      const fd = fs.openSync(p, 'r+');
      try {
        fs.ftruncateSync(fd, 0);
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    this.nextSeq = 1;
  }

  /** temp file, fsync, rename, fsync the directory: after a crash the old or the new file, whole. */
  private async writeAsync(file: string, text: string): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const p = this.path(file);
    const tmp = `${p}.${process.pid}.${++this.tmpSeq}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, p);
    await fsyncDir(this.dir);
  }

  private writeSync(file: string, text: string): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const p = this.path(file);
    const tmp = `${p}.${process.pid}.${++this.tmpSeq}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeFileSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, p);
    const dfd = fs.openSync(this.dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// ---- validation: the REST API's own validators ----

/**
 * A stored rule, checked as the POST /config/loadbalancer body it came from.
 * The agent stores rules with oper 0, which the parser (like Go) drops as a
 * zero value: it is put back, so a re-POST of the same rule after a restart
 * is still a 409.
 */
function validRule(data: unknown): LbRule {
  const r = parseLbRule(data);
  const sa = isPlainObject(data) && isPlainObject(data.serviceArguments) ? data.serviceArguments : {};
  if (r.serviceArguments.oper === undefined && sa.oper === 0) r.serviceArguments.oper = 0;
  return r;
}

function validChange(data: unknown): RuleOp {
  if (isPlainObject(data)) {
    const keys = Object.keys(data);
    if (keys.length === 1 && keys[0] === 'set') {
      const rule = validRule(data.set);
      return { key: ruleKey(rule.serviceArguments), rule };
    }
    if (keys.length === 1 && keys[0] === 'del' && typeof data.del === 'string' && data.del !== '' && data.del.length <= 4096) return { key: data.del };
  }
  throw new Error('a change must be {"set": <rule>} or {"del": "<rule key>"}');
}

function validCiState(data: unknown): CiState {
  return parseCiState(data);
}

/** Saved in BfdSessionSpec's shape; checked as the POST /config/bfd body it came from. */
function validBfdSession(data: unknown): BfdSessionSpec {
  if (!isPlainObject(data)) throw new Error('a BFD session must be a JSON object');
  const auth = data.auth;
  const a = isPlainObject(auth) ? { authType: auth.type, keyId: auth.keyId, keyFile: auth.keyFile } : auth === undefined ? {} : { authType: auth };
  return parseBfdSession({ instance: data.instance, remoteIp: data.remoteIp, sourceIp: data.sourceIp, interval: data.intervalUs, retryCount: data.multiplier, ...a });
}

/** Saved as POSTed; checked as the POST config/endpoint or config/endpointhoststate body it came from. */
function validEndpointRecord(data: unknown): EndpointHostRecord {
  if (isPlainObject(data) && Object.keys(data).length === 1) {
    if ('host' in data) return { host: parseEndpointHost(data.host) };
    if ('hostState' in data) return { hostState: parseEndpointHostState(data.hostState) };
  }
  throw new Error('an endpoint record must be {"host": {...}} or {"hostState": {...}}');
}

function validBgpRecord(data: unknown): { global: BgpGlobalConfig } | { neighbor: BgpNeighborConfig } {
  if (isPlainObject(data) && Object.keys(data).length === 1) {
    if ('global' in data) return { global: parseBgpGlobal(data.global) };
    if ('neighbor' in data) {
      const n = data.neighbor;
      if (!isPlainObject(n)) throw new Error('a BGP neighbour must be a JSON object');
      const b = n.bfd;
      const bfd = isPlainObject(b) ? { interval: b.intervalUs, retryCount: b.multiplier } : b;
      return { neighbor: parseBgpNeighbor({ ...n, bfd }) };
    }
  }
  throw new Error('a BGP record must be {"global": ...} or {"neighbor": ...}');
}

/** The records of a version 1 document: the list under `key`, which the old writer always wrote. */
function listOf(doc: unknown, key: string): unknown[] | undefined {
  if (!isPlainObject(doc)) return undefined;
  const v = doc[key];
  return Array.isArray(v) ? v : undefined;
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

  /** `journalled`: changes already in the journal (SavedState.journalRecords), so compaction survives restarts. */
  constructor(
    private readonly store: ConfigStore,
    initial: readonly LbRule[],
    journalled = 0,
  ) {
    this.committed = new Map(initial.map((r) => [ruleKey(r.serviceArguments), r]));
    this.journalled = journalled;
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
