// core/parallel.h — deterministic CPU parallelism.
//
// parallel_for(n, grain, threads, f) splits [0, n) into contiguous chunks of at least `grain` items and
// calls f(begin, end) on each, on up to `threads` OpenMP threads (static schedule). The split depends only
// on n, grain and threads, never on timing, so a reduction that writes one partial per chunk and combines
// them in chunk order is reproducible run to run.
// Thread counts: every count a caller asks for (Context::set_threads, a program's --threads, parallel_for's
// `threads`, where <= 0 runs on the calling thread) is at most kMaxThreads; check_thread_count refuses anything else with ff::Error naming the count
// and who asked, so an absurd request (--threads 100000) never reaches OpenMP, which would try to start that
// many threads and crash. 0 means "all hardware threads" where a caller allows it.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/check.h"

namespace ff {

int hardware_threads();

constexpr int kMaxThreads = 1024;

// Returns n when 0 <= n <= kMaxThreads; throws ff::Error naming `who` and n otherwise.
inline int check_thread_count(long long n, const char* who) {
  FF_CHECK(n >= 0 && n <= kMaxThreads, who, ": thread count must be in [0, ", kMaxThreads, "] (0: all hardware threads), got ",
           n);
  return int(n);
}

template <class F>
void parallel_for(int64_t n, int64_t grain, int threads, F&& f) {
  if (n <= 0) return;
  FF_CHECK(threads <= kMaxThreads, "parallel_for: thread count must be at most ", kMaxThreads, ", got ", threads);
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
