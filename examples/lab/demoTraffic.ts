// Part 2 of `npm run demo`: packets through the eBPF datapath, and a MASTER
// killed under a live connection, on DatapathLab's hitless topology:
//
//   client 192.168.90.2 --[wan]-- router (BIRD, BFD) --[lan]-- lb1 .11, lb2 .12 (loxilb --bgp --ka --cluster), ep1 .21, ep2 .22 (loxilb --peer)
//
// The two LB agents elect their roles themselves (BFD 100 ms x 3 between
// them, connection sync over --cluster); the router prefers the MASTER's
// path; the endpoints learn the VIP (fullnat's source) from the LBs. A
// client curls the VIP, then streams over one long-lived TCP connection while
// the MASTER's agent is killed with SIGKILL.
import { performance } from 'node:perf_hooks';
import { DatapathLab, DP, haPairArgs, type LbNode } from '../../test/lab/DatapathLab.ts';
import { waitFor } from '../../test/lab/wait.ts';
import { dim, heading, notice, ok, say, shell } from './demoOutput.ts';

const INSTANCE = 'llb-inst0';
const STREAM_PORT = DP.streamPort;
const rule = (name: string, port: number, targetPort: number) => ({
  serviceArguments: { externalIP: DP.vip, port, protocol: 'tcp', sel: 0, mode: 2, bgp: true, name },
  endpoints: [DP.ep1, DP.ep2].map((ip) => ({ endpointIP: ip, targetPort, weight: 1 })),
});
const RULES = [rule('web', DP.httpPort, DP.httpPort), rule('stream', STREAM_PORT, STREAM_PORT)];

/** What the traffic part measured. */
export interface TrafficStoryResult {
  /** Longest silence on the streaming connection across the kill. */
  maxGapMs: number;
  /** From the kill until the survivor reported MASTER. */
  takeoverMs: number;
}

/** The HA pair with BGP and BFD towards the router (the lab configures BGP as kube-loxilb would). */
export function createTrafficLab(): Promise<DatapathLab> {
  return DatapathLab.create({
    lbs: ['lb1', 'lb2'],
    bgp: { bfd: { minRxMs: 100, minTxMs: 100, multiplier: 3 } },
    lbArgs: (lb) => haPairArgs(lb),
  });
}

export function describeTrafficLab(t: DatapathLab): void {
  say(`namespaces ${dim(`${t.lab.prefix}{wan,lan,client,router,lb1,lb2,ep1,ep2}`)}`);
  say(`client   ${DP.client}/24 behind the router; router ${DP.routerLan} bird (AS 65101, BFD 100 ms x 3), pid ${t.bird!.process.pid}`);
  for (const [lb, p] of t.agents) say(`${lb.padEnd(8)} ${DP[lb]}/24  loxilb ${haPairArgs(lb).join(' ')}, pid ${p.pid}`);
  for (const [ep, p] of t.peers) say(`${ep.padEnd(8)} ${DP[ep]}/24  loxilb --peer, pid ${p.pid}; HTTP :${DP.httpPort} and line echo :${STREAM_PORT} (pid ${t.echoes.get(ep)?.pid})`);
}

async function role(t: DatapathLab, lb: LbNode): Promise<string | undefined> {
  return ((await t.mustApi(lb, 'GET', '/config/cistate/all')).Attr as { instance: string; state: string }[]).find((s) => s.instance === INSTANCE)?.state;
}

/** The MASTER when exactly one of the pair is MASTER and the other BACKUP. */
async function currentMaster(t: DatapathLab): Promise<LbNode | undefined> {
  const [r1, r2] = [await role(t, 'lb1'), await role(t, 'lb2')];
  if (r1 === 'MASTER' && r2 === 'BACKUP') return 'lb1';
  if (r2 === 'MASTER' && r1 === 'BACKUP') return 'lb2';
  return undefined;
}

interface CtEntry {
  servName: string;
  conntrackState: string;
  conntrackAct: string;
  packets: number;
}

async function conntrack(t: DatapathLab, lb: LbNode): Promise<CtEntry[]> {
  return ((await t.mustApi(lb, 'GET', '/config/conntrack/all')).ctAttr ?? []) as CtEntry[];
}

