// Every cell of protocol x family x mode the datapath carries, with real
// traffic (the dual-stack DatapathLab; SCTP through the raw-socket peers):
// TCP, UDP, SCTP and ICMP echo; IPv4, IPv6 and NAT64 (an IPv6 VIP in front of
// IPv4 endpoints); default, onearm, fullnat, dsr and hostonearm. For each
// cell, two new flows from the client must be answered by the endpoints, and
// where the endpoint can tell, the source it saw must be the mode's: the
// client (default, dsr), the LB node (onearm, hostonearm, NAT64), the VIP
// (fullnat). The cells the API refuses (an IPv4 VIP with IPv6 endpoints,
// SCTP, ICMP and dsr across families) are checked to be refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP, type Reply } from '../lab/DatapathLab.ts';
import { SctpPeerProcess } from '../lab/SctpPeerProcess.ts';
import { waitFor } from '../lab/wait.ts';

type Proto = 'tcp' | 'udp' | 'sctp' | 'icmp';
type Fam = 'v4' | 'v6' | 'nat64';
type Mode = 'default' | 'onearm' | 'fullnat' | 'dsr' | 'hostonearm';
const MODE: Record<Mode, number> = { default: 0, onearm: 1, fullnat: 2, dsr: 3, hostonearm: 5 };
const SCTP_PORT = 9100;
/** dsr's UDP service: it must answer from the VIP the datagram was sent to, so it binds to it. */
const DSR_UDP_PORT = 9091;
const VIP: Record<Fam, string> = { v4: '20.20.20.50', v6: 'fd00:20::50', nat64: 'fd00:20::64' };
const DSR_VIP: Record<'v4' | 'v6', string> = { v4: '20.20.20.51', v6: 'fd00:20::51' };

const refused = (p: Proto, f: Fam, m: Mode) => (f === 'nat64' && (p === 'sctp' || p === 'icmp' || m === 'dsr'));

