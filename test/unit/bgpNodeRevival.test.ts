// BgpNode: the peer watch feeds PeerRevival, which has the reconciler make a
// peer anew when its Established session ends admin-up (gobgpd would hold it
// Idle 5 s). The case the loaded chaos runs hit: the router's restart flaps
// BFD Down and Up before a reconcile pass runs, so the BFD path never shuts
// the peer, and only the watch sees that its session ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpNode } from '../../src/bgp/BgpNode.ts';
import type { GobgpClient, PeerInfo } from '../../src/bgp/GobgpClient.ts';
import { REVIVE_MIN_UP_MS } from '../../src/bgp/PeerRevival.ts';
import type { DesiredBgp } from '../../src/bgp/planBgpConfig.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeClock } from '../lab/FakeClock.ts';
import { FakeGobgp } from '../lab/FakeGobgp.ts';

const ROUTER = '192.168.80.1';
const desired: DesiredBgp = {
  global: { localAs: 64512, routerId: '192.168.80.10', listenPort: 0, setNextHopSelf: true },
  neighbors: [{ ipAddress: ROUTER, remoteAs: 65101, remotePort: 0, setMultiHop: false }],
  timers: { connectRetry: 5, holdTime: 9, keepalive: 3 },
};

class WatchedGobgp extends FakeGobgp {
  onPeer?: (p: PeerInfo) => void;
  async waitReady() {}
  watch(h: { onPeer?: (p: PeerInfo) => void }) {
    if (h.onPeer) this.onPeer = h.onPeer;
    return () => undefined;
  }
  close() {}
  /** gobgpd's session with the router changes state, and the watch says so. */
  session(sessionState: string) {
    const p = this.peers.find((q) => q.address === ROUTER)!;
    p.sessionState = sessionState;
    this.onPeer!({ ...p });
  }
}

async function setup() {
  const clock = new FakeClock();
  const fake = new WatchedGobgp();
  const node = new BgpNode(
    { gobgpApi: '127.0.0.1:1', gobgpBin: 'gobgpd', gobgpLogLevel: 'info', kernelRoutes: false, clock },
    { vips: { snapshot: () => new Map(), takeChanges: () => new Map(), role: () => 'NOT_DEFINED' }, peerState: () => undefined, peersReset: () => undefined },
    silentLogger,
    fake as unknown as GobgpClient,
  );
  node.setConfig(desired);
  node.supervisor.emit('started');
  await clock.settle();
  await clock.until(node.whenIdle());
  assert.deepEqual(fake.calls.filter((c) => /Peer/.test(c)), [`addPeer ${ROUTER}`]);
  fake.calls = [];
  return { clock, fake, node };
}

const peerCalls = (fake: FakeGobgp) => fake.calls.filter((c) => /Peer/.test(c));

test('the router ends a session that was up a while, BFD flapping faster than a pass: the peer is made anew', async () => {
  const { clock, fake, node } = await setup();
  fake.session('ESTABLISHED');
  await clock.advance(REVIVE_MIN_UP_MS + 1000);
  // BFD Down and Up again before any pass: the BFD path plans nothing.
  node.setConfig({ ...desired, bfdDown: new Set([ROUTER]) }, true);
  node.setConfig(desired, true);
  fake.session('IDLE'); // the router's NOTIFICATION; gobgpd holds the peer Idle, admin-up
  await clock.until(node.whenIdle());
  assert.deepEqual(peerCalls(fake), [`deletePeer ${ROUTER}`, `addPeer ${ROUTER}`]);
  assert.equal(fake.peers[0]?.sessionState, 'ACTIVE', 'the new peer takes the router\'s connection at once');
  node.stopWatches();
  node.closeLoops();
});

test('a session up for less than REVIVE_MIN_UP_MS, or shut by us, keeps gobgpd\'s hold', async () => {
  const { clock, fake, node } = await setup();
  fake.session('ESTABLISHED');
  await clock.advance(REVIVE_MIN_UP_MS - 1000);
  fake.session('IDLE');
  await clock.until(node.whenIdle());
  assert.deepEqual(peerCalls(fake), []);

  fake.session('ESTABLISHED');
  await clock.advance(REVIVE_MIN_UP_MS + 1000);
  // BFD Down: our pass shuts it (admin-down), and the watch reports that.
  node.setConfig({ ...desired, bfdDown: new Set([ROUTER]) }, true);
  await clock.until(node.whenIdle());
  assert.deepEqual(peerCalls(fake), [`disablePeer ${ROUTER}`]);
  fake.session('IDLE');
  await clock.until(node.whenIdle());
  assert.deepEqual(peerCalls(fake), [`disablePeer ${ROUTER}`], 'not made anew while BFD says the router is gone');
  node.stopWatches();
  node.closeLoops();
});
