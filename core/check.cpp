#include "core/check.h"

#include <cstring>

namespace ff::detail {

[[noreturn]] void throw_error(const char* file, int line, const char* cond, const std::string& msg) {
  const char* base = std::strrchr(file, '/');
  std::string where = std::string(base ? base + 1 : file) + ":" + std::to_string(line) + ": ";
  std::string full = where + msg;
  if (cond) full += std::string(" [check: ") + cond + "]";
  throw Error(full, msg);
}

}  // namespace ff::detail
