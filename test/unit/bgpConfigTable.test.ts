// The BGP config: saved before it changes, refused clearly, listeners told after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BgpConfigTable } from '../../src/agent/BgpConfigTable.ts';
import type { BgpGlobalConfig, BgpNeighborConfig } from '../../src/bgp/BgpConfig.ts';

const n = (ip: string): BgpNeighborConfig => ({ ipAddress: ip, remoteAs: 65001 }) as BgpNeighborConfig;

function setup(fail = () => false) {
  const saves: string[] = [];
  const t = new BgpConfigTable({
    saveBgp: (g, ns) => {
      if (fail()) throw new Error('disk full');
      saves.push(`${g?.localAs ?? '-'} ${ns.map((x) => x.ipAddress).join(',')}`);
    },
  });
  let told = 0;
  t.onChange(() => told++);
  return { t, saves, told: () => told };
}

test('a neighbour is saved with the others and the global config, then listeners hear of it', () => {
  const { t, saves, told } = setup();
  t.restore({ localAs: 65000, routerId: '1.1.1.1' } as BgpGlobalConfig, [n('10.0.0.1')]);
  assert.equal(told(), 0, 'restoring tells nobody');
  t.addNeighbor(n('10.0.0.2'));
  t.deleteNeighbor('10.0.0.1');
  assert.deepEqual(saves, ['65000 10.0.0.1,10.0.0.2', '65000 10.0.0.2']);
  assert.equal(told(), 2);
  assert.deepEqual([...t.neighbors.keys()], ['10.0.0.2']);
});

test('a duplicate or unknown neighbour is refused, naming it; a failed save changes nothing', () => {
  let failing = false;
  const { t, told } = setup(() => failing);
  t.addNeighbor(n('10.0.0.1'));
  assert.throws(() => t.addNeighbor(n('10.0.0.1')), /bgp neighbor 10\.0\.0\.1 already exists/);
  assert.throws(() => t.deleteNeighbor('10.0.0.9'), /bgp neighbor 10\.0\.0\.9 not found/);
  const held = t.neighbors;
  failing = true;
  assert.throws(() => t.addNeighbor(n('10.0.0.2')), /disk full/);
  assert.throws(() => t.setGlobal({ localAs: 65010 } as BgpGlobalConfig), /disk full/);
  assert.deepEqual([...t.neighbors.keys()], ['10.0.0.1']);
  assert.equal(t.global, undefined);
  assert.equal(told(), 1);
  failing = false;
  t.addNeighbor(n('10.0.0.2'));
  assert.deepEqual([...held.keys()], ['10.0.0.1'], 'a held map is never changed in place');
});
