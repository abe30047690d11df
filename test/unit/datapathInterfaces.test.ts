import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usesInterface } from '../../src/datapath/interfaces.ts';

test('no filters: every interface but lo', () => {
  assert.equal(usesInterface('eth0', {}), true);
  assert.equal(usesInterface('lo', {}), false);
});

test('blacklist leaves matching names (unanchored, as Go MatchString), and lo', () => {
  const f = { blacklist: /cni[0-9a-z]|veth.|flannel./ };
  assert.equal(usesInterface('eth0', f), true);
  assert.equal(usesInterface('vethab12', f), false);
  assert.equal(usesInterface('mycni0', f), false);
  assert.equal(usesInterface('lo', f), false);
});

test('a whitelist wins over the blacklist and may even take lo', () => {
  const f = { whitelist: /^(eth1|lo)$/, blacklist: /eth/ };
  assert.equal(usesInterface('eth1', f), true);
  assert.equal(usesInterface('eth0', f), false);
  assert.equal(usesInterface('lo', f), true);
});
