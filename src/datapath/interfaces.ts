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
    out.push({ name, ifindex, ipv4: v4?.address });
  }
  return out;
}
