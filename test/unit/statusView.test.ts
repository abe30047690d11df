// GET /status from the figures the agent collects: the status word and the degraded sentences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEGRADED_WINDOW_MS, StatusView, type StatusInputs } from '../../src/api/statusView.ts';

function inputs(over: Partial<StatusInputs> = {}): StatusInputs {
  return {
    now: 1_000_000, stopping: false, draining: false, mode: 'lb', bgpEnabled: true,
    gobgpd: { state: 'running', pid: 42, restarts: 0 },
    rules: 2, rulesNotProgrammed: 0, advertisedVips: 1, uptimeSeconds: 9,
    recentFaults: [], faults: [],
    ...over,
  };
}

function datapath(connections: number, ctFull: number): StatusInputs['datapath'] {
  return { interfaces: ['eth0'], egress: false, connections, connectionCapacity: 100, ruleCapacity: 10, serviceEntryCapacity: 40, stats: { ctFull, natPortsExhausted: 0 }, pinned: { adopted: false } };
}

test('all well is ok, with no degraded list; gobgpd restarting degrades', () => {
  const v = new StatusView();
  const ok = v.report(inputs());
  assert.equal(ok.status, 'ok');
  assert.ok(!('degraded' in ok));
  assert.deepEqual(ok.bgp, { enabled: true, gobgpd: 'running', pid: 42, restarts: 0 });
  const r = v.report(inputs({ gobgpd: { state: 'backoff', restarts: 3 }, rulesNotProgrammed: 1 }));
  assert.equal(r.status, 'degraded');
  assert.deepEqual(r.degraded, ['gobgpd is starting', '1 rule(s) not in the datapath (see GET config/loadbalancer/all)']);
  assert.equal(v.report(inputs({ gobgpd: undefined })).bgp.gobgpd, 'disabled');
});

test('stopping and draining win over degraded', () => {
  const v = new StatusView();
  assert.equal(v.report(inputs({ stopping: true, draining: true, rulesNotProgrammed: 3 })).status, 'stopping');
  assert.equal(v.report(inputs({ draining: true, rulesNotProgrammed: 3 })).status, 'draining');
});

test('connection-table drops degrade for one window after the count last grew; nine tenths full degrades', () => {
  const v = new StatusView();
  const t0 = 5_000_000;
  assert.equal(v.report(inputs({ now: t0, datapath: datapath(10, 0) })).status, 'ok');
  assert.match(v.report(inputs({ now: t0 + 1, datapath: datapath(10, 4) })).degraded![0]!, /^connection table full: .*4 for a full table/);
  assert.equal(v.report(inputs({ now: t0 + DEGRADED_WINDOW_MS - 1, datapath: datapath(10, 4) })).status, 'degraded');
  assert.equal(v.report(inputs({ now: t0 + DEGRADED_WINDOW_MS + 2, datapath: datapath(10, 4) })).status, 'ok');
  assert.deepEqual(v.report(inputs({ now: t0 + DEGRADED_WINDOW_MS + 3, datapath: datapath(95, 4) })).degraded, ['connection table 95 of 100 entries in use (--ct-max sets the size)']);
});
