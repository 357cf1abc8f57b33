// bench/bench.h — the per-kernel timing harness shared by facefield's bench programs.
//
//   ff::apps::Options o("bench_core — ...", bench::options(/*device=*/true));  // + the program's own entries
//   if (int status = bench::start("bench_core", o, argc, argv, [&] { bench::check_timing(o); }); status >= 0)
//     return status;                                       // --help, or a bad value
//   return bench::guarded("bench_core", [&] {
//     ff::Context ctx(0, o.threads());
//     bench::Runner r("core", ctx, bench::device(o), o);  // --json PATH, --repeats N, --warmup N, --quick
//     r.run("sgemm 1024^3", [&] { ... }, /*flops=*/2.0 * n * n * n, /*bytes=*/0);
//     r.finish();                                          // prints the table, writes the JSON
//     return 0;
//   });
// Every bench program parses its options with the programs' one parser (apps/common/cli.h): --help, and a bad
// value is refused naming the option.
// Each case runs `warmup` times untimed, then `repeats` timed runs; on CUDA the context is synchronised
// before each clock read, so times are wall-clock device time. Reports median and min (ms), GFLOP/s and
// GB/s from the median.
// On the CPU the header names the CPU model (core/cpu_info.h), the sgemm micro-kernel taken (run-time choice,
// tensor/sgemm_cpu.h) and the FMA peak of the threads used: threads × FMA units × SIMD width × 2 × clock, the
// clock and the FMA rate measured on this machine (cpu_info.h says how); each row's "% peak" is its
// GFLOP/s over that peak, and "% peak cpu" its flops per process-CPU second over one core's peak (the
// figure that stays meaningful when other processes share the cores). The JSON carries the same.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>
#include <time.h>

#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "core/context.h"
#include "core/cpu_info.h"
#include "core/file.h"
#include "tensor/sgemm_cpu.h"

namespace bench {

// The options every bench program shares: --threads, --json, --repeats, --warmup, --quick, and --device with
// `device`. Programs append their own entries to the returned table.
inline std::vector<ff::apps::Options::Opt> options(bool device, int repeats = 10, int warmup = 2) {
  std::vector<ff::apps::Options::Opt> t = {
      {"threads", "0", "N: CPU threads (0: all hardware threads)"},
      {"json", "", "PATH: also write the results as JSON"},
      {"repeats", std::to_string(repeats), "N: timed runs per case, in [1, 100000]"},
      {"warmup", std::to_string(warmup), "N: untimed runs before them, in [0, 1000]"},
      {"quick", "", "3 timed runs after 1 warm-up (a smoke run), unless --repeats/--warmup are given", true}};
  if (device) t.insert(t.begin(), {"device", "cpu", "cpu|cuda"});
  return t;
}
inline ff::Device device(const ff::apps::Options& o) {
  return o.choice("device", {"cpu", "cuda"}) == "cuda" ? ff::Device::cuda() : ff::Device::cpu();
}
// --repeats and --warmup as options() defines them, --quick applied
inline int repeats_option(const ff::apps::Options& o) {
  return o.flag("quick") && !o.was_given("repeats") ? 3 : int(o.integer("repeats", 1, 100000));
}
inline int warmup_option(const ff::apps::Options& o) {
  return o.flag("quick") && !o.was_given("warmup") ? 1 : int(o.integer("warmup", 0, 1000));
}
inline void check_timing(const ff::apps::Options& o) { repeats_option(o), warmup_option(o); }
// The start of every bench's main: start_program (apps/common/cli.h: OpenMP waits passively, as in the programs),
// then argv parsed into `o`; --threads and --device are checked here, the program's other options by `check`
// (which reads each through its getter; check_timing for options()'s), so that a bad value is refused before any
// work. Returns -1 to go on, otherwise the exit status: 0 after --help, 2 for a bad option (its message printed as
// "<program>: <message>").
inline int start(const char* program, ff::apps::Options& o, int argc, char** argv,
                 const std::function<void()>& check = {}) {
  ff::apps::start_program(argv);
  try {
    if (!o.parse(argc, argv)) return 0;
    const auto has = [&](const std::string& k) {
      return std::any_of(o.table.begin(), o.table.end(), [&](const ff::apps::Options::Opt& e) { return e.name == k; });
    };
    if (has("threads")) o.threads();
    if (has("device")) device(o);
    if (check) check();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, ff::apps::failure_message(e).c_str());
    return 2;
  }
  return -1;
}
// The rest of a bench's main: body()'s exit status, or for an exception "<program>: error: <message>" and the
// programs' exit status (apps/common/cli.h exit_status: 2 for a bad option read late, 1 otherwise).
template <class Body>
int guarded(const char* program, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, ff::apps::failure_message(e).c_str());
    return ff::apps::exit_status(e);
  }
}
// `j` to `path` (nothing when empty), written atomically (core/file.h), and a line saying so
inline void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  ff::write_file_atomic(path, j.dump(2) + "\n");
  std::printf("wrote %s\n", path.c_str());
}

struct Result {
  std::string name;
  double median_ms, min_ms, flops, bytes;
  int repeats;
  double cpu_ms;  // median process CPU time per call (all threads): comparable on a busy machine
};

inline double process_cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e3 + double(t.tv_nsec) * 1e-6;
}

