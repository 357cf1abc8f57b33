// tests/train/test_expression_training.cpp — training on expression data (train/trainer.h "Expression data",
// docs/animation.md §7): an in-memory dataset built from the built-in head model (a few identities posed with
// expressions and jaw by train/animation.h HeadRig, ground truth rendered by splat/ from Gaussians bound to their
// face), the animated model beating the static one on held-out expressions, neutral poses taking the static path bit
// for bit, the expression correction (a with-correction row, zero correction = no correction bitwise, checkpoints
// and model files with and without it), and the refusals.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "core/rng.h"
#include "flame/headmodel.h"
#include "splat/splat_op.h"
#include "tests/testing.h"
#include "tests/train/train_test_util.h"
#include "train/animation.h"
#include "train/checkpoint.h"
#include "train/data/preprocess.h"
#include "train/model_file.h"

using namespace ff;

namespace {

// An in-memory dataset that names the head model its meshes come from (InMemoryDataset names none).
struct HeadDataset : train::InMemoryDataset {
  train::HeadModelRef ref;
  train::HeadModelRef head_model() const override { return ref; }
};

struct Frame {
  std::string name;
  train::RigPose pose;
};

// frames: neutral first, then `n` expressions (jaw opening, 3 expression modes) drawn from `seed`
std::vector<Frame> expression_frames(int n, uint64_t seed, bool with_neutral) {
  std::vector<Frame> f;
  if (with_neutral) f.push_back({"EXP/00000", {}});
  for (int i = 0; i < n; ++i) {
    auto u = [&](int k) { return rng::uniform_at(seed, uint64_t(10 * i + k)); };
    Frame fr;
    char name[32];
    std::snprintf(name, sizeof name, "EXP/%05d", i + 1);
    fr.name = name;
    fr.pose.expression.assign(flame::kBuiltinExprModes, 0.0);
    for (int k = 0; k < 3; ++k) fr.pose.expression[size_t(k)] = 1.5 * u(k);
    fr.pose.pose[3 * flame::kJaw] = 0.3 + 0.2 * u(5);
    f.push_back(fr);
  }
  return f;
}

// Identities of the built-in head model (shape from `first` on) seen by `cams` cameras in every frame; ground truth
// rendered from K=6 textured Gaussians per anchor bound to the identity's face and posed with the frame's pose.
std::shared_ptr<HeadDataset> head_dataset(int subjects, const std::vector<Frame>& frames, int cams, int first = 0,
                                          int W = 32, int H = 40) {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  auto ds = std::make_shared<HeadDataset>();
  ds->ref = {"builtin", flame::head_model_content_id(hm)};
  ds->desc = "test head-model expression dataset";
  Context ctx(1, 1);
  NoGrad ng(ctx);
  for (int i = 0; i < subjects; ++i) {
    const int id = first + i;
    std::vector<double> beta(10);
    for (size_t k = 0; k < beta.size(); ++k) beta[k] = 1.5 * (rng::uniform_at(77 + uint64_t(id), k) - 0.5);
    flame::FlameInput<double> in;
    in.n_shape = int(beta.size());
    in.shape = beta.data();
    flame::FlameOutput<double> out;
    flame::flame_fwd(hm, in, out, nullptr, 1);
    train::InMemoryDataset::Subject sub;
    sub.name = "id" + std::to_string(id);
    sub.head = out.vertices;
    data::PreprocessOptions po;
    po.subdivisions = 0;
    sub.mesh = data::build_head_meshes(hm, sub.head, po).facemask.at(0);
    // the teacher: textured Gaussians on the identity's face
    train::ModelConfig tc;
    tc.K = 6;
    const train::SurfaceLayout lay = train::build_layout({sub.mesh}, tc);
    const std::vector<float> pos = lay.place(sub.mesh);
    const std::vector<double> d2 = train::knn_mean_sq_dist(pos);
    std::vector<float> scales, cols, rots, opac;
    const double tone = rng::uniform_at(99 + uint64_t(id), 0);
    for (int g = 0; g < lay.G; ++g) {
      const double u = 0.5 * (lay.row_uv[2 * size_t(g)] + 1), v = 0.5 * (1 - lay.row_uv[2 * size_t(g) + 1]);
      const double stripes = 0.5 + 0.5 * std::sin(12 * u) * std::cos(10 * v);
      cols.insert(cols.end(), {float(0.35 + 0.4 * tone + 0.2 * stripes), float(0.3 + 0.4 * stripes),
                               float(0.25 + 0.3 * (1 - tone) * stripes)});
      const float sc = float(1.2 * std::sqrt(d2[size_t(g)]));
      scales.insert(scales.end(), {sc, sc, 0.3f * sc});
      rots.insert(rots.end(), {1.f, 0.f, 0.f, 0.f});
      opac.push_back(0.95f);
    }
    // cameras on a frontal arc around the face's centre (canonical: y up, z out of the face)
    double c[3] = {0, 0, 0};
    for (size_t k = 0; k < sub.mesh.vertices.size(); ++k) c[k % 3] += sub.mesh.vertices[k] / double(sub.mesh.vertices.size() / 3);
    std::vector<Camera> cameras;
    for (int k = 0; k < cams; ++k) {
      Camera cam;
      cam.name = "cam" + std::to_string(k);
      cam.width = W, cam.height = H;
      const double az = cams == 1 ? 0.0 : -0.5 + 1.0 * k / (cams - 1), el = (k % 2 ? 0.12 : -0.08), D = 0.55;
      const Vec3d ctr{c[0] + D * std::sin(az) * std::cos(el), c[1] + D * std::sin(el), c[2] + D * std::cos(az) * std::cos(el)};
      const Vec3d fwd = normalized(Vec3d{c[0] - ctr[0], c[1] - ctr[1], c[2] - ctr[2]});
      const Vec3d right = normalized(cross(fwd, Vec3d{0, 1, 0})), down = cross(fwd, right);
      const Vec3d* R[3] = {&right, &down, &fwd};
      for (int r = 0; r < 3; ++r) {
        for (int q = 0; q < 3; ++q) cam.viewmat[size_t(4 * r + q)] = (*R[r])[size_t(q)];
        cam.viewmat[size_t(4 * r + 3)] = -((*R[r])[0] * ctr[0] + (*R[r])[1] * ctr[1] + (*R[r])[2] * ctr[2]);
      }
      cam.viewmat[15] = 1;
      cam.intrinsics = {1.6 * H, 1.6 * H, W / 2.0, H / 2.0};
      cameras.push_back(cam);
    }
    const train::HeadRig rig(hm, sub.head);
    const train::GaussianBinding b = train::GaussianBinding::from_layout(lay, rig.neutral_face());
    const int64_t G = lay.G;
    for (const Frame& fr : frames) {
      std::vector<float> m = pos, q = rots, s = scales;
      train::pose_gaussians_host(b, rig.posed_face(fr.pose), G, m.data(), q.data(), s.data(), 1);
      splat::GaussianTensors gt;
      gt.means = from_vector<float>(ctx, m, {G, 3});
      gt.scales = from_vector<float>(ctx, s, {G, 3});
      gt.rotations = from_vector<float>(ctx, q, {G, 4});
      gt.opacities = from_vector<float>(ctx, opac, {G});
      gt.colors = from_vector<float>(ctx, cols, {G, 3});
      std::vector<float> vm, intr;
      for (const Camera& cam : cameras) {
        vm.insert(vm.end(), cam.viewmat.begin(), cam.viewmat.end());
        intr.insert(intr.end(), cam.intrinsics.begin(), cam.intrinsics.end());
      }
      auto r = splat::render(gt, from_vector<float>(ctx, vm, {cams, 4, 4}), from_vector<float>(ctx, intr, {cams, 4}), W, H);
      const std::vector<float> img = r.image.to_vector<float>(), al = r.alpha.to_vector<float>();
      for (int k = 0; k < cams; ++k) {
        std::vector<uint8_t> rgb(size_t(W) * H * 3), mask(size_t(W) * H);
        for (int p = 0; p < W * H; ++p) {
          for (int ch = 0; ch < 3; ++ch)
            rgb[3 * size_t(p) + size_t(ch)] = uint8_t(std::lround(
                std::clamp(img[(size_t(k) * 3 + size_t(ch)) * size_t(W * H) + size_t(p)], 0.f, 1.f) * 255));
          mask[size_t(p)] = al[size_t(k) * size_t(W * H) + size_t(p)] > 0.5f ? 255 : 0;
        }
        sub.cameras.push_back(cameras[size_t(k)]);
        sub.cameras.back().name = fr.name + "/" + cameras[size_t(k)].name;
        sub.images.push_back(std::move(rgb));
        sub.masks.push_back(std::move(mask));
        sub.poses.push_back(fr.pose);
        sub.frames.push_back(fr.name);
      }
    }
    ds->subjects.push_back(std::move(sub));
  }
  return ds;
}

train::TrainConfig expr_config(const std::string& out, int64_t steps) {
  train::TrainConfig c = testing::tiny_train(out);
  c.steps = steps;
  c.heldout_views = "none";
  c.max_heldout_subjects = 0;
  c.batch_views = 2;
  c.lr_generator = 1e-2;
  c.lr_color = 1e-2;
  return c;
}

const train::SetMetrics& set_of(const std::vector<train::SetMetrics>& m, const std::string& name) {
  for (auto& s : m)
    if (s.set == name) return s;
  FF_THROW("no set ", name);
}

}  // namespace

