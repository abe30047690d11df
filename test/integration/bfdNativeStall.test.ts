// A stalled JS event loop against BIRD 2 at 10 ms x 3 (a 30 ms Detection
// Time at both ends): our BfdManager on the native transport, in a child
// process, blocks its event loop with a synchronous busy loop for 100 ms,
// three times. With periodic transmission on the addon's timer thread and
// arrival times from its receive thread, BIRD keeps hearing us on time and
// our detection timer, firing late after each stall, sees BIRD's packets
// waiting in the queue: no flap at either end, also for a keyed SHA1 session
// (its repeated packet keeps one sequence number, which BIRD accepts for the
// non-meticulous types). The control runs the same
// stalls with the offload off (transmission and detection on the JS thread)
// and BIRD does declare us Down, which is what makes the first test mean
// something.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../lab/Lab.ts';
import { Bird, type BirdConfig } from '../lab/Bird.ts';
import { waitFor } from '../lab/wait.ts';
import { BfdPeer } from '../lab/BfdPeer.ts';

const US = 'lb';
const RTR = 'rtr';
const V4 = { ours: '10.79.0.1', bird: '10.79.0.2' };
const V6 = { ours: 'fd00:79::1', bird: 'fd00:79::2' };
/** Keyed SHA1 on a second link. */
const AUTH = { ours: '10.79.1.1', bird: '10.79.1.2' };
const SHA1_KEY = 'stall-s3cret-16b+';
const ALL = [V4, V6, AUTH];
const STALL_MS = 100;
const STALLS = 3;

const BIRD_CONFIG: BirdConfig = {
  routerId: V4.bird,
  bfd: {
    // Session state changes in BIRD's log: a flap on its side cannot hide.
    debug: '{ events }',
    interface: 'eth0',
    minRxMs: 10,
    minTxMs: 10,
    multiplier: 3,
    interfaces: [{ interface: 'eth1', minRxMs: 10, minTxMs: 10, multiplier: 3, authentication: 'keyed sha1', passwords: [{ password: SHA1_KEY, id: 5 }] }],
    neighbors: ALL.map((p) => ({ address: p.ours, local: p.bird })),
  },
};

interface SessionStatus {
  remoteIp: string;
  stateName: string;
  txIntervalUs: number;
  detectionTimeUs: number;
  counters: { rx: number; tx: number; transitions: number };
  timing: { txLateMaxUs: number; txLateOverQuarter: number; txPeriodicUp: number; rxGapMaxUs: number; txOffloaded: boolean; detectDeferred: number };
}

