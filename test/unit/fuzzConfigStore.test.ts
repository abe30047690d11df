// Random corruption of real state files (written by RuleStore and
// ConfigStore): byte flips, overwritten runs, inserted and deleted bytes,
// truncation. Every corruption must either be detected, with the file and
// line named, or be the torn-tail case (bytes after the journal's last
// newline, cut off as a crash mid-append would leave them). Nothing else may
// load: in particular no damaged record is ever taken for a valid one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ConfigStore, RuleStore, type RuleOp, type SavedState } from '../../src/agent/ConfigStore.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 500);

function rule(i: number): LbRule {
  const r = parseLbRule({
    serviceArguments: { externalIP: `10.0.${i >> 8}.${i & 255}`, port: 80 + (i % 3), protocol: i % 2 ? 'udp' : 'tcp', bgp: true, name: `svc${i}:llb-inst0` },
    endpoints: [
      { endpointIP: `192.168.${i % 7}.10`, targetPort: 8080, weight: 1 },
      { endpointIP: `192.168.${i % 7}.11`, targetPort: 8080, weight: 1 },
    ],
  });
  return { ...r, serviceArguments: { ...r.serviceArguments, oper: 0 } };
}
const set = (r: LbRule): RuleOp => ({ key: ruleKey(r.serviceArguments), rule: r });

let dir: string;
let originals: Map<string, Buffer>;
/** The journal's changes in order, and where each one's line ends (the offset just past its newline). */
let journalOps: { op: RuleOp; end: number }[];
let snapshotRules: LbRule[];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loxilb-fuzzstore-'));
  const store = new ConfigStore(dir);
  snapshotRules = Array.from({ length: 12 }, (_, i) => rule(i));
  await store.compactRules(snapshotRules);
  const rs = new RuleStore(store, snapshotRules);
  const ops: RuleOp[][] = [[set(rule(20)), set(rule(21))], [{ key: ruleKey(rule(3).serviceArguments) }], [set({ ...rule(5), endpoints: [{ endpointIP: '192.168.9.9', targetPort: 9090, weight: 1 }] })], [set(rule(22)), { key: ruleKey(rule(20).serviceArguments) }, set(rule(23))]];
  for (const batch of ops) await rs.save(batch);
  store.saveCiStates([{ instance: 'llb-inst0', state: 'MASTER', vip: '10.9.9.9' }, { instance: 'llb-inst1', state: 'BACKUP', vip: '0.0.0.0' }]);
  store.saveBgp({ localAs: 64512, routerId: '10.0.0.1', listenPort: 0, setNextHopSelf: true }, [{ ipAddress: '192.168.80.1', remoteAs: 65101, remotePort: 0, setMultiHop: false }]);
  store.saveBfdSessions([{ instance: 'llb-inst0', remoteIp: '192.168.80.11', intervalUs: 100000, multiplier: 3 }]);
  await store.close();
  originals = new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
  const journal = originals.get('lbconfig.journal')!;
  let off = 0;
  journalOps = ops.flat().map((op) => {
    off = journal.indexOf(0x0a, off) + 1;
    return { op, end: off };
  });
  assert.equal(off, journal.length);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Puts the original files back (only those that changed: rewriting a file costs a flush on ext4). */
function restore(): void {
  for (const f of fs.readdirSync(dir)) if (!originals.has(f)) fs.rmSync(path.join(dir, f));
  for (const [f, b] of originals) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p) || !fs.readFileSync(p).equals(b)) fs.writeFileSync(p, b);
  }
}

/** The rule table after the snapshot and the given journal changes. */
function tableAfter(ops: readonly { op: RuleOp }[]): string[] {
  const t = new Map(snapshotRules.map((r) => [ruleKey(r.serviceArguments), r]));
  for (const { op } of ops) {
    if (op.rule) t.set(op.key, op.rule);
    else t.delete(op.key);
  }
  return [...t.values()].map((r) => JSON.stringify(r)).sort();
}
/** After the first k journal changes. */
const replay = (k: number) => tableAfter(journalOps.slice(0, k));
const rulesOf = (s: SavedState) => s.rules.map((r) => JSON.stringify(r)).sort();

type Corruption =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'overwrite'; at: number; bytes: number[] }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'truncate'; at: number };

const byte = fc.integer({ min: 0, max: 255 });
const bytes = fc.array(fc.oneof(byte, fc.constantFrom(0x0a, 0x7b, 0x7d, 0x22, 0x2c, 0x30, 0x61, 0x20)), { minLength: 1, maxLength: 12 });
const corruption = (size: number): fc.Arbitrary<Corruption> => {
  const at = fc.integer({ min: 0, max: Math.max(0, size - 1) });
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at, xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('overwrite' as const), at, bytes }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.integer({ min: 0, max: size }), bytes }),
    fc.record({ kind: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
  );
};

