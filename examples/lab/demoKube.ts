// Part 3 of `npm run demo`: kube-loxilb gives a `kubectl apply`-ed Service
// its EXTERNAL-IP and a client outside the cluster reaches it, on
// KubeLoxilbLab (a real kube-apiserver and etcd, the real kube-loxilb with
// the seed's flags, two `loxilb --bgp` LB nodes, a `loxilb --peer` worker, a
// BIRD router with a client behind it).
//
// No kubelet, kube-proxy or controller-manager runs here, so the demo plays
// their part and says so: the `default` ServiceAccount (which the pod in
// examples/services/tcp.yaml needs to be admitted), an HTTP server in the
// worker's namespace on the Service's NodePort (the pod behind kube-proxy),
// and the EndpointSlice the control plane would derive for that pod
// (the Service asks for externalTrafficPolicy: Local).
import { fileURLToPath } from 'node:url';
import { CLIENT, LB_NODES, LOXICMD_BIN, ROOT, ROUTER, WORKER } from '../../test/lab/BgpLab.ts';
import { KubeLoxilbLab, seedControllerArgs } from '../../test/lab/KubeLoxilbLab.ts';
import { StopWaiting, waitFor } from '../../test/lab/wait.ts';
import { dim, heading, notice, ok, say, shell, userShell } from './demoOutput.ts';

const ECHO = fileURLToPath(new URL('../../test/lab/l4Echo.ts', import.meta.url));
const MANIFEST = 'examples/services/tcp.yaml';
const SERVICE = 'nginx-lb1';
const PORT = 55002;
const VIP = '123.123.123.1';
/** kube-loxilb's health period for the LB agents (a short one, as the integration tests use). */
const ROLE_PERIOD_MS = 500;

