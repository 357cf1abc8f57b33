// Finite-difference checks (double precision, central differences) of every splat input — means, scales,
// rotations, opacities, colours, SH coefficients, and both cameras' world→camera R and t — for random
// cotangents of image, alpha and depth. Scenes avoid the kinks: opacities ≤ 0.7 (no α = 0.99 clamp,
// T never reaches 1e-4), Gaussians big enough that 3DGS's tile rectangles cover the whole 32×32 image,
// positive SH colours (no clamp at 0). One scene puts a Gaussian beyond the ±1.3·tan_fov Jacobian clamp.
#include "tests/splat/splat_test_util.h"

using namespace splat_test;

namespace {

struct Cot {
  std::vector<double> di, da, dd;
};

double objective(ff::Context& ctx, const Scene& s, const Cot& c) {
  RenderState st;
  Out<double> o = render<double>(ctx, s, st, 1);
  double f = 0;
  for (size_t i = 0; i < o.image.size(); ++i) f += o.image[i] * c.di[i];
  for (size_t i = 0; i < o.alpha.size(); ++i) f += o.alpha[i] * c.da[i] + o.depth[i] * c.dd[i];
  return f;
}

// Compare analytic gradient `an` of field `v` (a member of Scene) with central differences.
void fd_field(ff::Context& ctx, Scene s, std::vector<double> Scene::*v, const std::vector<double>& an, const Cot& c,
              const char* name, std::vector<int> skip_mod = {}) {
  const double eps = 1e-6;
  REQUIRE((s.*v).size() == an.size());
  double scale = max_abs(an);
  CHECK(scale > 0);  // the scene must exercise this input
  double worst = 0;
  size_t worst_i = 0;
  std::vector<double> fd(an.size(), 0.0);
  for (size_t i = 0; i < an.size(); ++i) {
    bool skip = false;
    for (int m : skip_mod) skip |= int(i % 16) == m;  // viewmat's last row: not an input
    if (skip) continue;
    double x0 = (s.*v)[i];
    (s.*v)[i] = x0 + eps;
    double fp = objective(ctx, s, c);
    (s.*v)[i] = x0 - eps;
    double fm = objective(ctx, s, c);
    (s.*v)[i] = x0;
    fd[i] = (fp - fm) / (2 * eps);
    double err = std::abs(fd[i] - an[i]) / (1e-6 * scale + 1e-5 * std::abs(an[i]) + 1e-9);
    if (err > worst) worst = err, worst_i = i;
  }
  INFO(name << ": worst at " << worst_i << " analytic " << an[worst_i] << " fd " << fd[worst_i] << " (scale " << scale
            << ")");
  CHECK(worst <= 1.0);
}

void fd_scene(const Scene& s, uint64_t seed) {
  ff::Context ctx(0, 1);
  const size_t HW = size_t(s.W) * s.H;
  Cot c{random_vec(seed, size_t(s.C) * 3 * HW), random_vec(seed + 1, size_t(s.C) * HW),
        random_vec(seed + 2, size_t(s.C) * HW)};
  Grads<double> g = render_grad<double>(ctx, s, c.di, c.da, c.dd, 1);
  fd_field(ctx, s, &Scene::means, g.means, c, "means");
  fd_field(ctx, s, &Scene::scales, g.scales, c, "scales");
  fd_field(ctx, s, &Scene::quats, g.quats, c, "rotations");
  fd_field(ctx, s, &Scene::opac, g.opac, c, "opacities");
  if (s.use_sh) {
    fd_field(ctx, s, &Scene::sh, g.sh, c, "sh");
  } else {
    fd_field(ctx, s, &Scene::colors, g.colors, c, "colors");
  }
  fd_field(ctx, s, &Scene::viewmats, g.viewmats, c, "viewmats (R, t)", {12, 13, 14, 15});
  for (int k = 0; k < s.C; ++k)
    for (int j = 12; j < 16; ++j) CHECK(g.viewmats[16 * k + j] == 0.0);
}

}  // namespace

TEST_CASE("splat FD: precomputed colours, two cameras, background, 32x32") {
  Scene s = random_scene(21, 5, 2, 32, 32, 0, false, 0.3, 0.7, 0.08, 0.15, 0.1, 60);
  fd_scene(s, 1000);
}

TEST_CASE("splat FD: SH degree 3 (view-dependent colour through mean and camera), 30x28") {
  Scene s = random_scene(22, 4, 1, 30, 28, 3, true, 0.3, 0.7, 0.08, 0.15, 0.1, 60);
  fd_scene(s, 2000);
}

TEST_CASE("splat FD: SH degree 1 and a Gaussian beyond the Jacobian clamp") {
  Scene s = random_scene(23, 4, 1, 32, 32, 1, true, 0.3, 0.7, 0.08, 0.15, 0.1, 60);
  // Gaussian 0 at x/z ≈ 0.45 > 1.3·tan_fovx = 1.3·32/(2·60) ≈ 0.35: its EWA Jacobian is clamped, its tail
  // still reaches the image's right edge.
  s.means[0] = 0.45, s.means[1] = 0.0, s.means[2] = 0.0;
  s.scales[0] = s.scales[1] = s.scales[2] = 0.12;
  s.viewmats = viewmat_translate(0, 0, 1);
  fd_scene(s, 3000);
  // the clamp is active for Gaussian 0
  double xz = s.means[0] / (s.means[2] + 1.0);
  CHECK(xz > 1.3 * s.W / (2 * s.intr[0]));
}

TEST_CASE("splat FD: float backward agrees with the double backward") {
  Scene s = random_scene(24, 30, 2, 48, 40, 2, true, 0.1, 0.9, 0.02, 0.1, 0.2, 70);
  ff::Context ctx(0, 2);
  const size_t HW = size_t(s.W) * s.H;
  auto di = random_vec(5, size_t(s.C) * 3 * HW), da = random_vec(6, size_t(s.C) * HW), dd = random_vec(7, size_t(s.C) * HW);
  Out<double> od;
  Out<float> of;
  Grads<double> gd = render_grad<double>(ctx, s, di, da, dd, 2, &od);
  Grads<float> gf = render_grad<float>(ctx, s, di, da, dd, 2, &of);
  CHECK_ALLCLOSE(of.image, od.image, 1e-5, 1e-5);
  auto cmp = [](const std::vector<float>& f, const std::vector<double>& d) {
    CHECK_ALLCLOSE(f, d, 1e-4 * max_abs(d), 1e-3);
  };
  cmp(gf.means, gd.means);
  cmp(gf.scales, gd.scales);
  cmp(gf.quats, gd.quats);
  cmp(gf.opac, gd.opac);
  cmp(gf.sh, gd.sh);
  cmp(gf.viewmats, gd.viewmats);
  cmp(gf.means2d, gd.means2d);
}
