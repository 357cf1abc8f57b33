// fuzz/fuzz_ffpk.cpp — libFuzzer target for the .ffpk identity-pack readers: the container (fuzz/fuzz_container.h,
// versions 1 and 2, header record pack/kind), parse_pack / parse_model_file and gaussians_from_pack
// (runtime/formats.h); an accepted pack must re-write (pack_bytes) to one that parses back. Any ffrt::Error is an
// accepted outcome.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_container.h"
#include "runtime/formats.h"

namespace {
void one(const std::string& bytes) {
  ff::fuzz::container_roundtrip(bytes, ffrt::FileKind::kPack);
  ffrt::Pack p;
  try {
    p = ffrt::parse_model_file(bytes, "fuzz.ffpk");
  } catch (const ffrt::Error&) {
    return;
  }
  if (ffrt::parse_pack(ffrt::pack_bytes(p), "fuzz-rewritten").arrays.size() != p.arrays.size()) __builtin_trap();
  try {
    ffrt::GaussianSet g = ffrt::gaussians_from_pack(p, "fuzz.ffpk");
    g.check("fuzz.ffpk");
  } catch (const ffrt::Error&) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  one(raw);
  one(ff::fuzz::with_valid_checksum(raw));
  return 0;
}
