// bench/bench_generator.cpp — the seed generator (nn/generator.h), forward and forward+backward, one z.
//
//   bench_generator [--device cpu|cuda] [--warmup 3] [--repeats 10] [--fused 0|1] [--threads N] [--json PATH]
//
// forward: G(z) with autograd recording off. forward+backward: G(z) recorded, loss = Σ img·r, backward into
// every parameter and z. Each timing is wall-clock per iteration (CUDA: synchronised before the clock stops).
// Prints a table (median / min ms) and, with --json, one JSON object per row. The PyTorch peer is
// bench/generator_torch.py (same configuration); bench/results/generator_cpu.md compares the two.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "nn/generator.h"

using namespace ff;

namespace {
struct Row {
  std::string name;
  double median_ms, min_ms;
  int repeats;
};

Row time_it(const std::string& name, Context& ctx, Device dev, int warmup, int repeats, const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  if (dev.is_cuda()) ctx.synchronize();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    if (dev.is_cuda()) ctx.synchronize();
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {name, ms[ms.size() / 2], ms.front(), repeats};
}
}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu", json;
  int warmup = 3, repeats = 10, fused = 0, threads = 0;
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* k) { return std::strcmp(argv[i], k) == 0 && i + 1 < argc; };
    if (arg("--device")) device = argv[++i];
    else if (arg("--warmup")) warmup = std::atoi(argv[++i]);
    else if (arg("--repeats")) repeats = std::atoi(argv[++i]);
    else if (arg("--fused")) fused = std::atoi(argv[++i]);
    else if (arg("--threads")) threads = std::atoi(argv[++i]);
    else if (arg("--json")) json = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--device cpu|cuda] [--warmup N] [--repeats N] [--fused 0|1] [--threads N] [--json PATH]\n", argv[0]);
      return 2;
    }
  }
  try {
    Context ctx(0, threads);
    Device dev = device == "cuda" ? Device::cuda() : Device::cpu();
    if (dev.is_cuda() && !Context::cuda_available()) {
      std::fprintf(stderr, "no CUDA device: %s\n", Context::cuda_unavailable_reason().c_str());
      return 1;
    }
    nn::GeneratorConfig cfg = nn::GeneratorConfig::seed();
    cfg.fused_modconv = fused != 0;
    nn::Generator G(ctx, cfg, dev);
    Tensor z = randn(ctx, {1, cfg.z_dim}, DType::F32, dev);
    Tensor r = randn(ctx, {1, cfg.img_channels, cfg.img_resolution, cfg.img_resolution}, DType::F32, dev);
    std::printf("facefield generator bench: device %s, threads %d, params %lld, fused_modconv %d\n",
                dev.str().c_str(), ctx.threads(), (long long)G.parameter_count(), fused);
    std::vector<Row> rows;
    rows.push_back(time_it("forward", ctx, dev, warmup, repeats, [&] {
      NoGrad ng(ctx);
      Tensor img = G.forward(z);
    }));
    auto params = G.parameter_tensors();
    rows.push_back(time_it("forward+backward", ctx, dev, warmup, repeats, [&] {
      for (auto& p : params) p.zero_grad();
      Tensor img = G.forward(z);
      backward(sum(mul(img, r)));
    }));
    std::printf("%-18s %10s %10s %8s\n", "case", "median ms", "min ms", "repeats");
    for (auto& row : rows) std::printf("%-18s %10.2f %10.2f %8d\n", row.name.c_str(), row.median_ms, row.min_ms, row.repeats);
    if (!json.empty()) {
      FILE* f = std::fopen(json.c_str(), "w");
      if (!f) {
        std::fprintf(stderr, "cannot write %s\n", json.c_str());
        return 1;
      }
      for (auto& row : rows)
        std::fprintf(f,
                     "{\"impl\": \"facefield\", \"case\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"fused_modconv\": %d, "
                     "\"median_ms\": %.4f, \"min_ms\": %.4f, \"repeats\": %d}\n",
                     row.name.c_str(), dev.str().c_str(), ctx.threads(), fused, row.median_ms, row.min_ms, row.repeats);
      std::fclose(f);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_generator: %s\n", e.what());
    return 1;
  }
  return 0;
}
