// train/fit/landmark_fit.h — fitting the head model (FLAME or the built-in model) to 68 iBUG landmarks of one photo:
// head pose (rotation + translation in the camera frame), shape coefficients, expression coefficients and jaw
// opening, for a fixed pinhole camera.
//
// Model: canonical landmarks L(β, ψ, jaw) = landmarks(FLAME(β, ψ, pose = [0, 0, jaw, 0, 0]))  (Contour68 scheme),
// projected by x_c = R·L + t, u = fx·x_c/z_c + cx. The canonical mesh is exactly what train/data preprocessing calls
// the tracked head (global pose 0), and [R | t] is the photo camera's world(canonical)→camera viewmat, so the
// identity model's Gaussians placed on that mesh render into the photo through the same matrix.
// Two meshes come out: `vertices` = FLAME(β, ψ, jaw), the head as the photo shows it (posed: the photo's expression
// and jaw), and `neutral_vertices` = FLAME(β, 0, 0), the same identity neutralised (expression 0, jaw 0). The
// second is the rest shape of the head rig (train/animation.h HeadRig): HeadRig(model, neutral_vertices) posed with
// rig_pose() gives `vertices` again (to float rounding), so an identity placed on the neutral head and animated with
// rig_pose() is the photo's face.
// Objective (pixels, normalised by σ = max(1.5, 1% of the landmark box diagonal)):
//   Σ_l w_l · huber_δ(‖u_l − obs_l‖ / σ)  +  shape_reg · ‖β‖²  +  expr_reg · ‖ψ‖²  +  (jaw / jaw_sigma)²
// Robustness to yaw (up to ~30°): the 17 jaw-contour landmarks are weighted contour_weight, and those on the side
// turned away from the camera fade out with yaw (a detector puts them on the silhouette, the model on a fixed mesh
// line; not when contour_on_silhouette is false: landmarks from Face Mesh are on that mesh line too); the rigid
// initialisation uses only the 51 static inner-face points and tries yaw −30°, 0°, +30°.
// Optimiser: Levenberg–Marquardt (Gauss–Newton with Marquardt damping) with IRLS Huber weights; the Jacobian comes
// from the exact VJPs (project_points_vjp, landmarks_bwd, flame_bwd's d_shape, d_expr and d_pose), one row per
// landmark coordinate. Rotation is
// updated multiplicatively (R ← exp([δω]×)·R).
//
//   ff::fit::Intrinsics K = ff::fit::default_intrinsics(W, H);
//   ff::fit::HeadFit h = ff::fit::fit_head(model, lmk, K, {});
//   // h.viewmat(): canonical → camera; h.vertices: the canonical mesh [V,3]; h.rms_px
#pragma once
#include <array>
#include <string>
#include <vector>

#include "flame/flame.h"
#include "train/fit/detect.h"
#include "train/rig_pose.h"

