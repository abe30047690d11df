// Telling a link that an address now lives at this interface's MAC: a
// gratuitous ARP request for IPv4 (RFC 5227 §3 "ARP Announcement": sender
// and target protocol address both the address, target hardware address
// zero, broadcast) and an unsolicited Neighbour Advertisement for IPv6 (RFC
// 4861 §7.2.6: to ff02::1, Override set, Solicited clear, with a Target
// Link-Layer Address option, Hop Limit 255).
//
// Both are built here byte by byte and sent over an AF_PACKET socket, so
// they leave with the interface's own MAC whether or not the address is
// configured on the interface yet, and the IPv6 one does not depend on the
// kernel picking a source address. The send loop (count frames, interval
// apart) runs on the libuv thread pool; the promise settles when it is done.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "loxilb_native.h"

namespace loxilb {
namespace {

constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint8_t kIcmpv6NeighbourAdvert = 136;
constexpr uint8_t kNaFlagOverride = 0x20;
constexpr uint8_t kNdOptTargetLinkLayer = 2;
constexpr uint8_t kNdHopLimit = 255;

void Put16(std::vector<uint8_t>& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v & 0xff));
}

void PutBytes(std::vector<uint8_t>& f, const uint8_t* p, size_t n) {
  f.insert(f.end(), p, p + n);
}

void PutEthernet(std::vector<uint8_t>& f, const uint8_t dst[6], const uint8_t src[6], uint16_t type) {
  PutBytes(f, dst, 6);
  PutBytes(f, src, 6);
  Put16(f, type);
}

