// tensor/kernels.cpp — checks, layout normalisation and device dispatch for tensor/kernels.h.
#include "tensor/kernels.h"

#include <algorithm>
#include <numeric>

#include "tensor/backend.h"

namespace ff::kernels {


const char* binary_name(Binary op) {
  static const char* n[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
  return n[int(op)];
}
const char* unary_name(Unary op) {
  static const char* n[] = {"neg", "exp", "log", "sqrt", "rsqrt", "abs", "sigmoid", "relu", "leaky_relu",
                            "tanh", "clamp", "pow_scalar", "add_scalar", "mul_scalar", "square"};
  return n[int(op)];
}

static void check_float(const Tensor& t, const char* op, const char* what) {
  FF_CHECK(t.defined(), op, ": ", what, " is undefined");
  FF_CHECK(is_floating(t.dtype()), op, ": ", what, " must be f32 or f64, got ", t.str());
}
static void check_same(const Tensor& a, const Tensor& b, const char* op) {
  FF_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch ", a.str(), " vs ", b.str());
  FF_CHECK(a.device() == b.device(), op, ": device mismatch ", a.str(), " vs ", b.str());
  // on CUDA each Context has its own stream: mixing contexts would race
  FF_CHECK(a.device().is_cpu() || &a.ctx() == &b.ctx(), op, ": CUDA tensors from different Contexts (streams) ",
           a.str(), " and ", b.str());
}
static int64_t wrap_dim(int64_t d, int64_t nd, const char* op) {
  FF_CHECK(d >= -nd && d < std::max<int64_t>(nd, 1), op, ": dim ", d, " out of range for a ", nd, "-d tensor");
  return d < 0 ? d + nd : d;
}
static Tensor as_index(const Tensor& idx, const char* op) {
  FF_CHECK(idx.defined(), op, ": index is undefined");
  FF_CHECK(idx.dtype() == DType::I64 || idx.dtype() == DType::I32, op, ": index must be i64 or i32, got ", idx.str());
  return idx.to(DType::I64).contiguous();
}
// Host-side range check. On CUDA it would cost a device synchronisation per op in the hot path, so CUDA
// indices are trusted there (CPU runs of the same code path check them).
static void check_index_range(const Tensor& idx, int64_t n, const char* op) {
  if (idx.device().is_cuda()) return;
  std::vector<int64_t> v = idx.to_vector<int64_t>();
  for (size_t i = 0; i < v.size(); ++i)
    FF_CHECK(v[i] >= 0 && v[i] < n, op, ": index ", v[i], " at position ", i, " out of range [0, ", n, ")");
}

// ---- elementwise ---------------------------------------------------------------------------------
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    FF_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b, " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor expand_to(const Tensor& t, const Shape& shape, const char* op) {
  FF_CHECK(t.dim() <= int64_t(shape.size()), op, ": cannot broadcast ", t.shape(), " to ", shape);
  if (t.shape() == shape) return t;
  size_t lead = shape.size() - size_t(t.dim());
  Shape st(shape.size(), 0);
  for (size_t i = 0; i < size_t(t.dim()); ++i) {
    int64_t s = t.shape()[i];
    FF_CHECK(s == shape[lead + i] || s == 1, op, ": cannot broadcast ", t.shape(), " to ", shape);
    st[lead + i] = (s == 1 && shape[lead + i] != 1) ? 0 : t.strides()[i];
  }
  return t.as_strided(shape, st);
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_float(a, name, "lhs");
  check_float(b, name, "rhs");
  check_same(a, b, name);
  Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(a.ctx(), s, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  FF_ON_DEVICE(a.device(), binary(op, expand_to(a, s, name), expand_to(b, s, name), out));
  return out;
}

Tensor unary(Unary op, const Tensor& x, UnaryParams p) {
  check_float(x, unary_name(op), "input");
  if (op == Unary::Clamp) FF_CHECK(p.a <= p.b, "clamp: lower bound ", p.a, " exceeds upper bound ", p.b);
  Tensor out = empty(x.ctx(), x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  FF_ON_DEVICE(x.device(), unary(op, x, p, out));
  return out;
}

Tensor unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& d_y, UnaryParams p) {
  const char* name = unary_name(op);
  check_float(x, name, "input");
  check_same(x, d_y, name);
  FF_CHECK(x.shape() == d_y.shape() && y.shape() == x.shape(), name, " backward: shapes x ", x.shape(), " y ",
           y.shape(), " d_y ", d_y.shape());
  Tensor d_x = empty(x.ctx(), x.shape(), x.dtype(), x.device());
  if (d_x.numel() == 0) return d_x;
  FF_ON_DEVICE(x.device(), unary_backward(op, x.contiguous(), y.contiguous(), d_y.contiguous(), p, d_x));
  return d_x;
}

// ---- reductions ----------------------------------------------------------------------------------
static std::vector<int64_t> normalise_dims(std::vector<int64_t> dims, int64_t nd, const char* op) {
  if (dims.empty()) {
    dims.resize(size_t(nd));
    std::iota(dims.begin(), dims.end(), 0);
  }
  for (auto& d : dims) d = wrap_dim(d, nd, op);
  std::sort(dims.begin(), dims.end());
  FF_CHECK(std::adjacent_find(dims.begin(), dims.end()) == dims.end(), op, ": repeated dim");
  return dims;
}

// permutation that moves the reduced dims last; returns (kept shape, reduced numel)
static Tensor move_dims_last(const Tensor& x, const std::vector<int64_t>& dims, int64_t* outer, int64_t* inner) {
  std::vector<int64_t> perm;
  std::vector<bool> red(size_t(x.dim()), false);
  for (int64_t d : dims) red[size_t(d)] = true;
  *outer = 1;
  *inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!red[size_t(d)]) perm.push_back(d), *outer *= x.shape()[d];
  for (int64_t d : dims) perm.push_back(d), *inner *= x.shape()[d];
  Shape s, st;
  for (int64_t d : perm) s.push_back(x.shape()[d]), st.push_back(x.strides()[d]);
  return x.as_strided(s, st).contiguous();
}

static Shape reduced_shape(const Shape& s, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < int64_t(s.size()); ++d) {
    bool r = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!r) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

Tensor reduce(Reduce op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, Tensor* argmax) {
  const char* name = op == Reduce::Sum ? "sum" : op == Reduce::Mean ? "mean" : "max";
  check_float(x, name, "input");
  dims = normalise_dims(dims, x.dim(), name);
  int64_t outer, inner;
  Tensor xc = move_dims_last(x, dims, &outer, &inner);
  FF_CHECK(op == Reduce::Sum || inner > 0, name, ": reduction over an empty set of elements, shape ", x.shape());
  Shape os = reduced_shape(x.shape(), dims, keepdim);
  Tensor out = empty(x.ctx(), os, x.dtype(), x.device());
  Tensor am;
  if (op == Reduce::Max) am = empty(x.ctx(), os, DType::I64, x.device());
  if (outer > 0) {
    if (inner == 0) out.fill_(0.0);
    else FF_ON_DEVICE(x.device(), reduce_rows(op, xc, outer, inner, out, am));
  }
  if (argmax) *argmax = am;
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  FF_CHECK(int64_t(shape.size()) <= x.dim(), "sum_to: cannot reduce ", x.shape(), " to ", shape);
  size_t lead = size_t(x.dim()) - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < size_t(x.dim()); ++i) {
    if (i < lead) dims.push_back(int64_t(i));
    else if (shape[i - lead] == 1 && x.shape()[i] != 1) dims.push_back(int64_t(i));
    else FF_CHECK(shape[i - lead] == x.shape()[i], "sum_to: cannot reduce ", x.shape(), " to ", shape);
  }
  if (dims.empty()) return x.contiguous().as_strided(shape, contiguous_strides(shape));
  Tensor r = reduce(Reduce::Sum, x, dims, true);
  return r.as_strided(shape, contiguous_strides(shape));  // drop the leading 1s
}

