import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareRank, electRole, type HaRole, type HaSelf } from '../../src/ha/election.ts';
import { HaManager, HA_DUAL_RANK_AFTER_MS, HA_VIEW_ATTEMPTS, type HaHost, type PeerRoleView, type SyncGate } from '../../src/ha/HaManager.ts';
import { ManualClock } from '../../src/bfd/clock.ts';
import type { CiStateName } from '../../src/ha/ClusterState.ts';

test('rank: priority first, then the higher address, IPv4 and IPv6 alike', () => {
  assert.ok(compareRank({ priority: 200, address: '10.0.0.1' }, { priority: 100, address: '10.0.0.9' }) > 0);
  assert.ok(compareRank({ priority: 100, address: '10.0.0.10' }, { priority: 100, address: '10.0.0.9' }) > 0);
  assert.ok(compareRank({ priority: 100, address: '9.255.255.255' }, { priority: 100, address: '10.0.0.0' }) < 0);
  assert.ok(compareRank({ priority: 100, address: 'fd00::2' }, { priority: 100, address: 'fd00::10' }) < 0);
  assert.equal(compareRank({ priority: 1, address: 'fd00::1' }, { priority: 1, address: 'fd00:0::1' }), 0);
});

test('electRole: alone is MASTER; a returning node defers to a live MASTER unless it preempts and is synced', () => {
  const self: HaSelf = { priority: 200, address: '10.0.0.2', isMaster: false, synced: true, preempt: false };
  const master = { priority: 100, address: '10.0.0.1', isMaster: true, synced: true };
  assert.equal(electRole(self, []), 'MASTER');
  assert.equal(electRole(self, [master]), 'BACKUP');
  assert.equal(electRole({ ...self, preempt: true }, [master]), 'MASTER');
  assert.equal(electRole({ ...self, preempt: true, synced: false }, [master]), 'BACKUP');
  // Two MASTERs after a heal: the higher rank stays, whatever preempt says.
  assert.equal(electRole({ ...self, isMaster: true }, [master]), 'MASTER');
  assert.equal(electRole({ ...self, priority: 50, isMaster: true }, [master]), 'BACKUP');
  // Two MASTERs, the traffic on exactly one: that one stays, whatever the ranks.
  assert.equal(electRole({ ...self, isMaster: true, serving: false }, [{ ...master, serving: true }]), 'BACKUP');
  assert.equal(electRole({ ...self, priority: 50, isMaster: true, serving: true }, [{ ...master, serving: false }]), 'MASTER');
  // Both or neither serving, or a side that does not say: the rank.
  assert.equal(electRole({ ...self, isMaster: true, serving: true }, [{ ...master, serving: true }]), 'MASTER');
  assert.equal(electRole({ ...self, priority: 50, isMaster: true, serving: false }, [{ ...master, serving: false }]), 'BACKUP');
  assert.equal(electRole({ ...self, priority: 50, isMaster: true, serving: true }, [master]), 'BACKUP');
  // Serving does not make a BACKUP take over a MASTER (that is preemption's business).
  assert.equal(electRole({ ...self, serving: true }, [{ ...master, serving: false }]), 'BACKUP');
  // Nobody MASTER: the higher rank takes it, once synced.
  assert.equal(electRole(self, [{ ...master, isMaster: false }]), 'MASTER');
  assert.equal(electRole({ ...self, synced: false }, [{ ...master, isMaster: false }]), 'BACKUP');
  assert.equal(electRole({ ...self, priority: 100, address: '10.0.0.0' }, [{ ...master, isMaster: false }]), 'BACKUP');
  // An unsynced higher rank does not block a synced lower one.
  assert.equal(electRole({ ...self, priority: 100, address: '10.0.0.0' }, [{ ...master, isMaster: false, synced: false }]), 'MASTER');
});

const stateArb = fc.constantFrom<CiStateName>('MASTER', 'BACKUP', 'NOT_DEFINED');

