// --prometheus scraped by a real Prometheus (Debian's 2.42), started in the
// LB node's namespace: the target is up, and the values it stored follow
// what the test did: the rules posted, the BGP session with BIRD, a role
// change (the one-hot gauge flips, the change counter moves by one), and
// pings to the VIP (the datapath's icmpEcho counter moves by exactly the
// number sent), datagrams through a rule (its packet counter moves by at
// least the number sent), the prefixes advertised to the router.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BgpLab, LB_NODES, ROUTER } from '../lab/BgpLab.ts';
import { Prometheus } from '../lab/Prometheus.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

const [LB1] = LB_NODES as [(typeof LB_NODES)[0]];
const VIP = '123.123.123.7';
const DASHBOARD = fileURLToPath(new URL('../../examples/grafana/loxilb-ts-agent.json', import.meta.url));

describe('GET /netlox/v1/metrics scraped by Prometheus', () => {
  let t: BgpLab;
  let prom: Prometheus;

  /** An instant query against the Prometheus in lb1's namespace: the single value, or undefined if no series. */
  const query = (q: string) => prom.value(q);
  /** How many series an instant query returns. */
  const seriesCount = async (q: string) => (await prom.query(q)).length;
  /** Waits until Prometheus holds `want` for the query (scrapes every second). */
  const until = (q: string, want: number) =>
    waitFor(
      async () => {
        if (!prom.process.alive()) throw new StopWaiting(`prometheus exited: ${prom.process.log().slice(-1000)}`);
        return (await query(q)) === want;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: `Prometheus: ${q} == ${want}` },
    );

  before(async () => {
    t = await BgpLab.create({
      lbCount: 1,
      worker: false,
      lbArgs: () => ['--prometheus'],
      birdBfd: { minRxMs: 100, minTxMs: 100, multiplier: 3, neighbors: [{ address: LB1.ipv4, local: ROUTER.ipv4 }] },
    });
    await t.configureBgp();
    // A BFD session with the router, so the BFD series exist (it only tracks the link: purpose "link").
    await t.mustApi(LB1.name, 'POST', '/config/bfd', { instance: 'llb-inst0', remoteIp: ROUTER.ipv4, sourceIp: LB1.ipv4, interval: 100000, retryCount: 3 });
    prom = await Prometheus.start(t.lab, LB1.name, { targets: ['127.0.0.1:11111'], metricsPath: '/netlox/v1/metrics', port: 19090 });
    await until('up{job="loxilb"}', 1);
  });
  after(async () => {
    await t?.destroy();
  });

  it('the rules, the BGP session and the datapath as the agent has them', async () => {
    await t.mustApi(LB1.name, 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: VIP, port: 8080, protocol: 'tcp', mode: 0, bgp: true },
      endpoints: [{ endpointIP: '10.0.0.1', targetPort: 8080, weight: 1 }],
    });
    await until('loxilb_lb_rules', 1);
    assert.equal(await query('lb_rule_count'), 1, "loxilb's legacy name carries the same value");
    await until('loxilb_lb_rules_not_programmed', 0);
    await until(`loxilb_bgp_peer_established{peer="${ROUTER.ipv4}"}`, 1);
    await until('loxilb_advertised_vips', 1);
    // gobgpd's adj-RIB-out towards the router: the one VIP.
    await until(`loxilb_bgp_peer_prefixes_advertised{peer="${ROUTER.ipv4}"}`, 1);
    assert.ok(((await query('loxilb_conntrack_max_entries')) ?? 0) >= 262_144);
  });

  it('endpoint hosts: the rule endpoint and a POSTed ping host with its measured round trip', async () => {
    await until('loxilb_endpoint_host_state{name="10.0.0.1_tcp_8080",state="ok"}', 1);
    await t.mustApi(LB1.name, 'POST', '/config/endpoint', { hostName: ROUTER.ipv4, probeType: 'ping', probeDuration: 1 });
    await until(`loxilb_endpoint_host_state{host="${ROUTER.ipv4}",probe="ping",state="ok"}`, 1);
    await waitFor(async () => ((await query(`loxilb_endpoint_probe_delay_seconds{host="${ROUTER.ipv4}",stat="max"}`)) ?? 0) > 0, { timeoutMs: 20_000, what: 'a ping round trip in Prometheus' });
    await t.mustApi(LB1.name, 'POST', '/config/endpointhoststate', { hostName: ROUTER.ipv4, state: 'red' });
    await until(`loxilb_endpoint_host_state{host="${ROUTER.ipv4}",probe="ping",state="red"}`, 1);
    // Red takes the host out of every rule until set green: give it back for the tests below, which use it as an endpoint.
    await t.mustApi(LB1.name, 'POST', '/config/endpointhoststate', { hostName: ROUTER.ipv4, state: 'green' });
    await until(`loxilb_endpoint_host_state{host="${ROUTER.ipv4}",probe="ping",state="ok"}`, 1);
  });

  it('a role change flips the one-hot state and moves the change counter by one', async () => {
    await t.mustApi(LB1.name, 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
    await until('loxilb_ha_state{ha_instance="llb-inst0",state="MASTER"}', 1);
    const before = (await query('loxilb_ha_state_changes_total{ha_instance="llb-inst0"}')) ?? 0;
    await t.mustApi(LB1.name, 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' });
    await until('loxilb_ha_state{ha_instance="llb-inst0",state="BACKUP"}', 1);
    assert.equal(await query('loxilb_ha_state{ha_instance="llb-inst0",state="MASTER"}'), 0);
    await until('loxilb_ha_state_changes_total{ha_instance="llb-inst0"}', before + 1);
  });

  it('pings to the VIP move the datapath counter by exactly the number sent', async () => {
    const q = 'loxilb_datapath_events_total{event="icmpEcho"}';
    // Settled: two scrapes in a row agree.
    let start = -1;
    await waitFor(async () => {
      const a = await query(q);
      await new Promise((r) => setTimeout(r, 1100));
      const b = await query(q);
      start = b ?? -1;
      return a !== undefined && a === b;
    }, { timeoutMs: 20_000, what: 'a settled icmpEcho count' });
    // The router's kernel has no BGP routes in this lab: a static one to lb1.
    await t.lab.run(ROUTER.name, ['ip', 'route', 'replace', `${VIP}/32`, 'via', LB1.ipv4]);
    const out = await t.lab.run(ROUTER.name, ['ping', '-c', '5', '-i', '0.2', '-W', '1', VIP]);
    assert.match(out, /5 packets transmitted, 5 received/);
    await until(q, start + 5);
  });

  it('datagrams through a rule move its packet counter by at least the number sent', async () => {
    const UDP_VIP = '123.123.123.8';
    // Onearm to the router itself: the router is client and endpoint, the LB's address the translated source.
    await t.mustApi(LB1.name, 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: UDP_VIP, port: 5353, protocol: 'udp', mode: 1, name: 'probe-udp' },
      endpoints: [{ endpointIP: ROUTER.ipv4, targetPort: 15353, weight: 1 }],
    });
    const q = `loxilb_lb_rule_packets_total{vip="${UDP_VIP}",port="5353",protocol="udp"}`;
    await until(q, 0);
    await t.lab.run(ROUTER.name, ['ip', 'route', 'replace', `${UDP_VIP}/32`, 'via', LB1.ipv4]);
    const SENT = 25;
    await t.lab.run(ROUTER.name, [
      process.execPath,
      '-e',
      `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>s.send('x',5353,'${UDP_VIP}',()=>{if(++n<${SENT})setTimeout(go,20);else s.close();});go();`,
    ]);
    await waitFor(async () => ((await query(q)) ?? 0) >= SENT, { timeoutMs: 20_000, what: `Prometheus: ${q} >= ${SENT}` });
    assert.ok(((await query(`loxilb_lb_endpoint_packets_total{vip="${UDP_VIP}",endpoint="${ROUTER.ipv4}:15353"}`)) ?? 0) >= SENT);
    assert.ok(((await query('loxilb_service_traffic_packets_total{service="probe-udp"}')) ?? 0) >= SENT, "loxilb's per-service name");
  });

  it('every panel query of the Grafana dashboard in examples/ returns data', async () => {
    await waitFor(async () => (await query(`loxilb_bfd_session_up{remote="${ROUTER.ipv4}"}`)) === 1, { timeoutMs: 20_000, what: 'the BFD session Up in Prometheus' });
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((x) => ({ title: p.title, expr: x.expr })));
    assert.ok(exprs.length >= 10);
    for (const { title, expr } of exprs) {
      // rate() and increase() need two samples inside their window: the scrapes of the tests above give them.
      await waitFor(async () => (await seriesCount(expr)) > 0, { timeoutMs: 15_000, what: `panel "${title}": ${expr} returns data` });
    }
  });
});
