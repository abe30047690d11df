// Saved state that was damaged or tampered with: every record is checksummed
// and validated as the REST API validates requests; a bad record stops the
// start with file, line and reason (or, with quarantine, is moved aside);
// only a torn journal tail is cut silently; a lost snapshot is an error;
// compaction counts the journal across restarts; old files migrate once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigStore, RuleStore, type RuleOp } from '../../src/agent/ConfigStore.ts';
import { encodeJournalLine, recordSum } from '../../src/agent/recordFile.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';

let root: string;
let n = 0;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'loxilb-store-hard-'));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});
const freshDir = () => path.join(root, `t${++n}`);
const file = (dir: string, f: string) => path.join(dir, f);

function rule(externalIP: string, port: number, endpoints: { endpointIP: string; targetPort: number; weight: number }[] = [{ endpointIP: '192.168.1.10', targetPort: 8080, weight: 1 }]): LbRule {
  const r = parseLbRule({ serviceArguments: { externalIP, port, protocol: 'tcp', bgp: true, name: `svc${port}` }, endpoints });
  return { ...r, serviceArguments: { ...r.serviceArguments, oper: 0 } };
}
const set = (r: LbRule): RuleOp => ({ key: ruleKey(r.serviceArguments), rule: r });

/** Journal line number `seq` with a correct checksum around any change: what a tamperer (or a buggy writer) could produce. */
const signedLine = (change: unknown, seq: number) => `${encodeJournalLine('lbconfig-journal', seq, JSON.stringify(change))}\n`;

function loadError(dir: string): string {
  try {
    new ConfigStore(dir).load();
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('loaded without complaint');
}

async function savedRules(dir: string, rules: LbRule[]): Promise<void> {
  const store = new ConfigStore(dir);
  await new RuleStore(store, []).save(rules.map(set));
  await store.close();
}

test('a checksummed journal record that fails validation ("endpoints": null, address 999.0.4.51) stops the start naming file, line and field', async () => {
  for (const [bad, field] of [
    [{ serviceArguments: { externalIP: '10.0.0.9', port: 80, protocol: 'tcp' }, endpoints: null }, /endpoints/],
    [{ serviceArguments: { externalIP: '999.0.4.51', port: 80, protocol: 'tcp' }, endpoints: [] }, /serviceArguments\.externalIP/],
  ] as const) {
    const dir = freshDir();
    await savedRules(dir, [rule('10.0.0.1', 80)]);
    fs.appendFileSync(file(dir, 'lbconfig.journal'), signedLine({ set: bad }, 2));
    const msg = loadError(dir);
    assert.match(msg, new RegExp(`saved config ${file(dir, 'lbconfig.journal').replace(/[.]/g, '\\.')} line 2: invalid `));
    assert.match(msg, field);
    assert.match(msg, /--config-quarantine/);
  }
});

test('random bytes on the last complete journal line are an error, not a silently lost rule', async () => {
  const dir = freshDir();
  await savedRules(dir, [rule('10.0.0.1', 80), rule('10.0.0.2', 80)]);
  const p = file(dir, 'lbconfig.journal');
  const buf = fs.readFileSync(p);
  buf[buf.length - 10] = buf[buf.length - 10]! ^ 0x20;
  fs.writeFileSync(p, buf);
  assert.match(loadError(dir), /lbconfig\.journal line 2: checksum mismatch/);
});

test('an empty batch writes nothing to the journal (a bare newline would read as a change cut out)', async () => {
  const dir = freshDir();
  await savedRules(dir, [rule('10.0.0.1', 80)]);
  const p = file(dir, 'lbconfig.journal');
  const before = fs.readFileSync(p, 'utf8');
  const store = new ConfigStore(dir);
  const s = store.load();
  await new RuleStore(store, s.rules, s.journalRecords).save([]);
  await store.close();
  assert.equal(fs.readFileSync(p, 'utf8'), before);
});

/** A journal of four changes (one per batch: 10.0.0.1-10.0.0.3 set, then 10.0.0.1 deleted), as its lines. */
async function fourChanges(dir: string): Promise<string[]> {
  const store = new ConfigStore(dir);
  const rs = new RuleStore(store, []);
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) await rs.save([set(rule(ip, 80))]);
  await rs.save([{ key: ruleKey(rule('10.0.0.1', 80).serviceArguments) }]);
  await store.close();
  const lines = fs.readFileSync(file(dir, 'lbconfig.journal'), 'utf8').split('\n');
  assert.equal(lines.pop(), '');
  return lines;
}

