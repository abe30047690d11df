// The VIPs an agent advertises, kept up to date incrementally: which
// addresses, and which HA instance each one follows. Rules and roles change
// one at a time; the BGP reconciler takes only the addresses that changed
// since its last pass, so a burst of 10,000 POSTs never re-plans the table.
//
// A VIP's MED / local-pref is not part of its path: gobgpd sets it in an
// export policy per instance (see planBgpConfig), so a role flip changes one
// policy instead of 10,000 paths.
import type { CiState, CiStateName } from '../ha/ClusterState.ts';
import type { IpFamily } from './pathCodec.ts';
import { ipFamily } from '../util/ipAddress.ts';

/** loxilb's constants: routers prefer the MASTER by MED (eBGP) and local-pref (iBGP). */
export const ROLE_ATTRIBUTES: Record<'MASTER' | 'BACKUP', { localPref: number; med: number }> = {
  MASTER: { localPref: 5000, med: 10 },
  BACKUP: { localPref: 100, med: 20 },
};

/**
 * What a draining node (SIGTERM, POST config/drain) gives every VIP while
 * the routers move to its peer: a MED above the BACKUP's, and RFC 8326's
 * GRACEFUL_SHUTDOWN community with the lowest local-pref (towards iBGP
 * peers, such as the endpoints learning fullnat's source). RFC 8326 asks for
 * 0, but gobgpd's API takes a local-pref action of 0 as no action at all
 * (the path would keep LOCAL_PATH_LOCAL_PREF and win), so 1. Routers that
 * honour the community lower it on their side too.
 */
export const GRACEFUL_SHUTDOWN_COMMUNITY = '65535:0';
export const DRAIN_ATTRIBUTES = { med: ROLE_ATTRIBUTES.BACKUP.med + 10, localPref: 1, communities: [GRACEFUL_SHUTDOWN_COMMUNITY] } as const;

/**
 * The local-pref a node gives the VIP paths it originates, in its own RIB
 * only: above any role's, so a node's best path to its own VIP is always its
 * own. Without it, a BACKUP in a BGP mesh with its MASTER (kube-loxilb
 * --setBGP) prefers the MASTER's path (local-pref 5000 over the default 100),
 * re-advertises that to its eBGP routers with no MED (a MED learned over
 * iBGP does not travel to another AS), and a router, reading no MED as 0,
 * then prefers the BACKUP. Export policies replace it per role towards iBGP
 * peers; eBGP peers never see local-pref.
 */
export const LOCAL_PATH_LOCAL_PREF = 10_000;

/**
 * The MED / local-pref an instance's VIPs carry, or undefined for none. No
 * role (NOT_DEFINED): nothing set, so every node advertises the same
 * attributes and routers can spread load with ECMP.
 */
export function roleAttributes(state: CiStateName | undefined): { med: number; localPref: number } | undefined {
  return state === 'MASTER' || state === 'BACKUP' ? { ...ROLE_ATTRIBUTES[state] } : undefined;
}

/**
 * When one address belongs to instances in different roles, the most
 * attractive advertisement wins: withholding a MASTER's VIP would black-hole
 * it. Rank 0 (FAULT, STOP): the instance must not attract traffic at all.
 */
export const ROLE_RANK: Record<CiStateName, number> = { MASTER: 3, NOT_DEFINED: 2, BACKUP: 1, FAULT: 0, STOP: 0 };

export interface VipEntry {
  ip: string;
  family: IpFamily;
  /** The instance whose role sets the VIP's attributes. */
  instance: string;
}

/** What one rule contributes: its VIPs, for its instance. Undefined: nothing (no bgp, or all endpoints dead). */
export interface VipOffer {
  instance: string;
  ips: readonly string[];
}

const UNSPECIFIED = new Set(['0.0.0.0', '::']);

export function familyOf(ip: string): IpFamily {
  return ipFamily(ip) === 6 ? 6 : 4;
}

/** Addresses are canonical (the REST edge normalised them), so string keys are exact. */
export class VipTable {
  private readonly offers = new Map<string, VipOffer>();
  /** ip -> instance -> number of offers (rules, CI vip). */
  private readonly refs = new Map<string, Map<string, number>>();
  /** instance -> ips it offers, to find what a role change touches. */
  private readonly byInstance = new Map<string, Set<string>>();
  private roles = new Map<string, CiStateName>();
  private ciVips = new Map<string, string>();
  private dirty = new Set<string>();

