// The datapath reconciler's bookkeeping and the one-rule-per-service index, without a datapath.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuleProgrammer } from '../../src/agent/RuleProgrammer.ts';
import { ServiceIndex, serviceIds } from '../../src/agent/ServiceIndex.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import { silentLogger } from '../../src/util/logger.ts';
import type { Datapath } from '../../src/datapath/Datapath.ts';
import { FakeClock } from '../lab/FakeClock.ts';

function rule(vip: string, port: number, portMax?: number): LbRule {
  return {
    serviceArguments: { externalIP: vip, port, ...(portMax ? { portMax } : {}), protocol: 'tcp', sel: 0, mode: 0, bgp: true, monitor: false, block: 0 },
    endpoints: [{ endpointIP: '31.31.31.1', targetPort: 8080, weight: 1 }],
    secondaryIPs: [],
    allowedSources: [],
  } as LbRule;
}

test('a port range is one service entry per port', () => {
  assert.deepEqual(serviceIds(rule('20.0.0.1', 80, 82)), ['20.0.0.1|80|tcp', '20.0.0.1|81|tcp', '20.0.0.1|82|tcp']);
});

test('a service another rule serves is refused, naming that rule; room is counted in rules and entries', () => {
  const idx = new ServiceIndex();
  idx.claim('a', rule('20.0.0.1', 80, 81));
  assert.throws(() => idx.checkRoom('b', rule('20.0.0.1', 81), undefined, 1, 10, 10), /20\.0\.0\.1:81\/tcp is already served by the rule a/);
  idx.checkRoom('a', rule('20.0.0.1', 80, 85), rule('20.0.0.1', 80, 81), 1, 10, 6);
  assert.throws(() => idx.checkRoom('a', rule('20.0.0.1', 80, 86), rule('20.0.0.1', 80, 81), 1, 10, 6), /at most 6 address\/port entries/);
  assert.throws(() => idx.checkRoom('c', rule('20.0.0.9', 80), undefined, 10, 10, 100), /at most 10 rules/);
  idx.release('a', rule('20.0.0.1', 80, 81));
  idx.checkRoom('b', rule('20.0.0.1', 81), undefined, 0, 10, 10);
});

test('without a datapath every rule is not programmed, with why; a deleted rule leaves no state', async () => {
  const rules = new Map<string, LbRule>([['k', rule('20.0.0.1', 80)]]);
  const programmed: string[] = [];
  const offers: string[] = [];
  let passes = 0;
  const p = new RuleProgrammer({
    rules,
    datapath: () => undefined,
    alive: () => true,
    instanceVip: () => undefined,
    programmed: (k, r) => programmed.push(`${k} ${r ? 'in' : 'out'}`),
    offerChanged: (k) => offers.push(k),
    passDone: () => passes++,
    log: silentLogger,
  });
  assert.equal(p.stateOf('k'), undefined);
  p.mark('k');
  await p.pass();
  assert.deepEqual(p.stateOf('k'), { programmed: false, reason: 'the eBPF datapath is not loaded on this node' });
  assert.equal(p.notProgrammedCount, 1);
  assert.equal(p.isProgrammed('k'), false);
  assert.deepEqual(offers, ['k'], 'the first state is a change of offer');
  rules.delete('k');
  p.mark('k');
  await p.pass();
  assert.equal(p.stateOf('k'), undefined);
  assert.equal(p.notProgrammedCount, 0);
  assert.deepEqual(programmed, ['k out', 'k out']);
  assert.equal(passes, 2);
  await p.pass();
  assert.equal(passes, 2, 'a pass with nothing dirty does nothing');
  p.close();
});

test('rules the datapath refused are tried again 5 s later, on the injected clock', async () => {
  const clock = new FakeClock();
  const rules = new Map<string, LbRule>([['k', rule('20.0.0.1', 80)]]);
  let tries = 0;
  let room = false;
  const dp = {
    program: (entries: readonly (readonly [string, LbRule | undefined])[]) => {
      tries++;
      return new Map(entries.map(([k]) => [k, room ? { programmed: true } : { programmed: false, reason: 'no room' }]));
    },
    nodeAddresses: () => [],
    isOnLink: () => false,
  } as unknown as Datapath;
  const p = new RuleProgrammer({
    rules,
    datapath: () => dp,
    alive: () => true,
    instanceVip: () => undefined,
    programmed: () => undefined,
    offerChanged: () => undefined,
    passDone: () => undefined,
    log: silentLogger,
    clock,
  });
  try {
    p.mark('k');
    await p.pass();
    assert.equal(tries, 1);
    assert.equal(p.isProgrammed('k'), false);
    await clock.advance(4999);
    assert.equal(tries, 1, 'not before the retry is due');
    room = true;
    await clock.advance(1);
    await clock.until(p.loop.whenIdle());
    assert.equal(tries, 2, 'the refused rule is tried again');
    assert.equal(p.isProgrammed('k'), true);
    assert.equal(p.notProgrammedCount, 0);
    await clock.advance(60_000);
    assert.equal(tries, 2, 'nothing left to retry: no more passes');
  } finally {
    p.close();
  }
});
