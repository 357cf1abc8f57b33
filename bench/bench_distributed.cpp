// bench_distributed — time of the gradient all-reduce (train/distributed.h) for the buffer sizes of
// docs/distributed.md, under mpirun (one process: nothing to measure, says so and exits 0):
//   mpirun -np 2 build/bench_distributed [--floats N]...   (default: the demo and seed models' gradients)
// Rank 0 prints, per size: milliseconds per all-reduce (median of the repeats) and the algorithm bandwidth
// (buffer bytes / time). The other bench options (--threads, --json, --quick) are accepted and ignored.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "train/distributed.h"

int main(int argc, char** argv) {
  using namespace ff::train;
  auto world = world_communicator();
  std::vector<long long> sizes;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--floats") == 0) sizes.push_back(std::stoll(argv[++i]));
  // demo model (configs/demo.json) 0.10 M, seed model (configs/seed.json) 9.85 M shared parameters; 1 M between
  if (sizes.empty()) sizes = {101000, 1000000, 9846000};
  if (world->size() == 1) {
    std::printf("bench_distributed: one process, nothing to measure (run it under mpirun -np 2)\n");
    return 0;
  }
  if (world->rank() == 0)
    std::printf("all-reduce (%s, %d ranks, sum in rank order)\n%12s %12s %10s %10s\n", world->name().c_str(),
                world->size(), "floats", "MB", "ms", "GB/s");
  for (long long n : sizes) {
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
