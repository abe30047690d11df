// The L4 benchmark's lab: DatapathLab's dual-stack topology (client behind a
// router, a LAN with LB nodes and two endpoints; its client, router, endpoint
// and VIP addresses in both families), but with nginx on the endpoints and one
// LB node per way of load balancing, so no case leaves state (netfilter
// tables, conntrack, TC programs, sockets) in the path of another:
//
//   client 192.168.90.2 (.3 for direct) --[wan]-- router --[lan]-- lb-direct .10 ::10  plain kernel router (both families)
//          fd00:90::2 (::3 for direct6)                            lb-ebpf   .11 ::11  loxilb agent (TC programs, both families)
//                                                                  lb-ipt    .12 ::12  iptables DNAT
//                                                                  lb-nft    .13 ::13  nftables DNAT (table ip)
//                                                                  lb-hap    .14 ::14  HAProxy mode tcp
//                                                                  lb-ipt6   .15 ::15  ip6tables DNAT
//                                                                  lb-nft6   .16 ::16  nftables DNAT (table ip6)
//                                                                  ep1 .21 ::21, ep2 .22 ::22   nginx :8080 on both
//                                                                  (and, for the SCTP cases, raw-socket SCTP echo servers :9100)
//
// (LAN 192.168.80.0/24 and fd00:80::/64, WAN 192.168.90.0/24 and
// fd00:90::/64, VIPs 20.20.20.1 and fd00:20::1.) IPv6 is set up as
// DatapathLab does it: addresses with nodad and DAD off in every node (Lab),
// IPv6 forwarding with IPv4 forwarding on routers and LB nodes, `ip -6`
// default routes, bridge netfilter off for both families in the switches.
//
// Every LB node is built the same way (forwarding on, ICMP redirects off,
// default routes to the router); useLb() points the router's VIP routes (and,
// for direct, host routes to both endpoints) and the endpoints' default
// routes of both families at one of them, so every case crosses client ->
// router -> LB node -> endpoint and back.
//
// SCTP (the kernel has none): startSctpPeers() runs test/lab/sctpPeer.ts as
// an echo server in each endpoint and as the load generator in the client,
// each the only SCTP user of its namespace (every raw SCTP socket sees every
// SCTP packet of its namespace).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { Lab, type LabProcess } from '../../test/lab/Lab.ts';
import { DP } from '../../test/lab/DatapathLab.ts';
import { Prometheus } from '../../test/lab/Prometheus.ts';
import { agentApi, mustAgentApi, startAgentProcess, type ApiReply } from '../../test/lab/agentProcess.ts';
import { SctpPeerProcess } from '../../test/lab/SctpPeerProcess.ts';
import { StopWaiting, waitFor } from '../../test/lab/wait.ts';

export const L4 = {
  client: DP.client,
  /** Second client address, only for the direct case (see TIME_WAIT and PAWS in l4.bench.ts). */
  clientDirect: '192.168.90.3',
  client6: DP.client6,
  /** The same for direct6. */
  clientDirect6: 'fd00:90::3',
  routerWan: DP.routerWan,
  routerLan: DP.routerLan,
  routerWan6: DP.routerWan6,
  routerLan6: DP.routerLan6,
  ep1: DP.ep1,
  ep2: DP.ep2,
  ep1_6: DP.ep1_6,
  ep2_6: DP.ep2_6,
  vip: DP.vip,
  vipNet: DP.vipNet,
  vip6: DP.vip6,
  vip6Net: DP.vip6Net,
  vipPort: 80,
  epPort: DP.httpPort,
  /** SCTP: the service port on the VIP, and the endpoints' (another one, so the datapath rewrites ports and the CRC32c). */
  sctpVipPort: 9000,
  sctpEpPort: 9100,
} as const;

/** Raw sockets' kernel receive buffer for the SCTP peers: a load keeps hundreds of packets in flight. */
const SCTP_RCVBUF = 4 * 1024 * 1024;

/** One LB node per way of balancing; each has an address of both families on the LAN. */
export const LB_NODES = {
  'lb-direct': { v4: '192.168.80.10', v6: 'fd00:80::10' },
  'lb-ebpf': { v4: '192.168.80.11', v6: 'fd00:80::11' },
  'lb-ipt': { v4: '192.168.80.12', v6: 'fd00:80::12' },
  'lb-nft': { v4: '192.168.80.13', v6: 'fd00:80::13' },
  'lb-hap': { v4: '192.168.80.14', v6: 'fd00:80::14' },
  'lb-ipt6': { v4: '192.168.80.15', v6: 'fd00:80::15' },
  'lb-nft6': { v4: '192.168.80.16', v6: 'fd00:80::16' },
} as const;
export type LbNodeName = keyof typeof LB_NODES;
export type Family = 4 | 6;

