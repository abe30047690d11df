// BFD Control sockets (RFC 5881): the receive side with the GTSM check of §5
// done on a thread of our own, and one sending socket per session with TTL /
// Hop Limit 255.
//
// BfdReceiver owns the listening sockets and one thread blocked in
// epoll_wait on them and on an eventfd. The thread reads every datagram with
// recvmsg, takes the received TTL / Hop Limit (IP_RECVTTL,
// IPV6_RECVHOPLIMIT) and the destination address (IP_PKTINFO,
// IPV6_RECVPKTINFO) from the control messages, drops and counts datagrams
// whose TTL is not 255, and queues the rest. Only one call into JS is
// outstanding at a time: packets that arrive while JS is busy join the queue
// and are delivered together as one batch. close() (or the environment's
// teardown) wakes the thread through the eventfd and joins it, so neither a
// clean exit nor process.exit() waits on a blocked recvmsg.
//
// Every datagram is stamped with its arrival time (the kernel's receive
// timestamp, SO_TIMESTAMPNS, on CLOCK_MONOTONIC), and for watched (peer address, Your Discriminator) pairs
// the latest arrival is kept where JS can read it synchronously: a detection
// timer that fires while the peer's packets still wait for the JS thread can
// see that they came.
//
// UdpSender is a non-blocking UDP socket: sending a BFD packet never blocks
// the JS thread. In periodic mode (setPeriodic) one timer thread shared by
// all senders sends the session's current packet on the RFC 5880 §6.8.7
// schedule itself, so a JS event-loop stall (GC, a long reconcile) delays no
// periodic packet; JS only swaps the packet when its contents change.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "loxilb_native.h"

namespace loxilb {
namespace {

constexpr int kGtsmTtl = 255;
/** Datagrams read from one socket per wake-up before the others get a turn. */
constexpr int kReadBurst = 64;
/** Datagrams waiting for JS beyond this are dropped (and counted): JS is stuck. */
constexpr size_t kMaxPending = 4096;
/** Larger than any BFD Control packet (24 bytes + at most 28 of authentication). */
constexpr size_t kRecvBuffer = 2048;

bool ParseAddress(const std::string& text, uint16_t port, sockaddr_storage* out, socklen_t* len) {
  std::memset(out, 0, sizeof *out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string AddressText(int family, const void* addr) {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(family, addr, buf, sizeof buf) == nullptr) return "";
  return buf;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

uint16_t PortArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a port number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 65535) || v != static_cast<double>(static_cast<int>(v))) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a port in 0..65535");
  }
  return static_cast<uint16_t>(v);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 4294967295.0) || v != static_cast<double>(static_cast<uint32_t>(v))) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer in 0..2^32-1");
  }
  return static_cast<uint32_t>(v);
}

/** CLOCK_MONOTONIC in ns: libuv's uv_hrtime, hence performance.now(), counts on the same clock. */
int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/**
 * A kernel receive timestamp (CLOCK_REALTIME) on CLOCK_MONOTONIC, given both
 * clocks read together just after the datagram was taken. A realtime step in
 * between (microseconds) could skew it; an answer in the future or
 * implausibly old falls back to monoNow.
 */
int64_t KernelArrivalNs(const timespec& rt, int64_t monoNow, int64_t realNowNs) {
  const int64_t rtNs = static_cast<int64_t>(rt.tv_sec) * 1000000000 + rt.tv_nsec;
  const int64_t age = realNowNs - rtNs;
  if (rtNs == 0 || age < 0 || age > 10 * 1000000000LL) return monoNow;
  return monoNow - age;
}

