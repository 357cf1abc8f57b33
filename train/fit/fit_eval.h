// train/fit/fit_eval.h — `make eval` (apps/ffeval.cpp): one trained model measured against issue 15's goals, written
// as a markdown report with PNG plots.
//
// Sections of <out>/report.md:
//   1. Synthetic dataset (the checkpoint's training data): held-out views of the training identities and held-out
//      identities (code fitted on their most frontal view, scored on the others), PSNR/SSIM over the whole image and
//      inside the face mask, beside the mean code — train::Trainer::evaluate on the checkpoint (train/trainer.h),
//      the numbers training writes to metrics.json. Plot: dataset.png.
//   2. Photos (photos_dir: grace_hopper_512x512.jpg, group_sample2.jpg, group_sample4.jpg when present; every face
//      detected with a box ≥ min_face_px high): fit_image (train/fit/fit_image.h) twice per face — the seed recipe
//      without the detail stage, and the default pipeline (code fit, then the detail stage) — giving masked PSNR/SSIM
//      at the photo's view for mean code / seed recipe / code fit / detail stage, the landmark RMS and the seconds
//      per phase; one strip per face (photos/<name>.png: photo crop | result rendered over the photo | turntable
//      frames at −yaw, 0, +yaw). Plots: photos_psnr.png, photos_ssim.png. Every fit's outputs stay in fits/.
//      Without photos_dir (users may not have the photos) the section says so and is skipped.
//   3. Held-out synthetic identities, novel views: fit_image on the identity's most frontal view (train::frontal_view)
//      with the ground-truth 68 landmarks (the head model's Contour68 landmarks on the identity's tracked neutral mesh,
//      data::tracked_neutral_vertices, projected into that camera), focal length = the camera's; the fitted
//      Gaussians (canonical frame of the fit) are rendered into every OTHER view v through
//      viewmat_v = camera_v · camera_fit⁻¹ · viewmat_fit (the fit's canonical → photo camera), and scored against
//      the view's ground truth inside its face mask (never the input view): detail stage (the result's Gaussians and
//      viewmat) vs code-only fit (the code fit's). Also the fitted head's 3D landmark error and depth offset against
//      the true head in the input camera's frame (one view leaves size and distance ambiguous). Because of that
//      ambiguity every novel view is scored twice: as fitted (what a user gets), and aligned: the fitted head
//      scaled about the input camera's centre by the factor that best maps it onto the true head
//      (single_view_scale). That scaling leaves the input view's image unchanged, so it removes only what one
//      view cannot observe and cannot rescue a fit that only looks right from the photo's camera. Issue 15's
//      detail-vs-code gain is judged on the aligned views. Plot:
//      synthetic_views.png (masked PSNR per aligned view, mean over identities); synthetic/<name>.png: every 4th
//      novel view, aligned.
// Every number in the report is finite or written "n/a" (a failed fit is reported with its error, not fatal).
// Progress lines with an ETA go to stderr when `progress` is set.
//
//   ff::fit::EvalOptions o; o.model_path = "runs/demo/checkpoints/step_00008000.ffck"; o.out = "eval.tmp";
//   o.photos_dir = "../shared/data/photos";
//   ff::fit::EvalReport r = ff::fit::run_eval(ctx, o);    // writes o.out/report.md and the PNGs
#pragma once
#include <map>
#include <string>
#include <vector>

#include "train/fit/fit_image.h"
#include "train/trainer.h"