namespace ff::fit {

// Pinhole intrinsics in the splat convention (splat.h: u measured from the pixel's left edge, so a landmark at
// pixel-centre coordinate x sits at u = x + 0.5).
struct Intrinsics {
  double fx = 0, fy = 0, cx = 0, cy = 0;
  int width = 0, height = 0;
  std::string source;  // how fx was chosen
  // scaled to a resized image (s = new/old size)
  Intrinsics scaled(double s) const;
};
// From EXIF when it determines the focal length, else the default vertical field of view; principal point at the
// image centre.
Intrinsics photo_intrinsics(const Photo& p, double default_vfov_deg = kDefaultVerticalFovDeg);
Intrinsics default_intrinsics(int width, int height, double vfov_deg = kDefaultVerticalFovDeg);

struct HeadFitOptions {
  int n_shape = 50;              // shape coefficients fitted (≤ model.S)
  double shape_reg = 1.0;        // weight of the N(0, I) prior on β (in units of σ²)
  int n_expr = 20;               // expression coefficients fitted (capped at model.E: the built-in model's 14 named
                                 // modes, FLAME's first 20 of 100); 0: a neutral expression, as before
  double expr_reg = 3.0;         // weight of the N(0, I) prior on ψ (in units of σ²; 3: a neutral face's
                                 // coefficients stay < 0.2 under the built-in model's identity variation), > 0
                                 // when n_expr > 0
  double jaw_sigma = 0.15;       // rad, prior on the jaw opening
  double contour_weight = 0.5;   // jaw-contour landmarks (0..16) relative to the inner-face ones
  bool contour_on_silhouette = true;  // the contour landmarks follow the face's silhouette (a 2D detector such as
                                 // dlib's): those on the side turned away fade out with yaw. false: they are fixed
                                 // points of the model's mesh (Face Mesh, train/fit/facemesh.h), weighted fully
  double huber_delta = 2.0;      // in units of σ
  int rigid_iterations = 15;
  int iterations = 40;
  std::vector<double> yaw_inits_deg = {0.0, -30.0, 30.0};
  int threads = 1;               // flame forward/backward threads (the model is small: 1 is fastest)
};

struct HeadFit {
  Intrinsics K;
  std::vector<double> shape;        // [n_shape]
  std::vector<double> expression;   // [n_expr] the photo's expression coefficients ψ
  double jaw = 0;                   // jaw pose, rotation about the model's x axis (rad)
  std::array<double, 9> R{};        // canonical → camera rotation (row-major)
  std::array<double, 3> t{};        // canonical → camera translation (metres)
  std::vector<double> vertices;     // [V,3] canonical mesh as the photo shows it: FLAME(β, ψ, jaw)
  std::vector<double> neutral_vertices;  // [V,3] the same head neutralised: FLAME(β, 0, 0)
  std::array<double, 136> projected{};  // [68,2] fitted landmarks, pixel-centre coordinates
  double rms_px = 0, mean_px = 0, max_px = 0;  // landmark reprojection error (all 68)
  double mean_px_inner = 0;                     // the 51 inner-face points
  double yaw_deg = 0, pitch_deg = 0, roll_deg = 0;  // head orientation relative to a frontal view
  int iterations = 0;
  std::array<double, 16> viewmat() const;  // [R | t; 0 0 0 1] row-major
  // The photo's expression and jaw as head-rig parameters (expression = ψ, pose[3·kJaw] = jaw, the rest 0): what
  // poses neutral_vertices into vertices.
  train::RigPose rig_pose() const;
};

// Photo positions of individual model vertices (Face Mesh's points of the built-in model's vertices): each is a
// residual like a landmark's, weighted `weight` relative to the inner-face landmarks, not used in the rigid
// initialisation.
struct VertexObservations {
  std::vector<int> vertex;  // model vertex indices
  std::vector<double> xy;   // [n, 2] pixel-centre coordinates
  double weight = 1.0;
};

HeadFit fit_head(const flame::FlameModel& model, const Landmarks68& lmk, const Intrinsics& K,
                 const HeadFitOptions& opt = {}, const VertexObservations& extra = {});

// Recomputes h.vertices = FLAME(h.shape, h.expression, h.jaw), h.projected and the landmark errors against `obs`
// from h's parameters (fit_head's last step; fit_image after the expression refinement changes ψ and jaw).
void update_head_fit(HeadFit& h, const flame::FlameModel& model, const Landmarks68& obs);

// What the user should be told about a landmark set and its head fit (one sentence each; empty when nothing is
// wrong): a mirrored (left–right swapped) set (detect.h landmark_shape), a head turned further than a 68-point
// frontal detection allows (|yaw| > kMaxPlausibleYawDeg: a mirrored file fits with yaw ≈ 180°, the head facing away),
// |pitch| > kMaxPlausiblePitchDeg, and a landmark RMS error above 15% of the interocular distance (the landmarks do
// not fit any head).
constexpr double kMaxPlausibleYawDeg = 60, kMaxPlausiblePitchDeg = 50;
std::vector<std::string> fit_warnings(const Landmarks68& lmk, const HeadFit& fit);

// Canonical landmarks [68,3] of the model with the given shape/jaw/expression (Contour68 order); vertices optional
// output.
std::vector<double> model_landmarks(const flame::FlameModel& model, const std::vector<double>& shape, double jaw,
                                    std::vector<double>* vertices = nullptr,
                                    const std::vector<double>& expression = {});
// Project canonical points with [R|t] and K → pixel-centre coordinates [n,2].
std::vector<double> project_px(const Intrinsics& K, const std::array<double, 9>& R, const std::array<double, 3>& t,
                               const std::vector<double>& points);
// R = F·R_head with F = diag(1,−1,−1) (a frontal OpenCV camera); R_head = Ry(yaw)·Rx(pitch)·Rz(roll).
std::array<double, 9> head_rotation(double yaw_deg, double pitch_deg, double roll_deg);

}  // namespace ff::fit
