// bench/bench.h — the per-kernel timing harness shared by facefield's bench programs.
//
//   bench::Runner r("core", device, argc, argv);          // --json PATH, --repeats N, --warmup N, --quick
//   r.run("sgemm 1024^3", [&] { ... }, /*flops=*/2.0 * n * n * n, /*bytes=*/0);
//   r.finish();                                            // prints the table, writes the JSON
// Each case runs `warmup` times untimed, then `repeats` timed runs; on CUDA the context is synchronised
// before each clock read, so times are wall-clock device time. Reports median and min (ms), GFLOP/s and
// GB/s from the median.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>
#include <time.h>

#include "core/context.h"

namespace bench {

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

class Runner {
 public:
  Runner(std::string suite, ff::Context& ctx, ff::Device dev, int argc, char** argv)
      : suite_(std::move(suite)), ctx_(ctx), dev_(dev) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
      if (a == "--json") json_ = next();
      else if (a == "--repeats") repeats_ = std::atoi(next().c_str());
      else if (a == "--warmup") warmup_ = std::atoi(next().c_str());
      else if (a == "--quick") repeats_ = 3, warmup_ = 1;
    }
  }
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
    std::printf("%-44s %10.3f %10.3f %10.3f %10.1f %9.1f\n", name.c_str(), r.median_ms, r.min_ms, r.cpu_ms,
                flops > 0 ? flops / r.median_ms * 1e-6 : 0.0, bytes > 0 ? bytes / r.median_ms * 1e-6 : 0.0);
    std::fflush(stdout);
    results_.push_back(r);
  }

  void header() const {
    std::printf("%s bench on %s, %d threads\n", suite_.c_str(), dev_.str().c_str(), ctx_.threads());
    std::printf("%-44s %10s %10s %10s %10s %9s\n", "kernel", "median ms", "min ms", "cpu ms", "GFLOP/s", "GB/s");
  }

  void finish() const {
    if (json_.empty()) return;
    std::ofstream f(json_);
    f << "{\"suite\": \"" << suite_ << "\", \"device\": \"" << dev_.str() << "\", \"threads\": " << ctx_.threads()
      << ", \"results\": [\n";
    for (size_t i = 0; i < results_.size(); ++i) {
      const Result& r = results_[i];
      f << "  {\"name\": \"" << r.name << "\", \"median_ms\": " << r.median_ms << ", \"min_ms\": " << r.min_ms
        << ", \"cpu_ms\": " << r.cpu_ms << ", \"flops\": " << r.flops << ", \"bytes\": " << r.bytes << ", \"repeats\": " << r.repeats << "}"
        << (i + 1 < results_.size() ? ",\n" : "\n");
    }
    f << "]}\n";
    std::printf("wrote %s\n", json_.c_str());
  }

 private:
  std::string suite_;
  ff::Context& ctx_;
  ff::Device dev_;
  std::string json_;
  int repeats_ = 10, warmup_ = 2;
  std::vector<Result> results_;
};

inline ff::Device parse_device(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--device") return std::string(argv[i + 1]) == "cuda" ? ff::Device::cuda() : ff::Device::cpu();
  return ff::Device::cpu();
}
inline int parse_threads(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--threads") return std::atoi(argv[i + 1]);
  return 0;
}

}  // namespace bench
