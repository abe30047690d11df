// The L4 benchmark's lab: DatapathLab's topology (client behind a router, a
// LAN with LB nodes and two endpoints; its client, router, endpoint and VIP
// addresses), but with nginx on the endpoints and one LB node per way of load
// balancing, so no case leaves state (netfilter tables, conntrack, TC
// programs, sockets) in the path of another:
//
//   client 192.168.90.2 (.3 for direct) --[wan]-- router --[lan]-- lb-direct .10   plain kernel router
//                                                                  lb-ebpf   .11   loxilb agent (TC programs)
//                                                                  lb-ipt    .12   iptables DNAT
//                                                                  lb-nft    .13   nftables DNAT
//                                                                  lb-hap    .14   HAProxy mode tcp
//                                                                  ep1 .21, ep2 .22   nginx :8080
//
// Every LB node is built the same way (forwarding on, ICMP redirects off,
// default route to the router); useLb() points the router's VIP route (and,
// for direct, a host route to ep1) and the endpoints' default route at one of
// them, so every case crosses client -> router -> LB node -> endpoint and back.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Lab, type LabProcess } from '../../test/lab/Lab.ts';
import { DP } from '../../test/lab/DatapathLab.ts';
import { agentApi, mustAgentApi, startAgentProcess, type ApiReply } from '../../test/lab/agentProcess.ts';
import { StopWaiting, waitFor } from '../../test/lab/wait.ts';

export const L4 = {
  client: DP.client,
  /** Second client address, only for the direct case (see directSource in l4.bench.ts). */
  clientDirect: '192.168.90.3',
  routerWan: DP.routerWan,
  routerLan: DP.routerLan,
  ep1: DP.ep1,
  ep2: DP.ep2,
  vip: DP.vip,
  vipNet: DP.vipNet,
  vipPort: 80,
  epPort: DP.httpPort,
} as const;

export const LB_NODES = {
  'lb-direct': '192.168.80.10',
  'lb-ebpf': '192.168.80.11',
  'lb-ipt': '192.168.80.12',
  'lb-nft': '192.168.80.13',
  'lb-hap': '192.168.80.14',
} as const;
export type LbNodeName = keyof typeof LB_NODES;

const EPS = ['ep1', 'ep2'] as const;
export type EpName = (typeof EPS)[number];

export class L4Lab {
  readonly nginx = new Map<EpName, LabProcess>();
  agent: LabProcess | undefined;
  haproxy: LabProcess | undefined;

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
    await lab.addNode('client', { switch: 'wan', ipv4: [`${L4.client}/24`, `${L4.clientDirect}/24`] });
    await lab.addNode('router', { switch: 'wan', ipv4: `${L4.routerWan}/24`, forwarding: true });
    await lab.addLink('router', { switch: 'lan', ipv4: `${L4.routerLan}/24` });
    for (const [lb, addr] of Object.entries(LB_NODES)) {
      await lab.addNode(lb, { switch: 'lan', ipv4: `${addr}/24`, forwarding: true });
      await lab.run(lb, ['ip', 'route', 'add', 'default', 'via', L4.routerLan]);
    }
    for (const ep of EPS) await lab.addNode(ep, { switch: 'lan', ipv4: `${L4[ep]}/24` });
    await lab.run('client', ['ip', 'route', 'add', 'default', 'via', L4.routerWan]);

