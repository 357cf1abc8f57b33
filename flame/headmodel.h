// flame/headmodel.h — facefield's built-in head model: FLAME's structure on the MediaPipe canonical face mesh.
//
// FLAME itself is licence-gated, so when no FLAME files are given facefield uses this model. It is an ordinary
// FlameModel (same forward, VJP, landmarks, face-mask and export code) assembled deterministically in code:
//
// * Geometry: the MediaPipe canonical face mesh (468 vertices, 898 triangles, per-vertex UVs; Apache-2.0,
//   third_party/mediapipe/, embedded in the library and parsed by flame/headmodel_mediapipe.cpp).
//   Frame = FLAME's: metres, x to the subject's left, y up, z out of the face (towards a frontal viewer).
//   Origin = MediaPipe's: on the midline about 7.6 cm behind the nose tip, near eye height (roughly the
//   head's centre). UVs: MediaPipe's, with v flipped to the OBJ convention (v up), uv_faces = faces.
//   The mesh is a face-only disc (outer boundary of 36 edges): no scalp, ears, neck, eyeballs or mouth
//   interior. The eye and mouth openings are spanned by triangles ("opening faces", listed in
//   builtin_head_info()); they stretch when the mouth opens or the lids close.
// * Shape: kBuiltinShapeModes = 100 orthogonal modes. 51 named fields (size and proportions, face width, profile curvature,
//   lower-face and forehead height, taper, jaw width and angle, chin projection/width/height/shape,
//   cheekbones, cheeks, nose length/width/projection/bridge/tip/nostrils, eye spacing/size/height/tilt/depth,
//   brows, forehead slope, lips, mouth, temples, asymmetries …) made of smooth Gaussian radial-basis or
//   region-weighted displacement fields, then 49 random smooth RBF fields; all exactly mirror-symmetric or
//   antisymmetric. Gram–Schmidt in R^{3V} (plain vertex-space dot product) after the 6 rigid motions, so no
//   mode translates or rotates the face. Column k = σ_k · u_k with u_k orthonormal; σ_k is set so that a
//   coefficient of 1 moves the most-affected vertex by builtin_head_info().shape_sigma_mm[k] mm (5 mm for
//   overall size … 0.5 mm for the last random modes), i.e. β ~ N(0, I) gives a plausible face.
// * Expression: kBuiltinExprModes semantic blendshapes (names in builtin_head_info().expr_names), not
//   orthogonalised; a coefficient of 1 is the full expression (jaw_open ≈ 0.25 rad of jaw rotation with
//   forward condyle glide, eyes fully closed, …), 0..1 is the intended range (negative values extrapolate).
// * Joints: global, neck, jaw, left eye, right eye, parents [-1, 0, 1, 1, 1]. J_regressor rows are affine
//   combinations (sum 1, some weights negative) of small vertex-group means chosen so that the joints sit
//   where the anatomy puts them although the mesh has no back of the head: root in the neck (0, −8, −4.5) cm,
//   neck at the skull base (0, −3, −4) cm, jaw at the condyle axis (0, 0, −2) cm, eyes at the eyeball
//   centres (±3.2, 2.6, 2.5) cm. They move with the shape like FLAME's.
// * Skinning: jaw weight = harmonic interpolation on the mesh graph (mouth-opening faces excluded) between 1
//   on the lower lip and chin and 0 on the upper lip, nose and upper face (smooth falloff over the cheeks);
//   neck = 1 − jaw; global and eyes 0 (as in FLAME the root moves the face only through the chain). The eye
//   joints therefore move nothing: eye rotations are accepted and ignored by the geometry (no eyeballs).
// * posedirs: zeros (no pose correctives) — documented, valid, and what LBS-only models do.
// * Landmarks (iBUG-68 order, image-left = subject's right first): static_landmarks = 51 inner points
//   (iBUG 17–67); dynamic_landmarks = 79 identical bins of the 17 jaw-contour points (the contour does not
//   slide with yaw: the mesh has no silhouette beyond its outline); full_landmarks = 68 + 2 pupils (subject's
//   right, then left) = the WithEyes70 layout; eyes_static_landmarks = 51 + 2 pupils. Contour points are
//   spaced by arc length along the mesh outline from vertex 127 over the chin (152) to 356; nose-bridge 28/29
//   interpolate the midline between 168 and 4; the rest sit on MediaPipe vertices (ibug68_vertex).
// * Masks (FLAME_masks names): face (all), forehead, nose, lips, left/right_eye_region, eye_region,
//   boundary, left_half, right_half, new_mouth (the inner-lip ring, so the seed's face-mask region list works
//   without FLAME's mouth-closing faces), and empty left/right_eyeball, neck, scalp, left/right_ear.
//
//   const ff::flame::FlameModel& m = ff::flame::builtin_head_model_ref();   // built once, ~20 ms
//   ff::flame::FlameModel m2 = ff::flame::load_head_model("builtin");      // or a FLAME .pkl/.npz path
#pragma once
#include <array>
#include <string>
#include <vector>

#include "flame/flame.h"

namespace ff::flame {

constexpr int kBuiltinShapeModes = 100;
constexpr int kBuiltinExprModes = 14;
constexpr int kBuiltinVertices = 468;
constexpr int kBuiltinFaces = 898;

// Built on first use (thread-safe), then shared. builtin_head_model() returns a copy.
const FlameModel& builtin_head_model_ref();
FlameModel builtin_head_model();

// "builtin" (case-sensitive; also "builtin:mediapipe") names the built-in model where a model path is expected.
bool is_builtin_model_name(const std::string& path);
// "builtin" → the built-in model trimmed to opts.n_shape / opts.n_expr; anything else → load_flame_model.
FlameModel load_head_model(const std::string& path_or_builtin, const FlameLoadOptions& opts = {});
// 16 hex digits of FNV-1a-64 over the model's geometry, topology, bases, skinning, UVs and masks: the same model
// gives the same id whether it was read from .pkl or .npz. Checkpoints store it with the model's name
// (train/model_file.h) so a fit is refused when another head model is given.
std::string head_model_content_id(const FlameModel& m);

struct BuiltinHeadInfo {
  std::vector<std::string> shape_names;   // [S] named fields, then "smooth_<k>"
  std::vector<double> shape_sigma_mm;     // [S] largest vertex displacement (mm) at coefficient 1
  std::vector<std::string> expr_names;    // [E]
  std::vector<int32_t> eye_opening_faces;    // triangles spanning the two eye openings
  std::vector<int32_t> mouth_opening_faces;  // triangles spanning the lips (the closed mouth)
  std::vector<int32_t> mirror;            // [V] the vertex mirrored across x = 0
  std::array<int32_t, 68> ibug68_vertex;  // nearest MediaPipe vertex of each iBUG-68 landmark
};
const BuiltinHeadInfo& builtin_head_info();
// Index of a named expression (e.g. "jaw_open"), −1 when unknown.
int builtin_expression_index(const std::string& name);

}  // namespace ff::flame
