// tensor/io.h — named-tensor files (".fft"): facefield's own little-endian binary format.
//
// Layout (all integers little-endian):
//   magic   8 bytes  "FFTENSOR"
//   version u32      1
//   count   u32      number of entries
//   entry × count:
//     name_len u32, name bytes (UTF-8)
//     dtype    u8   (0 f32, 1 f64, 2 i32, 3 i64, 4 u8)
//     ndim     u32, dims i64 × ndim
//     nbytes   u64  (= numel · dtype size)
//     data     nbytes, C order
//   checksum u64    FNV-1a over every byte before it
// Files are written atomically (temp file + rename). Loading refuses a wrong magic, an unknown version,
// a truncated file, inconsistent sizes or a bad checksum, naming the file and what is wrong.
#pragma once
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/file.h"
#include "tensor/tensor.h"

namespace ff {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_tensors(const std::string& path, const NamedTensors& tensors);
// tensors are loaded onto the CPU
NamedTensors load_tensors(Context& ctx, const std::string& path);
// convenience: look an entry up by name (throws naming the file's entries when missing)
Tensor find_tensor(const NamedTensors& t, const std::string& name);

// helpers shared by other binary formats (checkpoints); write_file_atomic / read_file are in core/file.h
uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);

// Little-endian encoding (x86-64 and aarch64 hosts are little-endian).
template <class T>
void put_le(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
// Sequential reader over a file's bytes; every read is bounds-checked and a short file is reported as
// "<kind> '<path>' is truncated: reading <what> needs N bytes at offset P but the file has S bytes".
struct ByteReader {
  const std::string& buf;
  std::string path, kind;  // kind: e.g. "checkpoint" (may be empty)
  size_t pos = 0;
  ByteReader(const std::string& b, std::string p, std::string k = "") : buf(b), path(std::move(p)), kind(std::move(k)) {}
  void need(size_t n, const char* what) const {
    FF_CHECK(n <= buf.size() && pos + n <= buf.size(), kind, kind.empty() ? "" : " ", "'", path,
             "' is truncated: reading ", what, " needs ", n, " bytes at offset ", pos, " but the file has ", buf.size(),
             " bytes");
  }
  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, buf.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
};

}  // namespace ff
