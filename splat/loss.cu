// splat/loss.cu — fused L1 + D-SSIM loss on CUDA (see splat.h and loss_cpu.cpp for the maths).
//
// Two tiled kernels over (32×32 output tile, plane): the forward one blurs x, y, x², y², xy separably in
// shared memory (zero padding), writes the three SSIM partial maps and per-block sums; the backward one
// blurs the partial maps (the blur is self-adjoint) and writes d_img. A one-block kernel adds the block
// sums in a fixed order (deterministic) into the loss.
#include <cmath>

#include "core/cuda_check.h"
#include "splat/internal.h"
#include "splat/loss_window.h"

namespace ff::splat {
namespace {

constexpr int R = kSsimRadius;
constexpr int TW = 32, TH = 32;           // output tile
constexpr int SW = TW + 2 * R, SH = TH + 2 * R;  // with halo
constexpr int kThreads = 256;
constexpr int RB = TH * TW / kThreads;  // output rows per thread in the vertical pass (4)
static_assert(kThreads % TW == 0 && (kThreads / TW) * RB == TH, "vertical-pass thread layout");

struct LossKernelParams {
  int H, W, Ch;
  float w[2 * R + 1];
  const float* img;   // [B,Ch,H,W]
  const float* gt;    // [B,Ch,H,W]
  const float* mask;  // [B,1,H,W] or null
  float* m3;          // [3, B*Ch*H*W] SSIM partial maps
  double* partial;    // [blocks, 2] Σ SSIM, Σ |x−y|
  float* d_img;       // [B,Ch,H,W] or null
  float d_l1, d_s;    // dloss/d|x−y| (per element), dloss/dSSIM (per element)
};

__device__ __forceinline__ double block_sum(double v, double* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  double s = 0;
  if (threadIdx.x == 0)
    for (int w = 0; w < kThreads / 32; ++w) s += sh[w];
  __syncthreads();
  return s;
}

__global__ void __launch_bounds__(kThreads) ssim_fwd_kernel(LossKernelParams p) {
  __shared__ float sx[SH][SW], sy[SH][SW];
  __shared__ float hb[5][SH][TW];
  __shared__ double red[kThreads / 32];
  const int plane = blockIdx.z, b = plane / p.Ch;
  const int64_t HW = int64_t(p.H) * p.W;
  const float* X = p.img + plane * HW;
  const float* Y = p.gt + plane * HW;
  const float* M = p.mask ? p.mask + b * HW : nullptr;
  const int x0 = blockIdx.x * TW - R, y0 = blockIdx.y * TH - R;
  for (int i = threadIdx.x; i < SH * SW; i += kThreads) {
    int ly = i / SW, lx = i % SW, gy = y0 + ly, gx = x0 + lx;
    float xv = 0.f, yv = 0.f;
    if (gx >= 0 && gx < p.W && gy >= 0 && gy < p.H) {
      int64_t k = int64_t(gy) * p.W + gx;
      float m = M ? M[k] : 1.f;
      xv = X[k] * m;
      yv = Y[k] * m;
    }
    sx[ly][lx] = xv;
    sy[ly][lx] = yv;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < SH * TW; i += kThreads) {
    int ly = i / TW, lx = i % TW;
    float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f, a4 = 0.f;
#pragma unroll
    for (int k = 0; k <= 2 * R; ++k) {
      float xv = sx[ly][lx + k], yv = sy[ly][lx + k], wk = p.w[k];
      a0 += wk * xv;
      a1 += wk * yv;
      a2 += wk * xv * xv;
      a3 += wk * yv * yv;
      a4 += wk * xv * yv;
    }
    hb[0][ly][lx] = a0;
    hb[1][ly][lx] = a1;
    hb[2][ly][lx] = a2;
    hb[3][ly][lx] = a3;
    hb[4][ly][lx] = a4;
  }
  __syncthreads();
  double s_ssim = 0, s_l1 = 0;
  const int64_t NT = int64_t(gridDim.z) * HW;
  // vertical pass, register-blocked: thread (lx, rows r0..r0+RB−1) slides the window down its column, so each
  // shared value is loaded once per thread instead of once per tap (same summation order per output)
  const int lx = threadIdx.x % TW, r0 = (threadIdx.x / TW) * RB;
  float acc[5][RB];
#pragma unroll
  for (int m = 0; m < 5; ++m)
#pragma unroll
    for (int j = 0; j < RB; ++j) acc[m][j] = 0.f;
#pragma unroll
  for (int t = 0; t < RB + 2 * R; ++t) {
    float v[5];
#pragma unroll
    for (int m = 0; m < 5; ++m) v[m] = hb[m][r0 + t][lx];
#pragma unroll
    for (int j = 0; j < RB; ++j) {
      const int k = t - j;
      if (k >= 0 && k <= 2 * R)
#pragma unroll
        for (int m = 0; m < 5; ++m) acc[m][j] += p.w[k] * v[m];
    }
  }
#pragma unroll
  for (int j = 0; j < RB; ++j) {
    const int ly = r0 + j, gy = blockIdx.y * TH + ly, gx = blockIdx.x * TW + lx;
    if (gx >= p.W || gy >= p.H) continue;
    float mu[5] = {acc[0][j], acc[1][j], acc[2][j], acc[3][j], acc[4][j]};
    float mu1 = mu[0], mu2 = mu[1];
    float s11 = mu[2] - mu1 * mu1, s22 = mu[3] - mu2 * mu2, s12 = mu[4] - mu1 * mu2;
    float A1 = 2.f * mu1 * mu2 + kSsimC1, A2 = 2.f * s12 + kSsimC2;
    float B1 = mu1 * mu1 + mu2 * mu2 + kSsimC1, B2 = s11 + s22 + kSsimC2;
    float S = (A1 * A2) / (B1 * B2);
    s_ssim += S;
    s_l1 += fabsf(sx[ly + R][lx + R] - sy[ly + R][lx + R]);
    // partials without dividing by A1 or A2 (A2 = 0 exactly when σ12 = −C2/2: S/A2 would be 0·∞ = NaN)
    float g = p.d_s * S, dA = p.d_s / (B1 * B2);
    int64_t k = plane * HW + int64_t(gy) * p.W + gx;
    p.m3[k] = 2.f * mu2 * dA * (A2 - A1) + g * (2.f * mu1 / B2 - 2.f * mu1 / B1);
    p.m3[NT + k] = -g / B2;
    p.m3[2 * NT + k] = 2.f * dA * A1;
  }
  double t1 = block_sum(s_ssim, red);
  double t2 = block_sum(s_l1, red);
  if (threadIdx.x == 0) {
    int64_t blk = (int64_t(blockIdx.z) * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    p.partial[2 * blk] = t1;
    p.partial[2 * blk + 1] = t2;
  }
}

__global__ void __launch_bounds__(kThreads) ssim_bwd_kernel(LossKernelParams p) {
  __shared__ float sm[3][SH][SW];
  __shared__ float hb[3][SH][TW];
  const int plane = blockIdx.z, b = plane / p.Ch;
  const int64_t HW = int64_t(p.H) * p.W, NT = int64_t(gridDim.z) * HW;
  const int x0 = blockIdx.x * TW - R, y0 = blockIdx.y * TH - R;
  for (int i = threadIdx.x; i < SH * SW; i += kThreads) {
    int ly = i / SW, lx = i % SW, gy = y0 + ly, gx = x0 + lx;
    float v0 = 0.f, v1 = 0.f, v2 = 0.f;
    if (gx >= 0 && gx < p.W && gy >= 0 && gy < p.H) {
      int64_t k = plane * HW + int64_t(gy) * p.W + gx;
      v0 = p.m3[k];
      v1 = p.m3[NT + k];
      v2 = p.m3[2 * NT + k];
    }
    sm[0][ly][lx] = v0;
    sm[1][ly][lx] = v1;
    sm[2][ly][lx] = v2;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < SH * TW; i += kThreads) {
    int ly = i / TW, lx = i % TW;
    float a0 = 0.f, a1 = 0.f, a2 = 0.f;
#pragma unroll
    for (int k = 0; k <= 2 * R; ++k) {
      float wk = p.w[k];
      a0 += wk * sm[0][ly][lx + k];
      a1 += wk * sm[1][ly][lx + k];
      a2 += wk * sm[2][ly][lx + k];
    }
    hb[0][ly][lx] = a0;
    hb[1][ly][lx] = a1;
    hb[2][ly][lx] = a2;
  }
  __syncthreads();
  // vertical pass, register-blocked as in the forward kernel
  const int lx = threadIdx.x % TW, r0 = (threadIdx.x / TW) * RB;
  float acc[3][RB];
#pragma unroll
  for (int m = 0; m < 3; ++m)
#pragma unroll
    for (int j = 0; j < RB; ++j) acc[m][j] = 0.f;
#pragma unroll
  for (int t = 0; t < RB + 2 * R; ++t) {
    float v[3];
#pragma unroll
    for (int m = 0; m < 3; ++m) v[m] = hb[m][r0 + t][lx];
#pragma unroll
    for (int j = 0; j < RB; ++j) {
      const int k = t - j;
      if (k >= 0 && k <= 2 * R)
#pragma unroll
        for (int m = 0; m < 3; ++m) acc[m][j] += p.w[k] * v[m];
    }
  }
#pragma unroll
  for (int j = 0; j < RB; ++j) {
    const int ly = r0 + j, gy = blockIdx.y * TH + ly, gx = blockIdx.x * TW + lx;
    if (gx >= p.W || gy >= p.H) continue;
    const float g0 = acc[0][j], g1 = acc[1][j], g2 = acc[2][j];
    int64_t pk = int64_t(gy) * p.W + gx;
    int64_t k = plane * HW + pk;
    float m = p.mask ? p.mask[b * HW + pk] : 1.f;
    float xv = p.img[k] * m, yv = p.gt[k] * m;
    float diff = xv - yv;
    float gl1 = diff > 0.f ? p.d_l1 : (diff < 0.f ? -p.d_l1 : 0.f);
    p.d_img[k] = m * (gl1 + g0 + 2.f * xv * g1 + yv * g2);
  }
}

__global__ void loss_finalize_kernel(const double* partial, int64_t blocks, double n_el, float lambda, float* loss) {
  __shared__ double red[kThreads / 32];
  double s1 = 0, s2 = 0;
  // fixed per-thread strided order, then a fixed tree: deterministic
  for (int64_t i = threadIdx.x; i < blocks; i += kThreads) {
    s1 += partial[2 * i];
    s2 += partial[2 * i + 1];
  }
  double t1 = block_sum(s1, red);
  double t2 = block_sum(s2, red);
  if (threadIdx.x == 0) *loss = float((1.0 - lambda) * t2 / n_el + lambda * (1.0 - t1 / n_el));
}

}  // namespace

void l1_dssim_loss_cuda(Context& ctx, const LossParams& p) {
  CUDA_CHECK(cudaSetDevice(p.device.index));
  cudaStream_t stream = static_cast<cudaStream_t>(p.stream ? p.stream : ctx.stream());
  const int64_t HW = int64_t(p.height) * p.width, planes = int64_t(p.batch) * p.channels;
  const double n_el = double(planes) * HW;
  dim3 grid((p.width + TW - 1) / TW, (p.height + TH - 1) / TH, unsigned(planes));
  const int64_t blocks = int64_t(grid.x) * grid.y * grid.z;
  // workspace: partial maps [3, planes·HW] floats + block sums [blocks, 2] doubles
  size_t map_bytes = sizeof(float) * 3 * size_t(planes * HW);
  map_bytes = (map_bytes + 255) / 256 * 256;
  char* ws = static_cast<char*>(ctx.cuda_workspace(map_bytes + sizeof(double) * 2 * size_t(blocks)));
  LossKernelParams kp;
  kp.H = p.height, kp.W = p.width, kp.Ch = p.channels;
  ssim_window(kp.w);
  kp.img = p.img, kp.gt = p.gt, kp.mask = p.mask;
  kp.m3 = reinterpret_cast<float*>(ws);
  kp.partial = reinterpret_cast<double*>(ws + map_bytes);
  kp.d_img = p.d_img;
  kp.d_l1 = float((1.0 - p.lambda) / n_el) * p.d_loss_scale;
  kp.d_s = float(-p.lambda / n_el) * p.d_loss_scale;
  ssim_fwd_kernel<<<grid, kThreads, 0, stream>>>(kp);
  CUDA_CHECK_LAUNCH();
  loss_finalize_kernel<<<1, kThreads, 0, stream>>>(kp.partial, blocks, n_el, p.lambda, p.loss);
  CUDA_CHECK_LAUNCH();
  if (p.d_img) {
    ssim_bwd_kernel<<<grid, kThreads, 0, stream>>>(kp);
    CUDA_CHECK_LAUNCH();
  }
}

float read_device_float(Context& ctx, const float* ptr, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream ? stream : ctx.stream());
  float v = 0.f;
  CUDA_CHECK(cudaMemcpyAsync(&v, ptr, sizeof v, cudaMemcpyDeviceToHost, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  return v;
}

}  // namespace ff::splat
