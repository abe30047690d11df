// Flag parsing for kube-loxilb (reference §6.1). kube-loxilb uses pflag, so
// both `--flag=value` and `--flag value` work and a boolean is `--flag` or
// `--flag=true|false` (never `--flag false`). A YAML file given with
// --config is read first, with strict keys, and flags override it whatever
// their position. Every error names the flag (or the YAML key and file) and
// what is allowed; the caller prints it and exits with status 2.
//
// Over 400 lines: kube-loxilb's whole flag set: the flag table, its usage text
// (~50 lines) and the YAML --config reader that must agree with it.
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { IpAllocator, IpamConfigError } from '../ipam/IpAllocator.ts';
import { parseAddress, formatAddress, parseRange } from '../ipam/ipRange.ts';
import { DEFAULT_POOL, parsePoolList, type PoolDef } from '../ipam/poolSpec.ts';
import { LOG_LEVELS, pinoLevel } from '../util/logger.ts';
import { UINT32_MAX } from '../util/FieldReader.ts';
import { SecretFileError, readPemFile, readTokenFile } from '../util/secretFile.ts';
import type { ExtBgpPeer, KubeLoxilbConfig } from '../kube/config.ts';
import type { DiscoveredAgent } from '../kube/agentPool.ts';
import { agentOrigin } from '../apiclient/origin.ts';
import { parseListenAddress } from '../kube/kubeMetrics.ts';

export class KubeLoxilbFlagError extends Error {
  override name = 'KubeLoxilbFlagError';
}

export const DEFAULT_LOAD_BALANCER_CLASS = 'loxilb.io/loxilb';
export const DEFAULT_CIDR_POOLS = `${DEFAULT_POOL}=123.123.123.1/24`;
export const DEFAULT_CIDR6_POOLS = `${DEFAULT_POOL}=3ffe:cafe::1/96`;
/** kube-loxilb health-checks every agent every 2 s. */
export const DEFAULT_ROLE_HEALTH_PERIOD_MS = 2000;
export const MIN_ROLE_HEALTH_PERIOD_MS = 10;
export const MAX_EXCLUDE_ROLE_LIST = 128;

export type { ExtBgpPeer, KubeLoxilbConfig } from '../kube/config.ts';

type Kind = 'string' | 'bool' | 'optionalString';

interface FlagDef {
  name: string;
  kind: Kind;
  /** Key in the --config YAML; undefined means flag only. */
  yaml?: string;
  /** What a bare `--flag` means for optionalString flags. */
  bare?: string;
}

const DEFS: FlagDef[] = [
  { name: 'config', kind: 'string' },
  { name: 'loxiURL', kind: 'string', yaml: 'loxiURL' },
  { name: 'loxiCACert', kind: 'string', yaml: 'loxiCACert' },
  { name: 'loxiTokenFile', kind: 'string', yaml: 'loxiTokenFile' },
  { name: 'loxiDiscoverHTTPS', kind: 'bool', yaml: 'loxiDiscoverHTTPS' },
  { name: 'externalCIDR', kind: 'string', yaml: 'externalCIDR' },
  { name: 'externalCIDR6', kind: 'string', yaml: 'externalCIDR6' },
  { name: 'externalSecondaryCIDRs', kind: 'string', yaml: 'externalSecondaryCIDRs' },
  { name: 'cidrPools', kind: 'string', yaml: 'cidrPools' },
  { name: 'cidr6Pools', kind: 'string', yaml: 'cidr6Pools' },
  { name: 'setBGP', kind: 'string', yaml: 'setBGP' },
  { name: 'listenBGPPort', kind: 'string', yaml: 'listenBGPPort' },
  { name: 'eBGPMultiHop', kind: 'bool', yaml: 'eBGPMultiHop' },
  { name: 'extBGPPeers', kind: 'string', yaml: 'extBGPPeers' },
  // The docs deploy with a bare `--setRoles`; it means the usual 0.0.0.0.
  { name: 'setRoles', kind: 'optionalString', yaml: 'setRoles', bare: '0.0.0.0' },
  { name: 'setLBMode', kind: 'string', yaml: 'setLBMode' },
  { name: 'setUniqueIP', kind: 'bool', yaml: 'setExclIPAM' },
  { name: 'monitor', kind: 'bool', yaml: 'monitor' },
  { name: 'zone', kind: 'string', yaml: 'zone' },
  { name: 'numZoneInstances', kind: 'string', yaml: 'numZoneInstances' },
  { name: 'noZoneName', kind: 'bool', yaml: 'noZoneName' },
  { name: 'excludeRoleList', kind: 'string', yaml: 'excludeRoleList' },
  { name: 'privateCIDR', kind: 'string', yaml: 'privateCIDR' },
  { name: 'usePodNetwork', kind: 'bool', yaml: 'usePodNetwork' },
  { name: 'useExternalEndpoint', kind: 'bool', yaml: 'useExternalEndpoint' },
  { name: 'kubeconfig', kind: 'string', yaml: 'kubeconfig' },
  { name: 'loadBalancerClass', kind: 'string', yaml: 'loxilbLoadBalancerClass' },
  { name: 'roleHealthPeriod', kind: 'string', yaml: 'roleHealthPeriod' },
  { name: 'loglevel', kind: 'string', yaml: 'loglevel' },
  { name: 'metricsAddr', kind: 'string', yaml: 'metricsAddr' },
  // klog's verbosity; only used to pick a log level when --loglevel is absent.
  { name: 'v', kind: 'string' },
  { name: 'help', kind: 'bool' },
];

