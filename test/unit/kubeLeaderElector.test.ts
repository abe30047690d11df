// Lease-based leader election against FakeKubeApi: a held Lease is only
// taken over after it went unrenewed for its duration, racing candidates
// never both lead, and a leader that cannot renew steps down in time.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease } from '@kubernetes/client-node';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { waitFor } from '../lab/wait.ts';
import { LeaderElector, microTime } from '../../src/kube/LeaderElector.ts';

const FAST = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 };

describe('LeaderElector', { timeout: 60_000 }, () => {
  let api: FakeKubeApi;
  const electors: LeaderElector[] = [];

  function elector(identity: string, opts: Partial<typeof FAST> = {}): LeaderElector {
    const e = new LeaderElector(api.kubeConfig(), { identity, ...FAST, ...opts });
    electors.push(e);
    return e;
  }

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
    await waitFor(() => a.isLeader(), { what: 'a leads' });
    const first = lease()!;
    assert.equal(first.spec?.holderIdentity, 'a');
    assert.equal(first.spec?.leaseDurationSeconds, 1);
    assert.equal(first.spec?.leaseTransitions, 0);
    assert.match(String(first.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await waitFor(() => lease()!.metadata!.resourceVersion !== first.metadata!.resourceVersion, { what: 'a renewal' });
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
    const t0 = Date.now();
    b.start();
    // The renewTime is ancient, but remote clocks are not trusted: b waits out the duration itself.
    await sleep(500);
    assert.equal(b.isLeader(), false);
    await waitFor(() => b.isLeader(), { what: 'b takes over', timeoutMs: 5000 });
    assert.ok(Date.now() - t0 >= 1000, `took over after ${Date.now() - t0} ms`);
    assert.equal(lease()!.spec?.holderIdentity, 'b');
    assert.equal(lease()!.spec?.leaseTransitions, 4);
  });

  it('lets exactly one of several racing candidates lead, and hands over when the leader stops', async () => {
    const all = ['c1', 'c2', 'c3'].map((id) => elector(id));
    let both = 0;
    const sampler = setInterval(() => {
      if (all.filter((e) => e.isLeader()).length > 1) both++;
    }, 5);
    try {
      for (const e of all) e.start();
      await waitFor(() => all.some((e) => e.isLeader()), { what: 'a leader' });
      await sleep(800);
      const leaders = all.filter((e) => e.isLeader());
      assert.equal(leaders.length, 1);
      const first = leaders[0]!;
      await first.stop();
      await waitFor(() => all.some((e) => e !== first && e.isLeader()), { what: 'a new leader', timeoutMs: 5000 });
      await sleep(300);
      assert.equal(all.filter((e) => e.isLeader()).length, 1);
      assert.equal(both, 0, 'two candidates led at once');
    } finally {
      clearInterval(sampler);
    }
  });

  it('steps down within renewDeadline when the API server is unreachable, and leads again after', async () => {
    const a = elector('a');
    const log: [string, number][] = [];
    a.on('stoppedLeading', () => log.push(['stop', Date.now()]));
    a.start();
    await waitFor(() => a.isLeader());
    const cut = Date.now();
    await api.stop();
    try {
      await waitFor(() => !a.isLeader(), { what: 'a steps down', timeoutMs: 3000 });
      const after = log[0]![1] - cut;
      assert.ok(after < 1000, `stepped down ${after} ms after the cut, later than the lease duration`);
    } finally {
      await api.start();
    }
    await waitFor(() => a.isLeader(), { what: 'a leads again', timeoutMs: 5000 });
  });
});
