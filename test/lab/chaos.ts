// The chaos soak (issue 15 §4), shared by test/integration/chaosSoak.test.ts
// (a short run in CI) and bench/chaos.bench.ts (ten minutes).
//
// Topology: the seeds' hitless L3 scenario in a DatapathLab: a BIRD router
// with BFD on its BGP sessions, two `loxilb --bgp --ka --cluster` nodes with
// a pinned connection table, endpoints running `loxilb --peer`. A client
// keeps 100 TCP connections busy through the VIP (a line every 10 ms each)
// and probes the VIP over UDP every 10 ms. Faults, one at a time, then the
// repair, then steady state again:
//   kill-agent      SIGKILL a node's agent (its datapath keeps forwarding), start it again
//   kill-gobgpd     SIGKILL a node's gobgpd (the agent restarts it)
//   cut-link        a node's switch port down for 2 s, then up
//   router-bgp      the router restarts its BGP sessions with both nodes
//   drain           SIGTERM a node (graceful drain), start it again
// After each fault: steady within the timeout (one MASTER, one BACKUP, BFD
// Up between them, the router's next hop for the VIP the MASTER, every BGP
// session Established), else an invariant violation; the probe's longest gap
// in the fault's window is its loss window. At the end: connections reset.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatapathLab, DP, haPairArgs, type LbNode, type StreamRun } from './DatapathLab.ts';
import type { Lab, LabProcess } from './Lab.ts';
import { instanceRole, runSoak, soleMaster, STEADY_BOUND_MS, type ChaosReport, type ChaosSubject } from './chaosRun.ts';
import { neighborProtocolName } from './Bird.ts';
import { waitFor } from './wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UDP_ECHO = fileURLToPath(new URL('./udpEcho.ts', import.meta.url));
const PROBE_PORT = 7777;

