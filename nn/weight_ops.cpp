// nn/weight_ops.cpp — fused CPU loops for swap01_copy and sum_sq_hw (see nn/weight_ops.h).
#include "nn/weight_ops.h"

#include <memory>

#include "core/parallel.h"

namespace ff::nn {
namespace {

bool fast(const Tensor& w) { return w.device().is_cpu() && is_floating(w.dtype()); }

template <class T>
void swap01_raw(const Tensor& src, const Tensor& dst) {  // src contiguous [A,B,R] → dst [B,A,R]
  const int64_t A = src.shape()[0], B = src.shape()[1], R = src.numel() / std::max<int64_t>(1, A * B);
  const T* s = src.data<T>();
  T* d = dst.data<T>();
  parallel_for(B, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, A * R)), src.ctx().threads(), [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b)
      for (int64_t a = 0; a < A; ++a) {  // (R is a kernel's kh·kw, 9 or 1: an inline loop, not a memcpy call each)
        const T* src = s + (a * B + b) * R;
        T* dst = d + (b * A + a) * R;
        if (R == 9) {
          for (int r = 0; r < 9; ++r) dst[r] = src[r];  // constant length: inlined moves
        } else {
          for (int64_t r = 0; r < R; ++r) dst[r] = src[r];
        }
      }
  });
}

Tensor swap01_cpu(const Tensor& w) {
  Tensor c = w.contiguous();
  Shape s = c.shape();
  std::swap(s[0], s[1]);
  Tensor out = empty(c.ctx(), s, c.dtype(), c.device());
  if (c.dtype() == DType::F32) swap01_raw<float>(c, out);
  else swap01_raw<double>(c, out);
  return out;
}

struct Swap01Op : CustomOp {
  const char* name() const override { return "swap01_copy"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override { return {swap01_cpu(in[0])}; }
  std::vector<Tensor> backward(const std::vector<Tensor>& d) override { return {swap01_cpu(d[0])}; }
};

template <class T>
void sum_sq_raw(const Tensor& w, const Tensor& out) {
  const int64_t rows = out.numel(), R = w.numel() / std::max<int64_t>(1, rows);
  const T* s = w.data<T>();
  T* o = out.data<T>();
  parallel_for(rows, 4096, w.ctx().threads(), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      T acc = 0;
      for (int64_t k = 0; k < R; ++k) acc += s[r * R + k] * s[r * R + k];
      o[r] = acc;
    }
  });
}

template <class T>
void sum_sq_bwd_raw(const Tensor& w, const Tensor& d_out, const Tensor& d_w) {
  const int64_t rows = d_out.numel(), R = w.numel() / std::max<int64_t>(1, rows);
  const T* s = w.data<T>();
  const T* g = d_out.data<T>();
  T* o = d_w.data<T>();
  parallel_for(rows, 4096, w.ctx().threads(), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T gr = T(2) * g[r];
      for (int64_t k = 0; k < R; ++k) o[r * R + k] = gr * s[r * R + k];
    }
  });
}

struct SumSqOp : CustomOp {
  Tensor w;
  const char* name() const override { return "sum_sq_hw"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    w = in[0].contiguous();
    Tensor out = empty(w.ctx(), {w.shape()[0], w.shape()[1]}, w.dtype(), w.device());
    if (w.dtype() == DType::F32) sum_sq_raw<float>(w, out);
    else sum_sq_raw<double>(w, out);
    return {out};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& d) override {
    Tensor g = d[0].contiguous();
    Tensor dw = empty(w.ctx(), w.shape(), w.dtype(), w.device());
    if (w.dtype() == DType::F32) sum_sq_bwd_raw<float>(w, g, dw);
    else sum_sq_bwd_raw<double>(w, g, dw);
    w = Tensor();
    return {dw};
  }
};

}  // namespace

Tensor swap01_copy(const Tensor& w) {
  FF_CHECK(w.dim() >= 2, "swap01_copy: expected at least 2 dims, got ", w.shape());
  if (!fast(w)) return contiguous(transpose(w, 0, 1));
  return apply(std::make_shared<Swap01Op>(), {w})[0];
}

Tensor sum_sq_hw(const Tensor& w) {
  FF_CHECK(w.dim() == 4, "sum_sq_hw: expected [O,I,kh,kw], got ", w.shape());
  if (!fast(w)) return sum(square(w), {2, 3});
  return apply(std::make_shared<SumSqOp>(), {w})[0];
}

}  // namespace ff::nn
