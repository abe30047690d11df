import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoxiAgentPool, type AgentPoolConfig } from '../../src/kube/LoxiAgentPool.ts';
import { agentOrigin, originHost } from '../../src/apiclient/origin.ts';
import type { AgentInfo, AgentPoolEvents } from '../../src/kube/agentPool.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import type { KubeLoxilbConfig } from '../../src/cli/kubeLoxilbFlags.ts';
import { FakeLoxiAgent } from '../lab/FakeLoxiAgent.ts';
import { PERIOD, PoolFixture, poolConfig } from '../lab/agentPoolFixture.ts';


const cfg = (over: Partial<AgentPoolConfig> = {}): AgentPoolConfig => poolConfig({ ...over });

const rule = (ip: string, port: number, extra: Partial<LbRule['serviceArguments']> = {}): LbRule => ({
  serviceArguments: { externalIP: ip, port, protocol: 'tcp', sel: 0, bgp: false, monitor: false, mode: 0, block: 0, managed: true, name: 'default_web:llb-inst0', ...extra },
  endpoints: [
    { endpointIP: '10.0.0.1', targetPort: 30080, weight: 1 },
    { endpointIP: '10.0.0.2', targetPort: 30080, weight: 1 },
  ],
  secondaryIPs: [],
  allowedSources: [],
});

const fx = new PoolFixture(11);
afterEach(() => fx.close());

const fakes = (n: number, opts: Parameters<typeof FakeLoxiAgent.start>[0] = {}) => fx.fakes(n, opts);

const pool = (config: AgentPoolConfig) => fx.pool(config);

/** Records events with the time they fired. */
function record(p: LoxiAgentPool) {
  const events: { ev: keyof AgentPoolEvents; id?: string; at: number; agents?: readonly AgentInfo[] }[] = [];
  p.on('agentUp', (a) => events.push({ ev: 'agentUp', id: a.id, at: fx.clock.now() }));
  p.on('agentDown', (a) => events.push({ ev: 'agentDown', id: a.id, at: fx.clock.now() }));
  p.on('agentsChanged', (agents) => events.push({ ev: 'agentsChanged', at: fx.clock.now(), agents }));
  return events;
}

test('a parsed KubeLoxilbConfig is an AgentPoolConfig', () => {
  const fromFlags = (c: KubeLoxilbConfig): AgentPoolConfig => c;
  assert.equal(typeof fromFlags, 'function');
});

test('agentOrigin and originHost', () => {
  assert.equal(agentOrigin('192.168.80.10'), 'http://192.168.80.10:11111');
  assert.equal(agentOrigin(' fd00:80:0::10 '), 'http://[fd00:80::10]:11111');
  assert.equal(agentOrigin('::ffff:192.168.80.10'), 'http://192.168.80.10:11111');
  assert.equal(agentOrigin('fd00:80::10', { https: true }), 'https://[fd00:80::10]:8091');
  assert.equal(agentOrigin('192.168.80.10', { port: 8080 }), 'http://192.168.80.10:8080');
  assert.equal(originHost('http://[fd00:80::10]:11111'), 'fd00:80::10');
  assert.equal(originHost('http://192.168.80.10:11111/'), '192.168.80.10');
  assert.equal(originHost('not a url'), undefined);
});

