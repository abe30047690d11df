// Lease-based leader election against FakeKubeApi: a held Lease is only
// taken over after it went unrenewed for its duration, racing candidates
// never both lead, and a leader that cannot renew steps down in time. The
// electors' timers run on a FakeClock; their requests are real loopback HTTP,
// waited for (whenIdle) before time moves on.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Lease } from '@kubernetes/client-node';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { FakeClock } from '../lab/FakeClock.ts';
import { LeaderElector, microTime } from '../../src/kube/LeaderElector.ts';

const FAST = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 };

describe('LeaderElector', { timeout: 60_000 }, () => {
  let api: FakeKubeApi;
  let clock = new FakeClock();
  const electors: LeaderElector[] = [];

  function elector(identity: string, opts: Partial<typeof FAST> = {}): LeaderElector {
    const e = new LeaderElector(api.kubeConfig(), { identity, ...FAST, ...opts, clock });
    electors.push(e);
    return e;
  }

  const idle = () => Promise.all(electors.map((e) => e.whenIdle()));
  const advance = (ms: number) => clock.advance(ms, { idle });
  /** Fake time until cond holds (the electors' requests waited for at each step). */
  const until = (cond: () => unknown, what: string, maxMs = 5000) => clock.runUntil(cond, { idle, what, maxMs });

  function lease(): V1Lease | undefined {
    return api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system');
  }

  before(async () => {
    api = new FakeKubeApi();
    await api.start();
  });

  afterEach(async () => {
    for (const e of electors.splice(0)) await e.stop();
    if (lease()) api.delete('leases', 'kube-loxilb', 'kube-system');
    clock = new FakeClock();
  });

  after(async () => {
    await api?.stop();
  });

  it('creates the Lease, renews it with microsecond times, and releases it on stop', async () => {
    const a = elector('a');
    const started: string[] = [];
    a.on('startedLeading', () => started.push('start'));
    a.on('stoppedLeading', () => started.push('stop'));
    a.start();
    await until(() => a.isLeader(), 'a leads');
    const first = lease()!;
    assert.equal(first.spec?.holderIdentity, 'a');
    assert.equal(first.spec?.leaseDurationSeconds, 1);
    assert.equal(first.spec?.leaseTransitions, 0);
    assert.match(String(first.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const renewedAfter = await until(() => lease()!.metadata!.resourceVersion !== first.metadata!.resourceVersion, 'a renewal');
    assert.equal(renewedAfter, FAST.retryPeriodMs, 'the leader renews every retry period');
    assert.equal(String(lease()!.spec?.acquireTime), String(first.spec?.acquireTime), 'renewing keeps acquireTime');
    await a.stop();
    assert.equal(lease()!.spec?.holderIdentity ?? '', '');
    assert.deepEqual(started, ['start', 'stop']);
    assert.equal(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05.678000Z');
  });

  it('waits a whole lease duration (by its own clock) before taking a Lease someone else holds', async () => {
    api.create(
      'leases',
      { metadata: { name: 'kube-loxilb', namespace: 'kube-system' }, spec: { holderIdentity: 'gone', leaseDurationSeconds: 1, renewTime: '2000-01-01T00:00:00.000000Z', leaseTransitions: 3 } },
      'kube-system',
    );
    const b = elector('b');
    const t0 = clock.now();
    b.start();
    // The renewTime is ancient, but remote clocks are not trusted: b waits out the duration itself.
    await advance(500);
    assert.equal(b.isLeader(), false);
    await until(() => b.isLeader(), 'b takes over');
    const took = clock.now() - t0;
    // At the first attempt after the duration: retries are 100-120 ms apart (jitter).
    assert.ok(took >= 1000 && took <= 1120, `took over after ${took} ms`);
    assert.equal(lease()!.spec?.holderIdentity, 'b');
    assert.equal(lease()!.spec?.leaseTransitions, 4);
  });

  it('lets exactly one of several racing candidates lead, and hands over when the leader stops', async () => {
    const all = ['c1', 'c2', 'c3'].map((id) => elector(id));
    // Checked whenever someone starts leading, the only moment a second leader can appear.
    let both = 0;
    for (const e of all) e.on('startedLeading', () => (all.filter((x) => x.isLeader()).length > 1 ? both++ : 0));
    for (const e of all) e.start();
    await until(() => all.some((e) => e.isLeader()), 'a leader');
    await advance(800);
    const leaders = all.filter((e) => e.isLeader());
    assert.equal(leaders.length, 1);
    const first = leaders[0]!;
    await first.stop();
    await until(() => all.some((e) => e !== first && e.isLeader()), 'a new leader');
    await advance(300);
    assert.equal(all.filter((e) => e.isLeader()).length, 1);
    assert.equal(both, 0, 'two candidates led at once');
  });

  it('steps down within renewDeadline when the API server is unreachable, and leads again after', async () => {
    const a = elector('a');
    const log: [string, number][] = [];
    a.on('stoppedLeading', () => log.push(['stop', clock.now()]));
    a.start();
    await until(() => a.isLeader(), 'a leads');
    await advance(250); // a few renewals
    const cut = clock.now();
    await api.stop();
    try {
      await until(() => !a.isLeader(), 'a steps down', 3000);
      const after = log[0]![1] - cut;
      assert.ok(after < 1000, `stepped down ${after} ms after the cut, later than the lease duration`);
      assert.ok(after <= FAST.renewDeadlineMs, `stepped down ${after} ms after the cut, later than renewDeadline`);
    } finally {
      await api.start();
    }
    await until(() => a.isLeader(), 'a leads again');
  });
});
