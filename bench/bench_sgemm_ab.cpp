// bench/bench_sgemm_ab.cpp — facefield's sgemm against OpenBLAS's (the BLAS Debian's PyTorch calls for its CPU
// matmul) in ONE process, call for call: each round times both on the same data, in alternating order, so the
// ratio of a round is measured within milliseconds. bench_core and bench/torch_core.py run one after the other in
// two processes, minutes apart, and on a shared VM the cores' speed drifts by more than the gaps being measured
// (bench/results/core_cpu.md); a per-round ratio does not drift.
//   bench_sgemm_ab [--threads N] [--rounds R] [--quick] [--json PATH] [--openblas LIB] [--kc K] [--mc M]   (--help)
// --kc/--mc run facefield with other cache blocks (ff::cpu::set_sgemm_blocking), to tune a CPU from one binary.
// OpenBLAS is opened at run time (dlopen; default libopenblas.so.0): facefield never links it, and without it this
// prints why and exits 0. Its thread count is set to facefield's. OpenBLAS's idle workers spin for a while after each
// call (OPENBLAS_THREAD_TIMEOUT, default 2^28 cycles); in one process they would spin on the cores facefield's next
// call needs, so this sets OPENBLAS_THREAD_TIMEOUT=4 (its minimum: sleep at once, as facefield's pool does) unless
// the environment sets it, and reports the value. Both results are checked against each other before timing.
// Output: a table (medians, mins, GFLOP/s, % of the FMA peak, the median of the per-round ratios and the share of
// rounds facefield won) and, with --json, the same as JSON.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench.h"
#include "core/rng.h"
#include "tensor/sgemm_cpu.h"

namespace {

using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                            int);
constexpr int kRowMajor = 101, kNoTrans = 111;

