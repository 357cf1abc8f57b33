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
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ff {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_tensors(const std::string& path, const NamedTensors& tensors);
// tensors are loaded onto the CPU
NamedTensors load_tensors(Context& ctx, const std::string& path);
// convenience: look an entry up by name (throws naming the file's entries when missing)
Tensor find_tensor(const NamedTensors& t, const std::string& name);

// helpers shared by other binary formats (checkpoints)
void write_file_atomic(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);
uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);

}  // namespace ff
