// Network-namespace lab for integration tests, the demo and benchmarks.
//
// A Lab owns a set of network namespaces that share one unique name prefix
// (`lxt<pid>x<random>-` by default), the processes it started inside them and
// a temporary directory for configs, sockets and logs. Switches are Linux
// bridges in their own namespace; nodes are namespaces joined to a switch by a
// veth pair. Everything is torn down by destroy(), which also runs on process
// exit and on SIGINT/SIGTERM/SIGHUP. Processes are only ever ended by PID.

import { spawn as spawnChild, execFileSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';

export const DEFAULT_BASE = 'lxt';
/** In a lab dir kept with LAB_KEEP=1 / keepDir: cleanupStale leaves that dir alone. */
export const KEPT_MARKER = 'KEPT';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const IFNAME_MAX = 15;

export interface LabOptions {
  /** Base of the namespace prefix (default `lxt`); the full prefix adds our PID and a random tag. */
  base?: string;
  /** Full namespace prefix, overriding base/PID/random. cleanupStale() cannot recognise these. */
  prefix?: string;
  /** Time between SIGTERM and SIGKILL when stopping processes (default 3000 ms). */
  graceMs?: number;
  /** Keep the lab's temp dir (configs, logs) after destroy. Also on with env LAB_KEEP=1. */
  keepDir?: boolean;
}

export interface LinkOptions {
  /** Switch (added with addSwitch) to plug into. */
  switch: string;
  /** Interface name inside the node (default eth0, eth1, ... in order of links). */
  ifname?: string;
  /** IPv4 address(es) in CIDR form, e.g. `192.168.80.10/24`. */
  ipv4?: string | string[];
  /** IPv6 address(es) in CIDR form, e.g. `fd00:80::10/64`. Added with nodad. */
  ipv6?: string | string[];
  mac?: string;
}

export interface NodeOptions extends Partial<LinkOptions> {
  /** Enable IPv4 and IPv6 forwarding in the node (routers). Default false. */
  forwarding?: boolean;
}

export interface LabLink {
  readonly node: string;
  readonly switch: string;
  /** Interface name inside the node namespace. */
  readonly ifname: string;
  /** Veth end inside the switch namespace (what cutLink sets down). */
  readonly switchPort: string;
  readonly ipv4: string[];
  readonly ipv6: string[];
}

export interface LabNode {
  readonly name: string;
  readonly ns: string;
  readonly links: LabLink[];
}

export interface LabSwitch {
  readonly name: string;
  readonly ns: string;
  /** Bridge device inside the switch namespace. */
  readonly bridge: string;
}

export interface ExecOptions {
  /** Throw an ExecError when the command exits non-zero or is killed. Default false. */
  check?: boolean;
  /** Kill the command (SIGKILL) after this long. Default 60 s. */
  timeoutMs?: number;
  /** Written to the command's stdin. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null if the command was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export class ExecError extends Error {
  constructor(
    readonly command: string[],
    readonly result: ExecResult,
  ) {
    const how = result.timedOut
      ? 'timed out'
      : result.code !== null
        ? `exited with code ${result.code}`
        : `was killed by ${result.signal}`;
    const err = result.stderr.trim() || result.stdout.trim();
    super(`${command.join(' ')} ${how}${err ? `: ${err.slice(0, 2000)}` : ''}`);
    this.name = 'ExecError';
  }
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * `log` (default): stdout and stderr go to a file in the lab dir (see LabProcess.logPath).
   * `pipe`: read child.stdout/child.stderr yourself. `inherit`, `ignore`: as in node.
   */
  output?: 'log' | 'pipe' | 'inherit' | 'ignore';
  /** Log file name stem (default `<node>.<command>`). */
  logName?: string;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A long-running process the lab started inside a node; the lab stops it in destroy(). */
export class LabProcess {
  readonly exited: Promise<ProcessExit>;
  private exitInfo: ProcessExit | undefined;

  constructor(
    readonly node: string,
    readonly command: string[],
    readonly child: ChildProcess,
    readonly logPath: string | undefined,
    private readonly graceMs: number,
  ) {
    if (child.pid === undefined) throw new Error(`failed to start ${command.join(' ')} in ${node}`);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Exit code and signal once the process has ended. */
  get exit(): ProcessExit | undefined {
    return this.exitInfo;
  }

  alive(): boolean {
    return this.exitInfo === undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The log file's contents so far ('' without a log file). */
  log(): string {
    if (!this.logPath || !existsSync(this.logPath)) return '';
    return readFileSync(this.logPath, 'utf8');
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is reaped. */
  async stop(graceMs = this.graceMs): Promise<ProcessExit> {
    if (!this.alive()) return this.exited;
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }

  /** Sends a signal by PID if the process is still ours and alive. */
  signal(sig: NodeJS.Signals): void {
    if (!this.alive()) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // Already gone.
    }
  }
}

// ---------------------------------------------------------------------------
// Process-wide cleanup: every live lab is destroyed on exit and on signals.

const liveLabs = new Set<Lab>();
const HANDLED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let handlersInstalled = false;

function onProcessExit(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

let signalCleanup: Promise<void> | undefined;

function onSignal(sig: NodeJS.Signals): void {
  const reraise = () => {
    uninstallHandlers();
    // Re-raise so the process ends with the usual status, unless someone else
    // (a demo's own handler) also listens and decides what to do.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  if (signalCleanup) {
    // Second signal while cleaning up: finish synchronously, now.
    for (const lab of [...liveLabs]) lab.destroySync();
    reraise();
    return;
  }
  // The async path waits for our children to exit, so they are reaped by us
  // and not left as zombies for init.
  const labs = [...liveLabs];
  const limit = Math.max(0, ...labs.map((l) => l.graceMs)) + 5000;
  let timer: NodeJS.Timeout | undefined;
  signalCleanup = Promise.race([
    Promise.allSettled(labs.map((l) => l.destroy())).then(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, limit);
    }),
  ]).then(() => {
    clearTimeout(timer);
    for (const lab of [...liveLabs]) lab.destroySync();
    signalCleanup = undefined;
    reraise();
  });
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onProcessExit);
  for (const sig of HANDLED_SIGNALS) process.on(sig, onSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('exit', onProcessExit);
  for (const sig of HANDLED_SIGNALS) process.off(sig, onSignal);
}

// ---------------------------------------------------------------------------

export class Lab {
  readonly prefix: string;
  /** Temp dir for configs, sockets and logs of this lab. */
  readonly dir: string;
  readonly graceMs: number;

  private readonly switches = new Map<string, LabSwitch>();
  private readonly nodes = new Map<string, LabNode>();
  private readonly createdNs = new Set<string>();
  private readonly processes = new Set<LabProcess>();
  private readonly execChildren = new Set<ChildProcess>();
  private readonly keepDir: boolean;
  private destroyed = false;
  private destroying: Promise<void> | undefined;
  private logSeq = 0;

  private constructor(prefix: string, opts: LabOptions) {
    this.prefix = prefix;
    this.graceMs = opts.graceMs ?? 3000;
    this.keepDir = opts.keepDir ?? process.env.LAB_KEEP === '1';
    this.dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  /** Creates an empty lab. Requires root (ip netns). */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const base = opts.base ?? DEFAULT_BASE;
    // Letters only: the owner PID follows the base, and cleanupStale() must
    // never read another base's digits as a PID.
    if (!/^[a-z]{1,8}$/.test(base)) throw new Error(`lab base "${base}" must be 1-8 lowercase letters`);
    const prefix = opts.prefix ?? `${base}${process.pid}x${randomBytes(2).toString('hex')}-`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(prefix)) throw new Error(`invalid namespace prefix "${prefix}"`);
    const lab = new Lab(prefix, opts);
    liveLabs.add(lab);
    installHandlers();
    return lab;
  }

  /**
   * Deletes namespaces left behind by labs of this base whose owning process
   * is gone (their names carry the owner's PID), after killing any process
   * still running inside them. Labs of live processes are left alone, so
   * concurrent test runs do not disturb each other. Their temp dirs go too.
   * Returns the deleted namespace names.
   */
  /**
   * A fresh lab (after clearing stale ones) handed to `build`; if build
   * throws, the lab is destroyed before the error goes on. For lab classes
   * that set up a topology on top of a Lab.
   */
  static async buildWith<T>(build: (lab: Lab) => Promise<T>): Promise<T> {
    await Lab.cleanupStale();
    const lab = await Lab.create();
    try {
      return await build(lab);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  static async cleanupStale(base: string = DEFAULT_BASE): Promise<string[]> {
    if (!/^[a-z]{1,8}$/.test(base)) throw new Error(`lab base "${base}" must be 1-8 lowercase letters`);
    const re = new RegExp(`^${base}(\\d+)x[0-9a-f]+-`);
    const isStale = (name: string): boolean => {
      const m = re.exec(name);
      if (!m) return false;
      const owner = Number(m[1]);
      if (owner !== process.pid) return !pidRunning(owner);
      return ![...liveLabs].some((l) => name.startsWith(l.prefix));
    };
    const deleted: string[] = [];
    for (const ns of await listNamespaces()) {
      if (!isStale(ns)) continue;
      await killNamespacePids(ns);
      await runCommand('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
      deleted.push(ns);
    }
    for (const entry of await readdir(os.tmpdir()).catch(() => [] as string[])) {
      if (isStale(entry) && !existsSync(path.join(os.tmpdir(), entry, KEPT_MARKER))) rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
    }
    return deleted;
  }

  /** Namespace name of a node or switch. */
  ns(name: string): string {
    const n = this.nodes.get(name) ?? this.switches.get(name);
    if (!n) throw new Error(`no node or switch "${name}" in lab ${this.prefix}`);
    return n.ns;
  }

  node(name: string): LabNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node "${name}" in lab ${this.prefix}`);
    return n;
  }

  switch(name: string): LabSwitch {
    const s = this.switches.get(name);
    if (!s) throw new Error(`no switch "${name}" in lab ${this.prefix}`);
    return s;
  }

  /** First IPv4 address (without length) of a node, across its links in order. */
  ipv4(node: string): string {
    const a = this.node(node).links.flatMap((l) => l.ipv4)[0];
    if (!a) throw new Error(`node "${node}" has no IPv4 address`);
    return ipaddr.parseCIDR(a)[0].toString();
  }

  /** First IPv6 address (without length) of a node. */
  ipv6(node: string): string {
    const a = this.node(node).links.flatMap((l) => l.ipv6)[0];
    if (!a) throw new Error(`node "${node}" has no IPv6 address`);
    return ipaddr.parseCIDR(a)[0].toString();
  }

  /** A switch: a Linux bridge `br0`, alone in its own namespace, with bridge netfilter off. */
  async addSwitch(name: string): Promise<LabSwitch> {
    this.checkNewName(name);
    const ns = await this.addNamespace(name);
    const sw: LabSwitch = { name, ns, bridge: 'br0' };
    this.switches.set(name, sw);
    // Bridged frames would otherwise cross iptables hooks (lab-notes). The
    // switch has no addresses of its own, so IPv6 is off there entirely.
    await this.sysctl(ns, [
      'net.bridge.bridge-nf-call-iptables=0',
      'net.bridge.bridge-nf-call-ip6tables=0',
      'net.bridge.bridge-nf-call-arptables=0',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    await this.ip(ns, ['link', 'add', 'name', sw.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await this.ip(ns, ['link', 'set', 'dev', sw.bridge, 'up']);
    return sw;
  }

  /** A node namespace, with lo up and optionally its first link to a switch. */
  async addNode(name: string, opts: NodeOptions = {}): Promise<LabNode> {
    this.checkNewName(name);
    const ns = await this.addNamespace(name);
    const node: LabNode = { name, ns, links: [] };
    this.nodes.set(name, node);
    const fwd = opts.forwarding ? '1' : '0';
    // DAD off so IPv6 addresses (and link-locals) are usable at once.
    await this.sysctl(ns, [
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
      `net.ipv4.ip_forward=${fwd}`,
      `net.ipv6.conf.all.forwarding=${fwd}`,
    ]);
    await this.ip(ns, ['link', 'set', 'dev', 'lo', 'up']);
    if (opts.switch !== undefined) {
      await this.addLink(name, { ...opts, switch: opts.switch });
    } else if (opts.ipv4 !== undefined || opts.ipv6 !== undefined) {
      throw new Error(`node "${name}": addresses need a switch`);
    }
    return node;
  }

  /** Plugs a node into a switch with a veth pair and assigns addresses. */
  async addLink(nodeName: string, opts: LinkOptions): Promise<LabLink> {
    const node = this.node(nodeName);
    const sw = this.switch(opts.switch);
    const ifname = opts.ifname ?? `eth${node.links.length}`;
    if (ifname.length > IFNAME_MAX) throw new Error(`interface name "${ifname}" is longer than ${IFNAME_MAX}`);
    if (node.links.some((l) => l.ifname === ifname)) throw new Error(`node "${nodeName}" already has ${ifname}`);
    const ipv4 = toList(opts.ipv4).map((c) => checkCidr(c, 'ipv4'));
    const ipv6 = toList(opts.ipv6).map((c) => checkCidr(c, 'ipv6'));
    const switchPort = this.portName(sw, nodeName, ifname);
    await this.ip(sw.ns, ['link', 'add', 'name', switchPort, 'type', 'veth', 'peer', 'name', ifname, 'netns', node.ns]);
    await this.ip(sw.ns, ['link', 'set', 'dev', switchPort, 'master', sw.bridge, 'up']);
    if (opts.mac) await this.ip(node.ns, ['link', 'set', 'dev', ifname, 'address', opts.mac]);
    await this.ip(node.ns, ['link', 'set', 'dev', ifname, 'up']);
    for (const a of ipv4) await this.ip(node.ns, ['addr', 'add', a, 'dev', ifname]);
    for (const a of ipv6) await this.ip(node.ns, ['addr', 'add', a, 'dev', ifname, 'nodad']);
    const link: LabLink = { node: nodeName, switch: sw.name, ifname, switchPort, ipv4, ipv6 };
    node.links.push(link);
    return link;
  }

  /** Runs a command inside a node (or switch) namespace and collects its output. */
  async exec(name: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.checkAlive();
    if (cmd.length === 0) throw new Error('exec: empty command');
    const ns = this.ns(name);
    const result = await runCommand('ip', ['netns', 'exec', ns, ...cmd], {
      ...opts,
      track: (c) => {
        this.execChildren.add(c);
        return () => this.execChildren.delete(c);
      },
    });
    if (opts.check && (result.code !== 0 || result.timedOut)) throw new ExecError([`[${name}]`, ...cmd], result);
    return result;
  }

  /** exec() that throws on failure and returns stdout. */
  async run(name: string, cmd: string[], opts: Omit<ExecOptions, 'check'> = {}): Promise<string> {
    return (await this.exec(name, cmd, { ...opts, check: true })).stdout;
  }

  /**
   * Starts a long-running process inside a node. `ip netns exec` execs the
   * command in place, so the PID we hold is the command's own. The lab stops
   * it (by PID) in destroy().
   */
  spawn(name: string, command: string, args: string[] = [], opts: SpawnOptions = {}): LabProcess {
    this.checkAlive();
    const ns = this.ns(name);
    const output = opts.output ?? 'log';
    let logPath: string | undefined;
    let logFd: number | undefined;
    let stdio: StdioOptions;
    if (output === 'log') {
      const stem = opts.logName ?? `${name}.${path.basename(command)}`;
      logPath = path.join(this.dir, `${stem}.${++this.logSeq}.log`);
      logFd = openSync(logPath, 'a');
      stdio = ['ignore', logFd, logFd];
    } else {
      stdio = output === 'pipe' ? ['pipe', 'pipe', 'pipe'] : output;
    }
    let child: ChildProcess;
    try {
      child = spawnChild('ip', ['netns', 'exec', ns, command, ...args], {
        stdio,
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      });
    } finally {
      if (logFd !== undefined) closeSync(logFd);
    }
    child.on('error', () => {
      // Reported through exited/alive(); keep an unhandled 'error' from crashing the run.
    });
    const proc = new LabProcess(name, [command, ...args], child, logPath, this.graceMs);
    this.processes.add(proc);
    void proc.exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /**
   * Whether `from` can reach `address` right now, without ping (not installed
   * everywhere): a TCP connect to a port nobody listens on (default 9) answers
   * with a RST when the path works, and times out or fails when it does not.
   */
  async reachable(from: string, address: string, opts: { port?: number; timeoutMs?: number } = {}): Promise<boolean> {
    const port = opts.port ?? 9;
    const timeoutMs = opts.timeoutMs ?? 1000;
    const script = `
      const s = require('node:net').connect({ host: ${JSON.stringify(address)}, port: ${port} });
      const done = (ok) => { s.destroy(); process.exit(ok ? 0 : 1); };
      s.setTimeout(${timeoutMs}, () => done(false));
      s.on('connect', () => done(true));
      s.on('error', (e) => done(e.code === 'ECONNREFUSED'));`;
    const r = await this.exec(from, [process.execPath, '-e', script], { timeoutMs: timeoutMs + 5000 });
    return r.code === 0;
  }

  /** Processes started with spawn() that have not exited yet. */
  runningProcesses(): LabProcess[] {
    return [...this.processes].filter((p) => p.alive());
  }

  /** Sets the switch side of a node's link down: the node sees carrier loss, peers see nothing. */
  async cutLink(node: string, ifname?: string): Promise<void> {
    const link = this.linkOf(node, ifname);
    await this.ip(this.switch(link.switch).ns, ['link', 'set', 'dev', link.switchPort, 'down']);
  }

  async restoreLink(node: string, ifname?: string): Promise<void> {
    const link = this.linkOf(node, ifname);
    await this.ip(this.switch(link.switch).ns, ['link', 'set', 'dev', link.switchPort, 'up']);
  }

  /** Namespaces that currently exist with this lab's prefix. */
  async namespaces(): Promise<string[]> {
    return (await listNamespaces()).filter((n) => n.startsWith(this.prefix));
  }

  /**
   * Stops every process (SIGTERM, SIGKILL after graceMs), kills whatever is
   * still running inside the lab's namespaces, deletes the namespaces and the
   * temp dir. Idempotent and safe to call concurrently.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    try {
      for (const c of this.execChildren) killPid(c.pid, 'SIGKILL');
      await Promise.all([...this.processes].map((p) => p.stop()));
      const names = new Set([...this.createdNs, ...(await this.namespaces())]);
      for (const ns of names) await killNamespacePids(ns);
      // Switches last is not required (deleting either end of a veth deletes
      // both), but nodes first keeps the order predictable.
      for (const ns of names) await runCommand('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
    } finally {
      this.finish();
    }
  }

  /** Synchronous teardown for process exit and signal handlers (no event loop available). */
  destroySync(): void {
    if (this.destroyed) return;
    try {
      for (const c of this.execChildren) killPid(c.pid, 'SIGKILL');
      const procs = [...this.processes].filter((p) => p.alive());
      for (const p of procs) killPid(p.pid, 'SIGTERM');
      // Exited children cannot be reaped while we block, so treat zombies as gone.
      const deadline = Date.now() + Math.min(this.graceMs, 2000);
      while (procs.some((p) => pidRunning(p.pid)) && Date.now() < deadline) sleepSync(20);
      for (const p of procs) if (pidRunning(p.pid)) killPid(p.pid, 'SIGKILL');
      let names: string[] = [...this.createdNs];
      try {
        names = [...new Set([...names, ...listNamespacesSync().filter((n) => n.startsWith(this.prefix))])];
      } catch {
        // Fall back to the namespaces we created.
      }
      for (const ns of names) {
        try {
          const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
          for (const pid of parsePids(pids)) killPid(pid, 'SIGKILL');
        } catch {
          // Namespace already gone.
        }
        try {
          execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
        } catch {
          // Already gone.
        }
      }
    } finally {
      this.finish();
    }
  }

  private finish(): void {
    this.destroyed = true;
    liveLabs.delete(this);
    if (liveLabs.size === 0) uninstallHandlers();
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
    // Kept on purpose (LAB_KEEP=1): the next lab's cleanupStale must leave it, or the logs
    // someone kept to explain a failure are gone by the time they look.
    else {
      try {
        writeFileSync(path.join(this.dir, KEPT_MARKER), `kept by pid ${process.pid}\n`);
      } catch {
        // The dir is gone already: nothing to keep.
      }
    }
  }

  // -------------------------------------------------------------------------

  private checkAlive(): void {
    if (this.destroyed || this.destroying) throw new Error(`lab ${this.prefix} is destroyed`);
  }

  private checkNewName(name: string): void {
    this.checkAlive();
    if (!NAME_RE.test(name)) throw new Error(`invalid lab name "${name}": letters, digits, _ and -, at most 32`);
    if (this.nodes.has(name) || this.switches.has(name)) throw new Error(`"${name}" already exists in the lab`);
  }

  private async addNamespace(name: string): Promise<string> {
    const ns = `${this.prefix}${name}`;
    this.createdNs.add(ns);
    await this.rootCmd(['ip', 'netns', 'add', ns]);
    return ns;
  }

  private linkOf(node: string, ifname?: string): LabLink {
    const links = this.node(node).links;
    const link = ifname === undefined ? links[0] : links.find((l) => l.ifname === ifname);
    if (!link) throw new Error(`node "${node}" has no link${ifname ? ` ${ifname}` : ''}`);
    return link;
  }

  /** Switch-side veth name: readable when it fits IFNAMSIZ, else numbered. */
  private portName(sw: LabSwitch, node: string, ifname: string): string {
    const used = new Set([...this.nodes.values()].flatMap((n) => n.links).filter((l) => l.switch === sw.name).map((l) => l.switchPort));
    const readable = ifname === 'eth0' ? node : `${node}-${ifname}`;
    const reserved = readable === sw.bridge || readable === 'lo' || used.has(readable);
    if (readable.length <= IFNAME_MAX && !reserved) return readable;
    for (let i = 0; ; i++) if (!used.has(`port${i}`)) return `port${i}`;
  }

  private async ip(ns: string, args: string[]): Promise<void> {
    await this.rootCmd(['ip', '-n', ns, ...args]);
  }

  private async sysctl(ns: string, settings: string[]): Promise<void> {
    // -e: a missing key (e.g. no bridge netfilter in this kernel) is not an error.
    await this.rootCmd(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-e', '-w', ...settings]);
  }

  private async rootCmd(cmd: string[]): Promise<string> {
    const [file, ...args] = cmd as [string, ...string[]];
    const result = await runCommand(file, args, { timeoutMs: 30_000 });
    if (result.code !== 0) throw new ExecError(cmd, result);
    return result.stdout;
  }
}

// ---------------------------------------------------------------------------
// Helpers

interface RunOptions extends Omit<ExecOptions, 'check'> {
  track?: (child: ChildProcess) => () => void;
}

function runCommand(file: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const untrack = opts.track?.(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killPid(child.pid, 'SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.once('error', (e) => {
      clearTimeout(timer);
      untrack?.();
      reject(new Error(`cannot run ${file}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrack?.();
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        signal,
        timedOut,
      });
    });
  });
}

async function listNamespaces(): Promise<string[]> {
  try {
    return (await readdir('/run/netns')).sort();
  } catch {
    return [];
  }
}

function listNamespacesSync(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** Kills (SIGKILL, by PID) every process still inside a namespace we own. */
async function killNamespacePids(ns: string): Promise<void> {
  const r = await runCommand('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
  if (r.code !== 0) return;
  for (const pid of parsePids(r.stdout)) killPid(pid, 'SIGKILL');
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

function killPid(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Alive and not a zombie (a zombie has exited; only reaping is missing). */
export function pidRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function toList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function checkCidr(cidr: string, kind: 'ipv4' | 'ipv6'): string {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch {
    throw new Error(`${kind} "${cidr}" is not an address in CIDR form (like ${kind === 'ipv4' ? '192.168.80.10/24' : 'fd00:80::10/64'})`);
  }
  if (parsed[0].kind() !== kind) throw new Error(`${kind} "${cidr}" is an ${parsed[0].kind()} address`);
  return cidr;
}
