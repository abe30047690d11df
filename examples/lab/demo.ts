// `npm run demo`: the seeds' in-cluster topology in network namespaces.
//
// A BIRD router (AS 65101), two LB nodes running `loxilb --bgp` and a worker
// running `loxilb --peer` (AS 64512) share one switch. BGP is configured
// through the REST API the way kube-loxilb does it, lb1 becomes MASTER and lb2
// BACKUP, and a service VIP is created on both. The demo then shows what an
// operator would look at (gobgp and loxicmd on lb1, the router's paths with
// their MED, the worker's kernel route), flips the roles and shows the best
// path move, with the time the router took to see it.
//
// Everything lives in namespaces named after this process; they are removed
// at the end, on any failure and on Ctrl-C.
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { BgpLab, CLUSTER_AS, LB_NODES, LOXICMD_BIN, ROUTER, ROUTER_AS, WORKER } from '../../test/lab/BgpLab.ts';
import type { BirdRoute } from '../../test/lab/Bird.ts';
import { DEFAULT_BASE, pidRunning } from '../../test/lab/Lab.ts';
import { waitFor } from '../../test/lab/wait.ts';

const [LB1, LB2] = LB_NODES as [(typeof LB_NODES)[0], (typeof LB_NODES)[0]];
const VIP = '123.123.123.1';
const VIP_PREFIX = `${VIP}/32`;
const INSTANCE = 'llb-inst0';
const SERVICE = {
  serviceArguments: { externalIP: VIP, port: 55002, protocol: 'tcp', bgp: true, mode: 2, name: `default_nginx-lb1:${INSTANCE}` },
  // fullnat to the service's NodePort on every node, as kube-loxilb does it.
  endpoints: [LB1, LB2, WORKER].map((n) => ({ endpointIP: n.ipv4, targetPort: 32694, weight: 1 })),
};
const NODE_OF: Record<string, string> = { [LB1.ipv4]: LB1.name, [LB2.ipv4]: LB2.name };

// ---------------------------------------------------------------------------
// Output

