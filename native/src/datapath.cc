// LbDatapath: loads native/build/lb.bpf.o through libbpf, attaches its TC
// programs, and gives TypeScript raw access to the maps by name. The map
// layouts live in native/bpf/lb_maps.h; src/datapath/layout.ts encodes and
// decodes the same bytes, so this file stays a thin, generic door except for
// the table walks that must be fast: the conntrack sweep (timeouts, least
// connection accounting), its count, and the install of synced entries.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "loxilb_native.h"

extern "C" {
#include "../bpf/lb_maps.h"
}

namespace loxilb {
namespace {

// libbpf reports verifier logs and load errors through a print callback; the
// latest ones are kept so a failed load can say why.
std::string g_libbpf_log;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  static char buf[65536];
  int n = vsnprintf(buf, sizeof buf, fmt, args);
  if (n > 0) {
    g_libbpf_log.append(buf, std::min<size_t>(n, sizeof buf - 1));
    if (g_libbpf_log.size() > 65536) g_libbpf_log.erase(0, g_libbpf_log.size() - 65536);
  }
  return 0;
}

uint64_t KtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

static_assert(sizeof(ct_key) % 8 == 0, "ct_key is hashed as 64-bit words");

struct CtKeyBytes {
  uint64_t w[sizeof(ct_key) / 8];
  bool operator==(const CtKeyBytes& o) const { return memcmp(w, o.w, sizeof w) == 0; }
};

struct CtKeyHash {
  size_t operator()(const CtKeyBytes& k) const {
    uint64_t h = 0x632be59bd9b4e019ULL;
    for (uint64_t x : k.w) h = (h ^ x) * 0x9e3779b97f4a7c15ULL + (h >> 29);
    return static_cast<size_t>(h ^ (h >> 31));
  }
};

bool SameAddr(const lb_addr& a, const lb_addr& b) { return memcmp(&a, &b, sizeof a) == 0; }

// The index of the rule's endpoint at (addr, port, family), or -1.
int EndpointIndex(const lb_rule& r, const lb_addr& addr, uint16_t port, uint8_t family) {
  if (family != r.ep_family) return -1;
  for (int i = 0; i < r.nep && i < LB_MAX_EPS; i++) {
    if (r.eps[i].port == port && SameAddr(r.eps[i].addr, addr)) return i;
  }
  return -1;
}

class LbDatapath : public Napi::ObjectWrap<LbDatapath> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LbDatapath",
                       {
                           InstanceMethod("attach", &LbDatapath::Attach),
                           InstanceMethod("detach", &LbDatapath::Detach),
                           InstanceMethod("mapUpdate", &LbDatapath::MapUpdate),
                           InstanceMethod("mapDelete", &LbDatapath::MapDelete),
                           InstanceMethod("mapLookup", &LbDatapath::MapLookup),
                           InstanceMethod("mapDump", &LbDatapath::MapDump),
                           InstanceMethod("mapUpdateBatch", &LbDatapath::MapUpdateBatch),
                           InstanceMethod("mapDeleteBatch", &LbDatapath::MapDeleteBatch),
                           InstanceMethod("stats", &LbDatapath::Stats),
                           InstanceMethod("ruleCounters", &LbDatapath::RuleCounters),
                           InstanceMethod("ruleCountersReset", &LbDatapath::RuleCountersReset),
                           InstanceMethod("tableSizes", &LbDatapath::TableSizes),
                           InstanceMethod("ctSweep", &LbDatapath::CtSweep),
                           InstanceMethod("ctCount", &LbDatapath::CtCount),
                           InstanceMethod("ctInstall", &LbDatapath::CtInstall),
                           InstanceMethod("close", &LbDatapath::Close),
                           InstanceMethod("pinState", &LbDatapath::PinState),
                           InstanceMethod("unpin", &LbDatapath::Unpin),
                       });
  }

  explicit LbDatapath(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LbDatapath>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "LbDatapath(objectPath: string, ctMax?: number, maxRules?: number, ctPinPath?: string)");
    std::string path = info[0].As<Napi::String>();
    // Table sizes are chosen at load: the connection table by memory or
    // --ct-max, the rule tables by --max-rules (a power of two).
    uint32_t ct_max = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    uint32_t max_rules = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
    if (max_rules != 0 && (max_rules & (max_rules - 1)) != 0) throw Napi::RangeError::New(env, "maxRules must be a power of two");
    // The connection table pinned on a bpffs: a restarted agent (after a
    // crash, SIGKILL, an upgrade) adopts it instead of starting empty.
    if (info.Length() > 3 && info[3].IsString()) ct_pin_ = std::string(info[3].As<Napi::String>());
    libbpf_set_print(LibbpfPrint);
    g_libbpf_log.clear();
    // The verifier gives up with EAGAIN when a signal is pending for the loading
    // thread (SIGPROF under --cpu-prof, SIGCHLD from a child), so signals wait
    // while the programs load, and an interrupted load is tried again.
    int rc = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
      obj_ = bpf_object__open_file(path.c_str(), nullptr);
      if (obj_ == nullptr) {
        int err = errno;
        throw ErrnoError(env, "cannot open eBPF object " + path, err);
      }
      std::string what;
      int err = SizeTables(ct_max, max_rules, &what);
      if (err == 0 && !ct_pin_.empty() && (err = PinConnectionTable()) != 0) what = "pin the connection table at " + ct_pin_;
      else if (err != 0) what = "size " + what;
      if (err != 0) {
        bpf_object__close(obj_);
        obj_ = nullptr;
        throw ErrnoError(env, "cannot " + what, err);
      }
      sigset_t all, old;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, &old);
      rc = bpf_object__load(obj_);
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      if (rc != -EAGAIN) break;
      bpf_object__close(obj_);
      obj_ = nullptr;
      g_libbpf_log.clear();
    }
    if (rc != 0) {
      int err = -rc;
      std::string log = g_libbpf_log;
      bpf_object__close(obj_);
      obj_ = nullptr;
      Napi::Error e = ErrnoError(env, "cannot load eBPF programs from " + path, err);
      e.Set("log", Napi::String::New(env, log));
      throw e;
    }
    ingress_fd_ = ProgFd("lb_ingress");
    egress_fd_ = ProgFd("lb_egress");
    sweep_fd_ = ProgFd("lb_sweep");
    count_fd_ = ProgFd("lb_ct_count");
    if (ingress_fd_ < 0 || egress_fd_ < 0 || sweep_fd_ < 0 || count_fd_ < 0) {
      throw Napi::Error::New(env, "eBPF object lacks lb_ingress, lb_egress, lb_sweep or lb_ct_count");
    }
  }

  ~LbDatapath() override { Release(); }

 private:
  /** Sets map sizes and the rule mask in the opened, not yet loaded object; errno, or 0. */
  int SizeTables(uint32_t ct_max, uint32_t max_rules, std::string* what) {
    auto size = [&](const char* name, uint32_t n) -> int {
      bpf_map* m = bpf_object__find_map_by_name(obj_, name);
      *what = std::string("map ") + name + " to " + std::to_string(n) + " entries";
      return m != nullptr ? -bpf_map__set_max_entries(m, n) : ENOENT;
    };
    int err = 0;
    if (ct_max != 0 && (err = size("ct", ct_max)) != 0) return err;
    if (max_rules == 0) return 0;
    if ((err = size("rr_ctr", max_rules)) != 0) return err;
    if ((err = size("ep_stats", max_rules * LB_MAX_EPS)) != 0) return err;
    if ((err = size("rule_conns", max_rules)) != 0) return err;
    if ((err = size("lc_opened", max_rules * LB_MAX_EPS)) != 0) return err;
    if ((err = size("lc_closed", max_rules * LB_MAX_EPS)) != 0) return err;
    if ((err = size("lb_rules", max_rules * 4)) != 0) return err;
    if ((err = size("vips", max_rules * 4)) != 0) return err;
    *what = "the rule mask";
    return SetRodataU32("cfg_rule_mask", max_rules - 1);
  }

  /** The .rodata map and the offset of a 4-byte variable in it, found by its BTF name; errno, or 0. */
  int RodataVar(const char* var, bpf_map** rodata, size_t* offset) {
    const btf* b = bpf_object__btf(obj_);
    if (b == nullptr) return ENOENT;
    *rodata = nullptr;
    bpf_map* m;
    bpf_object__for_each_map(m, obj_) {
      const char* n = bpf_map__name(m);
      size_t len = strlen(n);
      if (bpf_map__is_internal(m) && len >= 7 && strcmp(n + len - 7, ".rodata") == 0) *rodata = m;
    }
    if (*rodata == nullptr) return ENOENT;
    int sec = btf__find_by_name_kind(b, ".rodata", BTF_KIND_DATASEC);
    if (sec < 0) return ENOENT;
    const btf_type* t = btf__type_by_id(b, sec);
    const btf_var_secinfo* vs = btf_var_secinfos(t);
    for (int i = 0; i < btf_vlen(t); i++, vs++) {
      const btf_type* v = btf__type_by_id(b, vs->type);
      if (strcmp(btf__name_by_offset(b, v->name_off), var) != 0) continue;
      if (vs->size != sizeof(uint32_t)) return EINVAL;
      *offset = vs->offset;
      return 0;
    }
    return ENOENT;
  }

  /** Writes a `const volatile __u32` of the object's .rodata before load. */
  int SetRodataU32(const char* var, uint32_t value) {
    bpf_map* rodata = nullptr;
    size_t offset = 0;
    int err = RodataVar(var, &rodata, &offset);
    if (err != 0) return err;
    size_t sz = 0;
    const auto* cur = static_cast<const uint8_t*>(bpf_map__initial_value(rodata, &sz));
    if (cur == nullptr || offset + sizeof value > sz) return EINVAL;
    std::string data(reinterpret_cast<const char*>(cur), sz);
    std::memcpy(&data[offset], &value, sizeof value);
    return -bpf_map__set_initial_value(rodata, data.data(), sz);
  }

  /**
   * Before load: a table pinned by an earlier run is adopted if it has the
   * shape this object wants (type, key, value, entries, flags); one that does
   * not is unpinned (its connections are lost, and pinState says why) so a
   * fresh one is made and pinned. libbpf does the reuse or the pin at load.
   */
  int PinConnectionTable() {
    bpf_map* m = bpf_object__find_map_by_name(obj_, "ct");
    if (m == nullptr) return ENOENT;
    adopted_ = false;
    pin_note_.clear();
    int fd = bpf_obj_get(ct_pin_.c_str());
    if (fd >= 0) {
      bpf_map_info mi{};
      uint32_t len = sizeof mi;
      bool ok = bpf_obj_get_info_by_fd(fd, &mi, &len) == 0 && mi.type == bpf_map__type(m) && mi.key_size == bpf_map__key_size(m) &&
                mi.value_size == bpf_map__value_size(m) && mi.max_entries == bpf_map__max_entries(m) && mi.map_flags == bpf_map__map_flags(m);
      close(fd);
      if (ok) {
        adopted_ = true;
      } else {
        pin_note_ = "a pinned connection table of another shape (entries " + std::to_string(mi.max_entries) + ", asked " +
                    std::to_string(bpf_map__max_entries(m)) + ") was replaced";
        if (unlink(ct_pin_.c_str()) != 0) return errno;
      }
    } else if (errno != ENOENT) {
      return errno;
    }
    return -bpf_map__set_pin_path(m, ct_pin_.c_str());
  }

  Napi::Value PinState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("path", Napi::String::New(env, ct_pin_));
    out.Set("adopted", Napi::Boolean::New(env, adopted_));
    out.Set("note", Napi::String::New(env, pin_note_));
    return out;
  }

  /** Removes the pin (a planned stop: the table goes with the process). */
  Napi::Value Unpin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!ct_pin_.empty() && unlink(ct_pin_.c_str()) != 0 && errno != ENOENT) {
      int err = errno;
      throw ErrnoError(env, "cannot unpin " + ct_pin_, err);
    }
    return env.Undefined();
  }

  int ProgFd(const char* name) {
    bpf_program* p = bpf_object__find_program_by_name(obj_, name);
    return p != nullptr ? bpf_program__fd(p) : -1;
  }

  void Release() {
    if (obj_ != nullptr) {
      bpf_object__close(obj_);
      obj_ = nullptr;
    }
  }

  void RequireOpen(Napi::Env env) {
    if (obj_ == nullptr) throw Napi::Error::New(env, "LbDatapath is closed");
  }

  bpf_map* Map(Napi::Env env, const Napi::Value& name) {
    RequireOpen(env);
    if (!name.IsString()) throw Napi::TypeError::New(env, "map name must be a string");
    std::string n = name.As<Napi::String>();
    bpf_map* m = bpf_object__find_map_by_name(obj_, n.c_str());
    if (m == nullptr) throw Napi::Error::New(env, "no eBPF map named " + n);
    return m;
  }

  static Napi::Buffer<uint8_t> Buf(Napi::Env env, const Napi::Value& v, size_t want, const char* what) {
    if (!v.IsBuffer()) throw Napi::TypeError::New(env, std::string(what) + " must be a Buffer");
    auto b = v.As<Napi::Buffer<uint8_t>>();
    if (want != 0 && b.Length() != want) {
      throw Napi::RangeError::New(env, std::string(what) + " must be " + std::to_string(want) + " bytes, got " +
                                           std::to_string(b.Length()));
    }
    return b;
  }

  static bool Direction(Napi::Env env, const Napi::Value& v) {
    std::string d = v.IsString() ? std::string(v.As<Napi::String>()) : "";
    if (d == "ingress") return true;
    if (d == "egress") return false;
    throw Napi::TypeError::New(env, "direction must be 'ingress' or 'egress'");
  }

  // attach(ifindex, 'ingress'|'egress'): our filter at handle 1, priority 1
  // of the clsact hook, replacing one a killed agent left behind.
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    int ifindex = info[0].As<Napi::Number>().Int32Value();
    bool ingress = Direction(env, info[1]);
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                        .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    int rc = bpf_tc_hook_create(&hook);
    if (rc != 0 && rc != -EEXIST) throw ErrnoError(env, "cannot create the clsact qdisc on ifindex " + std::to_string(ifindex), -rc);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = ingress ? ingress_fd_ : egress_fd_, .flags = BPF_TC_F_REPLACE,
                        .handle = 1, .priority = 1);
    rc = bpf_tc_attach(&hook, &opts);
    if (rc != 0) throw ErrnoError(env, "cannot attach the TC program to ifindex " + std::to_string(ifindex), -rc);
    return env.Undefined();
  }

  // detach(ifindex, direction): removes our filter; true if one was there.
  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int ifindex = info[0].As<Napi::Number>().Int32Value();
    bool ingress = Direction(env, info[1]);
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                        .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
    int rc = bpf_tc_detach(&hook, &opts);
    if (rc == -ENOENT || rc == -ENODEV || rc == -EINVAL) return Napi::Boolean::New(env, false);
    if (rc != 0) throw ErrnoError(env, "cannot detach the TC program from ifindex " + std::to_string(ifindex), -rc);
    return Napi::Boolean::New(env, true);
  }

  Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, info[0]);
    auto k = Buf(env, info[1], bpf_map__key_size(m), "key");
    auto v = Buf(env, info[2], bpf_map__value_size(m), "value");
    uint64_t flags = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : static_cast<int64_t>(BPF_ANY);
    if (bpf_map_update_elem(bpf_map__fd(m), k.Data(), v.Data(), flags) != 0) {
      throw ErrnoError(env, std::string("update of map ") + bpf_map__name(m) + " failed", errno);
    }
    return env.Undefined();
  }

  Napi::Value MapDelete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, info[0]);
    auto k = Buf(env, info[1], bpf_map__key_size(m), "key");
    if (bpf_map_delete_elem(bpf_map__fd(m), k.Data()) != 0) {
      if (errno == ENOENT) return Napi::Boolean::New(env, false);
      throw ErrnoError(env, std::string("delete from map ") + bpf_map__name(m) + " failed", errno);
    }
    return Napi::Boolean::New(env, true);
  }

  Napi::Value MapLookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, info[0]);
    auto k = Buf(env, info[1], bpf_map__key_size(m), "key");
    size_t vs = ValueBytes(m);
    auto out = Napi::Buffer<uint8_t>::New(env, vs);
    if (bpf_map_lookup_elem(bpf_map__fd(m), k.Data(), out.Data()) != 0) {
      if (errno == ENOENT) return env.Undefined();
      throw ErrnoError(env, std::string("lookup in map ") + bpf_map__name(m) + " failed", errno);
    }
    return out;
  }

  // Per-CPU maps hand out one 8-byte-aligned value per possible CPU.
  static size_t ValueBytes(bpf_map* m) {
    size_t vs = bpf_map__value_size(m);
    bpf_map_type t = bpf_map__type(m);
    if (t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH) {
      return ((vs + 7) / 8 * 8) * static_cast<size_t>(libbpf_num_possible_cpus());
    }
    return vs;
  }

  // Walks a hash map in batches; fn(keys, values, n) sees each batch.
  template <typename Fn>
  int Walk(bpf_map* m, Fn fn) {
    const size_t ks = bpf_map__key_size(m);
    const size_t vs = bpf_map__value_size(m);
    const uint32_t chunk = 4096;
    std::vector<uint8_t> keys(ks * chunk), vals(vs * chunk), token(ks);
    bool first = true;
    for (;;) {
      uint32_t n = chunk;
      DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int rc = bpf_map_lookup_batch(bpf_map__fd(m), first ? nullptr : token.data(), token.data(), keys.data(),
                                    vals.data(), &n, &opts);
      int err = rc != 0 ? errno : 0;
      if (rc != 0 && err != ENOENT) return err;
      if (n > 0) fn(keys.data(), vals.data(), n);
      if (err == ENOENT) return 0;
      first = false;
    }
  }

  // mapDump(name) -> { keys: Buffer, values: Buffer, count }
  Napi::Value MapDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, info[0]);
    const size_t ks = bpf_map__key_size(m);
    const size_t vs = bpf_map__value_size(m);
    std::vector<uint8_t> allk, allv;
    size_t count = 0;
    int err = Walk(m, [&](const uint8_t* k, const uint8_t* v, uint32_t n) {
      allk.insert(allk.end(), k, k + ks * n);
      allv.insert(allv.end(), v, v + vs * n);
      count += n;
    });
    if (err != 0) throw ErrnoError(env, std::string("dump of map ") + bpf_map__name(m) + " failed", err);
    Napi::Object r = Napi::Object::New(env);
    r.Set("keys", Napi::Buffer<uint8_t>::Copy(env, allk.data(), allk.size()));
    r.Set("values", Napi::Buffer<uint8_t>::Copy(env, allv.data(), allv.size()));
    r.Set("count", Napi::Number::New(env, static_cast<double>(count)));
    return r;
  }

  Napi::Value MapUpdateBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, info[0]);
    auto k = Buf(env, info[1], 0, "keys");
    auto v = Buf(env, info[2], 0, "values");
    const size_t ks = bpf_map__key_size(m), vs = bpf_map__value_size(m);
    if (k.Length() % ks != 0 || v.Length() % vs != 0 || k.Length() / ks != v.Length() / vs) {
      throw Napi::RangeError::New(env, "keys and values must hold the same number of whole entries");
    }
    uint32_t n = static_cast<uint32_t>(k.Length() / ks);
    if (n == 0) return Napi::Number::New(env, 0);
    DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
    uint32_t done = n;
    if (bpf_map_update_batch(bpf_map__fd(m), k.Data(), v.Data(), &done, &opts) != 0) {
      throw ErrnoError(env, std::string("batch update of map ") + bpf_map__name(m) + " failed after " +
                                std::to_string(done) + " of " + std::to_string(n),
                       errno);
    }
    return Napi::Number::New(env, done);
  }

  Napi::Value MapDeleteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, info[0]);
    auto k = Buf(env, info[1], 0, "keys");
    const size_t ks = bpf_map__key_size(m);
    if (k.Length() % ks != 0) throw Napi::RangeError::New(env, "keys must hold whole keys");
    uint32_t n = static_cast<uint32_t>(k.Length() / ks);
    // One by one: a batch delete stops at the first key that is already gone.
    uint32_t deleted = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (bpf_map_delete_elem(bpf_map__fd(m), k.Data() + i * ks) == 0) deleted++;
    }
    return Napi::Number::New(env, deleted);
  }

  // tableSizes() -> {ct, rr_ctr, lc_opened, lc_closed, lb_rules, vips, ep_stats, rule_conns, ruleMask}: what the loaded
  // object has, read back from the kernel (the agent checks it against what it asked for).
  Napi::Value TableSizes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    Napi::Object out = Napi::Object::New(env);
    for (const char* name : {"ct", "rr_ctr", "lc_opened", "lc_closed", "lb_rules", "vips", "ep_stats", "rule_conns"}) {
      bpf_map* m = bpf_object__find_map_by_name(obj_, name);
      bpf_map_info mi{};
      uint32_t len = sizeof mi;
      if (m == nullptr || bpf_obj_get_info_by_fd(bpf_map__fd(m), &mi, &len) != 0) throw Napi::Error::New(env, std::string("no eBPF map ") + name);
      out.Set(name, Napi::Number::New(env, mi.max_entries));
    }
    uint32_t mask = 0;
    if (ReadRodataU32("cfg_rule_mask", &mask) != 0) throw Napi::Error::New(env, "cannot read cfg_rule_mask from the loaded object");
    out.Set("ruleMask", Napi::Number::New(env, mask));
    return out;
  }

  /** Reads a `const volatile __u32` of the loaded object's .rodata map, found by its BTF name. */
  int ReadRodataU32(const char* var, uint32_t* value) {
    bpf_map* rodata = nullptr;
    size_t offset = 0;
    int err = RodataVar(var, &rodata, &offset);
    if (err != 0) return err;
    std::vector<uint8_t> buf(bpf_map__value_size(rodata));
    uint32_t zero = 0;
    if (offset + sizeof *value > buf.size()) return EINVAL;
    if (bpf_map_lookup_elem(bpf_map__fd(rodata), &zero, buf.data()) != 0) return errno;
    std::memcpy(value, buf.data() + offset, sizeof *value);
    return 0;
  }

  // stats() -> number[LB_STAT_MAX], summed over CPUs.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, Napi::String::New(env, "stats"));
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> per(static_cast<size_t>(ncpu));
    Napi::Array out = Napi::Array::New(env, LB_STAT_MAX);
    for (uint32_t i = 0; i < LB_STAT_MAX; i++) {
      uint64_t sum = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(m), &i, per.data()) == 0) {
        for (uint64_t x : per) sum += x;
      }
      out.Set(i, Napi::Number::New(env, static_cast<double>(sum)));
    }
    return out;
  }

  // Reads entries [from, from + count) of an array map in batches of up to
  // 4096 (an array's batch token is the key before the first one read):
  // fn(first index, values, n). Per-CPU values come as one 8-byte-aligned
  // value per possible CPU.
  template <typename Fn>
  int ReadArray(bpf_map* m, uint32_t from, uint32_t count, Fn fn) {
    const size_t vs = ValueBytes(m);
    const uint32_t chunk = std::min<uint32_t>(count, 4096);
    std::vector<uint32_t> keys(chunk);
    std::vector<uint8_t> vals(vs * chunk);
    uint32_t token = from - 1, next = 0, at = from, end = from + count;
    while (at < end) {
      uint32_t n = std::min(chunk, end - at);
      DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int rc = bpf_map_lookup_batch(bpf_map__fd(m), at == 0 ? nullptr : &token, &next, keys.data(), vals.data(), &n, &opts);
      int err = rc != 0 ? errno : 0;
      if (rc != 0 && err != ENOENT) return err;
      if (n > 0) fn(at, vals.data(), n);
      if (err == ENOENT || n == 0) return 0;
      at += n;
      token = at - 1;
    }
    return 0;
  }

  // ruleCounters(ids: Buffer of u32) -> Float64Array, RULE_COUNTER_STRIDE
  // numbers per id: the open connections the latest sweep counted (0 where
  // its gen is older), then packets and bytes of each of the LB_MAX_EPS
  // endpoint slots, summed over the CPUs. Ids in a dense range (the usual
  // case: ids are handed out low first) are read as that range, in batches
  // of 4096 slots, so a GET or a scrape of 10,000 rules costs a few hundred
  // syscalls; scattered ids are read rule by rule.
  Napi::Value RuleCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* st = Map(env, Napi::String::New(env, "ep_stats"));
    bpf_map* cn = Map(env, Napi::String::New(env, "rule_conns"));
    bpf_map* res = Map(env, Napi::String::New(env, "sweep_result"));
    auto ids = Buf(env, info[0], 0, "ids");
    if (ids.Length() % 4 != 0) throw Napi::RangeError::New(env, "ids must hold whole u32 rule ids");
    const size_t n = ids.Length() / 4;
    const uint32_t cap = bpf_map__max_entries(cn);
    const int ncpu = libbpf_num_possible_cpus();
    const size_t vs = ValueBytes(st);
    constexpr size_t kStride = 1 + 2 * LB_MAX_EPS;
    uint64_t gen = 0;
    uint32_t k = 2;
    bpf_map_lookup_elem(bpf_map__fd(res), &k, &gen);
    std::vector<uint32_t> want(n);
    std::memcpy(want.data(), ids.Data(), 4 * n);
    for (uint32_t id : want) {
      if (id >= cap) throw Napi::RangeError::New(env, "rule id " + std::to_string(id) + " is beyond the rule capacity");
    }
    auto out = Napi::Float64Array::New(env, kStride * n);
    double* o = out.Data();
    std::fill(o, o + kStride * n, 0.0);
    // Slot values summed over CPUs into dst[0] (packets) and dst[1] (bytes).
    auto sum = [&](const uint8_t* v, double* dst) {
      uint64_t packets = 0, bytes = 0;
      for (int c = 0; c < ncpu; c++) {
        ep_stat s;
        std::memcpy(&s, v + static_cast<size_t>(c) * ((sizeof(ep_stat) + 7) / 8 * 8), sizeof s);
        packets += s.packets;
        bytes += s.bytes;
      }
      dst[0] = static_cast<double>(packets);
      dst[1] = static_cast<double>(bytes);
    };
    int err = 0;
    // Ids are handed out low first, so the wanted ones are usually a dense
    // range: read the range in batches (4096 slots a syscall) rather than
    // one rule at a time, unless it is mostly ids nobody asked for.
    uint32_t lo = cap, hi = 0;
    for (uint32_t id : want) {
      lo = std::min(lo, id);
      hi = std::max(hi, id + 1);
    }
    const bool ranged = n > 0 && (hi - lo) <= 4 * n + 64;
    if (ranged) {
      std::unordered_map<uint32_t, size_t> at;
      for (size_t i = 0; i < n; i++) at[want[i]] = i;
      err = ReadArray(st, lo * LB_MAX_EPS, (hi - lo) * LB_MAX_EPS, [&](uint32_t from, const uint8_t* v, uint32_t got) {
        for (uint32_t j = 0; j < got; j++) {
          auto it = at.find((from + j) / LB_MAX_EPS);
          if (it != at.end()) sum(v + j * vs, o + kStride * it->second + 1 + 2 * ((from + j) % LB_MAX_EPS));
        }
      });
      if (err == 0) {
        const size_t cs = ValueBytes(cn);
        err = ReadArray(cn, lo, hi - lo, [&](uint32_t from, const uint8_t* v, uint32_t got) {
          for (uint32_t j = 0; j < got; j++) {
            auto it = at.find(from + j);
            if (it == at.end()) continue;
            rule_conns c{};
            std::memcpy(&c, v + j * cs, sizeof c);
            if (c.gen == gen) o[kStride * it->second] = static_cast<double>(c.active);
          }
        });
      }
      if (err != 0) throw ErrnoError(env, "cannot read the per-endpoint counters", err);
      return out;
    }
    // Scattered ids: rule by rule.
    for (size_t i = 0; i < n && err == 0; i++) {
      err = ReadArray(st, want[i] * LB_MAX_EPS, LB_MAX_EPS, [&](uint32_t from, const uint8_t* v, uint32_t got) {
        for (uint32_t j = 0; j < got; j++) sum(v + j * vs, o + kStride * i + 1 + 2 * ((from + j) % LB_MAX_EPS));
      });
    }
    if (err != 0) throw ErrnoError(env, "cannot read the per-endpoint counters", err);
    for (size_t i = 0; i < n; i++) {
      rule_conns c{};
      if (bpf_map_lookup_elem(bpf_map__fd(cn), &want[i], &c) == 0 && c.gen == gen) o[kStride * i] = static_cast<double>(c.active);
    }
    return out;
  }

  // ruleCountersReset(ids: Buffer of u32): zeroes every endpoint slot of
  // those rules on every CPU (a rule id handed to another rule starts from nothing).
  Napi::Value RuleCountersReset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* st = Map(env, Napi::String::New(env, "ep_stats"));
    auto ids = Buf(env, info[0], 0, "ids");
    if (ids.Length() % 4 != 0) throw Napi::RangeError::New(env, "ids must hold whole u32 rule ids");
    const size_t n = ids.Length() / 4;
    if (n == 0) return env.Undefined();
    const uint32_t cap = bpf_map__max_entries(st) / LB_MAX_EPS;
    std::vector<uint32_t> keys;
    keys.reserve(n * LB_MAX_EPS);
    for (size_t i = 0; i < n; i++) {
      uint32_t id;
      std::memcpy(&id, ids.Data() + 4 * i, 4);
      if (id >= cap) throw Napi::RangeError::New(env, "rule id " + std::to_string(id) + " is beyond the rule capacity");
      for (uint32_t e = 0; e < LB_MAX_EPS; e++) keys.push_back(id * LB_MAX_EPS + e);
    }
    std::vector<uint8_t> zeros(ValueBytes(st) * keys.size());
    DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
    uint32_t done = static_cast<uint32_t>(keys.size());
    if (bpf_map_update_batch(bpf_map__fd(st), keys.data(), zeros.data(), &done, &opts) != 0) {
      throw ErrnoError(env, "cannot reset the per-endpoint counters", errno);
    }
    return env.Undefined();
  }

  // ctSweep() -> { scanned, count }: runs lb_sweep (the in-kernel pass over
  // the connection table, see lb.bpf.c) once through BPF_PROG_TEST_RUN.
  Napi::Value CtSweep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    bpf_map* res = Map(env, Napi::String::New(env, "sweep_result"));
    // A minimal Ethernet frame: test runs of TC programs need a packet.
    uint8_t frame[64] = {};
    DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof frame, .repeat = 1);
    int rc = bpf_prog_test_run_opts(sweep_fd_, &opts);
    if (rc != 0) throw ErrnoError(env, "conntrack sweep failed", -rc > 0 ? -rc : errno);
    uint64_t scanned = 0, deleted = 0;
    uint32_t k = 0;
    bpf_map_lookup_elem(bpf_map__fd(res), &k, &scanned);
    k = 1;
    bpf_map_lookup_elem(bpf_map__fd(res), &k, &deleted);
    Napi::Object r = Napi::Object::New(env);
    r.Set("scanned", Napi::Number::New(env, static_cast<double>(scanned)));
    r.Set("count", Napi::Number::New(env, static_cast<double>(deleted)));
    return r;
  }

  // ctCount() -> entries in the connection table: lb_ct_count walks it in
  // the kernel and returns the count, so nothing is copied out (a dump of a
  // million entries copies 136 MB and takes seconds).
  Napi::Value CtCount(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    uint8_t frame[64] = {};
    DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof frame, .repeat = 1);
    int rc = bpf_prog_test_run_opts(count_fd_, &opts);
    if (rc != 0) throw ErrnoError(env, "count of the connection table failed", -rc > 0 ? -rc : errno);
    return Napi::Number::New(env, static_cast<double>(opts.retval));
  }

  // ctInstall(keys, values) -> { installed, unknownService, rejected }:
  // entries from a cluster peer, trusted no further than this node's own
  // rules. Each must belong to a service this node has (else skipped and
  // counted as unknownService) and translate to one of that rule's
  // endpoints with the service's own address and port on the other side
  // (else rejected: a peer must not steer a client anywhere else). It takes
  // this node's rule id and endpoint index, a timeout no longer than the
  // rule's, and our clock for last_ns.
  Napi::Value CtInstall(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = Map(env, Napi::String::New(env, "ct"));
    bpf_map* rules = Map(env, Napi::String::New(env, "lb_rules"));
    auto k = Buf(env, info[0], 0, "keys");
    auto v = Buf(env, info[1], 0, "values");
    if (k.Length() % sizeof(ct_key) != 0 || v.Length() % sizeof(ct_val) != 0 ||
        k.Length() / sizeof(ct_key) != v.Length() / sizeof(ct_val)) {
      throw Napi::RangeError::New(env, "keys and values must hold the same number of whole conntrack entries");
    }
    const uint32_t n = static_cast<uint32_t>(k.Length() / sizeof(ct_key));
    std::vector<ct_key> keys;
    std::vector<ct_val> vals;
    keys.reserve(n);
    vals.reserve(n);
    // Few services, many entries: one map lookup per distinct service.
    std::vector<std::pair<lb_key, std::unique_ptr<lb_rule>>> seen;
    uint32_t unknown = 0, rejected = 0;
    const uint64_t now = KtimeNs();
    for (uint32_t i = 0; i < n; i++) {
      ct_key key;
      ct_val x;
      memcpy(&key, k.Data() + i * sizeof(ct_key), sizeof key);
      memcpy(&x, v.Data() + i * sizeof(ct_val), sizeof x);
      const lb_rule* rule = nullptr;
      bool cached = false;
      for (auto& p : seen) {
        if (memcmp(&p.first, &x.svc, sizeof(lb_key)) == 0) {
          rule = p.second.get();
          cached = true;
          break;
        }
      }
      if (!cached) {
        auto r = std::make_unique<lb_rule>();
        if (bpf_map_lookup_elem(bpf_map__fd(rules), &x.svc, r.get()) != 0) r.reset();
        rule = r.get();
        seen.emplace_back(x.svc, std::move(r));
      }
      if (rule == nullptr) {
        unknown++;
        continue;
      }
      const lb_key& svc = x.svc;
      int ep = -1;
      bool ok = key.proto == svc.proto && x.state <= CT_UDP_EST && (x.dir == CT_DIR_ORIG || x.dir == CT_DIR_REPLY);
      if (ok && x.dir == CT_DIR_ORIG) {
        // client -> VIP, translated to -> endpoint
        ok = key.family == svc.family && SameAddr(key.daddr, svc.vip) && key.dport == svc.port;
        if (ok) ep = EndpointIndex(*rule, x.xdaddr, x.xdport, x.xfamily);
      } else if (ok) {
        // endpoint -> us, translated to VIP -> client
        ok = x.xfamily == svc.family && SameAddr(x.xsaddr, svc.vip) && x.xsport == svc.port;
        if (ok) ep = EndpointIndex(*rule, key.saddr, key.sport, key.family);
      }
      // Default mode keeps the client's address and port: nothing else may stand in for them.
      if (ok && rule->mode == LB_MODE_DEFAULT && x.xfamily == key.family) {
        ok = x.dir == CT_DIR_ORIG ? SameAddr(x.xsaddr, key.saddr) && x.xsport == key.sport
                                  : SameAddr(x.xdaddr, key.daddr) && x.xdport == key.dport;
      }
      if (!ok || ep < 0) {
        rejected++;
        continue;
      }
      x.rule_id = rule->id;
      x.ep_idx = static_cast<uint8_t>(ep);
      const uint32_t limit = rule->timeout_s != 0 ? rule->timeout_s : 240;
      if (x.timeout_s == 0 || x.timeout_s > limit) x.timeout_s = limit;
      x.last_ns = now;
      x.flags = static_cast<uint8_t>((x.flags & (CT_F_FIN_ORIG | CT_F_FIN_REPLY | CT_F_LC)) | CT_F_SYNCED);
      keys.push_back(key);
      vals.push_back(x);
    }
    uint32_t done = static_cast<uint32_t>(keys.size());
    if (done > 0) {
      DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
      if (bpf_map_update_batch(bpf_map__fd(m), keys.data(), vals.data(), &done, &opts) != 0) {
        throw ErrnoError(env, "install of synced conntrack entries failed after " + std::to_string(done), errno);
      }
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("installed", Napi::Number::New(env, done));
    r.Set("unknownService", Napi::Number::New(env, unknown));
    r.Set("rejected", Napi::Number::New(env, rejected));
    return r;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  bpf_object* obj_ = nullptr;
  std::string ct_pin_;
  bool adopted_ = false;
  std::string pin_note_;
  int ingress_fd_ = -1;
  int egress_fd_ = -1;
  int sweep_fd_ = -1;
  int count_fd_ = -1;
};


// ---- connection sync over raw dumps (pure: no maps, so tests need no root) ----

bool Syncable(const ct_key& k, const ct_val& v, bool udp) {
  if (k.proto == 6) return v.state == CT_EST;
  if (k.proto == 17) return udp && v.state == CT_UDP_EST;
  if (k.proto == 132) return v.state == CT_EST;
  return false;
}

struct RawIn {
  const uint8_t* keys;
  const uint8_t* vals;
  uint32_t n;
};

RawIn ReadRaw(Napi::Env env, const Napi::Value& kv, const Napi::Value& vv) {
  if (!kv.IsBuffer() || !vv.IsBuffer()) throw Napi::TypeError::New(env, "keys and values must be Buffers");
  auto k = kv.As<Napi::Buffer<uint8_t>>();
  auto v = vv.As<Napi::Buffer<uint8_t>>();
  if (k.Length() % sizeof(ct_key) != 0 || v.Length() % sizeof(ct_val) != 0 || k.Length() / sizeof(ct_key) != v.Length() / sizeof(ct_val)) {
    throw Napi::RangeError::New(env, "keys and values must hold the same number of whole conntrack entries");
  }
  return {k.Data(), v.Data(), static_cast<uint32_t>(k.Length() / sizeof(ct_key))};
}

// ctSelect(keys, values, udp) -> { keys, values, count }: the syncable entries.
Napi::Value CtSelect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RawIn in = ReadRaw(env, info[0], info[1]);
  bool udp = info[2].ToBoolean();
  std::vector<uint8_t> ok, ov;
  uint32_t count = 0;
  for (uint32_t i = 0; i < in.n; i++) {
    ct_key k;
    ct_val v;
    memcpy(&k, in.keys + i * sizeof k, sizeof k);
    memcpy(&v, in.vals + i * sizeof v, sizeof v);
    if (!Syncable(k, v, udp)) continue;
    ok.insert(ok.end(), in.keys + i * sizeof k, in.keys + (i + 1) * sizeof k);
    ov.insert(ov.end(), in.vals + i * sizeof v, in.vals + (i + 1) * sizeof v);
    count++;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("keys", Napi::Buffer<uint8_t>::Copy(env, ok.data(), ok.size()));
  r.Set("values", Napi::Buffer<uint8_t>::Copy(env, ov.data(), ov.size()));
  r.Set("count", Napi::Number::New(env, count));
  return r;
}

constexpr size_t kStable = offsetof(ct_val, last_ns);

// What a scan sent last time, per entry: the bytes that define it and the
// last_ns it had then.
struct Sent {
  uint8_t stable[kStable];
  uint64_t last_ns;
};

// CtDiffer: the MASTER's scan. diff(keys, values, refreshNs, udp) returns
// the syncable entries that are new, changed (translation, state, rule; not
// counters or timestamps), or have seen traffic refreshNs after they were
// last sent, and the keys of entries sent before that are gone or no longer
// syncable. The snapshot lives here, between scans.
class CtDiffer : public Napi::ObjectWrap<CtDiffer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CtDiffer", {InstanceMethod("diff", &CtDiffer::Diff), InstanceMethod("reset", &CtDiffer::Reset),
                                         InstanceMethod("size", &CtDiffer::Size)});
  }
  explicit CtDiffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CtDiffer>(info) {}

 private:
  Napi::Value Diff(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RawIn in = ReadRaw(env, info[0], info[1]);
    const uint64_t refresh = static_cast<uint64_t>(info[2].As<Napi::Number>().DoubleValue());
    const bool udp = info[3].ToBoolean();
    std::vector<uint8_t> uk, uv, dk;
    uint32_t ups = 0, dels = 0;
    ++generation_;
    for (uint32_t i = 0; i < in.n; i++) {
      ct_key k;
      ct_val v;
      memcpy(&k, in.keys + i * sizeof k, sizeof k);
      memcpy(&v, in.vals + i * sizeof v, sizeof v);
      if (!Syncable(k, v, udp)) continue;
      CtKeyBytes key;
      memcpy(&key, &k, sizeof key);
      v.flags &= static_cast<uint8_t>(~CT_F_SYNCED);
      auto [it, fresh] = prev_.try_emplace(key);
      Entry& e = it->second;
      e.seen = generation_;
      if (!fresh && memcmp(e.sent.stable, &v, kStable) == 0 && v.last_ns - e.sent.last_ns < refresh) continue;
      memcpy(e.sent.stable, &v, kStable);
      e.sent.last_ns = v.last_ns;
      uk.insert(uk.end(), in.keys + i * sizeof k, in.keys + (i + 1) * sizeof k);
      uv.insert(uv.end(), in.vals + i * sizeof v, in.vals + (i + 1) * sizeof v);
      ups++;
    }
    for (auto it = prev_.begin(); it != prev_.end();) {
      if (it->second.seen == generation_) {
        ++it;
        continue;
      }
      const uint8_t* p = reinterpret_cast<const uint8_t*>(&it->first);
      dk.insert(dk.end(), p, p + sizeof(CtKeyBytes));
      dels++;
      it = prev_.erase(it);
    }
    Napi::Object r = Napi::Object::New(env);
    Napi::Object up = Napi::Object::New(env);
    up.Set("keys", Napi::Buffer<uint8_t>::Copy(env, uk.data(), uk.size()));
    up.Set("values", Napi::Buffer<uint8_t>::Copy(env, uv.data(), uv.size()));
    up.Set("count", Napi::Number::New(env, ups));
    Napi::Object del = Napi::Object::New(env);
    del.Set("keys", Napi::Buffer<uint8_t>::Copy(env, dk.data(), dk.size()));
    del.Set("values", Napi::Buffer<uint8_t>::New(env, 0));
    del.Set("count", Napi::Number::New(env, dels));
    r.Set("upserts", up);
    r.Set("deletes", del);
    return r;
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    prev_.clear();
    return info.Env().Undefined();
  }

  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(prev_.size())); }

  struct Entry {
    Sent sent;
    uint64_t seen = 0;
  };
  std::unordered_map<CtKeyBytes, Entry, CtKeyHash> prev_;
  uint64_t generation_ = 0;
};

