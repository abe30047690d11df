// The start-up rule: an instance BFD elects starts NOT_DEFINED; a saved MASTER
// of an API-driven instance starts BACKUP and is resumed only when nobody
// spoke for the instance and no peer is MASTER of it (issue 15: a restarted
// agent claims MASTER only when the election or kube-loxilb says so).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RoleRestore, type RoleRestoreHost } from '../../src/ha/RoleRestore.ts';
import type { PeerRoleView } from '../../src/ha/HaManager.ts';
import type { CiState } from '../../src/ha/ClusterState.ts';
import { FakeClock } from '../lab/FakeClock.ts';

const WAIT = 5000;

function setup(peers: { remoteIp: string; view?: PeerRoleView }[] | Error = [], elected = new Set<string>()) {
  const clock = new FakeClock();
  const resumed: string[] = [];
  let reads = 0;
  const host: RoleRestoreHost = {
    elected: (i) => elected.has(i),
    readPeers: async () => {
      reads++;
      if (peers instanceof Error) throw peers;
      return peers;
    },
    resume: (i) => resumed.push(i),
  };
  const r = new RoleRestore(host, { waitMs: WAIT, clock });
  return { clock, r, resumed, reads: () => reads };
}

const view = (state: PeerRoleView['state']): PeerRoleView => ({ state, priority: 100, synced: true });

describe('RoleRestore', () => {
  describe('instances BFD elects', () => {
    const saved: CiState[] = [
      { instance: 'llb-inst0', state: 'MASTER', vip: '192.168.80.250' },
      { instance: 'other', state: 'MASTER', vip: '0.0.0.0' },
      { instance: 'third', state: 'BACKUP', vip: '0.0.0.0' },
    ];

    it('an instance BFD elects starts NOT_DEFINED, keeping its floating address, and waits for nothing', async () => {
      const { clock, r, resumed } = setup();
      const out = r.restore(saved, new Set(['llb-inst0', 'third']));
      assert.deepEqual(out, [
        { instance: 'llb-inst0', state: 'NOT_DEFINED', vip: '192.168.80.250' },
        { instance: 'other', state: 'BACKUP', vip: '0.0.0.0' },
        { instance: 'third', state: 'NOT_DEFINED', vip: '0.0.0.0' },
      ]);
      assert.equal(r.waiting('llb-inst0'), false, 'the election decides it, not the wait');
      assert.equal(r.waiting('other'), true);
      r.begin();
      await clock.advance(WAIT);
      assert.deepEqual(resumed, ['other']);
    });

    it('with nothing elected only the saved MASTER changes; the input is not changed', () => {
      const { r } = setup();
      assert.deepEqual(r.restore(saved, new Set()).map((s) => s.state), ['BACKUP', 'BACKUP', 'BACKUP']);
      assert.equal(saved[0]!.state, 'MASTER');
      assert.equal(saved[1]!.state, 'MASTER');
    });
  });

  it('starts a saved MASTER as BACKUP and leaves the other states as saved', () => {
    const { r } = setup();
    const out = r.restore([
      { instance: 'llb-inst0', state: 'MASTER', vip: '10.0.0.9' },
      { instance: 'llb-inst1', state: 'BACKUP', vip: '0.0.0.0' },
      { instance: 'llb-inst2', state: 'NOT_DEFINED', vip: '0.0.0.0' },
    ]);
    assert.deepEqual(out.map((s) => s.state), ['BACKUP', 'BACKUP', 'NOT_DEFINED']);
    assert.equal(out[0]!.vip, '10.0.0.9');
    assert.equal(r.waiting('llb-inst0'), true);
    assert.equal(r.waiting('llb-inst1'), false);
    assert.equal(r.remainingMs('llb-inst0'), undefined, 'no wait before the API listens');
  });

  it('resumes MASTER when the wait ends with no word and no peer MASTER', async () => {
    const { clock, r, resumed } = setup([{ remoteIp: '10.0.0.2', view: view('BACKUP') }, { remoteIp: '10.0.0.3' }]);
    r.restore([{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
    await clock.advance(60_000);
    assert.deepEqual(resumed, [], 'nothing before begin()');
    r.begin();
    assert.equal(r.remainingMs('llb-inst0'), WAIT);
    await clock.advance(WAIT - 1);
    assert.deepEqual(resumed, []);
    await clock.advance(1);
    assert.deepEqual(resumed, ['llb-inst0']);
    assert.equal(r.waiting('llb-inst0'), false);
  });

  it('stays BACKUP when a peer is MASTER of the instance', async () => {
    const { clock, r, resumed, reads } = setup([{ remoteIp: '10.0.0.2', view: view('MASTER') }]);
    r.restore([{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
    r.begin();
    await clock.advance(WAIT);
    assert.equal(reads(), 1);
    assert.deepEqual(resumed, []);
    assert.equal(r.waiting('llb-inst0'), false, 'decided: it stays BACKUP');
  });

  it('the API settles it: no resume, no peer read', async () => {
    const { clock, r, resumed, reads } = setup();
    r.restore([{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
    r.begin();
    await clock.advance(1000);
    r.settle('llb-inst0');
    await clock.advance(WAIT);
    assert.deepEqual(resumed, []);
    assert.equal(reads(), 0);
  });

  it('an instance the election took over is not resumed', async () => {
    const elected = new Set<string>();
    const { clock, r, resumed } = setup([], elected);
    r.restore([{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
    r.begin();
    elected.add('llb-inst0');
    await clock.advance(WAIT);
    assert.deepEqual(resumed, []);
  });

  it('peers that cannot be read claim nothing: a node alone serves again', async () => {
    const { clock, r, resumed } = setup(new Error('connection refused'));
    r.restore([{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
    r.begin();
    await clock.advance(WAIT);
    assert.deepEqual(resumed, ['llb-inst0']);
  });

  it('the API speaking while the peers are read wins over the read', async () => {
    const clock = new FakeClock();
    const resumed: string[] = [];
    let release!: (v: { remoteIp: string; view?: PeerRoleView }[]) => void;
    const r = new RoleRestore(
      { elected: () => false, readPeers: () => new Promise((res) => (release = res)), resume: (i) => resumed.push(i) },
      { waitMs: WAIT, clock },
    );
    r.restore([{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }]);
    r.begin();
    await clock.advance(WAIT);
    r.settle('llb-inst0');
    release([]);
    await clock.settle();
    assert.deepEqual(resumed, []);
  });

  it('stop() cancels every wait', async () => {
    const { clock, r, resumed } = setup();
    r.restore([{ instance: 'a', state: 'MASTER', vip: '0.0.0.0' }, { instance: 'b', state: 'MASTER', vip: '0.0.0.0' }]);
    r.begin();
    r.stop();
    await clock.advance(WAIT * 2);
    assert.deepEqual(resumed, []);
    assert.equal(clock.pending, 0);
  });
});
