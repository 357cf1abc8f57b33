// train/distributed.cpp — the single-process and MPI communicators, the launcher check, host staging (see
// distributed.h). The NCCL communicator is train/distributed_nccl_cuda.cpp (CUDA builds only).
#include "train/distributed.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#ifdef FF_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (the deprecated C++ bindings need libmpi_cxx)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

#include "core/check.h"

namespace ff::train {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single process"; }
  bool reduces_device_buffers() const override { return false; }
  void all_reduce_sum(void*, int64_t, bool) override {}
  void broadcast(void*, int64_t, int root) override {
    FF_CHECK(root == 0, "Communicator::broadcast: root ", root, " in a single-process job");
  }
  void barrier() override {}
  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "[train] stopping: %s\n", why.c_str());
    std::fflush(stderr);
    std::exit(1);
  }
};

#ifdef FF_WITH_MPI
// MPI counts are int: large buffers go in pieces of at most this many elements
constexpr int64_t kMpiChunk = int64_t(1) << 26;

class Mpi final : public Communicator {
 public:
  Mpi() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;  // OpenMP threads never call MPI: the main thread does every call
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
  }
  ~Mpi() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "MPI"; }
  bool reduces_device_buffers() const override { return false; }

  void all_reduce_sum(void* data, int64_t n, bool is_double) override {
    if (is_double) sum_in_rank_order(static_cast<double*>(data), n, MPI_DOUBLE);
    else sum_in_rank_order(static_cast<float*>(data), n, MPI_FLOAT);
  }
  void broadcast(void* host_data, int64_t bytes, int root) override {
    char* p = static_cast<char*>(host_data);
    for (int64_t o = 0; o < bytes; o += kMpiChunk)
      MPI_Bcast(p + o, int(std::min(kMpiChunk, bytes - o)), MPI_BYTE, root, MPI_COMM_WORLD);
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "[train] rank %d of %d: %s — stopping every rank of the job (MPI_Abort)\n", rank_, size_,
                 why.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::exit(1);  // MPI_Abort does not return; this satisfies [[noreturn]]
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;

  // ((x0 + x1) + x2) + …, whatever MPI's algorithm choice: a reduce-scatter where rank k receives piece k of every
  // rank's buffer and adds them in rank order, then an all-gather of the summed pieces. Each rank sends and
  // receives about 2·(N−1)/N of the buffer (a ring's volume), and the bits are the same on every rank.
  template <class T>
  void sum_in_rank_order(T* data, int64_t n, MPI_Datatype type) {
    if (size_ == 1 || n == 0) return;
    std::vector<int> counts(static_cast<size_t>(size_)), displs(counts), rcounts(counts), rdispls(counts);
    for (int64_t o = 0; o < n; o += kMpiChunk) {
      const int64_t c = std::min(kMpiChunk, n - o);
      for (int k = 0; k < size_; ++k) {
        displs[size_t(k)] = int(c * k / size_);
        counts[size_t(k)] = int(c * (k + 1) / size_) - displs[size_t(k)];
      }
      const int mine = counts[size_t(rank_)];
      for (int k = 0; k < size_; ++k) rcounts[size_t(k)] = mine, rdispls[size_t(k)] = k * mine;
      pieces_.resize(size_t(size_) * size_t(mine) * sizeof(T));
      T* in = reinterpret_cast<T*>(pieces_.data());
      MPI_Alltoallv(data + o, counts.data(), displs.data(), type, in, rcounts.data(), rdispls.data(), type,
                    MPI_COMM_WORLD);
      T* out = data + o + displs[size_t(rank_)];
      for (int i = 0; i < mine; ++i) {
        T acc = in[i];
        for (int k = 1; k < size_; ++k) acc += in[size_t(k) * size_t(mine) + size_t(i)];
        out[i] = acc;
      }
      MPI_Allgatherv(MPI_IN_PLACE, 0, type, data + o, counts.data(), displs.data(), type, MPI_COMM_WORLD);
    }
  }
  std::vector<char> pieces_;  // the reduce-scatter's receive buffer, kept between calls
};
#endif

