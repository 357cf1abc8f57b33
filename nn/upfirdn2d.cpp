// nn/upfirdn2d.cpp — fused CPU upfirdn2d (forward = backward kernel) and the composed reference.
#include "nn/upfirdn2d.h"

#include <algorithm>
#include <memory>

#include "core/parallel.h"

namespace ff::nn {

Tensor setup_filter(Context& ctx, const std::vector<double>& taps, DType dtype, Device device) {
  FF_CHECK(!taps.empty() && taps.size() < 8, "setup_filter: expected 1..7 taps (non-separable form), got ",
           taps.size());
  const int64_t k = int64_t(taps.size());
  double s = 0;
  for (double a : taps)
    for (double b : taps) s += a * b;
  std::vector<double> v(size_t(k * k));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) v[size_t(i * k + j)] = taps[size_t(i)] * taps[size_t(j)] / s;
  return from_vector<double>(ctx, v, {k, k}).to(dtype).to(device);
}

Shape upfirdn2d_output_shape(const Shape& x, const Shape& f, const UpFirDn& p) {
  FF_CHECK(x.size() == 4 && f.size() == 2, "upfirdn2d: expected x [N,C,H,W] and f [fh,fw], got ", x, " and ", f);
  FF_CHECK(p.up >= 1 && p.down >= 1, "upfirdn2d: up ", p.up, " and down ", p.down, " must be >= 1");
  const int64_t ph = x[2] * p.up + p.pady0 + p.pady1 - f[0];
  const int64_t pw = x[3] * p.up + p.padx0 + p.padx1 - f[1];
  FF_CHECK(ph >= 0 && pw >= 0, "upfirdn2d: filter ", f, " larger than the padded, upsampled input ", x);
  return {x[0], x[1], ph / p.down + 1, pw / p.down + 1};
}

UpFirDn upsample2d_params(const Tensor& f, int up) {
  const int fh = int(f.shape()[0]), fw = int(f.shape()[1]);
  UpFirDn p;
  p.up = up;
  p.padx0 = (fw + up - 1) / 2;
  p.padx1 = (fw - up) / 2;
  p.pady0 = (fh + up - 1) / 2;
  p.pady1 = (fh - up) / 2;
  p.gain = double(up) * up;
  return p;
}

namespace {

// One plane: out [Ho,Wo] = Σ_k fk[k] · (zero-upsampled, padded x)[oy·down + ky, ox·down + kx], where fk is
// f·gain, flipped unless flip_filter (torch's conv2d is a correlation).
template <class T>
void plane(const T* x, int64_t H, int64_t W, const T* fk, int64_t fh, int64_t fw, const UpFirDn& p, T* out,
           int64_t Ho, int64_t Wo) {
  const int64_t up = p.up, down = p.down;
  std::fill(out, out + Ho * Wo, T(0));
  for (int64_t oy = 0; oy < Ho; ++oy) {
    T* orow = out + oy * Wo;
    for (int64_t ky = 0; ky < fh; ++ky) {
      const int64_t u = oy * down + ky - p.pady0;
      if (u < 0 || u % up) continue;
      const int64_t iy = u / up;
      if (iy >= H) continue;
      const T* xrow = x + iy * W;
      for (int64_t kx = 0; kx < fw; ++kx) {
        const T c = fk[ky * fw + kx];
        if (c == T(0)) continue;
        // v = ox·down + kx − padx0 must be ≥ 0, ≡ 0 (mod up) and < W·up
        const int64_t off = kx - p.padx0;
        if (up == 1 && down == 1) {  // the blur after the transposed conv and its backward: contiguous, vectorises
          const int64_t lo = std::max<int64_t>(0, -off), hi = std::min<int64_t>(Wo, W - off);
          for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += c * xrow[ox + off];
        } else if (up == 1) {
          int64_t lo = off >= 0 ? 0 : (-off + down - 1) / down;
          int64_t hi = std::min<int64_t>(Wo, (W - off + down - 1) / down);  // ox·down + off < W
          for (int64_t ox = lo; ox < hi; ++ox) orow[ox] += c * xrow[ox * down + off];
        } else if (down == 1) {
          int64_t lo = std::max<int64_t>(0, -off);
          lo += ((-(lo + off)) % up + up) % up;  // first ox with (ox + off) ≡ 0 (mod up)
          const int64_t hi = std::min<int64_t>(Wo, W * up - off);
          int64_t ix = (lo + off) / up;
          for (int64_t ox = lo; ox < hi; ox += up, ++ix) orow[ox] += c * xrow[ix];
        } else {
          for (int64_t ox = 0; ox < Wo; ++ox) {
            const int64_t v = ox * down + off;
            if (v < 0 || v % up) continue;
            const int64_t ix = v / up;
            if (ix >= W) break;
            orow[ox] += c * xrow[ix];
          }
        }
      }
    }
  }
}

template <class T>
void run_cpu(const Tensor& x, const Tensor& f, const UpFirDn& p, const Tensor& out) {
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t fh = f.shape()[0], fw = f.shape()[1];
  const int64_t Ho = out.shape()[2], Wo = out.shape()[3];
  Tensor fc = f.contiguous();
  const T* pf = fc.data<T>();
  std::vector<T> fk(size_t(fh * fw));
  for (int64_t i = 0; i < fh; ++i)
    for (int64_t j = 0; j < fw; ++j) {
      const T v = pf[p.flip_filter ? i * fw + j : (fh - 1 - i) * fw + (fw - 1 - j)];
      fk[size_t(i * fw + j)] = v * T(p.gain);
    }
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const int64_t planes = N * C;
  // grain: a few planes per chunk when planes are tiny
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, Ho * Wo));
  parallel_for(planes, grain, x.ctx().threads(), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl)
      plane<T>(px + pl * H * W, H, W, fk.data(), fh, fw, p, po + pl * Ho * Wo, Ho, Wo);
  });
}

