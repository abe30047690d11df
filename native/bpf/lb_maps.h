/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map layouts shared by the eBPF program (lb.bpf.c) and its user-space side
 * (native/src/datapath.cc and src/datapath/layout.ts, which encodes the same
 * bytes). Every multi-byte address and port is in network byte order, as it
 * is on the wire, so the program compares and copies without swapping.
 * Addresses are 16 bytes for both families: an IPv4 address is the first
 * word, the other three are zero, and a family byte says which it is.
 * Change a layout here and LB_LAYOUT_VERSION with it: the sync channel
 * refuses peers whose layout differs.
 */
#ifndef LOXILB_LB_MAPS_H
#define LOXILB_LB_MAPS_H

#define LB_LAYOUT_VERSION 2

#define LB_MAX_EPS 32
#define LB_MAX_SRCS 16
#define LB_WSLOTS 128
#define LB_MAX_RULES 16384
#define LB_MAX_SERVICE_ENTRIES 65536
#define LB_CT_MAX 262144
#define LB_PERSIST_MAX 65536

#define LB_AF_INET 4
#define LB_AF_INET6 6

/* The main VIP and up to three secondary ones (SCTP multihoming). */
#define LB_MAX_VIPS 4

/* Selection (LoadbalanceEntry.serviceArguments.sel). */
#define LB_SEL_RR 0
#define LB_SEL_HASH 1
#define LB_SEL_PRIO 2
#define LB_SEL_PERSIST 3
#define LB_SEL_LC 4

/* NAT mode (serviceArguments.mode). */
#define LB_MODE_DEFAULT 0
#define LB_MODE_ONEARM 1
#define LB_MODE_FULLNAT 2
#define LB_MODE_DSR 3        /* direct server return: L2 to the endpoint, no NAT, no state */
#define LB_MODE_HOSTONEARM 5 /* onearm on every address of the node (user space expands the rule) */

/*
 * Connection states kept in both entries of a connection. SCTP uses the TCP
 * ones: INIT sent, INIT ACK seen, established (COOKIE ACK), SHUTDOWN, closed
 * (ABORT, SHUTDOWN COMPLETE).
 */
#define CT_SYN_SENT 0
#define CT_SYN_RECV 1
#define CT_EST 2
#define CT_FIN_WAIT 3
#define CT_CLOSED 4
#define CT_UDP_NEW 5
#define CT_UDP_EST 6

/* ct_val.dir */
#define CT_DIR_ORIG 0  /* client -> endpoint */
#define CT_DIR_REPLY 1 /* endpoint -> client */

/* ct_val.flags */
#define CT_F_FIN_ORIG 0x01
#define CT_F_FIN_REPLY 0x02
#define CT_F_SYNCED 0x04 /* installed by connection sync, not by a packet */
#define CT_F_LC 0x08     /* its rule selects by least connections: count the close */

/* 16 bytes: IPv6, or IPv4 in w[0] with w[1..3] zero. */
struct lb_addr {
  __u32 w[4];
};

/* Service key: rule lookup by (VIP, port, protocol, family). 20 bytes. */
struct lb_key {
  struct lb_addr vip;
  __u16 port;
  __u8 proto;
  __u8 family;
};

/* 20 bytes. alive: 1 in rotation, 0 taken out by a failed probe. */
struct lb_ep {
  struct lb_addr addr;
  __u16 port;
  __u8 weight;
  __u8 alive;
};

/* A client prefix: (saddr & mask) == net, in the VIP's family. */
struct lb_src {
  struct lb_addr net;
  struct lb_addr mask;
};

