// The seeds' HA scenario 4, hitless: two LB nodes with --bgp --ka --cluster,
// a BIRD router with BFD on its BGP sessions, endpoints running
// `loxilb --peer` (they learn the VIP, fullnat's source, from the LBs),
// 100 long-lived TCP connections through the VIP sending every 10 ms.
// SIGKILL of the MASTER's agent: all 100 go on over the other node, none
// reset.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP, haPairArgs, type LbNode } from '../lab/DatapathLab.ts';
import { waitFor } from '../lab/wait.ts';


describe('hitless failover: BGP + BFD + connection sync, SIGKILL of the MASTER', { timeout: 240_000 }, () => {
  let t: DatapathLab;

  const role = async (lb: LbNode): Promise<string | undefined> =>
    ((await t.mustApi(lb, 'GET', '/config/cistate/all')).Attr as { instance: string; state: string }[]).find((s) => s.instance === 'llb-inst0')?.state;

  before(async () => {
    t = await DatapathLab.create({
      lbs: ['lb1', 'lb2'],
      bgp: { bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } },
      lbArgs: (lb) => haPairArgs(lb),
    });
    for (const lb of t.lbs) {
      await t.mustApi(lb, 'POST', '/config/loadbalancer', {
        serviceArguments: { externalIP: DP.vip, port: 70, protocol: 'tcp', sel: 0, mode: 2, bgp: true, name: 'stream' },
        endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
      });
    }
  });
  after(async () => {
    await t?.destroy();
  });

  it('elects lb2 (the higher address); the router and both endpoints send the VIP to it', async () => {
    await waitFor(async () => (await role('lb2')) === 'MASTER' && (await role('lb1')) === 'BACKUP', { timeoutMs: 30_000, what: 'lb2 MASTER, lb1 BACKUP' });
    await waitFor(async () => (await t.vipNextHop('router')) === DP.lb2, { timeoutMs: 30_000, what: 'the router to prefer lb2' });
    for (const ep of ['ep1', 'ep2'] as const) {
      await waitFor(async () => (await t.vipNextHop(ep)) === DP.lb2, { timeoutMs: 30_000, what: `${ep} to reach the VIP through lb2` });
    }
    await waitFor(async () => (await t.mustApi('lb1', 'GET', '/status')).sync.peers[0].state === 'synced', { timeoutMs: 20_000, what: 'lb1 synced from lb2' });
  });

  it('keeps all 100 connections when the MASTER agent is killed', async () => {
    const clients = await t.startStreams({ durationMs: 9000 });
    // The BACKUP holds both directions of every connection before the MASTER dies.
    await waitFor(
      async () => {
        const ct = (await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as { servName: string; conntrackState: string; conntrackAct: string }[];
        return ct.filter((e) => e.servName === 'stream' && e.conntrackState === 'est' && e.conntrackAct.endsWith(',synced')).length >= 200;
      },
      { timeoutMs: 10_000, what: 'lb1 to hold 200 synced entries' },
    );

    t.agents.get('lb2')!.signal('SIGKILL');
    await waitFor(async () => (await role('lb1')) === 'MASTER', { timeoutMs: 5_000, what: 'lb1 to become MASTER' });
    await waitFor(async () => (await t.vipNextHop('router')) === DP.lb1, { timeoutMs: 5_000, what: 'the router to move to lb1' });
    for (const ep of ['ep1', 'ep2'] as const) {
      await waitFor(async () => (await t.vipNextHop(ep)) === DP.lb1, { timeoutMs: 10_000, what: `${ep} to reach the VIP through lb1` });
    }

    const summary = await clients.summary();
    assert.equal(summary.conns.length, 100);
    assert.deepEqual(summary.conns.filter((c) => c.error), [], 'no connection was reset or closed');
    const worstGap = Math.max(...summary.conns.map((c) => c.maxGapMs));
    // Lines still in flight when the run ends (a busy machine) are not losses; a stalled connection shows in its gap.
    for (const c of summary.conns) assert.ok(c.echoed >= c.sent - 100, `lines kept coming back: ${JSON.stringify(c)}`);
    assert.ok(worstGap < 2000, `longest silence on any connection: ${worstGap} ms`);
    assert.deepEqual(new Set(summary.conns.flatMap((c) => c.endpoints)), new Set(['ep1', 'ep2']));

    // lb1 carried them after the kill: its synced entries saw traffic.
    const ct = (await t.mustApi('lb1', 'GET', '/config/conntrack/all')).ctAttr as { servName: string; conntrackAct: string; packets: number }[];
    const carried = ct.filter((e) => e.servName === 'stream' && e.conntrackAct.endsWith(',synced') && e.packets > 0).length;
    assert.ok(carried >= 200, `synced entries with traffic on lb1: ${carried}`);
  });
});
