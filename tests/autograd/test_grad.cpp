// Finite-difference checks (f64, CPU) of every differentiable op's backward, on odd sizes and
// non-contiguous views.
#include "tests/gradcheck.h"
#include "tests/testing.h"

using namespace ff;
using ff::testing::gradcheck;
using ff::testing::leaf;
using V = std::vector<Tensor>;

TEST_CASE("grad: unary ops") {
  Context ctx(1);
  Tensor x = leaf(ctx, {3, 5}, 0.1);
  Tensor pos = leaf(ctx, {3, 5});
  {
    NoGrad ng(ctx);
    double* p = pos.data<double>();
    for (int64_t i = 0; i < pos.numel(); ++i) p[i] = std::abs(p[i]) + 0.5;
  }
  gradcheck("neg", [](const V& v) { return neg(v[0]); }, {x});
  gradcheck("exp", [](const V& v) { return exp(v[0]); }, {x});
  gradcheck("log", [](const V& v) { return log(v[0]); }, {pos});
  gradcheck("sqrt", [](const V& v) { return sqrt(v[0]); }, {pos});
  gradcheck("rsqrt", [](const V& v) { return rsqrt(v[0]); }, {pos});
  gradcheck("abs", [](const V& v) { return abs(v[0]); }, {x});
  gradcheck("square", [](const V& v) { return square(v[0]); }, {x});
  gradcheck("sigmoid", [](const V& v) { return sigmoid(v[0]); }, {x});
  gradcheck("relu", [](const V& v) { return relu(v[0]); }, {x});
  gradcheck("leaky_relu", [](const V& v) { return leaky_relu(v[0], 0.2); }, {x});
  gradcheck("tanh", [](const V& v) { return tanh(v[0]); }, {x});
  gradcheck("clamp", [](const V& v) { return clamp(v[0], -0.05, 0.05); }, {x});  // |x| >= 0.1: outside
  gradcheck("clamp inside", [](const V& v) { return clamp(v[0], -10, 10); }, {x});
  gradcheck("pow scalar", [](const V& v) { return pow(v[0], 1.7); }, {pos});
  gradcheck("add/mul scalar", [](const V& v) { return mul(add(v[0], 0.3), -2.5); }, {x});
  // a non-contiguous view as the op's input
  gradcheck("exp of a transposed view", [](const V& v) { return exp(transpose(v[0], 0, 1)); }, {x});
}

TEST_CASE("grad: binary ops with broadcasting") {
  Context ctx(2);
  Tensor a = leaf(ctx, {2, 3, 5});
  Tensor b = leaf(ctx, {3, 1});
  Tensor c = leaf(ctx, {5});
  gradcheck("add", [](const V& v) { return add(v[0], v[1]); }, {a, b});
  gradcheck("sub", [](const V& v) { return sub(v[1], v[0]); }, {a, c});
  gradcheck("mul", [](const V& v) { return mul(v[0], v[1]); }, {a, b});
  Tensor bp = leaf(ctx, {3, 1});
  {
    NoGrad ng(ctx);
    double* p = bp.data<double>();
    for (int i = 0; i < 3; ++i) p[i] = std::abs(p[i]) + 0.5;
  }
  gradcheck("div", [](const V& v) { return div(v[0], v[1]); }, {a, bp});
  gradcheck("pow tensor", [](const V& v) { return pow(v[1], v[0]); }, {leaf(ctx, {3, 4}), bp});
  gradcheck("strided operands", [](const V& v) { return mul(permute(v[0], {2, 0, 1}), slice(v[1], 0, 1, 10, 2)); },
            {a, leaf(ctx, {10, 2, 3})});
}

TEST_CASE("grad: reductions") {
  Context ctx(3);
  Tensor x = leaf(ctx, {3, 4, 5});
  gradcheck("sum all", [](const V& v) { return sum(v[0]); }, {x});
  gradcheck("sum dims", [](const V& v) { return sum(v[0], {0, 2}); }, {x});
  gradcheck("sum keepdim", [](const V& v) { return sum(v[0], {1}, true); }, {x});
  gradcheck("mean", [](const V& v) { return mean(v[0], {-1}); }, {x});
  gradcheck("mean all", [](const V& v) { return mean(v[0]); }, {x});
  gradcheck("max dim", [](const V& v) { return max(v[0], {1}); }, {x});
  gradcheck("max keepdim 2 dims", [](const V& v) { return max(v[0], {0, 2}, true); }, {x});
  gradcheck("max all", [](const V& v) { return max(v[0]); }, {x});
  gradcheck("sum of a view", [](const V& v) { return sum(transpose(v[0], 0, 2), {1}); }, {x});
}