export function createKubeLab(): Promise<KubeLoxilbLab> {
  return KubeLoxilbLab.create({ controllerArgs: seedControllerArgs(ROLE_PERIOD_MS), bgp: { client: true } }).then(async (k) => {
    try {
      // What the controller-manager would have created with the namespace.
      await k.api.ensure('/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'default' } });
      return k;
    } catch (err) {
      await k.destroy();
      throw err;
    }
  });
}

export function describeKubeLab(k: KubeLoxilbLab): void {
  say(`namespaces ${dim(`${k.t.lab.prefix}{sw,wan,router,lb1,lb2,worker,client,kctl}`)}; etcd and kube-apiserver (pids ${k.api.pids.join(', ')}) on ${k.api.url}`);
  say(`kube-loxilb ${dim(seedControllerArgs(ROLE_PERIOD_MS).join(' '))}, pid ${k.ctl?.pid}`);
}

export async function kubeStory(k: KubeLoxilbLab): Promise<void> {
  const t = k.t;
  const kubectl = (args: string[]) => userShell(`kubectl ${args.join(' ')}`, () => k.mustKubectl(args));

  heading('kube-loxilb programs the LB nodes (--setBGP, --setRoles) and picks a MASTER');
  let master = await waitFor(
    async () => {
      k.controllerAlive();
      return k.masterNode();
    },
    { timeoutMs: 30_000, intervalMs: 100, what: 'kube-loxilb to make one LB agent MASTER' },
  );
  await shell(master.name, 'loxicmd get hastate', () => t.lab.run(master.name, [LOXICMD_BIN, 'get', 'hastate']));
  notice(`kube-loxilb (--setRoles) made ${master.name} MASTER; it also configured BGP on every agent (--setBGP, --extBGPPeers)`);

  heading(`kubectl apply a Service of type LoadBalancer (${MANIFEST})`);
  await kubectl(['apply', '-f', MANIFEST]);
  const nodePort = await waitFor(async () => k.nodePort(SERVICE), { timeoutMs: 10_000, what: `${SERVICE}'s NodePort` });
  // The pod's part: an HTTP server on the worker's NodePort (what kube-proxy forwards to the pod), then the EndpointSlice.
  const echo = t.lab.spawn(WORKER.name, process.execPath, ['--import', 'tsx', ECHO, '--name', 'nginx-test', '--http', String(nodePort)], { cwd: ROOT, logName: `${WORKER.name}.nginx-test` });
  await waitFor(
    () => {
      if (!echo.alive()) throw new StopWaiting(`the HTTP server on the worker exited: ${echo.log()}`);
      return echo.log().includes('ready');
    },
    { timeoutMs: 15_000, what: `the HTTP server on ${WORKER.name}:${nodePort}` },
  );
  await k.api.create('endpointslices', {
    metadata: { name: `${SERVICE}-x7k2p`, namespace: 'default', labels: { 'kubernetes.io/service-name': SERVICE } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.1.5'], nodeName: WORKER.name, conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'nginx-test', namespace: 'default' } }],
    ports: [{ name: '', port: 80, protocol: 'TCP' }],
  });
  say(dim(`(no kubelet or kube-proxy runs in this lab: an HTTP server in ${WORKER.name}'s namespace on NodePort ${nodePort} stands in for the nginx-test pod, and the demo writes the EndpointSlice that puts the pod on ${WORKER.name})`));

  await waitFor(
    async () => {
      k.controllerAlive();
      const out = await k.mustKubectl(['get', 'svc']);
      return new RegExp(`^${SERVICE}\\s.*\\s${VIP.replaceAll('.', '\\.')}\\s`, 'm').test(out) ? out : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `${SERVICE} to show its EXTERNAL-IP` },
  );
  await kubectl(['get', 'svc']);
  notice(`kube-loxilb allocated ${VIP} from --externalCIDR and wrote it to the Service's status: that is the EXTERNAL-IP column`);

  // Both agents hold the rule and the datapath has it.
  for (const lb of LB_NODES) {
    await waitFor(
      async () => {
        k.controllerAlive();
        const r = (await k.rulesOn(lb)).find((x) => x.serviceArguments.externalIP === VIP && x.serviceArguments.port === PORT);
        if (r && r.programmed === false) throw new StopWaiting(`${SERVICE}'s rule is not programmed on ${lb.name}: ${r.reason}`);
        return r?.programmed === true;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `${VIP}:${PORT} programmed on ${lb.name}` },
    );
  }
  await shell(master.name, 'loxicmd get lb', () => t.lab.run(master.name, [LOXICMD_BIN, 'get', 'lb']));
  notice(`the rule kube-loxilb posted: ${VIP}:${PORT} to the worker's NodePort ${nodePort} (fullnat, as the Service's loxilb.io/lbmode asks; the control-plane LB nodes are excluded)`);

  heading(`A client outside the cluster reaches the EXTERNAL-IP`);
  // Asked afresh each time: kube-loxilb moves the role if a busy machine makes an agent miss its health checks.
  const serving = await waitFor(
    async () => {
      k.controllerAlive();
      const m = await k.masterNode();
      if (!m || (await k.bestVia(VIP)) !== m.ipv4) return undefined;
      return (await t.kernelBgpRoutes(WORKER.name))[VIP] === m.ipv4 ? m : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `the router's best path and the worker's route to ${VIP} via the MASTER` },
  );
  if (serving !== master) say(dim(`(${serving.name} is MASTER now: kube-loxilb moved the role meanwhile)`));
  master = serving;
  await shell(ROUTER.name, `birdc show route for ${VIP}`, () => t.bird.birdc(`show route for ${VIP}`));
  const reply = await shell(CLIENT.name, `curl http://${VIP}:${PORT}/`, () => t.lab.run(CLIENT.name, ['curl', '-sS', '-m', '5', `http://${VIP}:${PORT}/`]));
  const seen = JSON.parse(reply) as { name: string; remote: string };
  if (seen.name !== 'nginx-test' || seen.remote !== VIP) throw new Error(`unexpected answer from ${VIP}:${PORT}: ${reply}`);
  ok(`answered by the Service's endpoint on ${WORKER.name}, through ${master.name}`);
  notice(`the router learned ${VIP} over BGP from the LB nodes (best: the MASTER ${master.name}); the endpoint saw ${seen.remote} as its peer (fullnat)`);
}