/** kube-loxilb options loxilb-ts does not implement yet: refused by name when set to anything but off. */
const NOT_YET: FlagDef[] = [
  { name: 'appendEPs', kind: 'bool', yaml: 'appendEPs' },
  { name: 'gatewayAPI', kind: 'bool', yaml: 'gatewayAPI' },
  { name: 'loxilbGatewayClass', kind: 'string', yaml: 'loxilbGatewayClass' },
  { name: 'enableBGPCRDs', kind: 'bool', yaml: 'enableBGPCRDs' },
  { name: 'enableK8sMetadata', kind: 'bool', yaml: 'enableK8sMetadata' },
  { name: 'log_dir', kind: 'string' },
  { name: 'log_file_max_num', kind: 'string' },
];

export const KUBE_LOXILB_USAGE = `Usage: kube-loxilb [FLAGS]

      --config=FILE                YAML file read first (strict keys); flags override it
      --kubeconfig=FILE            kubeconfig to use outside the cluster
      --loxiURL=URL[,URL...]       loxilb API URLs (empty: discover loxilb-lb-service endpoints,
                                   reached at http://<address>:11111); https:// URLs reach agents
                                   started with --tls (port 8091 by default)
      --loxiCACert=FILE            CA bundle (PEM) the agents' HTTPS certificates are checked
                                   against (default: the system's CAs)
      --loxiTokenFile=FILE         file holding the agents' API token (their --api-token-file);
                                   sent as "Authorization: Bearer <token>" on every request
      --loxiDiscoverHTTPS          discovered agents are reached at https://<address>:8091
                                   (their --tls listener) instead of http://<address>:11111
      --externalCIDR=CIDR|RANGE    IPv4 defaultPool (replaces the default one)
      --externalCIDR6=CIDR|RANGE   IPv6 defaultPool
      --cidrPools=NAME=CIDR|RANGE[,...]    IPv4 pools (default ${DEFAULT_CIDR_POOLS})
      --cidr6Pools=NAME=CIDR|RANGE[,...]   IPv6 pools (default ${DEFAULT_CIDR6_POOLS})
      --externalSecondaryCIDRs=[NAME=]CIDR|RANGE[,...]  secondary pools (SCTP multihoming);
                                   unnamed entries are secondary0, secondary1, ...
      --setUniqueIP                one Service per IP (default: Services share IPs by port)
      --setBGP=ASN                 local AS (1-${UINT32_MAX}); 0 or absent: no BGP
      --extBGPPeers=IP:ASN[,...]   external peers; IPv6 as [addr]:asn
      --listenBGPPort=PORT         BGP port of the agents and their mesh peers (default 179)
      --eBGPMultiHop               multihop for external peers
      --setRoles[=IP]              arbitrate MASTER/BACKUP; IP is sent as the CI vip (bare: 0.0.0.0)
      --roleHealthPeriod=DURATION  agent health-check period: ms or Go duration like 500ms, 2s
                                   (default ${DEFAULT_ROLE_HEALTH_PERIOD_MS}ms)
      --excludeRoleList=IP[,...]   agents that never become MASTER
      --setLBMode=0..5             0 default, 1 onearm, 2 fullnat, 3 dsr, 4 fullproxy, 5 hostonearm
      --monitor                    endpoint liveness probes on every rule
      --zone=NAME                  zone (default llb); instances are NAME-inst0...
      --numZoneInstances=N         instances per zone (default 1)
      --noZoneName                 status entries without the zone prefix
      --privateCIDR=CIDR           its address is sent as privateIP
      --usePodNetwork              endpoints are pod IPs (default for the annotation)
      --useExternalEndpoint        endpoints come from EndpointSlices (default for the annotation)
      --loadBalancerClass=CLASS    (default ${DEFAULT_LOAD_BALANCER_CLASS})
      --loglevel=LEVEL             ${LOG_LEVELS.join('|')} (default info)
      --metricsAddr=HOST:PORT      serve Prometheus metrics at http://HOST:PORT/metrics (leader state,
                                   IPAM pools, Services by state, programming errors); :PORT for every
                                   address; default off (loxilb-ts only: the Go kube-loxilb has none)
  -h, --help                       this text
`;