export async function trafficStory(t: DatapathLab): Promise<TrafficStoryResult> {
  heading('The HA pair elected its roles itself (--ka: BFD between the two agents)');
  let master = await waitFor(() => currentMaster(t), { timeoutMs: 30_000, what: 'one MASTER and one BACKUP among lb1 and lb2' });
  let backup: LbNode = master === 'lb1' ? 'lb2' : 'lb1';
  await shell(master, 'loxicmd get hastate', () => t.loxicmd(master, 'get', 'hastate'));
  console.log();
  await shell(backup, 'loxicmd get hastate', () => t.loxicmd(backup, 'get', 'hastate'));
  notice(`nobody POSTed a role here: ${master} won the election (equal priorities: the higher address wins), ${backup} watches it over BFD`);

  heading(`Create two services on both LB nodes: ${DP.vip}:${DP.httpPort} (HTTP) and ${DP.vip}:${STREAM_PORT} (a line echo), fullnat to ep1 and ep2`);
  for (const lb of [master, backup]) {
    for (const r of RULES) {
      const body = JSON.stringify(r);
      await shell(lb, `curl -X POST http://127.0.0.1:11111/netlox/v1/config/loadbalancer -d '${body}'`, async () => JSON.stringify(await t.mustApi(lb, 'POST', '/config/loadbalancer', r)));
    }
  }
  console.log();
  await shell(master, 'loxicmd get lb', () => t.loxicmd(master, 'get', 'lb'));
  say('Waiting for the router and both endpoints to route the VIP to the MASTER, and the BACKUP to be synced...');
  const t0 = performance.now();
  // Asked afresh each time: on a starved machine BFD at 100 ms x 3 can flap and move the role meanwhile.
  const settled = await waitFor(
    async () => {
      const m = await currentMaster(t);
      if (!m) return undefined;
      const b: LbNode = m === 'lb1' ? 'lb2' : 'lb1';
      for (const node of ['router', 'ep1', 'ep2']) if ((await t.vipNextHop(node)) !== DP[m]) return undefined;
      return (await t.mustApi(b, 'GET', '/status')).sync?.peers?.[0]?.state === 'synced' ? m : undefined;
    },
    { timeoutMs: 45_000, intervalMs: 100, what: `the router and ep1, ep2 to send ${DP.vip} to the MASTER, and the BACKUP synced from it` },
  );
  ok(`converged in ${Math.round(performance.now() - t0)} ms`);
  if (settled !== master) say(dim(`(${settled} is MASTER now: BFD flapped meanwhile, the machine is busy, and the pair re-elected)`));
  master = settled;
  backup = master === 'lb1' ? 'lb2' : 'lb1';
  await shell('router', `birdc show route for ${DP.vip}`, () => t.bird!.birdc(`show route for ${DP.vip}`));
  notice(`the router's best path (the * line) goes to ${master} ${DP[master]}: BGP carries the VIP with the MASTER's preference`);

  heading(`A client curls the VIP: the reply comes through ${master}'s eBPF datapath`);
  const reply = await shell('client', `curl http://${DP.vip}:${DP.httpPort}/`, () => t.lab.run('client', ['curl', '-sS', '-m', '5', `http://${DP.vip}:${DP.httpPort}/`]));
  const seen = JSON.parse(reply) as { name: string; remote: string; remotePort: number };
  console.log();
  await shell(master, 'loxicmd get ct', () => t.loxicmd(master, 'get', 'ct'));
  if (seen.remote !== DP.vip) throw new Error(`${seen.name} saw ${seen.remote} as its peer, not the VIP ${DP.vip}: the request did not go through the datapath's fullnat`);
  notice(
    `${seen.name} answered and saw ${seen.remote}:${seen.remotePort} as its peer, not the client ${DP.client}: ${master}'s eBPF program rewrote both ends (fullnat), and its conntrack map holds the connection above with packets and bytes counted`,
  );

  heading(`Kill -9 the MASTER (${master}) while a client streams through the VIP`);
  const stream = await t.startStreams({ durationMs: 20_000, conns: 1, everyMs: 5, port: STREAM_PORT, progressMs: 100 });
  await shell('client', `node test/lab/streamClients.ts --target ${DP.vip}:${STREAM_PORT} --conns 1 --every 5 &`, async () => `[1] ${stream.process.pid}\nestablished`);
  say('one TCP connection: a numbered line every 5 ms, each echoed back by the endpoint');
  // The BACKUP must hold both directions of the connection before the MASTER dies.
  await waitFor(
    async () => (await conntrack(t, backup)).filter((e) => e.servName === 'stream' && e.conntrackState === 'est' && e.conntrackAct.endsWith(',synced')).length >= 2,
    { timeoutMs: 10_000, intervalMs: 100, what: `${backup} to hold the stream's two synced entries` },
  );
  await new Promise((r) => setTimeout(r, 1000));
  await shell(backup, 'loxicmd get ct', () => t.loxicmd(backup, 'get', 'ct'));
  const streamPackets = async () => (await conntrack(t, backup)).filter((e) => e.servName === 'stream').reduce((n, e) => n + e.packets, 0);
  const packetsBefore = await streamPackets();
  notice(`${backup}, the BACKUP, already holds the stream's two entries, copied from ${master} by connection sync (",synced")`);
  const before = stream.progress();
  ok(`before the kill: ${before?.echoed ?? 0} lines (${before?.bytes ?? 0} bytes) echoed over the connection`);
  const victim = t.agents.get(master)!;
  const killedAt = performance.now();
  await shell(master, `kill -9 ${victim.pid}`, async () => {
    victim.signal('SIGKILL');
    return '';
  });
  await waitFor(async () => (await role(t, backup)) === 'MASTER', { timeoutMs: 10_000, intervalMs: 10, what: `${backup} to become MASTER` });
  const takeoverMs = performance.now() - killedAt;
  await Promise.all([
    waitFor(async () => (await t.vipNextHop('router')) === DP[backup], { timeoutMs: 10_000, intervalMs: 50, what: `the router to send ${DP.vip} to ${backup}` }),
    ...(['ep1', 'ep2'] as const).map((ep) => waitFor(async () => (await t.vipNextHop(ep)) === DP[backup], { timeoutMs: 10_000, intervalMs: 50, what: `${ep} to reach ${DP.vip} through ${backup}` })),
  ]);
  const routedMs = performance.now() - killedAt;
  ok(`${backup} reported MASTER ${Math.round(takeoverMs)} ms after the kill; the router and both endpoints routed the VIP to it ${Math.round(routedMs)} ms after`);
  const atMove = stream.progress();
  // Let the stream run on the survivor for a while, so "kept going" is seen, not assumed.
  await waitFor(() => (stream.progress()?.echoed ?? 0) >= (atMove?.echoed ?? 0) + 200, { timeoutMs: 10_000, intervalMs: 50, what: 'the stream to carry 200 more lines over the survivor' });
  console.log();
  await shell(backup, 'loxicmd get hastate', () => t.loxicmd(backup, 'get', 'hastate'));
  console.log();
  await shell('router', `birdc show route for ${DP.vip}`, () => t.bird!.birdc(`show route for ${DP.vip}`));
  console.log();
  await shell(backup, 'loxicmd get ct', () => t.loxicmd(backup, 'get', 'ct'));
  const packetsAfter = await streamPackets();
  notice(
    `${backup} is MASTER, the router's only path is to it, and it carries the same connection: the synced entries' packets went from ${packetsBefore} to ${packetsAfter}; the endpoint never saw a new connection`,
  );
  stream.stop();
  const summary = await stream.summary();
  const conn = summary.conns[0];
  if (!conn) throw new Error('the stream client reported no connection');
  if (conn.error) throw new Error(`the stream's connection failed across the kill: ${conn.error}`);
  ok(`after the kill: ${conn.echoed - (before?.echoed ?? 0)} more lines (${conn.bytes - (before?.bytes ?? 0)} bytes) echoed; ${conn.echoed} of ${conn.sent} in all, by ${conn.endpoints.join(', ')}`);
  ok(`longest gap between two echoes on the connection: ${conn.maxGapMs} ms; the connection was never reset`);
  return { maxGapMs: conn.maxGapMs, takeoverMs };
}