// A set of conntrack keys: open addressing with linear probing in one array
// (a node-based std::unordered_set spent 18 ms per 100,000 inserts on
// allocation, a sixth of a full sync pull).
class KeyTable {
 public:
  bool Contains(const CtKeyBytes& k) const {
    if (size_ == 0) return false;
    for (size_t i = Home(k);; i = (i + 1) & mask_) {
      if (state_[i] == kEmpty) return false;
      if (state_[i] == kFull && keys_[i] == k) return true;
    }
  }
  void Insert(const CtKeyBytes& k) {
    if ((used_ + 1) * 4 >= keys_.size() * 3) Rehash(size_ * 2 >= keys_.size() / 2 ? keys_.size() * 2 : keys_.size());
    size_t tomb = SIZE_MAX;
    for (size_t i = Home(k);; i = (i + 1) & mask_) {
      if (state_[i] == kFull) {
        if (keys_[i] == k) return;
        continue;
      }
      if (state_[i] == kDeleted) {
        if (tomb == SIZE_MAX) tomb = i;
        continue;
      }
      size_t at = tomb != SIZE_MAX ? tomb : i;
      if (at == i) used_++;
      keys_[at] = k;
      state_[at] = kFull;
      size_++;
      return;
    }
  }
  void Erase(const CtKeyBytes& k) {
    if (size_ == 0) return;
    for (size_t i = Home(k);; i = (i + 1) & mask_) {
      if (state_[i] == kEmpty) return;
      if (state_[i] == kFull && keys_[i] == k) {
        state_[i] = kDeleted;
        size_--;
        return;
      }
    }
  }
  // Keeps the slots: a peer that pulls its table again fills the same room.
  void Clear() {
    std::fill(state_.begin(), state_.end(), kEmpty);
    size_ = used_ = 0;
  }
  size_t Size() const { return size_; }

