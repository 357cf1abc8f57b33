// fuzz/fuzz_container.h — the property the container targets (fuzz_fft, fuzz_ffck, fuzz_ffpk) check on any input:
// parse_container either refuses it with an ffrt::Error, or every record lies inside the input with
// nbytes = numel · dtype size, and writing the parsed view again gives bytes that parse to the same view.
// with_valid_checksum: the input with its last 8 bytes replaced by the right checksum, so that mutated files also
// get past the checksum and reach what runs on an accepted file (each target runs on both variants).
#pragma once
#include <cstring>
#include <string>

#include "runtime/container.h"

namespace ff::fuzz {

inline std::string with_valid_checksum(std::string b) {
  if (b.size() >= 8) {
    const uint64_t sum = ffrt::fnv1a64(b.data(), b.size() - 8);
    std::memcpy(&b[b.size() - 8], &sum, 8);
  }
  return b;
}

inline void container_roundtrip(const std::string& bytes, ffrt::FileKind kind) {
  ffrt::ContainerView v;
  try {
    v = ffrt::parse_container(bytes, kind, "fuzz");
  } catch (const ffrt::Error&) {
    return;
  }
  ffrt::ContainerWriter w(kind, v.header);
  for (auto& r : v.records) {
    if (r.data < bytes.data() || r.data + r.nbytes > bytes.data() + bytes.size()) __builtin_trap();
    w.add(r.name, r.dtype, r.shape, r.data, r.nbytes);  // throws (a bug) if the reader accepted what the writer refuses
  }
  const std::string again = w.finish();
  const ffrt::ContainerView u = ffrt::parse_container(again, kind, "fuzz-rewritten");
  if (u.records.size() != v.records.size() || u.header.meta != v.header.meta || u.header.step != v.header.step ||
      u.header.rng_counter != v.header.rng_counter || u.header.pack_kind != v.header.pack_kind)
    __builtin_trap();
  for (size_t i = 0; i < u.records.size(); ++i)
    if (u.records[i].name != v.records[i].name || u.records[i].shape != v.records[i].shape ||
        u.records[i].copy().data != v.records[i].copy().data)
      __builtin_trap();
}

}  // namespace ff::fuzz
