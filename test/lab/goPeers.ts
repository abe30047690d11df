// Where the real programs built from Go modules are (scripts/build-go-peers.sh
// pins their versions and builds them into ~/.cache/loxilb-ts/bin), and the
// source trees of those modules in Go's module cache (for facts such as
// kube-loxilb's manifests; nothing of them is copied into this repository).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = path.join(ROOT, 'scripts/build-go-peers.sh');

export interface GoPeer {
  name: string;
  /** The built binary. */
  bin: string;
  module: string;
  version: string;
}

let cached: Map<string, GoPeer> | undefined;

/** The pinned peers, as build-go-peers.sh --print lists them. */
export function goPeers(): Map<string, GoPeer> {
  if (cached) return cached;
  const r = spawnSync('bash', [SCRIPT, '--print'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-go-peers.sh --print failed: ${r.stderr}`);
  cached = new Map();
  for (const line of r.stdout.trim().split('\n')) {
    const [name, bin, module, version] = line.split(' ');
    cached.set(name!, { name: name!, bin: bin!, module: module!, version: version! });
  }
  return cached;
}

/** The built binary of a peer; throws (naming the setup step) when it has not been built. */
export function goPeerBin(name: string): string {
  const p = goPeers().get(name);
  if (!p) throw new Error(`no Go peer called ${name} in build-go-peers.sh`);
  if (!existsSync(p.bin)) throw new Error(`${p.bin} is missing: run scripts/build-go-peers.sh (npm run setup does)`);
  return p.bin;
}

/** The source tree of a peer's module in Go's module cache (downloaded from the module proxy when missing). */
export function goPeerModuleDir(name: string): string {
  const p = goPeers().get(name);
  if (!p) throw new Error(`no Go peer called ${name} in build-go-peers.sh`);
  const r = spawnSync('go', ['mod', 'download', '-json', `${p.module}@${p.version}`], { encoding: 'utf8', cwd: ROOT });
  const dir = r.status === 0 ? (JSON.parse(r.stdout) as { Dir?: string }).Dir : undefined;
  if (!dir) throw new Error(`go mod download ${p.module}@${p.version} failed: ${r.stderr || r.stdout}`);
  return dir;
}
