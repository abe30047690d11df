// Self-check of the namespace lab: BIRD (router) and a plain gobgpd (LB node)
// on one switch exchange v4 and v6 routes; teardown leaves nothing behind.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KEPT_MARKER, Lab, pidRunning } from '../lab/Lab.ts';
import { Bird } from '../lab/Bird.ts';
import { Gobgpd } from '../lab/Gobgpd.ts';
import { StopWaiting, waitFor } from '../lab/wait.ts';

const ROUTER_AS = 65101;
const LB_AS = 64512;
const VIP4 = '123.123.123.1/32';
const VIP6 = 'fd00:123::1/128';

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const CHILD = fileURLToPath(new URL('./fixtures/labChild.ts', import.meta.url));

/** Runs fixtures/labChild.ts; returns what it printed and how it ended. */
async function runChild(mode: 'signal' | 'exit'): Promise<ChildReport> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (out += d));
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new StopWaiting(`lab child ended early: ${out}`);
        return out.includes('\n');
      },
      { timeoutMs: 15_000, intervalMs: 20, what: 'the lab child to report' },
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  if (mode === 'signal') child.kill('SIGINT');
  const [code, signal] = await exited;
  return { ...(JSON.parse(out) as Omit<ChildReport, 'code' | 'signal'>), code, signal };
}

