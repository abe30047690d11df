// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The L4 load-balancer datapath, attached at TC ingress (and egress with
 * --egr-hooks) of every interface the agent uses. Per IPv4 or IPv6 TCP/UDP
 * packet:
 *
 *   1. connection table hit: rewrite to the stored translation (which may
 *      change the family: NAT64 and its replies), count, track TCP state;
 *   2. otherwise a rule (VIP, port, protocol, family): check allowed
 *      sources, pick an endpoint (rr, hash, priority, persist, lc), build
 *      both entries of the connection (original and reply direction) and
 *      translate;
 *   3. otherwise leave the packet to the kernel untouched.
 *
 * Translated packets are forwarded here (FIB lookup, MAC rewrite, redirect),
 * so they skip netfilter on the LB node; anything the FIB cannot resolve goes
 * to the kernel. Timeouts are enforced by the sweep (lb_sweep below, run by
 * user space); the fast path only stamps last_ns.
 *
 * Packet bytes are written directly, but the L4 checksum goes through
 * bpf_l4_csum_replace: it knows the skb's checksum state, so a packet whose
 * checksum a NIC (or veth peer) completes later (CHECKSUM_PARTIAL) keeps a
 * correct pseudo-header seed, and CHECKSUM_COMPLETE stays valid.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#define L3_OFF ETH_HLEN
#define L4_OFF_V6 (ETH_HLEN + 40)
#define L4_OFF_MAX (ETH_HLEN + 60) /* the longest IPv4 header */

/*
 * Rule ids are below the rule capacity, a power of two the loader sets
 * (--max-rules) along with the sizes of the maps below that depend on it.
 */
const volatile __u32 cfg_rule_mask = LB_MAX_RULES - 1;

/* Written rarely, so not preallocated: a full table would pin 80 MB of kernel memory. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, LB_MAX_SERVICE_ENTRIES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct lb_key);
  __type(value, struct lb_rule);
} lb_rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, LB_CT_MAX);
  __type(key, struct ct_key);
  __type(value, struct ct_val);
} ct SEC(".maps");

/* Round-robin position per rule. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, LB_MAX_RULES);
  __type(key, __u32);
  __type(value, __u32);
} rr_ctr SEC(".maps");

/*
 * Least connections: connections opened per endpoint (written here) and
 * closed per endpoint (written only by the sweep). Two writers on two
 * arrays, so neither has to read-modify-write the other's counter.
 */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, LB_MAX_RULES * LB_MAX_EPS);
  __type(key, __u32);
  __type(value, __u64);
} lc_opened SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, LB_MAX_RULES * LB_MAX_EPS);
  __type(key, __u32);
  __type(value, __u64);
} lc_closed SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, LB_PERSIST_MAX);
  __type(key, struct persist_key);
  __type(value, struct persist_val);
} persist SEC(".maps");

/* ifindex -> its addresses (onearm and NAT64 sources). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct if_addrs);
} ifaddr SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, LB_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/*
 * Traffic per endpoint of each rule, per CPU so the fast path never shares a
 * cache line: user space sums the CPUs (and a rule's endpoints) when it
 * reads, at a scrape, instead of every packet paying for it.
 */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, LB_MAX_RULES * LB_MAX_EPS);
  __type(key, __u32);
  __type(value, struct ep_stat);
} ep_stats SEC(".maps");

/* Open connections per rule, counted by the sweep (its only writer). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, LB_MAX_RULES);
  __type(key, __u32);
  __type(value, struct rule_conns);
} rule_conns SEC(".maps");

/* Every address some rule serves; these answer echo requests. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, LB_MAX_SERVICE_ENTRIES);
  __type(key, struct vip_key);
  __type(value, __u32);
} vips SEC(".maps");

/*
 * Recent FIB answers. A bpf_fib_lookup for every forwarded packet was the
 * costliest helper on the path, and the IPv6 one costs more than IPv4's.
 * An answer that resolved to a neighbour (both MACs known) is reused, for
 * FIB_CACHE_NS, by packets with the same lookup inputs that are no larger
 * than a packet the answer was checked for (the lookup also checks the
 * route's MTU): a route or neighbour change is seen within that time.
 * Anything else (no neighbour yet, to the kernel, too big) is looked up
 * every time and never cached. Keyed by every input of the lookup.
 */
#define FIB_CACHE_NS 100000000ULL /* 100 ms */
#define FIB_CACHE_MAX 16384

struct fib_key {
  struct lb_addr src;
  struct lb_addr dst;
  __u32 ifindex;
  __u32 flowinfo; /* IPv6 flow label and traffic class as the lookup gets them; 0 for IPv4 */
  __u8 family;
  __u8 ingress;
  __u8 tos;
  __u8 l4_protocol;
};

struct fib_val {
  __u64 expires_ns;
  __u32 ifindex;
  __u16 max_len;
  __u8 smac[6];
  __u8 dmac[6];
  __u8 pad[2];
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, FIB_CACHE_MAX);
  __type(key, struct fib_key);
  __type(value, struct fib_val);
} fib_cache SEC(".maps");

/* Both entries of a new connection and room to build more: too large for the 512-byte stack. */
struct conn_scratch {
  struct ct_val fwd;
  struct ct_val rev;
  struct ct_val tmp;
  struct ct_key key;
  struct lb_addr caddr[4]; /* an SCTP client's other addresses */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct conn_scratch);
} scratch SEC(".maps");

static __always_inline void count(__u32 idx) {
  __u64 *v = bpf_map_lookup_elem(&stats, &idx);
  if (v) *v += 1;
}

static __always_inline void count_ep(__u32 rule_id, __u32 ep_idx, __u32 len) {
  __u32 idx = (rule_id & cfg_rule_mask) * LB_MAX_EPS + (ep_idx & (LB_MAX_EPS - 1));
  struct ep_stat *s = bpf_map_lookup_elem(&ep_stats, &idx);
  if (s) {
    s->packets += 1;
    s->bytes += len;
  }
}

/* One's complement arithmetic for incremental checksum updates (RFC 1624). */
static __always_inline __u32 csum_add(__u32 sum, __u32 addend) {
  sum += addend;
  return sum + (sum < addend);
}

static __always_inline __u32 csum_diff16(__u32 sum, __u16 from, __u16 to) {
  return csum_add(csum_add(sum, (__u16)~from), to);
}

static __always_inline __u16 csum_fold(__u32 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

static __always_inline void csum_apply(__u16 *field, __u32 diff) {
  *field = csum_fold(csum_add((__u16)~*field, diff));
}

static __always_inline __u32 mix32(__u32 h) {
  h ^= h >> 16;
  h *= 0x7feb352d;
  h ^= h >> 15;
  h *= 0x846ca68b;
  h ^= h >> 16;
  return h;
}

static __always_inline __u32 addr_fold(const struct lb_addr *a) { return a->w[0] ^ a->w[1] ^ a->w[2] ^ a->w[3]; }

static __always_inline int addr_zero(const struct lb_addr *a) { return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) == 0; }

