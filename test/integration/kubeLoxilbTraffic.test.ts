// kube-loxilb from `kubectl apply` to a reply: packets through the VIPs it
// gives out, on the in-cluster topology of kubeLoxilb.test.ts
// (test/lab/KubeLoxilbLab.ts: two `loxilb --bgp` LB nodes, a `loxilb --peer`
// worker, a BIRD router, a real kube-apiserver, the real kube-loxilb, kubectl), plus a
// client outside the cluster behind the router (BgpLab `client`): BIRD puts
// the paths it learns from the LB nodes into the router's kernel, so the
// client reaches a VIP through the node BGP prefers, the MASTER.
//
//   client --[wan]-- router (BIRD, AS 65101) --[sw]-- lb1, lb2 (loxilb --bgp), worker (loxilb --peer), kctl (kube-loxilb)
//
// kube-loxilb runs with the seed's flags plus an IPv6 pool
// (`--cidr6Pools=defaultPool=3ffe:cafe::1/96`, kube-loxilb's own default,
// spelled out) and the router's IPv6 address among the --extBGPPeers, so the
// LB nodes advertise IPv6 VIPs over IPv6 sessions. The Node objects carry an
// IPv4 and an IPv6 InternalIP, as in a dual-stack cluster. In nodePort mode
// (the default) the endpoints are the worker's InternalIP of the VIP's
// family at the NodePort, so the servers here listen on the NodePorts in the
// worker's namespace, as kube-proxy would make the pods answer there.
//
// The Services are `loxilb.io/lbmode: fullnat`, as examples/services deploy
// them in-cluster: the worker sees the VIP as the client and answers it; its
// `loxilb --peer` has learned the IPv4 VIPs from the LB nodes over iBGP (next
// hop: the MASTER). kube-loxilb's mesh is IPv4 only (the agents are found by
// their IPv4 EndpointSlice address, as kube-loxilb finds them), so an IPv6
// VIP reaches the worker's default route instead, the router, which sends it
// to the MASTER like any other packet for the VIP.
//
// What kube-loxilb does for a dual-stack Service (ipFamilyPolicy
// RequireDualStack, ipFamilies [IPv4, IPv6], no loxilb.io/ipam): one VIP per
// family, IPv4 from --externalCIDR, IPv6 from the IPv6 defaultPool; status
// lists both, so `kubectl get svc` shows `123.123.123.1,3ffe:cafe::1`; one
// rule per VIP, the IPv4 VIP to the worker's IPv4 address and the IPv6 VIP
// to its IPv6 address (NAT66), both at the same NodePort. kube-loxilb
// (upstream) reads only loxilb.io/ipam and would give such a Service one
// IPv4 VIP; PreferDualStack gets both here too and falls back to the
// primary family when the second cannot be allocated (README, IPAM).
// loxilb.io/ipam: ipv6to4 gives an IPv6 VIP with the worker's IPv4 address
// behind it (NAT64), the same as kube-loxilb.
//
// A Service whose rule the agents refuse (lbmode fullproxy: a 400 at POST,
// loxilb-ts has no L7 proxy) still gets its address from IPAM, a
// ProgrammingFailed Warning naming the reason, no rule on any agent, and no
// route at the router; a probe type an LB rule cannot carry (http) is caught
// before anything is posted (RuleNotInstalled).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease, V1Service } from '@kubernetes/client-node';
import { CLIENT, LB_NODES, ROOT, ROUTER, ROUTER_AS, WORKER, type NodeAddr } from '../lab/BgpLab.ts';
import { KubeLoxilbLab, POD_NAME, seedControllerArgs, type AgentRule } from '../lab/KubeLoxilbLab.ts';
import { SctpPeerProcess } from '../lab/SctpPeerProcess.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const VIP = '123.123.123.1';
const VIP6 = '3ffe:cafe::1';
const PERIOD_MS = 500;
const ECHO = fileURLToPath(new URL('../lab/l4Echo.ts', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('../lab/l4Client.ts', import.meta.url));

const CONTROLLER_ARGS = [
  ...seedControllerArgs(PERIOD_MS).filter((a) => !a.startsWith('--extBGPPeers=')),
  `--extBGPPeers=${ROUTER.ipv4}:${ROUTER_AS},[${ROUTER.ipv6}]:${ROUTER_AS}`,
  '--cidr6Pools=defaultPool=3ffe:cafe::1/96',
];

function service(name: string, port: number, opts: { protocol?: string; annotations?: Record<string, string>; spec?: string } = {}): string {
  const ann = Object.entries(opts.annotations ?? {});
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
${ann.length > 0 ? `  annotations:\n${ann.map(([k, v]) => `    ${k}: "${v}"`).join('\n')}\n` : ''}spec:
  loadBalancerClass: loxilb.io/loxilb
${opts.spec ?? ''}  selector:
    what: ${name}
  ports:
    - port: ${port}
      protocol: ${opts.protocol ?? 'TCP'}
      targetPort: 80
  type: LoadBalancer
`;
}

const FULLNAT = { 'loxilb.io/lbmode': 'fullnat' };

interface Reply {
  name?: string;
  remote?: string;
  error?: string;
}

/** Who answered and which peer address it saw, or the client's error. */
function seenBy(r: Reply): string {
  return r.error ? `error:${r.error}` : `${r.name}@${r.remote}`;
}

interface CtEntry {
  sourceIP: string;
  destinationIP: string;
  destinationPort: number;
  protocol: string;
  conntrackState: string;
}

describe('kube-loxilb: traffic through the VIPs it gives out (SCTP, dual-stack, NAT64, refused rules)', { timeout: 300_000 }, () => {
  let k: KubeLoxilbLab;
  let t: KubeLoxilbLab['t'];
  let master: NodeAddr;
  let backup: NodeAddr;

  before(async () => {
    k = await KubeLoxilbLab.create({ controllerArgs: CONTROLLER_ARGS, bgp: { client: true }, dualStackNodes: true });
    t = k.t;
  });

  after(async () => {
    await k?.destroy();
  });

  /** l4Echo (HTTP on both families) on a port of the worker, named "worker". */
  async function echoOnWorker(port: number): Promise<void> {
    const p = t.lab.spawn(WORKER.name, process.execPath, ['--import', 'tsx', ECHO, '--name', 'worker', '--http', String(port)], { cwd: ROOT, logName: `worker.echo${port}` });
    await waitFor(
      () => {
        if (!p.alive()) throw new StopWaiting(`l4Echo in the worker exited: ${p.log()}`);
        return p.log().includes('ready');
      },
      { timeoutMs: 15_000, what: `l4Echo on worker:${port}` },
    );
  }

  /** HTTP requests from the client, each on a new connection. */
  async function httpFromClient(target: string, count: number): Promise<Reply[]> {
    const out = await t.lab.run(CLIENT.name, [process.execPath, '--import', 'tsx', CLIENT_SCRIPT, 'http', '--target', target, '--count', String(count), '--timeout', '3000'], {
      cwd: ROOT,
      timeoutMs: 30_000 + count * 3000,
    });
    return (JSON.parse(out.trim().split('\n').pop()!) as { replies: Reply[] }).replies;
  }

  async function dpStats(n: NodeAddr): Promise<Record<string, number>> {
    return (await t.mustApi(n.name, 'GET', '/status')).datapath.stats as Record<string, number>;
  }

  async function conntrack(n: NodeAddr): Promise<CtEntry[]> {
    return ((await t.mustApi(n.name, 'GET', '/config/conntrack/all')).ctAttr ?? []) as CtEntry[];
  }

  /** Waits until both LB agents hold the rule and report it programmed; returns it as each holds it. */
  async function programmedOnBoth(ip: string, port: number, protocol: string): Promise<AgentRule[]> {
    const found: AgentRule[] = [];
    for (const lb of [LB1, LB2]) {
      found.push(
        await waitFor(
          async () => {
            k.controllerAlive();
            const r = (await k.rulesOn(lb)).find((x) => x.serviceArguments.externalIP === ip && x.serviceArguments.port === port && x.serviceArguments.protocol === protocol);
            if (r && r.programmed === false) throw new Error(`not programmed on ${lb.name}: ${r.reason}`);
            return r?.programmed === true ? r : undefined;
          },
          { timeoutMs: 20_000, what: `${ip}:${port}/${protocol} programmed on ${lb.name}` },
        ),
      );
    }
    return found;
  }

  function endpointsOf(r: AgentRule): string[] {
    return (r.endpoints ?? []).map((e) => `${e.endpointIP}:${e.targetPort}`);
  }

  it('kube-loxilb takes the Lease, elects a MASTER and meshes BGP on both families with the router', async (tc) => {
    await waitFor(
      async () => {
        k.controllerAlive();
        return (await k.api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system'))?.spec?.holderIdentity === POD_NAME;
      },
      { timeoutMs: 30_000, what: 'kube-loxilb to hold the Lease' },
    );
    master = await waitFor(() => k.masterNode(), { timeoutMs: 20_000, what: 'one MASTER among the LB agents' });
    backup = master === LB1 ? LB2 : LB1;
    tc.diagnostic(`MASTER ${master.name}, BACKUP ${backup.name}`);
    assert.equal((await k.ciState(backup))?.state, 'BACKUP');
    for (const lb of [LB1, LB2]) {
      const other = lb === LB1 ? LB2 : LB1;
      await t.waitEstablished(lb.name, [ROUTER.ipv4, ROUTER.ipv6, other.ipv4, WORKER.ipv4], 60_000);
    }
  });

  it('SCTP: kubectl apply, an EXTERNAL-IP, programmed on both agents, and an association from outside echoed by the worker through the MASTER', async () => {
    await k.mustKubectl(['apply', '-f', '-'], service('sctp-echo', 55004, { protocol: 'SCTP', annotations: FULLNAT }));
    const rows = await waitFor(
      async () => {
        k.controllerAlive();
        const svc = await k.getSvc();
        return svc.get('sctp-echo')?.['EXTERNAL-IP'] === VIP ? svc : undefined;
      },
      { timeoutMs: 30_000, what: 'sctp-echo to show its EXTERNAL-IP' },
    );
    const np = await k.nodePort('sctp-echo');
    assert.equal(rows.get('sctp-echo')!['PORT(S)'], `55004:${np}/SCTP`);
    for (const r of await programmedOnBoth(VIP, 55004, 'sctp')) {
      assert.deepEqual(endpointsOf(r), [`${WORKER.ipv4}:${np}`], 'the worker (not the excluded control-plane nodes) at the NodePort');
      assert.equal(r.serviceArguments.mode, 2);
      assert.equal(r.serviceArguments.name, 'default_sctp-echo:llb-inst0');
    }

    const server = await SctpPeerProcess.start(t.lab, WORKER.name, { mode: 'server', port: np, name: 'worker' });
    const client = await SctpPeerProcess.start(t.lab, CLIENT.name, { mode: 'client' });
    // The way there: the router's best path is the MASTER; the way back: the worker learned the VIP from the LBs.
    await waitFor(async () => (await k.bestVia(VIP)) === master.ipv4, { timeoutMs: 30_000, what: `the router's best path to ${VIP} via the MASTER ${master.name}` });
    await waitFor(async () => (await t.kernelBgpRoutes(WORKER.name))[VIP] === master.ipv4, { timeoutMs: 20_000, what: `the worker's BGP route to ${VIP} via the MASTER` });

    const before = await Promise.all([dpStats(master), dpStats(backup)]);
    const a = await client.connect({ server: VIP, port: 55004 });
    assert.deepEqual(a.serverAddresses, [VIP], 'the client never learns the endpoint address');
    const e1 = await client.send('hello from outside', a.assoc);
    const e2 = await client.send('and again', a.assoc);
    assert.deepEqual([e1.text, e1.from, e1.to], [`worker@${WORKER.ipv4}: hello from outside`, VIP, CLIENT.ipv4]);
    assert.equal(e2.text, `worker@${WORKER.ipv4}: and again`);
    const sa = (await server.associations(np)).find((x) => x.peerTag === a.localTag);
    assert.ok(sa, 'the worker has the association');
    assert.deepEqual(sa.sources, [VIP], 'fullnat: the worker saw the VIP as its peer');

    // Through the MASTER: it tracks the association and counted it; the BACKUP saw none of it.
    const mine = (n: NodeAddr) => conntrack(n).then((ct) => ct.filter((x) => x.protocol === 'sctp' && x.sourceIP === CLIENT.ipv4 && x.destinationPort === 55004));
    assert.deepEqual((await mine(master)).map((x) => `${x.destinationIP} ${x.conntrackState}`), [`${VIP} est`]);
    assert.deepEqual(await mine(backup), []);
    const after = await Promise.all([dpStats(master), dpStats(backup)]);
    assert.ok(after[0]!.ctNew! > before[0]!.ctNew!, `MASTER ctNew ${before[0]!.ctNew} -> ${after[0]!.ctNew}`);
    assert.equal(after[1]!.ctNew, before[1]!.ctNew, 'the BACKUP set up no connection');
    await client.shutdown(a.assoc);
    assert.deepEqual((await client.stats()).badChecksums, []);
    assert.deepEqual((await server.stats()).badChecksums, []);
    await client.close();
    await server.close();
  });

  it('dual-stack: RequireDualStack [IPv4, IPv6] gets an IPv4 and an IPv6 EXTERNAL-IP, and HTTP from outside is answered on both', async () => {
    await k.mustKubectl(
      ['apply', '-f', '-'],
      service('web-ds', 8080, { annotations: FULLNAT, spec: '  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]\n' }),
    );
    const rows = await waitFor(
      async () => {
        k.controllerAlive();
        const svc = await k.getSvc();
        return svc.get('web-ds')?.['EXTERNAL-IP'] === `${VIP},${VIP6}` ? svc : undefined;
      },
      { timeoutMs: 30_000, what: 'web-ds to show an IPv4 and an IPv6 EXTERNAL-IP' },
    );
    const np = await k.nodePort('web-ds');
    assert.equal(rows.get('web-ds')!['PORT(S)'], `8080:${np}/TCP`);
    const svc = (await k.api.get<V1Service>('services', 'web-ds'))!;
    assert.deepEqual(svc.spec!.ipFamilies, ['IPv4', 'IPv6']);
    assert.deepEqual(svc.status!.loadBalancer!.ingress!.map((i) => i.ip), [VIP, VIP6]);

    // One rule per family, each to the worker's address of that family (NAT66 for the IPv6 one).
    for (const r of await programmedOnBoth(VIP, 8080, 'tcp')) assert.deepEqual(endpointsOf(r), [`${WORKER.ipv4}:${np}`]);
    for (const r of await programmedOnBoth(VIP6, 8080, 'tcp')) {
      assert.deepEqual(endpointsOf(r), [`${WORKER.ipv6}:${np}`]);
      assert.equal(r.serviceArguments.name, 'default_web-ds:llb-inst0');
    }
    assert.deepEqual((await k.events('web-ds', 'RuleNotInstalled')).map((e) => e.message), []);
    assert.deepEqual((await k.events('web-ds', 'ProgrammingFailed')).map((e) => e.message), []);

    await echoOnWorker(np);
    // Both VIPs at the router, each over the session of its family, best via the MASTER.
    await waitFor(async () => (await k.bestVia(VIP)) === master.ipv4, { timeoutMs: 30_000, what: `the router's best path to ${VIP} via ${master.name}` });
    await waitFor(async () => (await k.bestVia(VIP6)) === master.ipv6, { timeoutMs: 30_000, what: `the router's best path to ${VIP6} via ${master.name}` });

    const before = await Promise.all([dpStats(master), dpStats(backup)]);
    const v4 = await httpFromClient(`${VIP}:8080`, 2);
    const v6 = await httpFromClient(`[${VIP6}]:8080`, 2);
    // fullnat: the worker answered the VIP of each family.
    assert.deepEqual(v4.map(seenBy), [`worker@${VIP}`, `worker@${VIP}`]);
    assert.deepEqual(v6.map(seenBy), [`worker@${VIP6}`, `worker@${VIP6}`]);
    const after = await Promise.all([dpStats(master), dpStats(backup)]);
    assert.ok(after[0]!.ctNew! - before[0]!.ctNew! >= 4, `MASTER ctNew ${before[0]!.ctNew} -> ${after[0]!.ctNew}`);
    assert.equal(after[1]!.ctNew, before[1]!.ctNew, 'the BACKUP set up no connection');
  });

  it('loxilb.io/ipam ipv6to4: an IPv6 EXTERNAL-IP served by the worker\'s IPv4 address (NAT64)', async () => {
    await k.mustKubectl(['apply', '-f', '-'], service('web-64', 8081, { annotations: { ...FULLNAT, 'loxilb.io/ipam': 'ipv6to4' } }));
    await waitFor(
      async () => {
        k.controllerAlive();
        return (await k.getSvc()).get('web-64')?.['EXTERNAL-IP'] === VIP6;
      },
      { timeoutMs: 30_000, what: 'web-64 to show the IPv6 EXTERNAL-IP it shares with web-ds (another port)' },
    );
    const np = await k.nodePort('web-64');
    for (const r of await programmedOnBoth(VIP6, 8081, 'tcp')) assert.deepEqual(endpointsOf(r), [`${WORKER.ipv4}:${np}`]);
    await echoOnWorker(np);
    const before = (await dpStats(master)).familyTranslated!;
    const replies = await httpFromClient(`[${VIP6}]:8081`, 2);
    // An IPv4 endpoint cannot see an IPv6 client: the MASTER's IPv4 address on the link is its peer.
    assert.deepEqual(replies.map(seenBy), [`worker@${master.ipv4}`, `worker@${master.ipv4}`]);
    assert.ok((await dpStats(master)).familyTranslated! > before, 'the MASTER translated between the families');
  });

  it('a rule the agents refuse: a ProgrammingFailed Warning in kubectl describe naming the reason, no rule, and its EXTERNAL-IP not at the router', async (tc) => {
    // Port 8080/TCP is web-ds's on the shared address, so each gets an address of its own.
    await k.mustKubectl(
      ['apply', '-f', '-'],
      `${service('proxy-lb', 8080, { annotations: { 'loxilb.io/lbmode': 'fullproxy' } })}---\n${service('probe-lb', 8080, { annotations: { 'loxilb.io/liveness': 'yes', 'loxilb.io/probetype': 'http' } })}`,
    );
    const ips = await waitFor(
      async () => {
        k.controllerAlive();
        const svc = await k.svcAddresses();
        const a = svc.get('proxy-lb')?.ips[0];
        const b = svc.get('probe-lb')?.ips[0];
        return a && b ? { proxy: a, probe: b } : undefined;
      },
      { timeoutMs: 30_000, what: 'proxy-lb and probe-lb to get their addresses' },
    );
    assert.equal(new Set([VIP, ips.proxy, ips.probe]).size, 3, `addresses ${ips.proxy}, ${ips.probe}`);

    // fullproxy is refused by each agent at POST (400): the Warning names the agent and the reason.
    const failed = await waitFor(async () => (await k.events('proxy-lb', 'ProgrammingFailed'))[0], { timeoutMs: 20_000, what: 'a ProgrammingFailed Event for proxy-lb' });
    assert.equal(failed.type, 'Warning');
    assert.match(failed.message ?? '', new RegExp(`rule ${ips.proxy.replaceAll('.', '\\.')}:8080/tcp`));
    assert.match(failed.message ?? '', /fullproxy/);
    assert.equal(failed.reportingInstance, POD_NAME);
    tc.diagnostic(`proxy-lb ${ips.proxy}: ProgrammingFailed: ${failed.message}`);
    const describe = await k.mustKubectl(['describe', 'svc', 'proxy-lb']);
    assert.match(describe, /Warning\s+ProgrammingFailed\s+.*fullproxy/);
    // An http probe cannot be put on an LB rule (loxilb refuses it too): caught before anything is posted.
    const notInstalled = await waitFor(async () => (await k.events('probe-lb', 'RuleNotInstalled'))[0], { timeoutMs: 20_000, what: 'a RuleNotInstalled Event for probe-lb' });
    tc.diagnostic(`probe-lb ${ips.probe}: RuleNotInstalled: ${notInstalled.message}`);
    assert.match(notInstalled.message ?? '', /probetype/);
    assert.match(await k.mustKubectl(['describe', 'svc', 'probe-lb']), /Warning\s+RuleNotInstalled\s+.*probetype/);

    for (const lb of [LB1, LB2]) {
      const held = (await k.rulesOn(lb)).map((r) => r.serviceArguments.externalIP);
      assert.ok(!held.includes(ips.proxy) && !held.includes(ips.probe), `${lb.name} holds ${held.join(', ')}`);
    }
    // The router keeps the served VIPs and never learns the others (watched for a while: BGP would have carried them in well under a second).
    for (let i = 0; i < 15; i++) {
      assert.equal(await k.routerKnows(ips.proxy), false, `${ips.proxy} advertised`);
      assert.equal(await k.routerKnows(ips.probe), false, `${ips.probe} advertised`);
      await sleep(200);
    }
    assert.equal(await k.bestVia(VIP), master.ipv4);
    assert.equal(await k.bestVia(VIP6), master.ipv6);
  });

  it('deleting the Services withdraws both families\' VIPs at the router', async () => {
    await k.mustKubectl(['delete', 'svc', 'sctp-echo', 'web-ds', 'web-64', 'proxy-lb', 'probe-lb']);
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await k.rulesOn(lb)).length === 0, { timeoutMs: 20_000, what: `no rules left on ${lb.name}` });
    }
    for (const ip of [VIP, VIP6]) {
      await waitFor(async () => !(await k.routerKnows(ip)), { timeoutMs: 20_000, what: `the router to drop ${ip}` });
    }
    const replies = await httpFromClient(`[${VIP6}]:8080`, 1);
    assert.ok(replies[0]!.error, `no answer once the Service is gone: ${JSON.stringify(replies)}`);
  });
});
