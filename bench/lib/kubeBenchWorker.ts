// The kube-loxilb benchmark's helper inside the controller's lab node, where
// the LB agents' REST APIs (http://<node>:11111) and the API-server bridge
// are reachable exactly as kube-loxilb sees them. One JSON command per line
// on stdin, one JSON answer per line on stdout ({ id, ok, result } or
// { id, ok: false, error }); see KubeBenchWorker for the bench side.
//
// Ops:
//   postRules   the baseline: the controller's own LoxiClient posting the
//               given rules to every agent (all agents at once; per agent
//               `concurrency` requests in flight, 1 = a plain loop)
//   clearRules  deletes every rule whose name starts with a prefix
//   watchRules  polls every agent's GET /status rule count (every 200 ms,
//               every 20 ms from 90% on) until it is `n`, then checks the
//               listing holds `n` rules named with a prefix; answers the
//               wall-clock time each got there (none when the count stalled
//               for `stallMs` past 90 %, or at the timeout)
//   timeList    times one GET /config/loadbalancer/all per agent
//   patchStatus the Kubernetes baseline: a plain @kubernetes/client-node
//               CoreV1Api merging status.loadBalancer.ingress into Services
//
//   node --import <abs>/node_modules/tsx/dist/loader.mjs bench/lib/kubeBenchWorker.ts
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { LoxiClient } from '../../src/kube/LoxiClient.ts';
import { LoxiApiClient } from '../../src/apiclient/LoxiApiClient.ts';
import { eachBounded } from '../../src/kube/eachBounded.ts';
import type { RuleRef } from '../../src/kube/planRules.ts';
import type { LbRule } from '../../src/lb/LbRule.ts';
import { serveOps, type Args, type Ops } from './workerProtocol.ts';


/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
const wallNow = () => performance.timeOrigin + performance.now();

/** Runs `work(i)` for i in [0, n) with at most `lanes` in flight (the controller's own eachBounded). */
function bounded(n: number, lanes: number, work: (i: number) => Promise<void>): Promise<void> {
  return eachBounded(Array.from({ length: n }, (_, i) => i), lanes, work);
}

interface NamedRule {
  serviceArguments?: { name?: string; externalIP?: string; port?: number; portMax?: number; protocol?: string; bgp?: boolean; block?: number };
}

/** The agent's rule count from GET /status (`rules`, ours and every earlier revision); -1 when absent. */
function statusRules(body: unknown): number {
  const n = (body as { rules?: unknown } | undefined)?.rules;
  return typeof n === 'number' && Number.isInteger(n) ? n : -1;
}

async function rulesOf(c: LoxiClient): Promise<NamedRule[]> {
  return (await c.listRules()) as NamedRule[];
}

const count = (rules: NamedRule[], prefix: string) => rules.filter((r) => r.serviceArguments?.name?.startsWith(prefix)).length;

const ops: Ops = {
  ping: async () => ({ pid: process.pid }),

  postRules: async (a) => {
    const rules = a.rules as LbRule[];
    const t0 = performance.now();
    const perAgent = await Promise.all(
      (a.agents as string[]).map(async (url) => {
        const c = new LoxiClient(url, { requestTimeoutMs: 30_000 });
        const s = performance.now();
        let failed = 0;
        let firstError: string | undefined;
        await bounded(rules.length, a.concurrency ?? 1, async (i) => {
          try {
            await c.postRule(rules[i]!);
          } catch (err) {
            failed++;
            firstError ??= (err as Error).message;
          }
        });
        const ms = performance.now() - s;
        c.close();
        return { url, ms, failed, firstError };
      }),
    );
    return { ms: performance.now() - t0, perAgent };
  },

  clearRules: async (a) => {
    const out: Record<string, number> = {};
    for (const url of a.agents as string[]) {
      const c = new LoxiClient(url, { requestTimeoutMs: 30_000 });
      const mine = (await rulesOf(c)).filter((r) => r.serviceArguments?.name?.startsWith(a.prefix));
      await bounded(mine.length, 8, async (i) => {
        const sa = mine[i]!.serviceArguments!;
        const ref: RuleRef = { externalIP: sa.externalIP!, port: sa.port!, protocol: sa.protocol!, bgp: sa.bgp === true, block: sa.block ?? 0 };
        if (sa.portMax && sa.portMax > ref.port) ref.portMax = sa.portMax;
        await c.deleteRule(ref);
      });
      out[url] = count(await rulesOf(c), a.prefix);
      c.close();
    }
    return { left: out };
  },

  watchRules: async (a) => {
    const deadline = performance.now() + (a.timeoutMs ?? 120_000);
    const reached: Record<string, number> = {};
    const last: Record<string, number> = {};
    await Promise.all(
      (a.agents as string[]).map(async (url) => {
        const c = new LoxiClient(url, { requestTimeoutMs: 30_000 });
        const api = new LoxiApiClient({ origin: url, timeoutMs: 30_000 });
        // A controller that has stopped short (e.g. two Services on one VIP and port make one rule)
        // is reported as stuck once its count has not moved for stallMs, past 90 %.
        let changedAt = performance.now();
        try {
          for (;;) {
            // The poll is GET /status's rule count: a GET of every rule costs the agent
            // 20-60 ms of CPU per 1,000 rules (with counters and probe states), and polled
            // every 20 ms it took most of a core from the agent being measured. The
            // listing is read once the count is there, to check the rules are ours.
            let total = -1;
            let at = 0;
            try {
              total = statusRules(await api.status());
              at = wallNow();
            } catch {
              /* counted as not there yet */
            }
            let n = total;
            if (total >= a.n) {
              try {
                n = count(await rulesOf(c), a.prefix);
              } catch {
                n = -1;
              }
            }
            if (n !== last[url]) changedAt = performance.now();
            last[url] = n;
            if (a.stallMs && n >= a.n * 0.9 && performance.now() - changedAt > a.stallMs) return;
            if (n >= a.n) {
              // The status answer said the rules were there, and every rule is ours: its arrival is when we knew.
              reached[url] = n === total ? at : wallNow();
              return;
            }
            if (performance.now() > deadline) return;
            await new Promise((r) => setTimeout(r, n >= a.n * 0.9 ? 20 : 200));
          }
        } finally {
          c.close();
          api.close();
        }
      }),
    );
    return { reached, last };
  },

  /** How long one GET /config/loadbalancer/all takes on each agent now (the poller's cost). */
  timeList: async (a) => {
    const out: Record<string, { ms: number; rules: number }> = {};
    for (const url of a.agents as string[]) {
      const c = new LoxiClient(url, { requestTimeoutMs: 30_000 });
      await rulesOf(c);
      const t0 = performance.now();
      const rules = await rulesOf(c);
      out[url] = { ms: performance.now() - t0, rules: rules.length };
      c.close();
    }
    return out;
  },

  patchStatus: async (a) => {
    const kc = new KubeConfig();
    kc.loadFromFile(a.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const items = a.items as { name: string; namespace: string; ip: string }[];
    let failed = 0;
    let firstError: string | undefined;
    const t0 = performance.now();
    await bounded(items.length, a.concurrency ?? 1, async (i) => {
      const it = items[i]!;
      try {
        await core.patchNamespacedServiceStatus(
          { name: it.name, namespace: it.namespace, body: { status: { loadBalancer: { ingress: [{ ip: it.ip }] } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    });
    return { ms: performance.now() - t0, failed, firstError };
  },
};

serveOps('kubeBenchWorker', ops);