Tensor upfirdn2d_raw(const Tensor& x, const Tensor& f, const UpFirDn& p) {
  Tensor xc = x.contiguous();
  Tensor out = empty(x.ctx(), upfirdn2d_output_shape(x.shape(), f.shape(), p), x.dtype(), x.device());
  upfirdn2d_cpu(xc, f, p, out);
  return out;
}

// the adjoint parameters (stylegan2-ada upfirdn2d.py, _upfirdn2d_cuda backward)
UpFirDn backward_params(const UpFirDn& p, const Shape& xs, const Shape& ys, const Shape& fs) {
  UpFirDn q;
  q.up = p.down;
  q.down = p.up;
  const int64_t ih = xs[2], iw = xs[3], oh = ys[2], ow = ys[3], fh = fs[0], fw = fs[1];
  q.padx0 = int(fw - p.padx0 - 1);
  q.padx1 = int(iw * p.up - ow * p.down + p.padx0 - p.up + 1);
  q.pady0 = int(fh - p.pady0 - 1);
  q.pady1 = int(ih * p.up - oh * p.down + p.pady0 - p.up + 1);
  q.flip_filter = !p.flip_filter;
  q.gain = p.gain;
  return q;
}

struct UpFirDnOp : CustomOp {
  UpFirDn p;
  Tensor f;
  Shape xs, ys;
  explicit UpFirDnOp(const UpFirDn& p_, const Tensor& f_) : p(p_), f(f_.detach()) {}
  const char* name() const override { return "upfirdn2d"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    xs = in[0].shape();
    Tensor y = upfirdn2d_raw(in[0], f, p);
    ys = y.shape();
    return {y};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& d) override {
    UpFirDn q = backward_params(p, xs, ys, f.shape());
    Tensor dx = upfirdn2d_raw(d[0], f, q);
    FF_CHECK(dx.shape() == xs, "upfirdn2d backward: got ", dx.shape(), " for input ", xs);
    return {dx};
  }
};

}  // namespace

void upfirdn2d_cpu(const Tensor& x, const Tensor& f, const UpFirDn& p, const Tensor& out) {
  FF_CHECK(x.device().is_cpu() && f.device().is_cpu() && out.device().is_cpu(), "upfirdn2d_cpu: CPU tensors only");
  FF_CHECK(x.dtype() == f.dtype() && x.dtype() == out.dtype(), "upfirdn2d_cpu: dtype mismatch");
  FF_CHECK(x.is_contiguous() && out.is_contiguous(), "upfirdn2d_cpu: contiguous x and out expected");
  FF_CHECK(out.shape() == upfirdn2d_output_shape(x.shape(), f.shape(), p), "upfirdn2d_cpu: out ", out.shape());
  if (x.dtype() == DType::F32) run_cpu<float>(x, f, p, out);
  else if (x.dtype() == DType::F64) run_cpu<double>(x, f, p, out);
  else FF_THROW("upfirdn2d: floating tensors expected, got ", dtype_name(x.dtype()));
}

Tensor upfirdn2d(const Tensor& x, const Tensor& f, const UpFirDn& p) {
  FF_CHECK(x.device() == f.device() && x.dtype() == f.dtype(), "upfirdn2d: x ", x.str(), " and filter ", f.str(),
           " must share dtype and device");
  upfirdn2d_output_shape(x.shape(), f.shape(), p);  // validates
  if (!x.device().is_cpu()) return upfirdn2d_ref(x, f, p);
  return apply(std::make_shared<UpFirDnOp>(p, f), {x})[0];
}

Tensor upfirdn2d_ref(const Tensor& x, const Tensor& f, const UpFirDn& p) {
  const Shape ys = upfirdn2d_output_shape(x.shape(), f.shape(), p);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t fh = f.shape()[0], fw = f.shape()[1];
  Tensor y = x;
  if (p.up > 1) {
    y = reshape(y, {N, C, H, 1, W, 1});
    y = pad(y, {0, p.up - 1, 0, 0, 0, p.up - 1});
    y = reshape(y, {N, C, H * p.up, W * p.up});
  }
  y = pad(y, {p.padx0, p.padx1, p.pady0, p.pady1});
  Tensor fk = f.detach();
  if (!p.flip_filter) {  // flip both axes: index_select with reversed indices
    auto rev = [&](int64_t n) {
      std::vector<int64_t> r(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) r[size_t(i)] = n - 1 - i;
      return from_vector<int64_t>(x.ctx(), r, {n}, x.device());
    };
    fk = index_select(index_select(fk, 0, rev(fh)), 1, rev(fw));
  }
  fk = mul(fk, p.gain);
  Tensor w = expand(reshape(fk, {1, 1, fh, fw}), {C, 1, fh, fw});
  kernels::Conv2dParams cp;
  cp.groups = int(C);
  y = conv2d(y, w, Tensor(), cp);
  if (p.down > 1) y = slice(slice(y, 2, 0, y.shape()[2], p.down), 3, 0, y.shape()[3], p.down);
  FF_CHECK(y.shape() == ys, "upfirdn2d_ref: got ", y.shape(), ", expected ", ys);
  return y;
}

Tensor upsample2d(const Tensor& x, const Tensor& f, int up) { return upfirdn2d(x, f, upsample2d_params(f, up)); }

}  // namespace ff::nn
