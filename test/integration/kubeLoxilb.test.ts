// kube-loxilb end to end, the way the seeds deploy it in-cluster: two
// `loxilb --bgp` LB nodes, a `loxilb --peer` worker and a BIRD router in
// network namespaces (test/lab/BgpLab.ts), FakeKubeApi as the API server,
// and the real `bin/kube-loxilb` process with the seed's flags
// (--externalCIDR, --setBGP, --setRoles, --extBGPPeers, no --loxiURL: the
// agents are discovered from the loxilb-lb-service / loxilb-peer-service
// EndpointSlices). The controller runs in its own lab node, as its pod
// would, and reaches the API server through a Unix-socket bridge
// (test/lab/KubeApiBridge.ts). Users act through the system kubectl.
//
// Then what a cluster does to it: the MASTER agent is SIGKILLed (the other
// takes over within one health period) and comes back empty, as a restarted
// DaemonSet pod would (the controller gives it BACKUP, its rules and its BGP
// config, and the MASTER never moves); the controller itself is SIGKILLed
// and started again while Services change (no Service's IP changes, none is
// given out twice); deleting the Services withdraws their VIPs at the router.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Event, V1Lease, V1Service } from '@kubernetes/client-node';
import { BgpLab, CLUSTER_AS, LB_NODES, ROOT, ROUTER, ROUTER_AS, WORKER, type NodeAddr } from '../lab/BgpLab.ts';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { KubeApiBridge } from '../lab/KubeApiBridge.ts';
import { writeKubeconfig } from '../lab/kubeconfig.ts';
import type { LabProcess } from '../lab/Lab.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';
import { agentUrl } from '../../src/kube/LoxiAgentPool.ts';

const KUBECTL = '/usr/bin/kubectl';
const KUBE_LOXILB_BIN = path.join(ROOT, 'bin/kube-loxilb');
const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const CTL = { name: 'kctl', ipv4: '192.168.80.250' };
const VIP = '123.123.123.1';
const POD_NAME = 'kube-loxilb-7d9f-abcde';
/** As the seeds deploy it: role arbitration on, 0.0.0.0 sent as every CI state's vip. */
const SET_ROLES = '0.0.0.0';
/** --roleHealthPeriod: short, so a dead MASTER is replaced quickly. */
const PERIOD_MS = 500;

