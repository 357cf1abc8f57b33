// tests/testing.h — shared helpers for facefield's doctest suites.
//   FF_REQUIRE_CUDA_OR_SKIP(): at the top of a CUDA test case; prints why and returns when no GPU is usable.
//   fixture_path("x"): tests/fixtures/x in the source tree.
#pragma once
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "core/context.h"

namespace ff::testing {

inline std::string fixture_path(const std::string& name) { return std::string(FF_SOURCE_DIR) + "/tests/fixtures/" + name; }

// A file of ../shared (beside the checkout, as CI has it; /work/shared as a fallback), or "" when absent:
// tests that need one print why they skip.
inline std::string shared_path(const std::string& rel) {
  for (std::string base : {std::string(FF_SOURCE_DIR) + "/../shared/", std::string("/work/shared/")}) {
    std::string p = base + rel;
    if (FILE* f = std::fopen(p.c_str(), "rb")) {
      std::fclose(f);
      return p;
    }
  }
  std::printf("[skip] %s not found beside the checkout (../shared)\n", rel.c_str());
  return "";
}

inline bool cuda_or_skip(const char* test) {
  if (ff::Context::cuda_available()) return true;
  std::printf("[skip] %s: %s\n", test, ff::Context::cuda_unavailable_reason().c_str());
  return false;
}

}  // namespace ff::testing

#define FF_REQUIRE_CUDA_OR_SKIP()                                                     \
  do {                                                                                \
    if (!::ff::testing::cuda_or_skip(__func__)) return; \
  } while (0)
