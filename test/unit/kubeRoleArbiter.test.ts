import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentPoolConfig } from '../../src/kube/LoxiAgentPool.ts';
import { FakeLoxiAgent } from '../lab/FakeLoxiAgent.ts';
import { PERIOD, PoolFixture, poolConfig } from '../lab/agentPoolFixture.ts';


const cfg = (over: Partial<AgentPoolConfig> = {}): AgentPoolConfig => poolConfig({ setRoles: '0.0.0.0', ...over });

const fx = new PoolFixture(31);
afterEach(() => fx.close());

const fakes = (n: number, opts: Parameters<typeof FakeLoxiAgent.start>[0] = {}) => fx.fakes(n, opts);

const pool = (config: AgentPoolConfig) => fx.pool(config);

const masters = (fs: FakeLoxiAgent[], instance = 'llb-inst0') => fs.filter((f) => f.alive && f.role(instance) === 'MASTER');

test('one MASTER, the others BACKUP, with the --setRoles vip; nothing re-posted while nothing changes', async () => {
  const fs = await fakes(3);
  const p = pool(cfg({ loxiURLs: fs.map((f) => f.url), setRoles: '192.168.80.252' }));
  p.start();
  await fx.until(p, () => fs.every((f) => f.role() !== undefined), 'every agent told its role');
  assert.deepEqual(fs.map((f) => f.role()), ['MASTER', 'BACKUP', 'BACKUP']);
  assert.deepEqual(fs.map((f) => f.ciStates.get('llb-inst0')!.vip), ['192.168.80.252', '192.168.80.252', '192.168.80.252']);
  assert.deepEqual(p.masters(), { 'llb-inst0': fs[0]!.url });
  await fx.advance(p, PERIOD * 4);
  assert.deepEqual(fs.map((f) => f.rolePosts().length), [1, 1, 1], 'one post each');
});

test('the MASTER dies: another is told MASTER within one health period; the old one comes back as BACKUP', async () => {
  const fs = await fakes(2);
  const [a, b] = fs as [FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg({ loxiURLs: [a.url, b.url] }));
  p.start();
  await fx.until(p, () => a.role() === 'MASTER' && b.role() === 'BACKUP');

  await a.die();
  const took = await fx.until(p, () => b.role() === 'MASTER', 'b to be told MASTER');
  // One period until the next round, then the failed probe and the post.
  assert.ok(took <= PERIOD, `new MASTER after ${took} ms (period ${PERIOD} ms)`);
  assert.deepEqual(p.masters(), { 'llb-inst0': b.url });

  await a.restart();
  await fx.until(p, () => a.role() === 'BACKUP', 'the restarted agent told BACKUP (no preemption)');
  assert.equal(b.role(), 'MASTER');
  assert.deepEqual(b.rolePosts(), ['llb-inst0=BACKUP', 'llb-inst0=MASTER']);
});

test('excluded agents are never MASTER, even when they are the only ones left', async () => {
  const fs = await fakes(3);
  const [a, b, c] = fs as [FakeLoxiAgent, FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg({ loxiURLs: fs.map((f) => f.url), excludeRoleList: [a.host, c.host] }));
  p.start();
  await fx.until(p, () => fs.every((f) => f.role() !== undefined));
  assert.deepEqual(fs.map((f) => f.role()), ['BACKUP', 'MASTER', 'BACKUP']);
  await b.die();
  await fx.until(p, () => p.masters()['llb-inst0'] === undefined, 'no MASTER left');
  await fx.advance(p, PERIOD * 3);
  assert.equal(masters(fs).length, 0);
  await b.restart();
  await fx.until(p, () => b.role() === 'MASTER');
  for (const f of [a, c]) assert.ok(!f.rolePosts().some((x) => x.endsWith('=MASTER')), `${f.host} was never told MASTER`);
});

test('a hung MASTER (health checks time out) is replaced, and told BACKUP when it answers again', async () => {
  const fs = await fakes(2);
  const [a, b] = fs as [FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg({ loxiURLs: [a.url, b.url] }));
  p.start();
  await fx.until(p, () => a.role() === 'MASTER' && b.role() === 'BACKUP');
  a.hang = true;
  await fx.until(p, () => b.role() === 'MASTER');
  a.hang = false;
  await fx.until(p, () => a.role() === 'BACKUP', 'the old MASTER told BACKUP when it answers again');
  assert.equal(b.role(), 'MASTER');
});

