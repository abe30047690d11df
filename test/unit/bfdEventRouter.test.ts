// Where a BFD state change goes: HA peers, the upstream tracker, and the BGP
// neighbours BFD shuts and reopens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BfdEventRouter } from '../../src/ha/BfdEventRouter.ts';
import { BfdState } from '../../src/bfd/BfdPacket.ts';
import { silentLogger } from '../../src/util/logger.ts';

function router(neighbors: string[]) {
  const calls: string[] = [];
  const r = new BfdEventRouter({
    haPeer: (i, ip, up, held) => calls.push(`ha ${i} ${ip} ${up} ${held}`),
    router: (ip, up) => calls.push(`router ${ip} ${up}`),
    isBgpNeighbor: (ip) => neighbors.includes(ip),
    neighborsDownChanged: () => calls.push('bgp'),
    logger: silentLogger,
  });
  return { r, calls };
}

test('an HA peer that holds its session AdminDown (its state says so) is reported held; a node that is no neighbour goes to HA only', () => {
  const { r, calls } = router([]);
  r.onChange('llb-inst0', '10.0.0.2', BfdState.Up, BfdState.Down, BfdState.AdminDown);
  r.onChange('llb-inst0', '10.0.0.2', BfdState.Up, BfdState.Down, BfdState.Down);
  // The peer released its hold: its state is Down (its diagnostic may still say 7): not held.
  r.onChange('llb-inst0', '10.0.0.2', BfdState.AdminDown, BfdState.Down, BfdState.Down);
  assert.deepEqual(calls, ['ha llb-inst0 10.0.0.2 false true', 'ha llb-inst0 10.0.0.2 false false', 'ha llb-inst0 10.0.0.2 false false']);
});

test('an HA peer that starts holding the session while ours is already Down is reported held (no local change would say it)', () => {
  const { r, calls } = router([]);
  r.onRemoteState('10.0.0.2', BfdState.AdminDown);
  r.onRemoteState('10.0.0.2', BfdState.Down);
  r.onRemoteState('10.0.0.3', BfdState.AdminDown, 'other');
  assert.deepEqual(calls, ['ha llb-inst0 10.0.0.2 false true', 'ha other 10.0.0.3 false true']);
});

test('a neighbour that holds BFD AdminDown is not gone, and one that starts holding it gets its BGP session back (RFC 5882 §3.2)', () => {
  const { r, calls } = router(['10.0.0.254']);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Init, BfdState.Up);
  // It holds the session (a graceful stop, or a restart that waits for BGP): BGP stays, the router is not lost.
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Up, BfdState.Down, BfdState.AdminDown);
  assert.deepEqual([...r.neighborsDown()], []);
  assert.deepEqual(calls.filter((c) => !c.startsWith('ha')), ['router 10.0.0.254 true']);
  // It died (detection time), then came back holding AdminDown until BGP is Established.
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Down, BfdState.Init);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Init, BfdState.Up);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Up, BfdState.Down, BfdState.Down);
  assert.deepEqual([...r.neighborsDown()], ['10.0.0.254']);
  r.onRemoteState('10.0.0.254', BfdState.AdminDown);
  assert.deepEqual([...r.neighborsDown()], [], 'BGP enabled again: it can be Established, then BFD comes Up');
  assert.equal(calls.filter((c) => c === 'bgp').length, 2);
  r.onRemoteState('10.0.0.254', BfdState.AdminDown);
  assert.equal(calls.filter((c) => c === 'bgp').length, 2, 'once');
});

test('a neighbour whose BFD was Up and went Down is shut once, and opened again when BFD is Up', () => {
  const { r, calls } = router(['10.0.0.254']);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Init, BfdState.Up);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Up, BfdState.Down);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Down, BfdState.Init);
  assert.deepEqual([...r.neighborsDown()], ['10.0.0.254']);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Init, BfdState.Up);
  assert.deepEqual(calls.filter((c) => !c.startsWith('ha')), ['router 10.0.0.254 true', 'router 10.0.0.254 false', 'bgp', 'router 10.0.0.254 true', 'bgp']);
  assert.deepEqual([...r.neighborsDown()], []);
});

test('a neighbour whose session never came up leaves BGP alone; a deleted one is forgotten', () => {
  const { r, calls } = router(['10.0.0.254']);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Down, BfdState.Init);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Init, BfdState.Down);
  assert.ok(!calls.includes('bgp'));
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Init, BfdState.Up);
  r.onChange('llb-inst0', '10.0.0.254', BfdState.Up, BfdState.Down);
  const copy = r.neighborsDown();
  r.forget('10.0.0.254');
  assert.deepEqual([...copy], ['10.0.0.254']);
  assert.deepEqual([...r.neighborsDown()], []);
});
