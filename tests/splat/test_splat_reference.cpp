// Golden comparison against the dense PyTorch reference (tests/reference/splat_reference.py): forward outputs
// and autograd gradients for random cotangents, on CPU (float and double) and CUDA (float, when present).
#include "tests/splat/splat_test_util.h"

using namespace splat_test;

namespace {

Scene scene_from_fixture(std::map<std::string, Array>& fx) {
  const auto& m = fx.at("meta").data;
  Scene s;
  s.N = int(m[0]), s.C = int(m[1]), s.W = int(m[2]), s.H = int(m[3]), s.deg = int(m[4]), s.use_sh = m[5] != 0;
  s.K = int(m[6]);
  s.means = fx.at("means").data;
  s.scales = fx.at("scales").data;
  s.quats = fx.at("quats").data;
  s.opac = fx.at("opac").data;
  s.colors = fx.at("colors").data;
  s.sh = fx.at("sh").data;
  if (!s.use_sh) s.K = 1;
  s.viewmats = fx.at("viewmats").data;
  s.intr = fx.at("intr").data;
  s.bg = fx.at("bg").data;
  return s;
}

template <class T>
void compare_case(const char* name, double fwd_tol, double grad_rtol) {
  auto fx = read_fixture(ff::testing::fixture_path(std::string("splat_ref_") + name + ".bin"));
  Scene s = scene_from_fixture(fx);
  ff::Context ctx(0, 2);
  Out<T> out;
  Grads<T> g = render_grad<T>(ctx, s, fx.at("d_image").data, fx.at("d_alpha").data, fx.at("d_depth").data, 2, &out);
  CHECK_ALLCLOSE(out.image, fx.at("image").data, fwd_tol, fwd_tol);
  CHECK_ALLCLOSE(out.alpha, fx.at("alpha").data, fwd_tol, fwd_tol);
  CHECK_ALLCLOSE(out.depth, fx.at("depth").data, fwd_tol, fwd_tol);
  CHECK(std::vector<double>(out.radii.begin(), out.radii.end()) == fx.at("radii").data);
  // gradient tolerance relative to each tensor's scale
  auto cmp = [&](const std::vector<T>& got, const char* key) {
    const auto& ref = fx.at(key).data;
    double atol = grad_rtol * max_abs(ref) + 1e-12;
    INFO(name << " " << key);
    CHECK_ALLCLOSE(got, ref, atol, grad_rtol);
  };
  cmp(g.means, "grad_means");
  cmp(g.scales, "grad_scales");
  cmp(g.quats, "grad_quats");
  cmp(g.opac, "grad_opac");
  if (s.use_sh) {
    cmp(g.sh, "grad_sh");
  } else {
    cmp(g.colors, "grad_colors");
  }
  cmp(g.viewmats, "grad_viewmats");
}

}  // namespace

TEST_CASE("splat reference: precomputed RGB, 2 cameras, 40x24, background (CPU double)") {
  compare_case<double>("rgb", 1e-6, 1e-5);
}
TEST_CASE("splat reference: precomputed RGB, 2 cameras, 40x24, background (CPU float)") {
  compare_case<float>("rgb", 2e-5, 2e-3);
}
TEST_CASE("splat reference: SH degree 3, opaque cluster (α clamp, T stop), 33x29 (CPU double)") {
  compare_case<double>("sh3", 1e-6, 1e-5);
}
TEST_CASE("splat reference: SH degree 3, opaque cluster (α clamp, T stop), 33x29 (CPU float)") {
  compare_case<float>("sh3", 2e-5, 2e-3);
}
