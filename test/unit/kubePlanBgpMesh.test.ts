import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diffBgpNeighbors, planBgpMesh, type BgpNeighborBody, type MeshAgent, type MeshConfig } from '../../src/kube/planBgpMesh.ts';

// The in-cluster blog's cluster: two LB masters, two --peer workers, one external router.
const agents: MeshAgent[] = [
  { id: 'http://192.168.80.10:11111', kind: 'lb', addresses: ['192.168.80.10'], alive: true },
  { id: 'http://192.168.80.11:11111', kind: 'lb', addresses: ['192.168.80.11'], alive: true },
  { id: 'http://192.168.80.101:11111', kind: 'peer', addresses: ['192.168.80.101'], alive: true },
  { id: 'http://192.168.80.102:11111', kind: 'peer', addresses: ['192.168.80.102'], alive: false },
];
const cfg: MeshConfig = { setBGP: 64512, listenBGPPort: 179, eBGPMultiHop: false, extBGPPeers: [{ ip: '192.168.80.1', asn: 65101 }], lbToLbMesh: true };

const peersOf = (plan: ReturnType<typeof planBgpMesh>, id: string) =>
  plan.agents.find((a) => a.id === id)!.neighbors.map((n) => `${n.ipAddress} ${n.remoteAs}`);

test('the documented in-cluster mesh: gobgp neigh on every node', () => {
  const p = planBgpMesh(agents, cfg);
  assert.deepEqual(p.notes, []);
  // master1 and master2: the router, the other master, both workers.
  assert.deepEqual(peersOf(p, agents[0]!.id), ['192.168.80.1 65101', '192.168.80.11 64512', '192.168.80.101 64512', '192.168.80.102 64512']);
  assert.deepEqual(peersOf(p, agents[1]!.id), ['192.168.80.1 65101', '192.168.80.10 64512', '192.168.80.101 64512', '192.168.80.102 64512']);
  // workers: both masters and the other worker, no external router.
  assert.deepEqual(peersOf(p, agents[2]!.id), ['192.168.80.10 64512', '192.168.80.11 64512', '192.168.80.102 64512']);
  const m2 = p.agents[1]!;
  assert.deepEqual(m2.global, { routerId: '192.168.80.11', localAs: 64512, setNextHopSelf: true, listenPort: 179 });
  assert.deepEqual(p.agents[2]!.global, { routerId: '192.168.80.101', localAs: 64512, setNextHopSelf: false, listenPort: 179 });
  assert.equal(p.agents[3]!.alive, false, 'dead agents are still planned and still meshed');
  assert.deepEqual(m2.neighbors.find((n) => n.ipAddress === '192.168.80.10'), { ipAddress: '192.168.80.10', remoteAs: 64512, remotePort: 179, setMultiHop: false });
});

test('listen port, multihop, 4-byte ASNs and --loxiURL (no LB-to-LB mesh)', () => {
  const p = planBgpMesh(agents, { ...cfg, setBGP: 4200000000, listenBGPPort: 1179, eBGPMultiHop: true, lbToLbMesh: false });
  const m1 = p.agents[0]!;
  assert.equal(m1.global.listenPort, 1179);
  assert.equal(m1.global.localAs, 4200000000);
  assert.deepEqual(m1.neighbors.map((n) => [n.ipAddress, n.remoteAs, n.remotePort, n.setMultiHop]), [
    ['192.168.80.1', 65101, 179, true],
    ['192.168.80.101', 4200000000, 1179, false],
    ['192.168.80.102', 4200000000, 1179, false],
  ]);
  assert.deepEqual(peersOf(p, agents[2]!.id), ['192.168.80.10 4200000000', '192.168.80.11 4200000000', '192.168.80.102 4200000000'], 'peers still mesh with everyone');
  assert.deepEqual(planBgpMesh(agents, { ...cfg, setBGP: 0 }), { agents: [], notes: [] }, 'BGP off');
});

