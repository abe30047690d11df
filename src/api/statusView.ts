// GET /status: the agent's health in one answer, and the sentences that say
// why it is degraded. Built from figures the agent collects; the only state
// kept here is when the connection table last dropped a connection.
import type { AgentStatus, BfdStatus, DrainInfo } from './AgentApi.ts';
import type { ApiStats } from './RestServer.ts';
import type { FaultRecord } from '../util/faults.ts';
import type { SyncStatus } from '../sync/ConnSync.ts';

/** How long a refusal or a failed background task keeps /status degraded. */
export const DEGRADED_WINDOW_MS = 60_000;

export interface StatusInputs {
  now: number;
  stopping: boolean;
  draining: boolean;
  mode: AgentStatus['mode'];
  bgpEnabled: boolean;
  /** The gobgpd child's supervisor (absent without BGP). */
  gobgpd?: { state: 'stopped' | 'starting' | 'running' | 'backoff'; pid?: number; restarts: number };
  rules: number;
  rulesNotProgrammed: number;
  advertisedVips: number;
  uptimeSeconds: number;
  datapath?: NonNullable<AgentStatus['datapath']> & { stats: { ctFull: number; natPortsExhausted: number } };
  sync?: SyncStatus;
  drain?: DrainInfo;
  api?: ApiStats;
  /** Background tasks that failed within the degraded window, and all since start. */
  recentFaults: FaultRecord[];
  faults: FaultRecord[];
  bfd?: BfdStatus;
  flagsNotInEffect?: string[];
}

export class StatusView {
  /** Drops for a full connection table seen so far, and when the count last grew. */
  private ctDrops = { seen: 0, at: 0 };

  report(i: StatusInputs): AgentStatus {
    const sup = i.gobgpd;
    const gobgpd: AgentStatus['bgp']['gobgpd'] = !sup ? 'disabled' : sup.state === 'running' ? 'running' : sup.state === 'stopped' ? 'down' : 'starting';
    const degraded: string[] = [];
    if (sup && gobgpd !== 'running') degraded.push(`gobgpd is ${gobgpd}`);
    if (i.rulesNotProgrammed > 0) degraded.push(`${i.rulesNotProgrammed} rule(s) not in the datapath (see GET config/loadbalancer/all)`);
    const api = i.api;
    if (api && api.lastRefusedAt !== undefined && i.now - api.lastRefusedAt < DEGRADED_WINDOW_MS) {
      const r = api.refused;
      degraded.push(
        `REST connections refused or evicted in the last minute (since start: refused ${r.total} at the cap, ${r.perClient} per client, ${r.fdPressure} for descriptors, ${r.acceptErrors} by accept; ${api.evicted} idle ones evicted)`,
      );
    }
    if (api?.fds?.open !== undefined && api.fds.open > api.fds.limit * 0.8) degraded.push(`file descriptors: ${api.fds.open} of ${api.fds.limit} in use`);
    if (i.datapath) degraded.push(...this.connectionTableDegraded(i.datapath.connections, i.datapath.connectionCapacity, i.datapath.stats, i.now));
    for (const n of i.bfd?.notStarted ?? []) degraded.push(`BFD session with ${n.remoteIp} (${n.instance}) not started: ${n.reason}`);
    for (const f of i.recentFaults) degraded.push(`${f.source} failed ${f.count} time(s), last: ${f.lastError}`);
    return {
      status: i.stopping ? 'stopping' : i.draining ? 'draining' : degraded.length > 0 ? 'degraded' : 'ok',
      ...(degraded.length > 0 ? { degraded } : {}),
      mode: i.mode,
      bgp: { enabled: i.bgpEnabled, gobgpd, pid: sup?.pid, restarts: sup?.restarts ?? 0 },
      rules: i.rules,
      rulesNotProgrammed: i.rulesNotProgrammed,
      advertisedVips: i.advertisedVips,
      uptimeSeconds: i.uptimeSeconds,
      ...(i.datapath ? { datapath: i.datapath } : {}),
      ...(i.sync ? { sync: i.sync } : {}),
      ...(i.drain ? { drain: i.drain } : {}),
      ...(api ? { api } : {}),
      faults: i.faults,
      ...(i.bfd ? { bfd: i.bfd } : {}),
      ...(i.flagsNotInEffect?.length ? { flagsNotInEffect: i.flagsNotInEffect } : {}),
    };
  }

  /**
   * A connection table that dropped new connections in the last minute (it
   * was full: ctFull, or no free source port for a translated source:
   * natPortsExhausted), or is nine tenths full.
   */
  private connectionTableDegraded(connections: number, cap: number, stats: { ctFull: number; natPortsExhausted: number }, now: number): string[] {
    const drops = stats.ctFull + stats.natPortsExhausted;
    if (drops > this.ctDrops.seen) this.ctDrops = { seen: drops, at: now };
    if (this.ctDrops.at !== 0 && now - this.ctDrops.at < DEGRADED_WINDOW_MS) {
      return [
        `connection table full: new connections dropped in the last minute (since start: ${stats.ctFull} for a full table, ${stats.natPortsExhausted} for no free source port); ${connections} of ${cap} entries in use, --ct-max sets the size`,
      ];
    }
    if (cap > 0 && connections >= cap * 0.9) return [`connection table ${connections} of ${cap} entries in use (--ct-max sets the size)`];
    return [];
  }
}
