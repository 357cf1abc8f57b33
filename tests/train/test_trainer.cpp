// tests/train/test_trainer.cpp — training steps learn, sparse-row Adam, non-finite steps, schedule, eval outputs.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "tests/train/train_test_util.h"
#include "train/eval.h"

using namespace ff;

namespace {
std::vector<float> host(const Tensor& t) { return t.to_vector<float>(); }
}  // namespace

TEST_CASE("trainer: a few steps reduce the loss on a tiny synthetic scene") {
  Context ctx(1, 2);
  auto cfg = testing::tiny_train(testing::temp_dir("learn"));
  cfg.steps = 48;
  cfg.heldout_views = "none";
  // a little faster than the seed's rates so that 48 steps show it
  cfg.lr_color = cfg.lr_scale = cfg.lr_rot = cfg.lr_opac = cfg.lr_pos_embedding = 1e-2;
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
  std::vector<double> l;
  for (int i = 0; i < cfg.steps; ++i) {
    auto st = tr.step();
    REQUIRE(st.ok);
    l.push_back(st.loss);
  }
  double first = 0, last = 0;
  for (int i = 0; i < 8; ++i) first += l[i] / 8, last += l[l.size() - 1 - i] / 8;
  INFO("mean loss of the first 8 steps " << first << ", of the last 8 " << last);
  CHECK(last < 0.8 * first);
}

TEST_CASE("trainer: only the active subjects' codes and positions move (sparse-row Adam)") {
  Context ctx(2, 2);
  auto cfg = testing::tiny_train(testing::temp_dir("sparse"));
  cfg.lr_xyz = 1e-3;  // visible position updates
  train::Trainer tr(ctx, cfg, testing::tiny_scene(3, 3), nullptr);
  auto& m = tr.model();
  const int64_t D = m.codes.shape()[1], G3 = m.xyz.shape()[1] * 3;
  std::vector<float> c0 = host(m.codes), x0 = host(m.xyz);
  auto s0 = tr.step();
  const int a = s0.pairs[0].first;
  std::vector<float> c1 = host(m.codes), x1 = host(m.xyz);
  // find a later step on a different subject
  train::StepStats s;
  do s = tr.step();
  while (s.pairs[0].first == a);
  const int b = s.pairs[0].first;
  std::vector<float> c2 = host(m.codes), x2 = host(m.xyz);
  for (int r = 0; r < 3; ++r) {
    bool moved01 = false, moved12 = false;
    for (int64_t k = 0; k < D; ++k) moved01 |= c0[r * D + k] != c1[r * D + k], moved12 |= c1[r * D + k] != c2[r * D + k];
    CHECK_MESSAGE(moved01 == (r == a), "row ", r, " step 0 (subject ", a, ")");
    if (r != a && r != b) CHECK_MESSAGE(!moved12, "row ", r, " moved although inactive");
    bool xmoved = false;
    for (int64_t k = 0; k < G3; ++k) xmoved |= x0[r * G3 + k] != x1[r * G3 + k];
    CHECK(xmoved == (r == a));
  }
  // subject a was inactive in the last step: a dense Adam would have moved it on momentum
  bool a_last = false;
  for (auto& p : s.pairs) a_last |= p.first == a;
  if (!a_last) {
    bool moved = false;
    for (int64_t k = 0; k < D; ++k) moved |= c1[a * D + k] != c2[a * D + k];
    CHECK(!moved);
  }
}

TEST_CASE("trainer: a non-finite gradient skips the step, names it, keeps the state, and training continues") {
  Context ctx(3, 2);
  auto cfg = testing::tiny_train(testing::temp_dir("nan"));
  cfg.max_bad_steps = 3;
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 3), nullptr);
  tr.after_backward = [](int64_t step, train::IdentityModel& m) {
    if (step == 1) {  // poison one generator gradient element
      Tensor g = m.decoders[1].w2.grad();
      g.data<float>()[3] = std::nanf("");
    }
  };
  REQUIRE(tr.step().ok);
  std::vector<std::vector<float>> before;
  for (auto& p : tr.model().named_parameters()) before.push_back(host(p.tensor));
  std::vector<float> m_before = host(tr.optimizer().state()[0].m);
  auto bad = tr.step();
  CHECK_FALSE(bad.ok);
  CHECK(bad.failure.find("dec.scale.2.weight") != std::string::npos);
  CHECK(std::isnan(bad.loss));
  size_t k = 0;
  for (auto& p : tr.model().named_parameters()) CHECK_MESSAGE(host(p.tensor) == before[k++], p.name);
  CHECK(host(tr.optimizer().state()[0].m) == m_before);
  auto next = tr.step();
  CHECK(next.ok);
  CHECK(std::isfinite(next.loss));
  CHECK(tr.current_step() == 3);

  // repeated failures stop the run
  tr.after_backward = [](int64_t, train::IdentityModel& m) { m.codes.grad().data<float>()[0] = INFINITY; };
  CHECK_FALSE(tr.step().ok);
  CHECK_FALSE(tr.step().ok);
  CHECK_THROWS_WITH_AS(tr.step(), doctest::Contains("consecutive non-finite steps"), ff::Error);
}

