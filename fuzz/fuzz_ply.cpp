// fuzz/fuzz_ply.cpp — libFuzzer target for the header-driven .ply reader (runtime/formats.h parse_ply: any property
// order, 8 property types, ascii / binary_little_endian, elements before `vertex`). An accepted file must give
// consistent arrays and re-write (ply_bytes) to a file that parses back with as many Gaussians. Any ffrt::Error is
// an accepted outcome.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/formats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  ffrt::GaussianSet g;
  int degree = -1;
  try {
    g = ffrt::parse_ply(bytes, "fuzz.ply", &degree);
  } catch (const ffrt::Error&) {
    return 0;
  }
  g.check("fuzz.ply");
  if (degree < 0 || degree > 3) __builtin_trap();
  if (ffrt::parse_ply(ffrt::ply_bytes(g), "fuzz-rewritten.ply").size() != g.size()) __builtin_trap();
  return 0;
}
