// Where the real programs built from Go modules are (scripts/build-go-peers.sh
// pins their versions and builds them into ~/.cache/loxilb-ts/bin), and the
// source trees of those modules in Go's module cache (for facts such as
// kube-loxilb's manifests; nothing of them is copied into this repository).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

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

/**
 * The objects of the given kinds in YAML files of a peer's module (paths
 * relative to the module; a directory means every file in it), as one
 * kubectl List in JSON, ready for `kubectl apply -f -`.
 */
export function goPeerManifestList(name: string, paths: string[], kinds: string[]): string {
  const dir = goPeerModuleDir(name);
  const files = paths.flatMap((p) => (p.endsWith('/') ? readdirSync(path.join(dir, p)).map((f) => path.join(p, f)) : [p]));
  const items = files.flatMap((f) =>
    parseAllDocuments(readFileSync(path.join(dir, f), 'utf8'))
      .map((d) => d.toJS() as { kind?: string } | null)
      .filter((d) => !!d && kinds.includes(d.kind ?? '')),
  );
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** The Go kube-loxilb's ServiceAccount and RBAC, as its in-cluster manifest deploys them (not its Deployment). */
export const goKubeLoxilbRbac = (): string =>
  goPeerManifestList('kube-loxilb', ['manifest/in-cluster/kube-loxilb.yaml'], ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/**
 * Writes the Go kube-loxilb's --config file (it has no --kubeconfig flag):
 * its kubeconfig and, optionally, client-go's rate limit (default 5/s, bursts of 10).
 */
export function writeGoKubeLoxilbConfig(file: string, kubeconfig: string, limits?: { qps: number; burst: number }): string {
  writeFileSync(file, `clientConnection:\n  kubeconfig: ${kubeconfig}\n${limits ? `  qps: ${limits.qps}\n  burst: ${limits.burst}\n` : ''}`);
  return file;
}
