// status.loadBalancer.ingress entries as kube-loxilb writes them (reference
// §6.5), and the way back from them to addresses, which is what IPAM
// restores after a restart.
import { formatAddress, parseAddress } from '../ipam/ipRange.ts';

export interface IngressEntry {
  ip?: string;
  hostname?: string;
}

/**
 * `<zone>-<ip>` as a hostname (IPv6 colons become dashes), e.g.
 * `llb-123.123.123.1`; with --noZoneName the bare address, as `ip`.
 */
export function formatIngress(ip: string, opts: { zone: string; noZoneName: boolean }): IngressEntry {
  const a = parseAddress(ip.trim());
  const text = a ? formatAddress(a.family, a.value) : ip;
  if (opts.noZoneName) return parseAddress(text) ? { ip: text } : { hostname: text };
  return { hostname: `${opts.zone}-${text.replace(/:/g, '-')}` };
}

/** The address behind an ingress entry we wrote (either form), or undefined. */
export function parseIngress(entry: IngressEntry, zone: string): string | undefined {
  const candidates: string[] = [];
  if (entry.ip) candidates.push(entry.ip);
  if (entry.hostname) {
    const h = entry.hostname;
    candidates.push(h);
    if (h.startsWith(`${zone}-`)) {
      const tail = h.slice(zone.length + 1);
      candidates.push(tail, tail.replace(/-/g, ':'));
    }
  }
  for (const c of candidates) {
    const a = parseAddress(c);
    if (a) return formatAddress(a.family, a.value);
  }
  return undefined;
}
