// tensor/backend_cpu.cpp — the CPU reference backend (ff::cpu): plain loops, OpenMP through
// ff::parallel_for (deterministic chunking), Eigen for GEMM. Preconditions: tensor/backend.h.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "core/rng.h"
#include "tensor/backend.h"
#include "tensor/sgemm_cpu.h"
#include "tensor/winograd_cpu.h"
#include <type_traits>

namespace ff::cpu {
using kernels::Binary;
using kernels::Reduce;
using kernels::Unary;
using kernels::UnaryParams;

namespace {

constexpr int64_t kGrain = 1 << 14;  // elements per chunk for cheap elementwise work

// Calls f(i, off...) for linear indices [begin, end) of `shape_in` with the offsets of each stride set.
// Adjacent dims that are laid out contiguously relative to each other in every operand are merged first
// (and size-1 dims dropped), so the inner loop runs as long as possible.
template <int NOps, class F>
void strided_loop(const Shape& shape_in, const Shape* const (&strides_in)[NOps], int64_t begin, int64_t end, F&& f) {
  Shape shape;
  Shape st[NOps];
  for (size_t d = 0; d < shape_in.size(); ++d) {
    if (shape_in[d] == 1) continue;
    bool merge = !shape.empty();
    for (int k = 0; k < NOps && merge; ++k) merge = st[k].back() == (*strides_in[k])[d] * shape_in[d];
    if (merge) {
      shape.back() *= shape_in[d];
      for (int k = 0; k < NOps; ++k) st[k].back() = (*strides_in[k])[d];
    } else {
      shape.push_back(shape_in[d]);
      for (int k = 0; k < NOps; ++k) st[k].push_back((*strides_in[k])[d]);
    }
  }
  const Shape* strides[NOps];
  for (int k = 0; k < NOps; ++k) strides[k] = &st[k];
  const int64_t nd = int64_t(shape.size());
  if (nd == 0) {
    int64_t offs[NOps] = {};
    if (begin < end) f(int64_t(0), offs);
    return;
  }
  std::vector<int64_t> idx(nd);
  int64_t rem = begin;
  for (int64_t d = nd - 1; d >= 0; --d) {
    idx[d] = rem % shape[d];
    rem /= shape[d];
  }
  int64_t offs[NOps];
  for (int k = 0; k < NOps; ++k) {
    offs[k] = 0;
    for (int64_t d = 0; d < nd; ++d) offs[k] += idx[d] * (*strides[k])[d];
  }
  const int64_t last = shape[nd - 1];
  int64_t inner_step[NOps];
  for (int k = 0; k < NOps; ++k) inner_step[k] = (*strides[k])[nd - 1];
  int64_t i = begin;
  while (i < end) {
    const int64_t run = std::min(end - i, last - idx[nd - 1]);
    int64_t o[NOps];
    for (int k = 0; k < NOps; ++k) o[k] = offs[k];
    for (int64_t r = 0; r < run; ++r) {
      f(i + r, o);
      for (int k = 0; k < NOps; ++k) o[k] += inner_step[k];
    }
    i += run;
    idx[nd - 1] += run;
    for (int k = 0; k < NOps; ++k) offs[k] += run * inner_step[k];
    if (idx[nd - 1] == last) {  // carry into the outer dims
      for (int k = 0; k < NOps; ++k) offs[k] -= last * inner_step[k];
      idx[nd - 1] = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        idx[d]++;
        for (int k = 0; k < NOps; ++k) offs[k] += (*strides[k])[d];
        if (idx[d] < shape[d]) break;
        for (int k = 0; k < NOps; ++k) offs[k] -= shape[d] * (*strides[k])[d];
        idx[d] = 0;
      }
    }
  }
}

template <class T>
const T* ptr(const Tensor& t) {
  return t.data<T>();
}
template <class T>
T* mptr(const Tensor& t) {
  return t.data<T>();
}

int threads_of(const Tensor& t) { return t.ctx().threads(); }

#define FF_FLOAT_DISPATCH(dtype, T, ...)                                                  \
  do {                                                                                    \
    if ((dtype) == DType::F32) {                                                          \
      using T = float;                                                                    \
      __VA_ARGS__;                                                                        \
    } else if ((dtype) == DType::F64) {                                                   \
      using T = double;                                                                   \
      __VA_ARGS__;                                                                        \
    } else {                                                                              \
      FF_THROW("cpu backend: expected a floating dtype, got ", dtype_name(dtype));        \
    }                                                                                     \
  } while (0)

#define FF_ANY_DISPATCH(dtype, T, ...)                           \
  do {                                                           \
    switch (dtype) {                                             \
      case DType::F32: { using T = float; __VA_ARGS__; break; }   \
      case DType::F64: { using T = double; __VA_ARGS__; break; }  \
      case DType::I32: { using T = int32_t; __VA_ARGS__; break; } \
      case DType::I64: { using T = int64_t; __VA_ARGS__; break; } \
      case DType::U8: { using T = uint8_t; __VA_ARGS__; break; }  \
    }                                                            \
  } while (0)

}  // namespace

// ---- fill / copy / random ------------------------------------------------------------------------
void fill(const Tensor& out, double v) {
  FF_ANY_DISPATCH(out.dtype(), T, {
    T* o = mptr<T>(out);
    T val = T(v);
    const Shape* st[1] = {&out.strides()};
    if (out.is_contiguous()) {
      parallel_for(out.numel(), kGrain, threads_of(out), [&](int64_t b, int64_t e) { std::fill(o + b, o + e, val); });
    } else {
      parallel_for(out.numel(), kGrain, threads_of(out), [&](int64_t b, int64_t e) {
        strided_loop<1>(out.shape(), st, b, e, [&](int64_t, const int64_t* off) { o[off[0]] = val; });
      });
    }
  });
}

