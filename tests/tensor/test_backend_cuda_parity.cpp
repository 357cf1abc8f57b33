// tests/tensor/test_backend_cuda_parity.cpp — every CUDA kernel against its CPU twin, through the public
// ff::kernels API: the same inputs are built on the CPU, copied to the GPU, run on both, and compared with
// the per-op tolerances of the ONE table below. Inputs cover odd sizes, non-contiguous views, broadcasting
// and the conv shapes of StyleGAN2 (grouped conv with groups = batch). Without a GPU every case prints
// why it skips and passes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tensor/kernels.h"
#include "tests/testing.h"

namespace {

using ff::Device;
using ff::DType;
using ff::Shape;
using ff::Tensor;
namespace K = ff::kernels;

// ---- the tolerance table -------------------------------------------------------------------------------
// |cuda − cpu| <= atol + rtol·|cpu| elementwise (NaN matches NaN). Inputs are ~N(0, 1) unless noted.
struct Tol {
  const char* op;
  double atol, rtol;
};
// Measured on an H200 (cuDNN 9, FMA math), 2025-11: the worst |err| / allowed ratio of each row is in brackets.
const Tol kTolerances[] = {
    {"copy", 0, 0},                   // data movement and integer/float casts: exact [0]
    {"random", 0, 1e-6},              // same double expression, rounded once; bit-identical so far [0]
    {"binary", 1e-6, 1e-6},           // + − × ÷ exact; powf within a float ulp [max err 9.5e-7]
    {"unary", 1e-6, 2e-6},            // expf/logf/tanhf/powf within 2 float ulps [0.01]
    {"unary_backward", 1e-6, 2e-6},   // the same functions and one multiply [0.32, tanh]
    {"reduce", 1e-6, 1e-6},           // both accumulate in double, only the order differs [0: identical]
    {"gemm", 2e-4, 1e-4},             // fp32, different blocking, k ≤ 300 [0.07; max err 5e-5]
    {"conv", 2e-3, 2e-4},             // cuDNN fp32 vs im2col+Eigen; d_w sums 1024 positions × values ~30
                                      // [6.6e-4 abs on the 64-ch 32×32 grouped backward weight]
    {"index", 0, 0},                  // index_select / gather / argmax: exact [0]
    {"index_add", 1e-4, 1e-5},        // float atomics reorder the sums; 315 terms of N(0,1) [3e-5 abs]
    {"grid_sample", 1e-5, 1e-5},      // same bilinear maths, float rounding of the weights [0.009]
    {"grid_sample_bwd", 2e-4, 1e-4},  // atomics order for d_input; d_grid sums 64 channels × W/2 [0.39; 6e-4 abs]
    {"adam", 1e-6, 1e-5},             // same arrangement; sqrtf and rounding of the constants [0.02]
};

Tol tol(const std::string& op) {
  for (const Tol& t : kTolerances)
    if (op == t.op) return t;
  FAIL("no tolerance entry for op ", op);
  return {op.c_str(), 0, 0};
}

Tensor gpu(const Tensor& t) { return t.to(Device::cuda()); }

// compare a CUDA result with its CPU twin
void expect_close(const Tensor& got_cuda, const Tensor& want_cpu, const std::string& op, const std::string& what) {
  INFO(op, ": ", what);
  REQUIRE(got_cuda.defined());
  REQUIRE(want_cpu.defined());
  CHECK(got_cuda.device().is_cuda());
  REQUIRE(got_cuda.shape() == want_cpu.shape());
  CHECK(got_cuda.dtype() == want_cpu.dtype());
  const Tol t = tol(op);
  std::vector<double> g = got_cuda.to_vector<double>(), w = want_cpu.to_vector<double>();
  double worst = 0, worst_abs = 0;  // worst = largest (error − allowed), negative when all pass
  size_t at = 0;
  bool any = false;
  double max_abs = 0, max_rel = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(g[i]) && std::isnan(w[i])) continue;
    double err = std::abs(g[i] - w[i]);
    max_abs = std::max(max_abs, err);
    if (w[i] != 0) max_rel = std::max(max_rel, err / std::abs(w[i]));
    double excess = std::isnan(err) ? INFINITY : err - (t.atol + t.rtol * std::abs(w[i]));
    if (!any || excess > worst) {
      any = true;
      worst = excess;
      worst_abs = err;
      at = i;
    }
  }
  if (std::getenv("FF_PARITY_REPORT"))  // measured envelopes for the comments in the table
    std::printf("[parity] %-16s %-50s max abs err %.3g, max rel err %.3g, worst/allowed %.3g\n", op.c_str(),
                what.c_str(), max_abs, max_rel, worst_abs / std::max(1e-300, t.atol + t.rtol * std::abs(g.empty() ? 0.0 : w[at])));
  INFO("worst error ", worst_abs, " at flat index ", at, " (cuda ", (g.empty() ? 0.0 : g[at]), ", cpu ",
       (w.empty() ? 0.0 : w[at]), "), tolerance atol ", t.atol, " rtol ", t.rtol);
  CHECK(worst <= 0);
}

