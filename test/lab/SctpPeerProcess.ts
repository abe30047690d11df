// Test side of test/lab/sctpPeer.ts: starts it in a lab node (a LabProcess,
// so Lab.destroy() stops it by PID) and calls its ops with types.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NsWorker } from '../../bench/lib/NsWorkerHandle.ts';
import type { SctpProbeResult } from '../../src/lb/SctpProber.ts';
import type { IpFamily, RawSocketStats } from '../../src/net/RawSocket.ts';
import type { Lab } from './Lab.ts';
import type { SctpBadChecksum, SctpClientState, SctpClientStats, SctpHostStats, SctpServerAssociation } from './SctpHost.ts';
import type { SctpLoadCounters, SctpLoadResult, SctpLoadTarget } from './SctpLoad.ts';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sctpPeer.ts');

export interface SctpPeerStartOptions {
  /** A server listens on `port` from the start; a client only acts when told. */
  mode: 'server' | 'client';
  port?: number;
  name?: string;
  /** A server's other addresses, listed in its INIT ACK. */
  addresses?: string[];
  /** Answer packets nobody claims with ABORT, like a kernel SCTP stack. */
  abortUnknown?: boolean;
  families?: IpFamily[];
  /** Kernel receive buffer of the raw sockets (SO_RCVBUF, capped by net.core.rmem_max); default RawSocket's. */
  receiveBufferBytes?: number;
}

export interface SctpPeerLoadOptions {
  targets: SctpLoadTarget[];
  associations: number;
  window: number;
  payloadBytes: number;
  src?: string;
  rtoMs?: number;
}

export interface SctpPeerConnectOptions {
  server: string;
  port: number;
  localPort?: number;
  src?: string;
  addresses?: string[];
  rtoMs?: number;
  maxRetransmits?: number;
}

export interface SctpPeerAssociation {
  assoc: number;
  localPort: number;
  localTag: number;
  peerTag: number;
  serverAddresses: string[];
}

export interface SctpPeerEcho {
  text: string;
  from: string;
  to: string;
  transmissions: number;
}

export interface SctpPeerStats {
  host: SctpHostStats;
  badChecksums: SctpBadChecksum[];
  clients: Array<{ assoc: number; state: SctpClientState; path: { dst: string; src?: string } } & SctpClientStats>;
  sockets: Array<{ family: IpFamily } & RawSocketStats>;
}

export class SctpPeerProcess {
  private constructor(
    readonly node: string,
    private readonly worker: NsWorker,
  ) {}

  get pid(): number {
    return this.worker.proc.pid;
  }

  static async start(lab: Lab, node: string, opts: SctpPeerStartOptions): Promise<SctpPeerProcess> {
    const args: string[] = [opts.mode];
    if (opts.port !== undefined) args.push('--port', String(opts.port));
    if (opts.name !== undefined) args.push('--name', opts.name);
    for (const a of opts.addresses ?? []) args.push('--address', a);
    for (const f of opts.families ?? []) args.push('--family', String(f));
    if (opts.abortUnknown) args.push('--abort-unknown');
    if (opts.receiveBufferBytes !== undefined) args.push('--rcvbuf', String(opts.receiveBufferBytes));
    return new SctpPeerProcess(node, await NsWorker.startScript(lab, node, SCRIPT, args, 30_000, 30_000));
  }

  listen(port: number, opts: { name?: string; addresses?: string[]; families?: IpFamily[] } = {}): Promise<{ port: number }> {
    return this.worker.call('listen', { port, ...opts });
  }

  connect(opts: SctpPeerConnectOptions): Promise<SctpPeerAssociation> {
    return this.worker.call('connect', { ...opts });
  }

  send(data: string, assoc?: number): Promise<SctpPeerEcho> {
    return this.worker.call('send', { data, assoc });
  }

  heartbeat(opts: { assoc?: number; dst?: string; src?: string } = {}): Promise<{ from: string; to: string }> {
    return this.worker.call('heartbeat', opts);
  }

  setPath(opts: { assoc?: number; dst?: string; src?: string }): Promise<{ dst: string; src?: string }> {
    return this.worker.call('setPath', opts);
  }

  shutdown(assoc?: number): Promise<void> {
    return this.worker.call('shutdown', { assoc });
  }

  abort(assoc?: number): Promise<void> {
    return this.worker.call('abort', { assoc });
  }

  associations(port?: number): Promise<SctpServerAssociation[]> {
    return this.worker.call('associations', { port });
  }

  /** The agent's SctpProber, run in this node. */
  probe(ip: string, port: number, timeoutMs = 1000): Promise<SctpProbeResult> {
    return this.worker.call('probe', { ip, port, timeoutMs }, timeoutMs + 10_000);
  }

  /** Sends bytes as they are as an SCTP packet (a crafted or broken one); false if the kernel refused. */
  async sendRaw(dst: string, payload: Buffer, src?: string): Promise<boolean> {
    return (await this.worker.call<{ sent: boolean }>('sendRaw', { dst, hex: payload.toString('hex'), src })).sent;
  }

  stats(): Promise<SctpPeerStats> {
    return this.worker.call('stats');
  }

  /** Sets up the associations of a load (test/lab/SctpLoad.ts) and starts it; it runs until loadStop. */
  loadStart(opts: SctpPeerLoadOptions): Promise<{ associations: number; setupMs: number }> {
    return this.worker.call('loadStart', { ...opts });
  }

  /** The running load's counters, taken in the peer (their `at` is its clock). */
  loadMark(): Promise<SctpLoadCounters> {
    return this.worker.call('loadMark');
  }

  /** Stops the load: drain (up to drainMs), SACK, shut every association down. */
  loadStop(drainMs = 3000): Promise<SctpLoadResult> {
    return this.worker.call('loadStop', { drainMs }, drainMs + 30_000);
  }

  /** Closes stdin (the peer exits), then stops the process by PID if it lingers. */
  close(): Promise<void> {
    return this.worker.close();
  }
}
