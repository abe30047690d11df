// NodeState: each write is one typed event, told after it is saved; snapshot()
// is one plain object that survives JSON and a ConfigStore save and load.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeState, type NodeEvent } from '../../src/agent/NodeState.ts';
import { ConfigStore, RuleStore } from '../../src/agent/ConfigStore.ts';
import type { EndpointHostRecord } from '../../src/lb/EndpointHosts.ts';
import { ruleKey, type LbRule } from '../../src/lb/LbRule.ts';
import { parseLbRule } from '../../src/lb/validateLbRule.ts';
import { parseBgpGlobal, parseBgpNeighbor } from '../../src/bgp/validateBgpConfig.ts';
import { parseBfdSession } from '../../src/bfd/validateBfdConfig.ts';
import { parseEndpointHost } from '../../src/lb/validateEndpointHost.ts';
import { silentLogger } from '../../src/util/logger.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lxt-nodestate-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `t${++n}`);

function rule(port: number, monitor = false): LbRule {
  return parseLbRule({ serviceArguments: { externalIP: '20.0.0.1', port, protocol: 'tcp', bgp: true, monitor, name: `svc${port}` }, endpoints: [{ endpointIP: '31.31.31.1', targetPort: 8080, weight: 1 }] });
}

function setup(hosts: EndpointHostRecord[] = []) {
  const store = new ConfigStore(freshDir());
  const saved = store.load();
  let passes = 0;
  const state = new NodeState({
    store,
    log: silentLogger,
    bfd: { stateChange: () => undefined },
    nextPass: async () => {
      passes++;
    },
    capacity: () => ({ maxRules: 10, maxEntries: 100 }),
    endpointHosts: () => hosts,
  });
  const events: NodeEvent[] = [];
  state.onEvent((ev) => {
    events.push(ev);
  });
  state.ruleTable.attach(new RuleStore(store, [], saved.journalRecords));
  return { state, store, events, passes: () => passes };
}

const kinds = (evs: NodeEvent[]) => evs.map((e) => e.kind);

test('rule writes are told as ruleChanged / ruleRemoved, then one rulesApplied per batch, and answered after a datapath pass', async () => {
  const { state, events, passes, store } = setup();
  const a = rule(80, true);
  await state.ruleTable.add(a);
  assert.deepEqual(kinds(events), ['ruleChanged', 'rulesApplied']);
  assert.deepEqual(events[0], { kind: 'ruleChanged', key: ruleKey(a.serviceArguments), rule: { ...a, serviceArguments: { ...a.serviceArguments, oper: 0 } } });
  assert.deepEqual(events[1], { kind: 'rulesApplied', probes: true });
  assert.equal(passes(), 1);
  events.length = 0;
  await state.ruleTable.add(rule(81));
  assert.equal(await state.ruleTable.deleteAll(), 2);
  assert.deepEqual(kinds(events), ['ruleChanged', 'rulesApplied', 'ruleRemoved', 'ruleRemoved', 'rulesApplied']);
  assert.deepEqual(events[4], { kind: 'rulesApplied', probes: true });
  await store.close();
});

test('role, BGP and endpoint changes are each one typed event; a refused write tells nothing', async () => {
  const { state, events, store } = setup();
  state.ciStates.set({ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }, 'set over the API', true);
  const role = events[0];
  assert.ok(role?.kind === 'roleChanged');
  assert.equal(role.change.next.state, 'MASTER');
  assert.equal(role.change.reason, 'set over the API');
  state.ciStates.set({ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0' }, 'again', true);
  assert.equal(events.length, 1, 'the same state again is no change');

  events.length = 0;
  await state.setBgpGlobal(parseBgpGlobal({ routerId: '10.0.0.1', localAs: 64512 }));
  const nb = parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 64513 });
  await state.addBgpNeighbor(nb);
  await assert.rejects(state.addBgpNeighbor(nb), /already exists/);
  await state.deleteBgpNeighbor('10.0.0.2');
  await assert.rejects(state.deleteBgpNeighbor('10.0.0.2'), /not found/);
  state.endpointsChanged(new Set(['31.31.31.1']));
  assert.deepEqual(events, [
    { kind: 'bgpGlobalChanged' },
    { kind: 'bgpNeighborAdded', neighbor: nb },
    { kind: 'bgpNeighborRemoved', ip: '10.0.0.2' },
    { kind: 'endpointsChanged', hosts: new Set(['31.31.31.1']) },
  ]);
  await state.close();
  await store.close();
});

test('a BGP write is answered only once the listener has finished with its event', async () => {
  const { state, store } = setup();
  let release!: () => void;
  const order: string[] = [];
  state.onEvent((ev) => {
    if (ev.kind !== 'bgpNeighborRemoved') return;
    order.push('heard');
    return new Promise<void>((r) => (release = r)).then(() => void order.push('done'));
  });
  await state.addBgpNeighbor(parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 64513 }));
  const answered = state.deleteBgpNeighbor('10.0.0.2').then(() => order.push('answered'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['heard']);
  release();
  await answered;
  assert.deepEqual(order, ['heard', 'done', 'answered']);
  await store.close();
});

test('snapshot() is plain data: through JSON and through ConfigStore save/load it comes back the same', async () => {
  const hosts: EndpointHostRecord[] = [{ host: parseEndpointHost({ hostName: '31.31.31.1', probeType: 'tcp', probePort: 8080, probeDuration: 10, inactiveReTries: 3 }) }];
  const { state, store } = setup(hosts);
  await state.ruleTable.add(rule(80));
  await state.ruleTable.add(rule(443, true));
  state.ciStates.set({ instance: 'llb-inst0', state: 'BACKUP', vip: '20.0.0.100' }, 'set over the API', true);
  await state.setBgpGlobal(parseBgpGlobal({ routerId: '10.0.0.1', localAs: 64512 }));
  await state.addBgpNeighbor(parseBgpNeighbor({ ipAddress: '10.0.0.2', remoteAs: 64513, bfd: true }));
  const snap = state.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
  assert.equal(snap.rules.length, 2);
  assert.deepEqual(snap.endpointHosts, hosts);

  // The snapshot is a copy: later changes do not show in it.
  await state.ruleTable.deleteAll();
  assert.equal(snap.rules.length, 2);

  // What is saved is what loads, and a saved BFD session goes the same way.
  const withBfd = { ...JSON.parse(JSON.stringify(snap)), bfdSessions: [parseBfdSession({ instance: 'llb-inst0', remoteIp: '10.0.0.3', sourceIp: '10.0.0.1', interval: 200000, retryCount: 3 })] };
  const dir = freshDir();
  new ConfigStore(dir).saveSnapshot(withBfd);
  const { journalRecords, ...loaded } = new ConfigStore(dir).load();
  assert.equal(journalRecords, 0);
  assert.deepEqual(loaded, withBfd);
  await store.close();
});