// a transposed (last two dims) non-contiguous view of a fresh contiguous tensor of shape s (with dims swapped)
Tensor transposed_view(const Tensor& base) {
  Shape sz = base.shape(), st = base.strides();
  size_t n = sz.size();
  std::swap(sz[n - 1], sz[n - 2]);
  std::swap(st[n - 1], st[n - 2]);
  return base.as_strided(sz, st);
}

Tensor positive(const Tensor& x) {  // |x| + 0.5: a domain safe for log / sqrt / pow / division
  return K::unary(K::Unary::AddScalar, K::unary(K::Unary::Abs, x), {0.5, 0});
}

std::string str(const Shape& s) { return ff::shape_str(s); }

}  // namespace

TEST_CASE("cuda parity: fill, copy and casts") {
  if (!ff::testing::cuda_or_skip("cuda parity: fill, copy and casts")) return;
  ff::Context ctx(1);
  // fill through a strided view (every other column of a [5, 8] tensor)
  for (DType dt : {DType::F32, DType::I32, DType::I64, DType::U8}) {
    Tensor c = ff::zeros(ctx, {5, 8}, dt), g = ff::zeros(ctx, {5, 8}, dt, Device::cuda());
    c.as_strided({5, 4}, {8, 2}, 1).fill_(7);
    g.as_strided({5, 4}, {8, 2}, 1).fill_(7);
    expect_close(g, c, "copy", std::string("strided fill ") + ff::dtype_name(dt));
  }
  // casts between every CUDA dtype, from contiguous and transposed sources
  Tensor x = ff::rand(ctx, {13, 21}, DType::F32, Device::cpu(), 0.0, 200.0);
  Tensor xg = gpu(x);
  for (DType a : {DType::F32, DType::I32, DType::I64, DType::U8})
    for (DType b : {DType::F32, DType::I32, DType::I64, DType::U8}) {
      Tensor ca = x.to(a), ga = xg.to(a);
      expect_close(ga.to(b), ca.to(b), "copy", std::string("cast ") + ff::dtype_name(a) + "→" + ff::dtype_name(b));
      expect_close(transposed_view(ga).to(b).contiguous(), transposed_view(ca).to(b).contiguous(), "copy",
                   std::string("transposed cast ") + ff::dtype_name(a) + "→" + ff::dtype_name(b));
    }
  // broadcasting copy_: [1, 21] and [13, 1] into [13, 21], and a strided destination
  Tensor row = ff::randn(ctx, {1, 21}), col = ff::randn(ctx, {13, 1});
  for (const Tensor& src : {row, col}) {
    Tensor c = ff::zeros(ctx, {13, 21}), g = ff::zeros(ctx, {13, 21}, DType::F32, Device::cuda());
    c.copy_(src);
    g.copy_(gpu(src));
    expect_close(g, c, "copy", "broadcast copy_ from " + str(src.shape()));
  }
  Tensor c = ff::zeros(ctx, {21, 13}), g = ff::zeros(ctx, {21, 13}, DType::F32, Device::cuda());
  transposed_view(c).copy_(x);
  transposed_view(g).copy_(xg);
  expect_close(g, c, "copy", "copy_ into a transposed view");
  // a 9-d strided view (size-1 dims dropped, the rest coalesced), and an empty tensor is a no-op
  Tensor big = ff::randn(ctx, {2, 1, 3, 1, 2, 2, 1, 3, 2});
  expect_close(transposed_view(gpu(big)).contiguous(), transposed_view(big).contiguous(), "copy", "9-d view");
  Tensor e = ff::empty(ctx, {0, 4}, DType::F32, Device::cuda());
  e.fill_(1);
  CHECK(e.numel() == 0);
}

