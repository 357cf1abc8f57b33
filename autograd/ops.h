// autograd/ops.h — the differentiable ops of facefield (free functions in namespace ff).
//
// Each op computes its result with tensor/kernels.h and records its backward rule (autograd/graph.h).
// Forward and backward rules sit side by side in autograd/ops.cpp. Broadcasting follows NumPy; the
// gradient of a broadcast input is summed back to its shape. Views (reshape, permute, slice, expand …)
// share storage in the forward pass. Shapes, dtypes and devices are checked with messages naming the op.
#pragma once
#include <vector>

#include "autograd/graph.h"
#include "tensor/kernels.h"

namespace ff {

// ---- elementwise ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);  // a > 0 where b is not an integer
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor pow(const Tensor& a, double p);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double slope = 0.2);
Tensor tanh(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }

// ---- reductions (dims empty = all) ----
Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor max(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);

// ---- linear algebra ----
Tensor matmul(const Tensor& a, const Tensor& b);  // [M,K]·[K,N] or batched [B,M,K]·[B,K,N] (batch 1 broadcasts)
Tensor linear(const Tensor& x /*[...,in]*/, const Tensor& w /*[out,in]*/, const Tensor& b /*[out] or undefined*/);

// ---- convolution (NCHW) ----
Tensor conv2d(const Tensor& x, const Tensor& w /*[O,C/g,kh,kw]*/, const Tensor& b, kernels::Conv2dParams p = {});
// transposed convolution, weight [C_in, C_out/groups, kh, kw] (PyTorch layout)
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 2, int padding = 0,
                        int output_padding = 0, int groups = 1);

// ---- shape and views ----
Tensor reshape(const Tensor& x, Shape shape);  // one dim may be -1; a view when the layout allows
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);  // end clamps; negatives wrap
Tensor select(const Tensor& x, int64_t dim, int64_t index);                                 // drops dim
Tensor expand(const Tensor& x, const Shape& shape);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
// constant padding of the trailing dims, PyTorch F.pad order: {last_before, last_after, prev_before, ...};
// negative pads crop
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);

// ---- indexing ----
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src);  // base + scattered src

// ---- sampling ----
Tensor grid_sample(const Tensor& input /*[N,C,H,W]*/, const Tensor& grid /*[N,Ho,Wo,2]*/);

}  // namespace ff
