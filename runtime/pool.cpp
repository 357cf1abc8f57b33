// runtime/pool.cpp — see pool.h.
#include "runtime/pool.h"

#include <sched.h>

#include <algorithm>

namespace ffrt {

int available_cpus() {
#ifdef __EMSCRIPTEN__
  return 1;  // the browser viewer's WebAssembly build (viewer/) has no threads
#endif
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, int(CPU_COUNT(&set)));
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool::Pool(int threads) {
  const int n = threads > 0 ? std::min(threads, 256) : available_cpus();
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { loop(i); });
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void Pool::work(int id) {
  for (;;) {
    const int64_t t = next_.fetch_add(1, std::memory_order_relaxed);
    if (t >= n_) break;
    try {
      (*job_)(t, id);
    } catch (...) {  // e.g. bad_alloc in a worker: keep the first, skip the remaining tasks, rethrow in run()
      std::lock_guard<std::mutex> l(err_mu_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_, std::memory_order_relaxed);
    }
  }
}

void Pool::loop(int id) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || gen_ != seen; });
      if (stop_) return;
      seen = gen_;
      if (!open_) continue;  // woke after run() had every task done: nothing to do, nobody waits for this thread
      ++busy_;
    }
    work(id);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (--busy_ == 0 && !open_) done_cv_.notify_one();
    }
  }
}

void Pool::run(int64_t n, const std::function<void(int64_t, int)>& f) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int64_t t = 0; t < n; ++t) f(t, 0);
    return;
  }
  error_ = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    job_ = &f;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    busy_ = 0;
    open_ = true;
    ++gen_;
  }
  cv_.notify_all();
  work(0);
  std::unique_lock<std::mutex> l(mu_);
  open_ = false;  // every task is taken: a worker not yet awake stays out, run() waits only for those inside
  done_cv_.wait(l, [&] { return busy_ == 0; });
  job_ = nullptr;
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

}  // namespace ffrt
