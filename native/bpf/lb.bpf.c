// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The L4 load-balancer datapath, attached at TC ingress (and egress with
 * --egr-hooks) of every interface the agent uses. Per IPv4 TCP/UDP packet:
 *
 *   1. connection table hit: rewrite to the stored translation, count, track
 *      TCP state;
 *   2. otherwise a rule (VIP, port, protocol): check allowed sources, pick an
 *      endpoint (rr, hash, priority, persist, lc), build both entries of the
 *      connection (original and reply direction) and translate;
 *   3. otherwise leave the packet to the kernel untouched.
 *
 * Translated packets are forwarded here (FIB lookup, MAC rewrite, redirect),
 * so they skip netfilter on the LB node; anything the FIB cannot resolve goes
 * to the kernel. Timeouts are enforced by user space, which sweeps the table
 * (the program only stamps last_ns).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Written rarely, so not preallocated: a full table would pin 35 MB of kernel memory. */
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
 * closed per endpoint (written only by the user-space sweeper). Two writers
 * on two arrays, so neither has to read-modify-write the other's counter.
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

/* ifindex -> first IPv4 address (onearm source). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u32);
} ifaddr SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, LB_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* Every address some rule serves; these answer ICMP echo requests. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, LB_MAX_SERVICE_ENTRIES);
  __type(key, __u32);
  __type(value, __u32);
} vips SEC(".maps");

static __always_inline void count(__u32 idx) {
  __u64 *v = bpf_map_lookup_elem(&stats, &idx);
  if (v) *v += 1;
}

/* One's complement arithmetic for incremental checksum updates (RFC 1624). */
static __always_inline __u32 csum_add(__u32 sum, __u32 addend) {
  sum += addend;
  return sum + (sum < addend);
}

static __always_inline __u32 csum_diff32(__u32 sum, __u32 from, __u32 to) {
  return csum_add(csum_add(sum, ~from), to);
}

static __always_inline __u32 csum_diff16(__u32 sum, __u16 from, __u16 to) {
  return csum_add(csum_add(sum, (__u16)~from), to);
}

static __always_inline void csum_apply(__u16 *field, __u32 diff) {
  __u32 sum = csum_add((__u16)~*field, diff);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  *field = (__u16)~sum;
}

static __always_inline __u32 mix32(__u32 h) {
  h ^= h >> 16;
  h *= 0x7feb352d;
  h ^= h >> 15;
  h *= 0x846ca68b;
  h ^= h >> 16;
  return h;
}

struct pkt {
  struct ethhdr *eth;
  struct iphdr *ip;
  void *l4;
  __u16 *l4csum; /* 0 for UDP without a checksum */
  __u16 *sport;
  __u16 *dport;
  __u8 tcp_flags; /* FIN 0x01 SYN 0x02 RST 0x04 ACK 0x10 */
  __u8 proto;
  __u32 len;
};

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

/* 0: TCP/UDP parsed; 1: ICMP (eth, ip, l4 set); -1: not ours (not IPv4, a fragment, truncated). */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return -1;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) return -1;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return -1;
  if (ip->ihl < 5) return -1;
  /* Fragments other than a whole datagram carry no (or a partial) L4 header. */
  if (ip->frag_off & bpf_htons(0x3fff)) return -1;
  __u32 ihl = ip->ihl * 4;
  void *l4 = (void *)ip + ihl;
  p->eth = eth;
  p->ip = ip;
  p->l4 = l4;
  p->proto = ip->protocol;
  p->len = skb->len;
  if (ip->protocol == IPPROTO_ICMP) return 1;
  if (ip->protocol == IPPROTO_TCP) {
    struct tcphdr *th = l4;
    if ((void *)(th + 1) > end) return -1;
    p->l4csum = &th->check;
    p->sport = &th->source;
    p->dport = &th->dest;
    p->tcp_flags = ((__u8 *)th)[13];
    return 0;
  }
  if (ip->protocol == IPPROTO_UDP) {
    struct udphdr *uh = l4;
    if ((void *)(uh + 1) > end) return -1;
    p->l4csum = uh->check ? &uh->check : 0;
    p->sport = &uh->source;
    p->dport = &uh->dest;
    p->tcp_flags = 0;
    return 0;
  }
  return -1;
}