uint32_t ReadBe32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) | (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

/** A peer address and the discriminator its packets carry in Your Discriminator (ours). */
struct ArrivalKey {
  uint32_t disc = 0;
  uint8_t family = 0;
  uint8_t addr[16] = {};
  bool operator==(const ArrivalKey& o) const {
    return disc == o.disc && family == o.family && std::memcmp(addr, o.addr, sizeof addr) == 0;
  }
};

struct ArrivalKeyHash {
  size_t operator()(const ArrivalKey& k) const {
    uint64_t h = 1469598103934665603ull ^ k.disc ^ (static_cast<uint64_t>(k.family) << 32);
    for (uint8_t b : k.addr) h = (h ^ b) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

bool ArrivalKeyFromText(const std::string& text, uint32_t disc, ArrivalKey* k) {
  k->disc = disc;
  std::memset(k->addr, 0, sizeof k->addr);
  if (inet_pton(AF_INET, text.c_str(), k->addr) == 1) {
    k->family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), k->addr) == 1) {
    k->family = AF_INET6;
    return true;
  }
  return false;
}

struct Watched {
  int64_t lastArrivalNs = 0;
  uint64_t droppedTtl = 0;
};

/** The (source, Your Discriminator) key of a datagram, if it is long enough to carry a non-zero one. */
bool PacketKey(const sockaddr_storage& from, const uint8_t* data, ssize_t len, ArrivalKey* k) {
  if (len < 12) return false;
  k->disc = ReadBe32(data + 8);
  if (k->disc == 0) return false;
  std::memset(k->addr, 0, sizeof k->addr);
  if (from.ss_family == AF_INET) {
    k->family = AF_INET;
    std::memcpy(k->addr, &reinterpret_cast<const sockaddr_in*>(&from)->sin_addr, 4);
  } else {
    k->family = AF_INET6;
    std::memcpy(k->addr, &reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr, 16);
  }
  return true;
}

struct RxPacket {
  std::vector<uint8_t> data;
  std::string src;
  uint16_t srcPort;
  std::string dst;
  int ttl;
  /** CLOCK_MONOTONIC when the kernel took it in (SO_TIMESTAMPNS), else right after recvmsg. */
  int64_t arrivalNs;
  /** Source and Your Discriminator, when the datagram is long enough to carry one (non-zero). */
  bool hasKey;
  ArrivalKey key;
};

/** What the thread and the JS thread share; outlives both (shared_ptr). */
struct ReceiverState {
  std::mutex mu;
  std::vector<RxPacket> pending;
  /** A call into JS is queued and has not yet taken `pending`. */
  bool scheduled = false;
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> droppedTtl{0};
  std::atomic<uint64_t> droppedOverflow{0};
  std::atomic<uint64_t> errors{0};
  /** close() was called: calls already queued deliver nothing. */
  std::atomic<bool> closed{false};
  /**
   * Watched (peer address, our discriminator) pairs: the arrival time
   * (CLOCK_MONOTONIC ns, 0 = none yet) of the latest datagram with them that
   * passed the TTL check and was queued for JS, and how many with them were
   * dropped for their TTL (so a session can show its own GTSM drops). Only
   * watched keys are kept, so a flood of made-up discriminators costs no
   * memory.
   */
  std::mutex arrivalMu;
  std::unordered_map<ArrivalKey, Watched, ArrivalKeyHash> arrivals;
};

using StateHolder = std::shared_ptr<ReceiverState>;

void DeliverToJs(Napi::Env env, Napi::Function fn, StateHolder* holder, std::nullptr_t*);
using ReceiveTsfn = Napi::TypedThreadSafeFunction<StateHolder, std::nullptr_t, DeliverToJs>;

void DeliverToJs(Napi::Env env, Napi::Function fn, StateHolder* holder, std::nullptr_t*) {
  if (env == nullptr || fn.IsEmpty() || holder == nullptr) return;
  ReceiverState& st = **holder;
  if (st.closed) return;
  std::vector<RxPacket> batch;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    batch.swap(st.pending);
    st.scheduled = false;
  }
  if (batch.empty()) return;
  Napi::Array arr = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    RxPacket& p = batch[i];
    Napi::Array item = Napi::Array::New(env, 6);
    item.Set(0u, Napi::Buffer<uint8_t>::Copy(env, p.data.data(), p.data.size()));
    item.Set(1u, Napi::String::New(env, p.src));
    item.Set(2u, Napi::Number::New(env, p.srcPort));
    item.Set(3u, p.dst.empty() ? env.Undefined() : Napi::String::New(env, p.dst));
    item.Set(4u, Napi::Number::New(env, p.ttl));
    item.Set(5u, Napi::Number::New(env, static_cast<double>(p.arrivalNs) / 1e6));
    arr.Set(static_cast<uint32_t>(i), item);
  }
  st.delivered += batch.size();
  try {
    fn.Call({arr});
  } catch (const Napi::Error&) {
    // The TypeScript side catches handler errors itself; anything that still
    // escapes is counted rather than allowed to crash the process.
    st.errors++;
  }
}