describe('datapath matrix: protocol x family x mode, with traffic', { timeout: 300_000 }, () => {
  let t: DatapathLab;
  let client: SctpPeerProcess;
  const sctpServers = new Map<'ep1' | 'ep2', SctpPeerProcess>();
  let port = 20000;

  before(async () => {
    t = await DatapathLab.create();
    for (const ep of ['ep1', 'ep2'] as const) {
      sctpServers.set(ep, await SctpPeerProcess.start(t.lab, ep, { mode: 'server', port: SCTP_PORT, name: ep }));
      // dsr: the endpoints hold the VIPs on loopback and do not answer ARP / ND for them.
      await t.lab.run(ep, ['sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
      await t.lab.run(ep, ['ip', 'addr', 'add', `${DSR_VIP.v4}/32`, 'dev', 'lo']);
      await t.lab.run(ep, ['ip', 'addr', 'add', `${DSR_VIP.v6}/128`, 'dev', 'lo']);
      for (const [type, addr] of [['udp4', DSR_VIP.v4], ['udp6', DSR_VIP.v6]] as const) {
        const code = `const s=require('dgram').createSocket('${type}');s.on('message',(m,r)=>s.send(JSON.stringify({name:'${ep}',remote:r.address,remotePort:r.port}),r.port,r.address));s.bind(${DSR_UDP_PORT},'${addr}',()=>console.log('ready'))`;
        const proc = t.lab.spawn(ep, process.execPath, ['-e', code], { logName: `${ep}.dsrudp.${type}` });
        await waitFor(() => proc.log().includes('ready'), { timeoutMs: 10_000, what: `dsr UDP echo on ${ep}` });
      }
    }
    client = await SctpPeerProcess.start(t.lab, 'client', { mode: 'client' });
  });
  after(async () => {
    await t?.destroy();
  });

  /** The addresses of the rule, its endpoints, and what the endpoint should see as source. */
  function cell(p: Proto, f: Fam, m: Mode) {
    const v6vip = f !== 'v4';
    const epV6 = f === 'v6';
    const vip = m === 'dsr' ? DSR_VIP[v6vip ? 'v6' : 'v4'] : m === 'hostonearm' ? (v6vip ? '::' : '0.0.0.0') : VIP[f];
    const target = m === 'hostonearm' ? (v6vip ? DP.lb1_6 : DP.lb1) : vip;
    const eps = epV6 ? [DP.ep1_6, DP.ep2_6] : [DP.ep1, DP.ep2];
    const epPort = p === 'icmp' ? 0 : p === 'sctp' ? SCTP_PORT : p === 'udp' ? (m === 'dsr' ? DSR_UDP_PORT : DP.udpPort) : DP.httpPort;
    const svcPort = p === 'icmp' ? 0 : m === 'dsr' ? epPort : port++;
    const client = v6vip ? DP.client6 : DP.client;
    const lbAddr = epV6 ? DP.lb1_6 : DP.lb1;
    const source = m === 'default' || m === 'dsr' ? (f === 'nat64' ? lbAddr : client) : m === 'fullnat' ? (f === 'nat64' ? lbAddr : vip) : lbAddr;
    return { vip, target, eps, epPort, svcPort, source };
  }

  async function echoes(ep: 'ep1' | 'ep2', v6: boolean): Promise<number> {
    const snmp = await t.lab.run(ep, ['cat', v6 ? '/proc/net/snmp6' : '/proc/net/snmp']);
    if (v6) return Number(/Icmp6InEchos\s+(\d+)/.exec(snmp)![1]);
    const [head, vals] = snmp.split('\n').filter((l) => l.startsWith('Icmp:'));
    return Number(vals!.split(/\s+/)[head!.split(/\s+/).indexOf('InEchos')]);
  }

  for (const p of ['tcp', 'udp', 'sctp', 'icmp'] as const) {
    for (const f of ['v4', 'v6', 'nat64'] as const) {
      for (const m of ['default', 'onearm', 'fullnat', 'dsr', 'hostonearm'] as const) {
        it(`${p} ${f} ${m}`, async () => {
          const c = cell(p, f, m);
          const body = {
            serviceArguments: { externalIP: c.vip, port: c.svcPort, protocol: p, sel: m === 'dsr' ? 1 : 0, mode: MODE[m], name: `m-${p}-${f}-${m}` },
            endpoints: c.eps.map((endpointIP) => ({ endpointIP, targetPort: c.epPort, weight: 1 })),
          };
          if (refused(p, f, m)) {
            const r = await t.api('lb1', 'POST', '/config/loadbalancer', body);
            assert.equal(r.status, 400, JSON.stringify(r.body));
            return;
          }
          await t.mustApi('lb1', 'POST', '/config/loadbalancer', body);
          try {
            const all = (await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr as { serviceArguments: { name: string }; programmed: boolean; reason?: string }[];
            const mine = all.find((r) => r.serviceArguments.name === body.serviceArguments.name)!;
            assert.equal(mine.programmed, true, mine.reason);
            const v6 = f !== 'v4';
            if (p === 'tcp' || p === 'udp') {
              const replies: Reply[] = await t.requests(p === 'tcp' ? 'http' : 'udp', v6 ? `[${c.target}]:${c.svcPort}` : `${c.target}:${c.svcPort}`, 2);
              for (const r of replies) {
                assert.ok(r.name === 'ep1' || r.name === 'ep2', JSON.stringify(replies));
                assert.equal(r.remote, c.source, JSON.stringify(r));
              }
              if (m !== 'dsr') assert.deepEqual(replies.map((r) => r.name).sort(), ['ep1', 'ep2'], 'round robin');
            } else if (p === 'sctp') {
              const names: string[] = [];
              for (let i = 0; i < 2; i++) {
                const a = await client.connect({ server: c.target, port: c.svcPort }).catch(async (err: Error) => {
                  const st = (await t.mustApi('lb1', 'GET', '/status')).datapath.stats;
                  throw new Error(`${err.message}; lb1 datapath: ${JSON.stringify(st)}`);
                });
                const e = await client.send(`${p}-${f}-${m}`, a.assoc);
                const name = e.text.split('@')[0]! as 'ep1' | 'ep2';
                names.push(name);
                assert.equal(e.from, c.target);
                const sa = (await sctpServers.get(name)!.associations(SCTP_PORT)).find((x) => x.peerTag === a.localTag)!;
                assert.deepEqual(sa.sources, [c.source]);
                await client.abort(a.assoc);
              }
              if (m !== 'dsr') assert.deepEqual(names.sort(), ['ep1', 'ep2'], 'round robin');
            } else {
              const before = (await echoes('ep1', v6)) + (await echoes('ep2', v6));
              for (let i = 0; i < 2; i++) {
                const out = await t.lab.run('client', ['ping', ...(v6 ? ['-6'] : []), '-c', '1', '-W', '2', c.target]);
                assert.match(out, /1 received/);
              }
              const after = (await echoes('ep1', v6)) + (await echoes('ep2', v6));
              assert.equal(after - before, 2, 'the endpoints answered, not the LB');
            }
          } finally {
            await t.mustApi('lb1', 'DELETE', `/config/loadbalancer/name/${body.serviceArguments.name}`);
          }
        });
      }
    }
  }

  it('the refused cells name the field and what is allowed', async () => {
    const nat46 = await t.api('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: VIP.v4, port: 1, protocol: 'tcp', name: 'nat46' },
      endpoints: [{ endpointIP: DP.ep1_6, targetPort: 1, weight: 1 }],
    });
    assert.equal(nat46.status, 400);
    assert.match(nat46.body.message, /endpoints\[0\]\.endpointIP: .*no NAT46/);
    const sctp64 = await t.api('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: VIP.nat64, port: 1, protocol: 'sctp', name: 'sctp64' },
      endpoints: [{ endpointIP: DP.ep1, targetPort: 1, weight: 1 }],
    });
    assert.equal(sctp64.status, 400);
    assert.match(sctp64.body.message, /NAT64/);
  });
});
