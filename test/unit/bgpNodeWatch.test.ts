// BgpNode's watches of gobgpd (best paths, peer states) are opened again
// WATCH_RESTART_MS after they end, on the injected clock, and never after a stop.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpNode, WATCH_RESTART_MS } from '../../src/bgp/BgpNode.ts';
import type { GobgpClient } from '../../src/bgp/GobgpClient.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeClock } from '../lab/FakeClock.ts';

type Handlers = { onPaths?: unknown; onPeer?: unknown; onEnd: (err?: Error) => void };

function setup() {
  const clock = new FakeClock();
  const watches: Handlers[] = [];
  const resets: number[] = [];
  // Only what BgpNode itself calls; the reconciler's passes fail against it and retry on the clock.
  const client = {
    waitReady: async () => undefined,
    watch: (h: Handlers) => {
      watches.push(h);
      return () => undefined;
    },
    close: () => undefined,
  } as unknown as GobgpClient;
  const node = new BgpNode(
    { gobgpApi: '127.0.0.1:1', gobgpBin: 'gobgpd', gobgpLogLevel: 'info', kernelRoutes: true, clock },
    { vips: { snapshot: () => new Map(), takeChanges: () => new Map(), role: () => 'NOT_DEFINED' }, peerState: () => undefined, peersReset: () => resets.push(clock.now()) },
    silentLogger,
    client,
  );
  const peerWatches = () => watches.filter((w) => w.onPeer);
  const pathWatches = () => watches.filter((w) => w.onPaths);
  return { clock, node, watches, peerWatches, pathWatches, resets };
}

describe('BgpNode watch restarts', () => {
  it('opens the peer watch again WATCH_RESTART_MS after it ended, on the injected clock', async () => {
    const { clock, node, peerWatches, resets } = setup();
    node.supervisor.emit('started');
    await clock.settle();
    assert.equal(peerWatches().length, 1);
    peerWatches()[0]!.onEnd(new Error('UNAVAILABLE'));
    assert.deepEqual(resets, [0], 'the session states are forgotten at once');
    await clock.advance(WATCH_RESTART_MS - 1);
    assert.equal(peerWatches().length, 1, 'not before the pause');
    await clock.advance(1);
    assert.equal(peerWatches().length, 2);
    node.stopWatches();
    node.closeLoops();
  });

  it('opens the best-path watch again WATCH_RESTART_MS after it ended', async () => {
    const { clock, node, pathWatches } = setup();
    node.supervisor.emit('started');
    await clock.settle();
    assert.equal(pathWatches().length, 1);
    pathWatches()[0]!.onEnd(new Error('no global config'));
    await clock.advance(WATCH_RESTART_MS - 1);
    assert.equal(pathWatches().length, 1);
    await clock.advance(1);
    assert.equal(pathWatches().length, 2);
    node.stopWatches();
    node.closeLoops();
  });

  it('a stop cancels a pending restart', async () => {
    const { clock, node, peerWatches, pathWatches } = setup();
    node.supervisor.emit('started');
    await clock.settle();
    peerWatches()[0]!.onEnd();
    pathWatches()[0]!.onEnd();
    node.stopWatches();
    node.closeLoops();
    await clock.advance(WATCH_RESTART_MS * 5);
    assert.equal(peerWatches().length, 1);
    assert.equal(pathWatches().length, 1);
  });
});
