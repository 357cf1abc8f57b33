// runtime/error.h — the runtime's one error type: ffrt::Error carries a facefield.h status code (ff_status values,
// runtime/include/facefield.h) and a message naming the file / object and the reason. The C API
// (runtime/capi.cpp) turns it into a return code; the engine turns it into ff::Error (core/file.h).
// cat(parts...) builds a message from strings and numbers (%g for floating point); fail(status, parts...) throws.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace ffrt {

enum Status { kOk = 0, kInvalid = 1, kIO = 2, kFormat = 3, kUnsupported = 4, kNoMemory = 5, kInternal = 6 };
struct Error : std::runtime_error {
  int status;
  Error(int s, const std::string& msg) : std::runtime_error(msg), status(s) {}
};

inline std::string cat() { return {}; }
template <class A, class... R>
std::string cat(const A& a, const R&... r) {
  std::string s;
  if constexpr (std::is_arithmetic<A>::value) {
    char b[64];
    if constexpr (std::is_floating_point<A>::value) std::snprintf(b, sizeof b, "%g", double(a));
    else if constexpr (std::is_signed<A>::value) std::snprintf(b, sizeof b, "%lld", (long long)a);
    else std::snprintf(b, sizeof b, "%llu", (unsigned long long)a);
    s = b;
  } else {
    s = a;
  }
  return s + cat(r...);
}
template <class... R>
[[noreturn]] void fail(int status, const R&... r) {
  throw Error(status, cat(r...));
}

}  // namespace ffrt
