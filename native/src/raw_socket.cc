// Raw IP sockets of one protocol (SCTP, 132, on kernels without an SCTP
// module): what node:dgram cannot do. The kernel builds the IP header of
// what we send (no IP_HDRINCL); IP_PKTINFO / IPV6_PKTINFO choose the source
// address per packet. Receiving, IPv4 raw sockets hand over the IP header
// and IPv6 ones do not: the thread strips the IPv4 header, so JS always gets
// the protocol payload with source and destination address, the arrival
// interface and the TTL / Hop Limit.
//
// Each RawSocket owns one socket and one thread blocked in epoll_wait on it
// and on an eventfd. Memory stays bounded: the kernel queue by SO_RCVBUF,
// ours by kMaxPending packets (beyond that packets are dropped and counted),
// and only one call into JS is outstanding at a time; packets that arrive
// meanwhile are delivered with it as one batch. close() (or the
// environment's teardown) wakes the thread through the eventfd and joins it.
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

/** Packets waiting for JS beyond this are dropped (and counted): JS is stuck. */
constexpr size_t kMaxPending = 1024;
/** Packets read per wake-up before epoll_wait is asked again. */
constexpr int kReadBurst = 64;
/** The largest IP datagram. */
constexpr size_t kMaxDatagram = 65535;
constexpr int kDefaultRcvBuf = 256 * 1024;
/** Larger than this is not a receive buffer but a mistake. */
constexpr int kMaxRcvBuf = 64 * 1024 * 1024;

struct RawRx {
  std::vector<uint8_t> payload;
  std::string src;
  std::string dst;
  int ifindex = 0;
  int ttl = -1;
};

struct RawState {
  std::mutex mu;
  std::vector<RawRx> pending;
  bool scheduled = false;
  std::atomic<bool> closed{false};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> droppedOverflow{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> errors{0};
};

using RawHolder = std::shared_ptr<RawState>;

void DeliverRaw(Napi::Env env, Napi::Function fn, RawHolder* holder, std::nullptr_t*);
using RawTsfn = Napi::TypedThreadSafeFunction<RawHolder, std::nullptr_t, DeliverRaw>;

void DeliverRaw(Napi::Env env, Napi::Function fn, RawHolder* holder, std::nullptr_t*) {
  if (env == nullptr || fn.IsEmpty() || holder == nullptr) return;
  RawState& st = **holder;
  if (st.closed) return;
  std::vector<RawRx> batch;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    batch.swap(st.pending);
    st.scheduled = false;
  }
  if (batch.empty()) return;
  Napi::Array arr = Napi::Array::New(env, batch.size());
  for (size_t i = 0; i < batch.size(); i++) {
    RawRx& p = batch[i];
    Napi::Array item = Napi::Array::New(env, 5);
    item.Set(0u, Napi::Buffer<uint8_t>::Copy(env, p.payload.data(), p.payload.size()));
    item.Set(1u, Napi::String::New(env, p.src));
    item.Set(2u, Napi::String::New(env, p.dst));
    item.Set(3u, Napi::Number::New(env, p.ifindex));
    item.Set(4u, Napi::Number::New(env, p.ttl));
    arr.Set(static_cast<uint32_t>(i), item);
  }
  st.delivered += batch.size();
  try {
    fn.Call({arr});
  } catch (const Napi::Error&) {
    // The TypeScript side catches handler errors itself; count what escapes.
    st.errors++;
  }
}

std::string AddrText(int family, const void* addr) {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(family, addr, buf, sizeof buf) == nullptr) return "";
  return buf;
}

std::string FamilyName(int family) { return family == AF_INET ? "IPv4" : "IPv6"; }