/* Sum of the words of an address of family fam, for pseudo-header checksum diffs. */
static __always_inline __u32 addr_sum(__u32 sum, const struct lb_addr *a, __u8 fam) {
  sum = csum_add(sum, a->w[0]);
  if (fam == LB_AF_INET6) {
    sum = csum_add(sum, a->w[1]);
    sum = csum_add(sum, a->w[2]);
    sum = csum_add(sum, a->w[3]);
  }
  return sum;
}

static __always_inline __u32 addr_unsum(__u32 sum, const struct lb_addr *a, __u8 fam) {
  sum = csum_add(sum, ~a->w[0]);
  if (fam == LB_AF_INET6) {
    sum = csum_add(sum, ~a->w[1]);
    sum = csum_add(sum, ~a->w[2]);
    sum = csum_add(sum, ~a->w[3]);
  }
  return sum;
}

/* What one packet is: values, not pointers, since helpers that change the packet invalidate pointers. */
struct pkt {
  struct lb_addr saddr;
  struct lb_addr daddr;
  __u16 sport;
  __u16 dport;
  __u16 l4_off;   /* from skb->data */
  __u16 l4_len;   /* L4 header and payload */
  __u8 family;
  __u8 proto;
  __u8 tcp_flags; /* FIN 0x01 SYN 0x02 RST 0x04 ACK 0x10 */
  __u8 csum_off;  /* L4 checksum offset in the L4 header; 0: none (UDP over IPv4 without one) */
  __u8 tos;       /* IPv4 TOS / IPv6 traffic class */
  __u8 ttl;       /* IPv4 TTL / IPv6 hop limit */
  __u8 chunk;     /* SCTP: type of the first chunk */
  __u8 pad;
  __u32 len;
};

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

#define PKT_L4 0      /* TCP, UDP or SCTP */
#define PKT_ECHO 1    /* ICMP or ICMPv6 echo request or reply: load-balanced by an icmp rule, or answered for a VIP */
#define PKT_OTHER -1  /* not ours: other protocols, fragments, extension headers, truncated */

#include "lb_sctp.h"

static __always_inline int parse_l4(void *l4, void *end, struct pkt *p) {
  if (p->proto == IPPROTO_TCP) {
    struct tcphdr *th = l4;
    if ((void *)(th + 1) > end) return PKT_OTHER;
    p->csum_off = 16;
    p->sport = th->source;
    p->dport = th->dest;
    p->tcp_flags = ((__u8 *)th)[13];
    return PKT_L4;
  }
  if (p->proto == IPPROTO_UDP) {
    struct udphdr *uh = l4;
    if ((void *)(uh + 1) > end) return PKT_OTHER;
    /* IPv6 UDP must carry a checksum; an IPv4 one may go without. */
    p->csum_off = (uh->check || p->family == LB_AF_INET6) ? 6 : 0;
    p->sport = uh->source;
    p->dport = uh->dest;
    p->tcp_flags = 0;
    return PKT_L4;
  }
  if (p->proto == IPPROTO_SCTP) {
    __u16 *sh = l4; /* ports, then verification tag and CRC32c */
    if ((void *)(sh + 6) > end) return PKT_OTHER;
    if (p->l4_len < SCTP_COMMON_LEN) return PKT_OTHER;
    p->csum_off = 0; /* not an Internet checksum: see sctp_fix_ports */
    p->sport = sh[0];
    p->dport = sh[1];
    __u8 *chunk = (__u8 *)(sh + 6);
    p->chunk = (void *)(chunk + 1) <= end && p->l4_len > SCTP_COMMON_LEN ? *chunk : SCTP_NO_CHUNK;
    return PKT_L4;
  }
  return PKT_OTHER;
}

/* ICMP types (linux/icmp.h pulls in libc headers). */
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129

/*
 * An echo request or reply. Its identifier plays the port: a request is
 * (id, 0), a reply (0, id), so a request and its reply meet in one pair of
 * connection entries, as a TCP segment and its answer do. p->chunk holds the
 * ICMP type. Other ICMP messages are the kernel's.
 */
static __always_inline int parse_echo(void *l4, void *end, struct pkt *p) {
  __u8 *ic = l4;
  if ((void *)(ic + 8) > end) return PKT_OTHER;
  __u8 req = p->family == LB_AF_INET ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
  __u8 rep = p->family == LB_AF_INET ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY;
  if ((ic[0] != req && ic[0] != rep) || ic[1] != 0) return PKT_OTHER;
  __u16 id = *(__u16 *)(ic + 4);
  p->chunk = ic[0];
  p->csum_off = 2;
  p->sport = ic[0] == req ? id : 0;
  p->dport = ic[0] == req ? 0 : id;
  p->tcp_flags = 0;
  return PKT_ECHO;
}

static __always_inline int is_echo_request(const struct pkt *p) { return p->chunk == ICMP_ECHO_REQUEST || p->chunk == ICMP6_ECHO_REQUEST; }

static __always_inline int parse(struct __sk_buff *skb, struct pkt *p) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return PKT_OTHER;
  p->len = skb->len;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end) return PKT_OTHER;
    if (ip->ihl < 5) return PKT_OTHER;
    /* Fragments other than a whole datagram carry no (or a partial) L4 header. */
    if (ip->frag_off & bpf_htons(0x3fff)) return PKT_OTHER;
    __u32 ihl = ip->ihl * 4;
    p->family = LB_AF_INET;
    p->proto = ip->protocol;
    p->tos = ip->tos;
    p->ttl = ip->ttl;
    p->saddr.w[0] = ip->saddr;
    p->daddr.w[0] = ip->daddr;
    __u16 tot = bpf_ntohs(ip->tot_len);
    if (tot < ihl + 8) return PKT_OTHER;
    p->l4_off = ETH_HLEN + ihl;
    p->l4_len = tot - ihl;
    if (ip->protocol == IPPROTO_ICMP) return parse_echo((void *)ip + ihl, end, p);
    return parse_l4((void *)ip + ihl, end, p);
  }
  if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > end) return PKT_OTHER;
    p->family = LB_AF_INET6;
    /* Extension headers (fragments among them) go to the kernel. */
    p->proto = ip6->nexthdr;
    p->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
    p->ttl = ip6->hop_limit;
    __builtin_memcpy(&p->saddr, &ip6->saddr, 16);
    __builtin_memcpy(&p->daddr, &ip6->daddr, 16);
    p->l4_off = L4_OFF_V6;
    p->l4_len = bpf_ntohs(ip6->payload_len);
    if (ip6->nexthdr == IPPROTO_ICMPV6) return parse_echo(ip6 + 1, end, p);
    return parse_l4(ip6 + 1, end, p);
  }
  return PKT_OTHER;
}

/*
 * The L4 checksum after a rewrite: addresses are pseudo-header fields, ports
 * are not, and bpf_l4_csum_replace treats the two accordingly.
 */
static __always_inline int l4_csum_fix(struct __sk_buff *skb, struct pkt *p, __u32 addr_diff, __u32 port_diff) {
  if (!p->csum_off) return 0;
  __u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
  __u32 off = p->l4_off + p->csum_off;
  if (bpf_l4_csum_replace(skb, off, 0, addr_diff, BPF_F_PSEUDO_HDR | mangled)) return -1;
  if (bpf_l4_csum_replace(skb, off, 0, port_diff, mangled)) return -1;
  return 0;
}

