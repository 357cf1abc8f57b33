// fuzz/fuzz_split_json.cpp — libFuzzer target for the split.json parser (train/data/nersemble.h parse_split):
// any input either parses into train / held-out lists with no subject in both, or throws ff::Error naming the
// file. Anything else (another exception type, a crash, a sanitizer report) is a bug.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "train/data/nersemble.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    ff::data::SplitFile s = ff::data::parse_split(text, "fuzz-split.json");
    for (auto& h : s.heldout)
      if (std::find(s.train.begin(), s.train.end(), h) != s.train.end()) __builtin_trap();  // refused by parse
  } catch (const ff::Error& e) {
    if (std::string(e.what()).find("fuzz-split.json") == std::string::npos) __builtin_trap();  // names the file
  }
  return 0;
}