class BfdReceiver : public Napi::ObjectWrap<BfdReceiver> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "BfdReceiver",
                                     {
                                         InstanceMethod<&BfdReceiver::AddSocket>("addSocket"),
                                         InstanceMethod<&BfdReceiver::Start>("start"),
                                         InstanceMethod<&BfdReceiver::Stats>("stats"),
                                         InstanceMethod<&BfdReceiver::WatchArrival>("watchArrival"),
                                         InstanceMethod<&BfdReceiver::UnwatchArrival>("unwatchArrival"),
                                         InstanceMethod<&BfdReceiver::LastArrival>("lastArrival"),
                                         InstanceMethod<&BfdReceiver::DroppedTtl>("droppedTtl"),
                                         InstanceMethod<&BfdReceiver::Close>("close"),
                                     });
    exports.Set("BfdReceiver", cls);
  }

  /** new BfdReceiver() */
  explicit BfdReceiver(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BfdReceiver>(info), state_(std::make_shared<ReceiverState>()) {
    epollFd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epollFd_ < 0) throw ErrnoError(info.Env(), "bfd receiver: epoll_create1", errno);
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0) {
      int err = errno;
      CloseFds();
      throw ErrnoError(info.Env(), "bfd receiver: eventfd", err);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakeFd_;
    if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &ev) != 0) {
      int err = errno;
      CloseFds();
      throw ErrnoError(info.Env(), "bfd receiver: epoll_ctl", err);
    }
  }

  ~BfdReceiver() override {
    if (hookInstalled_) {
      napi_remove_env_cleanup_hook(Env(), &BfdReceiver::OnEnvCleanup, this);
      hookInstalled_ = false;
    }
    StopThread();
    CloseFds();
    if (tsfnLive_) {
      tsfn_.Release();
      tsfnLive_ = false;
    }
  }

 private:
  /**
   * addSocket(address, port) -> bound port. Binds a listener (IPv6 ones are
   * IPv6-only) with the receive options the GTSM check needs. Before start().
   */
  Napi::Value AddSocket(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || thread_.joinable()) throw Napi::Error::New(env, "bfd receiver: addSocket after start or close");
    std::string address = StringArg(info, 0, "address");
    uint16_t port = PortArg(info, 1, "port");
    sockaddr_storage ss;
    socklen_t len;
    if (!ParseAddress(address, port, &ss, &len)) {
      throw Napi::TypeError::New(env, "bfd receiver: not an IP address: " + address);
    }
    const int family = ss.ss_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) throw ErrnoError(env, "bfd receiver: socket", errno);
    const int on = 1;
    auto fail = [&](const std::string& what) {
      int err = errno;
      close(fd);
      throw ErrnoError(env, "bfd receiver: " + what + " on " + address + ":" + std::to_string(port), err);
    };
    // Kernel receive timestamps: when the datagram came in, however late this
    // thread gets to it. Best effort: without them the thread stamps it.
    (void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    if (family == AF_INET) {
      if (setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &on, sizeof on) != 0) fail("IP_RECVTTL");
      if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) fail("IP_PKTINFO");
    } else {
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) fail("IPV6_V6ONLY");
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on) != 0) fail("IPV6_RECVHOPLIMIT");
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0) fail("IPV6_RECVPKTINFO");
    }
    // No SO_REUSEADDR: a port someone else holds fails with EADDRINUSE, as
    // with the node:dgram transport's exclusive bind.
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("bind");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl");
    sockets_.push_back(fd);
    return Napi::Number::New(env, BoundPort(fd));
  }

  /** start(onPackets: (batch: [Buffer, src, srcPort, dst|undefined, ttl][]) => void) */
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || thread_.joinable()) throw Napi::Error::New(env, "bfd receiver: already started or closed");
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "onPackets must be a function");
    auto* holder = new StateHolder(state_);
    tsfn_ = ReceiveTsfn::New(env, info[0].As<Napi::Function>(), "loxilbBfdReceive", 0, 1, holder,
                             [](Napi::Env, void*, StateHolder* h) { delete h; });
    tsfnLive_ = true;
    // Registered after the TSFN's own hook, so it runs first (reverse order)
    // and the thread is gone before Node tears the TSFN down.
    napi_add_env_cleanup_hook(env, &BfdReceiver::OnEnvCleanup, this);
    hookInstalled_ = true;
    std::vector<int> fds = sockets_;
    thread_ = std::thread([this, fds]() { Run(fds); });
    return env.Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", Napi::Number::New(env, static_cast<double>(state_->received.load())));
    o.Set("delivered", Napi::Number::New(env, static_cast<double>(state_->delivered.load())));
    o.Set("droppedTtl", Napi::Number::New(env, static_cast<double>(state_->droppedTtl.load())));
    o.Set("droppedOverflow", Napi::Number::New(env, static_cast<double>(state_->droppedOverflow.load())));
    o.Set("errors", Napi::Number::New(env, static_cast<double>(state_->errors.load())));
    return o;
  }

  /**
   * watchArrival(peerAddress, discriminator) -> boolean. From now on the
   * thread remembers when the latest datagram from peerAddress with Your
   * Discriminator `discriminator` arrived. False if the address is not one.
   */
  Napi::Value WatchArrival(const Napi::CallbackInfo& info) {
    ArrivalKey k;
    if (!ArrivalKeyFromText(StringArg(info, 0, "peerAddress"), Uint32Arg(info, 1, "discriminator"), &k)) {
      return Napi::Boolean::New(info.Env(), false);
    }
    std::lock_guard<std::mutex> lock(state_->arrivalMu);
    state_->arrivals.emplace(k, Watched{});
    return Napi::Boolean::New(info.Env(), true);
  }

  /** unwatchArrival(peerAddress, discriminator) */
  Napi::Value UnwatchArrival(const Napi::CallbackInfo& info) {
    ArrivalKey k;
    if (ArrivalKeyFromText(StringArg(info, 0, "peerAddress"), Uint32Arg(info, 1, "discriminator"), &k)) {
      std::lock_guard<std::mutex> lock(state_->arrivalMu);
      state_->arrivals.erase(k);
    }
    return info.Env().Undefined();
  }

  /**
   * lastArrival(peerAddress, discriminator) -> CLOCK_MONOTONIC ms of the
   * latest such datagram (delivered to JS or still queued), or undefined.
   */
  Napi::Value LastArrival(const Napi::CallbackInfo& info) {
    ArrivalKey k;
    if (!ArrivalKeyFromText(StringArg(info, 0, "peerAddress"), Uint32Arg(info, 1, "discriminator"), &k)) {
      return info.Env().Undefined();
    }
    int64_t at = 0;
    {
      std::lock_guard<std::mutex> lock(state_->arrivalMu);
      auto it = state_->arrivals.find(k);
      if (it != state_->arrivals.end()) at = it->second.lastArrivalNs;
    }
    if (at == 0) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), static_cast<double>(at) / 1e6);
  }

  /**
   * droppedTtl(peerAddress, discriminator) -> number: datagrams from that
   * peer for that session dropped for their TTL / Hop Limit since it was
   * watched (0 if not watched).
   */
  Napi::Value DroppedTtl(const Napi::CallbackInfo& info) {
    ArrivalKey k;
    uint64_t n = 0;
    if (ArrivalKeyFromText(StringArg(info, 0, "peerAddress"), Uint32Arg(info, 1, "discriminator"), &k)) {
      std::lock_guard<std::mutex> lock(state_->arrivalMu);
      auto it = state_->arrivals.find(k);
      if (it != state_->arrivals.end()) n = it->second.droppedTtl;
    }
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  /** Stops the thread, closes the sockets, lets the process exit. Idempotent. */
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    closed_ = true;
    state_->closed = true;
    if (hookInstalled_) {
      napi_remove_env_cleanup_hook(info.Env(), &BfdReceiver::OnEnvCleanup, this);
      hookInstalled_ = false;
    }
    StopThread();
    CloseFds();
    if (tsfnLive_) {
      tsfn_.Release();
      tsfnLive_ = false;
    }
    return info.Env().Undefined();
  }

  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<BfdReceiver*>(arg);
    self->hookInstalled_ = false;
    self->closed_ = true;
    self->state_->closed = true;
    self->StopThread();
    self->CloseFds();
    // The TSFN is Node's to finalize during teardown.
    self->tsfnLive_ = false;
  }

  void StopThread() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    ssize_t n;
    do {
      n = write(wakeFd_, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    thread_.join();
  }

  void CloseFds() {
    for (int fd : sockets_) close(fd);
    sockets_.clear();
    if (wakeFd_ >= 0) close(wakeFd_);
    if (epollFd_ >= 0) close(epollFd_);
    wakeFd_ = epollFd_ = -1;
  }

  // ---- receive thread ----------------------------------------------------

  void Run(std::vector<int> fds) {
    std::vector<RxPacket> batch;
    epoll_event events[8];
    for (;;) {
      int n = epoll_wait(epollFd_, events, 8, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        state_->errors++;
        return;
      }
      for (int i = 0; i < n; i++) {
        if (events[i].data.fd == wakeFd_) return;
      }
      for (int i = 0; i < n; i++) Drain(events[i].data.fd, &batch);
      if (!batch.empty()) Publish(&batch);
    }
  }

  void Drain(int fd, std::vector<RxPacket>* batch) {
    ReceiverState& st = *state_;
    uint8_t data[kRecvBuffer];
    alignas(cmsghdr) uint8_t control[256];
    for (int i = 0; i < kReadBurst; i++) {
      sockaddr_storage from{};
      iovec iov{data, sizeof data};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t len = recvmsg(fd, &msg, MSG_DONTWAIT);
      if (len < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) st.errors++;
        return;
      }
      int64_t arrivalNs = MonotonicNs();
      const int64_t realNs = RealtimeNs();
      st.received++;
      if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        st.errors++;
        continue;
      }
      int ttl = -1;
      std::string dst;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts;
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          arrivalNs = KernelArrivalNs(ts, arrivalNs, realNs);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
          std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          in_pktinfo pi;
          std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
          dst = AddressText(AF_INET, &pi.ipi_addr);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
          std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
          in6_pktinfo pi;
          std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
          dst = AddressText(AF_INET6, &pi.ipi6_addr);
        }
      }
      // RFC 5881 §5: a TTL we could not read is not 255 either.
      if (ttl != kGtsmTtl) {
        st.droppedTtl++;
        ArrivalKey k;
        if (PacketKey(from, data, len, &k)) {
          std::lock_guard<std::mutex> alock(st.arrivalMu);
          auto it = st.arrivals.find(k);
          if (it != st.arrivals.end()) it->second.droppedTtl++;
        }
        continue;
      }
      RxPacket p;
      p.data.assign(data, data + len);
      p.ttl = ttl;
      p.dst = std::move(dst);
      p.arrivalNs = arrivalNs;
      // Your Discriminator is bytes 8-11 of a Control packet.
      p.hasKey = len >= 12 && ReadBe32(data + 8) != 0;
      if (p.hasKey) p.key.disc = ReadBe32(data + 8);
      if (from.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&from);
        p.src = AddressText(AF_INET, &a->sin_addr);
        p.srcPort = ntohs(a->sin_port);
        p.key.family = AF_INET;
        std::memcpy(p.key.addr, &a->sin_addr, 4);
      } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&from);
        p.src = AddressText(AF_INET6, &a->sin6_addr);
        p.srcPort = ntohs(a->sin6_port);
        p.key.family = AF_INET6;
        std::memcpy(p.key.addr, &a->sin6_addr, 16);
      }
      batch->push_back(std::move(p));
    }
  }

  void Publish(std::vector<RxPacket>* batch) {
    ReceiverState& st = *state_;
    bool call = false;
    {
      std::lock_guard<std::mutex> lock(st.mu);
      size_t room = st.pending.size() < kMaxPending ? kMaxPending - st.pending.size() : 0;
      size_t take = batch->size() < room ? batch->size() : room;
      st.droppedOverflow += batch->size() - take;
      {
        // Only datagrams JS will see count as arrived: the session discounts
        // an arrival once it has handled it, accepted or not.
        std::lock_guard<std::mutex> alock(st.arrivalMu);
        if (!st.arrivals.empty()) {
          for (size_t i = 0; i < take; i++) {
            const RxPacket& p = (*batch)[i];
            if (!p.hasKey) continue;
            auto it = st.arrivals.find(p.key);
            if (it != st.arrivals.end() && p.arrivalNs > it->second.lastArrivalNs) it->second.lastArrivalNs = p.arrivalNs;
          }
        }
      }
      for (size_t i = 0; i < take; i++) st.pending.push_back(std::move((*batch)[i]));
      if (!st.scheduled && !st.pending.empty()) {
        st.scheduled = true;
        call = true;
      }
    }
    batch->clear();
    if (call && tsfn_.NonBlockingCall() != napi_ok) {
      // Closing: nobody will take these any more.
      std::lock_guard<std::mutex> lock(st.mu);
      st.scheduled = false;
    }
  }

  StateHolder state_;
  ReceiveTsfn tsfn_;
  bool tsfnLive_ = false;
  bool hookInstalled_ = false;
  bool closed_ = false;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  std::vector<int> sockets_;
  std::thread thread_;
};

