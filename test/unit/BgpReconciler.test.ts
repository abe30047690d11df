import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpReconciler } from '../../src/bgp/BgpReconciler.ts';
import type { GobgpClient, GlobalSpec, PeerInfo, PeerSpec } from '../../src/bgp/GobgpClient.ts';
import type { DecodedPath, VipRoute } from '../../src/bgp/pathCodec.ts';
import { silentLogger } from '../../src/util/logger.ts';

/** An in-memory stand-in for gobgpd's API, recording calls. */
class FakeGobgp {
  global: GlobalSpec = { asn: 0, routerId: '', listenPort: 0 };
  peers: PeerInfo[] = [];
  exportPolicies: string[] = [];
  policies: string[] = [];
  rib = new Map<string, VipRoute>();
  calls: string[] = [];
  failNext = 0;
  private maybeFail(name: string) {
    this.calls.push(name);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error(`gobgpd ${name}: connection refused`);
    }
  }
  async getBgp() { this.maybeFail('getBgp'); return { ...this.global }; }
  async listPeers() { return this.peers; }
  async globalExportPolicies() { return this.exportPolicies; }
  async listPolicies() { return this.policies.map((name) => ({ name, statements: [] })); }
  async startBgp(g: GlobalSpec) { this.calls.push('startBgp'); this.global = g; this.rib.clear(); this.policies = []; this.exportPolicies = []; }
  async stopBgp() { this.calls.push('stopBgp'); this.global = { asn: 0, routerId: '', listenPort: 0 }; }
  async addPolicy(p: { name: string }) { this.calls.push('addPolicy'); this.policies.push(p.name); }
  async setGlobalExportPolicies(n: string[]) { this.calls.push('setExport'); this.exportPolicies = n; }
  async addPeer(p: PeerSpec) { this.calls.push(`addPeer ${p.address}`); this.peers.push({ address: p.address, peerAsn: p.peerAsn, remotePort: p.remotePort ?? 179, multihopTtl: p.multihopTtl ?? 0, families: p.families, sessionState: 'ACTIVE', adminState: 'UP', uptime: 0, downtime: 0, received: 0, accepted: 0 }); }
  async deletePeer(a: string) { this.calls.push(`deletePeer ${a}`); this.peers = this.peers.filter((p) => p.address !== a); }
  async resetPeerSoftOut() { this.calls.push('softReset'); }
  async listPaths(f: 4 | 6): Promise<DecodedPath[]> {
    this.calls.push(`listPaths${f}`);
    return [...this.rib.values()].filter((r) => r.family === f).map((r) => ({ prefix: r.ip, prefixLen: f === 4 ? 32 : 128, family: f, med: r.med, localPref: r.localPref, best: true, withdraw: false }));
  }
  async addPaths(rs: VipRoute[]) { this.calls.push(`addPaths ${rs.length}`); for (const r of rs) this.rib.set(r.ip, r); }
  async withdrawPaths(rs: VipRoute[]) { this.calls.push(`withdraw ${rs.length}`); for (const r of rs) this.rib.delete(r.ip); }
}

const global = { localAs: 64512, routerId: '10.0.0.1', listenPort: 0, setNextHopSelf: true };
const timers = { connectRetry: 5, holdTime: 90, keepalive: 30 };
const routes = (n: number, med: number) => new Map(Array.from({ length: n }, (_, i) => [`10.1.${i >> 8}.${i & 255}`, { ip: `10.1.${i >> 8}.${i & 255}`, family: 4 as const, med }]));

function setup() {
  const fake = new FakeGobgp();
  const rec = new BgpReconciler(fake as unknown as GobgpClient, silentLogger);
  return { fake, rec };
}

test('a burst of changes is one pass and one AddPathStream', async () => {
  const { fake, rec } = setup();
  rec.setConfig({ global, neighbors: [{ ipAddress: '10.0.0.254', remoteAs: 65101, remotePort: 0, setMultiHop: false }], timers });
  let current = routes(0, 10);
  rec.setRouteSource(() => current);
  for (let n = 1; n <= 100; n++) {
    current = routes(n, 10);
    rec.kick();
  }
  await rec.whenIdle();
  assert.deepEqual(fake.calls.filter((c) => c.startsWith('addPaths')), ['addPaths 100']);
  assert.equal(rec.stats.passes, 1);
  assert.ok(fake.calls.includes('startBgp'));
  assert.ok(fake.calls.includes('addPeer 10.0.0.254'));
  assert.equal(rec.advertisedCount, 100);
});

test('a role flip re-adds every route with new attributes, without re-reading the RIB', async () => {
  const { fake, rec } = setup();
  let current = routes(50, 10);
  rec.setConfig({ global, neighbors: [], timers });
  rec.setRouteSource(() => current);
  await rec.whenIdle();
  fake.calls = [];
  current = routes(50, 20);
  rec.kick();
  await rec.whenIdle();
  assert.deepEqual(fake.calls.filter((c) => /Paths|withdraw/.test(c)), ['addPaths 50']);
  assert.equal(fake.rib.get('10.1.0.7')?.med, 20);
  current = routes(10, 20);
  rec.kick();
  await rec.whenIdle();
  assert.equal(fake.rib.size, 10);
});

test('after a gobgpd restart everything is re-applied from scratch', async () => {
  const { fake, rec } = setup();
  rec.setConfig({ global, neighbors: [{ ipAddress: '10.0.0.254', remoteAs: 65101, remotePort: 0, setMultiHop: false }], timers });
  rec.setRouteSource(() => routes(5, 10));
  await rec.whenIdle();
  // gobgpd died and came back empty.
  Object.assign(fake, new FakeGobgp());
  rec.resync();
  await rec.whenIdle();
  assert.equal(fake.rib.size, 5);
  assert.deepEqual(fake.exportPolicies, ['set-next-hop-self-gpolicy']);
  assert.equal(fake.peers.length, 1);
});

test('a failing pass is retried and converges', async () => {
  const { fake, rec } = setup();
  fake.failNext = 2;
  rec.setConfig({ global, neighbors: [], timers });
  rec.setRouteSource(() => routes(3, 10));
  await new Promise((r) => setTimeout(r, 50));
  assert.match(rec.stats.lastError ?? '', /connection refused/);
  await new Promise((r) => setTimeout(r, 2000)); // two backoffs: 500 ms, 1 s
  await rec.whenIdle();
  assert.equal(fake.rib.size, 3);
  assert.equal(rec.stats.lastError, undefined);
  rec.close();
});

test('locally originated paths left in gobgpd that nobody wants are withdrawn', async () => {
  const { fake, rec } = setup();
  fake.global = { asn: 64512, routerId: '10.0.0.1', listenPort: 179 };
  fake.policies = ['set-next-hop-self-gpolicy'];
  fake.exportPolicies = ['set-next-hop-self-gpolicy'];
  fake.rib.set('9.9.9.9', { ip: '9.9.9.9', family: 4, med: 10 });
  rec.setConfig({ global, neighbors: [], timers });
  rec.setRouteSource(() => routes(1, 10));
  await rec.whenIdle();
  assert.deepEqual([...fake.rib.keys()], ['10.1.0.0']);
  assert.ok(!fake.calls.includes('startBgp'), 'a running gobgpd with the right config is not restarted');
});
