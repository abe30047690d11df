// The VIP address driver over rtnetlink (native/src/address.cc) in a
// namespace: add is `ip addr replace` (idempotent, /32 and /128, IPv6
// without DAD so the address answers at once), del removes exactly that
// host address, and failures name the address, the interface and the errno.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Lab } from '../lab/Lab.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/vipAddress.ts', import.meta.url));

describe('VIP addresses over rtnetlink', { timeout: 60_000 }, () => {
  let lab: Lab;
  const ops = async (...args: string[]) => {
    const r = await lab.exec('n', [process.execPath, '--import', 'tsx', FIXTURE, ...args], { cwd: REPO, timeoutMs: 20_000 });
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { op: string; ok: boolean; ms?: number; code?: string; message?: string });
  };
  const addrs = async () => (await lab.run('n', ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).split('\n').map((l) => /inet6? (\S+)/.exec(l)?.[1]).filter(Boolean);

  before(async () => {
    lab = await Lab.create();
    await lab.addSwitch('sw0');
    await lab.addNode('n', { switch: 'sw0', ipv4: '10.81.0.1/24', ipv6: 'fd00:81::1/64' });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('adds /32 and /128 host addresses (twice is fine), removes them, and leaves the subnet address alone', async () => {
    const r = await ops('add:eth0:10.81.0.100', 'add:eth0:10.81.0.100', 'add:eth0:fd00:81::100');
    assert.deepEqual(r.map((x) => x.ok), [true, true, true], JSON.stringify(r));
    const now = await addrs();
    assert.ok(now.includes('10.81.0.100/32'), now.join(' '));
    assert.ok(now.includes('fd00:81::100/128'), now.join(' '));
    const v6 = await lab.run('n', ['ip', '-6', 'addr', 'show', 'dev', 'eth0']);
    assert.match(v6, /fd00:81::100\/128 scope global nodad/, 'no DAD: the address answers at once');
    assert.doesNotMatch(v6, /fd00:81::100\/128[^\n]*tentative/);
    const d = await ops('del:eth0:10.81.0.100', 'del:eth0:fd00:81::100');
    assert.deepEqual(d.map((x) => x.ok), [true, true]);
    const after = await addrs();
    assert.ok(!after.some((a) => a!.startsWith('10.81.0.100') || a!.startsWith('fd00:81::100')), after.join(' '));
    assert.ok(after.includes('10.81.0.1/24') && after.includes('fd00:81::1/64'), 'the subnet addresses stay');
    console.log(`# add over rtnetlink (addon loaded): ${r[1]!.ms!.toFixed(3)} ms`);
  });

  it('failures name the address, the interface and the errno', async () => {
    const r = await ops('del:eth0:10.81.0.200', 'add:nosuch0:10.81.0.200');
    assert.equal(r[0]!.ok, false);
    assert.equal(r[0]!.code, 'EADDRNOTAVAIL');
    assert.match(r[0]!.message!, /cannot remove 10\.81\.0\.200\/32 on eth0/);
    assert.equal(r[1]!.code, 'ENODEV');
    assert.match(r[1]!.message!, /cannot add 10\.81\.0\.200\/32 on nosuch0/);
  });
});
