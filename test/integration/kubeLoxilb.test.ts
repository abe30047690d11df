// kube-loxilb end to end, the way the seeds deploy it in-cluster: two
// `loxilb --bgp` LB nodes, a `loxilb --peer` worker and a BIRD router in
// network namespaces (test/lab/BgpLab.ts), a real kube-apiserver with RBAC
// (test/lab/KubeApiServer.ts), and the real `bin/kube-loxilb` process
// running as its ServiceAccount with the seed's flags
// (--externalCIDR, --setBGP, --setRoles, --extBGPPeers, no --loxiURL: the
// agents are discovered from the loxilb-lb-service / loxilb-peer-service
// EndpointSlices). The controller runs in its own lab node, as its pod
// would, and reaches the API server through a Unix-socket bridge
// (test/lab/KubeApiBridge.ts). Users act through kubectl. The
// setup is test/lab/KubeLoxilbLab.ts, shared with kubeLoxilbTraffic.test.ts
// (packets through the VIPs).
//
// Then what a cluster does to it: the MASTER agent is SIGKILLed (the other
// takes over within one health period) and comes back empty, as a restarted
// DaemonSet pod would (the controller gives it BACKUP, its rules and its BGP
// config, and the MASTER never moves); the controller itself is SIGKILLed
// and started again while Services change (no Service's IP changes, none is
// given out twice); deleting the Services withdraws their VIPs at the router.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Lease } from '@kubernetes/client-node';
import { LB_NODES, ROUTER, WORKER, type NodeAddr } from '../lab/BgpLab.ts';
import { KubeLoxilbLab, POD_NAME, SET_ROLES, seedControllerArgs, type AgentRule } from '../lab/KubeLoxilbLab.ts';
import { waitFor } from '../lab/wait.ts';
import { agentOrigin } from '../../src/apiclient/origin.ts';

const [LB1, LB2] = LB_NODES as [NodeAddr, NodeAddr];
const VIP = '123.123.123.1';
/** --roleHealthPeriod: short, so a dead MASTER is replaced quickly. */
const PERIOD_MS = 500;

