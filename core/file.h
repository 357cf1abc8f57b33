// core/file.h — whole-file I/O shared by every layer's formats.
// write_file_atomic writes to "<path>.tmp.<pid>", flushes and fsyncs it, then renames it over `path`, so a
// reader (or a crash) never sees a half-written file; on failure the temp file is removed and ff::Error says why.
#pragma once
#include <cstddef>
#include <string>

namespace ff {

void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}
std::string read_file(const std::string& path);  // throws naming the file when it cannot be opened

}  // namespace ff
