// The chaos soak's L2 topology (issue 15 §3–§4): the seeds' flat L2 scenario
// with the hitless pair's connection sync and pinned tables.
//
//   client .100, lb1 .11, lb2 .12, ep1 .21, ep2 .22, all on switch lan (192.168.80.0/24)
//   VIP 192.168.80.200 inside the subnet: the MASTER holds it on eth0 and
//   announces it with gratuitous ARP; client and endpoints find it by ARP.
//
// Both LB nodes run `loxilb --ka --cluster` (BFD 100 ms × 3, connection sync,
// --bpf-pin-dir); rules are fullnat, so the endpoints answer the VIP and their
// replies, too, go to whichever node holds it. No router, no BGP: the
// gobgpd and router faults of the L3 soak have nothing to hit here. Faults:
//   kill-agent   SIGKILL a node's agent (its datapath keeps forwarding; the
//                VIP stays on its interface), start it again
//   cut-link     a node's switch port down for 2 s, then up
//   drain        SIGTERM a node (graceful drain), start it again
// Steady: one MASTER and one BACKUP, the VIP on the MASTER's eth0 only, the
// client's and both endpoints' neighbour entries for the VIP (if any) on the
// MASTER's MAC, the BACKUP synced, all held 1 s; then a broadcast ARP request for the
// VIP from the client (arping) is answered by the MASTER and nobody else.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type LabProcess } from './Lab.ts';
import { startStreamClients, type LbNode, type StreamRun } from './DatapathLab.ts';
import { agentApi, mustAgentApi, startAgentProcess, type ApiReply } from './agentProcess.ts';
import { instanceRole, runSoak, soleMaster, type ChaosReport, type ChaosSubject } from './chaosRun.ts';
import { StopWaiting, waitFor } from './wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ECHO = fileURLToPath(new URL('./l4Echo.ts', import.meta.url));
const UDP_ECHO = fileURLToPath(new URL('./udpEcho.ts', import.meta.url));

export const L2 = {
  client: '192.168.80.100',
  lb1: '192.168.80.11',
  lb2: '192.168.80.12',
  ep1: '192.168.80.21',
  ep2: '192.168.80.22',
  vip: '192.168.80.200',
  streamPort: 7070,
  probePort: 7777,
} as const;

export const L2_FAULT_KINDS = ['kill-agent', 'cut-link', 'drain'] as const;
export type L2FaultKind = (typeof L2_FAULT_KINDS)[number];

const LBS: readonly LbNode[] = ['lb1', 'lb2'];
const other = (lb: LbNode): LbNode => (lb === 'lb1' ? 'lb2' : 'lb1');

/** The MACs that answer a broadcast ARP request for `address` sent from `node` (iputils arping, broadcast only). */
export async function arpResponders(lab: Lab, node: string, address: string): Promise<string[]> {
  // -b: broadcast only (arping unicasts to the first responder otherwise).
  // One request (the second would go at the 1 s deadline); arping waits for
  // two replies or the deadline, so a second node answering is seen.
  const r = await lab.exec(node, ['arping', '-b', '-c', '2', '-w', '1', '-I', 'eth0', address], { check: false });
  const macs = new Set<string>();
  for (const m of r.stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)) macs.add(m[1]!.toLowerCase());
  return [...macs].sort();
}

/** A node's neighbour entry for `address` on eth0: the MAC it sends to, if any. */
export async function neighbourOf(lab: Lab, node: string, address: string): Promise<string | undefined> {
  const rows = JSON.parse((await lab.run(node, ['ip', '-j', 'neigh', 'show', address, 'dev', 'eth0'])) || '[]') as { lladdr?: string; state?: string[] }[];
  const row = rows[0];
  return row && !row.state?.includes('FAILED') && !row.state?.includes('INCOMPLETE') ? row.lladdr?.toLowerCase() : undefined;
}

export class L2ChaosLab implements ChaosSubject<L2FaultKind> {
  readonly vip = L2.vip;
  readonly agents = new Map<LbNode, LabProcess>();
  readonly macs = new Map<LbNode, string>();

