// announceAddress (src/net/gratuitous.ts) in network namespaces: node A holds
// a neighbour entry for address X that points at B's MAC, as after B held X;
// node C, which holds X now, announces it, and A's entry must then point at
// C's MAC. IPv4 through gratuitous ARP, IPv6 through an unsolicited NA with
// Override set (Linux keeps an existing entry's MAC unless Override is set,
// and ignores NAs with a wrong checksum or a Hop Limit below 255).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Lab } from '../lab/Lab.ts';
import { waitFor } from '../lab/wait.ts';
import { announceAddress } from '../../src/net/gratuitous.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/announce.ts', import.meta.url));

const MAC = { a: '02:00:00:79:00:01', b: '02:00:00:79:00:02', c: '02:00:00:79:00:03' };
const X4 = '10.79.0.100';
const X6 = 'fd00:79::100';

describe('gratuitous ARP and unsolicited NA', { timeout: 60_000 }, () => {
  let lab: Lab;

  /** A's neighbour entry for `ip` on eth0, e.g. `10.79.0.100 lladdr 02:... STALE`, or ''. */
  const neighOfA = async (ip: string) => (await lab.run('a', ['ip', 'neigh', 'show', ip, 'dev', 'eth0'])).trim();
  const announceFromC = (ifname: string, address: string) =>
    lab.exec('c', [process.execPath, '--import', 'tsx', FIXTURE, ifname, address], { cwd: REPO, timeoutMs: 20_000 });

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw0');
    await lab.addNode('a', { switch: 'sw0', ipv4: '10.79.0.1/24', ipv6: 'fd00:79::1/64', mac: MAC.a });
    await lab.addNode('b', { switch: 'sw0', ipv4: '10.79.0.2/24', ipv6: 'fd00:79::2/64', mac: MAC.b });
    await lab.addNode('c', { switch: 'sw0', ipv4: ['10.79.0.3/24', `${X4}/24`], ipv6: ['fd00:79::3/64', `${X6}/64`], mac: MAC.c });
  });

  after(async () => {
    await lab?.destroy();
  });

  for (const [family, x] of [
    ['IPv4 (gratuitous ARP)', X4],
    ['IPv6 (unsolicited NA, Override)', X6],
  ] as const) {
    it(`${family}: A's entry for ${x} moves from B's MAC to C's`, async () => {
      await lab.run('a', ['ip', 'neigh', 'replace', x, 'lladdr', MAC.b, 'dev', 'eth0', 'nud', 'stale']);
      assert.match(await neighOfA(x), new RegExp(`lladdr ${MAC.b}`), 'the starting point: B');
      const r = await announceFromC('eth0', x);
      assert.equal(r.code, 0, `announce failed: ${r.stderr}`);
      const entry = await waitFor(
        async () => {
          const e = await neighOfA(x);
          return e.includes(MAC.c) ? e : undefined;
        },
        { timeoutMs: 3000, intervalMs: 20, what: `A's entry for ${x} to show C's MAC` },
      );
      assert.match(entry, new RegExp(`^${x} lladdr ${MAC.c} `));
    });
  }

  it('an unknown interface is refused with its name in the message', async () => {
    const r = await announceFromC('nosuch0', X4);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /gratuitous ARP for 10\.79\.0\.100 on nosuch0: no such interface.*ENODEV/);
    await assert.rejects(announceAddress('lxtnosuch0', X6), /neighbour advertisement for fd00:79::100 on lxtnosuch0: no such interface/);
  });

  it('an interface without an Ethernet address, and bad arguments, are refused', async () => {
    await assert.rejects(announceAddress('lo', X4), /on lo: lo is not an Ethernet interface/);
    await assert.rejects(announceAddress('eth0', '10.1'), /invalid address/);
    await assert.rejects(announceAddress('eth0', 'ff02::1'), /invalid address: a unicast IPv6 address/);
    await assert.rejects(announceAddress('eth0', X4, { count: 0 }), /invalid count/);
    await assert.rejects(announceAddress('a/b', X4), /invalid interface name/);
  });
});
