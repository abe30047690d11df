// The real, Go kube-loxilb (github.com/loxilb-io/kube-loxilb, pinned in
// scripts/build-go-peers.sh) against our agents, on the in-cluster topology
// of kubeLoxilb.test.ts (test/lab/KubeLoxilbLab.ts: a real kube-apiserver,
// two `loxilb --bgp` LB nodes, a `loxilb --peer` worker, a BIRD router and a
// client behind it). It runs as its own manifest deploys it (its
// ServiceAccount, ClusterRole and CRDs), finds the agents through the
// loxilb-lb-service / loxilb-peer-service Endpoints, and everything it
// programs must work as with loxilb: one MASTER, the BGP mesh, rules on every
// agent, the router's best path through the MASTER, replies from the
// endpoint; deleting the Service takes it all back. Differences we found are
// in the README's compatibility section.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { CLIENT, CLUSTER_AS, LB_NODES, ROOT, ROUTER, ROUTER_AS, WORKER, type NodeAddr } from '../lab/BgpLab.ts';
import { KubeLoxilbLab, SET_ROLES, type AgentRule } from '../lab/KubeLoxilbLab.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const VIP = '123.123.123.1';
const ECHO = fileURLToPath(new URL('../lab/l4Echo.ts', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('../lab/l4Client.ts', import.meta.url));

/** The seed's kube-loxilb flags, as the Go controller takes them. */
const GO_ARGS = ['--cidrPools=defaultPool=123.123.123.1/24,pool2=124.124.124.1/24', `--setBGP=${CLUSTER_AS}`, `--setRoles=${SET_ROLES}`, `--extBGPPeers=${ROUTER.ipv4}:${ROUTER_AS}`, '--v=2'];

const WEB = `apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    loxilb.io/lbmode: fullnat
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: web
  ports:
    - port: 8080
      targetPort: 80
  type: LoadBalancer
`;

const POOL2_VIP = '124.124.124.1';
const SECONDARY = '123.123.123.200';
/** loxilb's annotations: a pool, a secondary IP, liveness with a ping probe, a timeout, hash selection. */
const ANNOTATED = `apiVersion: v1
kind: Service
metadata:
  name: annotated
  annotations:
    loxilb.io/lbmode: fullnat
    loxilb.io/poolSelect: pool2
    loxilb.io/secondaryIPs: "${SECONDARY}"
    loxilb.io/liveness: "yes"
    loxilb.io/probetype: ping
    loxilb.io/timeout: "600"
    loxilb.io/epselect: hash
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: annotated
  ports:
    - port: 8081
      targetPort: 80
  type: LoadBalancer
`;

describe('the Go kube-loxilb against our agents and a real kube-apiserver', { timeout: 300_000 }, () => {
  let k: KubeLoxilbLab;
  let t: KubeLoxilbLab['t'];
  let master: NodeAddr;

  before(async () => {
    k = await KubeLoxilbLab.create({ controller: 'go', controllerArgs: GO_ARGS, bgp: { client: true } });
    t = k.t;
  });

  after(async () => {
    if (process.env.KUBE_LOXILB_LOG && k?.ctl) console.error(k.ctl.log());
    await k?.destroy();
  });

  const rulesFor = async (n: NodeAddr): Promise<AgentRule[]> => (await k.rulesOn(n)).filter((r) => r.serviceArguments.externalIP === VIP);

  it('sets one MASTER and one BACKUP among the LB agents and meshes BGP with the router', async () => {
    const states = await waitFor(
      async () => {
        k.controllerAlive();
        const s = await Promise.all([LB1, LB2].map((n) => k.ciState(n)));
        return s.filter((x) => x?.state === 'MASTER').length === 1 && s.filter((x) => x?.state === 'BACKUP').length === 1 ? s : undefined;
      },
      { timeoutMs: 60_000, what: 'one MASTER and one BACKUP among the LB agents' },
    );
    master = (await k.masterNode())!;
    assert.ok(master, `states ${JSON.stringify(states)}`);
    await t.waitEstablished(LB1.name, [ROUTER.ipv4, LB2.ipv4, WORKER.ipv4], 60_000);
    await t.waitEstablished(LB2.name, [ROUTER.ipv4, LB1.ipv4, WORKER.ipv4], 60_000);
  });

  it('a Service gets its EXTERNAL-IP, a rule on both agents, the router goes through the MASTER, and the endpoint answers', async () => {
    await k.mustKubectl(['apply', '-f', '-'], WEB);
    await waitFor(
      async () => {
        k.controllerAlive();
        // The Go controller writes the zone-prefixed hostname form (llb-<ip>), as loxilb users see it.
        return (await k.getSvc()).get('web')?.['EXTERNAL-IP'] === `llb-${VIP}`;
      },
      { timeoutMs: 60_000, what: 'kubectl get svc to show the EXTERNAL-IP' },
    );
    const np = await k.nodePort('web');
    for (const lb of [LB1, LB2]) {
      const rules = await waitFor(async () => ((await rulesFor(lb)).some((r) => r.programmed) ? rulesFor(lb) : undefined), { timeoutMs: 30_000, what: `the rule on ${lb.name}` });
      assert.equal(rules.length, 1, JSON.stringify(rules));
      const r = rules[0]!;
      assert.equal(r.serviceArguments.port, 8080);
      assert.equal(r.serviceArguments.mode, 2, 'fullnat, from the loxilb.io/lbmode annotation');
      assert.equal(r.programmed, true, r.reason);
      assert.ok((r.endpoints ?? []).some((e) => e.endpointIP === WORKER.ipv4 && e.targetPort === np), JSON.stringify(r.endpoints));
    }
    const echo = t.lab.spawn(WORKER.name, process.execPath, ['--import', 'tsx', ECHO, '--name', 'worker', '--http', String(np)], { cwd: ROOT, logName: `worker.echo${np}` });
    await waitFor(
      () => {
        if (!echo.alive()) throw new StopWaiting(`l4Echo in the worker exited: ${echo.log()}`);
        return echo.log().includes('ready');
      },
      { timeoutMs: 15_000, what: `l4Echo on worker:${np}` },
    );
    await waitFor(async () => (await k.bestVia(VIP)) === master.ipv4, { timeoutMs: 30_000, what: `the router's best path to ${VIP} via ${master.name}` });
    const out = await t.lab.run(CLIENT.name, [process.execPath, '--import', 'tsx', CLIENT_SCRIPT, 'http', '--target', `${VIP}:8080`, '--count', '4', '--timeout', '3000'], { cwd: ROOT, timeoutMs: 60_000 });
    const replies = (JSON.parse(out.trim().split('\n').pop()!) as { replies: { name?: string; error?: string }[] }).replies;
    assert.deepEqual(replies.map((r) => r.name ?? `error:${r.error}`), ['worker', 'worker', 'worker', 'worker']);
  });

  it("loxilb's annotations (pool, secondary IP, liveness probe, timeout, selection) reach both agents as rules they carry", async () => {
    await k.mustKubectl(['apply', '-f', '-'], ANNOTATED);
    await waitFor(
      async () => {
        k.controllerAlive();
        return (await k.getSvc()).get('annotated')?.['EXTERNAL-IP']?.includes(POOL2_VIP);
      },
      { timeoutMs: 60_000, what: 'the annotated Service to show an address from pool2' },
    );
    for (const lb of [LB1, LB2]) {
      const r = await waitFor(
        async () => (await k.rulesOn(lb)).find((x) => x.serviceArguments.externalIP === POOL2_VIP && x.programmed),
        { timeoutMs: 30_000, what: `the annotated rule programmed on ${lb.name}` },
      );
      const sa = r.serviceArguments as AgentRule['serviceArguments'] & Record<string, unknown>;
      assert.equal(sa.mode, 2);
      assert.equal(sa.monitor, true);
      assert.equal(sa.probetype, 'ping');
      assert.equal(sa.inactiveTimeOut, 600);
      assert.equal(sa.sel, 1, 'hash');
      assert.deepEqual(((r as unknown as { secondaryIPs?: { secondaryIP: string }[] }).secondaryIPs ?? []).map((x) => x.secondaryIP), [SECONDARY]);
    }
    try {
      await waitFor(async () => (await k.bestVia(POOL2_VIP)) === master.ipv4, { timeoutMs: 30_000, what: `the router's best path to ${POOL2_VIP} via ${master.name}` });
    } catch (err) {
      const routes = await t.bird.routesFor(`${POOL2_VIP}/32`);
      const rules = await Promise.all([LB1, LB2].map(async (n) => JSON.stringify((await k.rulesOn(n)).filter((x) => x.serviceArguments.externalIP === POOL2_VIP))));
      const rib = await Promise.all([LB1, LB2].map(async (n) => JSON.stringify(await t.gobgpJson(n.name, 'global', 'rib'))));
      throw new Error(`${(err as Error).message}\nrouter: ${JSON.stringify(routes)}\nrules: ${rules.join('\n')}\nribs: ${rib.map((r) => r.slice(0, 1500)).join('\n')}\nstates: ${JSON.stringify(await Promise.all([LB1, LB2].map((n) => k.ciState(n))))}`);
    }
    // In the BGP mesh, the BACKUP's best path to the VIP is its own (advertised to the router with the
    // BACKUP's MED), not the MASTER's path learned over iBGP (which would reach the router with no MED).
    const backup = master === LB1 ? LB2 : LB1;
    const rib = (await t.gobgpJson(backup.name, 'global', 'rib')) as Record<string, { best?: boolean; 'neighbor-ip'?: string }[]>;
    const best = (rib[`${POOL2_VIP}/32`] ?? []).find((p) => p.best);
    assert.ok(best && best['neighbor-ip'] === undefined, `${backup.name}'s best path to ${POOL2_VIP}: ${JSON.stringify(rib[`${POOL2_VIP}/32`])}`);
    await k.mustKubectl(['delete', 'svc', 'annotated']);
  });

  it('deleting the Service takes the rule off both agents and the VIP off the router', async () => {
    await k.mustKubectl(['delete', 'svc', 'web']);
    for (const lb of [LB1, LB2]) await waitFor(async () => (await rulesFor(lb)).length === 0, { timeoutMs: 30_000, what: `the rule gone from ${lb.name}` });
    await waitFor(async () => !(await k.routerKnows(VIP)), { timeoutMs: 30_000, what: `${VIP} withdrawn at the router` });
  });
});
