import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelRouteSync } from '../../src/bgp/KernelRouteSync.ts';
import type { KernelRouteDriver } from '../../src/bgp/IprouteDriver.ts';
import type { KernelRoute, KernelRouteOp } from '../../src/bgp/planKernelRoutes.ts';
import { silentLogger } from '../../src/util/logger.ts';

class FakeKernel implements KernelRouteDriver {
  routes = new Map<string, KernelRoute>();
  async listBgpRoutes() { return new Map(this.routes); }
  async localSubnets() { return ['192.168.80.0/24']; }
  async apply(ops: KernelRouteOp[]) {
    for (const o of ops) if (o.op === 'replace') this.routes.set(o.route.dst, o.route); else this.routes.delete(o.route.dst);
    return { failed: [] };
  }
}

const learned = (prefix: string, nextHop: string) => ({ prefix, prefixLen: 32, family: 4 as const, best: true, withdraw: false, nextHop, neighborIp: nextHop });

test('learned best paths are installed, moved, and removed on withdrawal or when a local path takes over', async () => {
  const k = new FakeKernel();
  k.routes.set('10.9.9.9/32', { dst: '10.9.9.9/32', gateway: '192.168.80.1' }); // stale, from an earlier run
  const sync = new KernelRouteSync(k, silentLogger, 60_000);
  sync.start();
  sync.onBestPaths([learned('123.123.123.1', '192.168.80.10'), learned('123.123.123.2', '192.168.80.10')]);
  await sync.whenIdle();
  assert.deepEqual([...k.routes.keys()].sort(), ['123.123.123.1/32', '123.123.123.2/32']);
  sync.onBestPaths([learned('123.123.123.1', '192.168.80.11')]);
  await sync.whenIdle();
  assert.equal(k.routes.get('123.123.123.1/32')?.gateway, '192.168.80.11');
  // Our own VIP became best here: the kernel must not route it elsewhere.
  sync.onBestPaths([{ prefix: '123.123.123.1', prefixLen: 32, family: 4, best: true, withdraw: false }]);
  sync.onBestPaths([{ ...learned('123.123.123.2', '192.168.80.10'), withdraw: true }]);
  await sync.whenIdle();
  assert.deepEqual([...k.routes.keys()], []);
  sync.close();
});
