// The datapath acts only on frames sent to its node. A switch floods unicast
// it has no entry for (a port that just went down, an aged entry), so every
// LB on the segment sees frames meant for another: translating those, a
// BACKUP would answer for the MASTER and endpoints would get each packet
// twice. Here the router sends the VIP's traffic to a MAC nobody has: the
// bridge floods it to lb1, whose datapath must leave it alone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP } from '../lab/DatapathLab.ts';

describe('datapath: frames for another node (flooded unicast) are not load-balanced', { timeout: 120_000 }, () => {
  let t: DatapathLab;
  const stats = async () => (await t.mustApi('lb1', 'GET', '/status')).datapath.stats as { ctNew: number; ctHit: number };

  before(async () => {
    t = await DatapathLab.create({ lbs: ['lb1'] });
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: 9090, protocol: 'udp', sel: 0, mode: 0 },
      endpoints: [{ endpointIP: DP.ep1, targetPort: DP.udpPort, weight: 1 }],
    });
  });
  after(async () => {
    await t?.destroy();
  });

  it('sent to the LB: served; sent to an unknown MAC and flooded to it: left to the kernel, which drops it', async () => {
    const ok = await t.requests('udp', `${DP.vip}:9090`, 3);
    assert.equal(ok.filter((r) => r.name === 'ep1').length, 3, JSON.stringify(ok));
    // The router's neighbour entry for lb1 points at a MAC no port has: the bridge floods those frames.
    await t.lab.run('router', ['ip', 'neigh', 'replace', DP.lb1, 'lladdr', '02:00:00:00:00:99', 'dev', 'eth1', 'nud', 'permanent']);
    try {
      const before = await stats();
      const lost = await t.requests('udp', `${DP.vip}:9090`, 3, 500);
      assert.deepEqual(lost.filter((r) => r.name), [], `no reply may come through a frame meant for another node: ${JSON.stringify(lost)}`);
      const after = await stats();
      assert.equal(after.ctNew - before.ctNew, 0, 'no connection made for them');
      assert.equal(after.ctHit - before.ctHit, 0);
    } finally {
      await t.lab.run('router', ['ip', 'neigh', 'del', DP.lb1, 'dev', 'eth1']);
    }
    const again = await t.requests('udp', `${DP.vip}:9090`, 3);
    assert.equal(again.filter((r) => r.name === 'ep1').length, 3);
  });
});
