// train/distributed_nccl_cuda.cpp — the NCCL communicator (see distributed.h): one GPU per rank, the sum of
// CUDA buffers over NCCL, everything else (unique id broadcast, broadcast, barrier, abort) over the bootstrap
// communicator. Compiled in CUDA builds; the NCCL part where NCCL was found (FF_WITH_NCCL), distributed.cpp
// refuses otherwise.
#include <cuda_runtime.h>

#include "core/check.h"
#include "train/distributed.h"

namespace ff::train {

int cuda_device_of_rank(const Communicator& comm) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n <= 0) return 0;  // Context reports the missing device
  return comm.local_rank() % n;
}

}  // namespace ff::train

#ifdef FF_WITH_NCCL
#include <nccl.h>

#include <cstdlib>

namespace ff::train {

namespace {

#define FF_NCCL_CHECK(call, what)                                                                                \
  do {                                                                                                           \
    ncclResult_t r_ = (call);                                                                                    \
    FF_CHECK(r_ == ncclSuccess, "NCCL ", what, " failed: ", ncclGetErrorString(r_), " (", ncclGetLastError(nullptr), \
             ")");                                                                                               \
  } while (0)
#define FF_CUDART_CHECK(call, what)                                                          \
  do {                                                                                       \
    cudaError_t e_ = (call);                                                                 \
    FF_CHECK(e_ == cudaSuccess, "NCCL communicator: ", what, ": ", cudaGetErrorString(e_)); \
  } while (0)

class Nccl final : public Communicator {
 public:
  Nccl(std::shared_ptr<Communicator> bootstrap, int cuda_device) : boot_(std::move(bootstrap)), device_(cuda_device) {
    FF_CUDART_CHECK(cudaSetDevice(device_), "cudaSetDevice(" + std::to_string(device_) + ")");
    ncclUniqueId id{};
    if (boot_->rank() == 0) FF_NCCL_CHECK(ncclGetUniqueId(&id), "ncclGetUniqueId");
    boot_->broadcast(&id, int64_t(sizeof id), 0);
    FF_NCCL_CHECK(ncclCommInitRank(&comm_, boot_->size(), id, boot_->rank()), "ncclCommInitRank");
    FF_CUDART_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~Nccl() override {
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return boot_->rank(); }
  int size() const override { return boot_->size(); }
  int local_rank() const override { return boot_->local_rank(); }
  std::string name() const override { return "NCCL over " + boot_->name(); }
  bool reduces_device_buffers() const override { return true; }

  void all_reduce_sum(void* data, int64_t n, bool is_double) override {
    if (n == 0) return;
    // the engine's kernels that wrote `data` run on its own stream: finish them, sum, then finish the sum
    FF_CUDART_CHECK(cudaDeviceSynchronize(), "before ncclAllReduce");
    FF_NCCL_CHECK(ncclAllReduce(data, data, size_t(n), is_double ? ncclDouble : ncclFloat, ncclSum, comm_, stream_),
                  "ncclAllReduce");
    FF_CUDART_CHECK(cudaStreamSynchronize(stream_), "after ncclAllReduce");
  }
  void broadcast(void* host_data, int64_t bytes, int root) override { boot_->broadcast(host_data, bytes, root); }
  void barrier() override { boot_->barrier(); }
  [[noreturn]] void abort(const std::string& why) override {
    if (comm_) ncclCommAbort(comm_), comm_ = nullptr;
    boot_->abort(why);
    std::exit(1);  // not reached: the bootstrap's abort does not return
  }

 private:
  std::shared_ptr<Communicator> boot_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

bool built_with_nccl() { return true; }

std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator> bootstrap, int cuda_device) {
  FF_CHECK(bootstrap, "nccl_communicator: no bootstrap communicator");
  return std::make_shared<Nccl>(std::move(bootstrap), cuda_device);
}

}  // namespace ff::train
#endif