void copy(const Tensor& dst, const Tensor& src) {
  FF_ANY_DISPATCH(dst.dtype(), TD, {
    FF_ANY_DISPATCH(src.dtype(), TS, {
      TD* d = mptr<TD>(dst);
      const TS* s = ptr<TS>(src);
      if (dst.is_contiguous() && src.is_contiguous()) {
        parallel_for(dst.numel(), kGrain, threads_of(dst), [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) d[i] = TD(s[i]);
        });
      } else {
        const Shape* st[2] = {&dst.strides(), &src.strides()};
        parallel_for(dst.numel(), kGrain, threads_of(dst), [&](int64_t b, int64_t e) {
          strided_loop<2>(dst.shape(), st, b, e, [&](int64_t, const int64_t* off) { d[off[0]] = TD(s[off[1]]); });
        });
      }
    });
  });
}

void random_fill(const Tensor& out, uint64_t seed, uint64_t counter, bool normal, double a, double b) {
  FF_FLOAT_DISPATCH(out.dtype(), T, {
    T* o = mptr<T>(out);
    parallel_for(out.numel(), 4096, threads_of(out), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        uint64_t c = counter + uint64_t(i);
        o[i] = normal ? T(a + b * rng::normal_at(seed, c)) : T(a + (b - a) * rng::uniform_at(seed, c));
      }
    });
  });
}

// ---- elementwise ---------------------------------------------------------------------------------
template <class T>
static inline T apply_binary(Binary op, T x, T y) {
  switch (op) {
    case Binary::Add: return x + y;
    case Binary::Sub: return x - y;
    case Binary::Mul: return x * y;
    case Binary::Div: return x / y;
    case Binary::Pow: return std::pow(x, y);
    case Binary::Maximum: return x >= y ? x : y;
    case Binary::Minimum: return x <= y ? x : y;
  }
  return T(0);
}

template <class T, class F>
static void binary_loop(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const T* pa = ptr<T>(a);
  const T* pb = ptr<T>(b);
  T* po = mptr<T>(out);
  const int64_t n = out.numel();
  const int nt = threads_of(out);
  if (a.is_contiguous() && b.is_contiguous()) {
    parallel_for(n, kGrain, nt, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = f(pa[i], pb[i]);
    });
    return;
  }
  const int64_t nd = out.dim();
  // common case: b (or a) broadcast along leading dims and contiguous in the trailing block
  const Shape* st[2] = {&a.strides(), &b.strides()};
  parallel_for(n, kGrain, nt, [&](int64_t lo, int64_t hi) {
    strided_loop<2>(out.shape(), st, lo, hi, [&](int64_t i, const int64_t* off) { po[i] = f(pa[off[0]], pb[off[1]]); });
  });
  (void)nd;
}

void binary(Binary op, const Tensor& a, const Tensor& b, const Tensor& out) {
  FF_FLOAT_DISPATCH(out.dtype(), T, {
    switch (op) {
      case Binary::Add: binary_loop<T>(a, b, out, [](T x, T y) { return x + y; }); break;
      case Binary::Sub: binary_loop<T>(a, b, out, [](T x, T y) { return x - y; }); break;
      case Binary::Mul: binary_loop<T>(a, b, out, [](T x, T y) { return x * y; }); break;
      case Binary::Div: binary_loop<T>(a, b, out, [](T x, T y) { return x / y; }); break;
      default: binary_loop<T>(a, b, out, [op](T x, T y) { return apply_binary(op, x, y); }); break;
    }
  });
}

template <class T>
static inline T apply_unary(Unary op, T x, double pa, double pb) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Exp: return std::exp(x);
    case Unary::Log: return std::log(x);
    case Unary::Sqrt: return std::sqrt(x);
    case Unary::Rsqrt: return T(1) / std::sqrt(x);
    case Unary::Abs: return std::abs(x);
    case Unary::Sigmoid: return T(1) / (T(1) + std::exp(-x));
    case Unary::Relu: return x > T(0) ? x : T(0);
    case Unary::LeakyRelu: return x > T(0) ? x : T(pa) * x;
    case Unary::Tanh: return std::tanh(x);
    case Unary::Clamp: return x < T(pa) ? T(pa) : (x > T(pb) ? T(pb) : x);
    case Unary::PowScalar: return std::pow(x, T(pa));
    case Unary::AddScalar: return x + T(pa);
    case Unary::MulScalar: return x * T(pa);
    case Unary::Square: return x * x;
  }
  return x;
}

template <class T>
static inline T unary_grad(Unary op, T x, T y, double pa, double pb) {  // f'(x)
  switch (op) {
    case Unary::Neg: return T(-1);
    case Unary::Exp: return y;
    case Unary::Log: return T(1) / x;
    case Unary::Sqrt: return T(0.5) / y;
    case Unary::Rsqrt: return T(-0.5) * y * y * y;
    case Unary::Abs: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case Unary::Sigmoid: return y * (T(1) - y);
    case Unary::Relu: return x > T(0) ? T(1) : T(0);
    case Unary::LeakyRelu: return x > T(0) ? T(1) : T(pa);
    case Unary::Tanh: return T(1) - y * y;
    case Unary::Clamp: return (x >= T(pa) && x <= T(pb)) ? T(1) : T(0);
    case Unary::PowScalar: return T(pa) * std::pow(x, T(pa - 1));
    case Unary::AddScalar: return T(1);
    case Unary::MulScalar: return T(pa);
    case Unary::Square: return T(2) * x;
  }
  return T(0);
}

void unary(Unary op, const Tensor& x, UnaryParams p, const Tensor& out) {
  FF_FLOAT_DISPATCH(out.dtype(), T, {
    const T* px = ptr<T>(x);
    T* po = mptr<T>(out);
    const int64_t n = out.numel();
    if (x.is_contiguous()) {
      parallel_for(n, kGrain, threads_of(out), [&](int64_t lo, int64_t hi) {
        switch (op) {  // hot ops get their own vectorisable loops
          case Unary::Relu: for (int64_t i = lo; i < hi; ++i) po[i] = px[i] > T(0) ? px[i] : T(0); break;
          case Unary::MulScalar: for (int64_t i = lo; i < hi; ++i) po[i] = px[i] * T(p.a); break;
          case Unary::AddScalar: for (int64_t i = lo; i < hi; ++i) po[i] = px[i] + T(p.a); break;
          default: for (int64_t i = lo; i < hi; ++i) po[i] = apply_unary(op, px[i], p.a, p.b);
        }
      });
    } else {
      const Shape* st[1] = {&x.strides()};
      parallel_for(n, kGrain, threads_of(out), [&](int64_t lo, int64_t hi) {
        strided_loop<1>(out.shape(), st, lo, hi,
                        [&](int64_t i, const int64_t* off) { po[i] = apply_unary(op, px[off[0]], p.a, p.b); });
      });
    }
  });
}