interface RawValue {
  value: string;
  /** "flag --x" or "key x in FILE", for messages. */
  where: string;
}

export interface KubeLoxilbFlagIo {
  readFile?: (path: string) => string;
}

export function parseKubeLoxilbFlags(argv: readonly string[], io: KubeLoxilbFlagIo = {}): KubeLoxilbConfig {
  const fromFlags = scanArgv(argv);
  let raw = fromFlags;
  const configFile = fromFlags.get('config')?.value;
  if (configFile !== undefined) {
    if (configFile === '') throw err('flag --config needs a file path');
    const fromYaml = readConfigFile(configFile, io.readFile ?? ((p) => fs.readFileSync(p, 'utf8')));
    raw = new Map([...fromYaml, ...fromFlags]);
  }
  return build(raw, configFile);
}

function err(message: string): KubeLoxilbFlagError {
  return new KubeLoxilbFlagError(message);
}

function scanArgv(argv: readonly string[]): Map<string, RawValue> {
  const out = new Map<string, RawValue>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      out.set('help', { value: 'true', where: 'flag -h' });
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') throw err(`unexpected argument ${JSON.stringify(arg)}: kube-loxilb takes only --flags (see --help)`);
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value = eq >= 0 ? body.slice(eq + 1) : undefined;
    const def = DEFS.find((d) => d.name === name);
    const later = NOT_YET.find((d) => d.name === name);
    if (!def && !later) throw err(`unknown flag --${name} (see --help)`);
    const kind = (def ?? later)!.kind;
    const where = `flag --${name}`;
    if (kind === 'bool') {
      const b = value === undefined ? true : parseBool(value);
      if (b === undefined) throw err(`${where} is a switch: use --${name} or --${name}=true|false (got ${JSON.stringify(value)})`);
      value = String(b);
    } else if (value === undefined) {
      const next = argv[i + 1];
      if (kind === 'optionalString' && (next === undefined || next.startsWith('-'))) value = def!.bare!;
      else if (next === undefined) throw err(`${where} needs a value (--${name}=VALUE)`);
      else value = argv[++i]!;
    }
    if (later) {
      if (value !== 'false' && value !== '') throw err(`${where} is not implemented in loxilb-ts yet; remove it`);
      continue;
    }
    out.set(name, { value, where });
  }
  return out;
}

/** strconv.ParseBool, which pflag uses. */
function parseBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  return undefined;
}

function readConfigFile(path: string, readFile: (p: string) => string): Map<string, RawValue> {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw err(`flag --config: cannot read ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, strict: true });
  } catch (e) {
    throw err(`flag --config: ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const out = new Map<string, RawValue>();
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw err(`flag --config: ${path} must be a YAML mapping of option: value`);
  const known = [...DEFS, ...NOT_YET].filter((d) => d.yaml !== undefined);
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    const where = `key ${key} in ${path}`;
    const def = known.find((d) => d.yaml === key);
    if (!def) throw err(`${where} is not a kube-loxilb option (known keys: ${known.map((d) => d.yaml).join(', ')})`);
    let value: string;
    if (v === null) value = '';
    else if (Array.isArray(v)) {
      if (v.some((x) => typeof x === 'object' && x !== null)) throw err(`${where} must be a scalar or a list of scalars`);
      value = v.join(',');
    } else if (typeof v === 'object') throw err(`${where} must be a scalar or a list of scalars`);
    else value = String(v);
    if (def.kind === 'bool') {
      const b = parseBool(value);
      if (b === undefined) throw err(`${where} must be true or false (got ${JSON.stringify(value)})`);
      value = String(b);
    }
    if (NOT_YET.includes(def)) {
      if (value !== 'false' && value !== '') throw err(`${where} is not implemented in loxilb-ts yet; remove it`);
      continue;
    }
    out.set(def.name, { value, where });
  }
  return out;
}