TEST_CASE("expression training: the animated model beats the static one on held-out expressions") {
  const auto train_ds = head_dataset(2, expression_frames(4, 5, true), 2);
  const auto expr_ds = head_dataset(2, expression_frames(2, 91, false), 2);
  // runs: animated, static (pose_views false), animated with the expression correction
  std::vector<train::SetMetrics> runs[3];
  double corr_abs = 0;
  for (int run = 0; run < 3; ++run) {
    Context ctx(3, 2);
    train::TrainConfig c = expr_config(testing::temp_dir("expr_run" + std::to_string(run)), 60);
    c.pose_views = run != 1;
    c.expression_correction = run == 2;
    train::Trainer tr(ctx, c, train_ds, nullptr);
    tr.set_heldout_expressions(expr_ds);
    for (int64_t t = 0; t < tr.total_steps(); ++t) REQUIRE(tr.step().ok);
    runs[run] = tr.evaluate(false);
    if (run == 2) {
      REQUIRE(tr.model().corr_color.defined());
      CHECK(tr.model().corr_color.shape() == Shape{tr.model().layout().G, 3, flame::builtin_head_model_ref().E + 3});
      for (float v : tr.model().corr_color.to_vector<float>()) corr_abs = std::max(corr_abs, double(std::fabs(v)));
      for (float v : tr.model().corr_offset.to_vector<float>()) corr_abs = std::max(corr_abs, double(std::fabs(v)));
    } else {
      CHECK_FALSE(tr.model().corr_color.defined());
    }
    std::filesystem::remove_all(c.out_dir);
  }
  const auto& posed = set_of(runs[0], "heldout_expr");
  const auto& neutral = set_of(runs[0], "heldout_expr_static");
  const auto& static_model = set_of(runs[1], "heldout_expr_static");
  const auto& corrected = set_of(runs[2], "heldout_expr");
  MESSAGE("held-out expressions, PSNR (mask): animated model posed ", posed.psnr, " (", posed.psnr_mask,
          "), the same rendered neutral ", neutral.psnr, " (", neutral.psnr_mask, "), static model ", static_model.psnr,
          " (", static_model.psnr_mask, "), animated model with the expression correction ", corrected.psnr, " (",
          corrected.psnr_mask, "), SSIM ", posed.ssim, " / ", corrected.ssim);
  CHECK(posed.images == 2 * 2 * 2);
  CHECK(neutral.images == posed.images);
  CHECK(posed.psnr > neutral.psnr + 1.0);
  CHECK(posed.psnr > static_model.psnr + 1.0);
  CHECK(posed.psnr_mask > static_model.psnr_mask + 1.0);
  CHECK(posed.ssim > static_model.ssim);
  // the correction trained (it starts at zero) and the corrected model still animates
  CHECK(corr_abs > 0);
  CHECK(corrected.images == posed.images);
  CHECK(corrected.psnr > static_model.psnr + 1.0);
}