void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& d_y, UnaryParams p, const Tensor& d_x) {
  FF_FLOAT_DISPATCH(d_x.dtype(), T, {
    const T* px = ptr<T>(x);
    const T* py = ptr<T>(y);
    const T* pd = ptr<T>(d_y);
    T* po = mptr<T>(d_x);
    parallel_for(d_x.numel(), kGrain, threads_of(d_x), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = pd[i] * unary_grad(op, px[i], py[i], p.a, p.b);
    });
  });
}

// ---- reductions ----------------------------------------------------------------------------------
template <class T>
static double row_sum(const T* x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; ++i) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}

void reduce_rows(Reduce op, const Tensor& x, int64_t outer, int64_t inner, const Tensor& out, const Tensor& argmax) {
  FF_FLOAT_DISPATCH(x.dtype(), T, {
    const T* px = ptr<T>(x);
    T* po = mptr<T>(out);
    int64_t* pa = argmax.defined() ? argmax.data<int64_t>() : nullptr;
    const int nt = threads_of(x);
    if (op != Reduce::Max && outer < nt && inner >= 2 * kGrain) {
      // few long rows: deterministic chunked partial sums, combined in chunk order
      for (int64_t r = 0; r < outer; ++r) {
        int chunks = parallel_chunks(inner, kGrain, nt);
        std::vector<double> part(size_t(chunks), 0.0);
        const T* row = px + r * inner;
        parallel_for(chunks, 1, nt, [&](int64_t lo, int64_t hi) {
          for (int64_t c = lo; c < hi; ++c) {
            int64_t b = inner * c / chunks, e = inner * (c + 1) / chunks;
            part[size_t(c)] = row_sum(row + b, e - b);
          }
        });
        double s = 0;
        for (double v : part) s += v;
        po[r] = T(op == Reduce::Mean ? s / double(inner) : s);
      }
      return;
    }
    parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), nt, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* row = px + r * inner;
        if (op == Reduce::Max) {
          T best = inner > 0 ? row[0] : -std::numeric_limits<T>::infinity();
          int64_t bi = 0;
          for (int64_t i = 1; i < inner; ++i)
            if (row[i] > best || (std::isnan(row[i]) && !std::isnan(best))) {
              best = row[i];
              bi = i;
            }
          po[r] = best;
          if (pa) pa[r] = bi;
        } else {
          double s = row_sum(row, inner);
          po[r] = T(op == Reduce::Mean ? s / double(inner) : s);
        }
      }
    });
  });
}

// ---- GEMM ----------------------------------------------------------------------------------------
// C[m×n] (row-major, ldc) = or += A·B with A, B read through (row, col) strides. f32 runs facefield's own
// packed kernel (tensor/sgemm_cpu.h); f64 (gradient checks) uses Eigen.
template <class T>
static void gemm_strided(int64_t m, int64_t n, int64_t k, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
                         int64_t rs_b, int64_t cs_b, T* c, int64_t ldc, bool accumulate, int threads) {
  if constexpr (std::is_same_v<T, float>) {
    sgemm(m, n, k, a, rs_a, cs_a, b, rs_b, cs_b, c, ldc, accumulate, threads);
  } else {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using S = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
    Eigen::Map<const Mat, 0, S> A(a, m, k, S(rs_a, cs_a));
    Eigen::Map<const Mat, 0, S> B(b, k, n, S(rs_b, cs_b));
    Eigen::Map<Mat, 0, Eigen::OuterStride<>> C(c, m, n, Eigen::OuterStride<>(ldc));
    Eigen::setNbThreads(threads);
    if (accumulate) C.noalias() += A * B;
    else C.noalias() = A * B;
  }
}

void gemm(const Tensor& a, const Tensor& b, const Tensor& out, int64_t batch, int64_t m, int64_t n, int64_t k,
          bool trans_a, bool trans_b, int64_t lda, int64_t ldb, int64_t stride_a, int64_t stride_b) {
  FF_FLOAT_DISPATCH(out.dtype(), T, {
    const T* pa = ptr<T>(a);
    const T* pb = ptr<T>(b);
    T* pc = mptr<T>(out);
    const int nt = threads_of(out);
    const int64_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1, rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;
    if (batch >= nt && batch > 1 && m * n * k < (int64_t(1) << 22)) {  // many small products: one per thread
      parallel_for(batch, 1, nt, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i)
          gemm_strided<T>(m, n, k, pa + i * stride_a, rsa, csa, pb + i * stride_b, rsb, csb, pc + i * m * n, n, false, 1);
      });
    } else {
      for (int64_t i = 0; i < batch; ++i)
        gemm_strided<T>(m, n, k, pa + i * stride_a, rsa, csa, pb + i * stride_b, rsb, csb, pc + i * m * n, n, false, nt);
    }
  });
}

