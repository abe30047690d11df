// Paths of loxilb's REST API that carry a key (reference §2), below the base
// path, spelled once: LoxiApiClient and kube-loxilb's LoxiClient make their
// requests of them; planners hand over typed keys, never paths.
import { API_BASE_PATH } from '../api/basePath.ts';
import type { LbDeleteKey } from './models.ts';

export { API_BASE_PATH };

/** Fixed paths below the base path. */
export const API_PATHS = {
  version: '/version',
  status: '/status',
  params: '/config/params',
  lbRule: '/config/loadbalancer',
  lbRulesAll: '/config/loadbalancer/all',
  ciState: '/config/cistate',
  ciStatesAll: '/config/cistate/all',
  bfdSession: '/config/bfd',
  bfdSessionsAll: '/config/bfd/all',
  bgpGlobal: '/config/bgp/global',
  bgpNeighbor: '/config/bgp/neigh',
  bgpNeighborsAll: '/config/bgp/neigh/all',
  endpoint: '/config/endpoint',
  endpointsAll: '/config/endpoint/all',
  conntrackAll: '/config/conntrack/all',
  drain: '/config/drain',
} as const;

function seg(s: string | number): string {
  return encodeURIComponent(String(s));
}

function query(q: Record<string, string | number | boolean | undefined>): string {
  const kept = Object.entries(q).filter(([, v]) => v !== undefined && v !== '');
  return kept.length === 0 ? '' : `?${new URLSearchParams(kept.map(([k, v]) => [k, String(v)])).toString()}`;
}

/** DELETE /config/loadbalancer/[hosturl/H/]externalipaddress/IP/port/P[/portmax/Q]/protocol/PROTO?bgp=&block= */
export function lbRuleDeletePath(k: LbDeleteKey): string {
  const range = k.portMax !== undefined && k.portMax > k.port ? `/portmax/${k.portMax}` : '';
  const host = k.host !== undefined && k.host !== '' ? `/hosturl/${seg(k.host)}` : '';
  return `/config/loadbalancer${host}/externalipaddress/${seg(k.externalIP)}/port/${k.port}${range}/protocol/${seg(k.protocol)}${query({ bgp: k.bgp === true, block: k.block ?? 0 })}`;
}

/** DELETE /config/bgp/neigh/IP?remoteAs=AS (loxilb dereferences remoteAs on delete, so it is always sent). */
export function bgpNeighborDeletePath(ip: string, remoteAs: number): string {
  return `/config/bgp/neigh/${seg(ip)}${query({ remoteAs })}`;
}

export function lbRuleByNamePath(name: string): string {
  return `/config/loadbalancer/name/${seg(name)}`;
}

export function bfdSessionDeletePath(remoteIp: string, instance?: string): string {
  return `/config/bfd/remoteIP/${seg(remoteIp)}${query({ instance })}`;
}

export function endpointDeletePath(ip: string, q: { name?: string; probeType?: string; probePort?: number }): string {
  return `/config/endpoint/epipaddress/${seg(ip)}${query({ name: q.name, probe_type: q.probeType, probe_port: q.probePort })}`;
}

export function withQuery(path: string, q: Record<string, string | number | boolean | undefined>): string {
  return path + query(q);
}
