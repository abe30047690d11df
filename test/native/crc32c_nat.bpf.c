// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test program for native/bpf/crc32c.h in the kernel: rewrites the ports of
 * an Ethernet/IPv4/SCTP packet to the ones in nat_ports[0] (network order)
 * and fixes the SCTP checksum incrementally, as the datapath will after a
 * port NAT. Run through BPF_PROG_TEST_RUN by crc32c_bpf_run.c, which also
 * shows that the verifier accepts the header.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../../native/bpf/crc32c.h"

struct sctp_common {
  __be16 source;
  __be16 dest;
  __be32 vtag;
  __u32 checksum; /* little-endian on the wire */
};

struct nat_ports {
  __be16 sport;
  __be16 dport;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct nat_ports);
} nat_ports SEC(".maps");

SEC("tc")
int crc32c_nat(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_UNSPEC;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_SCTP) return TC_ACT_UNSPEC;
  __u32 ihl = ip->ihl * 4;
  if (ihl < sizeof(*ip)) return TC_ACT_SHOT;
  struct sctp_common *sh = (void *)ip + ihl;
  if ((void *)(sh + 1) > data_end) return TC_ACT_SHOT;
  __u32 zero = 0;
  struct nat_ports *np = bpf_map_lookup_elem(&nat_ports, &zero);
  if (!np) return TC_ACT_SHOT;
  /* The SCTP length from the IP header, not from data_end. */
  __u32 sctp_len = bpf_ntohs(ip->tot_len) - ihl;
  __u32 crc = crc32c_from_wire(sh->checksum);
  crc = crc32c_adjust_ports(crc, sh->source, sh->dest, np->sport, np->dport, sctp_len);
  sh->source = np->sport;
  sh->dest = np->dport;
  sh->checksum = crc32c_to_wire(crc);
  return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
