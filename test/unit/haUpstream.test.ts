// Upstream-aware roles (issue 15 §1): a node that lost every router and VIP
// link it tracks is FAULT, is left out of its peers' election, and comes back
// as BACKUP of the node that served meanwhile, never as a second MASTER.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HA_CONFIRM_MS, HA_RETURN_WAIT_MS, HaManager, type HaDecision, type HaHost, type PeerRoleView } from '../../src/ha/HaManager.ts';
import { READY_SETTLE_MS, UpstreamTracker, type UpstreamGate } from '../../src/ha/UpstreamTracker.ts';
import { ManualClock } from '../../src/util/clock.ts';
import type { CiStateName } from '../../src/ha/ClusterState.ts';

const INST = 'llb-inst0';

test('UpstreamTracker: nothing tracked is healthy; a router counts while Established and BFD has not said it is gone', () => {
  const t = new UpstreamTracker({ graceMs: 0 });
  const seen: boolean[] = [];
  t.onChange((h) => seen.push(h));
  assert.equal(t.healthy(), true);
  t.setNeighbors(['192.168.1.1', 'fd00::1']);
  assert.equal(t.healthy(), false, 'routers configured, no session yet');
  t.bgpState('192.168.1.1', true);
  assert.equal(t.healthy(), true);
  t.bfdState('192.168.1.1', false);
  assert.equal(t.healthy(), false, 'BFD down wins over a stale Established');
  assert.deepEqual(t.items(), [
    { kind: 'bgp', name: '192.168.1.1', up: false, detail: 'BFD down' },
    { kind: 'bgp', name: 'fd00::1', up: false, detail: 'BGP not Established' },
  ]);
  t.bgpState('fd00::1', true);
  assert.equal(t.healthy(), true, 'one router of two is enough');
  t.bgpReset();
  assert.equal(t.healthy(), false, 'gobgpd gone');
  t.bgpState('10.9.9.9', true); // not tracked: ignored
  assert.equal(t.healthy(), false);
  t.setNeighbors([]);
  assert.equal(t.healthy(), true);
  assert.deepEqual(seen, [false, true, false, true, false, true]);
});

test('UpstreamTracker: a router never reached is pending for graceMs (setup order, agent start), then down', () => {
  const clock = new ManualClock();
  const t = new UpstreamTracker({ graceMs: 30_000, clock });
  const seen: boolean[] = [];
  t.onChange((h) => seen.push(h));
  t.setNeighbors(['192.168.1.1']);
  assert.equal(t.healthy(), true);
  t.bfdState('192.168.1.1', true); // BFD before BGP, as at every start
  assert.equal(t.healthy(), true);
  assert.equal(t.items()[0]!.detail, 'pending: not reached yet');
  clock.advance(29_999);
  assert.equal(t.healthy(), true);
  clock.advance(1);
  assert.equal(t.healthy(), false, 'never reached in 30 s: down');
  t.bgpState('192.168.1.1', true);
  assert.equal(t.healthy(), true);
  // A second router added later is pending on its own clock, the first one counts.
  t.setNeighbors(['192.168.1.1', '192.168.2.1']);
  t.bfdState('192.168.1.1', false);
  assert.equal(t.healthy(), false, 'the reached router is gone; the new one is only pending');
  t.bgpState('192.168.2.1', true);
  assert.equal(t.healthy(), true);
  // A pending router whose BFD came up and then went down is down, grace or not.
  t.setNeighbors(['192.168.3.1']);
  t.bfdState('192.168.3.1', true);
  t.bfdState('192.168.3.1', false);
  assert.equal(t.healthy(), false);
  assert.deepEqual(seen, [false, true, false, true, false]);
  t.close();
});

test('UpstreamTracker: VIP links are read every pollMs; carrier loss and return are reported once each', () => {
  const clock = new ManualClock();
  const carrier = new Map([['eth0', true], ['eth1', true]]);
  let tracked = ['eth0'];
  const t = new UpstreamTracker({ interfaces: () => tracked, linkUp: (i) => carrier.get(i) ?? false, pollMs: 100, clock });
  const seen: boolean[] = [];
  t.onChange((h) => seen.push(h));
  assert.equal(t.healthy(), true);
  carrier.set('eth0', false);
  clock.advance(99);
  assert.equal(t.healthy(), true, 'not read yet');
  clock.advance(1);
  assert.equal(t.healthy(), false);
  assert.deepEqual(t.items(), [{ kind: 'interface', name: 'eth0', up: false, detail: 'no carrier' }]);
  clock.advance(500);
  tracked = ['eth0', 'eth1'];
  clock.advance(100);
  assert.equal(t.healthy(), true, 'a second VIP link with carrier');
  carrier.set('eth1', false);
  clock.advance(100);
  carrier.set('eth0', true);
  clock.advance(100);
  assert.deepEqual(seen, [false, true, false, true]);
  t.close();
});

