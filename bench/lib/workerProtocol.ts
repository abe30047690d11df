// Worker side of the bench's line protocol (see NsWorkerHandle.ts): reads
// `{id, op, args}` lines on stdin, answers `{id, ok, result|error}` on
// stdout, announces itself with id 0, and ends when stdin closes.
import readline from 'node:readline';

export type Args = Record<string, any>;
export type Ops = Record<string, (args: Args) => Promise<unknown>>;

export function serveOps(name: string, ops: Ops, onClose: () => void = () => undefined): void {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const send = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    let msg: { id: number; op: string; args?: Args };
    try {
      msg = JSON.parse(line);
    } catch {
      process.stderr.write(`${name}: not JSON: ${line.slice(0, 200)}\n`);
      return;
    }
    const op = ops[msg.op];
    if (!op) {
      send({ id: msg.id, ok: false, error: `unknown op ${msg.op}` });
      return;
    }
    op(msg.args ?? {}).then(
      (result) => send({ id: msg.id, ok: true, result }),
      (err: unknown) => send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  rl.on('close', () => {
    onClose();
    process.exit(0);
  });
  send({ id: 0, ok: true, result: { ready: true, pid: process.pid } });
}
