// Agent restart in the L2 HA pair (issue 15 §3, the L2 case): a SIGKILLed
// agent leaves its VIP address on the interface (the kernel keeps answering
// ARP for it) and its last role in its saved state. Started again, the agent
// must not act on that role: BFD elects it, and until then it holds no VIP.
// So a restarted node gives a left-behind address back first thing in its
// start (before the datapath loads, long before its API answers), takes it
// again only if the election makes it MASTER, and never announces the VIP
// (gratuitous ARP) on the strength of the role it had before the kill,
// which would move the client and the endpoints to a node that then drops
// the address. Checked with arping from the client and a capture of every
// ARP frame the client sees. A lone MASTER that stops gives the VIP back
// before its datapath detaches.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { L2, L2ChaosLab, arpResponders, neighbourOf } from '../lab/chaosL2.ts';
import type { LbNode } from '../lab/DatapathLab.ts';
import { mountTestBpffs, type TestBpffs } from '../lab/bpffs.ts';
import { PacketCapture } from '../lab/PacketCapture.ts';
import { waitFor } from '../lab/wait.ts';
import { startAgentProcess } from '../lab/agentProcess.ts';

const other = (lb: LbNode): LbNode => (lb === 'lb1' ? 'lb2' : 'lb1');

describe('L2 HA: a restarted agent reconciles the VIP address and answers ARP only as MASTER', { timeout: 300_000 }, () => {
  let c: L2ChaosLab | undefined;
  let fs: TestBpffs | undefined;

  before(async () => {
    fs = mountTestBpffs();
    c = await L2ChaosLab.create(fs.dir, (s) => console.log(`# ${s}`));
  });
  after(async () => {
    await c?.destroy();
    fs?.release();
  });

  const kill = async (lb: LbNode) => {
    const p = c!.agents.get(lb)!;
    p.signal('SIGKILL');
    await p.exited;
  };

  /** When the agent of `lb` (its latest start) logged `msg` (epoch ms), if it did. */
  function loggedAt(lb: LbNode, msg: string): number | undefined {
    for (const line of c!.agents.get(lb)!.log().split('\n')) {
      try {
        const x = JSON.parse(line) as { msg?: string; time?: number };
        if (x.msg === msg) return x.time;
      } catch {
        // not a log record
      }
    }
    return undefined;
  }

  /** ARP frames with the VIP as sender address from `lb`'s MAC in the capture: [gratuitous, replies]. */
  async function vipArpFrom(cap: PacketCapture, lb: LbNode): Promise<{ gratuitous: number; replies: number }> {
    // A last frame of our own marks the end of what matters (see PacketCapture.waitForFrame).
    await c!.lab.exec('client', ['arping', '-U', '-c', '1', '-I', 'eth0', L2.client]);
    await cap.waitForFrame(`arp.src.proto_ipv4 == ${L2.client} && arp.dst.proto_ipv4 == ${L2.client}`);
    const file = await cap.stop();
    const filter = `arp.src.proto_ipv4 == ${L2.vip} && eth.src == ${c!.macs.get(lb)}`;
    const { stdout } = await promisify(execFile)('tshark', ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-e', 'arp.opcode', '-e', 'arp.dst.proto_ipv4']);
    const rows = stdout.trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
    return { gratuitous: rows.filter(([, dst]) => dst === L2.vip).length, replies: rows.filter(([op]) => op === '2').length };
  }

  it('a killed MASTER whose VIP is gone (a reboot) comes back without announcing the VIP: the client stays on the new MASTER', async () => {
    const m = (await c!.master())!;
    const n = other(m);
    // The client has an entry for the VIP (on the MASTER), as a client in use has.
    await c!.lab.run('client', ['ping', '-c', '1', '-W', '2', L2.vip]);
    assert.equal(await neighbourOf(c!.lab, 'client', L2.vip), c!.macs.get(m));
    await kill(m);
    await waitFor(async () => (await c!.role(n)) === 'MASTER' && (await neighbourOf(c!.lab, 'client', L2.vip)) === c!.macs.get(n), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: `${n} MASTER and the client on its MAC`,
    });
    // What a reboot does to the address; the saved state still says MASTER.
    await c!.lab.run(m, ['ip', 'addr', 'del', `${L2.vip}/32`, 'dev', 'eth0']);
    const cap = await PacketCapture.start(c!.lab, 'client', ['eth0'], { filter: 'arp', name: 'restart-master' });
    await c!.startAgent(m);
    await c!.waitSteady(30_000);
    assert.equal(await c!.master(), n, 'the node that served stays MASTER');
    assert.equal(await neighbourOf(c!.lab, 'client', L2.vip), c!.macs.get(n));
    assert.deepEqual(await c!.vipHolders(), [n]);
    assert.deepEqual(await vipArpFrom(cap, m), { gratuitous: 0, replies: 0 }, `ARP for the VIP from the restarted ${m}`);
  });

  it("a killed BACKUP with the VIP planted on its interface gives it back before its API answers, and answers no ARP for it after", async () => {
    const m = (await c!.master())!;
    const b = other(m);
    await kill(b);
    // As a killed MASTER would leave it (the previous test's node, had its address survived).
    await c!.lab.run(b, ['ip', 'addr', 'replace', `${L2.vip}/32`, 'dev', 'eth0']);
    // The planted address answers ARP while no agent runs: the check can see a wrong answer.
    assert.deepEqual(await arpResponders(c!.lab, 'client', L2.vip), [c!.macs.get(b), c!.macs.get(m)].sort());
    const cap = await PacketCapture.start(c!.lab, 'client', ['eth0'], { filter: 'arp', name: 'restart-backup' });
    const t0 = performance.now();
    // How long after the start the planted address still answers (sampled every ~20 ms).
    let goneMs: number | undefined;
    let starting = true;
    const watch = (async () => {
      while (starting && goneMs === undefined) {
        if (!(await c!.vipHolders()).includes(b)) goneMs = performance.now() - t0;
        else await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await c!.startAgent(b).finally(() => (starting = false));
    const readyMs = performance.now() - t0;
    await watch;
    assert.deepEqual(await c!.vipHolders(), [m], `the VIP given back by the time ${b}'s API answers (${Math.round(readyMs)} ms after the start)`);
    assert.deepEqual(await arpResponders(c!.lab, 'client', L2.vip), [c!.macs.get(m)]);
    // Given back first thing in the start, before the datapath loads (seconds on a busy machine), not by the first VIP pass.
    const released = loggedAt(b, 'VIP released at start (left behind, not MASTER now)');
    const attached = loggedAt(b, 'datapath attached');
    assert.ok(released !== undefined && attached !== undefined && released <= attached, `released at ${released}, datapath attached at ${attached}`);
    await c!.waitSteady(30_000);
    assert.equal(await c!.master(), m);
    const f = await vipArpFrom(cap, b);
    assert.equal(f.gratuitous, 0, `gratuitous ARP for the VIP from the restarted ${b}`);
    console.log(`# restarted BACKUP: the planted VIP given back ${goneMs === undefined ? '?' : Math.round(goneMs)} ms after the start (${attached! - released!} ms before the datapath was attached), API up after ${Math.round(readyMs)} ms; 0 gratuitous ARP from it`);
  });

  it('a lone MASTER stopped with SIGTERM and no drain gives its VIP back before its datapath detaches (the kernel never owns the VIP with nothing in front: no RST)', async () => {
    const m = (await c!.master())!;
    await kill(other(m));
    // Restarted alone with --drain-timeout=0: SIGTERM then stops at once (a drain would give the VIP back first anyway).
    await kill(m);
    const p = await startAgentProcess(c!.lab, m, c!.agentArgs(m).map((a) => (a.startsWith('--drain-timeout=') ? '--drain-timeout=0' : a)));
    c!.agents.set(m, p);
    await waitFor(async () => (await c!.role(m)) === 'MASTER' && (await c!.vipHolders()).join() === m, { timeoutMs: 30_000, what: `${m} MASTER alone, holding the VIP` });
    p.signal('SIGTERM');
    await p.exited;
    const lines = p.log().split('\n').flatMap((l) => {
      try {
        return [(JSON.parse(l) as { msg?: string }).msg];
      } catch {
        return [];
      }
    });
    const released = lines.indexOf('VIP released (stopping)');
    const detached = lines.indexOf('datapath detached');
    assert.ok(released >= 0 && detached >= 0, `stop logged 'VIP released (stopping)' (${released}) and 'datapath detached' (${detached})`);
    assert.ok(released < detached, `the VIP went (log line ${released}) before the datapath detached (line ${detached})`);
    assert.deepEqual(await c!.vipHolders(), []);
  });
});
