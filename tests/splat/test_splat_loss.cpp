// l1_dssim_loss on the CPU against a direct double-precision evaluation of 3DGS's loss (2-D 11×11 Gaussian
// window, zero padding, C1 = 0.01², C2 = 0.03²), its gradient against finite differences of that
// evaluation, and the mask semantics.
#include <cmath>

#include "tests/splat/splat_test_util.h"

namespace {

// loss = (1−λ)·mean|x−y| + λ·(1 − mean SSIM), direct 2-D convolution in double
double naive_loss(const std::vector<double>& x, const std::vector<double>& y, int B, int Ch, int H, int W, double lam) {
  double g[11], s = 0;
  for (int i = 0; i < 11; ++i) s += g[i] = std::exp(-(i - 5) * (i - 5) / (2 * 1.5 * 1.5));
  for (double& v : g) v /= s;
  const double C1 = 1e-4, C2 = 9e-4;
  double l1 = 0, ss = 0;
  for (int p = 0; p < B * Ch; ++p) {
    const double* X = &x[size_t(p) * H * W];
    const double* Y = &y[size_t(p) * H * W];
    for (int r = 0; r < H; ++r)
      for (int c = 0; c < W; ++c) {
        double m1 = 0, m2 = 0, e11 = 0, e22 = 0, e12 = 0;
        for (int i = 0; i < 11; ++i)
          for (int j = 0; j < 11; ++j) {
            int rr = r + i - 5, cc = c + j - 5;
            if (rr < 0 || rr >= H || cc < 0 || cc >= W) continue;
            double w = g[i] * g[j], a = X[rr * W + cc], b = Y[rr * W + cc];
            m1 += w * a, m2 += w * b, e11 += w * a * a, e22 += w * b * b, e12 += w * a * b;
          }
        double s1 = e11 - m1 * m1, s2 = e22 - m2 * m2, s12 = e12 - m1 * m2;
        ss += ((2 * m1 * m2 + C1) * (2 * s12 + C2)) / ((m1 * m1 + m2 * m2 + C1) * (s1 + s2 + C2));
        l1 += std::abs(X[r * W + c] - Y[r * W + c]);
      }
  }
  double n = double(B) * Ch * H * W;
  return (1 - lam) * l1 / n + lam * (1 - ss / n);
}

struct LossOut {
  float loss;
  std::vector<float> d_img;
};
LossOut run_loss(const std::vector<float>& img, const std::vector<float>& gt, const float* mask, int B, int Ch, int H,
                 int W, float lam, int threads = 2) {
  ff::Context ctx(0, threads);
  ff::splat::LossParams p;
  p.batch = B, p.channels = Ch, p.height = H, p.width = W, p.lambda = lam;
  p.img = img.data(), p.gt = gt.data(), p.mask = mask;
  LossOut o;
  o.d_img.assign(img.size(), 0.f);
  p.loss = &o.loss, p.d_img = o.d_img.data();
  ff::splat::l1_dssim_loss(ctx, p);
  return o;
}

}  // namespace

TEST_CASE("l1_dssim_loss: value equals a direct 2-D evaluation of 3DGS's loss") {
  const int B = 2, Ch = 3, H = 19, W = 23;
  const size_t n = size_t(B) * Ch * H * W;
  std::vector<float> img(n), gt(n);
  for (size_t i = 0; i < n; ++i) {
    img[i] = float(ff::rng::uniform_at(1, i));
    gt[i] = float(0.5 * img[i] + 0.5 * ff::rng::uniform_at(2, i));
  }
  for (float lam : {0.0f, 0.2f, 1.0f}) {
    LossOut o = run_loss(img, gt, nullptr, B, Ch, H, W, lam);
    double ref = naive_loss(std::vector<double>(img.begin(), img.end()), std::vector<double>(gt.begin(), gt.end()), B, Ch, H,
                            W, lam);
    INFO("lambda " << lam);
    CHECK(o.loss == doctest::Approx(ref).epsilon(2e-6));
  }
  LossOut same = run_loss(img, img, nullptr, B, Ch, H, W, 0.2f);
  CHECK(std::abs(same.loss) < 1e-6);
}

