// kube-loxilb's agent side against real agents, in network namespaces: two
// `loxilb --bgp` LB nodes, a `loxilb --peer` worker and a BIRD router (the
// seeds' in-cluster topology, test/lab/BgpLab.ts). The controller (a
// LoxiAgentPool with --setRoles and --setBGP, test/lab/kubeAgentsController.ts)
// runs in its own node on the lab switch, as kube-loxilb's pod would, since
// the test process in the root namespace cannot reach the agents.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { BgpLab, CLUSTER_AS, LB_NODES, ROOT, ROUTER, ROUTER_AS, WORKER, type NodeAddr } from '../lab/BgpLab.ts';
import type { LabProcess } from '../lab/Lab.ts';
import { waitFor } from '../lab/wait.ts';
import type { AgentPoolConfig, DiscoveredAgent } from '../../src/kube/LoxiAgentPool.ts';
import { agentOrigin } from '../../src/apiclient/origin.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';

const CONTROLLER = fileURLToPath(new URL('../lab/kubeAgentsController.ts', import.meta.url));
const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const CTL = { name: 'ctl', ipv4: '192.168.80.200' };
const PERIOD = 500;
const VIP = '123.123.123.1';

const rule: LbRule = {
  serviceArguments: {
    externalIP: VIP,
    port: 80,
    protocol: 'tcp',
    sel: 0,
    bgp: true,
    monitor: false,
    mode: 2,
    block: 0,
    managed: true,
    name: 'default_web:llb-inst0',
  },
  endpoints: [{ endpointIP: WORKER.ipv4, targetPort: 30080, weight: 1 }],
  secondaryIPs: [],
  allowedSources: [],
};

interface Ev {
  ev: string;
  at: number;
  id?: string;
  masters?: Record<string, string | undefined>;
  result?: { added: number; modified: number; deleted: number; errors: string[] };
}