TEST_CASE("grad: matmul, batched matmul, linear") {
  Context ctx(4);
  gradcheck("matmul", [](const V& v) { return matmul(v[0], v[1]); }, {leaf(ctx, {3, 5}), leaf(ctx, {5, 2})});
  gradcheck("matmul transposed views", [](const V& v) { return matmul(transpose(v[0], 0, 1), transpose(v[1], 0, 1)); },
            {leaf(ctx, {5, 3}), leaf(ctx, {2, 5})});
  gradcheck("bmm", [](const V& v) { return matmul(v[0], v[1]); }, {leaf(ctx, {2, 3, 4}), leaf(ctx, {2, 4, 3})});
  gradcheck("bmm broadcast", [](const V& v) { return matmul(v[0], v[1]); }, {leaf(ctx, {3, 4}), leaf(ctx, {2, 4, 3})});
  gradcheck("linear", [](const V& v) { return linear(v[0], v[1], v[2]); },
            {leaf(ctx, {2, 3, 4}), leaf(ctx, {5, 4}), leaf(ctx, {5})});
}

TEST_CASE("grad: conv2d and conv_transpose2d") {
  Context ctx(5);
  gradcheck("conv2d 3x3 pad 1",
            [](const V& v) { return conv2d(v[0], v[1], v[2], {1, 1, 1, 1, 1}); },
            {leaf(ctx, {2, 3, 5, 6}), leaf(ctx, {4, 3, 3, 3}), leaf(ctx, {4})});
  gradcheck("conv2d stride 2 groups 2",
            [](const V& v) { return conv2d(v[0], v[1], Tensor(), {2, 2, 1, 0, 2}); },
            {leaf(ctx, {1, 4, 7, 5}), leaf(ctx, {6, 2, 3, 2})});
  gradcheck("conv2d 1x1", [](const V& v) { return conv2d(v[0], v[1], Tensor(), {}); },
            {leaf(ctx, {2, 3, 4, 3}), leaf(ctx, {5, 3, 1, 1})});
  gradcheck("conv2d non-contiguous input",
            [](const V& v) { return conv2d(permute(v[0], {0, 1, 3, 2}), v[1], Tensor(), {1, 1, 1, 1, 1}); },
            {leaf(ctx, {1, 2, 4, 5}), leaf(ctx, {3, 2, 3, 3})});
  gradcheck("conv_transpose2d stride 2",
            [](const V& v) { return conv_transpose2d(v[0], v[1], v[2], 2, 0, 0, 1); },
            {leaf(ctx, {2, 3, 3, 4}), leaf(ctx, {3, 2, 3, 3}), leaf(ctx, {2})});
  gradcheck("conv_transpose2d stride 2 pad 1 outpad 1 groups 3",
            [](const V& v) { return conv_transpose2d(v[0], v[1], Tensor(), 2, 1, 1, 3); },
            {leaf(ctx, {1, 3, 3, 3}), leaf(ctx, {3, 2, 3, 3})});
}

TEST_CASE("grad: views, concat, stack, pad") {
  Context ctx(6);
  Tensor x = leaf(ctx, {3, 4, 5});
  gradcheck("reshape", [](const V& v) { return mul(reshape(v[0], {4, -1}), reshape(v[0], {4, 15})); }, {x});
  gradcheck("permute", [](const V& v) { return exp(permute(v[0], {2, 0, 1})); }, {x});
  gradcheck("slice step", [](const V& v) { return square(slice(v[0], 2, 1, 5, 2)); }, {x});
  gradcheck("select", [](const V& v) { return square(select(v[0], 1, -1)); }, {x});
  gradcheck("expand", [](const V& v) { return mul(expand(v[0], {2, 3, 4}), expand(v[0], {2, 3, 4})); },
            {leaf(ctx, {3, 1})});
  gradcheck("unsqueeze/squeeze", [](const V& v) { return square(squeeze(unsqueeze(v[0], 1), 1)); }, {x});
  gradcheck("flatten", [](const V& v) { return square(flatten(v[0], 1)); }, {x});
  gradcheck("concat", [](const V& v) { return square(concat({v[0], v[1], v[0]}, 1)); },
            {leaf(ctx, {2, 3}), leaf(ctx, {2, 4})});
  gradcheck("stack", [](const V& v) { return square(stack({v[0], v[1]}, 2)); }, {leaf(ctx, {2, 3}), leaf(ctx, {2, 3})});
  gradcheck("pad", [](const V& v) { return square(pad(v[0], {1, 2, 0, 3}, 0.5)); }, {x});
  gradcheck("pad negative (crop)", [](const V& v) { return square(pad(v[0], {-1, 1, 2, -2})); }, {x});
}

