// Forward semantics on the CPU: the closed-form profile of one Gaussian, the pixel convention, principal
// point shifts, edge cases, input errors, and determinism across thread counts.
#include <algorithm>

#include "tests/splat/splat_test_util.h"

using namespace splat_test;

namespace {

Scene one_gaussian(double mx, double my, double z, double scale, double o, int W, int H, double f, double cx,
                   double cy) {
  Scene s;
  s.N = 1, s.C = 1, s.W = W, s.H = H;
  s.means = {mx, my, z};
  s.scales = {scale, scale, scale};
  s.quats = {0.3, -0.5, 0.7, 0.2};  // isotropic: any rotation
  s.opac = {o};
  s.colors = {0.2, 0.5, 0.9};
  s.sh = {0, 0, 0};
  s.viewmats = viewmat_translate(0, 0, 0);
  s.intr = {f, f, cx, cy};
  s.bg = {0.1, 0.2, 0.3};
  return s;
}

}  // namespace

TEST_CASE("splat closed form: an isotropic Gaussian head-on renders o·exp(−d²/2σ²), σ² = (f·s/z)² + 0.3") {
  for (int prec = 0; prec < 2; ++prec) {
    const double f = 50, sc = 0.05, z = 1.0, o = 0.8, cx = 20.3, cy = 14.7;
    Scene s = one_gaussian(0, 0, z, sc, o, 40, 30, f, cx, cy);
    ff::Context ctx(0, 2);
    RenderState st;
    std::vector<double> img, alpha, depth;
    std::vector<int32_t> radii;
    if (prec == 0) {
      auto out = render<float>(ctx, s, st);
      img.assign(out.image.begin(), out.image.end()), alpha.assign(out.alpha.begin(), out.alpha.end());
      depth.assign(out.depth.begin(), out.depth.end()), radii = out.radii;
    } else {
      auto out = render<double>(ctx, s, st);
      img = out.image, alpha = out.alpha, depth = out.depth, radii = out.radii;
    }
    const double var = (f * sc / z) * (f * sc / z) + 0.3;
    // radius: both eigenvalues equal, so λmax = var + sqrt(0.1)
    CHECK(radii[0] == int(std::ceil(3 * std::sqrt(var + std::sqrt(0.1)))));
    const double tol = prec == 0 ? 2e-6 : 1e-12;
    int lit = 0;
    for (int j = 0; j < s.H; ++j)
      for (int i = 0; i < s.W; ++i) {
        double dx = i + 0.5 - cx, dy = j + 0.5 - cy;
        double a = o * std::exp(-0.5 * (dx * dx + dy * dy) / var);
        if (a < 1.0 / 255) a = 0;
        lit += a > 0;
        const size_t p = size_t(j) * s.W + i;
        for (int ch = 0; ch < 3; ++ch) {
          double expect = a * s.colors[ch] + (1 - a) * s.bg[ch];
          INFO("pixel " << i << "," << j << " ch " << ch);
          CHECK(std::abs(img[size_t(ch) * s.W * s.H + p] - expect) <= tol);
        }
        CHECK(std::abs(alpha[p] - a) <= tol);
        CHECK(std::abs(depth[p] - a * z) <= tol);
      }
    CHECK(lit > 50);
  }
}

TEST_CASE("splat pixel convention: u = fx·x/z + cx from the image edge, pixel i's centre at i + 0.5") {
  ff::Context ctx(0, 2);
  // cx = 10.5: the Gaussian's centre is pixel 10's centre → that pixel gets exactly α = o
  {
    Scene s = one_gaussian(0, 0, 1, 0.002, 0.9, 21, 21, 100, 10.5, 10.5);
    RenderState st;
    auto o = render<double>(ctx, s, st);
    CHECK(o.alpha[10 * 21 + 10] == doctest::Approx(0.9).epsilon(1e-12));
    CHECK(o.alpha[10 * 21 + 9] == doctest::Approx(o.alpha[10 * 21 + 11]).epsilon(1e-12));
    CHECK(o.alpha[10 * 21 + 9] < 0.9);
  }
  // cx = 10: halfway between pixels 9 and 10 (3DGS would say 9.5 with its integer centres)
  {
    Scene s = one_gaussian(0, 0, 1, 0.002, 0.9, 21, 21, 100, 10.0, 10.5);
    RenderState st;
    auto o = render<double>(ctx, s, st);
    CHECK(o.alpha[10 * 21 + 9] == doctest::Approx(o.alpha[10 * 21 + 10]).epsilon(1e-12));
    CHECK(o.alpha[10 * 21 + 9] > o.alpha[10 * 21 + 8]);
  }
  // a point at x/z = 0.05 with fx = 100, cx = 3.5 lands at u = 8.5 → pixel 8's centre
  {
    Scene s = one_gaussian(0.05, 0, 1, 0.002, 0.9, 21, 21, 100, 3.5, 10.5);
    RenderState st;
    auto o = render<double>(ctx, s, st);
    CHECK(o.alpha[10 * 21 + 8] == doctest::Approx(0.9).epsilon(1e-12));
  }
}