  private constructor(
    readonly lab: Lab,
    private readonly bpffs: string,
    private readonly log: (s: string) => void,
  ) {}

  /** Builds the lab, starts both agents and the rules, waits for steady state. `bpffs/lb1` and `bpffs/lb2` must exist. */
  static async create(bpffs: string, log: (s: string) => void = () => undefined): Promise<L2ChaosLab> {
    const lab = await Lab.create();
    const c = new L2ChaosLab(lab, bpffs, log);
    try {
      await c.build();
      await c.waitSteady(60_000);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return c;
  }

  private async build(): Promise<void> {
    const { lab } = this;
    await lab.addSwitch('lan');
    for (const n of ['client', 'lb1', 'lb2', 'ep1', 'ep2'] as const) await lab.addNode(n, { switch: 'lan', ipv4: `${L2[n]}/24` });
    for (const lb of LBS) this.macs.set(lb, await this.mac(lb));
    for (const ep of ['ep1', 'ep2'] as const) {
      await this.spawnReady(ep, [ECHO, '--name', ep, '--http', '8080', '--udp', '9090', '--stream', String(L2.streamPort)], 'ready', `${ep}.echo`);
      await this.spawnReady(ep, [UDP_ECHO, '--bind', L2[ep], '--port', String(L2.probePort), '--name', ep], 'listening', `${ep}.udpecho`);
    }
    await Promise.all(LBS.map((lb) => this.startAgent(lb)));
    for (const lb of LBS) {
      for (const [name, protocol, port, targetPort] of [
        ['stream', 'tcp', 70, L2.streamPort],
        ['probe', 'udp', L2.probePort, L2.probePort],
      ] as const) {
        await this.mustApi(lb, 'POST', '/config/loadbalancer', {
          serviceArguments: { externalIP: L2.vip, port, protocol, sel: 0, mode: 2, name },
          endpoints: [L2.ep1, L2.ep2].map((ip) => ({ endpointIP: ip, targetPort, weight: 1 })),
        });
      }
    }
  }

  private async spawnReady(node: string, args: string[], ready: string, logName: string): Promise<void> {
    const p = this.lab.spawn(node, process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, logName });
    await waitFor(
      () => {
        if (!p.alive()) throw new StopWaiting(`${logName} exited: ${p.log()}`);
        return p.log().includes(ready);
      },
      { timeoutMs: 15_000, what: logName },
    );
  }

  /** The HA pair's flags: --ka at 100 ms × 3, --cluster (sync), a pinned table, a 15 s drain. */
  agentArgs(lb: LbNode): string[] {
    return [
      `--ka=${L2[other(lb)]}:${L2[lb]}:100000:3`,
      `--cluster=${L2[other(lb)]}`,
      `--self=${lb === 'lb1' ? 0 : 1}`,
      '--ha-init-wait=3000',
      '--drain-timeout=15',
      `--bpf-pin-dir=${path.join(this.bpffs, lb)}`,
    ];
  }

  async startAgent(lb: LbNode): Promise<LabProcess> {
    const p = await startAgentProcess(this.lab, lb, this.agentArgs(lb));
    this.agents.set(lb, p);
    return p;
  }

  api(node: string, method: string, p: string, body?: unknown): Promise<ApiReply> {
    return agentApi(this.lab, node, method, p, body);
  }

  mustApi(node: string, method: string, p: string, body?: unknown): Promise<any> {
    return mustAgentApi(this.lab, node, method, p, body);
  }

  async mac(node: string): Promise<string> {
    return (JSON.parse(await this.lab.run(node, ['ip', '-j', 'link', 'show', 'eth0']))[0].address as string).toLowerCase();
  }

  /** LB nodes that hold the VIP on eth0. */
  async vipHolders(): Promise<LbNode[]> {
    const out: LbNode[] = [];
    for (const lb of LBS) {
      const rows = JSON.parse((await this.lab.run(lb, ['ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0'])) || '[]') as { addr_info?: { local?: string }[] }[];
      if (rows.some((r) => r.addr_info?.some((a) => a.local === L2.vip))) out.push(lb);
    }
    return out;
  }

