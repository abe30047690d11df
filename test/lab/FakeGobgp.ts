// An in-memory stand-in for gobgpd's API (GobgpControl), for unit tests of
// the BGP reconciler and of BgpNode.
import type { GobgpControl, GlobalSpec, PeerInfo, PeerSpec, PolicySpec, PrefixSetEntry } from '../../src/bgp/GobgpControl.ts';
import type { DecodedPath, VipRoute } from '../../src/bgp/pathCodec.ts';

/**
 * An in-memory stand-in for gobgpd's API, recording calls. It refuses what
 * gobgpd 3.10 refuses, so the reconciler's ordering is checked: a statement
 * name used twice, a policy naming a missing set, deleting an assigned
 * policy or a set a policy refers to.
 */
export class FakeGobgp implements GobgpControl {
  global: GlobalSpec = { asn: 0, routerId: '', listenPort: 0 };
  peers: PeerInfo[] = [];
  exportPolicies: string[] = [];
  policies: PolicySpec[] = [];
  sets = new Map<string, Set<string>>();
  rib = new Map<string, VipRoute>();
  calls: string[] = [];
  failNext = 0;
  private maybeFail(name: string) {
    this.calls.push(name);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error(`gobgpd ${name}: connection refused`);
    }
  }
  async getBgp() { this.maybeFail('getBgp'); return { ...this.global }; }
  async listPeers() { return this.peers; }
  async globalExportPolicies() { return this.exportPolicies; }
  async listPolicies() { return structuredClone(this.policies); }
  async startBgp(g: GlobalSpec) { this.calls.push('startBgp'); this.global = g; this.rib.clear(); this.policies = []; this.exportPolicies = []; this.sets.clear(); }
  async stopBgp() { this.calls.push('stopBgp'); this.global = { asn: 0, routerId: '', listenPort: 0 }; }
  async addPolicy(p: PolicySpec) {
    this.calls.push(`addPolicy ${p.name}`);
    const names = new Set(this.policies.flatMap((q) => q.statements.map((s) => s.name)));
    for (const st of p.statements) {
      if (names.has(st.name)) throw new Error(`statement ${st.name} already defined`);
      if (st.conditions?.prefixSet && !this.sets.has(st.conditions.prefixSet)) throw new Error(`not found prefix set ${st.conditions.prefixSet}`);
    }
    this.policies.push(structuredClone(p));
  }
  async deletePolicy(name: string) {
    this.calls.push(`deletePolicy ${name}`);
    if (this.exportPolicies.includes(name)) throw new Error(`can't delete ${name}: in use`);
    this.policies = this.policies.filter((p) => p.name !== name);
  }
  async setGlobalExportPolicies(n: string[]) { this.calls.push(`setExport ${n.join(',')}`); this.exportPolicies = n; }
  async addPrefixSet(name: string, ps: PrefixSetEntry[]) {
    this.calls.push(`addSet ${name} ${ps.length}`);
    let s = this.sets.get(name);
    if (!s) this.sets.set(name, (s = new Set()));
    for (const p of ps) s.add(p.prefix);
  }
  async deletePrefixes(name: string, ps: PrefixSetEntry[]) { this.calls.push(`delPrefixes ${name} ${ps.length}`); for (const p of ps) this.sets.get(name)?.delete(p.prefix); }
  async deletePrefixSet(name: string) {
    this.calls.push(`delSet ${name}`);
    if (this.policies.some((p) => p.statements.some((s) => s.conditions?.prefixSet === name))) throw new Error(`prefix set ${name} is in use`);
    this.sets.delete(name);
  }
  async listPrefixSets() { return [...this.sets].map(([name, s]) => ({ name, prefixes: [...s].map((prefix) => ({ prefix, min: 32, max: 32 })) })); }
  async addPeer(p: PeerSpec) { this.calls.push(`addPeer ${p.address}`); this.peers.push({ address: p.address, peerAsn: p.peerAsn, remotePort: p.remotePort ?? 179, multihopTtl: p.multihopTtl ?? 0, families: p.families, sessionState: 'ACTIVE', adminState: p.adminDown ? 'DOWN' : 'UP', uptime: 0, downtime: 0, received: 0, accepted: 0, advertised: 0 }); }
  async deletePeer(a: string) { this.calls.push(`deletePeer ${a}`); this.peers = this.peers.filter((p) => p.address !== a); }
  async disablePeer(a: string) { this.calls.push(`disablePeer ${a}`); this.setAdminState(a, 'DOWN'); }
  async enablePeer(a: string) { this.calls.push(`enablePeer ${a}`); this.setAdminState(a, 'UP'); }
  private setAdminState(a: string, adminState: string) {
    const p = this.peers.find((q) => q.address === a);
    if (!p) throw new Error(`gobgpd: peer ${a} not found`);
    p.adminState = adminState;
  }
  async resetPeerSoftOut() { this.calls.push('softReset'); }
  async listPaths(f: 4 | 6): Promise<DecodedPath[]> {
    this.calls.push(`listPaths${f}`);
    return [...this.rib.values()].filter((r) => r.family === f).map((r) => ({ prefix: r.ip, prefixLen: f === 4 ? 32 : 128, family: f, best: true, withdraw: false }));
  }
  async addPaths(rs: VipRoute[]) { this.calls.push(`addPaths ${rs.length}`); for (const r of rs) this.rib.set(r.ip, r); }
  async withdrawPaths(rs: VipRoute[]) { this.calls.push(`withdraw ${rs.length}`); for (const r of rs) this.rib.delete(r.ip); }

  /** MED / local-pref a peer would see for a path, after the export policies. */
  exported(ip: string): { med?: number; localPref?: number } {
    const out: { med?: number; localPref?: number } = {};
    for (const name of this.exportPolicies) {
      for (const st of this.policies.find((p) => p.name === name)?.statements ?? []) {
        if (st.conditions?.prefixSet && !this.sets.get(st.conditions.prefixSet)?.has(`${ip}/32`)) continue;
        if (st.actions.med !== undefined) out.med = st.actions.med;
        if (st.actions.localPref !== undefined) out.localPref = st.actions.localPref;
      }
    }
    return out;
  }
}
