// CPU ↔ CUDA parity: forward outputs and all gradients on random scenes, the reference fixtures on CUDA,
// the loss, and CUDA error paths. Every case skips (with the reason) when no GPU is usable.
#include "splat/splat.h"
#include "tests/splat/splat_test_util.h"

using namespace splat_test;

#ifdef FF_WITH_CUDA
namespace {

// gradients: compare with atol relative to the tensor's largest entry (atomics reorder float sums)
void check_grads(const Grads<float>& a, const Grads<float>& b, bool use_sh, double rtol) {
  auto cmp = [&](const std::vector<float>& x, const std::vector<float>& y, const char* name) {
    std::vector<double> yd(y.begin(), y.end());
    double atol = rtol * max_abs(yd) + 1e-9;
    INFO("gradient " << name);
    CHECK_ALLCLOSE(x, y, atol, rtol);
  };
  cmp(a.means, b.means, "means");
  cmp(a.scales, b.scales, "scales");
  cmp(a.quats, b.quats, "rotations");
  cmp(a.opac, b.opac, "opacities");
  if (use_sh) cmp(a.sh, b.sh, "sh");
  else cmp(a.colors, b.colors, "colors");
  cmp(a.viewmats, b.viewmats, "viewmats");
  cmp(a.means2d, b.means2d, "means2d");
}

void parity(const Scene& s, uint64_t seed) {
  ff::Context ctx(0, 2);
  const size_t HW = size_t(s.W) * s.H;
  auto di = random_vec(seed, size_t(s.C) * 3 * HW), da = random_vec(seed + 1, size_t(s.C) * HW),
       dd = random_vec(seed + 2, size_t(s.C) * HW);
  Out<float> oc, og;
  Grads<float> gc = render_grad<float>(ctx, s, di, da, dd, 2, &oc);
  Grads<float> gg;
  render_cuda(ctx, s, di, da, dd, og, &gg);
  CHECK_ALLCLOSE(og.image, oc.image, 1e-4, 1e-4);
  CHECK_ALLCLOSE(og.alpha, oc.alpha, 1e-4, 1e-4);
  CHECK_ALLCLOSE(og.depth, oc.depth, 1e-4, 1e-4);
  CHECK(og.radii == oc.radii);
  check_grads(gg, gc, s.use_sh, 2e-3);
}

}  // namespace
#endif

TEST_CASE("splat cuda: parity with CPU, RGB, 2 cameras, 70x50") {
  if (!ff::testing::cuda_or_skip("splat cuda parity rgb")) return;
#ifdef FF_WITH_CUDA
  parity(random_scene(11, 300, 2, 70, 50, 0, false, 0.1, 0.95), 100);
#endif
}

TEST_CASE("splat cuda: parity with CPU, SH degree 3, dense overlap, 64x64") {
  if (!ff::testing::cuda_or_skip("splat cuda parity sh3")) return;
#ifdef FF_WITH_CUDA
  parity(random_scene(12, 400, 1, 64, 64, 3, true, 0.2, 1.0, 0.01, 0.1, 0.3, 80), 200);
#endif
}

TEST_CASE("splat cuda: parity with CPU, 4 cameras, many Gaussians, 300x200") {
  if (!ff::testing::cuda_or_skip("splat cuda parity multi-camera")) return;
#ifdef FF_WITH_CUDA
  parity(random_scene(13, 5000, 4, 300, 200, 1, true, 0.05, 0.9, 0.003, 0.02, 0.25, 250), 300);
#endif
}

TEST_CASE("splat cuda: empty scene and 1x1 image") {
  if (!ff::testing::cuda_or_skip("splat cuda edge")) return;
#ifdef FF_WITH_CUDA
  ff::Context ctx(0, 2);
  Scene e = random_scene(14, 0, 1, 17, 5, 0, false);
  Out<float> o;
  Grads<float> g;
  render_cuda(ctx, e, random_vec(1, 3 * 17 * 5), {}, {}, o, &g);
  for (int ch = 0; ch < 3; ++ch) CHECK(o.image[size_t(ch) * 85 + 7] == doctest::Approx(e.bg[ch]));
  parity(random_scene(15, 20, 1, 1, 1, 0, false, 0.3, 0.7, 0.05, 0.2, 0.05), 400);
#endif
}

