// runtime/pool.h — a small fixed-size worker pool on pthreads (std::thread) for the runtime (no OpenMP).
//
// run(n, f) calls f(task, worker) for every task in [0, n) and returns when all are done; tasks are handed out
// dynamically (an atomic counter); the calling thread takes part as worker 0, so workers ∈ [0, size()). A worker
// that wakes only after every task is taken stays out, and run() does not wait for it (a busy machine may be slow
// to schedule a woken thread).
// One run at a time per pool (callers serialise: each handle owns its pool and lock). An exception thrown by a
// task (any thread) stops the remaining tasks and is rethrown by run() on the calling thread.
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ffrt {

int available_cpus();  // CPUs in this process's affinity mask (≥ 1)

class Pool {
 public:
  explicit Pool(int threads);  // ≤ 0: available_cpus()
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  int size() const { return int(workers_.size()) + 1; }
  void run(int64_t n, const std::function<void(int64_t task, int worker)>& f);

 private:
  void loop(int id);
  void work(int id);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t gen_ = 0;
  int busy_ = 0;       // workers inside the current run's tasks
  bool open_ = false;  // the current run still admits workers (until the calling thread finds no task left)
  bool stop_ = false;
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  std::mutex err_mu_;
  std::exception_ptr error_;
};

}  // namespace ffrt
