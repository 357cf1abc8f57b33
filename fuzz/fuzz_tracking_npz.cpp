// fuzz/fuzz_tracking_npz.cpp — libFuzzer target for the FLAME tracking .npz reader (ZIP container,
// npy headers, key/shape/dtype validation) and the transforms computed from an accepted file (cano2world,
// SVD orthonormalisation). Any ff::Error is an accepted outcome.
#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "train/data/nersemble.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ff::data::FlameTracking t = ff::data::parse_tracking_npz(data, size, "fuzz.npz");
    for (int i = 0; i < t.T && i < 4; ++i) {
      ff::data::Mat34 m = ff::data::tracking_cano2world_scaled(t, i);
      try {
        (void)ff::data::rigid_from_scaled(m);
      } catch (const ff::Error&) {  // a reflection / degenerate matrix is refused, not a crash
      }
    }
    if (!t.frames.empty()) (void)t.index_of_frame(t.frames[0]);
  } catch (const ff::Error&) {
  }
  return 0;
}
