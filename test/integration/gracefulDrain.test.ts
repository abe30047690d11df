// Graceful drain (issue 15 §2) in the seeds' hitless topology: two LB nodes
// with --bgp --ka --cluster, a BIRD router with BFD on its BGP sessions,
// endpoints running `loxilb --peer`, 100 long-lived TCP connections through
// the VIP. A rolling restart: SIGTERM the MASTER (it hands its role over,
// advertises GRACEFUL_SHUTDOWN, waits for the traffic to move, then exits),
// start it again, wait until it is synced, SIGTERM the other. No connection
// is reset. Then the maintenance drain over REST, and back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatapathLab, DP, haPairArgs, type LbNode } from '../lab/DatapathLab.ts';
import { waitFor } from '../lab/wait.ts';


describe('graceful drain: a rolling restart of both LB nodes under 100 long-lived connections', { timeout: 300_000 }, () => {
  let t: DatapathLab;
  /** The first MASTER and BACKUP; the rolling restart hands the role from M to B and back. */
  let M: LbNode = 'lb2';
  let B: LbNode = 'lb1';

  const role = async (lb: LbNode): Promise<string | undefined> =>
    ((await t.mustApi(lb, 'GET', '/config/cistate/all')).Attr as { instance: string; state: string }[]).find((s) => s.instance === 'llb-inst0')?.state;
  const synced = async (lb: LbNode) => (await t.mustApi(lb, 'GET', '/status')).sync?.peers?.[0]?.state === 'synced';
  /** The router's paths for the VIP: who advertises it, with which MED and communities. */
  const routerPaths = async () => (await t.bird!.routesFor(`${DP.vip}/32`)).map((r) => ({ med: r.med, primary: r.primary, communities: r.communities }));

  before(async () => {
    t = await DatapathLab.create({
      lbs: [B, M],
      bgp: { bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } },
      lbArgs: (lb) => haPairArgs(lb, ['--drain-timeout=15']),
    });
    for (const lb of t.lbs) {
      await t.mustApi(lb, 'POST', '/config/loadbalancer', {
        serviceArguments: { externalIP: DP.vip, port: 70, protocol: 'tcp', sel: 0, mode: 2, bgp: true, name: 'stream' },
        endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
      });
    }
    // Whichever the election (and the agents' start order) made MASTER: M; the other: B.
    await waitFor(
      async () => {
        const roles = `${await role('lb1')}/${await role('lb2')}`;
        if (roles === 'MASTER/BACKUP') [M, B] = ['lb1', 'lb2'];
        else if (roles === 'BACKUP/MASTER') [M, B] = ['lb2', 'lb1'];
        else return false;
        return true;
      },
      { timeoutMs: 30_000, what: 'one MASTER, one BACKUP' },
    );
    await waitFor(async () => (await t.vipNextHop('router')) === DP[M], { timeoutMs: 30_000, what: 'the router to prefer M' });
    for (const ep of ['ep1', 'ep2'] as const) await waitFor(async () => (await t.vipNextHop(ep)) === DP[M], { timeoutMs: 30_000, what: `${ep} via M` });
    await waitFor(() => synced(B), { timeoutMs: 20_000, what: 'B synced from M' });
  });
  after(async () => {
    await t?.destroy();
  });

  /** SIGTERMs the MASTER and follows its drain at the router; resolves with what the router showed and the drain's log line. */
  async function drainAndStop(master: LbNode): Promise<{ sawShutdownCommunity: boolean; drainLog: Record<string, unknown> }> {
    const proc = t.agents.get(master)!;
    let sawShutdownCommunity = false;
    let stopping = true;
    const watch = (async () => {
      while (stopping) {
        const paths = await routerPaths().catch(() => []);
        // The draining node's path: MED 30, RFC 8326's community, not the router's choice.
        if (paths.some((p) => p.med === 30 && p.communities?.includes('(65535,0)') && !p.primary)) sawShutdownCommunity = true;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const exit = await proc.stop(30_000);
    stopping = false;
    await watch;
    assert.equal(exit.signal ?? null, null, `${master} exited on its own after the drain, not killed: ${JSON.stringify(exit)}`);
    const line = proc
      .log()
      .split('\n')
      .find((l) => l.includes('"msg":"drain done"'));
    assert.ok(line, `${master} logged its drain`);
    return { sawShutdownCommunity, drainLog: JSON.parse(line) as Record<string, unknown> };
  }

  it('SIGTERM on the MASTER, restart, SIGTERM on the other: none of the 100 connections is reset', async () => {
    const clients = await t.startStreams({ durationMs: 40_000 });
    const syncedEntries = async (lb: LbNode) =>
      ((await t.mustApi(lb, 'GET', '/config/conntrack/all')).ctAttr as { servName: string; conntrackState: string; conntrackAct: string }[]).filter(
        (e) => e.servName === 'stream' && e.conntrackState === 'est' && e.conntrackAct.endsWith(',synced'),
      ).length;
    await waitFor(async () => (await syncedEntries(B)) >= 200, { timeoutMs: 10_000, what: 'B to hold 200 synced entries' });

    // 1. M (MASTER) is stopped: it drains first.
    const first = await drainAndStop(M);
    assert.equal(first.drainLog.handedTo, DP[B]);
    assert.equal(first.drainLog.timedOut, false, JSON.stringify(first.drainLog));
    assert.equal(first.drainLog.reason, `${DP[B]} took over and the traffic moved`);
    assert.ok(first.sawShutdownCommunity, 'the router saw M advertise GRACEFUL_SHUTDOWN (65535,0) while it drained');
    assert.equal(await role(B), 'MASTER');
    assert.equal(await t.vipNextHop('router'), DP[B]);

    // 2. M comes back: BACKUP (no preemption), and it pulls B's table.
    await t.startAgent(M);
    await waitFor(async () => (await role(M)) === 'BACKUP', { timeoutMs: 20_000, what: 'M back as BACKUP' });
    await waitFor(() => synced(M), { timeoutMs: 20_000, what: 'M synced from B' });
    await waitFor(async () => (await syncedEntries(M)) >= 200, { timeoutMs: 10_000, what: 'M to hold 200 synced entries' });
    // As an operator would before the next step of a rolling restart: M's BGP sessions (router and endpoints) are up.
    // Draining B earlier is safe too, only slower: its drain waits until the traffic has really moved.
    await waitFor(
      async () => {
        const n = (await t.mustApi(M, 'GET', '/config/bgp/neigh/all')) as { bgpNeiAttr?: { state: string }[] };
        return n.bgpNeiAttr?.length === 3 && n.bgpNeiAttr.every((x) => x.state === 'ESTABLISHED');
      },
      { timeoutMs: 30_000, what: "M's BGP sessions Established" },
    );

    // 3. B (now MASTER) is stopped: it drains to M.
    const second = await drainAndStop(B);
    assert.equal(second.drainLog.handedTo, DP[M]);
    assert.equal(second.drainLog.timedOut, false, JSON.stringify(second.drainLog));
    assert.equal(await role(M), 'MASTER');
    await waitFor(async () => (await t.vipNextHop('router')) === DP[M], { timeoutMs: 5_000, what: 'router on M' });

    const summary = await clients.summary();
    assert.equal(summary.conns.length, 100);
    assert.deepEqual(summary.conns.filter((c) => c.error), [], 'no connection was reset or closed');
    for (const c of summary.conns) assert.ok(c.echoed >= c.sent - 100, `lines kept coming back: ${JSON.stringify(c)}`);
    const worstGap = Math.max(...summary.conns.map((c) => c.maxGapMs));
    assert.ok(worstGap < 1500, `longest silence on any connection: ${worstGap} ms`);
    console.log(`# rolling restart: drains took ${first.drainLog.waitedMs} ms and ${second.drainLog.waitedMs} ms; longest silence on any of 100 connections ${worstGap} ms`);
    await t.startAgent(B);
    await waitFor(async () => (await role(B)) === 'BACKUP', { timeoutMs: 20_000, what: 'B back as BACKUP' });
  });

  it('maintenance over REST: POST config/drain hands over and keeps the node out of the election until DELETE', async () => {
    assert.deepEqual([await role(B), await role(M)], ['BACKUP', 'MASTER']);
    // What an operator types; it returns once the drain is done.
    const out = await t.loxicmd(M, 'set', 'drain', 'on', '--drainTimeout', '10');
    assert.match(out, new RegExp(`\\| yes +\\| drained \\| ${DP[B].replaceAll('.', '\\.')} \\|`));
    const r = await t.mustApi(M, 'GET', '/config/drain');
    assert.equal(r.draining, true);
    assert.equal(r.phase, 'drained');
    assert.equal(r.last.handedTo, DP[B]);
    assert.equal(r.last.timedOut, false);
    assert.deepEqual([await role(B), await role(M)], ['MASTER', 'BACKUP']);
    const e = ((await t.mustApi(M, 'GET', '/config/cistate/all')).Attr as Record<string, unknown>[]).find((x) => x.instance === 'llb-inst0')!;
    assert.equal(e.draining, true);
    assert.equal((await t.mustApi(M, 'GET', '/status')).status, 'draining');
    await waitFor(async () => (await t.vipNextHop('router')) === DP[B], { timeoutMs: 5_000, what: 'router on B' });
    const table = await t.loxicmd(M, 'get', 'hastate');
    assert.match(table, /\| llb-inst0 \| BACKUP +\|/);
    // Bad input: a clear 400 naming the parameter.
    const bad = await t.api(M, 'POST', '/config/drain?timeoutSeconds=0');
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /timeoutSeconds/);
    // Maintenance over: a candidate again, but B keeps MASTER (no preemption) and the router stays.
    assert.match(await t.loxicmd(M, 'set', 'drain', 'off'), /\| no +\| serving/);
    assert.equal((await t.mustApi(M, 'GET', '/config/drain')).draining, false);
    await waitFor(async () => (await t.bird!.routesFor(`${DP.vip}/32`)).every((p) => !p.communities?.includes('(65535,0)')), { timeoutMs: 10_000, what: 'the community taken off again' });
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual([await role(B), await role(M)], ['MASTER', 'BACKUP']);
    assert.equal(await t.vipNextHop('router'), DP[B]);
  });
});