TEST_CASE("cuda parity: random streams") {
  if (!ff::testing::cuda_or_skip("cuda parity: random streams")) return;
  ff::Context a(1234), b(1234);
  for (int rep = 0; rep < 2; ++rep) {
    Tensor c = ff::randn(a, {1001}, DType::F32, Device::cpu(), 0.5, 2.0);
    Tensor g = ff::randn(b, {1001}, DType::F32, Device::cuda(), 0.5, 2.0);
    expect_close(g, c, "random", "randn");
    Tensor cu = ff::rand(a, {37, 3}, DType::F32, Device::cpu(), -2.0, 3.0);
    Tensor gu = ff::rand(b, {37, 3}, DType::F32, Device::cuda(), -2.0, 3.0);
    expect_close(gu, cu, "random", "rand");
  }
  CHECK(a.rng_counter() == b.rng_counter());
  CHECK_THROWS_AS(ff::randn(a, {2}, DType::F64, Device::cuda()), ff::Error);
}

TEST_CASE("cuda parity: binary ops with broadcasting and strided views") {
  if (!ff::testing::cuda_or_skip("cuda parity: binary ops with broadcasting and strided views")) return;
  ff::Context ctx(2);
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {{{37, 53}, {37, 53}}, {{37, 1}, {1, 53}}, {{4, 1, 5}, {3, 1}},
                        {{1}, {2, 3, 4}},     {{1000003}, {1}},   {{2, 3, 1, 5, 1, 7}, {3, 4, 1, 6, 7}}};
  const K::Binary ops[] = {K::Binary::Add, K::Binary::Sub,     K::Binary::Mul,    K::Binary::Div,
                           K::Binary::Pow, K::Binary::Maximum, K::Binary::Minimum};
  for (const Case& cs : cases) {
    Tensor a = ff::randn(ctx, cs.a), b = ff::randn(ctx, cs.b);
    for (K::Binary op : ops) {
      Tensor ca = op == K::Binary::Pow ? positive(a) : a;
      Tensor cb = op == K::Binary::Div ? positive(b) : b;
      expect_close(K::binary(op, gpu(ca), gpu(cb)), K::binary(op, ca, cb), "binary",
                   std::string(K::binary_name(op)) + " " + str(cs.a) + " " + str(cs.b));
    }
  }
  // non-contiguous operands: a transposed view and a sliced view
  Tensor base = ff::randn(ctx, {29, 31}), other = ff::randn(ctx, {31, 40});
  Tensor bg = gpu(base), og = gpu(other);
  Tensor ct = transposed_view(base), gt = transposed_view(bg);                              // [31, 29]
  Tensor cs = other.as_strided({31, 29}, {40, 1}, 3), gs = og.as_strided({31, 29}, {40, 1}, 3);  // column slice
  for (K::Binary op : ops) {
    // the raw views where the domain allows, else |v| + 0.5 of them (a contiguous result)
    Tensor c1 = op == K::Binary::Pow ? positive(ct) : ct, g1 = op == K::Binary::Pow ? positive(gt) : gt;
    Tensor c2 = op == K::Binary::Div ? positive(cs) : cs, g2 = op == K::Binary::Div ? positive(gs) : gs;
    expect_close(K::binary(op, g1, g2), K::binary(op, c1, c2), "binary",
                 std::string(K::binary_name(op)) + " on transposed × sliced views");
  }
}

