// Per-rule traffic from the eBPF datapath: packets and bytes per endpoint
// (per-CPU counters in ep_stats, a rule id's LB_MAX_EPS slots in its
// endpoints' order) and open connections (counted by the once-a-second
// sweep into rule_conns). The counters belong to an id, and a rule changes
// id when its endpoint list changes (its rr and lc counters must restart):
// what the old id had counted is carried over here, per endpoint, so a
// rule's counters only grow while the rule exists.
import type { NativeLbDatapath } from '../util/nativeAddon.ts';
import { MAX_EPS } from './layout.ts';

/** Numbers per rule id in NativeLbDatapath.ruleCounters' answer. */
export const RULE_COUNTER_STRIDE = 1 + 2 * MAX_EPS;

export interface Traffic {
  packets: number;
  bytes: number;
}

export interface RuleTraffic extends Traffic {
  /** Connections open at the latest sweep (at most a second old). */
  active: number;
  /** By endpoint "addr:port" (endpointIP:targetPort), the rule's current endpoints. */
  endpoints: Map<string, Traffic>;
}

/** A programmed rule as the counters see it: its id and its endpoints ("addr:port") in slot order. */
export interface CountedRule {
  id: number;
  endpoints: readonly string[];
}

type Native = Pick<NativeLbDatapath, 'ruleCounters' | 'ruleCountersReset'>;

function idBuffer(ids: readonly number[]): Buffer {
  const b = Buffer.alloc(4 * ids.length);
  ids.forEach((id, i) => b.writeUInt32LE(id, 4 * i));
  return b;
}

function add(to: Map<string, Traffic>, ep: string, packets: number, bytes: number): void {
  const c = to.get(ep);
  to.set(ep, { packets: (c?.packets ?? 0) + packets, bytes: (c?.bytes ?? 0) + bytes });
}

export class RuleCounters {
  /** Rule key -> what its earlier ids counted, by endpoint (removed endpoints too: they count for the rule). */
  private readonly carried = new Map<string, Map<string, Traffic>>();

  constructor(private readonly dp: Native) {}

  /**
   * Before a pass hands ids out: rules moving to a new id keep what their
   * old one counted, and new ids start from zero (an id may have served a
   * rule that is gone).
   */
  renumber(moves: readonly ({ key: string; from: number } & Pick<CountedRule, 'endpoints'>)[], fresh: readonly number[]): void {
    if (moves.length > 0) {
      const raw = this.dp.ruleCounters(idBuffer(moves.map((m) => m.from)));
      moves.forEach((m, i) => {
        const c = this.carried.get(m.key) ?? new Map<string, Traffic>();
        m.endpoints.forEach((ep, slot) => {
          const at = i * RULE_COUNTER_STRIDE + 1 + 2 * slot;
          if (slot < MAX_EPS && (raw[at]! > 0 || raw[at + 1]! > 0)) add(c, ep, raw[at]!, raw[at + 1]!);
        });
        if (c.size > 0) this.carried.set(m.key, c);
      });
    }
    if (fresh.length > 0) this.dp.ruleCountersReset(idBuffer(fresh));
  }

  /** The rule is out of the datapath: its carried counts go with it. */
  forget(key: string): void {
    this.carried.delete(key);
  }

  /** Traffic of each programmed rule (by key), read in one call. */
  read(rules: ReadonlyMap<string, CountedRule>): Map<string, RuleTraffic> {
    const keys = [...rules.keys()];
    const out = new Map<string, RuleTraffic>();
    if (keys.length === 0) return out;
    const raw = this.dp.ruleCounters(idBuffer(keys.map((k) => rules.get(k)!.id)));
    keys.forEach((k, i) => {
      const base = i * RULE_COUNTER_STRIDE;
      const endpoints = new Map<string, Traffic>();
      let packets = 0;
      let bytes = 0;
      rules.get(k)!.endpoints.forEach((ep, slot) => {
        if (slot >= MAX_EPS) return;
        const p = raw[base + 1 + 2 * slot]!;
        const b = raw[base + 2 + 2 * slot]!;
        add(endpoints, ep, p, b);
        packets += p;
        bytes += b;
      });
      for (const [ep, c] of this.carried.get(k) ?? []) {
        if (endpoints.has(ep)) add(endpoints, ep, c.packets, c.bytes);
        packets += c.packets;
        bytes += c.bytes;
      }
      out.set(k, { packets, bytes, active: raw[base]!, endpoints });
    });
    return out;
  }
}
