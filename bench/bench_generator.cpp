// bench/bench_generator.cpp — the seed generator (nn/generator.h), forward and forward+backward, one z.
//
//   bench_generator [--device cpu|cuda] [--warmup 3] [--repeats 10] [--quick] [--fused 0|1] [--threads N] [--json PATH]
//
// forward: G(z) with autograd recording off. forward+backward: G(z) recorded, loss = Σ img·r, backward into
// every parameter and z. Each timing is wall-clock per iteration (CUDA: synchronised before the clock stops).
// Prints a table (median / min ms, GFLOP/s and, on the CPU, % of the measured FMA peak; generator_forward_flops says
// what is counted) and, with --json, one JSON object per row. The PyTorch peer is
// bench/generator_torch.py (same configuration); bench/results/generator_cpu.md compares the two.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "core/parallel.h"
#include "nn/generator.h"

using namespace ff;

namespace {
struct Row {
  std::string name;
  double median_ms, min_ms;
  int repeats;
  double flops = 0;
};

// The generator's forward FLOPs: 2 × the multiply-adds of its convolutions and fully connected layers (mapping,
// affine). The FIR filters, noise, biases and activations (a few % of the work) are not counted. A 3×3 convolution
// at resolution r costs Cout·Cin·9·r². conv0 (up = 2) is a transposed convolution with stride 2, so it costs
// Cout·Cin·9 per INPUT pixel, (r/2)². The seed generator comes to 1.88 GFLOP. forward+backward counts 3× that: the
// backward computes an input gradient and a weight gradient, each as many multiply-adds as the forward.
double generator_forward_flops(const nn::Generator& G) {
  double macs = 0;
  for (const nn::NamedParam& p : G.named_parameters()) {
    const std::vector<int64_t>& s = p.tensor.shape();
    const std::string& n = p.name;
    if (n.size() < 7 || n.compare(n.size() - 7, 7, ".weight") != 0) continue;
    if (s.size() == 2) {  // fully connected
      macs += double(s[0]) * double(s[1]);
    } else if (s.size() == 4) {  // synthesis.b<r>.(conv0|conv1|torgb).weight [Cout, Cin, k, k]
      const int r = std::stoi(n.substr(n.find(".b") + 2));
      const double pixels = n.find(".conv0.") != std::string::npos ? double(r / 2) * (r / 2) : double(r) * r;
      macs += double(s[0]) * double(s[1]) * double(s[2]) * double(s[3]) * pixels;
    }
  }
  return 2 * macs;
}

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
  auto table = bench::options(/*device=*/true, /*repeats=*/10, /*warmup=*/3);
  table.push_back({"fused", "0", "0|1: fused modulated convolutions (the generator's fused_modconv)"});
  apps::Options o("bench_generator — the seed generator (nn/generator.h), forward and forward+backward, one z.\n\n"
                  "usage: bench_generator [options]",
                  table);
  if (const int status = bench::start("bench_generator", o, argc, argv, [&] {
        bench::check_timing(o);
        o.integer("fused", 0, 1);
      });
      status >= 0)
    return status;
  const std::string json = o.str("json");
  const int warmup = bench::warmup_option(o), repeats = bench::repeats_option(o), fused = int(o.integer("fused", 0, 1));
  return bench::guarded("bench_generator", [&] {
    Context ctx(0, o.threads());
    const Device dev = bench::device(o);
    if (dev.is_cuda() && !Context::cuda_available()) {
      std::fprintf(stderr, "no CUDA device: %s\n", Context::cuda_unavailable_reason().c_str());
      return 1;
    }
    nn::GeneratorConfig cfg = nn::GeneratorConfig::seed();
    cfg.fused_modconv = fused != 0;
    nn::Generator G(ctx, cfg, dev);
    Tensor z = randn(ctx, {1, cfg.z_dim}, DType::F32, dev);
    Tensor r = randn(ctx, {1, cfg.img_channels, cfg.img_resolution, cfg.img_resolution}, DType::F32, dev);
    const double fwd_flops = generator_forward_flops(G);
    std::printf("facefield generator bench: device %s, threads %d, params %lld, fused_modconv %d, %.2f GFLOP forward\n",
                dev.str().c_str(), ctx.threads(), (long long)G.parameter_count(), fused, fwd_flops * 1e-9);
    bench::CpuPeak peak;
    if (dev.is_cpu()) {
      peak = bench::CpuPeak::measure();
      peak.print(ctx.threads());
    }
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
    rows[0].flops = fwd_flops, rows[1].flops = 3 * fwd_flops;
    const double all_peak = peak.core_gflops * ctx.threads();
    std::printf("%-18s %10s %10s %8s %9s %7s\n", "case", "median ms", "min ms", "repeats", "GFLOP/s", "% peak");
    for (auto& row : rows) {
      const double gflops = row.flops / row.median_ms * 1e-6;
      std::printf("%-18s %10.2f %10.2f %8d %9.1f", row.name.c_str(), row.median_ms, row.min_ms, row.repeats, gflops);
      if (all_peak > 0) std::printf(" %6.1f%%", 100 * gflops / all_peak);
      std::printf("\n");
    }
    if (!json.empty()) {  // one JSON object per line, as bench/generator_torch.py writes them
      std::string lines;
      for (auto& row : rows)
        lines += nlohmann::json{{"impl", "facefield"}, {"case", row.name}, {"device", dev.str()},
                                {"threads", ctx.threads()}, {"fused_modconv", fused}, {"median_ms", row.median_ms},
                                {"min_ms", row.min_ms}, {"repeats", row.repeats}, {"flops", row.flops},
                                {"cpu_model", dev.is_cpu() ? peak.model : ""},
                                {"peak_gflops", all_peak}}
                     .dump() +
                 "\n";
      write_file_atomic(json, lines);
      std::printf("wrote %s\n", json.c_str());
    }
    return 0;
  });
}
