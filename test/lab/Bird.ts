// BIRD 2 as a router (BGP neighbour, BFD peer) inside a lab node.
//
// Owns one `bird -f` process per node: its config and control socket live in
// the lab's temp dir, the process is a tracked LabProcess (stopped by PID in
// Lab.destroy()). birdc talks to the socket from the root namespace; the
// socket is a filesystem path, so no `ip netns exec` is needed for it.

import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import type { Lab, LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';

export interface BirdBgpNeighbor {
  /** Protocol name (a BIRD symbol); default derived from the neighbour address, e.g. `n_192_168_80_10`. */
  name?: string;
  localAddress: string;
  localAs: number;
  neighborAddress: string;
  neighborAs: number;
  /** Channel import clause: `all` (default), `none`, or `filter { ... }` / a filter name. */
  import?: string;
  /** Channel export clause: `none` (default), `all`, or a filter. */
  export?: string;
  /** Tie the session to BFD (`bfd on;`); also set BirdConfig.bfd to run the BFD protocol. */
  bfd?: boolean;
  /** Only accept incoming connections. */
  passive?: boolean;
  /** Default 9 s (BIRD shortens it by up to 25 % at random). */
  holdTime?: number;
  /** Default 3 s. */
  keepaliveTime?: number;
  /** eBGP multihop TTL. */
  multihop?: number;
  /** Raw lines added inside the protocol block. */
  extra?: string;
}

/** BIRD 2's `authentication` values in a BFD interface block. */
export type BirdBfdAuthentication =
  | 'none'
  | 'simple'
  | 'keyed md5'
  | 'keyed sha1'
  | 'meticulous keyed md5'
  | 'meticulous keyed sha1';

/** One `interface "<pattern>" { ... }` block of `protocol bfd`. */
export interface BirdBfdInterfaceOptions {
  minRxMs?: number;
  minTxMs?: number;
  multiplier?: number;
  /** Interface pattern, default `*`. */
  interface?: string;
  /** Rate while the session is not Up (BIRD's default 1 s). */
  idleTxMs?: number;
  /** Wait for the peer to speak first. */
  passive?: boolean;
  authentication?: BirdBfdAuthentication;
  /** `password "<text>" { id N; };` lines; BIRD uses them with `authentication`. */
  passwords?: { password: string; id?: number }[];
}

/** A session BIRD runs without a client protocol: `neighbor <address> [local <ip>] [multihop on];`. */
export interface BirdBfdNeighbor {
  address: string;
  local?: string;
  multihop?: boolean;
}

export interface BirdBfdOptions extends BirdBfdInterfaceOptions {
  /** More interface blocks after the one the fields above describe (BIRD uses the first that matches). */
  interfaces?: BirdBfdInterfaceOptions[];
  neighbors?: BirdBfdNeighbor[];
  /** The protocol's `debug` clause, e.g. `{ events }` (session state changes go to the log). */
  debug?: string;
}

/** A row of `birdc show bfd sessions`. */
export interface BirdBfdSession {
  /** The protocol (e.g. `bfd1`) the row was listed under. */
  protocol: string;
  address: string;
  iface: string;
  /** Up, Down, Init, AdminDown. */
  state: string;
  since: string;
  /** Negotiated intervals in seconds, as printed. */
  interval: number;
  timeout: number;
}

export interface BirdConfig {
  routerId: string;
  neighbors?: BirdBgpNeighbor[];
  /** Run `protocol direct` (connected routes into the tables). Default off. */
  direct?: boolean;
  /** Export the best routes into the node's kernel tables. Default off. */
  kernel?: boolean | { ecmp?: boolean };
  /** Run `protocol bfd` (100 ms × 3 unless given). Default off. */
  bfd?: boolean | BirdBfdOptions;
  /** Blackhole routes originated by a `protocol static` (export them with a neighbour's `export`). */
  staticRoutes?: string[];
  /** Raw config appended at the end. */
  extra?: string;
}

export interface BirdProtocolState {
  name: string;
  proto: string;
  table: string;
  /** BIRD protocol state: up, start, down, ... */
  state: string;
  since: string;
  /** Rest of the line, e.g. `Established` or `Active        Socket: Connection refused`. */
  info: string;
  /** For BGP: first word of info (Idle, Connect, Active, OpenSent, OpenConfirm, Established, Passive). */
  bgpState?: string;
}

export interface BirdRoute {
  prefix: string;
  /** Next hop of a unicast route, or the route type (blackhole, unreachable, ...) without one. */
  via?: string;
  iface?: string;
  /** Name of the protocol the route came from (e.g. the BGP session). */
  fromProtocol: string;
  /** Peer address for BGP routes (`from X`). */
  from?: string;
  /** The route BIRD selected (marked `*`). */
  primary: boolean;
  /** Alias of primary. */
  best: boolean;
  preference?: number;
  med?: number;
  localPref?: number;
  asPath?: string;
  origin?: string;
  nextHop?: string;
  communities?: string;
  /** Every `Name: value` attribute line as printed. */
  attributes: Record<string, string>;
}

const TEST_TIMERS = { holdTime: 9, keepaliveTime: 3 };

/** Protocol name BIRD would accept for a neighbour address. */
export function neighborProtocolName(address: string): string {
  return `n_${address.replace(/[^0-9A-Za-z]/g, '_')}`;
}

/** Builds a BIRD 2 config: device, optional direct/kernel/static/bfd, one `protocol bgp` per neighbour. */
export function birdConfig(c: BirdConfig): string {
  const lines: string[] = [];
  lines.push('log stderr all;');
  lines.push(`router id ${parseIp(c.routerId, 'routerId', 'ipv4')};`);
  // One-token timestamps keep `show protocols` columns parseable.
  lines.push('timeformat protocol "%F_%T";');
  lines.push('timeformat route "%F_%T";');
  lines.push('');
  lines.push('protocol device { scan time 10; }');
  if (c.direct) lines.push('protocol direct { ipv4; ipv6; }');
  if (c.kernel) {
    const ecmp = typeof c.kernel === 'object' && c.kernel.ecmp ? ' merge paths on;' : '';
    lines.push(`protocol kernel kernel4 { ipv4 { import none; export all; };${ecmp} }`);
    lines.push(`protocol kernel kernel6 { ipv6 { import none; export all; };${ecmp} }`);
  }
  const statics = c.staticRoutes ?? [];
  const v4 = statics.filter((p) => cidrKind(p) === 'ipv4');
  const v6 = statics.filter((p) => cidrKind(p) === 'ipv6');
  if (v4.length) lines.push(`protocol static static4 { ipv4; ${v4.map((p) => `route ${p} blackhole;`).join(' ')} }`);
  if (v6.length) lines.push(`protocol static static6 { ipv6; ${v6.map((p) => `route ${p} blackhole;`).join(' ')} }`);
  if (c.bfd) {
    const b = typeof c.bfd === 'object' ? c.bfd : {};
    const blocks = [b, ...(b.interfaces ?? [])].map(bfdInterfaceBlock);
    const neighbors = (b.neighbors ?? []).map(bfdNeighborLine);
    const debug = b.debug === undefined ? [] : [`debug ${b.debug};`];
    lines.push(`protocol bfd { ${[...debug, ...blocks, ...neighbors].join(' ')} }`);
  }
  const names = new Set<string>();
  for (const n of c.neighbors ?? []) {
    const kind = parseIpKind(n.neighborAddress, 'neighborAddress');
    parseIp(n.localAddress, 'localAddress', kind);
    const name = n.name ?? neighborProtocolName(n.neighborAddress);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`BIRD protocol name "${name}" is not a valid symbol`);
    if (names.has(name)) throw new Error(`duplicate BIRD protocol name "${name}"`);
    names.add(name);
    lines.push('');
    lines.push(`protocol bgp ${name} {`);
    lines.push(`  local ${n.localAddress} as ${n.localAs};`);
    lines.push(`  neighbor ${n.neighborAddress} as ${n.neighborAs};`);
    lines.push(
      `  hold time ${n.holdTime ?? TEST_TIMERS.holdTime}; keepalive time ${n.keepaliveTime ?? TEST_TIMERS.keepaliveTime};`,
    );
    // Test timers: first attempt at once, retry every second, and never the
    // default 60 s pause after a session error.
    lines.push('  connect delay time 1; connect retry time 1; error wait time 1,2;');
    if (n.passive) lines.push('  passive on;');
    if (n.multihop !== undefined) lines.push(`  multihop ${n.multihop};`);
    if (n.bfd) lines.push('  bfd on;');
    lines.push(`  ${kind} { import ${n.import ?? 'all'}; export ${n.export ?? 'none'}; };`);
    if (n.extra) lines.push(`  ${n.extra}`);
    lines.push('}');
  }
  if (c.extra) lines.push('', c.extra);
  return `${lines.join('\n')}\n`;
}