/* Rewrites addresses and ports within one family. 0, or -1 if the packet is not as parsed. */
static __always_inline int rewrite(struct __sk_buff *skb, struct pkt *p, const struct lb_addr *ns, const struct lb_addr *nd, __u16 nsport, __u16 ndport) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  __u32 adiff = addr_unsum(addr_unsum(0, &p->saddr, p->family), &p->daddr, p->family);
  adiff = addr_sum(addr_sum(adiff, ns, p->family), nd, p->family);
  __u32 pdiff = csum_diff16(csum_diff16(0, p->sport, nsport), p->dport, ndport);
  if (p->family == LB_AF_INET) {
    struct iphdr *ip = data + L3_OFF;
    if ((void *)(ip + 1) > end) return -1;
    ip->saddr = ns->w[0];
    ip->daddr = nd->w[0];
    csum_apply(&ip->check, adiff);
  } else {
    struct ipv6hdr *ip6 = data + L3_OFF;
    if ((void *)(ip6 + 1) > end) return -1;
    __builtin_memcpy(&ip6->saddr, ns, 16);
    __builtin_memcpy(&ip6->daddr, nd, 16);
  }
  /* Bounded, so the verifier can track the range of the packet pointer. */
  __u32 l4 = p->l4_off;
  if (l4 > L4_OFF_MAX) return -1;
  __u16 *ports = data + l4;
  if ((void *)(ports + 4) > end) return -1;
  if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
    /* The identifier; an ICMPv4 checksum covers no pseudo header. */
    ports[2] = is_echo_request(p) ? nsport : ndport;
    return l4_csum_fix(skb, p, p->proto == IPPROTO_ICMP ? 0 : adiff, pdiff);
  }
  ports[0] = nsport;
  ports[1] = ndport;
  if (p->proto == IPPROTO_SCTP) return sctp_fix_ports(skb, p, nsport, ndport);
  return l4_csum_fix(skb, p, adiff, pdiff);
}

/*
 * IPv6 -> IPv4 (a NAT64 service's client packet): the header shrinks by 20
 * bytes; the L4 checksum moves from the IPv6 to the IPv4 pseudo header
 * (length and protocol sum the same in both, so only the addresses differ).
 */
static __always_inline int to_v4(struct __sk_buff *skb, struct pkt *p, const struct lb_addr *ns, const struct lb_addr *nd, __u16 nsport, __u16 ndport) {
  __u32 adiff = addr_unsum(addr_unsum(0, &p->saddr, LB_AF_INET6), &p->daddr, LB_AF_INET6);
  adiff = csum_add(csum_add(adiff, ns->w[0]), nd->w[0]);
  __u32 pdiff = csum_diff16(csum_diff16(0, p->sport, nsport), p->dport, ndport);
  if (bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0)) return -1;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct iphdr *ip = data + L3_OFF;
  if ((void *)(ip + 1) > end) return -1;
  eth->h_proto = bpf_htons(ETH_P_IP);
  ip->version = 4;
  ip->ihl = 5;
  ip->tos = p->tos;
  ip->tot_len = bpf_htons(p->l4_len + sizeof(struct iphdr));
  ip->id = 0;
  ip->frag_off = bpf_htons(0x4000); /* DF: RFC 7915 for datagrams without a fragment header */
  ip->ttl = p->ttl;
  ip->protocol = p->proto;
  ip->saddr = ns->w[0];
  ip->daddr = nd->w[0];
  ip->check = 0;
  __u32 s = 0;
  __u16 *hw = (__u16 *)ip;
#pragma unroll
  for (int i = 0; i < 10; i++) s += hw[i];
  ip->check = csum_fold(s);
  p->family = LB_AF_INET;
  p->l4_off = L3_OFF + sizeof(struct iphdr);
  __u16 *ports = data + p->l4_off;
  if ((void *)(ports + 2) > end) return -1;
  ports[0] = nsport;
  ports[1] = ndport;
  count(LB_STAT_FAMILY_XLATE);
  if (p->proto == IPPROTO_SCTP) return sctp_fix_ports(skb, p, nsport, ndport);
  return l4_csum_fix(skb, p, adiff, pdiff);
}

/* IPv4 -> IPv6 (the reply to a NAT64 service's client): the header grows by 20 bytes. */
static __always_inline int to_v6(struct __sk_buff *skb, struct pkt *p, const struct lb_addr *ns, const struct lb_addr *nd, __u16 nsport, __u16 ndport) {
  /* IPv4 options and UDP without a checksum have no IPv6 form here. */
  if (p->l4_off != L3_OFF + sizeof(struct iphdr) || !p->csum_off) return -1;
  __u32 adiff = csum_add(csum_add(0, ~p->saddr.w[0]), ~p->daddr.w[0]);
  adiff = addr_sum(addr_sum(adiff, ns, LB_AF_INET6), nd, LB_AF_INET6);
  __u32 pdiff = csum_diff16(csum_diff16(0, p->sport, nsport), p->dport, ndport);
  if (bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0)) return -1;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct ipv6hdr *ip6 = data + L3_OFF;
  if ((void *)(ip6 + 1) > end) return -1;
  eth->h_proto = bpf_htons(ETH_P_IPV6);
  *(__u32 *)ip6 = bpf_htonl((6U << 28) | ((__u32)p->tos << 20));
  ip6->payload_len = bpf_htons(p->l4_len);
  ip6->nexthdr = p->proto;
  ip6->hop_limit = p->ttl;
  __builtin_memcpy(&ip6->saddr, ns, 16);
  __builtin_memcpy(&ip6->daddr, nd, 16);
  p->family = LB_AF_INET6;
  p->l4_off = L4_OFF_V6;
  __u16 *ports = data + p->l4_off;
  if ((void *)(ports + 2) > end) return -1;
  ports[0] = nsport;
  ports[1] = ndport;
  count(LB_STAT_FAMILY_XLATE);
  if (p->proto == IPPROTO_SCTP) return sctp_fix_ports(skb, p, nsport, ndport);
  return l4_csum_fix(skb, p, adiff, pdiff);
}

static __always_inline int xlate(struct __sk_buff *skb, struct pkt *p, const struct ct_val *v) {
  if (v->xfamily == p->family) return rewrite(skb, p, &v->xsaddr, &v->xdaddr, v->xsport, v->xdport);
  if (p->family == LB_AF_INET6) return to_v4(skb, p, &v->xsaddr, &v->xdaddr, v->xsport, v->xdport);
  return to_v6(skb, p, &v->xsaddr, &v->xdaddr, v->xsport, v->xdport);
}

/*
 * TTL / hop limit down by one, the IPv4 checksum with it; -1 if the header is
 * not there. Reads the packet pointers afresh: callers have just made helper
 * calls, across which the verifier forgets bounds.
 */
static __always_inline int dec_ttl(struct __sk_buff *skb, __u32 fam) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  if (fam == LB_AF_INET) {
    struct iphdr *ip = data + L3_OFF;
    if ((void *)(ip + 1) > end) return -1;
    /* The TTL/protocol word changes by 0x0100 in wire order. */
    __u16 *ttl_word = (__u16 *)&ip->ttl;
    __u16 old = *ttl_word;
    ip->ttl -= 1;
    csum_apply(&ip->check, csum_diff16(0, old, *ttl_word));
  } else {
    struct ipv6hdr *ip6 = data + L3_OFF;
    if ((void *)(ip6 + 1) > end) return -1;
    ip6->hop_limit -= 1;
  }
  return 0;
}

