#include <vector>

#include "core/check.h"
#include "core/context.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "tests/testing.h"

TEST_CASE("FF_CHECK throws ff::Error with file, message and condition") {
  int n = 3;
  try {
    FF_CHECK(n == 4, "expected 4, got ", n);
    FAIL("no throw");
  } catch (const ff::Error& e) {
    std::string m = e.what();
    CHECK(m.find("test_core.cpp") != std::string::npos);
    CHECK(m.find("expected 4, got 3") != std::string::npos);
    CHECK(m.find("n == 4") != std::string::npos);
  }
}

TEST_CASE("counter RNG: deterministic, uniform in [0,1), normal moments") {
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double u = ff::rng::uniform_at(7, i);
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    double z = ff::rng::normal_at(7, i);
    s += z;
    s2 += z * z;
  }
  CHECK(std::abs(s / n) < 0.01);
  CHECK(std::abs(s2 / n - 1.0) < 0.02);
  CHECK(ff::rng::uniform_at(7, 5) == ff::rng::uniform_at(7, 5));
  CHECK(ff::rng::uniform_at(7, 5) != ff::rng::uniform_at(8, 5));
}

TEST_CASE("Context: rng ranges, threads, host memory stats") {
  ff::Context ctx(1, 2);
  CHECK(ctx.threads() == 2);
  CHECK(ctx.rng_advance(10) == 0);
  CHECK(ctx.rng_advance(5) == 10);
  CHECK(ctx.rng_counter() == 15);
  void* p = ctx.allocate(ff::Device::cpu(), 1000);
  CHECK(ctx.memory_stats(ff::Device::cpu()).in_use == 1000);
  ctx.deallocate(ff::Device::cpu(), p, 1000);
  CHECK(ctx.memory_stats(ff::Device::cpu()).in_use == 0);
  CHECK_THROWS_AS(ctx.set_threads(-1), ff::Error);
}

TEST_CASE("an unreasonable thread count is refused before OpenMP sees it") {
  CHECK_THROWS_WITH_AS(ff::Context(0, 100000), doctest::Contains("got 100000"), ff::Error);
  ff::Context ctx(0, 1);
  CHECK_THROWS_WITH_AS(ctx.set_threads(ff::kMaxThreads + 1), doctest::Contains("Context::set_threads"), ff::Error);
  CHECK(ctx.threads() == 1);  // unchanged by the refused call
  ctx.set_threads(ff::kMaxThreads);
  CHECK(ctx.threads() == ff::kMaxThreads);
  CHECK_THROWS_WITH_AS(ff::parallel_for(10, 1, 100000, [](int64_t, int64_t) {}), doctest::Contains("parallel_for"), ff::Error);
  CHECK_THROWS_WITH_AS(ff::check_thread_count(100000, "render --threads"), doctest::Contains("render --threads"), ff::Error);
  CHECK(ff::check_thread_count(0, "x") == 0);
}

TEST_CASE("parallel_for covers the range exactly once, in fixed chunks") {
  std::vector<int> hits(1001, 0);
  ff::parallel_for(1001, 10, 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i]++;
  });
  for (int h : hits) REQUIRE(h == 1);
  CHECK(ff::parallel_chunks(1001, 10, 4) == 4);
  CHECK(ff::parallel_chunks(5, 10, 4) == 1);
}

TEST_CASE("CUDA caching allocator reuses freed blocks") {
  if (!ff::testing::cuda_or_skip("CUDA caching allocator")) return;
  ff::Context ctx;
  void* a = ctx.allocate(ff::Device::cuda(), 1 << 20);
  ctx.deallocate(ff::Device::cuda(), a, 1 << 20);
  void* b = ctx.allocate(ff::Device::cuda(), 1 << 20);
  CHECK(a == b);
  CHECK(ctx.memory_stats(ff::Device::cuda()).raw_allocs == 1);
  ctx.deallocate(ff::Device::cuda(), b, 1 << 20);
}