 private:
  static constexpr uint8_t kEmpty = 0, kFull = 1, kDeleted = 2;
  size_t Home(const CtKeyBytes& k) const { return CtKeyHash{}(k) & mask_; }
  // To `cap` slots (a power of two, at least 1024), dropping tombstones.
  void Rehash(size_t cap) {
    cap = std::max<size_t>(cap, 1024);
    std::vector<CtKeyBytes> old_keys(cap);
    std::vector<uint8_t> old_state(cap, kEmpty);
    old_keys.swap(keys_);
    old_state.swap(state_);
    mask_ = cap - 1;
    size_ = used_ = 0;
    for (size_t i = 0; i < old_state.size(); i++) {
      if (old_state[i] != kFull) continue;
      size_t j = Home(old_keys[i]);
      while (state_[j] != kEmpty) j = (j + 1) & mask_;
      keys_[j] = old_keys[i];
      state_[j] = kFull;
      size_++;
      used_++;
    }
  }
  std::vector<CtKeyBytes> keys_;
  std::vector<uint8_t> state_;
  size_t mask_ = 0;
  size_t size_ = 0;
  size_t used_ = 0;  // full and deleted slots
};

// CtKeySet: the entries one sync peer has installed here, for its quota.
// admit(keys, values, max) -> { keys, values, refused }: every entry the set
// holds already (a refresh) and new ones while it holds fewer than max; the
// admitted ones are added. remove(keys) forgets keys; clear(); size().
class CtKeySet : public Napi::ObjectWrap<CtKeySet> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CtKeySet", {InstanceMethod("admit", &CtKeySet::Admit), InstanceMethod("remove", &CtKeySet::Remove),
                                         InstanceMethod("clear", &CtKeySet::Clear), InstanceMethod("size", &CtKeySet::Size)});
  }
  explicit CtKeySet(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CtKeySet>(info) {}

 private:
  Napi::Value Admit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RawIn in = ReadRaw(env, info[0], info[1]);
    const double max = info[2].As<Napi::Number>().DoubleValue();
    std::vector<uint8_t> ok, ov;
    uint32_t refused = 0;
    for (uint32_t i = 0; i < in.n; i++) {
      CtKeyBytes key;
      memcpy(&key, in.keys + i * sizeof key, sizeof key);
      if (!set_.Contains(key)) {
        if (static_cast<double>(set_.Size()) >= max) {
          // The first refusal turns copying on: what came before is admitted as is.
          if (refused++ == 0) {
            ok.assign(in.keys, in.keys + i * sizeof(ct_key));
            ov.assign(in.vals, in.vals + i * sizeof(ct_val));
          }
          continue;
        }
        set_.Insert(key);
      }
      if (refused > 0) {
        ok.insert(ok.end(), in.keys + i * sizeof(ct_key), in.keys + (i + 1) * sizeof(ct_key));
        ov.insert(ov.end(), in.vals + i * sizeof(ct_val), in.vals + (i + 1) * sizeof(ct_val));
      }
    }
    Napi::Object r = Napi::Object::New(env);
    if (refused == 0) {
      r.Set("keys", info[0]);
      r.Set("values", info[1]);
    } else {
      r.Set("keys", Napi::Buffer<uint8_t>::Copy(env, ok.data(), ok.size()));
      r.Set("values", Napi::Buffer<uint8_t>::Copy(env, ov.data(), ov.size()));
    }
    r.Set("refused", Napi::Number::New(env, refused));
    return r;
  }

  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "keys must be a Buffer");
    auto k = info[0].As<Napi::Buffer<uint8_t>>();
    if (k.Length() % sizeof(ct_key) != 0) throw Napi::RangeError::New(env, "keys must hold whole conntrack keys");
    for (size_t off = 0; off < k.Length(); off += sizeof(ct_key)) {
      CtKeyBytes key;
      memcpy(&key, k.Data() + off, sizeof key);
      set_.Erase(key);
    }
    return env.Undefined();
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    set_.Clear();
    return info.Env().Undefined();
  }

  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(set_.Size())); }

  KeyTable set_;
};

