// Where a loxilb agent's REST API is: the origin (scheme, host, port) of an
// agent found by its node address, and the host an origin names. Spelled
// here, beside the paths, so no caller of the API builds a URL itself.
import { hostPort, normalizeIp } from '../util/ipAddress.ts';

/** loxilb's REST API port (plain HTTP). */
export const LOXILB_API_PORT = 11111;
/** loxilb's HTTPS port (its --tls-port's default). */
export const LOXILB_HTTPS_PORT = 8091;

/**
 * The API origin of the agent at `address` (a node address: agents run with
 * hostNetwork): `http://<address>:11111`, or `https://<address>:8091` with
 * `https`. The address is written canonically, an IPv6 literal in brackets.
 */
export function agentOrigin(address: string, opts: { https?: boolean; port?: number } = {}): string {
  const a = address.trim();
  const port = opts.port ?? (opts.https === true ? LOXILB_HTTPS_PORT : LOXILB_API_PORT);
  return `${opts.https === true ? 'https' : 'http'}://${hostPort(normalizeIp(a) ?? a, port)}`;
}

/** The host of an API origin or URL, canonical and without IPv6 brackets; undefined if it is not a URL. */
export function originHost(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return normalizeIp(bare) ?? bare;
}
