// End to end, in network namespaces, with real gobgpd and a real BIRD router:
// two `loxilb --bgp` agents (MASTER and BACKUP) and a `loxilb --peer` worker,
// configured through the REST API like kube-loxilb does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BgpLab, LB_NODES, LOXICMD_BIN, ROUTER, WORKER } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1, LB2] = LB_NODES as [(typeof LB_NODES)[0], (typeof LB_NODES)[0]];
const VIP = '123.123.123.1';
const VIP6 = '2001:db8:123::1';
const STALE = '10.99.99.99/32';
const N1 = 'n_192_168_80_10';
const N2 = 'n_192_168_80_11';

const rule = (externalIP: string, port = 55002) => ({
  serviceArguments: { externalIP, port, protocol: 'tcp', bgp: true, mode: 2, name: 'default_nginx-lb1:llb-inst0' },
  endpoints: [
    { endpointIP: '192.168.80.101', targetPort: 32694, weight: 1 },
    { endpointIP: '192.168.80.102', targetPort: 32694, weight: 1 },
  ],
});

describe('loxilb --bgp / --peer with gobgpd and BIRD', { timeout: 240_000 }, () => {
  let t: BgpLab;

  const routerPaths = async (prefix: string) => (await t.bird.routesFor(prefix)).filter((r) => r.prefix === prefix);
  const bestVia = async (prefix: string) => (await routerPaths(prefix)).find((r) => r.primary)?.via;
  const setRole = (node: string, state: string) => t.mustApi(node, 'POST', '/config/cistate', { instance: 'llb-inst0', state, vip: '0.0.0.0' });

  before(async () => {
    // A route an earlier run left behind: the worker's agent must remove it at start.
    t = await BgpLab.create({ beforeWorker: [['ip', 'route', 'add', STALE, 'via', ROUTER.ipv4, 'proto', 'bgp']] });
    await t.configureBgp();
  });

  after(async () => {
    await t?.destroy();
  });

  it('sessions reach Established, as gobgp neigh and loxicmd show', async () => {
    await t.waitEstablished(LB1.name, [ROUTER.ipv4, ROUTER.ipv6, WORKER.ipv4]);
    await t.waitEstablished(LB2.name, [ROUTER.ipv4, ROUTER.ipv6, WORKER.ipv4]);
    await t.waitEstablished(WORKER.name, [LB1.ipv4, LB2.ipv4]);
    const neigh = await t.gobgp(LB1.name, 'neighbor');
    assert.match(neigh, new RegExp(`${ROUTER.ipv4.replace(/\./g, '\\.')}\\s+65101\\s+\\S+\\s+Establ`));
    const policy = await t.gobgp(LB1.name, 'global', 'policy');
    assert.match(policy, /Name set-next-hop-self-gpolicy:\s+StatementName set-next-hop-self-gstmt:[\s\S]*Nexthop:\s+self/);
    const table = await t.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'bgpneigh']);
    assert.match(table, /\| 192\.168\.80\.1 +\| +65101 \| \d\d:\d\d:\d\d \| ESTABLISHED \|/);
  });

  it('the worker removed a stale proto bgp route at start', async () => {
    await waitFor(async () => !(STALE in (await t.kernelBgpRoutes(WORKER.name))), { timeoutMs: 10_000, what: 'stale route removal' });
  });

  it('the router gets the VIP from both LBs with MED 10 and 20 and prefers the MASTER', async () => {
    await setRole(LB1.name, 'MASTER');
    await setRole(LB2.name, 'BACKUP');
    for (const lb of [LB1, LB2]) await t.mustApi(lb.name, 'POST', '/config/loadbalancer', rule(VIP));
    const paths = await waitFor(async () => {
      const p = await routerPaths(`${VIP}/32`);
      return p.length === 2 && p.some((r) => r.primary) ? p : undefined;
    }, { timeoutMs: 15_000, what: 'two paths for the VIP at the router' });
    const byVia = Object.fromEntries(paths.map((p) => [p.via, p]));
    assert.equal(byVia[LB1.ipv4]?.med, 10);
    assert.equal(byVia[LB2.ipv4]?.med, 20);
    assert.equal(byVia[LB1.ipv4]?.primary, true, 'the MASTER path is best');
    assert.equal(byVia[LB1.ipv4]?.asPath, '64512');
    const lb = await t.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'lb']);
    assert.match(lb, /\| 123\.123\.123\.1 \| 55002 \| tcp +\| default_nginx-lb1:llb-inst0 \|/);
    const ha = await t.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'hastate']);
    assert.match(ha, /\| llb-inst0 +\| MASTER +\|/);
    // The benches poll BIRD over its control socket (Bird.query): it must read what birdc prints, errors included.
    for (const cmd of ['show route count', `show route for ${VIP}/32 all`, 'show protocols']) {
      assert.equal(await t.bird.query(cmd), await t.bird.birdc(cmd), cmd);
    }
    await assert.rejects(t.bird.query('show route protocol no_such_protocol'), /BIRD answered 8\d{3}|BIRD answered 9\d{3}/);
    await assert.rejects(t.bird.birdc('show route protocol no_such_protocol'));
    assert.match(await t.bird.query('show status'), /Daemon is up and running/, 'the connection outlives an error reply');
  });

  it('an iBGP peer (the worker) sees local-pref 5000 and 100, and installs the MASTER path as proto bgp', async () => {
    const rib = await waitFor(async () => {
      const r = (await t.gobgpJson(WORKER.name, 'global', 'rib'))[`${VIP}/32`] as { attrs: { type: number; value?: number; nexthop?: string }[] }[] | undefined;
      return r && r.length === 2 ? r : undefined;
    }, { timeoutMs: 15_000, what: 'two iBGP paths at the worker' });
    const lp = (p: (typeof rib)[number]) => p.attrs.find((a) => a.type === 5)?.value;
    const nh = (p: (typeof rib)[number]) => p.attrs.find((a) => a.type === 3)?.nexthop;
    assert.deepEqual(Object.fromEntries(rib.map((p) => [nh(p), lp(p)])), { [LB1.ipv4]: 5000, [LB2.ipv4]: 100 });
    await waitFor(async () => (await t.kernelBgpRoutes(WORKER.name))[VIP] === LB1.ipv4, { timeoutMs: 10_000, what: 'worker kernel route via lb1' });
    const shown = await t.lab.run(WORKER.name, ['ip', 'route', 'show', VIP]);
    assert.match(shown, /123\.123\.123\.1 via 192\.168\.80\.10 dev \S+ proto bgp/);
  });

  it('an IPv6 VIP reaches the router over the IPv6 session with an IPv6 next-hop', async () => {
    for (const lb of [LB1, LB2]) await t.mustApi(lb.name, 'POST', '/config/loadbalancer', rule(VIP6, 443));
    const paths = await waitFor(async () => {
      const p = await routerPaths(`${VIP6}/128`);
      return p.length === 2 ? p : undefined;
    }, { timeoutMs: 15_000, what: 'two IPv6 paths at the router' });
    const best = paths.find((p) => p.primary)!;
    assert.equal(best.via, LB1.ipv6);
    assert.equal(best.med, 10);
    assert.equal(best.fromProtocol, 'n_fd00_80__10');
    assert.equal(paths.find((p) => !p.primary)?.med, 20);
  });

  it('a role flip moves the best path at the router and the route at the worker', async () => {
    await Promise.all([setRole(LB1.name, 'BACKUP'), setRole(LB2.name, 'MASTER')]);
    await waitFor(async () => (await bestVia(`${VIP}/32`)) === LB2.ipv4, { timeoutMs: 10_000, what: 'router best path via lb2' });
    await waitFor(async () => (await bestVia(`${VIP6}/128`)) === LB2.ipv6, { timeoutMs: 10_000, what: 'router v6 best path via lb2' });
    const p = await routerPaths(`${VIP}/32`);
    assert.deepEqual(Object.fromEntries(p.map((r) => [r.via, r.med])), { [LB1.ipv4]: 20, [LB2.ipv4]: 10 });
    await waitFor(async () => (await t.kernelBgpRoutes(WORKER.name))[VIP] === LB2.ipv4, { timeoutMs: 10_000, what: 'worker kernel route via lb2' });
    // The flip swapped one export policy generation for the next; the old one is gone.
    const exp = await t.gobgp(LB1.name, 'global', 'policy', 'export');
    assert.deepEqual([...exp.matchAll(/^Name (\S+):/gm)].map((m) => m[1]!.replace(/g\d+$/, 'gN')), ['set-next-hop-self-gpolicy', 'loxilb-role-gN']);
    assert.equal([...(await t.gobgp(LB1.name, 'policy')).matchAll(/^Name loxilb-role-g\d+:/gm)].length, 1, 'one role policy generation left');
    assert.match(exp, /PrefixSet: any loxilb-vip4-llb-inst0\s+Actions:\s+MED:\s+20\s+LocalPref:\s+100/);
    assert.match(exp, /PrefixSet: any loxilb-vip6-llb-inst0\s+Actions:\s+MED:\s+20\s+LocalPref:\s+100/);
    // What the router is sent shows the role's MED, as operators check it.
    assert.match(await t.gobgp(LB1.name, 'neighbor', ROUTER.ipv4, 'adj-out'), /123\.123\.123\.1\/32[^\n]*\{Med: 20\}/);
    const sets = await t.gobgp(LB1.name, 'policy', 'prefix');
    assert.match(sets, /loxilb-vip4-llb-inst0 +123\.123\.123\.1\/32 32\.\.32/);
  });

  it('killing gobgpd brings every route back with no call from the user', async () => {
    const before = (await t.mustApi(LB2.name, 'GET', '/status')) as { bgp: { pid: number; restarts: number } };
    process.kill(before.bgp.pid, 'SIGKILL');
    // The router loses lb2's paths when the session dies, then gets them back.
    await waitFor(async () => (await routerPaths(`${VIP}/32`)).every((r) => r.via !== LB2.ipv4), { timeoutMs: 10_000, what: 'lb2 paths gone' });
    await waitFor(async () => (await bestVia(`${VIP}/32`)) === LB2.ipv4, { timeoutMs: 30_000, what: 'lb2 best again after gobgpd restart' });
    await waitFor(async () => (await bestVia(`${VIP6}/128`)) === LB2.ipv6, { timeoutMs: 30_000, what: 'lb2 v6 best again' });
    const after = (await t.mustApi(LB2.name, 'GET', '/status')) as { bgp: { pid: number; restarts: number; gobgpd: string } };
    assert.notEqual(after.bgp.pid, before.bgp.pid);
    assert.equal(after.bgp.restarts, before.bgp.restarts + 1);
    assert.equal(after.bgp.gobgpd, 'running');
    await t.waitEstablished(LB2.name, [ROUTER.ipv4, ROUTER.ipv6, WORKER.ipv4]);
    const policy = await t.gobgp(LB2.name, 'global', 'policy');
    assert.match(policy, /set-next-hop-self-gpolicy/);
    await waitFor(async () => (await t.kernelBgpRoutes(WORKER.name))[VIP] === LB2.ipv4, { timeoutMs: 20_000, what: 'worker route via lb2 again' });
  });

  it('bad REST bodies answer 400 naming the field and change nothing', async () => {
    const beforeRules = await t.mustApi(LB1.name, 'GET', '/config/loadbalancer/all');
    const bad: [unknown, RegExp][] = [
      [{ serviceArguments: { externalIP: '300.1.1.1', port: 80, protocol: 'tcp' }, endpoints: [] }, /externalIP/],
      [{ serviceArguments: { externalIP: '1.1.1.1', port: 80, protocol: 'tcpx' }, endpoints: [] }, /protocol/],
      [{ serviceArguments: { externalIP: '1.1.1.1', port: 80, protocol: 'tcp' } }, /endpoints/],
      ['{not json', /body/],
    ];
    for (const [body, field] of bad) {
      const r = await t.api(LB1.name, 'POST', '/config/loadbalancer', body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.message, field);
    }
    const dup = await t.api(LB1.name, 'POST', '/config/loadbalancer', rule(VIP));
    assert.equal(dup.status, 409);
    // Never accept what the datapath does not carry: each is refused by field, and its VIP never advertised.
    const REFUSED_VIP = '123.123.123.77';
    const unsupported: [Record<string, unknown>, RegExp][] = [
      [{ mode: 4 }, /serviceArguments\.mode: .*fullproxy/],
      [{ security: 1 }, /serviceArguments\.security/],
      [{ sel: 6 }, /serviceArguments\.sel/],
      [{ probetype: 'http', probeport: 80 }, /serviceArguments\.probetype/],
    ];
    for (const [over, re] of unsupported) {
      const body = rule(REFUSED_VIP);
      const r = await t.api(LB1.name, 'POST', '/config/loadbalancer', { ...body, serviceArguments: { ...body.serviceArguments, ...over } });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.message, re);
    }
    // A second rule on the same address, port and protocol (another block) cannot be told apart at L4.
    const shadow = rule(VIP);
    const clash = await t.api(LB1.name, 'POST', '/config/loadbalancer', { ...shadow, serviceArguments: { ...shadow.serviceArguments, block: 9 } });
    assert.equal(clash.status, 409);
    assert.match(clash.body.message, /already served by the rule 123\.123\.123\.1\|55002-55002\|tcp\|0\|/);
    assert.doesNotMatch(await t.gobgp(LB1.name, 'global', 'rib'), /123\.123\.123\.77/);
    const badCi = await t.api(LB1.name, 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'LEADER' });
    assert.equal(badCi.status, 400);
    assert.match(badCi.body.message, /state/);
    const badNeigh = await t.api(LB1.name, 'POST', '/config/bgp/neigh', { ipAddress: '192.168.80.1', remoteAs: 0 });
    assert.equal(badNeigh.status, 400);
    assert.match(badNeigh.body.message, /remoteAs/);
    const afterRules = await t.mustApi(LB1.name, 'GET', '/config/loadbalancer/all');
    assert.deepEqual(afterRules, beforeRules);
    assert.ok((afterRules.lbAttr as { programmed: boolean }[]).every((r) => r.programmed), 'every stored rule is in the datapath');
    assert.equal((await t.mustApi(LB1.name, 'GET', '/status')).rulesNotProgrammed, 0);
    const ha = (await t.mustApi(LB1.name, 'GET', '/config/cistate/all')) as { Attr: { state: string }[] };
    assert.equal(ha.Attr[0]?.state, 'BACKUP');
    assert.equal((await routerPaths(`${VIP}/32`)).length, 2, 'the router still has both paths');
  });

  it('a rule the datapath cannot carry yet is listed as not programmed, counted, and its VIP not advertised', async () => {
    const WAIT_VIP = '123.123.123.88';
    // dsr hands frames to the endpoint's MAC: an endpoint outside the node's subnets waits (it could appear on a new interface).
    await t.mustApi(LB1.name, 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: WAIT_VIP, port: 80, protocol: 'tcp', sel: 1, mode: 3, bgp: true, name: 'default_dsr:llb-inst0' },
      endpoints: [{ endpointIP: '10.99.0.5', targetPort: 80, weight: 1 }],
    });
    const all = (await t.mustApi(LB1.name, 'GET', '/config/loadbalancer/all')).lbAttr as { serviceArguments: { externalIP: string }; programmed: boolean; reason?: string }[];
    const waiting = all.find((r) => r.serviceArguments.externalIP === WAIT_VIP)!;
    assert.equal(waiting.programmed, false);
    assert.match(waiting.reason!, /endpoint 10\.99\.0\.5 is not in a subnet of this node/);
    const st = await t.mustApi(LB1.name, 'GET', '/status');
    assert.equal(st.rulesNotProgrammed, 1);
    assert.equal(st.status, 'degraded');
    await new Promise((r) => setTimeout(r, 500));
    assert.doesNotMatch(await t.gobgp(LB1.name, 'global', 'rib'), /123\.123\.123\.88/);
    assert.equal((await routerPaths(`${WAIT_VIP}/32`)).length, 0);
    await t.mustApi(LB1.name, 'DELETE', '/config/loadbalancer/name/default_dsr:llb-inst0');
    assert.equal((await t.mustApi(LB1.name, 'GET', '/status')).rulesNotProgrammed, 0);
  });

  it('--peer answers LB and cistate calls with 403 running in bgp only mode', async () => {
    const r = await t.api(WORKER.name, 'POST', '/config/loadbalancer', rule(VIP));
    assert.equal(r.status, 403);
    assert.match(r.body.message, /running in bgp only mode/);
    const c = await t.api(WORKER.name, 'POST', '/config/cistate', { instance: 'llb-inst0', state: 'MASTER' });
    assert.equal(c.status, 403);
    // config/params as in loxilb: refused in bgp only mode, served by an LB agent.
    assert.equal((await t.api(WORKER.name, 'GET', '/config/params')).status, 403);
  });

  it('config/params changes the running agent\'s log level', async () => {
    const before = (await t.mustApi(LB1.name, 'GET', '/config/params')).logLevel;
    await t.mustApi(LB1.name, 'POST', '/config/params', { logLevel: 'trace' });
    assert.deepEqual(await t.mustApi(LB1.name, 'GET', '/config/params'), { logLevel: 'trace' });
    // At trace the REST layer logs every answered request at debug: the change reached the children.
    await t.mustApi(LB1.name, 'GET', '/version');
    await waitFor(async () => /"msg":"REST request"/.test(t.agents.get(LB1.name)!.log()), { timeoutMs: 5000, what: 'a debug line from the REST layer' });
    const bad = await t.api(LB1.name, 'POST', '/config/params', { logLevel: 'chatty' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /invalid logLevel: must be one of trace, debug/);
    await t.mustApi(LB1.name, 'POST', '/config/params', { logLevel: before });
  });

  it('a restarted agent restores its saved rules, roles and BGP config', async () => {
    const p = t.agents.get(LB1.name)!;
    await p.stop();
    await waitFor(async () => (await routerPaths(`${VIP}/32`)).every((r) => r.via !== LB1.ipv4), { timeoutMs: 10_000, what: 'lb1 paths gone after agent stop' });
    await t.startAgent(LB1.name, ['--bgp']);
    const back = await waitFor(async () => (await routerPaths(`${VIP}/32`)).find((r) => r.via === LB1.ipv4), { timeoutMs: 30_000, what: 'lb1 path back' });
    assert.equal(back.med, 20, 'still BACKUP after the restart');
  });

  it('a restarted MASTER (roles from the API) comes back BACKUP and claims MASTER only when told, or when the wait ends with nobody MASTER', async () => {
    // lb2 is MASTER since the flip above; its ciconfig.json says so.
    const exportMed = async (node: string) => Number(/loxilb-vip4-llb-inst0\s+Actions:\s+MED:\s+(\d+)/.exec(await t.gobgp(node, 'global', 'policy', 'export'))?.[1]);
    const state = async (node: string) =>
      ((await t.mustApi(node, 'GET', '/config/cistate/all')) as { Attr: { instance: string; state: string; restoring?: { from: string } }[] }).Attr.find((s) => s.instance === 'llb-inst0');
    const restart = async (args: string[]) => {
      await t.agents.get(LB2.name)!.stop();
      await t.startAgent(LB2.name, ['--bgp', ...args]);
    };

    // Told: kube-loxilb re-tells a restarted agent its role; until then it is BACKUP.
    await restart([]);
    const first = await state(LB2.name);
    assert.equal(first?.state, 'BACKUP', 'a saved MASTER starts BACKUP');
    assert.equal(first?.restoring?.from, 'MASTER');
    assert.equal(await waitFor(async () => (await exportMed(LB2.name)) || undefined, { timeoutMs: 10_000, what: 'lb2 export policy' }), 20, 'advertised as BACKUP');
    await setRole(LB2.name, 'MASTER');
    const told = await state(LB2.name);
    assert.equal(told?.state, 'MASTER');
    assert.equal(told?.restoring, undefined);
    await waitFor(async () => (await exportMed(LB2.name)) === 10, { timeoutMs: 10_000, what: 'lb2 MED 10 once told' });

    // Not told: after --ha-init-wait, with no peer MASTER, the saved MASTER stands again.
    await restart(['--ha-init-wait=2000']);
    assert.equal((await state(LB2.name))?.state, 'BACKUP');
    await waitFor(async () => (await state(LB2.name))?.state === 'MASTER', { timeoutMs: 10_000, what: 'saved MASTER resumed after the wait' });
    assert.equal((await state(LB2.name))?.restoring, undefined);
    await waitFor(async () => (await exportMed(LB2.name)) === 10, { timeoutMs: 10_000, what: 'lb2 MED 10 after the wait' });
    await waitFor(async () => (await bestVia(`${VIP}/32`)) === LB2.ipv4, { timeoutMs: 30_000, what: 'router best path via lb2 again' });
  });

  it('a monitored rule whose endpoints all die withdraws its VIP, and re-advertises when one returns', async () => {
    const MVIP = '123.123.123.9';
    const serve = () =>
      t.lab.spawn(WORKER.name, process.execPath, ['-e', "require('net').createServer((s) => s.end()).listen(18080, '0.0.0.0')"], { logName: 'worker.echo' });
    let server = serve();
    const connects = async () =>
      (await t.lab.exec(LB1.name, [process.execPath, '-e', `require('net').connect(18080, '${WORKER.ipv4}').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`])).code === 0;
    await waitFor(connects, { timeoutMs: 5000, what: 'endpoint listening' });
    await t.mustApi(LB1.name, 'POST', '/config/loadbalancer', {
      serviceArguments: { externalIP: MVIP, port: 80, protocol: 'tcp', bgp: true, monitor: true, probetype: 'tcp', probeport: 18080, probeTimeout: 1, probeRetries: 2, name: 'default_mon:llb-inst0' },
      endpoints: [{ endpointIP: WORKER.ipv4, targetPort: 18080, weight: 1 }],
    });
    await waitFor(async () => (await routerPaths(`${MVIP}/32`)).length === 1, { timeoutMs: 10_000, what: 'monitored VIP at the router' });
    await server.stop();
    await waitFor(async () => (await routerPaths(`${MVIP}/32`)).length === 0, { timeoutMs: 10_000, what: 'VIP withdrawn once its endpoint is down' });
    const wide = await t.lab.run(LB1.name, [LOXICMD_BIN, 'get', 'lb', '-o', 'wide']);
    assert.match(wide, /192\.168\.80\.101 \| +18080 \|[^\n]*inactive/);
    server = serve();
    await waitFor(async () => (await routerPaths(`${MVIP}/32`)).length === 1, { timeoutMs: 10_000, what: 'VIP back once the endpoint answers' });
    await server.stop();
    await t.mustApi(LB1.name, 'DELETE', '/config/loadbalancer/name/default_mon:llb-inst0');
  });

  it('deleting the last rule withdraws the VIP everywhere', async () => {
    for (const lb of [LB1, LB2]) {
      await t.mustApi(lb.name, 'DELETE', `/config/loadbalancer/externalipaddress/${VIP}/port/55002/protocol/tcp?bgp=true`);
    }
    await waitFor(async () => (await routerPaths(`${VIP}/32`)).length === 0, { timeoutMs: 10_000, what: 'VIP withdrawn at the router' });
    await waitFor(async () => !(VIP in (await t.kernelBgpRoutes(WORKER.name))), { timeoutMs: 10_000, what: 'worker kernel route removed' });
    assert.equal((await routerPaths(`${VIP6}/128`)).length, 2, 'the IPv6 VIP, still used by its rule, stays');
    await t.mustApi(LB1.name, 'DELETE', '/config/loadbalancer/name/default_nginx-lb1:llb-inst0');
    await waitFor(async () => (await routerPaths(`${VIP6}/128`)).every((r) => r.via !== LB1.ipv6), { timeoutMs: 10_000, what: 'lb1 v6 path withdrawn' });
    // Nothing of ours is left in lb1's gobgpd: no role policy, no VIP sets.
    assert.doesNotMatch(await t.gobgp(LB1.name, 'policy'), /loxilb-role/);
    assert.match(await t.gobgp(LB1.name, 'policy', 'prefix'), /Nothing defined yet/);
    assert.doesNotMatch(await t.gobgp(LB2.name, 'policy', 'prefix'), /123\.123\.123\.1\//);
  });
});