const useColor = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string) => (s: string) => (useColor ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const red = paint('1;31');
const green = paint('1;32');
const yellow = paint('1;33');
const cyan = paint('36');

const started = performance.now();
const clock = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s`;
let stepNo = 0;

function heading(title: string): void {
  stepNo++;
  const text = `Step ${stepNo}: ${title}`;
  console.log(`\n${bold(text)} ${dim(`[${clock()}]`)}`);
  console.log(bold('─'.repeat(text.length)));
}

function subheading(title: string): void {
  console.log(`\n${bold(`▸ ${title}`)}`);
}

function say(text: string): void {
  console.log(`  ${text}`);
}

function ok(text: string): void {
  console.log(`  ${green('✔')} ${text}`);
}

/** Prints a command as typed at a root prompt in `node`, then its output. */
async function shell(node: string, cmd: string, run: () => Promise<string>): Promise<string> {
  console.log(`${cyan(`root@${node}:/#`)} ${cmd}`);
  const out = await run();
  const text = out.replace(/\s+$/, '');
  if (text !== '') console.log(text);
  return out;
}

function shortJson(v: unknown): string {
  return JSON.stringify(v);
}

// ---------------------------------------------------------------------------
// Lab helpers

let bgpLab: BgpLab | undefined;
let creating: Promise<BgpLab> | undefined;
let interrupted = false;
/** The failure and the logs have been printed already (by the build hook). */
let reported = false;
/** PIDs of the lab's BIRD and agents, to check after teardown. */
let labPids: number[] = [];

async function api(node: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const reply = await bgpLab!.mustApi(node, method, path, body);
  // Request and answer are printed together, so concurrent calls stay readable.
  console.log(`  ${dim(`${node}:`)} ${method} /netlox/v1${path}${body === undefined ? '' : ` ${dim(shortJson(body))}`}`);
  console.log(`       ${dim('→')} 200 ${dim(shortJson(reply))}`);
  return reply;
}

function setRole(node: string, state: 'MASTER' | 'BACKUP'): Promise<unknown> {
  return api(node, 'POST', '/config/cistate', { instance: INSTANCE, state, vip: '0.0.0.0' });
}

async function routerPaths(): Promise<BirdRoute[]> {
  return (await bgpLab!.bird.routesFor(VIP_PREFIX)).filter((r) => r.prefix === VIP_PREFIX);
}

/** The router's paths once it holds one from each LB, the best via `master` with MED 10 and the other with MED 20. */
async function routerSettled(master: string): Promise<BirdRoute[] | undefined> {
  const paths = await routerPaths();
  if (paths.length !== 2) return undefined;
  const best = paths.find((p) => p.best);
  const other = paths.find((p) => !p.best);
  return best?.via === master && best.med === 10 && other?.med === 20 ? paths : undefined;
}

async function workerRouteVia(): Promise<string | undefined> {
  return (await bgpLab!.kernelBgpRoutes(WORKER.name))[VIP];
}

function describePath(p: BirdRoute): string {
  const node = NODE_OF[p.via ?? ''] ?? '?';
  return `via ${p.via} (${node}), MED ${p.med ?? '-'}, AS path ${p.asPath ?? '-'}`;
}

/** `birdc show route ... all`, with the best path's header line marked. */
async function showRouterView(): Promise<void> {
  const bird = bgpLab!.bird;
  await shell(ROUTER.name, `birdc show route for ${VIP} all`, async () => {
    const raw = await bird.birdc(`show route for ${VIP} all`);
    return raw
      .split('\n')
      .map((line) => (/\]\s+\*\s/.test(line) ? `${line}   ${yellow('◀ best')}` : line))
      .join('\n');
  });
  const paths = await routerPaths();
  const best = paths.find((p) => p.best);
  for (const p of paths) {
    if (p === best) say(`${yellow('best path')}  ${describePath(p)}`);
    else say(`${dim('other path')} ${describePath(p)}`);
  }
}

async function showWorkerRoute(): Promise<void> {
  const out = await shell(WORKER.name, 'ip route', () => bgpLab!.lab.run(WORKER.name, ['ip', 'route']));
  const line = out.split('\n').find((l) => l.startsWith(`${VIP} `));
  if (line) say(`${yellow('kernel route')} ${line.trim()}`);
}

const PINO_LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const PINO_SKIP = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'part']);

/** One agent log line (pino JSON) as `time LEVEL [part] msg key=value ...`; other lines as they are. */
function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec !== 'object' || rec === null || typeof rec.msg !== 'string') return line;
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = PINO_LEVELS[rec.level as number] ?? String(rec.level);
  const part = rec.part ? ` [${String(rec.part)}]` : '';
  const extra = Object.entries(rec)
    .filter(([k]) => !PINO_SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level.padEnd(5)}${part} ${rec.msg}${extra ? ` ${extra}` : ''}`;
}

function tail(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(-lines).map(formatLogLine).join('\n');
}

/** The end of each agent's and BIRD's log, for a failure report. */
function printLogs(lab: BgpLab): void {
  console.error(`\n${bold(`Logs in ${lab.lab.dir} (removed with the lab; run with LAB_KEEP=1 to keep them):`)}`);
  const procs = [...lab.agents].map(([node, p]) => ({ what: `${node} loxilb agent`, p }));
  if (lab.bird) procs.push({ what: 'router BIRD', p: lab.bird.process });
  for (const { what, p } of procs) {
    const state = p.alive() ? `running, pid ${p.pid}` : `exited ${JSON.stringify(p.exit ?? {})}`;
    console.error(`\n${bold(`--- last 20 lines of the ${what} log (${state}) ${p.logPath ?? ''}`)}`);
    console.error(tail(p.log(), 20) || dim('(empty)'));
  }
}

/** Namespaces of labs this process created that still exist (their names carry our PID). */
function leftoverNamespaces(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(`${DEFAULT_BASE}${process.pid}x`));
  } catch {
    return [];
  }
}

/** Says whether teardown left anything behind; false if it did. */
function reportTeardown(): boolean {
  const left = leftoverNamespaces();
  const alive = labPids.filter(pidRunning);
  if (left.length === 0 && alive.length === 0) return true;
  if (left.length > 0) console.error(red(`✘ namespaces left behind: ${left.join(' ')}`));
  if (alive.length > 0) console.error(red(`✘ lab processes still running: ${alive.join(' ')}`));
  return false;
}

// ---------------------------------------------------------------------------
// Ctrl-C: Lab's own handlers tear the lab down (processes by PID, then the
// namespaces). Because we listen too, Lab does not re-raise the signal; we
// wait for its teardown, say so, and exit 130.

