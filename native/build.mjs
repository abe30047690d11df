// Builds native/build/Release/loxilb_native.node with node-gyp, offline:
// against the headers of the Node.js that runs this script (Debian's and
// NodeSource's nodejs install them under <prefix>/include/node), never
// downloaded ones. Run by the root package's `install` script, so `npm ci`
// builds the addon; `npm run build:native` rebuilds it.
//
// node-gyp is npm's bundled one: npm puts it in the environment of the
// scripts it runs (npm_config_node_gyp); outside npm we look for it next to
// npm itself.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = path.dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`native addon: ${message}`);
  process.exit(1);
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.resolve(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    path.resolve(path.dirname(process.execPath), 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((c) => c && existsSync(c));
}

function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')];
  return candidates.find((d) => d && existsSync(path.join(d, 'include', 'node', 'common.gypi')));
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) fail("cannot find node-gyp (npm's bundled copy); run this through npm (npm ci / npm run build:native)");
const nodeDir = findNodeDir();
if (!nodeDir) {
  fail(
    `no Node.js headers next to ${process.execPath} (expected ${path.resolve(path.dirname(process.execPath), '../include/node/common.gypi')}); ` +
      'install the nodejs package that ships them, or set npm_config_nodedir',
  );
}

const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', '--loglevel=warn', `--nodedir=${nodeDir}`, `--directory=${nativeDir}`], {
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodeDir },
});
if (r.error) fail(`cannot run node-gyp: ${r.error.message}`);
if (r.status !== 0) fail(`node-gyp rebuild failed (exit ${r.status ?? r.signal}); it needs g++, make, python3 and libbpf-dev (scripts/setup.sh installs them)`);

// The eBPF datapath (bpf/lb.bpf.c), after node-gyp because `rebuild` empties
// build/. -mcpu=v3 for atomic fetch-and-add with a result (round-robin).
const archInclude = `/usr/include/${process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch}-linux-gnu`;
const bpf = spawnSync(
  'clang',
  ['-O2', '-g', '-Wall', '-Werror', '-target', 'bpf', '-mcpu=v3', `-I${archInclude}`, '-c', path.join(nativeDir, 'bpf', 'lb.bpf.c'), '-o', path.join(nativeDir, 'build', 'lb.bpf.o')],
  { stdio: 'inherit' },
);
if (bpf.error) fail(`cannot run clang for the eBPF datapath: ${bpf.error.message} (scripts/setup.sh installs clang and libbpf-dev)`);
if (bpf.status !== 0) fail(`clang -target bpf failed (exit ${bpf.status ?? bpf.signal}) building native/bpf/lb.bpf.c`);
