import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VipOwner, interfaceFor, releaseStaleVips, type AddressDriver, type IfaceAddress } from '../../src/ha/VipOwner.ts';
import { parsePeerView } from '../../src/ha/peerView.ts';
import { silentLogger } from '../../src/util/logger.ts';

class FakeDriver implements AddressDriver {
  ifaces = new Map<string, IfaceAddress[]>([
    ['eth0', [{ address: '192.168.80.10', prefixlen: 24 }, { address: 'fd00:80::10', prefixlen: 64 }]],
    ['eth1', [{ address: '10.1.0.10', prefixlen: 16 }]],
  ]);
  log: string[] = [];
  interfaces() {
    return new Map([...this.ifaces].map(([k, v]) => [k, [...v]]));
  }
  async add(ifname: string, address: string) {
    this.log.push(`add ${ifname} ${address}`);
    this.ifaces.get(ifname)!.push({ address, prefixlen: address.includes(':') ? 128 : 32 });
  }
  async del(ifname: string, address: string) {
    this.log.push(`del ${ifname} ${address}`);
    this.ifaces.set(ifname, this.ifaces.get(ifname)!.filter((a) => a.address !== address));
  }
}

test('interfaceFor: the subnet that holds the address, never a host address', () => {
  const d = new FakeDriver();
  assert.equal(interfaceFor('192.168.80.200', d.interfaces()), 'eth0');
  assert.equal(interfaceFor('fd00:80::200', d.interfaces()), 'eth0');
  assert.equal(interfaceFor('10.1.2.3', d.interfaces()), 'eth1');
  assert.equal(interfaceFor('20.20.20.1', d.interfaces()), undefined);
  d.ifaces.get('eth1')!.push({ address: '20.20.20.1', prefixlen: 32 });
  assert.equal(interfaceFor('20.20.20.1', d.interfaces()), undefined);
});

test('VipOwner: takes in-subnet VIPs of MASTER instances, announces them, gives them back, and cleans up leftovers', async () => {
  const d = new FakeDriver();
  const announced: string[] = [];
  let wanted = ['192.168.80.200', 'fd00:80::200', '20.20.20.1'];
  let all = [...wanted, '192.168.80.201'];
  // A leftover from a crash: a VIP of some rule that this node no longer wants.
  d.ifaces.get('eth0')!.push({ address: '192.168.80.201', prefixlen: 32 });
  const o = new VipOwner(d, async (i, a) => void announced.push(`${i} ${a}`), silentLogger, () => ({ wanted, all }));
  o.changed(true);
  await o.whenIdle();
  assert.deepEqual(d.log, ['del eth0 192.168.80.201', 'add eth0 192.168.80.200', 'add eth0 fd00:80::200']);
  assert.deepEqual(announced.sort(), ['eth0 192.168.80.200', 'eth0 fd00:80::200']);
  assert.deepEqual([...o.held()].sort(), [['192.168.80.200', 'eth0'], ['fd00:80::200', 'eth0']]);
  // Another pass with nothing new changes nothing and announces nothing.
  o.changed(true);
  await o.whenIdle();
  assert.equal(d.log.length, 3);
  assert.equal(announced.length, 2);
  o.reannounce();
  await o.whenIdle();
  assert.equal(announced.length, 4);
  // The role goes: the addresses go; an address that is not a VIP is never touched.
  d.ifaces.get('eth1')!.push({ address: '10.1.9.9', prefixlen: 32 });
  wanted = [];
  o.changed(true);
  await o.whenIdle();
  assert.deepEqual(d.log.slice(3).sort(), ['del eth0 192.168.80.200', 'del eth0 fd00:80::200']);
  assert.equal(o.held().size, 0);
  all = [];
  await o.close();
});

test('parsePeerView: state, priority and synced of the instance; loxilb peers without them count as 100 and synced', () => {
  const body = { Attr: [{ instance: 'llb-inst0', state: 'MASTER', vip: '0.0.0.0', sync: null }, { instance: 'x', state: 'BACKUP', priority: 7, synced: false }] };
  assert.deepEqual(parsePeerView(body, 'llb-inst0'), { state: 'MASTER', priority: 100, synced: true });
  assert.deepEqual(parsePeerView(body, 'x'), { state: 'BACKUP', priority: 7, synced: false });
  assert.equal(parsePeerView(body, 'y'), undefined);
  assert.throws(() => parsePeerView({}, 'x'), /no Attr/);
  assert.throws(() => parsePeerView({ Attr: [{ instance: 'x', state: 'BOSS' }] }, 'x'), /bad state/);
});