function apply(buf: Buffer, c: Corruption): Buffer {
  const b = Buffer.from(buf);
  switch (c.kind) {
    case 'flip':
      b[c.at] = b[c.at]! ^ c.xor;
      return b;
    case 'overwrite':
      Buffer.from(c.bytes).copy(b, c.at);
      return b;
    case 'insert':
      return Buffer.concat([b.subarray(0, c.at), Buffer.from(c.bytes), b.subarray(c.at)]);
    case 'delete':
      return Buffer.concat([b.subarray(0, c.at), b.subarray(c.at + c.len)]);
    case 'truncate':
      return b.subarray(0, c.at);
  }
}

function tryLoad(): SavedState | Error {
  try {
    return new ConfigStore(dir).load();
  } catch (e) {
    return e as Error;
  }
}

const detected = (r: SavedState | Error, file: string) => r instanceof Error && new RegExp(`saved config ${path.join(dir, file).replace(/[.]/g, '\\.')} line \\d+: `).test(r.message);

test('journal: every corruption is detected with file and line, or is the torn tail', () => {
  const orig = originals.get('lbconfig.journal')!;
  const all = journalOps.length;
  const lastLineStart = journalOps[all - 2]!.end;
  let outcomes = { detected: 0, torn: 0, harmless: 0 };
  fc.assert(
    fc.property(corruption(orig.length), (c) => {
      restore();
      const bad = apply(orig, c);
      if (bad.equals(orig)) return;
      fs.writeFileSync(path.join(dir, 'lbconfig.journal'), bad);
      const r = tryLoad();
      if (r instanceof Error) {
        assert.ok(detected(r, 'lbconfig.journal'), `${JSON.stringify(c)}: ${r.message}`);
        outcomes.detected++;
        return;
      }
      const got = rulesOf(r);
      // Truncation is what a crash mid-append leaves: the changes whose lines are whole survive.
      if (c.kind === 'truncate') {
        assert.deepEqual(got, replay(journalOps.filter((o) => o.end <= c.at).length), JSON.stringify(c));
        outcomes.torn++;
      } else if (JSON.stringify(got) === JSON.stringify(replay(all))) {
        outcomes.harmless++; // bytes after the last newline (torn, nothing lost)
      } else {
        // Only the last line may be lost, and only by losing its newline (a torn tail).
        assert.ok(c.at >= lastLineStart, `${JSON.stringify(c)} silently changed the table`);
        assert.deepEqual(got, replay(all - 1), JSON.stringify(c));
        outcomes.torn++;
      }
      // Whatever was cut is gone for good: the next load agrees and complains about nothing.
      assert.deepEqual(rulesOf(new ConfigStore(dir).load()), got);
    }),
    { numRuns: RUNS, seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined },
  );
  assert.ok(outcomes.detected > RUNS / 4, JSON.stringify(outcomes));
});

test('journal: each change cut out with its newline kept, or removed whole, is detected (only the last line removed whole is not: a change never written looks the same)', () => {
  const orig = originals.get('lbconfig.journal')!;
  const outcomes: string[] = [];
  journalOps.forEach(({ end }, k) => {
    const start = k === 0 ? 0 : journalOps[k - 1]!.end;
    for (const [how, bad] of [
      ['cut', Buffer.concat([orig.subarray(0, start), orig.subarray(end - 1)])],
      ['removed', Buffer.concat([orig.subarray(0, start), orig.subarray(end)])],
    ] as const) {
      restore();
      fs.writeFileSync(path.join(dir, 'lbconfig.journal'), bad);
      const r = tryLoad();
      if (how === 'removed' && k === journalOps.length - 1) {
        assert.ok(!(r instanceof Error), `${how} ${k}`);
        assert.deepEqual(rulesOf(r), replay(k));
        continue;
      }
      assert.ok(detected(r, 'lbconfig.journal'), `change ${k} ${how}: ${r instanceof Error ? r.message : 'loaded'}`);
      outcomes.push((r as Error).message.replace(/^.*line (\d+): ([^:(]*).*$/s, '$1 $2'));
    }
  });
  assert.equal(outcomes.length, journalOps.length * 2 - 1);
});

for (const file of ['lbconfig.json', 'ciconfig.json', 'bgpconfig.json', 'bfdconfig.json']) {
  test(`${file}: every corruption is detected with file and line (a snapshot has no torn tail)`, () => {
    const orig = originals.get(file)!;
    restore();
    const want = new ConfigStore(dir).load();
    fc.assert(
      fc.property(corruption(orig.length), (c) => {
        restore();
        const bad = apply(orig, c);
        if (bad.equals(orig)) return;
        fs.writeFileSync(path.join(dir, file), bad);
        const r = tryLoad();
        if (r instanceof Error) assert.ok(detected(r, file), `${JSON.stringify(c)}: ${r.message}`);
        else assert.deepEqual(r, want, `${JSON.stringify(c)} loaded as something else`);
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });
}