TEST_CASE("grad: index_select, gather, scatter_add") {
  Context ctx(7);
  Tensor idx = from_vector<int64_t>(ctx, {2, 0, 2, 1}, {4});
  gradcheck("index_select dim 1", [&](const V& v) { return square(index_select(v[0], 1, idx)); }, {leaf(ctx, {2, 3, 2})});
  gradcheck("index_select dim 0", [&](const V& v) { return square(index_select(v[0], 0, idx)); }, {leaf(ctx, {3, 2})});
  Tensor gidx = from_vector<int64_t>(ctx, {0, 2, 1, 1, 0, 0}, {2, 3});
  gradcheck("gather", [&](const V& v) { return square(gather(v[0], 1, gidx)); }, {leaf(ctx, {2, 4})});
  gradcheck("scatter_add", [&](const V& v) { return square(scatter_add(v[0], 1, gidx, v[1])); },
            {leaf(ctx, {2, 4}), leaf(ctx, {2, 3})});
}

TEST_CASE("grad: grid_sample wrt input and grid") {
  Context ctx(8);
  Tensor input = leaf(ctx, {2, 3, 5, 4});
  Tensor grid = rand(ctx, {2, 3, 4, 2}, DType::F64, Device::cpu(), -1.15, 1.15);  // includes out-of-range
  grid.set_requires_grad(true);
  gradcheck("grid_sample", [](const V& v) { return grid_sample(v[0], v[1]); }, {input, grid}, {1e-6, 1e-5, 1e-4});
}

TEST_CASE("autograd: accumulation, no_grad, release, shared subgraphs") {
  Context ctx(9);
  Tensor w = full(ctx, {2}, 3.0, DType::F64);
  w.set_requires_grad(true);
  backward(sum(mul(w, w)));
  backward(sum(mul(w, w)));
  CHECK(w.grad().to_vector<double>() == std::vector<double>{12.0, 12.0});  // 2·(2w) accumulated
  w.zero_grad();
  {
    NoGrad ng(ctx);
    Tensor y = mul(w, w);
    CHECK_FALSE(y.requires_grad());
  }
  Tensor y = mul(w, w);
  Tensor z = add(sum(y), sum(y));  // y used twice
  backward(z);
  CHECK(w.grad().to_vector<double>() == std::vector<double>{12.0, 12.0});
  CHECK_THROWS_WITH_AS(backward(z), doctest::Contains("already released"), ff::Error);
  Tensor c = full(ctx, {2}, 1.0, DType::F64);
  CHECK_THROWS_WITH_AS(backward(sum(c)), doctest::Contains("does not require grad"), ff::Error);
  CHECK_THROWS_WITH_AS(backward(mul(w, w)), doctest::Contains("not a scalar"), ff::Error);
}

namespace {
struct ScaleOp : CustomOp {  // y = k·x, a fused op with a hand-written backward
  double k;
  explicit ScaleOp(double k_) : k(k_) {}
  const char* name() const override { return "scale"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    return {kernels::unary(kernels::Unary::MulScalar, in[0], {k}), kernels::unary(kernels::Unary::Square, in[0])};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>& d) override {
    return {kernels::unary(kernels::Unary::MulScalar, d[0], {k})};  // the second output is treated as non-differentiable
  }
};
}  // namespace

TEST_CASE("autograd: custom op interface") {
  Context ctx(10);
  Tensor x = leaf(ctx, {4});
  auto outs = apply(std::make_shared<ScaleOp>(2.5), {x});
  REQUIRE(outs.size() == 2);
  backward(sum(outs[0]));
  for (double g : x.grad().to_vector<double>()) CHECK(g == doctest::Approx(2.5));
}
