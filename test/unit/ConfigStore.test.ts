import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigStore, GroupCommit, RuleStore, type RuleOp } from '../../src/agent/ConfigStore.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';
import { decodeRecordFile } from '../../src/agent/recordFile.ts';

let root: string;
let n = 0;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'loxilb-configstore-'));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});
/** A fresh, not yet existing config dir for one test. */
const freshDir = () => path.join(root, `t${++n}`);

/** A rule as the agent stores it: what the REST validator makes of a body, with oper 0. */
function rule(externalIP: string, port: number, name = `svc${port}`): LbRule {
  const r = parseLbRule({ serviceArguments: { externalIP, port, protocol: 'tcp', bgp: true, name }, endpoints: [{ endpointIP: '192.168.1.10', targetPort: 8080, weight: 1 }] });
  return { ...r, serviceArguments: { ...r.serviceArguments, oper: 0 } };
}
const keyOf = (r: LbRule) => ruleKey(r.serviceArguments);
const set = (r: LbRule): RuleOp => ({ key: keyOf(r), rule: r });
const del = (r: LbRule): RuleOp => ({ key: keyOf(r) });
const byKey = (rules: readonly LbRule[]) => [...rules].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
const loadRules = (dir: string) => byKey(new ConfigStore(dir).load().rules);
const journalPath = (dir: string) => path.join(dir, 'lbconfig.journal');
const snapshotPath = (dir: string) => path.join(dir, 'lbconfig.json');
const journalLines = (dir: string) => fs.readFileSync(journalPath(dir), 'utf8').split('\n').filter((l) => l !== '');
const snapshotRules = (dir: string): LbRule[] => {
  const d = decodeRecordFile('lbconfig', fs.readFileSync(snapshotPath(dir), 'utf8'), snapshotPath(dir));
  assert.equal(d.version, 2);
  return d.version === 2 ? d.records.map((r) => r.data as LbRule) : [];
};

// ---- ConfigStore: snapshot + journal ----

test('an empty or missing config dir loads as empty state', () => {
  const s = new ConfigStore(freshDir()).load();
  assert.deepEqual(s, { rules: [], ciStates: [], bgpGlobal: undefined, bgpNeighbors: [], bfdSessions: [], endpointHosts: [], journalRecords: 0 });
});

test('rules saved through RuleStore come back from a new ConfigStore: journal replayed over the snapshot', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const a = rule('1.1.1.1', 80);
  const b = rule('1.1.1.1', 443);
  const c = rule('2001:db8::1', 80);
  await store.compactRules([a, b]);
  const rs = new RuleStore(store, [a, b]);
  const b2 = { ...b, endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8443, weight: 1 }] };
  await rs.save([set(c), set(b2)]);
  await rs.save([del(a)]);
  // The snapshot was not rewritten; the changes are journal lines.
  assert.deepEqual(byKey(snapshotRules(dir)), byKey([a, b]));
  assert.equal(journalLines(dir).length, 3);
  assert.deepEqual(loadRules(dir), byKey([b2, c]));
  assert.deepEqual(rs.committedRule(keyOf(b)), b2);
  assert.equal(rs.committedRule(keyOf(a)), undefined);
});

test('deletes and re-adds replay in order', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const rs = new RuleStore(store, []);
  const a = rule('1.1.1.1', 80, 'first');
  const a2 = rule('1.1.1.1', 80, 'second');
  const b = rule('1.1.1.2', 80);
  await rs.save([set(a), set(b)]);
  await rs.save([del(a)]);
  assert.deepEqual(loadRules(dir), [b]);
  await rs.save([set(a2), del(b)]);
  assert.deepEqual(loadRules(dir), [a2]);
  await rs.save([del(a2), del(a2)]); // deleting a missing rule is harmless
  assert.deepEqual(loadRules(dir), []);
});

test('a torn last journal line (crash mid-append) is ignored', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const a = rule('1.1.1.1', 80);
  const b = rule('1.1.1.2', 80);
  await new RuleStore(store, []).save([set(a)]);
  const full = JSON.stringify({ set: b });
  fs.appendFileSync(journalPath(dir), full.slice(0, full.length >> 1));
  assert.deepEqual(loadRules(dir), [a]);
  // Torn inside a multi-line batch: the complete lines before it count.
  fs.writeFileSync(journalPath(dir), JSON.stringify({ set: a }) + '\n' + full + '\n' + full.slice(0, 10));
  assert.deepEqual(loadRules(dir), byKey([a, b]));
});

