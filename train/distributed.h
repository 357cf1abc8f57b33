// train/distributed.h — the processes of a data-parallel training run and the collectives between them.
//
// A Communicator is one rank's view of the job: rank() in [0, size()), an in-place sum of a flat buffer over
// every rank (all_reduce_sum), broadcast, barrier and abort. Implementations:
//   single process  size 1, every collective a no-op (the default: a plain `train` run is exactly as before)
//   MPI             CPU buffers over MPI_COMM_WORLD (OpenMPI's `mpirun -np N build/train …`)
//   NCCL            CUDA buffers over NCCL, one GPU per rank; MPI (or the single process) only bootstraps it
//                   (the NCCL unique id is broadcast from rank 0) and carries broadcast, barrier and abort
// Invariants:
//   - all_reduce_sum leaves the SAME bits on every rank. The MPI sum is taken in rank order,
//     ((x0 + x1) + x2) + …, whatever MPI's own algorithm choice (a reduce-scatter whose pieces are added in rank
//     order, then an all-gather): a CPU run is bit-reproducible for a given rank count. NCCL's ring sum is the same on every rank but its
//     grouping depends on the ring, so GPU runs agree with a one-process run within fp32 reduction tolerance.
//   - every rank calls the same collectives in the same order (the trainer's step is the only caller).
//   - abort() never returns: it names the rank and the reason on stderr and stops every rank of the job
//     (MPI_Abort), so no rank waits forever in a collective for a rank that failed.
//
// world_communicator() is the job this process belongs to: MPI when the process was started by mpirun (or
// srun: OMPI_COMM_WORLD_SIZE / PMI_SIZE / PMIX_RANK in the environment) and the build has MPI, the single
// process otherwise; a process started by mpirun in a build without MPI is refused (each rank would train
// alone on the same out_dir). MPI is initialised once and finalised at exit.
// Training over these: train/trainer.h (the step's pairs split across ranks, rank 0 writes), docs/distributed.md.
//
//   auto world = ff::train::world_communicator();
//   if (device == "cuda") world = ff::train::nccl_communicator(world, ff::train::cuda_device_of_rank(*world));
//   ff::train::Trainer tr(ctx, cfg, train_ds, heldout_ds, world);
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace ff::train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;             // rank among the processes of this host (GPU choice)
  virtual std::string name() const = 0;           // "single process", "MPI", "NCCL over MPI", …
  virtual bool reduces_device_buffers() const = 0;  // all_reduce_sum takes CUDA (true) or host (false) memory
  // in-place sum over the ranks of n values (float or double), same bits on every rank
  virtual void all_reduce_sum(void* data, int64_t n, bool is_double) = 0;
  virtual void broadcast(void* host_data, int64_t bytes, int root) = 0;  // host memory, every rank the same size
  virtual void barrier() = 0;
  [[noreturn]] virtual void abort(const std::string& why) = 0;
};

// Size 1: the collectives change nothing.
std::shared_ptr<Communicator> single_process();

// The job this process belongs to (see above). The same object on every call.
std::shared_ptr<Communicator> world_communicator();

// NCCL between one GPU per rank (cuda_device: this rank's GPU), bootstrapped over `bootstrap` (rank, size and
// the unique id broadcast). Throws ff::Error in a build without CUDA/NCCL, or when NCCL fails to start.
std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator> bootstrap, int cuda_device);

// The GPU of this rank: its local rank modulo the visible devices (0 in a build without CUDA).
int cuda_device_of_rank(const Communicator& comm);

// What this build can do (tests and messages): MPI linked, NCCL linked.
bool built_with_mpi();
bool built_with_nccl();
// "" when the process was not started by an MPI launcher, else the variable that says it was (e.g.
// "OMPI_COMM_WORLD_SIZE=2").
std::string mpi_launch_evidence();

// Sums a contiguous F32/F64 tensor over the ranks in place (host staging when it is on a device the
// communicator does not reduce directly). Adds the bytes moved and seconds spent to the counters when given.
void all_reduce_sum(Communicator& comm, Tensor& flat, int64_t* bytes = nullptr, double* seconds = nullptr);

// Rank 0's text on every rank (its length first, then its bytes; a no-op in one process).
void broadcast_string(Communicator& comm, std::string& text);

// The part of a step's n items rank r of `ranks` takes: [first, end) with first = n·r/ranks, contiguous,
// in rank order, every item exactly once.
struct RankSlice {
  int64_t first = 0, end = 0;
};
RankSlice rank_slice(int64_t n, int rank, int ranks);

}  // namespace ff::train
