// train/fit/fit_image.cpp — the single-photo pipeline (see fit_image.h).
#include "train/fit/fit_image.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/geometry.h"
#include "core/output_dir.h"
#include "core/parallel.h"
#include "flame/headmodel.h"
#include "flame/mesh.h"
#include "flame/mesh_raster.h"
#include "train/data/preprocess.h"
#include "train/eval.h"
#include "train/fit/gif.h"
#include "train/rig_file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ff::fit {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// "\r[phase] what  42%  loss 0.0712  3.1 s, ETA 4.2 s" at most every 0.25 s, newline at the end
struct Progress {
  bool on;
  std::string phase;
  Clock::time_point start = Clock::now(), last{};
  bool printed = false;
  void operator()(const std::string& what, double frac, double loss) {
    if (!on) return;
    auto now = Clock::now();
    if (frac < 1.0 && std::chrono::duration<double>(now - last).count() < 0.25) return;
    last = now;
    double el = std::chrono::duration<double>(now - start).count();
    double eta = frac > 1e-6 ? el * (1 - frac) / frac : 0;
    std::fprintf(stderr, "\r[%s] %s %3.0f%%  loss %.5f  %.1f s, ETA %.1f s   ", phase.c_str(), what.c_str(),
                 100 * frac, loss, el, eta);
    printed = true;
  }
  void done() {
    if (on && printed) std::fprintf(stderr, "\n");
  }
};

json arr(const double* v, size_t n) {
  json a = json::array();
  for (size_t i = 0; i < n; ++i) a.push_back(v[i]);
  return a;
}

void write_text(const std::string& path, const std::string& s) {
  std::ofstream f(path);
  FF_CHECK(bool(f), "cannot write '", path, "'");
  f << s;
  FF_CHECK(bool(f), "write failed: '", path, "'");
}

// the detections rejected as no face (detect.h judge_face), for fit.json and metrics.json
json rejected_json(const Landmarks68& l) {
  json a = json::array();
  for (const FaceCandidate& c : l.rejected)
    a.push_back({{"box", arr(c.box.data(), 4)}, {"score", c.score}, {"reason", c.rejected}});
  return a;
}

// A window of the photo: columns [x0, x0 + w), rows [y0, y0 + h).
struct PixelWindow {
  int x0 = 0, y0 = 0, w = 0, h = 0;
};
// The head mesh's projection's bounding box grown by `frac` of its larger side and `pad` pixels, within the photo;
// the whole photo when a vertex is not in front of the camera.
PixelWindow head_window(const flame::Mesh& head, const std::array<double, 16>& V, const Intrinsics& K, double frac,
                        double pad) {
  double u0 = 1e300, v0 = 1e300, u1 = -1e300, v1 = -1e300;
  for (int i = 0; i < head.num_vertices(); ++i) {
    const double* x = &head.vertices[size_t(i) * 3];
    double c[3];
    for (size_t r = 0; r < 3; ++r) c[r] = V[r * 4] * x[0] + V[r * 4 + 1] * x[1] + V[r * 4 + 2] * x[2] + V[r * 4 + 3];
    if (!(c[2] > 1e-6)) return {0, 0, K.width, K.height};
    const double u = K.fx * c[0] / c[2] + K.cx, v = K.fy * c[1] / c[2] + K.cy;
    u0 = std::min(u0, u), u1 = std::max(u1, u), v0 = std::min(v0, v), v1 = std::max(v1, v);
  }
  if (head.num_vertices() == 0) return {0, 0, K.width, K.height};
  const double m = frac * std::max(u1 - u0, v1 - v0) + pad;
  PixelWindow w;
  w.x0 = int(std::clamp(std::floor(u0 - m), 0.0, double(K.width)));
  w.y0 = int(std::clamp(std::floor(v0 - m), 0.0, double(K.height)));
  w.w = int(std::clamp(std::ceil(u1 + m), 0.0, double(K.width))) - w.x0;
  w.h = int(std::clamp(std::ceil(v1 + m), 0.0, double(K.height))) - w.y0;
  return w;
}
// im [C,H,W] cut to the window → [C,h,w]
FImage crop_image(const FImage& im, const PixelWindow& w) {
  FImage c;
  c.width = w.w, c.height = w.h, c.channels = im.channels;
  c.data.resize(size_t(im.channels) * w.w * w.h);
  for (int ch = 0; ch < im.channels; ++ch)
    for (int y = 0; y < w.h; ++y)
      std::copy_n(im.data.begin() + (size_t(ch) * im.height + size_t(w.y0 + y)) * im.width + size_t(w.x0), w.w,
                  c.data.begin() + (size_t(ch) * w.h + size_t(y)) * w.w);
  return c;
}

// The masked PSNR/SSIM of a render on the photo (train::image_metrics' psnr_mask / ssim_mask; the unmasked fields
// are left 0), computed on the mask's bounding box grown by 8 px: pixels outside carry zero weight, and the SSIM
// window (11 px) of every pixel inside reads the same neighbours, so the values equal the whole image's, without
// the whole image's SSIM buffers (~1.4 GB for a 4000×3000 photo).
train::ImageMetrics masked_metrics(const FImage& img, const FImage& photo, const FImage& mask) {
  const int W = mask.width, H = mask.height;
  int x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      if (mask.data[size_t(y) * W + x] > 0) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  train::ImageMetrics out;
  if (x1 < 0) return out;
  PixelWindow w;
  w.x0 = std::max(0, x0 - 8), w.y0 = std::max(0, y0 - 8);
  w.w = std::min(W - 1, x1 + 8) - w.x0 + 1, w.h = std::min(H - 1, y1 + 8) - w.y0 + 1;
  const FImage a = crop_image(img, w), b = crop_image(photo, w), m = crop_image(mask, w);
  train::ImageMetrics r = train::image_metrics(a.data.data(), b.data.data(), m.data, w.w, w.h);
  out.psnr_mask = r.psnr_mask;
  out.ssim_mask = r.ssim_mask;
  return out;
}

