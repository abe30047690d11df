// Issue 15: the router drops BFD with both LB nodes at once. Each node's
// sessions with it (IPv4 and IPv6 here) come back one by one; a node whose
// IPv6 session is back while its IPv4 session (the one carrying the IPv4
// VIP) is still coming back must not take MASTER: the router would keep
// sending to the peer whose IPv4 session came back first. It stays FAULT
// (its peers leave it out) until the session is back, or at most
// UPSTREAM_RETURN_MAX_MS after that router's BFD came Up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaManager, type HaDecision, type HaHost, type PeerRoleView } from '../../src/ha/HaManager.ts';
import { UPSTREAM_RETURN_MAX_MS, UpstreamTracker } from '../../src/ha/UpstreamTracker.ts';
import { ManualClock } from '../../src/util/clock.ts';
import type { CiStateName } from '../../src/ha/ClusterState.ts';

const INST = 'llb-inst0';
const V4 = '192.168.80.1';
const V6 = 'fd00:80::1';

test('UpstreamTracker: returning while a router\'s BFD is Up again and its BGP is not Established, at most UPSTREAM_RETURN_MAX_MS', () => {
  const clock = new ManualClock();
  const t = new UpstreamTracker({ graceMs: 0, clock });
  let told = 0;
  t.onReadyChange(() => told++);
  t.setNeighbors([V4, V6]);
  for (const a of [V4, V6]) {
    t.bfdState(a, true);
    t.bgpState(a, true);
  }
  assert.equal(t.returning(), false, 'all Established');
  // The router's BFD goes: BGP is shut with it.
  for (const a of [V4, V6]) {
    t.bfdState(a, false);
    t.bgpState(a, false);
  }
  assert.equal(t.healthy(), false);
  assert.equal(t.returning(), false, 'not healthy: nothing to return to');
  t.bfdState(V6, true);
  t.bfdState(V4, true);
  t.bgpState(V6, true);
  assert.equal(t.healthy(), true, 'the IPv6 session is enough to be healthy');
  assert.equal(t.returning(), true, 'the IPv4 session is on its way');
  told = 0;
  clock.advance(1500);
  t.bgpState(V4, true);
  assert.equal(t.returning(), false);
  assert.ok(told > 0, 'told when the session is back');
  // A router whose BGP never follows its BFD stops counting as returning after the bound.
  t.bfdState(V4, false);
  t.bgpState(V4, false);
  t.bfdState(V4, true);
  assert.equal(t.returning(), true);
  told = 0;
  clock.advance(UPSTREAM_RETURN_MAX_MS - 1);
  assert.equal(t.returning(), true);
  clock.advance(1);
  assert.equal(t.returning(), false);
  assert.ok(told > 0, 'told when the bound ends');
  t.close();
  assert.equal(clock.pending, 0);
});

test('UpstreamTracker: a session lost in the same outage whose BFD is not even Up again yet also counts as returning, for UPSTREAM_RETURN_MAX_MS after the upstream is back', () => {
  const clock = new ManualClock();
  const t = new UpstreamTracker({ graceMs: 0, clock });
  let told = 0;
  t.onReadyChange(() => told++);
  const OLD = '192.168.90.1';
  t.setNeighbors([V4, V6, OLD]);
  for (const a of [V4, V6, OLD]) {
    t.bfdState(a, true);
    t.bgpState(a, true);
  }
  // A second router went long ago (it is not part of the outage below).
  t.bfdState(OLD, false);
  clock.advance(10_000);
  // The router drops both sessions, 200 ms apart.
  t.bfdState(V4, false);
  clock.advance(200);
  t.bfdState(V6, false);
  assert.equal(t.healthy(), false);
  clock.advance(1500);
  // The IPv6 session is back first; the IPv4 one's BFD is still down.
  t.bfdState(V6, true);
  t.bgpState(V6, true);
  assert.equal(t.healthy(), true);
  assert.equal(t.returning(), true, 'the IPv4 session, lost in the same outage, is not back yet');
  clock.advance(300);
  t.bfdState(V4, true);
  assert.equal(t.returning(), true, 'BFD Up, BGP not yet');
  told = 0;
  t.bgpState(V4, true);
  assert.equal(t.returning(), false, 'both back; the router lost long before does not count');
  assert.ok(told > 0);
  // The same outage again, and the IPv4 session never comes back: bounded.
  t.bfdState(V4, false);
  t.bfdState(V6, false);
  clock.advance(1000);
  t.bfdState(V6, true);
  t.bgpState(V6, true);
  assert.equal(t.returning(), true);
  told = 0;
  clock.advance(UPSTREAM_RETURN_MAX_MS - 1);
  assert.equal(t.returning(), true);
  clock.advance(1);
  assert.equal(t.returning(), false, 'a router that does not come back does not keep the node out of service');
  assert.ok(told > 0, 'told when the bound ends');
  t.close();
  assert.equal(clock.pending, 0);
});