std::vector<uint8_t> GratuitousArp(const uint8_t mac[6], const uint8_t ip[4]) {
  static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  static const uint8_t zero[6] = {0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> f;
  PutEthernet(f, broadcast, mac, kEtherTypeArp);
  Put16(f, ARPHRD_ETHER);
  Put16(f, 0x0800);
  f.push_back(6);
  f.push_back(4);
  Put16(f, ARPOP_REQUEST);
  PutBytes(f, mac, 6);
  PutBytes(f, ip, 4);
  PutBytes(f, zero, 6);
  PutBytes(f, ip, 4);
  // Pad to the Ethernet minimum (60 bytes before the FCS).
  f.resize(60, 0);
  return f;
}

/** RFC 4443 §2.3: one's complement sum over the IPv6 pseudo-header and the message. */
uint16_t Icmpv6Checksum(const uint8_t src[16], const uint8_t dst[16], const uint8_t* msg, size_t len) {
  uint32_t sum = 0;
  auto add = [&sum](const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  };
  add(src, 16);
  add(dst, 16);
  sum += static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff);
  sum += IPPROTO_ICMPV6;
  add(msg, len);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

std::vector<uint8_t> UnsolicitedNa(const uint8_t mac[6], const uint8_t ip[16]) {
  static const uint8_t allNodesMac[6] = {0x33, 0x33, 0, 0, 0, 1};
  static const uint8_t allNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::vector<uint8_t> icmp;
  icmp.push_back(kIcmpv6NeighbourAdvert);
  icmp.push_back(0);  // code
  Put16(icmp, 0);     // checksum, below
  icmp.push_back(kNaFlagOverride);
  icmp.push_back(0);
  icmp.push_back(0);
  icmp.push_back(0);
  PutBytes(icmp, ip, 16);
  icmp.push_back(kNdOptTargetLinkLayer);
  icmp.push_back(1);  // option length in units of 8 bytes
  PutBytes(icmp, mac, 6);
  // The source is the announced address itself: an address of this node
  // (RFC 4861 §7.2.6), and one the receivers can relate to the target.
  uint16_t sum = Icmpv6Checksum(ip, allNodes, icmp.data(), icmp.size());
  icmp[2] = static_cast<uint8_t>(sum >> 8);
  icmp[3] = static_cast<uint8_t>(sum & 0xff);

  std::vector<uint8_t> f;
  PutEthernet(f, allNodesMac, mac, kEtherTypeIpv6);
  f.push_back(0x60);  // version 6, traffic class 0, flow label 0
  f.push_back(0);
  Put16(f, 0);
  Put16(f, static_cast<uint16_t>(icmp.size()));
  f.push_back(IPPROTO_ICMPV6);
  f.push_back(kNdHopLimit);
  PutBytes(f, ip, 16);
  PutBytes(f, allNodes, 16);
  PutBytes(f, icmp.data(), icmp.size());
  return f;
}

class AnnounceWorker : public Napi::AsyncWorker {
 public:
  AnnounceWorker(Napi::Env env, std::string ifname, std::vector<uint8_t> address, std::string addressText, uint32_t count,
                 uint32_t intervalMs)
      : Napi::AsyncWorker(env, "loxilbAnnounce"),
        deferred_(Napi::Promise::Deferred::New(env)),
        ifname_(std::move(ifname)),
        address_(std::move(address)),
        addressText_(std::move(addressText)),
        count_(count),
        intervalMs_(intervalMs) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    const bool v4 = address_.size() == 4;
    const char* what = v4 ? "gratuitous ARP" : "unsolicited neighbour advertisement";
    const std::string where = std::string(what) + " for " + addressText_ + " on " + ifname_;
    if (ifname_.empty() || ifname_.size() >= IFNAMSIZ) {
      return Fail("cannot send " + where + ": not a valid interface name", EINVAL);
    }
    unsigned ifindex = if_nametoindex(ifname_.c_str());
    if (ifindex == 0) return Fail("cannot send " + where + ": no such interface", errno);
    // Protocol 0: this socket sends only and never receives a frame.
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) return Fail("cannot send " + where + ": AF_PACKET socket", errno);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, ifname_.c_str(), ifname_.size() + 1);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
      int err = errno;
      close(fd);
      return Fail("cannot send " + where + ": reading the MAC address (SIOCGIFHWADDR)", err);
    }
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
      close(fd);
      return Fail("cannot send " + where + ": " + ifname_ + " is not an Ethernet interface (link type " +
                      std::to_string(ifr.ifr_hwaddr.sa_family) + ")",
                  EINVAL);
    }
    uint8_t mac[6];
    std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    std::vector<uint8_t> frame = v4 ? GratuitousArp(mac, address_.data()) : UnsolicitedNa(mac, address_.data());

    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(v4 ? kEtherTypeArp : kEtherTypeIpv6);
    to.sll_ifindex = static_cast<int>(ifindex);
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, frame.data(), 6);
    for (uint32_t i = 0; i < count_; i++) {
      if (i > 0 && intervalMs_ > 0) {
        timespec ts{static_cast<time_t>(intervalMs_ / 1000), static_cast<long>(intervalMs_ % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
      }
      ssize_t n;
      do {
        n = sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        int err = errno;
        close(fd);
        return Fail("cannot send " + where, err);
      }
    }
    close(fd);
  }

  void OnOK() override { deferred_.Resolve(Env().Undefined()); }

  void OnError(const Napi::Error&) override {
    Napi::Error e = ErrnoError(Env(), message_, errno_);
    deferred_.Reject(e.Value());
  }

 private:
  void Fail(const std::string& message, int err) {
    message_ = message;
    errno_ = err;
    SetError(message);
  }

  Napi::Promise::Deferred deferred_;
  std::string ifname_;
  std::vector<uint8_t> address_;
  std::string addressText_;
  uint32_t count_;
  uint32_t intervalMs_;
  std::string message_;
  int errno_ = 0;
};

/** announce(ifname: string, address: Buffer (4 or 16 bytes), count: number, intervalMs: number) -> Promise<void> */
Napi::Value Announce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "ifname must be a string");
  if (!info[1].IsBuffer()) throw Napi::TypeError::New(env, "address must be a Buffer of 4 or 16 bytes");
  if (!info[2].IsNumber() || !info[3].IsNumber()) throw Napi::TypeError::New(env, "count and intervalMs must be numbers");
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  if (buf.Length() != 4 && buf.Length() != 16) throw Napi::RangeError::New(env, "address must be 4 or 16 bytes");
  std::vector<uint8_t> address(buf.Data(), buf.Data() + buf.Length());
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(buf.Length() == 4 ? AF_INET : AF_INET6, address.data(), text, sizeof text);
  auto* worker = new AnnounceWorker(env, info[0].As<Napi::String>().Utf8Value(), std::move(address), text,
                                    info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value());
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void InitAnnounce(Napi::Env env, Napi::Object exports) {
  exports.Set("announce", Napi::Function::New<Announce>(env, "announce"));
}

}  // namespace loxilb