namespace {
// img2 shifted by (sx, sy) pixels must equal img1 where both are defined
void check_shift(const Scene& s, int sx, int sy) {
  ff::Context ctx(0, 2);
  Scene s2 = s;
  s2.intr[2] += sx, s2.intr[3] += sy;
  RenderState st1, st2;
  auto a = render<float>(ctx, s, st1);
  auto b = render<float>(ctx, s2, st2);
  double worst = 0;
  int compared = 0;
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < s.H; ++y)
      for (int x = 0; x < s.W; ++x) {
        int x2 = x + sx, y2 = y + sy;
        if (x2 < 0 || y2 < 0 || x2 >= s.W || y2 >= s.H) continue;
        double va = a.image[(size_t(ch) * s.H + y) * s.W + x], vb = b.image[(size_t(ch) * s.H + y2) * s.W + x2];
        worst = std::max(worst, std::abs(va - vb));
        ++compared;
      }
  INFO("shift " << sx << "," << sy << " worst " << worst);
  CHECK(compared > 1000);
  CHECK(worst < 2e-5);
}
}  // namespace

TEST_CASE("splat principal point: moving cx, cy by whole pixels shifts the image by exactly that much") {
  // by whole tiles: exact for any scene (3DGS's tile rectangles move with the image)
  check_shift(random_scene(31, 200, 1, 96, 80, 0, false, 0.1, 0.99, 0.01, 0.05, 0.25, 100), 16, 32);
  check_shift(random_scene(32, 200, 1, 96, 80, 2, true, 0.1, 0.99, 0.01, 0.05, 0.25, 100), -16, 16);
  // by arbitrary pixels: exact when every Gaussian's α ≥ 1/255 region lies inside its radius r by more
  // than a pixel (3DGS's getRect rounds the far side down by up to a pixel): o ≤ 0.1 → the region is
  // ≤ 2.55σ, σ ≥ 3 px → r − 1 ≥ 2.66σ. Otherwise 3DGS's tile truncation is itself not shift-invariant.
  check_shift(random_scene(33, 200, 1, 96, 80, 0, false, 0.05, 0.1, 0.03, 0.05, 0.25, 100), 3, -5);
  check_shift(random_scene(34, 200, 1, 96, 80, 1, true, 0.05, 0.1, 0.03, 0.05, 0.25, 100), -7, 2);
}

TEST_CASE("splat edge cases: behind the camera, near plane, zero opacity") {
  ff::Context ctx(0, 2);
  for (double z : {-1.0, 0.0, 0.1, 0.2}) {  // all culled (view z ≤ 0.2)
    Scene s = one_gaussian(0, 0, z, 0.05, 0.8, 20, 20, 50, 10, 10);
    Out<double> o;
    Grads<double> g = render_grad<double>(ctx, s, random_vec(1, 3 * 400), random_vec(2, 400), random_vec(3, 400), 2, &o);
    CHECK(o.radii[0] == 0);
    for (int ch = 0; ch < 3; ++ch) CHECK(o.image[size_t(ch) * 400 + 37] == s.bg[ch]);
    CHECK(o.alpha[37] == 0.0);
    CHECK(max_abs(g.means) == 0.0);
    CHECK(max_abs(g.opac) == 0.0);
  }
  {  // just past the near plane: visible
    Scene s = one_gaussian(0, 0, 0.2001, 0.01, 0.8, 20, 20, 50, 10, 10);
    RenderState st;
    CHECK(render<double>(ctx, s, st).radii[0] > 0);
    Scene s2 = one_gaussian(0, 0, 0.2, 0.01, 0.8, 20, 20, 50, 10, 10);
    RenderState st2;
    CHECK(render<float>(ctx, s2, st2).radii[0] == 0);
  }
  {  // zero opacity: nothing drawn, finite zero gradients
    Scene s = one_gaussian(0, 0, 1, 0.05, 0.0, 20, 20, 50, 10, 10);
    Out<float> o;
    Grads<float> g = render_grad<float>(ctx, s, random_vec(1, 3 * 400), random_vec(2, 400), random_vec(3, 400), 2, &o);
    CHECK(o.radii[0] > 0);  // 3DGS reports the radius regardless of opacity
    for (float a : o.alpha) CHECK(a == 0.f);
    CHECK(g.means == std::vector<float>(3, 0.f));
  }
}