TEST_CASE("splat cuda: NaN input names the first bad Gaussian") {
  if (!ff::testing::cuda_or_skip("splat cuda nan")) return;
#ifdef FF_WITH_CUDA
  ff::Context ctx(0, 2);
  Scene s = random_scene(16, 50, 1, 32, 32, 0, false);
  s.scales[3 * 9 + 2] = std::nan("");
  s.means[3 * 20] = INFINITY;
  Out<float> o;
  CHECK_THROWS_WITH_AS(render_cuda(ctx, s, {}, {}, {}, o, nullptr),
                       doctest::Contains("Gaussian 9 has a non-finite (NaN/Inf) value in 'scales'"), ff::Error);
#endif
}

TEST_CASE("splat cuda: reference fixtures") {
  if (!ff::testing::cuda_or_skip("splat cuda fixtures")) return;
#ifdef FF_WITH_CUDA
  for (const char* name : {"rgb", "sh3"}) {
    auto fx = read_fixture(ff::testing::fixture_path(std::string("splat_ref_") + name + ".bin"));
    const auto& m = fx.at("meta").data;
    Scene s;
    s.N = int(m[0]), s.C = int(m[1]), s.W = int(m[2]), s.H = int(m[3]), s.deg = int(m[4]), s.use_sh = m[5] != 0;
    s.K = s.use_sh ? int(m[6]) : 1;
    s.means = fx.at("means").data, s.scales = fx.at("scales").data, s.quats = fx.at("quats").data;
    s.opac = fx.at("opac").data, s.colors = fx.at("colors").data, s.sh = fx.at("sh").data;
    s.viewmats = fx.at("viewmats").data, s.intr = fx.at("intr").data, s.bg = fx.at("bg").data;
    ff::Context ctx(0, 2);
    Out<float> o;
    Grads<float> g;
    render_cuda(ctx, s, fx.at("d_image").data, fx.at("d_alpha").data, fx.at("d_depth").data, o, &g);
    INFO("fixture " << name);
    CHECK_ALLCLOSE(o.image, fx.at("image").data, 2e-5, 2e-5);
    CHECK_ALLCLOSE(o.alpha, fx.at("alpha").data, 2e-5, 2e-5);
    CHECK_ALLCLOSE(o.depth, fx.at("depth").data, 2e-5, 2e-5);
    auto cmp = [&](const std::vector<float>& got, const char* key) {
      const auto& ref = fx.at(key).data;
      INFO(key);
      CHECK_ALLCLOSE(got, ref, 2e-3 * max_abs(ref) + 1e-12, 2e-3);
    };
    cmp(g.means, "grad_means");
    cmp(g.scales, "grad_scales");
    cmp(g.quats, "grad_quats");
    cmp(g.opac, "grad_opac");
    cmp(s.use_sh ? g.sh : g.colors, s.use_sh ? "grad_sh" : "grad_colors");
    cmp(g.viewmats, "grad_viewmats");
  }
#endif
}

TEST_CASE("splat cuda: l1_dssim_loss parity with CPU (with and without mask)") {
  if (!ff::testing::cuda_or_skip("splat cuda loss")) return;
#ifdef FF_WITH_CUDA
  ff::Context ctx(0, 2);
  const int B = 2, Ch = 3, H = 45, W = 70;
  const size_t n = size_t(B) * Ch * H * W;
  std::vector<float> img(n), gt(n), mask(size_t(B) * H * W);
  for (size_t i = 0; i < n; ++i) {
    img[i] = float(ff::rng::uniform_at(1, i));
    gt[i] = float(ff::rng::uniform_at(2, i));
  }
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = ff::rng::uniform_at(3, i) < 0.7 ? 1.f : 0.f;
  for (bool use_mask : {false, true}) {
    ff::splat::LossParams p;
    p.batch = B, p.channels = Ch, p.height = H, p.width = W;
    p.img = img.data(), p.gt = gt.data(), p.mask = use_mask ? mask.data() : nullptr;
    float loss_c = 0;
    std::vector<float> d_c(n);
    p.loss = &loss_c, p.d_img = d_c.data();
    ff::splat::l1_dssim_loss(ctx, p);
    DVec di(img), dg(gt), dm(mask), dd(n), dl(size_t(1));
    p.device = ff::Device::cuda();
    p.img = di.p, p.gt = dg.p, p.mask = use_mask ? dm.p : nullptr, p.loss = dl.p, p.d_img = dd.p;
    float loss_g = ff::splat::l1_dssim_loss_value(ctx, p);
    CHECK(loss_g == doctest::Approx(loss_c).epsilon(1e-5));
    std::vector<double> dcd(d_c.begin(), d_c.end());
    CHECK_ALLCLOSE(dd.host(), d_c, 1e-4 * max_abs(dcd), 1e-4);
  }
#endif
}