function build(raw: Map<string, RawValue>, configFile: string | undefined): KubeLoxilbConfig {
  const str = (name: string) => raw.get(name)?.value;
  const where = (name: string) => raw.get(name)?.where ?? `flag --${name}`;
  const bool = (name: string) => str(name) === 'true';
  const int = (name: string, min: number, max: number, dflt: number) => {
    const v = str(name);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw err(`${where(name)} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
    return Number(v);
  };

  const setBGP = int('setBGP', 0, UINT32_MAX, 0);
  const zone = str('zone') ?? 'llb';
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(zone)) {
    throw err(`${where('zone')} must be a DNS label (lower-case letters, digits and '-', at most 63) because it prefixes instance and status names (got ${JSON.stringify(zone)})`);
  }
  const cfg: KubeLoxilbConfig = {
    loxiURLs: parseUrls(str('loxiURL') ?? '', where('loxiURL')),
    ...buildPools(raw),
    setUniqueIP: bool('setUniqueIP'),
    ipamMode: bool('setUniqueIP') ? 'unique' : 'shared',
    setBGP,
    listenBGPPort: int('listenBGPPort', 1, 65535, 179),
    eBGPMultiHop: bool('eBGPMultiHop'),
    extBGPPeers: [],
    setLBMode: int('setLBMode', 0, 5, 0),
    monitor: bool('monitor'),
    zone,
    numZoneInstances: int('numZoneInstances', 1, 64, 1),
    noZoneName: bool('noZoneName'),
    excludeRoleList: [],
    usePodNetwork: bool('usePodNetwork'),
    useExternalEndpoint: bool('useExternalEndpoint'),
    loadBalancerClass: str('loadBalancerClass') ?? DEFAULT_LOAD_BALANCER_CLASS,
    roleHealthPeriodMs: DEFAULT_ROLE_HEALTH_PERIOD_MS,
    loglevel: 'info',
    help: bool('help'),
  };
  if (configFile !== undefined) cfg.configFile = configFile;

  const peers = str('extBGPPeers');
  if (peers !== undefined && peers.trim() !== '') {
    cfg.extBGPPeers = parseExtBgpPeers(peers, where('extBGPPeers'));
    if (setBGP === 0) throw err(`${where('extBGPPeers')} needs --setBGP=ASN: external peers are only configured when BGP is on`);
  }

  const roles = str('setRoles');
  if (roles !== undefined && roles.trim() !== '') {
    const a = parseAddress(roles.trim());
    if (!a) throw err(`${where('setRoles')} must be an IP address, usually 0.0.0.0 (got ${JSON.stringify(roles)})`);
    cfg.setRoles = formatAddress(a.family, a.value);
  }

  const exclude = str('excludeRoleList');
  if (exclude !== undefined && exclude.trim() !== '') cfg.excludeRoleList = parseIpList(exclude, where('excludeRoleList'), MAX_EXCLUDE_ROLE_LIST);

  const priv = str('privateCIDR');
  if (priv !== undefined && priv.trim() !== '') {
    const slash = priv.indexOf('/');
    const a = slash > 0 ? parseAddress(priv.slice(0, slash).trim()) : undefined;
    if (!a || a.family !== 4 || !parseRange(priv).ok) throw err(`${where('privateCIDR')} must be an IPv4 CIDR like 10.10.0.1/24 (got ${JSON.stringify(priv)})`);
    cfg.privateIP = formatAddress(4, a.value);
  }

  for (const name of ['loxiCACert', 'loxiTokenFile'] as const) {
    const v = str(name);
    if (v === undefined) continue;
    if (v.trim() === '') throw err(`${where(name)} needs a file path`);
    cfg[name] = { path: v.trim(), where: where(name) };
  }
  cfg.loxiDiscoverHTTPS = bool('loxiDiscoverHTTPS');
  if (cfg.loxiCACert && !cfg.loxiDiscoverHTTPS && !cfg.loxiURLs.some((u) => u.startsWith('https:'))) {
    throw err(
      `${cfg.loxiCACert.where} is for agents reached over HTTPS, but no --loxiURL is https:// and --loxiDiscoverHTTPS is off (use https://<agent>:8091 for agents started with --tls)`,
    );
  }

  const kubeconfig = str('kubeconfig');
  if (kubeconfig !== undefined) {
    if (kubeconfig === '') throw err(`${where('kubeconfig')} needs a file path`);
    cfg.kubeconfig = kubeconfig;
  }

  // A qualified name, as Kubernetes requires for spec.loadBalancerClass.
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(cfg.loadBalancerClass)) {
    throw err(`${where('loadBalancerClass')} must be a prefixed name like ${DEFAULT_LOAD_BALANCER_CLASS} (got ${JSON.stringify(cfg.loadBalancerClass)})`);
  }

  const metricsAddr = str('metricsAddr');
  if (metricsAddr !== undefined && metricsAddr.trim() !== '') {
    const a = parseListenAddress(metricsAddr);
    if ('error' in a) throw err(`${where('metricsAddr')} ${a.error}`);
    cfg.metricsAddr = a;
  }

  const period = str('roleHealthPeriod');
  if (period !== undefined) {
    const ms = parseDurationMs(period.trim());
    if (ms === undefined || ms < MIN_ROLE_HEALTH_PERIOD_MS || ms > 3_600_000) {
      throw err(`${where('roleHealthPeriod')} must be milliseconds or a Go duration (e.g. 200ms, 1.5s) from ${MIN_ROLE_HEALTH_PERIOD_MS}ms to 1h (got ${JSON.stringify(period)})`);
    }
    cfg.roleHealthPeriodMs = ms;
  }

  const level = str('loglevel');
  if (level !== undefined) {
    if (!pinoLevel(level)) throw err(`${where('loglevel')} must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(level)})`);
    cfg.loglevel = level.toLowerCase();
  } else if (str('v') !== undefined) {
    cfg.loglevel = int('v', 0, 10, 0) >= 4 ? 'debug' : 'info';
  }
  return cfg;
}