test('static --loxiURL agents: agentUp for each, agentDown and agentUp again within one period', async () => {
  const [a, b] = await fakes(2);
  const p = pool(cfg({ loxiURLs: [a!.url, `${b!.url}/`] }));
  assert.deepEqual(
    p.agents().map((x) => [x.id, x.kind, x.nodeAddress, x.alive]),
    [
      [a!.url, 'lb', '127.0.0.11', false],
      [b!.url, 'lb', '127.0.0.12', false],
    ],
  );
  const events = record(p);
  p.start();
  await fx.until(p, () => events.filter((e) => e.ev === 'agentUp').length === 2, 'two agentUp');
  assert.deepEqual(p.liveLbAgents().map((x) => x.id), [a!.url, b!.url]);
  assert.equal(p.agents()[0]!.lastSeenMs, fx.clock.epochMs(), 'lastSeenMs is the wall time of the answer');

  const killedAt = fx.clock.now();
  await b!.die();
  await fx.until(p, () => events.find((e) => e.ev === 'agentDown'), 'agentDown');
  const down = events.find((e) => e.ev === 'agentDown')!;
  assert.equal(down.id, b!.url);
  assert.ok(down.at - killedAt <= PERIOD, `down detected after ${down.at - killedAt} ms`);
  assert.deepEqual(p.liveLbAgents().map((x) => x.id), [a!.url]);

  const back = fx.clock.now();
  await b!.restart();
  await fx.until(p, () => events.some((e) => e.ev === 'agentUp' && e.at >= back), 'agentUp again');
  const up = events.filter((e) => e.ev === 'agentUp' && e.at >= back).at(-1)!;
  assert.equal(up.id, b!.url);
  assert.ok(up.at - back <= PERIOD, `up detected after ${up.at - back} ms`);
  // Steady state: no more events.
  const n = events.length;
  await fx.advance(p, PERIOD * 3);
  assert.equal(events.length, n);
});

test('syncRules: adds, then a second call posts nothing; deletes only owned rules; foreign rules are reported, not touched', async () => {
  const [a] = await fakes(1);
  const p = pool(cfg({ loxiURLs: [a!.url] }));
  await p.checkNow();
  // Rules made by hand and another zone's rule: never ours to delete.
  a!.rules.set('x', { serviceArguments: { externalIP: '9.9.9.9', port: 80, protocol: 'tcp', name: 'handmade' }, endpoints: [] });
  a!.rules.set('y', { serviceArguments: { externalIP: '9.9.9.8', port: 80, protocol: 'tcp', managed: true, name: 'default_web:other-inst0' }, endpoints: [] });
  const rules = [rule('123.123.123.1', 80), rule('123.123.123.1', 443)];
  assert.deepEqual(await p.syncRules(a!.url, rules), { added: 2, modified: 0, deleted: 0, errors: [] });
  const posts = a!.callsTo('POST', '/config/loadbalancer').length;
  assert.deepEqual(await p.syncRules(a!.url, rules), { added: 0, modified: 0, deleted: 0, errors: [] });
  assert.equal(a!.callsTo('POST', '/config/loadbalancer').length, posts, 'the second sync posts nothing');

  // A changed endpoint list is a modify; a dropped rule is a delete (with bgp and block in the query).
  const changed = rule('123.123.123.1', 80);
  changed.endpoints = [{ endpointIP: '10.0.0.3', targetPort: 30080, weight: 1 }];
  assert.deepEqual(await p.syncRules(a!.url, [changed]), { added: 0, modified: 1, deleted: 1, errors: [] });
  const del = a!.callsTo('DELETE', '/config/loadbalancer/').at(-1)!;
  assert.equal(del.path, '/netlox/v1/config/loadbalancer/externalipaddress/123.123.123.1/port/443/protocol/tcp');
  assert.equal(del.query.get('bgp'), 'false');
  assert.deepEqual([...a!.rules.keys()].sort(), ['123.123.123.1|80-80|tcp|0', 'x', 'y']);

  // A desired rule on a VIP:port someone else holds is a conflict: reported, left alone.
  const r = await p.syncRules(a!.url, [changed, rule('9.9.9.9', 80)]);
  assert.equal(r.added + r.modified + r.deleted, 0);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]!, /9\.9\.9\.9:80\/tcp .* not kube-loxilb's/);
  assert.equal(a!.rules.get('x').serviceArguments.name, 'handmade');
});

test('a hidden field (privateIP) change is re-sent thanks to lastPosted', async () => {
  const [a] = await fakes(1);
  const p = pool(cfg({ loxiURLs: [a!.url] }));
  await p.checkNow();
  await p.syncRules(a!.url, [rule('123.123.123.2', 80, { privateIP: '10.1.1.1' })]);
  const r = await p.syncRules(a!.url, [rule('123.123.123.2', 80, { privateIP: '10.1.1.2' })]);
  assert.equal(r.modified, 1);
  assert.equal([...a!.rules.values()][0].serviceArguments.privateIP, '10.1.1.2');
});

