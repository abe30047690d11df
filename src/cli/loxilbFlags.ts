// Flag parsing for the loxilb agent, compatible with loxilb's go-flags set
// (reference §1). Every loxilb flag is accepted: the ones loxilb-ts does not
// act on are listed in INERT and reported, one warning line each, never
// silently accepted.
//
// Over 400 lines: loxilb's whole go-flags set: the flag table, the usage text
// (~85 lines) and the inert-flag list, which must stay in step.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import ipaddr from 'ipaddr.js';
import { LOG_LEVELS, pinoLevel } from '../util/logger.ts';
import { parseKaSpec, type KaSpec } from '../ha/KaSpec.ts';
import { HA_DEFAULT_INIT_WAIT_MS, HA_DEFAULT_PRIORITY } from '../ha/HaManager.ts';
import { DRAIN_DEFAULT_TIMEOUT_MS } from '../ha/Drain.ts';
import { DEFAULT_BPF_PIN_DIR } from '../datapath/Datapath.ts';
import { LOXILB_HOOK_PATH, isExecutable } from '../ha/RoleHook.ts';
import { normalizeIp } from '../util/ipAddress.ts';
import { DEFAULT_API_LIMITS, type ApiLimits } from '../api/RestServer.ts';
import { BFD_DEFAULT_REMOTE_LIMITS, type BfdRemoteLimits } from '../bfd/BfdSession.ts';
import { SecretFileError, readPemFile, readTokenFile } from '../util/secretFile.ts';

export class FlagError extends Error {}

export interface LoxilbFlags {
  bgp: boolean;
  peer: boolean;
  /** --prometheus: GET /netlox/v1/metrics in the Prometheus text format. */
  prometheus: boolean;
  host: string;
  port: number;
  loglevel: string;
  configPath: string;
  gobgpApi: string;
  gobgpBin: string;
  version: boolean;
  help: boolean;
  ka?: KaSpec;
  cluster: string[];
  self: number;
  haPriority: number;
  haPreempt: boolean;
  haHook?: string;
  haInitWaitMs: number;
  /** --drain-timeout (ms): how long SIGTERM waits for the HA peer to take over; 0: stop at once. */
  drainTimeoutMs: number;
  /** --egr-hooks: the datapath also at TC egress. */
  egrHooks: boolean;
  /** --blacklist / --whitelist: which interfaces the datapath attaches to. */
  blacklist?: RegExp;
  whitelist?: RegExp;
  /** Connection sync over TLS with client certificates: PEM files (all three or none). */
  syncTls?: { ca: string; cert: string; key: string };
  /** Sync UDP flows too (loxilb syncs TCP only). */
  syncUdp: boolean;
  /** REST API limits (--api-*). */
  apiLimits: ApiLimits;
  /** --cors-origin: the one origin browsers may call the API from. */
  corsOrigin?: string;
  /** --bfd-key-dir: BFD key files are read only from here (default <config-path>/bfd-keys). */
  bfdKeyDir: string;
  /** --bfd-max-remote-*: the most a BFD peer may ask for (µs, µs, multiplier). */
  bfdRemoteLimits: BfdRemoteLimits;
  /** --config-quarantine: saved records that fail validation are moved aside instead of stopping the start. */
  configQuarantine: boolean;
  /** --ct-max: connection table entries (undefined: sized by memory). */
  ctMax?: number;
  /** --bpf-pin-dir: where the connection table is pinned ('' : not pinned). */
  bpfPinDir: string;
  /** --max-rules: rules the datapath holds, a power of two (undefined: 16,384). */
  maxRules?: number;
  /** --tls: an HTTPS listener besides the HTTP one (files are read by loadApiSecurity). */
  tls?: TlsListenerFlags;
  /** --api-token-file: every request but GET /status needs the token in this file. */
  apiTokenFile?: string;
  /** --peer-api-ca: with --tls, the HA peer's API is read over HTTPS, its certificate checked against this CA bundle. */
  peerApiCa?: string;
  /** loxilb flags given that loxilb-ts does not act on: "--flag: what it does not do here", one each. */
  notInEffect: string[];
}

export interface TlsListenerFlags {
  host: string;
  port: number;
  certificate: string;
  key: string;
}

export const TLS_DEFAULTS = { host: '0.0.0.0', port: 8091, certificate: '/opt/loxilb/cert/server.crt', key: '/opt/loxilb/cert/server.key' } as const;

type Kind = 'bool' | 'string';
interface FlagDef {
  long: string;
  short?: string;
  kind: Kind;
  key?: keyof LoxilbFlags;
}