struct lb_rule {
  __u32 id; /* index into rr_ctr / lc_* (< LB_MAX_RULES) */
  __u8 sel;
  __u8 mode;
  __u8 nep;
  __u8 nsrc;
  /*
   * Source of translated packets when the client's cannot be kept: fullnat's
   * floating address, in the endpoints' family; zero means the address of
   * the interface towards the endpoint (onearm, and NAT64 without one).
   */
  struct lb_addr snat_addr;
  __u32 timeout_s; /* idle timeout of an established connection */
  __u32 persist_s;
  __u32 nalive;    /* endpoints with alive = 1 */
  __u8 ep_family;  /* family of every endpoint; differs from the VIP's for NAT64 */
  __u8 nvips;      /* entries of vips[] in use */
  __u8 pad[2];
  /* The addresses the rule serves: [0] the one packets arrive at, then the
   * secondary IPs, which SCTP multihoming hands to clients. */
  struct lb_addr vips[LB_MAX_VIPS];
  struct lb_ep eps[LB_MAX_EPS];
  __u8 wslots[LB_WSLOTS]; /* endpoint index per slot, by weight, alive ones only */
  struct lb_src srcs[LB_MAX_SRCS];
};

/* 40 bytes. */
struct ct_key {
  struct lb_addr saddr;
  struct lb_addr daddr;
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 family;
  __u8 pad[2];
};

/* 96 bytes. x* is what the packet is rewritten to, in family xfamily. */
struct ct_val {
  struct lb_addr xsaddr;
  struct lb_addr xdaddr;
  __u16 xsport;
  __u16 xdport;
  struct lb_key svc;
  __u32 rule_id;
  __u8 dir;
  __u8 state;
  __u8 ep_idx;
  __u8 flags;
  __u32 timeout_s;
  __u8 xfamily;
  __u8 pad[3];
  __u64 last_ns;
  __u64 packets;
  __u64 bytes;
};

struct persist_key {
  __u32 rule_id;
  struct lb_addr saddr;
};

struct persist_val {
  __u32 ep_idx;
  __u32 pad;
  __u64 last_ns;
};

/* ifindex -> the interface's first IPv4 and first global IPv6 address (onearm, NAT64 sources). */
struct if_addrs {
  __u32 v4;
  __u32 pad;
  struct lb_addr v6;
};

/* An address some programmed rule serves: it answers echo requests. */
struct vip_key {
  struct lb_addr addr;
  __u8 family;
  __u8 pad[3];
};

/* Per-CPU traffic of one endpoint of a rule (ep_stats, index = lb_rule.id *
 * LB_MAX_EPS + the endpoint's index): every packet of its connections, both
 * directions, and their bytes. */
struct ep_stat {
  __u64 packets;
  __u64 bytes;
};

/* Connections of one rule the latest sweep found (rule_conns, index =
 * lb_rule.id): valid only when gen is that sweep's (sweep_result[2]), so
 * nobody has to zero the array between sweeps. */
struct rule_conns {
  __u64 gen;
  __u64 active;
};

/* Per-CPU counters, index = LB_STAT_*. */
#define LB_STAT_PACKETS 0
#define LB_STAT_CT_HIT 1
#define LB_STAT_CT_NEW 2
#define LB_STAT_NO_EP 3
#define LB_STAT_NOT_SYN 4
#define LB_STAT_SRC_DENIED 5
#define LB_STAT_NAT_PORT_FULL 6
#define LB_STAT_CT_FULL 7
#define LB_STAT_REDIRECT 8
#define LB_STAT_TO_KERNEL 9
#define LB_STAT_CT_REUSED 10   /* SYN on a closing connection's tuple: replaced */
#define LB_STAT_CT_CONFLICT 11 /* reply tuple held by a live connection */
#define LB_STAT_ICMP_ECHO 12   /* echo requests to a VIP answered (ICMP and ICMPv6) */
#define LB_STAT_FAMILY_XLATE 13 /* packets moved between IPv6 and IPv4 (NAT64 and its replies) */
#define LB_STAT_XLATE_FAIL 14  /* a family change the kernel refused, or an untranslatable packet */
#define LB_STAT_SCTP_NOT_INIT 15 /* an SCTP packet of an association we do not know that is no INIT: dropped */
#define LB_STAT_SCTP_PATHS 16  /* extra address pairs (multihoming) set up from INIT address lists */
#define LB_STAT_SCTP_ADDR_REWRITE 17 /* address parameters rewritten in INIT / INIT ACK */
#define LB_STAT_DSR 18         /* packets sent straight to an endpoint (dsr) */
#define LB_STAT_DSR_NOT_ONLINK 19 /* dsr packets dropped: the endpoint is not on a segment of this node */
#define LB_STAT_MAX 20

#endif