/*
 * Forwards a translated packet of family fam: TTL / hop limit, FIB, MACs,
 * redirect. Anything the FIB does not resolve to a neighbour on an
 * interface (a local address, no route, forwarding off) goes to the
 * kernel, translated.
 */
__attribute__((noinline)) int forward(struct __sk_buff *skb, __u32 fam, __u32 proto, int ingress) {
  if (!skb) return TC_ACT_SHOT;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct bpf_fib_lookup fib = {};
  struct fib_key fk = {};
  fib.l4_protocol = proto;
  /* Both loads, then a choice: a ctx field must be read at a constant offset. */
  __u32 in_if = *(volatile __u32 *)&skb->ingress_ifindex;
  __u32 out_if = *(volatile __u32 *)&skb->ifindex;
  fib.ifindex = ingress ? in_if : out_if;
  __u32 flags = ingress ? 0 : BPF_FIB_LOOKUP_OUTPUT;
  fk.ifindex = fib.ifindex;
  fk.ingress = ingress ? 1 : 0;
  fk.l4_protocol = proto;
  fk.family = fam;
  __u32 len;
  if (fam == LB_AF_INET) {
    struct iphdr *ip = data + L3_OFF;
    if ((void *)(ip + 1) > end) return TC_ACT_SHOT;
    if (ip->ttl <= 1) goto kernel;
    fib.family = AF_INET;
    fib.tos = ip->tos;
    fib.tot_len = bpf_ntohs(ip->tot_len);
    fib.ipv4_src = ip->saddr;
    fib.ipv4_dst = ip->daddr;
    fk.tos = ip->tos;
    fk.src.w[0] = ip->saddr;
    fk.dst.w[0] = ip->daddr;
  } else {
    struct ipv6hdr *ip6 = data + L3_OFF;
    if ((void *)(ip6 + 1) > end) return TC_ACT_SHOT;
    if (ip6->hop_limit <= 1) goto kernel;
    fib.family = AF_INET6;
    fib.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
    fib.tot_len = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
    __builtin_memcpy(fib.ipv6_src, &ip6->saddr, 16);
    __builtin_memcpy(fib.ipv6_dst, &ip6->daddr, 16);
    fk.flowinfo = fib.flowinfo;
    __builtin_memcpy(&fk.src, &ip6->saddr, 16);
    __builtin_memcpy(&fk.dst, &ip6->daddr, 16);
  }
  len = fib.tot_len;
  __u64 now = bpf_ktime_get_ns();
  struct fib_val *hit = bpf_map_lookup_elem(&fib_cache, &fk);
  if (hit && (hit->expires_ns < now || len > hit->max_len)) hit = 0;
  int rc = BPF_FIB_LKUP_RET_SUCCESS;
  if (!hit) {
    rc = bpf_fib_lookup(skb, &fib, sizeof(fib), flags);
    if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) goto kernel;
    if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
      struct fib_val nv = {};
      nv.expires_ns = now + FIB_CACHE_NS;
      nv.ifindex = fib.ifindex;
      nv.max_len = len > 0xffff ? 0xffff : len;
      __builtin_memcpy(nv.smac, fib.smac, ETH_ALEN);
      __builtin_memcpy(nv.dmac, fib.dmac, ETH_ALEN);
      bpf_map_update_elem(&fib_cache, &fk, &nv, BPF_ANY);
    }
  }
  if (dec_ttl(skb, fam)) return TC_ACT_SHOT;
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_SHOT;
  count(LB_STAT_REDIRECT);
  if (hit) {
    __builtin_memcpy(eth->h_dest, hit->dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, hit->smac, ETH_ALEN);
    return bpf_redirect(hit->ifindex, 0);
  }
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
    struct bpf_redir_neigh nh = {};
    if (fam == LB_AF_INET) {
      nh.nh_family = AF_INET;
      nh.ipv4_nh = fib.ipv4_dst;
    } else {
      nh.nh_family = AF_INET6;
      __builtin_memcpy(nh.ipv6_nh, fib.ipv6_dst, 16);
    }
    return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
  }
  __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
  return bpf_redirect(fib.ifindex, 0);
kernel:
  count(LB_STAT_TO_KERNEL);
  return TC_ACT_OK;
}

/* DSR's L2 hop to an on-link endpoint: TTL, MACs of the endpoint, redirect. See dsr_forward. */
__attribute__((noinline)) int dsr_send(struct __sk_buff *skb, const struct lb_addr *ep, __u32 fam, int ingress) {
  if (!skb || !ep) return TC_ACT_SHOT;
  struct bpf_fib_lookup fib = {};
  __u32 in_if = *(volatile __u32 *)&skb->ingress_ifindex;
  __u32 out_if = *(volatile __u32 *)&skb->ifindex;
  fib.ifindex = ingress ? in_if : out_if;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  if (fam == LB_AF_INET) {
    struct iphdr *ip = data + L3_OFF;
    if ((void *)(ip + 1) > end) return TC_ACT_SHOT;
    if (ip->ttl <= 1) return TC_ACT_OK;
    fib.family = AF_INET;
    fib.tos = ip->tos;
    fib.l4_protocol = ip->protocol;
    fib.tot_len = bpf_ntohs(ip->tot_len);
    fib.ipv4_src = ip->saddr;
    fib.ipv4_dst = ep->w[0];
  } else {
    struct ipv6hdr *ip6 = data + L3_OFF;
    if ((void *)(ip6 + 1) > end) return TC_ACT_SHOT;
    if (ip6->hop_limit <= 1) return TC_ACT_OK;
    fib.family = AF_INET6;
    fib.l4_protocol = ip6->nexthdr;
    fib.tot_len = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
    __builtin_memcpy(fib.ipv6_src, &ip6->saddr, 16);
    __builtin_memcpy(fib.ipv6_dst, ep, 16);
  }
  int rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
    count(LB_STAT_DSR_NOT_ONLINK);
    return TC_ACT_SHOT;
  }
  /* The lookup leaves the gateway in the destination when there is one: the endpoint must be its own next hop. */
  int onlink = fam == LB_AF_INET ? fib.ipv4_dst == ep->w[0]
                                 : (fib.ipv6_dst[0] == ep->w[0] && fib.ipv6_dst[1] == ep->w[1] && fib.ipv6_dst[2] == ep->w[2] && fib.ipv6_dst[3] == ep->w[3]);
  if (!onlink) {
    count(LB_STAT_DSR_NOT_ONLINK);
    return TC_ACT_SHOT;
  }
  data = (void *)(long)skb->data;
  end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_SHOT;
  if (dec_ttl(skb, fam)) return TC_ACT_SHOT;
  count(LB_STAT_DSR);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
    struct bpf_redir_neigh nh = {};
    if (fam == LB_AF_INET) {
      nh.nh_family = AF_INET;
      nh.ipv4_nh = ep->w[0];
    } else {
      nh.nh_family = AF_INET6;
      __builtin_memcpy(nh.ipv6_nh, ep, 16);
    }
    return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
  }
  __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
  return bpf_redirect(fib.ifindex, 0);
}

