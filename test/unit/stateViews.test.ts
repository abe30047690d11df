// The REST views of the agent's state, on plain objects: what GET answers carry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bfdStatusOf, bgpNeighborList, ciStateList, conntrackAct, conntrackList, drainInfo, formatUpDown, lbRuleList } from '../../src/api/stateViews.ts';
import type { CtEntry } from '../../src/datapath/layout.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import type { HaInstanceInfo } from '../../src/ha/HaManager.ts';

function ct(over: Partial<CtEntry> = {}): CtEntry {
  return {
    saddr: '10.0.0.9', daddr: '20.0.0.1', sport: 40000, dport: 80, proto: 'tcp', family: 4,
    xsaddr: '10.0.0.9', xdaddr: '20.0.0.1', xsport: 40000, xdport: 80, xfamily: 4,
    svc: { vip: '20.0.0.1', port: 80, proto: 'tcp' } as CtEntry['svc'], ruleId: 1, dir: 0, state: 2, epIdx: 0, flags: 0, timeoutS: 0, lastNs: 0n,
    packets: 3n, bytes: 180n, ...over,
  } as CtEntry;
}

const rule: LbRule = {
  serviceArguments: { externalIP: '20.0.0.1', port: 80, protocol: 'tcp', sel: 0, mode: 0, name: 'web', bgp: false, monitor: false, block: 0 },
  endpoints: [{ endpointIP: '31.31.31.1', targetPort: 8080, weight: 1 }],
  secondaryIPs: [],
  allowedSources: [],
} as LbRule;

test('formatUpDown is gobgp\'s HH:MM:SS with a day prefix', () => {
  assert.equal(formatUpDown(-3), '00:00:00');
  assert.equal(formatUpDown(86400 + 61.9), '1d 00:01:01');
});

test('conntrack entries carry the serving rule\'s name and what the datapath does to them', () => {
  const [fwd, nat] = conntrackList([rule], [ct(), ct({ svc: { vip: '20.0.0.2', port: 80, proto: 'tcp' } as CtEntry['svc'], xdaddr: '31.31.31.1', xdport: 8080, dir: 1, flags: 0x04 })]);
  assert.equal(fwd!.servName, 'web');
  assert.equal(fwd!.conntrackAct, 'fwd');
  assert.equal(fwd!.packets, 3);
  assert.equal(fwd!.bytes, 180);
  assert.equal(nat!.servName, '');
  assert.equal(nat!.conntrackAct, 'reply,dnat-31.31.31.1:8080,synced');
  assert.equal(conntrackAct(ct({ xsaddr: '9.9.9.9', xsport: 1 })), 'snat-9.9.9.9:1');
});

test('a rule not yet through a datapath pass lists as not programmed, with why', () => {
  const [r] = lbRuleList([['k', rule]], () => undefined, () => 'ok', undefined);
  assert.equal(r!.programmed, false);
  assert.equal(r!.reason, 'waiting for the next datapath pass');
  assert.equal(r!.endpoints[0]!.state, 'ok');
  const [p] = lbRuleList([['k', rule]], () => ({ programmed: true }), () => 'ok', undefined);
  assert.equal(p!.programmed, true);
  assert.ok(!('reason' in p!));
});

test('cistate: an API-driven instance has no peers or upstream; a BFD-driven one shows them', () => {
  const info: HaInstanceInfo = { priority: 100, preempt: false, synced: false, eligible: true, peers: [{ remoteIp: '10.0.0.2', bfdUp: true, state: 'BACKUP', priority: 50 }] };
  const states = [
    { instance: 'llb-inst0', state: 'MASTER' as const, vip: '0.0.0.0' },
    { instance: 'api', state: 'BACKUP' as const, vip: '0.0.0.0' },
  ];
  const [bfd, api] = ciStateList(states, {
    priority: 100,
    info: (i) => (i === 'llb-inst0' ? info : undefined),
    draining: true,
    restoring: (i) => (i === 'api' ? { remainingMs: 1500 } : undefined),
    upstream: () => [{ kind: 'bgp', name: '10.0.0.254', up: true, detail: 'ESTABLISHED' }],
    serving: () => true,
  });
  assert.equal(bfd!.driver, 'bfd');
  assert.equal(bfd!.synced, false);
  assert.equal(bfd!.serving, true);
  assert.equal(bfd!.upstream?.length, 1);
  assert.deepEqual(bfd!.peers, [{ remoteIp: '10.0.0.2', bfd: 'Up', state: 'BACKUP', priority: 50 }]);
  assert.equal(api!.driver, 'api');
  assert.equal(api!.synced, true);
  assert.equal(api!.draining, true);
  assert.deepEqual(api!.restoring, { from: 'MASTER', remainingMs: 1500 });
  assert.equal(api!.peers, undefined);
  assert.ok(!('upstream' in api!));
});

test('bgp neighbours: gobgpd\'s state and time in it; a neighbour gobgpd does not know is UNKNOWN, never up', () => {
  const out = bgpNeighborList(
    [{ ipAddress: '10.0.0.254', remoteAs: 65001 }, { ipAddress: '2001:db8::1', remoteAs: 65002 }, { ipAddress: '10.0.0.253', remoteAs: 65003 }] as never,
    [
      { address: '10.0.0.254', sessionState: 'ESTABLISHED', uptime: 1000, downtime: 10 },
      { address: '2001:0db8::0001', sessionState: 'ACTIVE', uptime: 0, downtime: 1090 },
    ],
    1100,
  );
  assert.deepEqual(out.map((n) => [n.state, n.updowntime]), [['ESTABLISHED', '00:01:40'], ['ACTIVE', '00:00:10'], ['UNKNOWN', 'never']]);
});

test('drain: no drainer reads as serving; the last drain is summarised', () => {
  assert.deepEqual(drainInfo(undefined), { draining: false, phase: 'serving', timeoutMs: 0 });
  const d = drainInfo({ draining: false, phase: 'serving', timeoutMs: 5000, last: { waitedMs: 20, timedOut: false, reason: 'peer took over', handedTo: '10.0.0.2' } as never });
  assert.deepEqual(d.last, { handedTo: '10.0.0.2', waitedMs: 20, timedOut: false, reason: 'peer took over' });
});

test('bfd status adds the receiver\'s drops to the sessions\' and does not change what it was given', () => {
  const totals = { 'bad-ttl': 1 };
  const s = bfdStatusOf([], { received: 5, delivered: 4 } as never, totals, { received: 9, droppedTtl: 2, droppedOverflow: 0, errors: 1 }, []);
  assert.deepEqual(s.rxDrops, { 'bad-ttl': 3, 'receive-error': 1 });
  assert.equal(s.received, 9);
  assert.equal(s.delivered, 4);
  assert.deepEqual(totals, { 'bad-ttl': 1 });
});
