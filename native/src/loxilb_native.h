// The parts of the loxilb_native addon, each registering its exports.
#pragma once

#include <napi.h>

namespace loxilb {

/** BfdReceiver, UdpSender (bfd_socket.cc). */
void InitBfdSockets(Napi::Env env, Napi::Object exports);
/** announce() (announce.cc). */
void InitAnnounce(Napi::Env env, Napi::Object exports);
/** LbDatapath, ktimeNs(), ifIndex(), datapathLayout (datapath.cc). */
void InitDatapath(Napi::Env env, Napi::Object exports);
/** RawSocket (raw_socket.cc). */
void InitRawSockets(Napi::Env env, Napi::Object exports);
/** addressChange() (address.cc). */
void InitAddress(Napi::Env env, Napi::Object exports);

}  // namespace loxilb
