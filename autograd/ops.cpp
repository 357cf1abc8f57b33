// autograd/ops.cpp — forward and backward of every differentiable op, side by side.
// Backward rules run with recording off (autograd/graph.cpp) and return one gradient per input.
#include "autograd/ops.h"

#include <algorithm>
#include <numeric>

namespace ff {
using kernels::Binary;
using kernels::Unary;
using kernels::UnaryParams;
using Grads = std::vector<Tensor>;

namespace {
Tensor saved(const Tensor& t) { return t.defined() ? t.detach() : t; }  // no grad_fn → no reference cycles
bool needs(const Tensor& t) { return t.defined() && t.requires_grad(); }

Tensor binary_op(Binary op, const Tensor& a, const Tensor& b) {
  Tensor out = kernels::binary(op, a, b);
  Tensor sa = saved(a), sb = saved(b), so = saved(out);
  bool ga = needs(a), gb = needs(b);
  record(kernels::binary_name(op), {a, b}, {out}, [=](const Grads& d) -> Grads {
    const Tensor& g = d[0];
    Tensor da, db;
    switch (op) {
      case Binary::Add:
        if (ga) da = kernels::sum_to(g, sa.shape());
        if (gb) db = kernels::sum_to(g, sb.shape());
        break;
      case Binary::Sub:
        if (ga) da = kernels::sum_to(g, sa.shape());
        if (gb) db = kernels::sum_to(kernels::unary(Unary::Neg, g), sb.shape());
        break;
      case Binary::Mul:
        if (ga) da = kernels::sum_to(kernels::binary(Binary::Mul, g, sb), sa.shape());
        if (gb) db = kernels::sum_to(kernels::binary(Binary::Mul, g, sa), sb.shape());
        break;
      case Binary::Div:
        if (ga) da = kernels::sum_to(kernels::binary(Binary::Div, g, sb), sa.shape());
        if (gb)  // −g·a/b² = −g·out/b
          db = kernels::sum_to(kernels::unary(Unary::Neg, kernels::binary(Binary::Div, kernels::binary(Binary::Mul, g, so), sb)),
                               sb.shape());
        break;
      case Binary::Pow:
        if (ga) {  // g·b·a^(b−1)
          Tensor bm1 = kernels::unary(Unary::AddScalar, sb, {-1.0});
          da = kernels::sum_to(kernels::binary(Binary::Mul, g, kernels::binary(Binary::Mul, sb, kernels::binary(Binary::Pow, sa, bm1))),
                               sa.shape());
        }
        if (gb)  // g·out·log(a)
          db = kernels::sum_to(kernels::binary(Binary::Mul, kernels::binary(Binary::Mul, g, so), kernels::unary(Unary::Log, sa)),
                               sb.shape());
        break;
      default: FF_THROW("no backward rule for binary op ", kernels::binary_name(op));
    }
    return {da, db};
  });
  return out;
}

Tensor unary_op(Unary op, const Tensor& x, UnaryParams p = {}) {
  Tensor y = kernels::unary(op, x, p);
  Tensor sx = saved(x), sy = saved(y);
  record(kernels::unary_name(op), {x}, {y},
         [=](const Grads& d) -> Grads { return {kernels::unary_backward(op, sx, sy, d[0], p)}; });
  return y;
}

int64_t wrap(int64_t d, int64_t nd, const char* op) {
  FF_CHECK(d >= -nd && d < nd, op, ": dim ", d, " out of range for a ", nd, "-d tensor");
  return d < 0 ? d + nd : d;
}
}  // namespace

// ---- elementwise ---------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) { return binary_op(Binary::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(Binary::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(Binary::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(Binary::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_op(Binary::Pow, a, b); }
Tensor add(const Tensor& a, double s) { return unary_op(Unary::AddScalar, a, {s}); }
Tensor mul(const Tensor& a, double s) { return unary_op(Unary::MulScalar, a, {s}); }
Tensor pow(const Tensor& a, double p) { return unary_op(Unary::PowScalar, a, {p}); }
Tensor neg(const Tensor& x) { return unary_op(Unary::Neg, x); }
Tensor exp(const Tensor& x) { return unary_op(Unary::Exp, x); }
Tensor log(const Tensor& x) { return unary_op(Unary::Log, x); }
Tensor sqrt(const Tensor& x) { return unary_op(Unary::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op(Unary::Rsqrt, x); }
Tensor abs(const Tensor& x) { return unary_op(Unary::Abs, x); }
Tensor square(const Tensor& x) { return unary_op(Unary::Square, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(Unary::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary_op(Unary::Relu, x); }
Tensor leaky_relu(const Tensor& x, double slope) { return unary_op(Unary::LeakyRelu, x, {slope}); }
Tensor tanh(const Tensor& x) { return unary_op(Unary::Tanh, x); }
Tensor clamp(const Tensor& x, double lo, double hi) { return unary_op(Unary::Clamp, x, {lo, hi}); }

// ---- reductions ----------------------------------------------------------------------------------
static Shape keepdim_shape(const Shape& s, std::vector<int64_t> dims) {
  if (dims.empty()) {
    dims.resize(s.size());
    std::iota(dims.begin(), dims.end(), 0);
  }
  Shape k = s;
  for (int64_t d : dims) k[size_t(d < 0 ? d + int64_t(s.size()) : d)] = 1;
  return k;
}

static Tensor sum_or_mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim, bool is_mean) {
  Tensor out = kernels::reduce(is_mean ? kernels::Reduce::Mean : kernels::Reduce::Sum, x, dims, keepdim);
  Shape xs = x.shape(), ks = keepdim_shape(x.shape(), dims);
  double scale = is_mean ? double(out.numel()) / double(std::max<int64_t>(x.numel(), 1)) : 1.0;
  record(is_mean ? "mean" : "sum", {x}, {out}, [=](const Grads& d) -> Grads {
    Tensor g = d[0].contiguous().as_strided(ks, contiguous_strides(ks));
    Tensor dx = kernels::expand_to(g, xs, "sum backward").contiguous();
    if (is_mean) dx = kernels::unary(Unary::MulScalar, dx, {scale});
    return {dx};
  });
  return out;
}
Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim) { return sum_or_mean(x, dims, keepdim, false); }
Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim) { return sum_or_mean(x, dims, keepdim, true); }

Tensor max(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  Tensor argmax;
  Tensor out = kernels::reduce(kernels::Reduce::Max, x, dims, keepdim, &argmax);
  Shape xs = x.shape();
  record("max", {x}, {out}, [=](const Grads& d) -> Grads { return {kernels::max_backward(d[0], argmax, xs, dims)}; });
  return out;
}

// ---- linear algebra ------------------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::matmul(a, b);
  Tensor sa = saved(a), sb = saved(b);
  bool ga = needs(a), gb = needs(b);
  record("matmul", {a, b}, {out}, [=](const Grads& d) -> Grads {
    Tensor da, db;
    if (ga) da = kernels::sum_to(kernels::matmul(d[0], sb, false, true), sa.shape());
    if (gb) db = kernels::sum_to(kernels::matmul(sa, d[0], true, false), sb.shape());
    return {da, db};
  });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  FF_CHECK(x.dim() >= 1 && w.dim() == 2 && x.shape().back() == w.shape()[1], "linear: x ", x.shape(), " and weight ",
           w.shape(), " (expected [..., in] and [out, in])");
  Shape out_shape = x.shape();
  out_shape.back() = w.shape()[0];
  Tensor x2 = reshape(x, {-1, x.shape().back()});
  Tensor y = kernels::matmul(x2, w, false, true);
  Tensor sx = saved(x2), sw = saved(w);
  bool gx = needs(x2), gw = needs(w);
  record("linear", {x2, w}, {y}, [=](const Grads& d) -> Grads {
    Tensor dx, dw;
    if (gx) dx = kernels::matmul(d[0], sw);
    if (gw) dw = kernels::matmul(d[0], sx, true, false);
    return {dx, dw};
  });
  if (b.defined()) y = add(y, b);
  return reshape(y, out_shape);
}

