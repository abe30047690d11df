// `npm run demo`: loxilb-ts shown end to end in network namespaces, in under
// a minute.
//
// Part 1 (demoBgp.ts): the seeds' in-cluster BGP story: service VIPs
//   advertised by two `loxilb --bgp` nodes with the MED and local-pref of
//   their HA role, what gobgp, loxicmd and the router show, a role flip.
// Part 2 (demoTraffic.ts): packets. A client curls a VIP and the reply comes
//   through the MASTER's eBPF datapath; the MASTER's agent is killed with
//   SIGKILL while a client streams over one TCP connection, and the stream
//   goes on over the other node.
// Part 3 (demoKube.ts): kube-loxilb gives a `kubectl apply`-ed Service its
//   EXTERNAL-IP and a client outside the cluster reaches it.
//
// Each part has its own lab; the three are built at once at the start. Every
// step prints the command a user would type, its real output (run inside
// the lab's namespaces) and what to notice. Everything lives in namespaces
// named after this process; they are removed at the end, on any failure and
// on Ctrl-C, and the demo checks that none is left.
import { readdirSync } from 'node:fs';
import { DEFAULT_BASE, pidRunning, type LabProcess } from '../../test/lab/Lab.ts';
import type { BgpLab } from '../../test/lab/BgpLab.ts';
import type { DatapathLab } from '../../test/lab/DatapathLab.ts';
import type { KubeLoxilbLab } from '../../test/lab/KubeLoxilbLab.ts';
import { bgpStory, createBgpLab, describeBgpLab } from './demoBgp.ts';
import { createKubeLab, describeKubeLab, kubeStory } from './demoKube.ts';
import { createTrafficLab, describeTrafficLab, trafficStory } from './demoTraffic.ts';
import { bold, dim, elapsedSeconds, green, heading, ok, part, printLogs, red, say, yellow } from './demoOutput.ts';

/** The budget the demo promises to stay within (wall time of this process). */
const BUDGET_S = 60;

let bgpLab: BgpLab | undefined;
let dpLab: DatapathLab | undefined;
let kubeLab: KubeLoxilbLab | undefined;
/** Lab creations under way (a Ctrl-C during the build waits for them, then removes them). */
const creating: Promise<unknown>[] = [];
let interrupted = false;
/** The failure and the logs have been printed already (by the build hook). */
let reported = false;

/** Every process of the labs built so far (for a failure report, only of labs not torn down yet), named. */
function labProcesses(forReport = false): { what: string; p: LabProcess }[] {
  const out: { what: string; p: LabProcess }[] = [];
  const show = (lab: object | undefined) => lab !== undefined && !(forReport && retired.has(lab));
  if (show(bgpLab) && bgpLab) {
    for (const [node, p] of bgpLab.agents) out.push({ what: `part 1 ${node} loxilb agent`, p });
    if (bgpLab.bird) out.push({ what: 'part 1 router BIRD', p: bgpLab.bird.process });
  }
  if (show(dpLab) && dpLab) {
    for (const [node, p] of [...dpLab.agents, ...dpLab.peers]) out.push({ what: `part 2 ${node} loxilb agent`, p });
    for (const [node, p] of dpLab.echoes) out.push({ what: `part 2 ${node} echo server`, p });
    if (dpLab.bird) out.push({ what: 'part 2 router BIRD', p: dpLab.bird.process });
  }
  if (kubeLab) {
    for (const [node, p] of kubeLab.t.agents) out.push({ what: `part 3 ${node} loxilb agent`, p });
    out.push({ what: 'part 3 router BIRD', p: kubeLab.t.bird.process });
    if (kubeLab.ctl) out.push({ what: 'part 3 kube-loxilb', p: kubeLab.ctl });
  }
  return out;
}

let labPids: number[] = [];

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

/** Labs torn down in the background once their part is over, so the final teardown is short. */
const retiring: Promise<void>[] = [];
const retired = new Set<object>();

/** Remembers the PIDs of every lab process (and part 3's API server) for the final leftover check. */
function notePids(): void {
  labPids = [...new Set([...labPids, ...labProcesses().map((x) => x.p.pid), ...(kubeLab?.api.pids ?? [])])];
}

function retire(lab: { destroy(): Promise<void> }): void {
  retired.add(lab);
  notePids();
  const gone = lab.destroy();
  gone.catch(() => undefined);
  retiring.push(gone);
}

/** Destroys every lab built or being built (waiting for those still being built). */
async function destroyAll(): Promise<void> {
  notePids();
  await Promise.allSettled(creating);
  notePids();
  await Promise.allSettled([...retiring, bgpLab?.destroy(), dpLab?.destroy(), kubeLab?.destroy()]);
}

