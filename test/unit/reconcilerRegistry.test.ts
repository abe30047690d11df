// The reconciler list: a mode is which reconcilers are registered; every
// NodeEvent reaches each of them once, in the declared order, whatever the
// order of registration; settling and stopping follow the same order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReconcilerRegistry, type Reconciler, type ReconcilerName } from '../../src/agent/Reconciler.ts';
import {
  registerBgpReconcilers,
  registerLbReconcilers,
  registerNodeReconcilers,
  type BgpNodeReconciler,
  type DatapathReconciler,
  type HaReconciler,
  type NeighborBfdReconciler,
  type ProbesReconciler,
  type RoleLog,
  type SyncReconciler,
  type VipOffers,
} from '../../src/agent/nodeReconcilers.ts';
import { NodeState, type NodeEvent } from '../../src/agent/NodeState.ts';
import { ConfigStore, RuleStore } from '../../src/agent/ConfigStore.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';
import { silentLogger } from '../../src/util/logger.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fake reconciler that writes down what it heard and did. */
function fake(name: ReconcilerName, log: string[], opts: { slow?: NodeEvent['kind'] } = {}): Reconciler & { heard: NodeEvent[] } {
  const heard: NodeEvent[] = [];
  return {
    name,
    heard,
    changed(ev) {
      heard.push(ev);
      log.push(`${name} ${ev.kind}`);
      if (ev.kind === opts.slow) return new Promise<void>((r) => setImmediate(r)).then(() => void log.push(`${name} done`));
    },
    whenIdle: async () => void log.push(`${name} idle`),
    quiesce: () => void log.push(`${name} quiesce`),
    stop: async () => void log.push(`${name} stop`),
  };
}

function modeRegistry(mode: { lb: boolean; bgp: boolean }, log: string[]) {
  const reg = new ReconcilerRegistry();
  // The same two functions the agent uses, with fakes in place of the real parts.
  if (mode.bgp) registerBgpReconcilers(reg, { bgp: fake('bgp', log) as unknown as BgpNodeReconciler });
  if (mode.lb) {
    registerLbReconcilers(reg, {
      datapath: fake('datapath', log) as unknown as DatapathReconciler,
      ha: fake('ha', log) as unknown as HaReconciler,
      sync: fake('sync', log) as unknown as SyncReconciler,
    });
  }
  registerNodeReconcilers(reg, {
    roleLog: fake('role-log', log) as unknown as RoleLog,
    offers: fake('vips', log) as unknown as VipOffers,
    probes: fake('probes', log) as unknown as ProbesReconciler,
    neighborBfd: fake('neighbor-bfd', log) as unknown as NeighborBfdReconciler,
    bfd: { close: async () => void log.push('bfd stop') },
  });
  return reg;
}

test('BGP-only registers no datapath, HA or sync reconciler; LB mode without --bgp no BGP one', () => {
  const every = ['role-log', 'vips', 'probes'];
  assert.deepEqual(modeRegistry({ lb: false, bgp: true }, []).names, [...every, 'neighbor-bfd', 'bfd', 'bgp']);
  assert.deepEqual(modeRegistry({ lb: true, bgp: false }, []).names, [...every, 'sync', 'datapath', 'ha', 'neighbor-bfd', 'bfd']);
  assert.deepEqual(modeRegistry({ lb: true, bgp: true }, []).names, [...every, 'sync', 'datapath', 'ha', 'neighbor-bfd', 'bfd', 'bgp']);
  assert.throws(() => modeRegistry({ lb: true, bgp: true }, []).register(fake('bgp', [])), /bgp registered twice/);
});

test('a burst of rule changes reaches each registered reconciler once per change and once per batch, in order', async () => {
  const log: string[] = [];
  const reg = modeRegistry({ lb: true, bgp: true }, log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxt-registry-'));
  try {
    const store = new ConfigStore(dir);
    const state = new NodeState({
      store,
      log: silentLogger,
      bfd: { stateChange: () => undefined },
      nextPass: async () => undefined,
      capacity: () => ({ maxRules: 100, maxEntries: 1000 }),
      endpointHosts: () => [],
    });
    state.onEvent((ev) => reg.dispatch(ev));
    state.ruleTable.attach(new RuleStore(store, [], 0));
    const rule = (port: number) => parseLbRule({ serviceArguments: { externalIP: '20.0.0.1', port, protocol: 'tcp' }, endpoints: [{ endpointIP: '31.31.31.1', targetPort: 80, weight: 1 }] });
    // Concurrent POSTs share one group commit but each is its own change.
    await Promise.all([state.ruleTable.add(rule(80)), state.ruleTable.add(rule(81)), state.ruleTable.add(rule(82))]);
    const order = ['role-log', 'vips', 'probes', 'sync', 'datapath', 'ha', 'neighbor-bfd', 'bgp'];
    const changed = log.filter((l) => l.endsWith(' ruleChanged'));
    assert.equal(changed.length, 3 * order.length);
    for (const name of order) {
      assert.equal(log.filter((l) => l === `${name} ruleChanged`).length, 3, `${name} heard each rule once`);
      assert.equal(log.filter((l) => l === `${name} rulesApplied`).length, 3, `${name} heard each batch once`);
    }
    // Each event goes down the list in the declared order.
    assert.deepEqual(log.slice(0, order.length), order.map((n) => `${n} ruleChanged`));
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a reconciler that returns a promise holds the rest of the list (and the writer) until it is done', async () => {
  const log: string[] = [];
  const reg = new ReconcilerRegistry();
  reg.register(fake('bgp', log));
  reg.register(fake('neighbor-bfd', log, { slow: 'bgpNeighborRemoved' }));
  reg.register(fake('ha', log));
  assert.equal(reg.dispatch({ kind: 'bgpGlobalChanged' }), undefined, 'all synchronous: nothing to wait for');
  log.length = 0;
  const p = reg.dispatch({ kind: 'bgpNeighborRemoved', ip: '10.0.0.2' });
  assert.ok(p instanceof Promise);
  assert.deepEqual(log, ['ha bgpNeighborRemoved', 'neighbor-bfd bgpNeighborRemoved']);
  await p;
  assert.deepEqual(log, ['ha bgpNeighborRemoved', 'neighbor-bfd bgpNeighborRemoved', 'neighbor-bfd done', 'bgp bgpNeighborRemoved']);
});

test('settling follows the declared order; stopping too, but HA gives the VIPs back before the datapath closes: every quiesce first, then each stop', async () => {
  const log: string[] = [];
  const reg = modeRegistry({ lb: true, bgp: true }, log);
  await reg.whenIdle();
  const names = ['role-log', 'vips', 'probes', 'sync', 'datapath', 'ha', 'neighbor-bfd', 'bgp'];
  assert.deepEqual(log, names.map((n) => `${n} idle`));
  log.length = 0;
  await reg.stop();
  // A VIP the kernel owns with no datapath in front answers a packet with a RST: the address goes first.
  const stopNames = ['role-log', 'vips', 'probes', 'sync', 'ha', 'datapath', 'neighbor-bfd', 'bgp'];
  // 'bfd' (the configured sessions' AdminDown) has only a stop, after HA gave the VIPs back and before gobgpd ends.
  const stops = stopNames.map((n) => `${n} stop`);
  stops.splice(stops.indexOf('bgp stop'), 0, 'bfd stop');
  assert.deepEqual(log, [...stopNames.map((n) => `${n} quiesce`), ...stops]);
});
