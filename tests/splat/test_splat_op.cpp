// The autograd glue (splat/splat_op.h): finite differences through ff::backward, and the fused loss.
#include "splat/splat_op.h"

#include "autograd/ops.h"
#include "tests/gradcheck.h"
#include "tests/splat/splat_test_util.h"

using namespace ff;
using V = std::vector<Tensor>;

namespace {
Tensor t64(Context& ctx, const std::vector<double>& v, const Shape& s, bool grad) {
  Tensor t = from_vector<double>(ctx, v, s);
  t.set_requires_grad(grad);
  return t;
}
}  // namespace

TEST_CASE("splat_op: gradients through ff::backward match finite differences (all inputs, camera pose)") {
  Context ctx(3, 2);
  splat_test::Scene s = splat_test::random_scene(7, 4, 2, 20, 18, 0, false, 0.3, 0.7, 0.04, 0.09, 0.15, 30);
  const int64_t N = s.N, C = s.C;
  Tensor intr = from_vector<double>(ctx, s.intr, {C, 4});
  V in = {t64(ctx, s.means, {N, 3}, true), t64(ctx, s.scales, {N, 3}, true), t64(ctx, s.quats, {N, 4}, true),
          t64(ctx, s.opac, {N}, true), t64(ctx, s.colors, {N, 3}, true), t64(ctx, s.viewmats, {C, 4, 4}, true)};
  auto f = [&](const V& v) {
    splat::GaussianTensors g{v[0], v[1], v[2], v[3], v[4], Tensor(), 0};
    auto out = splat::render(g, v[5], intr, s.W, s.H);
    // image, alpha and depth all reach the loss
    return concat({reshape(out.image, {-1}), reshape(out.alpha, {-1}), reshape(out.depth, {-1})}, 0);
  };
  ff::testing::gradcheck("splat render", f, in, {1e-6, 1e-5, 1e-4});
}

TEST_CASE("splat_op: SH colours and radii; shape errors name the input") {
  Context ctx(4, 2);
  splat_test::Scene s = splat_test::random_scene(9, 3, 1, 16, 16, 1, true, 0.3, 0.7, 0.04, 0.09, 0.15, 25);
  const int64_t N = s.N;
  Tensor intr = from_vector<double>(ctx, s.intr, {1, 4});
  V in = {t64(ctx, s.means, {N, 3}, false), t64(ctx, s.sh, {N, 4, 3}, true)};
  Tensor scales = t64(ctx, s.scales, {N, 3}, false), quats = t64(ctx, s.quats, {N, 4}, false),
         opac = t64(ctx, s.opac, {N}, false), vm = t64(ctx, s.viewmats, {1, 4, 4}, false);
  auto f = [&](const V& v) {
    splat::GaussianTensors g{v[0], scales, quats, opac, Tensor(), v[1], 1};
    return splat::render(g, vm, intr, s.W, s.H).image;
  };
  ff::testing::gradcheck("splat render sh", f, in, {1e-6, 1e-5, 1e-4});
  splat::GaussianTensors g{in[0], scales, quats, opac, Tensor(), in[1], 1};
  auto out = splat::render(g, vm, intr, s.W, s.H);
  CHECK(out.radii.shape() == Shape{1, N});
  CHECK(out.radii.dtype() == DType::I32);
  splat::GaussianTensors bad{in[0], zeros(ctx, {N, 2}, DType::F64), quats, opac, Tensor(), in[1], 1};
  CHECK_THROWS_WITH_AS(splat::render(bad, vm, intr, s.W, s.H), doctest::Contains("scales has shape [3,2], expected [3,3]"),
                       ff::Error);
}

TEST_CASE("splat_op: l1_dssim_loss glue scales the fused gradient by the cotangent") {
  Context ctx(5, 2);
  Tensor img = rand(ctx, {1, 3, 12, 13});
  Tensor gt = rand(ctx, {1, 3, 12, 13});
  img.set_requires_grad(true);
  Tensor loss = splat::l1_dssim_loss(img, gt);
  CHECK(loss.dim() == 0);
  backward(mul(loss, 3.0));
  Tensor g1 = img.grad().clone();
  img.zero_grad();
  backward(splat::l1_dssim_loss(img, gt));
  auto a = g1.to_vector<float>(), b = img.grad().to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == doctest::Approx(3 * b[i]).epsilon(1e-5));
  // finite difference of the loss value wrt one pixel
  {
    NoGrad ng(ctx);
    float* p = img.data<float>();
    const float e = 1e-2f;
    p[40] += e;
    double lp = splat::l1_dssim_loss(img, gt).item();
    p[40] -= 2 * e;
    double lm = splat::l1_dssim_loss(img, gt).item();
    p[40] += e;
    CHECK((lp - lm) / (2 * e) == doctest::Approx(b[40]).epsilon(2e-2));
  }
  CHECK_THROWS_WITH_AS(splat::l1_dssim_loss(img, zeros(ctx, {1, 3, 12, 12})), doctest::Contains("l1_dssim_loss: gt"),
                       ff::Error);
}

TEST_CASE("splat_op: CUDA render and loss glue agree with the CPU") {
  if (!ff::testing::cuda_or_skip("splat_op CUDA parity")) return;
  Context ctx(6, 2);
  splat_test::Scene s = splat_test::random_scene(11, 50, 2, 40, 30, 0, false);
  const int64_t N = s.N, C = s.C;
  auto mk = [&](const std::vector<double>& v, const Shape& sh, Device d) {
    Tensor t = from_vector<double>(ctx, v, sh).to(DType::F32).to(d);
    t.set_requires_grad(true);
    return t;
  };
  std::vector<std::vector<float>> res[2];
  for (int di = 0; di < 2; ++di) {
    Device d = di ? Device::cuda() : Device::cpu();
    splat::GaussianTensors g{mk(s.means, {N, 3}, d), mk(s.scales, {N, 3}, d), mk(s.quats, {N, 4}, d),
                             mk(s.opac, {N}, d), mk(s.colors, {N, 3}, d), Tensor(), 0};
    Tensor vm = mk(s.viewmats, {C, 4, 4}, d);
    Tensor intr = from_vector<double>(ctx, s.intr, {C, 4}).to(DType::F32).to(d);
    auto out = splat::render(g, vm, intr, s.W, s.H);
    Tensor loss = splat::l1_dssim_loss(out.image, zeros(ctx, out.image.shape(), DType::F32, d));
    backward(loss);
    res[di] = {out.image.to_vector<float>(), g.means.grad().to_vector<float>(), vm.grad().to_vector<float>(),
               std::vector<float>{float(loss.item())}};
  }
  for (size_t k = 0; k < res[0].size(); ++k)
    for (size_t i = 0; i < res[0][k].size(); ++i)
      REQUIRE(res[1][k][i] == doctest::Approx(res[0][k][i]).epsilon(1e-3).scale(1e-3));
}