// Ctrl-C: Lab's own handlers tear the labs down (processes by PID, then the
// namespaces). Because we listen too, Lab does not re-raise the signal; we
// tear down what Lab does not own (the API server of part 3), wait, say so,
// and exit 130.
function onSignal(sig: NodeJS.Signals): void {
  if (interrupted) {
    // Second signal: leave now; Lab's exit hook tears down synchronously (by PID).
    process.exit(130);
  }
  interrupted = true;
  console.log(`\n${yellow(`${sig} received: tearing the labs down...`)}`);
  void destroyAll().then(() => {
    if (reportTeardown()) console.log(yellow('Labs removed: agents, gobgpd, BIRD, kube-apiserver and every namespace of this run are gone.'));
    process.exit(130);
  });
}

async function main(): Promise<void> {
  console.log(bold('loxilb-ts demo: service VIPs over BGP, packets through the eBPF datapath, a MASTER killed under load, kube-loxilb'));

  heading('Build the namespace labs');
  say("part 1's lab now: a BIRD router, two LB nodes running `loxilb --bgp`, a worker running `loxilb --peer`;");
  say('parts 2 and 3 build in the background while part 1 runs:');
  say('  part 2: a client behind a BIRD router, an HA pair running `loxilb --bgp --ka --cluster`, two endpoints');
  say('  part 3: part 1 plus a client, a real kube-apiserver and etcd, and kube-loxilb');
  const bgp = createBgpLab((l, err) => {
    if (interrupted) return;
    console.error(`\n${red('✘ Building the part 1 lab failed:')} ${(err as Error).message}`);
    printLogs(l.lab.dir, [...l.agents].map(([node, p]) => ({ what: `${node} loxilb agent`, p })));
    reported = true;
  }).then((l) => (bgpLab = l));
  creating.push(bgp);
  await bgp;
  ok(`part 1's lab is up at ${elapsedSeconds().toFixed(1)} s`);
  describeBgpLab(bgpLab!);
  // Started only now, so they do not slow part 1's build (on the critical path); part 1's
  // wait for its BGP sessions leaves them the machine.
  const dp = createTrafficLab().then((l) => (dpLab = l));
  const kube = createKubeLab().then((l) => (kubeLab = l));
  creating.push(dp, kube);
  // Awaited later; until then a failed build must not end the process as an unhandled rejection.
  for (const c of creating) c.catch(() => undefined);

  part('Part 1: in-cluster service VIPs over BGP, MASTER/BACKUP by MED and local-pref');
  const flip = await bgpStory(bgpLab!);
  retire(bgpLab!);

  part('Part 2: packets through the eBPF datapath, and the MASTER killed under a live connection');
  await dp;
  say(`the lab (built in the background, up at ${elapsedSeconds().toFixed(1)} s):`);
  describeTrafficLab(dpLab!);
  const traffic = await trafficStory(dpLab!);
  retire(dpLab!);

  part('Part 3: kube-loxilb: kubectl apply, an EXTERNAL-IP, a client reaches it');
  await kube;
  say(`the lab (built in the background, up at ${elapsedSeconds().toFixed(1)} s):`);
  describeKubeLab(kubeLab!);
  await kubeStory(kubeLab!);

  heading('Summary');
  ok(`part 1: a role flip moved the router's best path in ${Math.round(flip.routerMs)} ms and the worker's route in ${Math.round(flip.workerMs)} ms`);
  ok(`part 2: curl answered through the MASTER's datapath; kill -9 of the MASTER: survivor MASTER in ${Math.round(traffic.takeoverMs)} ms, the stream's longest gap ${traffic.maxGapMs} ms, no reset`);
  ok('part 3: kubectl apply gave the Service its EXTERNAL-IP and the client reached it');
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, onSignal);

let code = 0;
try {
  await main();
} catch (err) {
  code = 1;
  if (!interrupted && !reported) {
    console.error(`\n${red('✘ Demo failed:')} ${err instanceof Error ? err.message : String(err)}`);
    const procs = labProcesses(true);
    const dirs = [bgpLab, dpLab, kubeLab].filter((l) => l !== undefined && !retired.has(l)).map((l) => ('t' in l! ? l.t.lab.dir : l!.lab.dir));
    if (procs.length > 0) printLogs(dirs.join(', '), procs);
  }
}
if (!interrupted) {
  say(dim('Destroying the labs...'));
  await destroyAll();
  if (reportTeardown()) say(dim('Labs removed: no namespace or process of this run is left.'));
  else code = 1;
  const total = elapsedSeconds();
  const line = `demo ran ${total.toFixed(1)} s in total (node start, lab setup, the three parts and teardown)`;
  if (code !== 0) console.log(red(`✘ ${line}`));
  else if (total <= BUDGET_S) console.log(green(`✔ ${line}: under ${BUDGET_S} s`));
  else console.log(yellow(`⚠ ${line}: over the ${BUDGET_S} s budget on this machine right now`));
  process.exit(code);
}