class Node implements HaHost {
  state: CiStateName = 'NOT_DEFINED';
  changes: CiStateName[] = [];
  readonly upstream: UpstreamTracker;
  mgr!: HaManager;
  constructor(readonly addr: string, readonly clock: ManualClock) {
    this.upstream = new UpstreamTracker({ graceMs: 0, clock });
    this.upstream.setNeighbors([V4, V6]);
  }
  roleOf(): CiStateName {
    return this.state;
  }
  applyRole(_instance: string, role: HaDecision): void {
    this.state = role;
    this.changes.push(role);
  }
  /** The router's session over one family: BFD then BGP, as the agent reports them. */
  session(address: string, bfd: boolean, bgp: boolean): void {
    this.upstream.bfdState(address, bfd);
    this.upstream.bgpState(address, bgp);
  }
}

function pair(clock: ManualClock) {
  const a = new Node('10.0.0.1', clock);
  const b = new Node('10.0.0.2', clock);
  const link = (up: boolean, held = false) => {
    a.mgr.bfdState(INST, b.addr, up, { held });
    b.mgr.bfdState(INST, a.addr, up, { held });
  };
  for (const [n, o] of [[a, b], [b, a]] as const) {
    Object.assign(n, {
      // AdminDown: both ends see the session down, the other end sees it held; released, it comes Up (the peer does not hold it).
      holdPeerSessions: (hold: boolean) => link(!hold, hold),
    });
    n.mgr = new HaManager({
      host: n,
      upstream: n.upstream,
      clock,
      initWaitMs: 3000,
      pollMs: 1000,
      fetchPeerView: () => Promise.resolve<PeerRoleView>({ state: o.state, priority: 100, synced: true }),
    });
    n.mgr.addPeer(INST, o.addr, n.addr);
  }
  return { a, b, link };
}

async function run(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    await new Promise((r) => setImmediate(r));
    clock.advance(50);
  }
  await new Promise((r) => setImmediate(r));
}

async function steadyPair(clock: ManualClock) {
  const p = pair(clock);
  for (const n of [p.a, p.b]) for (const addr of [V4, V6]) n.session(addr, true, true);
  p.link(true);
  await run(clock, 500);
  assert.deepEqual([p.a.state, p.b.state], ['BACKUP', 'MASTER']);
  // The router drops BFD with both at once and closes both BGP sessions of each.
  for (const n of [p.a, p.b]) for (const addr of [V4, V6]) n.session(addr, false, false);
  assert.deepEqual([p.a.state, p.b.state], ['FAULT', 'FAULT']);
  return p;
}

