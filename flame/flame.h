// flame/flame.h — the FLAME head model: data (FlameModel), file loading, exact forward and hand-written VJP.
//
// FlameModel is a plain struct of float64 arrays in FLAME's own layouts, so any head model with FLAME's
// structure (the official pkl/npz files, or a built-in model assembled in code) runs through the same forward.
// Fill the fields, set the counts, call validate(); it checks every shape, index range and finite value and
// names the source file and key in its errors.
//
// Forward (docs/conventions.md §3; identical to smplx / flame-pytorch / GaussianAvatars lbs.py):
//   v_shaped = v_template + shapedirs·β + exprdirs·ψ (+ static_offset)
//   J        = J_regressor · v_shaped
//   R_j      = rodrigues(pose_j) with θ = ‖r + 1e-8‖ (elementwise 1e-8), k = r/θ
//   v_posed  = v_shaped + reshape(posedirs^T · concat_{j≥1} vec(R_j − I), [V,3])
//   G_j      = G_parent(j) · [R_j | J_j − J_parent(j)],   A_j = [G_j.R | G_j.t − G_j.R·J_j]
//   v'       = (Σ_j w_vj A_j) · [v_posed; 1]
//   out      = scale · v' + translation,  joints_out = scale · G_j.t + translation
// Scale is applied before translation, like NeRSemble's `M[:3,:3] *= scale` (scale = 1, translation = 0 when
// their pointers are null). Pose is axis-angle per joint in FLAME order: global, neck, jaw, left eye, right eye.
//
// Backward: flame_bwd ACCUMULATES (+=) into FlameGrads (vectors are sized and zeroed on first use); it needs
// the FlameCache written by flame_fwd. Templated on float/double; double is what the FD tests check.
//
//   ff::flame::FlameModel m = ff::flame::load_flame_model("flame2023.pkl");
//   ff::flame::FlameInput<float> in;  in.batch = 1; in.n_shape = 100; in.shape = beta; in.pose = pose15;
//   ff::flame::FlameOutput<float> out; ff::flame::FlameCache<float> cache;
//   ff::flame::flame_fwd(m, in, out, &cache);
//   ff::flame::FlameGrads<float> g; ff::flame::flame_bwd(m, in, cache, d_vertices, nullptr, g);
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/lbs.h"  // Rodrigues, kinematic chain, skinning: one copy shared with the runtime

namespace ff::flame {

// Joint order of FLAME's 5-joint kinematic tree.
enum Joint : int { kGlobal = 0, kNeck = 1, kJaw = 2, kLeftEye = 3, kRightEye = 4 };
constexpr int kFlameJoints = 5;
constexpr int kFlameShapeColumns = 300;  // shapedirs columns [0,300) are identity, [300,400) expression
constexpr double kRodriguesEps = ffrt::lbs::kRodriguesEps;  // 1e-8, smplx batch_rodrigues (runtime/lbs.h)

// Barycentric landmark embedding: L = Σ_k bary[l,k] · V[faces[face_idx[l], k]].
struct LandmarkEmbedding {
  std::vector<int32_t> face_idx;  // [L]
  std::vector<double> bary;       // [L, 3]
  int count() const { return int(face_idx.size()); }
  bool empty() const { return face_idx.empty(); }
};

// Dynamic contour lookup table (flame_dynamic_embedding.npy): one embedding of `points` landmarks per neck-yaw
// bin; 79 bins for yaw −39°..+39°, 17 jaw-contour points in real FLAME.
struct DynamicLandmarkEmbedding {
  int bins = 0, points = 0;
  std::vector<int32_t> face_idx;  // [bins, points]
  std::vector<double> bary;       // [bins, points, 3]
  bool empty() const { return bins == 0; }
};

struct FlameModel {
  std::string source;  // file(s) it was read from, for messages
  int V = 0;           // vertices
  int F = 0;           // triangles
  int S = 0;           // shape components available
  int E = 0;           // expression components available
  int J = 0;           // joints (5 for FLAME)

  std::vector<double> v_template;   // [V, 3]
  std::vector<double> shapedirs;    // [V, 3, S]
  std::vector<double> exprdirs;     // [V, 3, E]
  std::vector<double> posedirs;     // [(J-1)*9, V*3]  (row p multiplies pose feature p)
  std::vector<double> j_regressor;  // [J, V] dense
  std::vector<double> weights;      // [V, J] skinning weights
  std::vector<int32_t> parents;     // [J], parents[0] = -1, parents[j] < j
  std::vector<int32_t> faces;       // [F, 3]

  // optional
  std::vector<double> uvs;        // [T, 2] texture coordinates (OBJ vt)
  std::vector<int32_t> uv_faces;  // [F, 3] indices into uvs
  std::map<std::string, std::vector<int32_t>> masks;  // region name → vertex ids (FLAME_masks.pkl)
  LandmarkEmbedding static_landmarks;                  // 51 inner-face points (flame_static_embedding.pkl)
  DynamicLandmarkEmbedding dynamic_landmarks;          // 79 × 17 contour LUT (flame_dynamic_embedding.npy)
  LandmarkEmbedding full_landmarks;                    // 70 points (landmark_embedding_with_eyes.npy full_lmk_*)
  LandmarkEmbedding eyes_static_landmarks;             // 53 points (landmark_embedding_with_eyes.npy static_lmk_*)