// the launcher's rank count ("" when not started by one)
std::string launcher_variable(int* size) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* s = std::getenv(v)) {
      *size = std::atoi(s);
      return std::string(v) + "=" + s;
    }
  if (const char* s = std::getenv("PMIX_RANK")) {
    *size = -1;  // a PMIx launch that does not export the size
    return std::string("PMIX_RANK=") + s;
  }
  *size = 1;
  return "";
}

}  // namespace

std::shared_ptr<Communicator> single_process() { return std::make_shared<SingleProcess>(); }

bool built_with_mpi() {
#ifdef FF_WITH_MPI
  return true;
#else
  return false;
#endif
}

std::string mpi_launch_evidence() {
  int n = 0;
  return launcher_variable(&n);
}

std::shared_ptr<Communicator> world_communicator() {
  static std::shared_ptr<Communicator> world;  // finalised (MPI) at exit
  if (world) return world;
  int n = 1;
  const std::string evidence = launcher_variable(&n);
  if (evidence.empty()) return world = single_process();
#ifdef FF_WITH_MPI
  world = std::make_shared<Mpi>();
#else
  FF_CHECK(n == 1, "this process was started by an MPI launcher (", evidence, ") but this build has no MPI: "
           "install libopenmpi-dev (scripts/setup.sh) and rebuild, or run without mpirun");
  world = single_process();
#endif
  return world;
}

#ifndef FF_WITH_CUDA
int cuda_device_of_rank(const Communicator&) { return 0; }
#endif

#ifndef FF_WITH_NCCL
bool built_with_nccl() { return false; }
std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator>, int) {
  FF_THROW("nccl_communicator: this build has no NCCL (a CUDA build finds it under /usr/local/cuda)");
}
#endif

void all_reduce_sum(Communicator& comm, Tensor& flat, int64_t* bytes, double* seconds) {
  FF_CHECK(flat.dtype() == DType::F32 || flat.dtype() == DType::F64, "all_reduce_sum: F32 or F64 buffer, got ",
           dtype_name(flat.dtype()));
  FF_CHECK(flat.is_contiguous(), "all_reduce_sum: the buffer must be contiguous");
  const bool on_device = flat.device().is_cuda();
  FF_CHECK(on_device || !comm.reduces_device_buffers(), "all_reduce_sum: ", comm.name(),
           " reduces CUDA buffers, this one is on ", flat.device().str(), " (CPU training runs over MPI)");
  if (comm.size() == 1) return;
  const auto t0 = std::chrono::steady_clock::now();
  const bool is_double = flat.dtype() == DType::F64;
  if (on_device == comm.reduces_device_buffers()) {
    comm.all_reduce_sum(flat.raw_data(), flat.numel(), is_double);
  } else {  // a CUDA buffer over MPI: staged through host memory
    Tensor staged = flat.to(Device::cpu());
    comm.all_reduce_sum(staged.raw_data(), staged.numel(), is_double);
    flat.copy_(staged);
  }
  if (bytes) *bytes += flat.numel() * int64_t(dtype_size(flat.dtype()));
  if (seconds) *seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void broadcast_string(Communicator& comm, std::string& text) {
  int64_t n = int64_t(text.size());
  comm.broadcast(&n, int64_t(sizeof n), 0);
  FF_CHECK(n >= 0, "broadcast_string: length ", n, " from rank 0");
  text.resize(size_t(n));
  if (n > 0) comm.broadcast(&text[0], n, 0);
}

RankSlice rank_slice(int64_t n, int rank, int ranks) {
  FF_CHECK(ranks >= 1 && rank >= 0 && rank < ranks && n >= 0, "rank_slice: rank ", rank, " of ", ranks, ", ", n,
           " items");
  return {n * rank / ranks, n * (rank + 1) / ranks};
}

}  // namespace ff::train
