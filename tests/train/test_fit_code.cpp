// tests/train/test_fit_code.cpp — identity-code fitting against a tiny model trained in the fixture on a small
// synthetic dataset (ffdata synth layout, built-in head model): held-out identities fitted on the centre camera and
// evaluated on the other 15 views (fit vs mean code), the seed recipe, and the whole photo pipeline end to end on
// shared/data/photos/grace_hopper_512x512.jpg (given landmarks, and dlib detection when built with it), plus the
// no-face / corrupt-image paths (no half-written outputs).
#include <chrono>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "core/geometry.h"
#include "core/rng.h"
#include "flame/headmodel.h"
#include "tests/testing.h"
#include "tests/train/train_test_util.h"
#include "train/checkpoint.h"
#include "train/data/image.h"
#include "train/data/synth.h"
#include "train/animation.h"
#include "train/eval.h"
#include "train/fit/fit_image.h"
#include "runtime/container.h"
#include "runtime/raster.h"
#include "runtime/rig.h"

using namespace ff;
namespace fs = std::filesystem;

namespace {
const std::string kPhoto = ff::testing::shared_path("data/photos/grace_hopper_512x512.jpg");
const std::string kPhotoLmk = ff::testing::shared_path("data/photos/grace_hopper_512x512.dlib68.txt");
double secs(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A small synthetic dataset and a tiny model trained on it, made once per test process.
struct Fixture {
  std::string dir, data, ckpt;
  Fixture() {
    auto t0 = std::chrono::steady_clock::now();
    dir = testing::temp_dir("fitcode");
    data = dir + "/synth";
    data::SynthOptions so;
    so.out = data;
    so.n = 10;
    so.heldout = 3;
    so.width = 96;
    so.height = 140;
    so.texture_size = 128;
    so.supersample = 1;
    so.contact_sheets = false;
    so.threads = 2;
    data::write_synth_dataset(flame::builtin_head_model_ref(), so);
    double t_synth = secs(t0);
    Context ctx(0, 2);
    train::TrainConfig cfg;
    cfg.data_dir = data;
    cfg.model = testing::tiny_model();
    cfg.model.code_dim = 8;
    cfg.model.K = 2;
    cfg.model.tex_res = 16;
    cfg.model.feat_dim = 8;
    cfg.model.channel_max = 16;
    cfg.steps = 300;
    cfg.batch_views = 2;
    cfg.minibatch_subjects = 7;
    cfg.minibatch_iters = 4;
    cfg.lr_codes = 2e-2;
    cfg.lr_color = cfg.lr_pos_embedding = 1e-2;
    cfg.lr_generator = 4e-3;
    cfg.loss_region = "mask";
    cfg.progress = false;
    cfg.threads = 2;
    cfg.out_dir = dir + "/run";
    cfg.max_heldout_subjects = 0;
    auto ds = train::open_dataset(data, "train");
    train::Trainer tr(ctx, cfg, std::shared_ptr<train::IdentityDataset>(std::move(ds)), nullptr);
    for (int i = 0; i < cfg.steps; ++i) tr.step();
    ckpt = dir + "/tiny.ffck";
    tr.save_checkpoint(ckpt);
    std::printf("[fit fixture] synth %.1f s, training %d steps %.1f s\n", t_synth, int(cfg.steps), secs(t0) - t_synth);
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

fit::FImage view_image(const std::vector<uint8_t>& rgb, int W, int H) {
  data::Image8 im(W, H, 3);
  im.pixels = rgb;
  return fit::to_float(im);
}
// View v of subject s: the ground-truth image and its face mask in [0,1].
void ground_truth(const train::IdentityDataset& ds, int s, int v, fit::FImage& gt, std::vector<float>& mask) {
  const train::Camera c = ds.camera(s, v);
  std::vector<uint8_t> g8, gm;
  ds.load_view(s, v, g8, gm);
  gt = view_image(g8, c.width, c.height);
  mask.assign(gm.begin(), gm.end());
  for (auto& x : mask) x /= 255.f;
}
}  // namespace

TEST_CASE("fit: held-out synthetic identities — the fit beats the mean code on the 15 novel views") {
  Fixture& fx = fixture();
  Context ctx(0, 2);
  train::ModelFile lm = fit::load_fit_model(ctx, fx.ckpt);
  auto held = train::open_dataset(fx.data, "heldout");
  REQUIRE(held->num_subjects() == 3);
  train::IdentityModel& model = (*lm.model);
  std::vector<float> mean, sd;
  fit::code_stats(model, mean, sd);
  double fit_psnr = 0, mean_psnr = 0, fit_in = 0, mean_in = 0, seed_psnr = 0, t_fit = 0, t_seed = 0;
  int n_novel = 0;
  for (int s = 0; s < held->num_subjects(); ++s) {
    int centre = -1;
    for (int v = 0; v < held->num_views(s); ++v)
      if (held->camera(s, v).name == "222200037") centre = v;
    REQUIRE(centre >= 0);
    REQUIRE(held->num_views(s) == 16);
    train::Camera cam = held->camera(s, centre);
    std::vector<uint8_t> rgb, m8;
    held->load_view(s, centre, rgb, m8);
    REQUIRE(!m8.empty());
    fit::CodeFitProblem p;
    p.photo = view_image(rgb, cam.width, cam.height);
    p.mask.width = cam.width, p.mask.height = cam.height, p.mask.channels = 1;
    for (uint8_t v : m8) p.mask.data.push_back(v / 255.f);
    p.viewmat = cam.viewmat;
    p.K.fx = cam.intrinsics[0], p.K.fy = cam.intrinsics[1], p.K.cx = cam.intrinsics[2], p.K.cy = cam.intrinsics[3];
    p.K.width = cam.width, p.K.height = cam.height;
    p.xyz = model.layout().place(held->face_mesh(s));
    fit::CodeFitOptions o;
    o.levels = {48, 96};
    o.iterations = {12, 6};
    o.pose_from_level = -1;  // the synthetic camera is exact
    fit::CodeFitResult r = fit::fit_code(model, p, o);
    t_fit += r.seconds;
    fit::CodeFitOptions so;
    so.recipe = "seed";
    so.seed_steps = 60;  // the seed recipe, shortened (its 1000 steps at lr 1e-3 barely move a 0.01·randn code)
    fit::CodeFitResult rs = fit::fit_code(model, p, so);
    t_seed += rs.seconds;
    for (int v = 0; v < held->num_views(s); ++v) {
      train::Camera c = held->camera(s, v);
      fit::FImage gt;
      std::vector<float> mk;
      ground_truth(*held, s, v, gt, mk);
      auto psnr = [&](const std::vector<float>& code) {
        fit::FImage im = fit::render_code(model, code, p.xyz, c.viewmat, c.intrinsics, c.width, c.height);
        return train::image_metrics(im.data.data(), gt.data.data(), mk, c.width, c.height).psnr_mask;
      };
      if (v == centre) {  // the input view never counts as novel
        fit_in += psnr(r.code), mean_in += psnr(mean);
        continue;
      }
      fit_psnr += psnr(r.code), mean_psnr += psnr(mean), seed_psnr += psnr(rs.code);
      ++n_novel;
    }
  }
  fit_psnr /= n_novel, mean_psnr /= n_novel, seed_psnr /= n_novel;
  fit_in /= 3, mean_in /= 3;
  std::printf("[fit] held-out ids, masked PSNR on %d novel views: fit %.2f dB, seed recipe (60 steps) %.2f dB, mean "
              "code %.2f dB; input view: fit %.2f, mean %.2f; seconds/identity: fit %.2f, seed %.2f\n",
              n_novel, fit_psnr, seed_psnr, mean_psnr, fit_in, mean_in, t_fit / 3, t_seed / 3);
  CHECK(n_novel == 45);
  CHECK(fit_in > mean_in);
  CHECK(fit_psnr > mean_psnr);
}

TEST_CASE("fit: photo end to end (grace_hopper, given landmarks) writes every output") {
  if (kPhoto.empty() || kPhotoLmk.empty()) return;
  Fixture& fx = fixture();
  Context ctx(0, 2);
  train::ModelFile lm = fit::load_fit_model(ctx, fx.ckpt);
  std::string out = fx.dir + "/out_photo";
  fit::FitImageOptions o;
  o.image = kPhoto;
  o.landmarks = kPhotoLmk;
  o.out = out;
  o.turntable_frames = 6;
  o.turntable_size = 64;
  o.progress = false;
  o.remove_background = true;
  o.code.levels = {64, 128};
  o.code.iterations = {10, 5};
  fit::FitImageReport r = fit::fit_image(ctx, o, &lm);
  for (const char* f : {"face.ply", "fit.json", "landmarks.txt", "mask.png", "photo_masked.png", "mesh.ply",
                        "overlay.png", "turntable.gif", "turntable/frame_005.png", "metrics.json"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  CHECK_FALSE(fs::exists(out + ".tmp." + std::to_string(::getpid())));
  std::printf("[fit] grace_hopper: landmark rms %.2f px (mean %.2f), yaw %.1f pitch %.1f roll %.1f; masked PSNR %.2f "
              "(mean code %.2f); seconds: head fit %.2f, mask %.2f, code fit %.2f, total %.2f\n",
              r.head.rms_px, r.head.mean_px, r.head.yaw_deg, r.head.pitch_deg, r.head.roll_deg, r.psnr_mask,
              r.mean_code_psnr_mask, r.seconds["head_fit"], r.seconds["mask"], r.seconds["code_fit"], r.seconds["total"]);
  CHECK(r.head.mean_px < 6.0);  // a 512 px portrait, face box ~215 px
  CHECK(std::abs(r.head.yaw_deg) < 30);
  CHECK(r.psnr_mask >= r.mean_code_psnr_mask - 0.05);
  // detail stage on (the default): face.ply holds the surfels, code.ply the code fit's Gaussians
  REQUIRE(r.has_detail);
  testing::PlyRecords t = testing::ply_records(out + "/face.ply");
  CHECK(t.rows == r.gaussians.size());
  CHECK(t.rows > size_t((*lm.model).layout().G));
  CHECK(t.column("f_dc_0") >= 0);
  testing::PlyRecords tc = testing::ply_records(out + "/code.ply");
  CHECK(tc.rows == size_t((*lm.model).layout().G));
  CHECK(r.psnr_mask > r.code_psnr_mask + 3);
  {  // the surfels cover the mask the scores weigh (mask.png): it is drawn where the result's head is, at the code
     // fit's refined pose, not at the landmark estimate a few pixels away (which left a band of mask uncovered)
    const data::Image8 m8 = data::read_image(out + "/mask.png", 1);
    fit::FImage alpha;
    fit::render_gaussians(ctx, r.gaussians, r.viewmat, {r.K.fx, r.K.fy, r.K.cx, r.K.cy}, m8.width, m8.height, &alpha);
    size_t inside = 0, bare = 0;
    for (size_t i = 0; i < m8.pixels.size(); ++i)
      if (m8.pixels[i] > 128) ++inside, bare += alpha.data[i] < 0.5f;
    std::printf("[fit] grace_hopper: %zu of %zu mask pixels (> 0.5) have render alpha < 0.5\n", bare, inside);
    CHECK(inside > 10000);
    CHECK(bare == 0);
  }
  // the face needs no downscaling (crop < max_side), so the detail stage works on the photo's own pixels: its
  // working-resolution score is the photo's (a fractional crop was resampled bilinearly, a blur the colours fitted)
  std::printf("[fit] grace_hopper: detail %dx%d, working PSNR %.2f dB, photo %.2f dB\n", r.detail.width,
              r.detail.height, r.detail.psnr_end, r.psnr_mask);
  CHECK(std::max(r.detail.width, r.detail.height) < o.detail.max_side);
  CHECK(std::abs(r.detail.psnr_end - r.psnr_mask) < 0.2);
  // a second run replaces the folder atomically; --detail off gives the code fit alone
  o.turntable_frames = 0;
  o.detail.enabled = false;
  fit::FitImageReport r2 = fit::fit_image(ctx, o, &lm);
  CHECK_FALSE(fs::exists(fs::path(out) / "turntable.gif"));
  CHECK_FALSE(fs::exists(fs::path(out) / "code.ply"));
  CHECK_FALSE(r2.has_detail);
  CHECK(testing::ply_records(out + "/face.ply").rows == size_t((*lm.model).layout().G));
  CHECK(r2.psnr_mask == doctest::Approx(r.code_psnr_mask).epsilon(1e-9));
}

// A synthetic photo of a known expression: identity 0's code decoded on a random head (β ~ 0.5·N(0, I)) placed
// NEUTRAL, posed into smile 0.8 + jaw 0.2 by the triangle binding and rendered with the fit's own helpers; the
// landmarks are the posed head's, projected. fit_image must estimate the expression (the landmark-level tolerances
// of test_fit.cpp), put the identity's positions on the neutral head, and its photo-view Gaussians must be what the
// head rig makes of those positions posed with fit.json's photo_pose (what `animate --code fit.json --motion photo`
// renders). A neutral photo gives an expression of ~0.
TEST_CASE("fit: a photo with a known expression: fit_image estimates it, places the identity neutral, poses it back") {
  Fixture& fx = fixture();
  Context ctx(0, 2);
  train::ModelFile lm = fit::load_fit_model(ctx, fx.ckpt);
  train::IdentityModel& model = *lm.model;
  const flame::FlameModel& head = flame::builtin_head_model_ref();
  const int smile = flame::builtin_expression_index("smile"), jaw_open = flame::builtin_expression_index("jaw_open");
  std::vector<double> beta(50);
  uint64_t st = 12345;
  for (auto& b : beta) {  // a fixed pseudo-random identity in [-0.8, 0.8]
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    b = 0.8 * (double(st >> 11) / double(1ull << 53) * 2 - 1);
  }
  const std::vector<float> code0 = [&] {
    std::vector<float> c = model.codes.to(DType::F32).to_vector<float>();
    c.resize(size_t(model.config().code_dim));
    return c;
  }();
  const int W = 200, H = 200;
  const fit::Intrinsics K = fit::default_intrinsics(W, H);
  const std::array<double, 9> R = fit::head_rotation(8, 3, 0);
  const std::array<double, 3> t = {0.004, -0.01, 0.20 * K.fy / 110.0};  // the face ~110 px high
  for (const bool smiling : {true, false}) {
    CAPTURE(smiling);
    std::vector<double> expr(size_t(head.E), 0.0);
    if (smiling) expr[size_t(smile)] = 0.8;
    const double jaw = smiling ? 0.2 : 0.0;
    std::vector<double> posed, neutral;
    const std::vector<double> lmk3 = fit::model_landmarks(head, beta, jaw, &posed, expr);
    fit::model_landmarks(head, beta, 0.0, &neutral);
    const fit::FittedMeshes pm = fit::fitted_meshes(head, posed), nm = fit::fitted_meshes(head, neutral);
    const train::GaussianBinding b = train::GaussianBinding::from_layout(model.layout(), nm.facemask.vertices);
    fit::ExpressionPosing posing{&b, pm.facemask.vertices};
    std::array<double, 16> V{};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) V[size_t(i * 4 + j)] = R[size_t(i * 3 + j)];
      V[size_t(i * 4 + 3)] = t[size_t(i)];
    }
    V[15] = 1;
    const fit::FImage img = fit::render_code(model, code0, model.layout().place(nm.facemask), V,
                                             {K.fx, K.fy, K.cx, K.cy}, W, H, nullptr, &posing);
    const std::string dir = fx.dir + (smiling ? "/expr_smile" : "/expr_neutral");
    fs::create_directories(dir);
    data::write_png(dir + "/photo.png", fit::to_u8(img));
    fit::Landmarks68 l;
    const std::vector<double> uv = fit::project_px(K, R, t, lmk3);
    std::copy(uv.begin(), uv.end(), l.xy.begin());
    fit::write_landmarks_file(dir + "/photo.txt", l, "synthetic");
    fit::FitImageOptions o;
    o.image = dir + "/photo.png";
    o.landmarks = dir + "/photo.txt";
    o.out = dir + "/out";
    o.turntable_frames = 0;
    o.progress = false;
    o.detail.enabled = false;
    o.code.levels = {64, 128};
    o.code.iterations = {10, 5};
    // the expression displacement field FLAME(β̂, ψ̂, ĵ) − FLAME(β̂, 0, 0) against the true one (mm rms over all
    // vertices, as tests/train/test_fit.cpp)
    std::vector<double> true_neutral;
    fit::model_landmarks(head, beta, 0.0, &true_neutral);
    auto field_err_mm = [&](const fit::HeadFit& h) {
      double e2 = 0;
      for (size_t i = 0; i < posed.size(); ++i) {
        const double d = (posed[i] - true_neutral[i]) - (h.vertices[i] - h.neutral_vertices[i]);
        e2 += d * d;
      }
      return 1e3 * std::sqrt(e2 / double(head.V));
    };
    // the landmark estimate alone (the default, --expression-refine off), then refined by the photo loss (on): the
    // checks below run on the refined fit (its outputs must agree with its photo_pose)
    fit::FitImageOptions o_off = o;
    o_off.out = dir + "/out_landmarks_only";
    const fit::FitImageReport r_off = fit::fit_image(ctx, o_off, &lm);
    CHECK_FALSE(r_off.code.expression_refined);
    o.expression_refine = true;
    const fit::FitImageReport r = fit::fit_image(ctx, o, &lm);
    CHECK(r.code.expression_refined);
    const int smile_i = smile;
    std::printf("[fit] expression refinement (%s): smile %.3f -> %.3f, jaw %.3f -> %.3f, jaw_open %.3f -> %.3f, "
                "field error %.2f -> %.2f mm, masked PSNR %.2f -> %.2f dB, code fit %.2f -> %.2f s\n",
                smiling ? "smiling" : "neutral", r_off.head.expression[size_t(smile_i)],
                r.head.expression[size_t(smile_i)], r_off.head.jaw, r.head.jaw,
                r_off.head.expression[size_t(jaw_open)], r.head.expression[size_t(jaw_open)], field_err_mm(r_off.head),
                field_err_mm(r.head), r_off.psnr_mask, r.psnr_mask, r_off.code.seconds, r.code.seconds);
    // measured: smile 0.534 -> 0.561 (true 0.8), effective jaw 0.196 -> 0.198 (true 0.2), field 0.88 -> 0.90 mm,
    // PSNR 40.0 -> 41.0 dB; neutral: coefficients stay < 0.02, field 0.63 -> ~0.6 mm
    const double eff_jaw_off = r_off.head.jaw + 0.25 * r_off.head.expression[size_t(jaw_open)],
                 eff_jaw_on = r.head.jaw + 0.25 * r.head.expression[size_t(jaw_open)];
    if (smiling) {
      CHECK(std::abs(r.head.expression[size_t(smile_i)] - 0.8) < std::abs(r_off.head.expression[size_t(smile_i)] - 0.8));
    }
    CHECK(std::abs(eff_jaw_on - jaw) < std::abs(eff_jaw_off - jaw) + 0.01);
    CHECK(field_err_mm(r.head) < field_err_mm(r_off.head) + 0.1);
    CHECK(r.psnr_mask > r_off.psnr_mask - 0.05);
    const train::RigPose est = r.head.rig_pose();
    const double eff_jaw = r.head.jaw + 0.25 * est.expression[size_t(jaw_open)];
    double max_coef = 0;
    for (double e : est.expression) max_coef = std::max(max_coef, std::abs(e));
    std::printf("[fit] synthetic %s photo: smile %.3f (true %.1f), jaw %.3f + 0.25 x jaw_open %.3f = %.3f (true %.1f), "
                "max |coef| %.3f, landmark rms %.2f px, masked PSNR %.2f dB (mean code %.2f)\n",
                smiling ? "smiling" : "neutral", est.expression[size_t(smile)], expr[size_t(smile)], r.head.jaw,
                est.expression[size_t(jaw_open)], eff_jaw, jaw, max_coef, r.head.rms_px, r.psnr_mask,
                r.mean_code_psnr_mask);
    CHECK(std::abs(eff_jaw - jaw) < 0.04);
    if (smiling) {
      CHECK(est.expression[size_t(smile)] > 0.4);
      CHECK(est.expression[size_t(smile)] < 1.0);
    } else {
      CHECK(max_coef < 0.2);
    }
    CHECK(r.psnr_mask > r.mean_code_psnr_mask - 0.05);
    // fit.json: the estimate and the neutral positions
    std::ifstream jf(o.out + "/fit.json");
    const std::string js((std::istreambuf_iterator<char>(jf)), std::istreambuf_iterator<char>());
    CHECK(js.find("\"photo_pose\"") != std::string::npos);
    CHECK(js.find("\"positions\"") != std::string::npos);
    CHECK(fs::exists(o.out + "/mesh_neutral.ply"));
    REQUIRE(r.neutral_positions);
    REQUIRE(r.positions.size() == size_t(model.layout().G) * 3);
    const std::vector<float> neutral_xyz = model.layout().place(fit::fitted_meshes(head, r.head.neutral_vertices).facemask);
    CHECK(r.positions == neutral_xyz);
    // the animator's path: neutral head from the positions, posed with photo_pose, Gaussians moved by the binding
    train::HeadRig rig(head, train::neutral_head_from_positions(head, model.layout(), r.positions));
    const train::GaussianBinding ab = train::GaussianBinding::from_layout(model.layout(), rig.neutral_face());
    ffrt::GaussianSet g = fit::code_gaussians(model, r.code.code, r.positions);
    std::vector<float> scales(g.log_scales.size());
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = std::exp(g.log_scales[i]);
    train::pose_gaussians_host(ab, rig.posed_face(est), int64_t(g.size()), g.means.data(), g.rotations.data(),
                               scales.data(), 2);
    double dx = 0, dq = 0, ds = 0;
    for (size_t i = 0; i < g.means.size(); ++i) dx = std::max(dx, double(std::abs(g.means[i] - r.code_gaussians.means[i])));
    for (size_t i = 0; i < g.rotations.size(); ++i)
      dq = std::max(dq, double(std::abs(g.rotations[i] - r.code_gaussians.rotations[i])));
    for (size_t i = 0; i < scales.size(); ++i)
      ds = std::max(ds, double(std::abs(std::log(scales[i]) - r.code_gaussians.log_scales[i])));
    std::printf("[fit] posed back from the neutral positions: max |dx| %.2e m, |dq| %.2e, |d log s| %.2e\n", dx, dq, ds);
    CHECK(dx < 1e-6);  // float positions: the neutral head comes back to float precision (measured ~1e-8 m)
    CHECK(dq < 1e-4);
    CHECK(ds < 1e-4);
    if (!smiling) continue;
    // the detail stage's surfels as a rig (face.ffrig): on the neutral head; posed with photo_pose by the runtime
    // they come back to face.ply's surfels, and zero parameters give the file's neutral Gaussians
    fit::FitImageOptions od = o_off;
    od.out = dir + "/out_detail";
    od.detail.enabled = true;
    od.detail.iterations = 5;
    const fit::FitImageReport rd = fit::fit_image(ctx, od, &lm);
    REQUIRE(rd.has_detail);
    REQUIRE(rd.has_rig);
    const ffrt::Rig rr(ffrt::parse_rig(ffrt::read_file(od.out + "/face.ffrig"), "face.ffrig"), "face.ffrig");
    const ffrt::GaussianSet& neutral_surfels = rr.data().gaussians;
    REQUIRE(neutral_surfels.size() == rd.gaussians.size());
    ffrt::Pool pool(2);
    std::vector<float> expression;
    ffrt::RigParams rp;
    const train::RigPose pp = rd.head.rig_pose();
    for (double e : pp.expression) expression.push_back(float(e));
    rp.expression = expression.data(), rp.num_expression = int(expression.size());
    for (int i = 0; i < 15; ++i) rp.pose[i] = float(pp.pose[size_t(i)]);
    ffrt::GaussianSet posed_back, at_zero;
    rr.pose(neutral_surfels, rp, posed_back, pool);
    rr.pose(neutral_surfels, ffrt::RigParams{}, at_zero, pool);
    CHECK(at_zero.means == neutral_surfels.means);
    double moved = 0, err = 0;
    for (size_t i = 0; i < posed_back.means.size(); ++i) {
      err = std::max(err, double(std::abs(posed_back.means[i] - rd.gaussians.means[i])));
      moved = std::max(moved, double(std::abs(neutral_surfels.means[i] - rd.gaussians.means[i])));
    }
    double derr = 0;
    for (size_t i = 0; i < posed_back.log_scales.size(); ++i)
      derr = std::max(derr, double(std::abs(posed_back.log_scales[i] - rd.gaussians.log_scales[i])));
    std::printf("[fit] face.ffrig: %zu surfels, the smile moves them up to %.2f mm; posed back with photo_pose: max "
                "|dx| %.2e m, |d log s| %.2e\n", neutral_surfels.size(), 1e3 * moved, err, derr);
    CHECK(moved > 1e-3);   // the neutral surfels are not the posed ones (smile 0.8, jaw 0.2)
    CHECK(err < 2e-5);     // float rig forward vs the f64 head fit
    CHECK(derr < 1e-3);
    CHECK(posed_back.colors == rd.gaussians.colors);
    // the view-dependent colours turn with their triangles: posed back, every surfel's colour from any direction is
    // face.ply's (the rig's SH were turned to the neutral head, the runtime turns them back)
    REQUIRE(rd.gaussians.has_sh());
    REQUIRE(neutral_surfels.has_sh());
    REQUIRE(posed_back.has_sh());
    CHECK(ffrt::read_ply(od.out + "/face.ply").has_sh());
    double sh_err = 0, sh_moved = 0;
    uint64_t k = 0;
    for (size_t i = 0; i < posed_back.size(); i += 7) {
      float d[3] = {float(rng::normal_at(3, k++)), float(rng::normal_at(3, k++)), float(rng::normal_at(3, k++))};
      const float n = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
      for (float& x : d) x /= n;
      float a[3], b[3], c[3];
      ffrt::sh_color(posed_back, i, d, a);
      ffrt::sh_color(rd.gaussians, i, d, b);
      ffrt::sh_color(neutral_surfels, i, d, c);
      for (int ch = 0; ch < 3; ++ch)
        sh_err = std::max(sh_err, double(std::abs(a[ch] - b[ch]))), sh_moved = std::max(sh_moved, double(std::abs(c[ch] - b[ch])));
    }
    std::printf("[fit] face.ffrig view-dependent colours: posed back max |dc| %.2e (neutral vs photo pose %.2e)\n",
                sh_err, sh_moved);
    CHECK(sh_err < 1e-4);
    CHECK(sh_moved > 10 * sh_err);  // the neutral head's SH are turned, not copied
  }
}

TEST_CASE("fit: dlib detection on grace_hopper agrees with the reference landmarks") {
  if (kPhoto.empty() || kPhotoLmk.empty()) return;
  if (!ff::testing::dlib_or_skip()) return;
  fit::Photo p = fit::read_photo(kPhoto);
  fit::Landmarks68 d = fit::detect_landmarks(p, 0);
  fit::Landmarks68 ref = fit::read_landmarks_file(kPhotoLmk);
  double e = 0;
  for (int l = 0; l < 68; ++l) e += std::hypot(d.xy[l * 2] - ref.xy[l * 2], d.xy[l * 2 + 1] - ref.xy[l * 2 + 1]) / 68;
  std::printf("[fit] dlib vs reference landmarks: mean %.2f px, box %.0f %.0f %.0f %.0f\n", e, d.box[0], d.box[1],
              d.box[2], d.box[3]);
  CHECK(e < 2.0);
  CHECK(d.faces_found >= 1);
  CHECK_THROWS_WITH_AS(fit::detect_landmarks(p, 5), doctest::Contains("out of range"), ff::Error);
}

TEST_CASE("fit: no face and corrupt image fail cleanly without outputs") {
  std::string dir = testing::temp_dir("fitfail");
  Context ctx(0, 2);
  // a flat grey picture: no face
  data::Image8 grey(200, 160, 3, 128);
  data::write_png(dir + "/grey.png", grey);
  {
    std::ofstream f(dir + "/corrupt.jpg", std::ios::binary);
    f << "\xFF\xD8\xFF\xDB garbage";
  }
  fit::FitImageOptions o;
  o.progress = false;
  o.out = dir + "/out";
  o.image = dir + "/corrupt.jpg";
  CHECK_THROWS_WITH_AS(fit::fit_image(ctx, o), doctest::Contains("cannot read image"), ff::Error);
  CHECK_FALSE(fs::exists(o.out));
  if (fit::have_dlib() && !fit::find_shape_predictor().empty()) {
    o.image = dir + "/grey.png";
    CHECK_THROWS_WITH_AS(fit::fit_image(ctx, o), doctest::Contains("no face found"), ff::Error);
    CHECK_FALSE(fs::exists(o.out));
  }
  // the head-fit-only path (no model) with given landmarks
  if (kPhoto.empty() || kPhotoLmk.empty()) return;
  o.image = kPhoto;
  o.landmarks = kPhotoLmk;
  fit::FitImageReport r = fit::fit_image(ctx, o);
  CHECK(fs::exists(o.out + "/overlay.png"));
  CHECK(fs::exists(o.out + "/fit.json"));
  CHECK_FALSE(fs::exists(o.out + "/face.ply"));
  CHECK(r.head.mean_px < 6.0);
  fs::remove_all(dir);
}

namespace {
// The centre view of held-out subject s as a code-fit problem (exact synthetic camera).
fit::CodeFitProblem heldout_problem(const train::IdentityModel& model, const train::IdentityDataset& held, int s) {
  int centre = -1;
  for (int v = 0; v < held.num_views(s); ++v)
    if (held.camera(s, v).name == "222200037") centre = v;
  REQUIRE(centre >= 0);
  train::Camera cam = held.camera(s, centre);
  std::vector<uint8_t> rgb, m8;
  held.load_view(s, centre, rgb, m8);
  REQUIRE(!m8.empty());
  fit::CodeFitProblem p;
  p.photo = view_image(rgb, cam.width, cam.height);
  p.mask.width = cam.width, p.mask.height = cam.height, p.mask.channels = 1;
  for (uint8_t v : m8) p.mask.data.push_back(v / 255.f);
  p.viewmat = cam.viewmat;
  p.K.fx = cam.intrinsics[0], p.K.fy = cam.intrinsics[1], p.K.cx = cam.intrinsics[2], p.K.cy = cam.intrinsics[3];
  p.K.width = cam.width, p.K.height = cam.height;
  p.xyz = model.layout().place(held.face_mesh(s));
  return p;
}
// The detail stage's problem for a code-fit problem with the identity's own face mesh as the fitted head (every
// triangle a face triangle; `head` and `flag` must outlive it); no symmetry, no prior Gaussians yet.
fit::DetailProblem detail_problem(const fit::CodeFitProblem& p, const flame::Mesh& head,
                                  const std::vector<uint8_t>& flag) {
  fit::DetailProblem dp;
  dp.photo = p.photo;
  dp.mask = p.mask;
  dp.viewmat = p.viewmat;
  dp.K = p.K;
  dp.head = &head;
  dp.face_flag = &flag;
  return dp;
}
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
  return m;
}
}  // namespace

TEST_CASE("fit: the device option is checked before anything is loaded") {
  Context ctx(0, 1);
  CHECK_THROWS_WITH_AS(fit::load_fit_model(ctx, "/nonexistent/x.ffck", "tpu"),
                       doctest::Contains("device must be cpu or cuda"), ff::Error);
  if (!Context::cuda_available())
    CHECK_THROWS_WITH_AS(fit::load_fit_model(ctx, "/nonexistent/x.ffck", "cuda"),
                         doctest::Contains("device cuda requested"), ff::Error);
}

TEST_CASE("fit: CUDA and CPU fits of the same held-out identity agree") {
  if (!ff::testing::cuda_or_skip("fit: CUDA and CPU fits of the same held-out identity agree")) return;
  Fixture& fx = fixture();
  Context ctx(0, 2);
  train::ModelFile cpu = fit::load_fit_model(ctx, fx.ckpt, "cpu");
  train::ModelFile gpu = fit::load_fit_model(ctx, fx.ckpt, "cuda");
  REQUIRE((*gpu.model).device().is_cuda());
  REQUIRE((*cpu.model).device().is_cpu());
  auto held = train::open_dataset(fx.data, "heldout");
  fit::CodeFitProblem p = heldout_problem((*cpu.model), *held, 0);
  std::vector<float> mean, sd, gmean, gsd;
  fit::code_stats((*cpu.model), mean, sd);
  fit::code_stats((*gpu.model), gmean, gsd);
  CHECK(max_abs_diff(mean, gmean) < 1e-6);

  // one render of the mean code: same pixels up to float summation order
  {
    const int W = p.photo.width, H = p.photo.height;
    const std::array<double, 4> K = {p.K.fx, p.K.fy, p.K.cx, p.K.cy};
    fit::FImage a = fit::render_code((*cpu.model), mean, p.xyz, p.viewmat, K, W, H);
    fit::FImage b = fit::render_code((*gpu.model), mean, p.xyz, p.viewmat, K, W, H);
    double mad = 0;
    for (size_t i = 0; i < a.data.size(); ++i) mad += std::abs(a.data[i] - b.data[i]) / a.data.size();
    std::printf("[fit cuda] mean-code render %dx%d: mean |cpu - cuda| %.2e, max %.2e\n", W, H, mad,
                max_abs_diff(a.data, b.data));
    CHECK(mad < 1e-3);
  }
  auto whitened_dist = [&](const std::vector<float>& a, const std::vector<float>& b) {
    double d2 = 0, n2 = 0;
    for (size_t d = 0; d < a.size(); ++d) {
      d2 += std::pow((a[d] - b[d]) / sd[d], 2);
      n2 += std::pow((a[d] - mean[d]) / sd[d], 2);
    }
    return std::array<double, 2>{std::sqrt(d2), std::sqrt(n2)};
  };

  // the loss at the mean code (no iterations) and one L-BFGS step: the same up to float noise
  {
    fit::CodeFitOptions o;
    o.levels = {48};
    o.iterations = {0};
    o.pose_from_level = -1;
    fit::CodeFitResult a = fit::fit_code((*cpu.model), p, o), b = fit::fit_code((*gpu.model), p, o);
    std::printf("[fit cuda] loss at the mean code: cpu %.6f cuda %.6f\n", a.final_loss, b.final_loss);
    CHECK(std::abs(a.final_loss - b.final_loss) <= 1e-3 * a.final_loss + 1e-6);
    o.iterations = {1};
    a = fit::fit_code((*cpu.model), p, o), b = fit::fit_code((*gpu.model), p, o);
    auto wd = whitened_dist(a.code, b.code);
    std::printf("[fit cuda] one L-BFGS step: loss cpu %.6f cuda %.6f; whitened code distance %.2e (step %.3f)\n",
                a.final_loss, b.final_loss, wd[0], wd[1]);
    CHECK(std::abs(a.final_loss - b.final_loss) <= 2e-3 * a.final_loss + 1e-6);
    CHECK(wd[0] < 0.02 * std::max(wd[1], 1e-3) + 1e-4);
  }

  // the whole default recipe with pose refinement: the trajectories may part a little (float order), the results
  // must not
  {
    fit::CodeFitOptions o;
    o.levels = {48, 96};
    o.iterations = {12, 6};
    o.pose_from_level = 1;
    fit::CodeFitResult a = fit::fit_code((*cpu.model), p, o), b = fit::fit_code((*gpu.model), p, o);
    auto wd = whitened_dist(a.code, b.code);
    double dv = 0;
    for (int i = 0; i < 12; ++i) dv = std::max(dv, std::abs(a.viewmat[i] - b.viewmat[i]));
    std::printf("[fit cuda] default recipe (+pose): loss cpu %.6f (%d evals, %.3f s) cuda %.6f (%d evals, %.3f s); "
                "whitened code distance %.3f of %.3f from the mean; max viewmat diff %.2e\n",
                a.final_loss, a.evaluations, a.seconds, b.final_loss, b.evaluations, b.seconds, wd[0], wd[1], dv);
    CHECK(std::abs(a.final_loss - b.final_loss) <= 0.05 * a.final_loss);
    CHECK(wd[0] < 0.25 * wd[1] + 0.05);
    CHECK(dv < 0.02);
  }

  // the seed recipe: the same initial code on both devices (counter-based RNG), Adam on the device
  {
    fit::CodeFitOptions o;
    o.recipe = "seed";
    o.seed_steps = 20;
    const uint64_t counter = ctx.rng_counter();
    fit::CodeFitResult a = fit::fit_code((*cpu.model), p, o);
    ctx.set_rng_counter(counter);
    fit::CodeFitResult b = fit::fit_code((*gpu.model), p, o);
    REQUIRE(a.losses.size() == 20);
    REQUIRE(b.losses.size() == 20);
    std::printf("[fit cuda] seed recipe 20 steps: loss cpu %.6f cuda %.6f; max code diff %.2e (%.3f s vs %.3f s)\n",
                a.final_loss, b.final_loss, max_abs_diff(a.code, b.code), a.seconds, b.seconds);
    CHECK(std::abs(a.losses[0] - b.losses[0]) <= 1e-3 * a.losses[0] + 1e-6);
    CHECK(std::abs(a.final_loss - b.final_loss) <= 0.02 * a.final_loss);
    CHECK(max_abs_diff(a.code, b.code) < 0.05);  // Adam steps ±lr even on near-zero gradients
  }

  // the photo pipeline with the model on the GPU (renders, ply and turntable there too)
  if (kPhoto.empty() || kPhotoLmk.empty()) return;
  fit::FitImageOptions o;
  o.image = kPhoto;
  o.landmarks = kPhotoLmk;
  o.out = fx.dir + "/out_photo_cuda";
  o.turntable_frames = 3;
  o.turntable_size = 64;
  o.progress = false;
  o.code.levels = {64, 128};
  o.code.iterations = {10, 5};
  fit::FitImageReport rc = fit::fit_image(ctx, o, &cpu);
  o.out = fx.dir + "/out_photo_cuda2";
  fit::FitImageReport rg = fit::fit_image(ctx, o, &gpu);
  std::printf("[fit cuda] grace_hopper: masked PSNR cpu %.2f dB (code fit %.3f s) cuda %.2f dB (code fit %.3f s)\n",
              rc.psnr_mask, rc.code.seconds, rg.psnr_mask, rg.code.seconds);
  CHECK(std::abs(rc.psnr_mask - rg.psnr_mask) < 0.5);
  CHECK(fs::exists(o.out + "/face.ply"));
  CHECK(fs::exists(o.out + "/turntable.gif"));
}

TEST_CASE("fit: the detail stage matches the input view and keeps the 15 novel views of held-out identities") {
  // The centre view of each held-out synthetic identity is the photo (exact camera, the identity's own face mesh
  // as the fitted head); the detail stage must raise the input view's masked PSNR far above the code fit's and
  // must not make the novel views worse than the code fit by more than 0.5 dB (stated bound; make eval reports
  // the gain at the demo scale).
  Fixture& fx = fixture();
  Context ctx(0, 2);
  train::ModelFile lm = fit::load_fit_model(ctx, fx.ckpt);
  train::IdentityModel& model = *lm.model;
  auto held = train::open_dataset(fx.data, "heldout");
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  double in_code = 0, in_detail = 0, nv_code = 0, nv_detail = 0, nv_flat = 0, t_detail = 0;
  int n_novel = 0;
  for (int s = 0; s < held->num_subjects(); ++s) {
    fit::CodeFitProblem p = heldout_problem(model, *held, s);
    fit::CodeFitOptions co;
    co.levels = {48, 96};
    co.iterations = {12, 6};
    co.pose_from_level = -1;
    fit::CodeFitResult r = fit::fit_code(model, p, co);
    const flame::Mesh head = held->face_mesh(s);
    const std::vector<uint8_t> flag(size_t(head.num_faces()), 1);
    fit::DetailProblem dp = detail_problem(p, head, flag);
    if (head.num_vertices() == hm.V) dp.mirror = fit::mirror_vertices(hm.v_template);
    dp.prior = fit::code_gaussians(model, r.code, p.xyz);
    fit::DetailResult d = fit::fit_detail(ctx, dp, fit::DetailOptions{});
    t_detail += d.seconds;
    CHECK(d.gaussians.size() == d.tri.size());
    CHECK(d.psnr_end > d.psnr_start);
    CHECK(d.gaussians.has_sh());
    for (float c : d.photo_colors) REQUIRE((c >= 0.f && c <= 1.f));
    // the same stage without view-dependent colours: the same surfels and photo colours
    fit::DetailOptions flat;
    flat.view_dependent = false;
    const fit::DetailResult df = fit::fit_detail(ctx, dp, flat);
    CHECK_FALSE(df.gaussians.has_sh());
    CHECK(df.gaussians.colors == d.photo_colors);
    // every surfel stays on its triangle: barycentrics in [0, 1] summing to 1
    for (size_t i = 0; i < d.tri.size(); ++i) {
      REQUIRE(d.tri[i] >= 0);
      const float* b = &d.bary[i * 3];
      REQUIRE((b[0] >= -1e-4f && b[1] >= -1e-4f && b[2] >= -1e-4f && std::abs(b[0] + b[1] + b[2] - 1) < 1e-4f));
    }
    int centre = -1;
    for (int v = 0; v < held->num_views(s); ++v)
      if (held->camera(s, v).name == "222200037") centre = v;
    for (int v = 0; v < held->num_views(s); ++v) {
      train::Camera c = held->camera(s, v);
      fit::FImage gt;
      std::vector<float> mk;
      ground_truth(*held, s, v, gt, mk);
      fit::FImage a = fit::render_code(model, r.code, p.xyz, c.viewmat, c.intrinsics, c.width, c.height);
      fit::FImage b = fit::render_gaussians(ctx, d.gaussians, c.viewmat, c.intrinsics, c.width, c.height);
      fit::FImage bf = fit::render_gaussians(ctx, df.gaussians, c.viewmat, c.intrinsics, c.width, c.height);
      const double pa = train::image_metrics(a.data.data(), gt.data.data(), mk, c.width, c.height).psnr_mask;
      const double pb = train::image_metrics(b.data.data(), gt.data.data(), mk, c.width, c.height).psnr_mask;
      const double pf = train::image_metrics(bf.data.data(), gt.data.data(), mk, c.width, c.height).psnr_mask;
      if (v == centre) {
        // the photo's camera sees the photo's colours exactly: the view-dependent colours change nothing there
        CHECK(std::abs(pb - pf) < 0.01);
        in_code += pa / 3, in_detail += pb / 3;
        continue;
      }
      nv_code += pa, nv_detail += pb, nv_flat += pf;
      ++n_novel;
    }
  }
  nv_code /= n_novel, nv_detail /= n_novel, nv_flat /= n_novel;
  std::printf("[fit detail] held-out ids, masked PSNR: input view code %.2f -> detail %.2f dB; %d novel views code "
              "%.2f -> detail %.2f dB (view-independent colours %.2f dB); detail stage %.2f s/identity\n",
              in_code, in_detail, n_novel, nv_code, nv_detail, nv_flat, t_detail / 3);
  CHECK(n_novel == 45);
  CHECK(in_detail > in_code + 3);
  CHECK(nv_detail > nv_code - 0.5);
}

TEST_CASE("fit: the detail stage's colour solve on CUDA matches the CPU's") {
  if (!ff::testing::cuda_or_skip("fit: the detail stage's colour solve on CUDA matches the CPU's")) return;
  // the same problem solved with the renders on the CPU and on the GPU: the same surfels, colours equal up to the
  // renderers' float summation order (30 CG iterations amplify it a little)
  Fixture& fx = fixture();
  Context ctx(0, 2);
  train::ModelFile lm = fit::load_fit_model(ctx, fx.ckpt);
  train::IdentityModel& model = *lm.model;
  auto held = train::open_dataset(fx.data, "heldout");
  fit::CodeFitProblem p = heldout_problem(model, *held, 0);
  const flame::Mesh head = held->face_mesh(0);
  const std::vector<uint8_t> flag(size_t(head.num_faces()), 1);
  fit::DetailProblem dp = detail_problem(p, head, flag);
  std::vector<float> mean, sd;
  fit::code_stats(model, mean, sd);
  dp.prior = fit::code_gaussians(model, mean, p.xyz);
  const fit::DetailResult a = fit::fit_detail(ctx, dp, fit::DetailOptions{});
  dp.device = Device::cuda(0);
  const fit::DetailResult b = fit::fit_detail(ctx, dp, fit::DetailOptions{});
  REQUIRE(a.gaussians.size() == b.gaussians.size());
  CHECK(a.gaussians.means == b.gaussians.means);
  double mad = 0;
  for (size_t i = 0; i < a.gaussians.colors.size(); ++i)
    mad += std::abs(a.gaussians.colors[i] - b.gaussians.colors[i]) / double(a.gaussians.colors.size());
  std::printf("[fit cuda] detail stage: %zu surfels, mean |cpu - cuda| colour %.2e, PSNR cpu %.2f cuda %.2f dB, "
              "%.3f vs %.3f s\n", a.gaussians.size(), mad, a.psnr_end, b.psnr_end, a.seconds, b.seconds);
  CHECK(mad < 2e-3);
  CHECK(std::abs(a.psnr_end - b.psnr_end) < 0.05);
  // the view-dependent result renders alike on both devices (the SH evaluated by each renderer)
  const train::Camera c = held->camera(0, 0);
  const fit::FImage ia = fit::render_gaussians(ctx, a.gaussians, c.viewmat, c.intrinsics, c.width, c.height);
  const fit::FImage ib = fit::render_gaussians(ctx, a.gaussians, c.viewmat, c.intrinsics, c.width, c.height, nullptr,
                                               Device::cuda(0));
  double worst = 0;
  for (size_t i = 0; i < ia.data.size(); ++i) worst = std::max(worst, double(std::abs(ia.data[i] - ib.data[i])));
  CHECK(worst < 2e-3);
}

TEST_CASE("fit: view-dependent surfel colours: the photo's colour at the photo's cosine, the guess where a view stretches") {
  // h(u): exactly 1 at the photo's cosine; the guess (h ≈ 0) for a frontal view of a surfel the photo saw at 66° or
  // more; no view dependence for a surfel the photo saw within 53° of its normal
  for (double up = -0.2; up <= 1.0; up += 0.01) {
    const std::array<double, 4> a = fit::photo_weight_cubic(up);
    auto h = [&](double u) { return a[0] + a[1] * u + a[2] * u * u + a[3] * u * u * u; };
    CHECK(std::abs(h(up) - 1) < 1e-12);
    if (up >= 0.6) CHECK((a[0] == 1 && a[1] == 0 && a[2] == 0 && a[3] == 0));
    if (up >= 0.1 && up <= 0.4) CHECK(h(1.0) < 0.1);  // seen head-on (≥ 2.5× larger than the photo saw it): the guess
    for (double u = 0; u <= 1; u += 0.05) CHECK((h(u) > -0.1 && h(u) < 1.1));  // no colour extrapolated far
  }
  CHECK_THROWS_AS(fit::photo_weight_cubic(1.5), ff::Error);
  // as SH: the colour along the photo's ray is the photo's, along the normal h(1)'s mix, for any normal
  const float photo[3] = {0.8f, 0.3f, 0.2f}, guess[3] = {0.4f, 0.5f, 0.6f};
  for (const std::array<double, 3>& n0 : std::vector<std::array<double, 3>>{{0, 0, 1}, {0.6, -0.3, 0.74}, {-1, 0.2, 0.1}}) {
    const Vec3d n = normalized(Vec3d{n0[0], n0[1], n0[2]});
    // a ray to the camera at cosine 0.25 with the normal
    const Vec3d t = normalized(cross(n, Vec3d{0.3, 1, 0.2}));
    const double up = 0.25;
    const Vec3d to_cam = {up * n[0] + std::sqrt(1 - up * up) * t[0], up * n[1] + std::sqrt(1 - up * up) * t[1],
                          up * n[2] + std::sqrt(1 - up * up) * t[2]};
    ffrt::GaussianSet g;
    g.resize(1);
    g.sh_rest.assign(45, 0.f);
    fit::view_dependent_sh({n[0], n[1], n[2]}, up, photo, guess, g.colors.data(), g.sh_rest.data());
    float rgb[3];
    const float d_photo[3] = {float(-to_cam[0]), float(-to_cam[1]), float(-to_cam[2])};  // camera → surfel
    ffrt::sh_color(g, 0, d_photo, rgb);
    for (int c = 0; c < 3; ++c) CHECK(std::abs(rgb[c] - photo[c]) < 1e-5);
    const std::array<double, 4> a = fit::photo_weight_cubic(up);
    const double h1 = a[0] + a[1] + a[2] + a[3];
    const float d_front[3] = {float(-n[0]), float(-n[1]), float(-n[2])};
    ffrt::sh_color(g, 0, d_front, rgb);
    for (int c = 0; c < 3; ++c) CHECK(std::abs(rgb[c] - (guess[c] + h1 * (photo[c] - guess[c]))) < 1e-5);
  }
}

TEST_CASE("fit: GaussianRenderer renders a set with SH as its per-view colours (runtime/raster.h view_colors)") {
  Context ctx(0, 2);
  ffrt::GaussianSet g;
  const int N = 400;
  g.resize(N);
  g.sh_rest.assign(size_t(N) * 45, 0.f);
  uint64_t k = 0;
  auto U = [&](double a, double b) { return float(a + (b - a) * rng::uniform_at(31, k++)); };
  for (int i = 0; i < N; ++i) {
    for (int c = 0; c < 3; ++c) {
      g.means[size_t(i) * 3 + size_t(c)] = U(-0.1, 0.1);
      g.log_scales[size_t(i) * 3 + size_t(c)] = U(-5.5, -4);
      g.colors[size_t(i) * 3 + size_t(c)] = U(0.2, 0.8);
    }
    for (int c = 0; c < 4; ++c) g.rotations[size_t(i) * 4 + size_t(c)] = U(-1, 1) + (c == 0 ? 1.5f : 0.f);
    g.opacities[size_t(i)] = U(0.3, 0.9);
    for (int c = 0; c < 45; ++c) g.sh_rest[size_t(i) * 45 + size_t(c)] = U(-0.2, 0.2);
  }
  const std::vector<std::array<double, 16>> views = fit::turntable_views({0, 0, 0}, 0.6, 40, 4);
  const fit::GaussianRenderer renderer(ctx, g);
  for (const auto& V : views) {
    const fit::FImage a = renderer.render(V, {500, 500, 32, 32}, 64, 64);
    float Vf[16];
    for (int i = 0; i < 16; ++i) Vf[i] = float(V[size_t(i)]);
    ffrt::GaussianSet flat = g;
    ffrt::view_colors(g, Vf, flat.colors);
    flat.sh_rest.clear();
    const fit::FImage b = fit::render_gaussians(ctx, flat, V, {500, 500, 32, 32}, 64, 64);
    double worst = 0, sum = 0;
    for (size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, double(std::abs(a.data[i] - b.data[i]))), sum += a.data[i];
    CHECK(sum > 100);
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("fit: mirror_vertices pairs a symmetric template and rejects bad input") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  double residual = 1;
  std::vector<int32_t> m = fit::mirror_vertices(hm.v_template, &residual);
  REQUIRE(int(m.size()) == hm.V);
  CHECK(residual < 1e-3);  // the built-in head model is exactly mirror-symmetric
  int self = 0;
  for (int i = 0; i < hm.V; ++i) {
    CHECK(m[size_t(m[i])] == i);  // an involution
    self += m[i] == i;
  }
  CHECK(self > 0);          // the midline maps to itself
  CHECK(self < hm.V / 4);
  CHECK_THROWS_AS(fit::mirror_vertices({1.0, 2.0}), ff::Error);
}