// ---- convolution (Winograd for large 3×3 stride-1 f32, else im2col + GEMM) --------------------------
namespace {
struct ConvGeom {
  int64_t N, C, H, W, O, kh, kw, Ho, Wo, G, Cg, Og;
  kernels::Conv2dParams p;
  ConvGeom(const Shape& x, const Shape& w, const Shape& y, kernels::Conv2dParams p_) : p(p_) {
    N = x[0]; C = x[1]; H = x[2]; W = x[3];
    O = w[0]; kh = w[2]; kw = w[3];
    Ho = y[2]; Wo = y[3];
    G = p.groups; Cg = C / G; Og = O / G;
  }
  bool pointwise() const { return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0; }
};

// col [Cg*kh*kw, Ho*Wo] from x (one sample, one group: [Cg, H, W])
template <class T>
void im2col(const T* x, T* col, const ConvGeom& g, int nt) {
  const int64_t rows = g.Cg * g.kh * g.kw, HW = g.Ho * g.Wo;
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(HW, 1)), nt, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t c = r / (g.kh * g.kw), ki = (r / g.kw) % g.kh, kj = r % g.kw;
      const T* xc = x + c * g.H * g.W;
      T* dst = col + r * HW;
      for (int64_t oy = 0; oy < g.Ho; ++oy) {
        int64_t iy = oy * g.p.stride_h - g.p.pad_h + ki;
        T* d = dst + oy * g.Wo;
        if (iy < 0 || iy >= g.H) {
          std::fill(d, d + g.Wo, T(0));
          continue;
        }
        const T* xr = xc + iy * g.W;
        if (g.p.stride_w == 1) {
          int64_t off = kj - g.p.pad_w;
          int64_t lo_x = std::max<int64_t>(0, -off), hi_x = std::min<int64_t>(g.Wo, g.W - off);
          for (int64_t ox = 0; ox < std::min(lo_x, g.Wo); ++ox) d[ox] = T(0);
          if (hi_x > lo_x) std::memcpy(d + lo_x, xr + lo_x + off, size_t(hi_x - lo_x) * sizeof(T));
          for (int64_t ox = std::max(hi_x, lo_x); ox < g.Wo; ++ox) d[ox] = T(0);
        } else {
          for (int64_t ox = 0; ox < g.Wo; ++ox) {
            int64_t ix = ox * g.p.stride_w - g.p.pad_w + kj;
            d[ox] = (ix >= 0 && ix < g.W) ? xr[ix] : T(0);
          }
        }
      }
    }
  });
}

// x [Cg, H, W] += col2im(col); parallel over channels (no write conflicts)
template <class T>
void col2im_add(const T* col, T* x, const ConvGeom& g, int nt) {
  const int64_t HW = g.Ho * g.Wo;
  parallel_for(g.Cg, 1, nt, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      T* xc = x + c * g.H * g.W;
      for (int64_t ki = 0; ki < g.kh; ++ki)
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const T* src = col + ((c * g.kh + ki) * g.kw + kj) * HW;
          for (int64_t oy = 0; oy < g.Ho; ++oy) {
            int64_t iy = oy * g.p.stride_h - g.p.pad_h + ki;
            if (iy < 0 || iy >= g.H) continue;
            T* xr = xc + iy * g.W;
            const T* s = src + oy * g.Wo;
            for (int64_t ox = 0; ox < g.Wo; ++ox) {
              int64_t ix = ox * g.p.stride_w - g.p.pad_w + kj;
              if (ix >= 0 && ix < g.W) xr[ix] += s[ox];
            }
          }
        }
    }
  });
}

}  // namespace

namespace {
// Stride-1 f32 convolutions go through a zero-padded copy (ShiftB/ShiftTB in sgemm_cpu.h).
// (on images narrower than 16 px the padded grid's kw − 1 extra columns per row cost more than im2col's gathers)
bool use_shift(const ConvGeom& g) { return g.p.stride_h == 1 && g.p.stride_w == 1 && !g.pointwise() && g.Wo >= 16; }
struct Padded {
  int64_t Hp, Wp, plane;
  std::vector<float> buf;  // [Cg, Hp, Wp] + kw slack
  void fill(const float* x, const ConvGeom& g) {
    Hp = g.H + 2 * g.p.pad_h, Wp = g.W + 2 * g.p.pad_w, plane = Hp * Wp;
    buf.assign(size_t(g.Cg * plane + g.kw + 1), 0.f);
    for (int64_t c = 0; c < g.Cg; ++c)
      for (int64_t y = 0; y < g.H; ++y)
        std::memcpy(buf.data() + c * plane + (y + g.p.pad_h) * Wp + g.p.pad_w, x + (c * g.H + y) * g.W,
                    size_t(g.W) * sizeof(float));
  }
};

ConvShape conv_shape(const ConvGeom& g) {
  return {g.Cg, g.H, g.W, g.kh, g.kw, g.Ho, g.Wo, g.p.stride_h, g.p.stride_w, g.p.pad_h, g.p.pad_w};
}

// 3×3 stride-1 f32 convolutions with enough channels and pixels go through Winograd F(2×2, 3×3)
// (tensor/winograd_cpu.h)
bool use_winograd(const ConvGeom& g, Conv3x3Shape& s) {
  if (g.kh != 3 || g.kw != 3 || g.p.stride_h != 1 || g.p.stride_w != 1) return false;
  s = {g.N, g.C, g.H, g.W, g.O, g.G, g.p.pad_h, g.p.pad_w};
  return winograd_profitable(s);
}

// y = conv(x, w) + bias for raw NCHW buffers. f32 runs implicit GEMM (im2col inside the B packing);
// f64 materialises the column matrix and uses Eigen.
template <class T>
void conv_forward_impl(const T* px, const T* pw, const T* pb, T* py, const ConvGeom& g, int nt) {
  if constexpr (std::is_same_v<T, float>) {
    Conv3x3Shape s;
    if (use_winograd(g, s)) {
      winograd_conv3x3(px, pw, pb, py, s, nt);
      return;
    }
  }
  const int64_t K = g.Cg * g.kh * g.kw, HW = g.Ho * g.Wo;
  const int64_t tasks = g.N * g.G;
  constexpr bool implicit = std::is_same_v<T, float>;
  const bool need_col = !implicit && !g.pointwise();
  auto run = [&](int64_t task, T* col, int inner_threads) {
    int64_t n = task / g.G, gi = task % g.G;
    const T* xs = px + (n * g.C + gi * g.Cg) * g.H * g.W;
    const T* wg = pw + gi * g.Og * K;
    T* ys = py + (n * g.O + gi * g.Og) * HW;
    if constexpr (implicit) {
      if (use_shift(g)) {  // on the padded grid, then drop the kw − 1 extra columns of each row
        thread_local Padded xp;
        thread_local std::vector<float> yp;
        xp.fill(xs, g);
        const int64_t Np = g.Ho * xp.Wp;
        yp.resize(size_t(g.Og * Np));
        sgemm(g.Og, Np, K, wg, K, 1, ShiftB(xp.buf.data(), xp.plane, xp.Wp, g.kh, g.kw), yp.data(), Np, false,
              inner_threads);
        for (int64_t o = 0; o < g.Og; ++o)
          for (int64_t oy = 0; oy < g.Ho; ++oy)
            std::memcpy(ys + (o * g.Ho + oy) * g.Wo, yp.data() + o * Np + oy * xp.Wp, size_t(g.Wo) * sizeof(float));
      } else if (!g.pointwise()) {
        sgemm(g.Og, HW, K, wg, K, 1, Im2colB(xs, conv_shape(g)), ys, HW, false, inner_threads);
      } else {
        sgemm(g.Og, HW, K, wg, K, 1, xs, HW, 1, ys, HW, false, inner_threads);
      }
    } else {
      const T* cm = xs;
      if (!g.pointwise()) {
        im2col<T>(xs, col, g, inner_threads);
        cm = col;
      }
      gemm_strided<T>(g.Og, HW, K, wg, K, 1, cm, HW, 1, ys, HW, false, inner_threads);
    }
    if (pb) {
      for (int64_t o = 0; o < g.Og; ++o) {
        const T bo = pb[gi * g.Og + o];
        for (int64_t i = 0; i < HW; ++i) ys[o * HW + i] += bo;
      }
    }
  };
  if (tasks >= nt && nt > 1 && g.Og * HW * K < (int64_t(1) << 24)) {  // many small convs: one per thread
    parallel_for(tasks, 1, nt, [&](int64_t lo, int64_t hi) {
      std::vector<T> col(need_col ? size_t(K * HW) : 0);
      for (int64_t t = lo; t < hi; ++t) run(t, col.data(), 1);
    });
  } else {
    std::vector<T> col(need_col ? size_t(K * HW) : 0);
    for (int64_t t = 0; t < tasks; ++t) run(t, col.data(), nt);
  }
}
}  // namespace

