// SCTP through the eBPF datapath, end to end in namespaces (the kernel has no
// SCTP, so client and endpoints are the raw-socket peers of
// test/lab/sctpPeer.ts): default, onearm and fullnat with the service port
// mapped to another endpoint port (the CRC32c must be fixed), association
// state, multihoming with secondary VIPs (the INIT ACK hands the client the
// VIP's addresses, never the endpoint's; a path failover stays on the same
// endpoint), the SCTP probe, IPv6, and tshark's verdict on every checksum the
// client and an endpoint saw.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeSctpPacket } from '../../src/lb/sctp.ts';
import { DatapathLab, DP } from '../lab/DatapathLab.ts';
import { PacketCapture, tsharkSctpChecksums } from '../lab/PacketCapture.ts';
import { SctpPeerProcess } from '../lab/SctpPeerProcess.ts';
import { waitFor } from '../lab/wait.ts';

const EP_PORT = 9100;
const C2 = '192.168.90.3';
const SEC = ['20.20.20.2', '20.20.20.3'];

function rule(port: number, over: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, eps: string[] = [DP.ep1, DP.ep2]) {
  return {
    serviceArguments: { externalIP: DP.vip, port, protocol: 'sctp', sel: 0, mode: 0, name: `sctp-${port}`, ...over },
    endpoints: eps.map((ip) => ({ endpointIP: ip, targetPort: EP_PORT, weight: 1 })),
    ...extra,
  };
}

