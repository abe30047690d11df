import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpReconciler } from '../../src/bgp/BgpReconciler.ts';
import { LOCAL_PATH_LOCAL_PREF, ROLE_ATTRIBUTES, VipTable } from '../../src/bgp/VipTable.ts';
import type { CiStateName } from '../../src/ha/ClusterState.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeClock } from '../lab/FakeClock.ts';
import { FakeGobgp } from '../lab/FakeGobgp.ts';

const global = { localAs: 64512, routerId: '10.0.0.1', listenPort: 0, setNextHopSelf: true };
const timers = { connectRetry: 5, holdTime: 90, keepalive: 30 };
const vip = (i: number) => `10.1.${i >> 8}.${i & 255}`;
const neighbor = { ipAddress: '10.0.0.254', remoteAs: 65101, remotePort: 0, setMultiHop: false };

/** A VIP table with rules 0..n-1, one VIP each, in llb-inst0 with the given role. */
function table(n: number, role: CiStateName = 'MASTER'): VipTable {
  const t = new VipTable();
  t.setCiStates(new Map([['llb-inst0', { instance: 'llb-inst0', state: role, vip: '0.0.0.0' }]]));
  for (let i = 0; i < n; i++) t.setOffer(`r${i}`, { instance: 'llb-inst0', ips: [vip(i)] });
  return t;
}
const setRole = (t: VipTable, state: CiStateName) => t.setCiStates(new Map([['llb-inst0', { instance: 'llb-inst0', state, vip: '0.0.0.0' }]]));

function setup() {
  const fake = new FakeGobgp();
  const clock = new FakeClock();
  const rec = new BgpReconciler(fake, silentLogger, 30_000, clock);
  return { fake, rec, clock };
}

test('a burst of changes is one pass: one set append and one AddPathStream', async () => {
  const { fake, rec, clock } = setup();
  rec.setConfig({ global, neighbors: [neighbor], timers });
  const t = table(0);
  rec.setVipSource(t);
  for (let i = 0; i < 100; i++) {
    t.setOffer(`r${i}`, { instance: 'llb-inst0', ips: [vip(i)] });
    rec.kick();
  }
  await clock.until(rec.whenIdle());
  assert.deepEqual(fake.calls.filter((c) => /^(addPaths|addSet)/.test(c)), ['addSet loxilb-vip4-llb-inst0 100', 'addPaths 100']);
  assert.equal(rec.stats.passes, 1);
  assert.ok(fake.calls.includes('startBgp'));
  assert.ok(fake.calls.includes('addPeer 10.0.0.254'));
  assert.equal(rec.advertisedCount, 100);
  assert.deepEqual(fake.exported(vip(42)), { med: 10, localPref: 5000 });
  // In its own RIB a node prefers its own path to a VIP over any a mesh peer sends (those carry at most the MASTER's 5000).
  assert.equal(fake.rib.get(vip(42))?.localPref, LOCAL_PATH_LOCAL_PREF);
  assert.ok(LOCAL_PATH_LOCAL_PREF > ROLE_ATTRIBUTES.MASTER.localPref);
});

test('a role flip swaps one policy and soft-resets peers, without touching a path', async () => {
  const { fake, rec, clock } = setup();
  const t = table(50);
  rec.setConfig({ global, neighbors: [neighbor], timers });
  rec.setVipSource(t);
  await clock.until(rec.whenIdle());
  fake.peers[0]!.sessionState = 'ESTABLISHED';
  fake.calls = [];
  setRole(t, 'BACKUP');
  rec.kick();
  await clock.until(rec.whenIdle());
  assert.deepEqual(
    fake.calls.filter((c) => !/^(getBgp)/.test(c)),
    ['addPolicy loxilb-role-g2', 'setExport set-next-hop-self-gpolicy,loxilb-role-g2', 'deletePolicy loxilb-role-g1', 'softReset'],
  );
  assert.deepEqual(fake.exported(vip(7)), { med: 20, localPref: 100 });
  // No role: no attributes at all (ECMP), and no role policy left.
  setRole(t, 'NOT_DEFINED');
  rec.kick();
  await clock.until(rec.whenIdle());
  assert.deepEqual(fake.exported(vip(7)), {});
  assert.deepEqual(fake.policies.map((p) => p.name), ['set-next-hop-self-gpolicy']);
  assert.equal(fake.rib.size, 50);
});