test('HaManager: both nodes lose the router at once; the one whose IPv6 session is back first waits for its IPv4 session, the router\'s choice becomes MASTER', async () => {
  const clock = new ManualClock();
  const { a, b } = await steadyPair(clock);
  // BFD is back on both; a's IPv6 session is Established first, its IPv4 one not yet.
  for (const n of [a, b]) for (const addr of [V4, V6]) n.upstream.bfdState(addr, true);
  a.upstream.bgpState(V6, true);
  await run(clock, 300);
  assert.equal(a.state, 'FAULT', 'a must not be MASTER: its IPv4 VIP is not at the router');
  // b's sessions come back: the router sends the IPv4 VIP's traffic to b.
  b.upstream.bgpState(V4, true);
  await run(clock, 300);
  assert.equal(b.state, 'FAULT', 'b too waits for all it advertises to be at the router');
  b.upstream.bgpState(V6, true);
  await run(clock, 300);
  assert.deepEqual([a.state, b.state], ['FAULT', 'MASTER']);
  a.upstream.bgpState(V4, true);
  await run(clock, 1500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  assert.deepEqual(a.changes, ['BACKUP', 'FAULT', 'BACKUP'], 'a never MASTER');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: a node whose IPv4 session never follows its BFD serves through its other session after UPSTREAM_RETURN_MAX_MS', async () => {
  const clock = new ManualClock();
  const { a, b } = await steadyPair(clock);
  for (const addr of [V4, V6]) a.upstream.bfdState(addr, true);
  a.upstream.bgpState(V6, true);
  await run(clock, UPSTREAM_RETURN_MAX_MS - 200);
  assert.equal(a.state, 'FAULT');
  await run(clock, 400);
  assert.equal(a.state, 'MASTER', 'b is FAULT (held): a serves with what it has');
  assert.equal(b.state, 'FAULT');
  a.mgr.close();
  b.mgr.close();
});

test('UpstreamTracker: BFD going takes the BGP session with it; a BFD flap back of a few ms is not "upstream back" before gobgpd says Established anew', () => {
  const clock = new ManualClock();
  const t = new UpstreamTracker({ graceMs: 0, clock });
  const seen: boolean[] = [];
  t.onChange((h) => seen.push(h));
  t.setNeighbors([V4]);
  t.bfdState(V4, true);
  t.bgpState(V4, true);
  assert.equal(t.healthy(), true);
  seen.length = 0;
  // The router drops BFD and is back 2 ms later; gobgpd has not reported the session's shut yet.
  t.bfdState(V4, false);
  clock.advance(2);
  t.bfdState(V4, true);
  assert.equal(t.healthy(), false, 'the old Established does not count: the agent shut that session');
  assert.equal(t.returning(), false, 'nothing to return to: no session is up');
  t.bgpState(V4, false); // gobgpd's late report changes nothing
  t.bgpState(V4, true);
  assert.equal(t.healthy(), true);
  assert.deepEqual(seen, [false, true]);
  t.close();
});

test('HaManager: both lose the router\'s BFD at once and one flaps back within ms: it stays FAULT (no MASTER without a session at the router); the first whose BGP is back serves', async () => {
  const clock = new ManualClock();
  const { a, b, link } = pair(clock);
  for (const n of [a, b]) {
    // One router session (IPv4) as in the failover bench.
    n.upstream.setNeighbors([V4]);
    n.session(V4, true, true);
  }
  link(true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  a.upstream.bfdState(V4, false);
  b.upstream.bfdState(V4, false);
  assert.deepEqual([a.state, b.state], ['FAULT', 'FAULT']);
  // a's BFD is Up again 2 ms later, before gobgpd reported its BGP session shut.
  a.upstream.bfdState(V4, true);
  await run(clock, 300);
  assert.equal(a.state, 'FAULT', 'a has no session at the router: not MASTER');
  // b's BFD and BGP come back first: b serves; then a's BGP: a is BACKUP.
  b.session(V4, true, true);
  await run(clock, 300);
  assert.equal(b.state, 'MASTER');
  a.upstream.bgpState(V4, true);
  await run(clock, 1500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  assert.ok(!a.changes.includes('MASTER'), `a never MASTER: ${a.changes}`);
  a.mgr.close();
  b.mgr.close();
});
