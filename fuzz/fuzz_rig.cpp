// fuzz/fuzz_rig.cpp — libFuzzer target for rig files (.ffrig, runtime/rig.h, docs/rig.md): the container (fuzz/
// fuzz_container.h), parse_rig; an accepted rig must re-write (rig_pack) to one that parses back, and must pose its
// mesh and (when it holds them) its Gaussians for a non-trivial frame without crashing. Any ffrt::Error is an
// accepted outcome.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_container.h"
#include "runtime/rig.h"

namespace {
void one(const std::string& bytes) {
  ff::fuzz::container_roundtrip(bytes, ffrt::FileKind::kPack);
  try {
    const ffrt::Rig rig(ffrt::parse_rig(bytes, "fuzz.ffrig"), "fuzz.ffrig");
    if (ffrt::parse_rig(ffrt::pack_bytes(ffrt::rig_pack(rig.data())), "fuzz-rewritten").G != rig.data().G)
      __builtin_trap();
    ffrt::RigParams p;
    const float expr[2] = {0.5f, -0.25f};
    p.expression = expr;
    p.num_expression = rig.data().E < 2 ? rig.data().E : 2;
    p.pose[6] = 0.2f, p.pose[4] = -0.1f, p.translation[1] = 0.01f;
    std::vector<float> v;
    rig.posed_vertices(p, v);
    if (rig.data().gaussians.size() > 0) {
      ffrt::Pool pool(1);
      ffrt::GaussianSet out;
      rig.pose(rig.data().gaussians, p, out, pool);
    }
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