test('FAULT withdraws every VIP of the instance and drops its set; MASTER brings them back', async () => {
  const { fake, rec, clock } = setup();
  const t = table(5);
  rec.setConfig({ global, neighbors: [], timers });
  rec.setVipSource(t);
  await clock.until(rec.whenIdle());
  setRole(t, 'FAULT');
  rec.kick();
  await clock.until(rec.whenIdle());
  assert.equal(fake.rib.size, 0);
  assert.equal(fake.sets.size, 0);
  assert.ok(!fake.policies.some((p) => p.name.startsWith('loxilb-role')));
  setRole(t, 'MASTER');
  rec.kick();
  await clock.until(rec.whenIdle());
  assert.equal(fake.rib.size, 5);
  assert.deepEqual(fake.exported(vip(3)), { med: 10, localPref: 5000 });
});

test('removing VIPs removes their set members; the last one removes the set', async () => {
  const { fake, rec, clock } = setup();
  const t = table(10);
  rec.setConfig({ global, neighbors: [], timers });
  rec.setVipSource(t);
  await clock.until(rec.whenIdle());
  for (let i = 3; i < 10; i++) t.setOffer(`r${i}`, undefined);
  rec.kick();
  await clock.until(rec.whenIdle());
  assert.equal(fake.rib.size, 3);
  assert.equal(fake.sets.get('loxilb-vip4-llb-inst0')?.size, 3);
  for (let i = 0; i < 3; i++) t.setOffer(`r${i}`, undefined);
  rec.kick();
  await clock.until(rec.whenIdle());
  assert.equal(fake.rib.size, 0);
  assert.equal(fake.sets.size, 0);
  assert.deepEqual(fake.exportPolicies, ['set-next-hop-self-gpolicy']);
});

