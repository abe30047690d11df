// Saved agent state under --config-path, so a restarted agent comes back with
// the same rules, roles and BGP config. Files are replaced atomically
// (write + rename): a crash mid-write leaves the previous version.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { LbRule } from '../lb/LbRule.ts';
import type { CiState } from '../ha/ClusterState.ts';
import type { BgpGlobalConfig, BgpNeighborConfig } from '../bgp/BgpConfig.ts';

export interface SavedState {
  rules: LbRule[];
  ciStates: CiState[];
  bgpGlobal?: BgpGlobalConfig;
  bgpNeighbors: BgpNeighborConfig[];
}

const FILES = { rules: 'lbconfig.json', ci: 'ciconfig.json', bgp: 'bgpconfig.json' } as const;

export class ConfigStore {
  constructor(readonly dir: string) {}

  load(): SavedState {
    const read = <T>(f: string, dflt: T): T => {
      const p = path.join(this.dir, f);
      if (!fs.existsSync(p)) return dflt;
      try {
        return JSON.parse(fs.readFileSync(p, 'utf8')) as T;
      } catch (err) {
        throw new Error(`saved config ${p} is not valid JSON (${(err as Error).message}); fix or remove it`);
      }
    };
    const bgp = read<{ global?: BgpGlobalConfig; neighbors?: BgpNeighborConfig[] }>(FILES.bgp, {});
    return {
      rules: read<{ lbAttr?: LbRule[] }>(FILES.rules, {}).lbAttr ?? [],
      ciStates: read<{ Attr?: CiState[] }>(FILES.ci, {}).Attr ?? [],
      bgpGlobal: bgp.global,
      bgpNeighbors: bgp.neighbors ?? [],
    };
  }

  saveRules(rules: LbRule[]): Promise<void> {
    return this.writeAsync(FILES.rules, { lbAttr: rules });
  }
  saveCiStates(states: CiState[]): void {
    this.write(FILES.ci, { Attr: states });
  }
  saveBgp(global: BgpGlobalConfig | undefined, neighbors: BgpNeighborConfig[]): void {
    this.write(FILES.bgp, { global, neighbors });
  }

  private async writeAsync(file: string, data: unknown): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const p = path.join(this.dir, file);
    const tmp = `${p}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(data));
    await fsp.rename(tmp, p);
  }

  private write(file: string, data: unknown): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const p = path.join(this.dir, file);
    const tmp = `${p}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data, null, 1));
    fs.renameSync(tmp, p);
  }
}

/**
 * Group commit: callers that ask for a save while one is being written share
 * the next write, which stores the newest snapshot. Each caller learns whether
 * the write carrying its change succeeded.
 */
export class GroupCommit<T> {
  private next?: { snapshot: () => T; waiters: { resolve: (v: T) => void; reject: (e: unknown) => void }[] };
  private running = false;

  constructor(private readonly write: (v: T) => Promise<void>) {}

  save(snapshot: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.next) this.next = { snapshot, waiters: [] };
      this.next.snapshot = snapshot;
      this.next.waiters.push({ resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    // Let the requests already parsed in this turn join the first write.
    await new Promise((r) => setImmediate(r));
    while (this.next) {
      const job = this.next;
      this.next = undefined;
      const v = job.snapshot();
      try {
        await this.write(v);
        for (const w of job.waiters) w.resolve(v);
      } catch (err) {
        for (const w of job.waiters) w.reject(err);
      }
    }
    this.running = false;
  }
}