TEST_CASE("splat edge cases: zero and huge scales") {
  ff::Context ctx(0, 2);
  {  // zero scale: only the 0.3 dilation is left
    Scene s = one_gaussian(0, 0, 1, 0.0, 0.8, 20, 20, 50, 10.5, 10.5);
    Out<double> o;
    Grads<double> g = render_grad<double>(ctx, s, random_vec(1, 3 * 400), random_vec(2, 400), random_vec(3, 400), 2, &o);
    CHECK(o.alpha[10 * 20 + 10] == doctest::Approx(0.8));
    CHECK(o.alpha[10 * 20 + 11] == doctest::Approx(0.8 * std::exp(-0.5 / 0.3)));
    for (double v : g.means) CHECK(std::isfinite(v));
    for (double v : g.scales) CHECK(std::isfinite(v));
    for (double v : g.quats) CHECK(std::isfinite(v));
  }
  {  // huge scale: α ≈ o over the whole image, everything finite
    Scene s = one_gaussian(0, 0, 1, 1e4, 0.6, 37, 23, 50, 18, 11);
    Out<float> o;
    Grads<float> g = render_grad<float>(ctx, s, random_vec(1, 3 * 37 * 23), random_vec(2, 37 * 23),
                                        random_vec(3, 37 * 23), 2, &o);
    for (float a : o.alpha) CHECK(a == doctest::Approx(0.6).epsilon(1e-4));
    for (auto* v : {&g.means, &g.scales, &g.quats, &g.opac, &g.colors, &g.viewmats})
      for (float x : *v) CHECK(std::isfinite(x));
  }
}

TEST_CASE("splat edge cases: empty scene, 1x1 image, sizes not a multiple of 16") {
  ff::Context ctx(0, 2);
  {
    Scene s = random_scene(41, 0, 2, 19, 7, 0, false);
    Out<float> o;
    render_grad<float>(ctx, s, random_vec(1, 2 * 3 * 19 * 7), {}, {}, 2, &o);
    for (int c = 0; c < 2; ++c)
      for (int ch = 0; ch < 3; ++ch) CHECK(o.image[(size_t(c) * 3 + ch) * 133 + 50] == float(s.bg[3 * c + ch]));
    for (float a : o.alpha) CHECK(a == 0.f);
    for (float d : o.depth) CHECK(d == 0.f);
  }
  {  // 1×1: the pixel sees the Gaussian centred on it
    Scene s = one_gaussian(0, 0, 1, 0.01, 0.7, 1, 1, 50, 0.5, 0.5);
    Out<double> o;
    Grads<double> g = render_grad<double>(ctx, s, {1, 1, 1}, {1}, {1}, 2, &o);
    CHECK(o.alpha[0] == doctest::Approx(0.7));
    CHECK(max_abs(g.opac) > 0);
  }
  {  // 37×21 equals the top-left crop of 48×32 with the same camera (tiles anchored at the top-left)
    Scene a = random_scene(42, 150, 2, 48, 32, 0, false, 0.1, 0.99, 0.01, 0.05, 0.2, 60);
    Scene b = a;
    b.W = 37, b.H = 21;
    RenderState sa, sb;
    auto oa = render<float>(ctx, a, sa);
    auto ob = render<float>(ctx, b, sb);
    double worst = 0;
    for (int c = 0; c < 2; ++c)
      for (int ch = 0; ch < 3; ++ch)
        for (int y = 0; y < b.H; ++y)
          for (int x = 0; x < b.W; ++x)
            worst = std::max(worst, double(std::abs(oa.image[((size_t(c) * 3 + ch) * a.H + y) * a.W + x] -
                                                    ob.image[((size_t(c) * 3 + ch) * b.H + y) * b.W + x])));
    CHECK(worst == 0.0);
  }
}