/** A LoadBalancer Service of our class on one TCP port (no endpoints needed: nodePort mode uses the worker). */
function lbService(name: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: ${name}
  ports:
    - port: ${port}
      targetPort: 80
  type: LoadBalancer
`;
}

const SERVICES = `apiVersion: v1
kind: Service
metadata:
  name: nginx-lb1
spec:
  externalTrafficPolicy: Local
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: nginx-test
  ports:
    - port: 55002
      targetPort: 80
  type: LoadBalancer
---
apiVersion: v1
kind: Service
metadata:
  name: udp-lb1
  annotations:
    loxilb.io/liveness: "yes"
    loxilb.io/lbmode: "fullnat"
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: udp-test
  ports:
    - port: 55003
      protocol: UDP
      targetPort: 33333
  type: LoadBalancer
---
apiVersion: v1
kind: Service
metadata:
  name: sctp-lb1
spec:
  loadBalancerClass: loxilb.io/loxilb
  selector:
    what: sctp-test
  ports:
    - port: 55004
      protocol: SCTP
      targetPort: 9999
  type: LoadBalancer
---
apiVersion: v1
kind: Service
metadata:
  name: not-ours
spec:
  loadBalancerClass: example.com/other
  selector:
    what: other
  ports:
    - port: 80
  type: LoadBalancer
`;

/** A rule as one line, to compare what two agents hold. */
function ruleLine(r: AgentRule): string {
  const sa = r.serviceArguments;
  const eps = (r.endpoints ?? []).map((e) => `${e.endpointIP}:${e.targetPort}`).sort().join(',');
  return `${sa.externalIP}:${sa.port}/${sa.protocol} ${sa.name ?? ''} -> ${eps}`;
}

describe('kube-loxilb with kubectl, a real kube-apiserver and real agents', { timeout: 300_000 }, () => {
  let k: KubeLoxilbLab;
  let t: KubeLoxilbLab['t'];

  before(async () => {
    k = await KubeLoxilbLab.create({ controllerArgs: seedControllerArgs(PERIOD_MS) });
    t = k.t;
  });

  after(async () => {
    await k?.destroy();
  });

  it('takes the Lease and configures the discovered agents (roles, BGP mesh)', async () => {
    await waitFor(
      async () => {
        k.controllerAlive();
        return (await k.api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system'))?.spec?.holderIdentity === POD_NAME;
      },
      { timeoutMs: 30_000, what: 'kube-loxilb to hold the Lease' },
    );
    // --setRoles: exactly one LB agent is MASTER, the other BACKUP, both with the --setRoles address as vip.
    const states = await waitFor(
      async () => {
        k.controllerAlive();
        const s = await Promise.all([LB1, LB2].map((n) => k.ciState(n)));
        return s.filter((x) => x?.state === 'MASTER').length === 1 && s.filter((x) => x?.state === 'BACKUP').length === 1 ? s : undefined;
      },
      { timeoutMs: 20_000, what: 'one MASTER and one BACKUP among the LB agents' },
    );
    for (const s of states) assert.equal(s!.vip, SET_ROLES);
    const master = (await k.masterNode())!;
    assert.deepEqual(k.elections().map((e) => e.to), [agentOrigin(master.ipv4)], 'one election, of the agent that reports MASTER');
    // The worker runs --peer: it takes no CI state at all.
    assert.equal((await t.api(WORKER.name, 'GET', '/config/cistate/all')).status, 403);

    await t.waitEstablished(LB1.name, [ROUTER.ipv4, LB2.ipv4, WORKER.ipv4], 60_000);
    await t.waitEstablished(LB2.name, [ROUTER.ipv4, LB1.ipv4, WORKER.ipv4], 60_000);
  });

  it('a Service applied with kubectl gets an EXTERNAL-IP, and both agents hold its rule', async () => {
    const applied = await k.mustKubectl(['apply', '-f', '-'], SERVICES);
    assert.match(applied, /service\/nginx-lb1 created/);
    const rows = await waitFor(
      async () => {
        k.controllerAlive();
        const svc = await k.getSvc();
        return ['nginx-lb1', 'udp-lb1', 'sctp-lb1'].every((n) => svc.get(n)?.['EXTERNAL-IP'] === VIP) ? svc : undefined;
      },
      { timeoutMs: 30_000, what: 'kubectl get svc to show the EXTERNAL-IP' },
    );
    assert.match(rows.get('nginx-lb1')!['PORT(S)']!, /^55002:\d+\/TCP$/);
    assert.match(rows.get('sctp-lb1')!['PORT(S)']!, /^55004:\d+\/SCTP$/);
    assert.equal(rows.get('not-ours')!['EXTERNAL-IP'], '<pending>');

    const nodePort = (name: string) => k.nodePort(name);
    for (const lb of [LB1, LB2]) {
      const rules = await waitFor(
        async () => {
          const r = await k.rulesOn(lb);
          return r.filter((x) => x.serviceArguments.externalIP === VIP).length === 2 ? r : undefined;
        },
        { timeoutMs: 20_000, what: `the rules on ${lb.name}` },
      );
      const by = new Map(rules.map((r) => [`${r.serviceArguments.port}/${r.serviceArguments.protocol}`, r]));
      const udp = by.get('55003/udp')!;
      assert.equal(udp.serviceArguments.name, 'default_udp-lb1:llb-inst0');
      assert.equal(udp.serviceArguments.mode, 2);
      assert.equal(udp.serviceArguments.monitor, true);
      assert.equal(udp.serviceArguments.bgp, true);
      assert.deepEqual(udp.endpoints?.map((e) => `${e.endpointIP}:${e.targetPort}`), [`${WORKER.ipv4}:${await nodePort('udp-lb1')}`]);
      assert.deepEqual(by.get('55004/sctp')!.endpoints?.map((e) => `${e.endpointIP}:${e.targetPort}`), [`${WORKER.ipv4}:${await nodePort('sctp-lb1')}`]);
      // externalTrafficPolicy: Local with no endpoints anywhere: no rule (yet), and the user is told why.
      assert.equal(by.get('55002/tcp'), undefined);
    }
    assert.match((await k.events('nginx-lb1', 'RuleNotInstalled'))[0]?.message ?? '', /no ready IPv4 endpoints/);

    // The pod behind nginx-lb1 becomes ready on the worker: its EndpointSlice appears, so the rule does.
    k.api.create('endpointslices', {
      metadata: { name: 'nginx-lb1-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': 'nginx-lb1' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.42.2.7'], nodeName: WORKER.name, conditions: { ready: true } }],
      ports: [{ port: 80, protocol: 'TCP' }],
    });
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await k.rulesOn(lb)).some((r) => r.serviceArguments.port === 55002), { timeoutMs: 20_000, what: `nginx-lb1's rule on ${lb.name}` });
    }
    // The VIP is advertised: the router learns it from the LB nodes.
    await waitFor(async () => (await t.bird.routesFor(`${VIP}/32`)).some((r) => r.prefix === `${VIP}/32`), { timeoutMs: 30_000, what: 'the router to learn the VIP' });

    const ev = await k.events('udp-lb1', 'IPAllocated');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.reportingInstance, POD_NAME);
  });

  it('SIGKILL of the MASTER agent: the other is MASTER within one health period, and the router follows', async (tc) => {
    const old = (await k.masterNode())!;
    const other = old === LB1 ? LB2 : LB1;
    await waitFor(async () => (await k.bestVia(VIP)) === old.ipv4, { timeoutMs: 20_000, what: `the router's best path via the MASTER ${old.name}` });
    const before = k.elections().length;
    const killedAt = Date.now();
    t.agents.get(old.name)!.signal('SIGKILL');
    await waitFor(async () => (await k.ciState(other))?.state === 'MASTER', { timeoutMs: 10_000, intervalMs: 20, what: `${other.name} to report MASTER` });
    const observed = Date.now() - killedAt;
    const el = await waitFor(() => (k.elections().length > before ? k.elections().slice(before) : undefined), { timeoutMs: 5000, what: 'the election in the log' });
    assert.deepEqual(el.map((e) => e.to), [agentOrigin(other.ipv4)]);
    const elected = el[0]!.time - killedAt;
    tc.diagnostic(`elected after ${elected} ms, ${other.name} reported MASTER after ${observed} ms (health period ${PERIOD_MS} ms)`);
    // A dead agent refuses connections at once: the next health round (at most one period away) elects.
    assert.ok(elected <= PERIOD_MS + 1000, `elected ${elected} ms after the kill (period ${PERIOD_MS} ms)`);
    assert.ok(observed <= PERIOD_MS + 2500, `${other.name} reported MASTER ${observed} ms after the kill`);
    assert.equal((await k.ciState(other))!.vip, SET_ROLES);
    // The survivor keeps every rule, and the router moves to it.
    assert.equal((await k.rulesOn(other)).length, 3);
    await waitFor(async () => (await k.bestVia(VIP)) === other.ipv4, { timeoutMs: 20_000, what: `the router's best path via ${other.name}` });
  });

  it('the killed agent comes back empty: the controller gives it BACKUP, its rules and its BGP peers; the MASTER stays', async () => {
    const down = [LB1, LB2].find((n) => !t.agents.get(n.name)!.alive())!;
    const master = down === LB1 ? LB2 : LB1;
    // As a restarted DaemonSet pod (loxilb.yaml mounts no volume): no saved
    // rules, roles or BGP config, so whatever it has afterwards came from the
    // controller. BgpLab's agents keep their state in <lab dir>/<node>-config.
    rmSync(path.join(t.lab.dir, `${down.name}-config`), { recursive: true, force: true });
    const before = k.elections().length;
    // Sample the MASTER's role and the router's best path all along: neither may move.
    const samples: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [state, via] = await Promise.all([k.ciState(master).then((s) => s?.state, () => 'unreadable'), k.bestVia(VIP).catch(() => 'unreadable')]);
        samples.push(`${state} via ${via}`);
        await sleep(50);
      }
    })();
    try {
      await t.startAgent(down.name, t.lbMode(down));
      const st = await waitFor(async () => {
        const s = await k.ciState(down);
        return s?.state === 'BACKUP' ? s : undefined;
      }, { timeoutMs: 15_000, what: `${down.name} told BACKUP` });
      assert.equal(st.vip, SET_ROLES);
      const want = (await k.rulesOn(master)).map(ruleLine).sort();
      assert.equal(want.length, 3);
      await waitFor(async () => JSON.stringify((await k.rulesOn(down)).map(ruleLine).sort()) === JSON.stringify(want), {
        timeoutMs: 15_000,
        what: `${down.name} to get the MASTER's rules back`,
      });
      await t.waitEstablished(down.name, [ROUTER.ipv4, master.ipv4, WORKER.ipv4], 60_000);
      // Both paths at the router again, the MASTER's preferred.
      await waitFor(async () => (await t.bird.routesFor(`${VIP}/32`)).filter((r) => r.prefix === `${VIP}/32`).length === 2, {
        timeoutMs: 30_000,
        what: 'two paths to the VIP at the router',
      });
    } finally {
      sampling = false;
      await sampler;
    }
    const moved = samples.filter((x) => x !== `MASTER via ${master.ipv4}`);
    assert.deepEqual(moved, [], `${master.name} stays MASTER and the router's best path (${samples.length} samples)`);
    assert.equal(k.elections().length, before, 'no election while the agent came back');
    assert.equal((await k.ciState(master))?.state, 'MASTER');
    assert.equal(await k.bestVia(VIP), master.ipv4);
  });

  it('restarting the controller (SIGKILL, start again) changes no IP and gives none out twice', async (tc) => {
    // Two Services on one port: in shared mode the second cannot share the first's IP.
    await k.mustKubectl(['apply', '-f', '-'], `${lbService('web-a', 8080)}---\n${lbService('web-b', 8080)}`);
    const VIP2 = '123.123.123.2';
    await waitFor(
      async () => {
        k.controllerAlive();
        const svc = await k.getSvc();
        return svc.get('web-a')?.['EXTERNAL-IP'] === VIP && svc.get('web-b')?.['EXTERNAL-IP'] === VIP2;
      },
      { timeoutMs: 20_000, what: `web-a on ${VIP}, web-b on ${VIP2}` },
    );
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await k.rulesOn(lb)).filter((r) => r.serviceArguments.port === 8080).length === 2, { timeoutMs: 20_000, what: `the web rules on ${lb.name}` });
    }
    const before = await k.svcAddresses();
    const master = (await k.masterNode())!;
    const rulesBefore = (await k.rulesOn(master)).length;

    // The controller dies at once (no Lease release, nothing cleaned up) ...
    k.ctl!.signal('SIGKILL');
    assert.equal((await k.ctl!.exited).signal, 'SIGKILL');
    // ... and while it is gone, web-a is deleted (freeing VIP:8080) and web-c wants the same port.
    await k.mustKubectl(['delete', 'svc', 'web-a']);
    await k.mustKubectl(['apply', '-f', '-'], lbService('web-c', 8080));
    // The kubelet restarts the container: same pod, same identity, so it takes its own Lease back at once.
    const restartedAt = Date.now();
    k.startController();

    // Reconciled: the new Service has an address and the rules of web-a (deleted while nobody watched) are gone.
    const rows = await waitFor(
      async () => {
        k.controllerAlive();
        const svc = await k.getSvc();
        const ip = svc.get('web-c')?.['EXTERNAL-IP'];
        return ip && ip !== '<pending>' ? svc : undefined;
      },
      { timeoutMs: 30_000, what: 'web-c to get an EXTERNAL-IP from the new controller' },
    );
    tc.diagnostic(`web-c got ${rows.get('web-c')!['EXTERNAL-IP']} ${Date.now() - restartedAt} ms after the restart`);
    for (const lb of [LB1, LB2]) {
      await waitFor(
        async () => {
          const names = (await k.rulesOn(lb)).map((r) => r.serviceArguments.name ?? '');
          return !names.some((n) => n.startsWith('default_web-a:')) && names.some((n) => n.startsWith('default_web-c:')) && names.length === rulesBefore;
        },
        { timeoutMs: 20_000, what: `web-a's rule replaced by web-c's on ${lb.name}` },
      );
    }
    assert.equal((await k.api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system'))?.spec?.holderIdentity, POD_NAME);

    const after = await k.svcAddresses();
    for (const [name, b] of before) {
      if (name === 'web-a') continue;
      assert.deepEqual(after.get(name)?.ips, b.ips, `${name} keeps its addresses`);
    }
    // No IP:port/protocol is held by two Services.
    const claims = new Map<string, string>();
    for (const [name, a] of after) {
      for (const ip of a.ips) {
        for (const port of a.ports) {
          const k = `${ip}:${port}`;
          assert.equal(claims.get(k), undefined, `${k} given to ${claims.get(k)} and ${name}`);
          claims.set(k, name);
        }
      }
    }
    assert.notEqual(after.get('web-c')!.ips[0], VIP2, 'web-c cannot share web-b\'s IP on the same port');
    // The restored Services were not announced again.
    for (const name of ['udp-lb1', 'web-b']) {
      const ev = await k.events(name, 'IPAllocated');
      assert.deepEqual(ev.map((e) => e.count ?? 1), [1], `one IPAllocated event for ${name}`);
    }
    // The agents' roles are left as they were: the new controller keeps the MASTER they report.
    assert.equal((await k.masterNode())?.name, master.name);
    assert.deepEqual(k.elections(), [], 'no election by the restarted controller');
  });

  it('deleting the Services with kubectl removes their rules from both agents and withdraws the VIPs', async () => {
    await k.mustKubectl(['delete', 'svc', 'udp-lb1']);
    for (const lb of [LB1, LB2]) {
      await waitFor(
        async () => {
          k.controllerAlive();
          const r = await k.rulesOn(lb);
          return !r.some((x) => x.serviceArguments.port === 55003) && r.some((x) => x.serviceArguments.port === 55004);
        },
        { timeoutMs: 20_000, what: `udp-lb1's rule gone from ${lb.name}, sctp-lb1's kept` },
      );
    }
    // The VIP still has rules behind it: still advertised.
    assert.ok((await t.bird.routesFor(`${VIP}/32`)).some((r) => r.prefix === `${VIP}/32`));
    const vips = [...new Set([...(await k.svcAddresses()).values()].flatMap((a) => a.ips))];
    assert.ok(vips.includes(VIP) && vips.includes('123.123.123.2'), `VIPs in use: ${vips.join(', ')}`);
    for (const ip of vips) {
      await waitFor(async () => (await t.bird.routesFor(`${ip}/32`)).some((r) => r.prefix === `${ip}/32`), { timeoutMs: 20_000, what: `the router to have ${ip}` });
    }

    await k.mustKubectl(['delete', 'svc', 'nginx-lb1', 'sctp-lb1', 'web-b', 'web-c']);
    for (const lb of [LB1, LB2]) {
      await waitFor(async () => (await k.rulesOn(lb)).length === 0, { timeoutMs: 20_000, what: `no rules left on ${lb.name}` });
    }
    // No rule behind a VIP: the router loses its route (birdc show route for <vip>).
    for (const ip of vips) {
      await waitFor(async () => (await t.bird.routesFor(`${ip}/32`)).every((r) => r.prefix !== `${ip}/32`), { timeoutMs: 20_000, what: `the router to drop ${ip}` });
    }
    const svc = await k.getSvc();
    assert.deepEqual([...svc.keys()].sort(), ['kubernetes', 'not-ours']);
  });

  it('stops on SIGTERM and hands the Lease back', async () => {
    const exit = await k.ctl!.stop(8000);
    assert.deepEqual(exit, { code: 0, signal: null }, k.ctl!.log().split('\n').slice(-20).join('\n'));
    assert.equal((await k.api.get<V1Lease>('leases', 'kube-loxilb', 'kube-system'))?.spec?.holderIdentity ?? '', '');
  });
});
