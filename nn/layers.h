// nn/layers.h — StyleGAN2 building blocks as differentiable functions (CPU and CUDA).
//
// The maths follow stylegan2-ada-pytorch (training/networks.py, torch_utils/ops/{bias_act,conv2d_resample}.py):
//   bias_act            x + b (along dim 1), activation, × gain (default: the activation's def_gain), clamp.
//   fully_connected     equalized learning rate: y = x·(W·lr_mul/√in)ᵀ + b·lr_mul, then bias_act.
//   normalize_2nd_moment x · rsqrt(mean(x², dim 1) + 1e-8).
//   conv2d_resample     up = 1: a plain (padded) conv2d; up = 2: transposed conv with stride 2, then the FIR
//                       filter (upfirdn2d, gain 4) — conv2d_resample.py's "upsampling" fast path.
//   modulated_conv2d    styles scale the input channels, demodulation rsqrt(Σ(w·s)² + 1e-8) normalises each
//                       output channel, then noise is added. Two forms with the same result:
//                       fused  = per-sample weights, one grouped conv (groups = batch),
//                       !fused = scale activations before and after one shared-weight conv (cheaper; the
//                       demodulation coefficient is computed as Σᵢ sᵢ² Σₖ wₒᵢₖ², which equals Σ(w·s)²).
// Everything here is composed from autograd ops (so backward and CUDA come for free), except upfirdn2d's
// fused CPU kernel (nn/upfirdn2d.h).
//
//   Tensor y = ff::nn::modulated_conv2d(x, weight, styles, noise, {.up = 2, .padding = 1, .filter = f});
#pragma once
#include "autograd/ops.h"
#include "nn/upfirdn2d.h"

namespace ff::nn {

// ---- bias_act ------------------------------------------------------------------------------------
enum class Act { Linear, Relu, LRelu };
const char* act_name(Act a);
double act_default_gain(Act a);  // linear 1, relu √2, lrelu √2

struct BiasAct {
  Act act = Act::Linear;
  double alpha = 0.2;   // lrelu slope
  double gain = -1;     // < 0: the activation's default gain
  double clamp = -1;    // < 0: no clamping
};
// x [N,C,...], b [C] or undefined (added along dim 1)
Tensor bias_act(const Tensor& x, const Tensor& b, const BiasAct& p = {});

// x [N,C] → x · rsqrt(mean(x², 1) + eps)
Tensor normalize_2nd_moment(const Tensor& x, double eps = 1e-8);

// equalized-lr fully connected layer (functional form); weight [out,in] stored ~ randn/lr_mul
Tensor fully_connected(const Tensor& x /*[N,in]*/, const Tensor& weight /*[out,in]*/, const Tensor& bias /*[out]*/,
                       double weight_gain, double bias_gain, Act act);

// ---- convolutions --------------------------------------------------------------------------------
// x [N,C,H,W], w [O,C/groups,k,k]; up ∈ {1, 2}; f [fh,fw] (needed for up = 2). flip_weight = true is
// torch's conv2d (correlation); StyleGAN2 passes flip_weight = (up == 1).
Tensor conv2d_resample(const Tensor& x, const Tensor& w, const Tensor& f, int up, int padding, int groups = 1,
                       bool flip_weight = true);

struct ModConv {
  int up = 1;
  int padding = 0;
  Tensor filter;           // resample filter [fh,fw] (up = 2)
  bool demodulate = true;
  bool flip_weight = true;
  bool fused = true;       // grouped per-sample weights (true) or activation scaling (false)
};
// demodulation coefficients rsqrt(Σ_{i,k} (w_oik s_ni)² + 1e-8) = rsqrt(s² · (Σ_k w²)ᵀ + 1e-8) → [N,O]
Tensor demod_coefficients(const Tensor& weight /*[O,I,k,k]*/, const Tensor& styles /*[N,I]*/);

// x [N,I,H,W], weight [O,I,k,k], styles [N,I], noise broadcastable to the output or undefined
Tensor modulated_conv2d(const Tensor& x, const Tensor& weight, const Tensor& styles, const Tensor& noise,
                        const ModConv& p);

}  // namespace ff::nn