const DEFS: FlagDef[] = [
  { long: 'bgp', short: 'b', kind: 'bool', key: 'bgp' },
  { long: 'peer', short: 'r', kind: 'bool', key: 'peer' },
  { long: 'prometheus', short: 'p', kind: 'bool', key: 'prometheus' },
  { long: 'host', kind: 'string', key: 'host' },
  { long: 'port', kind: 'string', key: 'port' },
  { long: 'loglevel', kind: 'string', key: 'loglevel' },
  { long: 'config-path', kind: 'string', key: 'configPath' },
  { long: 'gobgp-api', kind: 'string', key: 'gobgpApi' },
  { long: 'gobgp-bin', kind: 'string', key: 'gobgpBin' },
  { long: 'version', short: 'v', kind: 'bool', key: 'version' },
  { long: 'ka', short: 'k', kind: 'string' },
  { long: 'cluster', kind: 'string' },
  { long: 'self', kind: 'string' },
  { long: 'ha-priority', kind: 'string' },
  { long: 'ha-preempt', kind: 'bool', key: 'haPreempt' },
  { long: 'ha-hook', kind: 'string' },
  { long: 'ha-init-wait', kind: 'string' },
  { long: 'drain-timeout', kind: 'string' },
  { long: 'help', short: 'h', kind: 'bool', key: 'help' },
  { long: 'egr-hooks', kind: 'bool', key: 'egrHooks' },
  { long: 'blacklist', kind: 'string' },
  { long: 'whitelist', kind: 'string' },
  { long: 'sync-tls-ca', kind: 'string' },
  { long: 'sync-tls-cert', kind: 'string' },
  { long: 'sync-tls-key', kind: 'string' },
  { long: 'sync-udp', kind: 'bool', key: 'syncUdp' },
  { long: 'api-max-conns', kind: 'string' },
  { long: 'api-max-conns-per-client', kind: 'string' },
  { long: 'api-max-header-bytes', kind: 'string' },
  { long: 'api-max-body-bytes', kind: 'string' },
  { long: 'api-header-timeout', kind: 'string' },
  { long: 'api-request-timeout', kind: 'string' },
  { long: 'api-idle-timeout', kind: 'string' },
  { long: 'cors-origin', kind: 'string' },
  { long: 'bfd-key-dir', kind: 'string' },
  { long: 'bfd-max-remote-tx', kind: 'string' },
  { long: 'bfd-max-remote-rx', kind: 'string' },
  { long: 'bfd-max-remote-mult', kind: 'string' },
  { long: 'config-quarantine', kind: 'bool', key: 'configQuarantine' },
  { long: 'ct-max', kind: 'string' },
  { long: 'bpf-pin-dir', kind: 'string' },
  { long: 'max-rules', kind: 'string' },
  { long: 'tls', kind: 'bool' },
  { long: 'tls-host', kind: 'string' },
  { long: 'tls-port', kind: 'string' },
  { long: 'tls-certificate', kind: 'string' },
  { long: 'tls-key', kind: 'string' },
  { long: 'api-token-file', kind: 'string' },
  { long: 'peer-api-ca', kind: 'string' },
];

/**
 * loxilb flags (options/options.go) that loxilb-ts accepts but does not act
 * on. Each is parsed as loxilb parses it, and unless it is given its "off"
 * value (loxilb's default) the agent starts with one warning line naming what
 * it does not do here, also listed in GET /status as flagsNotInEffect. Never
 * refused: loxilb's manifests and defaults pass some of them, and a pod that
 * does not start helps nobody.
 */