TEST_CASE("cuda parity: unary ops and their backward") {
  if (!ff::testing::cuda_or_skip("cuda parity: unary ops and their backward")) return;
  ff::Context ctx(3);
  struct Case {
    K::Unary op;
    K::UnaryParams p;
    bool positive_domain;
  };
  const Case cases[] = {
      {K::Unary::Neg, {}, false},          {K::Unary::Exp, {}, false},          {K::Unary::Log, {}, true},
      {K::Unary::Sqrt, {}, true},          {K::Unary::Rsqrt, {}, true},         {K::Unary::Abs, {}, false},
      {K::Unary::Sigmoid, {}, false},      {K::Unary::Relu, {}, false},         {K::Unary::LeakyRelu, {0.2, 0}, false},
      {K::Unary::Tanh, {}, false},         {K::Unary::Clamp, {-0.5, 0.7}, false}, {K::Unary::PowScalar, {2.5, 0}, true},
      {K::Unary::PowScalar, {-1.3, 0}, true}, {K::Unary::AddScalar, {0.3, 0}, false}, {K::Unary::MulScalar, {-1.7, 0}, false},
      {K::Unary::Square, {}, false},
  };
  for (const Shape& s : {Shape{1}, Shape{37, 53}, Shape{3, 5, 7, 9}, Shape{1 << 20}}) {
    Tensor x0 = ff::randn(ctx, s), dy = ff::randn(ctx, s);
    Tensor xp = positive(x0);
    for (const Case& cs : cases) {
      Tensor x = cs.positive_domain ? xp : x0;
      std::string name = std::string(K::unary_name(cs.op)) + " " + str(s);
      Tensor yc = K::unary(cs.op, x, cs.p), yg = K::unary(cs.op, gpu(x), cs.p);
      expect_close(yg, yc, "unary", name);
      expect_close(K::unary_backward(cs.op, gpu(x), yg, gpu(dy), cs.p), K::unary_backward(cs.op, x, yc, dy, cs.p),
                   "unary_backward", name);
    }
  }
  // strided input: transposed and a broadcast (stride-0) view
  Tensor base = ff::randn(ctx, {17, 23}), bg = gpu(base);
  for (const Case& cs : cases) {
    if (cs.positive_domain) continue;
    expect_close(K::unary(cs.op, transposed_view(bg), cs.p), K::unary(cs.op, transposed_view(base), cs.p), "unary",
                 std::string(K::unary_name(cs.op)) + " transposed");
    expect_close(K::unary(cs.op, bg.as_strided({4, 17, 23}, {0, 23, 1}), cs.p),
                 K::unary(cs.op, base.as_strided({4, 17, 23}, {0, 23, 1}), cs.p), "unary",
                 std::string(K::unary_name(cs.op)) + " broadcast view");
  }
  // kinks: exact zeros and clamp bounds
  Tensor kinks = ff::from_vector<float>(ctx, {0.f, -0.f, -0.5f, 0.7f, 1.f, -1.f}, {6});
  for (const Case& cs : cases) {
    if (cs.positive_domain) continue;
    Tensor yc = K::unary(cs.op, kinks, cs.p), yg = K::unary(cs.op, gpu(kinks), cs.p);
    Tensor ones = ff::ones(ctx, {6});
    expect_close(K::unary_backward(cs.op, gpu(kinks), yg, gpu(ones), cs.p),
                 K::unary_backward(cs.op, kinks, yc, ones, cs.p), "unary_backward",
                 std::string(K::unary_name(cs.op)) + " at kinks");
  }
}

TEST_CASE("cuda parity: reductions (short rows, long rows, split rows, argmax ties)") {
  if (!ff::testing::cuda_or_skip("cuda parity: reductions")) return;
  ff::Context ctx(4);
  struct Case {
    Shape s;
    std::vector<int64_t> dims;
    bool keepdim;
  };
  const Case cases[] = {
      {{1000, 3}, {1}, false},      // many short rows: warp per row
      {{3, 1000}, {0}, true},       // reduce a non-last dim (permuted to last by the dispatcher)
      {{65, 777}, {1}, false},      // block per row
      {{7, 100003}, {1}, false},    // few long rows: split into chunks + second pass
      {{2, (1 << 20) + 3}, {1}, false},
      {{5, 6, 7}, {0, 2}, true},    // several dims
      {{5, 6, 7}, {}, false},       // all dims
      {{1}, {}, false},
      {{40000, 33}, {0}, false},    // long strided rows
  };
  for (const Case& cs : cases) {
    Tensor x = ff::randn(ctx, cs.s), xg = gpu(x);
    std::string name = str(cs.s) + " dims " + std::to_string(cs.dims.size()) + (cs.keepdim ? " keepdim" : "");
    for (K::Reduce op : {K::Reduce::Sum, K::Reduce::Mean, K::Reduce::Max}) {
      Tensor ac, ag;
      Tensor yc = K::reduce(op, x, cs.dims, cs.keepdim, &ac), yg = K::reduce(op, xg, cs.dims, cs.keepdim, &ag);
      const char* opn = op == K::Reduce::Sum ? "sum " : op == K::Reduce::Mean ? "mean " : "max ";
      expect_close(yg, yc, "reduce", opn + name);
      if (op == K::Reduce::Max) expect_close(ag, ac, "index", "argmax " + name);
    }
  }
  // ties and NaN: first index wins, a NaN beats every number
  std::vector<float> v(3 * 70000, 1.f);
  v[5] = v[9] = 3.f;                  // row 0: tie at 5 and 9
  v[70000 + 40000] = NAN;             // row 1: NaN at 40000 (in a later chunk)
  v[70000 + 3] = 5.f;
  v[2 * 70000 + 69999] = 2.f;         // row 2: max at the very end
  Tensor t = ff::from_vector<float>(ctx, v, {3, 70000});
  for (const Shape& view : {Shape{3, 70000}, Shape{210, 1000}, Shape{7000, 30}}) {
    Tensor tc = t.as_strided(view, ff::contiguous_strides(view)), tg = gpu(tc);
    Tensor ac, ag;
    Tensor yc = K::reduce(K::Reduce::Max, tc, {1}, false, &ac), yg = K::reduce(K::Reduce::Max, tg, {1}, false, &ag);
    expect_close(yg, yc, "reduce", "max with ties/NaN " + str(view));
    expect_close(ag, ac, "index", "argmax with ties/NaN " + str(view));
  }
}

