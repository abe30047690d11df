import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EndpointProber, runProbe } from '../../src/lb/EndpointProber.ts';
import { silentLogger } from '../../src/util/logger.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import type { SctpProbeOutcome } from '../../src/lb/SctpProber.ts';
import { FakeClock } from '../lab/FakeClock.ts';

function monitored(eps: [string, number][], retries = 1): LbRule {
  return {
    serviceArguments: { externalIP: '1.1.1.1', port: 80, protocol: 'tcp', sel: 0, bgp: true, monitor: true, mode: 0, block: 0, probeTimeout: 1, probeRetries: retries },
    endpoints: eps.map(([endpointIP, targetPort]) => ({ endpointIP, targetPort, weight: 1 })),
    secondaryIPs: [],
    allowedSources: [],
  };
}

test('a monitored rule dies when every endpoint fails and revives on success', async () => {
  const clock = new FakeClock();
  const up = new Set<string>(['10.0.0.1', '10.0.0.2']);
  const prober = new EndpointProber(silentLogger, async (s) => up.has(s.ip), clock);
  const rule = monitored([['10.0.0.1', 80], ['10.0.0.2', 80]], 2);
  const changes: number[] = [];
  prober.on('change', () => changes.push(clock.now()));
  prober.sync([rule]);
  await clock.advance(50);
  assert.equal(prober.ruleAlive(rule), true);
  up.clear();
  await clock.advanceTo(1000); // one failure: probeRetries is 2
  assert.equal(prober.ruleAlive(rule), true);
  await clock.advanceTo(2000); // two failures in a row at a 1 s period
  assert.equal(prober.ruleAlive(rule), false);
  assert.equal(prober.endpointState(rule, rule.endpoints[0]!), 'inactive');
  up.add('10.0.0.2');
  await clock.advanceTo(3000);
  assert.equal(prober.ruleAlive(rule), true);
  assert.deepEqual(changes, [2000, 2000, 3000], 'both endpoints down at 2 s, one back at 3 s');
  prober.close();
  assert.equal(clock.pending, 0, 'close stops the probe timers');
});

test('unmonitored rules are always alive and show "-"', () => {
  const prober = new EndpointProber(silentLogger, async () => false);
  const rule = { ...monitored([['10.0.0.1', 80]]), serviceArguments: { ...monitored([]).serviceArguments, monitor: false } };
  prober.sync([rule]);
  assert.equal(prober.ruleAlive(rule), true);
  assert.equal(prober.endpointState(rule, rule.endpoints[0]!), '-');
  prober.close();
});

test('tcp probe: a listening port answers, a closed one does not', async () => {
  const srv = net.createServer((s) => s.end());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const spec = { type: 'tcp' as const, ip: '127.0.0.1', port, req: '', resp: '', periodMs: 1000, retries: 1 };
  assert.equal(await runProbe(spec, 500), true);
  await new Promise((r) => srv.close(r));
  assert.equal(await runProbe(spec, 500), false);
});

test('sctp probe: the SCTP prober decides (INIT ACK up; ABORT, silence down), not a TCP connect', async () => {
  const spec = { type: 'sctp' as const, ip: '10.0.0.2', port: 9000, req: '', resp: '', periodMs: 1000, retries: 1 };
  const calls: unknown[] = [];
  const answering = (outcome: SctpProbeOutcome) => async (ip: string, port: number, timeoutMs: number) => {
    calls.push([ip, port, timeoutMs]);
    return { up: outcome === 'init-ack', outcome };
  };
  assert.equal(await runProbe(spec, 500, answering('init-ack')), true);
  assert.equal(await runProbe(spec, 500, answering('abort')), false);
  assert.equal(await runProbe(spec, 500, answering('timeout')), false);
  assert.deepEqual(calls[0], ['10.0.0.2', 9000, 500]);
});
