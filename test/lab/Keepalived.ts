// Debian's keepalived (VRRP only) inside a lab node.
//
// Runs in the foreground (`-n`) with its config and every pid file in the
// lab's temp dir, never the system ones, logging to the console (our log
// file) instead of syslog. Only the VRRP subsystem runs (`-P`): the checker
// needs IPVS, which this kernel lacks (lab-notes). The parent is a tracked
// LabProcess; it ends its VRRP child when stopped, and Lab.destroy() kills
// whatever is left in the namespace anyway.

import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import type { Lab, LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';

export interface KeepalivedVrrpInstance {
  /** Instance name (default VI_1). */
  name?: string;
  /** Initial state (default BACKUP). */
  state?: 'MASTER' | 'BACKUP';
  interface: string;
  virtualRouterId: number;
  priority: number;
  /** Advertisement interval in seconds; below 1 s needs VRRPv3 (default 1). */
  advertInt?: number;
  /** Addresses in CIDR form, put on `interface` while MASTER. */
  virtualIpAddresses: string[];
  nopreempt?: boolean;
  /** Raw lines added inside the instance block. */
  extra?: string;
}

export interface KeepalivedConfig {
  routerId: string;
  /** VRRP version (default 3). */
  vrrpVersion?: 2 | 3;
  instances: KeepalivedVrrpInstance[];
  /** Raw lines added inside global_defs. */
  globalExtra?: string;
}

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

/** Builds a keepalived.conf with a global_defs block and one vrrp_instance per instance. */
export function keepalivedConfig(c: KeepalivedConfig): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(c.routerId)) throw new Error(`keepalived router_id "${c.routerId}" must be letters, digits, _ . -`);
  const lines = ['global_defs {', `  router_id ${c.routerId}`, `  vrrp_version ${c.vrrpVersion ?? 3}`];
  if (c.globalExtra) lines.push(`  ${c.globalExtra}`);
  lines.push('}');
  const names = new Set<string>();
  for (const i of c.instances) {
    const name = i.name ?? 'VI_1';
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`VRRP instance name "${name}" must be letters, digits and _`);
    if (names.has(name)) throw new Error(`duplicate VRRP instance "${name}"`);
    names.add(name);
    if (!Number.isInteger(i.virtualRouterId) || i.virtualRouterId < 1 || i.virtualRouterId > 255) {
      throw new Error(`virtual_router_id ${i.virtualRouterId} must be 1-255`);
    }
    if (!Number.isInteger(i.priority) || i.priority < 1 || i.priority > 255) throw new Error(`priority ${i.priority} must be 1-255`);
    const advert = i.advertInt ?? 1;
    if (!(advert >= 0.01 && advert <= 255)) throw new Error(`advert_int ${advert} must be 0.01-255 s`);
    if (advert < 1 && (c.vrrpVersion ?? 3) !== 3) throw new Error('advert_int below 1 s needs vrrp_version 3');
    for (const a of i.virtualIpAddresses) {
      try {
        ipaddr.parseCIDR(a);
      } catch {
        throw new Error(`virtual address "${a}" is not in CIDR form`);
      }
    }
    lines.push('', `vrrp_instance ${name} {`);
    lines.push(`  state ${i.state ?? 'BACKUP'}`);
    lines.push(`  interface ${i.interface}`);
    lines.push(`  virtual_router_id ${i.virtualRouterId}`);
    lines.push(`  priority ${i.priority}`);
    lines.push(`  advert_int ${advert}`);
    if (i.nopreempt) lines.push('  nopreempt');
    lines.push('  virtual_ipaddress {');
    for (const a of i.virtualIpAddresses) lines.push(`    ${a} dev ${i.interface}`);
    lines.push('  }');
    if (i.extra) lines.push(`  ${i.extra}`);
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}

/** The last state each VRRP instance announced in keepalived's log (`(VI_1) Entering MASTER STATE`). */
export function parseVrrpStates(log: string): Record<string, VrrpState> {
  const out: Record<string, VrrpState> = {};
  for (const m of log.matchAll(/\((\w+)\) Entering (\w+) STATE/g)) out[m[1]!] = m[2]! as VrrpState;
  return out;
}

export interface KeepalivedStartOptions {
  /** Name of the config/pid/log files (default `keepalived-<node>`). */
  name?: string;
  /** Wait this long for every instance to announce a state (default 10 s). */
  timeoutMs?: number;
}

export class Keepalived {
  private constructor(
    readonly lab: Lab,
    readonly node: string,
    readonly configPath: string,
    readonly process: LabProcess,
  ) {}

  /** Checks the config (`keepalived -t`), starts it in the node and waits until every instance has a state. */
  static async start(lab: Lab, node: string, config: KeepalivedConfig | string, opts: KeepalivedStartOptions = {}): Promise<Keepalived> {
    const name = opts.name ?? `keepalived-${node}`;
    const dir = path.join(lab.dir, name);
    mkdirSync(dir, { recursive: true });
    const configPath = path.join(dir, 'keepalived.conf');
    writeFileSync(configPath, typeof config === 'string' ? config : keepalivedConfig(config));
    const check = await run('keepalived', ['-t', '-f', configPath]);
    if (check.code !== 0) throw new Error(`keepalived config for ${node} does not pass -t: ${(check.stderr || check.stdout).trim()}`);
    const pid = (f: string) => path.join(dir, f);
    const args = [
      '--dont-fork',
      '--vrrp',
      '--no_bfd',
      '--log-console',
      '--log-detail',
      '--no-syslog',
      `--use-file=${configPath}`,
      `--pid=${pid('keepalived.pid')}`,
      `--vrrp_pid=${pid('vrrp.pid')}`,
      `--checkers_pid=${pid('checkers.pid')}`,
      `--bfd_pid=${pid('bfd.pid')}`,
    ];
    const proc = lab.spawn(node, 'keepalived', args, { logName: name });
    const k = new Keepalived(lab, node, configPath, proc);
    const instances =
      typeof config === 'string'
        ? [...config.matchAll(/^\s*vrrp_instance\s+(\w+)/gm)].map((m) => m[1]!)
        : config.instances.map((i) => i.name ?? 'VI_1');
    await waitFor(
      () => {
        if (!proc.alive()) throw new StopWaiting(`keepalived in ${node} exited: ${proc.log().slice(-2000)}`);
        const states = k.states();
        return instances.every((i) => states[i] !== undefined);
      },
      { timeoutMs: opts.timeoutMs ?? 10_000, intervalMs: 50, what: `keepalived in ${node} to enter a VRRP state` },
    );
    return k;
  }

  /** Last announced state per instance, from the log. */
  states(): Record<string, VrrpState> {
    return parseVrrpStates(this.process.log());
  }

  state(instance = 'VI_1'): VrrpState | undefined {
    return this.states()[instance];
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

function run(file: string, args: string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ stdout, stderr: stderr || (err && code === -1 ? err.message : ''), code });
    });
  });
}
