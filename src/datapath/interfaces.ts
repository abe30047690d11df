// Which interfaces the datapath attaches to: loxilb's --whitelist /
// --blacklist rules (reference §1). With a whitelist, only names it matches;
// otherwise everything but the blacklist and `lo`.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface InterfaceFilter {
  whitelist?: RegExp;
  blacklist?: RegExp;
}

export function usesInterface(name: string, f: InterfaceFilter): boolean {
  if (f.whitelist) return f.whitelist.test(name);
  if (name === 'lo') return false;
  return !(f.blacklist && f.blacklist.test(name));
}

export interface LinkInfo {
  name: string;
  ifindex: number;
  /** First IPv4 address, for onearm's source. */
  ipv4?: string;
  /** First global IPv6 address (not link-local), for onearm's and NAT64's IPv6 source. */
  ipv6?: string;
}

/** The links of this network namespace, read from sysfs (no netlink shell-outs). */
export function listLinks(): LinkInfo[] {
  const addrs = os.networkInterfaces();
  const out: LinkInfo[] = [];
  let names: string[];
  try {
    names = readdirSync('/sys/class/net');
  } catch {
    return out;
  }
  for (const name of names) {
    let ifindex: number;
    try {
      ifindex = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
    } catch {
      continue; // gone between readdir and read
    }
    if (!Number.isInteger(ifindex) || ifindex <= 0) continue;
    const v4 = addrs[name]?.find((a) => a.family === 'IPv4');
    const v6 = addrs[name]?.find((a) => a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80:') && a.scopeid === 0 && a.netmask !== 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    out.push({ name, ifindex, ipv4: v4?.address, ...(v6 ? { ipv6: v6.address } : {}) });
  }
  return out;
}
