// The supervisor against a real gobgpd on loopback: refuses a taken API
// address, restarts a killed gobgpd, and ends its own child by PID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { GobgpSupervisor, ApiAddressInUseError } from '../../src/bgp/GobgpSupervisor.ts';
import { GobgpClient } from '../../src/bgp/GobgpClient.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { waitFor } from '../lab/wait.ts';
import { LOXILB_BIN } from '../lab/BgpLab.ts';

/** A free loopback port below the ephemeral range (gobgpd dies if its API port is busy). */
async function freeLowPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port');
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a taken API address is refused with a message naming it, and nothing is killed', async () => {
  const port = await freeLowPort();
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  try {
    const sup = new GobgpSupervisor({ binary: 'gobgpd', apiAddress: `127.0.0.1:${port}`, logLevel: 'info' }, silentLogger);
    await assert.rejects(sup.start(), (e: Error) => e instanceof ApiAddressInUseError && e.message.includes(`127.0.0.1:${port}`) && /--gobgp-api/.test(e.message));
    assert.equal(sup.pid, undefined);
    assert.ok(squatter.listening, 'the other listener is left alone');
  } finally {
    squatter.close();
  }
});

test('the agent exits 1 with that message when the gobgpd API port is taken', async () => {
  const port = await freeLowPort();
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  try {
    const r = spawnSync(LOXILB_BIN, ['--bgp', '--host=127.0.0.1', `--port=${await freeLowPort()}`, `--gobgp-api=127.0.0.1:${port}`, '--config-path=/tmp/loxilb-ts-test-unused', '--loglevel=info'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1);
    assert.match(r.stdout + r.stderr, /already in use/);
  } finally {
    squatter.close();
  }
});

test('gobgpd is restarted after it dies and stopped by PID', { timeout: 30_000 }, async () => {
  const port = await freeLowPort();
  const sup = new GobgpSupervisor({ binary: 'gobgpd', apiAddress: `127.0.0.1:${port}`, logLevel: 'info' }, silentLogger);
  const client = new GobgpClient(`127.0.0.1:${port}`);
  try {
    await sup.start();
    const first = sup.pid!;
    await client.waitReady(5000);
    assert.equal((await client.getBgp()).asn, 0);
    process.kill(first, 'SIGKILL');
    const second = await waitFor(() => (sup.pid && sup.pid !== first && sup.state === 'running' ? sup.pid : undefined), { timeoutMs: 10_000, what: 'restart' });
    assert.equal(sup.restarts, 1);
    await waitFor(async () => (await client.getBgp().then(() => true, () => false)), { timeoutMs: 10_000, what: 'API back' });
    await sup.stop();
    assert.equal(sup.state, 'stopped');
    await waitFor(() => !alive(second), { timeoutMs: 5000, what: 'gobgpd gone' });
    // No restart after a deliberate stop.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sup.pid, undefined);
  } finally {
    client.close();
    await sup.stop();
  }
});

test('loxilb flags: unknown flags and bad values exit 2 with a message', () => {
  for (const [args, re] of [
    [['--bogus'], /unknown flag --bogus/],
    [['--rpc=http'], /--rpc must be netrpc or grpc/],
    [['--ka=10.0.0.2:10.0.0.1:500'], /--ka=.*IntervalUs must be an integer of at least 10000/],
    [['--port=99999'], /--port/],
  ] as [string[], RegExp][]) {
    const r = spawnSync(LOXILB_BIN, args, { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, re);
  }
  const v = spawnSync(LOXILB_BIN, ['-v'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(v.status, 0);
  assert.match(v.stdout, /loxilb-ts \d+\.\d+\.\d+/);
});
