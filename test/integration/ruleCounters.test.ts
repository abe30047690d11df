// Per-rule and per-endpoint traffic counters of the eBPF datapath, against
// what the test sent: UDP requests through a VIP move each endpoint's
// packet count by exactly two per request (the datagram and its reply) and
// its bytes by what was on the wire; GET config/loadbalancer/all shows them
// as loxicmd's "packets:bytes"; /metrics carries the same per rule; held
// TCP connections show as the rule's active connections and leave it when
// they close; and a rule whose endpoint list changes (a new rule id in the
// datapath) keeps what it had counted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP } from '../lab/DatapathLab.ts';
import { agentApi } from '../lab/agentProcess.ts';
import { waitFor } from '../lab/wait.ts';

const UDP_PORT = 90;
const TCP_PORT = 70;

/** A sample's value from the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const have = inner.split(',');
    if (want.every((w) => have.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('datapath per-rule counters', { timeout: 180_000 }, () => {
  let t: DatapathLab;
  const metrics = async () => {
    const r = await agentApi(t.lab, 'lb1', 'GET', '/metrics');
    assert.equal(r.status, 200, String(r.body));
    return String(r.body);
  };
  const counters = async (port: number) => {
    const lb = (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr as { serviceArguments: { port: number }; endpoints: { endpointIP: string; counter: string }[] }[];
    const rule = lb.find((r) => r.serviceArguments.port === port);
    assert.ok(rule, `rule on port ${port} listed`);
    return new Map(rule.endpoints.map((e) => [e.endpointIP, e.counter.split(':').map(Number) as [number, number]]));
  };

  before(async () => {
    t = await DatapathLab.create({ lbs: ['lb1'], lbArgs: () => ['--prometheus'] });
  });
  after(async () => {
    await t?.destroy();
  });

  it('UDP requests move each endpoint by exactly two packets per request, and the rule by the sum', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: UDP_PORT, protocol: 'udp', sel: 0, mode: 0, name: 'dns' },
      endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.udpPort, weight: 1 })),
    });
    const before = await counters(UDP_PORT);
    assert.deepEqual([...before.values()], [[0, 0], [0, 0]], 'a new rule starts at 0:0');
    const replies = await t.requests('udp', `${DP.vip}:${UDP_PORT}`, 10);
    assert.equal(replies.filter((r) => r.name).length, 10, JSON.stringify(replies));
    const after = await counters(UDP_PORT);
    const [p1, b1] = after.get(DP.ep1)!;
    const [p2, b2] = after.get(DP.ep2)!;
    // Round robin: five requests each; a request is one datagram in, one reply out.
    assert.equal(p1, 10, `ep1 ${after.get(DP.ep1)}`);
    assert.equal(p2, 10, `ep2 ${after.get(DP.ep2)}`);
    // Each packet is at least an IPv4 and a UDP header with a payload.
    assert.ok(b1 >= 10 * 29 && b2 >= 10 * 29, `bytes ${b1} ${b2}`);
    const text = await metrics();
    const labels = { vip: DP.vip, port: String(UDP_PORT), protocol: 'udp', name: 'dns' };
    assert.equal(sample(text, 'loxilb_lb_rule_packets_total', labels), 20);
    assert.equal(sample(text, 'loxilb_lb_rule_bytes_total', labels), b1 + b2);
    assert.equal(sample(text, 'loxilb_lb_endpoint_packets_total', { ...labels, endpoint: `${DP.ep1}:${DP.udpPort}` }), 10);
    assert.equal(sample(text, 'loxilb_service_traffic_packets_total', { service: 'dns' }), 20, "loxilb's per-service family for a named rule");
    // loxicmd's wide table shows the same Counters.
    const wide = await t.loxicmd('lb1', 'get', 'lb', '-o', 'wide');
    assert.match(wide, new RegExp(`${DP.ep1.replace(/\./g, '\\.')}.*\\b10:${b1}\\b`));
  });

  it('a changed endpoint list (a new rule id) keeps what the rule counted', async () => {
    const before = await counters(UDP_PORT);
    // Take ep2 out: the rule is programmed under a new id, whose slots start at zero.
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: UDP_PORT, protocol: 'udp', sel: 0, mode: 0, name: 'dns', oper: 2 },
      endpoints: [{ endpointIP: DP.ep2, targetPort: DP.udpPort, weight: 1 }],
    });
    const replies = await t.requests('udp', `${DP.vip}:${UDP_PORT}`, 2);
    assert.deepEqual(replies.map((r) => r.name), ['ep1', 'ep1']);
    const now = await counters(UDP_PORT);
    assert.equal(now.get(DP.ep1)![0], before.get(DP.ep1)![0] + 4);
    const text = await metrics();
    assert.equal(sample(text, 'loxilb_lb_rule_packets_total', { vip: DP.vip, port: String(UDP_PORT), protocol: 'udp' }), 24, 'the removed endpoint still counts for the rule');
  });

  it('held TCP connections are the rule\'s active connections, and leave it when they close', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: TCP_PORT, protocol: 'tcp', sel: 0, mode: 0, name: 'stream' },
      endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
    });
    const labels = { vip: DP.vip, port: String(TCP_PORT), protocol: 'tcp' };
    const active = async () => sample(await metrics(), 'loxilb_lb_rule_active_connections', labels);
    assert.equal(await active(), 0);
    const run = await t.startStreams({ durationMs: 30_000, conns: 3, everyMs: 100, port: TCP_PORT });
    try {
      // Counted by the sweep, once a second.
      await waitFor(async () => (await active()) === 3, { timeoutMs: 5_000, what: '3 active connections' });
      const text = await metrics();
      assert.ok((sample(text, 'loxilb_lb_rule_packets_total', labels) ?? 0) >= 3 * 3, 'at least the three handshakes');
    } finally {
      run.stop();
    }
    const summary = await run.summary();
    assert.equal(summary.conns.filter((c) => !c.error).length, 3, JSON.stringify(summary));
    await waitFor(async () => (await active()) === 0, { timeoutMs: 5_000, what: 'no active connection once they closed' });
  });
});