class Gate implements UpstreamGate {
  value = true;
  doubtful?: () => boolean;
  private cbs: ((h: boolean) => void)[] = [];
  healthy() {
    return this.value;
  }
  onChange(cb: (h: boolean) => void) {
    this.cbs.push(cb);
  }
  set(v: boolean) {
    if (v === this.value) return;
    this.value = v;
    for (const cb of this.cbs) cb(v);
  }
}

class Node implements HaHost {
  state: CiStateName = 'NOT_DEFINED';
  changes: string[] = [];
  holds: boolean[] = [];
  upstream = new Gate();
  mgr!: HaManager;
  /** The peer whose session AdminDown reaches (set by pair()). */
  other?: Node;
  constructor(readonly addr: string, readonly canHold = true) {}
  roleOf(): CiStateName {
    return this.state;
  }
  applyRole(_instance: string, role: HaDecision): void {
    this.state = role;
    this.changes.push(role);
  }
}

function start(clock: ManualClock, n: Node, other: Node, priority = 100, o: { preempt?: boolean; upstream?: UpstreamGate } = {}): void {
  const host: HaHost = n.canHold
    ? Object.assign(n, {
        holdPeerSessions(hold: boolean) {
          n.holds.push(hold);
          // AdminDown: both ends see the session down at once.
          if (hold) link(n, other, false);
        },
      })
    : n;
  n.mgr = new HaManager({
    host,
    priority,
    preempt: o.preempt,
    upstream: o.upstream ?? n.upstream,
    clock,
    initWaitMs: 3000,
    pollMs: 1000,
    fetchPeerView: (remoteIp) => {
      assert.equal(remoteIp, other.addr);
      return Promise.resolve<PeerRoleView>({ state: other.state, priority: other.mgr.priority, synced: true });
    },
  });
  n.mgr.addPeer(INST, other.addr, n.addr);
}

function pair(clock: ManualClock, canHold = true) {
  const a = new Node('10.0.0.1', canHold);
  const b = new Node('10.0.0.2', canHold);
  start(clock, a, b);
  start(clock, b, a);
  return { a, b };
}

function link(a: Node, b: Node, up: boolean): void {
  a.mgr.bfdState(INST, b.addr, up);
  b.mgr.bfdState(INST, a.addr, up);
}

async function run(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    await new Promise((r) => setImmediate(r));
    clock.advance(100);
  }
  await new Promise((r) => setImmediate(r));
}

test('HaManager: a MASTER that loses its upstream goes FAULT and holds its HA sessions, so the BACKUP takes over at once', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock);
  link(a, b, true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  b.upstream.set(false);
  // No read of b's view needed: AdminDown took the session down at both ends.
  assert.deepEqual([a.state, b.state], ['MASTER', 'FAULT']);
  assert.deepEqual(b.holds, [true]);
  // The upstream is back: b lets its sessions go and waits for them before deciding anything.
  b.upstream.set(true);
  assert.deepEqual(b.holds, [true, false]);
  await run(clock, 1000);
  assert.equal(b.state, 'BACKUP', 'eligible again, still waiting for its peer, not MASTER alone');
  link(a, b, true);
  await run(clock, 3000);
  assert.deepEqual([a.state, b.state], ['MASTER', 'BACKUP']);
  assert.deepEqual(a.changes, ['BACKUP', 'MASTER']);
  assert.deepEqual(b.changes, ['MASTER', 'FAULT', 'BACKUP']);
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: link cut at the switch; the cut MASTER is FAULT, never MASTER alone, and the heal keeps the survivor', async () => {
  for (const order of ['upstream first', 'peer first'] as const) {
    const clock = new ManualClock();
    const { a, b } = pair(clock);
    link(a, b, true);
    await run(clock, 500);
    assert.equal(b.state, 'MASTER');
    // The cut: b's HA session and its routers go at the same moment, in either order.
    link(a, b, false);
    b.upstream.set(false);
    assert.deepEqual([a.state, b.state], ['MASTER', 'FAULT'], order);
    await run(clock, 5000);
    assert.deepEqual([a.state, b.state], ['MASTER', 'FAULT'], order);
    // The heal: the routers' sessions and the HA session come back in some order.
    if (order === 'upstream first') {
      b.upstream.set(true);
      await run(clock, 1500);
      assert.equal(b.state, 'BACKUP', `${order}: eligible, waits for its peer`);
      link(a, b, true);
    } else {
      link(a, b, true);
      await run(clock, 1500);
      assert.equal(b.state, 'FAULT', `${order}: still no upstream`);
      b.upstream.set(true);
    }
    await run(clock, 3000);
    assert.deepEqual([a.state, b.state], ['MASTER', 'BACKUP'], order);
    assert.ok(!b.changes.slice(1).includes('MASTER'), `${order}: b never MASTER again: ${b.changes}`);
    assert.deepEqual(a.changes, ['BACKUP', 'MASTER'], order);
    a.mgr.close();
    b.mgr.close();
  }
});

