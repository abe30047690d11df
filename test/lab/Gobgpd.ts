// A plain gobgpd inside a lab node, driven with the gobgp CLI (no agent).
// Used where a test needs "some other BGP speaker" or to compare the agent's
// behaviour with bare gobgpd. Each namespace has its own loopback, so every
// instance can keep the API on 127.0.0.1:50051.

import type { ExecResult, Lab, LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';

export interface GobgpdStartOptions {
  /** gRPC API port on the node's loopback (default 50051; keep below 32768). */
  apiPort?: number;
  /** Config file for -f (default none: BGP stays inactive until `gobgp global as ...`). */
  configFile?: string;
  /** Extra gobgpd arguments. */
  args?: string[];
  /** Wait this long for the API to answer (default 10 s). */
  timeoutMs?: number;
}

export class Gobgpd {
  private constructor(
    readonly lab: Lab,
    readonly node: string,
    readonly apiPort: number,
    readonly process: LabProcess,
  ) {}

  /** Starts `gobgpd --api-hosts=127.0.0.1:<port> --pprof-disable -p` in the node and waits for its API. */
  static async start(lab: Lab, node: string, opts: GobgpdStartOptions = {}): Promise<Gobgpd> {
    const apiPort = opts.apiPort ?? 50051;
    const args = [`--api-hosts=127.0.0.1:${apiPort}`, '--pprof-disable', '-p'];
    if (opts.configFile) args.push('-f', opts.configFile);
    args.push(...(opts.args ?? []));
    const proc = lab.spawn(node, 'gobgpd', args, { logName: `gobgpd-${node}` });
    const g = new Gobgpd(lab, node, apiPort, proc);
    await waitFor(
      async () => {
        if (!proc.alive()) throw new StopWaiting(`gobgpd in ${node} exited: ${proc.log().slice(-2000)}`);
        // Before StartBgp the API answers with an error of its own; only a
        // failure to connect means "not up yet".
        const r = await g.exec(['global']);
        return !/context deadline exceeded|connection refused|Unavailable/i.test(r.stdout + r.stderr);
      },
      { timeoutMs: opts.timeoutMs ?? 10_000, intervalMs: 100, what: `gobgpd API in ${node}` },
    );
    return g;
  }

  /** Runs the gobgp CLI against this instance; never throws on a non-zero exit. */
  exec(args: string[]): Promise<ExecResult> {
    return this.lab.exec(this.node, ['gobgp', '-p', String(this.apiPort), ...args], { timeoutMs: 15_000 });
  }

  /** Runs the gobgp CLI and returns stdout; throws on failure. */
  async cli(...args: string[]): Promise<string> {
    return this.lab.run(this.node, ['gobgp', '-p', String(this.apiPort), ...args], { timeoutMs: 15_000 });
  }

  /** Neighbour states from `gobgp neighbor -j` (session_state 6 = established). */
  async neighborStates(): Promise<Record<string, number>> {
    const peers = JSON.parse((await this.cli('neighbor', '-j')) || '[]') as Array<{
      conf?: { neighbor_address?: string };
      state?: { neighbor_address?: string; session_state?: number };
    }>;
    const out: Record<string, number> = {};
    for (const p of peers) {
      const addr = p.state?.neighbor_address ?? p.conf?.neighbor_address;
      if (addr) out[addr] = p.state?.session_state ?? 0;
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
