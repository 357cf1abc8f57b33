// tests/train/test_distributed.cpp — data-parallel training (train/distributed.h, docs/distributed.md).
// In a plain ctest run this file is one process: the communicator seam, the rank split and the one-rank NCCL
// communicator (skipped, with the reason, without a GPU). ctest train/distributed_mpirun runs the same file under
// `mpirun -np 2` (tests/train/distributed_mpirun.sh): then the MPI cases compare 2 ranks against one process.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "tests/train/train_test_util.h"
#include "train/distributed.h"

using namespace ff;

namespace {

// every parameter and Adam moment of a trainer, flattened (bit comparisons)
std::vector<float> trainer_state(train::Trainer& tr) {
  std::vector<float> out;
  for (auto& p : tr.model().named_parameters()) {
    auto v = p.tensor.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  for (auto& s : tr.optimizer().state()) {
    auto m = s.m.to_vector<float>(), v = s.v.to_vector<float>();
    out.insert(out.end(), m.begin(), m.end());
    out.insert(out.end(), v.begin(), v.end());
    out.push_back(float(s.step));
  }
  return out;
}

train::TrainConfig dist_config(const std::string& out, int ranks) {
  auto cfg = testing::tiny_train(out);
  cfg.threads = 1;
  cfg.batch_views = 2 * ranks;      // two pairs per rank
  cfg.scale_reg_weight = 1e-3;      // the regulariser's per-subject share across ranks
  cfg.steps = 8;
  return cfg;
}

// largest |a−b| relative to the largest |a|, over two equally long vectors
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, m = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i])), m = std::max(m, std::fabs(double(a[i])));
  return d / m;
}

}  // namespace

TEST_CASE("distributed: the rank slices of a step cover its pairs once, contiguous, in rank order") {
  for (int64_t n : {1, 2, 5, 8, 13})
    for (int ranks = 1; ranks <= n; ++ranks) {
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        auto s = train::rank_slice(n, r, ranks);
        CHECK(s.first == next);
        CHECK(s.end > s.first);  // n ≥ ranks: every rank has work
        CHECK(s.end - s.first <= n / ranks + 1);
        next = s.end;
      }
      CHECK(next == n);
    }
  CHECK_THROWS_AS(train::rank_slice(4, 2, 2), Error);
}

TEST_CASE("distributed: one process — the communicator is a no-op and the trainer refuses fewer pairs than ranks") {
  auto one = train::single_process();
  CHECK(one->rank() == 0);
  CHECK(one->size() == 1);
  Context ctx(1, 1);
  Tensor t = from_vector<float>(ctx, {1.5f, -2.f, 3.f}, {3});
  train::all_reduce_sum(*one, t);
  CHECK(t.to_vector<float>() == std::vector<float>{1.5f, -2.f, 3.f});
  if (train::mpi_launch_evidence().empty()) CHECK(train::world_communicator()->size() == 1);

  // a communicator of more ranks than the step has pairs is refused with the fix
  struct FourRanks final : train::Communicator {
    int rank() const override { return 0; }
    int size() const override { return 4; }
    int local_rank() const override { return 0; }
    std::string name() const override { return "four ranks"; }
    bool reduces_device_buffers() const override { return false; }
    void all_reduce_sum(void*, int64_t, bool) override {}
    void broadcast(void*, int64_t, int) override {}
    void barrier() override {}
    [[noreturn]] void abort(const std::string& why) override { FF_THROW(why); }
  };
  auto cfg = testing::tiny_train(testing::temp_dir("dist_refuse"));
  cfg.batch_views = 3;
  CHECK_THROWS_WITH_AS(train::Trainer(ctx, cfg, testing::tiny_scene(2, 3), nullptr, std::make_shared<FourRanks>()),
                       doctest::Contains("--batch_views 4"), Error);
}

TEST_CASE("distributed: NCCL one-rank communicator sums a CUDA buffer (needs a GPU)") {
  if (!train::built_with_nccl()) {
    MESSAGE("skipped: this build has no NCCL (a CUDA build finds it under /usr/local/cuda)");
    return;
  }
  if (!Context::cuda_available()) {
    MESSAGE("skipped: no usable GPU: " << Context::cuda_unavailable_reason());
    return;
  }
  auto nccl = train::nccl_communicator(train::single_process(), 0);
  CHECK(nccl->size() == 1);
  CHECK(nccl->reduces_device_buffers());
  Context ctx(2, 1, 0);
  Tensor t = from_vector<float>(ctx, {1.f, 2.f, -4.f}, {3}).to(Device::cuda(0));
  train::all_reduce_sum(*nccl, t);
  CHECK(t.to(Device::cpu()).to_vector<float>() == std::vector<float>{1.f, 2.f, -4.f});
  Tensor d = from_vector<double>(ctx, {0.25, 1e300}, {2}).to(Device::cuda(0));
  train::all_reduce_sum(*nccl, d);
  CHECK(d.to(Device::cpu()).to_vector<double>() == std::vector<double>{0.25, 1e300});
  // a CPU buffer is refused: NCCL reduces device memory only
  Tensor h = from_vector<float>(ctx, {1.f}, {1});
  CHECK_THROWS_WITH_AS(train::all_reduce_sum(*nccl, h), doctest::Contains("reduces CUDA buffers"), Error);
}