void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::Conv2dParams p, const Tensor& y) {
  ConvGeom g(x.shape(), w.shape(), y.shape(), p);
  FF_FLOAT_DISPATCH(x.dtype(), T, {
    conv_forward_impl<T>(ptr<T>(x), ptr<T>(w), bias.defined() ? ptr<T>(bias) : nullptr, mptr<T>(y), g, threads_of(x));
  });
}

void conv2d_backward_input(const Tensor& d_y, const Tensor& w, kernels::Conv2dParams p, const Tensor& d_x) {
  ConvGeom g(d_x.shape(), w.shape(), d_y.shape(), p);
  if (d_y.dtype() == DType::F32 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= g.kh - 1 && p.pad_w <= g.kw - 1) {
    // stride 1: d_x is a forward convolution of d_y with the flipped, channel-transposed kernel
    // w2[g·Cg + c, o, a, b] = w[g·Og + o, c, kh−1−a, kw−1−b], padding k−1−p (no column buffer, no col2im)
    // (flipping both kernel dims of a contiguous kh×kw block reverses it; parallel over blocks of 16 rows
    // (gi, c) of w2, so that each o reads one contiguous run of w)
    thread_local std::vector<float> w2buf;  // (named through a pointer below: the lambda runs on other threads)
    w2buf.resize(size_t(g.C * g.Og * g.kh * g.kw));
    float* w2 = w2buf.data();
    const float* pw = w.data<float>();
    const int64_t khw = g.kh * g.kw, cb = 16, nb = (g.Cg + cb - 1) / cb;
    parallel_for(g.G * nb, 1, threads_of(d_y), [&](int64_t lo, int64_t hi) {
      for (int64_t blk = lo; blk < hi; ++blk) {
        const int64_t gi = blk / nb, c0 = (blk % nb) * cb, c1 = std::min(g.Cg, c0 + cb);
        for (int64_t o = 0; o < g.Og; ++o)
          for (int64_t c = c0; c < c1; ++c) {
            const float* src = pw + ((gi * g.Og + o) * g.Cg + c) * khw;
            float* dst = w2 + ((gi * g.Cg + c) * g.Og + o) * khw;
            for (int64_t r = 0; r < khw; ++r) dst[r] = src[khw - 1 - r];
          }
      }
    });
    kernels::Conv2dParams p2{1, 1, int(g.kh - 1 - p.pad_h), int(g.kw - 1 - p.pad_w), p.groups};
    ConvGeom g2(d_y.shape(), {g.C, g.Og, g.kh, g.kw}, d_x.shape(), p2);
    conv_forward_impl<float>(d_y.data<float>(), w2, nullptr, d_x.data<float>(), g2, threads_of(d_y));
    return;
  }
  FF_FLOAT_DISPATCH(d_y.dtype(), T, {
    const T* pd = ptr<T>(d_y);
    const T* pw = ptr<T>(w);
    T* px = mptr<T>(d_x);
    const int nt = threads_of(d_y);
    const int64_t K = g.Cg * g.kh * g.kw, HW = g.Ho * g.Wo;
    const int64_t tasks = g.N * g.G;
    auto run = [&](int64_t task, T* col, int inner_threads) {
      int64_t n = task / g.G, gi = task % g.G;
      const T* wg = pw + gi * g.Og * K;                    // [Og, K]; used transposed
      const T* dm = pd + (n * g.O + gi * g.Og) * HW;       // [Og, HW]
      T* xs = px + (n * g.C + gi * g.Cg) * g.H * g.W;
      if (g.pointwise()) {
        gemm_strided<T>(K, HW, g.Og, wg, 1, K, dm, HW, 1, xs, HW, false, inner_threads);
        return;
      }
      gemm_strided<T>(K, HW, g.Og, wg, 1, K, dm, HW, 1, col, HW, false, inner_threads);
      std::fill(xs, xs + g.Cg * g.H * g.W, T(0));
      col2im_add<T>(col, xs, g, inner_threads);
    };
    if (tasks >= nt && nt > 1 && g.Og * HW * K < (int64_t(1) << 24)) {
      parallel_for(tasks, 1, nt, [&](int64_t lo, int64_t hi) {
        std::vector<T> col(size_t(K * HW));
        for (int64_t t = lo; t < hi; ++t) run(t, col.data(), 1);
      });
    } else {
      std::vector<T> col(size_t(K * HW));
      for (int64_t t = 0; t < tasks; ++t) run(t, col.data(), nt);
    }
  });
}

