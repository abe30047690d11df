// How an HA node learns its peer's view: the peer's own REST API
// (GET /netlox/v1/config/cistate/all), which carries state, priority and
// synced per instance. And which local address faces a peer: the kernel's
// choice for a UDP socket connected to it, the address BFD sends from.
import http from 'node:http';
import https from 'node:https';
import dgram from 'node:dgram';
import { CI_STATES, type CiStateName } from './ClusterState.ts';
import type { PeerRoleView } from './HaManager.ts';
import { HA_DEFAULT_PRIORITY } from './HaManager.ts';
import { API_BASE_PATH } from '../api/basePath.ts';

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

export function fetchPeerView(remoteIp: string, port: number, instance: string, timeoutMs = 500, access: PeerApiAccess = {}): Promise<PeerRoleView | undefined> {
  const host = remoteIp.includes(':') ? `[${remoteIp}]` : remoteIp;
  const scheme = access.https ? 'https' : 'http';
  const at = access.https ? access.https.port : port;
  const where = `${scheme}://${host}:${at}`;
  const headers: http.OutgoingHttpHeaders = access.token === undefined ? {} : { Authorization: `Bearer ${access.token}` };
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 401) return reject(new Error(`HTTP 401 from ${where}: the peer wants another API token (--api-token-file must hold the same token on every node)`));
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode} from ${where}`));
        try {
          resolve(parsePeerView(JSON.parse(body), instance));
        } catch (err) {
          reject(new Error(`unreadable cistate from ${where}: ${(err as Error).message}`));
        }
      });
    };
    const url = `${where}${API_BASE_PATH}/config/cistate/all`;
    const req = access.https
      ? https.get(url, { timeout: timeoutMs, headers, ca: access.https.ca, minVersion: 'TLSv1.2' }, onResponse)
      : http.get(url, { timeout: timeoutMs, headers }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${where} within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(access.https ? new Error(`${where}: ${err.message}`) : err));
  });
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
