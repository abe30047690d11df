// Entry point of kube-loxilb, the Kubernetes controller. Every replica keeps
// its informer caches warm; only the Lease holder runs the agent pool
// (health, roles, BGP mesh) and the ServiceController (IPAM, status,
// rules), so two replicas never program agents against each other. Losing
// the Lease stops both; winning it again starts fresh ones, which rebuild
// IPAM from Service status.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { KUBE_LOXILB_USAGE, KubeLoxilbFlagError, discoveredAgentUrls, loadAgentAccess, parseKubeLoxilbFlags, type AgentAccess, type KubeLoxilbConfig } from './kubeLoxilbFlags.ts';
import { createLogger, type Logger } from '../util/logger.ts';
import { KubeWatch, errorText, type DiscoveredAgent } from '../kube/KubeWatch.ts';
import { LeaderElector } from '../kube/LeaderElector.ts';
import { ServiceController } from '../kube/ServiceController.ts';
import { EventRecorder } from '../kube/EventRecorder.ts';
import { LoxiAgentPool } from '../kube/LoxiAgentPool.ts';
import type { AgentPool } from '../kube/agentPool.ts';
import { startMetricsServer } from '../kube/kubeMetrics.ts';

/** Stops and exits with 1 if a graceful stop takes longer than this. */
const SHUTDOWN_GRACE_MS = 10_000;

/** The agent side, with the one extra the CLI needs: feeding discovery. */
interface ManagedPool extends AgentPool {
  setDiscovered(agents: readonly DiscoveredAgent[]): void;
}

function createAgentPool(cfg: KubeLoxilbConfig, access: AgentAccess, log: Logger): ManagedPool {
  return new LoxiAgentPool({ config: cfg, logger: log, access }).start();
}


/** --kubeconfig, else $KUBECONFIG, else the in-cluster service account, else ~/.kube/config. */
function loadKubeConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else if (env.KUBECONFIG) kc.loadFromDefault();
  else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no cluster in the kubeconfig (use --kubeconfig, KUBECONFIG, or run in a pod)');
  return kc;
}

async function main(): Promise<void> {
  let cfg: KubeLoxilbConfig;
  try {
    cfg = parseKubeLoxilbFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof KubeLoxilbFlagError) {
      process.stderr.write(`kube-loxilb: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (cfg.help) {
    process.stdout.write(KUBE_LOXILB_USAGE);
    return;
  }
  let access: AgentAccess;
  try {
    access = loadAgentAccess(cfg);
  } catch (err) {
    if (err instanceof KubeLoxilbFlagError) {
      process.stderr.write(`kube-loxilb: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(cfg.loglevel, 'kube-loxilb');
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(cfg.kubeconfig);
  } catch (err) {
    log.fatal({ err: errorText(err) }, 'cannot load a kubeconfig');
    process.exit(1);
  }
  // The Deployment passes these through the downward API.
  const identity = process.env.POD_NAME || `${os.hostname()}_${randomBytes(4).toString('hex')}`;
  const leaseNamespace = process.env.POD_NAMESPACE || 'kube-system';
  log.info(
    {
      identity,
      server: kc.getCurrentCluster()?.server,
      agents: cfg.loxiURLs.length > 0 ? cfg.loxiURLs : cfg.loxiDiscoverHTTPS ? 'discovered (https)' : 'discovered',
      class: cfg.loadBalancerClass,
      agentToken: access.token !== undefined,
      agentCa: access.ca !== undefined ? 'loxiCACert' : 'system',
    },
    'kube-loxilb starting',
  );

  const watch = new KubeWatch(kc, { log: log.child({ part: 'KubeWatch' }) });
  const events = new EventRecorder(kc, { instance: identity, log });
  const elector = new LeaderElector(kc, { identity, namespace: leaseNamespace, log: log.child({ part: 'LeaderElector' }) });

  let active: { pool: ManagedPool; controller: ServiceController; feed: (a: readonly DiscoveredAgent[]) => void } | undefined;
  // Leadership can flip while a previous stop is still running; run them in order.
  let transitions: Promise<void> = Promise.resolve();
  let stopping = false;
  let leaderTransitions = 0;
  elector.on('startedLeading', () => leaderTransitions++);
  elector.on('stoppedLeading', () => leaderTransitions++);
  const lead = () => {
    if (stopping) return;
    const pool = createAgentPool(cfg, access, log);
    const feed = (agents: readonly DiscoveredAgent[]) => pool.setDiscovered(discoveredAgentUrls(cfg, agents));
    // The pool decides what discovery adds: with --loxiURL it takes only peer agents.
    feed(watch.discoveredAgents());
    watch.on('agents', feed);
    const controller = new ServiceController({ config: cfg, kubeConfig: kc, cluster: watch, pool, events, log });
    controller.start();
    active = { pool, controller, feed };
  };
  const follow = async () => {
    const a = active;
    active = undefined;
    if (!a) return;
    watch.off('agents', a.feed);
    await a.controller.stop();
    await a.pool.close();
  };
  elector.on('startedLeading', () => {
    transitions = transitions.then(lead, lead);
  });
  elector.on('stoppedLeading', () => {
    transitions = transitions.then(follow, follow);
  });
  elector.on('newLeader', (who) => {
    if (who !== identity) log.info({ leader: who }, 'following');
  });

  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping');
    setTimeout(() => {
      log.error('graceful stop took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    (async () => {
      // Stop programming first, then hand the Lease over, then the caches.
      await transitions;
      await follow();
      await elector.stop();
      await transitions;
      await watch.stop();
    })().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorText(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  if (cfg.metricsAddr) {
    try {
      await startMetricsServer(
        cfg.metricsAddr,
        () => ({
          leader: elector.isLeader(),
          leaderTransitions,
          ...(active ? { controller: active.controller.metrics(), agents: active.pool.agents() } : {}),
        }),
        log.child({ part: 'metrics' }),
      );
      log.info({ address: `${cfg.metricsAddr.host}:${cfg.metricsAddr.port}` }, 'serving /metrics');
    } catch (err) {
      log.fatal({ err: errorText(err), address: `${cfg.metricsAddr.host}:${cfg.metricsAddr.port}` }, 'cannot listen for --metricsAddr');
      process.exit(1);
    }
  }

  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  watch.start();
  elector.start();
}

void main();