void conv2d_backward_weight(const Tensor& d_y, const Tensor& x, kernels::Conv2dParams p, const Tensor& d_w) {
  ConvGeom g(x.shape(), d_w.shape(), d_y.shape(), p);
  Conv3x3Shape ws;
  if (d_y.dtype() == DType::F32 && use_winograd(g, ws)) {
    winograd_conv3x3_backward_weight(d_y.data<float>(), x.data<float>(), d_w.data<float>(), ws, threads_of(d_y));
    return;
  }
  FF_FLOAT_DISPATCH(d_y.dtype(), T, {
    const T* pd = ptr<T>(d_y);
    const T* px = ptr<T>(x);
    T* pw = mptr<T>(d_w);
    const int nt = threads_of(d_y);
    const int64_t K = g.Cg * g.kh * g.kw, HW = g.Ho * g.Wo;
    std::fill(pw, pw + g.O * K, T(0));
    // groups are independent outputs: parallel over groups when there are enough, else threaded GEMMs
    auto run_group = [&](int64_t gi, T* col, int inner_threads) {
      T* wg = pw + gi * g.Og * K;  // [Og, K] += d_y [Og, HW] · colᵀ [HW, K]
      for (int64_t n = 0; n < g.N; ++n) {
        const T* xs = px + (n * g.C + gi * g.Cg) * g.H * g.W;
        if constexpr (std::is_same_v<T, float>) {
          if (use_shift(g)) {  // dW += dY' · ShiftTB, dY' = d_y on the padded grid (zeros in the extra columns)
            thread_local Padded xp;
            thread_local std::vector<float> dyp;
            xp.fill(reinterpret_cast<const float*>(xs), g);
            const int64_t Np = g.Ho * xp.Wp;
            dyp.assign(size_t(g.Og * Np), 0.f);
            const float* dy = reinterpret_cast<const float*>(pd) + (n * g.O + gi * g.Og) * HW;
            for (int64_t o = 0; o < g.Og; ++o)
              for (int64_t oy = 0; oy < g.Ho; ++oy)
                std::memcpy(dyp.data() + o * Np + oy * xp.Wp, dy + (o * g.Ho + oy) * g.Wo, size_t(g.Wo) * sizeof(float));
            sgemm(g.Og, K, Np, dyp.data(), Np, 1, ShiftTB(xp.buf.data(), xp.plane, xp.Wp, g.kh, g.kw),
                  reinterpret_cast<float*>(wg), K, true, inner_threads);
            continue;
          }
          if (!g.pointwise()) {
            // (casts only matter for the discarded f64 instantiation: this lambda is not a template)
            sgemm(g.Og, K, HW, reinterpret_cast<const float*>(pd) + (n * g.O + gi * g.Og) * HW, HW, 1,
                  Im2colTB(reinterpret_cast<const float*>(xs), conv_shape(g)), reinterpret_cast<float*>(wg), K, true,
                  inner_threads);
            continue;
          }
        }
        const T* cm = xs;
        if (!g.pointwise()) {
          im2col<T>(xs, col, g, inner_threads);
          cm = col;
        }
        gemm_strided<T>(g.Og, K, HW, pd + (n * g.O + gi * g.Og) * HW, HW, 1, cm, 1, HW, wg, K, true, inner_threads);
      }
    };
    const bool need_col = !std::is_same_v<T, float> && !g.pointwise();
    if (g.G >= nt && nt > 1) {
      parallel_for(g.G, 1, nt, [&](int64_t lo, int64_t hi) {
        std::vector<T> col(need_col ? size_t(K * HW) : 0);
        for (int64_t gi = lo; gi < hi; ++gi) run_group(gi, col.data(), 1);
      });
    } else {
      std::vector<T> col(need_col ? size_t(K * HW) : 0);
      for (int64_t gi = 0; gi < g.G; ++gi) run_group(gi, col.data(), nt);
    }
  });
}

// ---- indexing ------------------------------------------------------------------------------------
void index_select(const Tensor& x, const Tensor& index, int64_t A, int64_t D, int64_t B, const Tensor& out) {
  FF_ANY_DISPATCH(x.dtype(), T, {
    const T* px = ptr<T>(x);
    T* po = mptr<T>(out);
    const int64_t* idx = index.data<int64_t>();
    const int64_t K = index.numel();
    parallel_for(A * K, std::max<int64_t>(1, kGrain / std::max<int64_t>(B, 1)), threads_of(x), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t a = r / K, k = r % K;
        std::memcpy(po + r * B, px + (a * D + idx[k]) * B, size_t(B) * sizeof(T));
      }
    });
  });
}

void index_add(const Tensor& src, const Tensor& index, int64_t A, int64_t D, int64_t B, const Tensor& out) {
  FF_FLOAT_DISPATCH(src.dtype(), T, {
    const T* ps = ptr<T>(src);
    T* po = mptr<T>(out);
    const int64_t* idx = index.data<int64_t>();
    const int64_t K = index.numel();
    // parallel over (a, column block): every output element is written by one thread, in k order
    const int64_t cb = 64, nblk = (B + cb - 1) / cb;
    parallel_for(A * nblk, 1, threads_of(src), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t a = r / nblk, b0 = (r % nblk) * cb, b1 = std::min(B, b0 + cb);
        for (int64_t k = 0; k < K; ++k) {
          const T* s = ps + (a * K + k) * B;
          T* o = po + (a * D + idx[k]) * B;
          for (int64_t b = b0; b < b1; ++b) o[b] += s[b];
        }
      }
    });
  });
}

