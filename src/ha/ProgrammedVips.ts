// The VIPs of the rules the datapath carries, by HA instance: what L2 VIP
// ownership holds for MASTER instances and gives back otherwise, and the
// interfaces the upstream tracker watches for them. Kept up to date rule by
// rule as datapath passes finish, so an ownership pass never walks the rule
// table (nor a BGP node's 10,000 VIPs).
import { ruleInstance, ruleVips, type LbRule } from '../lb/LbRule.ts';
import type { CiState } from './ClusterState.ts';

/** Which addresses sit in a subnet of a local interface, and on which one (VipOwner). */
export interface VipLocality {
  isLocal(addr: string): boolean;
  interfaceOf(addr: string): string | undefined;
}

export const UNSPECIFIED = new Set(['0.0.0.0', '::']);

/** Adds `delta` to the count of `vip` under `instance`, dropping what reaches zero. */
function countVip(m: Map<string, Map<string, number>>, instance: string, vip: string, delta: number): void {
  let vips = m.get(instance);
  if (!vips) m.set(instance, (vips = new Map()));
  const n = (vips.get(vip) ?? 0) + delta;
  if (n > 0) vips.set(vip, n);
  else vips.delete(vip);
  if (vips.size === 0) m.delete(instance);
}

export class ProgrammedVips {
  /** instance -> VIP -> programmed rules that serve it. */
  private readonly programmed = new Map<string, Map<string, number>>();
  /** The part of `programmed` in a subnet of a local interface: what VIP ownership walks. */
  private readonly local = new Map<string, Map<string, number>>();
  /** The rule (as programmed) each programmed key counts in `programmed`. */
  private readonly counted = new Map<string, LbRule>();
  /** The interfaces the upstream tracks, recomputed when the local VIPs change. */
  private links?: Set<string>;

  constructor(
    private readonly locality: () => VipLocality | undefined,
    private readonly roles: () => ReadonlyMap<string, CiState>,
  ) {}

  /** The datapath carries `rule` under `key` now; undefined: it carries nothing under that key. */
  set(key: string, rule: LbRule | undefined): void {
    const was = this.counted.get(key);
    if (was) {
      this.count(was, -1);
      this.counted.delete(key);
    }
    if (rule) {
      this.count(rule, 1);
      this.counted.set(key, rule);
    }
  }

  /** The interface subnets changed: which programmed VIPs are local, afresh. */
  resortLocal(): void {
    const owner = this.locality();
    this.local.clear();
    this.links = undefined;
    for (const [instance, vips] of this.programmed) {
      for (const [v, n] of vips) if (owner?.isLocal(v)) countVip(this.local, instance, v, n);
    }
  }

  /** An instance's floating address changed: the links it is on may have. */
  rolesChanged(): void {
    this.links = undefined;
  }

  /** VIPs this node must hold on an interface (MASTER instances), and every VIP it may have to give back. */
  ownership(): { wanted: Iterable<string>; all: Iterable<string> } {
    const wanted: string[] = [];
    const all: string[] = [];
    const states = this.roles();
    for (const s of states.values()) {
      if (UNSPECIFIED.has(s.vip)) continue;
      all.push(s.vip);
      if (s.state === 'MASTER') wanted.push(s.vip);
    }
    const ruleVipsOf = this.local;
    return {
      wanted: (function* () {
        yield* wanted;
        for (const [instance, vips] of ruleVipsOf) if (states.get(instance)?.state === 'MASTER') yield* vips.keys();
      })(),
      all: (function* () {
        yield* all;
        for (const vips of ruleVipsOf.values()) yield* vips.keys();
      })(),
    };
  }

  /** Interfaces that hold a subnet with one of our VIPs (L2): the upstream's links. */
  trackedLinks(): Iterable<string> {
    if (this.links) return this.links;
    const links = new Set<string>();
    const owner = this.locality();
    if (owner) {
      for (const vips of this.local.values()) for (const v of vips.keys()) {
        const i = owner.interfaceOf(v);
        if (i) links.add(i);
      }
      for (const s of this.roles().values()) {
        const i = UNSPECIFIED.has(s.vip) ? undefined : owner.interfaceOf(s.vip);
        if (i) links.add(i);
      }
    }
    this.links = links;
    return links;
  }

  private count(rule: LbRule, delta: 1 | -1): void {
    const instance = ruleInstance(rule);
    const owner = this.locality();
    this.links = undefined;
    for (const v of ruleVips(rule)) {
      countVip(this.programmed, instance, v, delta);
      if (owner?.isLocal(v)) countVip(this.local, instance, v, delta);
    }
  }
}
