// train/fit/fit_image.h — the whole single-photo pipeline behind apps/fit_image.cpp, as a library call so tests can
// run it: photo (EXIF orientation applied) → 68 landmarks (dlib, non-faces rejected; or a file) → head-model fit
// (camera, pose, shape, jaw) → occlusion-aware face mask → identity-code fit (trained checkpoint) → detail stage
// (surface Gaussians coloured from the photo, detail_fit.h) → outputs.
//
// Outputs (in `out`, through core/output_dir.h: `out` must be absent, an empty folder or an earlier fit_image output
// (marker file .facefield-fit_image), else it is refused before any work; everything is written into the sibling
// "<out>.tmp.<pid>" and renamed into place at the very end, so a failure, SIGINT or SIGTERM leaves no half-written
// results and nothing fit_image did not write is ever deleted or replaced):
//   face.ply            3DGS layout (runtime/formats.h; SH-3 property layout unless ply_sh_degree = 0: the detail
//                       stage's view-dependent colours in f_rest, or with 0 the photo camera's colours), world = the
//                       head's canonical frame (metres, y up, z towards the face's front; with ply_y_down the
//                       frame turned 180° about x for y-down viewers, marked in the header and turned back by
//                       facefield's readers); the photo camera is fit.json's viewmat (canonical frame → camera)
//   fit.json            code, camera (intrinsics, canonical→camera viewmat from landmarks and after refinement),
//                       head pose (yaw/pitch/roll), shape coefficients, jaw, focal source, inputs; "photo_pose"
//                       (the photo's expression and jaw as a RigPose: {"expression": [E'], "pose": [15]}) and
//                       "positions" (the identity's Gaussian positions [3G], on the NEUTRAL head)
//   landmarks.txt       the 68 landmarks used (the .dlib68.txt format)
//   mask.png            the soft face mask at the result's pose (the code fit's refined one), the mask of the detail
//                       stage and of every score; photo_masked.png (with --remove-background) the photo × mask on black
//   mesh.ply            the fitted head mesh as the photo shows it (canonical; the photo's expression and jaw)
//   mesh_neutral.ply    the same head neutralised (expression 0, jaw 0): the rest shape of the head rig
//   overlay.png         photo | render (over the photo outside the mask) | landmarks (detected green, fitted red,
//                       labelled with metrics.json's landmarks.rms_px); panels downscaled to <= 1024 px
//   turntable/frame_NNN.png + turntable.gif   the fitted face seen from a camera swinging ±yaw around the head
//   code.ply            (detail stage on) the code fit's Gaussians alone, for comparison with face.ply
//   face.ffrig          (detail stage on) the surfels as an animatable identity (runtime/rig.h, docs/rig.md): bound
//                       to their triangles of the fitted NEUTRAL head (mesh_neutral.ply) and carried there from the
//                       posed head by that binding (their SH turned with their triangles), so posing the rig with
//                       "photo_pose" gives face.ply again (to float rounding); `animate --rig-file face.ffrig` and
//                       viewers animate the person, not the model
//   metrics.json        masked PSNR/SSIM of the render on the photo (and of the mean code), landmark error (px),
//                       seconds per phase, iterations, recipe, "warnings" (mirrored landmarks, implausible pose),
//                       "rejected" (detections that are not faces: box, score, reason; also in fit.json)
// Without a model (model_path empty) phases 4–5's Gaussian parts are skipped: fit.json, landmarks, mask, mesh and
// an overlay with the shaded mesh are still written.
//
// Neutral and posed (docs/animation.md §4): the head fit estimates the photo's expression ψ and jaw (landmark_fit.h).
// The identity's Gaussians are placed on the NEUTRALISED head (fit.json "positions", mesh_neutral.ply) and posed
// into the photo's expression by their triangle binding (train/animation.h) for the code fit and every photo-view
// render, so `animate --code fit.json` reproduces the photo view when posed with "photo_pose" (`--motion photo`).
// What shows the photo's expression (posed): face.ply, code.ply, mesh.ply, the mask, overlay, turntable and the
// metrics; the detail stage's surfels are built on and bound to the posed head (mesh.ply), like face.ply. What is
// neutral: "positions" and mesh_neutral.ply. A "seed" layout (not bound to triangles) is placed on the posed head.
//
//   ff::fit::FitImageOptions o; o.image = "me.jpg"; o.model_path = "ckpt.ffck"; o.out = "fit_me";
//   ff::fit::FitImageReport r = ff::fit::fit_image(ctx, o);
#pragma once
#include <map>
#include <string>
#include <vector>

#include "train/fit/code_fit.h"
#include "train/fit/detail_fit.h"
#include "train/fit/facemesh.h"
#include "train/fit/landmark_fit.h"

