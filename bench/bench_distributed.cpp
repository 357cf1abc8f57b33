// bench_distributed — time of the gradient all-reduce (train/distributed.h) for the buffer sizes of
// docs/distributed.md, under mpirun (one process: nothing to measure, says so and exits 0):
//   mpirun -np 2 build/bench_distributed [--floats N,N,...]   (default: the demo and seed models' gradients)
// Rank 0 prints, per size: milliseconds per all-reduce (median of the repeats) and the algorithm bandwidth
// (buffer bytes / time). The other bench options (--threads, --json, --quick) are accepted and ignored.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "train/distributed.h"

namespace {
int all_reduce_times(const std::vector<long>& sizes) {
  using namespace ff::train;
  auto world = world_communicator();
  if (world->size() == 1) {
    std::printf("bench_distributed: one process, nothing to measure (run it under mpirun -np 2)\n");
    return 0;
  }
  if (world->rank() == 0)
    std::printf("all-reduce (%s, %d ranks, sum in rank order)\n%12s %12s %10s %10s\n", world->name().c_str(),
                world->size(), "floats", "MB", "ms", "GB/s");
  for (const long long n : sizes) {
    std::vector<float> buf(size_t(n), 1.f);
    const int reps = n > 4000000 ? 7 : 21;
    std::vector<double> ms;
    for (int r = 0; r < reps; ++r) {
      world->barrier();
      const auto t0 = std::chrono::steady_clock::now();
      world->all_reduce_sum(buf.data(), n, false);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    if (world->rank() == 0)
      std::printf("%12lld %12.2f %10.3f %10.2f\n", n, 4e-6 * double(n), med, 4e-6 * double(n) / med);
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  // the default sizes: the demo model (configs/demo.json) 0.10 M, the seed model (configs/seed.json) 9.85 M shared
  // parameters, 1 M between
  ff::apps::Options o("bench_distributed — time of the gradient all-reduce, under mpirun.\n\n"
                      "usage: mpirun -np 2 bench_distributed [--floats N,N,...]",
                      {{"floats", "101000,1000000,9846000", "N,...: buffer sizes in floats, each in [1, 1000000000]"},
                       {"threads", "0", "accepted for run_all.sh and ignored"},
                       {"json", "", "accepted for run_all.sh and ignored"},
                       {"quick", "", "accepted for run_all.sh and ignored", true}});
  if (const int status = bench::start("bench_distributed", o, argc, argv,
                                      [&] { o.integers("floats", 1, 1000000000); });
      status >= 0)
    return status;
  const std::vector<long> sizes = o.integers("floats", 1, 1000000000);
  return bench::guarded("bench_distributed", [&] { return all_reduce_times(sizes); });
}