static __always_inline void ct_peer_key(const struct ct_val *v, __u8 proto, struct ct_key *k) {
  k->saddr = v->xdaddr;
  k->daddr = v->xsaddr;
  k->sport = v->xdport;
  k->dport = v->xsport;
  k->proto = proto;
  k->family = v->xfamily;
  k->pad[0] = k->pad[1] = 0;
}

/* TCP state from the flags of a packet seen in direction dir. */
static __always_inline __u8 tcp_next(__u8 state, __u8 flags, __u8 dir, __u8 *ctflags) {
  if (flags & TCPF_RST) return CT_CLOSED;
  if (flags & TCPF_FIN) {
    *ctflags |= dir == CT_DIR_ORIG ? CT_F_FIN_ORIG : CT_F_FIN_REPLY;
    if ((*ctflags & (CT_F_FIN_ORIG | CT_F_FIN_REPLY)) == (CT_F_FIN_ORIG | CT_F_FIN_REPLY)) return CT_CLOSED;
    return CT_FIN_WAIT;
  }
  switch (state) {
  case CT_SYN_SENT:
    if (dir == CT_DIR_REPLY && (flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK)) return CT_SYN_RECV;
    return state;
  case CT_SYN_RECV:
    if (dir == CT_DIR_ORIG && (flags & TCPF_ACK) && !(flags & TCPF_SYN)) return CT_EST;
    return state;
  default:
    return state;
  }
}

/*
 * SCTP on a known association, before translation: the endpoint's INIT ACK
 * gets the VIP's addresses; a client packet on another (client address, VIP
 * address) pair moves the reply path to that pair, so the endpoint's answers
 * come back the way the client chose.
 */
static __always_inline int sctp_on_hit(struct __sk_buff *skb, struct pkt *p, struct ct_val *v) {
  if (v->dir == CT_DIR_REPLY && p->chunk == SCTP_INIT_ACK) {
    struct lb_rule *r = bpf_map_lookup_elem(&lb_rules, &v->svc);
    if (!r) return 0;
    int add = lb_sctp_init_ack(skb, p, r);
    if (add < 0) return -1;
    p->l4_len += add;
    return 0;
  }
  /* Any chunk but an INIT: stacks bundle control chunks (a SACK) before DATA (RFC 9260 6.10). */
  if (v->dir == CT_DIR_ORIG && p->chunk != SCTP_INIT && p->chunk != SCTP_NO_CHUNK) {
    struct ct_key pk;
    ct_peer_key(v, p->proto, &pk);
    struct ct_val *pv = bpf_map_lookup_elem(&ct, &pk);
    if (pv && (pv->xdaddr.w[0] != p->saddr.w[0] || pv->xdaddr.w[1] != p->saddr.w[1] || pv->xdaddr.w[2] != p->saddr.w[2] ||
               pv->xdaddr.w[3] != p->saddr.w[3] || pv->xsaddr.w[0] != p->daddr.w[0] || pv->xsaddr.w[1] != p->daddr.w[1] ||
               pv->xsaddr.w[2] != p->daddr.w[2] || pv->xsaddr.w[3] != p->daddr.w[3])) {
      pv->xsaddr = p->daddr;
      pv->xdaddr = p->saddr;
    }
  }
  return 0;
}

static __always_inline int ct_hit(struct __sk_buff *skb, struct pkt *p, struct ct_val *v, int ingress) {
  count(LB_STAT_CT_HIT);
  count_ep(v->rule_id, v->ep_idx, p->len);
  __u64 now = bpf_ktime_get_ns();
  __sync_fetch_and_add(&v->packets, 1);
  __sync_fetch_and_add(&v->bytes, p->len);
  /* Stamping every packet would bounce the cache line between CPUs. */
  if (now - v->last_ns > 100000000ULL) v->last_ns = now;

  __u8 next = v->state;
  __u8 fl = v->flags;
  if (p->proto == IPPROTO_TCP) {
    if (v->state != CT_EST || (p->tcp_flags & (TCPF_FIN | TCPF_RST)))
      next = tcp_next(v->state, p->tcp_flags, v->dir, &fl);
  } else if (p->proto == IPPROTO_SCTP) {
    next = sctp_next(v->state, p->chunk, v->dir);
  } else if (v->state == CT_UDP_NEW && v->dir == CT_DIR_REPLY) {
    next = CT_UDP_EST; /* UDP and ICMP echo: the reply came */
  }
  if (next != v->state || fl != v->flags) {
    v->state = next;
    v->flags = fl;
    v->last_ns = now;
    struct ct_key pk;
    ct_peer_key(v, p->proto, &pk);
    struct ct_val *pv = bpf_map_lookup_elem(&ct, &pk);
    if (pv) {
      pv->state = next;
      pv->flags = fl;
      pv->last_ns = now;
    }
  }
  if (p->proto == IPPROTO_SCTP && sctp_on_hit(skb, p, v) != 0) {
    count(LB_STAT_XLATE_FAIL);
    return TC_ACT_SHOT;
  }
  __u8 fam = v->xfamily;
  if (xlate(skb, p, v) != 0) {
    count(LB_STAT_XLATE_FAIL);
    return TC_ACT_SHOT;
  }
  return forward(skb, fam, p->proto, ingress);
}

/*
 * Endpoint choice is a global function: the verifier checks it once, on its
 * own, instead of once per path into it (the loops below would otherwise
 * multiply the states of the whole program). Returns the endpoint index, -1
 * if no endpoint is alive, -2 if the client's source is not allowed.
 */
