// The manifests in examples/ are documentation users copy: they must parse,
// their flags must be flags loxilb-ts accepts, the RBAC must grant exactly
// what kube-loxilb calls, and the Services must be what the controller acts on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { FakeKubeApi } from '../lab/FakeKubeApi.ts';
import { parseKubeLoxilbFlags } from '../../src/cli/kubeLoxilbFlags.ts';
import { parseLoxilbFlags } from '../../src/cli/loxilbFlags.ts';
import { isServiceSelected, parseServiceAnnotations } from '../../src/kube/annotations.ts';
import { planRules } from '../../src/kube/planRules.ts';

type Doc = Record<string, any>;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function docs(file: string): Doc[] {
  const text = readFileSync(path.join(ROOT, 'examples', file), 'utf8');
  return parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], `${file}: ${d.errors.join('; ')}`);
    return d.toJS() as Doc;
  });
}

function find(list: Doc[], kind: string, name?: string): Doc {
  const d = list.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  assert.ok(d, `no ${kind} ${name ?? ''}`);
  return d;
}

/** "group/resource verb" lines, sorted, with resourceNames when set. */
function grants(rules: Doc[]): string[] {
  return rules
    .flatMap((r) =>
      (r.apiGroups as string[]).flatMap((g) =>
        (r.resources as string[]).flatMap((res) => (r.verbs as string[]).map((v) => `${g || 'core'}/${res} ${v}${r.resourceNames ? ` [${r.resourceNames.join(',')}]` : ''}`)),
      ),
    )
    .sort();
}

const IMAGE = 'ghcr.io/loxilb-io/loxilb-ts:latest';

/** The key of the Secret loxilb-api that a container sees at `file`, through its volume mounts. */
function secretKeyAt(pod: Doc, container: Doc, file: string): string {
  const mount = (container.volumeMounts as Doc[] | undefined)?.find((m) => file.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `no volume mounted over ${file}`);
  assert.equal(mount.readOnly, true, `${mount.mountPath} is mounted read-only`);
  const volume = (pod.volumes as Doc[]).find((v) => v.name === mount.name);
  assert.equal(volume?.secret?.secretName, 'loxilb-api', `${file} comes from the Secret loxilb-api`);
  const item = (volume.secret.items as Doc[]).find((i) => i.path === file.slice(mount.mountPath.length + 1));
  assert.ok(item, `the Secret volume maps a key to ${file}`);
  return item.key as string;
}

