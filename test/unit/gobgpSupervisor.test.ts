// gobgpd restarts on a fake clock with a fake child process: a lone crash is
// restarted at once, a crash loop backs off exponentially up to the cap, and
// one stable run forgets the streak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { GobgpSupervisor, RestartBackoff } from '../../src/bgp/GobgpSupervisor.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

test('RestartBackoff: immediate, then 250 ms doubling to 10 s while gobgpd keeps dying within 5 s; a stable run resets it', () => {
  const b = new RestartBackoff();
  assert.deepEqual([0, 0, 0, 0, 0, 0, 0, 0, 0].map(() => b.next(100)), [0, 250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
  assert.equal(b.next(5000), 0, 'ran 5 s: stable, restart at once');
  assert.equal(b.next(4999), 250, 'died again quickly: the streak starts over from there');
  assert.equal(b.next(60_000), 0);
  const custom = new RestartBackoff({ baseMs: 100, maxMs: 300, stableMs: 1000 });
  assert.deepEqual([1, 2, 3, 4].map(() => custom.next(0)), [0, 100, 200, 300]);
});

class FakeChild extends EventEmitter {
  stdout = new PassThrough();
  stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  constructor(readonly pid: number) {
    super();
    queueMicrotask(() => this.emit('spawn'));
  }
  kill(sig: NodeJS.Signals = 'SIGTERM'): boolean {
    this.die(null, sig);
    return true;
  }
  die(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
  }
}

async function supervised() {
  const clock = new ManualClock(1000);
  const children: FakeChild[] = [];
  const sup = new GobgpSupervisor(
    {
      binary: 'gobgpd',
      // Nothing listens on port 1: the "API address taken" check passes at once.
      apiAddress: '127.0.0.1:1',
      logLevel: 'info',
      clock,
      spawnProcess: () => {
        const c = new FakeChild(1000 + children.length);
        children.push(c);
        return c as unknown as ChildProcess;
      },
    },
    silentLogger,
  );
  await sup.start();
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { clock, children, sup, settle };
}

test('a lone crash is restarted at once; a crash loop is damped; a stable run earns an immediate restart again', async () => {
  const { clock, children, sup, settle } = await supervised();
  assert.equal(sup.state, 'running');
  // Runs a minute, then dies: restarted with no delay.
  clock.advance(60_000);
  children[0]!.die(null, 'SIGKILL');
  assert.equal(sup.state, 'backoff');
  assert.equal(sup.lastRestartDelayMs, 0);
  clock.advance(0);
  await settle();
  assert.equal(children.length, 2);
  assert.equal(sup.state, 'running');
  assert.equal(sup.pid, 1001);
  assert.equal(sup.restarts, 1);

  // Now it dies right after every start: 250, 500, 1000 ms ...
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    clock.advance(100);
    children.at(-1)!.die(1);
    delays.push(sup.lastRestartDelayMs!);
    clock.advance(sup.lastRestartDelayMs! - 1);
    await settle();
    assert.equal(sup.state, 'backoff', 'not before its delay');
    clock.advance(1);
    await settle();
    assert.equal(sup.state, 'running');
  }
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000]);

  // A stable run of 5 s: the next crash is restarted at once again.
  clock.advance(5000);
  children.at(-1)!.die(null, 'SIGSEGV');
  assert.equal(sup.lastRestartDelayMs, 0);
  clock.advance(0);
  await settle();
  assert.equal(sup.state, 'running');
  assert.equal(sup.restarts, 7);
  await sup.stop();
  assert.equal(sup.state, 'stopped');
});

test('stop() during a backoff cancels the restart', async () => {
  const { clock, children, sup, settle } = await supervised();
  children[0]!.die(1);
  assert.equal(sup.lastRestartDelayMs, 0);
  await sup.stop();
  clock.advance(60_000);
  await settle();
  assert.equal(children.length, 1);
  assert.equal(sup.state, 'stopped');
});
