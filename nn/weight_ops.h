// nn/weight_ops.h — two fused weight-side ops of the modulated convolution (CPU fast path, composed elsewhere).
//
// The engine's generic strided copy and square→sum take ~40 ms and ~15 ms on a [512,512,3,3] weight on the
// 2-core CPU (one pass of 9.4 MB should take ~2 ms), and the modulated convs touch every weight in both
// passes, so these two get direct loops:
//   swap01_copy(w)   [A,B,...] → contiguous [B,A,...] (the transposed-conv weight layout); backward = swap01_copy.
//   sum_sq_hw(w)     [O,I,kh,kw] → [O,I] = Σ_hw w² (demodulation); backward d_w = 2·w·d_out.
// On CUDA (and for non-float dtypes) they fall back to the composed autograd ops, which give the same values.
#pragma once
#include "autograd/ops.h"

namespace ff::nn {

Tensor swap01_copy(const Tensor& w);
Tensor sum_sq_hw(const Tensor& w);

}  // namespace ff::nn
