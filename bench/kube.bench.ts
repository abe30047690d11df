// Benchmark: kube-loxilb under a burst of 1,000 LoadBalancer Services.
//
//   npm run bench:kube [-- --services 1000 --ports 10 --concurrency 32]
//   (= node --import tsx bench/kube.bench.ts ...; root; about a minute)
//
// Options for digging: --concurrency 8,16,32 runs an agent baseline per value
// (--baseline-only stops after them); --profile <dir> (CPU profile),
// --heap-snapshot <dir> (one at the end) and --node-args='<flags>' hand node
// flags to kube-loxilb through LOXILB_NODE_ARGS; --compiled runs the
// controller compiled to JavaScript by the project's tsc under plain node
// instead of through bin/kube-loxilb's tsx, to tell the runtime's memory from
// the controller's; --loglevel is passed on to kube-loxilb (default: its own,
// info, which logs every status write).
//
// Set-up (network namespaces, like test/integration/kubeLoxilb.test.ts but
// without BGP): two LB nodes lb1 (192.168.80.10) and lb2 (.11) each running a
// real `bin/loxilb` agent (no --bgp; the eBPF datapath loads), and a node
// kctl (.250) running the real `bin/kube-loxilb` with --loxiURL set to both
// agents. The API server is FakeKubeApi in this process, reached from kctl
// through the Unix-socket bridge (test/lab/KubeApiBridge.ts), as a pod
// reaches the kubernetes Service. The cluster has lb1 and lb2 (control plane,
// excluded from load balancing) and three worker Nodes, so every rule has
// three endpoints (<worker>:<nodePort>).
//
// The burst: `--services` Services (type LoadBalancer, loadBalancerClass
// loxilb.io/loxilb, one TCP port each) created in-process in one synchronous
// loop, as fast as FakeKubeApi takes them, rather than by parallel HTTP
// clients: no client's cost is measured, and the controller gets the whole
// burst at once (the loop also holds up this process's event loop, so the
// watch events reach it when the loop ends). The loop itself takes about a
// second (FakeKubeApi's admission checks); it is inside the measured time
// and printed on its own line. Ports cycle
// through `--ports` values (8000, 8001, ...; default 10) because that is what
// makes the shared IPAM (kube-loxilb's default) do its job: Services with
// different ports share a VIP, so 1,000 Services land on 100 VIPs with 10
// ports each, as a real cluster with a handful of well-known ports would.
// (--ports 1000 puts them all on one VIP; --ports 1 gives each its own.)
//
// Measured from the first create until
//   status: every Service shows an address in status.loadBalancer.ingress
//           (EXTERNAL-IP), read in-process from FakeKubeApi;
//   rules:  each agent's GET /netlox/v1/config/loadbalancer/all holds all
//           `--services` of kube-loxilb's rules (named default_svc-*), polled
//           from kctl by bench/lib/kubeBenchWorker.ts;
// the result is the later of the two. The controller's memory comes from
// /proc/<pid>/status: VmHWM (peak RSS over its life) and VmRSS at the end.
// Goal: done in under 10 s, peak RSS under 150 MB.
//
// Baselines, measured in the same run on the same agents and API server
// before the controller starts:
//   agents   the same number of rules, of the same shape (3 endpoints,
//            same ports and VIP sharing, another namespace in the name),
//            POSTed to both agents at once by the controller's own LoxiClient
//            from kctl: a plain loop (one request at a time per agent) and
//            with --concurrency requests in flight per agent (default: what
//            the controller's agent pool uses). The faster one is the agent
//            floor, what the agents themselves can absorb: no controller can
//            finish before it, since loxilb takes one rule per request.
//   kube API the same number of status merge patches through the same bridge
//            by a plain @kubernetes/client-node client (the last
//            --concurrency value in flight): what the API server can absorb.
// The headline ratio is controller time / agent floor (how close kube-loxilb
// gets to the agents' own limit); the kube-API ratio is printed beside it.
// The status is checked every 25 ms (only Services still without an
// address), the agents every 200 ms and every 20 ms once 90% of the rules are
// there: a GET of 1,000 rules costs an agent 10-25 ms of CPU. The box has two
// cores shared by both agents, the controller, the API server (this process)
// and the poller, so everything here is CPU time; CPU per process is printed.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { V1Lease, V1Service } from '@kubernetes/client-node';
import { Lab, type LabProcess } from '../test/lab/Lab.ts';
import { FakeKubeApi } from '../test/lab/FakeKubeApi.ts';
import { KubeApiBridge } from '../test/lab/KubeApiBridge.ts';
import { writeKubeconfig } from '../test/lab/kubeconfig.ts';
import { startAgentProcess } from '../test/lab/agentProcess.ts';
import { StopWaiting, waitFor } from '../test/lab/wait.ts';
import { defaultServiceSettings } from '../src/kube/annotations.ts';
import { planRules, type PlanNode, type PlanService } from '../src/kube/planRules.ts';
import { DEFAULT_RULE_REQUESTS_IN_FLIGHT } from '../src/kube/LoxiAgentPool.ts';
import { startKubeBenchWorker, type KubeBenchWorker } from './lib/KubeBenchWorkerHandle.ts';
import { ROOT } from './lib/NsWorkerHandle.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '1000' },
    ports: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: String(DEFAULT_RULE_REQUESTS_IN_FLIGHT) },
    'timeout-s': { type: 'string', default: '120' },
    'baseline-only': { type: 'boolean', default: false },
    profile: { type: 'string' },
    'node-args': { type: 'string' },
    'heap-snapshot': { type: 'string' },
    compiled: { type: 'boolean', default: false },
    loglevel: { type: 'string' },
  },
  strict: true,
});
const N = Number(values.services);
const PORTS = Number(values.ports);
/** In flight per agent for the agent baselines (besides the plain loop); the last also for the kube API baseline. */
const CONCS = values.concurrency!.split(',').map(Number).filter((x) => x > 1);
const CONC = CONCS.at(-1) ?? 1;
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
const GOAL_MS = 10_000;
const GOAL_MB = 150;

