// The eBPF datapath with IPv6, end to end in namespaces (the dual-stack
// DatapathLab): IPv6 VIPs with IPv6 endpoints (NAT66) in every mode, IPv6
// VIPs with IPv4 endpoints (NAT64, loxilb's ipv6to4), UDP, ICMPv6 echo,
// allowed sources, idle timeouts, probes and the connection table. Every
// assertion is about what the endpoints and the client actually saw.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP, v6of, type Reply } from '../lab/DatapathLab.ts';
import { waitFor } from '../lab/wait.ts';

const VIP6 = DP.vip6;
const target = (port: number) => `[${VIP6}]:${port}`;

function rule(port: number, over: Record<string, unknown> = {}, endpoints: string[] = [DP.ep1_6, DP.ep2_6], targetPort: number = DP.httpPort) {
  return {
    serviceArguments: { externalIP: VIP6, port, protocol: 'tcp', sel: 0, mode: 0, name: `v6-${port}`, ...over },
    endpoints: endpoints.map((ip) => ({ endpointIP: ip, targetPort, weight: 1 })),
  };
}

function names(replies: Reply[]): string[] {
  return replies.map((r) => r.name ?? `error:${r.error}`);
}

describe('eBPF datapath over IPv6: NAT66, NAT64, ICMPv6', { timeout: 180_000 }, () => {
  let t: DatapathLab;

  before(async () => {
    t = await DatapathLab.create();
  });
  after(async () => {
    await t?.destroy();
  });

  for (const [mode, name, source] of [
    [0, 'default', () => DP.client6],
    [1, 'onearm', () => DP.lb1_6],
    [2, 'fullnat', () => VIP6],
  ] as const) {
    it(`NAT66 ${name}: round robin over both IPv6 endpoints, the endpoints see ${name === 'default' ? 'the client' : name === 'onearm' ? 'the LB' : 'the VIP'}`, async () => {
      const port = 6080 + mode;
      await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(port, { mode }));
      const replies = await t.requests('http', target(port), 4);
      assert.deepEqual(names(replies), ['ep1', 'ep2', 'ep1', 'ep2']);
      for (const r of replies) assert.equal(r.remote, source());
    });
  }

  it('NAT66 UDP: each datagram answered from the VIP', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      ...rule(6090, {}, [DP.ep1_6, DP.ep2_6], DP.udpPort),
      serviceArguments: { externalIP: VIP6, port: 6090, protocol: 'udp', name: 'v6-dns' },
    });
    const replies = await t.requests('udp', target(6090), 4);
    assert.deepEqual(new Set(names(replies)), new Set(['ep1', 'ep2']));
    for (const r of replies) assert.equal(r.remote, DP.client6);
  });

  for (const [mode, name] of [
    [0, 'default'],
    [1, 'onearm'],
    [2, 'fullnat'],
  ] as const) {
    it(`NAT64 ${name}: an IPv6 VIP served by IPv4 endpoints, the reply translated back`, async () => {
      const port = 6480 + mode;
      await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(port, { mode }, [DP.ep1, DP.ep2]));
      const before = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.familyTranslated as number;
      const replies = await t.requests('http', target(port), 4);
      assert.deepEqual(names(replies), ['ep1', 'ep2', 'ep1', 'ep2']);
      // An IPv4 endpoint cannot see an IPv6 client: the LB's IPv4 address on that link is the source.
      for (const r of replies) assert.equal(r.remote, DP.lb1);
      const after = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats.familyTranslated as number;
      assert.ok(after - before >= 4 * 4, `familyTranslated ${before} -> ${after}`);
    });
  }

  it('NAT64 fullnat sources from the instance IPv4 floating address when one is set', async () => {
    await t.mustApi('lb1', 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER', vip: '20.20.20.254' });
    try {
      await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(6490, { mode: 2 }, [DP.ep1, DP.ep2]));
      const replies = await t.requests('http', target(6490), 2);
      assert.deepEqual(names(replies), ['ep1', 'ep2']);
      for (const r of replies) assert.equal(r.remote, '20.20.20.254');
    } finally {
      await t.mustApi('lb1', 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
    }
  });

  it('NAT64 UDP', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      ...rule(6491, {}, [DP.ep1, DP.ep2], DP.udpPort),
      serviceArguments: { externalIP: VIP6, port: 6491, protocol: 'udp', name: 'v64-dns' },
    });
    const replies = await t.requests('udp', target(6491), 4);
    assert.deepEqual(new Set(names(replies)), new Set(['ep1', 'ep2']));
    for (const r of replies) assert.equal(r.remote, DP.lb1);
  });

  it('the connection table holds IPv6 and NAT64 entries; GET and loxicmd get ct show them', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(6070, {}, [DP.ep1_6], DP.streamPort));
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(6470, {}, [DP.ep1], DP.streamPort));
    // Held open (a line every 200 ms), so the entries are there when we look.
    const hold = (port: number) =>
      t.lab.spawn('client', process.execPath, ['-e', `const s=require('net').connect(${port},'${VIP6}',()=>setInterval(()=>s.write('x\\n'),200));s.on('data',()=>{})`], { logName: `hold${port}` });
    const held = [hold(6070), hold(6470)];
    try {
      type Ct = { sourceIP: string; destinationIP: string; conntrackAct: string; conntrackState: string; servName: string };
      const ct = async () => (await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as Ct[];
      await waitFor(async () => (await ct()).filter((e) => e.conntrackState === 'est' && (e.servName === 'v6-6070' || e.servName === 'v6-6470')).length === 4, {
        timeoutMs: 5000,
        what: 'both held connections established, two entries each',
      });
      const all = await ct();
      const v66 = all.find((e) => e.sourceIP === DP.client6 && e.servName === 'v6-6070')!;
      assert.equal(v66.destinationIP, VIP6);
      assert.equal(v66.conntrackAct, `dnat-${DP.ep1_6}:${DP.streamPort}`);
      const v64 = all.find((e) => e.sourceIP === DP.client6 && e.servName === 'v6-6470')!;
      assert.match(v64.conntrackAct, new RegExp(`^snat-192\\.168\\.80\\.11:\\d+,dnat-${DP.ep1.replaceAll('.', '\\.')}:${DP.streamPort}$`));
      const back = all.find((e) => e.sourceIP === DP.ep1 && e.servName === 'v6-6470')!;
      assert.match(back.conntrackAct, new RegExp(`^reply,snat-fd00:20::1:6470,dnat-fd00:90::2:\\d+$`), 'the reply entry translates back to IPv6');
      const table = await t.loxicmd('lb1', 'get', 'ct');
      assert.match(table, /\| *fd00:20::1 *\| *fd00:90::2 *\| *6070 *\|/);
    } finally {
      for (const h of held) await h.stop();
    }
  });

  it('an IPv6 VIP answers ping (ICMPv6 echo) while some rule serves it', async () => {
    const out = await t.lab.run('client', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '1', VIP6]);
    assert.match(out, /3 packets transmitted, 3 received/);
    assert.match(out, new RegExp(`bytes from ${VIP6}: icmp_seq=1 ttl=63`));
    const unserved = await t.lab.exec('client', ['ping', '-6', '-c', '1', '-W', '1', 'fd00:20::99'], { check: false });
    assert.notEqual(unserved.code, 0, 'an address no rule serves does not answer');
  });

  it('allowed sources: an IPv6 prefix that holds the client passes, one that does not drops', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', { ...rule(6100), allowedSources: [{ prefix: 'fd00:91::/64' }] });
    const denied = await t.requests('http', target(6100), 1, 1000);
    assert.deepEqual(names(denied), ['error:ETIMEDOUT']);
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', { ...rule(6100), allowedSources: [{ prefix: 'fd00:91::/64' }, { prefix: 'fd00:90::/64' }] });
    assert.deepEqual(names(await t.requests('http', target(6100), 2)), ['ep1', 'ep2']);
  });

  it('idle IPv6 connections leave the table after inactiveTimeOut', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(6071, { inactiveTimeOut: 2 }, [DP.ep1_6], DP.streamPort));
    const idle = t.lab.spawn('client', process.execPath, ['-e', `const s=require('net').connect(6071,'${VIP6}',()=>s.write('i\\n'));s.on('data',()=>{});setTimeout(()=>{},60000)`], { logName: 'idle6' });
    try {
      const mine = async () =>
        ((await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as { servName: string; conntrackState: string }[]).filter((e) => e.servName === 'v6-6071');
      await waitFor(async () => (await mine()).some((e) => e.conntrackState === 'est'), { timeoutMs: 5000, what: 'the IPv6 connection established' });
      await waitFor(async () => (await mine()).length === 0, { timeoutMs: 8000, what: 'the idle IPv6 connection swept' });
    } finally {
      await idle.stop();
    }
  });

  it('a monitored IPv6 endpoint that stops answering its probe leaves the rotation', async () => {
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', rule(6110, { monitor: true, probetype: 'tcp', probeport: DP.httpPort, probeTimeout: 1, probeRetries: 1 }));
    await t.stopEcho('ep2');
    try {
      await waitFor(
        async () => {
          const lb = (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr as { serviceArguments: { port: number }; endpoints: { endpointIP: string; state: string }[] }[];
          return lb.find((r) => r.serviceArguments.port === 6110)?.endpoints.find((e) => e.endpointIP === DP.ep2_6)?.state === 'inactive';
        },
        { timeoutMs: 15_000, what: 'ep2 probed inactive over IPv6' },
      );
      assert.deepEqual(names(await t.requests('http', target(6110), 4)), ['ep1', 'ep1', 'ep1', 'ep1']);
    } finally {
      await t.startEcho('ep2');
    }
  });

  it('Neighbour Discovery: a VIP in the LAN subnet is held by the MASTER, and the router reaches it over ND', async () => {
    const lanVip = 'fd00:80::100';
    await t.mustApi('lb1', 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' });
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: lanVip, port: 6200, protocol: 'tcp', sel: 0, mode: 0, name: 'v6-lan:llb-inst0' },
      endpoints: [DP.ep1_6, DP.ep2_6].map((endpointIP) => ({ endpointIP, targetPort: DP.httpPort, weight: 1 })),
    });
    await waitFor(async () => (await t.lab.run('lb1', ['ip', '-6', 'addr', 'show', 'dev', 'eth0'])).includes(`${lanVip}/128`), { timeoutMs: 5000, what: 'the MASTER to hold the LAN VIP' });
    // No route for it at the router: it is on-link there, so the router asks for it with a Neighbor Solicitation.
    assert.deepEqual(names(await t.requests('http', `[${lanVip}]:6200`, 2)), ['ep1', 'ep2']);
    const neigh = await t.lab.run('router', ['ip', '-6', 'neigh', 'show', lanVip]);
    const mac = (await t.lab.run('lb1', ['cat', '/sys/class/net/eth0/address'])).trim();
    assert.match(neigh, new RegExp(`lladdr ${mac}( router)? (REACHABLE|STALE|DELAY|PROBE)`), `${neigh} (lb1 is ${mac})`);
  });

  it('every rule is in the datapath and reported so', async () => {
    const all = (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr as { programmed: boolean }[];
    assert.ok(all.length >= 11);
    assert.ok(all.every((r) => r.programmed));
    assert.equal((await t.mustApi('lb1', 'GET', '/status')).rulesNotProgrammed, 0);
    assert.equal(v6of('lb1'), DP.lb1_6);
  });
});
