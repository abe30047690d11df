// API clients that reuse their connections to the API server.
//
// @kubernetes/client-node builds a new http(s).Agent for every request
// (KubeConfig.applySecurityAuthentication), so each call opens its own TCP
// connection, and against a real apiserver its own TLS handshake. A
// controller that writes status for a thousand Services in a burst pays
// that a thousand times. Here authentication still runs per request
// (tokens, exec plugins and client certificates are read as before), but the
// fresh agent is swapped for a keep-alive one shared by every client of the
// same KubeConfig with the same TLS settings. Proxy agents are left as they
// are.
import http from 'node:http';
import https from 'node:https';
import {
  ServerConfiguration,
  createConfiguration,
  type ApiConstructor,
  type ApiType,
  type KubeConfig,
  type RequestContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';

/** The agent options client-node sets from the kubeconfig; they decide which pooled agent fits. */
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

const pools = new WeakMap<KubeConfig, Map<string, http.Agent>>();

/** Like kc.makeApiClient(type), with pooled keep-alive connections. */
export function makeApiClient<T extends ApiType>(kc: KubeConfig, type: ApiConstructor<T>): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  const auth: SecurityAuthentication = {
    getName: () => 'kubeconfig-keepalive',
    applySecurityAuthentication: async (context: RequestContext) => {
      await kc.applySecurityAuthentication(context);
      const fresh = context.getAgent();
      const pooled = fresh && pooledAgent(kc, fresh);
      if (pooled) context.setAgent(pooled);
    },
  };
  return new type(createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: auth } }));
}

function pooledAgent(kc: KubeConfig, fresh: http.Agent | https.Agent): http.Agent | undefined {
  // Exactly the two classes client-node uses without a proxy; anything else is kept.
  const kind = fresh.constructor === https.Agent ? 'https' : fresh.constructor === http.Agent ? 'http' : undefined;
  if (!kind) return undefined;
  const options = (fresh as http.Agent & { options?: Record<string, unknown> }).options ?? {};
  const key = JSON.stringify([kind, ...TLS_FIELDS.map((f) => keyPart(options[f]))]);
  let byKey = pools.get(kc);
  if (!byKey) pools.set(kc, (byKey = new Map()));
  let agent = byKey.get(key);
  if (!agent) {
    const picked = Object.fromEntries(TLS_FIELDS.filter((f) => options[f] !== undefined).map((f) => [f, options[f]]));
    agent = kind === 'https' ? new https.Agent({ ...picked, keepAlive: true }) : new http.Agent({ keepAlive: true });
    byKey.set(key, agent);
  }
  fresh.destroy();
  return agent;
}

function keyPart(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.map(keyPart);
  return v ?? null;
}
