/*
 * Loads crc32c_nat.bpf.o (the kernel verifier has its say; its log goes to
 * stderr on failure) and runs each packet from stdin through the program
 * with BPF_PROG_TEST_RUN. Input lines: "<new sport> <new dport> <hex
 * frame>"; output lines: "<return code> <hex frame out>". Needs root.
 * Driven by test/integration/crc32cBpf.test.ts.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char verifier_log[1 << 20];

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s crc32c_nat.bpf.o\n", argv[0]);
    return 2;
  }
  struct bpf_object_open_opts oopts = {.sz = sizeof oopts, .kernel_log_buf = verifier_log, .kernel_log_size = sizeof verifier_log, .kernel_log_level = 1};
  struct bpf_object *obj = bpf_object__open_file(argv[1], &oopts);
  if (!obj) {
    fprintf(stderr, "open %s failed\n", argv[1]);
    return 1;
  }
  if (bpf_object__load(obj) != 0) {
    fprintf(stderr, "load failed; verifier log:\n%s\n", verifier_log);
    return 1;
  }
  /* The last line of a level-1 log: "processed N insns ..." */
  const char *processed = strstr(verifier_log, "processed ");
  if (processed) {
    const char *eol = strchr(processed, '\n');
    fprintf(stderr, "%.*s\n", eol ? (int)(eol - processed) : (int)strlen(processed), processed);
  }
  int prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "crc32c_nat"));
  int map = bpf_map__fd(bpf_object__find_map_by_name(obj, "nat_ports"));
  static char line[70000];
  static unsigned char in[32768], out[32768];
  while (fgets(line, sizeof line, stdin)) {
    unsigned int sport, dport;
    int consumed = 0;
    if (sscanf(line, "%u %u %n", &sport, &dport, &consumed) != 2) {
      fprintf(stderr, "malformed line\n");
      return 2;
    }
    size_t n = 0;
    for (const char *p = line + consumed; hexval(p[0]) >= 0 && hexval(p[1]) >= 0 && n < sizeof in; p += 2) in[n++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
    __u32 key = 0;
    __be16 ports[2] = {htons((__u16)sport), htons((__u16)dport)};
    if (bpf_map_update_elem(map, &key, ports, BPF_ANY) != 0) {
      perror("map update");
      return 1;
    }
    struct bpf_test_run_opts ropts = {.sz = sizeof ropts, .data_in = in, .data_size_in = (__u32)n, .data_out = out, .data_size_out = sizeof out, .repeat = 1};
    if (bpf_prog_test_run_opts(prog, &ropts) != 0) {
      perror("BPF_PROG_TEST_RUN");
      return 1;
    }
    printf("%u ", ropts.retval);
    for (__u32 i = 0; i < ropts.data_size_out; i++) printf("%02x", out[i]);
    printf("\n");
    fflush(stdout);
  }
  bpf_object__close(obj);
  return 0;
}
