import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NEXT_HOP_SELF_POLICY, nextHopSelfPolicy, planBgpConfig, rolePolicy, type BgpAction, type DesiredBgp, type ObservedBgp } from '../../src/bgp/planBgpConfig.ts';
import type { PeerInfo } from '../../src/bgp/GobgpClient.ts';

const timers = { connectRetry: 5, holdTime: 90, keepalive: 30 };
const global = { localAs: 64512, routerId: '192.168.80.10', listenPort: 0, setNextHopSelf: true };
const empty: ObservedBgp = { global: { asn: 0, routerId: '', listenPort: 0 }, peers: [], exportPolicies: [], policies: [] };
const peer = (address: string, peerAsn: number, families: (4 | 6)[] = [4]): PeerInfo => ({
  address, peerAsn, remotePort: 179, multihopTtl: 0, families, sessionState: 'ESTABLISHED', adminState: 'UP', uptime: 0, downtime: 0, received: 0, accepted: 0, advertised: 0,
});
const kinds = (d: DesiredBgp, o: ObservedBgp) => planBgpConfig(d, o).map((a) => a.kind);

test('nothing happens before a global config exists', () => {
  assert.deepEqual(planBgpConfig({ neighbors: [{ ipAddress: '1.1.1.1', remoteAs: 1, remotePort: 0, setMultiHop: false }], timers }, empty), []);
});

test('fresh gobgpd: start, policy, assignment, peers (no soft reset needed)', () => {
  const d: DesiredBgp = { global, neighbors: [{ ipAddress: '192.168.80.1', remoteAs: 65101, remotePort: 0, setMultiHop: false }, { ipAddress: 'fd00:80::1', remoteAs: 65101, remotePort: 0, setMultiHop: true }], timers };
  const a = planBgpConfig(d, empty);
  assert.deepEqual(a.map((x) => x.kind), ['startBgp', 'addPolicy', 'setExportPolicies', 'addPeer', 'addPeer']);
  const start = a[0] as Extract<(typeof a)[number], { kind: 'startBgp' }>;
  assert.deepEqual(start.global, { asn: 64512, routerId: '192.168.80.10', listenPort: 179, listenAddresses: ['0.0.0.0', '::'] });
  const v6 = a[4] as Extract<(typeof a)[number], { kind: 'addPeer' }>;
  assert.deepEqual(v6.peer.families, [6]);
  assert.equal(v6.peer.multihopTtl, 8);
  assert.equal(v6.peer.address, 'fd00:80::1');
});

test('converged state plans nothing', () => {
  const d: DesiredBgp = { global, neighbors: [{ ipAddress: '192.168.80.1', remoteAs: 65101, remotePort: 179, setMultiHop: false }], timers };
  const o: ObservedBgp = { global: { asn: 64512, routerId: '192.168.80.10', listenPort: 179 }, peers: [peer('192.168.80.1', 65101)], exportPolicies: [NEXT_HOP_SELF_POLICY], policies: [nextHopSelfPolicy] };
  assert.deepEqual(planBgpConfig(d, o), []);
});

test('peers: extra ones deleted, changed ones replaced', () => {
  const d: DesiredBgp = { global, neighbors: [{ ipAddress: '10.0.0.1', remoteAs: 65002, remotePort: 0, setMultiHop: false }], timers };
  const o: ObservedBgp = { global: { asn: 64512, routerId: '192.168.80.10', listenPort: 179 }, peers: [peer('10.0.0.1', 65001), peer('10.0.0.2', 65001)], exportPolicies: [NEXT_HOP_SELF_POLICY], policies: [nextHopSelfPolicy] };
  const a = planBgpConfig(d, o);
  assert.deepEqual(a.map((x) => (x.kind === 'deletePeer' ? `del ${x.address}` : x.kind === 'addPeer' ? `add ${x.peer.address} ${x.peer.peerAsn}` : x.kind)), ['del 10.0.0.1', 'del 10.0.0.2', 'add 10.0.0.1 65002']);
});

test('turning next-hop-self off removes the assignment and soft-resets peers', () => {
  const d: DesiredBgp = { global: { ...global, setNextHopSelf: false }, neighbors: [{ ipAddress: '10.0.0.1', remoteAs: 65001, remotePort: 0, setMultiHop: false }], timers };
  const o: ObservedBgp = { global: { asn: 64512, routerId: '192.168.80.10', listenPort: 179 }, peers: [peer('10.0.0.1', 65001)], exportPolicies: [NEXT_HOP_SELF_POLICY], policies: [nextHopSelfPolicy] };
  assert.deepEqual(kinds(d, o), ['setExportPolicies', 'softResetOut']);
});

