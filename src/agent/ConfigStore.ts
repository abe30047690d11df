// Saved agent state under --config-path, so a restarted agent comes back with
// the same rules, roles and BGP config. Files are replaced atomically
// (write + rename): a crash mid-write leaves the previous version.
import fs from 'node:fs';
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

  saveRules(rules: LbRule[]): void {
    this.write(FILES.rules, { lbAttr: rules });
  }
  saveCiStates(states: CiState[]): void {
    this.write(FILES.ci, { Attr: states });
  }
  saveBgp(global: BgpGlobalConfig | undefined, neighbors: BgpNeighborConfig[]): void {
    this.write(FILES.bgp, { global, neighbors });
  }

  private write(file: string, data: unknown): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const p = path.join(this.dir, file);
    const tmp = `${p}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data, null, 1));
    fs.renameSync(tmp, p);
  }
}