test('journal lines removed whole, repeated, swapped or cut out (newline kept) are errors naming the line, not a deleted rule come back', async () => {
  const dir = freshDir();
  const lines = await fourChanges(dir);
  const p = file(dir, 'lbconfig.journal');
  const ips = () => new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP).sort();
  assert.deepEqual(ips(), ['10.0.0.2', '10.0.0.3']);
  const cases: [string[], RegExp][] = [
    [[lines[0]!, lines[2]!, lines[3]!], /line 2: change 3 follows change 1: 1 change\(s\) missing/],
    [[lines[0]!, lines[1]!, lines[2]!], /^$/], // the last line removed whole: indistinguishable from a change never written
    [[lines[0]!, lines[1]!, lines[1]!, lines[2]!, lines[3]!], /line 3: change 2 again after change 2/],
    [[lines[0]!, lines[2]!, lines[1]!, lines[3]!], /line 2: change 3 follows change 1/],
    [[lines[0]!, lines[1]!, lines[2]!, '', ''], /line 4: empty line: a change was cut out/],
    [['', lines[1]!, lines[2]!, lines[3]!], /line 1: empty line/],
    [[lines[1]!, lines[2]!, lines[3]!], /line 1: change 2 follows change 0/],
  ];
  for (const [kept, want] of cases) {
    fs.writeFileSync(p, `${kept.join('\n')}\n`);
    if (want.source === '^$') {
      assert.deepEqual(ips(), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
      continue;
    }
    assert.match(loadError(dir), new RegExp(`lbconfig\\.journal ${want.source}`), kept.map((l) => l.slice(9, 11)).join('|'));
  }
  // With quarantine a gap is reported in <file>.rejected (nothing to set aside) and the lines that verified are used.
  fs.writeFileSync(p, `${[lines[0], lines[2], lines[3]].join('\n')}\n`);
  assert.deepEqual(new ConfigStore(dir, { quarantine: true }).load().rules.map((r) => r.serviceArguments.externalIP).sort(), ['10.0.0.3']);
  assert.match(fs.readFileSync(`${p}.rejected`, 'utf8'), /line 2: change 3 follows change 1/);
  assert.deepEqual(ips(), ['10.0.0.3']);
});

test('a version 2 journal (checksums, no sequence numbers, an empty line from its empty-batch writer) loads as written and is rewritten; appending then numbers from 1', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  await store.compactRules([rule('10.0.0.1', 80)]);
  const v2 = (change: unknown) => {
    const json = JSON.stringify(change);
    return `${recordSum('lbconfig-journal', json)} ${json}\n`;
  };
  const p = file(dir, 'lbconfig.journal');
  fs.writeFileSync(p, `${v2({ set: rule('10.0.0.2', 80) })}\n${v2({ del: ruleKey(rule('10.0.0.1', 80).serviceArguments) })}`);
  const s = new ConfigStore(dir).load();
  assert.deepEqual(s.rules.map((r) => r.serviceArguments.externalIP), ['10.0.0.2']);
  assert.equal(fs.readFileSync(p, 'utf8'), '');
  const again = new ConfigStore(dir);
  const rs = new RuleStore(again, again.load().rules);
  await rs.save([set(rule('10.0.0.3', 80)), set(rule('10.0.0.4', 80))]);
  await again.close();
  assert.deepEqual(fs.readFileSync(p, 'utf8').split('\n').slice(0, 2).map((l) => l.split(' ')[1]), ['1', '2']);
  assert.deepEqual(new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP).sort(), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
});

test('a store that did not load (or whose append failed) continues the sequence from the file, and will not append to a torn or old journal', async () => {
  const dir = freshDir();
  await savedRules(dir, [rule('10.0.0.1', 80)]);
  await savedRules(dir, [rule('10.0.0.2', 80)]);
  const p = file(dir, 'lbconfig.journal');
  assert.deepEqual(fs.readFileSync(p, 'utf8').split('\n').slice(0, 2).map((l) => l.split(' ')[1]), ['1', '2']);
  assert.deepEqual(new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP).sort(), ['10.0.0.1', '10.0.0.2']);
  fs.appendFileSync(p, signedLine({ set: rule('10.0.0.3', 80) }, 3).slice(0, 30));
  await assert.rejects(savedRules(dir, [rule('10.0.0.4', 80)]), /ends in a torn line; not appending before a compaction/);
});

