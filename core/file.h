// core/file.h — whole-file I/O shared by every layer's formats: the engine's names for the runtime's one
// implementation (runtime/container.h read_file / write_file), reporting ff::Error instead of ffrt::Error.
// write_file_atomic writes to "<path>.tmp.<pid>", flushes and fsyncs it, then renames it over `path`, so a
// reader (or a crash) never sees a half-written file; on failure the temp file is removed and ff::Error says why.
// rethrow_as_ff(f) runs f and turns an ffrt::Error it throws into an ff::Error with the same message (for engine
// code that calls the runtime's readers, e.g. tensor/io.cpp, train/checkpoint.cpp).
#pragma once
#include <cstddef>
#include <string>
#include <utility>

#include "core/check.h"
#include "runtime/error.h"

namespace ff {

void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}
std::string read_file(const std::string& path);  // throws naming the file when it cannot be opened

template <class F>
auto rethrow_as_ff(F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const ffrt::Error& e) {
    FF_THROW(e.what());
  }
}

}  // namespace ff
