// Part 1 of `npm run demo`: the seeds' in-cluster BGP story on BgpLab.
//
// A BIRD router (AS 65101), two LB nodes running `loxilb --bgp` and a worker
// running `loxilb --peer` (AS 64512) share one switch. BGP is configured
// through the REST API the way kube-loxilb does it, lb1 becomes MASTER and lb2
// BACKUP, and a service VIP is created on both. The demo then shows what an
// operator would look at (gobgp and loxicmd on lb1, the router's paths with
// their MED, the worker's kernel route), flips the roles and shows the best
// path move, with the time the router took to see it.
import { performance } from 'node:perf_hooks';
import { BgpLab, CLUSTER_AS, LB_NODES, LOXICMD_BIN, ROUTER, ROUTER_AS, WORKER } from '../../test/lab/BgpLab.ts';
import type { BirdRoute } from '../../test/lab/Bird.ts';
import { waitFor } from '../../test/lab/wait.ts';
import { dim, heading, notice, ok, say, shell, subheading, yellow } from './demoOutput.ts';

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

/** What the BGP part measured. */
export interface BgpStoryResult {
  routerMs: number;
  workerMs: number;
}

/** Builds the lab of this part (BIRD, two `loxilb --bgp`, one `loxilb --peer`). */
export function createBgpLab(onBuildError: (lab: BgpLab, err: unknown) => void): Promise<BgpLab> {
  return BgpLab.create({ onBuildError });
}

/** One line per node of the built lab. */
export function describeBgpLab(lab: BgpLab): void {
  say(`namespaces ${dim(`${lab.lab.prefix}{sw,router,lb1,lb2,worker}`)}`);
  say(`router   ${ROUTER.ipv4}/24  bird (AS ${ROUTER_AS}), pid ${lab.bird.process.pid}`);
  for (const [node, p] of lab.agents) {
    const addr = [LB1, LB2, WORKER].find((n) => n.name === node)?.ipv4 ?? '?';
    const mode = p.command.includes('--peer') ? 'loxilb --peer' : 'loxilb --bgp';
    say(`${node.padEnd(8)} ${addr}/24  ${mode}, pid ${p.pid}, REST API on 127.0.0.1:11111 in its namespace`);
  }
}

export async function bgpStory(lab: BgpLab): Promise<BgpStoryResult> {
  const api = async (node: string, method: string, path: string, body?: unknown): Promise<unknown> => {
    const reply = await lab.mustApi(node, method, path, body);
    // Request and answer are printed together, so concurrent calls stay readable.
    console.log(`  ${dim(`${node}:`)} ${method} /netlox/v1${path}${body === undefined ? '' : ` ${dim(JSON.stringify(body))}`}`);
    console.log(`       ${dim('→')} 200 ${dim(JSON.stringify(reply))}`);
    return reply;
  };
  const setRole = (node: string, state: 'MASTER' | 'BACKUP') => api(node, 'POST', '/config/cistate', { instance: INSTANCE, state, vip: '0.0.0.0' });
  const routerPaths = async (): Promise<BirdRoute[]> => (await lab.bird.routesFor(VIP_PREFIX)).filter((r) => r.prefix === VIP_PREFIX);
  /** The router's paths once it holds one from each LB, the best via `master` with MED 10 and the other with MED 20. */
  const routerSettled = async (master: string): Promise<BirdRoute[] | undefined> => {
    const paths = await routerPaths();
    if (paths.length !== 2) return undefined;
    const best = paths.find((p) => p.best);
    const other = paths.find((p) => !p.best);
    return best?.via === master && best.med === 10 && other?.med === 20 ? paths : undefined;
  };
  const workerRouteVia = async () => (await lab.kernelBgpRoutes(WORKER.name))[VIP];
  const describePath = (p: BirdRoute) => `via ${p.via} (${NODE_OF[p.via ?? ''] ?? '?'}), MED ${p.med ?? '-'}, AS path ${p.asPath ?? '-'}`;
  /** `birdc show route ... all`, with the best path's header line marked. */
  const showRouterView = async () => {
    await shell(ROUTER.name, `birdc show route for ${VIP} all`, async () => {
      const raw = await lab.bird.birdc(`show route for ${VIP} all`);
      return raw
        .split('\n')
        .map((line) => (/\]\s+\*\s/.test(line) ? `${line}   ${yellow('◀ best')}` : line))
        .join('\n');
    });
    const paths = await routerPaths();
    const best = paths.find((p) => p.best);
    for (const p of paths) say(p === best ? `${yellow('best path')}  ${describePath(p)}` : `${dim('other path')} ${describePath(p)}`);
  };
  const showWorkerRoute = async () => {
    const out = await shell(WORKER.name, 'ip route', () => lab.lab.run(WORKER.name, ['ip', 'route']));
    const line = out.split('\n').find((l) => l.startsWith(`${VIP} `));
    if (line) say(`${yellow('kernel route')} ${line.trim()}`);
  };

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
  notice(
    `${yellow('MASTER')}: the RIB holds the VIP with origin only; the export policy loxilb-role-g<N> adds MED 10 and local-pref 5000 on the way out (BACKUP: MED 20, local-pref 100), so a role flip is one policy swap`,
  );

  heading(`loxicmd on ${LB1.name}`);
  await shell(LB1.name, 'loxicmd get lb', () => lab.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'lb']));
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
    waitFor(() => routerSettled(LB2.ipv4), { timeoutMs: 10_000, intervalMs: 25, what: `router: best path for ${VIP_PREFIX} via ${LB2.ipv4} with MED 10` }).then(() => {
      routerMs = performance.now() - flipStart;
    }),
    waitFor(async () => (await workerRouteVia()) === LB2.ipv4, { timeoutMs: 10_000, intervalMs: 25, what: `worker: kernel route ${VIP} via ${LB2.ipv4}` }).then(() => {
      workerMs = performance.now() - flipStart;
    }),
  ]);
  ok(`router: best path via ${LB2.name} ${Math.round(routerMs)} ms after posting the new roles (polled every 25 ms)`);
  ok(`worker: kernel route via ${LB2.name} ${Math.round(workerMs)} ms after posting the new roles`);

  subheading(`The router's view after the flip`);
  await showRouterView();
  subheading(`The worker's kernel route after the flip`);
  await showWorkerRoute();
  ok(`${VIP} moved from ${LB1.name} (${LB1.ipv4}) to ${LB2.name} (${LB2.ipv4}): router in ${Math.round(routerMs)} ms, worker in ${Math.round(workerMs)} ms`);
  return { routerMs, workerMs };
}
