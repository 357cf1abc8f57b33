// bench_core — per-kernel timings of the engine core (issue 3's kernel list).
//   bench_core [--device cpu|cuda] [--threads N] [--json PATH] [--repeats N] [--warmup N] [--quick]   (--help)
// Every kernel's output is first validated (finite, plus a direct-loop spot check of sgemm) before timing.
// The header names the CPU, the sgemm micro-kernel chosen at run time (FF_SGEMM_ISA=generic|avx2|avx512
// or avx512-on-avx2 forces one) and the measured FMA peak; rows with a flop count give their % of it (bench/bench.h).
#include <array>
#include <cmath>
#include <string>

#include "autograd/ops.h"
#include "autograd/optim.h"
#include "bench/bench.h"

using namespace ff;

namespace {
int run_bench(const apps::Options& o) {
  const Device dev = bench::device(o);
  Context ctx(0, o.threads());
  bench::Runner r("core", ctx, dev, o);
  if (dev.is_cuda() && !Context::cuda_available()) {
    std::fprintf(stderr, "bench_core: --device cuda but %s\n", Context::cuda_unavailable_reason().c_str());
    return 1;
  }
  r.header();

  {  // sgemm 1024^3
    const int64_t n = 1024;
    Tensor a = randn(ctx, {n, n}, DType::F32, dev), b = randn(ctx, {n, n}, DType::F32, dev);
    Tensor c = kernels::matmul(a, b);
    // validate one entry against a direct dot product
    auto av = a.to_vector<float>(), bv = b.to_vector<float>();
    double ref = 0;
    for (int64_t k = 0; k < n; ++k) ref += double(av[size_t(5 * n + k)]) * bv[size_t(k * n + 7)];
    if (std::abs(c.at<float>({5, 7}) - ref) > 1e-2 * (1 + std::abs(ref))) {
      std::fprintf(stderr, "sgemm validation failed: %f vs %f\n", c.at<float>({5, 7}), ref);
      return 1;
    }
    r.run("sgemm 1024^3", [&] { kernels::matmul(a, b); }, 2.0 * n * n * n);
  }
  // the seed generator's largest GEMMs (M×N×K): its 3×3 convolutions at 4², 8², 16², 32² as implicit GEMMs
  // (output channels × padded-grid pixels × input channels·9), and the weight gradient at 4²
  for (auto [m, n, k] : {std::array<int64_t, 3>{512, 80, 4608}, {256, 288, 2304}, {128, 1088, 1152}, {64, 4224, 576},
                         {512, 4608, 80}}) {
    Tensor a = randn(ctx, {m, k}, DType::F32, dev), b = randn(ctx, {k, n}, DType::F32, dev);
    const std::string name = "sgemm " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + " (generator)";
    r.run(name, [&] { kernels::matmul(a, b); }, 2.0 * m * n * k);
  }
  {  // conv2d 3x3, batch 4, 256->256, 64x64
    Tensor x = randn(ctx, {4, 256, 64, 64}, DType::F32, dev), w = randn(ctx, {256, 256, 3, 3}, DType::F32, dev, 0, 0.02);
    kernels::Conv2dParams p{1, 1, 1, 1, 1};
    double fl = 2.0 * 4 * 256 * 256 * 9 * 64 * 64;
    r.run("conv2d 3x3 b4 256->256 64x64 fwd", [&] { kernels::conv2d(x, w, Tensor(), p); }, fl, 0, 5);
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    r.run("conv2d 3x3 b4 256->256 64x64 fwd+bwd", [&] {
      x.zero_grad();
      w.zero_grad();
      backward(sum(conv2d(x, w, Tensor(), p)));
    }, 3 * fl, 0, 5);
  }
  {  // StyleGAN2 fused modulated conv: one grouped conv, groups = batch (4 samples, 128->64 at 64x64)
    const int64_t N = 4, Ci = 128, Co = 64, R = 64;
    Tensor x = randn(ctx, {1, N * Ci, R, R}, DType::F32, dev), w = randn(ctx, {N * Co, Ci, 3, 3}, DType::F32, dev, 0, 0.05);
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    kernels::Conv2dParams p{1, 1, 1, 1, int(N)};
    double fl = 2.0 * N * Co * Ci * 9 * R * R;
    r.run("grouped conv (modconv) g4 128->64 64x64 fwd", [&] {
      NoGrad ng(ctx);
      conv2d(x, w, Tensor(), p);
    }, fl);
    r.run("grouped conv (modconv) g4 128->64 64x64 fwd+bwd", [&] {
      x.zero_grad();
      w.zero_grad();
      backward(sum(conv2d(x, w, Tensor(), p)));
    }, 3 * fl);
  }
  {  // grid_sample: 64-channel 64x64 texture at 3,007 points, forward+backward (input and grid)
    Tensor tex = randn(ctx, {1, 64, 64, 64}, DType::F32, dev);
    Tensor grid = rand(ctx, {1, 1, 3007, 2}, DType::F32, dev, -1, 1);
    tex.set_requires_grad(true);
    grid.set_requires_grad(true);
    r.run("grid_sample 64ch 64x64 @3007 fwd", [&] {
      NoGrad ng(ctx);
      grid_sample(tex, grid);
    }, 0, 3007.0 * 64 * 4 * 4, 50);
    r.run("grid_sample 64ch 64x64 @3007 fwd+bwd", [&] {
      tex.zero_grad();
      grid.zero_grad();
      backward(sum(grid_sample(tex, grid)));
    }, 0, 0, 50);
  }
  {  // Adam over 10M parameters (one tensor)
    const int64_t n = 10'000'000;
    Tensor p = randn(ctx, {n}, DType::F32, dev);
    p.set_requires_grad(true);
    p.set_grad(randn(ctx, {n}, DType::F32, dev));
    Adam opt({{"all", {p}, 1e-3}});
    r.run("adam 10M params", [&] { opt.step(); }, 0, double(n) * 4 * 7);
  }
  r.finish();
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  apps::Options o("bench_core — per-kernel timings of the engine core against their FLOP counts and the CPU's FMA peak.\n\n"
                  "usage: bench_core [options]",
                  bench::options(/*device=*/true));
  if (const int status = bench::start("bench_core", o, argc, argv, [&] { bench::check_timing(o); }); status >= 0)
    return status;
  return bench::guarded("bench_core", [&] { return run_bench(o); });
}