function onSignal(sig: NodeJS.Signals): void {
  if (interrupted) {
    // Second signal: leave now; Lab's exit hook tears down synchronously (by PID).
    process.exit(130);
  }
  interrupted = true;
  console.log(`\n${yellow(`${sig} received: tearing the lab down...`)}`);
  const done = bgpLab ? bgpLab.destroy() : creating ? creating.then((l) => l.destroy(), () => undefined) : Promise.resolve();
  void done.then(() => {
    if (reportTeardown()) console.log(yellow('Lab removed: agents, gobgpd, BIRD and every namespace of this run are gone.'));
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log(bold('loxilb-ts demo: in-cluster service VIPs over BGP, MASTER/BACKUP by MED and local-pref'));
  console.log(dim(`router ${ROUTER.ipv4} AS ${ROUTER_AS} (BIRD) · ${LB1.name} ${LB1.ipv4}, ${LB2.name} ${LB2.ipv4} (loxilb --bgp) · ${WORKER.name} ${WORKER.ipv4} (loxilb --peer) · AS ${CLUSTER_AS}`));

  heading('Build the namespace lab');
  say('One switch; a BIRD router, two LB nodes running `loxilb --bgp` and a worker running `loxilb --peer`.');
  creating = BgpLab.create({
    onBuildError: (l, err) => {
      if (interrupted) return;
      console.error(`\n${red('✘ Building the lab failed:')} ${(err as Error).message}`);
      printLogs(l);
      reported = true;
    },
  });
  const lab = (bgpLab = await creating);
  labPids = [lab.bird.process.pid, ...[...lab.agents.values()].map((p) => p.pid)];
  say(`namespaces ${dim(`${lab.lab.prefix}{sw,router,lb1,lb2,worker}`)}, files in ${dim(lab.lab.dir)}`);
  say(`router   ${ROUTER.ipv4}/24  bird (AS ${ROUTER_AS}), pid ${lab.bird.process.pid}`);
  for (const [node, p] of lab.agents) {
    const addr = [LB1, LB2, WORKER].find((n) => n.name === node)?.ipv4 ?? '?';
    const mode = p.command.includes('--peer') ? 'loxilb --peer' : 'loxilb --bgp';
    say(`${node.padEnd(8)} ${addr}/24  ${mode}, pid ${p.pid}, REST API answering on 127.0.0.1:11111`);
  }

  heading('Configure BGP through the REST API, like kube-loxilb --setBGP=64512');
  say(`${LB1.name}, ${LB2.name}: POST /config/bgp/global {routerId: <own IPv4>, localAs: ${CLUSTER_AS}, setNextHopSelf: true}`);
  say(`          POST /config/bgp/neigh for the router (${ROUTER.ipv4} and ${ROUTER.ipv6}, AS ${ROUTER_AS}) and the worker (${WORKER.ipv4}, AS ${CLUSTER_AS})`);
  say(`${WORKER.name}:   POST /config/bgp/global {routerId: ${WORKER.ipv4}, localAs: ${CLUSTER_AS}}, POST /config/bgp/neigh for ${LB1.ipv4} and ${LB2.ipv4}`);
  await lab.configureBgp();
  say('Waiting for every session to reach Established...');
  const t0 = performance.now();
  await Promise.all([
    lab.waitEstablished(LB1.name, [ROUTER.ipv4, ROUTER.ipv6, WORKER.ipv4], 30_000),
    lab.waitEstablished(LB2.name, [ROUTER.ipv4, ROUTER.ipv6, WORKER.ipv4], 30_000),
    lab.waitEstablished(WORKER.name, [LB1.ipv4, LB2.ipv4], 30_000),
    lab.bird.waitEstablished(undefined, 30_000),
  ]);
  ok(`all 6 sessions Established in ${((performance.now() - t0) / 1000).toFixed(1)} s: 4 eBGP LB-router (IPv4 and IPv6), 2 iBGP LB-worker`);

  heading(`Set the HA roles: ${LB1.name} MASTER, ${LB2.name} BACKUP (POST /config/cistate)`);
  await setRole(LB1.name, 'MASTER');
  await setRole(LB2.name, 'BACKUP');

  heading(`Create the service VIP ${VIP}:55002/tcp on both LB nodes (POST /config/loadbalancer)`);
  for (const lb of [LB1, LB2]) await api(lb.name, 'POST', '/config/loadbalancer', SERVICE);
  say('Waiting for the router to hold both paths and the worker to install the MASTER route...');
  const t1 = performance.now();
  await Promise.all([
    waitFor(() => routerSettled(LB1.ipv4), { timeoutMs: 15_000, intervalMs: 50, what: `router: 2 paths for ${VIP_PREFIX}, best via ${LB1.ipv4} with MED 10` }),
    waitFor(async () => (await workerRouteVia()) === LB1.ipv4, { timeoutMs: 15_000, intervalMs: 50, what: `worker: kernel route ${VIP} via ${LB1.ipv4} proto bgp` }),
  ]);
  ok(`converged in ${Math.round(performance.now() - t1)} ms`);

  heading(`What ${LB1.name} shows (gobgp talks to its own gobgpd inside the namespace)`);
  await shell(LB1.name, 'gobgp neigh', () => lab.gobgp(LB1.name, 'neighbor'));
  console.log();
  await shell(LB1.name, 'gobgp global policy', () => lab.gobgp(LB1.name, 'global', 'policy'));
  console.log();
  await shell(LB1.name, 'gobgp global rib', () => lab.gobgp(LB1.name, 'global', 'rib'));
  await shell(LB1.name, `gobgp neighbor ${ROUTER.ipv4} adj-out`, () => lab.gobgp(LB1.name, 'neighbor', ROUTER.ipv4, 'adj-out'));
  say(
    `${yellow('MASTER')}: the RIB holds the VIP with origin only; the export policy loxilb-role-g<N> adds MED 10 and local-pref 5000 on the way out (BACKUP: MED 20, local-pref 100), so a role flip is one policy swap`,
  );

  heading(`loxicmd on ${LB1.name}`);
  await shell(LB1.name, 'loxicmd get lb', () => lab.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'lb']));
  console.log();
  await shell(LB1.name, 'loxicmd get hastate', () => lab.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'hastate']));
  console.log();
  await shell(LB1.name, 'loxicmd get bgpneigh', () => lab.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'bgpneigh']));

  heading(`The router's view of ${VIP}: the MASTER's path wins on MED`);
  await showRouterView();

  heading(`The worker: loxilb --peer installs the best iBGP path (local-pref 5000) as a kernel route`);
  await shell(WORKER.name, 'gobgp global rib', () => lab.gobgp(WORKER.name, 'global', 'rib'));
  console.log();
  await showWorkerRoute();

  heading(`Flip the roles: ${LB1.name} BACKUP, ${LB2.name} MASTER`);
  const flipStart = performance.now();
  let routerMs = -1;
  let workerMs = -1;
  await Promise.all([setRole(LB1.name, 'BACKUP'), setRole(LB2.name, 'MASTER')]);
  say('Watching the router and the worker for the move...');
  await Promise.all([
    waitFor(() => routerSettled(LB2.ipv4), { timeoutMs: 10_000, intervalMs: 10, what: `router: best path for ${VIP_PREFIX} via ${LB2.ipv4} with MED 10` }).then(() => {
      routerMs = performance.now() - flipStart;
    }),
    waitFor(async () => (await workerRouteVia()) === LB2.ipv4, { timeoutMs: 10_000, intervalMs: 10, what: `worker: kernel route ${VIP} via ${LB2.ipv4}` }).then(() => {
      workerMs = performance.now() - flipStart;
    }),
  ]);
  ok(`router: best path via ${LB2.name} ${Math.round(routerMs)} ms after posting the new roles (polled every 10 ms)`);
  ok(`worker: kernel route via ${LB2.name} ${Math.round(workerMs)} ms after posting the new roles`);

  subheading(`The router's view after the flip`);
  await showRouterView();
  subheading(`The worker's kernel route after the flip`);
  await showWorkerRoute();

  heading('Summary');
  const elapsed = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    green(
      `✔ ${VIP} moved from ${LB1.name} (${LB1.ipv4}) to ${LB2.name} (${LB2.ipv4}): router in ${Math.round(routerMs)} ms, worker in ${Math.round(workerMs)} ms; demo ran ${elapsed} s`,
    ),
  );
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, onSignal);

let code = 0;
try {
  await main();
} catch (err) {
  code = 1;
  if (!interrupted && !reported) {
    console.error(`\n${red('✘ Demo failed:')} ${err instanceof Error ? err.message : String(err)}`);
    if (bgpLab) printLogs(bgpLab);
  }
}
if (!interrupted) {
  if (bgpLab) {
    say(dim('Destroying the lab...'));
    await bgpLab.destroy();
    if (reportTeardown()) say(dim('Lab removed: no namespace or process of this run is left.'));
    else code = 1;
  }
  process.exit(code);
}