interface InertFlag extends FlagDef {
  /** Values that ask for nothing (loxilb's default): no warning. */
  off?: string[];
  /** Allowed values, when loxilb's go-flags type restricts them. */
  values?: RegExp;
  valuesText?: string;
  /** What loxilb-ts does not do (or does instead). */
  effect: string;
}
const isInert = (d: FlagDef): d is InertFlag => 'effect' in d;
const INT = /^\d+$/;
const INERT: InertFlag[] = [
  { long: 'rpc', kind: 'string', off: ['netrpc', 'grpc'], values: /^(netrpc|grpc)$/, valuesText: 'netrpc or grpc', effect: '' },
  { long: 'api', short: 'a', kind: 'bool', effect: 'the REST API still runs (kube-loxilb, loxicmd and the HA peer need it)' },
  { long: 'nonlp', short: 'n', kind: 'bool', effect: 'loxilb-ts keeps no netlink mirror of the kernel; nothing to turn off' },
  { long: 'clusterinterface', kind: 'string', off: [''], effect: 'egress HA over a cluster interface is not implemented; BFD uses the --ka source address' },
  { long: 'log-max-size', kind: 'string', off: ['50'], values: INT, valuesText: 'a number of MB', effect: 'logs go to stdout; no log file is written or rotated' },
  { long: 'log-max-backups', kind: 'string', off: ['4'], values: INT, valuesText: 'a number of files', effect: 'logs go to stdout; no log file is written or rotated' },
  { long: 'log-max-age', kind: 'string', off: ['28'], values: INT, valuesText: 'a number of days', effect: 'logs go to stdout; no log file is written or rotated' },
  { long: 'log-no-compress', kind: 'bool', effect: 'logs go to stdout; no log file is written or rotated' },
  { long: 'cpuprofile', kind: 'string', off: ['none'], effect: 'no CPU profile is written; run node with --cpu-prof (LOXILB_NODE_ARGS) instead' },
  { long: 'disable-crc32', kind: 'bool', effect: 'the datapath always updates checksums' },
  { long: 'passive-probe', kind: 'bool', effect: 'endpoints are probed actively only' },
  { long: 'rss-enable', kind: 'bool', effect: 'no RSS optimisation is applied' },
  { long: 'k8s-api', kind: 'string', off: ['none'], effect: 'the agent does not watch Kubernetes; run kube-loxilb' },
  { long: 'ipvs-compat', kind: 'bool', effect: 'IPVS services are not turned into LB rules' },
  // loxilb-ts never routes: what the datapath does not balance goes to the kernel's own stack, which is what --fallback asks for.
  { long: 'fallback', kind: 'bool', effect: '' },
  { long: 'localsockpolicy', kind: 'bool', effect: "connections from the node's own processes to a VIP are not balanced" },
  { long: 'sockmapsupport', kind: 'bool', effect: 'no sockmap L4 proxying' },
  { long: 'cloud', kind: 'string', off: ['on-prem'], effect: 'no cloud integration: VIPs are handled as on-prem (nothing moves cloud addresses between instances)' },
  { long: 'cloudcidrblock', kind: 'string', off: [''], effect: 'no cloud integration (see --cloud)' },
  { long: 'cloudinstance', kind: 'string', off: [''], effect: 'no cloud integration (see --cloud)' },
  { long: 'proxyonlymode', kind: 'bool', effect: 'there is no proxy mode: rules go to the eBPF datapath as always' },
  { long: 'userservice', kind: 'bool', effect: 'no user or login service; use --api-token-file for a bearer token' },
  { long: 'databasehost', kind: 'string', off: ['127.0.0.1'], effect: 'no user service (see --userservice)' },
  { long: 'databaseport', kind: 'string', off: ['3306'], values: INT, valuesText: 'a port number', effect: 'no user service (see --userservice)' },
  { long: 'databaseuser', kind: 'string', off: ['root'], effect: 'no user service (see --userservice)' },
  { long: 'databasepasswordpath', kind: 'string', off: ['/etc/loxilb/mysql_password'], effect: 'no user service (see --userservice)' },
  { long: 'databasename', kind: 'string', off: ['loxilb_db'], effect: 'no user service (see --userservice)' },
  { long: 'manualtoken', kind: 'bool', effect: "loxilb's manual token is not read; use --api-token-file=PATH (a file holding the token)" },
  { long: 'manualtokenvalue', kind: 'string', off: ['/etc/loxilb/manual_token'], effect: "loxilb's manual token is not read (see --manualtoken)" },
  { long: 'oauth2', kind: 'bool', effect: 'no OAuth2 login; use --api-token-file for a bearer token' },
  { long: 'oauth2provider', kind: 'string', off: ['google'], values: /^(google|github)(,(google|github))*$/, valuesText: 'google and/or github, comma-separated', effect: 'no OAuth2 login (see --oauth2)' },
  ...['google', 'github'].flatMap((p) =>
    ['clientid', 'clientsecret', 'redirecturl'].map((f): InertFlag => ({ long: `oauth2${p}-${f}`, kind: 'string', off: [''], effect: 'no OAuth2 login (see --oauth2)' })),
  ),
];