function bfdInterfaceBlock(b: BirdBfdInterfaceOptions): string {
  const opts = [
    `min rx interval ${b.minRxMs ?? 100} ms;`,
    `min tx interval ${b.minTxMs ?? 100} ms;`,
    `multiplier ${b.multiplier ?? 3};`,
  ];
  if (b.idleTxMs !== undefined) opts.push(`idle tx interval ${b.idleTxMs} ms;`);
  if (b.passive !== undefined) opts.push(`passive ${b.passive ? 'on' : 'off'};`);
  if (b.authentication !== undefined) opts.push(`authentication ${b.authentication};`);
  for (const p of b.passwords ?? []) {
    if (/["\\\n]/.test(p.password)) throw new Error('BIRD BFD password must not contain quotes, backslashes or newlines');
    opts.push(p.id === undefined ? `password "${p.password}";` : `password "${p.password}" { id ${p.id}; };`);
  }
  return `interface "${b.interface ?? '*'}" { ${opts.join(' ')} };`;
}

function bfdNeighborLine(n: BirdBfdNeighbor): string {
  const kind = parseIpKind(n.address, 'bfd neighbor address');
  let line = `neighbor ${n.address}`;
  if (n.local !== undefined) line += ` local ${parseIp(n.local, 'bfd neighbor local', kind)}`;
  if (n.multihop !== undefined) line += ` multihop ${n.multihop ? 'on' : 'off'}`;
  return `${line};`;
}

export interface BirdStartOptions {
  /** Wait this long for the control socket to answer (default 10 s). */
  timeoutMs?: number;
  /** Name used for the config/socket/log files (default `bird-<node>`). */
  name?: string;
}

export class Bird {
  private constructor(
    readonly lab: Lab,
    readonly node: string,
    readonly dir: string,
    readonly configPath: string,
    readonly socketPath: string,
    readonly process: LabProcess,
  ) {}

  /**
   * Writes the config, checks it with `bird -p`, starts `bird -f` inside the
   * node and waits until `birdc show status` answers.
   */
  static async start(lab: Lab, node: string, config: BirdConfig | string, opts: BirdStartOptions = {}): Promise<Bird> {
    const name = opts.name ?? `bird-${node}`;
    const dir = path.join(lab.dir, name);
    mkdirSync(dir, { recursive: true });
    const configPath = path.join(dir, 'bird.conf');
    const socketPath = path.join(dir, 'bird.ctl');
    writeFileSync(configPath, typeof config === 'string' ? config : birdConfig(config));
    const check = await run('bird', ['-p', '-c', configPath]);
    if (check.code !== 0) throw new Error(`BIRD config for ${node} does not parse: ${check.stderr.trim()}`);
    const proc = lab.spawn(node, 'bird', ['-f', '-c', configPath, '-s', socketPath, '-P', path.join(dir, 'bird.pid')], {
      logName: name,
    });
    const bird = new Bird(lab, node, dir, configPath, socketPath, proc);
    await waitFor(
      async () => {
        if (!proc.alive()) throw new StopWaiting(`bird in ${node} exited on start: ${proc.log().slice(-2000)}`);
        const r = await run('birdc', ['-s', socketPath, 'show status'], 5000);
        return r.code === 0 && /Daemon is up and running/.test(r.stdout);
      },
      { timeoutMs: opts.timeoutMs ?? 10_000, intervalMs: 50, what: `BIRD in ${node} to answer on ${socketPath}` },
    );
    return bird;
  }

  /**
   * Runs one birdc command; returns its output without the `BIRD x.y ready.`
   * banner. birdc exits 1 when BIRD answers with an error (syntax error,
   * "Network not found", ...), which throws here.
   */
  async birdc(cmd: string): Promise<string> {
    const r = await run('birdc', ['-s', this.socketPath, cmd], 10_000);
    const out = stripBanner(r.stdout);
    if (r.code !== 0) throw new Error(`birdc ${cmd} in ${this.node} failed (${r.code}): ${(r.stderr || out).trim()}`);
    return out;
  }

  /** `viaControlSocket`: ask over the kept-open control connection (query) instead of running birdc. */
  async protocols(viaControlSocket = false): Promise<BirdProtocolState[]> {
    return parseProtocols(viaControlSocket ? await this.query('show protocols') : await this.birdc('show protocols'));
  }

  /** BGP protocols by name. */
  async bgpProtocolStates(viaControlSocket = false): Promise<Record<string, BirdProtocolState>> {
    const out: Record<string, BirdProtocolState> = {};
    for (const p of await this.protocols(viaControlSocket)) if (p.proto === 'BGP') out[p.name] = p;
    return out;
  }

  /** Every path BIRD holds for the best-matching network of `prefix` (IPv6 prefixes look in master6). */
  async routesFor(prefix: string, opts: { table?: string } = {}): Promise<BirdRoute[]> {
    const kind = prefix.includes('/') ? cidrKind(prefix) : parseIpKind(prefix, 'prefix');
    const table = opts.table ?? (kind === 'ipv6' ? 'master6' : 'master4');
    const r = await run('birdc', ['-s', this.socketPath, `show route for ${prefix} table ${table} all`], 10_000);
    const out = stripBanner(r.stdout);
    // birdc exits 1 on an error reply; "no such route" is an answer here.
    if (r.code !== 0 && /Network not found/.test(out)) return [];
    if (r.code !== 0) throw new Error(`birdc show route for ${prefix} in ${this.node} failed (${r.code}): ${(r.stderr || out).trim()}`);
    return parseRoutes(out);
  }

  /** Waits until the named BGP protocols (default: all) are Established. */
  async waitEstablished(names?: string[], timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        const states = await this.bgpProtocolStates();
        const want = names ?? Object.keys(states);
        return want.length > 0 && want.every((n) => states[n]?.bgpState === 'Established');
      },
      { timeoutMs, intervalMs: 200, what: `BGP sessions ${names?.join(', ') ?? '(all)'} in ${this.node} to be Established` },
    ).catch(async (e: unknown) => {
      const states = await this.bgpProtocolStates().catch(() => ({}));
      throw new Error(`${(e as Error).message}; states: ${JSON.stringify(states)}`);
    });
  }

  /** Rows of `birdc show bfd sessions`, across every BFD protocol. */
  async bfdSessions(): Promise<BirdBfdSession[]> {
    return parseBfdSessions(await this.birdc('show bfd sessions'));
  }

  /** Replaces the config and applies it with `birdc configure`. */
  async reconfigure(config: BirdConfig | string): Promise<void> {
    writeFileSync(this.configPath, typeof config === 'string' ? config : birdConfig(config));
    const out = await this.birdc('configure');
    if (!/Reconfigur(ed|ation in progress)/i.test(out)) throw new Error(`birdc configure in ${this.node}: ${out.trim()}`);
  }

  /**
   * Runs one command over a control-socket connection kept open between
   * calls, with the output birdc would print (reply codes stripped). For
   * polling loops: a birdc process per poll costs a fork and exec, CPU the
   * daemons under test on this 2-core VM then do not get. Commands are sent
   * one at a time; an error reply (8xxx, 9xxx) throws like birdc's exit 1.
   */
  query(cmd: string, timeoutMs = 10_000): Promise<string> {
    const run = async (): Promise<string> => {
      this.ctl ??= await BirdControl.connect(this.socketPath);
      try {
        return await this.ctl.command(cmd, timeoutMs);
      } catch (err) {
        this.ctl?.close();
        this.ctl = undefined;
        throw new Error(`BIRD control socket of ${this.node}: ${cmd}: ${(err as Error).message}`);
      }
    };
    const next = this.ctlQueue.then(run, run);
    this.ctlQueue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private ctl?: BirdControl;
  private ctlQueue: Promise<unknown> = Promise.resolve();

  async stop(): Promise<void> {
    this.ctl?.close();
    this.ctl = undefined;
    await this.process.stop();
  }
}

// ---------------------------------------------------------------------------
// Output parsers (pure, exported for unit tests)

export function stripBanner(out: string): string {
  return out.replace(/^BIRD [^\n]* ready\.\n/, '');
}

/** Parses `birdc show protocols`. */
export function parseProtocols(out: string): BirdProtocolState[] {
  const result: BirdProtocolState[] = [];
  for (const line of stripBanner(out).split('\n')) {
    if (line.trim() === '' || /^Name\s+Proto\s+Table/.test(line)) continue;
    // Since is one token with our timeformat, or `date time` with BIRD's iso long.
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const p: BirdProtocolState = {
      name: m[1]!,
      proto: m[2]!,
      table: m[3]!,
      state: m[4]!,
      since: m[5]!,
      info: (m[6] ?? '').trim(),
    };
    if (p.proto === 'BGP') p.bgpState = p.info.split(/\s+/)[0] || 'Idle';
    result.push(p);
  }
  return result;
}

/**
 * Parses `birdc show bfd sessions`: a `<protocol>:` line, a header, then
 * `<address> <iface> <state> <since> <interval> <timeout>` rows. `since` is one
 * token with our timeformat, or a date and a time with BIRD's default.
 */
export function parseBfdSessions(out: string): BirdBfdSession[] {
  const rows: BirdBfdSession[] = [];
  let protocol = '';
  for (const line of stripBanner(out).split('\n')) {
    const proto = /^(\S+):\s*$/.exec(line);
    if (proto) {
      protocol = proto[1]!;
      continue;
    }
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s+([\d.]+)\s+([\d.]+)\s*$/.exec(line);
    if (!m || !ipaddr.isValid(m[1]!)) continue;
    rows.push({
      protocol,
      address: m[1]!,
      iface: m[2]!,
      state: m[3]!,
      since: m[4]!,
      interval: Number(m[5]),
      timeout: Number(m[6]),
    });
  }
  return rows;
}

/**
 * Parses `birdc show route ... all`. A route header looks like
 * `123.123.123.1/32     unicast [n_192_168_80_10 2024-01-01_10:00:00 from 192.168.80.10] * (100) [AS64512i]`
 * (continuation paths omit the prefix), followed by `\tvia X on IF` and
 * `\tName: value` attribute lines.
 */
export function parseRoutes(out: string): BirdRoute[] {
  const routes: BirdRoute[] = [];
  let prefix = '';
  let cur: BirdRoute | undefined;
  const header = /^(\S+)?\s+(\w+)\s+\[(\S+)(?:\s+[^\]]*?)?(?:\s+from\s+(\S+))?\]\s*(\*)?\s*(?:\((\d+)(?:\/[^)]*)?\))?/;
  for (const raw of stripBanner(out).split('\n')) {
    if (raw.trim() === '' || /^Table \S+:$/.test(raw.trim())) continue;
    const line = raw.replace(/\s+$/, '');
    const attr = /^\s+([A-Za-z][\w.]*):\s?(.*)$/.exec(line);
    const via = /^\s+via\s+(\S+)(?:\s+on\s+(\S+))?/.exec(line);
    if (via && cur) {
      cur.via = via[1]!;
      if (via[2]) cur.iface = via[2];
      continue;
    }
    if (attr && cur && !line.includes('[')) {
      const key = attr[1]!;
      const value = attr[2]!.trim();
      cur.attributes[key] = value;
      if (key === 'BGP.med') cur.med = Number(value);
      else if (key === 'BGP.local_pref') cur.localPref = Number(value);
      else if (key === 'BGP.as_path') cur.asPath = value;
      else if (key === 'BGP.origin') cur.origin = value;
      else if (key === 'BGP.next_hop') cur.nextHop = value;
      else if (key === 'BGP.community') cur.communities = value;
      continue;
    }
    const h = header.exec(line);
    if (h) {
      if (h[1]) prefix = h[1];
      const type = h[2]!;
      cur = {
        prefix,
        fromProtocol: h[3]!,
        primary: h[5] === '*',
        best: h[5] === '*',
        attributes: {},
      };
      if (type !== 'unicast') cur.via = type;
      if (h[4]) cur.from = h[4];
      if (h[6]) cur.preference = Number(h[6]);
      routes.push(cur);
    }
  }
  return routes;
}

