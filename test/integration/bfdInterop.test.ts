// Our BFD (BfdManager on the native transport the agent runs, periodic
// transmission and arrival times offloaded to its thread, in a child
// process) against BIRD 2's BFD in network namespaces. The two nodes share
// four switches: eth0 carries the plain IPv4 and IPv6 sessions, eth1 keyed SHA1 (one session with
// the right key, one with a wrong key), eth2 meticulous keyed SHA1, eth3 the
// 10 ms session. BIRD runs sessions of its own (`neighbor` lines in `protocol
// bfd`), no BGP involved.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../lab/Lab.ts';
import { Bird, type BirdConfig } from '../lab/Bird.ts';
import { waitFor } from '../lab/wait.ts';
import { BfdPeer } from '../lab/BfdPeer.ts';
import { sendWithTtl } from '../lab/bfdPackets.ts';

const US = 'lb';
const RTR = 'rtr';
const V4 = { ours: '10.77.0.1', bird: '10.77.0.2' };
const V6 = { ours: 'fd00:77::1', bird: 'fd00:77::2' };
const AUTH = { ours: '10.77.1.1', bird: '10.77.1.2' };
const WRONG = { ours: '10.77.1.3', bird: '10.77.1.4' };
const METI = { ours: '10.77.2.1', bird: '10.77.2.2' };
const FAST = { ours: '10.77.3.1', bird: '10.77.3.2' };
const SHA1_KEY = 'loxilb-bfd-s3cret';
const METI_KEY = 'meticulous-k3y-20b';
const DIAG_DETECTION_EXPIRED = 1;
/** What a measured detection may exceed the Detection Time by: timer and event loop slack, the stdout pipe. */
const MARGIN_MS = 150;

const BIRD_CONFIG: BirdConfig = {
  routerId: V4.bird,
  bfd: {
    // Session state changes in BIRD's log: a flap on its side cannot hide.
    debug: '{ events }',
    interface: 'eth0',
    interfaces: [
      { interface: 'eth1', authentication: 'keyed sha1', passwords: [{ password: SHA1_KEY, id: 7 }] },
      { interface: 'eth2', authentication: 'meticulous keyed sha1', passwords: [{ password: METI_KEY, id: 9 }] },
      { interface: 'eth3', minRxMs: 10, minTxMs: 10, multiplier: 3 },
    ],
    neighbors: [V4, V6, AUTH, WRONG, METI, FAST].map((p) => ({ address: p.ours, local: p.bird })),
  },
};

