// After a lone gobgpd crash the VIP is back at the router within seconds:
// the supervisor restarts gobgpd at once (no backoff for a first crash), the
// reconciler reprograms it, and the session with BIRD comes back. Before,
// the backoff reset only after 30 s of uptime, and routes took 13 s (p50).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BgpLab, LB_NODES } from '../lab/BgpLab.ts';
import { waitFor } from '../lab/wait.ts';

const [LB1] = LB_NODES as [(typeof LB_NODES)[0]];
const VIP = '123.123.124.1';

describe('gobgpd crash recovery', { timeout: 240_000 }, () => {
  let t: BgpLab;
  const viaLb = async () => (await t.bird.routesFor(`${VIP}/32`)).some((r) => r.prefix === `${VIP}/32` && r.via === LB1.ipv4);

  before(async () => {
    t = await BgpLab.create({ lbCount: 1, worker: false });
    await t.configureBgp();
    await t.mustApi(LB1.name, 'POST', '/config/loadbalancer', { serviceArguments: { externalIP: VIP, port: 80, protocol: 'tcp', bgp: true, name: 'svc:llb-inst0' }, endpoints: [{ endpointIP: '192.168.80.101', targetPort: 8080, weight: 1 }] });
    await waitFor(viaLb, { timeoutMs: 30_000, what: 'the VIP at the router' });
  });
  after(async () => {
    await t?.destroy();
  });

  it('three lone crashes, 8 s apart: each time the VIP is back at the router within a few seconds', async () => {
    const took: number[] = [];
    for (let i = 0; i < 3; i++) {
      const st = (await t.mustApi(LB1.name, 'GET', '/status')) as { bgp: { pid: number } };
      const t0 = Date.now();
      process.kill(st.bgp.pid, 'SIGKILL');
      await waitFor(async () => !(await viaLb()), { timeoutMs: 15_000, intervalMs: 50, what: 'the router to lose the VIP' });
      await waitFor(viaLb, { timeoutMs: 30_000, intervalMs: 50, what: 'the VIP back at the router' });
      took.push(Date.now() - t0);
      // A stable run (5 s) between crashes: each is a lone crash again.
      await sleep(8000);
    }
    const sorted = [...took].sort((a, b) => a - b);
    process.stderr.write(`# gobgpd SIGKILL -> VIP back at BIRD: ${took.join(', ')} ms (p50 ${sorted[1]} ms)\n`);
    // 3 s is the goal (BIRD's connect/error-wait timers in the lab are 1-2 s); loose for a busy CI core.
    assert.ok(sorted[1]! <= 5000, `p50 ${sorted[1]} ms`);
    assert.ok(sorted[2]! <= 10_000, `max ${sorted[2]} ms`);
    const st = (await t.mustApi(LB1.name, 'GET', '/status')) as { bgp: { restarts: number; gobgpd: string } };
    assert.equal(st.bgp.restarts, 3);
    assert.equal(st.bgp.gobgpd, 'running');
  });
});
