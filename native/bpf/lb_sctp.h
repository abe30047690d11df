/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SCTP in the datapath, included by lb.bpf.c (it uses its maps, struct pkt
 * and counters). An association is tracked like a TCP connection, by its
 * address pairs and ports; what SCTP adds:
 *
 * - The checksum is CRC32c over the SCTP packet only (not the IP header), so
 *   address changes leave it alone and port changes are folded in with
 *   crc32c.h's incremental update, never a pass over the payload.
 * - Multihoming. The client's INIT lists its other addresses; the rule's
 *   secondary IPs are the VIP's other addresses. At INIT every (client
 *   address, VIP address) pair gets an entry to the same endpoint, so a path
 *   failover on either side stays on that endpoint. In default mode the
 *   endpoint sees the client's real addresses and gets a reply entry for
 *   each (client address i answers from VIP address i); with a NAT source
 *   (onearm, fullnat) the endpoint sees one peer, so the client's address
 *   list is hidden from it, and the reply path follows the path the client
 *   last sent on.
 * - The endpoint's INIT ACK must not tell the client the endpoint's own
 *   addresses: they are replaced by the secondary VIPs (and parameters
 *   appended when the endpoint lists fewer), the rest turned into a
 *   parameter type the receiver skips (the 0x8000 bit, RFC 9260 3.2.1).
 */
#ifndef LOXILB_LB_SCTP_H
#define LOXILB_LB_SCTP_H

#include "crc32c.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define SCTP_DATA 0
#define SCTP_INIT 1
#define SCTP_INIT_ACK 2
#define SCTP_HEARTBEAT 4
#define SCTP_ABORT 6
#define SCTP_SHUTDOWN 7
#define SCTP_SHUTDOWN_ACK 8
#define SCTP_COOKIE_ECHO 10
#define SCTP_COOKIE_ACK 11
#define SCTP_SHUTDOWN_COMPLETE 14
#define SCTP_NO_CHUNK 0xff

#define SCTP_PARAM_IPV4 5
#define SCTP_PARAM_IPV6 6
#define SCTP_PARAM_SKIP 0x8000 /* high bits 10: skip the parameter, do not report it */

#define SCTP_COMMON_LEN 12
#define SCTP_INIT_FIXED 20 /* chunk header, tag, a_rwnd, streams, initial TSN */
#define SCTP_MAX_PARAMS 12
#define SCTP_MAX_CLIENT_ADDRS 4

/*
 * The CRC helpers as global functions: the verifier checks each once, not
 * once per call site (about 2,000 instructions each).
 */
__attribute__((noinline)) __u32 lb_crc_adjust(__u32 crc, __u32 old_be, __u32 new_be, __u32 tail) {
  return crc32c_adjust_tail(crc, old_be, new_be, tail & 0xffff);
}

__attribute__((noinline)) __u32 lb_crc_shift(__u32 reg, __u32 nbytes) { return crc32c_shift(reg, nbytes & 0xffff); }

__attribute__((noinline)) __u32 lb_crc_raw_word(__u32 reg, __u32 word_be) { return crc32c_shift(reg, 4) ^ crc32c_raw_be32(word_be); }

/* The SCTP checksum after the ports changed (they are already written). */
static __always_inline int sctp_fix_ports(struct __sk_buff *skb, struct pkt *p, __u16 nsport, __u16 ndport) {
  if (nsport == p->sport && ndport == p->dport) return 0;
  __u32 off = p->l4_off;
  if (off > L4_OFF_MAX) return -1;
  __le32 c;
  if (bpf_skb_load_bytes(skb, off + 8, &c, 4)) return -1;
  __u32 o = ((__u32)bpf_ntohs(p->sport) << 16) | bpf_ntohs(p->dport);
  __u32 n = ((__u32)bpf_ntohs(nsport) << 16) | bpf_ntohs(ndport);
  __u32 crc = lb_crc_adjust(crc32c_from_wire(c), o, n, p->l4_len - 4);
  c = crc32c_to_wire(crc);
  return bpf_skb_store_bytes(skb, off + 8, &c, 4, 0) ? -1 : 0;
}