export const USAGE = `Usage: loxilb [OPTIONS]

  -b, --bgp               run a gobgpd sidecar and advertise VIPs by HA role
  -r, --peer              BGP only: no load balancing; learned routes go to the kernel
      --host=ADDR         REST API address, plain HTTP (default 0.0.0.0, env HOST); 127.0.0.1
                          keeps plain HTTP on the node itself
      --port=N            REST API port (default 11111, env PORT)
      --tls               also serve the REST API over HTTPS, TLS 1.2 or later (env TLS)
      --tls-host=ADDR     HTTPS address (default ${TLS_DEFAULTS.host}, env TLS_HOST)
      --tls-port=N        HTTPS port (default ${TLS_DEFAULTS.port}, env TLS_PORT)
      --tls-certificate=PEM  certificate chain (default ${TLS_DEFAULTS.certificate}, env TLS_CERTIFICATE)
      --tls-key=PEM       its private key (default ${TLS_DEFAULTS.key}, env TLS_PRIVATE_KEY)
      --api-token-file=PATH  every REST request (HTTP and HTTPS) but GET /netlox/v1/status must
                          send "Authorization: Bearer <token>", the token being this file's
                          content (trimmed; 16-4096 visible ASCII characters); else 401.
                          Default: no token, anyone who reaches the API may change rules
      --peer-api-ca=PEM   with --tls: the HA peer's API is read over HTTPS on its --tls-port,
                          its certificate (naming the peer's IP) checked against this CA bundle
      --loglevel=LEVEL    ${LOG_LEVELS.join('|')} (default debug)
      --config-path=DIR   saved configuration (default /etc/loxilb/)
      --gobgp-api=H:P     gobgpd gRPC API address (default 127.0.0.1:50051)
      --gobgp-bin=PATH    gobgpd binary (default gobgpd from PATH, env GOBGPD_BIN)
  -k, --ka=SPEC           BFD with the HA peer, which elects MASTER/BACKUP for llb-inst0:
                          RemoteIP[:SourceIP[:IntervalUs[:Multiplier]]] (IPv6 in brackets;
                          default 100000 us x 3)
      --cluster=IPS       cluster peers, comma-separated (connection sync)
      --self=N            this node's index in the cluster (default 0)
      --ha-priority=N     election priority 1-255 (default ${HA_DEFAULT_PRIORITY}); higher wins, then the higher address
      --ha-preempt        a higher-priority node takes MASTER back when it returns (default: it stays BACKUP)
      --ha-hook=PATH      run PATH <instance> <state> <vip> on every role change
                          (default ${LOXILB_HOOK_PATH} if it exists)
      --ha-init-wait=MS   how long an HA node waits for its peer at start before it serves alone,
                          and a saved MASTER set over the API for a word before it serves again
                          (default ${HA_DEFAULT_INIT_WAIT_MS})
      --drain-timeout=S   on SIGTERM (or POST config/drain) an HA node first hands its role to its
                          peer and waits up to S seconds for it to take over and the traffic to
                          move, advertising with GRACEFUL_SHUTDOWN meanwhile; 0 stops at once
                          (default ${DRAIN_DEFAULT_TIMEOUT_MS / 1000})
      --blacklist=REGEX   the datapath leaves interfaces whose names match (lo is always left
                          unless whitelisted), e.g. 'cni[0-9a-z]|veth.|flannel.'
      --whitelist=REGEX   the datapath attaches only to interfaces whose names match
                          (the blacklist is then ignored)
      --egr-hooks         attach the datapath at TC egress too (locally sent traffic to VIPs)
  -p, --prometheus        serve GET /netlox/v1/metrics (Prometheus text format)
      --ct-max=N          connection table entries (each connection takes two); default by
                          memory: 0.25 % of RAM, 262,144 to 4,194,304
      --max-rules=N       LB rules the datapath holds, a power of two from 1024 to 65536
                          (default 16384); address/port entries are four times that
      --bpf-pin-dir=DIR   a directory on a bpffs where the connection table is pinned, so an
                          agent restarted after a crash adopts it (default ${DEFAULT_BPF_PIN_DIR};
                          'none' to not pin)
      --sync-tls-ca=PEM   connection sync (TCP 22222, with --cluster) over TLS: the CA that signs
      --sync-tls-cert=PEM every node's certificate, and this node's certificate and key; peers
      --sync-tls-key=PEM  must present a certificate from that CA
      --sync-udp          sync UDP flows too (default: established TCP connections only)
      --api-max-conns=N   REST connections at most (default ${DEFAULT_API_LIMITS.maxConnections}; never more than half
                          the descriptor limit); past it an idle one is closed, else 503
      --api-max-conns-per-client=N
                          REST connections per client address, IPv6 per /64 (default ${DEFAULT_API_LIMITS.maxConnectionsPerClient};
                          never more than half the cap)
      --api-max-header-bytes=N  request line and headers at most (default ${DEFAULT_API_LIMITS.maxHeaderBytes}; else 431)
      --api-max-body-bytes=N    request body at most (default ${DEFAULT_API_LIMITS.maxBodyBytes}; else 413)
      --api-header-timeout=MS   time to send the headers (default ${DEFAULT_API_LIMITS.headersTimeoutMs}; else 408)
      --api-request-timeout=MS  time to send the whole request (default ${DEFAULT_API_LIMITS.requestTimeoutMs}; else 408)
      --api-idle-timeout=MS     a connection with no request for this long is closed (default ${DEFAULT_API_LIMITS.idleTimeoutMs})
      --cors-origin=ORIGIN      the one origin (scheme://host[:port]) browsers may call the API from;
                          default none: no CORS headers, and requests with an Origin are refused
      --bfd-key-dir=DIR   BFD keyFile names a regular file in DIR (default <config-path>/bfd-keys)
      --bfd-max-remote-tx=US    largest Desired Min TX a BFD peer is believed (default ${BFD_DEFAULT_REMOTE_LIMITS.maxRemoteTxUs});
                          a peer asking for more is held at it, so its Detection Time is bounded
      --bfd-max-remote-rx=US    largest Required Min RX a BFD peer can slow us down to (default ${BFD_DEFAULT_REMOTE_LIMITS.maxRemoteRxUs})
      --bfd-max-remote-mult=N   largest Detect Mult a BFD peer is believed (default ${BFD_DEFAULT_REMOTE_LIMITS.maxRemoteMult})
      --config-quarantine a saved record that fails its checksum or validation is moved aside
                          (<file>.rejected) with a warning; default: the agent does not start
  -v, --version           print the version and exit
  -h, --help              this text

loxilb's other flags are accepted as loxilb parses them. --rpc (netrpc|grpc) and
--fallback need nothing here (sync is always gRPC between loxilb-ts nodes; what the
datapath does not balance always goes to the kernel). Each of these starts the agent
with one warning line saying what it does not do, also listed in GET /status:
  ${INERT.filter((d) => d.effect).map((d) => (d.short ? `-${d.short}/` : '') + `--${d.long}`).join(' ').replace(/(.{1,80})( |$)/g, '$1\n  ').trimEnd()}
`;

