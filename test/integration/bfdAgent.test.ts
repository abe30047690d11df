// The agent's BFD over its REST API, against BIRD's `protocol bfd` in a
// namespace lab: POST /config/bfd brings a session Up on both sides, GET and
// loxicmd show it with the negotiated timers, a restarted agent brings it
// back from --config-path, and DELETE takes it down on purpose (AdminDown).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, LB_NODES, LOXICMD_BIN, ROUTER } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1] = LB_NODES as [(typeof LB_NODES)[0]];

describe('loxilb BFD sessions through config/bfd, with BIRD', () => {
  let t: BgpLab;
  const birdState = async (addr: string) => (await t.bird.bfdSessions()).find((s) => s.address === addr)?.state;
  const ourSession = async () => ((await t.mustApi(LB1.name, 'GET', '/config/bfd/all')) as { Attr: Record<string, unknown>[] }).Attr[0];

  before(async () => {
    t = await BgpLab.create({
      lbCount: 1,
      worker: false,
      birdBfd: { minRxMs: 100, minTxMs: 100, multiplier: 3, neighbors: [{ address: LB1.ipv4, local: ROUTER.ipv4 }, { address: LB1.ipv6, local: ROUTER.ipv6 }] },
    });
  });
  after(async () => {
    await t?.destroy();
  });

  it('POST /config/bfd brings the session Up at both ends; GET and loxicmd show it', async () => {
    await t.mustApi(LB1.name, 'POST', '/config/bfd', { instance: 'llb-inst0', remoteIp: ROUTER.ipv4, sourceIp: LB1.ipv4, interval: 100000, retryCount: 3 });
    await t.mustApi(LB1.name, 'POST', '/config/bfd', { instance: 'llb-inst0', remoteIp: ROUTER.ipv6, interval: 100000, retryCount: 3 });
    await waitFor(async () => (await birdState(LB1.ipv4)) === 'Up' && (await birdState(LB1.ipv6)) === 'Up', { timeoutMs: 10_000, what: 'BIRD sees both sessions Up' });
    const s = await waitFor(async () => {
      const x = await ourSession();
      return x?.state === 'BFDUp' ? x : undefined;
    }, { timeoutMs: 5_000, what: 'our session Up' });
    assert.deepEqual(
      { remoteIp: s.remoteIp, sourceIP: s.sourceIP, port: s.port, interval: s.interval, retryCount: s.retryCount, txInterval: s.txInterval, detectionTime: s.detectionTime },
      { remoteIp: ROUTER.ipv4, sourceIP: LB1.ipv4, port: 3784, interval: 100000, retryCount: 3, txInterval: 100000, detectionTime: 300000 },
    );
    const table = await t.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'bfd', '-o', 'wide']);
    assert.match(table, /\| llb-inst0 +\| 192\.168\.80\.1 +\| 192\.168\.80\.10 \| 3784 \| 100000 us \| +3 \| BFDUp \|/);
  });

  it('a session with a node that is not an --ka / --cluster peer (the router) tracks the link and takes no part in the HA election', async () => {
    const rows = ((await t.mustApi(LB1.name, 'GET', '/config/bfd/all')) as { Attr: { remoteIp: string; purpose: string }[] }).Attr;
    assert.deepEqual(rows.map((r) => [r.remoteIp, r.purpose]), [[ROUTER.ipv4, 'link'], [ROUTER.ipv6, 'link']]);
    // Counted as HA peers, the router's sessions made the instance BFD-driven (driver bfd, the router in
    // its peer list, its role elected against an address that has no REST API); now roles stay with the
    // API (kube-loxilb --setRoles).
    const inst = async () => ((await t.mustApi(LB1.name, 'GET', '/config/cistate/all')) as { Attr: Record<string, any>[] }).Attr.find((x) => x.instance === 'llb-inst0')!;
    assert.equal((await inst()).driver, 'api');
    assert.equal((await inst()).peers, undefined);
    await t.mustApi(LB1.name, 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'BACKUP', vip: '0.0.0.0' });
    assert.equal((await inst()).state, 'BACKUP');
  });

  it('a duplicate with another source is refused, a re-POST changes the timers in place', async () => {
    const dup = await t.api(LB1.name, 'POST', '/config/bfd', { remoteIp: ROUTER.ipv4, sourceIp: '192.168.80.99', interval: 100000, retryCount: 3 });
    assert.equal(dup.status, 409);
    await t.mustApi(LB1.name, 'POST', '/config/bfd', { remoteIp: ROUTER.ipv4, sourceIp: LB1.ipv4, interval: 200000, retryCount: 5 });
    await waitFor(async () => (await ourSession())?.detectionTime === 600000, { timeoutMs: 5_000, what: 'new detection time: the multiplier of BIRD (3) x our required RX (200 ms)' });
    assert.equal((await ourSession())?.state, 'BFDUp', 'a timer change does not take the session down');
    // What `loxicmd set bfd 192.168.80.1 --instance=llb-inst0 --retryCount=4` sends: what it leaves out keeps its value.
    await t.mustApi(LB1.name, 'POST', '/config/bfd', { instance: 'llb-inst0', remoteIp: ROUTER.ipv4, sourceIp: '', interval: 0, retryCount: 4 });
    await waitFor(async () => (await ourSession())?.retryCount === 4, { timeoutMs: 5_000, what: 'retryCount 4' });
    const s = await ourSession();
    assert.equal(s?.interval, 200000);
    assert.equal(s?.sourceIP, LB1.ipv4);
    // Without --instance, loxicmd names instance "default": no such session, and nothing to create it with.
    const other = await t.api(LB1.name, 'POST', '/config/bfd', { instance: 'default', remoteIp: ROUTER.ipv4, sourceIp: '', interval: 0, retryCount: 4 });
    assert.equal(other.status, 400);
    assert.match(JSON.stringify(other.body), /interval.*must be given to create a session.*is in instance llb-inst0/);
  });

  it('a restarted agent brings its sessions back from --config-path', async () => {
    await t.agents.get(LB1.name)!.stop();
    await t.startAgent(LB1.name, []);
    await waitFor(async () => (await ourSession())?.state === 'BFDUp', { timeoutMs: 10_000, what: 'restored session Up' });
    assert.equal((await ourSession())?.retryCount, 4);
  });

  it('DELETE takes the session down at BIRD (AdminDown), and it is gone from GET', async () => {
    await t.mustApi(LB1.name, 'DELETE', `/config/bfd/remoteIP/${ROUTER.ipv4}?instance=llb-inst0`);
    await waitFor(async () => (await birdState(LB1.ipv4)) !== 'Up', { timeoutMs: 5_000, what: 'BIRD session down' });
    const rows = ((await t.mustApi(LB1.name, 'GET', '/config/bfd/all')) as { Attr: { remoteIp: string }[] }).Attr;
    assert.deepEqual(rows.map((r) => r.remoteIp), [ROUTER.ipv6]);
    assert.equal((await t.api(LB1.name, 'DELETE', `/config/bfd/remoteIP/${ROUTER.ipv4}`)).status, 404);
  });
});