test('HaManager: a peer in FAULT is no candidate; a host that cannot hold its sessions is noticed at the next read', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock, false);
  link(a, b, true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  b.upstream.set(false);
  assert.equal(b.state, 'FAULT');
  assert.equal(a.state, 'BACKUP', 'a has not read b yet');
  await run(clock, 1100);
  assert.equal(a.state, 'MASTER', 'b is FAULT: a outranks every candidate');
  // b's upstream is back while its session stayed up: it decides at once, as BACKUP.
  b.upstream.set(true);
  await run(clock, 100);
  assert.deepEqual([a.state, b.state], ['MASTER', 'BACKUP']);
  a.mgr.close();
  b.mgr.close();
});

/** Two nodes that start with no upstream, their HA session Up: both FAULT. */
async function startedWithoutUpstream(clock: ManualClock) {
  const a = new Node('10.0.0.1');
  const b = new Node('10.0.0.2');
  a.upstream.value = false;
  b.upstream.value = false;
  start(clock, a, b);
  start(clock, b, a);
  link(a, b, true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['FAULT', 'FAULT']);
  return { a, b };
}

test('HaManager: a node that starts with no upstream is FAULT and holds nothing; both FAULT leaves no MASTER until one can serve', async () => {
  const clock = new ManualClock();
  const { a, b } = await startedWithoutUpstream(clock);
  assert.deepEqual([a.holds, b.holds], [[], []], 'no MASTER went FAULT: nothing to hurry');
  a.upstream.set(true);
  await run(clock, 100);
  assert.deepEqual([a.state, b.state], ['FAULT', 'FAULT'], 'b outranks a and reads FAULT: it may be back at this moment too');
  await run(clock, HA_RETURN_WAIT_MS);
  assert.deepEqual([a.state, b.state], ['MASTER', 'FAULT'], 'the lower rank serves: the higher one cannot');
  b.upstream.set(true);
  await run(clock, 1100);
  assert.deepEqual([a.state, b.state], ['MASTER', 'BACKUP'], 'no preemption by the returning higher rank');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: upstream back with no peer ever answering: MASTER after the initial wait, as at start', async () => {
  const clock = new ManualClock();
  const a = new Node('10.0.0.1');
  const b = new Node('10.0.0.2');
  start(clock, a, b);
  start(clock, b, a);
  await run(clock, 3100);
  assert.equal(a.state, 'MASTER', 'alone after initWaitMs');
  a.upstream.set(false);
  assert.equal(a.state, 'FAULT');
  a.upstream.set(true);
  await run(clock, 2900);
  assert.equal(a.state, 'BACKUP', 'eligible, waiting for its peer as at start');
  await run(clock, 200);
  assert.equal(a.state, 'MASTER');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: a draining node steps down to BACKUP and is no candidate; its peer takes MASTER; undrained it stays BACKUP', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock);
  link(a, b, true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  b.mgr.setDraining(true);
  assert.equal(b.state, 'BACKUP');
  // a reads b's view (BACKUP, draining) at its next poll and takes over, though b outranks it.
  const view = async () => ({ state: b.state, priority: 100, synced: true, draining: true });
  (a.mgr as any).opts.fetchPeerView = view;
  await run(clock, 1100);
  assert.deepEqual([a.state, b.state], ['MASTER', 'BACKUP']);
  b.mgr.setDraining(false);
  (a.mgr as any).opts.fetchPeerView = async () => ({ state: b.state, priority: 100, synced: true });
  await run(clock, 2100);
  assert.deepEqual([a.state, b.state], ['MASTER', 'BACKUP'], 'no preemption after the drain');
  a.mgr.close();
  b.mgr.close();
});

test('UpstreamTracker: doubtful while every router it rests on has gone quiet on BFD; a link up or a router heard clears it', () => {
  const silence = new Map<string, number | undefined>([['192.168.1.1', 0.4], ['192.168.2.1', 0.7]]);
  const t = new UpstreamTracker({ graceMs: 0, bfdSilence: (a) => silence.get(a) });
  t.setNeighbors(['192.168.1.1', '192.168.2.1']);
  t.bgpState('192.168.1.1', true);
  t.bgpState('192.168.2.1', true);
  assert.equal(t.doubtful(), false);
  silence.set('192.168.1.1', 2.5);
  assert.equal(t.doubtful(), false, 'the other router is still heard');
  silence.set('192.168.2.1', 1.6);
  assert.equal(t.doubtful(), true);
  silence.set('192.168.2.1', undefined); // no BFD with it: no way to tell, no doubt
  assert.equal(t.doubtful(), false);
});

test('HaManager: a promotion waits while the routers are silent; FAULT if they go, MASTER if they answer, MASTER anyway after the cap', async () => {
  for (const outcome of ['routers go', 'routers answer', 'cap'] as const) {
    const clock = new ManualClock();
    const { a, b } = pair(clock);
    let doubt = false;
    a.upstream.doubtful = () => doubt;
    link(a, b, true);
    await run(clock, 500);
    assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
    // The cut: a's HA session times out while its routers have been quiet for two intervals.
    doubt = true;
    a.mgr.bfdState(INST, b.addr, false);
    assert.equal(a.state, 'BACKUP', `${outcome}: held`);
    await run(clock, 100);
    assert.equal(a.state, 'BACKUP', `${outcome}: still held`);
    if (outcome === 'routers go') {
      a.upstream.set(false);
      assert.equal(a.state, 'FAULT');
      assert.ok(!a.changes.includes('MASTER'), `${a.changes}`);
    } else if (outcome === 'routers answer') {
      doubt = false;
      await run(clock, 100);
      assert.equal(a.state, 'MASTER');
    } else {
      await run(clock, 1000);
      assert.equal(a.state, 'MASTER', 'held at most HA_DOUBT_MAX_MS');
    }
    a.mgr.close();
    b.mgr.close();
  }
});

test('HaManager: a peer that holds its session AdminDown (FAULT, draining) is not waited for: both FAULT, the first node whose routers return serves at once', async () => {
  const clock = new ManualClock();
  const a = new Node('10.0.0.1', false);
  const b = new Node('10.0.0.2', false);
  start(clock, a, b);
  start(clock, b, a);
  link(a, b, true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  // The router restarts its BGP: both lose their upstream; b, the MASTER, holds its session AdminDown.
  a.upstream.set(false);
  b.upstream.set(false);
  b.mgr.bfdState(INST, a.addr, false);
  a.mgr.bfdState(INST, b.addr, false, { held: true });
  assert.deepEqual([a.state, b.state], ['FAULT', 'FAULT']);
  // a's session comes back first: b is alive but declined, so a serves after HA_RETURN_WAIT_MS (b
  // might be returning at the same moment, and outranks a), not after initWaitMs.
  a.upstream.set(true);
  assert.equal(a.state, 'BACKUP');
  await run(clock, HA_RETURN_WAIT_MS);
  assert.equal(a.state, 'MASTER');
  // Without the held mark a would have waited for its peer (control).
  const c = new Node('10.0.0.3', false);
  const d = new Node('10.0.0.4', false);
  start(clock, c, d);
  start(clock, d, c);
  link(c, d, true);
  await run(clock, 500);
  c.upstream.set(false);
  c.mgr.bfdState(INST, d.addr, false);
  c.upstream.set(true);
  await run(clock, HA_RETURN_WAIT_MS);
  assert.equal(c.state, 'BACKUP', 'waits for a peer that merely went down');
  await run(clock, 3100);
  assert.equal(c.state, 'MASTER');
  for (const n of [a, b, c, d]) n.mgr.close();
});

/** Both lose their upstream: b (MASTER) goes FAULT and holds, a takes over and goes FAULT too, holding; each sees the other's hold. */
async function bothFaultHolding(clock: ManualClock) {
  const { a, b } = pair(clock);
  link(a, b, true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  b.upstream.set(false);
  assert.equal(a.state, 'MASTER');
  a.upstream.set(false);
  a.mgr.bfdState(INST, b.addr, false, { held: true });
  b.mgr.bfdState(INST, a.addr, false, { held: true });
  assert.deepEqual([a.state, b.state, a.holds, b.holds], ['FAULT', 'FAULT', [true], [true]]);
  await run(clock, 2000);
  return { a, b };
}

/** The HA session comes Up: b MASTER, a BACKUP, and a was never MASTER since the fault. */
async function sessionUpEndsWithB(clock: ManualClock, a: Node, b: Node): Promise<void> {
  link(a, b, true);
  await run(clock, 1500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  assert.ok(!a.changes.slice(2).includes('MASTER'), `a never MASTER beside b: ${a.changes}`);
  a.mgr.close();
  b.mgr.close();
}

test('HaManager: two nodes leave FAULT at the same moment, each still seeing the other\'s hold: the higher rank is MASTER at once, the lower waits and becomes BACKUP', async () => {
  const clock = new ManualClock();
  const { a, b } = await bothFaultHolding(clock);
  // Both upstreams are back within one packet's flight: neither has heard the other's release.
  a.upstream.set(true);
  b.upstream.set(true);
  assert.deepEqual([a.holds, b.holds], [[true, false], [true, false]]);
  assert.equal(b.state, 'MASTER', 'b outranks a: nothing to wait for');
  assert.equal(a.state, 'BACKUP', 'a waits: b may be back too (it is)');
  // b's release reaches a (its session goes Init: not held), then the session comes Up.
  await run(clock, 100);
  a.mgr.bfdState(INST, b.addr, false, { held: false });
  await run(clock, HA_RETURN_WAIT_MS);
  assert.equal(a.state, 'BACKUP', 'a peer that released its hold is waited for as any peer');
  await sessionUpEndsWithB(clock, a, b);
});

test('HaManager: two nodes leave FAULT a little apart and both wait for the session: they read each other as BACKUP, not FAULT, and elect one MASTER', async () => {
  const clock = new ManualClock();
  const { a, b } = await bothFaultHolding(clock);
  // a is back first; b hears a's release before its own upstream is back.
  a.upstream.set(true);
  b.mgr.bfdState(INST, a.addr, false, { held: false });
  await run(clock, 100);
  b.upstream.set(true);
  assert.equal(b.state, 'BACKUP', 'b waits for a, whose hold is released');
  a.mgr.bfdState(INST, b.addr, false, { held: false });
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'BACKUP'], 'both eligible, both waiting');
  await sessionUpEndsWithB(clock, a, b);
});

test('HaManager: two FAULT nodes whose sessions stayed Up get their upstream back at the same moment: each reads the other FAULT, only the higher rank takes MASTER at once', async () => {
  const clock = new ManualClock();
  const { a, b } = await startedWithoutUpstream(clock);
  // Both in the same tick: each one's read of the other says FAULT.
  a.upstream.set(true);
  b.upstream.set(true);
  await run(clock, 100);
  assert.deepEqual([a.state, b.state], ['FAULT', 'MASTER'], 'a waits: b outranks it and was FAULT when read');
  await run(clock, HA_RETURN_WAIT_MS + 200);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER'], 'read again, b is MASTER');
  assert.ok(!a.changes.includes('MASTER'), `a never MASTER: ${a.changes}`);
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: a node just promoted reads its peers again after HA_CONFIRM_MS: a peer promoted on a read taken just before is seen at once, not at the next poll', async () => {
  const clock = new ManualClock();
  const a = new Node('10.0.0.1');
  const b = new Node('10.0.0.2');
  a.upstream.value = false;
  b.upstream.value = false;
  // b answers a's reads with what it was when asked, delivered 100 ms later.
  let slow = false;
  const mk = (n: Node, o: Node) =>
    new HaManager({
      host: n,
      upstream: n.upstream,
      clock,
      initWaitMs: 3000,
      pollMs: 1000,
      fetchPeerView: () => {
        const view: PeerRoleView = { state: o.state, priority: 100, synced: true };
        return slow && n === a ? new Promise((r) => clock.setTimer(() => r(view), 100)) : Promise.resolve(view);
      },
    });
  a.mgr = mk(a, b);
  b.mgr = mk(b, a);
  a.mgr.addPeer(INST, b.addr, a.addr);
  b.mgr.addPeer(INST, a.addr, b.addr);
  link(a, b, true);
  await run(clock, 500);
  assert.deepEqual([a.state, b.state], ['FAULT', 'FAULT']);
  slow = true;
  a.upstream.set(true);
  // a's first read says FAULT at +100 ms; its re-read goes out HA_RETURN_WAIT_MS later (+400) and
  // says FAULT too; b is back while that answer is on its way and takes MASTER at once.
  await run(clock, 400);
  assert.deepEqual([a.state, b.state], ['FAULT', 'FAULT']);
  b.upstream.set(true);
  await run(clock, 100);
  assert.deepEqual([a.state, b.state], ['MASTER', 'MASTER'], 'the race this test is about');
  // a reads b again HA_CONFIRM_MS after its promotion (answered 100 ms later); the next poll is 1 s away.
  await run(clock, 300);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER'], 'settled well before the next poll');
  a.mgr.close();
  b.mgr.close();
});

test('UpstreamTracker: ready once a router has been Established for READY_SETTLE_MS; links only: ready while healthy', () => {
  const clock = new ManualClock();
  const t = new UpstreamTracker({ graceMs: 0, clock });
  let told = 0;
  t.onReadyChange(() => told++);
  assert.equal(t.ready(), true, 'nothing tracked');
  t.setNeighbors(['192.168.1.1']);
  assert.equal(t.ready(), false);
  t.bfdState('192.168.1.1', true);
  t.bgpState('192.168.1.1', true);
  assert.equal(t.healthy(), true);
  assert.equal(t.ready(), false, 'Established just now: the router has not taken our table yet');
  assert.ok(told > 0, 'the session changes are told at once (returning() may have changed)');
  told = 0;
  clock.advance(READY_SETTLE_MS - 1);
  assert.equal(t.ready(), false);
  assert.equal(told, 0);
  clock.advance(1);
  assert.equal(t.ready(), true);
  assert.equal(told, 1, 'listeners told when the settle time ends');
  t.bfdState('192.168.1.1', false);
  assert.equal(t.ready(), false, 'BFD down');
  t.bfdState('192.168.1.1', true);
  t.bgpState('192.168.1.1', false);
  t.bgpState('192.168.1.1', true);
  assert.equal(t.ready(), false, 'a new session settles again');
  t.close();
  assert.equal(clock.pending, 0, 'close() clears the settle timers');
  const links = new UpstreamTracker({ interfaces: () => ['eth0'], linkUp: () => true, clock });
  assert.equal(links.ready(), true);
  links.close();
});

test('HaManager: a preempting node takes MASTER back only once its routers have its routes again', async () => {
  const clock = new ManualClock();
  const a = new Node('10.0.0.1');
  const b = new Node('10.0.0.2');
  a.other = b;
  b.other = a;
  let routers = new UpstreamTracker({ clock });
  routers.setNeighbors(['192.168.1.1']);
  routers.bgpState('192.168.1.1', true);
  start(clock, a, b);
  start(clock, b, a, 200, { preempt: true, upstream: routers });
  await run(clock, 4000);
  link(a, b, true);
  await run(clock, 1000);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  // b restarts: a serves meanwhile.
  link(a, b, false);
  b.mgr.close();
  routers.close();
  // The restarted node: its router is pending (not reached yet), which keeps it eligible.
  routers = new UpstreamTracker({ clock });
  routers.setNeighbors(['192.168.1.1']);
  b.state = 'NOT_DEFINED';
  start(clock, b, a, 200, { preempt: true, upstream: routers });
  assert.equal(a.state, 'MASTER');
  link(a, b, true);
  await run(clock, 5000);
  assert.equal(b.state, 'BACKUP', 'its router session is not back: no preemption (the router would still send to a)');
  assert.equal(a.state, 'MASTER');
  routers.bgpState('192.168.1.1', true);
  await run(clock, READY_SETTLE_MS - 200);
  assert.equal(b.state, 'BACKUP', 'Established, but the router has not taken the routes yet');
  await run(clock, 3000);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER'], 'preempted once ready');
  a.mgr.close();
  b.mgr.close();
  routers.close();
});