// ---- convolution ---------------------------------------------------------------------------------
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, kernels::Conv2dParams p) {
  Tensor y = kernels::conv2d(x, w, b, p);
  Tensor sx = saved(x), sw = saved(w);
  bool gx = needs(x), gw = needs(w), gb = needs(b);
  record("conv2d", {x, w, b}, {y}, [=](const Grads& d) -> Grads {
    Tensor dx, dw, db;
    if (gx) dx = kernels::conv2d_backward_input(d[0], sw, sx.shape(), p);
    if (gw) dw = kernels::conv2d_backward_weight(d[0], sx, sw.shape(), p);
    if (gb) db = kernels::reduce(kernels::Reduce::Sum, d[0], {0, 2, 3}, false);
    return {dx, dw, db};
  });
  return y;
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, int output_padding,
                        int groups) {
  FF_CHECK(x.dim() == 4 && w.dim() == 4 && w.shape()[0] == x.shape()[1] && x.shape()[1] % groups == 0,
           "conv_transpose2d: x ", x.shape(), " and weight ", w.shape(), " (expected [N,Cin,H,W], [Cin,Cout/g,kh,kw])");
  FF_CHECK(stride >= 1 && output_padding >= 0 && output_padding < stride, "conv_transpose2d: output_padding ",
           output_padding, " must be < stride ", stride);
  kernels::Conv2dParams p{stride, stride, padding, padding, groups};
  // the adjoint of conv2d(·, w): y = conv2d_backward_input(x, w) with y [N, Cout, Ho, Wo]
  int64_t ho = (x.shape()[2] - 1) * stride - 2 * padding + w.shape()[2] + output_padding;
  int64_t wo = (x.shape()[3] - 1) * stride - 2 * padding + w.shape()[3] + output_padding;
  FF_CHECK(ho > 0 && wo > 0, "conv_transpose2d: empty output for x ", x.shape(), " weight ", w.shape());
  Shape ys = {x.shape()[0], w.shape()[1] * groups, ho, wo};
  Tensor y = kernels::conv2d_backward_input(x, w, ys, p);
  Tensor sx = saved(x), sw = saved(w);
  bool gx = needs(x), gw = needs(w);
  record("conv_transpose2d", {x, w}, {y}, [=](const Grads& d) -> Grads {
    Tensor dx, dw;
    if (gx) dx = kernels::conv2d(d[0], sw, Tensor(), p);
    if (gw) dw = kernels::conv2d_backward_weight(sx, d[0], sw.shape(), p);
    return {dx, dw};
  });
  if (b.defined()) {
    FF_CHECK(b.dim() == 1 && b.shape()[0] == ys[1], "conv_transpose2d: bias ", b.shape(), " for ", ys[1], " channels");
    y = add(y, reshape(b, {1, ys[1], 1, 1}));
  }
  return y;
}