/* Association state from the first chunk of a packet seen in direction dir. */
static __always_inline __u8 sctp_next(__u8 state, __u8 chunk, __u8 dir) {
  if (chunk == SCTP_ABORT || chunk == SCTP_SHUTDOWN_COMPLETE) return CT_CLOSED;
  if (chunk == SCTP_SHUTDOWN || chunk == SCTP_SHUTDOWN_ACK) return CT_FIN_WAIT;
  if (state == CT_SYN_SENT && dir == CT_DIR_REPLY && chunk == SCTP_INIT_ACK) return CT_SYN_RECV;
  /* COOKIE ACK, or anything the endpoint sends once it has the cookie. */
  if (state == CT_SYN_RECV && dir == CT_DIR_REPLY && chunk != SCTP_INIT_ACK) return CT_EST;
  return state;
}

struct sctp_param_head {
  __be16 type;
  __be16 len;
};

/* Where the parameters of the INIT / INIT ACK chunk starting the packet are: [*off, *end). */
static __always_inline int sctp_params(struct __sk_buff *skb, const struct pkt *p, __u32 *off, __u32 *end) {
  __u32 chunk = p->l4_off + SCTP_COMMON_LEN;
  struct sctp_param_head ch; /* type/flags and length, same shape */
  if (bpf_skb_load_bytes(skb, chunk, &ch, 4)) return -1;
  __u32 clen = bpf_ntohs(ch.len);
  if (clen < SCTP_INIT_FIXED || clen > (__u32)p->l4_len - SCTP_COMMON_LEN) return -1;
  *off = chunk + SCTP_INIT_FIXED;
  *end = chunk + clen;
  return 0;
}

/*
 * The parameter walks below run under bpf_loop: each parameter may fork the
 * verifier's state (rewrite, skip, keep), and an unrolled walk multiplies
 * those forks by the number of parameters; a loop callback is verified as
 * one body.
 */
struct sctp_walk {
  struct __sk_buff *skb;
  struct pkt *p;
  struct lb_rule *r;
  struct conn_scratch *sc;
  __u32 off;
  __u32 end;
  __u32 sctp_end;
  __u32 crc;
  __u32 n;       /* addresses kept (INIT) or used (INIT ACK) */
  __u32 nsec;    /* secondary VIP addresses (INIT ACK) */
  __u32 alen;    /* address length of the packet's family */
  __u16 want;    /* address parameter type of the packet's family */
  __u8 hide;     /* INIT: hide the client's addresses from the endpoint */
  __u8 changed;
  int err;
};

/* Reads the parameter at w->off; 1 when the walk is over. */
static __always_inline int sctp_walk_head(struct sctp_walk *w, __u32 *plen, __u16 *type) {
  if (w->off + 4 > w->end) return 1;
  struct sctp_param_head ph;
  if (bpf_skb_load_bytes(w->skb, w->off, &ph, 4)) return 1;
  *plen = bpf_ntohs(ph.len);
  *type = bpf_ntohs(ph.type);
  if (*plen < 4 || w->off + *plen > w->end) return 1;
  return 0;
}

/* Turns the parameter at w->off into one the receiver skips. */
static __always_inline int sctp_skip_param(struct sctp_walk *w, __u16 t) {
  __u16 nt = t | SCTP_PARAM_SKIP;
  __be16 v = bpf_htons(nt);
  if (bpf_skb_store_bytes(w->skb, w->off, &v, 2, 0)) return -1;
  w->crc = lb_crc_adjust(w->crc, t, nt, w->sctp_end - w->off - 2);
  w->changed = 1;
  count(LB_STAT_SCTP_ADDR_REWRITE);
  return 0;
}