describe('BFD at 10 ms x 3 against BIRD 2 through JS event-loop stalls (native transport)', { timeout: 120_000 }, () => {
  let lab: Lab;
  let bird: Bird;

  const birdSessions = async () => await bird.bfdSessions();
  const birdFlapLines = (from: number) =>
    bird.process
      .log()
      .slice(from)
      .split('\n')
      .filter((l) => /Session to \S+ changed state/.test(l));

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw0');
    await lab.addSwitch('sw1');
    await lab.addNode(US, { switch: 'sw0', ipv4: `${V4.ours}/24`, ipv6: `${V6.ours}/64` });
    await lab.addNode(RTR, { switch: 'sw0', ipv4: `${V4.bird}/24`, ipv6: `${V6.bird}/64` });
    await lab.addLink(US, { switch: 'sw1', ipv4: `${AUTH.ours}/24` });
    await lab.addLink(RTR, { switch: 'sw1', ipv4: `${AUTH.bird}/24` });
    writeFileSync(path.join(lab.dir, 'sha1.key'), `${SHA1_KEY}\n`, { mode: 0o600 });
    bird = await Bird.start(lab, RTR, BIRD_CONFIG);
  });

  after(async () => {
    await lab?.destroy();
  });

  /** Starts a peer, brings both sessions Up at 10 ms at both ends and lets them settle. */
  async function upAtTenMs(offload: boolean): Promise<BfdPeer> {
    const peer = await BfdPeer.start(lab, US, { transport: 'native', offload });
    for (const p of ALL) {
      const auth = p === AUTH ? { auth: { type: 'keyed-sha1', keyId: 5, keyFile: path.join(lab.dir, 'sha1.key') } } : {};
      await peer.add({ instance: 'llb-inst0', remoteIp: p.bird, sourceIp: p.ours, txIntervalUs: 10_000, multiplier: 3, ...auth });
    }
    for (const p of ALL) await peer.waitState('llb-inst0', p.bird, 'Up');
    await waitFor(
      async () => {
        const rows = await birdSessions();
        return ALL.every((p) => rows.some((r) => r.address === p.ours && r.state === 'Up' && r.interval === 0.01));
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'BIRD Up at 10 ms with all three' },
    );
    await sleep(1000);
    return peer;
  }

  /** Three 100 ms busy loops in the child, 400 ms apart; then a second of calm. */
  async function stall(peer: BfdPeer): Promise<number[]> {
    const blocked: number[] = [];
    for (let i = 0; i < STALLS; i++) {
      const r = (await peer.request('block', { ms: STALL_MS })) as { blockedMs: number };
      blocked.push(r.blockedMs);
      await sleep(400);
    }
    await sleep(1000);
    return blocked;
  }

  it(`offloaded: ${STALLS} stalls of ${STALL_MS} ms, no transition at either end`, async (t) => {
    const peer = await upAtTenMs(true);
    try {
      const sinceBefore = new Map((await birdSessions()).map((r) => [r.address, r.since]));
      const logFrom = bird.process.log().length;
      const eventsBefore = peer.events.length;
      const before = (await peer.request('list')) as SessionStatus[];

      const blocked = await stall(peer);
      assert.ok(blocked.every((ms) => ms >= STALL_MS), `the event loop was blocked: ${blocked.map((b) => b.toFixed(0)).join(', ')} ms`);

      const after = (await peer.request('list')) as SessionStatus[];
      for (const s of after) {
        const b = before.find((x) => x.remoteIp === s.remoteIp)!;
        t.diagnostic(
          `${s.remoteIp}: ${s.stateName}, periodic tx offloaded ${s.timing.txOffloaded}, ` +
            `${s.timing.txPeriodicUp - b.timing.txPeriodicUp} periodic packets in the stall phase (latest ${s.timing.txLateMaxUs} µs late, ` +
            `${s.timing.txLateOverQuarter} over a quarter interval late), longest silence from BIRD ${s.timing.rxGapMaxUs} µs, ` +
            `detection timers that waited for a queued packet: ${s.timing.detectDeferred}`,
        );
        assert.equal(s.stateName, 'Up');
        assert.equal(s.timing.txOffloaded, true);
        assert.equal(s.counters.transitions, b.counters.transitions, `${s.remoteIp}: no transition on our side`);
        // Counted from arrival on the receive thread, BIRD's packets never looked 100 ms apart.
        assert.ok(s.timing.rxGapMaxUs < 30_000, `${s.remoteIp}: longest gap ${s.timing.rxGapMaxUs} µs`);
        // A send as late as this still lands inside BIRD's 30 ms Detection Time (7.5-10 ms interval + 15 ms).
        // How close to schedule the timer thread wakes on a loaded machine is bench:bfd-soak's figure.
        assert.ok(s.timing.txLateMaxUs < 15_000, `${s.remoteIp}: a periodic packet was ${s.timing.txLateMaxUs} µs late`);
      }
      assert.deepEqual(peer.events.slice(eventsBefore), [], 'no state change event on our side');
      assert.deepEqual(birdFlapLines(logFrom), [], "no state change in BIRD's log");
      const rows = await birdSessions();
      assert.equal(rows.length, ALL.length);
      for (const r of rows) {
        assert.equal(r.state, 'Up', `BIRD's session with ${r.address}`);
        assert.equal(r.since, sinceBefore.get(r.address), `BIRD's session with ${r.address} Up since the same time`);
      }
    } finally {
      // Ended even when an assertion failed, so BIRD sees this peer go before the control starts.
      peer.proc.child.stdin!.end();
      await peer.proc.exited;
    }
  });

  it(`control: with the offload off, the same stalls take the sessions Down`, async (t) => {
    // BIRD saw the previous peer vanish; wait until it is back to Down.
    await waitFor(async () => (await birdSessions()).every((r) => r.state === 'Down'), {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'BIRD to notice the previous peer is gone',
    });
    const peer = await upAtTenMs(false);
    const logFrom = bird.process.log().length;
    const eventsBefore = peer.events.length;
    await stall(peer);
    const birdFlaps = birdFlapLines(logFrom);
    const ours = peer.events.slice(eventsBefore);
    t.diagnostic(`offload off: ${ours.length} state changes on our side, ${birdFlaps.length} in BIRD's log`);
    assert.ok(birdFlaps.some((l) => /from Up to Down/.test(l)), "BIRD declared us Down during a stall");
    peer.proc.child.stdin!.end();
    await peer.proc.exited;
  });
});