Tensor max_backward(const Tensor& d_out, const Tensor& argmax, const Shape& x_shape, std::vector<int64_t> dims) {
  dims = normalise_dims(dims, int64_t(x_shape.size()), "max backward");
  int64_t outer = 1, inner = 1;
  std::vector<bool> red(x_shape.size(), false);
  for (int64_t d : dims) red[size_t(d)] = true, inner *= x_shape[size_t(d)];
  outer = shape_numel(x_shape) / std::max<int64_t>(inner, 1);
  // scatter d_out into [outer, inner] at argmax, then undo the permutation of move_dims_last
  Tensor g = scatter_add({outer, inner}, 1, argmax.contiguous().as_strided({outer, 1}, {1, 1}),
                         d_out.contiguous().as_strided({outer, 1}, {1, 1}));
  Shape perm_shape;
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < int64_t(x_shape.size()); ++d)
    if (!red[size_t(d)]) perm.push_back(d);
  for (int64_t d : dims) perm.push_back(d);
  for (int64_t d : perm) perm_shape.push_back(x_shape[size_t(d)]);
  Shape pst = contiguous_strides(perm_shape);
  Shape st(x_shape.size());
  for (size_t i = 0; i < perm.size(); ++i) st[size_t(perm[i])] = pst[i];
  return g.as_strided(x_shape, st).contiguous();
}

