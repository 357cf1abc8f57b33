// tests/train/test_fit_eval.cpp — make eval's program logic (train/fit/fit_eval.h run_eval) on a tiny synthetic
// dataset and a tiny model trained in seconds: the report and the plots are written, every number is finite, the
// novel-view scores never include the input view, and a missing photo folder is reported as skipped. The full
// evaluation (`make eval`) is not run here.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "flame/headmodel.h"
#include "tests/testing.h"
#include "tests/train/train_test_util.h"
#include "train/data/nersemble_reader.h"
#include "train/data/preprocess.h"
#include "train/data/synth.h"
#include "train/fit/fit_eval.h"

using namespace ff;
namespace fs = std::filesystem;

namespace {
// 5 identities (1 held out) at 64×96 and a tiny model trained for a few steps on them
struct EvalFixture {
  std::string dir, data, ckpt;
  EvalFixture() {
    dir = testing::temp_dir("fiteval");
    data = dir + "/synth";
    data::SynthOptions so;
    so.out = data;
    so.n = 5;
    so.heldout = 1;
    so.width = 64;
    so.height = 96;
    so.texture_size = 64;
    so.supersample = 1;
    so.contact_sheets = false;
    so.threads = 2;
    data::write_synth_dataset(flame::builtin_head_model_ref(), so);
    Context ctx(0, 2);
    train::TrainConfig cfg = testing::tiny_train(dir + "/run");
    cfg.data_dir = data;
    cfg.steps = 8;
    cfg.max_heldout_subjects = 1;
    cfg.eval_subjects = 2;
    auto ds = train::open_dataset(data, "train");
    train::Trainer tr(ctx, cfg, std::shared_ptr<train::IdentityDataset>(std::move(ds)), nullptr);
    for (int i = 0; i < cfg.steps; ++i) tr.step();
    ckpt = dir + "/tiny.ffck";
    tr.save_checkpoint(ckpt);
  }
  ~EvalFixture() { fs::remove_all(dir); }
};
EvalFixture& fixture() {
  static EvalFixture f;
  return f;
}

fit::EvalOptions small_options(const EvalFixture& fx, const std::string& out) {
  fit::EvalOptions o;
  o.model_path = fx.ckpt;
  o.out = out;
  o.progress = false;
  o.fit.code.levels = {32, 64};
  o.fit.code.iterations = {3, 2};
  o.fit.code.seed_steps = 3;
  o.fit.turntable_size = 64;
  return o;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("fit_eval: ground-truth landmarks of a synthetic identity lie on its face in the frontal camera") {
  EvalFixture& fx = fixture();
  data::DatasetOptions o;
  o.split = data::Split::Heldout;
  o.prefetch_threads = 0;
  data::NersembleReader rd = data::NersembleReader::open(fx.data, o);
  REQUIRE(rd.num_subjects() == 1);
  const data::Subject& sub = rd.subject(0);
  const flame::FlameModel head = flame::load_head_model("builtin");
  const int c = train::frontal_view(sub.cameras);
  CHECK(sub.cameras[c].name == "222200037");  // the rig's centre camera
  const fit::Landmarks68 l =
      fit::project_model_landmarks(head, data::tracked_neutral_vertices(head, sub.tracking, sub.timestep),
                                   sub.cameras[c]);
  std::vector<float> img(size_t(3) * rd.width() * rd.height()), mask(size_t(rd.width()) * rd.height());
  rd.load(0, c, img.data(), mask.data());
  int inside = 0;
  for (int k = 17; k < 68; ++k) {  // the inner-face points fall inside the face mask
    const int x = int(std::lround(l.xy[k * 2])), y = int(std::lround(l.xy[k * 2 + 1]));
    REQUIRE((x >= 0 && y >= 0 && x < rd.width() && y < rd.height()));
    inside += mask[size_t(y) * rd.width() + x] > 0.5f;
  }
  CHECK(inside >= 49);
  // eyes left of and right of the nose tip (30), mouth (62) below it
  CHECK(l.xy[36 * 2] < l.xy[30 * 2]);
  CHECK(l.xy[45 * 2] > l.xy[30 * 2]);
  CHECK(l.xy[62 * 2 + 1] > l.xy[30 * 2 + 1]);
}

TEST_CASE("fit_eval: run_eval writes the report and the plots with finite numbers") {
  EvalFixture& fx = fixture();
  Context ctx(0, 2);
  const std::string photo = testing::shared_path("data/photos/grace_hopper_512x512.jpg");
  fit::EvalOptions o = small_options(fx, fx.dir + "/eval");
  if (!photo.empty()) o.photos_dir = fs::path(photo).parent_path().string();
  o.photos = {"grace_hopper_512x512.jpg"};
  const bool photos = !photo.empty() && fit::have_dlib() && !fit::find_shape_predictor().empty();
  fit::EvalReport r = fit::run_eval(ctx, o);

  const std::string md = read_text(o.out + "/report.md");
  for (const char* h : {"## 1. Synthetic dataset", "## 2. Photos", "## 3. Held-out synthetic identities"})
    CHECK_MESSAGE(md.find(h) != std::string::npos, h);
  CHECK(fs::exists(o.out + "/dataset.png"));
  CHECK(fs::exists(o.out + "/synthetic_views.png"));
  // section 1: the trainer's sets, finite
  REQUIRE(r.dataset.size() == 2);
  for (auto& s : r.dataset) {
    CHECK(s.images > 0);
    for (double v : {s.psnr, s.psnr_mask, s.ssim, s.ssim_mask, s.base_psnr, s.base_psnr_mask}) CHECK(std::isfinite(v));
  }
  // section 3: the held-out identity, scored on the 15 other views only
  REQUIRE(r.synthetic.size() == 1);
  const fit::EvalFit& s = r.synthetic[0];
  CHECK(s.error.empty());
  CHECK(s.views.size() == 15);
  CHECK(std::find(s.views.begin(), s.views.end(), "222200037") == s.views.end());
  CHECK(std::isfinite(s.novel_psnr_code));
  CHECK(std::isfinite(s.novel_ssim_code));
  CHECK(std::isfinite(s.novel_psnr_detail));  // the detail stage, on by default
  CHECK(std::isfinite(s.novel_ssim_detail));
  CHECK(std::isfinite(s.psnr_detail));
  CHECK(std::isfinite(s.landmark_3d_mm));
  CHECK(fs::exists(o.out + "/" + s.strip));
  CHECK(std::isfinite(s.landmark_rms_px));
  CHECK(s.landmark_rms_px < 3.0);  // ground-truth landmarks of the head model: the head fit explains them
  // section 2: the photo (when the photos and dlib are here)
  if (photos) {
    REQUIRE(r.photos.size() == 1);
    const fit::EvalFit& p = r.photos[0];
    CHECK(p.error.empty());
    for (double v :
         {p.psnr_mean, p.psnr_seed, p.psnr_code, p.ssim_code, p.psnr_detail, p.ssim_detail, p.landmark_rms_px})
      CHECK(std::isfinite(v));
    CHECK(fs::exists(o.out + "/photos/grace_hopper_512x512_face0.png"));
    CHECK(fs::exists(o.out + "/photos_psnr.png"));
    CHECK(fs::exists(o.out + "/photos_ssim.png"));
  }
  CHECK(md.find("nan") == std::string::npos);
  CHECK(md.find("inf") == std::string::npos);
}

TEST_CASE("fit_eval: without the photo folder the photo section says so and is skipped") {
  EvalFixture& fx = fixture();
  Context ctx(0, 2);
  fit::EvalOptions o = small_options(fx, fx.dir + "/eval_nophotos");
  o.photos_dir = fx.dir + "/no_such_folder";
  o.dataset_section = false;
  o.max_synthetic = 0;
  fit::EvalReport r = fit::run_eval(ctx, o);
  CHECK(r.photos.empty());
  CHECK(r.photos_note.find("does not exist") != std::string::npos);
  const std::string md = read_text(o.out + "/report.md");
  CHECK(md.find("Skipped: the photo folder") != std::string::npos);
  CHECK_FALSE(fs::exists(o.out + "/photos_psnr.png"));
}

TEST_CASE("fit_eval: single_view_scale finds the scale one view cannot see, and a scaled view matrix renders the "
          "scaled scene") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  const std::vector<double>& truth = hm.v_template;
  // the true head 1.1 m in front of a camera turned by 10° about y; the "fit" is that head shrunk by 1/s about the
  // canonical origin, seen through [R | t/s]: in the camera's frame it is the true head scaled by 1/s about the
  // camera's centre, so its image is the same
  const double s = 1.07, a = 10 * M_PI / 180;
  const fit::Mat4 V_true = {std::cos(a), 0, std::sin(a), 0.01, 0, 1, 0, -0.02, -std::sin(a), 0, std::cos(a), 1.1,
                            0, 0, 0, 1};
  fit::Mat4 V_fit = V_true;
  for (int i = 0; i < 3; ++i) V_fit[size_t(i) * 4 + 3] /= s;
  std::vector<double> fitted(truth);
  for (double& x : fitted) x /= s;
  double got = 0;
  const fit::Mat4 S = fit::single_view_scale(hm, fitted, V_fit, truth, V_true, &got);
  CHECK(got == doctest::Approx(s).epsilon(1e-12));
  CHECK(S[0] == doctest::Approx(s).epsilon(1e-12));
  CHECK(S[5] == S[0]);
  CHECK(S[10] == S[0]);
  CHECK(S[15] == 1.0);
  for (int i : {1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14}) CHECK(S[size_t(i)] == 0.0);
  // the same head as fitted: scale 1
  CHECK(fit::single_view_scale(hm, truth, V_true, truth, V_true) [0] == doctest::Approx(1.0).epsilon(1e-12));
  CHECK_THROWS_AS(fit::single_view_scale(hm, std::vector<double>(9, 0.0), V_true, truth, V_true), ff::Error);

  // section 3 renders through S·viewmat: the renderer must treat it as the scene scaled by s about the camera
  ffrt::GaussianSet g;
  g.resize(3);
  const float xyz[9] = {0.0f, 0.0f, 0.0f, 0.03f, 0.02f, 0.01f, -0.02f, -0.03f, 0.02f};
  for (int k = 0; k < 9; ++k) g.means[size_t(k)] = xyz[k];
  for (size_t k = 0; k < 3; ++k) {
    for (int d = 0; d < 3; ++d) g.log_scales[k * 3 + size_t(d)] = std::log(0.01f + 0.004f * float(d + k));
    g.rotations[k * 4] = 1;
    g.opacities[k] = 0.8f;
    for (int c = 0; c < 3; ++c) g.colors[k * 3 + size_t(c)] = 0.2f + 0.3f * float((k + size_t(c)) % 3);
  }
  ffrt::GaussianSet shrunk = g;  // the "fit": g shrunk by 1/s about the canonical origin
  for (float& m : shrunk.means) m = float(m / s);
  for (float& l : shrunk.log_scales) l = float(l - std::log(s));
  Context ctx(0, 1);
  const std::array<double, 4> K = {300, 300, 64, 64};
  const fit::FImage want = fit::render_gaussians(ctx, g, V_true, K, 128, 128);
  const fit::FImage got_img = fit::render_gaussians(ctx, shrunk, data::mat4_mul(S, V_fit), K, 128, 128);
  double worst = 0, total = 0;
  for (size_t i = 0; i < want.data.size(); ++i)
    worst = std::max(worst, double(std::abs(want.data[i] - got_img.data[i]))), total += want.data[i];
  CHECK(total > 10);  // the Gaussians are in view
  CHECK(worst < 1e-4);
}