test('rebalance (--setUniqueIP): the MASTER that gives up an instance is told BACKUP before the other is told MASTER', async () => {
  const fs = await fakes(2);
  const [a, b] = fs as [FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg({ loxiURLs: [a.url, b.url], numZoneInstances: 2, setUniqueIP: true }));
  await b.die();
  p.start();
  await fx.until(p, () => a.role('llb-inst0') === 'MASTER' && a.role('llb-inst1') === 'MASTER');
  await b.restart();
  await fx.until(p, () => b.role('llb-inst1') === 'MASTER');
  assert.equal(a.role('llb-inst1'), 'BACKUP');
  assert.equal(a.role('llb-inst0'), 'MASTER');
  const demote = a.calls.find((x) => x.path.endsWith('/cistate') && x.body.instance === 'llb-inst1' && x.body.state === 'BACKUP')!;
  const promote = b.calls.find((x) => x.path.endsWith('/cistate') && x.body.instance === 'llb-inst1' && x.body.state === 'MASTER')!;
  assert.ok(demote.seq < promote.seq, 'BACKUP answered before MASTER was sent');
});

test('several instances spread over the agents; zone other than llb mirrors its first instance as llb-inst0', async () => {
  const fs = await fakes(2);
  const [a, b] = fs as [FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg({ loxiURLs: [a.url, b.url], zone: 'aws', numZoneInstances: 2 }));
  p.start();
  await fx.until(p, () => fs.every((f) => f.ciStates.size === 3));
  assert.deepEqual([a.role('aws-inst0'), a.role('aws-inst1'), a.role('llb-inst0')], ['MASTER', 'BACKUP', 'MASTER']);
  assert.deepEqual([b.role('aws-inst0'), b.role('aws-inst1'), b.role('llb-inst0')], ['BACKUP', 'MASTER', 'BACKUP']);
  await b.die();
  await fx.until(p, () => a.role('aws-inst1') === 'MASTER');
  assert.deepEqual(p.masters(), { 'aws-inst0': a.url, 'aws-inst1': a.url });
});

test('a failed post is retried at the next round; peer agents get no CI state', async () => {
  const fs = await fakes(2);
  const [a, w] = fs as [FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg());
  a.fail('POST', '/config/cistate', 503, 'netrpc call timeout');
  p.setDiscovered([
    { url: a.url, kind: 'lb', nodeAddress: '10.0.0.1' },
    { url: w.url, kind: 'peer', nodeAddress: '10.0.0.2' },
  ]);
  p.start();
  await fx.until(p, () => a.role() === 'MASTER');
  assert.equal(a.callsTo('POST', '/config/cistate').length, 2);
  assert.equal(w.callsTo('POST', '/config/cistate').length, 0);
});

test('a MASTER removed from discovery is replaced at once, not a period later', async () => {
  const fs = await fakes(2);
  const [a, b] = fs as [FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg({ roleHealthPeriodMs: 60_000 }));
  const list = [
    { url: a.url, kind: 'lb' as const, nodeAddress: '10.0.0.1' },
    { url: b.url, kind: 'lb' as const, nodeAddress: '10.0.0.2' },
  ];
  p.setDiscovered(list);
  p.start();
  await fx.until(p, () => a.role() === 'MASTER' && b.role() === 'BACKUP');
  p.setDiscovered(list.slice(1));
  const took = await fx.until(p, () => b.role() === 'MASTER', 'b told MASTER (the period is a minute)');
  assert.equal(took, 0, 'at once');
  assert.deepEqual(p.masters(), { 'llb-inst0': b.url });
});

test('a new controller keeps the MASTER the agents already report instead of electing from scratch', async () => {
  const fs = await fakes(2);
  const [a, b] = fs as [FakeLoxiAgent, FakeLoxiAgent];
  // What an earlier controller left: b is MASTER (a would win a fresh election by order).
  a.ciStates.set('llb-inst0', { instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' });
  b.ciStates.set('llb-inst0', { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
  const p = pool(cfg({ loxiURLs: fs.map((f) => f.url) }));
  p.start();
  await fx.until(p, () => p.masters()['llb-inst0'] !== undefined, 'a MASTER known');
  assert.equal(p.masters()['llb-inst0'], b.url);
  await fx.advance(p, PERIOD * 3);
  assert.equal(b.role(), 'MASTER');
  assert.equal(a.role(), 'BACKUP');
  assert.equal(masters(fs).length, 1);
});
