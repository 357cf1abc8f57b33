// splat/splat_op.h — the autograd glue of the rasterizer and the fused loss: differentiable ff::Tensor
// wrappers around splat/splat.h (CustomOp pairs; nothing else lives here). f32 on CPU and CUDA, f64 on the
// CPU (gradient checks). Conventions (camera, pixels, quaternions, layouts) are those of splat/splat.h.
//
//   ff::splat::GaussianTensors g{means, scales, rotations, opacities, colors};   // [N,3],[N,3],[N,4],[N],[N,3]
//   auto out = ff::splat::render(g, viewmats /*[C,4,4]*/, intrinsics /*[C,4]*/, W, H);
//   ff::Tensor loss = ff::splat::l1_dssim_loss(out.image, gt, mask, 0.2f);
//   ff::backward(loss);    // gradients reach means … colors and viewmats
#pragma once
#include "autograd/graph.h"

namespace ff::splat {

struct GaussianTensors {
  Tensor means;      // [N,3]
  Tensor scales;     // [N,3] activated
  Tensor rotations;  // [N,4] (w,x,y,z), any norm
  Tensor opacities;  // [N]   activated
  Tensor colors;     // [N,3] RGB, or undefined when sh is used
  Tensor sh;         // [N,K,3] SH coefficients (K ≥ (sh_degree+1)²), or undefined
  int sh_degree = 0;
};

struct RenderOptions {
  Tensor background;     // [C,3] or undefined (black); not differentiated
  double near_cull = 0.2;
  bool check_finite = true;
};

struct RenderOutputs {
  Tensor image;  // [C,3,H,W]
  Tensor alpha;  // [C,H,W]  1 − T_final
  Tensor depth;  // [C,H,W]  Σ w·z
  Tensor radii;  // [C,N] i32, 0 = culled (not differentiable)
};

// Differentiable wrt every Gaussian tensor and `viewmats` (world→camera, [C,4,4] row-major); intrinsics
// [C,4] (fx, fy, cx, cy) are constants.
RenderOutputs render(const GaussianTensors& g, const Tensor& viewmats, const Tensor& intrinsics, int width, int height,
                     const RenderOptions& opt = {});

// (1−λ)·L1 + λ·(1 − SSIM) over img/gt [B,C,H,W] (f32), optional mask [B,1,H,W] (see splat.h); a 0-d tensor,
// differentiable wrt img. Forward and backward are one fused pass.
Tensor l1_dssim_loss(const Tensor& img, const Tensor& gt, const Tensor& mask = Tensor(), float lambda = 0.2f);

}  // namespace ff::splat