    // Every LB node forwards out of the interface it received on (the LAN).
    // The kernel would answer with ICMP redirects, the endpoints would obey
    // them and send replies straight to the router: a shorter path for the
    // kernel-forwarded cases and broken un-NAT for iptables/nft. Off, and
    // endpoints ignore redirects anyway.
    for (const node of ['router', ...Object.keys(LB_NODES), ...EPS]) {
      await lab.run(node, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.eth0.send_redirects=0', 'net.ipv4.conf.all.accept_redirects=0', 'net.ipv4.conf.eth0.accept_redirects=0']);
    }
    // One client address opening ~20k connections/s (lab-notes): reuse
    // TIME_WAIT ports and use the whole port range. HAProxy's node opens the
    // server-side connections, so it gets the same.
    for (const node of ['client', 'lb-hap']) {
      await lab.run(node, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
    }
    for (const ep of EPS) await this.startNginx(ep);
  }

  /**
   * Routes the VIP range (router) and the endpoints' default route through
   * one LB node. For direct, the router also sends ep1's address to that node
   * (a /32 beats the connected LAN route), so direct crosses the same hops.
   */
  async useLb(lb: LbNodeName): Promise<void> {
    const via = LB_NODES[lb];
    await this.lab.run('router', ['ip', 'route', 'replace', L4.vipNet, 'via', via]);
    if (lb === 'lb-direct') await this.lab.run('router', ['ip', 'route', 'replace', `${L4.ep1}/32`, 'via', via]);
    else await this.lab.exec('router', ['ip', 'route', 'del', `${L4.ep1}/32`]);
    for (const ep of EPS) await this.lab.run(ep, ['ip', 'route', 'replace', 'default', 'via', via]);
  }

  /** Makes the client open its connections to `dest` from `src` (one route with a source hint). */
  async clientSource(dest: string, src: string): Promise<void> {
    await this.lab.run('client', ['ip', 'route', 'replace', `${dest}/32`, 'via', L4.routerWan, 'src', src]);
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
        const r = await this.lab.exec(ep, ['curl', '-s', '-m', '2', `http://${L4[ep]}:${L4.epPort}/`]);
        return r.stdout.trim() === 'ok';
      },
      { timeoutMs: 15_000, what: `nginx in ${ep}` },
    );
  }

  // -- eBPF: the loxilb agent -------------------------------------------------

  async startAgent(lb: LbNodeName, loglevel = 'info'): Promise<LabProcess> {
    const p = await startAgentProcess(this.lab, lb, [], loglevel);
    this.agent = p;
    return p;
  }

  api(node: string, method: string, p: string, body?: unknown): Promise<ApiReply> {
    return agentApi(this.lab, node, method, p, body);
  }

  mustApi(node: string, method: string, p: string, body?: unknown): Promise<any> {
    return mustAgentApi(this.lab, node, method, p, body);
  }

  /** The VIP rule: default mode (DNAT), round robin over both endpoints. */
  async addEbpfRule(lb: LbNodeName): Promise<void> {
    await this.mustApi(lb, 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: L4.vip, port: L4.vipPort, protocol: 'tcp', sel: 0, mode: 0, name: 'bench' },
      endpoints: [L4.ep1, L4.ep2].map((ip) => ({ endpointIP: ip, targetPort: L4.epPort, weight: 1 })),
    });
  }

  // -- netfilter baselines ----------------------------------------------------

  /**
   * kube-proxy's iptables mode, reduced to one service: PREROUTING jumps to
   * a services chain that matches the VIP, a service chain picks an endpoint
   * chain with `statistic --mode random` (1/n, 1/(n-1), ...), and the
   * endpoint chain DNATs. Conntrack keeps the choice for the connection, so
   * only a connection's first packet walks these chains.
   */
  async setupIptables(lb: LbNodeName): Promise<void> {
    const eps = [L4.ep1, L4.ep2];
    const rules: string[][] = [
      ['-N', 'BENCH-SERVICES'],
      ['-N', 'BENCH-SVC-WEB'],
      ...eps.map((_, i) => ['-N', `BENCH-SEP-${i + 1}`]),
      ['-A', 'PREROUTING', '-j', 'BENCH-SERVICES'],
      ['-A', 'BENCH-SERVICES', '-d', `${L4.vip}/32`, '-p', 'tcp', '--dport', String(L4.vipPort), '-j', 'BENCH-SVC-WEB'],
      ...eps.map((_, i) => {
        const left = eps.length - i;
        const pick = left > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', (1 / left).toFixed(10)] : [];
        return ['-A', 'BENCH-SVC-WEB', ...pick, '-j', `BENCH-SEP-${i + 1}`];
      }),
      ...eps.map((ep, i) => ['-A', `BENCH-SEP-${i + 1}`, '-p', 'tcp', '-j', 'DNAT', '--to-destination', `${ep}:${L4.epPort}`]),
    ];
    for (const r of rules) await this.lab.run(lb, ['iptables', '-w', '-t', 'nat', ...r]);
  }

  /** The nftables equivalent: one nat chain, `numgen inc mod 2` (round robin) into a map of endpoints. */
  async setupNft(lb: LbNodeName): Promise<void> {
    const ruleset = `table ip bench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${L4.vip} tcp dport ${L4.vipPort} dnat to numgen inc mod 2 map { 0 : ${L4.ep1}, 1 : ${L4.ep2} } : ${L4.epPort}
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

/** nginx as a minimal HTTP endpoint: one worker, no logs, a fixed reply, effectively endless keep-alive. */
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
