// A minimal HTTP/1.1 keep-alive client for the benches' request floods: one
// request in flight per connection, the request line and headers written in
// one piece, replies read by Content-Length (the agent always sends one).
// node:http's client costs ~80 µs of CPU per request; on this 2-core VM that
// CPU comes out of what the agent, gobgpd and BIRD under test have, which a
// real client (kube-loxilb, loxicmd) on another machine never takes. This one
// costs a fraction of it. Anything it does not understand (chunked replies,
// a closed connection, a malformed status line) fails the request, naming it.
import net from 'node:net';

export interface LeanReply {
  status: number;
  body: string;
}

interface Pending {
  resolve: (r: LeanReply) => void;
  reject: (err: Error) => void;
  what: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection; `send` queues nothing: the caller waits for each reply. */
export class KeepAliveConnection {
  private readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending?: Pending;
  private closedWith?: Error;
  private readonly ready: Promise<void>;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error(`connection to ${host}:${port} closed`)));
  }

  async send(method: string, path: string, body: string | undefined, timeoutMs: number): Promise<LeanReply> {
    await this.ready;
    if (this.closedWith) throw this.closedWith;
    if (this.pending) throw new Error('one request at a time per connection');
    const what = `${method} ${path}`;
    const head =
      `${method} ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nConnection: keep-alive\r\n` +
      (body === undefined ? '\r\n' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    return new Promise<LeanReply>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.pending = {
        what,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.socket.write(head);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const p = this.pending;
    if (!p) {
      if (this.buf.length > 0) this.fail(new Error(`unexpected bytes from ${this.host}:${this.port} with no request in flight`));
      return;
    }
    const end = this.buf.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString('latin1');
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) return this.fail(new Error(`${p.what}: bad status line ${JSON.stringify(lines[0])}`));
    let length: number | undefined;
    for (const l of lines) {
      const lower = l.toLowerCase();
      if (lower.startsWith('content-length:')) length = Number(l.slice(15).trim());
      else if (lower.startsWith('transfer-encoding:')) return this.fail(new Error(`${p.what}: ${l.trim()} is not supported by this client`));
    }
    if (length === undefined || !Number.isInteger(length) || length < 0) return this.fail(new Error(`${p.what}: reply without a Content-Length`));
    if (this.buf.length < end + 4 + length) return;
    const body = this.buf.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buf = this.buf.subarray(end + 4 + length);
    this.pending = undefined;
    p.resolve({ status: Number(m[1]), body });
  }

  private fail(err: Error): void {
    this.closedWith ??= err;
    const p = this.pending;
    this.pending = undefined;
    this.socket.destroy();
    p?.reject(err);
  }
}