namespace ff::fit {

struct EvalOptions {
  std::string model_path;  // .ffck checkpoint (its run config names the dataset)
  std::string data_dir;    // "" = the checkpoint's data_dir
  std::string photos_dir;  // "" or missing: the photo section is skipped (and says so)
  std::vector<std::string> photos = {"grace_hopper_512x512.jpg", "group_sample2.jpg", "group_sample4.jpg"};
  std::string out = "eval";  // folder written into (created; the caller owns replacing it, apps/ffeval.cpp)
  FitImageOptions fit;       // every fit's options (image, out, face, landmarks, recipe are set per fit)
  int min_face_px = 80;      // photo faces: detection box height at least this
  int max_synthetic = -1;    // held-out identities fitted in section 3 (−1: all)
  bool synthetic_detected = false;  // section 3: fit from the detector's landmarks (dlib, with Face Mesh as
                                    // fit.face_mesh says) instead of the ground-truth ones: the whole pipeline's
                                    // geometry, scored on views with ground truth
  bool dataset_section = true;
  bool progress = true;
};

// One fit of one photo face or synthetic identity; NaN where not measured.
struct EvalFit {
  std::string name;    // "grace_hopper_512x512 face 0", "synthetic 021"
  std::string error;   // non-empty: the fit failed (message)
  double face_px = 0;  // detection box height (photos)
  std::string strip;   // the strip (photos) or novel-view grid (synthetic) image, relative to the output folder
  double landmark_rms_px = NAN;
  std::string landmark_source;  // Landmarks68::source: "dlib", "dlib+facemesh", a file
  double landmark_3d_mm = NAN, depth_offset_mm = NAN;  // synthetic: fitted vs true landmarks in the input camera
                                                       // frame (mean distance; mean z difference, + = farther)
  // masked PSNR/SSIM at the input view: mean code, seed recipe, code fit (default recipe), detail stage
  double psnr_mean = NAN, ssim_mean = NAN, psnr_seed = NAN, ssim_seed = NAN, psnr_code = NAN, ssim_code = NAN,
         psnr_detail = NAN, ssim_detail = NAN;
  std::map<std::string, double> seconds, seed_seconds;  // fit_image's phases (default pipeline, seed recipe)
  // synthetic: masked PSNR/SSIM on the novel views, code-only and detail, per view (camera name) and mean
  std::vector<std::string> views;
  std::vector<double> view_psnr_code, view_psnr_detail, view_ssim_code, view_ssim_detail;
  double novel_psnr_code = NAN, novel_psnr_detail = NAN, novel_ssim_code = NAN, novel_ssim_detail = NAN;
  // the same views with the fitted head scaled about the input camera's centre onto the true one (single_view_scale):
  // per view and mean; align_scale is that scale (> 1: the fitted head was too small and too close)
  std::vector<double> view_psnr_code_aligned, view_psnr_detail_aligned;
  double align_scale = NAN, novel_psnr_code_aligned = NAN, novel_psnr_detail_aligned = NAN,
         novel_ssim_code_aligned = NAN, novel_ssim_detail_aligned = NAN;
  // the detail stage's result with one colour per surfel (DetailResult::view_independent: what
  // --detail-view-dependent off gives), aligned; NAN when the result has no view-dependent colours
  double novel_psnr_flat_aligned = NAN, novel_ssim_flat_aligned = NAN;
};

struct EvalReport {
  std::string model_path, data_dir, photos_note;  // photos_note: why the photo section was skipped ("" = ran)
  std::vector<train::SetMetrics> dataset;         // section 1
  std::vector<EvalFit> photos;                    // section 2
  std::vector<EvalFit> synthetic;                 // section 3
  bool detail_available = false;                  // the detail stage was asked for (fit.detail.enabled)
  double seconds = 0;
  std::vector<std::string> files;  // written, relative to out
};

EvalReport run_eval(Context& ctx, const EvalOptions& o);

// The 68 ground-truth landmarks (pixel-centre coordinates) of a held-out synthetic identity in camera `cam`: the head
// model's Contour68 landmarks on the tracked neutral mesh `vertices` [V,3] (canonical), projected by the camera.
// The head model's Contour68 landmarks [68,3] on a mesh of it (`vertices` [V,3], canonical).
std::vector<double> mesh_landmarks(const flame::FlameModel& head, const std::vector<double>& vertices);

// One view leaves a head's size and distance ambiguous: scaling the head about the camera's centre by any s > 0
// changes nothing in that view's image. This returns the s (as the 4×4 matrix s·I with 1 in the corner, camera frame
// → camera frame, row-major) that best maps the fitted head onto the true one, least squares over the face-mask
// vertices (train::face_mask_vertex_ids) in the input camera's frame: s = Σ aᵢ·bᵢ / Σ aᵢ·aᵢ,
// a = fit_viewmat·fitted vertex, b = true_viewmat·true vertex (both [V,3] meshes of `head`, canonical). `scale`
// (optional): s. Section 3 renders novel views through camera_v · camera_fit⁻¹ · S · viewmat_fit.
using Mat4 = std::array<double, 16>;
Mat4 single_view_scale(const flame::FlameModel& head, const std::vector<double>& fit_vertices, const Mat4& fit_viewmat,
                       const std::vector<double>& true_vertices, const Mat4& true_viewmat, double* scale = nullptr);
Landmarks68 project_model_landmarks(const flame::FlameModel& head, const std::vector<double>& vertices,
                                    const Camera& cam);

}  // namespace ff::fit