interface ChildReport {
  prefix: string;
  pids: number[];
  dir: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

function netnsList(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

describe('network namespace lab', { timeout: 60_000 }, () => {
  let lab: Lab;
  let bird: Bird;
  let gobgpd: Gobgpd;

  before(async () => {
    await Lab.cleanupStale();
    lab = await Lab.create();
    await lab.addSwitch('sw');
    await lab.addNode('router', { switch: 'sw', ipv4: '192.168.80.1/24', ipv6: 'fd00:80::1/64' });
    await lab.addNode('lb', { switch: 'sw', ipv4: '192.168.80.10/24', ipv6: 'fd00:80::10/64' });
    bird = await Bird.start(lab, 'router', {
      routerId: '192.168.80.1',
      neighbors: [
        { localAddress: '192.168.80.1', localAs: ROUTER_AS, neighborAddress: '192.168.80.10', neighborAs: LB_AS },
        { localAddress: 'fd00:80::1', localAs: ROUTER_AS, neighborAddress: 'fd00:80::10', neighborAs: LB_AS },
      ],
    });
    gobgpd = await Gobgpd.start(lab, 'lb');
  });

  after(async () => {
    await lab?.destroy();
  });

  it('builds the topology in namespaces named after the prefix', async () => {
    assert.deepEqual(await lab.namespaces(), ['lb', 'router', 'sw'].map((n) => `${lab.prefix}${n}`));
    assert.equal(lab.ns('router'), `${lab.prefix}router`);
    assert.equal(lab.ipv4('lb'), '192.168.80.10');
    assert.equal(lab.ipv6('lb'), 'fd00:80::10');
    const addrs = await lab.run('lb', ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addrs, /fd00:80::10\/64/);
    assert.doesNotMatch(addrs, /tentative/, 'DAD is off, so v6 addresses are usable at once');
    assert.equal(await lab.reachable('router', '192.168.80.10'), true);
    assert.equal(await lab.reachable('router', 'fd00:80::10'), true);
  });

  it('BIRD learns v4 and v6 routes with MED from gobgpd', async () => {
    await gobgpd.cli('global', 'as', String(LB_AS), 'router-id', '192.168.80.10');
    await gobgpd.cli('neighbor', 'add', '192.168.80.1', 'as', String(ROUTER_AS));
    await gobgpd.cli('neighbor', 'add', 'fd00:80::1', 'as', String(ROUTER_AS), 'family', 'ipv6-unicast');
    await gobgpd.cli('global', 'rib', 'add', VIP4, 'origin', 'igp', 'med', '10');
    await gobgpd.cli('global', 'rib', '-a', 'ipv6', 'add', VIP6, 'origin', 'igp', 'med', '10');

    await bird.waitEstablished(['n_192_168_80_10', 'n_fd00_80__10'], 20_000);

    const v4 = await waitFor(async () => (await bird.routesFor(VIP4)).find((r) => r.prefix === VIP4), {
      timeoutMs: 10_000,
      what: `${VIP4} in BIRD`,
    });
    assert.equal(v4.via, '192.168.80.10');
    assert.equal(v4.fromProtocol, 'n_192_168_80_10');
    assert.equal(v4.med, 10);
    assert.equal(v4.asPath, String(LB_AS));
    assert.equal(v4.primary, true);

    const v6 = await waitFor(async () => (await bird.routesFor(VIP6)).find((r) => r.prefix === VIP6), {
      timeoutMs: 10_000,
      what: `${VIP6} in BIRD`,
    });
    assert.equal(v6.via, 'fd00:80::10');
    assert.equal(v6.fromProtocol, 'n_fd00_80__10', 'the v6 route arrives over the v6 session');
    assert.equal(v6.med, 10);
    assert.equal(v6.primary, true);

    assert.deepEqual(await gobgpd.neighborStates(), { '192.168.80.1': 6, 'fd00:80::1': 6 });
  });

  it('cutLink/restoreLink take the node off the switch and back', async () => {
    await lab.cutLink('lb');
    assert.equal(await lab.reachable('router', '192.168.80.10', { timeoutMs: 500 }), false);
    await lab.restoreLink('lb');
    await waitFor(() => lab.reachable('router', '192.168.80.10', { timeoutMs: 500 }), {
      timeoutMs: 5000,
      what: 'reachability after restoreLink',
    });
  });

  it('cleanupStale removes namespaces of dead owners only', async () => {
    const dead = spawnSync('true').pid;
    const stale = `lxt${dead}x0000-stale`;
    spawnSync('ip', ['netns', 'add', stale]);
    try {
      const removed = await Lab.cleanupStale();
      assert.ok(removed.includes(stale));
      assert.ok(!netnsList().includes(stale));
      assert.equal((await lab.namespaces()).length, 3, 'a live lab is left alone');
    } finally {
      spawnSync('ip', ['netns', 'del', stale], { stdio: 'ignore' });
    }
  });

  it('cleanupStale leaves the dir of a lab kept with LAB_KEEP alone (its logs explain a failure), not a plain stale dir', async () => {
    const dead = spawnSync('true').pid;
    const kept = path.join(os.tmpdir(), `lxt${dead}x0001-kept`);
    const plain = path.join(os.tmpdir(), `lxt${dead}x0002-plain`);
    for (const d of [kept, plain]) mkdirSync(d);
    writeFileSync(path.join(kept, KEPT_MARKER), 'kept\n');
    try {
      await Lab.cleanupStale();
      assert.equal(existsSync(kept), true);
      assert.equal(existsSync(plain), false);
      const k = await Lab.create({ keepDir: true });
      await k.destroy();
      assert.equal(existsSync(path.join(k.dir, KEPT_MARKER)), true, 'destroy() of a kept lab marks its dir');
      rmSync(k.dir, { recursive: true, force: true });
    } finally {
      for (const d of [kept, plain]) rmSync(d, { recursive: true, force: true });
    }
  });

  it('destroy stops every process by PID and deletes every namespace', async () => {
    const pids = lab.runningProcesses().map((p) => p.pid);
    assert.deepEqual(new Set(pids), new Set([bird.process.pid, gobgpd.process.pid]));
    const dir = lab.dir;
    await lab.destroy();
    await lab.destroy(); // idempotent
    for (const pid of pids) {
      assert.ok(pidGone(pid) && !pidRunning(pid), `pid ${pid} still exists`);
    }
    assert.deepEqual(netnsList().filter((n) => n.startsWith(lab.prefix)), []);
    assert.equal(existsSync(dir), false);
    await assert.rejects(() => lab.addNode('late'), /destroyed/);
  });

  for (const mode of ['signal', 'exit'] as const) {
    it(`a lab is cleaned up when its process ${mode === 'signal' ? 'gets SIGINT' : 'exits without destroy()'}`, async () => {
      const r = await runChild(mode);
      if (mode === 'signal') assert.equal(r.signal, 'SIGINT', 'the handler re-raises so the exit status stays 130');
      else assert.equal(r.code, 3);
      assert.deepEqual(netnsList().filter((n) => n.startsWith(r.prefix)), []);
      // After a plain exit the children are re-parented (and reaped) by init,
      // so allow a zombie; after a signal the lab reaps them itself.
      for (const pid of r.pids) assert.ok(mode === 'signal' ? pidGone(pid) : !pidRunning(pid), `pid ${pid} survived`);
      assert.equal(existsSync(r.dir), false);
    });
  }
});