data::Image8 mask_u8(const FImage& m) {
  data::Image8 im(m.width, m.height, 1);
  for (size_t i = 0; i < m.data.size(); ++i) im.pixels[i] = uint8_t(std::lround(std::clamp(m.data[i], 0.f, 1.f) * 255));
  return im;
}
}  // namespace

FittedMeshes fitted_meshes(const flame::FlameModel& model, const std::vector<double>& verts) {
  data::PreprocessOptions po;
  data::HeadMeshes hm = data::build_head_meshes(model, verts, po);
  FittedMeshes m;
  m.head = hm.head;
  m.face_flag = hm.face_flag;
  m.facemask = hm.facemask.at(0);
  return m;
}

FImage face_mask(const FittedMeshes& m, const std::array<double, 16>& V, const Intrinsics& K, double blur,
                 FImage* clipped) {
  // Rendered in the window around the head's projection that the blur can reach (render_face_mask's kernel radius
  // ⌈3σ⌉ and a pixel), the rest is 0: on a large photo this is a fraction of the time and of the memory (the
  // supersampled G-buffer of a 4000x3000 photo alone is ~0.8 GB). A head reaching behind the camera uses the whole
  // photo.
  const int W = K.width, H = K.height;
  const double sigma_px = blur * W / double(data::kImages2xWidth);
  const PixelWindow w = head_window(m.head, V, K, 0, std::ceil(3 * sigma_px) + 2);
  const int x0 = w.x0, y0 = w.y0;
  auto full = [&](const data::Image8* win) {
    FImage f;
    f.width = W, f.height = H, f.channels = 1;
    f.data.assign(size_t(W) * H, 0.f);
    if (win)
      for (int y = 0; y < win->height; ++y)
        for (int x = 0; x < win->width; ++x)
          f.data[size_t(y0 + y) * W + size_t(x0 + x)] = win->pixels[size_t(y) * win->width + x] / 255.f;
    return f;
  };
  if (w.w < 1 || w.h < 1) {  // the head is outside the photo
    if (clipped) *clipped = full(nullptr);
    return full(nullptr);
  }
  flame::RasterView rv;
  rv.viewmat = V;
  rv.fx = K.fx, rv.fy = K.fy, rv.cx = K.cx - x0, rv.cy = K.cy - y0;
  rv.width = w.w, rv.height = w.h;
  data::Image8 clip8;
  const data::Image8 im = data::render_face_mask(m.head, m.face_flag, rv, 2, sigma_px * data::kImages2xWidth / rv.width,
                                                 clipped ? &clip8 : nullptr);
  if (clipped) *clipped = full(&clip8);
  return full(&im);
}

std::vector<std::array<double, 16>> turntable_views(const std::array<double, 3>& c, double dist, double yaw_deg,
                                                    int frames, double pitch_deg) {
  std::vector<std::array<double, 16>> out;
  const double kPi = 3.14159265358979323846;
  for (int f = 0; f < frames; ++f) {
    // 0 → +a → −a → 0 (a triangle wave), eased by a sine
    double ph = double(f) / frames;
    double a = yaw_deg * std::sin(2 * kPi * ph) * kPi / 180, e = pitch_deg * kPi / 180;
    double eye[3] = {c[0] + dist * std::sin(a) * std::cos(e), c[1] + dist * std::sin(e), c[2] + dist * std::cos(a) * std::cos(e)};
    const Vec3d z{(c[0] - eye[0]) / dist, (c[1] - eye[1]) / dist, (c[2] - eye[2]) / dist};
    const Vec3d x = normalized(cross({0, -1, 0}, z));
    const Vec3d y = cross(z, x);
    std::array<double, 16> V{};
    const double* rows[3] = {x.data(), y.data(), z.data()};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) V[i * 4 + j] = rows[i][j];
      V[i * 4 + 3] = -(rows[i][0] * eye[0] + rows[i][1] * eye[1] + rows[i][2] * eye[2]);
    }
    V[15] = 1;
    out.push_back(V);
  }
  return out;
}