export const FAULT_KINDS = ['kill-agent', 'kill-gobgpd', 'cut-link', 'router-bgp', 'drain'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type { ChaosReport, FaultRecord } from './chaosRun.ts';

/** How long cut-link keeps the switch port down. */
const CUT_MS = 2000;

/**
 * cut-link's bound on the return to steady state, from the link's return
 * (waitSteady starts after the repair), summed from the timers on its
 * slowest path rather than picked: 45 s (STEADY_BOUND_MS) was met by every
 * other kind but once missed here (47 s, logs lost; see Lab.cleanupStale).
 * - BFD with the router and the endpoints comes back from Down at the slow
 *   rate of a session that is not Up (1 s a packet, RFC 5880 6.8.3): the
 *   Down-Init-Up exchange takes up to 2 s.
 * - Each side then makes its BGP peer anew (planBgpConfig). gobgpd tries a
 *   connection after tick + random(tick) s with tick 5 s (gobgp's connect
 *   loop, every attempt): up to 10 s. BIRD's error wait (1-2 s, Bird.ts) ran
 *   during the cut, and BIRD retries every second.
 * - The slow path (the one that fits 47 s; not shown, the logs were gone):
 *   a session one end still holds Established (an end that
 *   did not see BFD go, or an old TCP connection it has not heard the end
 *   of) refuses the new connection until its next KEEPALIVE over the dead
 *   connection draws a reset: up to 30 s (keepalive 30 s, BgpReconciler's
 *   timers). gobgpd then holds the peer Idle 5 s and connects within 10 s.
 * - Steady must then hold for 1 s (waitSteady), checked every 100 ms.
 * So 2 + 30 + 5 + 10 + 1 = 48 s, plus 2 s for the checks' own API and
 * birdc calls on a loaded machine.
 */
export const CUT_LINK_STEADY_BOUND_MS = 2000 + 30_000 + 5000 + 10_000 + 1000 + 2000;

const other = (lb: LbNode): LbNode => (lb === 'lb1' ? 'lb2' : 'lb1');

export class ChaosLab implements ChaosSubject<FaultKind> {
  readonly vip = DP.vip;

  private constructor(
    readonly t: DatapathLab,
    private readonly log: (s: string) => void,
  ) {}

  static async create(bpffs: string, log: (s: string) => void = () => undefined): Promise<ChaosLab> {
    const t = await DatapathLab.create({
      lbs: ['lb1', 'lb2'],
      bgp: { bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } },
      lbArgs: (lb) => haPairArgs(lb, ['--drain-timeout=15', `--bpf-pin-dir=${path.join(bpffs, lb)}`]),
    });
    const c = new ChaosLab(t, log);
    try {
      for (const ep of ['ep1', 'ep2'] as const) {
        const p = t.lab.spawn(ep, process.execPath, ['--import', 'tsx', UDP_ECHO, '--bind', DP[ep], '--port', String(PROBE_PORT), '--name', ep], { cwd: ROOT, logName: `${ep}.udpecho` });
        await waitFor(() => p.log().includes('listening'), { timeoutMs: 15_000, what: `udpEcho in ${ep}` });
      }
      for (const lb of t.lbs) {
        await t.mustApi(lb, 'POST', '/config/loadbalancer', {
          serviceArguments: { externalIP: DP.vip, port: 70, protocol: 'tcp', sel: 0, mode: 2, bgp: true, name: 'stream' },
          endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
        });
        await t.mustApi(lb, 'POST', '/config/loadbalancer', {
          serviceArguments: { externalIP: DP.vip, port: PROBE_PORT, protocol: 'udp', sel: 0, mode: 2, bgp: true, name: 'probe' },
          endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: PROBE_PORT, weight: 1 })),
        });
      }
      await c.waitSteady(60_000);
    } catch (err) {
      await t.destroy();
      throw err;
    }
    return c;
  }

  async destroy(): Promise<void> {
    await this.t.destroy();
  }

  private role(lb: LbNode): Promise<string | undefined> {
    return instanceRole((n, m, p) => this.t.api(n, m, p), lb);
  }

  master(): Promise<LbNode | undefined> {
    return soleMaster((lb) => this.role(lb));
  }

  /** One MASTER and one BACKUP, the router and both endpoints on the MASTER, every session Established, the BACKUP synced. */
  private async steady(): Promise<string | undefined> {
    const t = this.t;
    const roles = await Promise.all(t.lbs.map((lb) => this.role(lb)));
    if (roles.sort().join() !== 'BACKUP,MASTER') return `roles ${roles.join('/')}`;
    const m = (await this.master())!;
    if ((await t.vipNextHop('router')) !== DP[m]) return `router not on the MASTER ${m}`;
    for (const ep of ['ep1', 'ep2'] as const) if ((await t.vipNextHop(ep)) !== DP[m]) return `${ep} not on the MASTER`;
    for (const lb of t.lbs) {
      const n = (await t.api(lb, 'GET', '/config/bgp/neigh/all')).body as { bgpNeiAttr?: { state: string }[] } | undefined;
      if (n?.bgpNeiAttr?.length !== 3 || !n.bgpNeiAttr.every((x) => x.state === 'ESTABLISHED')) return `${lb}'s BGP sessions not all Established`;
    }
    const st = (await t.api(other(m), 'GET', '/status')).body as { sync?: { peers?: { state: string }[] } } | undefined;
    if (st?.sync?.peers?.[0]?.state !== 'synced') return `the BACKUP ${other(m)} not synced`;
    return undefined;
  }

  /** Waits until steady() holds for 1 s straight; rejects with the last reason after timeoutMs. */
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
        return now - since >= 1000;
      },
      { timeoutMs, intervalMs: 100, what: 'steady state' },
    ).catch(() => {
      throw new Error(`not steady within ${timeoutMs} ms: ${why}`);
    });
  }

  private async restartAgent(lb: LbNode): Promise<void> {
    await this.t.startAgent(lb);
  }

  /** Injects one fault and repairs it; resolves when the repair is done (not yet steady). */
  async inject(kind: FaultKind, target: LbNode): Promise<void> {
    const t = this.t;
    switch (kind) {
      case 'kill-agent': {
        const p: LabProcess = t.agents.get(target)!;
        p.signal('SIGKILL');
        await p.exited;
        await new Promise((r) => setTimeout(r, 1000));
        await this.restartAgent(target);
        break;
      }
      case 'kill-gobgpd': {
        const pid = ((await t.mustApi(target, 'GET', '/status')) as { bgp?: { pid?: number } }).bgp?.pid;
        if (!pid) throw new Error(`${target} reports no gobgpd pid`);
        // gobgpd is the child of the agent this lab started.
        process.kill(pid, 'SIGKILL');
        break;
      }
      case 'cut-link':
        await t.lab.cutLink(target);
        await new Promise((r) => setTimeout(r, CUT_MS));
        await t.lab.restoreLink(target);
        break;
      case 'router-bgp':
        // Both sessions at once: the router's BGP restarts (its BFD stays).
        for (const lb of t.lbs) await t.bird!.birdc(`restart ${protocolOf(lb)}`);
        break;
      case 'drain':
        await t.agents.get(target)!.stop(30_000);
        await this.restartAgent(target);
        break;
    }
  }

  get lab(): Lab {
    return this.t.lab;
  }

  hitsRouter(kind: FaultKind): boolean {
    return kind === 'router-bgp';
  }

  steadyBoundMs(kind: FaultKind): number {
    return kind === 'cut-link' ? CUT_LINK_STEADY_BOUND_MS : STEADY_BOUND_MS;
  }

  startStreams(opts: { durationMs: number }): Promise<StreamRun> {
    return this.t.startStreams(opts);
  }

  /** See runSoak (test/lab/chaosRun.ts). */
  soak(opts: { durationMs: number; seed?: number; kinds?: readonly FaultKind[]; steadyTimeoutMs?: number }): Promise<ChaosReport<FaultKind>> {
    return runSoak(this, { ...opts, kinds: opts.kinds ?? FAULT_KINDS, log: this.log });
  }
}

function protocolOf(lb: LbNode): string {
  return neighborProtocolName(DP[lb]);
}
