// Our BFD on the native transport (BfdManager on NativeBfdTransport, in a
// child process) against BIRD 2 in network namespaces, one link, IPv4 and
// IPv6. BIRD refuses packets whose TTL / Hop Limit is not 255, so sessions
// coming Up prove our send side; a forged Down packet with TTL 64 from
// BIRD's own address, which the session would act on if it got through,
// proves the receive-side check.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../lab/Lab.ts';
import { Bird, type BirdConfig } from '../lab/Bird.ts';
import { waitFor } from '../lab/wait.ts';
import { BfdPeer } from '../lab/BfdPeer.ts';
import { sendWithTtl } from '../lab/bfdPackets.ts';
import { BfdState } from '../../src/bfd/BfdPacket.ts';

const US = 'lb';
const RTR = 'rtr';
const V4 = { ours: '10.78.0.1', bird: '10.78.0.2' };
const V6 = { ours: 'fd00:78::1', bird: 'fd00:78::2' };

const BIRD_CONFIG: BirdConfig = {
  routerId: V4.bird,
  bfd: { debug: '{ events }', interface: 'eth0', neighbors: [V4, V6].map((p) => ({ address: p.ours, local: p.bird })) },
};

interface TransportStats {
  received: number;
  delivered: number;
  droppedTtl: number;
  errors: number;
  handlerErrors: number;
}

describe('BFD interop with BIRD 2 over the native transport', { timeout: 60_000 }, () => {
  let lab: Lab;
  let bird: Bird;
  let peer: BfdPeer;

  const birdState = async (address: string) => (await bird.bfdSessions()).find((s) => s.address === address);
  const waitBird = (address: string, state: string, timeoutMs = 10_000) =>
    waitFor(async () => (await birdState(address))?.state === state, {
      timeoutMs,
      intervalMs: 20,
      what: `BIRD's session with ${address} to be ${state}`,
    });
  const transportStats = async () => ((await peer.request('stats')) as { transport: TransportStats }).transport;

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw0');
    await lab.addNode(US, { switch: 'sw0', ipv4: `${V4.ours}/24`, ipv6: `${V6.ours}/64` });
    await lab.addNode(RTR, { switch: 'sw0', ipv4: `${V4.bird}/24`, ipv6: `${V6.bird}/64` });
    bird = await Bird.start(lab, RTR, BIRD_CONFIG);
    peer = await BfdPeer.start(lab, US, { transport: 'native' });
  });

  after(async () => {
    await lab?.destroy();
  });

  it('IPv4 and IPv6 sessions come Up at both ends; every BIRD packet passed the TTL check', async () => {
    for (const p of [V4, V6]) {
      await peer.add({ instance: 'llb-inst0', remoteIp: p.bird, sourceIp: p.ours, txIntervalUs: 100_000, multiplier: 3 });
    }
    for (const p of [V4, V6]) {
      await peer.waitState('llb-inst0', p.bird, 'Up');
      await waitBird(p.ours, 'Up');
    }
    const st = await transportStats();
    assert.ok(st.delivered > 0, `packets delivered: ${JSON.stringify(st)}`);
    assert.equal(st.droppedTtl, 0);
    assert.equal(st.errors, 0);
    assert.doesNotMatch(bird.process.log(), /TTL/i, 'BIRD did not complain about our TTL / hop limit');
  });

  it('a forged Down packet from BIRD\'s address with TTL 64 is dropped in the addon and changes nothing', async () => {
    const before = await transportStats();
    const events = peer.events.length;
    for (const p of [V4, V6]) {
      // Your Discriminator 0 and BIRD's source address: accepted, it would take the session Down.
      await sendWithTtl(lab, RTR, p.bird, p.ours, 64, { state: BfdState.Down });
    }
    await waitFor(async () => (await transportStats()).droppedTtl >= before.droppedTtl + 2, {
      timeoutMs: 3000,
      intervalMs: 20,
      what: 'both forged packets to be counted as dropped',
    });
    // Several of BIRD's 100 ms packets later, still nothing happened.
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(peer.events.slice(events), [], 'no state change');
    const list = (await peer.request('list')) as { remoteIp: string; stateName: string; counters: { drops: Record<string, number> } }[];
    for (const p of [V4, V6]) {
      const s = list.find((x) => x.remoteIp === p.bird)!;
      assert.equal(s.stateName, 'Up');
      assert.equal(s.counters.drops['bad-ttl'], 0, 'the session never saw it');
    }
    assert.equal((await transportStats()).droppedTtl, before.droppedTtl + 2);
  });

  it('BIRD stopped: both sessions go Down within the Detection Time', async () => {
    const n4 = peer.eventsOf('llb-inst0', V4.bird).length;
    const n6 = peer.eventsOf('llb-inst0', V6.bird).length;
    const t0 = Date.now();
    bird.process.signal('SIGKILL');
    await peer.waitState('llb-inst0', V4.bird, 'Down', 3000);
    await peer.waitState('llb-inst0', V6.bird, 'Down', 3000);
    for (const [ip, n] of [
      [V4.bird, n4],
      [V6.bird, n6],
    ] as const) {
      const ev = peer.eventsOf('llb-inst0', ip)[n]!;
      assert.equal(ev.fromName, 'Up');
      assert.equal(ev.diag, 1, 'Control Detection Time Expired');
      assert.ok(ev.at - t0 <= 300 + 200, `Down ${ev.at - t0} ms after the kill`);
    }
  });
});
