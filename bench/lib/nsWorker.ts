// A long-running helper the benchmark starts inside a node's namespace, where
// the agent's REST API (127.0.0.1:11111) and the node's gobgpd API
// (127.0.0.1:50051) are reachable. It reads one JSON command per line on
// stdin and answers one JSON line on stdout: { id, ok, result } or
// { id, ok: false, error }. Keeping it running means a timed command starts
// with warm connections and no process start-up in the measurement.
//
//   node --import <abs>/node_modules/tsx/dist/loader.mjs bench/lib/nsWorker.ts [gobgpd-target]
import { GobgpClient } from '../../src/bgp/GobgpClient.ts';
import type { VipRoute } from '../../src/bgp/pathCodec.ts';
import { postRules, request, type PostRulesOptions } from './postRules.ts';
import { vips } from './vips.ts';
import { serveOps, type Args, type Ops } from './workerProtocol.ts';

const target = process.argv[2] ?? '127.0.0.1:50051';
let client: GobgpClient | undefined;

async function gobgp(): Promise<GobgpClient> {
  if (!client) {
    client = new GobgpClient(target);
    await client.waitReady(10_000);
  }
  return client;
}

function routes(a: { base: number; start?: number; n: number; med?: number; lp?: number }): VipRoute[] {
  return vips(a.base, a.start ?? 0, a.n).map((ip) => {
    const r: VipRoute = { ip, family: 4 };
    if (a.med !== undefined) r.med = a.med;
    if (a.lp !== undefined) r.localPref = a.lp;
    return r;
  });
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

const PREFIX_SET = 'bench-vips';
const policyName = (gen: number) => `bench-role-g${gen}`;


const ops: Ops = {
  ping: async () => ({ pid: process.pid }),

  /** Rules through the agent's REST API (see postRules.ts). */
  postRules: (a) => postRules(a as PostRulesOptions),

  /** One REST call to the agent. */
  http: async (a) => {
    const t = await timed(() => request(a.method, a.path, a.body === undefined ? undefined : JSON.stringify(a.body), { timeoutMs: a.timeoutMs ?? 60_000 }));
    return { ms: t.ms, ...t.value };
  },

  /** StartBgp and one eBGP neighbour with short timers (plain gobgpd nodes). */
  gobgpSetup: async (a) => {
    const c = await gobgp();
    await c.startBgp({ asn: a.asn, routerId: a.routerId, listenPort: 179, listenAddresses: [a.routerId] });
    await c.addPeer({ address: a.peer, peerAsn: a.peerAs, families: [4], connectRetry: 1, holdTime: 9, keepalive: 3 });
    return {};
  },

  /** AddPathStream of 10.<base>.x.y/32 paths (adds, or replaces attributes of existing ones). */
  addPaths: async (a) => {
    const c = await gobgp();
    const rs = routes(a as any);
    return { ms: (await timed(() => c.addPaths(rs))).ms };
  },

  withdrawPaths: async (a) => {
    const c = await gobgp();
    const rs = routes(a as any);
    return { ms: (await timed(() => c.withdrawPaths(rs))).ms };
  },

  /** Strategy (b) set-up: prefix set of the VIPs (32..32) and an export policy setting MED/LP, assigned to global export. */
  policySetup: async (a) => {
    const c = await gobgp();
    const t = await timed(async () => {
      await c.addPrefixSet(
        PREFIX_SET,
        vips(a.base, 0, a.n).map((ip) => ({ prefix: `${ip}/32`, min: 32, max: 32 })),
      );
      await c.addPolicy({
        name: policyName(a.gen),
        statements: [{ name: `${policyName(a.gen)}-st`, conditions: { prefixSet: PREFIX_SET }, actions: { med: a.med, localPref: a.lp } }],
      });
      await c.setGlobalExportPolicies([policyName(a.gen)]);
    });
    return { ms: t.ms };
  },

  /**
   * Strategy (b) flip: a policy with the new MED/LP replaces the assigned one
   * (gobgpd 3.10 refuses to delete an assigned policy, and statement names
   * cannot be reused, so the new one gets a new generation name), then
   * ResetPeer soft OUT makes gobgpd re-send every path through it.
   */
  policyFlip: async (a) => {
    const c = await gobgp();
    const t0 = performance.now();
    await c.addPolicy({
      name: policyName(a.gen),
      statements: [{ name: `${policyName(a.gen)}-st`, conditions: { prefixSet: PREFIX_SET }, actions: { med: a.med, localPref: a.lp } }],
    });
    await c.setGlobalExportPolicies([policyName(a.gen)]);
    await c.deletePolicy(policyName(a.prevGen));
    const tPolicy = performance.now();
    await c.resetPeerSoftOut('all');
    const tReset = performance.now();
    return { ms: tReset - t0, policyMs: tPolicy - t0, resetMs: tReset - tPolicy };
  },

  /** Policies as gobgpd lists them (to check what deletePolicy left). */
  listPolicies: async () => {
    const c = await gobgp();
    return { policies: (await c.listPolicies()).map((p) => p.name), exportPolicies: await c.globalExportPolicies() };
  },

  policyClear: async () => {
    const c = await gobgp();
    await c.setGlobalExportPolicies([]);
    return {};
  },

  table: async () => {
    const c = await gobgp();
    return c.getTable(4);
  },
};

serveOps('nsWorker', ops, () => client?.close());