// ktimeNs(): CLOCK_MONOTONIC in ns as a double (what bpf_ktime_get_ns counts).
Napi::Value KtimeNsJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(KtimeNs()));
}

// ifIndex(name) -> number (0 if there is no such interface).
Napi::Value IfIndex(const Napi::CallbackInfo& info) {
  std::string n = info[0].As<Napi::String>();
  return Napi::Number::New(info.Env(), if_nametoindex(n.c_str()));
}

}  // namespace

void InitDatapath(Napi::Env env, Napi::Object exports) {
  exports.Set("LbDatapath", LbDatapath::Define(env));
  exports.Set("ktimeNs", Napi::Function::New(env, KtimeNsJs));
  exports.Set("ctSelect", Napi::Function::New(env, CtSelect));
  exports.Set("CtDiffer", CtDiffer::Define(env));
  exports.Set("CtKeySet", CtKeySet::Define(env));
  exports.Set("ifIndex", Napi::Function::New(env, IfIndex));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("version", LB_LAYOUT_VERSION);
  layout.Set("lbKey", static_cast<double>(sizeof(lb_key)));
  layout.Set("lbRule", static_cast<double>(sizeof(lb_rule)));
  layout.Set("ctKey", static_cast<double>(sizeof(ct_key)));
  layout.Set("ctVal", static_cast<double>(sizeof(ct_val)));
  exports.Set("datapathLayout", layout);
}

}  // namespace loxilb