export function parseLoxilbFlags(argv: string[], env: NodeJS.ProcessEnv = {}): LoxilbFlags {
  const out: LoxilbFlags = {
    bgp: false,
    peer: false,
    prometheus: false,
    host: env.HOST || '0.0.0.0',
    port: 11111,
    loglevel: 'debug',
    configPath: '/etc/loxilb/',
    gobgpApi: '127.0.0.1:50051',
    gobgpBin: env.GOBGPD_BIN || 'gobgpd',
    version: false,
    help: false,
    cluster: [],
    self: 0,
    haPriority: HA_DEFAULT_PRIORITY,
    haPreempt: false,
    haInitWaitMs: HA_DEFAULT_INIT_WAIT_MS,
    drainTimeoutMs: DRAIN_DEFAULT_TIMEOUT_MS,
    bpfPinDir: DEFAULT_BPF_PIN_DIR,
    egrHooks: false,
    syncUdp: false,
    apiLimits: { ...DEFAULT_API_LIMITS },
    bfdKeyDir: '',
    bfdRemoteLimits: { ...BFD_DEFAULT_REMOTE_LIMITS },
    configQuarantine: false,
    notInEffect: [],
  };
  const inertGiven = new Map<InertFlag, string | boolean>();
  const raw: Record<string, string> = {};
  let portRaw = env.PORT || '11111';
  // loxilb's go-flags env defaults for the HTTPS listener; a flag overrides them.
  if (env.TLS !== undefined && env.TLS !== '') {
    const b = envBool(env.TLS);
    if (b === undefined) throw new FlagError(`environment variable TLS must be true or false (got ${JSON.stringify(env.TLS)})`);
    raw.tls = String(b);
  }
  for (const [name, v] of [['tls-host', env.TLS_HOST], ['tls-port', env.TLS_PORT], ['tls-certificate', env.TLS_CERTIFICATE], ['tls-key', env.TLS_PRIVATE_KEY]] as const) {
    if (v !== undefined && v !== '') raw[name] = v;
  }
  const find = (name: string, short: boolean) => {
    const match = (d: FlagDef) => (short ? d.short === name : d.long === name);
    const def = DEFS.find(match);
    if (def) return def;
    const inert = INERT.find(match);
    if (inert) return inert;
    throw new FlagError(`unknown flag ${short ? '-' : '--'}${name} (see loxilb --help)`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') throw new FlagError(`unexpected argument ${JSON.stringify(arg)}: loxilb takes only flags`);
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    const shown = `${long ? '--' : '-'}${name}`;
    if (!long && name.length > 1 && value === undefined) {
      // -br: a run of short boolean flags.
      for (const ch of name) {
        const def = find(ch, true);
        if (def.kind !== 'bool') throw new FlagError(`flag -${ch} needs a value (-${ch}=VALUE)`);
        if (isInert(def)) inertGiven.set(def, true);
        else (out as unknown as Record<string, unknown>)[def.key!] = true;
      }
      continue;
    }
    const def = find(name, !long);
    if (def.kind === 'bool') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new FlagError(`flag ${shown} is a switch: it takes no value (got ${JSON.stringify(value)})`);
      if (isInert(def)) inertGiven.set(def, value !== 'false');
      else if (!def.key) raw[def.long] = String(value !== 'false');
      else (out as unknown as Record<string, unknown>)[def.key!] = value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new FlagError(`flag ${shown} needs a value`);
    }
    if (isInert(def)) inertGiven.set(def, value);
    else if (def.key === 'port') portRaw = value;
    else if (!def.key) raw[def.long] = value;
    else (out as unknown as Record<string, unknown>)[def.key!] = value;
  }
  if (!/^\d+$/.test(portRaw) || Number(portRaw) < 1 || Number(portRaw) > 65535) throw new FlagError(`flag --port must be a TCP port 1-65535 (got ${JSON.stringify(portRaw)})`);
  out.port = Number(portRaw);
  if (!ipaddr.isValid(out.host)) throw new FlagError(`flag --host must be an IP address to listen on (got ${JSON.stringify(out.host)})`);
  if (!pinoLevel(out.loglevel)) throw new FlagError(`flag --loglevel must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(out.loglevel)})`);
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(out.gobgpApi);
  if (!m || !ipaddr.isValid(m[1]!) || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new FlagError(`flag --gobgp-api must be IP:PORT, e.g. 127.0.0.1:50051 (got ${JSON.stringify(out.gobgpApi)})`);
  }
  if (out.configPath === '') throw new FlagError('flag --config-path must name a directory');
  parseHaFlags(out, raw);
  out.blacklist = regexFlag('blacklist', raw.blacklist);
  out.whitelist = regexFlag('whitelist', raw.whitelist);
  out.syncTls = syncTlsFlags(raw);
  parseHardeningFlags(out, raw);
  if (raw['ct-max'] !== undefined) out.ctMax = intFlag('ct-max', raw['ct-max'], 1024, 16_777_216);
  const pinDir = raw['bpf-pin-dir'];
  if (pinDir !== undefined) {
    if (pinDir === 'none') out.bpfPinDir = '';
    else if (!pinDir.startsWith('/') || pinDir.split('/').includes('..') || pinDir.length > 200) {
      throw new FlagError(`--bpf-pin-dir must be an absolute path without '..' (at most 200 characters), or none; got "${pinDir}"`);
    } else out.bpfPinDir = pinDir;
  }
  if (raw['max-rules'] !== undefined) {
    const n = intFlag('max-rules', raw['max-rules'], 1024, 65_536);
    if ((n & (n - 1)) !== 0) throw new FlagError(`flag --max-rules must be a power of two from 1024 to 65536 (got ${n})`);
    out.maxRules = n;
  }
  out.notInEffect = inertFlags(inertGiven);
  parseApiSecurityFlags(out, raw);
  // As loxilb: --peer forces --prometheus off.
  if (out.peer && out.prometheus) {
    out.prometheus = false;
    out.notInEffect.push('--prometheus: --peer (BGP only) serves no metrics, as in loxilb');
  }
  // --peer implies --bgp, as in loxilb.
  if (out.peer) out.bgp = true;
  return out;
}