/* Rewrites addresses and ports, fixing the IP and L4 checksums. */
static __always_inline void translate(struct pkt *p, __u32 saddr, __u32 daddr, __u16 sport, __u16 dport) {
  __u32 ipd = 0;
  ipd = csum_diff32(ipd, p->ip->saddr, saddr);
  ipd = csum_diff32(ipd, p->ip->daddr, daddr);
  __u32 l4d = ipd;
  l4d = csum_diff16(l4d, *p->sport, sport);
  l4d = csum_diff16(l4d, *p->dport, dport);
  p->ip->saddr = saddr;
  p->ip->daddr = daddr;
  *p->sport = sport;
  *p->dport = dport;
  csum_apply(&p->ip->check, ipd);
  if (p->l4csum) {
    csum_apply(p->l4csum, l4d);
    /* A UDP checksum that computes to zero is sent as all ones (RFC 768). */
    if (p->proto == IPPROTO_UDP && *p->l4csum == 0) *p->l4csum = 0xffff;
  }
}

/*
 * Forwards a translated packet: TTL, FIB, MACs, redirect. Anything the FIB
 * does not resolve to a neighbour on an interface (a local address, no route,
 * forwarding off) goes to the kernel, translated.
 */
static __always_inline int forward(struct __sk_buff *skb, struct pkt *p, int ingress) {
  if (p->ip->ttl <= 1) {
    count(LB_STAT_TO_KERNEL);
    return TC_ACT_OK;
  }
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.tos = p->ip->tos;
  fib.l4_protocol = p->proto;
  fib.tot_len = bpf_ntohs(p->ip->tot_len);
  fib.ipv4_src = p->ip->saddr;
  fib.ipv4_dst = p->ip->daddr;
  fib.ifindex = ingress ? skb->ingress_ifindex : skb->ifindex;
  int rc = bpf_fib_lookup(skb, &fib, sizeof(fib), ingress ? 0 : BPF_FIB_LOOKUP_OUTPUT);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
    count(LB_STAT_TO_KERNEL);
    return TC_ACT_OK;
  }
  /* Decrement TTL: the TTL/protocol word changes by 0x0100 in wire order. */
  __u16 *ttl_word = (__u16 *)&p->ip->ttl;
  __u16 old = *ttl_word;
  p->ip->ttl -= 1;
  csum_apply(&p->ip->check, csum_diff16(0, old, *ttl_word));
  count(LB_STAT_REDIRECT);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
    struct bpf_redir_neigh nh = {};
    nh.nh_family = AF_INET;
    nh.ipv4_nh = fib.ipv4_dst;
    return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
  }
  __builtin_memcpy(p->eth->h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy(p->eth->h_source, fib.smac, ETH_ALEN);
  return bpf_redirect(fib.ifindex, 0);
}

