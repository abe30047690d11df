// kube-loxilb's /metrics (--metricsAddr): leader state, and while this
// replica leads, IPAM pool usage and exhaustion, Services by state,
// allocation failures, programming errors per agent, agents by kind and
// liveness, and the controller's pass durations. Rendering is pure (a
// snapshot in, exposition text out); the server answers GET /metrics only,
// with a connection cap and short timeouts, since it is an unauthenticated
// listener.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Exposition, METRICS_CONTENT_TYPE, type Labels } from '../util/exposition.ts';
import type { ControllerMetrics } from './ServiceController.ts';
import type { AgentInfo } from './agentPool.ts';
import type { Logger } from '../util/logger.ts';

export interface KubeMetricsSnapshot {
  leader: boolean;
  /** Times this replica started or stopped leading. */
  leaderTransitions: number;
  /** The controller's view; undefined while this replica does not lead (it runs no controller then). */
  controller?: ControllerMetrics;
  agents?: readonly AgentInfo[];
}

export function renderKubeMetrics(s: KubeMetricsSnapshot): string {
  const e = new Exposition();
  e.one('kube_loxilb_leader', 'gauge', '1 while this replica holds the Lease and programs the agents.', s.leader ? 1 : 0);
  e.one('kube_loxilb_leader_transitions_total', 'counter', 'Times this replica started or stopped leading.', s.leaderTransitions);
  const c = s.controller;
  if (c) {
    const pool = (p: ControllerMetrics['pools'][number]): Labels => ({ pool: p.name, kind: p.kind });
    e.family('kube_loxilb_ipam_pool_size', 'gauge', 'Addresses in each IPAM pool.', c.pools.map((p) => [pool(p), p.size]));
    e.family('kube_loxilb_ipam_pool_in_use', 'gauge', 'Addresses of each IPAM pool held by at least one Service.', c.pools.map((p) => [pool(p), p.inUse]));
    e.family('kube_loxilb_ipam_pool_exhausted', 'gauge', '1 when every address of the pool is held (a shared pool may still place a Service on other ports).', c.pools.map((p) => [pool(p), p.inUse >= p.size ? 1 : 0]));
    e.family(
      'kube_loxilb_ipam_allocation_failures_total',
      'counter',
      'Address allocations that failed, by pool and cause (exhausted, unknown-pool, conflict, invalid-request); a pending Service is retried every pass.',
      c.ipamFailures.map((f) => [{ pool: f.pool, reason: f.code }, f.count]),
    );
    e.family(
      'kube_loxilb_services',
      'gauge',
      'Services of the loadBalancerClass by state: programmed, not_programmed (RuleNotInstalled / ProgrammingFailed), pending_ip (no address), invalid (annotations).',
      Object.entries(c.services).map(([state, n]) => [{ state }, n]),
    );
    e.family('kube_loxilb_programming_errors_total', 'counter', 'Rules an agent refused and rule syncs that failed, by agent.', c.programmingErrors.map((p) => [{ agent: p.agent }, p.count]));
    e.histogram('kube_loxilb_reconcile_duration_seconds', 'Duration of the Service controller passes (IPAM, status, agent programming).', [[{}, c.passDurations]]);
  }
  if (s.agents) {
    const by = new Map<string, number>();
    for (const a of s.agents) by.set(`${a.kind}|${a.alive ? 1 : 0}`, (by.get(`${a.kind}|${a.alive ? 1 : 0}`) ?? 0) + 1);
    const samples: [Labels, number][] = [];
    for (const kind of ['lb', 'peer']) for (const alive of [1, 0]) samples.push([{ kind, alive: String(alive) }, by.get(`${kind}|${alive}`) ?? 0]);
    e.family('kube_loxilb_agents', 'gauge', 'loxilb agents known to the controller, by kind (lb, peer) and whether their health check passes.', samples);
  }
  return e.text();
}

/** Parses --metricsAddr: host:port, [v6]:port or :port (every address); undefined with a reason when invalid. */
export function parseListenAddress(text: string): { host: string; port: number } | { error: string } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) return { error: `must be host:port, [ipv6]:port or :port with a port from 1 to 65535 (got ${JSON.stringify(text)})` };
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

const MAX_CONNECTIONS = 32;

/** Serves GET /metrics; resolves once listening (rejects if the address cannot be bound). */
export async function startMetricsServer(addr: { host: string; port: number }, snapshot: () => KubeMetricsSnapshot, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    let body: string;
    try {
      body = renderKubeMetrics(snapshot());
    } catch (err) {
      log.error({ err: (err as Error).message }, 'cannot render /metrics');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      return;
    }
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : body);
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: err.message }, 'metrics server error'));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