/** go-flags reads a bool from the environment as strconv.ParseBool does. */
function envBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * --tls and its listener, --api-token-file, --peer-api-ca: syntax only here;
 * the files are read by loadApiSecurity before the agent starts. As in
 * loxilb, the --tls-* flags without --tls open nothing.
 */
function parseApiSecurityFlags(out: LoxilbFlags, raw: Record<string, string>): void {
  const tlsHost = raw['tls-host'] ?? TLS_DEFAULTS.host;
  if (!ipaddr.isValid(tlsHost)) throw new FlagError(`flag --tls-host must be an IP address to listen on (got ${JSON.stringify(tlsHost)})`);
  const tlsPort = raw['tls-port'] === undefined ? TLS_DEFAULTS.port : intFlag('tls-port', raw['tls-port'], 1, 65535);
  const certificate = raw['tls-certificate'] ?? TLS_DEFAULTS.certificate;
  const key = raw['tls-key'] ?? TLS_DEFAULTS.key;
  if (certificate === '') throw new FlagError('flag --tls-certificate must name a PEM file');
  if (key === '') throw new FlagError('flag --tls-key must name a PEM file');
  if (raw.tls === 'true') {
    if (tlsPort === out.port && (tlsHost === out.host || isUnspecified(tlsHost) || isUnspecified(out.host))) {
      throw new FlagError(`flag --tls-port (${tlsPort}) must differ from --port: the HTTP and HTTPS listeners cannot share a port`);
    }
    out.tls = { host: tlsHost, port: tlsPort, certificate, key };
  } else {
    const given = ['tls-host', 'tls-port', 'tls-certificate', 'tls-key'].filter((n) => raw[n] !== undefined);
    const defaults: Record<string, string> = { 'tls-host': TLS_DEFAULTS.host, 'tls-port': String(TLS_DEFAULTS.port), 'tls-certificate': TLS_DEFAULTS.certificate, 'tls-key': TLS_DEFAULTS.key };
    for (const n of given) if (raw[n] !== defaults[n]) out.notInEffect.push(`--${n}: no HTTPS listener without --tls`);
  }
  const tokenFile = raw['api-token-file'];
  if (tokenFile !== undefined && tokenFile !== 'none') {
    if (tokenFile === '') throw new FlagError('flag --api-token-file must name a file holding the API token');
    out.apiTokenFile = tokenFile;
  }
  const peerCa = raw['peer-api-ca'];
  if (peerCa !== undefined && peerCa !== 'none' && peerCa !== '') {
    if (!out.tls) throw new FlagError('flag --peer-api-ca needs --tls: the HA peer is read over HTTPS on --tls-port');
    out.peerApiCa = peerCa;
  }
}

