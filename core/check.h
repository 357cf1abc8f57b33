// core/check.h — the one error path of facefield.
//
// FF_CHECK(cond, parts...) throws ff::Error("file:line: <parts...> [check: cond]") when cond is false.
// The parts are streamed with operator<<, so messages carry values and shapes:
//     FF_CHECK(a.dim() == 2, "matmul: expected a 2-D tensor, got shape ", a.shape());
// FF_THROW(parts...) throws unconditionally. Inside the library every check throws (doctest tests the
// messages with CHECK_THROWS_WITH_AS); the C runtime API catches and returns codes; apps print and exit 1
// (2 for a bad command line: apps/common/cli.h UsageError).
// CUDA_CHECK / CUBLAS_CHECK / CUDNN_CHECK live in core/cuda_check.h (CUDA builds only).
#pragma once
#include <sstream>
#include <stdexcept>
#include <cstdint>
#include <string>
#include <vector>

namespace ff {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
  // what(): the whole message; message(): FF_CHECK's parts alone, without "file:line: " and " [check: cond]"
  Error(const std::string& what, std::string message) : std::runtime_error(what), message_(std::move(message)) {}
  const char* message() const noexcept { return message_.empty() ? what() : message_.c_str(); }

 private:
  std::string message_;
};

namespace detail {
// shapes print as [2,3] inside messages (declared before concat so its lookup finds it)
inline std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os << ']';
}
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}
[[noreturn]] void throw_error(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace detail

}  // namespace ff

#define FF_CHECK(cond, ...)                                                                   \
  do {                                                                                        \
    if (!(cond)) ::ff::detail::throw_error(__FILE__, __LINE__, #cond, ::ff::detail::concat(__VA_ARGS__)); \
  } while (0)

#define FF_THROW(...) ::ff::detail::throw_error(__FILE__, __LINE__, nullptr, ::ff::detail::concat(__VA_ARGS__))