describe('SCTP through the eBPF datapath', { timeout: 240_000 }, () => {
  let t: DatapathLab;
  let client: SctpPeerProcess;
  const servers = new Map<'ep1' | 'ep2', SctpPeerProcess>();
  let capClient: PacketCapture;
  let capEp: PacketCapture;

  before(async () => {
    t = await DatapathLab.create();
    await t.lab.run('client', ['ip', 'addr', 'add', `${C2}/24`, 'dev', 'eth0']);
    for (const ep of ['ep1', 'ep2'] as const) {
      servers.set(ep, await SctpPeerProcess.start(t.lab, ep, { mode: 'server', port: EP_PORT, name: ep, families: [4, 6] }));
    }
    client = await SctpPeerProcess.start(t.lab, 'client', { mode: 'client' });
    capClient = await PacketCapture.start(t.lab, 'client', ['eth0'], { filter: 'sctp or ip6 proto 132', name: 'client-sctp' });
    capEp = await PacketCapture.start(t.lab, 'ep1', ['eth0'], { filter: 'sctp or ip6 proto 132', name: 'ep1-sctp' });
  });
  after(async () => {
    await t?.destroy();
  });

  it('default mode: associations balanced round robin, the client address kept, the port mapped', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(9000));
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const a = await client.connect({ server: DP.vip, port: 9000 });
      assert.deepEqual(a.serverAddresses, [DP.vip], 'the client never learns an endpoint address');
      const e1 = await client.send(`hello ${i}`, a.assoc);
      const e2 = await client.send(`again ${i}`, a.assoc);
      // The endpoint name and the address the DATA arrived at.
      const ep = e1.text.split('@')[0]!;
      assert.match(e1.text, new RegExp(`^${ep}@192\\.168\\.80\\.2[12]: hello ${i}$`));
      assert.equal(e2.text.split('@')[0], ep, 'an association stays on its endpoint');
      assert.deepEqual([e1.from, e1.to], [DP.vip, DP.client]);
      seen.push(ep);
      await client.shutdown(a.assoc);
    }
    assert.deepEqual(seen, ['ep1', 'ep2', 'ep1', 'ep2']);
    const assocs = await servers.get('ep1')!.associations(EP_PORT);
    assert.ok(assocs.length >= 2);
    for (const a of assocs) assert.deepEqual(a.sources, [DP.client], 'DNAT keeps the client address');
  });

  it('the association state is tracked: INIT, established, SHUTDOWN; the table shows it', async () => {
    const a = await client.connect({ server: DP.vip, port: 9000 });
    await client.send('x', a.assoc);
    type Ct = { sourceIP: string; destinationIP: string; destinationPort: number; protocol: string; conntrackState: string; servName: string; conntrackAct: string };
    const mine = async () =>
      ((await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as Ct[]).filter((e) => e.protocol === 'sctp' && e.sourceIP === DP.client && e.destinationPort === 9000);
    const est = (await mine()).filter((e) => e.conntrackState === 'est');
    assert.ok(est.length >= 1, JSON.stringify(await mine()));
    assert.match(est[0]!.conntrackAct, /^dnat-192\.168\.80\.2[12]:9100$/);
    assert.match(await t.loxicmd('lb1', 'get', 'ct'), /\| *sctp *\| *est *\|/);
    await client.shutdown(a.assoc);
    await waitFor(async () => !(await mine()).some((e) => e.conntrackState === 'est'), { timeoutMs: 5000, what: 'the association to leave est after SHUTDOWN' });
  });

  for (const [mode, name, source] of [
    [1, 'onearm', DP.lb1],
    [2, 'fullnat', DP.vip],
  ] as const) {
    it(`${name}: the endpoint sees ${name === 'onearm' ? 'the LB' : 'the VIP'} as the only peer address`, async () => {
      const port = 9000 + mode;
      await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(port, { mode }, {}, [DP.ep1]));
      const a = await client.connect({ server: DP.vip, port, src: DP.client, addresses: [DP.client, C2] });
      const e = await client.send('through nat', a.assoc);
      assert.match(e.text, /^ep1@192\.168\.80\.21: through nat$/);
      const sa = (await servers.get('ep1')!.associations(EP_PORT)).find((x) => x.peerTag === a.localTag)!;
      assert.deepEqual(sa.sources, [source]);
      assert.deepEqual(sa.peerAddresses, [source], "the client's address list is hidden from the endpoint");
      assert.notEqual(sa.peerPort, 0);
      await client.shutdown(a.assoc);
    });
  }

  it('multihoming: the INIT ACK offers the secondary VIPs; a path failover to one stays on the same endpoint', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(9010, {}, { secondaryIPs: SEC.map((secondaryIP) => ({ secondaryIP })) }));
    const a = await client.connect({ server: DP.vip, port: 9010, src: DP.client, addresses: [DP.client, C2], rtoMs: 300, maxRetransmits: 20 });
    assert.deepEqual(a.serverAddresses, [DP.vip, ...SEC], 'the VIP addresses, not the endpoint address');
    const first = await client.send('primary', a.assoc);
    const ep = first.text.split('@')[0]!;
    assert.deepEqual([first.from, first.to], [DP.vip, DP.client]);
    // The primary VIP path fails at the router; the client moves to its second address and the second VIP.
    await t.lab.run('router', ['ip', 'route', 'add', 'blackhole', `${DP.vip}/32`]);
    try {
      const across = client.send('across', a.assoc);
      await waitFor(async () => (await client.stats()).clients.find((c) => c.assoc === a.assoc)!.retransmits >= 1, { timeoutMs: 10_000, what: 'a retransmission into the dead path' });
      await client.setPath({ assoc: a.assoc, src: C2, dst: SEC[0] });
      const e = await across;
      assert.equal(e.text.split('@')[0], ep, 'the same endpoint');
      assert.deepEqual([e.from, e.to], [SEC[0], C2], 'the reply comes back on the new path');
      assert.deepEqual(await client.heartbeat({ assoc: a.assoc, dst: SEC[1], src: C2 }), { from: SEC[1], to: C2 });
    } finally {
      await t.lab.run('router', ['ip', 'route', 'del', 'blackhole', `${DP.vip}/32`]);
    }
    const sa = (await servers.get(ep as 'ep1' | 'ep2')!.associations(EP_PORT)).find((x) => x.peerTag === a.localTag)!;
    assert.deepEqual(sa.peerAddresses, [DP.client, C2], 'default mode: the endpoint knows both client addresses');
    assert.deepEqual(sa.sources, [DP.client, C2]);
    const st = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats;
    assert.ok(st.sctpPaths >= 5, `paths set up: ${st.sctpPaths}`);
    await client.abort(a.assoc);
  });

  it('multihoming through fullnat: the reply path follows the client to its new address', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(9012, { mode: 2 }, { secondaryIPs: SEC.map((secondaryIP) => ({ secondaryIP })) }, [DP.ep2]));
    const a = await client.connect({ server: DP.vip, port: 9012, src: DP.client, addresses: [DP.client, C2], rtoMs: 300, maxRetransmits: 20 });
    assert.deepEqual(a.serverAddresses, [DP.vip, ...SEC]);
    assert.deepEqual((await client.send('one', a.assoc)).to, DP.client);
    await client.setPath({ assoc: a.assoc, src: C2, dst: SEC[1] });
    const e = await client.send('two', a.assoc);
    assert.match(e.text, /^ep2@/);
    assert.deepEqual([e.from, e.to], [SEC[1], C2]);
    const sa = (await servers.get('ep2')!.associations(EP_PORT)).find((x) => x.peerTag === a.localTag)!;
    assert.deepEqual(sa.sources, [DP.vip], 'the endpoint saw one peer address throughout');
    await client.shutdown(a.assoc);
  });

  it('IPv6: an association to an IPv6 VIP, port mapped, on an IPv6 endpoint', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip6, port: 9030, protocol: 'sctp', mode: 0, name: 'sctp6' },
      endpoints: [{ endpointIP: DP.ep1_6, targetPort: EP_PORT, weight: 1 }],
    });
    const a = await client.connect({ server: DP.vip6, port: 9030 });
    assert.deepEqual(a.serverAddresses, [DP.vip6]);
    const e = await client.send('six', a.assoc);
    assert.deepEqual([e.text, e.from, e.to], [`ep1@${DP.ep1_6}: six`, DP.vip6, DP.client6]);
    await client.shutdown(a.assoc);
  });

  it('a packet of an association nobody started is dropped and counted', async () => {
    const before = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.sctpNotInit as number;
    const stray = encodeSctpPacket({ srcPort: 40000, dstPort: 9000, verificationTag: 0x12345678, chunks: [{ type: 'COOKIE_ACK' }] });
    assert.equal(await client.sendRaw(DP.vip, stray, DP.client), true);
    await waitFor(async () => (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.sctpNotInit > before, { timeoutMs: 5000, what: 'sctpNotInit to count it' });
  });

  it('an SCTP probe takes an endpoint whose port stops answering out of the rotation', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(9020, { monitor: true, probetype: 'sctp', probeport: EP_PORT, probeTimeout: 1, probeRetries: 1 }));
    const state = async (ip: string) =>
      ((await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr as { serviceArguments: { port: number }; endpoints: { endpointIP: string; state: string }[] }[])
        .find((r) => r.serviceArguments.port === 9020)
        ?.endpoints.find((e) => e.endpointIP === ip)?.state;
    await waitFor(async () => (await state(DP.ep2)) === 'active', { timeoutMs: 10_000, what: 'ep2 probed active' });
    await servers.get('ep2')!.close();
    servers.delete('ep2');
    await waitFor(async () => (await state(DP.ep2)) === 'inactive', { timeoutMs: 15_000, what: 'ep2 probed inactive' });
    for (let i = 0; i < 3; i++) {
      const a = await client.connect({ server: DP.vip, port: 9020 });
      assert.match((await client.send('probe', a.assoc)).text, /^ep1@/);
      await client.abort(a.assoc);
    }
  });

  it('every SCTP packet the client and an endpoint saw has a good CRC32c (tshark)', async () => {
    for (const p of [client]) assert.deepEqual((await p.stats()).badChecksums, []);
    assert.deepEqual((await servers.get('ep1')!.stats()).badChecksums, []);
    await capClient.waitForFrame('sctp.chunk_type == 6');
    const reports = [await tsharkSctpChecksums(await capClient.stop()), await tsharkSctpChecksums(await capEp.stop())];
    for (const r of reports) {
      assert.ok(r.frames.length >= 20, `frames captured: ${r.frames.length}`);
      assert.deepEqual(r.bad, []);
      assert.equal(r.unverified, 0);
    }
    // Translated ports were among them: the endpoint saw its own port, the client the service's.
    assert.ok(reports[1]!.frames.some((f) => f.dstPort === EP_PORT));
    assert.ok(reports[0]!.frames.some((f) => f.srcPort === 9000));
  });
});
