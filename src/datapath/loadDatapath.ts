// Loading the eBPF datapath: where the object and the pinned connection
// table live, how big the table is by default, the load itself with the
// checks that what the kernel holds is what was asked for, and what an
// operator has to fix when it fails.
import { existsSync, mkdirSync, statSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { loadNativeAddon, type NativeLbDatapath } from '../util/nativeAddon.ts';
import { errnoCode, errorMessage } from '../util/errors.ts';
import { MAX_EPS, MAX_RULES, checkLayout } from './layout.ts';

export const BPF_OBJECT_RELATIVE_PATH = 'native/build/lb.bpf.o';
const BPF_OBJECT = fileURLToPath(new URL(`../../${BPF_OBJECT_RELATIVE_PATH}`, import.meta.url));

/** Where loxilb-ts pins by default: the host's bpffs (a pod mounts it as a hostPath). */
export const DEFAULT_BPF_PIN_DIR = '/sys/fs/bpf/loxilb-ts';

/** statfs f_type of a bpffs. */
const BPF_FS_MAGIC = 0xcafe4a11;

/**
 * Where this network namespace's table is pinned, or why it cannot be: the
 * directory (made if missing) must be on a bpffs.
 */
export function connectionTablePin(root: string): { path?: string; reason?: string } {
  let ns: number;
  try {
    ns = statSync('/proc/self/ns/net').ino;
  } catch (err) {
    return { reason: `cannot read this network namespace: ${errorMessage(err)}` };
  }
  // The nearest existing ancestor tells which filesystem the directory would be on.
  let probe = path.resolve(root);
  while (!existsSync(probe)) probe = path.dirname(probe);
  try {
    if (statfsSync(probe).type !== BPF_FS_MAGIC) return { reason: `${root} is not on a bpffs (mount -t bpf bpf /sys/fs/bpf)` };
    const dir = path.join(root, `ns${ns}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return { path: path.join(dir, 'ct') };
  } catch (err) {
    return { reason: `cannot use ${root}: ${errorMessage(err)}` };
  }
}

/** The smallest and largest connection table the agent sizes by itself. */
export const CT_MAX_FLOOR = 262_144;
export const CT_MAX_CEILING = 4_194_304;
/** Kernel memory one preallocated entry takes (40-byte key, 96-byte value, hash table overhead), roughly. */
const CT_ENTRY_BYTES = 200;

/**
 * The connection table by memory: a quarter of a percent of RAM (a 24 GiB
 * node: about 320,000 entries, 64 MB of kernel memory), never fewer than
 * 262,144 entries nor more than 4,194,304.
 */
export function defaultCtMax(totalBytes = os.totalmem()): number {
  const n = Math.floor((totalBytes * 0.0025) / CT_ENTRY_BYTES);
  return Math.min(CT_MAX_CEILING, Math.max(CT_MAX_FLOOR, n));
}

/** Turns a load failure into what the operator has to fix. */
export function explainLoadError(err: unknown, objectPath: string): string {
  const code = errnoCode(err);
  const log = (err as { log?: string }).log ?? '';
  if (code === 'ENOENT' && !existsSync(objectPath)) {
    return `the eBPF datapath ${objectPath} is missing: build it with npm ci or npm run build:native (needs clang and libbpf-dev)`;
  }
  if (code === 'EPERM' || (code === 'EACCES' && !log.includes('PROG LOAD LOG'))) {
    return 'the eBPF datapath needs root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON) to load its programs; run loxilb as root';
  }
  if (log.includes('PROG LOAD LOG')) {
    const tail = log.trim().split('\n').slice(-6).join(' | ');
    return `the kernel's verifier refused the eBPF datapath (${errorMessage(err)}): ${tail}`;
  }
  return `the eBPF datapath cannot be loaded: ${errorMessage(err)} (the kernel needs BPF, BPF JIT and TC clsact support)`;
}

export interface LoadOptions {
  objectPath?: string;
  /** Connection table entries (--ct-max); default sized by memory, see defaultCtMax. */
  ctMax?: number;
  /** Rules the datapath holds (--max-rules), a power of two; address/port entries are four times that. Default MAX_RULES. */
  maxRules?: number;
  /**
   * --bpf-pin-dir: a directory on a bpffs where the connection table is
   * pinned (below it, one directory per network namespace), so an agent
   * restarted after a crash or SIGKILL adopts the running table. Empty: none.
   */
  pinDir?: string;
}

/** The connection table's pin (path undefined: not pinned, and note says why). */
export interface PinState {
  path?: string;
  adopted: boolean;
  note?: string;
}

export interface LoadedDatapath {
  dp: NativeLbDatapath;
  ctMax: number;
  pin: PinState;
  ktimeNs: () => number;
}

/** Loads and verifies the programs; throws an Error whose message names what is missing. */
export function loadDatapath(opts: LoadOptions, log: Logger): LoadedDatapath {
  const objectPath = opts.objectPath ?? BPF_OBJECT;
  const ctMax = opts.ctMax ?? defaultCtMax();
  const maxRules = opts.maxRules ?? MAX_RULES;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the eBPF datapath needs root (CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON); run loxilb as root, or with --peer for BGP only');
  }
  const addon = loadNativeAddon();
  checkLayout(addon.datapathLayout);
  let dp: NativeLbDatapath;
  const pinAt = opts.pinDir ? connectionTablePin(opts.pinDir) : { reason: 'no --bpf-pin-dir' };
  if (opts.pinDir && pinAt.reason) log.warn({ reason: pinAt.reason }, 'connection table not pinned: a restarted agent will start with an empty one');
  try {
    dp = new addon.LbDatapath(objectPath, ctMax, maxRules, pinAt.path);
  } catch (err) {
    throw new Error(explainLoadError(err, objectPath), { cause: err });
  }
  // What the kernel holds must be what was asked for: a table smaller than
  // the agent believes would refuse writes the API already acknowledged.
  const got = dp.tableSizes();
  const want = { ct: ctMax, rr_ctr: maxRules, lc_opened: maxRules * MAX_EPS, lc_closed: maxRules * MAX_EPS, lb_rules: 4 * maxRules, vips: 4 * maxRules, ep_stats: maxRules * MAX_EPS, rule_conns: maxRules, ruleMask: maxRules - 1 };
  const off = Object.entries(want).filter(([k, v]) => got[k as keyof typeof got] !== v);
  if (off.length > 0) {
    dp.close();
    throw new Error(`the eBPF datapath loaded with other table sizes than asked: ${off.map(([k, v]) => `${k} ${got[k as keyof typeof got]} (asked ${v})`).join(', ')}`);
  }
  let pin: PinState = { adopted: false, note: pinAt.reason };
  if (pinAt.path) {
    const st = dp.pinState();
    pin = { path: st.path, adopted: st.adopted, ...(st.note ? { note: st.note } : {}) };
    if (st.adopted) log.info({ path: st.path, connections: dp.ctCount() }, 'adopted the pinned connection table of an earlier run');
    if (st.note) log.warn({ path: st.path, note: st.note }, 'pinned connection table not adopted');
  }
  return { dp, ctMax, pin, ktimeNs: () => addon.ktimeNs() };
}