describe('BFD interop with BIRD 2', { timeout: 120_000 }, () => {
  let lab: Lab;
  let bird: Bird;
  let peer: BfdPeer;
  const measured: string[] = [];

  const birdState = async (address: string) => (await bird.bfdSessions()).find((s) => s.address === address);
  const waitBird = (address: string, state: string, timeoutMs = 10_000) =>
    waitFor(async () => (await birdState(address))?.state === state, {
      timeoutMs,
      intervalMs: 20,
      what: `BIRD's session with ${address} to be ${state}`,
    });
  const session = (instance: string, p: { ours: string; bird: string }, extra: Record<string, unknown> = {}) => ({
    instance,
    remoteIp: p.bird,
    sourceIp: p.ours,
    txIntervalUs: 100_000,
    multiplier: 3,
    ...extra,
  });
  /** Measured numbers, printed together in after() (also when a case fails). */
  const note = (line: string) => measured.push(line);

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    for (const sw of ['sw0', 'sw1', 'sw2', 'sw3']) await lab.addSwitch(sw);
    await lab.addNode(US, { switch: 'sw0', ipv4: `${V4.ours}/24`, ipv6: `${V6.ours}/64` });
    await lab.addNode(RTR, { switch: 'sw0', ipv4: `${V4.bird}/24`, ipv6: `${V6.bird}/64` });
    await lab.addLink(US, { switch: 'sw1', ipv4: [`${AUTH.ours}/24`, `${WRONG.ours}/24`] });
    await lab.addLink(RTR, { switch: 'sw1', ipv4: [`${AUTH.bird}/24`, `${WRONG.bird}/24`] });
    await lab.addLink(US, { switch: 'sw2', ipv4: `${METI.ours}/24` });
    await lab.addLink(RTR, { switch: 'sw2', ipv4: `${METI.bird}/24` });
    await lab.addLink(US, { switch: 'sw3', ipv4: `${FAST.ours}/24` });
    await lab.addLink(RTR, { switch: 'sw3', ipv4: `${FAST.bird}/24` });
    bird = await Bird.start(lab, RTR, BIRD_CONFIG);
    peer = await BfdPeer.start(lab, US, { transport: 'native' });
  });

  after(async () => {
    if (measured.length) console.log(`measured:\n${measured.map((m) => `  ${m}`).join('\n')}`);
    await lab?.destroy();
  });

  it('(a) comes Up at 100 ms x 3 over IPv4, and BIRD shows it Up with the negotiated timers', async () => {
    const t0 = Date.now();
    await peer.add(session('llb-inst0', V4));
    await peer.waitState('llb-inst0', V4.bird, 'Up');
    await waitBird(V4.ours, 'Up');
    note(`IPv4 100ms x3: Up after ${Date.now() - t0} ms`);
    const seq = peer.eventsOf('llb-inst0', V4.bird).map((e) => e.toName).join(' -> ');
    assert.ok(seq === 'Init -> Up' || seq === 'Up', `Down -> (Init ->) Up, not ${seq}`);
    // BIRD's rate switch after Up is a Poll Sequence in both directions.
    await waitFor(
      async () => {
        const [st] = (await peer.request('list')) as { remoteIp: string; txIntervalUs: number; detectionTimeUs: number; pollActive: boolean }[];
        const b = await birdState(V4.ours);
        return st?.txIntervalUs === 100_000 && st.detectionTimeUs === 300_000 && !st.pollActive && b?.interval === 0.1 && b.timeout === 0.3;
      },
      { timeoutMs: 5000, intervalMs: 50, what: 'both sides at 100 ms with a 300 ms Detection Time' },
    );
  });

  it('(e) comes Up over IPv6; BIRD, which checks TTL / hop limit 255, accepts ours on both families', async () => {
    await peer.add(session('llb-inst0', V6));
    await peer.waitState('llb-inst0', V6.bird, 'Up');
    await waitBird(V6.ours, 'Up');
    assert.doesNotMatch(bird.process.log(), /TTL/i, 'no complaint about our packets');
    // Control: the same kind of packet with TTL 64 is refused and logged, so
    // the silence above means something.
    await sendWithTtl(lab, US, V4.ours, V4.bird, 64);
    await sendWithTtl(lab, US, V6.ours, V6.bird, 64);
    const complaints = await waitFor(
      () => {
        const lines = bird.process.log().split('\n').filter((l) => /TTL/i.test(l));
        return lines.length >= 2 ? lines : undefined;
      },
      { timeoutMs: 3000, intervalMs: 20, what: 'BIRD to log the TTL 64 packets' },
    );
    note(`BIRD on TTL 64: ${complaints.map((l) => l.replace(/^\S+ \S+ /, '')).join(' | ')}`);
    assert.equal((await birdState(V4.ours))?.state, 'Up', 'the refused packets changed nothing');
  });

  it('(f) keyed SHA1 and meticulous keyed SHA1 come Up with BIRD; a wrong key never does', async () => {
    const keyFile = path.join(lab.dir, 'sha1.key');
    const wrongFile = path.join(lab.dir, 'wrong.key');
    const metiFile = path.join(lab.dir, 'meticulous.key');
    writeFileSync(keyFile, `${SHA1_KEY}\n`, { mode: 0o600 });
    writeFileSync(wrongFile, 'not-the-same-s3cret\n', { mode: 0o600 });
    writeFileSync(metiFile, METI_KEY, { mode: 0o600 });
    await peer.add(session('auth', AUTH, { auth: { type: 'keyed-sha1', keyId: 7, keyFile } }));
    await peer.add(session('auth', WRONG, { auth: { type: 'keyed-sha1', keyId: 7, keyFile: wrongFile } }));
    await peer.add(session('auth', METI, { auth: { type: 'meticulous-keyed-sha1', keyId: 9, keyFile: metiFile } }));
    await peer.waitState('auth', AUTH.bird, 'Up');
    await peer.waitState('auth', METI.bird, 'Up');
    await waitBird(AUTH.ours, 'Up');
    await waitBird(METI.ours, 'Up');
    // Long enough for several 1 s packets each way.
    await sleep(2500);
    assert.deepEqual(peer.eventsOf('auth', WRONG.bird), [], 'the wrong-key session never left Down');
    assert.notEqual((await birdState(WRONG.ours))?.state, 'Up');
    const list = (await peer.request('list')) as { remoteIp: string; stateName: string; counters: { drops: Record<string, number> } }[];
    const wrong = list.find((s) => s.remoteIp === WRONG.bird)!;
    assert.equal(wrong.stateName, 'Down');
    assert.ok(wrong.counters.drops['auth-digest-mismatch']! >= 2, `BIRD's packets were refused: ${JSON.stringify(wrong.counters.drops)}`);
    for (const ip of [AUTH.bird, METI.bird]) {
      const s = list.find((x) => x.remoteIp === ip)!;
      const dropped = Object.entries(s.counters.drops).filter(([, n]) => n > 0);
      assert.deepEqual(dropped, [], `no packet of the authenticated session ${ip} was dropped`);
    }
  });

  it('(g) 10 ms x 3 comes Up and stays Up for 10 s with no flap; deleting it takes BIRD Down at once', async () => {
    const t0 = Date.now();
    await peer.add(session('fast', FAST, { txIntervalUs: 10_000 }));
    await peer.waitState('fast', FAST.bird, 'Up');
    await waitFor(async () => (await birdState(FAST.ours))?.interval === 0.01, {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'BIRD at 10 ms',
    });
    note(`10ms x3: Up after ${Date.now() - t0} ms`);
    const logFrom = bird.process.log().length;
    const upEvents = peer.eventsOf('fast', FAST.bird).length;
    await sleep(10_000);
    const flaps = peer.eventsOf('fast', FAST.bird).slice(upEvents);
    const birdFlaps = bird.process
      .log()
      .slice(logFrom)
      .split('\n')
      .filter((l) => l.includes(`Session to ${FAST.ours} changed state`));
    note(`10ms x3 for 10 s: ${flaps.length} state changes on our side, ${birdFlaps.length} in BIRD's log`);
    const fast = ((await peer.request('list')) as { remoteIp: string; counters: { rx: number; tx: number }; timing: unknown }[]).find(
      (s) => s.remoteIp === FAST.bird,
    )!;
    // How well each side kept time: a flap with our tx on time and a long rx gap was the peer's silence.
    assert.deepEqual(flaps, [], `no state change on our side in 10 s (our timing ${JSON.stringify(fast.timing)}; BIRD: ${birdFlaps.join(' | ')})`);
    assert.deepEqual(birdFlaps, [], 'no state change on BIRD\'s side in 10 s');
    assert.equal((await birdState(FAST.ours))?.state, 'Up');
    note(`10ms x3: ${fast.counters.tx} packets sent, ${fast.counters.rx} received so far`);

    const deleting = peer.request('delete', { instance: 'fast', remoteIp: FAST.bird });
    await waitBird(FAST.ours, 'Down', 2000);
    await deleting;
    const ev = peer.eventsOf('fast', FAST.bird).at(-1)!;
    assert.equal(ev.toName, 'AdminDown');
    assert.equal(ev.diag, 7);
    // BIRD 2.0.12 shows no diagnostic, but its log has the time: Down well
    // inside its 30 ms Detection Time after our AdminDown means it was told,
    // not timed out (a timeout needs 30 ms of silence after our last packet,
    // sent at most 10 ms before the AdminDown).
    const line = bird.process
      .log()
      .split('\n')
      .find((l) => l.includes(`Session to ${FAST.ours} changed state from Up to Down`));
    assert.ok(line, 'BIRD logged the Down');
    const birdDownAt = new Date(line.slice(0, 23).replace(' ', 'T')).getTime();
    const told = birdDownAt - ev.at;
    note(`delete at 10ms x3: BIRD Down ${told} ms after our AdminDown (BIRD's Detection Time 30 ms)`);
    assert.ok(told < 20, `BIRD went Down ${told} ms after AdminDown`);
  });

  it('(c) a cut link takes both sessions on it Down within the Detection Time; restored, they come back Up', async () => {
    const before4 = peer.eventsOf('llb-inst0', V4.bird).length;
    const before6 = peer.eventsOf('llb-inst0', V6.bird).length;
    const t0 = Date.now();
    await lab.cutLink(US, 'eth0');
    await peer.waitState('llb-inst0', V4.bird, 'Down', 3000);
    await peer.waitState('llb-inst0', V6.bird, 'Down', 3000);
    for (const [ip, n] of [
      [V4.bird, before4],
      [V6.bird, before6],
    ] as const) {
      const ev = peer.eventsOf('llb-inst0', ip)[n]!;
      assert.equal(ev.toName, 'Down');
      assert.equal(ev.diag, DIAG_DETECTION_EXPIRED);
      const ms = ev.at - t0;
      note(`link cut, ${ip}: Down after ${ms} ms (Detection Time 300 ms)`);
      assert.ok(ms <= 300 + MARGIN_MS, `Down ${ms} ms after the cut`);
    }
    const r0 = Date.now();
    await lab.restoreLink(US, 'eth0');
    await peer.waitState('llb-inst0', V4.bird, 'Up');
    await peer.waitState('llb-inst0', V6.bird, 'Up');
    await waitBird(V4.ours, 'Up');
    await waitBird(V6.ours, 'Up');
    note(`link restored: both Up again after ${Date.now() - r0} ms`);
  });

  it('(b) BIRD killed: Down with diag 1 within the Detection Time; BIRD restarted: Up again', async () => {
    const n = peer.eventsOf('llb-inst0', V4.bird).length;
    const t0 = Date.now();
    bird.process.signal('SIGKILL');
    await peer.waitState('llb-inst0', V4.bird, 'Down', 3000);
    const ev = peer.eventsOf('llb-inst0', V4.bird)[n]!;
    const ms = ev.at - t0;
    note(`BIRD SIGKILLed: our IPv4 session Down after ${ms} ms, diag ${ev.diag} (Detection Time 300 ms)`);
    assert.equal(ev.fromName, 'Up');
    assert.equal(ev.diag, DIAG_DETECTION_EXPIRED);
    assert.ok(ms <= 300 + MARGIN_MS, `Down ${ms} ms after the kill`);
    await bird.process.exited;

    const r0 = Date.now();
    bird = await Bird.start(lab, RTR, BIRD_CONFIG);
    for (const [inst, p] of [
      ['llb-inst0', V4],
      ['llb-inst0', V6],
      ['auth', AUTH],
      ['auth', METI],
    ] as const) {
      await peer.waitState(inst, p.bird, 'Up');
      await waitBird(p.ours, 'Up');
    }
    note(`BIRD restarted: sessions Up again after ${Date.now() - r0} ms`);
  });

  it('(d) our process killed: BIRD shows the sessions Down', async () => {
    await waitBird(V4.ours, 'Up');
    const t0 = Date.now();
    peer.proc.signal('SIGKILL');
    await waitBird(V4.ours, 'Down', 3000);
    note(`our process SIGKILLed: BIRD shows Down after ${Date.now() - t0} ms (polling birdc)`);
    await waitBird(V6.ours, 'Down', 3000);
    await peer.proc.exited;
    const log = bird.process.log();
    assert.doesNotMatch(log, /TTL/i, 'BIRD never complained about our TTL / hop limit');
  });
});
