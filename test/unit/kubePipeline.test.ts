// The pure pieces wired the way the controller runtime will wire them:
// flags -> IPAM -> annotations -> allocation -> rules -> per-agent diff,
// then a controller restart that restores from Service status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKubeLoxilbFlags } from '../../src/cli/kubeLoxilbFlags.ts';
import { IpAllocator } from '../../src/ipam/IpAllocator.ts';
import { allocationRequest, parseServiceAnnotations, type AnnotationContext } from '../../src/kube/annotations.ts';
import { diffRules, planRules, type PlanNode, type PlanService } from '../../src/kube/planRules.ts';
import { formatIngress, parseIngress } from '../../src/kube/serviceStatus.ts';
import { formatLbRuleForGet } from '../../src/lb/validateLbRule.ts';

test('from flags to the rules an empty agent receives, and nothing after a restart', () => {
  const cfg = parseKubeLoxilbFlags(['--externalCIDR=123.123.123.1/24', '--setBGP=64512', '--setRoles', '--setLBMode=2']);
  const newIpam = () => new IpAllocator({ v4Pools: cfg.v4Pools, v6Pools: cfg.v6Pools, secondaryPools: cfg.secondaryPools, mode: cfg.ipamMode });
  let ipam = newIpam();
  const ctx: AnnotationContext = {
    v4Pools: ipam.poolNames('v4'), v6Pools: ipam.poolNames('v6'), secondaryPools: ipam.poolNames('secondary'),
    zone: cfg.zone, numZoneInstances: cfg.numZoneInstances,
  };
  const nodes: PlanNode[] = [{ name: 'w1', ready: true, internalIPs: ['192.168.80.101'] }, { name: 'w2', ready: true, internalIPs: ['192.168.80.102'] }];
  // The blog's three Services share one VIP because their ports differ.
  const specs: { name: string; port: number; protocol: string; nodePort: number; ann: Record<string, string> }[] = [
    { name: 'nginx-lb1', port: 55002, protocol: 'TCP', nodePort: 32694, ann: {} },
    { name: 'udp-lb1', port: 55003, protocol: 'UDP', nodePort: 30165, ann: { 'loxilb.io/liveness': 'yes' } },
    { name: 'sctp-lb1', port: 55004, protocol: 'SCTP', nodePort: 31402, ann: { 'loxilb.io/liveness': 'yes' } },
  ];
  const services: PlanService[] = specs.map((s) => {
    const parsed = parseServiceAnnotations(s.ann, ctx);
    assert.ok(parsed.ok);
    const ports = [{ port: s.port, protocol: s.protocol.toLowerCase() }];
    const alloc = ipam.allocate(allocationRequest(`default/${s.name}`, ports, parsed.settings).request);
    assert.ok(alloc.ok);
    return {
      namespace: 'default', name: s.name, ports: [{ port: s.port, protocol: s.protocol, nodePort: s.nodePort }],
      vips: alloc.allocation.vips.map((v) => v.ip), settings: parsed.settings,
    };
  });
  const { rules, notes } = planRules({ services, nodes, config: cfg });
  assert.deepEqual(notes, []);
  assert.deepEqual(rules.map((r) => [r.serviceArguments.externalIP, r.serviceArguments.port, r.serviceArguments.protocol, r.serviceArguments.mode, r.serviceArguments.monitor, r.serviceArguments.bgp]), [
    ['123.123.123.1', 55002, 'tcp', 2, false, true],
    ['123.123.123.1', 55004, 'sctp', 2, true, true],
    ['123.123.123.1', 55003, 'udp', 2, true, true],
  ]);
  const toEmpty = diffRules(rules, [], { zone: cfg.zone });
  assert.equal(toEmpty.add.length, 3);
  const agentHas = rules.map((r) => formatLbRuleForGet(r));

  // Restart: a new allocator restores from status before anything else.
  const status = services.map((s) => ({ key: `${s.namespace}/${s.name}`, ingress: s.vips.map((ip) => formatIngress(ip, cfg)), ports: s.ports }));
  assert.deepEqual(status[0]!.ingress, [{ hostname: 'llb-123.123.123.1' }]);
  ipam = newIpam();
  for (const st of status) {
    for (const ing of st.ingress) {
      const r = ipam.restore(st.key, parseIngress(ing, cfg.zone)!, st.ports.map((p) => ({ port: p.port, protocol: p.protocol })));
      assert.ok(r.ok);
    }
  }
  const again = planRules({ services, nodes, config: cfg });
  assert.deepEqual(diffRules(again.rules, agentHas, { zone: cfg.zone }), { add: [], modify: [], replace: [], delete: [], conflicts: [], notProgrammed: [] });
  const fresh = ipam.allocate({ serviceKey: 'default/new', ports: [{ port: 55002, protocol: 'tcp' }], families: [4] });
  assert.ok(fresh.ok && fresh.allocation.vips[0]!.ip === '123.123.123.2', 'restored claims are respected');
});
