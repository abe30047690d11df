import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Event } from '@kubernetes/client-node';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { FakeClock } from '../lab/FakeClock.ts';
import { EventRecorder } from '../../src/kube/EventRecorder.ts';

const svc = (name: string) => ({ metadata: { name, namespace: 'default', uid: `uid-${name}` } });

describe('EventRecorder with FakeKubeApi', () => {
  let api: FakeKubeApi;
  before(async () => {
    api = new FakeKubeApi();
    await api.start();
  });
  after(() => api.stop());

  it('two writers in the same millisecond (a replica, a restart) both get their Event written', async () => {
    const clock = new FakeClock();
    const a = new EventRecorder(api.kubeConfig(), { instance: 'a', clock });
    const b = new EventRecorder(api.kubeConfig(), { instance: 'b', clock });
    a.service(svc('web'), 'Normal', 'IPAllocated', 'from a');
    await a.flush();
    b.service(svc('web'), 'Normal', 'IPAllocated', 'from b');
    await b.flush();
    const events = api.list<CoreV1Event>('events', { namespace: 'default' }).filter((e) => e.involvedObject?.name === 'web');
    assert.deepEqual(events.map((e) => [e.message, e.reportingInstance]).sort(), [['from a', 'a'], ['from b', 'b']]);
    assert.equal(new Set(events.map((e) => e.metadata?.name)).size, 2);
    assert.ok(events.every((e) => e.metadata!.name!.startsWith('web.')));
  });

  it('the same Event again within the window bumps the count of the one written', async () => {
    const clock = new FakeClock();
    const r = new EventRecorder(api.kubeConfig(), { clock });
    r.service(svc('db'), 'Warning', 'ProgrammingFailed', 'agent down');
    await r.flush();
    await clock.advance(1000);
    r.service(svc('db'), 'Warning', 'ProgrammingFailed', 'agent down');
    await r.flush();
    const events = api.list<CoreV1Event>('events', { namespace: 'default' }).filter((e) => e.involvedObject?.name === 'db');
    assert.deepEqual(events.map((e) => e.count), [2]);
  });
});