TEST_CASE("cuda parity: gemm (transposes, views, batches, broadcast)") {
  if (!ff::testing::cuda_or_skip("cuda parity: gemm")) return;
  ff::Context ctx(5);
  const int64_t M = 33, Kd = 65, N = 17;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = ff::randn(ctx, ta ? Shape{Kd, M} : Shape{M, Kd}), b = ff::randn(ctx, tb ? Shape{N, Kd} : Shape{Kd, N});
      std::string name = std::string("2-d ta=") + (ta ? "1" : "0") + " tb=" + (tb ? "1" : "0");
      expect_close(K::matmul(gpu(a), gpu(b), ta, tb), K::matmul(a, b, ta, tb), "gemm", name);
      // batched [3, ...] with a broadcast (2-d) b, and a batch-of-1 a against a batched b
      Tensor a3 = ff::randn(ctx, ta ? Shape{3, Kd, M} : Shape{3, M, Kd});
      Tensor b3 = ff::randn(ctx, tb ? Shape{3, N, Kd} : Shape{3, Kd, N});
      expect_close(K::matmul(gpu(a3), gpu(b), ta, tb), K::matmul(a3, b, ta, tb), "gemm", "batched a " + name);
      expect_close(K::matmul(gpu(a3), gpu(b3), ta, tb), K::matmul(a3, b3, ta, tb), "gemm", "batched a, b " + name);
      Tensor a1 = ff::randn(ctx, ta ? Shape{1, Kd, M} : Shape{1, M, Kd});
      expect_close(K::matmul(gpu(a1), gpu(b3), ta, tb), K::matmul(a1, b3, ta, tb), "gemm", "batch-1 a " + name);
    }
  // transposed views used without copies, and a row-sliced view (leading dim > cols)
  Tensor a = ff::randn(ctx, {Kd, M}), b = ff::randn(ctx, {N, Kd});
  expect_close(K::matmul(transposed_view(gpu(a)), transposed_view(gpu(b))),
               K::matmul(transposed_view(a), transposed_view(b)), "gemm", "transposed views");
  Tensor wide = ff::randn(ctx, {M, Kd + 7});
  expect_close(K::matmul(gpu(wide).as_strided({M, Kd}, {Kd + 7, 1}, 2), gpu(b), false, true),
               K::matmul(wide.as_strided({M, Kd}, {Kd + 7, 1}, 2), b, false, true), "gemm", "sliced lda");
  // larger, and degenerate sizes
  Tensor l1 = ff::randn(ctx, {257, 300}), l2 = ff::randn(ctx, {300, 129});
  expect_close(K::matmul(gpu(l1), gpu(l2)), K::matmul(l1, l2), "gemm", "257x300x129");
  Tensor v1 = ff::randn(ctx, {1, 300}), v2 = ff::randn(ctx, {300, 1});
  expect_close(K::matmul(gpu(v1), gpu(v2)), K::matmul(v1, v2), "gemm", "dot as 1x300x1");
  Tensor z1 = ff::randn(ctx, {4, 0}), z2 = ff::randn(ctx, {0, 5});
  expect_close(K::matmul(gpu(z1), gpu(z2)), K::matmul(z1, z2), "gemm", "k = 0 gives zeros");
}