/** A LoadBalancer Service of our class on one TCP port (no endpoints needed: nodePort mode uses the worker). */
function lbService(name: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: ${name}
  ports:
    - port: ${port}
      targetPort: 80
  type: LoadBalancer
`;
}

const SERVICES = `apiVersion: v1
kind: Service
metadata:
  name: nginx-lb1
spec:
  externalTrafficPolicy: Local
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: nginx-test
  ports:
    - port: 55002
      targetPort: 80
  type: LoadBalancer
---
apiVersion: v1
kind: Service
metadata:
  name: udp-lb1
  annotations:
    loxilb.io/liveness: "yes"
    loxilb.io/lbmode: "fullnat"
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: udp-test
  ports:
    - port: 55003
      protocol: UDP
      targetPort: 33333
  type: LoadBalancer
---
apiVersion: v1
kind: Service
metadata:
  name: sctp-lb1
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: sctp-test
  ports:
    - port: 55004
      protocol: SCTP
      targetPort: 9999
  type: LoadBalancer
---
apiVersion: v1
kind: Service
metadata:
  name: not-ours
spec:
  loadBalancerClass: example.com/other
  selector:
    what: other
  ports:
    - port: 80
  type: LoadBalancer
`;

interface AgentRule {
  serviceArguments: { externalIP: string; port: number; protocol: string; name?: string; mode?: number; monitor?: boolean; bgp?: boolean };
  endpoints?: { endpointIP: string; targetPort: number }[];
}

interface CiAttr {
  instance: string;
  state: string;
  vip?: string;
}

/** A rule as one line, to compare what two agents hold. */
function ruleLine(r: AgentRule): string {
  const sa = r.serviceArguments;
  const eps = (r.endpoints ?? []).map((e) => `${e.endpointIP}:${e.targetPort}`).sort().join(',');
  return `${sa.externalIP}:${sa.port}/${sa.protocol} ${sa.name ?? ''} -> ${eps}`;
}

describe('kube-loxilb with kubectl, FakeKubeApi and real agents', { timeout: 300_000 }, () => {
  let t: BgpLab;
  let api: FakeKubeApi;
  let bridge: KubeApiBridge | undefined;
  let ctl: LabProcess | undefined;
  let kubeconfig: string;
  let cacheDir: string;
  /** The controller's kubeconfig (through the bridge), kept for its restart. */
  let ctlKubeconfig: string;

  function kubectl(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(stdin ?? '');
    });
  }

  async function mustKubectl(args: string[], stdin?: string): Promise<string> {
    const r = await kubectl(args, stdin);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** `kubectl get svc` rows: name -> columns. */
  async function getSvc(): Promise<Map<string, Record<string, string>>> {
    const lines = (await mustKubectl(['get', 'svc'])).trim().split('\n');
    const header = lines[0]!.trim().split(/\s{2,}/);
    const out = new Map<string, Record<string, string>>();
    for (const l of lines.slice(1)) {
      const cols = l.trim().split(/\s{2,}/);
      out.set(cols[0]!, Object.fromEntries(header.map((h, i) => [h, cols[i] ?? ''])));
    }
    return out;
  }

  async function rulesOn(n: NodeAddr): Promise<AgentRule[]> {
    return ((await t.mustApi(n.name, 'GET', '/config/loadbalancer/all')).lbAttr ?? []) as AgentRule[];
  }

  function controllerAlive(): void {
    if (!ctl?.alive()) throw new StopWaiting(`kube-loxilb exited: ${ctl?.log().split('\n').slice(-30).join('\n')}`);
  }

  /** The LB agent's CI state of llb-inst0, as `loxicmd get hastate` reads it. */
  async function ciState(n: NodeAddr): Promise<CiAttr | undefined> {
    return (((await t.mustApi(n.name, 'GET', '/config/cistate/all')).Attr ?? []) as CiAttr[]).find((s) => s.instance === 'llb-inst0');
  }

  /** The one LB agent reporting MASTER (undefined unless exactly one does). */
  async function masterNode(): Promise<NodeAddr | undefined> {
    const states = await Promise.all([LB1, LB2].map(async (n) => (t.agents.get(n.name)!.alive() ? (await ciState(n))?.state : undefined)));
    const masters = [LB1, LB2].filter((_, i) => states[i] === 'MASTER');
    return masters.length === 1 ? masters[0] : undefined;
  }

  /** The router's best path to a VIP: the next hop, or undefined when it has none. */
  async function bestVia(ip = VIP): Promise<string | undefined> {
    return (await t.bird.routesFor(`${ip}/32`)).find((r) => r.prefix === `${ip}/32` && r.primary)?.via;
  }

  /** The running controller's elections, from its JSON log: when, and which agent became MASTER. */
  function elections(): { time: number; to: string | null }[] {
    const out: { time: number; to: string | null }[] = [];
    for (const line of ctl?.log().split('\n') ?? []) {
      if (!line.includes('"new MASTER elected"')) continue;
      const rec = JSON.parse(line) as { time: number; to: string | null };
      out.push({ time: rec.time, to: rec.to });
    }
    return out;
  }

  /** `kubectl get svc -o json`: name -> status addresses and "port/PROTO" of each port. */
  async function svcAddresses(): Promise<Map<string, { ips: string[]; ports: string[] }>> {
    const list = JSON.parse(await mustKubectl(['get', 'svc', '-o', 'json'])) as { items: V1Service[] };
    return new Map(
      list.items.map((s) => [
        s.metadata!.name!,
        {
          ips: (s.status?.loadBalancer?.ingress ?? []).map((e) => e.ip ?? e.hostname ?? ''),
          ports: (s.spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`),
        },
      ]),
    );
  }

  function startController(kubeconfigPath: string): LabProcess {
    return t.lab.spawn(
      CTL.name,
      KUBE_LOXILB_BIN,
      [
        `--kubeconfig=${kubeconfigPath}`,
        '--externalCIDR=123.123.123.1/24',
        `--setBGP=${CLUSTER_AS}`,
        `--setRoles=${SET_ROLES}`,
        `--extBGPPeers=${ROUTER.ipv4}:${ROUTER_AS}`,
        `--roleHealthPeriod=${PERIOD_MS}ms`,
        '--loglevel=debug',
      ],
      { env: { ...process.env, POD_NAME, POD_NAMESPACE: 'kube-system' }, logName: `${CTL.name}.kube-loxilb` },
    );
  }

  before(async () => {
    t = await BgpLab.create({
      onBuildError: (lab) => {
        for (const p of lab.agents.values()) console.error(p.log().split('\n').slice(-20).join('\n'));
      },
    });
    await t.lab.addNode(CTL.name, { switch: 'sw', ipv4: `${CTL.ipv4}/24` });

    api = new FakeKubeApi();
    const server = new URL(await api.start());
    kubeconfig = await api.writeKubeconfig(path.join(t.lab.dir, 'kubeconfig-user'));
    cacheDir = path.join(t.lab.dir, 'kubectl-cache');

    // The cluster: control-plane nodes carry the agents and are excluded from LB endpoints, as kubeadm labels them.
    for (const lb of [LB1, LB2]) {
      api.addNode(lb.name, { internalIP: lb.ipv4, labels: { 'node-role.kubernetes.io/control-plane': '', 'node.kubernetes.io/exclude-from-external-load-balancers': '' } });
    }
    api.addNode(WORKER.name, { internalIP: WORKER.ipv4 });
    // What the loxilb.yaml / loxilb-peer.yaml headless Services' EndpointSlices hold (hostNetwork pods).
    api.create('endpointslices', {
      metadata: { name: 'loxilb-lb-service-8kq2x', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'loxilb-lb-service' } },
      addressType: 'IPv4',
      endpoints: [LB1, LB2].map((n) => ({ addresses: [n.ipv4], nodeName: n.name, conditions: { ready: true } })),
      ports: [{ name: 'loxilb-app', port: 11111, protocol: 'TCP' }, { name: 'loxilb-app-bgp', port: 179, protocol: 'TCP' }],
    }, 'kube-system');
    api.create('endpointslices', {
      metadata: { name: 'loxilb-peer-service-m4z7p', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'loxilb-peer-service' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [WORKER.ipv4], nodeName: WORKER.name, conditions: { ready: true } }],
      ports: [{ name: 'loxilb-peer-app', port: 11111, protocol: 'TCP' }, { name: 'loxilb-peer-bgp', port: 179, protocol: 'TCP' }],
    }, 'kube-system');

    bridge = await KubeApiBridge.start(t.lab, CTL.name, { host: server.hostname, port: Number(server.port) });
    ctlKubeconfig = await writeKubeconfig(bridge.url, path.join(t.lab.dir, 'kubeconfig-kube-loxilb'));
    ctl = startController(ctlKubeconfig);
  });

  after(async () => {
    try {
      if (process.env.KUBE_LOXILB_LOG && ctl) console.error(ctl.log());
      await ctl?.stop(5000);
      await bridge?.close();
      await api?.stop();
    } finally {
      await t?.destroy();
    }
  });

  it('takes the Lease and configures the discovered agents (roles, BGP mesh)', async () => {
    await waitFor(
      () => {
        controllerAlive();
        return api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system')?.spec?.holderIdentity === POD_NAME;
      },
      { timeoutMs: 30_000, what: 'kube-loxilb to hold the Lease' },
    );
    // --setRoles: exactly one LB agent is MASTER, the other BACKUP, both with the --setRoles address as vip.
    const states = await waitFor(
      async () => {
        controllerAlive();
        const s = await Promise.all([LB1, LB2].map(ciState));
        return s.filter((x) => x?.state === 'MASTER').length === 1 && s.filter((x) => x?.state === 'BACKUP').length === 1 ? s : undefined;
      },
      { timeoutMs: 20_000, what: 'one MASTER and one BACKUP among the LB agents' },
    );
    for (const s of states) assert.equal(s!.vip, SET_ROLES);
    const master = (await masterNode())!;
    assert.deepEqual(elections().map((e) => e.to), [agentUrl(master.ipv4)], 'one election, of the agent that reports MASTER');
    // The worker runs --peer: it takes no CI state at all.
    assert.equal((await t.api(WORKER.name, 'GET', '/config/cistate/all')).status, 403);

    await t.waitEstablished(LB1.name, [ROUTER.ipv4, LB2.ipv4, WORKER.ipv4], 60_000);
    await t.waitEstablished(LB2.name, [ROUTER.ipv4, LB1.ipv4, WORKER.ipv4], 60_000);
  });

  it('a Service applied with kubectl gets an EXTERNAL-IP, and both agents hold its rule', async () => {
    const applied = await mustKubectl(['apply', '-f', '-'], SERVICES);
    assert.match(applied, /service\/nginx-lb1 created/);
    const rows = await waitFor(
      async () => {
        controllerAlive();
        const svc = await getSvc();
        return ['nginx-lb1', 'udp-lb1', 'sctp-lb1'].every((n) => svc.get(n)?.['EXTERNAL-IP'] === VIP) ? svc : undefined;
      },
      { timeoutMs: 30_000, what: 'kubectl get svc to show the EXTERNAL-IP' },
    );
    assert.match(rows.get('nginx-lb1')!['PORT(S)']!, /^55002:\d+\/TCP$/);
    assert.match(rows.get('sctp-lb1')!['PORT(S)']!, /^55004:\d+\/SCTP$/);
    assert.equal(rows.get('not-ours')!['EXTERNAL-IP'], '<pending>');

    const nodePort = (name: string) => api.get<V1Service>('services', name)!.spec!.ports![0]!.nodePort!;
    for (const lb of [LB1, LB2]) {
      const rules = await waitFor(
        async () => {
          const r = await rulesOn(lb);
          return r.filter((x) => x.serviceArguments.externalIP === VIP).length === 2 ? r : undefined;
        },
        { timeoutMs: 20_000, what: `the rules on ${lb.name}` },
      );
      const by = new Map(rules.map((r) => [`${r.serviceArguments.port}/${r.serviceArguments.protocol}`, r]));
      const udp = by.get('55003/udp')!;
      assert.equal(udp.serviceArguments.name, 'default_udp-lb1:llb-inst0');
      assert.equal(udp.serviceArguments.mode, 2);
      assert.equal(udp.serviceArguments.monitor, true);
      assert.equal(udp.serviceArguments.bgp, true);
      assert.deepEqual(udp.endpoints?.map((e) => `${e.endpointIP}:${e.targetPort}`), [`${WORKER.ipv4}:${nodePort('udp-lb1')}`]);
      assert.deepEqual(by.get('55004/sctp')!.endpoints?.map((e) => `${e.endpointIP}:${e.targetPort}`), [`${WORKER.ipv4}:${nodePort('sctp-lb1')}`]);
      // externalTrafficPolicy: Local with no endpoints anywhere: no rule (yet), and the user is told why.
      assert.equal(by.get('55002/tcp'), undefined);
    }
    const warn = await mustKubectl(['get', 'events', '--field-selector', 'involvedObject.name=nginx-lb1,reason=RuleNotInstalled', '-o', 'json']);
    assert.match((JSON.parse(warn) as { items: CoreV1Event[] }).items[0]?.message ?? '', /no ready IPv4 endpoints/);

    // The pod behind nginx-lb1 becomes ready on the worker: its EndpointSlice appears, so the rule does.
    api.create('endpointslices', {
      metadata: { name: 'nginx-lb1-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': 'nginx-lb1' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.42.2.7'], nodeName: WORKER.name, conditions: { ready: true } }],
      ports: [{ port: 80, protocol: 'TCP' }],
    });
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await rulesOn(lb)).some((r) => r.serviceArguments.port === 55002), { timeoutMs: 20_000, what: `nginx-lb1's rule on ${lb.name}` });
    }
    // The VIP is advertised: the router learns it from the LB nodes.
    await waitFor(async () => (await t.bird.routesFor(`${VIP}/32`)).some((r) => r.prefix === `${VIP}/32`), { timeoutMs: 30_000, what: 'the router to learn the VIP' });

    const ev = JSON.parse(await mustKubectl(['get', 'events', '--field-selector', 'involvedObject.name=udp-lb1,reason=IPAllocated', '-o', 'json'])) as { items: CoreV1Event[] };
    assert.equal(ev.items.length, 1);
    assert.equal(ev.items[0]!.reportingInstance, POD_NAME);
  });

  it('SIGKILL of the MASTER agent: the other is MASTER within one health period, and the router follows', async (tc) => {
    const old = (await masterNode())!;
    const other = old === LB1 ? LB2 : LB1;
    await waitFor(async () => (await bestVia()) === old.ipv4, { timeoutMs: 20_000, what: `the router's best path via the MASTER ${old.name}` });
    const before = elections().length;
    const killedAt = Date.now();
    t.agents.get(old.name)!.signal('SIGKILL');
    await waitFor(async () => (await ciState(other))?.state === 'MASTER', { timeoutMs: 10_000, intervalMs: 20, what: `${other.name} to report MASTER` });
    const observed = Date.now() - killedAt;
    const el = await waitFor(() => (elections().length > before ? elections().slice(before) : undefined), { timeoutMs: 5000, what: 'the election in the log' });
    assert.deepEqual(el.map((e) => e.to), [agentUrl(other.ipv4)]);
    const elected = el[0]!.time - killedAt;
    tc.diagnostic(`elected after ${elected} ms, ${other.name} reported MASTER after ${observed} ms (health period ${PERIOD_MS} ms)`);
    // A dead agent refuses connections at once: the next health round (at most one period away) elects.
    assert.ok(elected <= PERIOD_MS + 1000, `elected ${elected} ms after the kill (period ${PERIOD_MS} ms)`);
    assert.ok(observed <= PERIOD_MS + 2500, `${other.name} reported MASTER ${observed} ms after the kill`);
    assert.equal((await ciState(other))!.vip, SET_ROLES);
    // The survivor keeps every rule, and the router moves to it.
    assert.equal((await rulesOn(other)).length, 3);
    await waitFor(async () => (await bestVia()) === other.ipv4, { timeoutMs: 20_000, what: `the router's best path via ${other.name}` });
  });

  it('the killed agent comes back empty: the controller gives it BACKUP, its rules and its BGP peers; the MASTER stays', async () => {
    const down = [LB1, LB2].find((n) => !t.agents.get(n.name)!.alive())!;
    const master = down === LB1 ? LB2 : LB1;
    // As a restarted DaemonSet pod (loxilb.yaml mounts no volume): no saved
    // rules, roles or BGP config, so whatever it has afterwards came from the
    // controller. BgpLab's agents keep their state in <lab dir>/<node>-config.
    rmSync(path.join(t.lab.dir, `${down.name}-config`), { recursive: true, force: true });
    const before = elections().length;
    // Sample the MASTER's role and the router's best path all along: neither may move.
    const samples: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [state, via] = await Promise.all([ciState(master).then((s) => s?.state, () => 'unreadable'), bestVia().catch(() => 'unreadable')]);
        samples.push(`${state} via ${via}`);
        await sleep(50);
      }
    })();
    try {
      await t.startAgent(down.name, t.lbMode(down));
      const st = await waitFor(async () => {
        const s = await ciState(down);
        return s?.state === 'BACKUP' ? s : undefined;
      }, { timeoutMs: 15_000, what: `${down.name} told BACKUP` });
      assert.equal(st.vip, SET_ROLES);
      const want = (await rulesOn(master)).map(ruleLine).sort();
      assert.equal(want.length, 3);
      await waitFor(async () => JSON.stringify((await rulesOn(down)).map(ruleLine).sort()) === JSON.stringify(want), {
        timeoutMs: 15_000,
        what: `${down.name} to get the MASTER's rules back`,
      });
      await t.waitEstablished(down.name, [ROUTER.ipv4, master.ipv4, WORKER.ipv4], 60_000);
      // Both paths at the router again, the MASTER's preferred.
      await waitFor(async () => (await t.bird.routesFor(`${VIP}/32`)).filter((r) => r.prefix === `${VIP}/32`).length === 2, {
        timeoutMs: 30_000,
        what: 'two paths to the VIP at the router',
      });
    } finally {
      sampling = false;
      await sampler;
    }
    const moved = samples.filter((x) => x !== `MASTER via ${master.ipv4}`);
    assert.deepEqual(moved, [], `${master.name} stays MASTER and the router's best path (${samples.length} samples)`);
    assert.equal(elections().length, before, 'no election while the agent came back');
    assert.equal((await ciState(master))?.state, 'MASTER');
    assert.equal(await bestVia(), master.ipv4);
  });

  it('restarting the controller (SIGKILL, start again) changes no IP and gives none out twice', async (tc) => {
    // Two Services on one port: in shared mode the second cannot share the first's IP.
    await mustKubectl(['apply', '-f', '-'], `${lbService('web-a', 8080)}---\n${lbService('web-b', 8080)}`);
    const VIP2 = '123.123.123.2';
    await waitFor(
      async () => {
        controllerAlive();
        const svc = await getSvc();
        return svc.get('web-a')?.['EXTERNAL-IP'] === VIP && svc.get('web-b')?.['EXTERNAL-IP'] === VIP2;
      },
      { timeoutMs: 20_000, what: `web-a on ${VIP}, web-b on ${VIP2}` },
    );
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await rulesOn(lb)).filter((r) => r.serviceArguments.port === 8080).length === 2, { timeoutMs: 20_000, what: `the web rules on ${lb.name}` });
    }
    const before = await svcAddresses();
    const master = (await masterNode())!;
    const rulesBefore = (await rulesOn(master)).length;

    // The controller dies at once (no Lease release, nothing cleaned up) ...
    ctl!.signal('SIGKILL');
    assert.equal((await ctl!.exited).signal, 'SIGKILL');
    // ... and while it is gone, web-a is deleted (freeing VIP:8080) and web-c wants the same port.
    await mustKubectl(['delete', 'svc', 'web-a']);
    await mustKubectl(['apply', '-f', '-'], lbService('web-c', 8080));
    // The kubelet restarts the container: same pod, same identity, so it takes its own Lease back at once.
    const restartedAt = Date.now();
    ctl = startController(ctlKubeconfig);

    // Reconciled: the new Service has an address and the rules of web-a (deleted while nobody watched) are gone.
    const rows = await waitFor(
      async () => {
        controllerAlive();
        const svc = await getSvc();
        const ip = svc.get('web-c')?.['EXTERNAL-IP'];
        return ip && ip !== '<pending>' ? svc : undefined;
      },
      { timeoutMs: 30_000, what: 'web-c to get an EXTERNAL-IP from the new controller' },
    );
    tc.diagnostic(`web-c got ${rows.get('web-c')!['EXTERNAL-IP']} ${Date.now() - restartedAt} ms after the restart`);
    for (const lb of [LB1, LB2]) {
      await waitFor(
        async () => {
          const names = (await rulesOn(lb)).map((r) => r.serviceArguments.name ?? '');
          return !names.some((n) => n.startsWith('default_web-a:')) && names.some((n) => n.startsWith('default_web-c:')) && names.length === rulesBefore;
        },
        { timeoutMs: 20_000, what: `web-a's rule replaced by web-c's on ${lb.name}` },
      );
    }
    assert.equal(api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system')?.spec?.holderIdentity, POD_NAME);

    const after = await svcAddresses();
    for (const [name, b] of before) {
      if (name === 'web-a') continue;
      assert.deepEqual(after.get(name)?.ips, b.ips, `${name} keeps its addresses`);
    }
    // No IP:port/protocol is held by two Services.
    const claims = new Map<string, string>();
    for (const [name, a] of after) {
      for (const ip of a.ips) {
        for (const port of a.ports) {
          const k = `${ip}:${port}`;
          assert.equal(claims.get(k), undefined, `${k} given to ${claims.get(k)} and ${name}`);
          claims.set(k, name);
        }
      }
    }
    assert.notEqual(after.get('web-c')!.ips[0], VIP2, 'web-c cannot share web-b\'s IP on the same port');
    // The restored Services were not announced again.
    for (const name of ['udp-lb1', 'web-b']) {
      const ev = JSON.parse(await mustKubectl(['get', 'events', '--field-selector', `involvedObject.name=${name},reason=IPAllocated`, '-o', 'json'])) as { items: CoreV1Event[] };
      assert.deepEqual(ev.items.map((e) => e.count ?? 1), [1], `one IPAllocated event for ${name}`);
    }
    // The agents' roles are left as they were: the new controller keeps the MASTER they report.
    assert.equal((await masterNode())?.name, master.name);
    assert.deepEqual(elections(), [], 'no election by the restarted controller');
  });

  it('deleting the Services with kubectl removes their rules from both agents and withdraws the VIPs', async () => {
    await mustKubectl(['delete', 'svc', 'udp-lb1']);
    for (const lb of [LB1, LB2]) {
      await waitFor(
        async () => {
          controllerAlive();
          const r = await rulesOn(lb);
          return !r.some((x) => x.serviceArguments.port === 55003) && r.some((x) => x.serviceArguments.port === 55004);
        },
        { timeoutMs: 20_000, what: `udp-lb1's rule gone from ${lb.name}, sctp-lb1's kept` },
      );
    }
    // The VIP still has rules behind it: still advertised.
    assert.ok((await t.bird.routesFor(`${VIP}/32`)).some((r) => r.prefix === `${VIP}/32`));
    const vips = [...new Set([...(await svcAddresses()).values()].flatMap((a) => a.ips))];
    assert.ok(vips.includes(VIP) && vips.includes('123.123.123.2'), `VIPs in use: ${vips.join(', ')}`);
    for (const ip of vips) {
      await waitFor(async () => (await t.bird.routesFor(`${ip}/32`)).some((r) => r.prefix === `${ip}/32`), { timeoutMs: 20_000, what: `the router to have ${ip}` });
    }

    await mustKubectl(['delete', 'svc', 'nginx-lb1', 'sctp-lb1', 'web-b', 'web-c']);
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await rulesOn(lb)).length === 0, { timeoutMs: 20_000, what: `no rules left on ${lb.name}` });
    }
    // No rule behind a VIP: the router loses its route (birdc show route for <vip>).
    for (const ip of vips) {
      await waitFor(async () => (await t.bird.routesFor(`${ip}/32`)).every((r) => r.prefix !== `${ip}/32`), { timeoutMs: 20_000, what: `the router to drop ${ip}` });
    }
    const svc = await getSvc();
    assert.deepEqual([...svc.keys()].sort(), ['kubernetes', 'not-ours']);
  });

  it('stops on SIGTERM and hands the Lease back', async () => {
    const exit = await ctl!.stop(8000);
    assert.deepEqual(exit, { code: 0, signal: null }, ctl!.log().split('\n').slice(-20).join('\n'));
    assert.equal(api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system')?.spec?.holderIdentity ?? '', '');
  });
});
