// One TCP connection attempt, classified: the probe, the API-port check and
// anyone else who needs "is something listening there?" share it.
import net from 'node:net';

export type ConnectResult = 'connected' | 'refused' | 'failed';

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v: ConnectResult) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done('failed'));
    s.once('connect', () => done('connected'));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'failed'));
  });
}