namespace ff::fit {

struct FitImageOptions {
  std::string image;                 // photo (JPEG/PNG)
  std::string model_path;            // model file (.ffck checkpoint or .ffpk model pack); "" = no identity fit
  std::string head_model;            // head model ("builtin" or FLAME files); "" = the one the model file names
                                     // (train::find_head_model), else builtin; must be the model's (content id)
  std::string landmarks;             // given landmarks (skips detection)
  std::string face_mesh = "auto";    // after detection, Face Mesh's 468 points (facemesh.h) as the landmarks: "on",
                                     // "off", or "auto" = on for the built-in head model (whose vertices they are),
                                     // off for FLAME and for given landmarks. Its 68 points are the model's own
                                     // (landmarks68_from_facemesh), so the head fit does not fade its contour
  bool forehead_outline = false;     // with Face Mesh: also fit the face oval's 13 points above the contour
                                     // (facemesh.h kFaceMeshUpperOval), so the head ends where the photo's forehead
                                     // does (a cap or a fringe is not painted on it). Off by default: on held-out
                                     // synthetic identities (fitted from detected landmarks) it shrinks the forehead,
                                     // novel views −1.2 dB (docs/model.md §7)
  std::string out = "fit_out";
  std::string device = "cpu";        // "cpu" or "cuda": where the model is loaded and the identity fit, the renders
                                     // and the turntable run (landmarks, head fit and mask are always on the CPU)
  int face = 0;                      // which detected face (largest first)
  double fov_deg = kDefaultVerticalFovDeg;  // vertical FOV when EXIF has no focal length
  double focal_px = 0;               // > 0: force this focal length (pixels)
  bool remove_background = false;
  int turntable_frames = 36;
  int turntable_size = 256;
  double turntable_yaw_deg = 35;
  double mask_blur_mm = 1.6;         // mask blur σ in millimetres on the face (at the head's distance): the training
                                     // masks' 7 px at 1100 px width, with NeRSemble's ~4400 px focal length at 1 m
                                     // (a blur in photo pixels would make a small face in a big photo all rim)
  int ply_sh_degree = 3;             // face.ply: 3 = DC + 45 f_rest (graphdeco's layout; zero unless the detail
                                     // stage's colours depend on the view), 0 = DC only (the photo camera's colours)
  bool ply_y_down = false;           // face.ply: world turned for y-down (COLMAP) viewers (runtime/formats.h)
  HeadFitOptions head;
  bool expression_refine = false;    // refine the landmark estimate of ψ and jaw by the photo loss after the code
                                     // fit (code_fit.h ExpressionRefine; "uv" layouts and FLAME-jointed head models).
                                     // Off by default: on the synthetic smile test it raises the masked PSNR and
                                     // moves the coefficients towards the truth but not the displacement field
                                     // (docs/animation.md §4)
  CodeFitOptions code;
  DetailOptions detail;              // the detail stage after the code fit (detail_fit.h); detail.enabled = false:
                                     // the code fit's Gaussians are the result
  bool progress = true;              // progress + ETA lines on stderr
};

struct FitImageReport {
  std::string out;
  std::map<std::string, double> seconds;   // per phase
  HeadFit head;
  Landmarks68 landmarks;
  Landmarks68 detector_landmarks;          // the detector's 68 (as `landmarks` unless Face Mesh replaced them)
  FaceMeshResult face_mesh;                // when has_face_mesh
  bool has_face_mesh = false;              // Face Mesh ran; its points are `landmarks` when face_mesh.score ≥ 0.5
  bool used_face_mesh = false;
  CodeFitResult code;
  DetailResult detail;                     // when has_detail
  // masked PSNR/SSIM at the photo's view: of the result (psnr_mask, ssim_mask), of the code fit alone, of the mean code
  double psnr_mask = 0, ssim_mask = 0, code_psnr_mask = 0, code_ssim_mask = 0, mean_code_psnr_mask = 0,
         mean_code_ssim_mask = 0;
  ffrt::GaussianSet gaussians;             // the result, canonical frame (face.ply): the surfels, or the code's
  ffrt::GaussianSet code_gaussians;        // the code fit's Gaussians, canonical frame (posed: the photo's expression)
  std::vector<float> positions;            // [G,3] the layout's placement the code was fitted at (fit.json)
  bool neutral_positions = false;          // positions are on the neutral head (a "uv" layout), posed for renders
  std::array<double, 16> viewmat{};        // canonical → photo camera of the result (row-major)
  Intrinsics K;                            // the photo's intrinsics
  bool has_model = false, has_detail = false;
  bool has_rig = false;                    // face.ffrig was written (detail stage on, a head model with FLAME's joints)
  std::vector<std::string> warnings;       // fit_warnings (landmark_fit.h), also on stderr and in metrics.json
  std::vector<std::string> files;          // relative to out
};

// Runs the pipeline. `preloaded`: a model already in memory (tests; its own device is used, o.device is ignored);
// else loaded from model_path on o.device when set.
FitImageReport fit_image(Context& ctx, const FitImageOptions& o, const train::ModelFile* preloaded = nullptr);

// The head's canonical mesh → the face-mask mesh the identity model's layout is placed on, the full head and the
// per-triangle face flag (train/data/preprocess.h build_head_meshes with the default options).
struct FittedMeshes {
  flame::Mesh head, facemask;
  std::vector<uint8_t> face_flag;
};
FittedMeshes fitted_meshes(const flame::FlameModel& model, const std::vector<double>& canonical_vertices);
// Soft occlusion-aware face mask of the fitted head in the photo camera: [1,H,W] in [0,1]; its blur spills over the
// head's outline (the code fit's mask). clipped (optional): the same mask stopped at the head's outline (the mask
// of the detail stage and of every masked score, mask.png; data::render_face_mask). Rendered only in the window
// around the head's projection that the blur reaches, the rest is 0: the whole photo's mask at a fraction of the cost.
FImage face_mask(const FittedMeshes& m, const std::array<double, 16>& viewmat, const Intrinsics& K, double blur_at_1100,
                 FImage* clipped = nullptr);

// Turntable cameras: yaw swings 0 → +a → −a → 0 around `center` (canonical frame) at distance `dist`; frontal =
// looking along −z. Returns canonical → camera viewmats.
std::vector<std::array<double, 16>> turntable_views(const std::array<double, 3>& center, double dist, double yaw_deg,
                                                    int frames, double pitch_deg = 0);

}  // namespace ff::fit