  // Shapes, index ranges, finiteness; throws ff::Error naming `source` and the field.
  void validate() const;
  // Human-readable multi-line summary (what `flame info` prints).
  std::string summary() const;
};

struct FlameLoadOptions {
  int n_shape = -1;  // keep the first n shape components (-1: all)
  int n_expr = -1;   // keep the first n expression components (-1: all)
  // Column of `shapedirs` where expression components start when the file stores them together. Official
  // files have 400 columns = 300 + 100; the test fixtures use a smaller split.
  int expr_offset = kFlameShapeColumns;
};

// Model file: flame2023.pkl, flame2023_no_jaw.pkl, generic_model.pkl (FLAME 2020, chumpy), or an .npz
// conversion with the same keys (v_template f shapedirs posedirs J_regressor weights kintree_table; optionally
// separate exprdirs/expressiondirs). The content decides, not the file name.
FlameModel load_flame_model(const std::string& path, const FlameLoadOptions& opts = {});
// FLAME_masks.pkl (dict region → vertex ids) into model.masks. Also accepts an .npz of index arrays.
void load_flame_masks(FlameModel& model, const std::string& path);
// flame_static_embedding.pkl: lmk_face_idx (L,), lmk_b_coords (L,3).
LandmarkEmbedding load_static_embedding(const std::string& path);
// flame_dynamic_embedding.npy: 0-d object npy holding {lmk_face_idx (B,P), lmk_b_coords (B,P,3)}.
DynamicLandmarkEmbedding load_dynamic_embedding(const std::string& path);
// landmark_embedding_with_eyes.npy: fills full_landmarks (70) and eyes_static_landmarks (53); torch entries skipped.
void load_landmarks_with_eyes(FlameModel& model, const std::string& path);
// head_template_mesh.obj: sets uvs/uv_faces; the OBJ's triangles must equal model.faces (or set them when the
// model has none yet).
void load_uv_obj(FlameModel& model, const std::string& path);
// Write the model's arrays as an .npz with the pkl's keys (a Python-free conversion target).
void save_flame_npz(const FlameModel& model, const std::string& path);

// ---- forward / backward -----------------------------------------------------------------------

template <class T>
struct FlameInput {
  int batch = 1;
  int n_shape = 0;                   // shape coefficients per item used (≤ model.S)
  int n_expr = 0;                    // expression coefficients per item used (≤ model.E)
  // inputs
  const T* shape = nullptr;          // [B, n_shape]   (null: zeros)
  const T* expr = nullptr;           // [B, n_expr]    (null: zeros)
  const T* pose = nullptr;           // [B, J*3] axis-angle, FLAME joint order (null: zeros)
  const T* translation = nullptr;    // [B, 3]         (null: zeros)
  const T* scale = nullptr;          // [B]            (null: ones)
  const T* static_offset = nullptr;  // [V, 3] added to v_shaped for every item (null: none)
};

template <class T>
struct FlameOutput {
  std::vector<T> vertices;  // [B, V, 3]
  std::vector<T> joints;    // [B, J, 3] posed joints (scaled, translated)
};

// What flame_bwd needs; written by flame_fwd.
template <class T>
struct FlameCache {
  int batch = 0;
  std::vector<T> rest_joints;  // [B, J, 3]
  std::vector<T> rot;          // [B, J, 9]  R_j
  std::vector<T> global;       // [B, J, 12] G_j (3x4 row-major)
  std::vector<T> skin;         // [B, J, 12] A_j
  std::vector<T> v_posed;      // [B, V, 3]
  std::vector<T> v_lbs;        // [B, V, 3] before scale/translation
};

template <class T>
struct FlameGrads {
  // outputs (accumulated with +=; sized and zeroed on first use)
  std::vector<T> d_shape;          // [B, n_shape]
  std::vector<T> d_expr;           // [B, n_expr]
  std::vector<T> d_pose;           // [B, J*3]
  std::vector<T> d_translation;    // [B, 3]
  std::vector<T> d_scale;          // [B]
  std::vector<T> d_static_offset;  // [V, 3]  (only when in.static_offset is set)
};

template <class T>
struct NonDeduced {  // keeps `nullptr` usable for the cache argument
  using type = T;
};

// threads = 0: all hardware threads.
template <class T>
void flame_fwd(const FlameModel& m, const FlameInput<T>& in, FlameOutput<T>& out,
               typename NonDeduced<FlameCache<T>>::type* cache = nullptr,
               int threads = 0);
// d_vertices: [B, V, 3]; d_joints: [B, J, 3] or null.
template <class T>
void flame_bwd(const FlameModel& m, const FlameInput<T>& in, const FlameCache<T>& cache,
               const typename NonDeduced<T>::type* d_vertices, const typename NonDeduced<T>::type* d_joints,
               FlameGrads<T>& grads, int threads = 0);

// Rodrigues exactly as smplx batch_rodrigues (elementwise +1e-8 inside the norm), and its VJP (+= into d_r).
template <class T>
void rodrigues(const T r[3], T R[9]);
// FLAME's kinematic chain for one item, shared by flame_fwd/flame_bwd and the tensor layer (flame_op):
// from R [J,9] (rodrigues of each joint) and rest joints Jr [J,3] (parents[j] < j), the global transforms
// G [J,12] (3×4 row-major: G_j = G_parent · [R_j | Jr_j − Jr_parent]) and skinning transforms
// A [J,12] = [G_R | G_t − G_R·Jr_j].
template <class T>
void kinematic_chain(const int32_t* parents, int J, const T* R, const T* Jr, T* G, T* A);
// Its VJP: dA [J,12] in; dG [J,12] holds the gradient already flowing into G (e.g. from posed joints) and is
// used as scratch; ACCUMULATES into dR [J,9] and dJ [J,3].
template <class T>
void kinematic_chain_vjp(const int32_t* parents, int J, const T* R, const T* Jr, const T* G, const T* dA, T* dG, T* dR,
                         T* dJ);
template <class T>
void rodrigues_vjp(const T r[3], const T d_R[9], T d_r[3]);

}  // namespace ff::flame