TEST_CASE("cuda parity: conv2d forward and backward (incl. StyleGAN2 grouped shapes)") {
  if (!ff::testing::cuda_or_skip("cuda parity: conv2d")) return;
  ff::Context ctx(6);
  struct Case {
    const char* name;
    Shape x, w;
    K::Conv2dParams p;
    bool bias;
  };
  const Case cases[] = {
      {"3x3 pad 1", {2, 3, 17, 19}, {5, 3, 3, 3}, {1, 1, 1, 1, 1}, true},
      {"3x3 stride 2 pad 1", {2, 4, 16, 15}, {6, 4, 3, 3}, {2, 2, 1, 1, 1}, false},
      {"5x5 stride 2x1 pad 2x0", {1, 3, 13, 11}, {2, 3, 5, 5}, {2, 1, 2, 0, 1}, true},
      {"1x1", {3, 8, 9, 7}, {5, 8, 1, 1}, {1, 1, 0, 0, 1}, true},
      {"groups 2", {2, 4, 10, 10}, {6, 2, 3, 3}, {1, 1, 1, 1, 2}, true},
      {"depthwise", {2, 6, 9, 9}, {6, 1, 3, 3}, {1, 1, 1, 1, 6}, false},
      // StyleGAN2 fused modulated conv: batch folded into channels, groups = batch (4 samples, 32 → 32 ch)
      {"stylegan2 modconv 3x3 groups=batch", {1, 4 * 32, 16, 16}, {4 * 32, 32, 3, 3}, {1, 1, 1, 1, 4}, false},
      // StyleGAN2 toRGB: 1x1 modulated conv, 64 → 3 channels per sample
      {"stylegan2 torgb 1x1 groups=batch", {1, 4 * 64, 8, 8}, {4 * 3, 64, 1, 1}, {1, 1, 0, 0, 4}, true},
      // StyleGAN2 at 64 ch, 32x32, batch 2 (larger reductions)
      {"stylegan2 modconv 64ch 32x32", {1, 2 * 64, 32, 32}, {2 * 64, 64, 3, 3}, {1, 1, 1, 1, 2}, false},
  };
  for (const Case& cs : cases) {
    Tensor x = ff::randn(ctx, cs.x), w = ff::randn(ctx, cs.w);
    Tensor b = cs.bias ? ff::randn(ctx, {cs.w[0]}) : Tensor();
    Tensor xg = gpu(x), wg = gpu(w), bg = cs.bias ? gpu(b) : Tensor();
    Tensor yc = K::conv2d(x, w, b, cs.p), yg = K::conv2d(xg, wg, bg, cs.p);
    expect_close(yg, yc, "conv", std::string(cs.name) + " forward");
    Tensor dy = ff::randn(ctx, yc.shape()), dyg = gpu(dy);
    expect_close(K::conv2d_backward_input(dyg, wg, cs.x, cs.p), K::conv2d_backward_input(dy, w, cs.x, cs.p), "conv",
                 std::string(cs.name) + " backward input");
    expect_close(K::conv2d_backward_weight(dyg, xg, cs.w, cs.p), K::conv2d_backward_weight(dy, x, cs.w, cs.p), "conv",
                 std::string(cs.name) + " backward weight");
    // again: the cached algorithm choice is reused
    expect_close(K::conv2d(xg, wg, bg, cs.p), yc, "conv", std::string(cs.name) + " forward (cached)");
  }
  // a non-contiguous input goes through the dispatcher's contiguous()
  Tensor x = ff::randn(ctx, {2, 3, 12, 10}), w = ff::randn(ctx, {4, 3, 3, 3});
  Tensor xt = transposed_view(x), xtg = transposed_view(gpu(x));  // [2, 3, 10, 12]
  expect_close(K::conv2d(xtg, gpu(w), Tensor(), {1, 1, 1, 1, 1}), K::conv2d(xt, w, Tensor(), {1, 1, 1, 1, 1}), "conv",
               "transposed input");
}

