// Pure planning of the kernel routes that mirror BGP best paths (`proto bgp`
// in the main table): what to replace and what to delete.
import ipaddr from 'ipaddr.js';
import { prefixFamily } from '../util/ipAddress.ts';

export interface KernelRoute {
  /** CIDR, e.g. "123.123.123.1/32". */
  dst: string;
  gateway: string;
}

export interface BestPath {
  dst: string;
  nextHop?: string;
  /** Locally originated paths are never installed (the VIP lives here). */
  local: boolean;
}

export type KernelRouteOp = { op: 'replace'; route: KernelRoute } | { op: 'delete'; route: KernelRoute };

function inAnySubnet(dst: string, subnets: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][]): boolean {
  const [addr] = ipaddr.parseCIDR(dst);
  return subnets.some(([net, len]) => net.kind() === addr.kind() && addr.match(net, len));
}

/** Canonical "addr/len" so kernel and BGP spellings compare equal. */
export function canonicalCidr(dst: string): string {
  const withLen = dst.includes('/') ? dst : `${dst}/${prefixFamily(dst) === 6 ? 128 : 32}`;
  const [addr, len] = ipaddr.parseCIDR(withLen);
  return `${addr.toString()}/${len}`;
}

export function wantedKernelRoutes(best: Iterable<BestPath>, localSubnets: readonly string[]): Map<string, KernelRoute> {
  const subnets = localSubnets.map((s) => ipaddr.parseCIDR(s));
  const out = new Map<string, KernelRoute>();
  for (const p of best) {
    if (p.local || !p.nextHop) continue;
    const nh = ipaddr.parse(p.nextHop);
    if (nh.range() === 'unspecified') continue;
    const dst = canonicalCidr(p.dst);
    // Addresses of an attached subnet are reached directly, never via BGP.
    if (inAnySubnet(dst, subnets)) continue;
    out.set(dst, { dst, gateway: nh.toString() });
  }
  return out;
}

export function planKernelRoutes(wanted: ReadonlyMap<string, KernelRoute>, kernel: ReadonlyMap<string, KernelRoute>): KernelRouteOp[] {
  const ops: KernelRouteOp[] = [];
  for (const [dst, r] of kernel) if (!wanted.has(dst)) ops.push({ op: 'delete', route: r });
  for (const [dst, r] of wanted) {
    const cur = kernel.get(dst);
    if (!cur || cur.gateway !== r.gateway) ops.push({ op: 'replace', route: r });
  }
  return ops;
}
