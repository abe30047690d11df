// Bench side of the line-protocol workers (nsWorker.ts, kubeBenchWorker.ts):
// starts one inside a lab node (a tracked LabProcess, so Lab.destroy() stops
// it by PID) and calls its ops: `{id, op, args}` lines in, `{id, ok,
// result|error}` lines out, id 0 meaning ready.
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Lab, LabProcess } from '../../test/lab/Lab.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const TSX_LOADER = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const WORKER = path.join(HERE, 'nsWorker.ts');

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  op: string;
}

export class NsWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readyResolve!: () => void;
  private readonly ready = new Promise<void>((r) => (this.readyResolve = r));

  private constructor(
    readonly node: string,
    readonly proc: LabProcess,
    private readonly defaultCallTimeoutMs: number,
  ) {
    const rl = readline.createInterface({ input: proc.child.stdout! });
    rl.on('line', (line) => this.onLine(line));
    proc.child.stderr!.setEncoding('utf8');
    proc.child.stderr!.on('data', (d: string) => {
      for (const l of d.split('\n')) if (l.trim()) process.stderr.write(`  [worker ${node}] ${l}\n`);
    });
    void proc.exited.then((e) => {
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`worker in ${node} exited (${e.code ?? e.signal}) during ${p.op}`));
      }
      this.pending.clear();
    });
  }

  /** nsWorker.ts (gobgpd and BIRD operations) in a node. */
  static start(lab: Lab, node: string, gobgpTarget = '127.0.0.1:50051', timeoutMs = 20_000): Promise<NsWorker> {
    return NsWorker.startScript(lab, node, WORKER, [gobgpTarget], timeoutMs);
  }

  /** Any worker script speaking the same line protocol. */
  static async startScript(lab: Lab, node: string, script: string, args: string[], timeoutMs: number, callTimeoutMs = 60_000): Promise<NsWorker> {
    const proc = lab.spawn(node, process.execPath, ['--import', TSX_LOADER, script, ...args], { output: 'pipe', cwd: ROOT });
    const w = new NsWorker(node, proc, callTimeoutMs);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      w.ready,
      proc.exited.then((e) => {
        throw new Error(`worker in ${node} exited on start (${e.code ?? e.signal})`);
      }),
      new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`worker in ${node} not ready after ${timeoutMs} ms`)), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    return w;
  }

  private onLine(line: string): void {
    let msg: { id: number; ok: boolean; result?: unknown; error?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      process.stderr.write(`  [worker ${this.node}] ${line}\n`);
      return;
    }
    if (msg.id === 0) {
      this.readyResolve();
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`${this.node} ${p.op}: ${msg.error}`));
  }

  /** Calls an op; rejects on error or after timeoutMs. */
  call<T = any>(op: string, args: Record<string, unknown> = {}, timeoutMs = this.defaultCallTimeoutMs): Promise<T> {
    if (!this.proc.alive()) return Promise.reject(new Error(`worker in ${this.node} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.node} ${op}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, op });
      this.proc.child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  async close(): Promise<void> {
    this.proc.child.stdin?.end();
    await Promise.race([this.proc.exited, new Promise((r) => setTimeout(r, 2000))]);
    await this.proc.stop();
  }
}