TEST_CASE("cuda parity: index_select / index_add / gather / scatter_add") {
  if (!ff::testing::cuda_or_skip("cuda parity: indexing")) return;
  ff::Context ctx(7);
  Tensor x = ff::randn(ctx, {5, 6, 7}), xg = gpu(x);
  for (int64_t dim = 0; dim < 3; ++dim) {
    int64_t D = x.shape()[size_t(dim)];
    std::vector<int64_t> idx = {D - 1, 0, 2, 2, 1, D - 1, 0, 3};  // duplicates accumulate in index_add
    Tensor ic = ff::from_vector<int64_t>(ctx, idx, {int64_t(idx.size())}), ig = gpu(ic);
    std::string name = "dim " + std::to_string(dim);
    Tensor sc = K::index_select(x, dim, ic);
    expect_close(K::index_select(xg, dim, ig), sc, "index", "index_select " + name);
    Tensor src = ff::randn(ctx, sc.shape());
    expect_close(K::index_add(x.shape(), dim, ig, gpu(src)), K::index_add(x.shape(), dim, ic, src), "index_add",
                 "index_add " + name);
    // gather / scatter_add: index shape = x's except along dim (K = 9 there)
    Shape is = x.shape();
    is[size_t(dim)] = 9;
    std::vector<int64_t> gi(size_t(ff::shape_numel(is)));
    for (size_t i = 0; i < gi.size(); ++i) gi[i] = int64_t((i * 7 + 3) % size_t(D));
    Tensor gic = ff::from_vector<int64_t>(ctx, gi, is), gig = gpu(gic);
    expect_close(K::gather(xg, dim, gig), K::gather(x, dim, gic), "index", "gather " + name);
    Tensor s2 = ff::randn(ctx, is);
    expect_close(K::scatter_add(x.shape(), dim, gig, gpu(s2)), K::scatter_add(x.shape(), dim, gic, s2), "index_add",
                 "scatter_add " + name);
  }
  // index_select on integer tensors, i32 indices, and a 1-d / 4-d gather
  Tensor xi = ff::from_vector<int64_t>(ctx, {10, 11, 12, 13, 14, 15}, {3, 2});
  Tensor i32 = ff::from_vector<int32_t>(ctx, {2, 0, 2}, {3});
  expect_close(K::index_select(gpu(xi), 0, gpu(i32)), K::index_select(xi, 0, i32), "index", "i64 rows, i32 index");
  Tensor x1 = ff::randn(ctx, {11});
  Tensor i1 = ff::from_vector<int64_t>(ctx, {10, 0, 5, 5, 3}, {5});
  expect_close(K::gather(gpu(x1), 0, gpu(i1)), K::gather(x1, 0, i1), "index", "1-d gather");
  expect_close(K::scatter_add({11}, 0, gpu(i1), gpu(ff::ones(ctx, {5}))), K::scatter_add({11}, 0, i1, ff::ones(ctx, {5})),
               "index_add", "1-d scatter_add with duplicates");
  Tensor x4 = ff::randn(ctx, {2, 3, 4, 5});
  std::vector<int64_t> g4(2 * 3 * 2 * 5);
  for (size_t i = 0; i < g4.size(); ++i) g4[i] = int64_t(i % 4);
  Tensor i4 = ff::from_vector<int64_t>(ctx, g4, {2, 3, 2, 5});
  expect_close(K::gather(gpu(x4), 2, gpu(i4)), K::gather(x4, 2, i4), "index", "4-d gather");
  // large index_add with many duplicates (atomics contention)
  Tensor big = ff::randn(ctx, {4096, 64});
  std::vector<int64_t> many(4096);
  for (size_t i = 0; i < many.size(); ++i) many[i] = int64_t(i % 13);
  Tensor im = ff::from_vector<int64_t>(ctx, many, {4096});
  expect_close(K::index_add({13, 64}, 0, gpu(im), gpu(big)), K::index_add({13, 64}, 0, im, big), "index_add",
               "4096 rows into 13");
}