static __always_inline void ct_peer_key(const struct ct_val *v, __u8 proto, struct ct_key *k) {
  k->saddr = v->xdaddr;
  k->daddr = v->xsaddr;
  k->sport = v->xdport;
  k->dport = v->xsport;
  k->proto = proto;
  k->pad[0] = k->pad[1] = k->pad[2] = 0;
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

static __always_inline int ct_hit(struct __sk_buff *skb, struct pkt *p, struct ct_key *key, struct ct_val *v, int ingress) {
  count(LB_STAT_CT_HIT);
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
  } else if (v->state == CT_UDP_NEW && v->dir == CT_DIR_REPLY) {
    next = CT_UDP_EST;
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
  translate(p, v->xsaddr, v->xdaddr, v->xsport, v->xdport);
  return forward(skb, p, ingress);
}

/*
 * Endpoint choice is a global function: the verifier checks it once, on its
 * own, instead of once per path into it (the loops below would otherwise
 * multiply the states of the whole program). Returns the endpoint index, -1
 * if no endpoint is alive, -2 if the client's source is not allowed.
 */
__attribute__((noinline)) int lb_select(struct lb_rule *r, __u32 saddr, __u32 daddr, __u32 ports) {
  if (!r) return -1;
  __u32 nep = r->nep;
  if (nep == 0 || nep > LB_MAX_EPS || r->nalive == 0) return -1;

  if (r->nsrc != 0) {
    int allowed = 0;
    for (int i = 0; i < LB_MAX_SRCS; i++) {
      if (i >= r->nsrc) break;
      if ((saddr & r->srcs[i].mask) == r->srcs[i].net) {
        allowed = 1;
        break;
      }
    }
    if (!allowed) return -2;
  }

  __u32 id = r->id;
  __u32 start;
  switch (r->sel) {
  case LB_SEL_HASH:
    start = mix32(saddr ^ mix32(ports) ^ daddr);
    break;
  case LB_SEL_PRIO: {
    __u32 idx = r->wslots[bpf_get_prandom_u32() & (LB_WSLOTS - 1)] & (LB_MAX_EPS - 1);
    if (idx < nep && r->eps[idx].alive) return idx;
    start = idx;
    break;
  }
  case LB_SEL_PERSIST: {
    struct persist_key pk = {.rule_id = id, .saddr = saddr};
    __u64 now = bpf_ktime_get_ns();
    struct persist_val *pv = bpf_map_lookup_elem(&persist, &pk);
    if (pv && now - pv->last_ns < (__u64)r->persist_s * 1000000000ULL) {
      __u32 idx = pv->ep_idx & (LB_MAX_EPS - 1);
      if (idx < nep && r->eps[idx].alive) {
        pv->last_ns = now;
        return idx;
      }
    }
    start = mix32(saddr);
    break;
  }
  case LB_SEL_LC: {
    int best = -1;
    __u64 best_active = ~0ULL;
    for (__u32 i = 0; i < LB_MAX_EPS; i++) {
      if (i >= nep) break;
      if (!r->eps[i].alive) continue;
      __u32 slot = (id & (LB_MAX_RULES - 1)) * LB_MAX_EPS + i;
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
      struct persist_key pk = {.rule_id = id, .saddr = saddr};
      struct persist_val nv = {.ep_idx = idx, .last_ns = bpf_ktime_get_ns()};
      bpf_map_update_elem(&persist, &pk, &nv, BPF_ANY);
    }
    return idx;
  }
  return -1;
}

/* Onearm's source: the address of the interface towards the endpoint. */
static __always_inline __u32 egress_addr(struct __sk_buff *skb, __u32 dst, int ingress) {
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.ipv4_dst = dst;
  fib.ifindex = ingress ? skb->ingress_ifindex : skb->ifindex;
  int rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
  if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) return 0;
  __u32 ifi = fib.ifindex;
  __u32 *a = bpf_map_lookup_elem(&ifaddr, &ifi);
  return a ? *a : 0;
}

static __always_inline int new_conn(struct __sk_buff *skb, struct pkt *p, struct lb_key *svc, struct lb_rule *r, int ingress) {
  if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST)) != TCPF_SYN) {
    /* Mid-stream packet of a connection we do not know: never invent a translation. */
    count(LB_STAT_NOT_SYN);
    return TC_ACT_SHOT;
  }
  int idx = lb_select(r, p->ip->saddr, p->ip->daddr, ((__u32)*p->sport << 16) | *p->dport);
  if (idx == -2) {
    count(LB_STAT_SRC_DENIED);
    return TC_ACT_SHOT;
  }
  if (idx < 0 || idx >= LB_MAX_EPS) {
    count(LB_STAT_NO_EP);
    return TC_ACT_SHOT;
  }
  idx &= LB_MAX_EPS - 1;
  struct lb_ep ep = r->eps[idx];
  __u64 now = bpf_ktime_get_ns();
  __u32 csaddr = p->ip->saddr;
  __u16 csport = *p->sport;

  __u32 nsaddr = csaddr;
  __u16 nsport = csport;
  if (r->mode == LB_MODE_FULLNAT) nsaddr = r->snat_addr;
  else if (r->mode == LB_MODE_ONEARM) nsaddr = egress_addr(skb, ep.addr, ingress);
  if (nsaddr == 0) {
    count(LB_STAT_TO_KERNEL);
    return TC_ACT_OK;
  }

  struct ct_val fwd = {};
  fwd.xsaddr = nsaddr;
  fwd.xdaddr = ep.addr;
  fwd.xdport = ep.port;
  fwd.svc = *svc;
  fwd.rule_id = r->id;
  fwd.dir = CT_DIR_ORIG;
  fwd.state = p->proto == IPPROTO_TCP ? CT_SYN_SENT : CT_UDP_NEW;
  fwd.ep_idx = idx;
  fwd.flags = r->sel == LB_SEL_LC ? CT_F_LC : 0;
  fwd.timeout_s = r->timeout_s;
  fwd.last_ns = now;
  fwd.packets = 1;
  fwd.bytes = p->len;

  struct ct_val rev = fwd;
  rev.xsaddr = svc->vip;
  rev.xdaddr = csaddr;
  rev.xsport = svc->port;
  rev.xdport = csport;
  rev.dir = CT_DIR_REPLY;
  rev.packets = 0;
  rev.bytes = 0;

  struct ct_key rkey = {.saddr = ep.addr, .daddr = nsaddr, .sport = ep.port, .proto = p->proto};
  if (r->mode == LB_MODE_DEFAULT) {
    rkey.dport = csport;
    if (bpf_map_update_elem(&ct, &rkey, &rev, BPF_NOEXIST) != 0) {
      /* The reply tuple is taken: by a closing connection, which we replace, or a live one. */
      struct ct_val *old = bpf_map_lookup_elem(&ct, &rkey);
      if (!old || (old->state != CT_CLOSED && old->state != CT_FIN_WAIT)) {
        count(old ? LB_STAT_CT_CONFLICT : LB_STAT_CT_FULL);
        return TC_ACT_SHOT;
      }
      if (bpf_map_update_elem(&ct, &rkey, &rev, BPF_ANY) != 0) {
        count(LB_STAT_CT_FULL);
        return TC_ACT_SHOT;
      }
    }
  } else {
    /*
     * Source port for the shared source address: a hash of the client's
     * tuple, then linear probing; the reply entry claims the port
     * atomically (BPF_NOEXIST), so two CPUs never hand out the same one.
     * Onearm stays above the kernel's default ephemeral range because the
     * node's own sockets share that address.
     */
    __u32 base = mix32(csaddr ^ ((__u32)csport << 16) ^ ep.addr);
    __u32 lo = r->mode == LB_MODE_ONEARM ? 61000 : 10000;
    __u32 span = 65536 - lo;
    int ok = 0;
    for (int i = 0; i < 16; i++) {
      __u16 port = lo + (base + i * 2654435761U) % span;
      rkey.dport = bpf_htons(port);
      if (bpf_map_update_elem(&ct, &rkey, &rev, BPF_NOEXIST) == 0) {
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
  fwd.xsport = nsport;
  struct ct_key fkey = {.saddr = csaddr, .daddr = svc->vip, .sport = csport, .dport = svc->port, .proto = p->proto};
  if (bpf_map_update_elem(&ct, &fkey, &fwd, BPF_ANY) != 0) {
    bpf_map_delete_elem(&ct, &rkey);
    count(LB_STAT_CT_FULL);
    return TC_ACT_SHOT;
  }
  if (r->sel == LB_SEL_LC) {
    __u32 slot = r->id * LB_MAX_EPS + idx;
    __u64 *o = bpf_map_lookup_elem(&lc_opened, &slot);
    if (o) __sync_fetch_and_add(o, 1);
  }
  count(LB_STAT_CT_NEW);
  translate(p, nsaddr, ep.addr, nsport, ep.port);
  return forward(skb, p, ingress);
}

/* The start of an ICMP header (linux/icmp.h pulls in libc headers). */
struct icmp_head {
  __u8 type;
  __u8 code;
  __u16 checksum;
};
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8

/*
 * An ICMP echo request to a VIP is answered here, on the interface it came
 * in on, like loxilb does: a VIP advertised over BGP is on no interface, so
 * the kernel would route the ping on instead. Anything else goes on to the
 * kernel untouched.
 */
static __always_inline int echo_reply(struct __sk_buff *skb, struct pkt *p) {
  struct icmp_head *ic = p->l4;
  if ((void *)(ic + 1) > (void *)(long)skb->data_end) return TC_ACT_OK;
  if (ic->type != ICMP_ECHO_REQUEST || ic->code != 0) return TC_ACT_OK;
  struct iphdr *ip = p->ip;
  __u32 dst = ip->daddr;
  if (!bpf_map_lookup_elem(&vips, &dst)) return TC_ACT_OK;

  struct ethhdr *eth = p->eth;
  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, mac, ETH_ALEN);
  /* Swapping the addresses leaves the header sum as it is; a fresh TTL does not. */
  ip->daddr = ip->saddr;
  ip->saddr = dst;
  __u16 *ttl_word = (__u16 *)&ip->ttl;
  __u16 old = *ttl_word;
  ip->ttl = 64;
  csum_apply(&ip->check, csum_diff16(0, old, *ttl_word));
  /* Echo (8) becomes echo reply (0): the type/code word changes, the rest is echoed. */
  __u16 *type_word = (__u16 *)&ic->type;
  old = *type_word;
  ic->type = ICMP_ECHO_REPLY;
  csum_apply(&ic->checksum, csum_diff16(0, old, *type_word));
  count(LB_STAT_ICMP_ECHO);
  return bpf_redirect(skb->ifindex, 0);
}

static __always_inline int lb_main(struct __sk_buff *skb, int ingress) {
  struct pkt p = {};
  int kind = parse(skb, &p);
  if (kind < 0) return TC_ACT_OK;
  if (kind == 1) return ingress ? echo_reply(skb, &p) : TC_ACT_OK;
  count(LB_STAT_PACKETS);

  struct ct_key key = {
      .saddr = p.ip->saddr, .daddr = p.ip->daddr, .sport = *p.sport, .dport = *p.dport, .proto = p.proto};
  struct ct_val *v = bpf_map_lookup_elem(&ct, &key);
  if (v) {
    /*
     * A SYN on the tuple of a connection that is closing or closed is a new
     * connection reusing the client port (TIME_WAIT reuse): forget the old
     * pair and balance it afresh. A SYN in any other state is a retransmit
     * or a challenge and follows the existing entry.
     */
    if (p.proto == IPPROTO_TCP && v->dir == CT_DIR_ORIG && (p.tcp_flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN &&
        (v->state == CT_CLOSED || v->state == CT_FIN_WAIT)) {
      struct ct_key pk;
      ct_peer_key(v, p.proto, &pk);
      bpf_map_delete_elem(&ct, &pk);
      bpf_map_delete_elem(&ct, &key);
      count(LB_STAT_CT_REUSED);
    } else {
      return ct_hit(skb, &p, &key, v, ingress);
    }
  }

  struct lb_key svc = {.vip = p.ip->daddr, .port = *p.dport, .proto = p.proto};
  struct lb_rule *r = bpf_map_lookup_elem(&lb_rules, &svc);
  if (!r) return TC_ACT_OK;
  return new_conn(skb, &p, &svc, r, ingress);
}

/*
 * The sweep, run by user space once a second through BPF_PROG_TEST_RUN: one
 * pass over the connection table inside the kernel, instead of reading it
 * out and deleting entry by entry with two syscalls each (at 16,000 new
 * connections/s that cost a tenth of a core). A connection is its two
 * entries: idle when neither has seen a packet within the limit of its
 * state, and then both go. The time between reading an entry and deleting
 * it is now nanoseconds, so a SYN re-creating a closed tuple on another CPU
 * in between is as good as impossible.
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
  if (last > c->now || c->now - last < idle_limit_ns(v)) return 0;
  if (v->dir == CT_DIR_ORIG && (v->flags & CT_F_LC) && v->rule_id < LB_MAX_RULES && v->ep_idx < LB_MAX_EPS) {
    __u32 slot = v->rule_id * LB_MAX_EPS + v->ep_idx;
    __u64 *closed = bpf_map_lookup_elem(&lc_closed, &slot);
    if (closed) __sync_fetch_and_add(closed, 1);
  }
  if (pv && bpf_map_delete_elem(&ct, &pk) == 0) c->deleted++;
  if (bpf_map_delete_elem(&ct, key) == 0) c->deleted++;
  return 0;
}

/* [0] entries scanned, [1] entries deleted by the latest sweep. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
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
  return TC_ACT_OK;
}

SEC("tc")
int lb_ingress(struct __sk_buff *skb) { return lb_main(skb, 1); }

SEC("tc")
int lb_egress(struct __sk_buff *skb) { return lb_main(skb, 0); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