test('a new AS or router-id restarts BGP (gobgpd cannot change them in place)', () => {
  const d: DesiredBgp = { global: { ...global, localAs: 65000 }, neighbors: [], timers };
  const o: ObservedBgp = { global: { asn: 64512, routerId: '192.168.80.10', listenPort: 179 }, peers: [], exportPolicies: [NEXT_HOP_SELF_POLICY], policies: [nextHopSelfPolicy] };
  assert.deepEqual(kinds(d, o), ['stopBgp', 'startBgp', 'addPolicy', 'setExportPolicies']);
});

test('4-byte AS numbers pass through', () => {
  const d: DesiredBgp = { global: { ...global, localAs: 4200000001 }, neighbors: [{ ipAddress: '10.0.0.1', remoteAs: 4200000002, remotePort: 0, setMultiHop: false }], timers };
  const a = planBgpConfig(d, empty);
  assert.equal((a[0] as { global: { asn: number } }).global.asn, 4200000001);
  assert.equal((a.at(-1) as { peer: { peerAsn: number } }).peer.peerAsn, 4200000002);
});

const running = { asn: 64512, routerId: '192.168.80.10', listenPort: 179 };
const master = { set: 'loxilb-vip4-llb-inst0', med: 10, localPref: 5000 };
const backup = { set: 'loxilb-vip4-llb-inst0', med: 20, localPref: 100 };

test('a role appears: the first role policy generation is added and assigned after next-hop-self, then peers soft-reset', () => {
  const d: DesiredBgp = { global, neighbors: [{ ipAddress: '10.0.0.1', remoteAs: 65001, remotePort: 0, setMultiHop: false }], timers, roles: [master] };
  const o: ObservedBgp = { global: running, peers: [peer('10.0.0.1', 65001)], exportPolicies: [NEXT_HOP_SELF_POLICY], policies: [nextHopSelfPolicy] };
  const a = planBgpConfig(d, o);
  assert.deepEqual(a.map((x) => x.kind), ['addPolicy', 'setExportPolicies', 'softResetOut']);
  const add = a[0] as Extract<BgpAction, { kind: 'addPolicy' }>;
  assert.deepEqual(add.policy, {
    name: 'loxilb-role-g1',
    statements: [{ name: 'loxilb-role-g1-loxilb-vip4-llb-inst0', conditions: { prefixSet: 'loxilb-vip4-llb-inst0' }, actions: { med: 10, localPref: 5000 } }],
  });
  assert.deepEqual((a[1] as Extract<BgpAction, { kind: 'setExportPolicies' }>).names, [NEXT_HOP_SELF_POLICY, 'loxilb-role-g1']);
});

test('a role flip adds the next generation, swaps the assignment, then deletes the old one', () => {
  const d: DesiredBgp = { global, neighbors: [{ ipAddress: '10.0.0.1', remoteAs: 65001, remotePort: 0, setMultiHop: false }], timers, roles: [backup] };
  const o: ObservedBgp = { global: running, peers: [peer('10.0.0.1', 65001)], exportPolicies: [NEXT_HOP_SELF_POLICY, 'loxilb-role-g7'], policies: [nextHopSelfPolicy, rolePolicy(7, [master])] };
  const a = planBgpConfig(d, o);
  assert.deepEqual(
    a.map((x) => (x.kind === 'addPolicy' || x.kind === 'deletePolicy' ? `${x.kind} ${'policy' in x ? x.policy.name : x.name}` : x.kind)),
    ['addPolicy loxilb-role-g8', 'setExportPolicies', 'deletePolicy loxilb-role-g7', 'softResetOut'],
  );
});

test('the role policy in place is kept when it already does what the roles ask', () => {
  const d: DesiredBgp = { global, neighbors: [], timers, roles: [master] };
  const o: ObservedBgp = { global: running, peers: [], exportPolicies: [NEXT_HOP_SELF_POLICY, 'loxilb-role-g2'], policies: [nextHopSelfPolicy, rolePolicy(2, [master])] };
  assert.deepEqual(planBgpConfig(d, o), []);
});

test('stray unassigned generations are deleted; no roles left means no role policy', () => {
  const d: DesiredBgp = { global, neighbors: [], timers, roles: [] };
  const o: ObservedBgp = { global: running, peers: [], exportPolicies: [NEXT_HOP_SELF_POLICY, 'loxilb-role-g3'], policies: [nextHopSelfPolicy, rolePolicy(2, [master]), rolePolicy(3, [backup])] };
  assert.deepEqual(
    planBgpConfig(d, o).map((x) => (x.kind === 'deletePolicy' ? `del ${x.name}` : x.kind)),
    ['setExportPolicies', 'del loxilb-role-g2', 'del loxilb-role-g3'],
  );
});

