// splat/loss_cpu.cpp — fused L1 + D-SSIM loss and its gradient on the CPU (see splat.h).
//
// SSIM(x, y) per pixel from five blurred maps μx, μy, E[x²], E[y²], E[xy] (separable 11-tap Gaussian,
// zero padding). Its gradient wrt x needs three more blurs: the blur is self-adjoint (symmetric kernel,
// zero padding), so d_x = blur(∂/∂μx) + 2x·blur(∂/∂E[x²]) + y·blur(∂/∂E[xy]).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "splat/internal.h"
#include "splat/loss_window.h"

namespace ff::splat {
namespace {

constexpr int R = kSsimRadius;

// Horizontal pass of one row for NM maps: dst[m][x] = Σ_k w[k]·src_m[x+k−R], src_m given as zero-padded
// rows pad[m][0 .. W+2R) (k outer, x inner: vectorises).
template <int NM>
void hblur_row(int W, const float* w, const float* const* pad, float* const* dst) {
  for (int m = 0; m < NM; ++m) {
    float* o = dst[m];
    const float* sp = pad[m];
    for (int x = 0; x < W; ++x) o[x] = 0.f;
    for (int k = 0; k <= 2 * R; ++k) {
      const float wk = w[k];
      const float* s = sp + k;
      for (int x = 0; x < W; ++x) o[x] += wk * s[x];
    }
  }
}

// Vertical pass on one row y for NM maps into out[m][x].
template <int NM>
void vblur_row(int H, int W, const float* w, const float* const* src, int y, float* const* out) {
  for (int m = 0; m < NM; ++m)
    for (int x = 0; x < W; ++x) out[m][x] = 0.f;
  int k0 = std::max(0, R - y), k1 = std::min(2 * R + 1, H - y + R);
  for (int k = k0; k < k1; ++k) {
    const int64_t off = int64_t(y + k - R) * W;
    for (int m = 0; m < NM; ++m) {
      const float* s = src[m] + off;
      float* o = out[m];
      const float wk = w[k];
      for (int x = 0; x < W; ++x) o[x] += wk * s[x];
    }
  }
}

}  // namespace

void l1_dssim_loss_cpu(const LossParams& p, int threads) {
  const int H = p.height, W = p.width, Ch = p.channels, B = p.batch;
  const int64_t HW = int64_t(H) * W;
  const double n_el = double(B) * Ch * HW;
  float w[2 * R + 1];
  ssim_window(w);
  const float lam = p.lambda;
  const float d_l1 = float((1.0 - lam) / n_el) * p.d_loss_scale;
  const float d_s = float(-lam / n_el) * p.d_loss_scale;  // dloss/dSSIM_pixel
  std::vector<float> h5(5 * HW), m3(3 * HW), h3(3 * HW);
  double l1_sum = 0, ssim_sum = 0;
  std::vector<double> row_l1(H), row_ss(H);
  for (int b = 0; b < B; ++b)
    for (int ch = 0; ch < Ch; ++ch) {
      const float* X = p.img + (int64_t(b) * Ch + ch) * HW;
      const float* Y = p.gt + (int64_t(b) * Ch + ch) * HW;
      const float* M = p.mask ? p.mask + int64_t(b) * HW : nullptr;
      float* D = p.d_img ? p.d_img + (int64_t(b) * Ch + ch) * HW : nullptr;
      float* hp[5] = {&h5[0], &h5[HW], &h5[2 * HW], &h5[3 * HW], &h5[4 * HW]};
      float* mp[3] = {&m3[0], &m3[HW], &m3[2 * HW]};
      float* hq[3] = {&h3[0], &h3[HW], &h3[2 * HW]};
#pragma omp parallel num_threads(threads)
      {
        std::vector<float> rowbuf(5 * size_t(W));
        float* rb[5] = {&rowbuf[0], &rowbuf[W], &rowbuf[2 * W], &rowbuf[3 * W], &rowbuf[4 * W]};
        // pass 1: horizontal blur of x, y, x², y², xy
        std::vector<float> padbuf(5 * size_t(W + 2 * R), 0.f);
        float* pd[5];
        for (int m = 0; m < 5; ++m) pd[m] = &padbuf[size_t(m) * (W + 2 * R)];
#pragma omp for schedule(static)
        for (int y = 0; y < H; ++y) {
          for (int x = 0; x < W; ++x) {
            const int64_t i = int64_t(y) * W + x;
            float m = M ? M[i] : 1.f, xv = X[i] * m, yv = Y[i] * m;
            pd[0][R + x] = xv, pd[1][R + x] = yv, pd[2][R + x] = xv * xv, pd[3][R + x] = yv * yv, pd[4][R + x] = xv * yv;
          }
          float* dst[5] = {hp[0] + int64_t(y) * W, hp[1] + int64_t(y) * W, hp[2] + int64_t(y) * W, hp[3] + int64_t(y) * W,
                           hp[4] + int64_t(y) * W};
          hblur_row<5>(W, w, pd, dst);
        }
        // pass 2: vertical blur, SSIM map, L1, and the SSIM partials
#pragma omp for schedule(static)
        for (int y = 0; y < H; ++y) {
          vblur_row<5>(H, W, w, hp, y, rb);
          double sl1 = 0, sss = 0;
          for (int x = 0; x < W; ++x) {
            const int64_t i = int64_t(y) * W + x;
            float mu1 = rb[0][x], mu2 = rb[1][x];
            float s11 = rb[2][x] - mu1 * mu1, s22 = rb[3][x] - mu2 * mu2, s12 = rb[4][x] - mu1 * mu2;
            float A1 = 2 * mu1 * mu2 + kSsimC1, A2 = 2 * s12 + kSsimC2;
            float B1 = mu1 * mu1 + mu2 * mu2 + kSsimC1, B2 = s11 + s22 + kSsimC2;
            float S = (A1 * A2) / (B1 * B2);
            sss += S;
            float m = M ? M[i] : 1.f;
            float diff = X[i] * m - Y[i] * m;
            sl1 += std::abs(diff);
            // partials of S = A1·A2/(B1·B2) without dividing by A1 or A2: A2 = 2σ12 + C2 is exactly 0
            // when σ12 = −C2/2 (anti-correlated windows), where S/A2 would give 0·∞ = NaN (S/A1 = A2/(B1·B2))
            float g = d_s * S, dA = d_s / (B1 * B2);
            mp[0][i] = 2 * mu2 * dA * (A2 - A1) + g * (2 * mu1 / B2 - 2 * mu1 / B1);
            mp[1][i] = -g / B2;
            mp[2][i] = 2 * dA * A1;
          }
          row_l1[y] = sl1;
          row_ss[y] = sss;
        }
        if (D) {
          // pass 3: blur the partials (adjoint = same blur) and combine
#pragma omp for schedule(static)
          for (int y = 0; y < H; ++y) {
            for (int m = 0; m < 3; ++m)
              std::copy(mp[m] + int64_t(y) * W, mp[m] + int64_t(y + 1) * W, pd[m] + R);
            float* dst[3] = {hq[0] + int64_t(y) * W, hq[1] + int64_t(y) * W, hq[2] + int64_t(y) * W};
            hblur_row<3>(W, w, pd, dst);
          }
#pragma omp for schedule(static)
          for (int y = 0; y < H; ++y) {
            vblur_row<3>(H, W, w, hq, y, rb);
            for (int x = 0; x < W; ++x) {
              const int64_t i = int64_t(y) * W + x;
              float m = M ? M[i] : 1.f, xv = X[i] * m, yv = Y[i] * m;
              float diff = xv - yv;
              float gl1 = diff > 0 ? d_l1 : (diff < 0 ? -d_l1 : 0.f);
              D[i] = m * (gl1 + rb[0][x] + 2 * xv * rb[1][x] + yv * rb[2][x]);
            }
          }
        }
      }
      for (int y = 0; y < H; ++y) {
        l1_sum += row_l1[y];
        ssim_sum += row_ss[y];
      }
    }
  *p.loss = float((1.0 - lam) * l1_sum / n_el + lam * (1.0 - ssim_sum / n_el));
}

}  // namespace ff::splat
