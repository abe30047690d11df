// Strict address parsing for the REST edge. ipaddr.js alone also accepts the
// inet_aton forms ("127.1", "0x7f.0.0.1", "010.0.0.1") that Go's net.ParseIP
// rejects, and IPv6 zone ids, which make no sense for a VIP or an endpoint.
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses a dotted-quad IPv4 or an IPv6 address; IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): IpAddress | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.process(text);
  return undefined;
}

/** Canonical text of an address (IPv6 compressed, lower case), or undefined if invalid. */
export function normalizeIp(text: string): string | undefined {
  return parseIp(text)?.toString();
}

export function normalizeIpv4(text: string): string | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).toString() : undefined;
}

export function ipFamily(ip: string): 4 | 6 | undefined {
  const a = parseIp(ip);
  return a === undefined ? undefined : a.kind() === 'ipv4' ? 4 : 6;
}

/**
 * Canonical "network/length" for a CIDR, with host bits cleared so equal
 * prefixes compare equal. A bare address means a host prefix (/32 or /128).
 */
export function normalizePrefix(text: string): string | undefined {
  const slash = text.lastIndexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const addr = slash < 0 ? parseIp(addrText) : parseIpKeepFamily(addrText);
  if (addr === undefined) return undefined;
  const bits = addr.kind() === 'ipv4' ? 32 : 128;
  let len = bits;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
    len = Number(lenText);
    if (len > bits) return undefined;
  }
  const cidr = `${addr.toString()}/${len}`;
  const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return `${net.toString()}/${len}`;
}

/** In a CIDR the prefix length is relative to the written family, so no mapped-to-v4 conversion. */
function parseIpKeepFamily(text: string): IpAddress | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}