__attribute__((noinline)) int lb_select(struct lb_rule *r, const struct lb_addr *saddr, __u32 dfold, __u32 ports) {
  if (!r || !saddr) return -1;
  __u32 nep = r->nep;
  if (nep == 0 || nep > LB_MAX_EPS || r->nalive == 0) return -1;

  if (r->nsrc != 0) {
    int allowed = 0;
    for (int i = 0; i < LB_MAX_SRCS; i++) {
      if (i >= r->nsrc) break;
      const struct lb_src *s = &r->srcs[i];
      if ((saddr->w[0] & s->mask.w[0]) == s->net.w[0] && (saddr->w[1] & s->mask.w[1]) == s->net.w[1] &&
          (saddr->w[2] & s->mask.w[2]) == s->net.w[2] && (saddr->w[3] & s->mask.w[3]) == s->net.w[3]) {
        allowed = 1;
        break;
      }
    }
    if (!allowed) return -2;
  }

  __u32 id = r->id;
  __u32 sfold = addr_fold(saddr);
  __u32 start;
  switch (r->sel) {
  case LB_SEL_HASH:
    start = mix32(sfold ^ mix32(ports) ^ dfold);
    break;
  case LB_SEL_PRIO: {
    __u32 idx = r->wslots[bpf_get_prandom_u32() & (LB_WSLOTS - 1)] & (LB_MAX_EPS - 1);
    if (idx < nep && r->eps[idx].alive) return idx;
    start = idx;
    break;
  }
  case LB_SEL_PERSIST: {
    struct persist_key pk = {.rule_id = id, .saddr = *saddr};
    __u64 now = bpf_ktime_get_ns();
    struct persist_val *pv = bpf_map_lookup_elem(&persist, &pk);
    if (pv && now - pv->last_ns < (__u64)r->persist_s * 1000000000ULL) {
      __u32 idx = pv->ep_idx & (LB_MAX_EPS - 1);
      if (idx < nep && r->eps[idx].alive) {
        pv->last_ns = now;
        return idx;
      }
    }
    start = mix32(sfold);
    break;
  }
  case LB_SEL_LC: {
    int best = -1;
    __u64 best_active = ~0ULL;
    for (__u32 i = 0; i < LB_MAX_EPS; i++) {
      if (i >= nep) break;
      if (!r->eps[i].alive) continue;
      __u32 slot = (id & cfg_rule_mask) * LB_MAX_EPS + i;
      __u64 *o = bpf_map_lookup_elem(&lc_opened, &slot);
      __u64 *c = bpf_map_lookup_elem(&lc_closed, &slot);
      __u64 active = (o ? *o : 0) - (c ? *c : 0);
      if (active < best_active) {
        best_active = active;
        best = i;
      }
    }
    return best;
  }
  default: {
    __u32 *ctr = bpf_map_lookup_elem(&rr_ctr, &id);
    start = ctr ? __sync_fetch_and_add(ctr, 1) : 0;
  }
  }

  for (__u32 i = 0; i < LB_MAX_EPS; i++) {
    if (i >= nep) break;
    /* The mask is a no-op (idx < nep <= LB_MAX_EPS) the verifier can see. */
    __u32 idx = ((start + i) % nep) & (LB_MAX_EPS - 1);
    if (!r->eps[idx].alive) continue;
    if (r->sel == LB_SEL_PERSIST) {
      struct persist_key pk = {.rule_id = id, .saddr = *saddr};
      struct persist_val nv = {.ep_idx = idx, .last_ns = bpf_ktime_get_ns()};
      bpf_map_update_elem(&persist, &pk, &nv, BPF_ANY);
    }
    return idx;
  }
  return -1;
}

/* The address, in family fam, of the interface towards dst: onearm's (and NAT64's) source. */
__attribute__((noinline)) int egress_addr(struct __sk_buff *skb, const struct lb_addr *dst, __u32 fam, int ingress, struct lb_addr *out) {
  if (!skb || !dst || !out) return -1;
  struct bpf_fib_lookup fib = {};
  if (fam == LB_AF_INET) {
    fib.family = AF_INET;
    fib.ipv4_dst = dst->w[0];
  } else {
    fib.family = AF_INET6;
    __builtin_memcpy(fib.ipv6_dst, dst, 16);
  }
  /* Both loads, then a choice: a ctx field must be read at a constant offset. */
  __u32 in_if = *(volatile __u32 *)&skb->ingress_ifindex;
  __u32 out_if = *(volatile __u32 *)&skb->ifindex;
  fib.ifindex = ingress ? in_if : out_if;
  int rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) return -1;
  __u32 ifi = fib.ifindex;
  struct if_addrs *a = bpf_map_lookup_elem(&ifaddr, &ifi);
  if (!a) return -1;
  if (fam == LB_AF_INET) {
    if (!a->v4) return -1;
    out->w[0] = a->v4;
    out->w[1] = out->w[2] = out->w[3] = 0;
  } else {
    if (addr_zero(&a->v6)) return -1;
    *out = a->v6;
  }
  return 0;
}

static __always_inline int new_conn(struct __sk_buff *skb, struct pkt *p, struct lb_key *svc, struct lb_rule *r, int ingress) {
  if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN) {
    /* Mid-stream packet of a connection we do not know: never invent a translation. */
    count(LB_STAT_NOT_SYN);
    return TC_ACT_SHOT;
  }
  if (p->proto == IPPROTO_SCTP && p->chunk != SCTP_INIT) {
    count(LB_STAT_SCTP_NOT_INIT);
    return TC_ACT_SHOT;
  }
  int idx = lb_select(r, &p->saddr, addr_fold(&p->daddr), ((__u32)p->sport << 16) | p->dport);
  if (idx == -2) {
    count(LB_STAT_SRC_DENIED);
    return TC_ACT_SHOT;
  }
  if (idx < 0 || idx >= LB_MAX_EPS) {
    count(LB_STAT_NO_EP);
    return TC_ACT_SHOT;
  }
  idx &= LB_MAX_EPS - 1;
  __u32 zero = 0;
  struct conn_scratch *sc = bpf_map_lookup_elem(&scratch, &zero);
  if (!sc) return TC_ACT_OK;
  struct ct_val *fwd = &sc->fwd;
  struct ct_val *rev = &sc->rev;
  struct lb_ep *ep = &r->eps[idx];
  __u8 efam = r->ep_family == LB_AF_INET6 ? LB_AF_INET6 : LB_AF_INET;
  __u64 now = bpf_ktime_get_ns();
  __u16 csport = p->sport;

  /* The source towards the endpoint: the client's (default), or ours. */
  struct lb_addr nsaddr = p->saddr;
  int snat = r->mode != LB_MODE_DEFAULT || efam != p->family;
  if (snat) {
    if (r->mode == LB_MODE_FULLNAT && !addr_zero(&r->snat_addr)) nsaddr = r->snat_addr;
    else if (egress_addr(skb, &ep->addr, efam, ingress, &nsaddr) != 0) {
      count(LB_STAT_TO_KERNEL);
      return TC_ACT_OK;
    }
  }

  __builtin_memset(fwd, 0, sizeof(*fwd));
  fwd->xsaddr = nsaddr;
  fwd->xdaddr = ep->addr;
  fwd->xdport = ep->port;
  fwd->xfamily = efam;
  fwd->svc = *svc;
  fwd->rule_id = r->id;
  fwd->dir = CT_DIR_ORIG;
  fwd->state = p->proto == IPPROTO_TCP || p->proto == IPPROTO_SCTP ? CT_SYN_SENT : CT_UDP_NEW;
  fwd->ep_idx = idx;
  fwd->flags = r->sel == LB_SEL_LC ? CT_F_LC : 0;
  fwd->timeout_s = r->timeout_s;
  fwd->last_ns = now;
  fwd->packets = 1;
  fwd->bytes = p->len;

  *rev = *fwd;
  rev->xsaddr = p->daddr;
  rev->xdaddr = p->saddr;
  rev->xsport = svc->port;
  rev->xdport = csport;
  rev->xfamily = p->family;
  rev->dir = CT_DIR_REPLY;
  rev->packets = 0;
  rev->bytes = 0;

  struct ct_key rkey = {.saddr = ep->addr, .daddr = nsaddr, .sport = ep->port, .proto = p->proto, .family = efam};
  __u16 nsport = csport;
  if (!snat) {
    rkey.dport = csport;
    if (bpf_map_update_elem(&ct, &rkey, rev, BPF_NOEXIST) != 0) {
      /* The reply tuple is taken: by a closing connection, which we replace, or a live one. */
      struct ct_val *old = bpf_map_lookup_elem(&ct, &rkey);
      if (!old || (old->state != CT_CLOSED && old->state != CT_FIN_WAIT)) {
        count(old ? LB_STAT_CT_CONFLICT : LB_STAT_CT_FULL);
        return TC_ACT_SHOT;
      }
      if (bpf_map_update_elem(&ct, &rkey, rev, BPF_ANY) != 0) {
        count(LB_STAT_CT_FULL);
        return TC_ACT_SHOT;
      }
    }
  } else {
    /*
     * Source port for the shared source address: a hash of the client's
     * tuple, then linear probing; the reply entry claims the port
     * atomically (BPF_NOEXIST), so two CPUs never hand out the same one.
     * Sources that are an interface's own address (onearm, NAT64) stay
     * above the kernel's default ephemeral range, which the node's own
     * sockets use.
     */
    __u32 base = mix32(addr_fold(&p->saddr) ^ ((__u32)csport << 16) ^ addr_fold(&ep->addr));
    __u32 lo = r->mode == LB_MODE_FULLNAT && !addr_zero(&r->snat_addr) ? 10000 : 61000;
    __u32 span = 65536 - lo;
    int ok = 0;
    for (int i = 0; i < 16; i++) {
      __u16 port = lo + (base + i * 2654435761U) % span;
      rkey.dport = bpf_htons(port);
      if (bpf_map_update_elem(&ct, &rkey, rev, BPF_NOEXIST) == 0) {
        nsport = rkey.dport;
        ok = 1;
        break;
      }
    }
    if (!ok) {
      count(LB_STAT_NAT_PORT_FULL);
      return TC_ACT_SHOT;
    }
  }
  fwd->xsport = nsport;
  struct ct_key fkey = {.saddr = p->saddr, .daddr = p->daddr, .sport = csport, .dport = svc->port, .proto = p->proto, .family = p->family};
  if (bpf_map_update_elem(&ct, &fkey, fwd, BPF_ANY) != 0) {
    bpf_map_delete_elem(&ct, &rkey);
    count(LB_STAT_CT_FULL);
    return TC_ACT_SHOT;
  }
  if (r->sel == LB_SEL_LC) {
    __u32 slot = (r->id & cfg_rule_mask) * LB_MAX_EPS + idx;
    __u64 *o = bpf_map_lookup_elem(&lc_opened, &slot);
    if (o) __sync_fetch_and_add(o, 1);
  }
  count(LB_STAT_CT_NEW);
  count_ep(r->id, idx, p->len);
  if (p->proto == IPPROTO_SCTP) {
    /* Multihoming: the client's other addresses, and the entries for every address pair. */
    int nclient = lb_sctp_init_addrs(skb, p, sc, snat);
    lb_sctp_paths(p, r, sc, nclient < 0 ? 0 : nclient, snat);
  }
  if (xlate(skb, p, fwd) != 0) {
    count(LB_STAT_XLATE_FAIL);
    return TC_ACT_SHOT;
  }
  return forward(skb, efam, p->proto, ingress);
}