const EPS = ['ep1', 'ep2'] as const;
export type EpName = (typeof EPS)[number];

export class L4Lab {
  readonly nginx = new Map<EpName, LabProcess>();
  agent: LabProcess | undefined;
  haproxy: LabProcess | undefined;
  /** The SCTP echo servers (ep1, ep2) and load generator (client), once startSctpPeers ran. */
  sctp: { servers: Map<EpName, SctpPeerProcess>; client: SctpPeerProcess } | undefined;

  private constructor(readonly lab: Lab) {}

  static create(): Promise<L4Lab> {
    return Lab.buildWith(async (lab) => {
      const t = new L4Lab(lab);
      await t.build();
      return t;
    });
  }

  private async build(): Promise<void> {
    const { lab } = this;
    await lab.addSwitch('wan');
    await lab.addSwitch('lan');
    await lab.addNode('client', { switch: 'wan', ipv4: [`${L4.client}/24`, `${L4.clientDirect}/24`], ipv6: [`${L4.client6}/64`, `${L4.clientDirect6}/64`] });
    await lab.addNode('router', { switch: 'wan', ipv4: `${L4.routerWan}/24`, ipv6: `${L4.routerWan6}/64`, forwarding: true });
    await lab.addLink('router', { switch: 'lan', ipv4: `${L4.routerLan}/24`, ipv6: `${L4.routerLan6}/64` });
    for (const [lb, addr] of Object.entries(LB_NODES)) {
      await lab.addNode(lb, { switch: 'lan', ipv4: `${addr.v4}/24`, ipv6: `${addr.v6}/64`, forwarding: true });
      await lab.run(lb, ['ip', 'route', 'add', 'default', 'via', L4.routerLan]);
      await lab.run(lb, ['ip', '-6', 'route', 'add', 'default', 'via', L4.routerLan6]);
    }
    for (const ep of EPS) await lab.addNode(ep, { switch: 'lan', ipv4: `${L4[ep]}/24`, ipv6: `${L4[`${ep}_6`]}/64` });
    await lab.run('client', ['ip', 'route', 'add', 'default', 'via', L4.routerWan]);
    // The source hint matters for IPv6: the client's two addresses tie in
    // source address selection (RFC 6724), and Linux then takes the one added
    // last, clientDirect6, which must only ever talk to ep1 directly (PAWS,
    // see l4.bench.ts). IPv4 takes the primary address of the subnet anyway.
    await lab.run('client', ['ip', '-6', 'route', 'add', 'default', 'via', L4.routerWan6, 'src', L4.client6]);

    // Every LB node forwards out of the interface it received on (the LAN).
    // The kernel would answer with ICMP redirects, the endpoints would obey
    // them and send replies straight to the router: a shorter path for the
    // kernel-forwarded cases and broken un-NAT for iptables/nft. Off, and
    // endpoints ignore redirects anyway. IPv6 has no switch for sending
    // redirects (a forwarding node sends them, rate-limited to one a second
    // per destination, and only where the target is the destination itself or
    // a link-local router), so for IPv6 only not obeying them is in our hands.
    for (const node of ['router', ...Object.keys(LB_NODES), ...EPS]) {
      await lab.run(node, [
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.conf.all.send_redirects=0',
        'net.ipv4.conf.eth0.send_redirects=0',
        'net.ipv4.conf.all.accept_redirects=0',
        'net.ipv4.conf.eth0.accept_redirects=0',
        'net.ipv6.conf.all.accept_redirects=0',
        'net.ipv6.conf.eth0.accept_redirects=0',
      ]);
    }
    // One client address per family opening ~20k connections/s (lab-notes):
    // reuse TIME_WAIT ports and use the whole port range. Both sysctls live
    // under net.ipv4 but hold for IPv6 sockets too. HAProxy's node opens the
    // server-side connections, so it gets the same.
    for (const node of ['client', 'lb-hap']) {
      await lab.run(node, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
    }
    for (const ep of EPS) await this.startNginx(ep);
  }

  /**
   * Routes the VIP ranges (router) and the endpoints' default routes, both
   * families, through one LB node. For direct, the router also sends ep1's
   * addresses to that node (a host route beats the connected LAN route), so
   * direct crosses the same hops. Both families always move together, so the
   * other family's routes never point at a node whose case is not running.
   */
  async useLb(lb: LbNodeName): Promise<void> {
    const via = LB_NODES[lb];
    await this.lab.run('router', ['ip', 'route', 'replace', L4.vipNet, 'via', via.v4]);
    await this.lab.run('router', ['ip', '-6', 'route', 'replace', L4.vip6Net, 'via', via.v6]);
    // Both endpoints: the TCP direct cases only talk to ep1, sctp-direct to both.
    for (const ep of EPS) {
      if (lb === 'lb-direct') {
        await this.lab.run('router', ['ip', 'route', 'replace', `${L4[ep]}/32`, 'via', via.v4]);
        await this.lab.run('router', ['ip', '-6', 'route', 'replace', `${L4[`${ep}_6`]}/128`, 'via', via.v6]);
      } else {
        await this.lab.exec('router', ['ip', 'route', 'del', `${L4[ep]}/32`]);
        await this.lab.exec('router', ['ip', '-6', 'route', 'del', `${L4[`${ep}_6`]}/128`]);
      }
    }
    for (const ep of EPS) {
      await this.lab.run(ep, ['ip', 'route', 'replace', 'default', 'via', via.v4]);
      await this.lab.run(ep, ['ip', '-6', 'route', 'replace', 'default', 'via', via.v6]);
    }
  }

  /** Makes the client open its connections to `dest` from `src` (one host route with a source hint), either family. */
  async clientSource(dest: string, src: string): Promise<void> {
    if (ipaddr.parse(dest).kind() === 'ipv6') await this.lab.run('client', ['ip', '-6', 'route', 'replace', `${dest}/128`, 'via', L4.routerWan6, 'src', src]);
    else await this.lab.run('client', ['ip', 'route', 'replace', `${dest}/32`, 'via', L4.routerWan, 'src', src]);
  }

  /** The source address the client's kernel picks for `dest` right now. */
  async clientSourceFor(dest: string): Promise<string | undefined> {
    const out = await this.lab.run('client', ['ip', '-j', 'route', 'get', dest]);
    return (JSON.parse(out || '[]') as { prefsrc?: string }[])[0]?.prefsrc;
  }

  private async startNginx(ep: EpName): Promise<void> {
    const dir = path.join(this.lab.dir, `${ep}-nginx`);
    mkdirSync(path.join(dir, 'tmp'), { recursive: true });
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConfig(dir, L4.epPort));
    const p = this.lab.spawn(ep, '/usr/sbin/nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf], { logName: `${ep}.nginx` });
    this.nginx.set(ep, p);
    await waitFor(
      async () => {
        if (!p.alive()) throw new StopWaiting(`nginx in ${ep} exited: ${p.log()}`);
        for (const url of [`http://${L4[ep]}:${L4.epPort}/`, `http://[${L4[`${ep}_6`]}]:${L4.epPort}/`]) {
          const r = await this.lab.exec(ep, ['curl', '-g', '-s', '-m', '2', url]);
          if (r.stdout.trim() !== 'ok') return false;
        }
        return true;
      },
      { timeoutMs: 15_000, what: `nginx in ${ep} (IPv4 and IPv6)` },
    );
  }

  // -- eBPF: the loxilb agent -------------------------------------------------

  async startAgent(lb: LbNodeName, loglevel = 'info'): Promise<LabProcess> {
    // --prometheus: the ebpf-scraped case scrapes it; nothing runs until a scrape comes.
    const p = await startAgentProcess(this.lab, lb, ['--prometheus'], loglevel);
    this.agent = p;
    return p;
  }

  /**
   * A Prometheus in the node scraping its agent's metrics every second;
   * stop() ends it and says how many scrapes succeeded in its lifetime.
   */
  async startPrometheus(lb: LbNodeName): Promise<{ stop(): Promise<number> }> {
    const prom = await Prometheus.start(this.lab, lb, { targets: ['127.0.0.1:11111'], metricsPath: '/netlox/v1/metrics', port: 19090, name: `prometheus-${this.promRuns++}` });
    return {
      stop: async () => {
        const n = await prom.scrapes('1h');
        await prom.stop();
        return n;
      },
    };
  }

  private promRuns = 0;

  api(node: string, method: string, p: string, body?: unknown): Promise<ApiReply> {
    return agentApi(this.lab, node, method, p, body);
  }

  mustApi(node: string, method: string, p: string, body?: unknown): Promise<any> {
    return mustAgentApi(this.lab, node, method, p, body);
  }

  /**
   * The VIP rule of one family: default mode (DNAT; NAT66 for IPv6), round
   * robin over both endpoints of that family.
   */
  async addEbpfRule(lb: LbNodeName, family: Family): Promise<void> {
    const [vip, eps, name] = family === 4 ? [L4.vip, [L4.ep1, L4.ep2], 'bench'] : [L4.vip6, [L4.ep1_6, L4.ep2_6], 'bench6'];
    await this.mustApi(lb, 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: vip, port: L4.vipPort, protocol: 'tcp', sel: 0, mode: 0, name },
      endpoints: eps.map((ip) => ({ endpointIP: ip, targetPort: L4.epPort, weight: 1 })),
    });
  }

  /** The SCTP rule: VIP:sctpVipPort -> both endpoints :sctpEpPort, default mode (DNAT), round robin. */
  async addEbpfSctpRule(lb: LbNodeName): Promise<void> {
    await this.mustApi(lb, 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: L4.vip, port: L4.sctpVipPort, protocol: 'sctp', sel: 0, mode: 0, name: 'bench-sctp' },
      endpoints: [L4.ep1, L4.ep2].map((ip) => ({ endpointIP: ip, targetPort: L4.sctpEpPort, weight: 1 })),
    });
  }

  // -- SCTP peers (raw sockets) -------------------------------------------------

  /** Echo servers named ep1 / ep2 on both endpoints (IPv4), and the client's load generator. */
  async startSctpPeers(): Promise<NonNullable<L4Lab['sctp']>> {
    if (this.sctp) return this.sctp;
    const servers = new Map<EpName, SctpPeerProcess>();
    for (const ep of EPS) {
      servers.set(ep, await SctpPeerProcess.start(this.lab, ep, { mode: 'server', port: L4.sctpEpPort, name: ep, families: [4], receiveBufferBytes: SCTP_RCVBUF }));
    }
    const client = await SctpPeerProcess.start(this.lab, 'client', { mode: 'client', families: [4], receiveBufferBytes: SCTP_RCVBUF });
    this.sctp = { servers, client };
    return this.sctp;
  }

  /**
   * Packets the kernel dropped at the node's raw SCTP sockets (their receive
   * buffer was full): the drops column of /proc/net/raw for protocol 132.
   */
  async sctpRawDrops(node: string): Promise<number> {
    const out = await this.lab.run(node, ['cat', '/proc/net/raw']);
    let drops = 0;
    for (const line of out.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex, and a raw socket's "port" is its protocol.
      if (f.length >= 13 && f[1]!.endsWith(':0084')) drops += Number(f[f.length - 1]) || 0;
    }
    return drops;
  }

  // -- netfilter baselines ----------------------------------------------------

  /**
   * kube-proxy's iptables mode, reduced to one service: PREROUTING jumps to
   * a services chain that matches the VIP, a service chain picks an endpoint
   * chain with `statistic --mode random` (1/n, 1/(n-1), ...), and the
   * endpoint chain DNATs. Conntrack keeps the choice for the connection, so
   * only a connection's first packet walks these chains.
   */
  async setupIptables(lb: LbNodeName, family: Family): Promise<void> {
    const [cmd, vip, eps] = family === 4 ? ['iptables', `${L4.vip}/32`, [`${L4.ep1}:${L4.epPort}`, `${L4.ep2}:${L4.epPort}`]] : ['ip6tables', `${L4.vip6}/128`, [`[${L4.ep1_6}]:${L4.epPort}`, `[${L4.ep2_6}]:${L4.epPort}`]];
    const rules: string[][] = [
      ['-N', 'BENCH-SERVICES'],
      ['-N', 'BENCH-SVC-WEB'],
      ...eps.map((_, i) => ['-N', `BENCH-SEP-${i + 1}`]),
      ['-A', 'PREROUTING', '-j', 'BENCH-SERVICES'],
      ['-A', 'BENCH-SERVICES', '-d', vip, '-p', 'tcp', '--dport', String(L4.vipPort), '-j', 'BENCH-SVC-WEB'],
      ...eps.map((_, i) => {
        const left = eps.length - i;
        const pick = left > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', (1 / left).toFixed(10)] : [];
        return ['-A', 'BENCH-SVC-WEB', ...pick, '-j', `BENCH-SEP-${i + 1}`];
      }),
      ...eps.map((ep, i) => ['-A', `BENCH-SEP-${i + 1}`, '-p', 'tcp', '-j', 'DNAT', '--to-destination', ep]),
    ];
    for (const r of rules) await this.lab.run(lb, [cmd, '-w', '-t', 'nat', ...r]);
  }

  /**
   * The nftables equivalent: one nat chain, `numgen inc mod 2` (round robin)
   * into a map of endpoints; a `table ip6` of the same shape for IPv6.
   */
  async setupNft(lb: LbNodeName, family: Family): Promise<void> {
    const [table, match, ep1, ep2] = family === 4 ? ['ip', `ip daddr ${L4.vip}`, L4.ep1, L4.ep2] : ['ip6', `ip6 daddr ${L4.vip6}`, L4.ep1_6, L4.ep2_6];
    const ruleset = `table ${table} bench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ${match} tcp dport ${L4.vipPort} dnat to numgen inc mod 2 map { 0 : ${ep1}, 1 : ${ep2} } : ${L4.epPort}
  }
}
`;
    await this.lab.run(lb, ['nft', '-f', '-'], { input: ruleset });
  }

  /** Current connection count of netfilter conntrack in a node (0 where conntrack never ran). */
  async conntrackCount(node: string): Promise<number> {
    const r = await this.lab.exec(node, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count']);
    return r.code === 0 ? Number(r.stdout.trim()) : 0;
  }

  /** The node's nat ruleset as nft lists it ('' if none); reading it creates nothing. */
  async nftRuleset(node: string): Promise<string> {
    return (await this.lab.exec(node, ['nft', 'list', 'ruleset'])).stdout.trim();
  }

  // -- HAProxy ----------------------------------------------------------------

  /** HAProxy in `mode tcp` on the VIP (a local address of its node), round robin over both endpoints. */
  async startHaproxy(lb: LbNodeName, nbthread: number): Promise<LabProcess> {
    await this.lab.run(lb, ['ip', 'addr', 'replace', `${L4.vip}/32`, 'dev', 'lo']);
    const cfg = path.join(this.lab.dir, `${lb}-haproxy.cfg`);
    writeFileSync(cfg, haproxyConfig(nbthread));
    const p = this.lab.spawn(lb, '/usr/sbin/haproxy', ['-db', '-f', cfg], { logName: `${lb}.haproxy` });
    this.haproxy = p;
    await waitFor(
      async () => {
        if (!p.alive()) throw new StopWaiting(`haproxy in ${lb} exited: ${p.log()}`);
        const r = await this.lab.exec(lb, ['curl', '-s', '-m', '2', `http://${L4.vip}:${L4.vipPort}/`]);
        return r.stdout.trim() === 'ok';
      },
      { timeoutMs: 15_000, what: `haproxy in ${lb}` },
    );
    return p;
  }

  // -- counters ---------------------------------------------------------------

  /** TCP counters of a node (/proc/net/snmp Tcp: and /proc/net/netstat TcpExt:, as read in its namespace). */
  async tcpCounters(node: string): Promise<Record<string, number>> {
    const out = await this.lab.run(node, ['cat', '/proc/net/snmp', '/proc/net/netstat']);
    const lines = out.split('\n');
    const c: Record<string, number> = {};
    for (let i = 0; i + 1 < lines.length; i++) {
      const head = lines[i]!.split(' ');
      const vals = lines[i + 1]!.split(' ');
      if (head[0] !== vals[0] || (head[0] !== 'Tcp:' && head[0] !== 'TcpExt:')) continue;
      for (let j = 1; j < head.length; j++) c[head[j]!] = Number(vals[j]);
      i++;
    }
    return c;
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}

/**
 * nginx as a minimal HTTP endpoint: one worker, no logs, a fixed reply,
 * effectively endless keep-alive. Two listening sockets, one per family
 * (`[::]` is IPv6-only in nginx), served by the same worker.
 */
export function nginxConfig(dir: string, port: number): string {
  const p = (f: string) => path.join(dir, f);
  return `daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events {
  worker_connections 8192;
}
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path ${p('tmp/body')};
  proxy_temp_path ${p('tmp/proxy')};
  fastcgi_temp_path ${p('tmp/fastcgi')};
  uwsgi_temp_path ${p('tmp/uwsgi')};
  scgi_temp_path ${p('tmp/scgi')};
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen ${port} backlog=4096;
    listen [::]:${port} backlog=4096;
    location / {
      return 200 "ok\\n";
    }
  }
}
`;
}

export function haproxyConfig(nbthread: number): string {
  return `global
  maxconn 8000
  nbthread ${nbthread}

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend vip
  bind ${L4.vip}:${L4.vipPort}
  default_backend endpoints

backend endpoints
  balance roundrobin
  server ep1 ${L4.ep1}:${L4.epPort}
  server ep2 ${L4.ep2}:${L4.epPort}
`;
}
