// Graceful drain (issue 15 §2): hand over, wait for the traffic to move,
// bounded; with nobody to hand over to, stop at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Drainer, type DrainHost } from '../../src/ha/Drain.ts';
import type { PeerRoleView } from '../../src/ha/HaManager.ts';
import { ManualClock } from '../../src/util/clock.ts';

class Host implements DrainHost {
  calls: boolean[] = [];
  peers: { remoteIp: string; view?: PeerRoleView }[] = [];
  packets = 0;
  setDraining(on: boolean) {
    this.calls.push(on);
  }
  async readPeers() {
    return this.peers.map((p) => ({ ...p }));
  }
  servicePackets() {
    return this.packets;
  }
}

const peer = (state: PeerRoleView['state'], extra: Partial<PeerRoleView> = {}) => ({ remoteIp: '10.0.0.2', view: { state, priority: 100, synced: true, ...extra } });

/** Runs the clock in 100 ms steps, letting the drain's reads settle; traffic(t) sets the counter. */
async function run(clock: ManualClock, ms: number, tick?: () => void): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    tick?.();
    clock.advance(100);
  }
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

test('drain: waits for the peer to be MASTER and synced, then for the traffic to stop', async () => {
  const clock = new ManualClock();
  const h = new Host();
  h.peers = [peer('BACKUP')];
  const d = new Drainer(h, { timeoutMs: 10_000, clock });
  let done: unknown;
  void d.drain().then((r) => (done = r));
  assert.deepEqual(h.calls, [true]);
  assert.equal(d.state().phase, 'handing-over');
  // Traffic goes on while the peer has not taken over.
  await run(clock, 1000, () => (h.packets += 200));
  assert.equal(done, undefined);
  h.peers = [peer('MASTER', { synced: false })];
  await run(clock, 500, () => (h.packets += 200));
  assert.equal(done, undefined, 'a MASTER that is not synced does not hold the table yet');
  h.peers = [peer('MASTER')];
  await run(clock, 500, () => (h.packets += 200));
  assert.equal(d.state().phase, 'waiting-for-traffic');
  assert.equal(done, undefined, 'the routers have not moved: packets still arrive');
  // The routers moved: a stray packet or two, then nothing.
  await run(clock, 100, () => (h.packets += 2));
  await run(clock, 700);
  assert.deepEqual(done, { phase: 'drained', handedTo: '10.0.0.2', waitedMs: 2500, timedOut: false, reason: '10.0.0.2 took over and the traffic moved' });
  assert.equal(d.state().phase, 'drained');
  assert.deepEqual(h.calls, [true], 'still draining until undrained or stopped');
  d.undrain();
  assert.deepEqual(h.calls, [true, false]);
  assert.equal(d.state().draining, false);
});

test('drain: bounded by the timeout when the traffic never stops; at once with no peer or only draining peers', async () => {
  const clock = new ManualClock();
  const h = new Host();
  h.peers = [peer('MASTER')];
  const d = new Drainer(h, { timeoutMs: 3000, clock });
  let done: any;
  void d.drain().then((r) => (done = r));
  await run(clock, 3200, () => (h.packets += 50));
  assert.equal(done?.timedOut, true);
  assert.equal(done?.handedTo, '10.0.0.2');

  for (const [peers, reason] of [
    [[{ remoteIp: '10.0.0.2' }], 'no HA peer answered: nobody to hand over to'],
    [[peer('BACKUP', { draining: true })], 'every HA peer is draining too'],
  ] as const) {
    const h2 = new Host();
    h2.peers = [...peers];
    const d2 = new Drainer(h2, { timeoutMs: 10_000, clock: new ManualClock() });
    const r = await d2.drain();
    assert.equal(r.reason, reason);
    assert.equal(r.timedOut, false);
    assert.equal(r.waitedMs, 0);
  }
});

test('drain: an undrain during the wait ends it; a second drain call joins the running one', async () => {
  const clock = new ManualClock();
  const h = new Host();
  h.peers = [peer('BACKUP')];
  const d = new Drainer(h, { timeoutMs: 10_000, clock });
  const a = d.drain();
  const b = d.drain();
  assert.equal(a, b);
  await run(clock, 300);
  d.undrain();
  await run(clock, 200);
  assert.equal((await a).reason, 'cancelled');
  assert.equal(d.state().phase, 'serving');
  assert.deepEqual(h.calls, [true, false]);
});
