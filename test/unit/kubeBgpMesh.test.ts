import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { type AgentPoolConfig, type DiscoveredAgent } from '../../src/kube/LoxiAgentPool.ts';
import { FakeLoxiAgent } from '../lab/FakeLoxiAgent.ts';
import { PERIOD, PoolFixture, poolConfig } from '../lab/agentPoolFixture.ts';

const AS = 64512;

const cfg = (over: Partial<AgentPoolConfig> = {}): AgentPoolConfig => poolConfig({ setBGP: AS, ...over });

const fx = new PoolFixture(41);
afterEach(() => fx.close());

const fakes = (n: number, opts: Parameters<typeof FakeLoxiAgent.start>[0] = {}) => fx.fakes(n, opts);

const pool = (config: AgentPoolConfig) => fx.pool(config, { bgpRetryMs: 200 });

const neighbors = (f: FakeLoxiAgent) => [...f.neighbors.values()].map((n) => `${n.ipAddress}/${n.remoteAs}/${n.remotePort}/${n.setMultiHop}`).sort();

/** lb1 10.0.0.1, lb2 10.0.0.2, worker 10.0.0.3 (peer). */
async function mesh(over: Partial<AgentPoolConfig> = {}) {
  const [lb1, lb2, w] = (await fakes(3)) as [FakeLoxiAgent, FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg(over));
  const all: DiscoveredAgent[] = [
    { url: lb1.url, kind: 'lb', nodeAddress: '10.0.0.1' },
    { url: lb2.url, kind: 'lb', nodeAddress: '10.0.0.2' },
    { url: w.url, kind: 'peer', nodeAddress: '10.0.0.3' },
  ];
  p.setDiscovered(all);
  p.start();
  await fx.until(p, () => [lb1, lb2, w].every((f) => f.neighbors.size > 0) && p.agents().every((a) => a.alive), 'mesh configured');
  await p.whenIdle();
  return { p, lb1, lb2, w, all };
}

test('discovered agents: global config per agent, full iBGP mesh, external peers on LB agents only', async () => {
  const { lb1, lb2, w } = await mesh({ extBGPPeers: [{ ip: '192.168.80.1', asn: 65101 }], eBGPMultiHop: true, listenBGPPort: 1179 });
  assert.deepEqual(lb1.bgpGlobal, { routerId: '10.0.0.1', localAs: AS, setNextHopSelf: true, listenPort: 1179 });
  assert.deepEqual(lb2.bgpGlobal, { routerId: '10.0.0.2', localAs: AS, setNextHopSelf: true, listenPort: 1179 });
  assert.deepEqual(w.bgpGlobal, { routerId: '10.0.0.3', localAs: AS, setNextHopSelf: false, listenPort: 1179 });
  assert.deepEqual(neighbors(lb1), ['10.0.0.2/64512/1179/false', '10.0.0.3/64512/1179/false', '192.168.80.1/65101/179/true']);
  assert.deepEqual(neighbors(lb2), ['10.0.0.1/64512/1179/false', '10.0.0.3/64512/1179/false', '192.168.80.1/65101/179/true']);
  assert.deepEqual(neighbors(w), ['10.0.0.1/64512/1179/false', '10.0.0.2/64512/1179/false']);
});

test('with --loxiURL, LB agents do not peer with each other; discovered peers still mesh with them', async () => {
  const [lb1, lb2, w] = (await fakes(3)) as [FakeLoxiAgent, FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg({ loxiURLs: [lb1.url, lb2.url] }));
  p.setDiscovered([{ url: w.url, kind: 'peer', nodeAddress: '127.0.0.43' }]);
  p.start();
  await fx.until(p, () => w.neighbors.size === 2 && lb1.neighbors.size === 1 && lb2.neighbors.size === 1);
  assert.deepEqual(neighbors(lb1), ['127.0.0.43/64512/179/false']);
  assert.deepEqual(neighbors(w), ['127.0.0.41/64512/179/false', '127.0.0.42/64512/179/false']);
  assert.equal(lb1.bgpGlobal.routerId, '127.0.0.41', 'router-id is the URL host');
});

test('steady state sends nothing; an agent that vanishes is removed from every other agent, with ?remoteAs', async () => {
  const { p, lb1, lb2, w, all } = await mesh();
  const posts = () => [lb1, lb2, w].map((f) => f.calls.filter((c) => c.method !== 'GET').length);
  const before = posts();
  await fx.advance(p, PERIOD * 3);
  assert.deepEqual(posts(), before, 'no writes while nothing changes');

  // Neighbours someone configured by hand are left alone.
  lb1.neighbors.set('172.16.0.9', { ipAddress: '172.16.0.9', remoteAs: 65000 });
  p.setDiscovered(all.filter((a) => a.url !== lb2.url));
  await fx.until(p, () => !lb1.neighbors.has('10.0.0.2') && !w.neighbors.has('10.0.0.2'), 'peers of the vanished agent removed');
  await p.whenIdle();
  const del = lb1.callsTo('DELETE', '/config/bgp/neigh/10.0.0.2');
  assert.equal(del.length, 1);
  assert.equal(del[0]!.query.get('remoteAs'), String(AS));
  assert.deepEqual(neighbors(lb1), ['10.0.0.3/64512/179/false', '172.16.0.9/65000/undefined/undefined']);
  assert.deepEqual(neighbors(w), ['10.0.0.1/64512/179/false']);

  // It comes back: everyone peers with it again.
  p.setDiscovered(all);
  await fx.until(p, () => lb1.neighbors.has('10.0.0.2') && w.neighbors.has('10.0.0.2') && lb2.neighbors.size === 2);
});

test('a restarted (empty) agent gets its global config and neighbours back; the others are not rewritten', async () => {
  const { p, lb1, lb2, w } = await mesh();
  const writes = (f: FakeLoxiAgent) => f.calls.filter((c) => c.method !== 'GET').length;
  const before = [writes(lb1), writes(w)];
  await lb2.die();
  await fx.advance(p, PERIOD * 2);
  await lb2.restart();
  await fx.until(p, () => lb2.bgpGlobal !== undefined && lb2.neighbors.size === 2, 'lb2 reconfigured');
  assert.deepEqual(neighbors(lb2), ['10.0.0.1/64512/179/false', '10.0.0.3/64512/179/false']);
  assert.deepEqual([writes(lb1), writes(w)], before);
});

test('a failing agent is retried; one that refuses BGP (no --bgp) is skipped without retries', async () => {
  const [lb1, nobgp] = (await fakes(1)).concat(await fakes(1, { host: '127.0.0.49', bgp: false })) as [FakeLoxiAgent, FakeLoxiAgent];
  const p = pool(cfg());
  lb1.fail('POST', '/config/bgp/neigh', 503, 'gobgpd not ready', 2);
  p.setDiscovered([
    { url: lb1.url, kind: 'lb', nodeAddress: '10.0.0.1' },
    { url: nobgp.url, kind: 'lb', nodeAddress: '10.0.0.9' },
  ]);
  p.start();
  await fx.until(p, () => lb1.neighbors.has('10.0.0.9'), 'lb1 configured after retries');
  await p.whenIdle();
  const tries = nobgp.calls.filter((c) => c.path.includes('/bgp/')).length;
  assert.equal(tries, 1, 'one refused global post');
  await fx.advance(p, 600);
  assert.equal(nobgp.calls.filter((c) => c.path.includes('/bgp/')).length, tries);
});
