// nn/epilogue.cpp — fused demodulation + noise + bias + activation + gain + clamp (see nn/epilogue.h).
#include "nn/epilogue.h"

#include <cmath>
#include <memory>

#include "core/parallel.h"

namespace ff::nn {
namespace {

struct EpilogueOp : CustomOp {
  BiasAct p;
  double gain = 1;
  Tensor y, d, noise, strength;
  explicit EpilogueOp(const BiasAct& p_, const Tensor& noise_) : p(p_), noise(noise_.detach().contiguous()) {
    gain = p.gain < 0 ? act_default_gain(p.act) : p.gain;
  }
  const char* name() const override { return "modconv_epilogue"; }

  template <class T>
  static T act_fwd(T v, Act a, T alpha) {
    return a == Act::Linear ? v : (v > T(0) ? v : (a == Act::Relu ? T(0) : v * alpha));
  }
  template <class T>
  static T act_der(T v, Act a, T alpha) {
    return a == Act::Linear ? T(1) : (v > T(0) ? T(1) : (a == Act::Relu ? T(0) : alpha));
  }

  template <class T>
  void fwd(const Tensor& b, const Tensor& out) {
    const int64_t N = y.shape()[0], O = y.shape()[1], HW = y.shape()[2] * y.shape()[3];
    const T* py = y.data<T>();
    const T* pd = d.data<T>();
    const T* pn = noise.data<T>();
    const T s = T(strength.item()), g = T(gain), al = T(p.alpha), cl = T(p.clamp);
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    const bool clamp = p.clamp >= 0;
    parallel_for(N * O, std::max<int64_t>(1, 16384 / HW), y.ctx().threads(), [&](int64_t lo, int64_t hi) {
      for (int64_t no = lo; no < hi; ++no) {
        const T dd = pd[no], bb = pb[no % O];
        const T* yr = py + no * HW;
        T* orow = po + no * HW;
        for (int64_t i = 0; i < HW; ++i) {
          T v = act_fwd<T>(yr[i] * dd + pn[i] * s + bb, p.act, al) * g;
          if (clamp) v = std::min(std::max(v, -cl), cl);
          orow[i] = v;
        }
      }
    });
  }

  template <class T>
  std::vector<Tensor> bwd(const Tensor& b, const Tensor& d_out) {
    const int64_t N = y.shape()[0], O = y.shape()[1], HW = y.shape()[2] * y.shape()[3];
    Context& ctx = y.ctx();
    Tensor dy = empty(ctx, y.shape(), y.dtype(), y.device());
    Tensor dd = empty(ctx, d.shape(), y.dtype(), y.device());
    Tensor ds_part = zeros(ctx, {N * O}, y.dtype(), y.device());  // per-plane partials, summed in order
    Tensor db_part = zeros(ctx, {N * O}, y.dtype(), y.device());
    const T* py = y.data<T>();
    const T* pd = d.data<T>();
    const T* pn = noise.data<T>();
    const T* pg = d_out.data<T>();
    const T s = T(strength.item()), g = T(gain), al = T(p.alpha), cl = T(p.clamp);
    const T* pb = b.data<T>();
    T *pdy = dy.data<T>(), *pdd = dd.data<T>(), *pds = ds_part.data<T>(), *pdb = db_part.data<T>();
    const bool clamp = p.clamp >= 0;
    parallel_for(N * O, std::max<int64_t>(1, 16384 / HW), ctx.threads(), [&](int64_t lo, int64_t hi) {
      for (int64_t no = lo; no < hi; ++no) {
        const T dco = pd[no], bb = pb[no % O];
        const T* yr = py + no * HW;
        const T* gr = pg + no * HW;
        T* dyr = pdy + no * HW;
        T sd = 0, sn = 0, sb = 0;
        for (int64_t i = 0; i < HW; ++i) {
          const T pre = yr[i] * dco + pn[i] * s + bb;
          T ga = gr[i] * g;
          if (clamp && std::abs(act_fwd<T>(pre, p.act, al) * g) > cl) ga = T(0);
          const T dp = ga * act_der<T>(pre, p.act, al);
          dyr[i] = dp * dco;
          sd += dp * yr[i];
          sn += dp * pn[i];
          sb += dp;
        }
        pdd[no] = sd;
        pds[no] = sn;
        pdb[no] = sb;
      }
    });
    // combine partials in a fixed order (deterministic for any thread count)
    Tensor dstr = zeros(ctx, {}, y.dtype(), y.device());
    Tensor dbias = zeros(ctx, {O}, y.dtype(), y.device());
    T acc = 0;
    T* pdbias = dbias.data<T>();
    for (int64_t no = 0; no < N * O; ++no) {
      acc += pds[no];
      pdbias[no % O] += pdb[no];
    }
    dstr.fill_(double(acc));
    return {dy, dd, dstr, dbias};
  }

  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    y = in[0].contiguous();
    d = in[1].contiguous();
    strength = in[2];
    Tensor b = in[3].contiguous();
    saved_b = b;
    Tensor out = empty(y.ctx(), y.shape(), y.dtype(), y.device());
    if (y.dtype() == DType::F32) fwd<float>(b, out);
    else fwd<double>(b, out);
    return {out};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& g) override {
    Tensor go = g[0].contiguous();
    auto r = y.dtype() == DType::F32 ? bwd<float>(saved_b, go) : bwd<double>(saved_b, go);
    y = d = strength = saved_b = Tensor();
    return r;
  }
  Tensor saved_b;
};

}  // namespace

Tensor modconv_epilogue_ref(const Tensor& y, const Tensor& d, const Tensor& noise, const Tensor& strength,
                            const Tensor& bias, const BiasAct& p) {
  const int64_t N = y.shape()[0], O = y.shape()[1];
  Tensor t = add(mul(y, reshape(d, {N, O, 1, 1})), mul(noise, strength));
  return bias_act(t, bias, p);
}

Tensor modconv_epilogue(const Tensor& y, const Tensor& d, const Tensor& noise, const Tensor& strength,
                        const Tensor& bias, const BiasAct& p) {
  FF_CHECK(y.dim() == 4 && d.dim() == 2 && d.shape()[0] == y.shape()[0] && d.shape()[1] == y.shape()[1] &&
               noise.dim() == 2 && noise.shape()[0] == y.shape()[2] && noise.shape()[1] == y.shape()[3] &&
               strength.numel() == 1 && bias.dim() == 1 && bias.shape()[0] == y.shape()[1],
           "modconv_epilogue: y ", y.shape(), " d ", d.shape(), " noise ", noise.shape(), " strength ",
           strength.shape(), " bias ", bias.shape());
  if (!y.device().is_cpu() || !is_floating(y.dtype())) return modconv_epilogue_ref(y, d, noise, strength, bias, p);
  return apply(std::make_shared<EpilogueOp>(p, noise), {y, d, strength, bias})[0];
}

}  // namespace ff::nn
