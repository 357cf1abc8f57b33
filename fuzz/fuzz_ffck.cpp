// fuzz/fuzz_ffck.cpp — libFuzzer target for the .ffck checkpoint readers: the container (fuzz/fuzz_container.h,
// versions 1 and 2, header records ckpt/step and ckpt/rng_counter) and the runtime's parse_checkpoint
// (runtime/formats.h: parameters/buffers/layout → a model pack, f64 → f32). train/checkpoint.cpp read_checkpoint is
// the container plus one memcpy per tensor. Any ffrt::Error is an accepted outcome.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_container.h"
#include "runtime/formats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  for (const std::string& bytes : {raw, ff::fuzz::with_valid_checksum(raw)}) {
    ff::fuzz::container_roundtrip(bytes, ffrt::FileKind::kCheckpoint);
    try {
      ffrt::Pack p = ffrt::parse_model_file(bytes, "fuzz.ffck");
      for (auto& a : p.arrays) (void)a.floats();
    } catch (const ffrt::Error&) {
    }
  }
  return 0;
}