/* The start of an ICMP / ICMPv6 header. */
struct icmp_head {
  __u8 type;
  __u8 code;
  __u16 checksum;
};

/*
 * An echo request to a VIP is answered here, on the interface it came in
 * on, like loxilb does: a VIP advertised over BGP is on no interface, so
 * the kernel would route the ping on instead. Anything else goes on to the
 * kernel untouched (Neighbour Discovery among it).
 */
static __always_inline int echo_reply(struct __sk_buff *skb, struct pkt *p) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  __u32 l4 = p->l4_off;
  if (l4 > L4_OFF_MAX) return TC_ACT_OK;
  struct icmp_head *ic = data + l4;
  if ((void *)(ic + 1) > end) return TC_ACT_OK;
  __u8 rep = p->family == LB_AF_INET ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY;
  if (!is_echo_request(p)) return TC_ACT_OK;
  struct vip_key vk = {.addr = p->daddr, .family = p->family};
  if (!bpf_map_lookup_elem(&vips, &vk)) return TC_ACT_OK;

  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_OK;
  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, mac, ETH_ALEN);
  /* Swapping the addresses leaves every checksum as it is; a fresh TTL changes the IPv4 header's. */
  if (p->family == LB_AF_INET) {
    struct iphdr *ip = data + L3_OFF;
    if ((void *)(ip + 1) > end) return TC_ACT_OK;
    ip->daddr = p->saddr.w[0];
    ip->saddr = p->daddr.w[0];
    __u16 *ttl_word = (__u16 *)&ip->ttl;
    __u16 old = *ttl_word;
    ip->ttl = 64;
    csum_apply(&ip->check, csum_diff16(0, old, *ttl_word));
  } else {
    struct ipv6hdr *ip6 = data + L3_OFF;
    if ((void *)(ip6 + 1) > end) return TC_ACT_OK;
    __builtin_memcpy(&ip6->daddr, &p->saddr, 16);
    __builtin_memcpy(&ip6->saddr, &p->daddr, 16);
    ip6->hop_limit = 64;
  }
  /* Request becomes reply: the type/code word changes, the rest is echoed. */
  __u16 *type_word = (__u16 *)ic;
  __u16 old_tw = *type_word;
  ic->type = rep;
  __u16 new_tw = *type_word;
  if (p->family == LB_AF_INET) csum_apply(&ic->checksum, csum_diff16(0, old_tw, new_tw));
  else if (bpf_l4_csum_replace(skb, p->l4_off + 2, old_tw, new_tw, 2)) return TC_ACT_SHOT;
  count(LB_STAT_ICMP_ECHO);
  return bpf_redirect(skb->ifindex, 0);
}

/*
 * Direct server return: the packet goes to the endpoint unchanged at L3
 * (addressed to the VIP, which the endpoint holds on a non-ARP interface)
 * and the endpoint answers the client directly, so this node never sees a
 * reply and keeps no state: the endpoint is a hash of the flow (the rule's
 * sel must be hash), the same on every LB node. Only the MACs change, so
 * the endpoint must be on a segment of this node: one whose next hop is
 * not the endpoint itself is dropped (counted), never sent to a gateway
 * that would route it back.
 */
static __always_inline int dsr_forward(struct __sk_buff *skb, struct pkt *p, struct lb_rule *r, int ingress) {
  int idx = lb_select(r, &p->saddr, addr_fold(&p->daddr), ((__u32)p->sport << 16) | p->dport);
  if (idx == -2) {
    count(LB_STAT_SRC_DENIED);
    return TC_ACT_SHOT;
  }
  if (idx < 0 || idx >= LB_MAX_EPS) {
    count(LB_STAT_NO_EP);
    return TC_ACT_SHOT;
  }
  struct lb_ep *ep = &r->eps[idx & (LB_MAX_EPS - 1)];
  if (r->ep_family != p->family) return TC_ACT_SHOT;
  count_ep(r->id, idx, p->len);
  return dsr_send(skb, &ep->addr, p->family, ingress);
}

