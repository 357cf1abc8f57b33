// tensor/kernels.h — raw (non-differentiable) tensor kernels, dispatched to the CPU or CUDA backend.
//
// These are the building blocks of autograd/ops.h: forward ops and the pieces their backward rules need.
// Each function validates dtypes, devices and shapes once (throwing ff::Error naming the op and the
// shapes), allocates its output, normalises layouts (broadcast views, permutations, contiguity) and
// then calls the backend with the simple, pre-checked arguments declared in tensor/backend.h.
// Floating ops take F32 on every device and F64 on the CPU; index tensors are I64 (I32 is converted).
// Outputs are fresh contiguous tensors on the inputs' device.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ff::kernels {

// ---- elementwise --------------------------------------------------------------------------------
enum class Binary : uint8_t { Add, Sub, Mul, Div, Pow, Maximum, Minimum };
enum class Unary : uint8_t {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sigmoid, Relu, LeakyRelu, Tanh, Clamp, PowScalar, AddScalar, MulScalar, Square
};
// Parameters of the parameterised unary ops: LeakyRelu slope=a; Clamp to [a, b]; PowScalar x^a; AddScalar x+a;
// MulScalar x·a. Gradients at kinks: relu/leaky_relu use the right derivative at 0 (x > 0 → 1), clamp passes
// the gradient where lo <= x <= hi, abs has gradient 0 at 0.
struct UnaryParams {
  double a = 0, b = 0;
};
const char* binary_name(Binary op);
const char* unary_name(Unary op);

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);  // NumPy rules
Tensor expand_to(const Tensor& t, const Shape& shape, const char* op);  // raw 0-stride view
Tensor binary(Binary op, const Tensor& a, const Tensor& b);
Tensor unary(Unary op, const Tensor& x, UnaryParams p = {});
// d_x = d_y · f'(x); y = f(x) is passed so exp/sigmoid/tanh/sqrt/rsqrt reuse it
Tensor unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& d_y, UnaryParams p = {});

// ---- reductions ---------------------------------------------------------------------------------
enum class Reduce : uint8_t { Sum, Mean, Max };
// dims empty = all dims. Max: also returns, in *argmax (I64, the output's shape), the flat index of the
// maximum within the reduced dims (first one on ties).
Tensor reduce(Reduce op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, Tensor* argmax = nullptr);
Tensor sum_to(const Tensor& x, const Shape& shape);  // sum out broadcast dims so the result has `shape`
// gradient of reduce(Max): d_out (reduced shape, keepdim or not) routed to the argmax positions
Tensor max_backward(const Tensor& d_out, const Tensor& argmax, const Shape& x_shape, std::vector<int64_t> dims);

// ---- linear algebra -----------------------------------------------------------------------------
// a [M,K] or [B,M,K], b [K,N] or [B,K,N] (a batch of 1 broadcasts); trans_* transposes the last two dims.
// Transposed views are used without copies. out = a·b, [M,N] or [B,M,N].
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// ---- convolution (NCHW; weight [O, C/groups, kh, kw]) --------------------------------------------
}  // namespace ff::kernels
namespace ff {
// defined in ff (not ff::kernels) so argument-dependent lookup of conv2d(x, w, b, params) finds only the
// differentiable ff::conv2d
struct Conv2dParams {
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, groups = 1;
};
}  // namespace ff
namespace ff::kernels {
using ff::Conv2dParams;
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias /*[O] or undefined*/, Conv2dParams p);
Tensor conv2d_backward_input(const Tensor& d_y, const Tensor& w, const Shape& x_shape, Conv2dParams p);
Tensor conv2d_backward_weight(const Tensor& d_y, const Tensor& x, const Shape& w_shape, Conv2dParams p);
Shape conv2d_output_shape(const Shape& x, const Shape& w, Conv2dParams p);

// ---- indexing -----------------------------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index /*[K]*/);
// zeros(shape) with src's slices added at `index` along dim (duplicates accumulate): index_select's adjoint
Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);  // torch.gather
Tensor scatter_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src);  // gather's adjoint

// ---- sampling -----------------------------------------------------------------------------------
// torch.nn.functional.grid_sample(input [N,C,H,W], grid [N,Ho,Wo,2] (x, y in [-1, 1]), bilinear,
// padding_mode='zeros', align_corners=False) → [N,C,Ho,Wo]
Tensor grid_sample(const Tensor& input, const Tensor& grid);
// either output pointer may be null (not needed)
void grid_sample_backward(const Tensor& d_out, const Tensor& input, const Tensor& grid, Tensor* d_input, Tensor* d_grid);

// ---- optimiser ----------------------------------------------------------------------------------
// One fused Adam update (PyTorch semantics, bias-corrected, L2 weight decay added to the gradient):
//   g += wd·p;  m = b1·m + (1−b1)·g;  v = b2·v + (1−b2)·g²;
//   p −= lr · (m / (1−b1^t)) / (sqrt(v / (1−b2^t)) + eps)
struct AdamParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  int64_t step = 1;  // t, counted from 1
};
void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamParams& p);
// the same, only on rows `rows` (I64 [R]) of tensors viewed as [rows, numel/rows]; other rows are untouched
void adam_step_rows(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const Tensor& rows,
                    const AdamParams& p);

// ---- misc ---------------------------------------------------------------------------------------
bool all_finite(const Tensor& x);

}  // namespace ff::kernels