TEST_CASE("distributed: the MPI sum is ((x0 + x1) + x2) + … on every rank, bit for bit, for any length") {
  auto world = train::world_communicator();
  if (world->size() == 1) {
    MESSAGE("skipped: one process (ctest train/distributed_mpirun runs this file under mpirun -np 2)");
    return;
  }
  // values of mixed magnitudes, so that another order of the additions would round differently
  auto value = [](int rank, size_t i) {
    const double m[] = {1e8, 1.0, -1e8, 3.3e-3, 7.0e5};
    return float(m[(size_t(rank) + i) % 5] * (1.0 + 0.01 * double(i % 7)));
  };
  for (size_t n : {size_t(1), size_t(3), size_t(1001)}) {
    std::vector<float> buf(n), want(n);
    for (size_t i = 0; i < n; ++i) {
      buf[i] = value(world->rank(), i);
      float acc = value(0, i);
      for (int r = 1; r < world->size(); ++r) acc += value(r, i);
      want[i] = acc;
    }
    world->all_reduce_sum(buf.data(), int64_t(n), false);
    CHECK(std::memcmp(buf.data(), want.data(), n * sizeof(float)) == 0);
  }
  std::vector<double> d = {double(world->rank()) + 0.5};
  world->all_reduce_sum(d.data(), 1, true);
  CHECK(d[0] == doctest::Approx(0.5 * world->size() * world->size()));
}

TEST_CASE("distributed: MPI ranks train as one process with the same global batch; state identical on every rank") {
  auto world = train::world_communicator();
  if (world->size() == 1) {
    MESSAGE("skipped: one process (ctest train/distributed_mpirun runs this file under mpirun -np 2)");
    return;
  }
  const int N = world->size();
  std::string dir = world->rank() == 0 ? testing::temp_dir("dist_mpi") : "";
  train::broadcast_string(*world, dir);
  auto cfg = dist_config(dir, N);
  auto scene = testing::tiny_scene(3, 4);
  Context ctx(11, 1);
  train::Trainer dist(ctx, cfg, scene, nullptr, world);
  std::vector<double> dist_losses;
  for (int t = 0; t < 4; ++t) {
    auto st = dist.step();
    REQUIRE(st.ok);
    dist_losses.push_back(st.loss);
  }
  // rank 0 writes a checkpoint at step 4 that every rank and the one-process run resume from
  const std::string ck = dir + "/step4.ffck";
  if (world->rank() == 0) dist.save_checkpoint(ck);
  world->barrier();
  for (int t = 4; t < 8; ++t) {
    auto st = dist.step();
    REQUIRE(st.ok);
    dist_losses.push_back(st.loss);
  }
  CHECK(dist.comm_bytes() > 0);

  // every rank holds the same bits: parameters, Adam moments and steps (the sparse rows included)
  std::vector<float> mine = trainer_state(dist), root = mine;
  world->broadcast(root.data(), int64_t(root.size() * sizeof(float)), 0);
  CHECK(std::memcmp(mine.data(), root.data(), mine.size() * sizeof(float)) == 0);

  // one process with the same global batch on the same data order: equal within fp32 reduction tolerance
  Context ctx1(11, 1);
  train::Trainer one(ctx1, cfg, scene, nullptr);
  for (int t = 0; t < 8; ++t) {
    auto st = one.step();
    REQUIRE(st.ok);
    CHECK(st.loss == doctest::Approx(dist_losses[size_t(t)]).epsilon(1e-5));
  }
  const double d = max_rel_diff(trainer_state(one), mine);
  MESSAGE(N << " ranks vs 1 process after 8 steps (global batch " << cfg.batch_views << "): max |Δ| / max |x| = " << d);
  CHECK(d < 1e-6);

  // resume with another rank count: the N-rank checkpoint continued by these N ranks is bit-identical to the
  // uninterrupted run; continued by one process it agrees within tolerance
  Context ctx2(99, 1);
  train::Trainer again(ctx2, cfg, scene, nullptr, world);
  again.load_checkpoint(ck);
  for (int t = 4; t < 8; ++t) CHECK(again.step().loss == dist_losses[size_t(t)]);
  CHECK(trainer_state(again) == mine);
  Context ctx3(99, 1);
  train::Trainer alone(ctx3, cfg, scene, nullptr);
  alone.load_checkpoint(ck);
  for (int t = 4; t < 8; ++t) alone.step();
  CHECK(max_rel_diff(trainer_state(alone), mine) < 1e-6);

  // a non-finite gradient on one rank skips the step on every rank (no rank waits in a collective)
  train::Trainer bad(ctx, cfg, scene, nullptr, world);
  bad.after_backward = [&](int64_t step, train::IdentityModel& m) {
    if (step == 1 && world->rank() == N - 1) m.decoders[0].w2.grad().data<float>()[0] = std::nanf("");
  };
  CHECK(bad.step().ok);
  auto s1 = bad.step();
  CHECK_FALSE(s1.ok);
  CHECK(s1.failure.find("gradient of") != std::string::npos);
  CHECK(bad.step().ok);
  world->barrier();
  if (world->rank() == 0) std::filesystem::remove_all(dir);
}
