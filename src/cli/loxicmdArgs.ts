// loxicmd's command line (reference §7): the global flags and the `get`
// resources with loxicmd's own aliases, so existing habits and scripts work.
import { parseArgs } from 'node:util';

export type LoxicmdResource = 'lb' | 'bgpneigh' | 'hastate' | 'bfd' | 'ct' | 'drain';
export type OutputFormat = 'table' | 'wide' | 'json';

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
  | { kind: 'setDrain'; on: boolean; timeoutSeconds?: number; options: LoxicmdOptions };

/** A command line we cannot run; the caller prints the usage text and exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

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
};

export const LOXICMD_USAGE = `Usage: loxicmd [flags] get <resource> [-o wide|json]
       loxicmd [flags] set drain on [--drainTimeout=<seconds>] | set drain off

Resources:
  lb        (loadbalancer, loadbalancers, lbs)  load-balancer rules
  bgpneigh  (bgpneighbor, bgpnei)               BGP neighbours and their sessions
  hastate   (ha, HAstate)                       HA state of each cluster instance
  bfd                                           BFD sessions and their state
  ct        (conntrack)                         connections the datapath tracks
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
  -o, --output <wide|json>    wide table, or the API's JSON
      --servName <name>       get lb: only rules with this name
      --drainTimeout <s>      set drain on: how long to wait at most (1-3600 s)
  -h, --help                  show this help
`;

export function parseLoxicmdArgs(argv: readonly string[]): LoxicmdCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
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
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };

  const [verb, name, ...extra] = positionals;
  if (verb === undefined) throw new UsageError('missing command');
  let setDrain: { on: boolean; timeoutSeconds?: number } | undefined;
  if (verb === 'set') {
    if (name !== 'drain') throw new UsageError(`set: unknown setting "${name ?? ''}": only "drain" is supported`);
    const [value, ...more] = extra;
    if (value !== 'on' && value !== 'off') throw new UsageError(`set drain: expected on or off, got "${value ?? ''}"`);
    if (more.length > 0) throw new UsageError(`unexpected argument "${more[0]}"`);
    setDrain = { on: value === 'on' };
    if (values.drainTimeout !== undefined) {
      const s = Number(values.drainTimeout);
      if (value === 'off') throw new UsageError('--drainTimeout is for "set drain on"');
      if (!/^[0-9]+$/.test(values.drainTimeout) || s < 1 || s > 3600) throw new UsageError(`--drainTimeout must be an integer from 1 to 3600 seconds, got "${values.drainTimeout}"`);
      setDrain.timeoutSeconds = s;
    }
  } else if (verb !== 'get') {
    throw new UsageError(`unknown command "${verb}": "get" and "set drain" are supported`);
  } else if (values.drainTimeout !== undefined) {
    throw new UsageError('--drainTimeout is for "set drain on"');
  }
  let resource: LoxicmdResource = 'drain';
  if (!setDrain) {
    if (name === undefined) throw new UsageError('get: missing resource (lb, bgpneigh, hastate, bfd, ct or drain)');
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
  if (values.output !== '' && values.output !== 'wide' && values.output !== 'json') {
    throw new UsageError(`--output must be wide or json, got "${values.output}"`);
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
    output: values.output === '' ? 'table' : values.output,
  };
  if (values.token !== undefined) options.token = values.token;
  if (values['token-file'] !== undefined) options.tokenFile = values['token-file'];
  if (values.cacert !== undefined) options.caCert = values.cacert;
  if (values.servName !== undefined) options.servName = values.servName;
  if (setDrain) return { kind: 'setDrain', ...setDrain, options };
  return { kind: 'get', resource, options };
}
