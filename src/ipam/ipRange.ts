// Address ranges that VIP pools are made of: a CIDR or an inclusive
// `start-end` range, IPv4 or IPv6, as written in --cidrPools, --cidr6Pools,
// --externalCIDR and friends (reference §6.4). Addresses are handled as
// bigints so an IPv6 /64 costs no more than an IPv4 /30: nothing is ever
// enumerated up front.
import { formatIpValue, ipValue, isIpv4Mapped } from '../util/ipAddress.ts';

export type Family = 4 | 6;

export interface IpRange {
  family: Family;
  /** First and last usable address, inclusive. */
  first: bigint;
  last: bigint;
  /** The text the range was written as, for messages. */
  text: string;
}

/**
 * Strict address parsing (util/ipAddress): dotted-quad IPv4 only (no
 * inet_aton forms), IPv6 without a zone id, and an IPv4-mapped IPv6 address
 * is the IPv4 address, as the agents store it: a static IP or a --setRoles
 * address written that way is the same address as its dotted quad.
 */
export function parseAddress(text: string): { family: Family; value: bigint } | undefined {
  return ipValue(text);
}

/** Canonical text of an address (IPv6 compressed, lower case). */
export function formatAddress(family: Family, value: bigint): string {
  return formatIpValue(family, value);
}

/** Canonical text of an address, or undefined when it is not one. */
export function canonicalAddress(text: string): string | undefined {
  const a = parseAddress(text);
  return a && formatAddress(a.family, a.value);
}

export type RangeParse = { ok: true; range: IpRange } | { ok: false; reason: string };

/**
 * Parses one pool entry. A CIDR follows loxilb's allocator where it is
 * user-visible: a host part in the written address is where allocation
 * starts (`192.168.80.200/24` hands out .200 to .254; `x.y.z.1/24` starts
 * at .1), and the network address is skipped. The IPv4 broadcast address is
 * skipped for every prefix up to /30, not only for multiples of 8 as loxilb
 * does, so a /26 never hands out its broadcast address. /31, /32, /127 and
 * /128 are used whole.
 */
export function parseRange(text: string): RangeParse {
  const t = text.trim();
  if (t === '') return { ok: false, reason: 'empty entry' };
  // A pool's family is the one it is written in; agents store ::ffff:a.b.c.d as a.b.c.d, so such a
  // pool would hand out addresses that come back as IPv4 and never match what was allocated.
  const mapped = t.split(/[-/]/).map((x) => x.trim()).find(isIpv4Mapped);
  if (mapped) return { ok: false, reason: `"${t}" uses an IPv4-mapped IPv6 address (${mapped}): agents store it as IPv4; write the pool in IPv4 (a.b.c.d/n)` };
  const dash = t.indexOf('-');
  if (dash >= 0) return parseStartEnd(t, t.slice(0, dash).trim(), t.slice(dash + 1).trim());
  const slash = t.indexOf('/');
  if (slash < 0) {
    // A bare address is a pool of one, like a /32.
    const a = parseAddress(t);
    if (!a) return { ok: false, reason: `"${t}" is not a CIDR (a.b.c.d/n), a range (a.b.c.d-a.b.c.e) or an address` };
    return checked({ family: a.family, first: a.value, last: a.value, text: t });
  }
  const a = parseAddress(t.slice(0, slash));
  const lenText = t.slice(slash + 1);
  if (!a) return { ok: false, reason: `"${t}" does not start with an IP address` };
  const bits = a.family === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > bits) {
    return { ok: false, reason: `"${t}" has a prefix length that is not 0-${bits}` };
  }
  const len = Number(lenText);
  const size = 1n << BigInt(bits - len);
  const network = a.value & ~(size - 1n) & ((1n << BigInt(bits)) - 1n);
  const host = a.value - network;
  const whole = bits - len <= 1;
  const first = host > 0n ? a.value : whole ? network : network + 1n;
  let last = network + size - 1n;
  if (a.family === 4 && !whole) last -= 1n;
  if (first > last) return { ok: false, reason: `"${t}" leaves no usable address (it names the broadcast address)` };
  return checked({ family: a.family, first, last, text: t });
}

function parseStartEnd(t: string, startText: string, endText: string): RangeParse {
  const s = parseAddress(startText);
  const e = parseAddress(endText);
  if (!s || !e) return { ok: false, reason: `"${t}" is not a range of two IP addresses (a.b.c.d-a.b.c.e)` };
  if (s.family !== e.family) return { ok: false, reason: `"${t}" mixes IPv4 and IPv6` };
  if (s.value > e.value) return { ok: false, reason: `"${t}" ends before it starts` };
  return checked({ family: s.family, first: s.value, last: e.value, text: t });
}

function checked(range: IpRange): RangeParse {
  // kube-loxilb's "zero CIDR" (0.0.0.0/32: hand out the agents' own
  // addresses) is a different feature; an unspecified VIP is never valid.
  if (range.first === 0n) return { ok: false, reason: `"${range.text}" includes the unspecified address, which cannot be a VIP` };
  return { ok: true, range };
}

export function rangeSize(r: IpRange): bigint {
  return r.last - r.first + 1n;
}

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}
