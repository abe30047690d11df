// Entry point of the loxilb node agent.
import { readFileSync } from 'node:fs';
import { Agent, DEFAULT_PEER_TIMERS, VERSION } from '../agent/Agent.ts';
import { FlagError, USAGE, isLoopbackApi, loadApiSecurity, parseLoxilbFlags, type ApiSecurityMaterial } from './loxilbFlags.ts';
import { createLogger } from '../util/logger.ts';
import { processFaults } from '../util/faults.ts';

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseLoxilbFlags(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`loxilb: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (flags.version) {
    process.stdout.write(`loxilb-ts ${VERSION}\n`);
    return;
  }
  // Certificate, key, token and peer CA are read before anything starts: a bad file stops the agent here, naming the flag and the path.
  let security: ApiSecurityMaterial;
  try {
    security = loadApiSecurity(flags);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`loxilb: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(flags.loglevel);
  for (const line of flags.notInEffect) log.warn(`flag not in effect in loxilb-ts: ${line}`);
  if (flags.bgp && !isLoopbackApi(flags.gobgpApi)) {
    log.warn({ api: flags.gobgpApi }, 'gobgpd API is not on loopback: anyone who reaches it can change routing');
  }
  const agent = new Agent(
    {
      bgp: flags.bgp,
      peer: flags.peer,
      prometheus: flags.prometheus,
      host: flags.host,
      port: flags.port,
      configPath: flags.configPath,
      gobgpApi: flags.gobgpApi,
      gobgpBin: flags.gobgpBin,
      gobgpLogLevel: flags.loglevel === 'debug' || flags.loglevel === 'trace' ? 'debug' : 'info',
      peerTimers: DEFAULT_PEER_TIMERS,
      kernelRoutes: flags.bgp,
      ha: {
        ka: flags.ka,
        cluster: flags.cluster,
        self: flags.self,
        priority: flags.haPriority,
        preempt: flags.haPreempt,
        hook: flags.haHook,
        initWaitMs: flags.haInitWaitMs,
        drainTimeoutMs: flags.drainTimeoutMs,
        sync: {
          udp: flags.syncUdp,
          tls: flags.syncTls && {
            ca: readFileSync(flags.syncTls.ca),
            cert: readFileSync(flags.syncTls.cert),
            key: readFileSync(flags.syncTls.key),
          },
        },
      },
      datapath: { whitelist: flags.whitelist, blacklist: flags.blacklist, egressHooks: flags.egrHooks, ...(flags.ctMax ? { ctMax: flags.ctMax } : {}), ...(flags.maxRules ? { maxRules: flags.maxRules } : {}), ...(flags.bpfPinDir ? { pinDir: flags.bpfPinDir } : {}) },
      api: {
        limits: flags.apiLimits,
        corsOrigin: flags.corsOrigin,
        token: security.token,
        tls: security.tls,
        // The HA peer runs with the same flags: the same token, and HTTPS on the same --tls-port when its CA is given.
        peer: { token: security.token, https: security.tls && security.peerCa && { port: security.tls.port, ca: security.peerCa } },
      },
      bfd: { keyDir: flags.bfdKeyDir, remoteLimits: flags.bfdRemoteLimits },
      configQuarantine: flags.configQuarantine,
      flagsNotInEffect: flags.notInEffect,
    },
    log,
  );
  process.on('exit', () => agent.killChildren());
  // Last resort: a promise rejected with nobody listening is a bug, but it
  // must cost the node one failed task (shown in /status), not its routes.
  process.on('unhandledRejection', (err) => processFaults.record('unhandled promise rejection', err, log));
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping');
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await agent.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'loxilb cannot start');
    await agent.stop().catch(() => undefined);
    process.exit(1);
  }
}

void main();