// ---- matmul --------------------------------------------------------------------------------------
// Describes a [.., R, C] operand as a stored row-major matrix: returns whether its storage is the
// transpose, the leading dimension and the batch stride, making a copy only when neither fits.
static Tensor gemm_operand(const Tensor& t, bool* transposed, int64_t* ld, int64_t* bstride) {
  int64_t nd = t.dim();
  int64_t R = t.shape()[nd - 2], C = t.shape()[nd - 1];
  int64_t sr = t.strides()[nd - 2], sc = t.strides()[nd - 1];
  int64_t sb = nd == 3 ? t.strides()[0] : 0;
  bool batch_ok = nd == 2 || t.shape()[0] == 1 || sb >= 0;
  if (batch_ok && (sc == 1 || C == 1) && sr >= std::max<int64_t>(C, 1)) {
    *transposed = false, *ld = std::max<int64_t>(sr, 1), *bstride = (nd == 3 && t.shape()[0] > 1) ? sb : 0;
    if (R == 1) *ld = std::max<int64_t>(C, 1);
    return t;
  }
  if (batch_ok && (sr == 1 || R == 1) && sc >= std::max<int64_t>(R, 1)) {
    *transposed = true, *ld = std::max<int64_t>(sc, 1), *bstride = (nd == 3 && t.shape()[0] > 1) ? sb : 0;
    if (C == 1) *ld = std::max<int64_t>(R, 1);
    return t;
  }
  Tensor c = t.contiguous();
  *transposed = false, *ld = std::max<int64_t>(C, 1), *bstride = (nd == 3 && t.shape()[0] > 1) ? R * C : 0;
  return c;
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_float(a, "matmul", "a");
  check_float(b, "matmul", "b");
  check_same(a, b, "matmul");
  FF_CHECK((a.dim() == 2 || a.dim() == 3) && (b.dim() == 2 || b.dim() == 3), "matmul: expected 2-D or 3-D operands, got ",
           a.shape(), " and ", b.shape());
  auto rows = [](const Tensor& t, bool tr) { return t.shape()[t.dim() - (tr ? 1 : 2)]; };
  auto cols = [](const Tensor& t, bool tr) { return t.shape()[t.dim() - (tr ? 2 : 1)]; };
  int64_t m = rows(a, trans_a), k = cols(a, trans_a), k2 = rows(b, trans_b), n = cols(b, trans_b);
  FF_CHECK(k == k2, "matmul: inner dimensions differ: a ", a.shape(), (trans_a ? "ᵀ" : ""), " · b ", b.shape(),
           (trans_b ? "ᵀ" : ""));
  int64_t ba = a.dim() == 3 ? a.shape()[0] : 1, bb = b.dim() == 3 ? b.shape()[0] : 1;
  FF_CHECK(ba == bb || ba == 1 || bb == 1, "matmul: batch sizes differ: ", a.shape(), " and ", b.shape());
  int64_t batch = std::max(ba, bb);
  bool out3 = a.dim() == 3 || b.dim() == 3;
  Tensor out = empty(a.ctx(), out3 ? Shape{batch, m, n} : Shape{m, n}, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  bool ta, tb;
  int64_t lda, ldb, sa, sb;
  Tensor A = gemm_operand(a, &ta, &lda, &sa);
  Tensor B = gemm_operand(b, &tb, &ldb, &sb);
  FF_ON_DEVICE(a.device(), gemm(A, B, out, batch, m, n, k, ta != trans_a, tb != trans_b, lda, ldb, sa, sb));
  return out;
}

// ---- convolution ---------------------------------------------------------------------------------
Shape conv2d_output_shape(const Shape& x, const Shape& w, Conv2dParams p) {
  FF_CHECK(x.size() == 4 && w.size() == 4, "conv2d: expected x [N,C,H,W] and w [O,C/g,kh,kw], got ", x, " and ", w);
  FF_CHECK(p.groups >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
           "conv2d: bad params stride ", p.stride_h, "x", p.stride_w, " pad ", p.pad_h, "x", p.pad_w, " groups ", p.groups);
  FF_CHECK(x[1] % p.groups == 0 && w[0] % p.groups == 0 && w[1] * p.groups == x[1], "conv2d: channels x ", x,
           " w ", w, " do not match groups=", p.groups);
  int64_t ho = (x[2] + 2 * p.pad_h - w[2]) / p.stride_h + 1, wo = (x[3] + 2 * p.pad_w - w[3]) / p.stride_w + 1;
  FF_CHECK(ho > 0 && wo > 0, "conv2d: kernel ", w, " larger than padded input ", x);
  return {x[0], w[0], ho, wo};
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Conv2dParams p) {
  check_float(x, "conv2d", "x");
  check_same(x, w, "conv2d");
  Shape ys = conv2d_output_shape(x.shape(), w.shape(), p);
  if (bias.defined()) {
    check_same(x, bias, "conv2d");
    FF_CHECK(bias.shape() == Shape{w.shape()[0]}, "conv2d: bias ", bias.shape(), " for weight ", w.shape());
  }
  Tensor y = empty(x.ctx(), ys, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  FF_ON_DEVICE(x.device(), conv2d(x.contiguous(), w.contiguous(), bias.defined() ? bias.contiguous() : bias, p, y));
  return y;
}

Tensor conv2d_backward_input(const Tensor& d_y, const Tensor& w, const Shape& x_shape, Conv2dParams p) {
  check_float(d_y, "conv2d_backward_input", "d_y");
  check_same(d_y, w, "conv2d_backward_input");
  Shape ys = conv2d_output_shape(x_shape, w.shape(), p);
  FF_CHECK(ys == d_y.shape(), "conv2d_backward_input: d_y ", d_y.shape(), " but the forward output is ", ys);
  Tensor d_x = empty(d_y.ctx(), x_shape, d_y.dtype(), d_y.device());
  if (d_x.numel() == 0) return d_x;
  FF_ON_DEVICE(d_y.device(), conv2d_backward_input(d_y.contiguous(), w.contiguous(), p, d_x));
  return d_x;
}

Tensor conv2d_backward_weight(const Tensor& d_y, const Tensor& x, const Shape& w_shape, Conv2dParams p) {
  check_float(d_y, "conv2d_backward_weight", "d_y");
  check_same(d_y, x, "conv2d_backward_weight");
  Shape ys = conv2d_output_shape(x.shape(), w_shape, p);
  FF_CHECK(ys == d_y.shape(), "conv2d_backward_weight: d_y ", d_y.shape(), " but the forward output is ", ys);
  Tensor d_w = empty(d_y.ctx(), w_shape, d_y.dtype(), d_y.device());
  if (d_w.numel() == 0) return d_w;
  FF_ON_DEVICE(d_y.device(), conv2d_backward_weight(d_y.contiguous(), x.contiguous(), p, d_w));
  return d_w;
}

// ---- indexing ------------------------------------------------------------------------------------
static void split_at(const Shape& s, int64_t dim, int64_t* A, int64_t* D, int64_t* B) {
  *A = 1, *B = 1;
  for (int64_t i = 0; i < dim; ++i) *A *= s[size_t(i)];
  *D = s[size_t(dim)];
  for (size_t i = size_t(dim) + 1; i < s.size(); ++i) *B *= s[i];
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  FF_CHECK(x.dim() >= 1, "index_select: input must have at least 1 dim, got ", x.shape());
  dim = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = as_index(index, "index_select");
  FF_CHECK(idx.dim() == 1, "index_select: index must be 1-D, got ", idx.shape());
  FF_CHECK(idx.device() == x.device(), "index_select: index on ", idx.device(), ", input on ", x.device());
  check_index_range(idx, x.shape()[size_t(dim)], "index_select");
  Shape os = x.shape();
  os[size_t(dim)] = idx.numel();
  Tensor out = empty(x.ctx(), os, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  int64_t A, D, B;
  split_at(x.shape(), dim, &A, &D, &B);
  FF_ON_DEVICE(x.device(), index_select(x.contiguous(), idx, A, D, B, out));
  return out;
}

Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
  check_float(src, "index_add", "src");
  dim = wrap_dim(dim, int64_t(shape.size()), "index_add");
  Tensor idx = as_index(index, "index_add");
  Shape expect = shape;
  expect[size_t(dim)] = idx.numel();
  FF_CHECK(src.shape() == expect, "index_add: src ", src.shape(), " should be ", expect, " for index of ", idx.numel());
  check_index_range(idx, shape[size_t(dim)], "index_add");
  Tensor out = zeros(src.ctx(), shape, src.dtype(), src.device());
  if (src.numel() == 0) return out;
  int64_t A, D, B;
  split_at(shape, dim, &A, &D, &B);
  FF_ON_DEVICE(src.device(), index_add(src.contiguous(), idx, A, D, B, out));
  return out;
}

static void check_gather_shapes(const Shape& big, const Tensor& idx, int64_t dim, const char* op) {
  FF_CHECK(idx.dim() == int64_t(big.size()), op, ": index ", idx.shape(), " must have the same rank as ", big);
  for (int64_t d = 0; d < idx.dim(); ++d)
    if (d != dim) FF_CHECK(idx.shape()[size_t(d)] == big[size_t(d)], op, ": index ", idx.shape(), " vs ", big, " in dim ", d);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_float(x, "gather", "input");
  dim = wrap_dim(dim, x.dim(), "gather");
  Tensor idx = as_index(index, "gather");
  check_gather_shapes(x.shape(), idx, dim, "gather");
  check_index_range(idx, x.shape()[size_t(dim)], "gather");
  Tensor out = empty(x.ctx(), idx.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  FF_ON_DEVICE(x.device(), gather(x.contiguous(), dim, idx, out));
  return out;
}

Tensor scatter_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
  check_float(src, "scatter_add", "src");
  dim = wrap_dim(dim, int64_t(shape.size()), "scatter_add");
  Tensor idx = as_index(index, "scatter_add");
  FF_CHECK(idx.shape() == src.shape(), "scatter_add: index ", idx.shape(), " and src ", src.shape(), " differ");
  check_gather_shapes(shape, idx, dim, "scatter_add");
  check_index_range(idx, shape[size_t(dim)], "scatter_add");
  Tensor out = zeros(src.ctx(), shape, src.dtype(), src.device());
  if (src.numel() == 0) return out;
  FF_ON_DEVICE(src.device(), scatter_add(src.contiguous(), dim, idx, out));
  return out;
}

// ---- grid_sample ---------------------------------------------------------------------------------
static void check_grid_sample(const Tensor& input, const Tensor& grid) {
  check_float(input, "grid_sample", "input");
  check_same(input, grid, "grid_sample");
  FF_CHECK(input.dim() == 4 && grid.dim() == 4 && grid.shape()[3] == 2 && grid.shape()[0] == input.shape()[0],
           "grid_sample: expected input [N,C,H,W] and grid [N,Ho,Wo,2], got ", input.shape(), " and ", grid.shape());
}

Tensor grid_sample(const Tensor& input, const Tensor& grid) {
  check_grid_sample(input, grid);
  Tensor out = empty(input.ctx(), {input.shape()[0], input.shape()[1], grid.shape()[1], grid.shape()[2]}, input.dtype(),
                     input.device());
  if (out.numel() == 0) return out;
  FF_ON_DEVICE(input.device(), grid_sample(input.contiguous(), grid.contiguous(), out));
  return out;
}

void grid_sample_backward(const Tensor& d_out, const Tensor& input, const Tensor& grid, Tensor* d_input, Tensor* d_grid) {
  check_grid_sample(input, grid);
  check_same(d_out, input, "grid_sample backward");
  Shape os = {input.shape()[0], input.shape()[1], grid.shape()[1], grid.shape()[2]};
  FF_CHECK(d_out.shape() == os, "grid_sample backward: d_out ", d_out.shape(), " expected ", os);
  Tensor di, dg;
  if (d_input) di = zeros_like(input);
  if (d_grid) dg = empty(grid.ctx(), grid.shape(), grid.dtype(), grid.device());
  if (d_out.numel() > 0)
    FF_ON_DEVICE(input.device(), grid_sample_backward(d_out.contiguous(), input.contiguous(), grid.contiguous(), di, dg));
  else if (dg.defined())
    dg.zero_();
  if (d_input) *d_input = di;
  if (d_grid) *d_grid = dg;
}

// ---- Adam ----------------------------------------------------------------------------------------
static void check_adam(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamParams& p) {
  check_float(param, "adam_step", "param");
  for (const Tensor* t : {&grad, &m, &v}) {
    check_same(param, *t, "adam_step");
    FF_CHECK(t->shape() == param.shape(), "adam_step: shape ", t->shape(), " vs param ", param.shape());
    FF_CHECK(t->is_contiguous(), "adam_step: state tensors must be contiguous");
  }
  FF_CHECK(param.is_contiguous(), "adam_step: param must be contiguous, got strides ", param.strides());
  FF_CHECK(p.step >= 1 && p.lr >= 0 && p.eps >= 0 && p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1,
           "adam_step: bad hyper-parameters lr=", p.lr, " betas=(", p.beta1, ",", p.beta2, ") eps=", p.eps, " step=", p.step);
}

void adam_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamParams& p) {
  check_adam(param, grad, m, v, p);
  if (param.numel() == 0) return;
  FF_ON_DEVICE(param.device(), adam_step(param, grad, m, v, p, Tensor(), 1));
}

void adam_step_rows(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const Tensor& rows,
                    const AdamParams& p) {
  check_adam(param, grad, m, v, p);
  FF_CHECK(param.dim() >= 1, "adam_step_rows: param must have a row dim, got ", param.shape());
  Tensor r = as_index(rows, "adam_step_rows");
  check_index_range(r, param.shape()[0], "adam_step_rows");
  if (r.numel() == 0 || param.numel() == 0) return;
  FF_ON_DEVICE(param.device(), adam_step(param, grad, m, v, p, r.to(param.device()), param.shape()[0]));
}

bool all_finite(const Tensor& x) {
  check_float(x, "all_finite", "input");
  if (x.numel() == 0) return true;
  return FF_ON_DEVICE(x.device(), all_finite(x.contiguous()));
}

}  // namespace ff::kernels