test('property: two nodes that see each other converge to exactly one MASTER and then never change', () => {
  fc.assert(
    fc.property(
      fc.record({ pa: fc.integer({ min: 1, max: 3 }), pb: fc.integer({ min: 1, max: 3 }), la: fc.integer({ min: 1, max: 3 }) }),
      fc.tuple(stateArb, stateArb),
      fc.tuple(fc.boolean(), fc.boolean()),
      fc.tuple(fc.boolean(), fc.boolean()),
      fc.boolean(),
      ({ pa, pb, la }, [sa, sb], [prA, prB], [syA, syB], simultaneous) => {
        const addrA = `10.0.0.${la}`;
        const addrB = '10.0.0.2';
        fc.pre(addrA !== addrB);
        const states = { a: sa, b: sb };
        const decide = (me: 'a' | 'b', view: typeof states): HaRole => {
          const mine = me === 'a' ? { priority: pa, address: addrA, preempt: prA, synced: syA } : { priority: pb, address: addrB, preempt: prB, synced: syB };
          const other = me === 'a' ? { priority: pb, address: addrB, state: view.b, synced: syB } : { priority: pa, address: addrA, state: view.a, synced: syA };
          return electRole({ ...mine, isMaster: view[me] === 'MASTER' }, [{ ...other, isMaster: other.state === 'MASTER' }]);
        };
        const history: string[] = [];
        for (let round = 0; round < 8; round++) {
          if (simultaneous) {
            const snap = { ...states };
            states.a = decide('a', snap);
            states.b = decide('b', snap);
          } else {
            states.a = decide('a', states);
            states.b = decide('b', states);
          }
          history.push(`${states.a}/${states.b}`);
        }
        const masters = [states.a, states.b].filter((s) => s === 'MASTER').length;
        const someoneCan = syA || syB || sa === 'MASTER' || sb === 'MASTER';
        assert.equal(masters, someoneCan ? 1 : 0, history.join(' '));
        // Stable: the last rounds all agree.
        assert.ok(history.slice(4).every((h) => h === history[7]), history.join(' '));
      },
    ),
    { numRuns: 2000 },
  );
});

// ---- HaManager: two managers wired to each other through fake hosts ----

class Node implements HaHost {
  state: CiStateName = 'NOT_DEFINED';
  changes: string[] = [];
  reachable = true;
  reannounced = 0;
  synced = true;
  /** Service traffic on this node (undefined: it does not say, as loxilb or an agent without datapath). */
  serving?: boolean;
  mgr!: HaManager;
  constructor(readonly addr: string) {}
  roleOf(): CiStateName {
    return this.state;
  }
  applyRole(_instance: string, role: HaRole): void {
    this.state = role;
    this.changes.push(role);
  }
  reannounce(): void {
    this.reannounced++;
  }
}

class Gate implements SyncGate {
  value = true;
  private cbs: (() => void)[] = [];
  synced() {
    return this.value;
  }
  onChange(cb: () => void) {
    this.cbs.push(cb);
  }
  set(v: boolean) {
    this.value = v;
    for (const cb of this.cbs) cb();
  }
}

interface MgrOpts {
  priority?: number;
  preempt?: boolean;
  gate?: Gate;
}

/** (Re)starts n's manager, reading its peers' views from the other fake nodes. */
function startManager(clock: ManualClock, n: Node, others: Node[], o: MgrOpts = {}): void {
  n.mgr?.close();
  n.mgr = new HaManager({
    host: n,
    priority: o.priority ?? 100,
    preempt: o.preempt,
    sync: o.gate,
    serving: () => n.serving ?? false,
    clock,
    initWaitMs: 5000,
    pollMs: 1000,
    fetchPeerView: (remoteIp) => {
      const peer = others.find((x) => x.addr === remoteIp)!;
      if (!peer.reachable) return Promise.reject(new Error('ECONNREFUSED'));
      return Promise.resolve<PeerRoleView>({ state: peer.state, priority: peer.mgr.priority, synced: peer.synced, ...(peer.serving === undefined ? {} : { serving: peer.serving }) });
    },
  });
  for (const x of others) n.mgr.addPeer('llb-inst0', x.addr, n.addr);
}

