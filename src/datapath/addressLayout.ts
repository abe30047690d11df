// The address bytes every eBPF map shares (native/bpf/lb_maps.h): an
// lb_addr is 16 bytes, IPv6 or IPv4 in the first 4 with the rest zero, with a
// family byte beside it; an lb_key is a service (address, port, protocol).
// Also the vips and ifaddr map entries, which are only addresses. Addresses
// and ports are in network byte order, as the program compares them on the
// wire.
import ipaddr from 'ipaddr.js';
import { canonicalIpv4Value, ipFamily, parseIp } from '../util/ipAddress.ts';

/** Every address takes 16 bytes: IPv6, or IPv4 in the first 4 with the rest zero. */
export const ADDR_SIZE = 16;
export const LB_KEY_SIZE = 20;
export const VIP_KEY_SIZE = 20;
export const IF_ADDRS_SIZE = 24;

export const IPPROTO = { tcp: 6, udp: 17, sctp: 132, icmp: 1 } as const;
export type DpProtocol = keyof typeof IPPROTO;
const IPPROTO_ICMPV6 = 58;

/** The IP protocol number of a rule's protocol in one family: ICMP over IPv6 is ICMPv6. */
export function protoNumber(proto: DpProtocol, family: DpFamily): number {
  return proto === 'icmp' && family === 6 ? IPPROTO_ICMPV6 : IPPROTO[proto];
}
/** lb_addr family bytes. */
export const AF = { 4: 4, 6: 6 } as const;
export type DpFamily = 4 | 6;

/** A dotted-quad IPv4 address as 4 bytes in network order. */
export function encodeIp4(addr: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  writeIp4(b, 0, addr);
  return b;
}

/** An address of either family as the 16 bytes of an lb_addr. */
export function encodeAddr(addr: string): Buffer {
  const b = Buffer.alloc(ADDR_SIZE);
  writeAddr(b, 0, addr);
  return b;
}

/**
 * Writes an address as an lb_addr at `off` of `b` (16 bytes; IPv4 in the
 * first 4, the rest left as they are) and returns its family. IPv4-mapped
 * IPv6 is written as the IPv4 address, the family familyOfAddr gives it.
 */
export function writeAddr(b: Buffer, off: number, addr: string): DpFamily {
  const v4 = canonicalIpv4Value(addr);
  if (v4 >= 0) {
    b.writeUInt32BE(v4, off);
    return 4;
  }
  const parsed = parseIp(addr);
  if (!parsed) throw new Error(`not an IP address: ${addr}`);
  const bytes = parsed.toByteArray();
  for (let i = 0; i < bytes.length; i++) b[off + i] = bytes[i]!;
  return parsed.kind() === 'ipv4' ? 4 : 6;
}

/** A canonical dotted quad (no shorthand such as 10.1, no leading zeros, nothing wrapped) into 4 bytes of `b`. */
function writeIp4(b: Buffer, off: number, addr: string): void {
  const v4 = canonicalIpv4Value(addr);
  if (v4 < 0) throw new Error(`not a dotted-quad IPv4 address: ${addr}`);
  b.writeUInt32BE(v4, off);
}

/** The family of an address (util/ipAddress's rule: IPv4-mapped IPv6 is IPv4); 4 for one that is none (writeAddr refuses it). */
export function familyOfAddr(addr: string): DpFamily {
  // Text without a colon is no IPv6 address in any spelling: only the rest needs parsing.
  return addr.includes(':') && ipFamily(addr) === 6 ? 6 : 4;
}

function ip4str(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** The text of an lb_addr of the given family. */
export function decodeAddr(b: Buffer, off: number, family: number): string {
  if (family === 4) return ip4str(b, off);
  return ipaddr.fromByteArray([...b.subarray(off, off + 16)]).toString();
}

export interface ServiceKey {
  vip: string;
  port: number;
  proto: DpProtocol;
}

export function encodeLbKey(k: ServiceKey): Buffer {
  const b = Buffer.alloc(LB_KEY_SIZE);
  const family = writeAddr(b, 0, k.vip);
  b.writeUInt16BE(k.port, 16);
  b[18] = protoNumber(k.proto, family);
  b[19] = family;
  return b;
}

export function protoName(n: number): DpProtocol | undefined {
  return n === 6 ? 'tcp' : n === 17 ? 'udp' : n === 132 ? 'sctp' : n === 1 || n === IPPROTO_ICMPV6 ? 'icmp' : undefined;
}

export function decodeLbKey(b: Buffer, off = 0): ServiceKey | undefined {
  const proto = protoName(b[off + 18]!);
  const fam = b[off + 19];
  if (!proto || (fam !== 4 && fam !== 6)) return undefined;
  return { vip: decodeAddr(b, off, fam), port: b.readUInt16BE(off + 16), proto };
}

/** A vips map key: the address and its family. */
export function encodeVipKey(addr: string): Buffer {
  const b = Buffer.alloc(VIP_KEY_SIZE);
  encodeAddr(addr).copy(b, 0);
  b[16] = familyOfAddr(addr);
  return b;
}

/** An ifaddr map value: the interface's IPv4 and global IPv6 address (either may be absent). */
export function encodeIfAddrs(v4: string | undefined, v6: string | undefined): Buffer {
  const b = Buffer.alloc(IF_ADDRS_SIZE);
  if (v4) encodeIp4(v4).copy(b, 0);
  if (v6) encodeAddr(v6).copy(b, 8);
  return b;
}