  role(lb: LbNode): Promise<string | undefined> {
    return instanceRole((n, m, p) => this.api(n, m, p), lb);
  }

  master(): Promise<LbNode | undefined> {
    return soleMaster((lb) => this.role(lb));
  }

  /** Everything of steady but the ARP request (see the header). */
  private async steady(): Promise<string | undefined> {
    const roles = await Promise.all(LBS.map((lb) => this.role(lb)));
    if ([...roles].sort().join() !== 'BACKUP,MASTER') return `roles ${roles.join('/')}`;
    const m = (await this.master())!;
    const holders = await this.vipHolders();
    if (holders.join() !== m) return `the VIP is on ${holders.join(' and ') || 'no node'}, the MASTER is ${m}`;
    for (const n of ['client', 'ep1', 'ep2']) {
      const mac = await neighbourOf(this.lab, n, L2.vip);
      // No entry is fine (the next packet asks, and only the MASTER answers: arpCheck); another node's MAC is not.
      if (mac !== undefined && mac !== this.macs.get(m)) return `${n}'s neighbour entry for the VIP is ${mac ?? 'none'}, not the MASTER ${m}'s ${this.macs.get(m)}`;
    }
    const st = (await this.api(other(m), 'GET', '/status')).body as { sync?: { peers?: { state: string }[] } } | undefined;
    if (st?.sync?.peers?.[0]?.state !== 'synced') return `the BACKUP ${other(m)} not synced`;
    return undefined;
  }

  /** Only the MASTER answers ARP for the VIP (undefined), else what answered. */
  async arpCheck(m: LbNode): Promise<string | undefined> {
    const macs = await arpResponders(this.lab, 'client', L2.vip);
    if (macs.join() === this.macs.get(m)) return undefined;
    const names = macs.map((x) => LBS.find((lb) => this.macs.get(lb) === x) ?? x);
    return `ARP for the VIP answered by ${names.join(' and ') || 'nobody'}, the MASTER is ${m}`;
  }

  /** Waits until steady() holds for 1 s straight and then only the MASTER answers ARP; rejects with the last reason after timeoutMs. */
  async waitSteady(timeoutMs: number): Promise<void> {
    let since: number | undefined;
    let why: string | undefined = 'not checked';
    await waitFor(
      async () => {
        why = await this.steady().catch((e: Error) => e.message);
        const now = performance.now();
        if (why) {
          since = undefined;
          return false;
        }
        since ??= now;
        if (now - since < 1000) return false;
        const m = await this.master();
        why = m ? await this.arpCheck(m) : 'no MASTER';
        if (why) since = undefined;
        return !why;
      },
      { timeoutMs, intervalMs: 100, what: 'steady state' },
    ).catch(() => {
      throw new Error(`not steady within ${timeoutMs} ms: ${why}`);
    });
  }

  startStreams(opts: { durationMs: number }): Promise<StreamRun> {
    return startStreamClients(this.lab, 'client', `${L2.vip}:70`, opts);
  }

  async inject(kind: L2FaultKind, target: LbNode): Promise<void> {
    switch (kind) {
      case 'kill-agent': {
        const p = this.agents.get(target)!;
        p.signal('SIGKILL');
        await p.exited;
        await new Promise((r) => setTimeout(r, 1000));
        await this.startAgent(target);
        break;
      }
      case 'cut-link':
        await this.lab.cutLink(target);
        await new Promise((r) => setTimeout(r, 2000));
        await this.lab.restoreLink(target);
        break;
      case 'drain':
        await this.agents.get(target)!.stop(30_000);
        await this.startAgent(target);
        break;
    }
  }

  /** See runSoak (test/lab/chaosRun.ts). */
  soak(opts: { durationMs: number; seed?: number; kinds?: readonly L2FaultKind[]; steadyTimeoutMs?: number }): Promise<ChaosReport<L2FaultKind>> {
    return runSoak(this, { ...opts, kinds: opts.kinds ?? L2_FAULT_KINDS, log: this.log });
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}