/** What kube-loxilb presents to the agents: the CA their certificates are checked against, and the token. */
export interface AgentAccess {
  ca?: Buffer;
  token?: string;
}

/**
 * Reads the files --loxiCACert and --loxiTokenFile name (after parsing, so
 * --help and flag errors never touch them). Errors name the flag (or YAML
 * key) and the path.
 */
export function loadAgentAccess(cfg: Pick<KubeLoxilbConfig, 'loxiCACert' | 'loxiTokenFile'>): AgentAccess {
  const out: AgentAccess = {};
  try {
    if (cfg.loxiCACert) out.ca = readPemFile(cfg.loxiCACert.path, cfg.loxiCACert.where, true);
    if (cfg.loxiTokenFile) out.token = readTokenFile(cfg.loxiTokenFile.path, cfg.loxiTokenFile.where);
  } catch (e) {
    if (e instanceof SecretFileError) throw err(e.message);
    throw e;
  }
  return out;
}

/** With --loxiDiscoverHTTPS, discovered agents are reached on their HTTPS listener (loxilb's --tls-port default, 8091) instead of http://<address>:11111. */
export function discoveredAgentUrls(cfg: Pick<KubeLoxilbConfig, 'loxiDiscoverHTTPS'>, agents: readonly DiscoveredAgent[]): readonly DiscoveredAgent[] {
  if (!cfg.loxiDiscoverHTTPS) return agents;
  return agents.map((a) => ({ ...a, url: agentOrigin(a.nodeAddress, { https: true }) }));
}

function parseUrls(text: string, where: string): string[] {
  const out: string[] = [];
  for (const part of text.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    let u: URL;
    try {
      u = new URL(t);
    } catch {
      throw err(`${where} must be http(s) URLs separated by commas, like http://10.0.0.1:11111 (got ${JSON.stringify(t)})`);
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') {
      throw err(`${where} must be http(s) URLs separated by commas, like http://10.0.0.1:11111 (got ${JSON.stringify(t)})`);
    }
    const url = t.replace(/\/+$/, '');
    if (!out.includes(url)) out.push(url);
  }
  return out;
}

