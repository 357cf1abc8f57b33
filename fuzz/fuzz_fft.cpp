// fuzz/fuzz_fft.cpp — libFuzzer target for the .fft tensor-file reader: runtime/container.h parse_container with
// FileKind::kTensors (tensor/io.cpp load_tensors is that plus one memcpy per record), versions 1 and 2. An
// accepted file's records must lie inside the input and re-write to bytes that parse back the same. Any
// ffrt::Error is an accepted outcome; crashes, sanitizer reports, leaks, timeouts and other exceptions are bugs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_container.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  ff::fuzz::container_roundtrip(bytes, ffrt::FileKind::kTensors);
  ff::fuzz::container_roundtrip(ff::fuzz::with_valid_checksum(bytes), ffrt::FileKind::kTensors);
  return 0;
}