describe('kube-loxilb agent side: roles, failover, BGP mesh against real agents', { timeout: 300_000 }, () => {
  let t: BgpLab;
  let ctl: LabProcess;
  const events: Ev[] = [];
  let ctlLog = '';

  const url = (n: NodeAddr) => agentOrigin(n.ipv4);
  const nodeOf = (id: string | undefined) => [LB1, LB2].find((n) => url(n) === id);
  const role = async (n: NodeAddr): Promise<string | undefined> =>
    ((await t.mustApi(n.name, 'GET', '/config/cistate/all')).Attr as { instance: string; state: string }[]).find((s) => s.instance === 'llb-inst0')?.state;
  const send = (msg: unknown) => ctl.child.stdin!.write(`${JSON.stringify(msg)}\n`);
  const master = () => events.filter((e) => e.ev === 'masters').at(-1)?.masters?.['llb-inst0'];
  const bestVia = async () => (await t.bird.routesFor(`${VIP}/32`)).find((r) => r.prefix === `${VIP}/32` && r.primary)?.via;

  before(async () => {
    t = await BgpLab.create({
      onBuildError: (lab) => {
        for (const p of lab.agents.values()) console.error(p.log().split('\n').slice(-20).join('\n'));
      },
    });
    await t.lab.addNode(CTL.name, { switch: 'sw', ipv4: `${CTL.ipv4}/24` });
    const config: AgentPoolConfig = {
      loxiURLs: [],
      roleHealthPeriodMs: PERIOD,
      setRoles: '0.0.0.0',
      excludeRoleList: [],
      zone: 'llb',
      numZoneInstances: 1,
      setBGP: CLUSTER_AS,
      listenBGPPort: 179,
      eBGPMultiHop: false,
      extBGPPeers: [{ ip: ROUTER.ipv4, asn: ROUTER_AS }],
    };
    // What the Kubernetes side would find in the loxilb-lb-service and loxilb-peer-service EndpointSlices.
    const discovered: DiscoveredAgent[] = [
      { url: url(LB1), kind: 'lb', nodeAddress: LB1.ipv4 },
      { url: url(LB2), kind: 'lb', nodeAddress: LB2.ipv4 },
      { url: url(WORKER), kind: 'peer', nodeAddress: WORKER.ipv4 },
    ];
    ctl = t.lab.spawn(CTL.name, process.execPath, ['--import', 'tsx', CONTROLLER, JSON.stringify({ config, discovered })], { output: 'pipe', cwd: ROOT });
    let buf = '';
    ctl.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) events.push(JSON.parse(line) as Ev);
      }
    });
    ctl.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      ctlLog += chunk;
      if (ctlLog.length > 4_000_000) ctlLog = ctlLog.slice(-2_000_000);
    });
    await waitFor(() => events.some((e) => e.ev === 'ready') || !ctl.alive(), { timeoutMs: 30_000, what: 'the controller to start' });
    assert.ok(ctl.alive(), `controller exited: ${ctlLog.slice(-2000)}`);
  });

  after(async () => {
    if (process.env.KUBE_AGENTS_LOG) console.error(ctlLog);
    try {
      if (ctl?.alive()) {
        send({ cmd: 'exit' });
        await Promise.race([ctl.exited, new Promise((r) => setTimeout(r, 3000))]);
      }
    } finally {
      await t?.destroy();
    }
  });

  it('every agent comes up; exactly one LB agent is MASTER, the other BACKUP', async () => {
    await waitFor(() => new Set(events.filter((e) => e.ev === 'agentUp').map((e) => e.id)).size === 3, { timeoutMs: 15_000, what: 'agentUp for all three agents' });
    const roles = await waitFor(
      async () => {
        const r = [await role(LB1), await role(LB2)];
        return r.filter((x) => x === 'MASTER').length === 1 && r.includes('BACKUP') ? r : undefined;
      },
      { timeoutMs: 10_000, what: 'one MASTER and one BACKUP' },
    );
    const m = nodeOf(master());
    assert.ok(m, 'the controller has a MASTER');
    assert.equal(roles[[LB1, LB2].indexOf(m)], 'MASTER', 'the agent the controller elected is the one told MASTER');
    // The worker runs --peer: it takes no CI state at all.
    assert.equal((await t.api(WORKER.name, 'GET', '/config/cistate/all')).status, 403);
  });

  it('the BGP mesh is configured: LBs peer with the router, each other and the worker', async () => {
    await t.waitEstablished(LB1.name, [ROUTER.ipv4, LB2.ipv4, WORKER.ipv4], 60_000);
    await t.waitEstablished(LB2.name, [ROUTER.ipv4, LB1.ipv4, WORKER.ipv4], 60_000);
    await t.waitEstablished(WORKER.name, [LB1.ipv4, LB2.ipv4], 60_000);
    const neigh = (await t.mustApi(LB1.name, 'GET', '/config/bgp/neigh/all')).bgpNeiAttr as { ipAddress: string; remoteAs: number }[];
    assert.deepEqual(
      neigh.map((n) => `${n.ipAddress}/${n.remoteAs}`).sort(),
      [`${LB2.ipv4}/${CLUSTER_AS}`, `${ROUTER.ipv4}/${ROUTER_AS}`, `${WORKER.ipv4}/${CLUSTER_AS}`].sort(),
    );
    assert.match(await t.gobgp(LB1.name, 'global'), new RegExp(`Router-ID:\\s+${LB1.ipv4.replace(/\./g, '\\.')}\\b`));
    const wneigh = (await t.mustApi(WORKER.name, 'GET', '/config/bgp/neigh/all')).bgpNeiAttr as { ipAddress: string }[];
    assert.ok(!wneigh.some((n) => n.ipAddress === ROUTER.ipv4), 'external peers are for LB agents only');
  });

  it('a synced rule with bgp:true reaches both agents and the router learns the VIP, preferring the MASTER', async () => {
    send({ cmd: 'rules', rules: [rule] });
    await waitFor(() => events.filter((e) => e.ev === 'synced' && e.result?.added === 1).length === 2, { timeoutMs: 10_000, what: 'the rule added on both LB agents' });
    for (const n of [LB1, LB2]) {
      const lb = (await t.mustApi(n.name, 'GET', '/config/loadbalancer/all')).lbAttr as { serviceArguments: { externalIP: string; name: string } }[];
      assert.deepEqual(lb.map((r) => [r.serviceArguments.externalIP, r.serviceArguments.name]), [[VIP, 'default_web:llb-inst0']]);
    }
    const m = nodeOf(master())!;
    await waitFor(async () => (await bestVia()) === m.ipv4, { timeoutMs: 20_000, what: `the router's best path to ${VIP} via the MASTER ${m.name}` });
    // Syncing the same rules again changes nothing.
    send({ cmd: 'rules', rules: [rule] });
    const again = () => events.filter((e) => e.ev === 'synced').slice(2);
    await waitFor(() => again().length === 2, { timeoutMs: 10_000, what: 'the second sync on both agents' });
    assert.deepEqual(again().map((e) => e.result), [
      { added: 0, modified: 0, deleted: 0, errors: [] },
      { added: 0, modified: 0, deleted: 0, errors: [] },
    ]);
  });

  it('SIGKILL of the MASTER: the other is MASTER within one health period, and the router follows', async (tc) => {
    const old = nodeOf(master())!;
    const other = old === LB1 ? LB2 : LB1;
    const killedAt = Date.now();
    t.agents.get(old.name)!.signal('SIGKILL');
    const ev = await waitFor(() => events.find((e) => e.ev === 'masters' && e.at >= killedAt && e.masters?.['llb-inst0'] === url(other)), {
      timeoutMs: 10_000,
      intervalMs: 10,
      what: 'the controller to elect the other agent',
    });
    await waitFor(async () => (await role(other)) === 'MASTER', { timeoutMs: 5_000, intervalMs: 20, what: `${other.name} told MASTER` });
    const observed = Date.now() - killedAt;
    const elected = ev.at - killedAt;
    tc.diagnostic(`elected after ${elected} ms, ${other.name} reported MASTER after ${observed} ms (period ${PERIOD} ms)`);
    // A dead agent refuses connections at once, so the election waits only for the next round.
    assert.ok(elected <= PERIOD + 500, `elected ${elected} ms after the kill (period ${PERIOD} ms)`);
    assert.ok(observed <= PERIOD + 2500, `${other.name} reported MASTER ${observed} ms after the kill`);
    assert.ok(events.some((e) => e.ev === 'agentDown' && e.id === url(old) && e.at >= killedAt));
    await waitFor(async () => (await bestVia()) === other.ipv4, { timeoutMs: 20_000, what: `the router's best path via ${other.name}` });
  });

  it('the killed agent restarts: it is told BACKUP (no preemption), has its rule, and rejoins the mesh', async () => {
    const down = [LB1, LB2].find((n) => !t.agents.get(n.name)!.alive())!;
    const cur = nodeOf(master())!;
    const since = Date.now();
    await t.startAgent(down.name, t.lbMode(down));
    await waitFor(() => events.some((e) => e.ev === 'agentUp' && e.id === url(down) && e.at >= since), { timeoutMs: 15_000, what: `agentUp for ${down.name}` });
    await waitFor(async () => (await role(down)) === 'BACKUP', { timeoutMs: 10_000, what: `${down.name} told BACKUP` });
    assert.equal(await role(cur), 'MASTER');
    assert.equal(nodeOf(master()), cur);
    await waitFor(
      async () => ((await t.mustApi(down.name, 'GET', '/config/loadbalancer/all')).lbAttr as unknown[]).length === 1,
      { timeoutMs: 10_000, what: `the rule on ${down.name}` },
    );
    await t.waitEstablished(down.name, [ROUTER.ipv4, cur.ipv4, WORKER.ipv4], 60_000);
    // Both paths again, the MASTER's still preferred.
    await waitFor(async () => (await t.bird.routesFor(`${VIP}/32`)).filter((r) => r.prefix === `${VIP}/32`).length === 2, { timeoutMs: 20_000, what: 'two paths at the router' });
    assert.equal(await bestVia(), cur.ipv4);
  });
});
