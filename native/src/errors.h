// Turning errno into JS errors that look like Node's own: a message naming
// what failed, and `code` ("EADDRINUSE") / `errno` properties so TypeScript
// can branch on the code as it does for node:dgram errors.
#pragma once

#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace loxilb {

/** "EADDRINUSE" for EADDRINUSE; "E<n>" for an errno glibc has no name for. */
inline std::string ErrnoCode(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

inline std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns the message (which may not be buf).
  const char* msg = strerror_r(err, buf, sizeof buf);
  return std::string(msg) + " (" + ErrnoCode(err) + ")";
}

inline Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + ErrnoText(err));
  e.Set("code", Napi::String::New(env, ErrnoCode(err)));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

}  // namespace loxilb