function isUnspecified(host: string): boolean {
  return ipaddr.isValid(host) && ipaddr.parse(host).range() === 'unspecified';
}

/** What the API's security flags name, read and checked: PEM material and the token. */
export interface ApiSecurityMaterial {
  tls?: { host: string; port: number; cert: Buffer; key: Buffer };
  token?: string;
  peerCa?: Buffer;
}

/**
 * Reads the files --tls-certificate, --tls-key, --api-token-file and
 * --peer-api-ca name, and checks that the key belongs to the certificate, so
 * a bad file stops the agent before it starts anything. Errors are
 * FlagErrors naming the flag and the path.
 */
export function loadApiSecurity(flags: Pick<LoxilbFlags, 'tls' | 'apiTokenFile' | 'peerApiCa'>): ApiSecurityMaterial {
  const out: ApiSecurityMaterial = {};
  try {
    if (flags.tls) {
      const cert = readPemFile(flags.tls.certificate, 'flag --tls-certificate', true);
      const key = readPemFile(flags.tls.key, 'flag --tls-key');
      try {
        createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
      } catch (err) {
        throw new FlagError(
          `flags --tls-certificate ${JSON.stringify(flags.tls.certificate)} and --tls-key ${JSON.stringify(flags.tls.key)} are not a usable certificate and key: ${(err as Error).message}`,
        );
      }
      out.tls = { host: flags.tls.host, port: flags.tls.port, cert, key };
    }
    if (flags.apiTokenFile !== undefined) out.token = readTokenFile(flags.apiTokenFile, 'flag --api-token-file');
    if (flags.peerApiCa !== undefined) {
      const ca = readPemFile(flags.peerApiCa, 'flag --peer-api-ca', true);
      try {
        createSecureContext({ ca });
      } catch (err) {
        throw new FlagError(`flag --peer-api-ca: ${JSON.stringify(flags.peerApiCa)} is not a usable CA bundle: ${(err as Error).message}`);
      }
      out.peerCa = ca;
    }
  } catch (err) {
    if (err instanceof SecretFileError) throw new FlagError(err.message);
    throw err;
  }
  return out;
}

/** Checks the values of the inert flags given (as loxilb would) and says what each does not do here. */
function inertFlags(given: Map<InertFlag, string | boolean>): string[] {
  const lines: string[] = [];
  for (const def of INERT) {
    if (!given.has(def)) continue;
    const v = given.get(def)!;
    if (typeof v === 'string' && def.values && !def.values.test(v)) {
      throw new FlagError(`flag --${def.long} must be ${def.valuesText} (got ${JSON.stringify(v)})`);
    }
    const asks = typeof v === 'boolean' ? v : !(def.off ?? []).includes(v);
    if (asks && def.effect) lines.push(`--${def.long}: ${def.effect}`);
  }
  return lines;
}

export function isLoopbackApi(addr: string): boolean {
  const host = /^\[?([^\]]+?)\]?:\d+$/.exec(addr)?.[1] ?? '';
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

function syncTlsFlags(raw: Record<string, string>): LoxilbFlags['syncTls'] {
  const names = ['sync-tls-ca', 'sync-tls-cert', 'sync-tls-key'] as const;
  const given = names.filter((n) => raw[n] !== undefined);
  if (given.length === 0) return undefined;
  if (given.length !== names.length) {
    const missing = names.filter((n) => raw[n] === undefined).map((n) => `--${n}`);
    throw new FlagError(`connection sync over TLS needs --sync-tls-ca, --sync-tls-cert and --sync-tls-key together (missing ${missing.join(', ')})`);
  }
  for (const n of names) {
    if (!isReadableFile(raw[n]!)) throw new FlagError(`flag --${n} must name a readable PEM file (${JSON.stringify(raw[n])} is not one)`);
  }
  return { ca: raw['sync-tls-ca']!, cert: raw['sync-tls-cert']!, key: raw['sync-tls-key']! };
}

