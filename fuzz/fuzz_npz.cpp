// fuzz/fuzz_npz.cpp — libFuzzer target for the .npy/.npz reader (ZIP, zip64, deflate, npy headers) and
// the pickled-object .npy path, and the on-demand npz reader (npy::NpzReader). Any ff::Error is an accepted outcome.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "flame/npy.h"
#include "flame/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    if (ff::npy::is_zip(data, size)) {
      auto arrays = ff::npy::parse_npz(data, size, "fuzz.npz");
      for (auto& kv : arrays) {
        if (kv.second.kind == 'O') {
          try {
            ff::pickle::load_object_npy(kv.second, "fuzz.npz:" + kv.first);
          } catch (const ff::Error&) {
          }
        } else if (kv.second.numel() > 0) {
          (void)kv.second.at<double>(kv.second.numel() - 1);
        }
      }
    } else {
      ff::npy::NdArray a = ff::npy::parse_npy(data, size, "fuzz.npy");
      if (a.kind == 'O') ff::pickle::load_object_npy(a, "fuzz.npy");
      else if (a.numel() > 0) (void)a.to<double>();
    }
  } catch (const ff::Error&) {
  }
  if (ff::npy::is_zip(data, size)) {  // the on-demand reader (flame/flame_io.cpp): each member on its own
    try {
      ff::npy::NpzReader r(std::vector<uint8_t>(data, data + size), "fuzz.npz");
      for (const std::string& k : r.keys()) {
        try {
          ff::npy::NdArray a = r.get(k);
          if (a.is_numeric() && a.numel() > 0) (void)a.at<double>(0);
        } catch (const ff::Error&) {
        }
      }
    } catch (const ff::Error&) {
    }
  }
  return 0;
}