static __always_inline int lb_main(struct __sk_buff *skb, int ingress) {
  /*
   * Only frames sent to this node. A switch floods unicast it has no entry
   * for (the entry of a node whose port just went down, an aged one): every
   * LB on the segment would then translate and forward the same packet, and
   * a BACKUP would answer for the MASTER. The kernel drops such frames after
   * TC; so must we, before it.
   */
  if (ingress && skb->pkt_type == PACKET_OTHERHOST) return TC_ACT_OK;
  struct pkt p = {};
  int kind = parse(skb, &p);
  if (kind == PKT_OTHER) return TC_ACT_OK;
  count(LB_STAT_PACKETS);

  struct ct_key key = {.saddr = p.saddr, .daddr = p.daddr, .sport = p.sport, .dport = p.dport, .proto = p.proto, .family = p.family};
  struct ct_val *v = bpf_map_lookup_elem(&ct, &key);
  if (v) {
    /*
     * A SYN on the tuple of a connection that is closing or closed is a new
     * connection reusing the client port (TIME_WAIT reuse): forget the old
     * pair and balance it afresh. A SYN in any other state is a retransmit
     * or a challenge and follows the existing entry.
     */
    int starts = (p.proto == IPPROTO_TCP && (p.tcp_flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN) || (p.proto == IPPROTO_SCTP && p.chunk == SCTP_INIT);
    if (starts && v->dir == CT_DIR_ORIG && (v->state == CT_CLOSED || v->state == CT_FIN_WAIT)) {
      struct ct_key pk;
      ct_peer_key(v, p.proto, &pk);
      bpf_map_delete_elem(&ct, &pk);
      bpf_map_delete_elem(&ct, &key);
      count(LB_STAT_CT_REUSED);
    } else {
      return ct_hit(skb, &p, v, ingress);
    }
  }

  if (kind == PKT_ECHO && !is_echo_request(&p)) return TC_ACT_OK; /* a reply we did not cause */
  struct lb_key svc = {.vip = p.daddr, .port = p.dport, .proto = p.proto, .family = p.family};
  struct lb_rule *r = bpf_map_lookup_elem(&lb_rules, &svc);
  if (!r) return kind == PKT_ECHO && ingress ? echo_reply(skb, &p) : TC_ACT_OK;
  if (r->mode == LB_MODE_DSR) return dsr_forward(skb, &p, r, ingress);
  return new_conn(skb, &p, &svc, r, ingress);
}

/*
 * The sweep, run by user space once a second through BPF_PROG_TEST_RUN: one
 * pass over the connection table inside the kernel, instead of reading it
 * out and deleting entry by entry with two syscalls each. A connection is
 * its two entries: idle when neither has seen a packet within the limit of
 * its state, and then both go.
 */
struct bpf_map;

struct sweep_ctx {
  __u64 now;
  __u32 scanned;
  __u32 deleted;
};

static __always_inline __u64 idle_limit_ns(const struct ct_val *v) {
  __u64 est = v->timeout_s ? v->timeout_s : 240;
  __u64 s = est;
  switch (v->state) {
  case CT_SYN_SENT:
  case CT_SYN_RECV:
    s = est < 20 ? est : 20;
    break;
  case CT_FIN_WAIT:
  case CT_UDP_NEW:
    s = est < 10 ? est : 10;
    break;
  case CT_CLOSED:
    s = 2;
    break;
  }
  return s * 1000000000ULL;
}

static long sweep_one(struct bpf_map *map, struct ct_key *key, struct ct_val *v, struct sweep_ctx *c) {
  c->scanned++;
  struct ct_key pk;
  ct_peer_key(v, key->proto, &pk);
  struct ct_val *pv = bpf_map_lookup_elem(&ct, &pk);
  /* Each pair is decided once, from its original-direction entry. */
  if (v->dir != CT_DIR_ORIG && pv) return 0;
  __u64 last = v->last_ns;
  if (pv && pv->last_ns > last) last = pv->last_ns;
  if (last > c->now || c->now - last < idle_limit_ns(v)) {
    /*
     * A connection that stays: counted once (by its original entry) unless
     * it has closed, for the rule that now serves its service. Its own
     * rule_id may be an earlier id of that rule (its endpoint list changed).
     */
    struct lb_rule *r = v->dir == CT_DIR_ORIG && v->state != CT_CLOSED ? bpf_map_lookup_elem(&lb_rules, &v->svc) : NULL;
    if (r) {
      __u32 idx = r->id & cfg_rule_mask;
      struct rule_conns *rc = bpf_map_lookup_elem(&rule_conns, &idx);
      if (rc) {
        if (rc->gen != c->now) {
          rc->gen = c->now;
          rc->active = 0;
        }
        rc->active++;
      }
    }
    return 0;
  }
  if (v->dir == CT_DIR_ORIG && (v->flags & CT_F_LC) && v->rule_id <= cfg_rule_mask && v->ep_idx < LB_MAX_EPS) {
    __u32 slot = v->rule_id * LB_MAX_EPS + v->ep_idx;
    __u64 *closed = bpf_map_lookup_elem(&lc_closed, &slot);
    if (closed) __sync_fetch_and_add(closed, 1);
  }
  if (pv && bpf_map_delete_elem(&ct, &pk) == 0) c->deleted++;
  if (bpf_map_delete_elem(&ct, key) == 0) c->deleted++;
  return 0;
}

/* [0] entries scanned, [1] entries deleted by the latest sweep, [2] its gen (rule_conns). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __type(value, __u64);
} sweep_result SEC(".maps");

SEC("tc")
int lb_sweep(struct __sk_buff *skb) {
  struct sweep_ctx c = {.now = bpf_ktime_get_ns()};
  bpf_for_each_map_elem(&ct, sweep_one, &c, 0);
  __u32 k = 0;
  __u64 *r = bpf_map_lookup_elem(&sweep_result, &k);
  if (r) *r = c.scanned;
  k = 1;
  r = bpf_map_lookup_elem(&sweep_result, &k);
  if (r) *r = c.deleted;
  k = 2;
  r = bpf_map_lookup_elem(&sweep_result, &k);
  if (r) *r = c.now;
  return TC_ACT_OK;
}

static long count_one(struct bpf_map *map, struct ct_key *key, struct ct_val *v, __u32 *n) {
  (*n)++;
  return 0;
}

/*
 * The kernel keeps each hash map's element count since 6.6 and hands it out
 * through this kfunc. Weak: on an older kernel libbpf leaves it unresolved
 * (null), and lb_ct_count walks the table instead. Its BTF type must be a
 * struct, not a forward declaration, to match the kernel's prototype.
 */
struct bpf_map {
} __attribute__((preserve_access_index));
extern __s64 bpf_map_sum_elem_count(const struct bpf_map *map) __ksym __weak;

/*
 * The number of connection-table entries, as the program's return value, run
 * through BPF_PROG_TEST_RUN: GET /status and /metrics count the table without
 * copying it to user space. With the kfunc it costs nothing per entry; the
 * walk copies nothing either (the table holds at most 16,777,216 entries, so
 * the count fits the 32-bit return value).
 */
SEC("tc")
int lb_ct_count(struct __sk_buff *skb) {
  if (bpf_map_sum_elem_count) return (int)bpf_map_sum_elem_count((const struct bpf_map *)&ct);
  __u32 n = 0;
  bpf_for_each_map_elem(&ct, count_one, &n, 0);
  return n;
}

SEC("tc")
int lb_ingress(struct __sk_buff *skb) { return lb_main(skb, 1); }

SEC("tc")
int lb_egress(struct __sk_buff *skb) { return lb_main(skb, 0); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
