// Entry point of build/Release/loxilb_native.node: the socket-level pieces
// Node's own modules cannot do (receive TTL and destination address,
// AF_PACKET frames, raw IP sockets). Loaded by src/util/nativeAddon.ts.
#include "loxilb_native.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  loxilb::InitBfdSockets(env, exports);
  loxilb::InitAnnounce(env, exports);
  loxilb::InitDatapath(env, exports);
  loxilb::InitRawSockets(env, exports);
  loxilb::InitAddress(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(loxilb_native, Init)