test('BFD says a neighbour is gone: its session is disabled, then made anew when BFD is back; a re-added peer starts admin-down', () => {
  const n = { ipAddress: '192.168.80.1', remoteAs: 65101, remotePort: 179, setMultiHop: false };
  const base: ObservedBgp = { global: { asn: 64512, routerId: '192.168.80.10', listenPort: 179 }, peers: [peer('192.168.80.1', 65101)], exportPolicies: [NEXT_HOP_SELF_POLICY], policies: [nextHopSelfPolicy] };
  const down: DesiredBgp = { global, neighbors: [n], timers, bfdDown: new Set(['192.168.80.1']) };
  assert.deepEqual(planBgpConfig(down, base), [{ kind: 'disablePeer', address: '192.168.80.1', communication: 'BFD down' }]);
  const disabled = { ...base, peers: [{ ...peer('192.168.80.1', 65101), adminState: 'DOWN' }] };
  assert.deepEqual(planBgpConfig(down, disabled), [], 'already down: nothing to do');
  // Back up: made anew (gobgpd would hold an enabled peer Idle for 5 s, refusing the router's connections).
  const up = planBgpConfig({ global, neighbors: [n], timers, bfdDown: new Set() }, disabled);
  assert.deepEqual(up.map((a) => a.kind), ['deletePeer', 'addPeer']);
  assert.equal(up[0]!.kind === 'deletePeer' && up[0]!.address, '192.168.80.1');
  assert.equal(up[1]!.kind === 'addPeer' && (up[1]!.peer.adminDown ?? false), false);
  const fresh = planBgpConfig(down, { ...base, peers: [] });
  const add = fresh.find((a) => a.kind === 'addPeer');
  assert.equal(add?.kind === 'addPeer' && add.peer.adminDown, true);
});

test('revive: a neighbour gobgpd holds Idle and admin-up is made anew; not one that is Active, admin-down, max-prefix shut, BFD-down or not named', () => {
  const n = { ipAddress: '192.168.80.1', remoteAs: 65101, remotePort: 179, setMultiHop: false };
  const observed = (sessionState: string, adminState = 'UP'): ObservedBgp => ({
    global: { asn: 64512, routerId: '192.168.80.10', listenPort: 179 },
    peers: [{ ...peer('192.168.80.1', 65101), sessionState, adminState }],
    exportPolicies: [NEXT_HOP_SELF_POLICY],
    policies: [nextHopSelfPolicy],
  });
  const revive = new Set(['192.168.80.1']);
  const d: DesiredBgp = { global, neighbors: [n], timers, revive };
  assert.deepEqual(kinds(d, observed('IDLE')), ['deletePeer', 'addPeer']);
  const add = planBgpConfig(d, observed('IDLE'))[1]!;
  assert.equal(add.kind === 'addPeer' && (add.peer.adminDown ?? false), false, 'made admin-up');
  assert.deepEqual(kinds(d, observed('ACTIVE')), [], 'already taking connections');
  assert.deepEqual(kinds(d, observed('ESTABLISHED')), [], 'the router got in first');
  assert.deepEqual(kinds(d, observed('IDLE', 'PFX_CT')), [], 'a max-prefix shutdown stays');
  assert.deepEqual(kinds({ ...d, revive: new Set() }, observed('IDLE')), [], 'only when the session just ended');
  // BFD Down wins: the session is shut, not revived.
  assert.deepEqual(kinds({ ...d, bfdDown: revive }, observed('IDLE')), ['disablePeer']);
  assert.deepEqual(kinds({ ...d, bfdDown: revive }, observed('IDLE', 'DOWN')), []);
});

test('drain: the same sets with the drain attributes and GRACEFUL_SHUTDOWN make a new generation; the policy in place is kept only with the same communities', () => {
  const drained = { set: 'loxilb-vip4-llb-inst0', med: 30, localPref: 0, communities: ['65535:0'] };
  const d: DesiredBgp = { global, neighbors: [], timers, roles: [drained] };
  const o: ObservedBgp = { global: running, peers: [], exportPolicies: [NEXT_HOP_SELF_POLICY, 'loxilb-role-g4'], policies: [nextHopSelfPolicy, rolePolicy(4, [master])] };
  const a = planBgpConfig(d, o);
  const add = a.find((x) => x.kind === 'addPolicy') as Extract<BgpAction, { kind: 'addPolicy' }>;
  assert.deepEqual(add.policy.statements[0]!.actions, { med: 30, localPref: 0, communities: ['65535:0'] });
  assert.deepEqual(planBgpConfig(d, { ...o, exportPolicies: [NEXT_HOP_SELF_POLICY, 'loxilb-role-g5'], policies: [nextHopSelfPolicy, rolePolicy(5, [drained])] }), []);
  // Same MED and local-pref without the community is not the same policy (an undrain must take it off).
  const plain = { ...drained, communities: undefined };
  assert.notDeepEqual(planBgpConfig({ ...d, roles: [plain] }, { ...o, exportPolicies: [NEXT_HOP_SELF_POLICY, 'loxilb-role-g5'], policies: [nextHopSelfPolicy, rolePolicy(5, [drained])] }), []);
});
