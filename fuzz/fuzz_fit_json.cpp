// fuzz/fuzz_fit_json.cpp — libFuzzer target for the code file parser (apps/common/code_file.h parse_code_file:
// fit.json's "code", "viewmat" + "camera", "positions"). Any ff::Error is an accepted outcome; what parses must
// keep the documented invariants.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/common/code_file.h"
#include "core/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (int code_dim : {2, 4}) {
    try {
      ff::apps::CodeFile cf = ff::apps::parse_code_file(text, "fuzz/fit.json", code_dim, 2);
      if (int(cf.code.size()) != code_dim) __builtin_trap();
      if (!cf.xyz.empty() && cf.xyz.size() != 6) __builtin_trap();
      if (cf.has_camera && !(cf.camera.fx() > 0 && cf.camera.width > 0 && cf.camera.height > 0)) __builtin_trap();
    } catch (const ff::Error&) {
    }
  }
  return 0;
}
