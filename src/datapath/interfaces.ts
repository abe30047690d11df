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

/** An address of an interface the datapath uses, with its subnet. */
export interface LocalAddress {
  address: string;
  prefixlen: number;
  ifname: string;
}

/**
 * The node's own addresses on the interfaces the filter allows: what a
 * hostonearm rule serves, and the subnets a dsr endpoint must sit in.
 * Link-local and host-prefix addresses (VIPs the HA owner holds) are left
 * out: neither is an address of the node a client is meant to use.
 */
export function localAddresses(f: InterfaceFilter): LocalAddress[] {
  const out: LocalAddress[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs || !usesInterface(name, f)) continue;
    for (const a of addrs) {
      const prefixlen = Number(a.cidr?.split('/')[1] ?? (a.family === 'IPv4' ? 32 : 128));
      if (a.family === 'IPv6' && (a.scopeid !== 0 || a.address.toLowerCase().startsWith('fe80:'))) continue;
      if (prefixlen >= (a.family === 'IPv4' ? 32 : 128)) continue;
      out.push({ address: a.address, prefixlen, ifname: name });
    }
  }
  return out.sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
}