struct Row {
  long m, n, k;
  double ff_median, ff_min, blas_median, blas_min, ratio_median, win_share;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  ff::apps::Options o("bench_sgemm_ab — facefield's sgemm against OpenBLAS's in one process, call for call.\n\n"
                      "usage: bench_sgemm_ab [options]",
                      {{"threads", "0", "N: threads for both (0: all hardware threads)"},
                       {"rounds", "30", "R: rounds, each timing both in alternating order, in [2, 100000]"},
                       {"quick", "", "6 rounds, unless --rounds is given", true},
                       {"json", "", "PATH: also write the results as JSON"},
                       {"openblas", "libopenblas.so.0", "LIB: the OpenBLAS library to dlopen"},
                       {"kc", "0", "K: facefield's k slice (tuning; 0: the micro-kernel's own), in [0, 4096]"},
                       {"mc", "0",
                        "M: facefield's rows of A per block (tuning; 0: its own), a multiple of MR, in [0, 4096]"}});
  if (const int status = bench::start("bench_sgemm_ab", o, argc, argv, [&] {
        o.integer("rounds", 2, 100000);
        const ff::cpu::SgemmKernelInfo k = ff::cpu::sgemm_kernel_info();
        const long kc = o.integer("kc", 0, 4096), mc = o.integer("mc", 0, 4096);
        if (kc > 0 || mc > 0) {
          FF_USAGE_CHECK(kc == 0 || kc >= 16, "--kc must be 0 or in [16, 4096], got ", kc);
          FF_USAGE_CHECK(mc % k.mr == 0, "--mc must be a multiple of the micro-kernel's MR = ", k.mr, ", got ", mc);
          ff::cpu::set_sgemm_blocking(kc > 0 ? kc : k.kc, mc > 0 ? mc : k.mc);
        }
      });
      status >= 0)
    return status;
  const int threads = o.threads() > 0 ? o.threads() : int(std::thread::hardware_concurrency());
  const int rounds = o.flag("quick") && !o.was_given("rounds") ? 6 : int(o.integer("rounds", 2, 100000));
  const std::string json = o.str("json"), lib = o.str("openblas");
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", /*overwrite=*/0);  // before OpenBLAS initialises
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::printf("bench_sgemm_ab: OpenBLAS not found (%s): skipped\n", dlerror());
    return 0;
  }
  const auto cblas = reinterpret_cast<CblasSgemm>(dlsym(h, "cblas_sgemm"));
  const auto set_threads = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
  const auto corename = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_corename"));
  const auto config = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_config"));
  if (!cblas || !set_threads) {
    std::printf("bench_sgemm_ab: %s has no cblas_sgemm/openblas_set_num_threads: skipped\n", lib.c_str());
    return 0;
  }
  set_threads(threads);
  const std::string blas_name = std::string(config ? config() : "OpenBLAS") + ", kernels " + (corename ? corename() : "?");
  const char* timeout = std::getenv("OPENBLAS_THREAD_TIMEOUT");

  const bench::CpuPeak peak = bench::CpuPeak::measure();
  const double peak_gflops = peak.core_gflops * threads;
  std::printf("sgemm A/B in one process: facefield vs %s; %d threads each; %d rounds, order alternating\n",
              blas_name.c_str(), threads, rounds);
  const ff::cpu::SgemmKernelInfo kinfo = ff::cpu::sgemm_kernel_info();
  std::printf("CPU: %s; facefield micro-kernel %s %d×%d, KC %ld MC %ld%s; FMA peak %d × %.1f = %.1f GFLOP/s; "
              "OPENBLAS_THREAD_TIMEOUT=%s\n",
              peak.model.c_str(), peak.isa.c_str(), peak.sgemm_mr, peak.sgemm_nr, long(kinfo.kc), long(kinfo.mc),
              o.was_given("kc") || o.was_given("mc") ? " (--kc/--mc)" : "", threads, peak.core_gflops, peak_gflops,
              timeout ? timeout : "(unset)");
  std::printf("%-22s %9s %9s %7s %9s %9s %7s %12s %10s\n", "m x n x k", "ff med", "ff min", "% peak", "blas med",
              "blas min", "% peak", "ratio (med)", "ff faster");

  const long shapes[][3] = {{1024, 1024, 1024}, {512, 80, 4608}, {256, 288, 2304}, {128, 1088, 1152}, {64, 4224, 576}, {512, 4608, 80}};
  std::vector<Row> rows;
  uint64_t draw = 0;
  for (const auto& s : shapes) {
    const long m = s[0], n = s[1], k = s[2];
    std::vector<float> a(size_t(m * k)), b(size_t(k * n)), c1(size_t(m * n)), c2(size_t(m * n));
    for (float& x : a) x = float(ff::rng::uniform_at(7, draw++) - 0.5);
    for (float& x : b) x = float(ff::rng::uniform_at(7, draw++) - 0.5);
    const auto run_ff = [&] { ff::cpu::sgemm(m, n, k, a.data(), k, 1, b.data(), n, 1, c1.data(), n, false, threads); };
    const auto run_blas = [&] {
      cblas(kRowMajor, kNoTrans, kNoTrans, int(m), int(n), int(k), 1.f, a.data(), int(k), b.data(), int(n), 0.f, c2.data(), int(n));
    };
    run_ff(), run_blas();
    double worst = 0;
    for (size_t i = 0; i < c1.size(); ++i) worst = std::max(worst, double(std::fabs(c1[i] - c2[i])) / (1 + std::fabs(c2[i])));
    if (!(worst < 1e-4)) {
      std::fprintf(stderr, "bench_sgemm_ab: %ldx%ldx%ld: facefield and OpenBLAS differ by %g\n", m, n, k, worst);
      return 1;
    }
    const auto time_ms = [](const auto& f) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    std::vector<double> tf, tb, ratio;
    int wins = 0;
    for (int r = -2; r < rounds; ++r) {  // two warm-up rounds
      double x, y;
      if (r % 2) x = time_ms(run_ff), y = time_ms(run_blas);
      else y = time_ms(run_blas), x = time_ms(run_ff);
      if (r < 0) continue;
      tf.push_back(x), tb.push_back(y), ratio.push_back(y / x);
      wins += x < y;
    }
    Row row{m, n, k, median(tf), *std::min_element(tf.begin(), tf.end()), median(tb),
            *std::min_element(tb.begin(), tb.end()), median(ratio), double(wins) / rounds};
    const double flops = 2.0 * m * n * k;
    char name[64];
    std::snprintf(name, sizeof name, "%ldx%ldx%ld", m, n, k);
    std::printf("%-22s %9.3f %9.3f %6.1f%% %9.3f %9.3f %6.1f%% %11.3f× %9.0f%%\n", name, row.ff_median, row.ff_min,
                100 * flops / row.ff_median * 1e-6 / peak_gflops, row.blas_median, row.blas_min,
                100 * flops / row.blas_median * 1e-6 / peak_gflops, row.ratio_median, 100 * row.win_share);
    std::fflush(stdout);
    rows.push_back(row);
  }
  std::printf("ratio: the median over rounds of OpenBLAS's time / facefield's in the same round (> 1: facefield faster)\n");
  nlohmann::json results = nlohmann::json::array();
  for (const Row& r : rows)
    results.push_back({{"m", r.m}, {"n", r.n}, {"k", r.k}, {"ff_median_ms", r.ff_median}, {"ff_min_ms", r.ff_min},
                       {"blas_median_ms", r.blas_median}, {"blas_min_ms", r.blas_min},
                       {"ratio_median", r.ratio_median}, {"ff_win_share", r.win_share}});
  bench::write_json(json, {{"suite", "sgemm_ab"},
                           {"threads", threads},
                           {"rounds", rounds},
                           {"blas", blas_name},
                           {"openblas_thread_timeout", timeout ? timeout : ""},
                           {"sgemm_kc", kinfo.kc},
                           {"sgemm_mc", kinfo.mc},
                           {"cpu", {{"model", peak.model}, {"sgemm_isa", peak.isa}, {"clock_ghz", peak.clock_ghz},
                                    {"core_peak_gflops", peak.core_gflops}}},
                           {"results", results}});
  return 0;
}
