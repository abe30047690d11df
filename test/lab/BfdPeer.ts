// Drives test/integration/fixtures/bfdPeer.ts (a BfdManager in a child
// process inside a lab node) for the BFD interop tests: commands over its
// stdin, state-change events and replies over its stdout.
import { fileURLToPath } from 'node:url';
import type { Lab, LabProcess } from './Lab.ts';
import { StopWaiting, waitFor } from './wait.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../integration/fixtures/bfdPeer.ts', import.meta.url));

export interface StateEvent {
  event: 'state';
  instance: string;
  remoteIp: string;
  from: number;
  to: number;
  diag: number;
  remoteDiag: number;
  fromName: string;
  toName: string;
  /** Date.now() in the child when the change happened. */
  at: number;
}

export interface Reply {
  reply: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** The child running our BfdManager: commands over stdin, events and replies over stdout. */
export class BfdPeer {
  readonly events: StateEvent[] = [];
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  private partial = '';
  private stderr = '';
  private ready = false;

  private constructor(readonly proc: LabProcess) {
    const { stdout, stderr } = proc.child;
    stdout!.setEncoding('utf8');
    stdout!.on('data', (d: string) => this.onData(d));
    stderr!.setEncoding('utf8');
    stderr!.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
  }

  /**
   * Starts the child in `node`; `transport` picks its BfdTransport (default
   * the node:dgram one); `offload: false` keeps periodic transmission and
   * arrival times on the JS side even on the native transport.
   */
  static async start(lab: Lab, node: string, opts: { transport?: 'udp' | 'native'; offload?: boolean } = {}): Promise<BfdPeer> {
    const args = ['--import', 'tsx', FIXTURE, opts.transport ?? 'udp'];
    // Key files live in the lab's directory.
    const env = { ...process.env, BFD_KEY_DIR: lab.dir, ...(opts.offload === false ? { BFD_OFFLOAD: 'off' } : {}) };
    const proc = lab.spawn(node, process.execPath, args, { output: 'pipe', cwd: REPO, env });
    const peer = new BfdPeer(proc);
    await waitFor(
      () => {
        if (!proc.alive()) throw new StopWaiting(`bfd peer exited on start: ${peer.stderr}`);
        return peer.ready;
      },
      { timeoutMs: 20_000, intervalMs: 20, what: 'the bfd peer to listen' },
    );
    return peer;
  }

  async request(op: string, fields: Record<string, unknown> = {}): Promise<unknown> {
    if (!this.proc.alive()) throw new Error(`bfd peer is gone: ${this.stderr}`);
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`bfd peer did not answer ${op} in 10 s: ${this.stderr}`));
      }, 10_000);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    this.proc.child.stdin!.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    const r = await reply;
    if (!r.ok) throw new Error(`${op} failed: ${r.error}`);
    return r.result;
  }

  add(params: Record<string, unknown>): Promise<unknown> {
    return this.request('add', { params });
  }

  /** State of a session by its last event (Down before any). */
  state(instance: string, remoteIp: string): string {
    return this.eventsOf(instance, remoteIp).at(-1)?.toName ?? 'Down';
  }

  eventsOf(instance: string, remoteIp: string): StateEvent[] {
    return this.events.filter((e) => e.instance === instance && e.remoteIp === remoteIp);
  }

  async waitState(instance: string, remoteIp: string, state: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      () => {
        if (!this.proc.alive()) throw new StopWaiting(`bfd peer died: ${this.stderr}`);
        return this.state(instance, remoteIp) === state;
      },
      { timeoutMs, intervalMs: 10, what: `our session ${instance}/${remoteIp} to be ${state}` },
    );
  }

  private onData(d: string): void {
    this.partial += d;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      if (line.trim() === '') continue;
      const msg = JSON.parse(line) as { event?: string; reply?: number };
      if (msg.event === 'ready') this.ready = true;
      else if (msg.event === 'state') this.events.push(msg as StateEvent);
      else if (typeof msg.reply === 'number') {
        this.waiting.get(msg.reply)?.(msg as Reply);
        this.waiting.delete(msg.reply);
      }
    }
  }
}
