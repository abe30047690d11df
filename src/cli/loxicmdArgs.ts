// loxicmd's command line (reference §7): the global flags, the `get`
// resources with loxicmd's own aliases, and the create/delete/set/save/apply
// commands each module in loxicmd/ declares, so existing habits and scripts work.
import { parseArgs } from 'node:util';
import { Flags, UsageError, type CommandContext, type FlagType, type OutputFormat } from './loxicmd/command.ts';
import { COMMANDS, findCommand } from './loxicmd/registry.ts';

export type LoxicmdResource = 'lb' | 'bgpneigh' | 'hastate' | 'bfd' | 'ct' | 'drain' | 'ep' | 'loglevel';
export type { OutputFormat };

export interface LoxicmdOptions {
  apiserver: string;
  port: number;
  timeoutSeconds: number;
  protocol: 'http' | 'https';
  output: OutputFormat;
  token?: string;
  /** --token-file: the token is read from this file and sent as `Bearer <token>`. */
  tokenFile?: string;
  /** --cacert: CA bundle (PEM) the agent's HTTPS certificate is checked against. */
  caCert?: string;
  servName?: string;
}

export type LoxicmdCommand =
  | { kind: 'help' }
  | { kind: 'get'; resource: LoxicmdResource; options: LoxicmdOptions }
  /** Our extension: `set drain on [--drainTimeout=S]` / `set drain off` (POST / DELETE config/drain). */
  | { kind: 'setDrain'; on: boolean; timeoutSeconds?: number; options: LoxicmdOptions }
  /** create / delete / set / save / apply: checked already, ready to run. */
  | { kind: 'run'; command: string; run: (ctx: CommandContext) => Promise<number>; options: LoxicmdOptions };

export { UsageError };

const RESOURCE_ALIASES: Record<string, LoxicmdResource> = {
  lb: 'lb',
  loadbalancer: 'lb',
  loadbalancers: 'lb',
  lbs: 'lb',
  bgpneigh: 'bgpneigh',
  bgpneighbor: 'bgpneigh',
  bgpnei: 'bgpneigh',
  hastate: 'hastate',
  ha: 'hastate',
  HAstate: 'hastate',
  bfd: 'bfd',
  ct: 'ct',
  conntrack: 'ct',
  drain: 'drain',
  ep: 'ep',
  endpoint: 'ep',
  endpoints: 'ep',
  'log-level': 'loglevel',
  loglevel: 'loglevel',
};

const commandLines = (verb: string) =>
  COMMANDS.filter((c) => c.verb === verb).map((c) => `       loxicmd [flags] ${c.usage}`).join('\n');

export const LOXICMD_USAGE = `Usage: loxicmd [flags] get <resource> [-o wide|json|yaml]
       loxicmd [flags] set drain on [--drainTimeout=<seconds>] | set drain off
${['create', 'delete', 'set', 'save', 'apply'].map(commandLines).join('\n')}

Resources of get:
  lb        (loadbalancer, loadbalancers, lbs)  load-balancer rules
  bgpneigh  (bgpneighbor, bgpnei)               BGP neighbours and their sessions
  hastate   (ha, HAstate)                       HA state of each cluster instance
  bfd                                           BFD sessions and their state
  ct        (conntrack)                         connections the datapath tracks
  ep        (endpoint, endpoints)               endpoint liveness probes
  log-level (loglevel)                          the agent's log level
  drain                                         whether this HA node is drained (our extension)

set drain on   hands this node's HA role to its peer and waits (the agent's --drain-timeout,
               or --drainTimeout) until the peer serves and the traffic has moved; the node
               stays out of the election, for maintenance, until "set drain off"

Flags:
  -s, --apiserver <address>   loxilb API server address (default 127.0.0.1)
  -p, --port <port>           loxilb API server port (default 11111)
  -t, --timeout <seconds>     request timeout in seconds (default 10)
      --protocol <http|https> API protocol (default http)
      --token <token>         sent as the Authorization header, as given
      --token-file <file>     the agent's API token (its --api-token-file) is read from this
                              file and sent as "Authorization: Bearer <token>"
      --cacert <file>         with --protocol https: the CA bundle (PEM) the agent's
                              certificate is checked against (default: the system's CAs)
  -o, --output <wide|json|yaml>  wide table, or the API's JSON or YAML
      --servName <name>       get lb: only rules with this name
      --drainTimeout <s>      set drain on: how long to wait at most (1-3600 s)
  -h, --help                  show this help
`;

