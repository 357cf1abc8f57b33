// tests/train/test_checkpoint.cpp — .ffck round trip, bit-identical resume, refusal of bad files; .ply layout;
// config JSON / overrides.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "tests/testing.h"
#include "tests/train/train_test_util.h"
#include "train/checkpoint.h"

using namespace ff;
namespace fs = std::filesystem;

TEST_CASE("checkpoint: write/read round trip of every field") {
  Context ctx(0, 1);
  const std::string dir = testing::temp_dir("ck_rt");
  train::Checkpoint ck;
  ck.step = 1234;
  ck.rng_counter = 987654321;
  ck.config_json = "{\"a\": 1}";
  ck.tensors.emplace_back("param/x", randn(ctx, {3, 4}));
  ck.tensors.emplace_back("adam.step/x", from_vector<int64_t>(ctx, {7}, {1}));
  ck.tensors.emplace_back("train/losses", from_vector<double>(ctx, {0.5, 0.25}, {2}));
  const std::string p = train::checkpoint_path(dir, ck.step);
  CHECK(fs::path(p).filename() == "step_00001234.ffck");
  train::write_checkpoint(p, ck);
  train::Checkpoint back = train::read_checkpoint(ctx, p);
  CHECK(back.step == 1234);
  CHECK(back.rng_counter == 987654321);
  CHECK(back.config_json == ck.config_json);
  REQUIRE(back.tensors.size() == 3);
  CHECK(back.tensors[0].first == "param/x");
  CHECK(back.tensors[0].second.to_vector<float>() == ck.tensors[0].second.to_vector<float>());
  CHECK(back.tensors[1].second.to_vector<int64_t>() == std::vector<int64_t>{7});
  CHECK(back.tensors[2].second.to_vector<double>() == std::vector<double>{0.5, 0.25});
  // listing and pruning
  train::write_checkpoint(train::checkpoint_path(dir, 5), ck);
  train::write_checkpoint(train::checkpoint_path(dir, 99999), ck);
  auto all = train::list_checkpoints(dir);
  REQUIRE(all.size() == 3);
  CHECK(fs::path(all[0]).filename() == "step_00000005.ffck");
  train::prune_checkpoints(dir, 2);
  CHECK(train::list_checkpoints(dir).size() == 2);
}

TEST_CASE("checkpoint: truncated, foreign and corrupt files are refused with a clear message") {
  Context ctx(0, 1);
  const std::string dir = testing::temp_dir("ck_bad");
  train::Checkpoint ck;
  ck.step = 3;
  ck.config_json = "{}";
  ck.tensors.emplace_back("param/x", randn(ctx, {64}));
  const std::string p = dir + "/good.ffck";
  train::write_checkpoint(p, ck);
  const std::string bytes = read_file(p);
  for (size_t cut : {size_t(5), size_t(30), bytes.size() / 2, bytes.size() - 1}) {
    write_file_atomic(dir + "/cut.ffck", bytes.substr(0, cut));
    CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, dir + "/cut.ffck"),
                         doctest::Contains(cut < 8 ? "not a facefield checkpoint" : "truncated"), ff::Error);
  }
  write_file_atomic(dir + "/foreign.ffck", "PK\x03\x04 this is a zip file, not ours");
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, dir + "/foreign.ffck"), doctest::Contains("not a facefield checkpoint"),
                       ff::Error);
  save_tensors(dir + "/tensors.fft", {{"x", randn(ctx, {2})}});
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, dir + "/tensors.fft"), doctest::Contains("not a facefield checkpoint"),
                       ff::Error);
  std::string flipped = bytes;
  flipped[bytes.size() - 20] ^= 0x40;
  write_file_atomic(dir + "/flip.ffck", flipped);
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, dir + "/flip.ffck"), doctest::Contains("checksum"), ff::Error);
  std::string future = bytes;
  future[8] = 3;
  write_file_atomic(dir + "/future.ffck", future);
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, dir + "/future.ffck"), doctest::Contains("format version 3"),
                       ff::Error);
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, dir + "/missing.ffck"), doctest::Contains("does not exist"),
                       ff::Error);
}

