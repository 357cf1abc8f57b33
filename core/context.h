// core/context.h — the one explicit piece of state: device, threads, RNG counter, memory, CUDA handles.
//
// Every tensor's storage remembers the Context that allocated it, and ops read their stream, handles and
// thread count from there: there are no singletons. Invariant: a Context outlives every tensor made with it.
// CUDA: one stream per context; device memory comes from a caching allocator (freed blocks are kept in
// size buckets and reused, so steady-state training does no cudaMalloc/cudaFree); nothing in the hot path
// synchronises the device — only copies to the host (Tensor::to(cpu), item()) and synchronize() do.
//
//   ff::Context ctx(/*seed=*/42);
//   auto x = ff::randn(ctx, {3, 4});                     // CPU f32
//   if (ff::Context::cuda_available()) auto g = x.to(ff::Device::cuda());
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ff {

struct Device {
  enum Type : uint8_t { CPU = 0, CUDA = 1 };
  Type type = CPU;
  int index = 0;
  static Device cpu() { return {CPU, 0}; }
  static Device cuda(int i = 0) { return {CUDA, i}; }
  bool is_cpu() const { return type == CPU; }
  bool is_cuda() const { return type == CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return type == CPU ? "cpu" : "cuda:" + std::to_string(index); }
};

struct MemoryStats {
  size_t in_use = 0;     // bytes handed out and not yet freed
  size_t cached = 0;     // bytes held in the free lists
  size_t peak = 0;       // max in_use so far
  size_t raw_allocs = 0; // cudaMalloc calls made
};

class Context {
 public:
  // threads = 0: all hardware threads. cuda_device: the device CUDA tensors of this context live on.
  explicit Context(uint64_t seed = 0, int threads = 0, int cuda_device = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // ---- RNG: counter ranges of the stream keyed by seed() (see core/rng.h) ----
  uint64_t seed() const { return seed_; }
  uint64_t rng_counter() const { return rng_counter_; }
  void set_rng_counter(uint64_t c) { rng_counter_ = c; }
  // returns the first counter of a fresh range of `count` numbers
  uint64_t rng_advance(uint64_t count);

  // ---- autograd recording (see autograd/graph.h; NoGrad is the scoped switch) ----
  bool grad_enabled() const { return grad_enabled_; }
  void set_grad_enabled(bool on) { grad_enabled_ = on; }

  // ---- CPU threads ----
  int threads() const { return threads_; }
  void set_threads(int n);

  // ---- memory ----
  void* allocate(Device d, size_t bytes);
  void deallocate(Device d, void* p, size_t bytes);
  MemoryStats memory_stats(Device d) const;
  void release_cached();  // give cached CUDA blocks back to the driver

  // ---- CUDA ----
  static bool cuda_available();     // a usable device is present (false in CPU-only builds)
  static std::string cuda_unavailable_reason();
  static bool built_with_cuda();
  int cuda_device() const { return cuda_device_; }
  void* stream();   // cudaStream_t
  void* cublas();   // cublasHandle_t (created on first use)
  void* cudnn();    // cudnnHandle_t (created on first use)
  void synchronize();
  // scratch for one op at a time (valid until the next call; stream-ordered reuse is safe on one stream)
  void* cuda_workspace(size_t bytes);

 private:
  uint64_t seed_;
  uint64_t rng_counter_ = 0;
  int threads_ = 1;
  bool grad_enabled_ = true;
  int cuda_device_ = 0;
  void* stream_ = nullptr;
  void* cublas_ = nullptr;
  void* cudnn_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> cuda_free_;  // bucket size → block
  MemoryStats cpu_stats_, cuda_stats_;
  void ensure_cuda();
};

}  // namespace ff
