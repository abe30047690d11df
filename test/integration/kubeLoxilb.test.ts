// kube-loxilb end to end, the way the seeds deploy it in-cluster: two
// `loxilb --bgp` LB nodes, a `loxilb --peer` worker and a BIRD router in
// network namespaces (test/lab/BgpLab.ts), FakeKubeApi as the API server,
// and the real `bin/kube-loxilb` process with the seed's flags
// (--externalCIDR, --setBGP, --setRoles, --extBGPPeers, no --loxiURL: the
// agents are discovered from the loxilb-lb-service / loxilb-peer-service
// EndpointSlices). The controller runs in its own lab node, as its pod
// would, and reaches the API server through a Unix-socket bridge
// (test/lab/KubeApiBridge.ts). Users act through the system kubectl.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { CoreV1Event, V1Lease, V1Service } from '@kubernetes/client-node';
import { BgpLab, CLUSTER_AS, LB_NODES, ROOT, ROUTER, ROUTER_AS, WORKER, type NodeAddr } from '../lab/BgpLab.ts';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { KubeApiBridge } from '../lab/KubeApiBridge.ts';
import { writeKubeconfig } from '../lab/kubeconfig.ts';
import type { LabProcess } from '../lab/Lab.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

const KUBECTL = '/usr/bin/kubectl';
const KUBE_LOXILB_BIN = path.join(ROOT, 'bin/kube-loxilb');
const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const CTL = { name: 'kctl', ipv4: '192.168.80.250' };
const VIP = '123.123.123.1';
const POD_NAME = 'kube-loxilb-7d9f-abcde';

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

describe('kube-loxilb with kubectl, FakeKubeApi and real agents', { timeout: 300_000 }, () => {
  let t: BgpLab;
  let api: FakeKubeApi;
  let bridge: KubeApiBridge | undefined;
  let ctl: LabProcess | undefined;
  let kubeconfig: string;
  let cacheDir: string;

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
    const ctlKubeconfig = await writeKubeconfig(bridge.url, path.join(t.lab.dir, 'kubeconfig-kube-loxilb'));
    ctl = t.lab.spawn(
      CTL.name,
      KUBE_LOXILB_BIN,
      [
        `--kubeconfig=${ctlKubeconfig}`,
        '--externalCIDR=123.123.123.1/24',
        `--setBGP=${CLUSTER_AS}`,
        '--setRoles=0.0.0.0',
        `--extBGPPeers=${ROUTER.ipv4}:${ROUTER_AS}`,
        '--roleHealthPeriod=500ms',
        '--loglevel=debug',
      ],
      { env: { ...process.env, POD_NAME, POD_NAMESPACE: 'kube-system' }, logName: `${CTL.name}.kube-loxilb` },
    );
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

  it('deleting the Service with kubectl removes its rule from both agents', async () => {
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
    await mustKubectl(['delete', 'svc', 'nginx-lb1', 'sctp-lb1']);
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await rulesOn(lb)).length === 0, { timeoutMs: 20_000, what: `no rules left on ${lb.name}` });
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