TEST_CASE("expression training: an untrained (zero) expression correction renders exactly as without one") {
  const auto train_ds = head_dataset(2, expression_frames(2, 5, true), 2);
  const auto expr_ds = head_dataset(1, expression_frames(2, 91, false), 2);
  std::vector<train::SetMetrics> evals[2];
  double first_loss[2] = {0, 0};
  for (int on = 0; on < 2; ++on) {
    Context ctx(5, 2);
    train::TrainConfig c = expr_config(testing::temp_dir("expr_zero_corr"), 1);
    c.expression_correction = on == 1;
    train::Trainer tr(ctx, c, train_ds, nullptr);
    evals[on] = tr.evaluate_expressions(*expr_ds);  // before any step: the correction is zero
    const train::StepStats st = tr.step();
    REQUIRE(st.ok);
    first_loss[on] = st.loss;
    if (on) {  // the step's gradient reached the correction
      double m = 0;
      for (float v : tr.model().corr_color.to_vector<float>()) m = std::max(m, double(std::fabs(v)));
      CHECK(m > 0);
    }
    std::filesystem::remove_all(c.out_dir);
  }
  REQUIRE(evals[0].size() == evals[1].size());
  for (size_t i = 0; i < evals[0].size(); ++i) {
    CAPTURE(evals[0][i].set);
    CHECK(evals[0][i].psnr == evals[1][i].psnr);
    CHECK(evals[0][i].ssim == evals[1][i].ssim);
    CHECK(evals[0][i].base_psnr == evals[1][i].base_psnr);
  }
  CHECK(first_loss[0] == first_loss[1]);
}

