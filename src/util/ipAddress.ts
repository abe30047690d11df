// Strict address parsing, the one place addresses are read (the REST edge,
// the IPAM pools and annotations, interface addresses). ipaddr.js alone also
// accepts the inet_aton forms ("127.1", "0x7f.0.0.1", "010.0.0.1") that Go's
// net.ParseIP rejects, and IPv6 zone ids, which make no sense for a VIP or an
// endpoint. One rule for IPv4-mapped IPv6 (::ffff:a.b.c.d) everywhere: it is
// the IPv4 address, as Go's net.ParseIP(...).To4() and loxilb treat it (and
// as a dual-stack socket reports an IPv4 peer), and a prefix given in that
// form, ::ffff:a.b.c.d/96+n, is the IPv4 prefix a.b.c.d/n, as Go's IPNet
// matches it. Only what gobgpd or the kernel report as address/length keeps
// the family its length counts (prefixFamily). Family is never guessed from
// a colon: ipFamily says it, hostPort brackets for host:port.
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses a dotted-quad IPv4 or an IPv6 address; IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): IpAddress | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.process(text);
  return undefined;
}

/**
 * The text of a dotted-quad IPv4 address in its canonical form, or
 * undefined: four decimal parts 0-255, each without a leading zero (the only
 * form Go's net.ParseIP and ipaddr's isValidFourPartDecimal agree on, and
 * the one every canonical IPv4 text already has). A fast path for the REST
 * edge, where every rule carries several addresses.
 */
function canonicalIp4(text: string): string | undefined {
  return canonicalIpv4Value(text) >= 0 ? text : undefined;
}

/** The value (0 to 2^32 - 1) of a canonical dotted-quad IPv4 text, as canonicalIp4 accepts it, or -1. */
export function canonicalIpv4Value(text: string): number {
  if (text.length < 7 || text.length > 15) return -1;
  let parts = 0;
  let total = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || value > 255) return -1;
      parts++;
      total = total * 256 + value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return -1; // a leading zero: not canonical, let the full parser decide
      value = value * 10 + (c - 48);
      digits++;
    } else {
      return -1;
    }
  }
  return parts === 4 ? total : -1;
}

/** Canonical text of an address (IPv6 compressed, lower case), or undefined if invalid. */
export function normalizeIp(text: string): string | undefined {
  return canonicalIp4(text) ?? parseIp(text)?.toString();
}

export function normalizeIpv4(text: string): string | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).toString() : undefined;
}

export function ipFamily(ip: string): 4 | 6 | undefined {
  if (canonicalIp4(ip) !== undefined) return 4;
  const a = parseIp(ip);
  return a === undefined ? undefined : a.kind() === 'ipv4' ? 4 : 6;
}

/**
 * Canonical "network/length" for a CIDR, with host bits cleared so equal
 * prefixes compare equal. A bare address means a host prefix (/32 or /128).
 * An IPv6 prefix inside ::ffff:0:0/96 is that IPv4 prefix (::ffff:10.0.0.0/104
 * is 10.0.0.0/8); a shorter one stays IPv6.
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
  if (net.kind() === 'ipv6' && len >= 96 && (net as ipaddr.IPv6).isIPv4MappedAddress()) return `${(net as ipaddr.IPv6).toIPv4Address().toString()}/${len - 96}`;
  return `${net.toString()}/${len}`;
}

/**
 * The family an address is written in, where a length that goes with it
 * counts that family's bits: a BGP NLRI or a kernel address with its
 * prefixlen (::ffff:a.b.c.d/128 there is an IPv6 host route). Everything else
 * takes ipFamily.
 */
export function prefixFamily(text: string): 4 | 6 | undefined {
  if (canonicalIpv4Value(text) >= 0) return 4;
  const a = parseIpKeepFamily(text);
  return a === undefined ? undefined : a.kind() === 'ipv4' ? 4 : 6;
}

/** "host:port", an IPv6 host in brackets (as URLs, gRPC targets and listen addresses write it). */
export function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`;
}

/** A host for a URL or host:port: an IPv6 literal in brackets (the colon is what needs them). */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** In a CIDR the prefix length is relative to the written family, so no mapped-to-v4 conversion. */
function parseIpKeepFamily(text: string): IpAddress | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}

/**
 * An address as a number (IPv4 in the low 32 bits) and its family, with
 * parseIp's rules (IPv4-mapped IPv6 is IPv4), or undefined if it is none.
 */
export function ipValue(text: string): { family: 4 | 6; value: bigint } | undefined {
  const v4 = canonicalIpv4Value(text);
  if (v4 >= 0) return { family: 4, value: BigInt(v4) };
  const a = parseIp(text);
  if (!a) return undefined;
  let value = 0n;
  for (const b of a.toByteArray()) value = (value << 8n) | BigInt(b);
  return { family: a.kind() === 'ipv4' ? 4 : 6, value };
}

/** Canonical text of an address given as ipValue's number. */
export function formatIpValue(family: 4 | 6, value: bigint): string {
  const n = family === 4 ? 4 : 16;
  const bytes = new Array<number>(n);
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** Whether the text is an IPv4-mapped IPv6 address (::ffff:a.b.c.d in any spelling). */
export function isIpv4Mapped(text: string): boolean {
  if (text.includes('%') || !ipaddr.IPv6.isValid(text)) return false;
  return ipaddr.IPv6.parse(text).isIPv4MappedAddress();
}
