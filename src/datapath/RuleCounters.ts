// Per-rule traffic from the eBPF datapath: packets and bytes per endpoint
// (per-CPU counters in ep_stats, a rule id's LB_MAX_EPS slots in its
// endpoints' order) and open connections (counted by the once-a-second
// sweep into rule_conns). The counters belong to an id, and a rule changes
// id when its endpoint list changes (its rr and lc counters must restart),
// while its connections keep the id they were opened under. So the old id
// stays attached to the rule and is read with it (connections that outlive
// the change still count for the rule) until the id is handed to another
// rule; then what it counted is kept here as a snapshot. A rule's counters
// only grow while the rule exists.
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
  /** Rule key -> what its earlier, since reused ids counted, by endpoint (removed endpoints too: they count for the rule). */
  private readonly carried = new Map<string, Map<string, Traffic>>();
  /** Earlier ids of a rule not handed out again: read live with the rule, by their own endpoint order. */
  private readonly attached = new Map<number, { key: string; endpoints: readonly string[] }>();

  constructor(private readonly dp: Native) {}

  /**
   * Before a pass hands ids out: rules moving to a new id keep what their
   * old one counted, and new ids start from zero (an id may have served a
   * rule that is gone).
   */
  renumber(moves: readonly ({ key: string; from: number } & Pick<CountedRule, 'endpoints'>)[], fresh: readonly number[]): void {
    // Earlier ids of some rule handed out again: what they counted becomes that rule's snapshot.
    const reused = fresh.filter((id) => this.attached.has(id));
    if (reused.length > 0) {
      const raw = this.dp.ruleCounters(idBuffer(reused));
      reused.forEach((id, i) => {
        const { key, endpoints } = this.attached.get(id)!;
        this.attached.delete(id);
        const c = this.carried.get(key) ?? new Map<string, Traffic>();
        endpoints.forEach((ep, slot) => {
          const at = i * RULE_COUNTER_STRIDE + 1 + 2 * slot;
          if (slot < MAX_EPS && (raw[at]! > 0 || raw[at + 1]! > 0)) add(c, ep, raw[at]!, raw[at + 1]!);
        });
        if (c.size > 0) this.carried.set(key, c);
      });
    }
    for (const m of moves) this.attached.set(m.from, { key: m.key, endpoints: m.endpoints });
    if (fresh.length > 0) this.dp.ruleCountersReset(idBuffer(fresh));
  }

  /** The rule is out of the datapath: what its earlier ids counted goes with it. */
  forget(key: string): void {
    this.carried.delete(key);
    for (const [id, a] of this.attached) if (a.key === key) this.attached.delete(id);
  }

  /** Traffic of each programmed rule (by key), read in one call. */
  read(rules: ReadonlyMap<string, CountedRule>): Map<string, RuleTraffic> {
    const keys = [...rules.keys()];
    const out = new Map<string, RuleTraffic>();
    if (keys.length === 0) return out;
    // The rules' ids, then the earlier ids attached to them, in one read.
    const extra = [...this.attached].filter(([, a]) => rules.has(a.key));
    const raw = this.dp.ruleCounters(idBuffer([...keys.map((k) => rules.get(k)!.id), ...extra.map(([id]) => id)]));
    const earlier = new Map<string, { at: number; endpoints: readonly string[] }[]>();
    extra.forEach(([, a], j) => earlier.set(a.key, [...(earlier.get(a.key) ?? []), { at: keys.length + j, endpoints: a.endpoints }]));
    keys.forEach((k, i) => {
      const endpoints = new Map<string, Traffic>();
      let packets = 0;
      let bytes = 0;
      const current = new Set(rules.get(k)!.endpoints);
      for (const { at, endpoints: eps } of [{ at: i, endpoints: rules.get(k)!.endpoints }, ...(earlier.get(k) ?? [])]) {
        const base = at * RULE_COUNTER_STRIDE;
        eps.forEach((ep, slot) => {
          if (slot >= MAX_EPS) return;
          const p = raw[base + 1 + 2 * slot]!;
          const b = raw[base + 2 + 2 * slot]!;
          if (current.has(ep)) add(endpoints, ep, p, b);
          packets += p;
          bytes += b;
        });
      }
      for (const [ep, c] of this.carried.get(k) ?? []) {
        if (endpoints.has(ep)) add(endpoints, ep, c.packets, c.bytes);
        packets += c.packets;
        bytes += c.bytes;
      }
      out.set(k, { packets, bytes, active: raw[i * RULE_COUNTER_STRIDE]!, endpoints });
    });
    return out;
  }
}