TEST_CASE("checkpoint: version-1 files still read; packs and tensor files are refused by name") {
  Context ctx(0, 1);
  // tests/reference/container_v1_fixtures.py: the fixed v1 header (step, RNG counter, config) and every dtype
  const std::string v1 = testing::fixture_path("container_v1.ffck");
  train::Checkpoint ck = train::read_checkpoint(ctx, v1);
  CHECK(ck.step == 1234);
  CHECK(ck.rng_counter == (uint64_t(1) << 63) + 5);
  CHECK(ck.config_json == "{\"steps\": 1234, \"model\": {\"K\": 2}}");
  REQUIRE(ck.tensors.size() == 7);
  CHECK(find_tensor(ck.tensors, "param/x").to_vector<float>() == std::vector<float>{0.5f, -1, 2, 3.25f, -0.125f, 8});
  CHECK(find_tensor(ck.tensors, "buffer/G.filter").to_vector<double>() == std::vector<double>{0.25, -4.5});
  CHECK(find_tensor(ck.tensors, "adam.step/x").to_vector<int64_t>() == std::vector<int64_t>{7});
  CHECK(find_tensor(ck.tensors, "train/ids").to_vector<int32_t>() == std::vector<int32_t>{1, -2, 3});
  CHECK(find_tensor(ck.tensors, "train/names").to_vector<uint8_t>() == std::vector<uint8_t>{'a', '\n', 'b'});
  CHECK(find_tensor(ck.tensors, "empty").shape() == Shape{0, 4});
  // written back: version 2, the same checkpoint
  const std::string dir = testing::temp_dir("ck_v1");
  train::write_checkpoint(dir + "/v2.ffck", ck);
  const std::string bytes = read_file(dir + "/v2.ffck");
  CHECK(bytes[8] == 2);
  train::Checkpoint back = train::read_checkpoint(ctx, dir + "/v2.ffck");
  CHECK(back.step == ck.step);
  CHECK(back.rng_counter == ck.rng_counter);
  CHECK(back.config_json == ck.config_json);
  REQUIRE(back.tensors.size() == ck.tensors.size());
  for (size_t i = 0; i < ck.tensors.size(); ++i) {
    CHECK(back.tensors[i].first == ck.tensors[i].first);
    CHECK(back.tensors[i].second.dtype() == ck.tensors[i].second.dtype());
    CHECK(back.tensors[i].second.shape() == ck.tensors[i].second.shape());
  }
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, testing::fixture_path("container_v1.ffpk")),
                       doctest::Contains("is not a facefield checkpoint (bad magic: its first bytes are not "
                                         "\"FFCKPT\\r\\n\"); it is a facefield identity pack (.ffpk)"),
                       ff::Error);
  CHECK_THROWS_WITH_AS(train::read_checkpoint(ctx, testing::fixture_path("nn_blocks.fft")),
                       doctest::Contains("it is a facefield tensor file (.fft)"), ff::Error);
  // a tensor may not take a header record's name
  train::Checkpoint bad;
  bad.tensors.emplace_back("ckpt/step", from_vector<int64_t>(ctx, {1}, {1}));
  CHECK_THROWS_WITH_AS(train::write_checkpoint(dir + "/bad.ffck", bad), doctest::Contains("reserved"), ff::Error);
  CHECK_FALSE(fs::exists(dir + "/bad.ffck"));
  fs::remove_all(dir);
}

TEST_CASE("checkpoint: 6 steps == 3 steps + save + resume in a fresh trainer + 3 steps, bit for bit (CPU)") {
  auto scene = testing::tiny_scene(3, 3);
  auto cfg = testing::tiny_train(testing::temp_dir("resume"));
  cfg.batch_views = 2;
  cfg.lr_xyz = 1e-4;
  auto snapshot = [](train::Trainer& t) {
    std::vector<std::vector<float>> s;
    for (auto& p : t.model().named_parameters()) s.push_back(p.tensor.to_vector<float>());
    for (auto& st : t.optimizer().state()) {
      s.push_back(st.m.to_vector<float>());
      s.push_back(st.v.to_vector<float>());
      s.push_back({float(st.step)});
    }
    return s;
  };
  std::vector<std::vector<float>> full;
  std::vector<double> full_losses;
  {
    Context ctx(11, 2);
    train::Trainer a(ctx, cfg, scene, nullptr);
    for (int i = 0; i < 6; ++i) REQUIRE(a.step().ok);
    full = snapshot(a);
    full_losses = a.loss_history();
  }
  const std::string path = cfg.out_dir + "/half.ffck";
  {
    Context ctx(11, 2);
    train::Trainer b(ctx, cfg, scene, nullptr);
    for (int i = 0; i < 3; ++i) REQUIRE(b.step().ok);
    b.save_checkpoint(path);
  }
  Context ctx(11, 2);
  ctx.rng_advance(12345);  // a different RNG position before loading: the checkpoint restores it
  train::Trainer c(ctx, cfg, scene, nullptr);
  c.load_checkpoint(path);
  CHECK(c.current_step() == 3);
  for (int i = 0; i < 3; ++i) REQUIRE(c.step().ok);
  auto resumed = snapshot(c);
  REQUIRE(resumed.size() == full.size());
  for (size_t i = 0; i < full.size(); ++i) CHECK_MESSAGE(resumed[i] == full[i], "tensor ", i, " differs after resume");
  CHECK(c.loss_history() == full_losses);

  // a checkpoint of another model shape is refused, naming the option
  auto other = cfg;
  other.model.K = 3;
  Context ctx2(11, 2);
  train::Trainer d(ctx2, other, scene, nullptr);
  CHECK_THROWS_WITH_AS(d.load_checkpoint(path), doctest::Contains("model.K"), ff::Error);
}