function isReadableFile(p: string): boolean {
  try {
    accessSync(p, constants.R_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** An interface-name regex; `none` (loxilb's default) means unset. Unanchored, as Go's MatchString. */
function regexFlag(name: string, text: string | undefined): RegExp | undefined {
  if (text === undefined || text === 'none' || text === '') return undefined;
  try {
    return new RegExp(text);
  } catch (err) {
    throw new FlagError(`flag --${name} must be a regular expression over interface names (${(err as Error).message})`);
  }
}

function intFlag(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new FlagError(`flag --${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  }
  return Number(text);
}

function parseHaFlags(out: LoxilbFlags, raw: Record<string, string>): void {
  if (raw.ka !== undefined && raw.ka !== 'none') {
    try {
      out.ka = parseKaSpec(raw.ka);
    } catch (err) {
      throw new FlagError((err as Error).message);
    }
  }
  if (raw.cluster !== undefined && raw.cluster !== 'none' && raw.cluster !== '') {
    out.cluster = raw.cluster.split(',').map((p) => {
      const ip = normalizeIp(p.trim().replace(/^\[(.*)\]$/, '$1'));
      if (!ip) throw new FlagError(`flag --cluster must be peer IP addresses separated by commas (got ${JSON.stringify(p)})`);
      return ip;
    });
  }
  if (raw.self !== undefined) out.self = intFlag('self', raw.self, 0, 255);
  if (raw['ha-priority'] !== undefined) out.haPriority = intFlag('ha-priority', raw['ha-priority'], 1, 255);
  if (raw['ha-init-wait'] !== undefined) out.haInitWaitMs = intFlag('ha-init-wait', raw['ha-init-wait'], 0, 600_000);
  if (raw['drain-timeout'] !== undefined) out.drainTimeoutMs = intFlag('drain-timeout', raw['drain-timeout'], 0, 3600) * 1000;
  const hook = raw['ha-hook'];
  if (hook !== undefined && hook !== 'none') {
    if (!isExecutable(hook)) throw new FlagError(`flag --ha-hook must name an executable file (${JSON.stringify(hook)} is not one)`);
    out.haHook = hook;
  } else if (hook === undefined && isExecutable(LOXILB_HOOK_PATH)) {
    out.haHook = LOXILB_HOOK_PATH;
  }
}

/** The limits that keep hostile clients and peers from costing the node more than a bounded share. */
function parseHardeningFlags(out: LoxilbFlags, raw: Record<string, string>): void {
  const l = out.apiLimits;
  const num = (name: string, min: number, max: number, dflt: number) => (raw[name] === undefined ? dflt : intFlag(name, raw[name]!, min, max));
  l.maxConnections = num('api-max-conns', 1, 1_000_000, l.maxConnections);
  l.maxConnectionsPerClient = num('api-max-conns-per-client', 1, 1_000_000, l.maxConnectionsPerClient);
  l.maxHeaderBytes = num('api-max-header-bytes', 1024, 1024 * 1024, l.maxHeaderBytes);
  l.maxBodyBytes = num('api-max-body-bytes', 1024, 256 * 1024 * 1024, l.maxBodyBytes);
  l.headersTimeoutMs = num('api-header-timeout', 100, 3_600_000, l.headersTimeoutMs);
  l.requestTimeoutMs = num('api-request-timeout', 100, 3_600_000, l.requestTimeoutMs);
  l.idleTimeoutMs = num('api-idle-timeout', 100, 3_600_000, l.idleTimeoutMs);
  if (l.requestTimeoutMs < l.headersTimeoutMs) {
    throw new FlagError(`flag --api-request-timeout (${l.requestTimeoutMs}) must be at least --api-header-timeout (${l.headersTimeoutMs})`);
  }
  const cors = raw['cors-origin'];
  if (cors !== undefined && cors !== 'none' && cors !== '') out.corsOrigin = corsOriginFlag(cors);
  const keyDir = raw['bfd-key-dir'];
  if (keyDir === '') throw new FlagError('flag --bfd-key-dir must name a directory');
  out.bfdKeyDir = path.resolve(keyDir ?? path.join(out.configPath, 'bfd-keys'));
  const b = out.bfdRemoteLimits;
  // Below 1 s a peer that is not Up yet (RFC 5880 §6.8.3 has it send at 1 s at most) would be held too tight.
  b.maxRemoteTxUs = num('bfd-max-remote-tx', 1_000_000, 0xffff_ffff, b.maxRemoteTxUs);
  b.maxRemoteRxUs = num('bfd-max-remote-rx', 1_000_000, 0xffff_ffff, b.maxRemoteRxUs);
  b.maxRemoteMult = num('bfd-max-remote-mult', 1, 255, b.maxRemoteMult);
}

/** An origin as browsers send it: scheme://host[:port], nothing else. */
function corsOriginFlag(text: string): string {
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== text) {
    throw new FlagError(`flag --cors-origin must be an origin such as https://ui.example.com:8443, with no path or trailing slash (got ${JSON.stringify(text)})`);
  }
  return text;
}
