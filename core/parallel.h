// core/parallel.h — deterministic CPU parallelism.
//
// parallel_for(n, grain, threads, f) splits [0, n) into contiguous chunks of at least `grain` items and
// calls f(begin, end) on each, on up to `threads` OpenMP threads (static schedule). The split depends only
// on n, grain and threads, never on timing, so a reduction that writes one partial per chunk and combines
// them in chunk order is reproducible run to run.
#pragma once
#include <algorithm>
#include <cstdint>

namespace ff {

int hardware_threads();

template <class F>
void parallel_for(int64_t n, int64_t grain, int threads, F&& f) {
  if (n <= 0) return;
  int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
  int nt = int(std::min<int64_t>(std::max(1, threads), max_chunks));
  if (nt <= 1) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    int64_t b = n * t / nt, e = n * (t + 1) / nt;
    if (b < e) f(b, e);
  }
}

// Number of chunks parallel_for would use (for per-chunk partial buffers).
inline int parallel_chunks(int64_t n, int64_t grain, int threads) {
  if (n <= 0) return 0;
  int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
  return int(std::min<int64_t>(std::max(1, threads), max_chunks));
}

}  // namespace ff
