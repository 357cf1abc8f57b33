// fuzz/fuzz_camera_json.cpp — libFuzzer target for the NeRSemble camera_params.json parser (shared
// and per-camera intrinsics, world_2_cam validation), the split.json parser, and the intrinsics
// conversion of whatever parses. Any ff::Error is an accepted outcome.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "train/data/nersemble.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    ff::data::CameraParams p = ff::data::parse_camera_params(text, "fuzz.json");
    for (auto& kv : p.intrinsics) {
      ff::data::Intrinsics k = ff::data::to_splat_intrinsics(kv.second, 275, 401);
      ff::data::Intrinsics b = ff::data::nersemble_intrinsics(k, 275, 401);
      if (!(std::isfinite(b.fx) && b.fx > 0)) __builtin_trap();  // parse guarantees fx > 0 and finite
    }
    for (auto& kv : p.world_2_cam) {
      ff::data::Mat4 inv = ff::data::mat4_rigid_inverse(kv.second);
      (void)ff::data::mat4_mul(kv.second, inv);
    }
    // writing and re-parsing what was accepted must succeed
    ff::data::CameraParams q = ff::data::parse_camera_params(ff::data::camera_params_json(p), "fuzz-rt.json");
    if (q.world_2_cam.size() != p.world_2_cam.size()) __builtin_trap();
  } catch (const ff::Error&) {
  }
  try {  // the same bytes as a split.json
    ff::data::SplitFile s = ff::data::parse_split(text, "fuzz-split.json");
    (void)s;
  } catch (const ff::Error&) {
  }
  return 0;
}
