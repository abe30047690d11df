// BFD sessions for BGP neighbours: which start, held AdminDown until BGP is up, and which are left to another session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeighborBfd } from '../../src/bgp/NeighborBfd.ts';
import type { BfdManager } from '../../src/bfd/BfdManager.ts';
import type { BgpNeighborConfig } from '../../src/bgp/BgpConfig.ts';
import { silentLogger } from '../../src/util/logger.ts';

function fakeManager(existing: string[] = []) {
  const calls: string[] = [];
  const sessions = new Set(existing);
  const m = {
    get: (_i: string, ip: string) => (sessions.has(ip) ? {} : undefined),
    addSession: async (p: { remoteIp: string; adminDown?: boolean }) => {
      sessions.add(p.remoteIp);
      calls.push(`add ${p.remoteIp} adminDown=${p.adminDown}`);
    },
    updateSession: (_i: string, ip: string, u: { adminDown?: boolean; multiplier?: number }) => calls.push(`update ${ip} ${JSON.stringify(u)}`),
    deleteSession: async (_i: string, ip: string) => {
      sessions.delete(ip);
      calls.push(`delete ${ip}`);
    },
  };
  return { m: m as unknown as BfdManager, calls };
}

const neighbor = (ip: string, bfd = true): BgpNeighborConfig => ({ ipAddress: ip, remoteAs: 65001, ...(bfd ? { bfd: { intervalUs: 100000, multiplier: 3 } } : {}) }) as BgpNeighborConfig;

function setup(opts: { gated: boolean; configured?: string[]; existing?: string[] }) {
  const { m, calls } = fakeManager(opts.existing);
  const started: string[] = [];
  const nb = new NeighborBfd({
    bfd: () => m,
    startBfd: async () => m,
    configured: (_i, ip) => (opts.configured ?? []).includes(ip),
    gated: opts.gated,
    started: (ip) => started.push(ip),
    instance: 'llb-inst0',
    logger: silentLogger,
  });
  return { nb, calls, started };
}

test('with BGP a neighbour\'s session starts AdminDown and is released once BGP is Established', async () => {
  const { nb, calls, started } = setup({ gated: true });
  await nb.ensure(neighbor('10.0.0.254'));
  assert.deepEqual(calls, ['add 10.0.0.254 adminDown=true']);
  assert.deepEqual(started, ['10.0.0.254']);
  nb.bgpState('10.0.0.254', true);
  assert.deepEqual(calls.slice(1), ['update 10.0.0.254 {"adminDown":false}']);
  nb.close();
});

test('without BGP gating it starts Up; a second ensure changes its timers; drop deletes it', async () => {
  const { nb, calls } = setup({ gated: false });
  await nb.ensure(neighbor('10.0.0.254'));
  await nb.ensure({ ...neighbor('10.0.0.254'), bfd: { intervalUs: 200000, multiplier: 5 } } as BgpNeighborConfig);
  await nb.drop('10.0.0.254');
  await nb.drop('10.0.0.254');
  assert.equal(calls[0], 'add 10.0.0.254 adminDown=false');
  assert.match(calls[1]!, /^update 10\.0\.0\.254 .*"multiplier":5/);
  assert.deepEqual(calls.slice(2), ['delete 10.0.0.254']);
  nb.close();
});

test('a config/bfd session or the --ka session with that address serves the neighbour; no bfd, no session', async () => {
  const a = setup({ gated: true, configured: ['10.0.0.1'], existing: ['10.0.0.2'] });
  await a.nb.startAll([neighbor('10.0.0.1'), neighbor('10.0.0.2'), neighbor('10.0.0.3', false)]);
  assert.deepEqual(a.calls, []);
  await a.nb.drop('10.0.0.2');
  assert.deepEqual(a.calls, [], 'the --ka session is not ours to delete');
  a.nb.close();
});
