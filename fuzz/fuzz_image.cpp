// fuzz/fuzz_image.cpp — libFuzzer target for the one image loader (train/data/image.h decode_image: PNG chunk
// CRCs / JPEG end check, then stb_image) in every channel mode: an input either decodes into a consistent image
// or throws ff::Error naming the file. Anything else (another exception type, a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "train/data/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (int want : {0, 1, 3}) {
    try {
      ff::data::Image8 im = ff::data::decode_image(data, size, "fuzz.img", want);
      if (im.width <= 0 || im.height <= 0 || (want && im.channels != want) ||
          im.pixels.size() != size_t(im.width) * size_t(im.height) * size_t(im.channels))
        __builtin_trap();
    } catch (const ff::Error& e) {
      if (std::string(e.what()).find("fuzz.img") == std::string::npos) __builtin_trap();  // names the file
    }
  }
  return 0;
}