describe('examples/', () => {
  let api: FakeKubeApi;
  before(async () => {
    api = new FakeKubeApi();
    await api.start();
  });
  after(async () => {
    await api?.stop();
  });

  for (const file of ['kube-loxilb.yaml', 'kube-loxilb-external.yaml']) {
    it(`${file}: two replicas with valid flags and exactly the RBAC the controller uses`, () => {
      const list = docs(file);
      const dep = find(list, 'Deployment', 'kube-loxilb');
      assert.equal(dep.spec.replicas, 2);
      const c = dep.spec.template.spec.containers[0];
      assert.equal(c.image, IMAGE);
      assert.deepEqual(c.command, ['kube-loxilb']);
      const cfg = parseKubeLoxilbFlags(c.args as string[]);
      assert.equal(cfg.loxiURLs.length > 0, file.includes('external'));
      // The agents' API token (and, for agents reached over the network, their CA) from the Secret loxilb-api.
      const pod = dep.spec.template.spec;
      assert.ok(cfg.loxiTokenFile, 'kube-loxilb sends the agents\' token');
      assert.equal(secretKeyAt(pod, c, cfg.loxiTokenFile.path), 'token');
      if (file.includes('external')) {
        assert.ok(cfg.loxiURLs.every((u) => u.startsWith('https://') && u.endsWith(':8091')), 'external agents are reached on their HTTPS port');
        assert.ok(cfg.loxiCACert);
        assert.equal(secretKeyAt(pod, c, cfg.loxiCACert.path), 'ca.crt');
      }
      assert.deepEqual((c.env as Doc[]).map((e) => `${e.name}=${e.valueFrom.fieldRef.fieldPath}`), ['POD_NAME=metadata.name', 'POD_NAMESPACE=metadata.namespace']);
      assert.equal(dep.spec.template.spec.serviceAccountName, 'kube-loxilb');

      assert.deepEqual(grants(find(list, 'ClusterRole', 'kube-loxilb').rules), [
        'core/events create',
        'core/events patch',
        'core/nodes list',
        'core/nodes watch',
        'core/services list',
        'core/services watch',
        'core/services/status patch',
        'discovery.k8s.io/endpointslices list',
        'discovery.k8s.io/endpointslices watch',
      ]);
      const role = find(list, 'Role', 'kube-loxilb-leader-election');
      assert.equal(role.metadata.namespace, 'kube-system');
      assert.deepEqual(grants(role.rules), [
        'coordination.k8s.io/leases create',
        'coordination.k8s.io/leases get [kube-loxilb]',
        'coordination.k8s.io/leases update [kube-loxilb]',
      ]);
      for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
        const b = find(list, kind);
        assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: 'kube-loxilb', namespace: 'kube-system' }]);
      }
    });
  }

  for (const [file, service, kind] of [
    ['loxilb.yaml', 'loxilb-lb-service', 'lb'],
    ['loxilb-peer.yaml', 'loxilb-peer-service', 'peer'],
  ] as const) {
    it(`${file}: a hostNetwork DaemonSet with valid loxilb flags and the headless ${service}`, () => {
      const list = docs(file);
      const ds = find(list, 'DaemonSet');
      const pod = ds.spec.template.spec;
      assert.equal(pod.hostNetwork, true);
      const c = pod.containers[0];
      assert.equal(c.image, IMAGE);
      assert.equal(c.command[0], 'loxilb');
      const flags = parseLoxilbFlags(c.command.slice(1) as string[]);
      assert.equal(kind === 'lb' ? flags.bgp : flags.peer, true);
      assert.deepEqual(flags.notInEffect, []);
      // The REST API requires the token kube-loxilb sends, from the same Secret.
      assert.ok(flags.apiTokenFile, 'the agent requires an API token');
      assert.equal(secretKeyAt(pod, c, flags.apiTokenFile), 'token');
      assert.equal((pod.volumes as Doc[])[0]!.secret.defaultMode, 0o400, 'the agent runs as root: nobody else in the pod reads the token');
      const svc = find(list, 'Service', service);
      assert.equal(svc.metadata.namespace, 'kube-system');
      assert.equal(svc.spec.clusterIP, 'None');
      assert.deepEqual(svc.spec.selector, ds.spec.selector.matchLabels);
      assert.ok((svc.spec.ports as Doc[]).some((p) => p.port === 11111));
      api.create('services', svc, 'kube-system');
    });
  }

  it('loxilb-api-secret.yaml: the Secret both sides mount, with an empty token the agents refuse (create it with kubectl)', () => {
    const list = docs('loxilb-api-secret.yaml');
    assert.equal(list.length, 1);
    const secret = find(list, 'Secret', 'loxilb-api');
    assert.equal(secret.metadata.namespace, 'kube-system');
    assert.deepEqual(Object.keys(secret.stringData).sort(), ['ca.crt', 'token']);
    assert.equal(secret.stringData.token, '', 'no usable token is published in the repository');
    assert.match(readFileSync(path.join(ROOT, 'examples', 'loxilb-api-secret.yaml'), 'utf8'), /kubectl -n kube-system create secret generic loxilb-api/);
  });

  for (const file of ['services/tcp.yaml', 'services/udp.yaml', 'services/sctp.yaml']) {
    it(`${file}: a LoadBalancer Service kube-loxilb acts on, with valid annotations`, () => {
      const svc = find(docs(file), 'Service');
      assert.ok(isServiceSelected({ type: svc.spec.type, loadBalancerClass: svc.spec.loadBalancerClass, annotations: svc.metadata.annotations }, { loadBalancerClass: 'loxilb.io/loxilb', zone: 'llb' }));
      const parsed = parseServiceAnnotations(svc.metadata.annotations, { v4Pools: ['defaultPool'], v6Pools: ['defaultPool'], secondaryPools: [], zone: 'llb', numZoneInstances: 1 });
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.deepEqual(parsed.warnings, []);
      // The fake API server validates Services like an apiserver (strict fields).
      const created = api.create<Doc>('services', svc);
      assert.ok(created.spec.ports[0].nodePort > 0);
      // And the rule kube-loxilb derives from it is one a loxilb agent accepts (no RuleNotInstalled),
      // with a ready pod on a worker node as externalTrafficPolicy: Local asks.
      const plan = planRules({
        services: [
          {
            namespace: 'default',
            name: svc.metadata.name,
            ports: (created.spec.ports as Doc[]).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP', nodePort: p.nodePort })),
            ...(svc.spec.externalTrafficPolicy ? { externalTrafficPolicy: svc.spec.externalTrafficPolicy } : {}),
            vips: ['123.123.123.1'],
            settings: parsed.settings,
            endpointSlices: [{ addressType: 'IPv4', endpoints: [{ addresses: ['10.244.1.5'], nodeName: 'worker', ready: true }] }],
          },
        ],
        nodes: [{ name: 'worker', ready: true, internalIPs: ['192.168.80.101'] }],
        config: { setBGP: 64512, monitor: false, setLBMode: 0, zone: 'llb', usePodNetwork: false, useExternalEndpoint: false },
      });
      assert.deepEqual(plan.notes, []);
      assert.equal(plan.rules.length, created.spec.ports.length);
    });
  }
});
