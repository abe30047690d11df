// FRR 8.4 (Debian `frr`) as a router inside a lab node: zebra, bgpd and
// bfdd, as operators run it next to loxilb.
//
// Each instance is its own FRR "pathspace" (`-N <unique name>`): its config
// files, pid files, zebra socket, bfdd control socket and vty sockets all
// live in a directory under the lab dir (never /etc/frr or /var/run/frr), so
// instances of parallel tests cannot meet. The daemons run as root (the lab
// dir is root's) in the node's network namespace, are tracked LabProcesses
// and are stopped by PID in Lab.destroy(). vtysh talks to the vty sockets
// from the root namespace (they are filesystem paths).
//
// bgpd reaches bfdd through zebra (`neighbor X bfd` registers the session
// with zebra, which relays it to bfdd), so zebra always runs.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import type { Lab, LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';

export const FRR_DIR = '/usr/lib/frr';

export interface FrrBgpNeighbor {
  address: string;
  remoteAs: number;
  /** `neighbor X bfd profile lab`: the session follows a BFD session with the lab's timers. */
  bfd?: boolean;
  /** Extra `neighbor X ...` suffixes, e.g. `timers connect 1`, `passive`. */
  extra?: string[];
}

export interface FrrBfdOptions {
  /** Default 100 ms each, multiplier 3. */
  minRxMs?: number;
  minTxMs?: number;
  multiplier?: number;
}

export interface FrrConfig {
  routerId: string;
  asn: number;
  neighbors: FrrBgpNeighbor[];
  /** Timers of the BFD profile the neighbours use (`bfd: true`). */
  bfd?: FrrBfdOptions;
  /** `timers bgp <keepalive> <hold>`; default 3 9 (FRR's own default is 60 180). */
  keepalive?: number;
  holdTime?: number;
  /** Raw lines added inside `router bgp`. */
  extra?: string[];
}

/** One peer of `show bgp summary json` (the parts tests read). */
export interface FrrBgpPeerSummary {
  state: string;
  pfxRcd?: number;
  peerUptimeMsec?: number;
}

/** One entry of `show bfd peers json`. */
export interface FrrBfdPeer {
  peer: string;
  local?: string;
  status: string;
  diagnostic?: string;
  'remote-diagnostic'?: string;
  uptime?: number;
  downtime?: number;
}

function ip(addr: string, field: string): string {
  if (!ipaddr.isValid(addr)) throw new Error(`FRR ${field} "${addr}" is not an IP address`);
  return ipaddr.process(addr).toString();
}

function positive(n: number | undefined, dflt: number, field: string, max: number): number {
  const v = n ?? dflt;
  if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`FRR ${field} must be an integer 1..${max}, got ${v}`);
  return v;
}

/** bgpd.conf: one `router bgp`, IPv4 and IPv6 neighbours activated in their own family, everything received accepted. */
export function frrBgpConfig(c: FrrConfig): string {
  const asn = positive(c.asn, 0, 'asn', 4294967295);
  const keepalive = positive(c.keepalive, 3, 'keepalive', 65535);
  const hold = positive(c.holdTime, 9, 'holdTime', 65535);
  const lines = [`router bgp ${asn}`, ` bgp router-id ${ip(c.routerId, 'routerId')}`, ' no bgp ebgp-requires-policy', ' no bgp default ipv4-unicast', ` timers bgp ${keepalive} ${hold}`];
  for (const n of c.neighbors) {
    const a = ip(n.address, 'neighbor address');
    lines.push(` neighbor ${a} remote-as ${positive(n.remoteAs, 0, 'remoteAs', 4294967295)}`);
    if (n.bfd) lines.push(` neighbor ${a} bfd`, ` neighbor ${a} bfd profile lab`);
    for (const e of n.extra ?? []) {
      if (/[\n\r]/.test(e)) throw new Error('FRR neighbor extra lines must be one line each');
      lines.push(` neighbor ${a} ${e}`);
    }
  }
  lines.push(...(c.extra ?? []).map((e) => ` ${e}`));
  for (const family of ['ipv4', 'ipv6'] as const) {
    const ns = c.neighbors.filter((n) => ipaddr.parse(n.address).kind() === family);
    if (ns.length === 0) continue;
    lines.push(` address-family ${family} unicast`);
    for (const n of ns) lines.push(`  neighbor ${ip(n.address, 'neighbor address')} activate`);
    lines.push(' exit-address-family');
  }
  lines.push('exit', '');
  return lines.join('\n');
}

/** bfdd.conf: the `lab` profile the BGP neighbours use. */
export function frrBfdConfig(b: FrrBfdOptions = {}): string {
  return [
    'bfd',
    ' profile lab',
    `  detect-multiplier ${positive(b.multiplier, 3, 'bfd multiplier', 255)}`,
    `  receive-interval ${positive(b.minRxMs, 100, 'bfd minRxMs', 60000)}`,
    `  transmit-interval ${positive(b.minTxMs, 100, 'bfd minTxMs', 60000)}`,
    ' exit',
    'exit',
    '',
  ].join('\n');
}

const DAEMONS = ['zebra', 'bfdd', 'bgpd'] as const;
type Daemon = (typeof DAEMONS)[number];

export class Frr {
  private constructor(
    readonly lab: Lab,
    readonly node: string,
    /** The pathspace (`-N`): unique per lab and node. */
    readonly instance: string,
    readonly dir: string,
    readonly processes: Map<Daemon, LabProcess>,
  ) {}