TEST_CASE("expression training: the correction is saved in checkpoints and loads back through model files") {
  const auto train_ds = head_dataset(1, expression_frames(2, 5, true), 2);
  Context ctx(6, 2);
  train::TrainConfig c = expr_config(testing::temp_dir("expr_corr_ckpt"), 2);
  c.expression_correction = true;
  train::Trainer tr(ctx, c, train_ds, nullptr);
  for (int64_t t = 0; t < tr.total_steps(); ++t) REQUIRE(tr.step().ok);
  const std::string path = c.out_dir + "/m.ffck";
  tr.save_checkpoint(path);
  const train::ModelFile mf = train::load_model_file(ctx, path);
  REQUIRE(mf.model->corr_color.defined());
  CHECK(mf.model->config().correction_dim == tr.model().config().correction_dim);
  CHECK(mf.model->corr_color.to_vector<float>() == tr.model().corr_color.to_vector<float>());
  CHECK(mf.model->corr_offset.to_vector<float>() == tr.model().corr_offset.to_vector<float>());
  // resuming it with the correction off is refused (a different model), with it on restores it
  {
    Context c2(6, 2);
    train::TrainConfig off = c;
    off.expression_correction = false;
    train::Trainer t2(c2, off, train_ds, nullptr);
    CHECK_THROWS_WITH_AS(t2.load_checkpoint(path), doctest::Contains("correction_dim"), Error);
  }
  Context c3(6, 2);
  train::Trainer t3(c3, c, train_ds, nullptr);
  t3.load_checkpoint(path);
  CHECK(t3.model().corr_offset.to_vector<float>() == tr.model().corr_offset.to_vector<float>());
  std::filesystem::remove_all(c.out_dir);
}

TEST_CASE("expression training: a checkpoint from before model.correction_dim resumes and loads with no correction") {
  const auto train_ds = head_dataset(1, expression_frames(1, 5, true), 1);
  Context ctx(7, 2);
  train::TrainConfig c = expr_config(testing::temp_dir("expr_old_ckpt"), 1);
  train::Trainer tr(ctx, c, train_ds, nullptr);
  REQUIRE(tr.step().ok);
  const std::string path = c.out_dir + "/new.ffck", old_path = c.out_dir + "/old.ffck";
  tr.save_checkpoint(path);
  // the same checkpoint as an older facefield wrote it: no "correction_dim" in either config
  train::Checkpoint ck = train::read_checkpoint(ctx, path);
  auto strip = [](const std::string& text, bool whole) {
    nlohmann::json j = nlohmann::json::parse(text);
    (whole ? j["model"] : j).erase("correction_dim");
    return j.dump();
  };
  ck.config_json = strip(ck.config_json, true);
  REQUIRE(ck.config_json.find("correction_dim") == std::string::npos);
  for (auto& [name, t] : ck.tensors)
    if (name == "model/config") {
      const std::vector<uint8_t> b = t.to_vector<uint8_t>();
      const std::string text = strip(std::string(b.begin(), b.end()), false);
      t = from_vector<uint8_t>(ctx, std::vector<uint8_t>(text.begin(), text.end()), {int64_t(text.size())});
    }
  train::write_checkpoint(old_path, ck);
  Context c2(7, 2);
  train::Trainer t2(c2, c, train_ds, nullptr);
  t2.load_checkpoint(old_path);
  CHECK(t2.current_step() == 1);
  const train::ModelFile mf = train::load_model_file(ctx, old_path);
  CHECK(mf.model->config().correction_dim == 0);
  CHECK_FALSE(mf.model->corr_color.defined());
  std::filesystem::remove_all(c.out_dir);
}

