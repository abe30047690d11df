// config/endpoint and config/endpointhoststate against a real agent with the
// eBPF datapath (DatapathLab): what the endpoint-host table says changes which
// endpoint real client connections through the VIP reach.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP, type Reply } from '../lab/DatapathLab.ts';
import { waitFor } from '../lab/wait.ts';

const VIP_HTTP = `${DP.vip}:80`;
const RULE = {
  serviceArguments: { externalIP: DP.vip, port: 80, protocol: 'tcp', sel: 0, mode: 0, name: 'web' },
  endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.httpPort, weight: 1 })),
};

interface Row {
  hostName: string;
  name: string;
  probeType: string;
  probePort: number;
  minDelay: string;
  avgDelay: string;
  maxDelay: string;
  currState: string;
  hostState: string;
  ruleCount: number;
}

function names(replies: Reply[]): string[] {
  return replies.map((r) => r.name ?? `error:${r.error}`);
}

describe('endpoint hosts steer the datapath (client, one LB, two endpoints)', { timeout: 180_000 }, () => {
  let t: DatapathLab;
  const rows = async (): Promise<Row[]> => (await t.mustApi('lb1', 'GET', '/config/endpoint/all')).Attr as Row[];
  const row = async (name: string): Promise<Row | undefined> => (await rows()).find((r) => r.name === name);
  const served = async (n = 6) => new Set(names(await t.requests('http', VIP_HTTP, n)));

  before(async () => {
    t = await DatapathLab.create({ lbs: ['lb1'] });
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', RULE);
  });
  after(async () => {
    await t?.destroy();
  });

  it('lists every rule endpoint as loxilb does, and refuses to delete one', async () => {
    assert.deepEqual(await served(), new Set(['ep1', 'ep2']));
    const ep2 = await row(`${DP.ep2}_tcp_${DP.httpPort}`);
    assert.ok(ep2, JSON.stringify(await rows()));
    assert.deepEqual([ep2.hostName, ep2.probeType, ep2.probePort, ep2.currState, ep2.ruleCount], [DP.ep2, 'none', DP.httpPort, 'ok', 1]);
    const del = await t.api('lb1', 'DELETE', `/config/endpoint/epipaddress/${DP.ep2}?probe_type=tcp&probe_port=${DP.httpPort}`);
    assert.equal(del.status, 409);
    assert.match(JSON.stringify(del.body), /LB Rule-referred/);
  });

  it('red takes a host out of the rotation at once; green brings it back', async () => {
    await t.mustApi('lb1', 'POST', '/config/endpointhoststate', { hostName: DP.ep2, state: 'red' });
    // Answered once the datapath carries it: the very next connections avoid ep2.
    assert.deepEqual(names(await t.requests('http', VIP_HTTP, 8)), Array(8).fill('ep1'));
    assert.equal((await row(`${DP.ep2}_tcp_${DP.httpPort}`))!.currState, 'red');
    const lb = (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr[0].endpoints as { endpointIP: string; state: string }[];
    assert.equal(lb.find((e) => e.endpointIP === DP.ep2)!.state, 'inactive');
    await t.mustApi('lb1', 'POST', '/config/endpointhoststate', { hostName: DP.ep2, epPort: DP.httpPort, epProto: 'tcp', state: 'green' });
    // A per-entry green does not lift the host's red (loxilb: a host state is on each entry; ours stays on the host).
    assert.equal((await row(`${DP.ep2}_tcp_${DP.httpPort}`))!.currState, 'red');
    await t.mustApi('lb1', 'POST', '/config/endpointhoststate', { hostName: DP.ep2, state: 'green' });
    await waitFor(async () => (await served(4)).size === 2, { timeoutMs: 5_000, what: 'ep2 back in rotation' });
  });

  it('a POSTed ping probe measures round trips; a tcp probe of a closed port turns nok', async () => {
    await t.mustApi('lb1', 'POST', '/config/endpoint', { hostName: DP.ep1, probeType: 'ping', probeDuration: 1, inactiveReTries: 2 });
    await t.mustApi('lb1', 'POST', '/config/endpoint', { hostName: DP.ep1, probeType: 'tcp', probePort: 8099, probeDuration: 1, inactiveReTries: 1 });
    await waitFor(async () => /µs|ms$/.test((await row(`${DP.ep1}_ping_0`))?.avgDelay ?? ''), { timeoutMs: 10_000, what: 'ping delays measured' });
    const ping = (await row(`${DP.ep1}_ping_0`))!;
    assert.equal(ping.currState, 'ok');
    assert.match(ping.minDelay, /^[\d.]+(µs|ms)$/);
    assert.match(ping.maxDelay, /^[\d.]+(µs|ms)$/);
    await waitFor(async () => (await row(`${DP.ep1}_tcp_8099`))?.currState === 'nok', { timeoutMs: 10_000, what: 'closed port nok' });
    // Port 8099 is no endpoint of the rule: ep1 still serves.
    const got = await t.requests('http', VIP_HTTP, 4);
    assert.deepEqual(new Set(names(got)), new Set(['ep1', 'ep2']), JSON.stringify({ got, rows: await rows(), lb: (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr }));
    assert.equal((await t.api('lb1', 'DELETE', `/config/endpoint/epipaddress/${DP.ep1}?probe_type=tcp&probe_port=8099`)).status, 200);
    assert.equal(await row(`${DP.ep1}_tcp_8099`), undefined);
  });

  it('a POSTed probe of a rule endpoint decides it even in an unmonitored rule', async () => {
    await t.mustApi('lb1', 'POST', '/config/endpoint', { hostName: DP.ep2, probeType: 'http', probePort: DP.httpPort, probeDuration: 1, inactiveReTries: 1 });
    await waitFor(async () => (await row(`${DP.ep2}_http_${DP.httpPort}`))?.currState === 'ok', { timeoutMs: 10_000, what: 'http probe ok' });
    await t.stopEcho('ep2');
    try {
      await waitFor(async () => (await row(`${DP.ep2}_http_${DP.httpPort}`))?.currState === 'nok', { timeoutMs: 10_000, what: 'http probe nok' });
      assert.deepEqual(names(await t.requests('http', VIP_HTTP, 6)), Array(6).fill('ep1'));
    } finally {
      await t.startEcho('ep2');
    }
    await waitFor(async () => (await served(4)).size === 2, { timeoutMs: 15_000, what: 'ep2 back after its probe answers' });
  });

  it('entries and states survive an agent restart, and red holds from the first datapath pass', async () => {
    await t.mustApi('lb1', 'POST', '/config/endpointhoststate', { hostName: DP.ep2, state: 'red' });
    await t.agents.get('lb1')!.stop();
    await t.startAgent('lb1');
    assert.deepEqual(names(await t.requests('http', VIP_HTTP, 6)), Array(6).fill('ep1'));
    const back = await rows();
    assert.ok(back.some((r) => r.name === `${DP.ep1}_ping_0` && r.probeType === 'ping'), JSON.stringify(back));
    assert.equal(back.find((r) => r.name === `${DP.ep2}_http_${DP.httpPort}`)?.currState, 'red');
    await t.mustApi('lb1', 'POST', '/config/endpointhoststate', { hostName: DP.ep2, state: 'green' });
    await waitFor(async () => (await served(4)).size === 2, { timeoutMs: 5_000, what: 'ep2 back in rotation' });
  });
});
