// How an HA node learns its peer's view: the peer's own REST API
// (GET /config/cistate/all through the one REST client), which carries state, priority and
// synced per instance. And which local address faces a peer: the kernel's
// choice for a UDP socket connected to it, the address BFD sends from.
import dgram from 'node:dgram';
import { CI_STATES, type CiStateName } from './ClusterState.ts';
import type { PeerRoleView } from './HaManager.ts';
import { HA_DEFAULT_PRIORITY } from './HaManager.ts';
import { LoxiApiClient, LoxiTransportError, apiOrigin } from '../apiclient/LoxiApiClient.ts';
import { API_PATHS } from '../apiclient/paths.ts';

/**
 * How to reach a peer's API when it is secured: the token it requires
 * (--api-token-file, the same on every node) and, with --tls and
 * --peer-api-ca, HTTPS on its --tls-port with its certificate checked
 * against that CA (the certificate must name the peer's IP address).
 */
export interface PeerApiAccess {
  token?: string;
  https?: { port: number; ca: Buffer };
}

export async function fetchPeerView(remoteIp: string, port: number, instance: string, timeoutMs = 500, access: PeerApiAccess = {}): Promise<PeerRoleView | undefined> {
  const where = access.https ? apiOrigin('https', remoteIp, access.https.port) : apiOrigin('http', remoteIp, port);
  // One call per poll, so no pooled connection is left behind between polls.
  const client = new LoxiApiClient({
    origin: where,
    timeoutMs,
    keepAlive: false,
    ...(access.token !== undefined ? { authorization: `Bearer ${access.token}` } : {}),
    ...(access.https ? { ca: access.https.ca } : {}),
  });
  let answer;
  try {
    answer = await client.send('GET', API_PATHS.ciStatesAll);
  } catch (err) {
    if (err instanceof LoxiTransportError) throw new Error(`${where}: ${err.reason}`);
    throw err;
  } finally {
    client.close();
  }
  if (answer.status === 401) throw new Error(`HTTP 401 from ${where}: the peer wants another API token (--api-token-file must hold the same token on every node)`);
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status} from ${where}`);
  try {
    if (answer.body === undefined) throw new Error('not JSON');
    return parsePeerView(answer.body, instance);
  } catch (err) {
    throw new Error(`unreadable cistate from ${where}: ${(err as Error).message}`);
  }
}

/** The instance's entry of a cistate/all body; undefined if the peer has no such instance. */
export function parsePeerView(body: unknown, instance: string): PeerRoleView | undefined {
  const attr = (body as { Attr?: unknown })?.Attr;
  if (!Array.isArray(attr)) throw new Error('no Attr list');
  const e = attr.find((x) => (x as { instance?: unknown })?.instance === instance) as Record<string, unknown> | undefined;
  if (!e) return undefined;
  const state = e.state;
  if (typeof state !== 'string' || !(CI_STATES as readonly string[]).includes(state)) throw new Error(`bad state ${JSON.stringify(state)}`);
  const priority = typeof e.priority === 'number' && Number.isInteger(e.priority) ? e.priority : HA_DEFAULT_PRIORITY;
  // A peer that does not report sync (loxilb itself) counts as synced.
  const synced = typeof e.synced === 'boolean' ? e.synced : true;
  return {
    state: state as CiStateName,
    priority,
    synced,
    ...(e.draining === true ? { draining: true } : {}),
    ...(typeof e.serving === 'boolean' ? { serving: e.serving } : {}),
  };
}

/** The source address the kernel picks towards remoteIp. */
export function localAddressTowards(remoteIp: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(remoteIp.includes(':') ? 'udp6' : 'udp4');
    s.once('error', (err) => {
      s.close();
      reject(err);
    });
    s.connect(3784, remoteIp, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}
