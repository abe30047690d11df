// kube-loxilb deployed the way the seeds deploy it in-cluster, on BgpLab: a
// real kube-apiserver (KubeApiServer: etcd, RBAC; control-plane nodes
// excluded from LB endpoints, as kubeadm labels them; the loxilb-lb-service /
// loxilb-peer-service EndpointSlices the agents' DaemonSets produce), the
// RBAC objects of examples/kube-loxilb.yaml applied with kubectl, and the
// real `bin/kube-loxilb` in its own lab node running as that ServiceAccount
// (a TokenRequest token), reaching the API server through a Unix-socket
// bridge (KubeApiBridge), as its pod would; the pinned kubectl for the user.
// Shared by the kube-loxilb integration tests, which keep the story (what
// they apply, kill and check) to themselves.
import path from 'node:path';
import type { CoreV1Event, V1Service } from '@kubernetes/client-node';
import { BgpLab, CLUSTER_AS, LB_NODES, ROOT, ROUTER, ROUTER_AS, WORKER, type BgpLabOptions, type NodeAddr } from './BgpLab.ts';
import { writeFileSync } from 'node:fs';
import { KubeApiServer } from './KubeApiServer.ts';
import { KubeApiBridge } from './KubeApiBridge.ts';
import { goKubeLoxilbRbac, goPeerBin, goPeerManifestList, writeGoKubeLoxilbConfig } from './goPeers.ts';
import { runKubectl, type KubectlResult } from './kubectl.ts';
export type { KubectlResult } from './kubectl.ts';
import type { LabProcess } from './Lab.ts';
import { StopWaiting } from './wait.ts';

/** What the controller's pod is given: its ServiceAccount and ClusterRole come from here. */
export const KUBE_LOXILB_MANIFEST = path.join(ROOT, 'examples/kube-loxilb.yaml');
export const KUBE_LOXILB_BIN = path.join(ROOT, 'bin/kube-loxilb');
/** The controller's node (its pod's network namespace). */
export const CTL = { name: 'kctl', ipv4: '192.168.80.250' };
export const POD_NAME = 'kube-loxilb-7d9f-abcde';
/** As the seeds deploy it: role arbitration on, 0.0.0.0 sent as every CI state's vip. */
export const SET_ROLES = '0.0.0.0';

/** The seed's kube-loxilb flags (besides --kubeconfig), with a short health period so a dead MASTER is replaced quickly. */
export function seedControllerArgs(periodMs: number): string[] {
  return [
    '--externalCIDR=123.123.123.1/24',
    `--setBGP=${CLUSTER_AS}`,
    `--setRoles=${SET_ROLES}`,
    `--extBGPPeers=${ROUTER.ipv4}:${ROUTER_AS}`,
    `--roleHealthPeriod=${periodMs}ms`,
    '--loglevel=debug',
  ];
}

export interface KubeLoxilbLabOptions {
  /** kube-loxilb's flags besides --kubeconfig. */
  controllerArgs: string[];
  /** BgpLab options (onBuildError defaults to printing the agents' logs). */
  bgp?: BgpLabOptions;
  /** Node objects carry an IPv6 InternalIP after the IPv4 one, as in a dual-stack cluster. */
  dualStackNodes?: boolean;
  /**
   * Which kube-loxilb: ours (bin/kube-loxilb, default) or the Go one built
   * from its module (scripts/build-go-peers.sh), deployed with its own
   * manifest's RBAC and CRDs and given its kubeconfig through --config.
   */
  controller?: 'ours' | 'go';
}

export interface AgentRule {
  serviceArguments: { externalIP: string; port: number; protocol: string; name?: string; mode?: number; monitor?: boolean; bgp?: boolean };
  endpoints?: { endpointIP: string; targetPort: number }[];
  programmed?: boolean;
  reason?: string;
}

export interface CiAttr {
  instance: string;
  state: string;
  vip?: string;
}

export class KubeLoxilbLab {
  /** The running controller (replaced by startController()). */
  ctl: LabProcess | undefined;

  private constructor(
    readonly t: BgpLab,
    readonly api: KubeApiServer,
    private readonly bridge: KubeApiBridge,
    /** The user's kubeconfig (straight to the API server). */
    readonly kubeconfig: string,
    private readonly cacheDir: string,
    /** The controller's binary and its whole command line (kubeconfig included). */
    private readonly controllerBin: string,
    private readonly controllerArgs: string[],
  ) {}

