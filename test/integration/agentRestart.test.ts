// Agent restart without dropping traffic (issue 15 §3): the connection table
// is pinned on a bpffs, so a loxilb agent SIGKILLed under 100 long-lived TCP
// connections and started again adopts it. Meanwhile the dead agent's TC
// program, still attached, keeps forwarding; the new one replaces it (one
// filter, not two) once the rules are programmed. None of the connections is
// reset, the rules are unchanged. The control: the same without a pin loses
// the connections, which is what the pin is for. A planned stop removes the
// pin and the filters.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatapathLab, DP, type StreamSummary } from '../lab/DatapathLab.ts';


describe('agent restart: SIGKILL and start again under 100 long-lived connections', { timeout: 240_000 }, () => {
  let t: DatapathLab;
  let bpffs: string;
  let mounted = false;

  before(async () => {
    // A bpffs of the test's own, in the root mount namespace the lab's
    // `ip netns exec` processes also see (their /sys/fs/bpf is a fresh sysfs).
    bpffs = mkdtempSync(path.join(os.tmpdir(), 'lxt-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    mounted = true;
    mkdirSync(path.join(bpffs, 'lb1'));
    t = await DatapathLab.create({ lbs: ['lb1'], lbArgs: () => [`--bpf-pin-dir=${path.join(bpffs, 'lb1')}`] });
    await t.mustApi('lb1', 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: DP.vip, port: 70, protocol: 'tcp', sel: 0, mode: 2, name: 'stream' },
      endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
    });
  });
  after(async () => {
    await t?.destroy();
    if (mounted) execFileSync('umount', [bpffs]);
    rmSync(bpffs, { recursive: true, force: true });
  });

  const filters = async () => (await t.lab.run('lb1', ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress'])).split('\n').filter((l) => / bpf .*handle 0x/.test(l)).length;
  /** The rules as configured: the endpoints' traffic counters move with the traffic, so they are left out. */
  const rules = async () =>
    JSON.stringify((await t.mustApi('lb1', 'GET', '/config/loadbalancer/all')).lbAttr, (k, v) => (k === 'counter' ? undefined : v));

  /** 100 streams; SIGKILL the agent once they are up, start it again with `args`; the streams' summary. */
  async function killAndRestartUnder(args: string[]): Promise<{ summary: StreamSummary; status: any }> {
    const clients = await t.startStreams({ durationMs: 9000 });
    await new Promise((r) => setTimeout(r, 1000));
    t.agents.get('lb1')!.signal('SIGKILL');
    await t.agents.get('lb1')!.exited;
    // Dead for a moment, as in a crash loop or an upgrade.
    await new Promise((r) => setTimeout(r, 500));
    await t.startAgent('lb1', args);
    const status = await t.mustApi('lb1', 'GET', '/status');
    return { summary: await clients.summary(), status };
  }

  it('adopts the pinned table: no connection reset, the rules unchanged, one filter', async () => {
    const before = await rules();
    const pinned = (await t.mustApi('lb1', 'GET', '/status')).datapath.pinned;
    assert.equal(pinned.adopted, false);
    assert.ok(pinned.path && existsSync(pinned.path), `the table is pinned: ${JSON.stringify(pinned)}`);
    assert.equal(await filters(), 1);

    const { summary, status } = await killAndRestartUnder([]);
    assert.equal(status.datapath.pinned.adopted, true, JSON.stringify(status.datapath.pinned));
    assert.equal(summary.conns.length, 100);
    assert.deepEqual(summary.conns.filter((c) => c.error), [], 'no connection was reset or closed');
    for (const c of summary.conns) assert.ok(c.echoed >= c.sent - 100, `lines kept coming back: ${JSON.stringify(c)}`);
    const worstGap = Math.max(...summary.conns.map((c) => c.maxGapMs));
    assert.ok(worstGap < 1000, `longest silence on any connection: ${worstGap} ms`);
    assert.equal(await rules(), before);
    assert.equal(await filters(), 1, 'the new program replaced the old filter');
    console.log(`# SIGKILL + restart with the pinned table: 100 of 100 connections kept, longest silence ${worstGap} ms`);
  });

  it('control: without the pin the same restart breaks the connections', async () => {
    const { summary, status } = await killAndRestartUnder(['--bpf-pin-dir=none']);
    assert.equal(status.datapath.pinned.adopted, false);
    const broken = summary.conns.filter((c) => c.error || c.echoed < c.sent - 100 || c.maxGapMs > 2000).length;
    assert.ok(broken >= 50, `connections broken by a restart with an empty table: ${broken} of 100`);
  });

  it('a planned stop removes the pin and the filters', async () => {
    await t.agents.get('lb1')!.stop(10_000);
    await t.startAgent('lb1', []);
    const pinned = (await t.mustApi('lb1', 'GET', '/status')).datapath.pinned;
    assert.ok(pinned.path && existsSync(pinned.path));
    await t.agents.get('lb1')!.stop(10_000);
    assert.equal(existsSync(pinned.path), false, 'unpinned');
    assert.equal(await filters(), 0, 'detached');
  });
});