  /** Writes the configs and starts zebra, bfdd, bgpd in `node`; resolves once every daemon answers vtysh. */
  static async start(lab: Lab, node: string, config: FrrConfig, opts: { timeoutMs?: number } = {}): Promise<Frr> {
    const instance = `${lab.prefix}${node}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const dir = path.join(lab.dir, `frr-${node}`);
    // vtysh -N <instance> --vty_socket <dir> looks for the sockets and its
    // vtysh.conf in <dir>/<instance>: the daemons are told that path.
    const vtyDir = path.join(dir, instance);
    mkdirSync(vtyDir, { recursive: true });
    writeFileSync(path.join(vtyDir, 'vtysh.conf'), '');
    const conf: Record<Daemon, string> = {
      zebra: `hostname ${node}\nlog stdout informational\n`,
      bfdd: `log stdout informational\n${frrBfdConfig(config.bfd)}`,
      bgpd: `log stdout informational\n${frrBgpConfig(config)}`,
    };
    const processes = new Map<Daemon, LabProcess>();
    const frr = new Frr(lab, node, instance, dir, processes);
    for (const d of DAEMONS) {
      const file = path.join(dir, `${d}.conf`);
      writeFileSync(file, conf[d]);
      const args = [
        '-N', instance,
        '-f', file,
        '-i', path.join(dir, `${d}.pid`),
        '-z', path.join(dir, 'zserv.api'),
        '--vty_socket', vtyDir,
        // Root, in FRR's vty group (FRR refuses a user outside it): the lab dir is root's.
        '-u', 'root', '-g', 'frrvty',
        // No TCP vty: vtysh uses the unix sockets.
        '-P', '0',
      ];
      if (d === 'bfdd') args.push('--bfdctl', path.join(dir, 'bfdd.sock'));
      const p = lab.spawn(node, path.join(FRR_DIR, d), args, { logName: `frr-${node}-${d}` });
      processes.set(d, p);
      // zebra first: bfdd and bgpd connect to its socket.
      await waitFor(
        async () => {
          if (!p.alive()) throw new StopWaiting(`FRR ${d} in ${node} exited on start: ${p.log().slice(-2000)}`);
          await frr.vtysh(['show version'], d);
          return true;
        },
        { timeoutMs: opts.timeoutMs ?? 15_000, intervalMs: 100, what: `FRR ${d} in ${node} to answer vtysh` },
      );
    }
    return frr;
  }

  /** Runs vtysh commands against this instance (optionally one daemon); throws on a non-zero exit. */
  vtysh(commands: string[], daemon?: Daemon): Promise<string> {
    const args = ['-N', this.instance, '--vty_socket', this.dir, '--config_dir', this.dir];
    if (daemon) args.push('-d', daemon);
    for (const c of commands) args.push('-c', c);
    return new Promise((resolve, reject) => {
      execFile('vtysh', args, { timeout: 10_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`vtysh ${commands.join('; ')} on ${this.node}: ${(stderr || stdout || err.message).trim()}`));
        else resolve(stdout);
      });
    });
  }

  async vtyshJson(command: string, daemon?: Daemon): Promise<any> {
    const out = await this.vtysh([command], daemon);
    try {
      return JSON.parse(out);
    } catch {
      throw new Error(`vtysh ${command} on ${this.node}: not JSON: ${out.slice(0, 500)}`);
    }
  }

  /** `show bgp summary json`, IPv4 and IPv6 peers by address. */
  async bgpSummary(): Promise<Record<string, FrrBgpPeerSummary>> {
    const j = (await this.vtyshJson('show bgp summary json', 'bgpd')) as Record<string, { peers?: Record<string, FrrBgpPeerSummary> }>;
    return Object.assign({}, j.ipv4Unicast?.peers ?? {}, j.ipv6Unicast?.peers ?? {});
  }

  /** `show bgp neighbor X json`: the neighbour's record (state, counters, last reset). */
  async neighbor(address: string): Promise<Record<string, any>> {
    const a = ip(address, 'neighbor address');
    const j = (await this.vtyshJson(`show bgp neighbor ${a} json`, 'bgpd')) as Record<string, Record<string, any>>;
    const n = j[a];
    if (!n) throw new Error(`FRR on ${this.node} does not know neighbor ${a}: ${JSON.stringify(j).slice(0, 300)}`);
    return n;
  }

  /** BGP state of one neighbour (`Established`, `Active`, `Idle`, ...). */
  async bgpState(address: string): Promise<string> {
    return String((await this.neighbor(address)).bgpState ?? '');
  }

  /** `show bfd peers json`. */
  async bfdPeers(): Promise<FrrBfdPeer[]> {
    return (await this.vtyshJson('show bfd peers json', 'bfdd')) as FrrBfdPeer[];
  }

  /** Status of the BFD session with `address` (`up`, `down`, `init`, `shutdown`), or undefined. */
  async bfdStatus(address: string): Promise<string | undefined> {
    const a = ip(address, 'peer address');
    return (await this.bfdPeers()).find((p) => ip(p.peer, 'peer') === a)?.status;
  }

  /** Prefixes bgpd holds for one family (`show bgp ipv4 unicast json`), with their paths. */
  async routes(family: 'ipv4' | 'ipv6' = 'ipv4'): Promise<Record<string, unknown[]>> {
    const j = (await this.vtyshJson(`show bgp ${family} unicast json`, 'bgpd')) as { routes?: Record<string, unknown[]> };
    return j.routes ?? {};
  }

  async waitEstablished(addresses: string[], timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => {
      for (const a of addresses) if ((await this.bgpState(a)) !== 'Established') return false;
      return true;
    }, { timeoutMs, intervalMs: 100, what: `FRR in ${this.node}: ${addresses.join(', ')} Established` });
  }

  /** Daemon logs, for a failing test's message. */
  logs(): string {
    return [...this.processes].map(([d, p]) => `--- ${d}\n${p.log().slice(-3000)}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const d of [...DAEMONS].reverse()) await this.processes.get(d)?.stop();
  }
}
