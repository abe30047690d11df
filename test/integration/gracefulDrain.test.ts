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

  const role = async (lb: LbNode): Promise<string | undefined> =>
    ((await t.mustApi(lb, 'GET', '/config/cistate/all')).Attr as { instance: string; state: string }[]).find((s) => s.instance === 'llb-inst0')?.state;
  const synced = async (lb: LbNode) => (await t.mustApi(lb, 'GET', '/status')).sync?.peers?.[0]?.state === 'synced';
  /** The router's paths for the VIP: who advertises it, with which MED and communities. */
  const routerPaths = async () => (await t.bird!.routesFor(`${DP.vip}/32`)).map((r) => ({ med: r.med, primary: r.primary, communities: r.communities }));

  before(async () => {
    t = await DatapathLab.create({
      lbs: ['lb1', 'lb2'],
      bgp: { bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } },
      lbArgs: (lb) => haPairArgs(lb, ['--drain-timeout=15']),
    });
    for (const lb of t.lbs) {
      await t.mustApi(lb, 'POST', '/config/loadbalancer', {
        serviceArguments: { externalIP: DP.vip, port: 70, protocol: 'tcp', sel: 0, mode: 2, bgp: true, name: 'stream' },
        endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort: DP.streamPort, weight: 1 })),
      });
    }
    await waitFor(async () => (await role('lb2')) === 'MASTER' && (await role('lb1')) === 'BACKUP', { timeoutMs: 30_000, what: 'lb2 MASTER, lb1 BACKUP' });
    await waitFor(async () => (await t.vipNextHop('router')) === DP.lb2, { timeoutMs: 30_000, what: 'the router to prefer lb2' });
    for (const ep of ['ep1', 'ep2'] as const) await waitFor(async () => (await t.vipNextHop(ep)) === DP.lb2, { timeoutMs: 30_000, what: `${ep} via lb2` });
    await waitFor(() => synced('lb1'), { timeoutMs: 20_000, what: 'lb1 synced from lb2' });
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
    await waitFor(async () => (await syncedEntries('lb1')) >= 200, { timeoutMs: 10_000, what: 'lb1 to hold 200 synced entries' });

    // 1. lb2 (MASTER) is stopped: it drains first.
    const first = await drainAndStop('lb2');
    assert.equal(first.drainLog.handedTo, DP.lb1);
    assert.equal(first.drainLog.timedOut, false, JSON.stringify(first.drainLog));
    assert.equal(first.drainLog.reason, `${DP.lb1} took over and the traffic moved`);
    assert.ok(first.sawShutdownCommunity, 'the router saw lb2 advertise GRACEFUL_SHUTDOWN (65535,0) while it drained');
    assert.equal(await role('lb1'), 'MASTER');
    assert.equal(await t.vipNextHop('router'), DP.lb1);

    // 2. lb2 comes back: BACKUP (no preemption), and it pulls lb1's table.
    await t.startAgent('lb2');
    await waitFor(async () => (await role('lb2')) === 'BACKUP', { timeoutMs: 20_000, what: 'lb2 back as BACKUP' });
    await waitFor(() => synced('lb2'), { timeoutMs: 20_000, what: 'lb2 synced from lb1' });
    await waitFor(async () => (await syncedEntries('lb2')) >= 200, { timeoutMs: 10_000, what: 'lb2 to hold 200 synced entries' });
    // As an operator would before the next step of a rolling restart: lb2's BGP sessions (router and endpoints) are up.
    // Draining lb1 earlier is safe too, only slower: its drain waits until the traffic has really moved.
    await waitFor(
      async () => {
        const n = (await t.mustApi('lb2', 'GET', '/config/bgp/neigh/all')) as { bgpNeiAttr?: { state: string }[] };
        return n.bgpNeiAttr?.length === 3 && n.bgpNeiAttr.every((x) => x.state === 'ESTABLISHED');
      },
      { timeoutMs: 30_000, what: "lb2's BGP sessions Established" },
    );

    // 3. lb1 (now MASTER) is stopped: it drains to lb2.
    const second = await drainAndStop('lb1');
    assert.equal(second.drainLog.handedTo, DP.lb2);
    assert.equal(second.drainLog.timedOut, false, JSON.stringify(second.drainLog));
    assert.equal(await role('lb2'), 'MASTER');
    await waitFor(async () => (await t.vipNextHop('router')) === DP.lb2, { timeoutMs: 5_000, what: 'router on lb2' });

    const summary = await clients.summary();
    assert.equal(summary.conns.length, 100);
    assert.deepEqual(summary.conns.filter((c) => c.error), [], 'no connection was reset or closed');
    for (const c of summary.conns) assert.ok(c.echoed >= c.sent - 100, `lines kept coming back: ${JSON.stringify(c)}`);
    const worstGap = Math.max(...summary.conns.map((c) => c.maxGapMs));
    assert.ok(worstGap < 1500, `longest silence on any connection: ${worstGap} ms`);
    console.log(`# rolling restart: drains took ${first.drainLog.waitedMs} ms and ${second.drainLog.waitedMs} ms; longest silence on any of 100 connections ${worstGap} ms`);
    await t.startAgent('lb1');
    await waitFor(async () => (await role('lb1')) === 'BACKUP', { timeoutMs: 20_000, what: 'lb1 back as BACKUP' });
  });

  it('maintenance over REST: POST config/drain hands over and keeps the node out of the election until DELETE', async () => {
    assert.deepEqual([await role('lb1'), await role('lb2')], ['BACKUP', 'MASTER']);
    // What an operator types; it returns once the drain is done.
    const out = await t.loxicmd('lb2', 'set', 'drain', 'on', '--drainTimeout', '10');
    assert.match(out, new RegExp(`\\| yes +\\| drained \\| ${DP.lb1.replaceAll('.', '\\.')} \\|`));
    const r = await t.mustApi('lb2', 'GET', '/config/drain');
    assert.equal(r.draining, true);
    assert.equal(r.phase, 'drained');
    assert.equal(r.last.handedTo, DP.lb1);
    assert.equal(r.last.timedOut, false);
    assert.deepEqual([await role('lb1'), await role('lb2')], ['MASTER', 'BACKUP']);
    const e = ((await t.mustApi('lb2', 'GET', '/config/cistate/all')).Attr as Record<string, unknown>[]).find((x) => x.instance === 'llb-inst0')!;
    assert.equal(e.draining, true);
    assert.equal((await t.mustApi('lb2', 'GET', '/status')).status, 'draining');
    await waitFor(async () => (await t.vipNextHop('router')) === DP.lb1, { timeoutMs: 5_000, what: 'router on lb1' });
    const table = await t.loxicmd('lb2', 'get', 'hastate');
    assert.match(table, /\| llb-inst0 \| BACKUP +\|/);
    // Bad input: a clear 400 naming the parameter.
    const bad = await t.api('lb2', 'POST', '/config/drain?timeoutSeconds=0');
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /timeoutSeconds/);
    // Maintenance over: a candidate again, but lb1 keeps MASTER (no preemption) and the router stays.
    assert.match(await t.loxicmd('lb2', 'set', 'drain', 'off'), /\| no +\| serving/);
    assert.equal((await t.mustApi('lb2', 'GET', '/config/drain')).draining, false);
    await waitFor(async () => (await t.bird!.routesFor(`${DP.vip}/32`)).every((p) => !p.communities?.includes('(65535,0)')), { timeoutMs: 10_000, what: 'the community taken off again' });
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual([await role('lb1'), await role('lb2')], ['MASTER', 'BACKUP']);
    assert.equal(await t.vipNextHop('router'), DP.lb1);
  });
});
