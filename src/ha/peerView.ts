// How an HA node learns its peer's view: the peer's own REST API
// (GET /netlox/v1/config/cistate/all), which carries state, priority and
// synced per instance. And which local address faces a peer: the kernel's
// choice for a UDP socket connected to it, the address BFD sends from.
import http from 'node:http';
import dgram from 'node:dgram';
import { CI_STATES, type CiStateName } from './ClusterState.ts';
import type { PeerRoleView } from './HaManager.ts';
import { HA_DEFAULT_PRIORITY } from './HaManager.ts';
import { API_BASE_PATH } from '../api/basePath.ts';

export function fetchPeerView(remoteIp: string, port: number, instance: string, timeoutMs = 500): Promise<PeerRoleView | undefined> {
  const host = remoteIp.includes(':') ? `[${remoteIp}]` : remoteIp;
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${host}:${port}${API_BASE_PATH}/config/cistate/all`, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode} from ${host}:${port}`));
        try {
          resolve(parsePeerView(JSON.parse(body), instance));
        } catch (err) {
          reject(new Error(`unreadable cistate from ${host}:${port}: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
    req.on('error', reject);
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
  return { state: state as CiStateName, priority, synced };
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