const GLOBAL_OPTIONS = {
  apiserver: { type: 'string', short: 's', default: '127.0.0.1' },
  port: { type: 'string', short: 'p', default: '11111' },
  timeout: { type: 'string', short: 't', default: '10' },
  protocol: { type: 'string', default: 'http' },
  output: { type: 'string', short: 'o', default: '' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  cacert: { type: 'string' },
  servName: { type: 'string' },
  drainTimeout: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
const GLOBAL_NAMES = new Set(Object.keys(GLOBAL_OPTIONS));
/** Global flags that take a value: skipped when looking for the verb. */
const VALUE_FLAGS = new Set(['-s', '--apiserver', '-p', '--port', '-t', '--timeout', '--protocol', '-o', '--output', '--token', '--token-file', '--cacert', '--servName', '--drainTimeout']);

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean };

function optionOf(t: FlagType): OptionSpec {
  return t === 'boolean' ? { type: 'boolean' } : t === 'list' || t === 'repeat' ? { type: 'string', multiple: true } : { type: 'string' };
}

/** Every command's flags, the verb's own last so its type wins where two verbs share a name (save -l vs apply -l). */
function optionsFor(verb: string | undefined): Record<string, OptionSpec> {
  const opts: Record<string, OptionSpec> = {};
  const specs = [...COMMANDS.filter((c) => c.verb !== verb), ...COMMANDS.filter((c) => c.verb === verb)];
  for (const c of specs) {
    for (const [name, t] of Object.entries(c.flags)) opts[name] = optionOf(t);
  }
  for (const c of COMMANDS.filter((x) => x.verb === verb)) {
    for (const [letter, name] of Object.entries(c.short ?? {})) opts[name] = { ...opts[name]!, short: letter };
  }
  return { ...opts, ...(GLOBAL_OPTIONS as Record<string, OptionSpec>) };
}

function findVerb(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1];
    if (!a.startsWith('-') || a === '-') return a;
    if (VALUE_FLAGS.has(a)) i++;
  }
  return undefined;
}

/** cobra takes `--bgp=true` / `--bgp=false` for a boolean flag; node's parser takes only `--bgp`. */
function spellBooleans(argv: readonly string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m || options[m[1]!]?.type !== 'boolean') {
      out.push(a);
      continue;
    }
    const v = m[2]!.toLowerCase();
    if (v === 'true' || v === '1') out.push(`--${m[1]}`);
    else if (v !== 'false' && v !== '0') throw new UsageError(`--${m[1]} is a switch: give it alone, or as --${m[1]}=true or --${m[1]}=false, got "${m[2]}"`);
  }
  return out;
}