test('a corrupt journal line in the middle throws an error naming the file and line', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const rs = new RuleStore(store, []);
  await rs.save([set(rule('1.1.1.1', 80))]);
  fs.appendFileSync(journalPath(dir), '{"set": garbage\n');
  await rs.save([set(rule('1.1.1.2', 80))]);
  assert.throws(
    () => new ConfigStore(dir).load(),
    (err: Error) => err.message.includes(journalPath(dir)) && err.message.includes('line 2'),
  );
});

test('a corrupt snapshot throws an error naming the file', () => {
  const dir = freshDir();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(snapshotPath(dir), '{"lbAttr": [');
  assert.throws(() => new ConfigStore(dir).load(), (err: Error) => err.message.includes(snapshotPath(dir)));
});

test('CI states and BGP config round-trip', () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  store.saveCiStates([{ instance: 'llb-inst0', state: 'MASTER', vip: '10.9.9.9' }]);
  const s = new ConfigStore(dir).load();
  assert.deepEqual(s.ciStates, [{ instance: 'llb-inst0', state: 'MASTER', vip: '10.9.9.9' }]);
  assert.equal(s.bgpGlobal, undefined);
  assert.deepEqual(s.bgpNeighbors, []);
  // No temp files are left behind by the atomic writes.
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('CI states saved off the event loop, beside a synchronous save in flight: the last write wins whole, no temp file left', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const pending = store.saveCiStatesAsync([{ instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' }]);
  // A synchronous save (the API) while the asynchronous one is in flight: each has its own temp file.
  store.saveCiStates([{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
  await pending;
  await store.saveCiStatesAsync([{ instance: 'llb-inst0', state: 'FAULT', vip: '0.0.0.0' }]);
  assert.deepEqual(new ConfigStore(dir).load().ciStates, [{ instance: 'llb-inst0', state: 'FAULT', vip: '0.0.0.0' }]);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

// ---- RuleStore compaction ----

test('compaction: once journalled ops would exceed max(1000, table size), the snapshot holds the table and the journal is empty', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const rs = new RuleStore(store, []);
  const rules = Array.from({ length: 1000 }, (_, i) => rule('10.0.0.1', i + 1));
  // 1000 ops: exactly at the limit, still journalled.
  await rs.save(rules.map(set));
  // The first journal line is preceded by an (empty) snapshot: a journal without one means it was lost.
  assert.deepEqual(snapshotRules(dir), []);
  assert.equal(journalLines(dir).length, 1000);
  // One more: the table (1001 rules) goes to the snapshot and the journal starts over.
  const extra = rule('10.0.0.2', 1);
  await rs.save([set(extra)]);
  const want = byKey([...rules, extra]);
  assert.deepEqual(byKey(snapshotRules(dir)), want);
  assert.equal(fs.readFileSync(journalPath(dir), 'utf8'), '');
  assert.deepEqual(loadRules(dir), want);
  // Afterwards changes are journalled again.
  await rs.save([del(extra)]);
  assert.equal(journalLines(dir).length, 1);
  assert.deepEqual(loadRules(dir), byKey(rules));
});

test('compaction: a table larger than 1000 allows as many journalled ops as it has rules', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const initial = Array.from({ length: 1200 }, (_, i) => rule('10.1.0.1', i + 1));
  await store.compactRules(initial);
  const rs = new RuleStore(store, initial);
  const changed = initial.map((r) => ({ ...r, serviceArguments: { ...r.serviceArguments, name: `changed${r.serviceArguments.port}` } }));
  await rs.save(changed.slice(0, 1100).map(set));
  await rs.save(changed.slice(1100).map(set));
  // 1200 journalled ops, table of 1200: not yet.
  assert.equal(journalLines(dir).length, 1200);
  assert.deepEqual(byKey(snapshotRules(dir)), byKey(initial));
  assert.deepEqual(loadRules(dir), byKey(changed));
  await rs.save([del(changed[0]!)]);
  assert.equal(fs.readFileSync(journalPath(dir), 'utf8'), '');
  assert.deepEqual(byKey(snapshotRules(dir)), byKey(changed.slice(1)));
  assert.deepEqual(loadRules(dir), byKey(changed.slice(1)));
});

test('replaying an old journal over a newer snapshot gives the same table (crash between snapshot and truncate)', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  const a = rule('1.1.1.1', 80, 'v1');
  const a2 = rule('1.1.1.1', 80, 'v2');
  const b = rule('1.1.1.2', 80);
  const c = rule('1.1.1.3', 80);
  await store.compactRules([c]);
  const rs = new RuleStore(store, [c]);
  await rs.save([set(a), set(b)]);
  await rs.save([del(a), del(c)]);
  await rs.save([set(a2), set(c)]);
  await rs.save([del(c)]);
  const oldJournal = fs.readFileSync(journalPath(dir), 'utf8');
  const want = loadRules(dir);
  assert.deepEqual(want, byKey([a2, b]));
  // The snapshot already holds the whole table; the truncate never happened.
  await store.compactRules(want);
  fs.writeFileSync(journalPath(dir), oldJournal);
  assert.deepEqual(loadRules(dir), want);
  // The same journal twice over is no crash's leftover but damage: its numbers start again, and the load says where.
  fs.appendFileSync(journalPath(dir), oldJournal);
  assert.throws(() => loadRules(dir), /lbconfig\.journal line 8: change 1 again after change 7/);
});

// ---- GroupCommit ----

/** A writer that records each write and can be held or made to fail. */
function fakeWriter<T>() {
  const writes: T[][] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let failures = 0;
  return {
    writes,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      open?.();
      gate = undefined;
    },
    failNext(k = 1) {
      failures = k;
    },
    write: async (items: T[]) => {
      writes.push([...items]);
      if (gate) await gate;
      await new Promise((r) => setImmediate(r));
      if (failures > 0) {
        failures--;
        throw new Error('disk full');
      }
    },
  };
}

test('GroupCommit: saves issued in the same tick share one write, and every caller resolves', async () => {
  const w = fakeWriter<number>();
  const gc = new GroupCommit(w.write);
  const resolved: number[] = [];
  const ps = [gc.save([1]), gc.save([2, 3]), gc.save([]), gc.save([4])].map((p, i) => p.then(() => resolved.push(i)));
  assert.deepEqual(gc.pending, [1, 2, 3, 4]);
  await Promise.all(ps);
  assert.deepEqual(w.writes, [[1, 2, 3, 4]]);
  assert.deepEqual(resolved.sort(), [0, 1, 2, 3]);
  assert.deepEqual(gc.pending, []);
});

test('GroupCommit: saves made while a write runs share the next write', async () => {
  const w = fakeWriter<string>();
  const gc = new GroupCommit(w.write);
  w.hold();
  const first = gc.save(['a']);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(w.writes, [['a']]);
  const later = [gc.save(['b']), gc.save(['c'])];
  assert.deepEqual(gc.pending, ['b', 'c']);
  w.release();
  await Promise.all([first, ...later]);
  assert.deepEqual(w.writes, [['a'], ['b', 'c']]);
});

test('GroupCommit: a failed write rejects every caller of its batch; a later save still works', async () => {
  const w = fakeWriter<number>();
  const gc = new GroupCommit(w.write);
  w.failNext();
  const results = await Promise.allSettled([gc.save([1]), gc.save([2]), gc.save([3])]);
  assert.equal(w.writes.length, 1);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal((r as PromiseRejectedResult).reason.message, 'disk full');
  }
  await gc.save([4]);
  assert.deepEqual(w.writes, [[1, 2, 3], [4]]);
});

test('GroupCommit: a failing batch does not affect the batch queued behind it', async () => {
  const w = fakeWriter<number>();
  const gc = new GroupCommit(w.write);
  w.hold();
  w.failNext();
  const first = gc.save([1]);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const second = gc.save([2]);
  w.release();
  await assert.rejects(first, /disk full/);
  await second;
  assert.deepEqual(w.writes, [[1], [2]]);
});

test('GroupCommit: a writer that throws synchronously rejects its callers too', async () => {
  let calls = 0;
  const gc = new GroupCommit<number>((() => {
    if (calls++ === 0) throw new Error('sync boom');
    return Promise.resolve();
  }) as (items: number[]) => Promise<void>);
  await assert.rejects(gc.save([1]), /sync boom/);
  await gc.save([2]);
  assert.equal(calls, 2);
});

// ---- RuleStore after a failed append ----

/** A ConfigStore that counts writes and fails the next append when asked. */
class FlakyStore extends ConfigStore {
  appends = 0;
  compactions = 0;
  failAppends = 0;
  override async appendRuleOps(ops: readonly RuleOp[]): Promise<void> {
    if (this.failAppends > 0) {
      this.failAppends--;
      // A partial batch may be left behind.
      fs.appendFileSync(journalPath(this.dir), JSON.stringify({ set: ops[0]?.rule }).slice(0, 20));
      throw new Error('ENOSPC');
    }
    this.appends++;
    return super.appendRuleOps(ops);
  }
  override async compactRules(rules: LbRule[]): Promise<void> {
    this.compactions++;
    return super.compactRules(rules);
  }
}

test('RuleStore: after a failed append the save rejects, the old rule stays committed, and the next save compacts', async () => {
  const dir = freshDir();
  const store = new FlakyStore(dir);
  const a1 = rule('1.1.1.1', 80, 'v1');
  const a2 = rule('1.1.1.1', 80, 'v2');
  const b = rule('1.1.1.2', 80);
  await store.compactRules([a1]);
  store.compactions = 0;
  const rs = new RuleStore(store, [a1]);

  store.failAppends = 1;
  const failed = rs.save([set(a2)]);
  assert.equal(rs.isPending(keyOf(a2)), true);
  await assert.rejects(failed, /ENOSPC/);
  assert.equal(rs.isPending(keyOf(a2)), false);
  assert.deepEqual(rs.committedRule(keyOf(a1)), a1);
  assert.equal(store.appends, 0);

  // The next save rewrites the snapshot (dropping the partial batch) instead of appending after it.
  await rs.save([set(b)]);
  assert.equal(store.compactions, 1);
  assert.equal(store.appends, 0);
  assert.equal(fs.readFileSync(journalPath(dir), 'utf8'), '');
  assert.deepEqual(byKey(snapshotRules(dir)), byKey([a1, b]));
  assert.deepEqual(loadRules(dir), byKey([a1, b]));
  assert.deepEqual(rs.committedRule(keyOf(b)), b);

  // And then it goes back to appending.
  await rs.save([set(a2)]);
  assert.equal(store.appends, 1);
  assert.equal(store.compactions, 1);
  assert.deepEqual(loadRules(dir), byKey([a2, b]));
});

test('a save after a restart over a torn journal tail is kept, and the journal stays readable', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxt-torn-'));
  try {
    const a = rule('1.1.1.1', 80), b = rule('1.1.1.2', 80), c = rule('1.1.1.3', 80), d = rule('1.1.1.4', 80);
    await new RuleStore(new ConfigStore(dir), []).save([set(a)]);
    fs.appendFileSync(path.join(dir, 'lbconfig.journal'), JSON.stringify({ set: b }).slice(0, 25)); // crash mid-append
    const store = new ConfigStore(dir);
    const rs = new RuleStore(store, store.load().rules); // restart
    await rs.save([set(c)]);
    assert.deepEqual(new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP).sort(), ['1.1.1.1', '1.1.1.3']);
    await rs.save([set(d)]);
    assert.deepEqual(new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP).sort(), ['1.1.1.1', '1.1.1.3', '1.1.1.4']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a compaction that fails after the new snapshot is in place compacts again next time, so the failed batch does not come back', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxt-compact-'));
  class TruncateFails extends ConfigStore {
    fail = true;
    override async compactRules(rules: LbRule[]): Promise<void> {
      if (!this.fail) return super.compactRules(rules);
      this.fail = false;
      fs.writeFileSync(path.join(this.dir, 'lbconfig.json'), JSON.stringify({ lbAttr: rules }));
      throw new Error('EIO truncating the journal');
    }
  }
  try {
    const store = new TruncateFails(dir);
    const rs = new RuleStore(store, []);
    const many = Array.from({ length: 999 }, (_, i) => rule(`10.0.${i >> 8}.${i & 255}`, 80));
    await rs.save(many.map(set));
    const x = rule('9.9.9.1', 80), y = rule('9.9.9.2', 80), z = rule('9.9.9.3', 80);
    await assert.rejects(rs.save([set(x), set(y)]), /EIO/);
    await rs.save([set(z)]);
    const ips = new Set(new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP));
    assert.equal(ips.has('9.9.9.1'), false, 'the rejected batch is not on disk');
    assert.equal(ips.has('9.9.9.3'), true);
    assert.equal(ips.size, 1000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
