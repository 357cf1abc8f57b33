// core/file.cpp — ff:: wrappers over the runtime's whole-file I/O (runtime/container.h).
#include "core/file.h"

#include "runtime/container.h"

namespace ff {

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  rethrow_as_ff([&] { ffrt::write_file(path, data, size); });
}

std::string read_file(const std::string& path) {
  return rethrow_as_ff([&] { return ffrt::read_file(path); });
}

}  // namespace ff
