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
// UdpSender is a plain non-blocking UDP socket: sending a BFD packet never
// blocks the JS thread, so it needs no thread of its own.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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

struct RxPacket {
  std::vector<uint8_t> data;
  std::string src;
  uint16_t srcPort;
  std::string dst;
  int ttl;
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
    Napi::Array item = Napi::Array::New(env, 5);
    item.Set(0u, Napi::Buffer<uint8_t>::Copy(env, p.data.data(), p.data.size()));
    item.Set(1u, Napi::String::New(env, p.src));
    item.Set(2u, Napi::Number::New(env, p.srcPort));
    item.Set(3u, p.dst.empty() ? env.Undefined() : Napi::String::New(env, p.dst));
    item.Set(4u, Napi::Number::New(env, p.ttl));
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
      st.received++;
      if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        st.errors++;
        continue;
      }
      int ttl = -1;
      std::string dst;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
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
        continue;
      }
      RxPacket p;
      p.data.assign(data, data + len);
      p.ttl = ttl;
      p.dst = std::move(dst);
      if (from.ss_family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&from);
        p.src = AddressText(AF_INET, &a->sin_addr);
        p.srcPort = ntohs(a->sin_port);
      } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&from);
        p.src = AddressText(AF_INET6, &a->sin6_addr);
        p.srcPort = ntohs(a->sin6_port);
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

class UdpSender : public Napi::ObjectWrap<UdpSender> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "UdpSender",
                                     {
                                         InstanceMethod<&UdpSender::Send>("send"),
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
  explicit UdpSender(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSender>(info) {
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
    if (!ParseAddress(local, localPort, &localAddr, &localLen)) throw Napi::TypeError::New(env, "not an IP address: " + local);
    if (!ParseAddress(remote, remotePort, &remote_, &remoteLen_)) throw Napi::TypeError::New(env, "not an IP address: " + remote);
    if (localAddr.ss_family != remote_.ss_family) {
      throw Napi::TypeError::New(env, "local and remote address families differ: " + local + ", " + remote);
    }
    const int family = remote_.ss_family;
    fd_ = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd_ < 0) throw ErrnoError(env, "bfd sender: socket", errno);
    const int on = 1;
    auto fail = [&](const std::string& what) {
      int err = errno;
      close(fd_);
      fd_ = -1;
      throw ErrnoError(env, "bfd sender: " + what + " on " + local + ":" + std::to_string(localPort), err);
    };
    if (family == AF_INET) {
      if (setsockopt(fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0) fail("IP_TTL");
      (void)setsockopt(fd_, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    } else {
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) fail("IPV6_V6ONLY");
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl) != 0) fail("IPV6_UNICAST_HOPS");
      (void)setsockopt(fd_, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    }
    if (bind(fd_, reinterpret_cast<sockaddr*>(&localAddr), localLen) != 0) fail("bind");
    localPort_ = BoundPort(fd_);
  }

  ~UdpSender() override {
    if (fd_ >= 0) close(fd_);
  }

 private:
  /** send(packet) -> undefined, or the errno code of a failed send. Never throws on I/O. */
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "packet must be a Buffer");
    if (fd_ < 0) return Napi::String::New(env, "ERR_SOCKET_CLOSED");
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    ssize_t n;
    do {
      n = sendto(fd_, buf.Data(), buf.Length(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&remote_), remoteLen_);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Napi::String::New(env, ErrnoCode(errno));
    return env.Undefined();
  }

  Napi::Value LocalPort(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), localPort_);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return info.Env().Undefined();
  }

  int fd_ = -1;
  uint16_t localPort_ = 0;
  sockaddr_storage remote_{};
  socklen_t remoteLen_ = 0;
};

}  // namespace

void InitBfdSockets(Napi::Env env, Napi::Object exports) {
  BfdReceiver::Init(env, exports);
  UdpSender::Init(env, exports);
}

}  // namespace loxilb