namespace {
// face.ffrig: the detail stage's surfels as an animatable identity (train/rig_file.h) on the fitted neutral head
ffrt::RigData detail_rig(const flame::FlameModel& head_model, const HeadFit& fit, const flame::Mesh& posed_head,
                         const DetailResult& detail) {
  const int V = head_model.V;
  FF_CHECK(posed_head.num_vertices() == V && int(fit.neutral_vertices.size()) == 3 * V,
           "detail rig: the head meshes do not have the head model's ", V, " vertices");
  const train::HeadRig rig(head_model, fit.neutral_vertices);
  // the surfels lie on the posed head: carried onto the neutral head by their own binding (posed → neutral)
  train::GaussianBinding b;
  b.A = V, b.G = int(detail.tri.size());
  b.neutral = posed_head.vertices;
  b.bary.assign(detail.bary.begin(), detail.bary.end());
  b.tri.resize(detail.tri.size() * 3);
  for (size_t i = 0; i < detail.tri.size(); ++i)
    for (int k = 0; k < 3; ++k) b.tri[i * 3 + size_t(k)] = posed_head.faces[size_t(detail.tri[i]) * 3 + size_t(k)];
  ffrt::GaussianSet neutral = detail.gaussians;
  std::vector<float> scales(neutral.log_scales.size());
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = std::exp(neutral.log_scales[i]);
  train::pose_gaussians_host(b, rig.neutral_head(), int64_t(b.G), neutral.means.data(), neutral.rotations.data(),
                             scales.data(), 0, neutral.has_sh() ? neutral.sh_rest.data() : nullptr);
  for (size_t i = 0; i < scales.size(); ++i) neutral.log_scales[i] = std::log(scales[i]);
  const std::string meta = json{{"format", "facefield rig"},
                                {"source", "fit_image detail stage"},
                                {"gaussians", b.G},
                                {"head_model_content_id", flame::head_model_content_id(head_model)}}
                               .dump(-1, ' ', false, json::error_handler_t::replace);
  return train::rig_data(rig, {}, b.tri, detail.bary, neutral, meta);
}
}  // namespace

