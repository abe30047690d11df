import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepalivedConfig, parseVrrpStates } from '../lab/Keepalived.ts';

test('keepalived config: global_defs and one vrrp_instance with the VIP on the instance interface', () => {
  const conf = keepalivedConfig({
    routerId: 'lb1',
    instances: [{ state: 'MASTER', interface: 'eth0', virtualRouterId: 51, priority: 150, advertInt: 0.01, virtualIpAddresses: ['192.168.80.200/24'] }],
  });
  assert.equal(
    conf,
    [
      'global_defs {',
      '  router_id lb1',
      '  vrrp_version 3',
      '}',
      '',
      'vrrp_instance VI_1 {',
      '  state MASTER',
      '  interface eth0',
      '  virtual_router_id 51',
      '  priority 150',
      '  advert_int 0.01',
      '  virtual_ipaddress {',
      '    192.168.80.200/24 dev eth0',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
});

test('keepalived config: out-of-range values are refused with the field named', () => {
  const base = { interface: 'eth0', virtualRouterId: 51, priority: 100, virtualIpAddresses: ['10.0.0.1/24'] };
  assert.throws(() => keepalivedConfig({ routerId: 'x', instances: [{ ...base, virtualRouterId: 256 }] }), /virtual_router_id 256/);
  assert.throws(() => keepalivedConfig({ routerId: 'x', instances: [{ ...base, priority: 0 }] }), /priority 0/);
  assert.throws(() => keepalivedConfig({ routerId: 'x', instances: [{ ...base, advertInt: 0.001 }] }), /advert_int 0.001/);
  assert.throws(() => keepalivedConfig({ routerId: 'x', vrrpVersion: 2, instances: [{ ...base, advertInt: 0.1 }] }), /vrrp_version 3/);
  assert.throws(() => keepalivedConfig({ routerId: 'x', instances: [{ ...base, virtualIpAddresses: ['10.0.0.1'] }] }), /CIDR/);
  assert.throws(() => keepalivedConfig({ routerId: 'x', instances: [base, base] }), /duplicate VRRP instance "VI_1"/);
});

test('VRRP state per instance is the last "Entering ... STATE" line of the log', () => {
  const log = [
    'Sat Nov 21 07:41:16 2026: (VI_1) Entering BACKUP STATE (init)',
    'Sat Nov 21 07:41:16 2026: (VI_2) Entering BACKUP STATE (init)',
    'Sat Nov 21 07:41:16 2026: (VI_1) Entering MASTER STATE',
    'Sat Nov 21 07:41:18 2026: Netlink reports eth0 down',
    'Sat Nov 21 07:41:18 2026: (VI_1) Entering FAULT STATE',
  ].join('\n');
  assert.deepEqual(parseVrrpStates(log), { VI_1: 'FAULT', VI_2: 'BACKUP' });
  assert.deepEqual(parseVrrpStates(''), {});
});