// ---- periodic transmission ------------------------------------------------

/** A session's sending socket, shared by its UdpSender and the timer thread. */
struct SenderCore {
  /** Closed and set to -1 by the JS thread only, holding Scheduler::mu. */
  int fd = -1;
  sockaddr_storage remote{};
  socklen_t remoteLen = 0;

  // Periodic mode; everything below is guarded by Scheduler::mu.
  bool active = false;
  std::vector<uint8_t> packet;
  int64_t intervalNs = 0;
  int detectMult = 0;
  /** Fraction of the interval before the next packet, drawn after each send. */
  double jitter = 0;
  bool jitterDrawn = false;
  int64_t dueNs = 0;
  /** When the latest periodic packet left (0: never), the base of the next due time. */
  int64_t lastSentNs = 0;
  /** Bumped whenever the schedule changes: heap entries of older generations are stale. */
  uint64_t gen = 0;
  napi_env env = nullptr;
  bool hookInstalled = false;

  // Statistics of the thread's sends.
  uint64_t sent = 0;
  uint64_t sentCurrent = 0;
  uint64_t sentUp = 0;
  uint64_t errors = 0;
  int lastErrno = 0;
  int64_t lateMaxNs = 0;
  uint64_t lateOverQuarter = 0;
};

constexpr int kBfdStateUp = 3;
/** Shortest interval the thread keeps: nothing sensible sends BFD faster. */
constexpr int64_t kMinIntervalNs = 1000000;