TEST_CASE("cuda parity: grid_sample forward and backward") {
  if (!ff::testing::cuda_or_skip("cuda parity: grid_sample")) return;
  ff::Context ctx(8);
  struct Case {
    const char* name;
    Shape input, grid;
  };
  const Case cases[] = {
      {"3 ch, 11x13, 5x7 points", {2, 3, 11, 13}, {2, 5, 7, 2}},   // thread per location in backward
      {"64 ch texture, 3007 points", {1, 64, 64, 64}, {1, 1, 3007, 2}},  // warp per location in backward
      {"1x1 image", {1, 2, 1, 1}, {1, 3, 3, 2}},
  };
  for (const Case& cs : cases) {
    Tensor in = ff::randn(ctx, cs.input);
    Tensor grid = ff::rand(ctx, cs.grid, DType::F32, Device::cpu(), -1.2, 1.2);  // some points out of range
    Tensor ing = gpu(in), gridg = gpu(grid);
    Tensor yc = K::grid_sample(in, grid), yg = K::grid_sample(ing, gridg);
    expect_close(yg, yc, "grid_sample", std::string(cs.name) + " forward");
    Tensor dy = ff::randn(ctx, yc.shape());
    Tensor dic, dgc, dig, dgg;
    K::grid_sample_backward(dy, in, grid, &dic, &dgc);
    K::grid_sample_backward(gpu(dy), ing, gridg, &dig, &dgg);
    expect_close(dig, dic, "grid_sample_bwd", std::string(cs.name) + " d_input");
    expect_close(dgg, dgc, "grid_sample_bwd", std::string(cs.name) + " d_grid");
    // only one of the two gradients
    Tensor only_dg;
    K::grid_sample_backward(gpu(dy), ing, gridg, nullptr, &only_dg);
    expect_close(only_dg, dgc, "grid_sample_bwd", std::string(cs.name) + " d_grid alone");
  }
  // exact corner and edge coordinates
  Tensor in = ff::randn(ctx, {1, 2, 4, 5});
  Tensor grid = ff::from_vector<float>(ctx, {-1, -1, 1, 1, 0, 0, -1, 1, 1, -1, 0.6f, -0.2f}, {1, 2, 3, 2});
  expect_close(K::grid_sample(gpu(in), gpu(grid)), K::grid_sample(in, grid), "grid_sample", "corners");
}

TEST_CASE("cuda parity: adam (all rows and selected rows)") {
  if (!ff::testing::cuda_or_skip("cuda parity: adam")) return;
  ff::Context ctx(9);
  K::AdamParams p;
  p.lr = 1e-2;
  p.weight_decay = 0.01;
  Tensor pc = ff::randn(ctx, {37, 13}), mc = ff::zeros(ctx, {37, 13}), vc = ff::zeros(ctx, {37, 13});
  Tensor pg = gpu(pc), mg = gpu(mc), vg = gpu(vc);
  for (int64_t step = 1; step <= 4; ++step) {
    p.step = step;
    Tensor g = ff::randn(ctx, {37, 13});
    K::adam_step(pc, g, mc, vc, p);
    K::adam_step(pg, gpu(g), mg, vg, p);
  }
  expect_close(pg, pc, "adam", "param after 4 steps");
  expect_close(mg, mc, "adam", "m after 4 steps");
  expect_close(vg, vc, "adam", "v after 4 steps");
  // rows: only rows 0, 5, 36 change
  Tensor rows = ff::from_vector<int64_t>(ctx, {0, 5, 36}, {3});
  Tensor before = pg.clone();
  p.step = 5;
  Tensor g = ff::randn(ctx, {37, 13});
  K::adam_step_rows(pc, g, mc, vc, rows, p);
  K::adam_step_rows(pg, gpu(g), mg, vg, gpu(rows), p);
  expect_close(pg, pc, "adam", "param after a row step");
  expect_close(mg, mc, "adam", "m after a row step");
  expect_close(vg, vc, "adam", "v after a row step");
  expect_close(pg.as_strided({4, 13}, {13, 1}, 13).contiguous(),
               before.as_strided({4, 13}, {13, 1}, 13).contiguous().to(Device::cpu()), "copy", "rows 1..4 untouched");
  // a large flat tensor (grid-stride path)
  Tensor big = ff::randn(ctx, {1 << 20}), bm = ff::zeros(ctx, {1 << 20}), bv = ff::zeros(ctx, {1 << 20});
  Tensor bgp = gpu(big), bgm = gpu(bm), bgv = gpu(bv), bgrad = ff::randn(ctx, {1 << 20});
  p.step = 1;
  K::adam_step(big, bgrad, bm, bv, p);
  K::adam_step(bgp, gpu(bgrad), bgm, bgv, p);
  expect_close(bgp, big, "adam", "1M params");
}

TEST_CASE("cuda parity: all_finite and f64 refusal") {
  if (!ff::testing::cuda_or_skip("cuda parity: all_finite")) return;
  ff::Context ctx(10);
  Tensor x = ff::randn(ctx, {1000, 33});
  CHECK(K::all_finite(gpu(x)) == K::all_finite(x));
  CHECK(K::all_finite(gpu(x)));
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> v(100001, 1.f);
    v[77777] = bad;
    Tensor t = ff::from_vector<float>(ctx, v, {100001});
    CHECK_FALSE(K::all_finite(gpu(t)));
    CHECK_FALSE(K::all_finite(t));
  }
  CHECK_THROWS_AS(ff::zeros(ctx, {3}, DType::F64, Device::cuda()), ff::Error);
}