TEST_CASE("expression training: neutral poses take the static path bit for bit") {
  // the same images with every pose neutral (poses given) and with no poses at all: identical steps and evaluation
  auto with = head_dataset(2, expression_frames(0, 1, true), 3);
  auto without = std::make_shared<HeadDataset>(*with);
  for (auto& s : without->subjects) s.poses.clear(), s.head.clear(), s.frames.clear();
  std::vector<std::vector<float>> params;
  std::vector<std::vector<train::SetMetrics>> evals;
  for (auto ds : {with, without}) {
    Context ctx(4, 2);
    train::TrainConfig c = expr_config(testing::temp_dir("expr_neutral"), 4);
    train::Trainer tr(ctx, c, ds, nullptr);
    tr.set_heldout_expressions(with);
    for (int64_t t = 0; t < tr.total_steps(); ++t) REQUIRE(tr.step().ok);
    std::vector<float> all;
    for (auto& p : tr.model().named_parameters()) {
      auto v = p.tensor.to(DType::F32).to_vector<float>();
      all.insert(all.end(), v.begin(), v.end());
    }
    params.push_back(all);
    evals.push_back(tr.evaluate(false));
    std::filesystem::remove_all(c.out_dir);
  }
  CHECK(params[0] == params[1]);
  // zero expression: the posed render is the static render exactly
  const auto& posed = set_of(evals[0], "heldout_expr");
  const auto& neutral = set_of(evals[0], "heldout_expr_static");
  CHECK(posed.images == 2 * 3);
  CHECK(posed.psnr == neutral.psnr);
  CHECK(posed.ssim == neutral.ssim);
  CHECK(posed.base_psnr == neutral.base_psnr);
}

TEST_CASE("expression training: a posed view without a head model or head mesh is refused, naming the subject") {
  auto ds = head_dataset(1, expression_frames(1, 3, false), 1);
  {
    auto no_head = std::make_shared<HeadDataset>(*ds);
    no_head->subjects[0].head.clear();
    Context ctx(1, 2);
    train::Trainer tr(ctx, expr_config(testing::temp_dir("expr_refuse"), 2), no_head, nullptr);
    CHECK_THROWS_WITH_AS(tr.step(), doctest::Contains("id0"), Error);
    CHECK_THROWS_WITH_AS(tr.step(), doctest::Contains("head_vertices"), Error);
  }
  {
    auto no_model = std::make_shared<HeadDataset>(*ds);
    no_model->ref = {};
    Context ctx(1, 2);
    train::Trainer tr(ctx, expr_config(testing::temp_dir("expr_refuse2"), 2), no_model, nullptr);
    CHECK_THROWS_WITH_AS(tr.step(), doctest::Contains("names no head model"), Error);
  }
  std::filesystem::remove_all(testing::temp_dir("expr_refuse"));
  std::filesystem::remove_all(testing::temp_dir("expr_refuse2"));
}

TEST_CASE("expression training: open_heldout_expressions is null for a folder without held-out expressions") {
  const std::string d = testing::temp_dir("expr_split");
  CHECK(train::open_heldout_expressions(d) == nullptr);  // no split.json
  write_file_atomic(d + "/split.json", R"({"train": ["a"], "heldout": ["b"]})");
  CHECK(train::open_heldout_expressions(d) == nullptr);  // a split without heldout_frames
  write_file_atomic(d + "/split.json", R"({"train": ["a"], "heldout": ["b"], "heldout_frames": {}})");
  CHECK(train::open_heldout_expressions(d) == nullptr);  // an empty list
  std::filesystem::remove_all(d);
}