test('a restarted (empty) agent gets all its rules back without another syncRules call', async () => {
  const [a, b] = await fakes(2);
  const p = pool(cfg({ loxiURLs: [a!.url, b!.url] }));
  const events = record(p);
  p.start();
  await fx.until(p, () => p.liveLbAgents().length === 2);
  const rules = [rule('123.123.123.1', 80), rule('123.123.123.1', 443), rule('123.123.123.2', 8080)];
  for (const x of p.liveLbAgents()) assert.equal((await p.syncRules(x.id, rules)).added, 3);

  await b!.die();
  await fx.until(p, () => events.some((e) => e.ev === 'agentDown'), 'agentDown');
  // While it is down, syncRules reports it and keeps the rules for later.
  const more = [...rules, rule('123.123.123.3', 80)];
  const r = await p.syncRules(b!.url, more);
  assert.equal(r.added, 0);
  assert.match(r.errors[0]!, /is down; its rules are applied when it answers again/);

  await b!.restart();
  assert.equal(b!.rules.size, 0);
  await fx.until(p, () => b!.rules.size === 4, 'all four rules back on the restarted agent');
  assert.ok(events.some((e) => e.ev === 'agentUp' && e.id === b!.url && e.at > 0));
  assert.equal(a!.rules.size, 3, 'the other agent is untouched');
});

test('a restart between two probes is noticed from the reported uptime', async () => {
  const a = await FakeLoxiAgent.start({ host: '127.0.0.21', uptimeSeconds: 100 });
  fx.onCleanup(() => a.close());
  const p = pool(cfg({ loxiURLs: [a.url], roleHealthPeriodMs: 60_000 }));
  const events = record(p);
  await p.checkNow();
  await p.syncRules(a.url, [rule('123.123.123.1', 80)]);
  assert.equal(events.filter((e) => e.ev === 'agentUp').length, 1);
  await a.restart();
  await p.checkNow();
  assert.equal(events.filter((e) => e.ev === 'agentUp').length, 2, 'agentUp again although no probe failed');
  assert.equal(events.filter((e) => e.ev === 'agentDown').length, 0);
  await fx.until(p, () => a.rules.size === 1);
});

test('transient failures are retried with backoff; refusals are reported, not retried', async () => {
  const [a] = await fakes(1);
  const p = pool(cfg({ loxiURLs: [a!.url], roleHealthPeriodMs: 60_000 }));
  await p.checkNow();
  a!.fail('POST', '/config/loadbalancer', 503, 'netrpc call timeout');
  const r = await p.syncRules(a!.url, [rule('123.123.123.1', 80)]);
  assert.equal(r.added, 0);
  assert.match(r.errors[0]!, /HTTP 503/);
  await fx.advance(p, 999);
  assert.equal(a!.rules.size, 0, 'no retry before the backoff');
  await fx.advance(p, 1);
  assert.equal(a!.rules.size, 1, 'the retry after 1 s');

  a!.fail('POST', '/config/loadbalancer', 400, 'malformed arguments');
  const bad = await p.syncRules(a!.url, [rule('123.123.123.1', 80), rule('123.123.123.5', 80)]);
  assert.equal(bad.added, 0);
  assert.match(bad.errors[0]!, /HTTP 400: malformed/);
  const posts = a!.callsTo('POST', '/config/loadbalancer').length;
  await fx.advance(p, 1500);
  assert.equal(a!.callsTo('POST', '/config/loadbalancer').length, posts, 'no retry of a refusal');
});

test('syncRules calls for one agent run one at a time, in order', async () => {
  const [a] = await fakes(1);
  const p = pool(cfg({ loxiURLs: [a!.url], roleHealthPeriodMs: 60_000 }));
  await p.checkNow();
  const results = await Promise.all([
    p.syncRules(a!.url, [rule('123.123.123.1', 80)]),
    p.syncRules(a!.url, [rule('123.123.123.1', 80), rule('123.123.123.2', 80)]),
    p.syncRules(a!.url, [rule('123.123.123.2', 80)]),
  ]);
  assert.deepEqual(results.map((r) => [r.added, r.deleted]), [[1, 0], [1, 0], [0, 1]]);
  assert.deepEqual([...a!.rules.keys()], ['123.123.123.2|80-80|tcp|0']);
});