// the CPU's single-precision FMA peak, measured (core/cpu_info.h)
struct CpuPeak {
  std::string model, isa;  // the widest ISA (the physical limit), and the one sgemm runs
  int sgemm_mr = 0, sgemm_nr = 0;
  double clock_ghz = 0, core_gflops = 0;  // measured clock; measured FMA rate of one core (widest ISA)
  int simd_width = 0, fma_units = 0;
  static CpuPeak measure() {
    CpuPeak p;
    p.model = ff::cpu_model_name();
    const ff::SimdIsa best = ff::best_simd_isa();
    const ff::cpu::SgemmKernelInfo k = ff::cpu::sgemm_kernel_info();
    p.isa = ff::cpu::sgemm_kernel_name();
    p.sgemm_mr = k.mr, p.sgemm_nr = k.nr;
    p.simd_width = ff::simd_width_floats(best);
    p.clock_ghz = ff::measure_clock_ghz(0.2);
    const double fma = ff::measure_fma_gflops(best, 0.2);
    p.fma_units = p.clock_ghz > 0 ? int(fma / (p.simd_width * 2 * p.clock_ghz) + 0.5) : 0;
    // the peak as units × width × 2 × clock (the measured rate only fixes the unit count)
    p.core_gflops = p.fma_units > 0 ? p.fma_units * p.simd_width * 2 * p.clock_ghz : fma;
    return p;
  }
  // the header lines of a CPU bench: the CPU, the sgemm micro-kernel, the FMA peak of `threads` threads
  void print(int threads) const {
    const char* forced = std::getenv("FF_SGEMM_ISA");
    std::printf("CPU: %s; sgemm micro-kernel %s %d×%d (%s)\n", model.c_str(), isa.c_str(), sgemm_mr, sgemm_nr,
                forced && *forced ? "named by FF_SGEMM_ISA" : "chosen at run time");
    std::printf("FMA peak: %d threads × %d FMA units × %d floats × 2 × %.2f GHz = %.1f GFLOP/s (clock measured by "
                "dependent integer adds, FMA units by independent FMA chains, on thread CPU time)\n",
                threads, fma_units, simd_width, clock_ghz, core_gflops * threads);
  }
};

class Runner {
 public:
  // `o` holds options()'s entries, parsed
  Runner(std::string suite, ff::Context& ctx, ff::Device dev, const ff::apps::Options& o)
      : suite_(std::move(suite)), ctx_(ctx), dev_(dev), json_(o.str("json")), repeats_(repeats_option(o)),
        warmup_(warmup_option(o)) {}
  int repeats() const { return repeats_; }

  void run(const std::string& name, const std::function<void()>& fn, double flops = 0, double bytes = 0,
           int repeats = -1) {
    int reps = repeats > 0 ? std::min(repeats, repeats_) : repeats_;
    for (int i = 0; i < warmup_; ++i) fn();
    ctx_.synchronize();
    std::vector<double> t, cpu;
    for (int i = 0; i < reps; ++i) {
      double c0 = process_cpu_ms();
      auto t0 = std::chrono::steady_clock::now();
      fn();
      ctx_.synchronize();
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      cpu.push_back(process_cpu_ms() - c0);
    }
    std::sort(t.begin(), t.end());
    std::sort(cpu.begin(), cpu.end());
    Result r{name, t[t.size() / 2], t[0], flops, bytes, reps, cpu[cpu.size() / 2]};
    std::printf("%-44s %10.3f %10.3f %10.3f %10.1f %9.1f", name.c_str(), r.median_ms, r.min_ms, r.cpu_ms,
                flops > 0 ? flops / r.median_ms * 1e-6 : 0.0, bytes > 0 ? bytes / r.median_ms * 1e-6 : 0.0);
    if (flops > 0 && peak_.core_gflops > 0)
      std::printf(" %7.1f %10.1f", 100 * flops / r.median_ms * 1e-6 / (peak_.core_gflops * ctx_.threads()),
                  100 * flops / r.cpu_ms * 1e-6 / peak_.core_gflops);
    std::printf("\n");
    std::fflush(stdout);
    results_.push_back(r);
  }

  void header() {
    std::printf("%s bench on %s, %d threads\n", suite_.c_str(), dev_.str().c_str(), ctx_.threads());
    if (!dev_.is_cuda()) {
      peak_ = CpuPeak::measure();
      peak_.print(ctx_.threads());
    }
    std::printf("%-44s %10s %10s %10s %10s %9s %7s %10s\n", "kernel", "median ms", "min ms", "cpu ms", "GFLOP/s", "GB/s",
                "% peak", "% peak cpu");
  }

  void finish() const {
    nlohmann::json j = {{"suite", suite_}, {"device", dev_.str()}, {"threads", ctx_.threads()}};
    if (peak_.core_gflops > 0)
      j["cpu"] = {{"model", peak_.model},
                  {"sgemm_isa", peak_.isa},
                  {"sgemm_tile", std::to_string(peak_.sgemm_mr) + "x" + std::to_string(peak_.sgemm_nr)},
                  {"clock_ghz", peak_.clock_ghz},
                  {"simd_width", peak_.simd_width},
                  {"fma_units", peak_.fma_units},
                  {"core_peak_gflops", peak_.core_gflops},
                  {"clock_source", "measured: dependent integer adds on thread CPU time"}};
    nlohmann::json rows = nlohmann::json::array();
    for (const Result& r : results_)
      rows.push_back({{"name", r.name}, {"median_ms", r.median_ms}, {"min_ms", r.min_ms}, {"cpu_ms", r.cpu_ms},
                      {"flops", r.flops}, {"bytes", r.bytes}, {"repeats", r.repeats}});
    j["results"] = rows;
    write_json(json_, j);
  }

 private:
  std::string suite_;
  ff::Context& ctx_;
  ff::Device dev_;
  std::string json_;
  int repeats_, warmup_;
  std::vector<Result> results_;
  CpuPeak peak_;
};

}  // namespace bench
