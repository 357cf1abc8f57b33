// fuzz/fuzz_pickle.cpp — libFuzzer target for the restricted unpickler and its array decoding.
// Build and run with fuzz/run.sh. Any ff::Error is an accepted outcome; crashes, sanitizer reports,
// leaks, timeouts and other exceptions are bugs.
#include <cstddef>
#include <cstdint>

#include "flame/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ff::pickle::Limits lim;
    lim.max_objects = size_t(1) << 20;
    ff::pickle::Document doc = ff::pickle::loads(data, size, "fuzz.pkl", lim);
    const ff::pickle::Value* root = doc.root;
    if (root->kind == ff::pickle::Kind::Dict) {
      for (const auto& kv : root->dict) {
        try {
          ff::pickle::to_array(kv.second, "fuzz.pkl:value", 16);
        } catch (const ff::Error&) {
        }
      }
    }
    try {
      ff::pickle::to_array(root, "fuzz.pkl", 16);
    } catch (const ff::Error&) {
    }
    try {
      ff::pickle::object_array_items(root, "fuzz.pkl");
    } catch (const ff::Error&) {
    }
  } catch (const ff::Error&) {
  }
  return 0;
}
