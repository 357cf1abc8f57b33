// nn/epilogue.h — the fused tail of a demodulated SynthesisLayer (per-sample form), one pass instead of five:
//   out = clamp(act(y · d[n,o] + noise[h,w] · strength + bias[o]) · gain)
// y [N,O,H,W] (the conv output), d [N,O] (demodulation), noise [H,W] (constant buffer, no gradient),
// strength [] , bias [O]. Gradients to y, d, strength and bias. CPU: one fused CustomOp (f32/f64);
// CUDA: the composed ops (mul, add, bias_act), which give the same values.
#pragma once
#include "nn/layers.h"

namespace ff::nn {

Tensor modconv_epilogue(const Tensor& y, const Tensor& d, const Tensor& noise, const Tensor& strength,
                        const Tensor& bias, const BiasAct& p);
Tensor modconv_epilogue_ref(const Tensor& y, const Tensor& d, const Tensor& noise, const Tensor& strength,
                            const Tensor& bias, const BiasAct& p);

}  // namespace ff::nn
