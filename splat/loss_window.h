// splat/loss_window.h — constants of the SSIM used by l1_dssim_loss (3DGS utils/loss_utils.py).
#pragma once
#include <cmath>

namespace ff::splat {

constexpr int kSsimRadius = 5;           // 11×11 window
constexpr float kSsimSigma = 1.5f;       // Gaussian window σ
constexpr float kSsimC1 = 0.01f * 0.01f; // (k1·L)², L = 1
constexpr float kSsimC2 = 0.03f * 0.03f; // (k2·L)²

// The normalised 1-D window; the 2-D window is its outer product.
inline void ssim_window(float w[2 * kSsimRadius + 1]) {
  double g[2 * kSsimRadius + 1], s = 0;
  for (int i = 0; i <= 2 * kSsimRadius; ++i) {
    double d = i - kSsimRadius;
    g[i] = std::exp(-d * d / (2.0 * double(kSsimSigma) * kSsimSigma));
    s += g[i];
  }
  for (int i = 0; i <= 2 * kSsimRadius; ++i) w[i] = float(g[i] / s);
}

}  // namespace ff::splat