namespace {
// decompose index tensor positions into (outer, along-dim, inner) for gather/scatter on contiguous tensors
struct DimSplit {
  int64_t outer = 1, len = 1, inner = 1;
  DimSplit(const Shape& s, int64_t dim) {
    for (int64_t i = 0; i < dim; ++i) outer *= s[i];
    len = s[dim];
    for (size_t i = size_t(dim) + 1; i < s.size(); ++i) inner *= s[i];
  }
};
}  // namespace

// index has the output's shape; x's other dims are >= index's (torch allows smaller index dims)
void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) {
  FF_FLOAT_DISPATCH(x.dtype(), T, {
    const T* px = ptr<T>(x);
    T* po = mptr<T>(out);
    const int64_t* idx = index.data<int64_t>();
    const Shape& is = index.shape();
    const Shape xs = contiguous_strides(x.shape());
    const Shape ist = contiguous_strides(is);
    const int64_t nd = index.dim();
    parallel_for(index.numel(), kGrain, threads_of(x), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        int64_t off = 0, rem = i;
        for (int64_t d = 0; d < nd; ++d) {
          int64_t c = rem / ist[d];
          rem %= ist[d];
          off += (d == dim ? idx[i] : c) * xs[d];
        }
        po[i] = px[off];
      }
    });
  });
}

void scatter_add(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& out) {
  FF_FLOAT_DISPATCH(src.dtype(), T, {
    const T* ps = ptr<T>(src);
    T* po = mptr<T>(out);
    const int64_t* idx = index.data<int64_t>();
    const Shape& is = index.shape();
    const Shape os = contiguous_strides(out.shape());
    const Shape ist = contiguous_strides(is);
    const Shape sst = contiguous_strides(src.shape());
    const int64_t nd = index.dim();
    // sequential over the scatter dim per (outer, inner) position: threads own disjoint output columns
    int64_t other = index.numel() / std::max<int64_t>(is[dim], 1);
    parallel_for(other, 256, threads_of(src), [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        // j enumerates index positions with coordinate 0 along dim
        int64_t rem = j, base_i = 0, base_o = 0, base_s = 0;
        for (int64_t d = nd - 1; d >= 0; --d) {
          if (d == dim) continue;
          int64_t c = rem % is[d];
          rem /= is[d];
          base_i += c * ist[d];
          base_o += c * os[d];
          base_s += c * sst[d];
        }
        for (int64_t k = 0; k < is[dim]; ++k) {
          int64_t ii = base_i + k * ist[dim];
          po[base_o + idx[ii] * os[dim]] += ps[base_s + k * sst[dim]];
        }
      }
    });
  });
}

// ---- grid_sample ---------------------------------------------------------------------------------
namespace {
template <class T>
struct Bilinear {
  int64_t x0, y0;
  T wx1, wy1;  // weights of x0+1 and y0+1
  T ix, iy;
};
template <class T>
inline Bilinear<T> bilinear_setup(T gx, T gy, int64_t W, int64_t H) {
  Bilinear<T> b;
  b.ix = ((gx + T(1)) * T(W) - T(1)) / T(2);
  b.iy = ((gy + T(1)) * T(H) - T(1)) / T(2);
  T fx = std::floor(b.ix), fy = std::floor(b.iy);
  b.x0 = int64_t(fx);
  b.y0 = int64_t(fy);
  b.wx1 = b.ix - fx;
  b.wy1 = b.iy - fy;
  return b;
}
}  // namespace

void grid_sample(const Tensor& input, const Tensor& grid, const Tensor& out) {
  FF_FLOAT_DISPATCH(input.dtype(), T, {
    const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
    const int64_t P = grid.size(1) * grid.size(2);
    const T* pin = ptr<T>(input);
    const T* pg = ptr<T>(grid);
    T* po = mptr<T>(out);
    parallel_for(N * P, std::max<int64_t>(1, 2048 / std::max<int64_t>(C, 1)), threads_of(input), [&](int64_t lo, int64_t hi) {
      for (int64_t q = lo; q < hi; ++q) {
        int64_t n = q / P, pidx = q % P;
        auto b = bilinear_setup<T>(pg[q * 2], pg[q * 2 + 1], W, H);
        T w[4] = {(1 - b.wx1) * (1 - b.wy1), b.wx1 * (1 - b.wy1), (1 - b.wx1) * b.wy1, b.wx1 * b.wy1};
        int64_t xs[4] = {b.x0, b.x0 + 1, b.x0, b.x0 + 1}, ys[4] = {b.y0, b.y0, b.y0 + 1, b.y0 + 1};
        int64_t off[4];
        for (int c4 = 0; c4 < 4; ++c4) {
          bool ok = xs[c4] >= 0 && xs[c4] < W && ys[c4] >= 0 && ys[c4] < H;
          off[c4] = ok ? ys[c4] * W + xs[c4] : -1;
          if (!ok) w[c4] = 0, off[c4] = 0;
        }
        const T* src = pin + n * C * H * W;
        T* dst = po + n * C * P + pidx;
        for (int64_t c = 0; c < C; ++c) {
          const T* s = src + c * H * W;
          dst[c * P] = w[0] * s[off[0]] + w[1] * s[off[1]] + w[2] * s[off[2]] + w[3] * s[off[3]];
        }
      }
    });
  });
}

