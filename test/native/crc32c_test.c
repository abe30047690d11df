/*
 * Host check of native/bpf/crc32c.h, built with cc and run by
 * test/unit/crc32cNative.test.ts. Reads vectors that the TypeScript
 * implementation produced by full recomputation, one per line:
 *
 *   A crc offset old new width len expected
 *       crc32c_adjust(crc, offset, old, new, width, len) == expected
 *   P crc old_sport old_dport new_sport new_dport len expected
 *       crc32c_adjust_ports() with the ports in host order
 *   W field crc
 *       crc32c_from_wire(field) == crc, field being the 4 wire bytes
 *       read as a little-endian number
 *
 * Before that it recomputes the header's nibble table with crc32c_mul.
 * Prints "ok <vectors>" and exits 0, or one line per mismatch and exits 1.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "../../native/bpf/crc32c.h"

static int check_table(void) {
  int bad = 0;
  /* x^8: the operator of one zero byte, eight raw steps applied to x^0. */
  __u32 base = CRC32C_ONE;
  for (int bit = 0; bit < 8; bit++) base = (base >> 1) ^ (CRC32C_POLY & (0u - (base & 1u)));
  for (int j = 0; j < 4; j++) {
    __u32 p = CRC32C_ONE;
    for (int v = 0; v < 16; v++) {
      if (crc32c_nibble_pow[j][v] != p) {
        printf("table[%d][%d] = %08x, want %08x\n", j, v, crc32c_nibble_pow[j][v], p);
        bad++;
      }
      p = crc32c_mul(p, base);
    }
    base = p; /* x^(8 * 16^(j+1)) */
  }
  return bad;
}

int main(void) {
  int bad = check_table();
  unsigned long count = 0;
  char kind[2];
  while (scanf("%1s", kind) == 1) {
    unsigned int crc, a, b, c, d, e, expected, got;
    if (strcmp(kind, "A") == 0) {
      if (scanf("%u %u %u %u %u %u %u", &crc, &a, &b, &c, &d, &e, &expected) != 7) goto malformed;
      got = crc32c_adjust(crc, a, b, c, d, e);
      if (got != expected) {
        printf("A crc=%08x off=%u old=%08x new=%08x width=%u len=%u: got %08x, want %08x\n", crc, a, b, c, d, e, got, expected);
        bad++;
      }
    } else if (strcmp(kind, "P") == 0) {
      if (scanf("%u %u %u %u %u %u %u", &crc, &a, &b, &c, &d, &e, &expected) != 7) goto malformed;
      got = crc32c_adjust_ports(crc, htons((__u16)a), htons((__u16)b), htons((__u16)c), htons((__u16)d), e);
      if (got != expected) {
        printf("P crc=%08x %u:%u -> %u:%u len=%u: got %08x, want %08x\n", crc, a, b, c, d, e, got, expected);
        bad++;
      }
    } else if (strcmp(kind, "W") == 0) {
      if (scanf("%u %u", &a, &expected) != 2) goto malformed;
      unsigned char wire[4] = {(unsigned char)a, (unsigned char)(a >> 8), (unsigned char)(a >> 16), (unsigned char)(a >> 24)};
      __u32 field;
      memcpy(&field, wire, 4); /* what a BPF program's load of the field gives */
      got = crc32c_from_wire(field);
      if (got != expected || crc32c_to_wire(got) != field) {
        printf("W field=%08x: got %08x, want %08x\n", a, got, expected);
        bad++;
      }
    } else {
      goto malformed;
    }
    count++;
  }
  if (bad) return 1;
  printf("ok %lu\n", count);
  return 0;
malformed:
  printf("malformed vector after %lu\n", count);
  return 2;
}