// ---------------------------------------------------------------------------

interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

function run(file: string, args: string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ stdout, stderr: stderr || (err && code === -1 ? err.message : ''), code });
    });
  });
}

function parseIpKind(addr: string, field: string): 'ipv4' | 'ipv6' {
  if (!ipaddr.isValid(addr)) throw new Error(`${field} "${addr}" is not an IP address`);
  return ipaddr.parse(addr).kind();
}

function parseIp(addr: string, field: string, kind: 'ipv4' | 'ipv6'): string {
  if (parseIpKind(addr, field) !== kind) throw new Error(`${field} "${addr}" must be an ${kind} address`);
  return addr;
}

function cidrKind(cidr: string): 'ipv4' | 'ipv6' {
  try {
    return ipaddr.parseCIDR(cidr)[0].kind();
  } catch {
    throw new Error(`"${cidr}" is not a prefix in CIDR form`);
  }
}

/**
 * BIRD's control protocol (what birdc speaks): each reply line starts with a
 * four-digit code and '-' (more follows) or ' ' (the reply's last line);
 * lines starting with a space continue the previous one. 8xxx and 9xxx
 * codes are errors. The server greets with 0001 on connect.
 */
class BirdControl {
  private buf = '';
  private waiter?: { lines: string[]; resolve: (out: string) => void; reject: (err: Error) => void };
  private failed?: Error;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static async connect(socketPath: string): Promise<BirdControl> {
    const socket = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const ctl = new BirdControl(socket);
    await ctl.reply(5000); // the 0001 greeting
    return ctl;
  }

  command(cmd: string, timeoutMs: number): Promise<string> {
    if (/[\r\n]/.test(cmd)) return Promise.reject(new Error('a command is one line'));
    const p = this.reply(timeoutMs);
    this.socket.write(`${cmd}\n`);
    return p;
  }

  close(): void {
    this.socket.destroy();
  }

  private reply(timeoutMs: number): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = {
        lines: [],
        resolve: (out) => {
          clearTimeout(timer);
          resolve(out);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.onData('');
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    const w = this.waiter;
    if (!w) return;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const m = /^(\d{4})([ -])(.*)$/.exec(line);
      if (!m) {
        w.lines.push(line.startsWith(' ') ? line.slice(1) : line);
        continue;
      }
      const code = Number(m[1]);
      if (code !== 0) w.lines.push(m[3]!);
      if (m[2] === ' ') {
        this.waiter = undefined;
        const out = w.lines.length > 0 ? `${w.lines.join('\n')}\n` : '';
        if (code >= 8000) w.reject(new Error(`BIRD answered ${m[1]}: ${m[3]}`));
        else w.resolve(out);
        return;
      }
    }
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.socket.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}