function parseIpList(text: string, where: string, max: number): string[] {
  const out: string[] = [];
  for (const part of text.split(',')) {
    const t = part.trim().replace(/^\[(.*)\]$/, '$1');
    if (t === '') continue;
    const a = parseAddress(t);
    if (!a) throw err(`${where} must be IP addresses separated by commas (got ${JSON.stringify(part.trim())})`);
    const ip = formatAddress(a.family, a.value);
    if (!out.includes(ip)) out.push(ip);
  }
  if (out.length > max) throw err(`${where} takes at most ${max} addresses (got ${out.length})`);
  return out;
}

/**
 * `ip:asn` entries. An IPv6 peer must be written in brackets, `[fd00::1]:65001`:
 * splitting an unbracketed IPv6 address at its last colon would silently
 * turn a forgotten ASN into part of the address.
 */
export function parseExtBgpPeers(text: string, where = 'flag --extBGPPeers'): ExtBgpPeer[] {
  const out: ExtBgpPeer[] = [];
  for (const part of text.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    let ipText: string;
    let asnText: string;
    const m = /^\[([^\]]+)\]:([^:]*)$/.exec(t);
    if (m) {
      ipText = m[1]!;
      asnText = m[2]!;
    } else {
      const colons = t.split(':').length - 1;
      if (colons !== 1) {
        throw err(`${where}: "${t}" must be IP:ASN, with an IPv6 address in brackets ([2001:db8::1]:65001)`);
      }
      [ipText, asnText] = t.split(':') as [string, string];
    }
    const a = parseAddress(ipText);
    if (!a) throw err(`${where}: "${t}" does not start with an IP address`);
    if (!/^\d+$/.test(asnText) || Number(asnText) < 1 || Number(asnText) > UINT32_MAX) {
      throw err(`${where}: "${t}" needs an AS number from 1 to ${UINT32_MAX} after the colon`);
    }
    const ip = formatAddress(a.family, a.value);
    if (out.some((p) => p.ip === ip)) throw err(`${where}: peer ${ip} is listed twice`);
    out.push({ ip, asn: Number(asnText) });
  }
  return out;
}

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds from a bare number (ms) or a Go duration ("1m30s", "1.5s", "250ms"). */
export function parseDurationMs(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === 0 ? undefined : total;
}

function buildPools(raw: Map<string, RawValue>): Pick<KubeLoxilbConfig, 'v4Pools' | 'v6Pools' | 'secondaryPools'> {
  const list = (name: string, family: 4 | 6, unnamed: (i: number) => string, dflt?: string): PoolDef[] => {
    const v = raw.get(name);
    const text = v?.value ?? dflt ?? '';
    const r = parsePoolList(text, family, unnamed);
    if (!r.ok) throw err(`${v?.where ?? `flag --${name}`}: ${r.reason}`);
    return r.pools;
  };
  // --externalCIDR[6] defines defaultPool. It replaces the built-in default
  // pools; pools named in --cidrPools are kept unless one is also defaultPool.
  const family = (cidr: string, pools: string, family: 4 | 6, dflt: string): PoolDef[] => {
    const ext = raw.get(cidr);
    if (ext === undefined || ext.value.trim() === '') return list(pools, family, () => DEFAULT_POOL, dflt);
    const fromExt = list(cidr, family, () => DEFAULT_POOL);
    if (fromExt.some((p) => p.name !== DEFAULT_POOL)) throw err(`${ext.where} takes CIDRs or ranges without names (they form ${DEFAULT_POOL})`);
    const named = raw.has(pools) ? list(pools, family, () => DEFAULT_POOL) : [];
    if (named.some((p) => p.name === DEFAULT_POOL)) throw err(`${ext.where} and ${raw.get(pools)!.where} both define ${DEFAULT_POOL}; use one of them`);
    return [...fromExt, ...named];
  };
  const pools = {
    v4Pools: family('externalCIDR', 'cidrPools', 4, DEFAULT_CIDR_POOLS),
    v6Pools: family('externalCIDR6', 'cidr6Pools', 6, DEFAULT_CIDR6_POOLS),
    secondaryPools: list('externalSecondaryCIDRs', 4, (i) => `secondary${i}`),
  };
  try {
    new IpAllocator({ ...pools, mode: 'shared' });
  } catch (e) {
    if (e instanceof IpamConfigError) throw err(`pool flags (--externalCIDR, --cidrPools, --cidr6Pools, --externalSecondaryCIDRs): ${e.message}`);
    throw e;
  }
  return pools;
}