/**
 * One thread for every sender of the process: a min-heap of due times,
 * sleeping on a condition variable against the steady clock
 * (CLOCK_MONOTONIC), so the packets leave on time whatever the JS thread is
 * doing. Created on first use and never destroyed (no static destructor can
 * run while the detached thread waits).
 */
class Scheduler {
 public:
  static Scheduler& Get() {
    static Scheduler* s = new Scheduler();
    return *s;
  }

  std::mutex mu;

  /** Starts (or changes) periodic mode; the first packet keeps to the rate. Holds no lock on entry. */
  void Set(const std::shared_ptr<SenderCore>& c, std::vector<uint8_t> packet, int64_t intervalNs, int detectMult) {
    std::lock_guard<std::mutex> lock(mu);
    if (c->fd < 0) return;
    const bool multChanged = c->detectMult != detectMult;
    c->packet = std::move(packet);
    c->intervalNs = std::max(intervalNs, kMinIntervalNs);
    c->detectMult = detectMult;
    c->sentCurrent = 0;
    // RFC 5880 §6.8.7 via the same rule as BfdSession's armTx: the next packet
    // is due one jittered interval after the last one; a shorter interval
    // pulls a pending packet forward, a longer one never pushes it back (the
    // peer's Detection Time still expects the old rate for it).
    if (!c->jitterDrawn || multChanged) {
      c->jitter = Jitter(detectMult);
      c->jitterDrawn = true;
    }
    const int64_t now = MonotonicNs();
    int64_t due = c->lastSentNs != 0 ? c->lastSentNs + static_cast<int64_t>(static_cast<double>(c->intervalNs) * c->jitter) : now;
    if (c->active) due = std::min(due, c->dueNs);
    due = std::max(due, now);
    if (c->active && due == c->dueNs) return;
    c->active = true;
    Schedule(c, due);
  }

