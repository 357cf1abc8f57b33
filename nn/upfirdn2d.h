// nn/upfirdn2d.h — StyleGAN2's upfirdn2d: upsample (zero insertion), pad/crop, FIR filter, downsample.
//
// Same maths as stylegan2-ada-pytorch torch_utils/ops/upfirdn2d.py (_upfirdn2d_ref):
//   1. insert up−1 zeros after every input pixel (both axes),
//   2. pad with (padx0, padx1, pady0, pady1) zeros (negative values crop),
//   3. convolve with the 2-D filter f·gain (true convolution unless flip_filter; f is symmetric in practice),
//   4. keep every down-th pixel.
// Output size: (in·up + pad0 + pad1 − f_size) / down + 1 per axis.
//
// Two implementations, tested against each other:
//   upfirdn2d_ref — composed from differentiable autograd ops (reshape, pad, depthwise conv2d, slice); runs on
//                   every device. It is the reference, and the CUDA path (cuDNN depthwise conv).
//   upfirdn2d     — on the CPU a fused CustomOp (direct polyphase loops, one pass, parallel over planes); its
//                   backward is the same kernel with up/down swapped, the filter flipped and the padding
//                   adjusted (as StyleGAN2's CUDA op does). On CUDA it falls back to upfirdn2d_ref.
// The filter carries no gradient (it is a fixed buffer).
//
//   ff::Tensor f = ff::nn::setup_filter(ctx, {1, 3, 3, 1});   // [4,4], sums to 1
//   ff::Tensor y = ff::nn::upsample2d(x, f);                   // [N,C,2H,2W], gain 4, StyleGAN2's padding
#pragma once
#include <vector>

#include "autograd/ops.h"

namespace ff::nn {

struct UpFirDn {
  int up = 1, down = 1;
  int padx0 = 0, padx1 = 0, pady0 = 0, pady1 = 0;
  bool flip_filter = false;
  double gain = 1.0;
};

// setup_filter(f) of upfirdn2d.py for a 1-D list with fewer than 8 taps: outer product, normalised to sum 1.
// Returns [k, k] of dtype/device given.
Tensor setup_filter(Context& ctx, const std::vector<double>& taps, DType dtype = DType::F32,
                    Device device = Device::cpu());

// x [N,C,H,W], f [fh,fw] (same dtype/device) → [N,C,Ho,Wo]
Tensor upfirdn2d(const Tensor& x, const Tensor& f, const UpFirDn& p);
Tensor upfirdn2d_ref(const Tensor& x, const Tensor& f, const UpFirDn& p);

// upsample2d(x, f, up) of upfirdn2d.py: padding ((fw+up−1)/2, (fw−up)/2) per axis, gain up².
Tensor upsample2d(const Tensor& x, const Tensor& f, int up = 2);
UpFirDn upsample2d_params(const Tensor& f, int up = 2);

// The raw CPU kernel (no autograd): out must be [N,C,Ho,Wo] contiguous. Exposed for the bench and tests.
void upfirdn2d_cpu(const Tensor& x, const Tensor& f, const UpFirDn& p, const Tensor& out);
Shape upfirdn2d_output_shape(const Shape& x, const Shape& f, const UpFirDn& p);

}  // namespace ff::nn