FitImageReport fit_image(Context& ctx, const FitImageOptions& o, const train::ModelFile* preloaded) {
  FitImageReport rep;
  rep.out = o.out;
  FF_CHECK(!o.image.empty(), "no image given (--image PHOTO)");
  FF_CHECK(!o.out.empty(), "no output folder given (--out DIR)");
  FF_CHECK(o.device == "cpu" || o.device == "cuda", "device must be cpu or cuda, got '", o.device, "'");
  FF_CHECK(preloaded || o.model_path.empty() || o.device == "cpu" || Context::cuda_available(),
           "device cuda requested but ", Context::cuda_unavailable_reason());
  // the output folder, checked before any work: absent, empty or an earlier fit_image output (core/output_dir.h);
  // everything is written into its temporary sibling, removed on failure or SIGINT/SIGTERM
  OutputDir out_dir(o.out, "fit_image");
  rep.out = out_dir.target();
  const fs::path tmp = out_dir.path();
  auto phase_t = Clock::now();
  auto end_phase = [&](const std::string& name) {
    rep.seconds[name] = since(phase_t);
    phase_t = Clock::now();
  };
  const auto t_all = Clock::now();
  std::string head_model_name;
  try {
    // ---- 1. photo and landmarks ----
    Photo photo = read_photo(o.image);
    const int W = photo.width(), H = photo.height();
    end_phase("read_image");
    if (!o.landmarks.empty()) {
      rep.landmarks = read_landmarks_file(o.landmarks);
    } else {
      rep.landmarks = detect_landmarks(photo, o.face);
      for (const FaceCandidate& c : rep.landmarks.rejected)
        std::fprintf(stderr, "fit_image: rejected the detection at box %.0f %.0f %.0f %.0f (score %.2f): %s\n",
                     c.box[0], c.box[1], c.box[2], c.box[3], c.score, c.rejected.c_str());
    }
    for (int i = 0; i < 68; ++i)
      FF_CHECK(rep.landmarks.xy[i * 2] > -W && rep.landmarks.xy[i * 2] < 2 * W && rep.landmarks.xy[i * 2 + 1] > -H &&
                   rep.landmarks.xy[i * 2 + 1] < 2 * H,
               "landmark ", i, " lies far outside the ", W, "x", H, " image (wrong landmark file?)");
    end_phase(o.landmarks.empty() ? "detect" : "read_landmarks");

    // ---- 2. model file and head model fit ----
    train::ModelFile own;
    const train::ModelFile* lm = preloaded;
    if (!lm && !o.model_path.empty()) {
      own = load_fit_model(ctx, o.model_path, o.device);
      lm = &own;
      end_phase("load_model");
    }
    const flame::FlameModel head_model =
        lm ? train::find_head_model(*lm, o.head_model) : flame::load_head_model(o.head_model.empty() ? "builtin" : o.head_model);
    head_model_name = lm && o.head_model.empty() ? lm->head.spec : o.head_model.empty() ? "builtin" : o.head_model;
    Intrinsics K = photo_intrinsics(photo, o.fov_deg);
    if (o.focal_px > 0) {
      K.fx = K.fy = o.focal_px;
      K.source = "--focal " + std::to_string(o.focal_px) + " px";
    }
    // ---- Face Mesh: the built-in head model's own 468 points, seeded from the detector's landmarks; detection's
    // check (judge_face) has run the first pass already, so its points seed the second ----
    rep.detector_landmarks = rep.landmarks;
    HeadFitOptions head_opt = o.head;
    FF_CHECK(o.face_mesh == "auto" || o.face_mesh == "on" || o.face_mesh == "off",
             "face mesh must be auto, on or off, got '", o.face_mesh, "'");
    const bool mesh_model = head_model.V == kFaceMeshPoints;
    FF_CHECK(o.face_mesh != "on" || mesh_model, "--face-mesh on needs the built-in head model (Face Mesh's points are ",
             "its vertices); this head model has ", head_model.V, " vertices");
    if (o.face_mesh == "on" || (o.face_mesh == "auto" && mesh_model && o.landmarks.empty())) {
      const std::vector<double>& first = rep.landmarks.mesh_xy;
      rep.face_mesh = first.empty()
                          ? run_facemesh(ctx, FaceMeshNet::embedded(), photo.rgb, roi_from_landmarks68(rep.landmarks))
                          : run_facemesh(ctx, FaceMeshNet::embedded(), photo.rgb, roi_from_mesh(first), 1);
      rep.has_face_mesh = true;
      if (rep.face_mesh.score >= kMinFaceMeshScore) {
        rep.landmarks.xy = landmarks68_from_facemesh(head_model, rep.face_mesh.xy).xy;  // box, score, … stay
        rep.landmarks.source += "+facemesh";
        rep.used_face_mesh = true;
        head_opt.contour_on_silhouette = false;
      } else {
        char buf[160];
        std::snprintf(buf, sizeof buf, "Face Mesh's face score %.2f is below %.2f: its points are not used; the "
                      "landmarks are ", rep.face_mesh.score, kMinFaceMeshScore);
        rep.warnings.push_back(buf + (o.landmarks.empty() ? std::string("the detector's") : "those of " + o.landmarks));
      }
      end_phase("face_mesh");
    }
    // --forehead-outline: also the face oval above the 68 points' contour (the temples and the forehead's top) as
    // vertex observations: where the photo's forehead ends (under a cap, a fringe), which the 68 points do not say
    VertexObservations extra;
    if (rep.used_face_mesh && o.forehead_outline)
      for (int v : kFaceMeshUpperOval) {
        extra.vertex.push_back(v);
        extra.xy.push_back(rep.face_mesh.xy[size_t(v) * 2]);
        extra.xy.push_back(rep.face_mesh.xy[size_t(v) * 2 + 1]);
      }
    rep.head = fit_head(head_model, rep.landmarks, K, head_opt, extra);
    for (const std::string& w : fit_warnings(rep.landmarks, rep.head)) rep.warnings.push_back(w);
    for (const std::string& w : rep.warnings) std::fprintf(stderr, "fit_image: warning: %s\n", w.c_str());
    end_phase("head_fit");

    // ---- 3. face mask ----
    FittedMeshes meshes = fitted_meshes(head_model, rep.head.vertices);  // the photo's expression and jaw
    const FittedMeshes neutral_meshes = fitted_meshes(head_model, rep.head.neutral_vertices);
    const double head_dist = std::sqrt(rep.head.t[0] * rep.head.t[0] + rep.head.t[1] * rep.head.t[1] +
                                       rep.head.t[2] * rep.head.t[2]);
    const double mask_sigma_px = o.mask_blur_mm * 1e-3 * K.fx / head_dist;
    // `mask` (stops at the head's outline) weighs the detail stage and every masked score; the code fit sees
    // `fit_mask`, whose blur spills over the outline, so that the outline's fit stays in its loss
    FImage mask;  // drawn again at the result's pose after the code fit
    const FImage fit_mask =
        face_mask(meshes, rep.head.viewmat(), K, mask_sigma_px * data::kImages2xWidth / double(W), &mask);
    FImage photo_f = to_float(photo.rgb);
    end_phase("mask");

    fs::create_directories(tmp);
    auto file = [&](const std::string& name) {
      rep.files.push_back(name);
      return (tmp / name).string();
    };

    // ---- 4. identity code ----
    // The layout is placed on the NEUTRALISED head (expression 0, jaw 0) and its Gaussians are posed into the photo's
    // expression and jaw by their triangle binding (train/animation.h) for every photo-view render, so that the
    // fitted identity is animatable (fit.json "positions" are the neutral placement, "photo_pose" the estimate). A
    // "seed" layout cannot be bound: it is placed on the photo's head as it is (not animatable from the photo pose).
    std::vector<float> xyz, mean_code, code_sd;
    train::GaussianBinding binding;
    ExpressionPosing posing;
    if (lm) {
      rep.has_model = true;
      train::IdentityModel& model = *lm->model;
      if (model.layout().placement == "uv") {
        xyz = model.layout().place(neutral_meshes.facemask);
        binding = train::GaussianBinding::from_layout(model.layout(), neutral_meshes.facemask.vertices);
        posing.binding = &binding;
        posing.posed_face = meshes.facemask.vertices;
        rep.neutral_positions = true;
      } else {
        xyz = model.layout().place(meshes.facemask);
        rep.warnings.push_back("the model's layout places Gaussians with '" + model.layout().placement +
                               "' (not bound to triangles): the identity is placed on the photo's head with its "
                               "expression, not on the neutral head");
        std::fprintf(stderr, "fit_image: warning: %s\n", rep.warnings.back().c_str());
      }
      CodeFitProblem prob;
      prob.photo = photo_f;
      prob.mask = fit_mask;
      prob.viewmat = rep.head.viewmat();
      prob.K = K;
      prob.xyz = xyz;
      prob.posing = posing;
      // the expression refinement (docs/animation.md §4): ψ and jaw move with the code, from the landmark estimate
      std::unique_ptr<train::HeadRig> rig;
      if (o.expression_refine && posing.active() && head_model.J == flame::kFlameJoints) {
        rig = std::make_unique<train::HeadRig>(head_model, rep.head.neutral_vertices);
        prob.refine.rig = rig.get();
        prob.refine.expression = rep.head.expression;
        prob.refine.jaw = rep.head.jaw;
      }
      CodeFitOptions co = o.code;
      Progress pr{o.progress, "code fit (" + co.recipe + ")"};
      co.progress = [&](const std::string& w, double f, double l) { pr(w, f, l); };
      rep.code = fit_code(model, prob, co);
      pr.done();
      if (rep.code.expression_refined) {
        // everything posed follows the refined estimate: the head (mesh.ply, the detail stage's surface), its
        // landmarks and error, the Gaussians' posed face, and (below) the mask of the detail stage and the scores
        rep.head.expression = rep.code.expression;
        rep.head.jaw = rep.code.jaw;
        update_head_fit(rep.head, head_model, rep.landmarks);
        meshes = fitted_meshes(head_model, rep.head.vertices);
        posing.posed_face = meshes.facemask.vertices;
      }
      code_stats(model, mean_code, code_sd);
      rep.code_gaussians = code_gaussians(model, rep.code.code, xyz, &posing);
      rep.positions = xyz;
      end_phase("code_fit");
    }
    rep.viewmat = lm ? rep.code.viewmat : rep.head.viewmat();
    rep.K = K;
    if (lm && (rep.viewmat != rep.head.viewmat() || rep.code.expression_refined)) {
      // The result is rendered at the code fit's refined pose (and with its refined expression), which moves the
      // head a few pixels from the landmark estimate the mask was drawn at. The mask that weighs the detail stage
      // and every score is drawn again where the result's head is, so that the detail stage's surface (the head's
      // triangles the photo shows inside the mask) covers the whole mask: at the landmark estimate's mask, a band
      // of 4–8 px along the forehead was mask without surfels (Grace Hopper: 30.4–33.1 dB from decodings of one
      // photo that moved the head 4.7–7.6 px; docs/model.md §7).
      const auto t_mask = Clock::now();
      face_mask(meshes, rep.viewmat, K, mask_sigma_px * data::kImages2xWidth / double(W), &mask);
      rep.seconds["mask"] += since(t_mask);
      phase_t += Clock::now() - t_mask;  // not counted twice (code_fit has ended; the detail phase starts now)
    }

    // ---- 4b. detail stage ----
    if (lm && o.detail.enabled) {
      DetailProblem dp;
      dp.photo = photo_f;
      dp.mask = mask;
      dp.viewmat = rep.viewmat;
      dp.K = K;
      dp.head = &meshes.head;
      dp.face_flag = &meshes.face_flag;
      if (o.detail.symmetry > 0 && meshes.head.num_vertices() == head_model.V) {
        double residual = 0;
        dp.mirror = mirror_vertices(head_model.v_template, &residual);
        // a template that is not left-right symmetric (partner farther than 2 mm) gets no symmetry prior
        if (residual > 2e-3) dp.mirror.clear();
      }
      dp.prior = rep.code_gaussians;
      dp.device = lm->model->device();  // --device: the colour solve's renders run where the model runs
      DetailOptions dopt = o.detail;
      Progress pr{o.progress, "detail"};
      dopt.progress = [&](const std::string& w, double f, double l) { pr(w, f, l); };
      rep.detail = fit_detail(lm->model->ctx(), dp, dopt);  // the model's context: its device's stream
      pr.done();
      rep.has_detail = true;
      rep.gaussians = rep.detail.gaussians;
      end_phase("detail");
    } else {
      rep.gaussians = rep.code_gaussians;
    }

    // ---- 5. outputs ----
    // The scores' and the overlay's renders cover the head's window (its projection grown by a quarter and 16 px:
    // the mask, which stops at the head's outline, and every Gaussian's footprint lie inside), not the whole photo:
    // on a large photo that is most of this phase's time and memory. Outside it the render is empty (α = 0).
    const PixelWindow rw = head_window(meshes.head, rep.viewmat, K, 0.25, 16);
    const std::array<double, 4> Kw = {K.fx, K.fy, K.cx - rw.x0, K.cy - rw.y0};
    const FImage photo_w = crop_image(photo_f, rw), mask_w = crop_image(mask, rw);
    FImage render, alpha;  // [3|1, rw.h, rw.w]
    // the result's Gaussians where the model runs, copied there once for the score's render and the turntable's
    std::unique_ptr<GaussianRenderer> detail_renderer;
    if (lm && rep.has_detail)
      detail_renderer = std::make_unique<GaussianRenderer>(lm->model->ctx(), rep.gaussians, lm->model->device());
    if (lm && rw.w > 0 && rw.h > 0) {
      train::IdentityModel& model = *lm->model;
      render = render_code(model, rep.code.code, xyz, rep.code.viewmat, Kw, rw.w, rw.h, &alpha, &posing);
      train::ImageMetrics im = masked_metrics(render, photo_w, mask_w);
      rep.code_psnr_mask = rep.psnr_mask = im.psnr_mask;
      rep.code_ssim_mask = rep.ssim_mask = im.ssim_mask;
      if (rep.has_detail) {
        render = detail_renderer->render(rep.viewmat, Kw, rw.w, rw.h, &alpha);
        train::ImageMetrics dm = masked_metrics(render, photo_w, mask_w);
        rep.psnr_mask = dm.psnr_mask;
        rep.ssim_mask = dm.ssim_mask;
      }
      FImage base = render_code(model, mean_code, xyz, rep.head.viewmat(), Kw, rw.w, rw.h, nullptr, &posing);
      train::ImageMetrics bm = masked_metrics(base, photo_w, mask_w);
      rep.mean_code_psnr_mask = bm.psnr_mask;
      rep.mean_code_ssim_mask = bm.ssim_mask;
    }
    if (lm) {
      // SH degree 0 keeps the colours the photo's camera sees
      ffrt::write_ply(file("face.ply"),
                      o.ply_sh_degree == 0 && rep.has_detail ? rep.detail.view_independent() : rep.gaussians,
                      o.ply_sh_degree, o.ply_y_down);
      if (rep.has_detail) ffrt::write_ply(file("code.ply"), rep.code_gaussians, o.ply_sh_degree, o.ply_y_down);
      if (rep.has_detail && head_model.J == ffrt::kRigJoints && meshes.head.num_vertices() == head_model.V) {
        ffrt::write_rig(file("face.ffrig"), detail_rig(head_model, rep.head, meshes.head, rep.detail));
        rep.has_rig = true;
      }
    }
    // the shaded mesh (the overlay's middle panel without a model)
    flame::RasterImage mesh_img;
    if (!lm) {
      flame::RasterOptions ro;
      ro.width = W, ro.height = H;
      flame::PinholeCamera<double> pc;
      pc.fx = K.fx, pc.fy = K.fy, pc.cx = K.cx, pc.cy = K.cy;
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) pc.R[i * 3 + j] = rep.head.R[i * 3 + j];
        pc.t[i] = rep.head.t[i];
      }
      mesh_img = flame::rasterize_mesh(meshes.head.vertices.data(), meshes.head.num_vertices(),
                                       meshes.head.faces.data(), meshes.head.num_faces(), pc, ro);
    }
    // overlay: photo | render (or mesh) over the photo | landmarks. Each panel is the photo box-downscaled by the
    // smallest integer factor k that brings its longer side to at most kOverlayPanelMax px (the last W % k columns
    // and H % k rows are cut), so a 4000x3000 photo gives 1000x750 panels; landmark dots scale with the face.
    {
      constexpr int kOverlayPanelMax = 1024;
      const int k = (std::max(W, H) + kOverlayPanelMax - 1) / kOverlayPanelMax;
      const int pw = W / k, ph = H / k;
      std::vector<uint8_t> mid(photo.rgb.pixels);
      const size_t P = size_t(W) * H, Pw = size_t(rw.w) * size_t(rw.h);
      for (size_t p = 0; p < P; ++p) {
        const int x = int(p % size_t(W)) - rw.x0, y = int(p / size_t(W)) - rw.y0;
        const bool in = lm && !render.data.empty() && x >= 0 && y >= 0 && x < rw.w && y < rw.h;
        const size_t q = in ? size_t(y) * size_t(rw.w) + size_t(x) : 0;  // the pixel in the render's window
        for (int c = 0; c < 3; ++c) {
          double bg = photo.rgb.pixels[p * 3 + c];
          double v;
          if (lm) {  // the render over the dimmed photo (outside the window: nothing rendered, α = 0)
            const double a = in ? std::clamp(alpha.data[q], 0.f, 1.f) : 0.0;
            v = (in ? render.data[size_t(c) * Pw + q] * 255.0 : 0.0) + (1 - a) * bg * 0.35;
          } else {
            v = mesh_img.face_id[p] >= 0 ? 0.7 * mesh_img.rgb[p * 3 + c] + 0.3 * bg : bg;
          }
          mid[p * 3 + c] = uint8_t(std::clamp(v, 0.0, 255.0));
        }
      }
      auto panel = [&](const std::vector<uint8_t>& full) {  // cut to a multiple of k, then box-filter by k
        if (k == 1) return full;
        std::vector<uint8_t> cut(size_t(pw) * k * ph * k * 3);
        for (int y = 0; y < ph * k; ++y)
          std::copy_n(full.begin() + size_t(y) * W * 3, size_t(pw) * k * 3, cut.begin() + size_t(y) * pw * k * 3);
        return flame::downsample(cut, pw * k, ph * k, 3, k);
      };
      const std::vector<uint8_t> photo_panel = panel(photo.rgb.pixels);
      flame::Canvas cv(3 * pw, ph + 24, {24, 24, 24});
      cv.paste(photo_panel.data(), pw, ph, 0, 24);
      cv.paste(panel(mid).data(), pw, ph, pw, 24);
      cv.paste(photo_panel.data(), pw, ph, 2 * pw, 24);
      // dots: 1/80 of the landmarks' extent (the face), at least 1.5 px; a landmark at pixel centre x is at
      // (x + 0.5) / k - 0.5 in the panel
      double lx0 = 1e30, ly0 = 1e30, lx1 = -1e30, ly1 = -1e30;
      for (int l = 0; l < 68; ++l) {
        lx0 = std::min(lx0, rep.landmarks.xy[l * 2]), lx1 = std::max(lx1, rep.landmarks.xy[l * 2]);
        ly0 = std::min(ly0, rep.landmarks.xy[l * 2 + 1]), ly1 = std::max(ly1, rep.landmarks.xy[l * 2 + 1]);
      }
      const double r = std::max(1.5, std::max(lx1 - lx0, ly1 - ly0) / k / 80.0);
      auto px = [&](double v) { return (v + 0.5) / k - 0.5; };
      for (int l = 0; l < 68; ++l) {
        cv.dot(2 * pw + px(rep.landmarks.xy[l * 2]), 24 + px(rep.landmarks.xy[l * 2 + 1]), r, {40, 230, 40});
        cv.dot(2 * pw + px(rep.head.projected[l * 2]), 24 + px(rep.head.projected[l * 2 + 1]), r * 0.7, {240, 40, 40});
      }
      // a panel's title: one line at scale 2 on wide panels when it fits, else scale 1, else two lines at ": "
      auto title = [&](int x, const std::string& t) {
        const int room = pw - 10;
        if (pw >= 400 && flame::Canvas::text_width(t, 2) <= room) return cv.text(x, 6, t, {255, 255, 255}, 2);
        const size_t cut = t.find(": ");
        if (flame::Canvas::text_width(t) <= room || cut == std::string::npos) return cv.text(x, 8, t, {255, 255, 255});
        cv.text(x, 2, t.substr(0, cut + 1), {255, 255, 255});
        cv.text(x, 13, t.substr(cut + 2), {255, 255, 255});
      };
      title(6, k == 1 ? std::string("photo") : "photo (1/" + std::to_string(k) + " size)");
      char buf[160];
      if (lm)
        std::snprintf(buf, sizeof buf, "render (%s%s): masked PSNR %.2f dB", o.code.recipe.c_str(),
                      rep.has_detail ? " + detail" : "", rep.psnr_mask);
      else
        std::snprintf(buf, sizeof buf, "fitted head mesh (no model)");
      title(pw + 6, buf);
      // the number metrics.json calls landmarks.rms_px (in the photo's pixels)
      std::snprintf(buf, sizeof buf, "landmarks rms %.2f px: green in, red fit", rep.head.rms_px);
      title(2 * pw + 6, buf);
      flame::write_png(file("overlay.png"), cv.width, cv.height, 3, cv.rgb.data());
    }
    data::write_png(file("mask.png"), mask_u8(mask));
    if (o.remove_background) {
      data::Image8 m8 = mask_u8(mask);
      data::write_png(file("photo_masked.png"), data::apply_mask(photo.rgb, m8));
    }
    write_landmarks_file(file("landmarks.txt"), rep.landmarks,
                         "landmarks of " + o.image + " (" + rep.landmarks.source + ")");
    if (rep.has_face_mesh) {
      std::string t = "# Face Mesh points of " + o.image +
                      " (train/fit/facemesh.h): the built-in head model's vertex index, x y (pixels, pixel centre = "
                      "integer), z (relative depth, pixels)\n";
      char line[96];
      for (int v = 0; v < kFaceMeshPoints; ++v) {
        std::snprintf(line, sizeof line, "%d %.3f %.3f %.3f\n", v, rep.face_mesh.xy[size_t(v) * 2],
                      rep.face_mesh.xy[size_t(v) * 2 + 1], rep.face_mesh.z[size_t(v)]);
        t += line;
      }
      write_text(file("face_mesh.txt"), t);
    }
    flame::write_ply(file("mesh.ply"), meshes.head);
    flame::write_ply(file("mesh_neutral.ply"), neutral_meshes.head);

    // turntable
    double turntable_s = 0;
    if (lm && o.turntable_frames > 0) {
      auto tt0 = Clock::now();
      train::IdentityModel& model = *lm->model;
      std::array<double, 3> c{0, 0, 0}, lo{1e9, 1e9, 1e9}, hi{-1e9, -1e9, -1e9};
      const size_t G = xyz.size() / 3;
      for (size_t g = 0; g < G; ++g)
        for (int k = 0; k < 3; ++k) {
          c[k] += xyz[g * 3 + k] / G;
          lo[k] = std::min<double>(lo[k], xyz[g * 3 + k]);
          hi[k] = std::max<double>(hi[k], xyz[g * 3 + k]);
        }
      const double dist = std::sqrt(rep.head.t[0] * rep.head.t[0] + rep.head.t[1] * rep.head.t[1] + rep.head.t[2] * rep.head.t[2]);
      const double extent = std::max(hi[0] - lo[0], hi[1] - lo[1]);
      const int S = o.turntable_size;
      const double f = 0.85 * S * dist / std::max(extent, 1e-3);
      fs::create_directories(tmp / "turntable");
      GifWriter gif(S, S, 6);
      auto views = turntable_views(c, dist, o.turntable_yaw_deg, o.turntable_frames);
      Progress pr{o.progress, "turntable"};
      // frames are rendered one by one (the renderer uses every thread) and PNG-encoded a batch at a time in
      // parallel (encoding is single-threaded and ~1/3 of a CPU frame's time)
      const int batch = std::max(1, ctx.threads());
      std::vector<data::Image8> frames;
      std::vector<std::string> names;
      for (size_t i = 0; i < views.size(); ++i) {
        FImage fr = rep.has_detail ? detail_renderer->render(views[i], {f, f, S / 2.0, S / 2.0}, S, S)
                                   : render_code(model, rep.code.code, xyz, views[i], {f, f, S / 2.0, S / 2.0}, S, S,
                                                 nullptr, &posing);
        frames.push_back(to_u8(fr));
        char name[64];
        std::snprintf(name, sizeof name, "turntable/frame_%03zu.png", i);
        names.push_back(file(name));
        if (int(frames.size()) == batch || i + 1 == views.size()) {
          parallel_for(int64_t(frames.size()), 1, batch, [&](int64_t a, int64_t b) {
            for (int64_t k = a; k < b; ++k) data::write_png(names[size_t(k)], frames[size_t(k)], 3);
          });
          for (const data::Image8& f8 : frames) gif.add_frame(f8.pixels.data());
          frames.clear(), names.clear();
        }
        pr("frames", double(i + 1) / views.size(), 0);
      }
      pr.done();
      gif.save(file("turntable.gif"));
      turntable_s = since(tt0);
    }

    // fit.json
    {
      json j;
      j["image"] = o.image;
      j["image_size"] = {W, H};
      j["landmarks_source"] = rep.landmarks.source;
      j["faces_found"] = rep.landmarks.faces_found;
      j["face_box"] = arr(rep.landmarks.box.data(), 4);
      j["face_score"] = rep.landmarks.score;
      if (rep.has_face_mesh)
        j["face_mesh"] = {{"score", rep.face_mesh.score},
                          {"used", rep.used_face_mesh},
                          {"points", "face_mesh.txt"},
                          {"roi", {{"cx", rep.face_mesh.roi.cx},
                                   {"cy", rep.face_mesh.roi.cy},
                                   {"side", rep.face_mesh.roi.side},
                                   {"angle_deg", rep.face_mesh.roi.angle * 180 / M_PI}}}};
      else
        j["face_mesh"] = nullptr;
      j["rejected"] = rejected_json(rep.landmarks);
      j["warnings"] = rep.warnings;
      j["camera"] = {{"fx", K.fx}, {"fy", K.fy}, {"cx", K.cx}, {"cy", K.cy}, {"width", W}, {"height", H},
                     {"focal_source", K.source},
                     {"convention", "splat.h: OpenCV axes, u = fx*x/z + cx measured from the pixel's left edge"}};
      auto V0 = rep.head.viewmat();
      j["viewmat_landmarks"] = arr(V0.data(), 16);
      j["viewmat"] = arr(lm ? rep.code.viewmat.data() : V0.data(), 16);
      j["viewmat_note"] = "canonical (face.ply world) -> camera, row-major 4x4";
      j["head_pose_deg"] = {{"yaw", rep.head.yaw_deg}, {"pitch", rep.head.pitch_deg}, {"roll", rep.head.roll_deg}};
      j["shape"] = rep.head.shape;
      j["jaw"] = rep.head.jaw;
      {
        const train::RigPose pp = rep.head.rig_pose();
        j["photo_pose"] = {{"expression", pp.expression},
                           {"pose", arr(pp.pose.data(), pp.pose.size())},
                           {"note", "the photo's expression and jaw as head-rig parameters (train/rig_pose.h RigPose: "
                                    "expression coefficients, axis-angle per joint global, neck, jaw, left eye, "
                                    "right eye); they pose mesh_neutral.ply into mesh.ply"}};
      }
      j["head_model"] = head_model_name;
      if (lm) {
        j["model"] = o.model_path.empty() ? lm->path : o.model_path;
        j["recipe"] = o.code.recipe;
        j["code"] = rep.code.code;
        j["mean_code"] = mean_code;
        // the identity's Gaussian positions [3G]: what `animate`/`render --code` decode the code at
        j["positions"] = rep.positions;
        j["positions_note"] = rep.neutral_positions
                                  ? "on the neutral head (mesh_neutral.ply); photo_pose poses them into the photo view"
                                  : "on the photo's head (mesh.ply): the layout is not bound to triangles";
        j["detail"] = rep.has_detail ? json{{"gaussians", rep.gaussians.size()},
                                            {"ply", "face.ply"},
                                            {"code_only_ply", "code.ply"},
                                            {"spacing_px", rep.detail.spacing_px},
                                            {"working_size", {rep.detail.width, rep.detail.height}}}
                                     : json(nullptr);
      }
      write_text(file("fit.json"), j.dump(2) + "\n");
    }
    end_phase("outputs");
    rep.seconds["turntable"] = turntable_s;
    rep.seconds["total"] = since(t_all);

    // metrics.json (last, so its timings cover everything)
    {
      json m;
      m["landmarks"] = {{"rms_px", rep.head.rms_px},
                        {"mean_px", rep.head.mean_px},
                        {"max_px", rep.head.max_px},
                        {"mean_px_inner51", rep.head.mean_px_inner},
                        {"lm_iterations", rep.head.iterations}};
      if (lm) {
        m["photo"] = {{"psnr_mask", rep.psnr_mask}, {"ssim_mask", rep.ssim_mask}};
        m["mean_code"] = {{"psnr_mask", rep.mean_code_psnr_mask}, {"ssim_mask", rep.mean_code_ssim_mask}};
        m["code"] = {{"psnr_mask", rep.code_psnr_mask}, {"ssim_mask", rep.code_ssim_mask}};
        if (rep.has_detail)
          m["detail"] = {{"psnr_mask", rep.psnr_mask},
                         {"ssim_mask", rep.ssim_mask},
                         {"gaussians", rep.gaussians.size()},
                         {"cg_iterations", rep.detail.iterations},
                         {"working_psnr_start", rep.detail.psnr_start},
                         {"working_psnr_end", rep.detail.psnr_end},
                         {"spacing_px", rep.detail.spacing_px},
                         {"seconds", rep.detail.seconds}};
        m["code_fit"] = {{"recipe", o.code.recipe},
                         {"evaluations", rep.code.evaluations},
                         {"iterations", rep.code.losses.size()},
                         {"final_loss", rep.code.final_loss},
                         {"seconds", rep.code.seconds}};
      }
      json s;
      for (auto& [k, v] : rep.seconds) s[k] = v;
      m["seconds"] = s;
      m["warnings"] = rep.warnings;
      m["rejected"] = rejected_json(rep.landmarks);
      m["threads"] = ctx.threads();
      m["device"] = lm ? lm->model->device().str() : std::string("cpu");
      write_text(file("metrics.json"), m.dump(2) + "\n");
    }

    // ---- publish atomically ----
    out_dir.commit();
  } catch (...) {
    throw;  // out_dir's destructor removes the temporary folder
  }
  return rep;
}

}  // namespace ff::fit