function pair(clock: ManualClock, oa: MgrOpts = {}, ob: MgrOpts = {}) {
  const a = new Node('10.0.0.1');
  const b = new Node('10.0.0.2');
  startManager(clock, a, [b], oa);
  startManager(clock, b, [a], ob);
  return { a, b };
}

/** Lets the fake REST reads resolve, then moves the clock. */
async function run(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    await new Promise((r) => setImmediate(r));
    clock.advance(100);
  }
  await new Promise((r) => setImmediate(r));
}

function link(a: Node, b: Node, up: boolean): void {
  a.mgr.bfdState('llb-inst0', b.addr, up);
  b.mgr.bfdState('llb-inst0', a.addr, up);
}

test('HaManager: both come up, the higher address is MASTER; the BACKUP takes over the moment BFD goes down', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock);
  link(a, b, true);
  await run(clock, 500);
  assert.equal(b.state, 'MASTER');
  assert.equal(a.state, 'BACKUP');
  // b dies: a hears BFD Down and decides with no I/O, synchronously.
  a.mgr.bfdState('llb-inst0', b.addr, false);
  assert.equal(a.state, 'MASTER');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: a returning node becomes BACKUP even with the higher priority (no preemption by default)', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock, { priority: 200 });
  link(a, b, true);
  await run(clock, 500);
  assert.equal(a.state, 'MASTER');
  // a dies: b becomes MASTER; a comes back fresh.
  b.mgr.bfdState('llb-inst0', a.addr, false);
  assert.equal(b.state, 'MASTER');
  a.state = 'NOT_DEFINED';
  a.changes = [];
  startManager(clock, a, [b], { priority: 200 });
  link(a, b, true);
  await run(clock, 5000);
  assert.equal(b.state, 'MASTER');
  assert.equal(a.state, 'BACKUP');
  assert.deepEqual(a.changes, ['BACKUP']);
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: with preemption the higher priority takes over only once synced, and the other steps down', async () => {
  const clock = new ManualClock();
  const gate = new Gate();
  gate.value = false;
  const { a, b } = pair(clock, { priority: 200, preempt: true, gate });
  b.state = 'MASTER';
  link(a, b, true);
  await run(clock, 3000);
  assert.equal(a.state, 'BACKUP', 'not synced: never MASTER');
  assert.equal(b.state, 'MASTER');
  gate.set(true);
  await run(clock, 3000);
  assert.equal(a.state, 'MASTER');
  assert.equal(b.state, 'BACKUP');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: a healed partition leaves exactly one MASTER, by rank, with no flapping', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock, { priority: 150 });
  await run(clock, 6000);
  // Never saw each other: both MASTER after the initial wait (the partition).
  assert.equal(a.state, 'MASTER');
  assert.equal(b.state, 'MASTER');
  link(a, b, true);
  await run(clock, 20_000);
  assert.equal(a.state, 'MASTER');
  assert.equal(b.state, 'BACKUP');
  assert.deepEqual(b.changes, ['MASTER', 'BACKUP']);
  assert.deepEqual(a.changes, ['MASTER']);
  assert.ok(a.reannounced >= 1, 'the staying MASTER announces its VIPs again');
  assert.equal(b.reannounced, 0, 'the one stepping down does not, or clients would follow it');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: a partition of the HA link alone heals to the MASTER the routers used, even the lower rank', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock, { priority: 150 });
  await run(clock, 6000);
  assert.deepEqual([a.state, b.state], ['MASTER', 'MASTER']);
  // The routers picked b (their tie-break): the traffic is there.
  a.serving = false;
  b.serving = true;
  link(a, b, true);
  await run(clock, 20_000);
  assert.equal(b.state, 'MASTER', 'the node that carried the traffic stays MASTER');
  assert.equal(a.state, 'BACKUP', 'the higher rank steps down: no connection moves');
  assert.deepEqual(a.changes, ['MASTER', 'BACKUP']);
  assert.deepEqual(b.changes, ['MASTER'], 'no flapping');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: two MASTERs that decided on reads of the traffic taken at different moments settle on the next reads, not never', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock);
  await run(clock, 6000);
  assert.deepEqual([a.state, b.state], ['MASTER', 'MASTER']);
  // Both lost and got back their upstream (the router restarted its BGP):
  // a still saw the last of its traffic when it read b, b read a a moment
  // later, when nothing was flowing anywhere.
  a.serving = true;
  b.serving = false;
  a.mgr.bfdState('llb-inst0', b.addr, true);
  await run(clock, 0);
  a.serving = false;
  b.mgr.bfdState('llb-inst0', a.addr, true);
  await run(clock, 0);
  assert.deepEqual([a.state, b.state], ['MASTER', 'MASTER'], 'each decided on its own read: a saw only itself serving, b saw nobody (rank: b)');
  // The router then sends everything to b (its tie-break): the next reads settle it.
  b.serving = true;
  await run(clock, 2500);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER']);
  assert.deepEqual(a.changes, ['MASTER', 'BACKUP']);
  assert.deepEqual(b.changes, ['MASTER'], 'no flapping');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: two MASTERs whose traffic facts keep disagreeing decide by rank after HA_DUAL_RANK_AFTER_MS', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock);
  await run(clock, 6000);
  // Each side always sees itself serving and its peer not (every read races the traffic).
  let reads = 0;
  for (const [n, peer] of [[a, b], [b, a]] as const) {
    n.mgr.close();
    n.mgr = new HaManager({
      host: n,
      priority: 100,
      serving: () => true,
      clock,
      initWaitMs: 5000,
      pollMs: 1000,
      fetchPeerView: () => {
        reads++;
        return Promise.resolve<PeerRoleView>({ state: peer.state, priority: 100, synced: true, serving: false });
      },
    });
    n.mgr.addPeer('llb-inst0', peer.addr, n.addr);
  }
  link(a, b, true);
  await run(clock, 1500);
  assert.deepEqual([a.state, b.state], ['MASTER', 'MASTER'], 'the traffic rule keeps both while it disagrees');
  await run(clock, HA_DUAL_RANK_AFTER_MS + 1000);
  assert.deepEqual([a.state, b.state], ['BACKUP', 'MASTER'], 'then the rank: the higher address');
  assert.ok(reads >= 6);
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: an Up peer whose API cannot be read is decided by address after a few attempts', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock);
  a.reachable = false;
  b.reachable = false;
  link(a, b, true);
  await run(clock, 200);
  assert.equal(a.state, 'NOT_DEFINED', 'waits for the view first');
  await run(clock, 300 * HA_VIEW_ATTEMPTS + 500);
  assert.equal(b.state, 'MASTER');
  assert.equal(a.state, 'BACKUP');
  a.mgr.close();
  b.mgr.close();
});

test('HaManager: after a heal the MASTER that stays re-announces even when the other already stepped down', async () => {
  const clock = new ManualClock();
  const { a, b } = pair(clock, { priority: 150 });
  await run(clock, 6000);
  assert.deepEqual([a.state, b.state], ['MASTER', 'MASTER']);
  // b hears BFD Up first, reads a as MASTER and steps down ...
  b.mgr.bfdState('llb-inst0', a.addr, true);
  await run(clock, 200);
  assert.equal(b.state, 'BACKUP');
  // ... so a, reading b later, finds no other MASTER, yet clients may still be on b.
  a.mgr.bfdState('llb-inst0', b.addr, true);
  await run(clock, 200);
  assert.equal(a.state, 'MASTER');
  assert.ok(a.reannounced >= 1, 'a announces its VIPs again');
  assert.equal(b.reannounced, 0);
  a.mgr.close();
  b.mgr.close();
});