void grid_sample_backward(const Tensor& d_out, const Tensor& input, const Tensor& grid, const Tensor& d_input,
                          const Tensor& d_grid) {
  FF_FLOAT_DISPATCH(input.dtype(), T, {
    const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
    const int64_t P = grid.size(1) * grid.size(2);
    const T* pin = ptr<T>(input);
    const T* pg = ptr<T>(grid);
    const T* pd = ptr<T>(d_out);
    const int nt = threads_of(input);
    if (d_input.defined()) {
      // corner offsets and weights once per sample point (-1: outside, zero padding) ...
      std::vector<int32_t> coff(size_t(N * P * 4));
      std::vector<T> cw(size_t(N * P * 4));
      parallel_for(N * P, 1024, nt, [&](int64_t lo, int64_t hi) {
        for (int64_t q = lo; q < hi; ++q) {
          auto b = bilinear_setup<T>(pg[q * 2], pg[q * 2 + 1], W, H);
          const T w[4] = {(1 - b.wx1) * (1 - b.wy1), b.wx1 * (1 - b.wy1), (1 - b.wx1) * b.wy1, b.wx1 * b.wy1};
          const int64_t xs[4] = {b.x0, b.x0 + 1, b.x0, b.x0 + 1}, ys[4] = {b.y0, b.y0, b.y0 + 1, b.y0 + 1};
          for (int c4 = 0; c4 < 4; ++c4) {
            const bool ok = xs[c4] >= 0 && xs[c4] < W && ys[c4] >= 0 && ys[c4] < H;
            coff[size_t(q * 4 + c4)] = ok ? int32_t(ys[c4] * W + xs[c4]) : -1;
            cw[size_t(q * 4 + c4)] = w[c4];
          }
        }
      });
      // ... then parallel over (n, c) planes: each thread owns whole planes of d_input → no races, fixed order
      T* pdi = mptr<T>(d_input);
      parallel_for(N * C, 1, nt, [&](int64_t lo, int64_t hi) {
        for (int64_t nc = lo; nc < hi; ++nc) {
          const int64_t n = nc / C;
          T* plane = pdi + nc * H * W;
          const T* dplane = pd + nc * P;
          const int32_t* o = coff.data() + n * P * 4;
          const T* w = cw.data() + n * P * 4;
          for (int64_t pidx = 0; pidx < P; ++pidx) {
            const T go = dplane[pidx];
            for (int c4 = 0; c4 < 4; ++c4) {
              const int32_t off = o[pidx * 4 + c4];
              if (off >= 0) plane[off] += w[pidx * 4 + c4] * go;
            }
          }
        }
      });
    }
    if (d_grid.defined()) {
      T* pdg = mptr<T>(d_grid);
      parallel_for(N * P, std::max<int64_t>(1, 2048 / std::max<int64_t>(C, 1)), nt, [&](int64_t lo, int64_t hi) {
        for (int64_t q = lo; q < hi; ++q) {
          int64_t n = q / P, pidx = q % P;
          auto b = bilinear_setup<T>(pg[q * 2], pg[q * 2 + 1], W, H);
          int64_t xs[4] = {b.x0, b.x0 + 1, b.x0, b.x0 + 1}, ys[4] = {b.y0, b.y0, b.y0 + 1, b.y0 + 1};
          bool ok[4];
          int64_t off[4];
          for (int c4 = 0; c4 < 4; ++c4) {
            ok[c4] = xs[c4] >= 0 && xs[c4] < W && ys[c4] >= 0 && ys[c4] < H;
            off[c4] = ok[c4] ? ys[c4] * W + xs[c4] : 0;
          }
          // d/dix and d/diy of the bilinear weights
          T dwx[4] = {-(1 - b.wy1), (1 - b.wy1), -b.wy1, b.wy1};
          T dwy[4] = {-(1 - b.wx1), -b.wx1, (1 - b.wx1), b.wx1};
          T gx = 0, gy = 0;
          for (int64_t c = 0; c < C; ++c) {
            const T* s = pin + (n * C + c) * H * W;
            T go = pd[(n * C + c) * P + pidx];
            for (int c4 = 0; c4 < 4; ++c4)
              if (ok[c4]) {
                T v = s[off[c4]] * go;
                gx += dwx[c4] * v;
                gy += dwy[c4] * v;
              }
          }
          pdg[q * 2] = gx * T(W) / T(2);
          pdg[q * 2 + 1] = gy * T(H) / T(2);
        }
      });
    }
  });
}

// ---- Adam ----------------------------------------------------------------------------------------
template <class T>
static void adam_range(T* p, const T* g, T* m, T* v, int64_t lo, int64_t hi, const kernels::AdamParams& a) {
  const T b1 = T(a.beta1), b2 = T(a.beta2), wd = T(a.weight_decay);
  const double bc1 = 1.0 - std::pow(a.beta1, double(a.step)), bc2 = 1.0 - std::pow(a.beta2, double(a.step));
  const T step_size = T(a.lr / bc1), inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2)), eps = T(a.eps);
  for (int64_t i = lo; i < hi; ++i) {
    T gi = g[i] + wd * p[i];
    T mi = b1 * m[i] + (T(1) - b1) * gi;
    T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const kernels::AdamParams& p,
               const Tensor& rows, int64_t nrows) {
  FF_FLOAT_DISPATCH(param.dtype(), T, {
    T* pp = mptr<T>(param);
    const T* pg = ptr<T>(grad);
    T* pm = mptr<T>(m);
    T* pv = mptr<T>(v);
    if (!rows.defined()) {
      parallel_for(param.numel(), kGrain, threads_of(param), [&](int64_t lo, int64_t hi) { adam_range(pp, pg, pm, pv, lo, hi, p); });
      return;
    }
    const int64_t len = param.numel() / nrows;
    const int64_t* r = rows.data<int64_t>();
    for (int64_t i = 0; i < rows.numel(); ++i) {
      int64_t o = r[i] * len;
      adam_range(pp + o, pg + o, pm + o, pv + o, 0, len, p);
    }
  });
}

bool all_finite(const Tensor& x) {
  bool ok = true;
  FF_FLOAT_DISPATCH(x.dtype(), T, {
    const T* p = ptr<T>(x);
    for (int64_t i = 0; i < x.numel(); ++i)
      if (!std::isfinite(p[i])) {
        ok = false;
        break;
      }
  });
  return ok;
}

}  // namespace ff::cpu
