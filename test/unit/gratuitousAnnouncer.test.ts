// The VIP takeover's gratuitous ARP: one frame before the takeover returns,
// the repeat 100 ms later on the injected clock, and a failed repeat is no fault.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gratuitousAnnouncer } from '../../src/ha/HaNode.ts';
import { FakeClock } from '../lab/FakeClock.ts';

describe('gratuitousAnnouncer', () => {
  it('sends one frame now and the repeat 100 ms later', async () => {
    const clock = new FakeClock();
    const sent: { at: number; count: number }[] = [];
    const announce = gratuitousAnnouncer(clock, async (_ifname, _address, opts) => {
      sent.push({ at: clock.now(), count: opts?.count ?? 1 });
    });
    await announce('eth0', '10.0.0.9');
    assert.deepEqual(sent, [{ at: 0, count: 1 }]);
    await clock.advance(99);
    assert.equal(sent.length, 1);
    await clock.advance(1);
    assert.deepEqual(sent, [{ at: 0, count: 1 }, { at: 100, count: 2 }]);
  });

  it('a failed first frame fails the takeover; a failed repeat is swallowed', async () => {
    const clock = new FakeClock();
    await assert.rejects(gratuitousAnnouncer(clock, async () => Promise.reject(new Error('eth9: no such interface')))('eth9', '10.0.0.9'), /eth9/);
    assert.equal(clock.pending, 0, 'no repeat after a failed first frame');
    let calls = 0;
    await gratuitousAnnouncer(clock, async () => {
      if (++calls > 1) throw new Error('link went down');
    })('eth0', '10.0.0.9');
    await clock.advance(100);
    assert.equal(calls, 2);
  });
});