export function parseLoxicmdArgs(argv: readonly string[]): LoxicmdCommand {
  let parsed;
  const optionSpecs = optionsFor(findVerb(argv));
  try {
    parsed = parseArgs({ args: spellBooleans(argv, optionSpecs), allowPositionals: true, strict: true, options: optionSpecs as never });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined> & {
    apiserver: string; port: string; timeout: string; protocol: string; output: string; help: boolean;
    token?: string; 'token-file'?: string; cacert?: string; servName?: string; drainTimeout?: string;
  };
  const { positionals } = parsed;
  if (values.help) return { kind: 'help' };

  const [verb, name, ...extra] = positionals;
  if (verb === undefined) throw new UsageError('missing command');
  const commandFlags = Object.keys(values).filter((k) => !GLOBAL_NAMES.has(k) && values[k] !== undefined);
  if (values.servName !== undefined && verb !== 'get') throw new UsageError('--servName is for "get lb"');
  let setDrain: { on: boolean; timeoutSeconds?: number } | undefined;
  let run: { command: string; run: (ctx: CommandContext) => Promise<number> } | undefined;
  if (verb === 'set' && name === 'drain') {
    const [value, ...more] = extra;
    if (value !== 'on' && value !== 'off') throw new UsageError(`set drain: expected on or off, got "${value ?? ''}"`);
    if (more.length > 0) throw new UsageError(`unexpected argument "${more[0]}"`);
    if (commandFlags.length > 0) throw new UsageError(`--${commandFlags[0]} is not a flag of "set drain"`);
    setDrain = { on: value === 'on' };
    if (values.drainTimeout !== undefined) {
      const s = Number(values.drainTimeout);
      if (value === 'off') throw new UsageError('--drainTimeout is for "set drain on"');
      if (!/^[0-9]+$/.test(values.drainTimeout) || s < 1 || s > 3600) throw new UsageError(`--drainTimeout must be an integer from 1 to 3600 seconds, got "${values.drainTimeout}"`);
      setDrain.timeoutSeconds = s;
    }
  } else if (values.drainTimeout !== undefined) {
    throw new UsageError('--drainTimeout is for "set drain on"');
  } else if (verb === 'create' || verb === 'delete' || verb === 'set' || verb === 'save' || verb === 'apply') {
    const resourceless = verb === 'save' || verb === 'apply';
    const spec = findCommand(verb, resourceless ? '' : (name ?? ''));
    const known = COMMANDS.filter((c) => c.verb === verb).map((c) => c.names[0]).join(', ');
    if (spec === undefined) {
      if (name === undefined) throw new UsageError(`${verb}: missing resource (${verb === 'set' ? 'drain, ' : ''}${known})`);
      throw new UsageError(`${verb}: unknown resource "${name}": one of ${verb === 'set' ? 'drain, ' : ''}${known}`);
    }
    const command = resourceless ? verb : `${verb} ${spec.names[0]}`;
    const foreign = commandFlags.find((k) => !Object.hasOwn(spec.flags, k));
    if (foreign !== undefined) {
      const own = Object.keys(spec.flags).map((k) => `--${k}`).join(', ');
      throw new UsageError(`--${foreign} is not a flag of "${command}"${own === '' ? '' : `: its flags are ${own}`}`);
    }
    const flags = new Flags(command, Object.fromEntries(commandFlags.map((k) => [k, values[k]])));
    run = { command, run: spec.prepare(resourceless ? positionals.slice(1) : extra, flags) };
  } else if (verb !== 'get') {
    throw new UsageError(`unknown command "${verb}": get, create, delete, set, save or apply`);
  } else if (commandFlags.length > 0) {
    throw new UsageError(`--${commandFlags[0]} is not a flag of "get"`);
  }
  let resource: LoxicmdResource = 'drain';
  if (verb === 'get') {
    if (name === undefined) throw new UsageError('get: missing resource (lb, bgpneigh, hastate, bfd, ct, ep, log-level or drain)');
    const r = RESOURCE_ALIASES[name];
    if (r === undefined || !Object.hasOwn(RESOURCE_ALIASES, name)) throw new UsageError(`get: unknown resource "${name}"`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    resource = r;
  }

  const port = Number(values.port);
  if (!/^[0-9]+$/.test(values.port) || port < 1 || port > 65535) throw new UsageError(`--port must be an integer from 1 to 65535, got "${values.port}"`);
  const timeoutSeconds = Number(values.timeout);
  if (values.timeout.trim() === '' || !Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
  }
  if (values.protocol !== 'http' && values.protocol !== 'https') throw new UsageError(`--protocol must be http or https, got "${values.protocol}"`);
  if (values.output !== '' && values.output !== 'wide' && values.output !== 'json' && values.output !== 'yaml') {
    throw new UsageError(`--output must be wide, json or yaml, got "${values.output}"`);
  }
  if (values.apiserver === '') throw new UsageError('--apiserver must not be empty');
  if (values.token !== undefined && values['token-file'] !== undefined) throw new UsageError('--token and --token-file cannot be used together: give one');
  if (values['token-file'] === '') throw new UsageError('--token-file needs a file path');
  if (values.cacert === '') throw new UsageError('--cacert needs a file path');
  if (values.cacert !== undefined && values.protocol !== 'https') throw new UsageError('--cacert is for HTTPS: add --protocol https (and the agent\'s --tls-port, default 8091, as --port)');

  const options: LoxicmdOptions = {
    apiserver: values.apiserver,
    port,
    timeoutSeconds,
    protocol: values.protocol,
    output: values.output === '' ? 'table' : (values.output as OutputFormat),
  };
  if (values.token !== undefined) options.token = values.token;
  if (values['token-file'] !== undefined) options.tokenFile = values['token-file'];
  if (values.cacert !== undefined) options.caCert = values.cacert;
  if (values.servName !== undefined) options.servName = values.servName;
  if (setDrain) return { kind: 'setDrain', ...setDrain, options };
  if (run) return { kind: 'run', ...run, options };
  return { kind: 'get', resource, options };
}