static long sctp_init_param(__u32 i, struct sctp_walk *w) {
  __u32 plen;
  __u16 t;
  if (sctp_walk_head(w, &plen, &t)) return 1;
  if (t == SCTP_PARAM_IPV4 || t == SCTP_PARAM_IPV6) {
    /* Kept either way: the client may use the address towards the VIP. */
    if (w->n < SCTP_MAX_CLIENT_ADDRS && t == w->want && plen == 4 + w->alen) {
      struct lb_addr a = {};
      if (!bpf_skb_load_bytes(w->skb, w->off + 4, &a, w->alen == 4 ? 4 : 16)) {
        const struct lb_addr *s = &w->p->saddr;
        if (!(a.w[0] == s->w[0] && a.w[1] == s->w[1] && a.w[2] == s->w[2] && a.w[3] == s->w[3])) {
          w->sc->caddr[w->n & (SCTP_MAX_CLIENT_ADDRS - 1)] = a;
          w->n++;
        }
      }
    }
    if (w->hide && sctp_skip_param(w, t)) {
      w->err = 1;
      return 1;
    }
  }
  w->off += (plen + 3) & ~3U;
  return 0;
}

static __always_inline int sctp_walk_start(struct sctp_walk *w) {
  if (sctp_params(w->skb, w->p, &w->off, &w->end)) return -1;
  __le32 wire;
  if (bpf_skb_load_bytes(w->skb, w->p->l4_off + 8, &wire, 4)) return -1;
  w->crc = crc32c_from_wire(wire);
  w->sctp_end = w->p->l4_off + w->p->l4_len;
  w->want = w->p->family == LB_AF_INET ? SCTP_PARAM_IPV4 : SCTP_PARAM_IPV6;
  w->alen = w->p->family == LB_AF_INET ? 4 : 16;
  return 0;
}

static __always_inline int sctp_store_crc(struct sctp_walk *w, __u32 crc) {
  __le32 wire = crc32c_to_wire(crc);
  return bpf_skb_store_bytes(w->skb, w->p->l4_off + 8, &wire, 4, 0) ? -1 : 0;
}

/*
 * At an INIT: the client's other addresses (address parameters of the
 * packet's family) go into sc->caddr; with a NAT source they are also hidden
 * from the endpoint. Returns how many addresses were kept, or -1.
 */
__attribute__((noinline)) int lb_sctp_init_addrs(struct __sk_buff *skb, struct pkt *p, struct conn_scratch *sc, int hide) {
  if (!skb || !p || !sc) return -1;
  struct sctp_walk w = {.skb = skb, .p = p, .sc = sc, .hide = hide != 0};
  if (sctp_walk_start(&w)) return -1;
  bpf_loop(SCTP_MAX_PARAMS, sctp_init_param, &w, 0);
  if (w.err) return -1;
  if (w.changed && sctp_store_crc(&w, w.crc)) return -1;
  return w.n;
}

struct sctp_paths {
  struct pkt *p;
  struct lb_rule *r;
  struct conn_scratch *sc;
  __u32 nv;
  __u32 nclient;
  __u32 snat;
};

/* One (client address c, VIP address j) pair: i = c * LB_MAX_VIPS + j. */
static long sctp_path(__u32 i, struct sctp_paths *x) {
  __u32 c = i / LB_MAX_VIPS;
  __u32 j = i % LB_MAX_VIPS;
  if (c > x->nclient) return 1;
  if (j >= x->nv || (c == 0 && j == 0)) return 0; /* the first pair is already in */
  struct pkt *p = x->p;
  struct conn_scratch *sc = x->sc;
  /* c == 0: the client's own address; then the ones its INIT listed. */
  struct lb_addr client = c == 0 ? p->saddr : sc->caddr[(c - 1) & (SCTP_MAX_CLIENT_ADDRS - 1)];
  struct lb_addr vip = j == 0 ? p->daddr : x->r->vips[j & (LB_MAX_VIPS - 1)];
  struct ct_key *k = &sc->key;
  __builtin_memset(k, 0, sizeof(*k));
  k->saddr = client;
  k->daddr = vip;
  k->sport = p->sport;
  k->dport = p->dport;
  k->proto = IPPROTO_SCTP;
  k->family = p->family;
  sc->tmp = sc->fwd;
  sc->tmp.svc.vip = vip;
  if (!x->snat) sc->tmp.xsaddr = client;
  bpf_map_update_elem(&ct, k, &sc->tmp, BPF_ANY);
  count(LB_STAT_SCTP_PATHS);
  /* Default mode: the endpoint may answer on any client address; address c answers from VIP address c. */
  __u32 pair = c < x->nv ? c : x->nv - 1;
  if (!x->snat && c > 0 && j == pair) {
    k->saddr = sc->fwd.xdaddr;
    k->daddr = client;
    k->sport = sc->fwd.xdport;
    k->dport = p->sport;
    k->family = sc->fwd.xfamily;
    sc->tmp = sc->rev;
    sc->tmp.svc.vip = vip;
    sc->tmp.xsaddr = vip;
    sc->tmp.xdaddr = client;
    bpf_map_update_elem(&ct, k, &sc->tmp, BPF_ANY);
    count(LB_STAT_SCTP_PATHS);
  }
  return 0;
}

