// The agent side of kube-loxilb as a process, for integration tests: it runs
// a LoxiAgentPool (health, --setRoles, --setBGP) inside a lab namespace that
// can reach the agents, and stands in for the ServiceController: it syncs
// the rules it is given to every live LB agent and again to any agent that
// comes up. argv[2] is JSON {config, discovered?}. stdin takes JSON lines
// {cmd: 'rules', rules} and {cmd: 'exit'}; stdout gets one JSON line per
// event (ready, agentUp, agentDown, agentsChanged, masters, synced), each
// with `at` (Date.now()). Logs (pino, debug) go to stderr.
import readline from 'node:readline';
import { destination, pino } from 'pino';
import { LoxiAgentPool, type AgentPoolConfig, type DiscoveredAgent } from '../../src/kube/LoxiAgentPool.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';

interface Args {
  config: AgentPoolConfig;
  discovered?: DiscoveredAgent[];
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const logger = pino({ level: 'debug', name: 'kube-loxilb' }, destination(2));
const pool = new LoxiAgentPool({ config: args.config, logger });
const say = (ev: string, data: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ ev, at: Date.now(), ...data })}\n`);

let rules: LbRule[] | undefined;
const syncOne = async (id: string) => {
  if (!rules) return;
  const result = await pool.syncRules(id, rules);
  say('synced', { id, result });
};

pool.on('agentUp', (a) => {
  say('agentUp', { id: a.id, kind: a.kind });
  if (a.kind === 'lb') void syncOne(a.id);
});
pool.on('agentDown', (a) => say('agentDown', { id: a.id, kind: a.kind }));
pool.on('agentsChanged', (agents) => say('agentsChanged', { ids: agents.map((a) => a.id) }));

// Role changes are not pool events; report them as soon as the pool knows.
let lastMasters = '{}';
const watch = setInterval(() => {
  const m = JSON.stringify(pool.masters());
  if (m === lastMasters) return;
  lastMasters = m;
  say('masters', { masters: pool.masters() });
}, 5);

if (args.discovered) pool.setDiscovered(args.discovered);
pool.start();
say('ready');

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const msg = JSON.parse(line) as { cmd: string; rules?: LbRule[] };
  if (msg.cmd === 'rules') {
    rules = msg.rules ?? [];
    for (const a of pool.liveLbAgents()) void syncOne(a.id);
  } else if (msg.cmd === 'exit') {
    void shutdown();
  }
});
lines.on('close', () => void shutdown());

async function shutdown(): Promise<void> {
  clearInterval(watch);
  await pool.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