  /** Sets (or, with undefined, removes) what the rule under `key` offers. */
  setOffer(key: string, offer: VipOffer | undefined): void {
    const cur = this.offers.get(key);
    if (cur === offer) return;
    if (cur) this.unref(cur.instance, cur.ips);
    if (offer && offer.ips.length > 0) {
      this.offers.set(key, offer);
      this.ref(offer.instance, offer.ips);
    } else {
      this.offers.delete(key);
    }
  }

  /** Every offer at once (start-up, rollback after a failed save). */
  reset(offers: Iterable<[string, VipOffer | undefined]>): void {
    for (const key of [...this.offers.keys()]) this.setOffer(key, undefined);
    for (const [key, offer] of offers) this.setOffer(key, offer);
  }

  /** Roles and instance VIPs from the cluster states. */
  setCiStates(states: ReadonlyMap<string, CiState>): void {
    const roles = new Map<string, CiStateName>();
    const vips = new Map<string, string>();
    for (const s of states.values()) {
      roles.set(s.instance, s.state);
      if (s.vip && !UNSPECIFIED.has(s.vip)) vips.set(s.instance, s.vip);
    }
    for (const inst of new Set([...this.roles.keys(), ...roles.keys()])) {
      const before = this.roles.get(inst) ?? 'NOT_DEFINED';
      const after = roles.get(inst) ?? 'NOT_DEFINED';
      if (before === after) continue;
      const ips = this.byInstance.get(inst);
      if (!ips) continue;
      // Between advertised roles only shared addresses can change hands;
      // into or out of FAULT/STOP every VIP of the instance comes or goes.
      const all = ROLE_RANK[before] === 0 || ROLE_RANK[after] === 0;
      for (const ip of ips) if (all || (this.refs.get(ip)?.size ?? 0) > 1) this.dirty.add(ip);
    }
    this.roles = roles;
    for (const [inst, ip] of this.ciVips) if (vips.get(inst) !== ip) this.unref(inst, [ip]);
    for (const [inst, ip] of vips) if (this.ciVips.get(inst) !== ip) this.ref(inst, [ip]);
    this.ciVips = vips;
  }

  role(instance: string): CiStateName {
    return this.roles.get(instance) ?? 'NOT_DEFINED';
  }

  /** The advertised entry for an address, or undefined when it must not be advertised. */
  entry(ip: string): VipEntry | undefined {
    const insts = this.refs.get(ip);
    if (!insts) return undefined;
    let best: string | undefined;
    let bestRank = 0;
    for (const inst of insts.keys()) {
      const rank = ROLE_RANK[this.role(inst)];
      if (rank === 0) continue;
      if (best === undefined || rank > bestRank || (rank === bestRank && inst < best)) {
        best = inst;
        bestRank = rank;
      }
    }
    return best === undefined ? undefined : { ip, family: familyOf(ip), instance: best };
  }

  /** Every advertised entry. Clears the change set: the caller starts from the full picture. */
  snapshot(): Map<string, VipEntry> {
    this.dirty.clear();
    const out = new Map<string, VipEntry>();
    for (const ip of this.refs.keys()) {
      const e = this.entry(ip);
      if (e) out.set(ip, e);
    }
    return out;
  }

  /** Addresses that may have changed since the last take or snapshot, with their entry now. */
  takeChanges(): Map<string, VipEntry | undefined> {
    const out = new Map<string, VipEntry | undefined>();
    for (const ip of this.dirty) out.set(ip, this.entry(ip));
    this.dirty.clear();
    return out;
  }

  get pendingChanges(): number {
    return this.dirty.size;
  }

  private ref(instance: string, ips: readonly string[]): void {
    let own = this.byInstance.get(instance);
    if (!own) this.byInstance.set(instance, (own = new Set()));
    for (const ip of ips) {
      let insts = this.refs.get(ip);
      if (!insts) this.refs.set(ip, (insts = new Map()));
      insts.set(instance, (insts.get(instance) ?? 0) + 1);
      own.add(ip);
      this.dirty.add(ip);
    }
  }

  private unref(instance: string, ips: readonly string[]): void {
    const own = this.byInstance.get(instance);
    for (const ip of ips) {
      const insts = this.refs.get(ip);
      const n = insts?.get(instance) ?? 0;
      if (!insts || n === 0) continue;
      if (n > 1) {
        insts.set(instance, n - 1);
        continue;
      }
      insts.delete(instance);
      if (insts.size === 0) this.refs.delete(ip);
      own?.delete(ip);
      this.dirty.add(ip);
    }
    if (own && own.size === 0) this.byInstance.delete(instance);
  }
}