/*
 * At an INIT, after the first pair of entries (sc->fwd, sc->rev) is in:
 * entries for every other (client address, VIP address) pair, to the same
 * endpoint through the same translation. nclient: addresses in sc->caddr.
 */
__attribute__((noinline)) int lb_sctp_paths(struct pkt *p, struct lb_rule *r, struct conn_scratch *sc, int nclient, int snat) {
  if (!p || !r || !sc) return 0;
  __u32 nv = r->nvips;
  struct sctp_paths x = {
      .p = p,
      .r = r,
      .sc = sc,
      .nv = nv == 0 ? 1 : nv > LB_MAX_VIPS ? LB_MAX_VIPS : nv,
      .nclient = nclient < 0 ? 0 : nclient > SCTP_MAX_CLIENT_ADDRS ? SCTP_MAX_CLIENT_ADDRS : nclient,
      .snat = snat != 0,
  };
  bpf_loop((SCTP_MAX_CLIENT_ADDRS + 1) * LB_MAX_VIPS, sctp_path, &x, 0);
  return 0;
}

/* One address word of the parameter at w->off becomes the VIP address's word. */
static long sctp_ack_word(__u32 i, struct sctp_walk *w) {
  if (i * 4 >= w->alen) return 1;
  __u32 at = w->off + 4 + i * 4;
  __u32 oldw;
  if (bpf_skb_load_bytes(w->skb, at, &oldw, 4)) {
    w->err = 1;
    return 1;
  }
  __u32 neww = w->r->vips[(w->n + 1) & (LB_MAX_VIPS - 1)].w[i & 3];
  if (oldw == neww) return 0;
  if (bpf_skb_store_bytes(w->skb, at, &neww, 4, 0)) {
    w->err = 1;
    return 1;
  }
  w->crc = lb_crc_adjust(w->crc, bpf_ntohl(oldw), bpf_ntohl(neww), w->sctp_end - at - 4);
  return 0;
}

static long sctp_ack_param(__u32 i, struct sctp_walk *w) {
  __u32 plen;
  __u16 t;
  if (sctp_walk_head(w, &plen, &t)) return 1;
  if (t == SCTP_PARAM_IPV4 || t == SCTP_PARAM_IPV6) {
    count(LB_STAT_SCTP_ADDR_REWRITE);
    if (t == w->want && plen == 4 + w->alen && w->n < w->nsec) {
      /* The endpoint's address becomes a secondary VIP address. */
      bpf_loop(4, sctp_ack_word, w, 0);
      w->n++;
    } else if (sctp_skip_param(w, t)) {
      w->err = 1;
    }
    if (w->err) return 1;
  }
  w->off += (plen + 3) & ~3U;
  return 0;
}

/* One appended address parameter (secondary VIP address s): its words into the packet and the raw CRC. */
struct sctp_append {
  struct sctp_walk *w;
  __u32 at;
  __u32 raw;
  __u32 s;
};