  /** Ends periodic mode (the schedule's base is kept for a later Set). */
  void Stop(SenderCore* c) {
    std::lock_guard<std::mutex> lock(mu);
    StopLocked(c);
  }

  void StopLocked(SenderCore* c) {
    c->active = false;
    c->gen++;
  }

 private:
  struct Entry {
    int64_t dueNs;
    uint64_t gen;
    std::shared_ptr<SenderCore> core;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const { return a.dueNs > b.dueNs; }
  };

  Scheduler() : rng_(std::random_device{}()) {}

  double Jitter(int detectMult) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    return detectMult == 1 ? 0.75 + 0.15 * u(rng_) : 0.75 + 0.25 * u(rng_);
  }

  void Schedule(const std::shared_ptr<SenderCore>& c, int64_t due) {
    c->dueNs = due;
    c->gen++;
    heap_.push(Entry{due, c->gen, c});
    if (!started_) {
      started_ = true;
      std::thread([this]() { Run(); }).detach();
    }
    cv_.notify_one();
  }

  void Run() {
    // Wake up when asked, not up to 50 µs later.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    pthread_setname_np(pthread_self(), "bfd-tx");
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      if (heap_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const Entry& top = heap_.top();
      if (!top.core->active || top.gen != top.core->gen) {
        heap_.pop();
        continue;
      }
      const int64_t now = MonotonicNs();
      if (top.dueNs > now) {
        // steady_clock is CLOCK_MONOTONIC: the due time converts as is.
        cv_.wait_until(lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(top.dueNs)));
        continue;
      }
      Entry e = top;
      heap_.pop();
      SenderCore& c = *e.core;
      ssize_t n;
      do {
        n = sendto(c.fd, c.packet.data(), c.packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&c.remote), c.remoteLen);
      } while (n < 0 && errno == EINTR);
      // The packet's real departure: the base of the next gap (a thread
      // preempted before sendto must not make that gap short) and of its lateness.
      const int64_t sentAt = MonotonicNs();
      if (n < 0) {
        c.errors++;
        c.lastErrno = errno;
      } else {
        c.sent++;
        c.sentCurrent++;
        if (c.packet.size() >= 2 && (c.packet[1] >> 6) == kBfdStateUp) {
          const int64_t late = sentAt - e.dueNs;
          c.sentUp++;
          c.lateMaxNs = std::max(c.lateMaxNs, late);
          if (late > c.intervalNs / 4) c.lateOverQuarter++;
        }
      }
      c.lastSentNs = sentAt;
      c.jitter = Jitter(c.detectMult);
      Schedule(e.core, sentAt + static_cast<int64_t>(static_cast<double>(c.intervalNs) * c.jitter));
    }
  }

  std::priority_queue<Entry, std::vector<Entry>, Later> heap_;
  std::condition_variable cv_;
  std::mt19937_64 rng_;
  bool started_ = false;
};

