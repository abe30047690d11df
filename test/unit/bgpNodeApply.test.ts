// A BGP config write is answered once gobgpd has been given it (the
// reconciler's next pass has ended), or after CONFIG_APPLY_WAIT_MS when
// gobgpd does not answer: `loxicmd create bgpglobal` then `gobgp global`
// shows the config, and a hung gobgpd does not hang the REST call.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpNode, CONFIG_APPLY_WAIT_MS } from '../../src/bgp/BgpNode.ts';
import type { GobgpClient } from '../../src/bgp/GobgpClient.ts';
import type { DesiredBgp } from '../../src/bgp/planBgpConfig.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeClock } from '../lab/FakeClock.ts';

const DESIRED: DesiredBgp = {
  global: { localAs: 65001, routerId: '10.0.0.1' },
  neighbors: [],
  timers: { connectRetry: 2, holdTime: 90, keepalive: 30 },
  bfdDown: new Set(),
  drain: false,
} as unknown as DesiredBgp;

function setup() {
  const clock = new FakeClock();
  const asked: string[] = [];
  let release: (err: Error) => void = () => undefined;
  // gobgpd's first answer of the pass is held until the test lets it go (as an error: the pass ends).
  const held = new Promise<never>((_, reject) => (release = reject));
  held.catch(() => undefined);
  const client = {
    getBgp: () => {
      asked.push('getBgp');
      return held;
    },
    listPeers: async () => [],
    globalExportPolicies: async () => [],
    listPolicies: async () => [],
    close: () => undefined,
  } as unknown as GobgpClient;
  const node = new BgpNode(
    { gobgpApi: '127.0.0.1:1', gobgpBin: 'gobgpd', gobgpLogLevel: 'info', kernelRoutes: false, clock },
    { vips: { snapshot: () => new Map(), takeChanges: () => new Map(), role: () => 'NOT_DEFINED' }, peerState: () => undefined, peersReset: () => undefined },
    silentLogger,
    client,
  );
  return { clock, node, asked, release };
}

describe('BgpNode.applyConfig', () => {
  it('answers once the pass that takes the config to gobgpd has ended', async () => {
    const { clock, node, asked, release } = setup();
    let answered = false;
    void node.applyConfig(DESIRED).then(() => (answered = true));
    await clock.settle();
    assert.deepEqual(asked, ['getBgp'], 'the pass started at once, without the burst spacing');
    await clock.advance(100);
    assert.equal(answered, false, 'not while gobgpd is being asked');
    release(new Error('UNAVAILABLE'));
    await clock.settle();
    assert.equal(answered, true);
    node.closeLoops();
  });

  it('a gobgpd that does not answer: the write is answered after CONFIG_APPLY_WAIT_MS, not never', async () => {
    const { clock, node } = setup();
    let answered = false;
    void node.applyConfig(DESIRED).then(() => (answered = true));
    await clock.advance(CONFIG_APPLY_WAIT_MS - 1);
    assert.equal(answered, false);
    await clock.advance(1);
    assert.equal(answered, true);
    node.closeLoops();
  });
});
