// nn/layers.cpp — StyleGAN2 blocks composed from autograd ops (see nn/layers.h).
#include "nn/layers.h"

#include <cmath>

#include "nn/weight_ops.h"

namespace ff::nn {

const char* act_name(Act a) {
  switch (a) {
    case Act::Linear: return "linear";
    case Act::Relu: return "relu";
    case Act::LRelu: return "lrelu";
  }
  return "?";
}

double act_default_gain(Act a) { return a == Act::Linear ? 1.0 : std::sqrt(2.0); }

Tensor bias_act(const Tensor& x, const Tensor& b, const BiasAct& p) {
  FF_CHECK(x.dim() >= 2, "bias_act: expected x [N,C,...], got ", x.shape());
  Tensor y = x;
  if (b.defined()) {
    FF_CHECK(b.dim() == 1 && b.shape()[0] == x.shape()[1], "bias_act: bias ", b.shape(), " for x ", x.shape());
    Shape bs(size_t(x.dim()), 1);
    bs[1] = b.shape()[0];
    y = add(y, reshape(b, bs));
  }
  switch (p.act) {
    case Act::Linear: break;
    case Act::Relu: y = relu(y); break;
    case Act::LRelu: y = leaky_relu(y, p.alpha); break;
  }
  const double gain = p.gain < 0 ? act_default_gain(p.act) : p.gain;
  if (gain != 1.0) y = mul(y, gain);
  if (p.clamp >= 0) y = clamp(y, -p.clamp, p.clamp);
  return y;
}

Tensor normalize_2nd_moment(const Tensor& x, double eps) {
  return mul(x, rsqrt(add(mean(square(x), {1}, true), eps)));
}

Tensor fully_connected(const Tensor& x, const Tensor& weight, const Tensor& bias, double weight_gain, double bias_gain,
                       Act act) {
  Tensor w = weight_gain == 1.0 ? weight : mul(weight, weight_gain);
  Tensor b;
  if (bias.defined()) b = bias_gain == 1.0 ? bias : mul(bias, bias_gain);
  if (act == Act::Linear) return linear(x, w, b);
  BiasAct p;
  p.act = act;
  return bias_act(linear(x, w, Tensor()), b, p);
}

namespace {
Tensor flip_hw(const Tensor& w) {
  auto rev = [&](int64_t n) {
    std::vector<int64_t> r(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) r[size_t(i)] = n - 1 - i;
    return from_vector<int64_t>(w.ctx(), r, {n}, w.device());
  };
  return index_select(index_select(w, 2, rev(w.shape()[2])), 3, rev(w.shape()[3]));
}
}  // namespace

Tensor conv2d_resample(const Tensor& x, const Tensor& w, const Tensor& f, int up, int padding, int groups,
                       bool flip_weight) {
  FF_CHECK(w.dim() == 4, "conv2d_resample: weight [O,I,kh,kw] expected, got ", w.shape());
  FF_CHECK(up == 1 || up == 2, "conv2d_resample: up must be 1 or 2, got ", up);
  const int64_t O = w.shape()[0], Ig = w.shape()[1], kh = w.shape()[2], kw = w.shape()[3];
  if (up == 1) {
    Tensor wf = flip_weight ? w : flip_hw(w);
    kernels::Conv2dParams cp;
    cp.pad_h = cp.pad_w = padding;
    cp.groups = groups;
    return conv2d(x, wf, Tensor(), cp);
  }
  FF_CHECK(f.defined() && f.dim() == 2, "conv2d_resample: up = 2 needs a 2-D resample filter");
  const int64_t fh = f.shape()[0], fw = f.shape()[1];
  // conv2d_resample.py: padding adjusted for the upsampling, then for the transposed conv
  int64_t px0 = padding + (fw + up - 1) / 2, px1 = padding + (fw - up) / 2;
  int64_t py0 = padding + (fh + up - 1) / 2, py1 = padding + (fh - up) / 2;
  px0 -= kw - 1;
  px1 -= kw - up;
  py0 -= kh - 1;
  py1 -= kh - up;
  const int64_t pxt = std::max<int64_t>(std::min(-px0, -px1), 0);
  const int64_t pyt = std::max<int64_t>(std::min(-py0, -py1), 0);
  FF_CHECK(pxt == pyt, "conv2d_resample: non-square transposed padding");
  // weight → transposed-conv layout [groups·Ig, O/groups, kh, kw]
  Tensor wt;
  if (groups == 1) {
    wt = swap01_copy(w);
  } else {
    wt = reshape(w, {groups, O / groups, Ig, kh, kw});
    wt = reshape(transpose(wt, 1, 2), {groups * Ig, O / groups, kh, kw});
  }
  if (flip_weight) wt = flip_hw(wt);  // _conv2d_wrapper(flip_weight = not flip_weight)
  Tensor y = conv_transpose2d(x, groups == 1 ? wt : contiguous(wt), Tensor(), up, int(pxt), 0, groups);
  UpFirDn p;
  p.padx0 = int(px0 + pxt);
  p.padx1 = int(px1 + pxt);
  p.pady0 = int(py0 + pyt);
  p.pady1 = int(py1 + pyt);
  p.gain = double(up) * up;
  return upfirdn2d(y, f, p);
}

Tensor demod_coefficients(const Tensor& weight, const Tensor& styles) {
  // Σ_{i,k} (w_oik s_i)² = Σ_i s_i² · Σ_k w_oik²  → [N,O]
  Tensor wsq = sum_sq_hw(weight);  // [O,I]
  return rsqrt(add(matmul(square(styles), transpose(wsq, 0, 1)), 1e-8));
}

Tensor modulated_conv2d(const Tensor& x, const Tensor& weight, const Tensor& styles, const Tensor& noise,
                        const ModConv& p) {
  FF_CHECK(x.dim() == 4 && weight.dim() == 4 && styles.dim() == 2, "modulated_conv2d: x ", x.shape(), " weight ",
           weight.shape(), " styles ", styles.shape());
  const int64_t N = x.shape()[0], I = weight.shape()[1], O = weight.shape()[0], kh = weight.shape()[2],
                kw = weight.shape()[3];
  FF_CHECK(x.shape()[1] == I && styles.shape()[0] == N && styles.shape()[1] == I, "modulated_conv2d: x ", x.shape(),
           " weight ", weight.shape(), " styles ", styles.shape());
  if (!p.fused) {
    Tensor y = mul(x, reshape(styles, {N, I, 1, 1}));
    y = conv2d_resample(y, weight, p.filter, p.up, p.padding, 1, p.flip_weight);
    if (p.demodulate) {
      y = mul(y, reshape(demod_coefficients(weight, styles), {N, O, 1, 1}));
    }
    if (noise.defined()) y = add(y, noise);
    return y;
  }
  Tensor w = mul(unsqueeze(weight, 0), reshape(styles, {N, 1, I, 1, 1}));  // [N,O,I,k,k]
  if (p.demodulate) {
    Tensor d = rsqrt(add(sum(square(w), {2, 3, 4}), 1e-8));               // [N,O]
    w = mul(w, reshape(d, {N, O, 1, 1, 1}));
  }
  Tensor xg = reshape(x, {1, N * I, x.shape()[2], x.shape()[3]});
  Tensor y = conv2d_resample(xg, reshape(w, {N * O, I, kh, kw}), p.filter, p.up, p.padding, int(N), p.flip_weight);
  y = reshape(y, {N, O, y.shape()[2], y.shape()[3]});
  if (noise.defined()) y = add(y, noise);
  return y;
}

}  // namespace ff::nn