  /** Builds the lab, the cluster objects and the bridge, and starts the controller. */
  static async create(opts: KubeLoxilbLabOptions): Promise<KubeLoxilbLab> {
    const t = await BgpLab.create({
      onBuildError: (lab) => {
        for (const p of lab.agents.values()) console.error(p.log().split('\n').slice(-20).join('\n'));
      },
      ...opts.bgp,
    });
    let api: KubeApiServer | undefined;
    let bridge: KubeApiBridge | undefined;
    try {
      await t.lab.addNode(CTL.name, { switch: 'sw', ipv4: `${CTL.ipv4}/24` });
      api = await KubeApiServer.start({ dir: path.join(t.lab.dir, 'kube') });
      const kubeconfig = api.adminKubeconfig;
      const cacheDir = path.join(t.lab.dir, 'kubectl-cache');

      const internal = (n: NodeAddr) => ({ internalIP: n.ipv4, ...(opts.dualStackNodes ? { internalIPs: [n.ipv6] } : {}) });
      for (const lb of LB_NODES.slice(0, t.lbs.length)) {
        await api.addNode(lb.name, {
          ...internal(lb),
          labels: { 'node-role.kubernetes.io/control-plane': '', 'node.kubernetes.io/exclude-from-external-load-balancers': '' },
        });
      }
      await api.addNode(WORKER.name, internal(WORKER));
      // The loxilb.yaml / loxilb-peer.yaml headless Services and what the control plane
      // derives from them for hostNetwork pods: Endpoints (what the Go kube-loxilb reads)
      // and EndpointSlices (what ours reads).
      const agentsOf = (svc: string, nodes: NodeAddr[], ports: { name: string; port: number }[]) => [
        { apiVersion: 'v1', kind: 'Service', metadata: { name: svc, namespace: 'kube-system' }, spec: { clusterIP: 'None', selector: { app: svc }, ports: ports.map((p) => ({ ...p, protocol: 'TCP' })) } },
        { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: svc, namespace: 'kube-system' }, subsets: [{ addresses: nodes.map((n) => ({ ip: n.ipv4, nodeName: n.name })), ports: ports.map((p) => ({ ...p, protocol: 'TCP' })) }] },
      ];
      for (const o of [
        ...agentsOf('loxilb-lb-service', t.lbs, [{ name: 'loxilb-app', port: 11111 }, { name: 'loxilb-app-bgp', port: 179 }]),
        ...agentsOf('loxilb-peer-service', [WORKER], [{ name: 'loxilb-peer-app', port: 11111 }, { name: 'loxilb-peer-bgp', port: 179 }]),
      ]) {
        await api.create(o.kind === 'Service' ? 'services' : 'endpoints', o, 'kube-system');
      }
      await api.create('endpointslices', {
        metadata: { name: 'loxilb-lb-service-8kq2x', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'loxilb-lb-service' } },
        addressType: 'IPv4',
        endpoints: t.lbs.map((n) => ({ addresses: [n.ipv4], nodeName: n.name, conditions: { ready: true } })),
        ports: [{ name: 'loxilb-app', port: 11111, protocol: 'TCP' }, { name: 'loxilb-app-bgp', port: 179, protocol: 'TCP' }],
      }, 'kube-system');
      await api.create('endpointslices', {
        metadata: { name: 'loxilb-peer-service-m4z7p', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'loxilb-peer-service' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [WORKER.ipv4], nodeName: WORKER.name, conditions: { ready: true } }],
        ports: [{ name: 'loxilb-peer-app', port: 11111, protocol: 'TCP' }, { name: 'loxilb-peer-bgp', port: 179, protocol: 'TCP' }],
      }, 'kube-system');

      const go = opts.controller === 'go';
      if (go) {
        // The Go controller's own manifest: its CRDs, then its ServiceAccount and RBAC (not its Deployment).
        const crds = goPeerManifestList('kube-loxilb', ['manifest/crds/'], ['CustomResourceDefinition']);
        for (const [what, list] of [['CRDs', crds], ['RBAC', goKubeLoxilbRbac()]] as const) {
          const r = await runKubectl(kubeconfig, cacheDir, ['apply', '-f', '-'], list);
          if (r.code !== 0) throw new Error(`kubectl apply of the Go kube-loxilb's ${what}: ${r.stderr}`);
        }
      } else {
        // The controller's RBAC as the example deploys it (its Deployment is stored, and never runs: no scheduler here).
        const applied = await runKubectl(kubeconfig, cacheDir, ['apply', '-f', KUBE_LOXILB_MANIFEST]);
        if (applied.code !== 0) throw new Error(`kubectl apply -f examples/kube-loxilb.yaml: ${applied.stderr}`);
      }
      const token = await api.serviceAccountToken('kube-system', 'kube-loxilb');
      bridge = await KubeApiBridge.start(t.lab, CTL.name, { host: '127.0.0.1', port: api.port, https: true });
      const ctlKubeconfig = path.join(t.lab.dir, 'kubeconfig-kube-loxilb');
      writeFileSync(ctlKubeconfig, api.kubeconfig({ user: 'kube-loxilb', token, server: bridge.url }));
      let args = opts.controllerArgs;
      if (go) {
        args = [`--config=${writeGoKubeLoxilbConfig(path.join(t.lab.dir, 'kube-loxilb-go.yaml'), ctlKubeconfig)}`, ...args];
      } else {
        args = [`--kubeconfig=${ctlKubeconfig}`, ...args];
      }
      const k = new KubeLoxilbLab(t, api, bridge, kubeconfig, cacheDir, go ? goPeerBin('kube-loxilb') : KUBE_LOXILB_BIN, args);
      k.startController();
      return k;
    } catch (err) {
      await bridge?.close();
      await api?.stop();
      await t.destroy();
      throw err;
    }
  }

  /** Starts kube-loxilb (again: a restarted container, same pod and identity). */
  startController(): LabProcess {
    this.ctl = this.t.lab.spawn(CTL.name, this.controllerBin, this.controllerArgs, {
      env: { ...process.env, POD_NAME, POD_NAMESPACE: 'kube-system' },
      logName: `${CTL.name}.kube-loxilb`,
    });
    return this.ctl;
  }

  /** For waitFor: stop waiting with the controller's last log lines when it exited. */
  controllerAlive(): void {
    if (!this.ctl?.alive()) throw new StopWaiting(`kube-loxilb exited: ${this.ctl?.log().split('\n').slice(-30).join('\n')}`);
  }

  kubectl(args: string[], stdin?: string): Promise<KubectlResult> {
    return runKubectl(this.kubeconfig, this.cacheDir, args, stdin);
  }

  async mustKubectl(args: string[], stdin?: string): Promise<string> {
    const r = await this.kubectl(args, stdin);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** `kubectl get svc` rows: name -> columns. */
  async getSvc(): Promise<Map<string, Record<string, string>>> {
    const lines = (await this.mustKubectl(['get', 'svc'])).trim().split('\n');
    const header = lines[0]!.trim().split(/\s{2,}/);
    const out = new Map<string, Record<string, string>>();
    for (const l of lines.slice(1)) {
      const cols = l.trim().split(/\s{2,}/);
      out.set(cols[0]!, Object.fromEntries(header.map((h, i) => [h, cols[i] ?? ''])));
    }
    return out;
  }

  /** `kubectl get svc -o json`: name -> status addresses and "port/PROTO" of each port. */
  async svcAddresses(): Promise<Map<string, { ips: string[]; ports: string[] }>> {
    const list = JSON.parse(await this.mustKubectl(['get', 'svc', '-o', 'json'])) as { items: V1Service[] };
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

  /** `kubectl get events` of one object, optionally of one reason. */
  async events(name: string, reason?: string): Promise<CoreV1Event[]> {
    const sel = `involvedObject.name=${name}${reason ? `,reason=${reason}` : ''}`;
    return (JSON.parse(await this.mustKubectl(['get', 'events', '--field-selector', sel, '-o', 'json'])) as { items: CoreV1Event[] }).items;
  }

  /** The Service's first port's nodePort, as the API server allocated it. */
  async nodePort(name: string, index = 0): Promise<number> {
    return (await this.api.get<V1Service>('services', name))!.spec!.ports![index]!.nodePort!;
  }

  async rulesOn(n: NodeAddr): Promise<AgentRule[]> {
    return ((await this.t.mustApi(n.name, 'GET', '/config/loadbalancer/all')).lbAttr ?? []) as AgentRule[];
  }

  /** The LB agent's CI state of llb-inst0, as `loxicmd get hastate` reads it. */
  async ciState(n: NodeAddr): Promise<CiAttr | undefined> {
    return (((await this.t.mustApi(n.name, 'GET', '/config/cistate/all')).Attr ?? []) as CiAttr[]).find((s) => s.instance === 'llb-inst0');
  }

  /** The one LB agent reporting MASTER (undefined unless exactly one does). */
  async masterNode(): Promise<NodeAddr | undefined> {
    const lbs = this.t.lbs;
    const states = await Promise.all(lbs.map(async (n) => (this.t.agents.get(n.name)!.alive() ? (await this.ciState(n))?.state : undefined)));
    const masters = lbs.filter((_, i) => states[i] === 'MASTER');
    return masters.length === 1 ? masters[0] : undefined;
  }

  /** The router's best path to an address (/32 or /128): the next hop, or undefined when it has none. */
  async bestVia(ip: string): Promise<string | undefined> {
    const prefix = `${ip}/${ip.includes(':') ? 128 : 32}`;
    return (await this.t.bird.routesFor(prefix)).find((r) => r.prefix === prefix && r.primary)?.via;
  }

  /** Whether the router has any path to the address. */
  async routerKnows(ip: string): Promise<boolean> {
    const prefix = `${ip}/${ip.includes(':') ? 128 : 32}`;
    return (await this.t.bird.routesFor(prefix)).some((r) => r.prefix === prefix);
  }

  /** The running controller's elections, from its JSON log: when, and which agent became MASTER. */
  elections(): { time: number; to: string | null }[] {
    const out: { time: number; to: string | null }[] = [];
    for (const line of this.ctl?.log().split('\n') ?? []) {
      if (!line.includes('"new MASTER elected"')) continue;
      const rec = JSON.parse(line) as { time: number; to: string | null };
      out.push({ time: rec.time, to: rec.to });
    }
    return out;
  }

  /** Stops the controller (its log first with KUBE_LOXILB_LOG=1), the bridge, the API server and the lab. */
  async destroy(): Promise<void> {
    try {
      if (process.env.KUBE_LOXILB_LOG && this.ctl) console.error(this.ctl.log());
      await this.ctl?.stop(5000);
      await this.bridge.close();
      await this.api.stop();
    } finally {
      await this.t.destroy();
    }
  }
}