test('a byte changed in a snapshot record (an endpoint address) is caught by its checksum', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  await store.compactRules([rule('10.0.0.1', 80, [{ endpointIP: '192.168.1.10', targetPort: 8080, weight: 1 }]), rule('10.0.0.2', 80)]);
  const p = file(dir, 'lbconfig.json');
  fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace('192.168.1.10', '192.168.1.11'));
  assert.match(loadError(dir), /lbconfig\.json line 2: checksum mismatch/);
  // A lost record line: the closing line no longer adds up.
  await store.compactRules([rule('10.0.0.1', 80), rule('10.0.0.2', 80)]);
  const lines = fs.readFileSync(p, 'utf8').split('\n');
  fs.writeFileSync(p, [lines[0], lines[2]!.replace(/,$/, ''), ...lines.slice(3)].join('\n').replace('"count":2', '"count":2'));
  assert.match(loadError(dir), /lbconfig\.json line 3: the closing line does not match the 1 record/);
});

test('a deleted snapshot next to a journal is an error, not an empty table', async () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  await store.compactRules([rule('10.0.0.1', 80)]);
  await new RuleStore(store, [rule('10.0.0.1', 80)]).save([set(rule('10.0.0.2', 80))]);
  await store.close();
  fs.rmSync(file(dir, 'lbconfig.json'));
  assert.match(loadError(dir), /lbconfig\.json line 1: the snapshot .* is missing while the journal holds 1 change/);
  // With quarantine the journal alone is used, and the files are rewritten.
  const s = new ConfigStore(dir, { quarantine: true }).load();
  assert.deepEqual(s.rules.map((r) => r.serviceArguments.externalIP), ['10.0.0.2']);
  assert.ok(fs.existsSync(file(dir, 'lbconfig.json')));
});

test('a torn last line (no newline: a crash mid-append) is still cut off silently, and the next append is not glued to it', async () => {
  const dir = freshDir();
  await savedRules(dir, [rule('10.0.0.1', 80)]);
  const p = file(dir, 'lbconfig.journal');
  fs.appendFileSync(p, signedLine({ set: rule('10.0.0.2', 80) }, 2).slice(0, 40));
  const store = new ConfigStore(dir);
  const s = store.load();
  assert.deepEqual(s.rules.map((r) => r.serviceArguments.externalIP), ['10.0.0.1']);
  assert.equal(s.journalRecords, 1);
  await new RuleStore(store, s.rules, s.journalRecords).save([set(rule('10.0.0.3', 80))]);
  await store.close();
  assert.deepEqual(new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP), ['10.0.0.1', '10.0.0.3']);
});

test('the compaction counter survives restarts: the journal never outgrows max(1000, table) however often the agent restarts', async () => {
  const dir = freshDir();
  const a = rule('10.0.0.1', 80);
  for (let restart = 0; restart < 6; restart++) {
    const store = new ConfigStore(dir);
    const s = store.load();
    const rs = new RuleStore(store, s.rules, s.journalRecords);
    // 400 changes per run to a one-rule table (e.g. an endpoint flapping).
    for (let i = 0; i < 4; i++) await rs.save(Array.from({ length: 100 }, () => set(a)));
    await store.close();
    const lines = fs.readFileSync(file(dir, 'lbconfig.journal'), 'utf8').split('\n').filter((l) => l !== '').length;
    assert.ok(lines <= 1000, `run ${restart}: ${lines} journal lines for 1 rule`);
  }
});

