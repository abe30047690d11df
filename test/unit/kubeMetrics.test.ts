import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListenAddress, renderKubeMetrics, startMetricsServer } from '../../src/kube/kubeMetrics.ts';
import { parseKubeLoxilbFlags } from '../../src/cli/kubeLoxilbFlags.ts';
import { Histogram } from '../../src/util/Histogram.ts';
import { silentLogger } from '../../src/util/logger.ts';

const controller = {
  pools: [
    { kind: 'v4' as const, name: 'defaultPool', family: 4 as const, size: 2, inUse: 2 },
    { kind: 'v6' as const, name: 'defaultPool', family: 6 as const, size: 2 ** 32, inUse: 1 },
  ],
  services: { programmed: 2, not_programmed: 1, pending_ip: 1, invalid: 0 },
  ipamFailures: [{ pool: 'defaultPool', code: 'exhausted', count: 3 }],
  programmingErrors: [{ agent: 'http://192.168.80.11:11111', count: 2 }],
  passDurations: new Histogram().data(),
};

test('leader state always; pools, Services by state, failures and agents while leading', () => {
  const follower = renderKubeMetrics({ leader: false, leaderTransitions: 2 });
  assert.match(follower, /^kube_loxilb_leader 0$/m);
  assert.match(follower, /^kube_loxilb_leader_transitions_total 2$/m);
  assert.doesNotMatch(follower, /ipam/, 'a follower runs no controller: no pool series rather than zeros');

  const text = renderKubeMetrics({
    leader: true,
    leaderTransitions: 1,
    controller,
    agents: [
      { id: 'a', url: 'a', kind: 'lb', nodeAddress: '1.1.1.1', alive: true },
      { id: 'b', url: 'b', kind: 'lb', nodeAddress: '1.1.1.2', alive: false },
    ],
  });
  assert.match(text, /^kube_loxilb_leader 1$/m);
  assert.match(text, /^kube_loxilb_ipam_pool_in_use\{pool="defaultPool",kind="v4"\} 2$/m);
  assert.match(text, /^kube_loxilb_ipam_pool_exhausted\{pool="defaultPool",kind="v4"\} 1$/m);
  assert.match(text, /^kube_loxilb_ipam_pool_exhausted\{pool="defaultPool",kind="v6"\} 0$/m);
  assert.match(text, /^kube_loxilb_ipam_allocation_failures_total\{pool="defaultPool",reason="exhausted"\} 3$/m);
  assert.match(text, /^kube_loxilb_services\{state="pending_ip"\} 1$/m);
  assert.match(text, /^kube_loxilb_programming_errors_total\{agent="http:\/\/192.168.80.11:11111"\} 2$/m);
  assert.match(text, /^kube_loxilb_agents\{kind="lb",alive="0"\} 1$/m);
  assert.match(text, /^# TYPE kube_loxilb_reconcile_duration_seconds histogram$/m);
  assert.match(text, /^kube_loxilb_reconcile_duration_seconds_count 0$/m);
});

test('--metricsAddr: host:port, [v6]:port, :port; anything else is refused naming the flag', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:9469'), { host: '127.0.0.1', port: 9469 });
  assert.deepEqual(parseListenAddress('[::1]:9469'), { host: '::1', port: 9469 });
  assert.deepEqual(parseListenAddress(':9469'), { host: '0.0.0.0', port: 9469 });
  for (const bad of ['9469', '127.0.0.1:0', '127.0.0.1:70000', '::1:80', 'a:b']) assert.ok('error' in parseListenAddress(bad), bad);
  assert.deepEqual(parseKubeLoxilbFlags(['--metricsAddr=:9469']).metricsAddr, { host: '0.0.0.0', port: 9469 });
  assert.equal(parseKubeLoxilbFlags([]).metricsAddr, undefined);
  assert.throws(() => parseKubeLoxilbFlags(['--metricsAddr=9469']), /flag --metricsAddr must be host:port/);
});

test('the listener serves GET /metrics only', async () => {
  const srv = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => ({ leader: true, leaderTransitions: 1 }), silentLogger);
  try {
    const base = `http://127.0.0.1:${srv.port}`;
    const ok = await fetch(`${base}/metrics`);
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await ok.text(), /^kube_loxilb_leader 1$/m);
    assert.equal((await fetch(`${base}/other`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status, 405);
  } finally {
    await srv.close();
  }
});