class RawSocket : public Napi::ObjectWrap<RawSocket> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "RawSocket",
                                     {
                                         InstanceMethod<&RawSocket::Start>("start"),
                                         InstanceMethod<&RawSocket::Send>("send"),
                                         InstanceMethod<&RawSocket::Stats>("stats"),
                                         InstanceMethod<&RawSocket::SetRef>("setRef"),
                                         InstanceMethod<&RawSocket::Close>("close"),
                                     });
    exports.Set("RawSocket", cls);
  }

  /**
   * new RawSocket(family: 4 | 6, protocol: 1..255, rcvbufBytes: number)
   * Opens the socket at once; throws an Error with `code` (EPERM without
   * root / CAP_NET_RAW).
   */
  explicit RawSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RawSocket>(info), state_(std::make_shared<RawState>()) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
      throw Napi::TypeError::New(env, "raw socket: family, protocol and rcvbufBytes must be numbers");
    }
    const int fam = info[0].As<Napi::Number>().Int32Value();
    if (fam != 4 && fam != 6) throw Napi::RangeError::New(env, "raw socket: family must be 4 or 6");
    family_ = fam == 4 ? AF_INET : AF_INET6;
    const double proto = info[1].As<Napi::Number>().DoubleValue();
    // 0 and 255 (IPPROTO_RAW) mean something else to the kernel.
    if (!(proto >= 1 && proto <= 254) || proto != static_cast<double>(static_cast<int>(proto))) {
      throw Napi::RangeError::New(env, "raw socket: protocol must be an IP protocol number in 1..254");
    }
    protocol_ = static_cast<int>(proto);
    const double rcvbuf = info[2].As<Napi::Number>().DoubleValue();
    if (!(rcvbuf >= 0 && rcvbuf <= kMaxRcvBuf)) throw Napi::RangeError::New(env, "raw socket: rcvbufBytes must be in 0..64 MiB (0: default)");
    const int rcv = rcvbuf == 0 ? kDefaultRcvBuf : static_cast<int>(rcvbuf);
    const std::string what = "raw socket (" + FamilyName(family_) + ", protocol " + std::to_string(protocol_) + ")";

    fd_ = socket(family_, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol_);
    if (fd_ < 0) {
      const int err = errno;
      if (err == EPERM || err == EACCES) {
        throw ErrnoError(env, what + " needs root (CAP_NET_RAW)", err);
      }
      throw ErrnoError(env, what, err);
    }
    const int on = 1;
    auto fail = [&](const std::string& step) {
      const int err = errno;
      CloseFds();
      throw ErrnoError(env, what + ": " + step, err);
    };
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv) != 0) fail("SO_RCVBUF");
    if (family_ == AF_INET) {
      if (setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) fail("IP_PKTINFO");
    } else {
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0) fail("IPV6_RECVPKTINFO");
      if (setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on) != 0) fail("IPV6_RECVHOPLIMIT");
    }
    epollFd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epollFd_ < 0) fail("epoll_create1");
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0) fail("eventfd");
    for (int fd : {fd_, wakeFd_}) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl");
    }
  }

  ~RawSocket() override {
    if (hookInstalled_) {
      napi_remove_env_cleanup_hook(Env(), &RawSocket::OnEnvCleanup, this);
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
  /** start(onPackets: (batch: [payload, src, dst, ifindex, ttl][]) => void) */
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || thread_.joinable()) throw Napi::Error::New(env, "raw socket: already started or closed");
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "onPackets must be a function");
    auto* holder = new RawHolder(state_);
    tsfn_ = RawTsfn::New(env, info[0].As<Napi::Function>(), "loxilbRawReceive", 0, 1, holder, [](Napi::Env, void*, RawHolder* h) { delete h; });
    tsfnLive_ = true;
    // After the TSFN's own hook, so it runs first and the thread is gone
    // before Node finalizes the TSFN.
    napi_add_env_cleanup_hook(env, &RawSocket::OnEnvCleanup, this);
    hookInstalled_ = true;
    thread_ = std::thread([this]() { Run(); });
    return env.Undefined();
  }

  /**
   * send(dst, payload, src?) -> undefined, or the errno code of a failed send
   * ("ENETUNREACH", "EINVAL" for a source address that is not ours, ...).
   * Throws only on bad arguments.
   */
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "dst must be an address string");
    if (!info[1].IsBuffer()) throw Napi::TypeError::New(env, "payload must be a Buffer");
    const bool hasSrc = info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull();
    if (hasSrc && !info[2].IsString()) throw Napi::TypeError::New(env, "src must be an address string");
    const std::string dst = info[0].As<Napi::String>().Utf8Value();
    auto payload = info[1].As<Napi::Buffer<uint8_t>>();
    const size_t maxPayload = kMaxDatagram - (family_ == AF_INET ? 20 : 0);
    if (payload.Length() > maxPayload) throw Napi::RangeError::New(env, "payload longer than an IP datagram can carry");
    if (fd_ < 0) return Napi::String::New(env, "ERR_SOCKET_CLOSED");

    sockaddr_storage to{};
    socklen_t toLen;
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
    msghdr msg{};
    iovec iov{payload.Data(), payload.Length()};
    msg.msg_name = &to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (family_ == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&to);
      sin->sin_family = AF_INET;
      if (inet_pton(AF_INET, dst.c_str(), &sin->sin_addr) != 1) throw Napi::TypeError::New(env, "not an IPv4 address: " + dst);
      toLen = sizeof(sockaddr_in);
      if (hasSrc) {
        const std::string src = info[2].As<Napi::String>().Utf8Value();
        in_pktinfo pi{};
        if (inet_pton(AF_INET, src.c_str(), &pi.ipi_spec_dst) != 1) throw Napi::TypeError::New(env, "not an IPv4 address: " + src);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof pi);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof pi);
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
      }
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&to);
      sin6->sin6_family = AF_INET6;
      if (inet_pton(AF_INET6, dst.c_str(), &sin6->sin6_addr) != 1) throw Napi::TypeError::New(env, "not an IPv6 address: " + dst);
      toLen = sizeof(sockaddr_in6);
      if (hasSrc) {
        const std::string src = info[2].As<Napi::String>().Utf8Value();
        in6_pktinfo pi{};
        if (inet_pton(AF_INET6, src.c_str(), &pi.ipi6_addr) != 1) throw Napi::TypeError::New(env, "not an IPv6 address: " + src);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof pi);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof pi);
        std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
      }
    }
    msg.msg_namelen = toLen;
    ssize_t n;
    do {
      n = sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Napi::String::New(env, ErrnoCode(errno));
    return env.Undefined();
  }

  /** stats() -> { received, delivered, droppedOverflow, malformed, errors } */
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", Napi::Number::New(env, static_cast<double>(state_->received.load())));
    o.Set("delivered", Napi::Number::New(env, static_cast<double>(state_->delivered.load())));
    o.Set("droppedOverflow", Napi::Number::New(env, static_cast<double>(state_->droppedOverflow.load())));
    o.Set("malformed", Napi::Number::New(env, static_cast<double>(state_->malformed.load())));
    o.Set("errors", Napi::Number::New(env, static_cast<double>(state_->errors.load())));
    return o;
  }

  /**
   * setRef(keepAlive: boolean): whether the started socket keeps the event
   * loop alive (it does by default, as a server's should; a probe's should
   * not).
   */
  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsBoolean()) throw Napi::TypeError::New(env, "keepAlive must be a boolean");
    if (!tsfnLive_) throw Napi::Error::New(env, "raw socket: setRef before start or after close");
    if (info[0].As<Napi::Boolean>().Value()) {
      tsfn_.Ref(env);
    } else {
      tsfn_.Unref(env);
    }
    return env.Undefined();
  }

  /** Stops and joins the thread, closes the socket. Idempotent. */
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    closed_ = true;
    state_->closed = true;
    if (hookInstalled_) {
      napi_remove_env_cleanup_hook(info.Env(), &RawSocket::OnEnvCleanup, this);
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
    auto* self = static_cast<RawSocket*>(arg);
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
    for (int* fd : {&fd_, &wakeFd_, &epollFd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

  // ---- receive thread ----------------------------------------------------

  void Run() {
    std::vector<uint8_t> buf(kMaxDatagram);
    std::vector<RawRx> batch;
    epoll_event events[2];
    for (;;) {
      int n = epoll_wait(epollFd_, events, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        state_->errors++;
        return;
      }
      for (int i = 0; i < n; i++) {
        if (events[i].data.fd == wakeFd_) return;
      }
      Drain(buf, &batch);
      if (!batch.empty()) Publish(&batch);
    }
  }

  void Drain(std::vector<uint8_t>& buf, std::vector<RawRx>* batch) {
    RawState& st = *state_;
    alignas(cmsghdr) uint8_t control[256];
    for (int i = 0; i < kReadBurst; i++) {
      sockaddr_storage from{};
      iovec iov{buf.data(), buf.size()};
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t len = recvmsg(fd_, &msg, MSG_DONTWAIT);
      if (len < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) st.errors++;
        return;
      }
      st.received++;
      if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        st.malformed++;
        continue;
      }
      RawRx p;
      const uint8_t* data = buf.data();
      size_t size = static_cast<size_t>(len);
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          in_pktinfo pi;
          std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
          p.ifindex = pi.ipi_ifindex;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
          in6_pktinfo pi;
          std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
          p.ifindex = static_cast<int>(pi.ipi6_ifindex);
          p.dst = AddrText(AF_INET6, &pi.ipi6_addr);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
          std::memcpy(&p.ttl, CMSG_DATA(c), sizeof p.ttl);
        }
      }
      if (family_ == AF_INET) {
        // The IPv4 header comes with the packet: addresses and TTL from it,
        // then only the payload its Total Length covers.
        if (size < 20 || (data[0] >> 4) != 4) {
          st.malformed++;
          continue;
        }
        const size_t ihl = static_cast<size_t>(data[0] & 0x0f) * 4;
        const size_t total = (static_cast<size_t>(data[2]) << 8) | data[3];
        if (ihl < 20 || ihl > size || total < ihl || total > size) {
          st.malformed++;
          continue;
        }
        p.ttl = data[8];
        p.src = AddrText(AF_INET, data + 12);
        p.dst = AddrText(AF_INET, data + 16);
        p.payload.assign(data + ihl, data + total);
      } else {
        p.src = AddrText(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr);
        p.payload.assign(data, data + size);
      }
      batch->push_back(std::move(p));
    }
  }

  void Publish(std::vector<RawRx>* batch) {
    RawState& st = *state_;
    bool call = false;
    {
      std::lock_guard<std::mutex> lock(st.mu);
      const size_t room = st.pending.size() < kMaxPending ? kMaxPending - st.pending.size() : 0;
      const size_t take = batch->size() < room ? batch->size() : room;
      st.droppedOverflow += batch->size() - take;
      for (size_t i = 0; i < take; i++) st.pending.push_back(std::move((*batch)[i]));
      if (!st.scheduled && !st.pending.empty()) {
        st.scheduled = true;
        call = true;
      }
    }
    batch->clear();
    if (call && tsfn_.NonBlockingCall() != napi_ok) {
      std::lock_guard<std::mutex> lock(st.mu);
      st.scheduled = false;
    }
  }

  RawHolder state_;
  RawTsfn tsfn_;
  bool tsfnLive_ = false;
  bool hookInstalled_ = false;
  bool closed_ = false;
  int family_ = AF_INET;
  int protocol_ = 0;
  int fd_ = -1;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
};

}  // namespace

void InitRawSockets(Napi::Env env, Napi::Object exports) { RawSocket::Init(env, exports); }

}  // namespace loxilb