test('unknown and peer-only agents: syncRules resolves with an error, never throws', async () => {
  const [peer] = await fakes(1, { peer: true });
  const p = pool(cfg());
  p.setDiscovered([{ url: peer!.url, kind: 'peer', nodeAddress: '10.0.0.9' }]);
  assert.match((await p.syncRules('http://nowhere:1', [])).errors[0]!, /unknown agent/);
  assert.match((await p.syncRules(peer!.url, [])).errors[0]!, /peer-only/);
});

test('discovery: agentsChanged on additions and removals; new agents probed at once; --loxiURL keeps discovered LB agents out', async () => {
  const [a, b, w] = await fakes(3);
  const p = pool(cfg({ roleHealthPeriodMs: 60_000 }));
  const events = record(p);
  p.start();
  await p.whenIdle();
  p.setDiscovered([
    { url: a!.url, kind: 'lb', nodeAddress: '10.0.0.1' },
    { url: b!.url, kind: 'lb', nodeAddress: '10.0.0.2' },
    { url: w!.url, kind: 'peer', nodeAddress: '10.0.0.3' },
  ]);
  const changed = events.filter((e) => e.ev === 'agentsChanged');
  assert.equal(changed.length, 1);
  assert.deepEqual(changed[0]!.agents!.map((x) => [x.kind, x.nodeAddress]), [['lb', '10.0.0.1'], ['lb', '10.0.0.2'], ['peer', '10.0.0.3']]);
  // The period is a minute: these come from the immediate round.
  await fx.until(p, () => events.filter((e) => e.ev === 'agentUp').length === 3, 'three agentUp', 0);
  assert.deepEqual(p.liveLbAgents().map((x) => x.nodeAddress), ['10.0.0.1', '10.0.0.2']);

  p.setDiscovered([{ url: a!.url, kind: 'lb', nodeAddress: '10.0.0.1' }, { url: w!.url, kind: 'peer', nodeAddress: '10.0.0.3' }]);
  assert.equal(events.filter((e) => e.ev === 'agentsChanged').length, 2);
  assert.deepEqual(p.agents().map((x) => x.nodeAddress), ['10.0.0.1', '10.0.0.3']);
  // The same list again changes nothing.
  p.setDiscovered([{ url: a!.url, kind: 'lb', nodeAddress: '10.0.0.1' }, { url: w!.url, kind: 'peer', nodeAddress: '10.0.0.3' }]);
  assert.equal(events.filter((e) => e.ev === 'agentsChanged').length, 2);

  const s = pool(cfg({ loxiURLs: [a!.url], roleHealthPeriodMs: 60_000 }));
  s.setDiscovered([
    { url: b!.url, kind: 'lb', nodeAddress: '10.0.0.2' },
    { url: w!.url, kind: 'peer', nodeAddress: '10.0.0.3' },
  ]);
  assert.deepEqual(s.agents().map((x) => [x.kind, x.id]), [['lb', a!.url], ['peer', w!.url]]);
});

test('close() stops the health loop and is idempotent', async () => {
  const [a] = await fakes(1);
  const p = new LoxiAgentPool({ config: cfg({ loxiURLs: [a!.url] }), clock: fx.clock });
  p.start();
  await fx.until(p, () => p.liveLbAgents().length === 1);
  await fx.advance(p, PERIOD);
  const before = a!.callsTo('GET', '/status').length;
  assert.ok(before >= 2, 'the health loop ran on the clock');
  await p.close();
  await p.close();
  assert.equal(fx.clock.pending, 0, 'no timer left');
  await fx.clock.advance(PERIOD * 3);
  assert.equal(a!.callsTo('GET', '/status').length, before);
});