TEST_CASE("splat errors: NaN/Inf names the first bad Gaussian and field; bad parameters") {
  ff::Context ctx(0, 2);
  Scene s = random_scene(51, 30, 1, 16, 16, 2, true);
  RenderState st;
  {
    Scene b = s;
    b.sh[(7 * 9 + 4) * 3 + 1] = std::nan("");
    b.opac[12] = INFINITY;
    CHECK_THROWS_WITH_AS(render<float>(ctx, b, st), doctest::Contains("Gaussian 7 has a non-finite (NaN/Inf) value in 'sh'"),
                         ff::Error);
  }
  {
    Scene b = s;
    b.means[3 * 3 + 2] = -INFINITY;
    b.scales[3 * 3] = std::nan("");
    CHECK_THROWS_WITH_AS(render<double>(ctx, b, st), doctest::Contains("Gaussian 3 has a non-finite (NaN/Inf) value in 'means'"),
                         ff::Error);
  }
  {
    Scene b = s;
    b.quats[4 * 5 + 0] = b.quats[4 * 5 + 1] = b.quats[4 * 5 + 2] = b.quats[4 * 5 + 3] = 0;
    CHECK_THROWS_WITH_AS(render<float>(ctx, b, st), doctest::Contains("Gaussian 5 has a zero-norm quaternion"), ff::Error);
  }
  {
    Scene b = s;
    b.intr[0] = -1;
    CHECK_THROWS_WITH_AS(render<float>(ctx, b, st), doctest::Contains("fx, fy > 0"), ff::Error);
  }
  {
    Bound<float> b(s);
    b.p.sh_degree = 4;
    CHECK_THROWS_WITH_AS(ff::splat::render_fwd(ctx, b.p, st), doctest::Contains("sh_degree"), ff::Error);
    b.p.sh_degree = 2;
    b.p.colors = b.colors.data();
    CHECK_THROWS_WITH_AS(ff::splat::render_fwd(ctx, b.p, st), doctest::Contains("exactly one of colors"), ff::Error);
  }
  {  // check_finite = false skips the scan (caller's promise)
    Bound<float> b(s);
    b.p.check_finite = false;
    CHECK_NOTHROW(ff::splat::render_fwd(ctx, b.p, st));
  }
}

TEST_CASE("splat determinism: bitwise identical forward and backward for 1, 2 and 3 threads") {
  Scene s = random_scene(61, 2000, 2, 160, 120, 3, true, 0.05, 1.0, 0.003, 0.03, 0.3, 150);
  ff::Context ctx(0, 2);
  const size_t HW = size_t(s.W) * s.H;
  auto di = random_vec(1, 2 * 3 * HW), da = random_vec(2, 2 * HW), dd = random_vec(3, 2 * HW);
  Out<float> o1, o2, o3;
  Grads<float> g1 = render_grad<float>(ctx, s, di, da, dd, 1, &o1);
  Grads<float> g2 = render_grad<float>(ctx, s, di, da, dd, 2, &o2);
  Grads<float> g3 = render_grad<float>(ctx, s, di, da, dd, 3, &o3);
  CHECK(o1.image == o2.image);
  CHECK(o1.image == o3.image);
  CHECK(o1.depth == o3.depth);
  for (auto m : {&Grads<float>::means, &Grads<float>::scales, &Grads<float>::quats, &Grads<float>::opac,
                 &Grads<float>::sh, &Grads<float>::viewmats, &Grads<float>::means2d}) {
    CHECK(g1.*m == g2.*m);
    CHECK(g1.*m == g3.*m);
  }
  CHECK(max_abs(std::vector<double>(g1.means.begin(), g1.means.end())) > 0);
}

TEST_CASE("splat backward accumulates into the gradient buffers") {
  Scene s = random_scene(62, 20, 1, 32, 32, 0, false);
  ff::Context ctx(0, 2);
  Bound<float> b(s);
  RenderState st;
  ff::splat::render_fwd(ctx, b.p, st);
  std::vector<float> di(3 * 32 * 32, 1.f), dm(60, 0.f);
  ff::splat::RenderGrads g;
  g.d_image = di.data();
  g.d_means = dm.data();
  ff::splat::render_bwd(ctx, b.p, g, st);
  std::vector<float> once = dm;
  ff::splat::render_bwd(ctx, b.p, g, st);
  for (size_t i = 0; i < dm.size(); ++i) CHECK(dm[i] == doctest::Approx(2 * once[i]));
}