const KUBE_LOXILB_BIN = path.join(ROOT, 'bin/kube-loxilb');
const LBS = [
  { name: 'lb1', ipv4: '192.168.80.10' },
  { name: 'lb2', ipv4: '192.168.80.11' },
];
const CTL = { name: 'kctl', ipv4: '192.168.80.250' };
const WORKERS = [1, 2, 3].map((i) => ({ name: `worker${i}`, ipv4: `192.168.80.${100 + i}` }));
const AGENT_URLS = LBS.map((l) => `http://${l.ipv4}:11111`);
const CLASS = 'loxilb.io/loxilb';
const POD_NAME = 'kube-loxilb-bench';
const CIDR = '10.77.0.0/16';
const PREFIX = 'default_svc-';
const BASE_NS = 'bench-base';

const wallNow = () => performance.timeOrigin + performance.now();
const svcName = (i: number) => `svc-${String(i).padStart(4, '0')}`;
const portOf = (i: number) => 8000 + (i % PORTS);

function service(i: number, namespace: string, lbClass: string): object {
  return {
    metadata: { name: svcName(i), namespace },
    spec: { type: 'LoadBalancer', loadBalancerClass: lbClass, selector: { app: svcName(i) }, ports: [{ port: portOf(i), targetPort: 8080, protocol: 'TCP' }] },
  };
}

/** The rules the controller would make for N Services like ours, in another namespace and VIP range. */
function baselineRules(): ReturnType<typeof planRules>['rules'] {
  const settings = defaultServiceSettings();
  const perVip = Math.max(1, Math.min(PORTS, N));
  const services: PlanService[] = Array.from({ length: N }, (_, i) => {
    const v = Math.floor(i / perVip);
    return {
      namespace: BASE_NS,
      name: svcName(i),
      ports: [{ port: portOf(i), protocol: 'TCP', nodePort: 30000 + i }],
      vips: [`10.78.${v >> 8}.${(v & 255) + 1}`],
      settings,
      instance: 'llb-inst0',
    };
  });
  const nodes: PlanNode[] = WORKERS.map((w) => ({ name: w.name, ready: true, internalIPs: [w.ipv4] }));
  const plan = planRules({ services, nodes, config: { setBGP: 0, monitor: false, setLBMode: 0, zone: 'llb', usePodNetwork: false, useExternalEndpoint: false } });
  if (plan.rules.length !== N) throw new Error(`baseline plan has ${plan.rules.length} rules, not ${N}: ${plan.notes[0]?.message}`);
  return plan.rules;
}

/**
 * Compiles src/cli/kube-loxilb.ts and what it imports to JavaScript with the
 * project's tsc, under node_modules/.cache (so packages resolve as from the
 * sources); returns the entry point. Type errors do not stop the emit.
 */
const COMPILED_DIR = path.join(ROOT, 'node_modules/.cache/loxilb-ts-bench-kube');

