// Reads and writes `proto bgp` routes of the main table with iproute2. Writes
// go through one `ip -batch` per reconcile pass, so a burst of 10,000 best-path
// changes is one process, not 10,000.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { canonicalCidr, type KernelRoute, type KernelRouteOp } from './planKernelRoutes.ts';
import { prefixFamily } from '../util/ipAddress.ts';

const run = promisify(execFile);

export interface KernelRouteDriver {
  listBgpRoutes(): Promise<Map<string, KernelRoute>>;
  localSubnets(): Promise<string[]>;
  apply(ops: KernelRouteOp[]): Promise<{ failed: string[] }>;
}

export class IprouteDriver implements KernelRouteDriver {
  constructor(private readonly ipBin = 'ip') {}

  async listBgpRoutes(): Promise<Map<string, KernelRoute>> {
    const out = new Map<string, KernelRoute>();
    for (const fam of ['-4', '-6']) {
      const { stdout } = await run(this.ipBin, ['-j', fam, 'route', 'show', 'table', 'main', 'proto', 'bgp'], { maxBuffer: 256 << 20 });
      for (const r of JSON.parse(stdout || '[]') as { dst: string; gateway?: string }[]) {
        if (!r.gateway || r.dst === 'default') continue;
        const dst = canonicalCidr(r.dst);
        out.set(dst, { dst, gateway: r.gateway });
      }
    }
    return out;
  }

  async localSubnets(): Promise<string[]> {
    const { stdout } = await run(this.ipBin, ['-j', 'addr', 'show'], { maxBuffer: 64 << 20 });
    const subnets: string[] = [];
    for (const link of JSON.parse(stdout || '[]') as { addr_info?: { local: string; prefixlen: number; scope?: string }[] }[]) {
      for (const a of link.addr_info ?? []) {
        // Host routes and link-local/loopback scopes say nothing about where VIPs live.
        if (a.scope === 'host' || a.scope === 'link') continue;
        if (a.prefixlen === (prefixFamily(a.local) === 6 ? 128 : 32)) continue;
        subnets.push(`${a.local}/${a.prefixlen}`);
      }
    }
    return subnets;
  }

  apply(ops: KernelRouteOp[]): Promise<{ failed: string[] }> {
    if (ops.length === 0) return Promise.resolve({ failed: [] });
    const lines = ops.map((o) =>
      o.op === 'replace'
        ? `route replace ${o.route.dst} via ${o.route.gateway} proto bgp`
        : `route del ${o.route.dst} via ${o.route.gateway} proto bgp`,
    );
    return new Promise((resolve, reject) => {
      const p = spawn(this.ipBin, ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.once('error', reject);
      p.once('exit', () => {
        // "Command failed -:N" names the failing line.
        const failed = [...stderr.matchAll(/Command failed -:(\d+)/g)].map((m) => `${lines[Number(m[1]) - 1]}: ${stderr.split('\n')[0]}`);
        resolve({ failed });
      });
      p.stdin.end(lines.join('\n') + '\n');
    });
  }
}