// ---- shape and views -----------------------------------------------------------------------------
static Tensor view_op(const char* name, const Tensor& x, const Tensor& out) {
  Shape xs = x.shape();
  record(name, {x}, {out}, [=](const Grads& d) -> Grads {
    Tensor g = d[0].contiguous();
    return {g.as_strided(xs, contiguous_strides(xs))};
  });
  return out;
}

Tensor reshape(const Tensor& x, Shape shape) {
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      FF_CHECK(infer < 0, "reshape: more than one -1 in ", shape);
      infer = int64_t(i);
    } else {
      FF_CHECK(shape[i] >= 0, "reshape: bad size in ", shape);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    FF_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot reshape ", x.shape(), " into ", shape);
    shape[size_t(infer)] = x.numel() / known;
  }
  FF_CHECK(shape_numel(shape) == x.numel(), "reshape: cannot reshape ", x.shape(), " (", x.numel(), " elements) into ",
           shape);
  Tensor c = x.contiguous();
  Tensor out = c.as_strided(shape, contiguous_strides(shape));
  return view_op("reshape", x, out);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  int64_t nd = std::max<int64_t>(x.dim(), 1);
  start_dim = wrap(start_dim, nd, "flatten");
  end_dim = wrap(end_dim, nd, "flatten");
  Shape s;
  for (int64_t i = 0; i < start_dim; ++i) s.push_back(x.shape()[size_t(i)]);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim && i < x.dim(); ++i) m *= x.shape()[size_t(i)];
  s.push_back(m);
  for (int64_t i = end_dim + 1; i < x.dim(); ++i) s.push_back(x.shape()[size_t(i)]);
  return reshape(x, s);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  FF_CHECK(int64_t(dims.size()) == x.dim(), "permute: ", dims.size(), " dims for shape ", x.shape());
  std::vector<int64_t> inv(dims.size(), -1);
  Shape s, st;
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap(dims[i], x.dim(), "permute");
    FF_CHECK(inv[size_t(d)] < 0, "permute: dim ", d, " repeated in ", Shape(dims));
    inv[size_t(d)] = int64_t(i);
    s.push_back(x.shape()[size_t(d)]);
    st.push_back(x.strides()[size_t(d)]);
  }
  Tensor out = x.as_strided(s, st);
  record("permute", {x}, {out}, [=](const Grads& d) -> Grads {
    const Tensor& g = d[0];
    Shape gs, gst;
    for (int64_t i : inv) gs.push_back(g.shape()[size_t(i)]), gst.push_back(g.strides()[size_t(i)]);
    return {g.as_strided(gs, gst).contiguous()};
  });
  return out;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  std::vector<int64_t> p(size_t(x.dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[size_t(wrap(d0, x.dim(), "transpose"))], p[size_t(wrap(d1, x.dim(), "transpose"))]);
  return permute(x, p);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = wrap(dim, x.dim(), "slice");
  FF_CHECK(step >= 1, "slice: step must be >= 1, got ", step);
  int64_t n = x.shape()[size_t(dim)];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = x.shape(), st = x.strides();
  s[size_t(dim)] = (end - start + step - 1) / step;
  st[size_t(dim)] *= step;
  Tensor out = x.as_strided(s, st, start * x.strides()[size_t(dim)]);
  Shape xs = x.shape();
  record("slice", {x}, {out}, [=](const Grads& d) -> Grads {
    Tensor g = zeros(d[0].ctx(), xs, d[0].dtype(), d[0].device());
    Shape gst = g.strides(), gs = xs;
    gs[size_t(dim)] = s[size_t(dim)];
    gst[size_t(dim)] *= step;
    g.as_strided(gs, gst, start * g.strides()[size_t(dim)]).copy_(d[0]);
    return {g};
  });
  return out;
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  dim = wrap(dim, x.dim(), "select");
  int64_t n = x.shape()[size_t(dim)];
  FF_CHECK(index >= -n && index < n, "select: index ", index, " out of range for dim ", dim, " of ", x.shape());
  if (index < 0) index += n;
  return squeeze(slice(x, dim, index, index + 1), dim);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor out = kernels::expand_to(x, shape, "expand");
  Shape xs = x.shape();
  record("expand", {x}, {out}, [=](const Grads& d) -> Grads { return {kernels::sum_to(d[0], xs).contiguous()}; });
  return out;
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = wrap(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape(), st = x.strides();
  int64_t stride = dim < x.dim() ? s[size_t(dim)] * st[size_t(dim)] : 1;
  s.insert(s.begin() + dim, 1);
  st.insert(st.begin() + dim, stride);
  return view_op("unsqueeze", x, x.as_strided(s, st));
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = wrap(dim, x.dim(), "squeeze");
  FF_CHECK(x.shape()[size_t(dim)] == 1, "squeeze: dim ", dim, " of ", x.shape(), " is not 1");
  Shape s = x.shape(), st = x.strides();
  s.erase(s.begin() + dim);
  st.erase(st.begin() + dim);
  return view_op("squeeze", x, x.as_strided(s, st));
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  return view_op("contiguous", x, x.clone());
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  FF_CHECK(!xs.empty(), "concat: no tensors");
  const Tensor& x0 = xs[0];
  dim = wrap(dim, x0.dim(), "concat");
  Shape s = x0.shape();
  int64_t total = 0;
  for (const Tensor& x : xs) {
    FF_CHECK(x.dim() == x0.dim() && x.dtype() == x0.dtype() && x.device() == x0.device(), "concat: ", x.str(), " vs ",
             x0.str());
    for (int64_t d = 0; d < x.dim(); ++d)
      if (d != dim) FF_CHECK(x.shape()[size_t(d)] == s[size_t(d)], "concat: shapes ", x.shape(), " and ", s, " differ in dim ", d);
    total += x.shape()[size_t(dim)];
  }
  s[size_t(dim)] = total;
  Tensor out = empty(x0.ctx(), s, x0.dtype(), x0.device());
  std::vector<int64_t> starts;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    Shape vs = s;
    vs[size_t(dim)] = x.shape()[size_t(dim)];
    starts.push_back(at);
    if (x.numel() > 0) out.as_strided(vs, out.strides(), at * out.strides()[size_t(dim)]).copy_(x);
    at += x.shape()[size_t(dim)];
  }
  std::vector<int64_t> lens;
  for (const Tensor& x : xs) lens.push_back(x.shape()[size_t(dim)]);
  record("concat", xs, {out}, [=](const Grads& d) -> Grads {
    Grads g;
    for (size_t i = 0; i < lens.size(); ++i) {
      Shape vs = d[0].shape();
      vs[size_t(dim)] = lens[i];
      g.push_back(d[0].as_strided(vs, d[0].strides(), starts[i] * d[0].strides()[size_t(dim)]).contiguous());
    }
    return g;
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  FF_CHECK(!xs.empty(), "stack: no tensors");
  dim = wrap(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> u;
  for (const Tensor& x : xs) {
    FF_CHECK(x.shape() == xs[0].shape(), "stack: shapes ", x.shape(), " and ", xs[0].shape(), " differ");
    u.push_back(unsqueeze(x, dim));
  }
  return concat(u, dim);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  FF_CHECK(pads.size() % 2 == 0 && int64_t(pads.size() / 2) <= x.dim(), "pad: ", pads.size(), " pad values for shape ",
           x.shape());
  Shape os = x.shape();
  // per padded dim: source range [s0, s1) of x placed at offset o in the output
  std::vector<int64_t> src0(size_t(x.dim()), 0), src1(x.shape()), dst0(size_t(x.dim()), 0);
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    size_t d = size_t(x.dim()) - 1 - i;
    int64_t before = pads[2 * i], after = pads[2 * i + 1];
    os[d] = x.shape()[d] + before + after;
    FF_CHECK(os[d] >= 0, "pad: negative output size in dim ", d, " of ", x.shape());
    src0[d] = std::max<int64_t>(0, -before);
    src1[d] = std::min<int64_t>(x.shape()[d], x.shape()[d] + after);
    dst0[d] = std::max<int64_t>(0, before);
    if (src1[d] < src0[d]) src1[d] = src0[d];
  }
  Tensor out = full(x.ctx(), os, value, x.dtype(), x.device());
  // the region of `t` that holds x's kept part, starting at `lo` (src0 in x, dst0 in the output)
  auto window = [src0, src1](const Tensor& t, const std::vector<int64_t>& lo) {
    Shape ws;
    int64_t off = 0;
    for (size_t d = 0; d < src0.size(); ++d) {
      ws.push_back(src1[d] - src0[d]);
      off += lo[d] * t.strides()[d];
    }
    return t.as_strided(ws, t.strides(), off);
  };
  Tensor xin = window(x, src0);
  if (xin.numel() > 0) window(out, dst0).copy_(xin);
  Shape xs = x.shape();
  record("pad", {x}, {out}, [=](const Grads& d) -> Grads {
    Tensor g = zeros(d[0].ctx(), xs, d[0].dtype(), d[0].device());
    Tensor gw = window(g, src0);
    if (gw.numel() > 0) gw.copy_(window(d[0], dst0));
    return {g};
  });
  return out;
}

// ---- indexing ------------------------------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = kernels::index_select(x, dim, index);
  Shape xs = x.shape();
  Tensor idx = index.detach();
  record("index_select", {x}, {out}, [=](const Grads& d) -> Grads { return {kernels::index_add(xs, dim, idx, d[0])}; });
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = kernels::gather(x, dim, index);
  Shape xs = x.shape();
  Tensor idx = index.detach();
  record("gather", {x}, {out}, [=](const Grads& d) -> Grads { return {kernels::scatter_add(xs, dim, idx, d[0])}; });
  return out;
}

Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor scattered = kernels::scatter_add(base.shape(), dim, index, src);
  Tensor out = kernels::binary(Binary::Add, base, scattered);
  Tensor idx = index.detach();
  bool gb = needs(base), gs = needs(src);
  record("scatter_add", {base, src}, {out}, [=](const Grads& d) -> Grads {
    Tensor db, ds;
    if (gb) db = d[0];
    if (gs) ds = kernels::gather(d[0], dim, idx);
    return {db, ds};
  });
  return out;
}

// ---- sampling ------------------------------------------------------------------------------------
Tensor grid_sample(const Tensor& input, const Tensor& grid) {
  Tensor out = kernels::grid_sample(input, grid);
  Tensor si = saved(input), sg = saved(grid);
  bool gi = needs(input), gg = needs(grid);
  record("grid_sample", {input, grid}, {out}, [=](const Grads& d) -> Grads {
    Tensor di, dg;
    kernels::grid_sample_backward(d[0], si, sg, gi ? &di : nullptr, gg ? &dg : nullptr);
    return {di, dg};
  });
  return out;
}

}  // namespace ff