function compileController(labDir: string): string {
  const outDir = COMPILED_DIR;
  const tsconfig = path.join(labDir, 'tsconfig.compiled.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(ROOT, 'tsconfig.json'),
      compilerOptions: { noEmit: false, rewriteRelativeImportExtensions: true, outDir, rootDir: ROOT, types: [], noEmitOnError: false, sourceMap: false },
      include: [],
      files: [path.join(ROOT, 'src/cli/kube-loxilb.ts')],
    }),
  );
  rmSync(outDir, { recursive: true, force: true });
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { stdio: 'ignore' });
  const entry = path.join(outDir, 'src/cli/kube-loxilb.js');
  if (!existsSync(entry)) throw new Error(`tsc did not produce ${entry}`);
  return entry;
}

/**
 * bin/kube-loxilb runs dist/ when it is newer than every source file, else
 * the sources through tsx (about twice the memory). The memory goal is about
 * the deployed runtime: a stale dist/ is rebuilt first, and the run says so.
 */
function ensureCompiled(): void {
  const js = path.join(ROOT, 'dist/cli/kube-loxilb.js');
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  if (existsSync(js) && statSync(js).mtimeMs >= newest(path.join(ROOT, 'src'))) return;
  console.log('dist/ is older than src/: running `npm run build` so kube-loxilb runs compiled, as deployed');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  if (r.status !== 0 || !existsSync(js)) throw new Error('`npm run build` failed: kube-loxilb would run through tsx and its memory would not be what is deployed');
}

function procStatus(pid: number): { hwmKb: number; rssKb: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { hwmKb: kb('VmHWM'), rssKb: kb('VmRSS') };
  } catch {
    return undefined;
  }
}

