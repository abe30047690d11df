// kube-loxilb's /metrics (--metricsAddr) scraped by a real Prometheus
// (Debian's 2.42) in the controller's lab node, on the KubeLoxilbLab
// cluster (a real kube-apiserver, real agents): the leader gauge is 1 once
// it holds the Lease; with a two-address pool and three Services, the pool's
// in-use gauge is the number of addresses the Services got, the pool shows
// exhausted, one Service is counted pending_ip; deleting one frees its
// address and the gauges follow. Every panel query of
// examples/grafana/loxilb-ts-kube-loxilb.json returns data.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CTL, KubeLoxilbLab, seedControllerArgs } from '../lab/KubeLoxilbLab.ts';
import { Prometheus } from '../lab/Prometheus.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

const DASHBOARD = fileURLToPath(new URL('../../examples/grafana/loxilb-ts-kube-loxilb.json', import.meta.url));
const METRICS_PORT = 9469;
const POOL = 'defaultPool';

function lbService(name: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: ${name}
  ports:
    - port: ${port}
      targetPort: 80
  type: LoadBalancer
`;
}

describe('kube-loxilb /metrics scraped by Prometheus', { timeout: 300_000 }, () => {
  let k: KubeLoxilbLab;
  let prom: Prometheus;

  const query = (q: string) => prom.value(q);
  const until = (q: string, want: number, timeoutMs = 30_000) =>
    waitFor(
      async () => {
        k.controllerAlive();
        if (!prom.process.alive()) throw new StopWaiting(`prometheus exited: ${prom.process.log().slice(-1000)}`);
        return (await query(q)) === want;
      },
      { timeoutMs, intervalMs: 250, what: `Prometheus: ${q} == ${want}` },
    );
  /** External IPs the Services hold, as kubectl shows them. */
  const allocated = async () => [...(await k.svcAddresses()).values()].flatMap((s) => s.ips);

  before(async () => {
    // Two addresses, one Service each (--setUniqueIP): the third Service waits for an address.
    k = await KubeLoxilbLab.create({
      controllerArgs: [...seedControllerArgs(500), '--externalCIDR=123.123.123.10-123.123.123.11', '--setUniqueIP', `--metricsAddr=127.0.0.1:${METRICS_PORT}`],
    });
    prom = await Prometheus.start(k.t.lab, CTL.name, { targets: [`127.0.0.1:${METRICS_PORT}`], metricsPath: '/metrics', port: 19092, job: 'kube-loxilb' });
  });
  after(async () => {
    await k?.destroy();
  });

  it('the leader gauge is 1 once this replica holds the Lease', async () => {
    await until('up{job="kube-loxilb"}', 1);
    await until('kube_loxilb_leader', 1);
    assert.ok(((await query('kube_loxilb_leader_transitions_total')) ?? 0) >= 1);
    await until(`kube_loxilb_ipam_pool_size{pool="${POOL}",kind="v4"}`, 2);
    await until(`kube_loxilb_ipam_pool_in_use{pool="${POOL}",kind="v4"}`, 0);
  });

  it('the pool gauge matches the addresses the Services got; the third Service waits, the pool is exhausted', async () => {
    await k.mustKubectl(['apply', '-f', '-'], [lbService('m1', 8081), lbService('m2', 8082)].join('---\n'));
    await waitFor(async () => (await allocated()).length === 2, { timeoutMs: 30_000, what: 'two EXTERNAL-IPs' });
    await until(`kube_loxilb_ipam_pool_in_use{pool="${POOL}",kind="v4"}`, (await allocated()).length);
    await k.mustKubectl(['apply', '-f', '-'], lbService('m3', 8083));
    await until('kube_loxilb_services{state="pending_ip"}', 1);
    await until(`kube_loxilb_ipam_pool_exhausted{pool="${POOL}",kind="v4"}`, 1);
    assert.equal(await query(`kube_loxilb_ipam_pool_in_use{pool="${POOL}",kind="v4"}`), 2);
    await waitFor(async () => ((await query(`kube_loxilb_ipam_allocation_failures_total{pool="${POOL}",reason="exhausted"}`)) ?? 0) >= 1, {
      timeoutMs: 20_000,
      what: 'an exhausted allocation counted',
    });
    // The two with an address: programmed, or not_programmed until the agents took them.
    const withIp = ((await query('kube_loxilb_services{state="programmed"}')) ?? 0) + ((await query('kube_loxilb_services{state="not_programmed"}')) ?? 0);
    assert.equal(withIp, 2);
  });

  it('deleting a Service frees its address: the third gets it and the gauges follow', async () => {
    await k.mustKubectl(['delete', 'service', 'm1']);
    await waitFor(async () => (await k.svcAddresses()).get('m3')?.ips.length === 1, { timeoutMs: 30_000, what: 'm3 gets the freed address' });
    await until('kube_loxilb_services{state="pending_ip"}', 0);
    await until(`kube_loxilb_ipam_pool_in_use{pool="${POOL}",kind="v4"}`, (await allocated()).length);
    assert.equal(await query(`kube_loxilb_ipam_pool_in_use{pool="${POOL}",kind="v4"}`), 2);
  });

  it('every panel query of the kube-loxilb Grafana dashboard in examples/ returns data', async () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((x) => ({ title: p.title, expr: x.expr })));
    assert.ok(exprs.length >= 8);
    for (const { title, expr } of exprs) {
      await waitFor(async () => (await prom.query(expr)).length > 0, { timeoutMs: 15_000, what: `panel "${title}": ${expr} returns data` });
    }
  });
});