static long sctp_append_word(__u32 i, struct sctp_append *a) {
  struct sctp_walk *w = a->w;
  if (i * 4 >= w->alen + 4) return 1;
  __u32 word = i == 0 ? bpf_htonl(((__u32)w->want << 16) | (4 + w->alen)) : w->r->vips[a->s & (LB_MAX_VIPS - 1)].w[(i - 1) & 3];
  if (bpf_skb_store_bytes(w->skb, a->at + i * 4, &word, 4, 0)) {
    w->err = 1;
    return 1;
  }
  a->raw = lb_crc_raw_word(a->raw, bpf_ntohl(word));
  return 0;
}

/*
 * The endpoint's INIT ACK: its address parameters become the rule's
 * secondary VIP addresses (or are skipped), and secondary VIPs left over are
 * appended. Runs before the addresses and ports are translated. Returns the
 * bytes added, or -1 (the packet is then dropped: half rewritten is worse).
 */
__attribute__((noinline)) int lb_sctp_init_ack(struct __sk_buff *skb, struct pkt *p, struct lb_rule *r) {
  if (!skb || !p || !r) return -1;
  struct sctp_walk w = {.skb = skb, .p = p, .r = r};
  if (sctp_walk_start(&w)) return -1;
  /* Only an INIT ACK that ends the packet (its padding aside) can grow; it is never bundled. */
  __u32 chunk = p->l4_off + SCTP_COMMON_LEN;
  int may_grow = chunk + ((w.end - chunk + 3) & ~3U) == w.sctp_end;
  __u32 nv = r->nvips;
  w.nsec = nv > 1 ? (nv > LB_MAX_VIPS ? LB_MAX_VIPS : nv) - 1 : 0;
  bpf_loop(SCTP_MAX_PARAMS, sctp_ack_param, &w, 0);
  if (w.err) return -1;
  __u32 add = may_grow ? (w.nsec - w.n) * (4 + w.alen) : 0;
  if (add == 0) return w.changed || w.n > 0 ? (sctp_store_crc(&w, w.crc) ? -1 : 0) : 0;
  /* Grow the chunk: its length field (in place, while the length is unchanged), then the tail. */
  __be16 clen_old;
  if (bpf_skb_load_bytes(skb, chunk + 2, &clen_old, 2)) return -1;
  /* The old last parameter's padding now sits inside the chunk, so it counts. */
  __be16 clen_new = bpf_htons(((bpf_ntohs(clen_old) + 3) & ~3U) + add);
  if (bpf_skb_store_bytes(skb, chunk + 2, &clen_new, 2, 0)) return -1;
  __u32 crc = lb_crc_adjust(w.crc, bpf_ntohs(clen_old), bpf_ntohs(clen_new), w.sctp_end - (chunk + 2) - 2);
  if (bpf_skb_change_tail(skb, skb->len + add, 0)) return -1;
  /* Continue the CRC over the appended bytes: its state is ~crc, carried through them. */
  struct sctp_append a = {.w = &w, .at = w.sctp_end, .raw = 0};
  for (__u32 s = 1; s < LB_MAX_VIPS; s++) {
    if (s > w.nsec) break;
    if (s <= w.n) continue;
    a.s = s;
    bpf_loop(5, sctp_append_word, &a, 0);
    if (w.err) return -1;
    a.at += 4 + w.alen;
  }
  __u32 state = lb_crc_shift(~crc, add) ^ a.raw;
  if (sctp_store_crc(&w, ~state)) return -1;
  /* The IP length, and for IPv4 its header checksum. */
  if (p->family == LB_AF_INET) {
    __be16 tot_old, tot_new;
    if (bpf_skb_load_bytes(skb, L3_OFF + 2, &tot_old, 2)) return -1;
    tot_new = bpf_htons(bpf_ntohs(tot_old) + add);
    if (bpf_skb_store_bytes(skb, L3_OFF + 2, &tot_new, 2, 0)) return -1;
    if (bpf_l3_csum_replace(skb, L3_OFF + 10, tot_old, tot_new, 2)) return -1;
  } else {
    __be16 pl = bpf_htons(p->l4_len + add);
    if (bpf_skb_store_bytes(skb, L3_OFF + 4, &pl, 2, 0)) return -1;
  }
  return add;
}

#endif