TEST_CASE("l1_dssim_loss: gradient matches finite differences of the direct evaluation") {
  const int B = 1, Ch = 2, H = 13, W = 17;
  const size_t n = size_t(B) * Ch * H * W;
  std::vector<float> img(n), gt(n);
  for (size_t i = 0; i < n; ++i) {
    img[i] = float(ff::rng::uniform_at(3, i));
    gt[i] = float(ff::rng::uniform_at(4, i));
  }
  LossOut o = run_loss(img, gt, nullptr, B, Ch, H, W, 0.2f);
  std::vector<double> x(img.begin(), img.end()), y(gt.begin(), gt.end());
  double worst = 0, scale = 0;
  for (float v : o.d_img) scale = std::max(scale, double(std::abs(v)));
  for (size_t i = 0; i < n; i += 3) {
    const double eps = 1e-6, x0 = x[i];
    x[i] = x0 + eps;
    double fp = naive_loss(x, y, B, Ch, H, W, 0.2);
    x[i] = x0 - eps;
    double fm = naive_loss(x, y, B, Ch, H, W, 0.2);
    x[i] = x0;
    worst = std::max(worst, std::abs((fp - fm) / (2 * eps) - o.d_img[i]));
  }
  INFO("worst abs error " << worst << " of scale " << scale);
  CHECK(worst < 1e-4 * scale);
}

TEST_CASE("l1_dssim_loss: mask = both images multiplied by the mask; loss averaged over all pixels") {
  const int B = 2, Ch = 3, H = 21, W = 18;
  const size_t n = size_t(B) * Ch * H * W, hw = size_t(H) * W;
  std::vector<float> img(n), gt(n), mask(size_t(B) * hw), img_m(n), gt_m(n);
  for (size_t i = 0; i < n; ++i) {
    img[i] = float(ff::rng::uniform_at(5, i));
    gt[i] = float(ff::rng::uniform_at(6, i));
  }
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = ff::rng::uniform_at(7, i) < 0.6 ? 1.f : 0.f;
  for (size_t i = 0; i < n; ++i) {
    float m = mask[(i / (Ch * hw)) * hw + i % hw];
    img_m[i] = img[i] * m, gt_m[i] = gt[i] * m;
  }
  LossOut a = run_loss(img, gt, mask.data(), B, Ch, H, W, 0.2f);
  LossOut b = run_loss(img_m, gt_m, nullptr, B, Ch, H, W, 0.2f);
  CHECK(a.loss == doctest::Approx(b.loss).epsilon(1e-6));
  for (size_t i = 0; i < n; ++i) {
    float m = mask[(i / (Ch * hw)) * hw + i % hw];
    CHECK(a.d_img[i] == doctest::Approx(m * b.d_img[i]).epsilon(1e-5));
  }
  // deterministic across thread counts
  LossOut c = run_loss(img, gt, mask.data(), B, Ch, H, W, 0.2f, 1);
  CHECK(c.loss == a.loss);
  CHECK(c.d_img == a.d_img);
}

// Regression (NaN gradient with a finite loss, seen as a non-finite dec.color gradient in training): SSIM's
// A2 = 2σ12 + C2 is exactly 0 where a window's σ12 = −C2/2, e.g. a bright rendered pixel next to a bright
// target pixel on black (E[xy] = 0, σ12 = −μx·μy). The old partials S/A2 then gave 0·∞ = NaN, which the
// blur adjoint spread over the whole image. Scans the target value over a few floats around each window's
// root μx·μy = C2/2, which makes some A2 exactly 0 on every host build.
TEST_CASE("l1_dssim_loss: gradient finite where A2 = 2*sigma12 + C2 is exactly zero") {
  const int H = 12, W = 12;
  double g[11], s = 0;
  for (int i = 0; i < 11; ++i) s += g[i] = std::exp(-(i - 5) * (i - 5) / (2 * 1.5 * 1.5));
  std::vector<float> img(size_t(H) * W, 0.f), gt(size_t(H) * W, 0.f);
  img[6 * W + 6] = 0.5f;
  int tried = 0, bad_runs = 0;
  for (int y = 4; y <= 8; ++y)
    for (int x = 4; x <= 9; ++x) {
      const double mx = 0.5 * g[y - 1] / s * g[x - 1] / s, wy = g[y - 1] / s * g[x - 2] / s;
      const double root = 9e-4 / 2 / (mx * wy);  // gt value with μx·μy = C2/2 at pixel (y, x)
      if (!(root > 0.01 && root < 1)) continue;
      float v = float(root);
      for (int k = 0; k < 4; ++k) v = std::nextafter(v, 0.f);
      for (int k = 0; k < 9; ++k, v = std::nextafter(v, 1.f)) {
        gt[6 * W + 7] = v;
        LossOut o = run_loss(img, gt, nullptr, 1, 1, H, W, 0.2f);
        bool ok = std::isfinite(o.loss);
        for (float d : o.d_img) ok = ok && std::isfinite(d);
        ++tried;
        bad_runs += !ok;
      }
    }
  INFO("non-finite runs " << bad_runs << " of " << tried);
  CHECK(tried > 50);
  CHECK(bad_runs == 0);
}