/** user+system CPU ms of a process (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

const mb = (kb: number) => kb / 1024;
const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  await Lab.cleanupStale('kbench');
  const lab = await Lab.create({ base: 'kbench' });
  let api: FakeKubeApi | undefined;
  let bridge: KubeApiBridge | undefined;
  let worker: KubeBenchWorker | undefined;
  let ctl: LabProcess | undefined;
  try {
    // ---- lab: two agents and the controller's node on one switch
    await lab.addSwitch('sw');
    for (const n of [...LBS, CTL]) await lab.addNode(n.name, { switch: 'sw', ipv4: `${n.ipv4}/24` });
    const agents = await Promise.all(LBS.map((l) => startAgentProcess(lab, l.name, [], 'info')));

    // ---- the cluster
    api = new FakeKubeApi({ historyLimit: 50_000, requestLogLimit: 100 });
    const server = new URL(await api.start());
    for (const l of LBS) {
      api.addNode(l.name, { internalIP: l.ipv4, labels: { 'node-role.kubernetes.io/control-plane': '', 'node.kubernetes.io/exclude-from-external-load-balancers': '' } });
    }
    for (const w of WORKERS) api.addNode(w.name, { internalIP: w.ipv4 });
    api.create('namespaces', { metadata: { name: BASE_NS } });
    bridge = await KubeApiBridge.start(lab, CTL.name, { host: server.hostname, port: Number(server.port) });
    worker = await startKubeBenchWorker(lab, CTL.name);

    // ---- baseline 1: the agents alone (plain loop, then CONC in flight)
    const rules = baselineRules();
    const agentBase: { label: string; ms: number }[] = [];
    for (const conc of [1, ...CONCS]) {
      const r = await worker.call('postRules', { agents: AGENT_URLS, rules, concurrency: conc });
      const failed = r.perAgent.reduce((s: number, a: { failed: number }) => s + a.failed, 0);
      if (failed > 0) throw new Error(`baseline posts failed: ${r.perAgent.find((a: { firstError?: string }) => a.firstError)?.firstError}`);
      agentBase.push({ label: conc === 1 ? 'agents: LoxiClient loop, 1 in flight per agent' : `agents: LoxiClient, ${conc} in flight per agent`, ms: r.ms });
      const left = await worker.call('clearRules', { agents: AGENT_URLS, prefix: `${BASE_NS}_` });
      if (Object.values(left.left as Record<string, number>).some((n) => n !== 0)) throw new Error(`baseline rules left: ${JSON.stringify(left)}`);
    }
    const agentFloor = Math.min(...agentBase.map((b) => b.ms));
    if (values['baseline-only']) {
      console.log(table([['', 'ms'], ...agentBase.map((b) => [`baseline ${b.label}`, f0(b.ms)])]));
      return;
    }

    // ---- baseline 2: the API server alone (status patches by a plain client through the bridge)
    for (let i = 0; i < N; i++) api.create('services', service(i, BASE_NS, 'bench.example/none'));
    const items = Array.from({ length: N }, (_, i) => ({ name: svcName(i), namespace: BASE_NS, ip: `10.78.0.${(i % 250) + 1}` }));
    const kubeR = await worker.call('patchStatus', { server: bridge.url, items, concurrency: CONC });
    if (kubeR.failed > 0) throw new Error(`status patches failed: ${kubeR.firstError}`);
    for (let i = 0; i < N; i++) api.delete('services', svcName(i), BASE_NS);
    const kubeFloor: number = kubeR.ms;

    // ---- the controller
    const ctlKubeconfig = await writeKubeconfig(bridge.url, path.join(lab.dir, 'kubeconfig-kube-loxilb'));
    const env: NodeJS.ProcessEnv = { ...process.env, POD_NAME, POD_NAMESPACE: 'kube-system' };
    const nodeArgs = values['node-args'] ? [values['node-args']] : [];
    if (values.profile) {
      const dir = path.resolve(values.profile);
      mkdirSync(dir, { recursive: true });
      nodeArgs.push(`--cpu-prof --cpu-prof-dir=${dir}`);
    }
    const snapDir = values['heap-snapshot'] ? path.resolve(values['heap-snapshot']) : undefined;
    if (snapDir) {
      mkdirSync(snapDir, { recursive: true });
      nodeArgs.push(`--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapDir}`);
    }
    if (nodeArgs.length > 0) env.LOXILB_NODE_ARGS = nodeArgs.join(' ');
    const args = [`--kubeconfig=${ctlKubeconfig}`, `--loxiURL=${AGENT_URLS.join(',')}`, `--externalCIDR=${CIDR}`];
    if (values.loglevel) args.push(`--loglevel=${values.loglevel}`);
    if (values.compiled) {
      // The same sources as plain JavaScript run by node itself: what tsx costs.
      const entry = compileController(lab.dir);
      ctl = lab.spawn(CTL.name, process.execPath, [...(env.LOXILB_NODE_ARGS ?? '').split(' ').filter(Boolean), entry, ...args], { env, logName: 'kctl.kube-loxilb' });
    } else {
      ensureCompiled();
      ctl = lab.spawn(CTL.name, KUBE_LOXILB_BIN, args, { env, logName: 'kctl.kube-loxilb' });
    }
    const c = ctl;
    const alive = () => {
      if (!c.alive()) throw new StopWaiting(`kube-loxilb exited: ${c.log().split('\n').slice(-20).join('\n')}`);
    };
    await waitFor(() => (alive(), api!.get<V1Lease>('leases', 'kube-loxilb', 'kube-system')?.spec?.holderIdentity === POD_NAME), {
      timeoutMs: 30_000,
      what: 'kube-loxilb to hold the Lease',
    });
    await waitFor(() => (alive(), (c.log().match(/"msg":"agent up"/g) ?? []).length >= LBS.length), { timeoutMs: 30_000, what: 'kube-loxilb to see both agents up' });
    await new Promise((r) => setTimeout(r, 1000));
    const idle = procStatus(ctl.pid);
    const cpu0 = { ctl: cpuMs(ctl.pid), agents: agents.map((a) => cpuMs(a.pid)), self: process.cpuUsage() };

    // ---- the burst
    const t0 = wallNow();
    for (let i = 0; i < N; i++) api.create('services', service(i, 'default', CLASS));
    const tCreated = wallNow();
    const rulesDone = worker.call<{ reached: Record<string, number>; last: Record<string, number> }>(
      'watchRules',
      { agents: AGENT_URLS, prefix: PREFIX, n: N, timeoutMs: TIMEOUT_MS },
      TIMEOUT_MS + 30_000,
    );
    let peakKb = 0;
    const sampler = setInterval(() => {
      const s = procStatus(c.pid);
      if (s) peakKb = Math.max(peakKb, s.rssKb);
    }, 100);
    // Only Services still without an address are read again, so the check
    // gets cheaper as they come in (it runs in the API server's process).
    let tStatus = NaN;
    const waiting = new Set(Array.from({ length: N }, (_, i) => svcName(i)));
    const deadline = t0 + TIMEOUT_MS;
    for (;;) {
      alive();
      for (const name of waiting) if (api.get<V1Service>('services', name)?.status?.loadBalancer?.ingress?.[0]?.ip) waiting.delete(name);
      if (waiting.size === 0) {
        tStatus = wallNow();
        break;
      }
      if (wallNow() > deadline) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const withIp = N - waiting.size;
    // The sampler runs on until the rules are in too.
    const rr = await rulesDone;
    clearInterval(sampler);
    const reached = AGENT_URLS.map((u) => rr.reached[u] ?? NaN);
    const tRules = Math.max(...reached);
    const tDone = Math.max(tStatus, tRules);
    const end = procStatus(ctl.pid);
    if (snapDir) {
      ctl.signal('SIGUSR2');
      // Writing a snapshot blocks the process for a few seconds.
      await new Promise((r) => setTimeout(r, 8000));
    }
    const listCost = await worker.call<Record<string, { ms: number; rules: number }>>('timeList', { agents: AGENT_URLS });
    const cpu1 = { ctl: cpuMs(ctl.pid), agents: agents.map((a) => cpuMs(a.pid)), self: process.cpuUsage(cpu0.self) };

    // ---- checks
    const svcs = api.list<V1Service>('services', { namespace: 'default' }).filter((s) => s.spec?.loadBalancerClass === CLASS);
    const vips = new Set(svcs.map((s) => s.status?.loadBalancer?.ingress?.[0]?.ip).filter(Boolean));

    // ---- report
    const total = tDone - t0;
    const rows: string[][] = [['', 'ms', 'x agent floor']];
    for (const b of agentBase) rows.push([`baseline ${b.label}`, f0(b.ms), f2(b.ms / agentFloor)]);
    rows.push([`baseline kube API: ${N} status patches, ${CONC} in flight`, f0(kubeFloor), f2(kubeFloor / agentFloor)]);
    rows.push([`kube-loxilb: ${N} creates (in-process)`, f1(tCreated - t0), '']);
    rows.push([`kube-loxilb: every Service has an EXTERNAL-IP`, f0(tStatus - t0), f2((tStatus - t0) / agentFloor)]);
    LBS.forEach((l, i) => rows.push([`kube-loxilb: ${N} rules on ${l.name}`, f0(reached[i]! - t0), f2((reached[i]! - t0) / agentFloor)]));
    rows.push([`kube-loxilb: done (both)`, f0(total), f2(total / agentFloor)]);
    console.log(`\nkube-loxilb burst: ${N} Services, ${PORTS} distinct ports -> ${vips.size} shared VIPs (${CIDR}), 2 real agents, 3 endpoints per rule\n`);
    console.log(table(rows));
    console.log(`\nvs kube API floor: ${f2(total / kubeFloor)}x; vs agent floor + kube API floor (no overlap at all): ${f2(total / (agentFloor + kubeFloor))}x`);
    console.log(
      `CPU during the burst (ms): kube-loxilb ${f0(cpu1.ctl - cpu0.ctl)}, agents ${agents.map((_, i) => f0(cpu1.agents[i]! - cpu0.agents[i]!)).join(' + ')}, ` +
        `bench process (FakeKubeApi, polling) ${f0((cpu1.self.user + cpu1.self.system) / 1000)}`,
    );
    console.log(
      `kube-loxilb memory (MB): idle RSS ${f1(mb(idle?.rssKb ?? NaN))}, peak RSS seen ${f1(mb(peakKb))}, VmHWM ${f1(mb(end?.hwmKb ?? NaN))}, RSS at the end ${f1(mb(end?.rssKb ?? NaN))}`,
    );
    console.log(`one GET /config/loadbalancer/all afterwards (the poller's cost per call): ${Object.values(listCost).map((x) => `${f1(x.ms)} ms for ${x.rules} rules`).join(', ')}`);
    if (withIp < N) console.log(`only ${withIp}/${N} Services got an address within ${TIMEOUT_MS} ms`);
    if (reached.some((x) => !Number.isFinite(x))) console.log(`rules on the agents at the timeout: ${JSON.stringify(rr.last)}`);
    const timeOk = Number.isFinite(total) && total < GOAL_MS;
    const memOk = (end?.hwmKb ?? Infinity) / 1024 < GOAL_MB;
    console.log(`\n${timeOk ? 'PASS' : 'FAIL'} time: ${f0(total)} ms (goal < ${GOAL_MS} ms; ${f2(total / agentFloor)}x the agent floor)`);
    console.log(`${memOk ? 'PASS' : 'FAIL'} memory: peak RSS ${f1(mb(end?.hwmKb ?? NaN))} MB (goal < ${GOAL_MB} MB)`);
    if (values.profile) console.log(`CPU profile of kube-loxilb: written to ${path.resolve(values.profile)} when it exits`);
    process.exitCode = timeOk && memOk ? 0 : 1;
  } finally {
    try {
      await ctl?.stop(8000);
      await worker?.close();
      await bridge?.close();
      await api?.stop();
    } finally {
      await lab.destroy();
      if (values.compiled) rmSync(COMPILED_DIR, { recursive: true, force: true });
    }
  }
}

await main();