test('dual-stack agents peer per family; IPv6-only router-ids; odd inputs are noted', () => {
  const ds: MeshAgent[] = [
    { id: 'a', kind: 'lb', addresses: ['10.0.0.1', 'fd00::1'], alive: true },
    { id: 'b', kind: 'lb', addresses: ['fd00::2', '10.0.0.2'], alive: true },
    { id: 'c', kind: 'peer', addresses: ['fd00::0:3'], alive: true },
    { id: 'd', kind: 'peer', addresses: [], alive: true },
    { id: 'e', kind: 'peer', addresses: ['10.0.0.2'], alive: true },
  ];
  const p = planBgpMesh(ds, { ...cfg, extBGPPeers: [{ ip: '2001:db8::9', asn: 65009 }, { ip: 'fd00::3', asn: 65003 }] });
  assert.deepEqual(peersOf(p, 'a'), ['10.0.0.2 64512', '2001:db8::9 65009', 'fd00::2 64512', 'fd00::3 64512']);
  assert.deepEqual(peersOf(p, 'c'), ['fd00::1 64512', 'fd00::2 64512']);
  assert.equal(p.agents.find((x) => x.id === 'c')!.global.routerId, '0.0.0.3');
  assert.deepEqual(p.agents.map((x) => x.id), ['a', 'b', 'c']);
  assert.equal(p.notes.length, 4);
  assert.ok(p.notes.some((n) => /agent d has no node address/.test(n)));
  assert.ok(p.notes.some((n) => /agent e has address 10.0.0.2, already used by agent b/.test(n)));
  assert.ok(p.notes.some((n) => /external peer fd00::3 is agent c/.test(n)));
  assert.ok(p.notes.some((n) => /agent c has no IPv4 address/.test(n)));
});

test('neighbour diff: add missing, fix a changed AS, remove vanished agents only', () => {
  const desired = planBgpMesh(agents, cfg).agents[0]!.neighbors;
  assert.deepEqual(diffBgpNeighbors(desired, []), { delete: [], add: desired });
  const current = [
    { ipAddress: '192.168.80.1', remoteAs: 65101, state: 'ESTABLISHED', updowntime: '00:34:38' },
    { ipAddress: '192.168.80.11', remoteAs: 64512, state: 'ESTABLISHED', updowntime: '00:34:46' },
    { ipAddress: '192.168.80.101', remoteAs: 64999, state: 'ACTIVE', updowntime: 'never' },
    { ipAddress: '192.168.80.103', remoteAs: 64512, state: 'ACTIVE', updowntime: 'never' },
    { ipAddress: '10.99.0.1', remoteAs: 64512, state: 'ESTABLISHED', updowntime: '1d 00:00:01' },
    'junk',
  ];
  const d = diffBgpNeighbors(desired, current, { managedAddresses: ['192.168.80.103'] });
  assert.deepEqual(d.delete, [{ ipAddress: '192.168.80.101', remoteAs: 64999 }, { ipAddress: '192.168.80.103', remoteAs: 64512 }]);
  assert.deepEqual(d.add.map((n) => n.ipAddress), ['192.168.80.101', '192.168.80.102']);
  assert.deepEqual(diffBgpNeighbors(desired, desired.map((n) => ({ ipAddress: n.ipAddress, remoteAs: n.remoteAs }))), { delete: [], add: [] });
  const moved = new Map(desired.map((n) => [n.ipAddress, { ...n, remotePort: 1179 }]));
  const re = diffBgpNeighbors(desired, desired, { lastPosted: moved });
  assert.equal(re.add.length, desired.length, 'a port change GET cannot show is re-sent from the posted record');
});

test('property: after a diff is applied, the agent has exactly the desired peers plus its own', () => {
  const ips = Array.from({ length: 8 }, (_, i) => `10.1.0.${i + 1}`);
  const nb = (ip: string, as: number): BgpNeighborBody => ({ ipAddress: ip, remoteAs: as, remotePort: 179, setMultiHop: false });
  fc.assert(
    fc.property(
      fc.subarray(ips), fc.subarray(ips), fc.subarray(ips), fc.integer({ min: 1, max: 2 }),
      (want, have, managed, as) => {
        const foreignIp = '192.0.2.1';
        const agent = new Map<string, number>(have.map((ip) => [ip, 64512]));
        agent.set(foreignIp, 64512);
        const desired = want.map((ip) => nb(ip, as === 1 ? 64512 : 65000));
        const d = diffBgpNeighbors(desired, [...agent].map(([ipAddress, remoteAs]) => ({ ipAddress, remoteAs })), { managedAddresses: managed });
        for (const r of d.delete) agent.delete(r.ipAddress);
        for (const n of d.add) agent.set(n.ipAddress, n.remoteAs);
        for (const n of desired) assert.equal(agent.get(n.ipAddress), n.remoteAs);
        for (const ip of have) if (!want.includes(ip)) assert.equal(agent.has(ip), !managed.includes(ip), `${ip} kept unless managed`);
        assert.ok(agent.has(foreignIp));
        assert.deepEqual(diffBgpNeighbors(desired, [...agent].map(([ipAddress, remoteAs]) => ({ ipAddress, remoteAs })), { managedAddresses: managed }), { delete: [], add: [] });
      },
    ),
    { numRuns: 200 },
  );
});
