// Makes an API server that listens on the test process's loopback (the
// lab's FakeKubeApi) reachable from inside a lab node, without giving the
// root namespace an address on the lab network: a Unix socket in the lab's
// directory crosses namespaces (it lives in the file system), so
//
//   node ns: 127.0.0.1:<port>  --tcp-->  forwarder (spawned in the node)
//            --unix socket-->  test process  --tcp-->  127.0.0.1:<api port>
//
// A controller in the node then uses http://127.0.0.1:<port> as its API
// server, exactly as a pod uses the kubernetes Service.
import net from 'node:net';
import path from 'node:path';
import { rmSync } from 'node:fs';
import type { Lab, LabProcess } from './Lab.ts';
import { waitFor } from './wait.ts';

const FORWARDER = `
const net = require('node:net');
const [port, sock] = process.argv.slice(1);
const server = net.createServer((c) => {
  const up = net.connect(sock);
  c.pipe(up); up.pipe(c);
  const end = () => { c.destroy(); up.destroy(); };
  c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

export class KubeApiBridge {
  private constructor(
    readonly url: string,
    private readonly server: net.Server,
    private readonly sockets: Set<net.Socket>,
    private readonly forwarder: LabProcess,
    private readonly socketPath: string,
  ) {}

  /** Serves `target` (host:port on our loopback) at 127.0.0.1:`port` inside `node`. */
  static async start(lab: Lab, node: string, target: { host: string; port: number; https?: boolean }, port = 6443): Promise<KubeApiBridge> {
    const socketPath = path.join(lab.dir, `kube-api-${node}.sock`);
    rmSync(socketPath, { force: true });
    const sockets = new Set<net.Socket>();
    const server = net.createServer((c) => {
      const up = net.connect(target.port, target.host);
      sockets.add(c);
      sockets.add(up);
      c.pipe(up);
      up.pipe(c);
      const end = () => {
        c.destroy();
        up.destroy();
        sockets.delete(c);
        sockets.delete(up);
      };
      c.on('error', end);
      up.on('error', end);
      c.on('close', end);
      up.on('close', end);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    const forwarder = lab.spawn(node, process.execPath, ['-e', FORWARDER, String(port), socketPath], { logName: `${node}.kube-api-bridge` });
    const bridge = new KubeApiBridge(`${target.https ? 'https' : 'http'}://127.0.0.1:${port}`, server, sockets, forwarder, socketPath);
    try {
      // The whole path, up to the API server's answer (/version is open to anyone; TLS bytes pass through untouched).
      await waitFor(async () => forwarder.alive() && (await lab.exec(node, ['curl', '-sfk', '-m', '2', `${bridge.url}/version`])).code === 0, {
        timeoutMs: 10_000,
        what: `the API bridge in ${node}`,
      });
    } catch (err) {
      await bridge.close();
      throw err;
    }
    return bridge;
  }

  async close(): Promise<void> {
    await this.forwarder.stop(1000);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
