#include "core/context.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "core/check.h"
#include "core/parallel.h"
#ifdef FF_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace ff {

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

Context::Context(uint64_t seed, int threads, int cuda_device) : seed_(seed), cuda_device_(cuda_device) {
  set_threads(threads);
}

Context::~Context() {
#ifdef FF_WITH_CUDA
  if (stream_) {
    cudaSetDevice(cuda_device_);
    cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
    if (cublas_) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
    if (cudnn_) cudnnDestroy(static_cast<cudnnHandle_t>(cudnn_));
    if (workspace_) cudaFree(workspace_);
    for (auto& kv : cuda_free_) cudaFree(kv.second);
    cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
  }
#endif
}

uint64_t Context::rng_advance(uint64_t count) {
  uint64_t c = rng_counter_;
  rng_counter_ += count;
  return c;
}

void Context::set_threads(int n) {
  check_thread_count(n, "Context::set_threads");
  threads_ = n == 0 ? hardware_threads() : n;
}

#ifdef FF_WITH_CUDA
static size_t round_cuda_bucket(size_t bytes) {
  const size_t small = 512, big = size_t(2) << 20;
  if (bytes == 0) bytes = 1;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + big - 1) / big * big;
}
#endif

void* Context::allocate(Device d, size_t bytes) {
  if (d.is_cpu()) {
    size_t n = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, n);
    FF_CHECK(p, "Context::allocate: out of host memory allocating ", bytes, " bytes");
    std::lock_guard<std::mutex> lock(mu_);
    cpu_stats_.in_use += bytes;
    cpu_stats_.peak = std::max(cpu_stats_.peak, cpu_stats_.in_use);
    return p;
  }
#ifdef FF_WITH_CUDA
  FF_CHECK(d.index == cuda_device_, "Context::allocate: this context owns cuda:", cuda_device_, ", asked for ", d.str());
  ensure_cuda();
  size_t b = round_cuda_bucket(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cuda_free_.find(b);
  void* p = nullptr;
  if (it != cuda_free_.end()) {
    p = it->second;
    cuda_free_.erase(it);
    cuda_stats_.cached -= b;
  } else {
    cudaError_t e = cudaMalloc(&p, b);
    if (e != cudaSuccess) {  // give the cache back and try once more
      cudaGetLastError();
      for (auto& kv : cuda_free_) cudaFree(kv.second);
      cuda_free_.clear();
      cuda_stats_.cached = 0;
      e = cudaMalloc(&p, b);
      FF_CHECK(e == cudaSuccess, "Context::allocate: cudaMalloc of ", b, " bytes failed: ", cudaGetErrorString(e),
               " (in use ", cuda_stats_.in_use, " bytes)");
    }
    cuda_stats_.raw_allocs++;
  }
  cuda_stats_.in_use += b;
  cuda_stats_.peak = std::max(cuda_stats_.peak, cuda_stats_.in_use);
  return p;
#else
  FF_THROW("Context::allocate: ", d.str(), " requested but facefield was built without CUDA");
#endif
}

void Context::deallocate(Device d, void* p, size_t bytes) {
  if (!p) return;
  if (d.is_cpu()) {
    std::free(p);
    std::lock_guard<std::mutex> lock(mu_);
    cpu_stats_.in_use -= bytes;
    return;
  }
#ifdef FF_WITH_CUDA
  size_t b = round_cuda_bucket(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  cuda_free_.emplace(b, p);  // single stream: later work on this stream is ordered after earlier uses
  cuda_stats_.in_use -= b;
  cuda_stats_.cached += b;
#endif
}

MemoryStats Context::memory_stats(Device d) const {
  std::lock_guard<std::mutex> lock(mu_);
  return d.is_cpu() ? cpu_stats_ : cuda_stats_;
}

void Context::release_cached() {
#ifdef FF_WITH_CUDA
  std::lock_guard<std::mutex> lock(mu_);
  if (stream_) cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
  for (auto& kv : cuda_free_) cudaFree(kv.second);
  cuda_free_.clear();
  cuda_stats_.cached = 0;
#endif
}

bool Context::built_with_cuda() {
#ifdef FF_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool Context::cuda_available() {
#ifdef FF_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
#else
  return false;
#endif
}

std::string Context::cuda_unavailable_reason() {
#ifdef FF_WITH_CUDA
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device (") + cudaGetErrorString(e) + ")";
  }
  return n > 0 ? "" : "no CUDA device present";
#else
  return "facefield was built without CUDA (nvcc not found at configure time)";
#endif
}

void Context::ensure_cuda() {
#ifdef FF_WITH_CUDA
  if (stream_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (stream_) return;
  FF_CHECK(cuda_available(), "Context: CUDA requested but ", cuda_unavailable_reason());
  CUDA_CHECK(cudaSetDevice(cuda_device_));
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream_ = s;
#else
  FF_THROW("Context: CUDA requested but ", cuda_unavailable_reason());
#endif
}

void* Context::stream() {
  ensure_cuda();
  return stream_;
}

void* Context::cublas() {
#ifdef FF_WITH_CUDA
  ensure_cuda();
  if (!cublas_) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream_)));
    cublas_ = h;
  }
  return cublas_;
#else
  FF_THROW("Context::cublas: built without CUDA");
#endif
}

void* Context::cudnn() {
#ifdef FF_WITH_CUDA
  ensure_cuda();
  if (!cudnn_) {
    cudnnHandle_t h;
    CUDNN_CHECK(cudnnCreate(&h));
    CUDNN_CHECK(cudnnSetStream(h, static_cast<cudaStream_t>(stream_)));
    cudnn_ = h;
  }
  return cudnn_;
#else
  FF_THROW("Context::cudnn: built without CUDA");
#endif
}

void* Context::cuda_workspace(size_t bytes) {
#ifdef FF_WITH_CUDA
  ensure_cuda();
  if (bytes > workspace_bytes_) {
    if (workspace_) {
      CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)));
      CUDA_CHECK(cudaFree(workspace_));
    }
    size_t n = std::max(bytes, workspace_bytes_ * 2);
    CUDA_CHECK(cudaMalloc(&workspace_, n));
    workspace_bytes_ = n;
  }
  return workspace_;
#else
  FF_THROW("Context::cuda_workspace: built without CUDA");
#endif
}

void Context::synchronize() {
#ifdef FF_WITH_CUDA
  if (stream_) CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_)));
#endif
}

}  // namespace ff