TEST_CASE("ply export: the official 3DGS layout, raw (pre-activation) values") {
  const std::string dir = testing::temp_dir("ply");
  ffrt::GaussianSet g;
  g.means = {0.1f, 0.2f, 0.3f, -1, -2, -3};
  g.log_scales = {-3, -4, -5, -1, -1, -1};
  g.rotations = {2, 0, 0, 0, 0, 0, 0, 3};
  g.opacities = {0.5f, 0.9f};
  g.colors = {0.5f, 0.25f, 1.f, 0, 0, 0};
  ffrt::write_ply(dir + "/p.ply", g);
  std::string bytes = read_file(dir + "/p.ply");
  CHECK(bytes.rfind("ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\n", 0) == 0);
  testing::PlyRecords t = testing::ply_records(dir + "/p.ply");
  // the default is the full SH-3 layout (45 zero f_rest), what graphdeco's loader asserts
  std::vector<std::string> expect = {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"};
  for (int k = 0; k < 45; ++k) expect.push_back("f_rest_" + std::to_string(k));
  for (const char* p : {"opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"})
    expect.push_back(p);
  CHECK(t.names == expect);
  REQUIRE(t.rows == 2);
  auto v = [&](int r, const char* n) { return t.at(size_t(r), n); };
  CHECK(v(0, "y") == doctest::Approx(0.2));
  CHECK(v(0, "f_dc_0") == doctest::Approx(0.0));
  CHECK(v(0, "f_dc_2") == doctest::Approx(0.5 / ffrt::kSH_C0));
  CHECK(v(0, "opacity") == doctest::Approx(0.0));
  CHECK(v(1, "opacity") == doctest::Approx(std::log(9.0)).epsilon(1e-5));
  CHECK(v(0, "scale_1") == doctest::Approx(-4));
  CHECK(v(0, "rot_0") == doctest::Approx(1.0));
  CHECK(v(1, "rot_3") == doctest::Approx(1.0));
  for (int k = 0; k < 45; ++k) CHECK(v(1, ("f_rest_" + std::to_string(k)).c_str()) == 0.f);
  CHECK(bytes.size() == bytes.find("end_header\n") + 11 + 2 * 62 * 4);
  // SH degree 0 on request: 17 floats
  ffrt::write_ply(dir + "/p0.ply", g, 0);
  CHECK(testing::ply_records(dir + "/p0.ply").names.size() == 17);
}

TEST_CASE("ply export: a trained model's point_cloud.ply reads back with every Gaussian") {
  Context ctx(6, 2);
  auto cfg = testing::tiny_train(testing::temp_dir("ply2"));
  train::Trainer tr(ctx, cfg, testing::tiny_scene(2, 2), nullptr);
  tr.step();
  tr.export_ply(cfg.out_dir + "/pc");
  testing::PlyRecords t = testing::ply_records(cfg.out_dir + "/pc/point_cloud.ply");
  CHECK(t.rows == size_t(tr.model().layout().G));
  for (float x : t.values) REQUIRE(std::isfinite(x));
  CHECK(fs::exists(cfg.out_dir + "/pc/toy1.ply"));
  // the values are subject 0's decoded Gaussians (train/model.h host_gaussians)
  NoGrad ng(ctx);
  const train::GaussianBatch gb = tr.model().decode(tr.model().code_rows(from_vector<int64_t>(ctx, {0}, {1})));
  const ffrt::GaussianSet e = train::host_gaussians(gb, 0, tr.model().positions(0).to_vector<float>());
  const ffrt::GaussianSet r = ffrt::read_ply(cfg.out_dir + "/pc/point_cloud.ply");
  REQUIRE(r.size() == e.size());
  CHECK(r.means == e.means);
  CHECK(r.log_scales == e.log_scales);
  for (size_t i = 0; i < e.size(); ++i) {
    CHECK(std::abs(r.opacities[i] - e.opacities[i]) < 1e-6);
    for (int c = 0; c < 3; ++c) CHECK(std::abs(r.colors[3 * i + c] - e.colors[3 * i + c]) < 1e-6);
  }
}

TEST_CASE("config: JSON round trip, overrides, unknown keys and bad values refused, --help lists every option") {
  train::TrainConfig c;
  train::config_set(c, "steps", "123");
  train::config_set(c, "model.placement", "seed");
  train::config_set(c, "lr_codes", "0.5");
  train::config_set(c, "progress", "false");
  train::TrainConfig d;
  train::config_from_json(d, train::config_to_json(c), "test");
  CHECK(d.steps == 123);
  CHECK(d.model.placement == "seed");
  CHECK(d.lr_codes == 0.5);
  CHECK_FALSE(d.progress);
  CHECK(train::config_to_json(c) == train::config_to_json(d));
  CHECK_THROWS_WITH_AS(train::config_set(c, "stepz", "1"), doctest::Contains("unknown option 'stepz'"), ff::Error);
  CHECK_THROWS_WITH_AS(train::config_set(c, "steps", "many"), doctest::Contains("expected an integer"), ff::Error);
  CHECK_THROWS_AS(train::config_from_json(c, "{\"model\": {\"KK\": 3}}", "x.json"), ff::Error);
  std::string help = train::config_help();
  for (auto& o : train::config_options(c)) CHECK_MESSAGE(help.find("--" + o.name + " ") != std::string::npos, o.name);
  CHECK(help.find("--lr_xyz <double>") != std::string::npos);
}

TEST_CASE("config: every numeric option is range-checked, from the command line and from JSON, naming the option") {
  train::TrainConfig c;
  CHECK_THROWS_WITH_AS(train::config_set(c, "threads", "100000"),
                       doctest::Contains("option threads: must be in [0, 1024], got 100000"), ff::Error);
  CHECK_THROWS_WITH_AS(train::config_set(c, "steps", "-5"), doctest::Contains("option steps: must be in [0, "), ff::Error);
  CHECK_THROWS_WITH_AS(train::config_set(c, "lambda_dssim", "1.5"), doctest::Contains("option lambda_dssim: must be in [0, 1]"),
                       ff::Error);
  CHECK_THROWS_WITH_AS(train::config_set(c, "model.K", "0"), doctest::Contains("option model.K: must be in [1, "), ff::Error);
  CHECK_THROWS_WITH_AS(train::config_set(c, "seed", "-1"), doctest::Contains("option seed: must be in [0, "), ff::Error);
  CHECK_THROWS_WITH_AS(train::config_set(c, "batch_views", "1e12"), doctest::Contains("batch_views"), ff::Error);
  CHECK_THROWS_WITH_AS(train::config_from_json(c, "{\"model\": {\"tex_res\": -4}}", "x.json"),
                       doctest::Contains("option model.tex_res: must be in [1, "), ff::Error);
  CHECK(c.threads == 0);  // a refused value changes nothing
  train::config_set(c, "threads", "1024");
  train::config_set(c, "seed", "18446744073709551615");
  CHECK(c.threads == 1024);
  CHECK(c.seed == ~uint64_t(0));
  for (auto& o : train::config_options(c))  // numeric options state their range
    CHECK_MESSAGE((o.type == "string" || o.type == "bool") == o.range.empty(), o.name);
  // the shipped configs lie inside the ranges
  for (const char* f : {"configs/demo.json", "configs/seed.json"}) {
    train::TrainConfig d;
    const std::string path = std::string(FF_SOURCE_DIR) + "/" + f;
    CHECK_NOTHROW(train::config_from_json(d, ff::read_file(path), path));
  }
}