test('VipOwner.isLocal: answers from the interface subnets, and a pass that finds them changed asks the source to sort its VIPs again', async () => {
  const d = new FakeDriver();
  let sorts = 0;
  // A source that keeps only the local VIPs, as the agent does for its programmed rules.
  const programmed = ['192.168.80.200', '172.16.5.9', '20.20.20.1'];
  let local: string[] = [];
  const o = new VipOwner(
    d,
    async () => undefined,
    silentLogger,
    () => ({ wanted: local, all: local }),
    () => {
      sorts++;
      local = programmed.filter((v) => o.isLocal(v));
    },
  );
  local = programmed.filter((v) => o.isLocal(v));
  assert.deepEqual(local, ['192.168.80.200']);
  o.changed(true);
  await o.whenIdle();
  assert.equal(sorts, 0, 'same subnets: nothing to sort');
  assert.deepEqual([...o.held().keys()], ['192.168.80.200']);
  // A new subnet on eth1: its VIP becomes local at the next pass, and is taken.
  d.ifaces.get('eth1')!.push({ address: '172.16.0.1', prefixlen: 16 });
  o.changed(true);
  await o.whenIdle();
  assert.equal(sorts, 1);
  assert.deepEqual(local, ['192.168.80.200', '172.16.5.9']);
  o.changed(true);
  await o.whenIdle();
  assert.deepEqual([...o.held().keys()].sort(), ['172.16.5.9', '192.168.80.200']);
  assert.equal(sorts, 1, 'the VIPs it added are host addresses: not a subnet change');
  await o.close();
});

test('subnetMatcher agrees with ipaddr.js on random addresses and subnets of both families', async () => {
  const { subnetMatcher } = await import('../../src/ha/VipOwner.ts');
  const ipaddr = (await import('ipaddr.js')).default;
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const v4 = () => `${rnd(4) === 0 ? 10 : 192}.${rnd(3)}.${rnd(256)}.${rnd(256)}`;
  const v6 = () => `fd00:${rnd(3).toString(16)}::${rnd(65536).toString(16)}:${rnd(65536).toString(16)}`;
  let hits = 0;
  for (let round = 0; round < 50; round++) {
    const ifaces = new Map<string, IfaceAddress[]>();
    for (let i = 0; i < 3; i++) {
      ifaces.set(`eth${i}`, [
        { address: v4(), prefixlen: 8 + rnd(24) },
        { address: v6(), prefixlen: 16 + rnd(112) },
        { address: v4(), prefixlen: 32 },
      ]);
    }
    const m = subnetMatcher(ifaces);
    const slow = (address: string) => {
      const ip = ipaddr.process(address);
      for (const [name, addrs] of ifaces) {
        for (const a of addrs) {
          if (a.prefixlen >= (a.address.includes(':') ? 128 : 32)) continue;
          const net = ipaddr.process(a.address);
          if (net.kind() === ip.kind() && ip.match(net, a.prefixlen)) return name;
        }
      }
      return undefined;
    };
    for (let i = 0; i < 200; i++) {
      const a = rnd(2) ? v4() : v6();
      assert.equal(m(a), slow(a), a);
      if (m(a) !== undefined) hits++;
    }
    assert.equal(m('::ffff:10.1.2.3'), slow('::ffff:10.1.2.3'), 'an IPv4-mapped address is the IPv4 address');
  }
  assert.ok(hits > 500, `both answers were exercised (${hits} of 10,000 in a subnet)`);
});

test('releaseStaleVips: at start, gives back the saved VIPs left on an interface; never other addresses', async () => {
  const d = new FakeDriver();
  const eth0 = d.ifaces.get('eth0')!;
  // Left behind by a killed agent: VIPs of saved rules.
  eth0.push({ address: '192.168.80.200', prefixlen: 32 }, { address: '192.168.80.201', prefixlen: 32 });
  // A host address that is not a VIP, and a VIP outside every subnet.
  eth0.push({ address: '192.168.80.99', prefixlen: 32 });
  d.ifaces.get('eth1')!.push({ address: '20.20.20.1', prefixlen: 32 });
  const released = await releaseStaleVips(d, ['192.168.80.200', '192.168.80.201', '20.20.20.1', '192.168.80.203', '192.168.80.200'], silentLogger);
  assert.deepEqual(released, ['192.168.80.200', '192.168.80.201']);
  assert.deepEqual(d.log, ['del eth0 192.168.80.200', 'del eth0 192.168.80.201']);
  // A delete that fails does not stop the start: it is left to the first pass.
  const failing = new FakeDriver();
  failing.ifaces.get('eth0')!.push({ address: '192.168.80.200', prefixlen: 32 });
  failing.del = async () => {
    throw new Error('EPERM');
  };
  assert.deepEqual(await releaseStaleVips(failing, ['192.168.80.200'], silentLogger), []);
});