test('a VIP moving to another instance changes sets and soft-resets, keeping its path', async () => {
  const { fake, rec, clock } = setup();
  const t = table(1, 'BACKUP');
  rec.setConfig({ global, neighbors: [neighbor], timers });
  rec.setVipSource(t);
  await clock.until(rec.whenIdle());
  t.setCiStates(new Map([
    ['llb-inst0', { instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' }],
    ['llb-inst1', { instance: 'llb-inst1', state: 'MASTER', vip: '0.0.0.0' }],
  ]));
  t.setOffer('other', { instance: 'llb-inst1', ips: [vip(0)] });
  fake.calls = [];
  rec.kick();
  await clock.until(rec.whenIdle());
  assert.ok(!fake.calls.some((c) => c.startsWith('addPaths')));
  assert.ok(fake.calls.includes('softReset'));
  assert.deepEqual(fake.exported(vip(0)), { med: 10, localPref: 5000 });
  assert.equal(fake.sets.has('loxilb-vip4-llb-inst0'), false);
});

test('after a gobgpd restart everything is re-applied from scratch', async () => {
  const { fake, rec, clock } = setup();
  rec.setConfig({ global, neighbors: [neighbor], timers });
  rec.setVipSource(table(5));
  await clock.until(rec.whenIdle());
  // gobgpd died and came back empty.
  Object.assign(fake, new FakeGobgp());
  rec.resync();
  await clock.until(rec.whenIdle());
  assert.equal(fake.rib.size, 5);
  assert.deepEqual(fake.exportPolicies, ['set-next-hop-self-gpolicy', 'loxilb-role-g1']);
  assert.deepEqual(fake.exported(vip(4)), { med: 10, localPref: 5000 });
  assert.equal(fake.peers.length, 1);
});

test('a failing pass is retried and converges', async () => {
  const { fake, rec, clock } = setup();
  fake.failNext = 2;
  rec.setConfig({ global, neighbors: [], timers });
  rec.setVipSource(table(3));
  await clock.advance(50);
  assert.match(rec.stats.lastError ?? '', /connection refused/);
  await clock.advanceTo(499);
  assert.deepEqual(fake.calls, ['getBgp'], 'no retry before the first backoff');
  await clock.advance(1); // first backoff (500 ms): fails again
  assert.deepEqual(fake.calls, ['getBgp', 'getBgp']);
  assert.match(rec.stats.lastError ?? '', /connection refused/);
  await clock.advance(999);
  assert.equal(fake.rib.size, 0, 'the second backoff is longer');
  await clock.advance(1); // second backoff (1 s): converges
  await clock.until(rec.whenIdle());
  assert.equal(fake.rib.size, 3);
  assert.equal(rec.stats.lastError, undefined);
  rec.close();
});

test('paths and sets left in a running gobgpd that nobody wants are removed', async () => {
  const { fake, rec, clock } = setup();
  fake.global = { asn: 64512, routerId: '10.0.0.1', listenPort: 179 };
  fake.policies = [{ name: 'set-next-hop-self-gpolicy', statements: [{ name: 'set-next-hop-self-gstmt', actions: { nextHopSelf: true } }] }];
  fake.exportPolicies = ['set-next-hop-self-gpolicy'];
  fake.rib.set('9.9.9.9', { ip: '9.9.9.9', family: 4 });
  fake.sets.set('loxilb-vip4-old', new Set(['9.9.9.9/32']));
  rec.setConfig({ global, neighbors: [], timers });
  rec.setVipSource(table(1));
  await clock.until(rec.whenIdle());
  assert.deepEqual([...fake.rib.keys()], ['10.1.0.0']);
  assert.deepEqual([...fake.sets.keys()], ['loxilb-vip4-llb-inst0']);
  assert.ok(!fake.calls.includes('startBgp'), 'a running gobgpd with the right config is not restarted');
});

test('BFD down shuts the neighbour down in gobgpd; BFD up makes it anew', async () => {
  const { fake, rec, clock } = setup();
  rec.setConfig({ global, neighbors: [neighbor], timers });
  rec.setVipSource(table(1));
  await clock.until(rec.whenIdle());
  assert.equal(fake.peers[0]?.adminState, 'UP');

  fake.calls = [];
  rec.setConfig({ global, neighbors: [neighbor], timers, bfdDown: new Set([neighbor.ipAddress]) });
  await clock.until(rec.whenIdle());
  assert.deepEqual(fake.calls.filter((c) => /Peer/.test(c)), ['disablePeer 10.0.0.254']);
  assert.equal(fake.peers[0]?.adminState, 'DOWN');

  fake.calls = [];
  rec.setConfig({ global, neighbors: [neighbor], timers });
  await clock.until(rec.whenIdle());
  assert.deepEqual(fake.calls.filter((c) => /Peer/.test(c)), ['deletePeer 10.0.0.254', 'addPeer 10.0.0.254']);
  assert.equal(fake.peers[0]?.adminState, 'UP');
  assert.equal(rec.stats.lastError, undefined);
});

test('a revived neighbour that gobgpd holds Idle is made anew, once, even when the first try fails; one already Active is left alone', async () => {
  const { fake, rec, clock } = setup();
  rec.setConfig({ global, neighbors: [neighbor], timers });
  rec.setVipSource(table(1));
  await clock.until(rec.whenIdle());
  // The router's NOTIFICATION: gobgpd holds the peer Idle (admin-up) for 5 s.
  fake.peers[0]!.sessionState = 'IDLE';
  fake.calls = [];
  fake.failNext = 1;
  rec.revive(neighbor.ipAddress);
  await clock.advance(0);
  assert.match(rec.stats.lastError ?? '', /connection refused/);
  assert.deepEqual(fake.calls.filter((c) => /Peer/.test(c)), [], 'the failed pass made nothing');
  await clock.advance(500);
  await clock.until(rec.whenIdle());
  assert.deepEqual(fake.calls.filter((c) => /Peer/.test(c)), ['deletePeer 10.0.0.254', 'addPeer 10.0.0.254'], 'the retry still revives it');
  assert.equal(fake.peers[0]?.sessionState, 'ACTIVE');

  // Done once: the next pass (a VIP change) leaves the new peer alone, even if it is Idle again.
  fake.peers[0]!.sessionState = 'IDLE';
  fake.calls = [];
  rec.kickNow();
  await clock.until(rec.whenIdle());
  assert.deepEqual(fake.calls.filter((c) => /Peer/.test(c)), []);

  // A revive that finds the peer already Active (it left the hold, or the router got in) does nothing.
  fake.peers[0]!.sessionState = 'ACTIVE';
  rec.revive(neighbor.ipAddress);
  await clock.until(rec.whenIdle());
  assert.deepEqual(fake.calls.filter((c) => /Peer/.test(c)), []);
  rec.close();
});