test('old files without checksums load once, validated, and are rewritten with checksums', async () => {
  const dir = freshDir();
  fs.mkdirSync(dir, { recursive: true });
  const a = rule('10.0.0.1', 80);
  const b = rule('10.0.0.2', 80);
  fs.writeFileSync(file(dir, 'lbconfig.json'), JSON.stringify({ lbAttr: [a] }));
  fs.writeFileSync(file(dir, 'lbconfig.journal'), `${JSON.stringify({ set: b })}\n${JSON.stringify({ del: ruleKey(a.serviceArguments) })}\n`);
  fs.writeFileSync(file(dir, 'ciconfig.json'), JSON.stringify({ Attr: [{ instance: 'llb-inst0', state: 'MASTER', vip: '10.9.9.9' }] }, null, 1));
  const neighbor = { ipAddress: '192.168.80.1', remoteAs: 65101, remotePort: 0, setMultiHop: false, bfd: { intervalUs: 100000, multiplier: 3 } };
  fs.writeFileSync(file(dir, 'bgpconfig.json'), JSON.stringify({ global: { localAs: 64512, routerId: '10.0.0.1', listenPort: 0, setNextHopSelf: true }, neighbors: [neighbor] }, null, 1));
  const bfd = { instance: 'llb-inst0', remoteIp: '192.168.80.11', sourceIp: '192.168.80.10', intervalUs: 100000, multiplier: 3, auth: { type: 'keyed-sha1', keyId: 3, keyFile: 'peer.key' } };
  fs.writeFileSync(file(dir, 'bfdconfig.json'), JSON.stringify({ Attr: [bfd] }, null, 1));
  const want = {
    rules: [b],
    ciStates: [{ instance: 'llb-inst0', state: 'MASTER', vip: '10.9.9.9' }],
    bgpGlobal: { localAs: 64512, routerId: '10.0.0.1', listenPort: 0, setNextHopSelf: true },
    bgpNeighbors: [neighbor],
    bfdSessions: [bfd],
    endpointHosts: [],
    journalRecords: 0,
  };
  assert.deepEqual(new ConfigStore(dir).load(), want);
  for (const f of ['lbconfig.json', 'ciconfig.json', 'bgpconfig.json', 'bfdconfig.json']) {
    assert.match(fs.readFileSync(file(dir, f), 'utf8'), /^\{"format":"loxilb-ts\/records","version":2,/, f);
  }
  assert.equal(fs.readFileSync(file(dir, 'lbconfig.journal'), 'utf8'), '');
  // And the rewritten files load to the same state.
  assert.deepEqual(new ConfigStore(dir).load(), want);
});

test('an old file with an invalid record stops the start too, naming the record', () => {
  const dir = freshDir();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file(dir, 'ciconfig.json'), JSON.stringify({ Attr: [{ instance: 'llb-inst0', state: 'MASTER', vip: '10.0.0.1' }, { instance: 'x', state: 'LEADER' }] }, null, 1));
  assert.match(loadError(dir), /ciconfig\.json line 1: record 2: invalid state/);
});

test('quarantine: bad records are moved to <file>.rejected with a warning, the rest loads, and the files are rewritten clean', async () => {
  const dir = freshDir();
  await savedRules(dir, [rule('10.0.0.1', 80)]);
  const p = file(dir, 'lbconfig.journal');
  fs.appendFileSync(p, signedLine({ set: { serviceArguments: { externalIP: '999.0.4.51', port: 80, protocol: 'tcp' }, endpoints: [] } }, 2));
  fs.appendFileSync(p, 'garbage that is no journal line\n');
  fs.appendFileSync(p, signedLine({ set: rule('10.0.0.3', 80) }, 3));
  const warnings: string[] = [];
  const log = { warn: (_o: unknown, m: string) => warnings.push(m), info: () => undefined } as never;
  const s = new ConfigStore(dir, { quarantine: true, log }).load();
  assert.deepEqual(s.rules.map((r) => r.serviceArguments.externalIP), ['10.0.0.1', '10.0.0.3']);
  const rejected = fs.readFileSync(`${p}.rejected`, 'utf8');
  assert.match(rejected, /line 2: invalid serviceArguments\.externalIP/);
  assert.match(rejected, /999\.0\.4\.51/);
  assert.match(rejected, /line 3: not a journal line/);
  assert.ok(warnings.some((w) => /moved aside/.test(w)));
  // Rewritten: a plain start now loads without complaint.
  assert.deepEqual(new ConfigStore(dir).load().rules.map((r) => r.serviceArguments.externalIP), ['10.0.0.1', '10.0.0.3']);
});

test('every file round-trips through the checksummed format, and no temp file is left behind', () => {
  const dir = freshDir();
  const store = new ConfigStore(dir);
  store.saveCiStates([{ instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' }]);
  store.saveBgp({ localAs: 4200000000, routerId: '10.0.0.1', listenPort: 179, setNextHopSelf: false }, [{ ipAddress: 'fd00::1', remoteAs: 65001, remotePort: 0, setMultiHop: true }]);
  store.saveBfdSessions([{ instance: 'llb-inst0', remoteIp: '10.0.0.2', intervalUs: 10000, multiplier: 3 }]);
  const s = new ConfigStore(dir).load();
  assert.deepEqual(s.ciStates, [{ instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' }]);
  assert.deepEqual(s.bgpGlobal, { localAs: 4200000000, routerId: '10.0.0.1', listenPort: 179, setNextHopSelf: false });
  assert.deepEqual(s.bgpNeighbors, [{ ipAddress: 'fd00::1', remoteAs: 65001, remotePort: 0, setMultiHop: true }]);
  assert.deepEqual(s.bfdSessions, [{ instance: 'llb-inst0', remoteIp: '10.0.0.2', sourceIp: undefined, intervalUs: 10000, multiplier: 3 }]);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});