class UdpSender : public Napi::ObjectWrap<UdpSender> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "UdpSender",
                                     {
                                         InstanceMethod<&UdpSender::Send>("send"),
                                         InstanceMethod<&UdpSender::SetPeriodic>("setPeriodic"),
                                         InstanceMethod<&UdpSender::StopPeriodic>("stopPeriodic"),
                                         InstanceMethod<&UdpSender::PeriodicStats>("periodicStats"),
                                         InstanceMethod<&UdpSender::LocalPort>("localPort"),
                                         InstanceMethod<&UdpSender::Close>("close"),
                                     });
    exports.Set("UdpSender", cls);
  }

  /**
   * new UdpSender(localAddress, localPort, remoteAddress, remotePort, ttl, tos)
   * Binds at once; throws an Error with `code` (EADDRINUSE, ...) on failure.
   * `tos` is the IPv4 TOS / IPv6 Traffic Class byte, set on a best-effort basis.
   */
  explicit UdpSender(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSender>(info), core_(std::make_shared<SenderCore>()) {
    Napi::Env env = info.Env();
    std::string local = StringArg(info, 0, "localAddress");
    uint16_t localPort = PortArg(info, 1, "localPort");
    std::string remote = StringArg(info, 2, "remoteAddress");
    uint16_t remotePort = PortArg(info, 3, "remotePort");
    if (!info[4].IsNumber() || !info[5].IsNumber()) throw Napi::TypeError::New(env, "ttl and tos must be numbers");
    int ttl = info[4].As<Napi::Number>().Int32Value();
    int tos = info[5].As<Napi::Number>().Int32Value();
    sockaddr_storage localAddr;
    socklen_t localLen;
    SenderCore& c = *core_;
    if (!ParseAddress(local, localPort, &localAddr, &localLen)) throw Napi::TypeError::New(env, "not an IP address: " + local);
    if (!ParseAddress(remote, remotePort, &c.remote, &c.remoteLen)) throw Napi::TypeError::New(env, "not an IP address: " + remote);
    if (localAddr.ss_family != c.remote.ss_family) {
      throw Napi::TypeError::New(env, "local and remote address families differ: " + local + ", " + remote);
    }
    const int family = c.remote.ss_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) throw ErrnoError(env, "bfd sender: socket", errno);
    const int on = 1;
    auto fail = [&](const std::string& what) {
      int err = errno;
      close(fd);
      throw ErrnoError(env, "bfd sender: " + what + " on " + local + ":" + std::to_string(localPort), err);
    };
    if (family == AF_INET) {
      if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0) fail("IP_TTL");
      (void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    } else {
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) fail("IPV6_V6ONLY");
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl) != 0) fail("IPV6_UNICAST_HOPS");
      (void)setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&localAddr), localLen) != 0) fail("bind");
    localPort_ = BoundPort(fd);
    c.fd = fd;
  }

  ~UdpSender() override { CloseCore(); }

 private:
  /** send(packet) -> undefined, or the errno code of a failed send. Never throws on I/O. */
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "packet must be a Buffer");
    // Only this (JS) thread closes the fd, so reading it needs no lock.
    const int fd = core_->fd;
    if (fd < 0) return Napi::String::New(env, "ERR_SOCKET_CLOSED");
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    ssize_t n;
    do {
      n = sendto(fd, buf.Data(), buf.Length(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&core_->remote), core_->remoteLen);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Napi::String::New(env, ErrnoCode(errno));
    return env.Undefined();
  }

  /**
   * setPeriodic(packet, intervalUs, detectMult): from now on the timer thread
   * sends `packet` every intervalUs (at least 1 ms) less 0-25 % jitter
   * (10-25 % with detectMult 1), RFC 5880 §6.8.7, until stopPeriodic() or
   * close(). Calling it again swaps the packet and interval in place.
   */
  Napi::Value SetPeriodic(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "packet must be a Buffer");
    uint32_t intervalUs = Uint32Arg(info, 1, "intervalUs");
    uint32_t mult = Uint32Arg(info, 2, "detectMult");
    if (intervalUs == 0) throw Napi::RangeError::New(env, "intervalUs must be positive");
    if (mult < 1 || mult > 255) throw Napi::RangeError::New(env, "detectMult must be in 1..255");
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    if (buf.Length() == 0 || buf.Length() > kRecvBuffer) throw Napi::RangeError::New(env, "packet must be 1..2048 bytes");
    if (core_->fd < 0) return env.Undefined();
    if (!core_->hookInstalled) {
      // A worker's teardown must not leave the thread sending for it.
      napi_add_env_cleanup_hook(env, &UdpSender::OnEnvCleanup, core_.get());
      core_->env = env;
      core_->hookInstalled = true;
    }
    Scheduler::Get().Set(core_, std::vector<uint8_t>(buf.Data(), buf.Data() + buf.Length()), static_cast<int64_t>(intervalUs) * 1000,
                         static_cast<int>(mult));
    return env.Undefined();
  }

  Napi::Value StopPeriodic(const Napi::CallbackInfo& info) {
    Scheduler::Get().Stop(core_.get());
    return info.Env().Undefined();
  }

  /** periodicStats() -> { active, sent, sentCurrent, sentUp, errors, lastError?, lateMaxUs, lateOverQuarter } */
  Napi::Value PeriodicStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SenderCore snap;
    {
      std::lock_guard<std::mutex> lock(Scheduler::Get().mu);
      const SenderCore& c = *core_;
      snap.active = c.active;
      snap.sent = c.sent;
      snap.sentCurrent = c.sentCurrent;
      snap.sentUp = c.sentUp;
      snap.errors = c.errors;
      snap.lastErrno = c.lastErrno;
      snap.lateMaxNs = c.lateMaxNs;
      snap.lateOverQuarter = c.lateOverQuarter;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("active", Napi::Boolean::New(env, snap.active));
    o.Set("sent", Napi::Number::New(env, static_cast<double>(snap.sent)));
    o.Set("sentCurrent", Napi::Number::New(env, static_cast<double>(snap.sentCurrent)));
    o.Set("sentUp", Napi::Number::New(env, static_cast<double>(snap.sentUp)));
    o.Set("errors", Napi::Number::New(env, static_cast<double>(snap.errors)));
    if (snap.lastErrno != 0) o.Set("lastError", Napi::String::New(env, ErrnoCode(snap.lastErrno)));
    o.Set("lateMaxUs", Napi::Number::New(env, static_cast<double>(snap.lateMaxNs / 1000)));
    o.Set("lateOverQuarter", Napi::Number::New(env, static_cast<double>(snap.lateOverQuarter)));
    return o;
  }

  Napi::Value LocalPort(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), localPort_);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseCore();
    return info.Env().Undefined();
  }

  /** Stops periodic mode and closes the socket (under the thread's lock, so it is never mid-send). */
  void CloseCore() {
    SenderCore& c = *core_;
    if (c.hookInstalled) {
      napi_remove_env_cleanup_hook(c.env, &UdpSender::OnEnvCleanup, &c);
      c.hookInstalled = false;
    }
    if (c.fd < 0) return;
    Scheduler& s = Scheduler::Get();
    std::lock_guard<std::mutex> lock(s.mu);
    s.StopLocked(&c);
    close(c.fd);
    c.fd = -1;
  }

  static void OnEnvCleanup(void* arg) {
    auto* c = static_cast<SenderCore*>(arg);
    c->hookInstalled = false;
    Scheduler::Get().Stop(c);
  }

  std::shared_ptr<SenderCore> core_;
  uint16_t localPort_ = 0;
};

/** monotonicNowMs() -> CLOCK_MONOTONIC in ms, the clock of arrival times. */
Napi::Value MonotonicNowMs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(MonotonicNs()) / 1e6);
}

}  // namespace

void InitBfdSockets(Napi::Env env, Napi::Object exports) {
  BfdReceiver::Init(env, exports);
  UdpSender::Init(env, exports);
  exports.Set("monotonicNowMs", Napi::Function::New(env, MonotonicNowMs, "monotonicNowMs"));
}

}  // namespace loxilb