TEST_CASE("trainer: the schedule visits every subject and view, without held-out views, deterministically") {
  Context ctx(4, 2);
  auto cfg = testing::tiny_train(testing::temp_dir("sched"));
  cfg.heldout_views = "1";
  auto ds = testing::tiny_scene(3, 4);
  train::Trainer tr(ctx, cfg, ds, nullptr);
  std::set<std::pair<int, int>> seen;
  for (int t = 0; t < 60; ++t)
    for (auto& p : tr.pairs_of_step(t)) {
      CHECK(p.second != 1);
      seen.insert(p);
    }
  CHECK(seen.size() == 9);  // 3 subjects × 3 training views
  CHECK(tr.pairs_of_step(17) == tr.pairs_of_step(17));
  cfg.batch_views = 3;
  train::Trainer tb(ctx, cfg, ds, nullptr);
  CHECK(tb.pairs_of_step(0).size() == 3);
  auto st = tb.step();
  CHECK(st.ok);
}

TEST_CASE("trainer: run() writes the documented output folder; held-out identities are fitted and evaluated") {
  Context ctx(5, 2);
  const std::string out = testing::temp_dir("run");
  auto cfg = testing::tiny_train(out);
  cfg.steps = 4;
  cfg.ckpt_every = 2;
  cfg.eval_every = 2;
  cfg.keep_ckpts = 1;
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 4), testing::tiny_scene(1, 4, 500));
  tr.run();
  namespace fs = std::filesystem;
  for (const char* f : {"config.json", "cameras.json", "metrics.csv", "metrics.json", "loss_curve.png", "losses.csv",
                        "eval/step_00000002.png", "eval/step_00000004.png",
                        "point_cloud/iteration_4/point_cloud.ply", "point_cloud/iteration_2/point_cloud.ply",
                        "checkpoints/step_00000004.ffck"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  CHECK_FALSE(fs::exists(fs::path(out) / "checkpoints/step_00000002.ffck"));  // keep_ckpts = 1
  std::string csv = read_file((fs::path(out) / "metrics.csv").string());
  CHECK(csv.find("heldout_views") != std::string::npos);
  CHECK(csv.find("heldout_ids") != std::string::npos);
}

TEST_CASE("eval: metrics of identical and different images") {
  const int W = 16, H = 12;
  std::vector<float> a(3 * W * H), b(3 * W * H);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float((i * 37) % 101) / 100.f, b[i] = a[i];
  auto same = train::image_metrics(a.data(), b.data(), {}, W, H);
  CHECK(same.ssim == doctest::Approx(1.0));
  CHECK(same.psnr > 100);
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::min(1.f, a[i] + 0.1f);
  std::vector<float> mask(W * H, 1.f);
  auto diff = train::image_metrics(a.data(), b.data(), mask, W, H);
  CHECK(diff.psnr < 21);
  CHECK(diff.psnr == doctest::Approx(diff.psnr_mask));
  CHECK(diff.ssim < 1.0);
}

TEST_CASE("trainer: the device ground-truth cache changes nothing but speed") {
  auto scene = testing::tiny_scene(2, 3);
  std::vector<double> losses[2];
  for (int c = 0; c < 2; ++c) {
    Context ctx(8, 2);
    auto cfg = testing::tiny_train(testing::temp_dir("gtcache"));
    cfg.batch_views = 2;
    cfg.gt_cache_mb = c ? 64 : 0;
    train::Trainer tr(ctx, cfg, scene, nullptr);
    for (int i = 0; i < 6; ++i) losses[c].push_back(tr.step().loss);
  }
  CHECK(losses[0] == losses[1]);
}
