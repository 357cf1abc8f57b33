// runtime/rig.h — an animatable identity inside the runtime: the rig file (.ffrig, pack kind 3) and the posing of an
// identity's Gaussians with head-model parameters (expression, joints, rigid motion), dependency-free (docs/rig.md is
// the byte-level format for viewer authors; docs/animation.md the maths).
//
// A rig holds, for one identity, the part of its head-model rig that moves its Gaussians, trimmed to the "rig
// vertices" (the head-model vertices the Gaussians are bound to plus those the joint regressor reads):
//   neutral N [V,3], expression blendshapes [V,3,E], joint regressor [J,V], parents [J], LBS weights [V,J], pose
//   correctives only for vertices that have any [P rows], faces [F,3] among the rig vertices, the Gaussians' bindings
//   (triangle of rig vertices + barycentric weights) and, optionally, the identity's neutral Gaussians.
// Forward (FLAME's, flame/flame.h, with the identity's neutral head as rest shape; per-joint maths runtime/lbs.h):
//   v_s = N + exprdirs·ψ;  Jr = J_regressor·v_s;  R_j = rodrigues(θ_j);  v_p = v_s + posedirs·vec(R_j − I)_{j≥1};
//   F(ψ, θ) = Σ_j w_vj A_j [v_p; 1]   (kinematic chain of runtime/lbs.h)
//   posed   = rotation · (N + F(ψ, θ) − F(0, 0)) + translation
// exactly the engine's train/animation.h HeadRig (which runs flame/flame.h in f64 on the full head); here it runs in
// float on the trimmed rig, agreeing to float precision. F(0, 0) is computed once by the same code, so zero
// parameters give N bitwise, the binding (runtime/binding.h) then copies every Gaussian unchanged, and the neutral
// pose renders exactly like the static identity.
// Why a second forward beside flame/flame.h: that one is the differentiable training forward (f64, batches, shape
// coefficients, caches for its hand-written VJP, the full dense model); this one is the viewer's per-frame forward
// (float, one identity, trimmed sparse arrays read from a file, no VJP). What they share is one copy in
// runtime/lbs.h (Rodrigues, kinematic chain, skinned vertex) and runtime/binding.h (Gaussians on triangles); the
// engine's animator (apps/common/animator.h) renders through this runtime path.
#pragma once
#include <string>
#include <vector>

#include <algorithm>
#include <memory>

#include "runtime/binding.h"
#include "runtime/formats.h"
#include "runtime/pool.h"

namespace ffrt {

constexpr int kRigJoints = 5;  // FLAME's: global, neck, jaw, left eye, right eye

// Everything a rig file holds, host arrays (the record names of docs/rig.md in comments).
struct RigData {
  int V = 0, F = 0, E = 0, J = kRigJoints, P = 0, G = 0;
  std::vector<int32_t> vertex_ids;        // rig/vertex_ids [V]   head-model vertex id of each rig vertex (informative)
  std::vector<float> neutral;             // rig/neutral [V,3]    the identity's neutral head N (metres)
  std::vector<int32_t> faces;             // rig/faces [F,3]      head-model triangles among the rig vertices
  std::vector<float> exprdirs;            // rig/exprdirs [V,3,E]
  std::vector<float> j_regressor;         // rig/j_regressor [J,V]
  std::vector<int32_t> parents;           // rig/parents [J]
  std::vector<float> weights;             // rig/lbs_weights [V,J]
  std::vector<int32_t> posedir_vertices;  // rig/posedirs_vertices [P] rig vertices that have pose correctives
  std::vector<float> posedirs;            // rig/posedirs [P,3,(J−1)·9]
  std::vector<int32_t> tri;               // bind/tri [G,3] rig vertex ids of each Gaussian's triangle
  std::vector<float> bary;                // bind/bary [G,3]
  std::vector<std::string> expression_names;  // rig/expression_names (u8, '\n'-separated; may be empty)
  GaussianSet gaussians;                  // gaussians/* (optional): the identity's neutral Gaussians
  // Expression correction (optional, docs/animation.md §7): C coefficients e = (ψ_0 … ψ_{C−4}, jaw axis-angle x, y, z)
  // (ψ_i of the frame, 0 where the frame gives fewer); C = 0: none. Applied by apply_posed_corrections.
  int C = 0;
  std::vector<float> corr_color;          // corr/color [G,3,C]   colour delta Δc_g = corr_color_g · e
  std::vector<float> corr_offset;         // corr/offset [G,C]    offset Δn_g = corr_offset_g · e (metres) along the
                                          //                      posed triangle's unit normal
  std::string meta;                       // informative JSON

  // shapes, index ranges, finite values, parents[j] < j; throws kFormat naming `what`
  void check(const std::string& what) const;
};
Pack rig_pack(const RigData& r);
RigData rig_from_pack(const Pack& p, const std::string& what);  // refuses other pack kinds (kFormat)
void write_rig(const std::string& path, const RigData& r);
RigData parse_rig(const std::string& bytes, const std::string& what);

// One frame's parameters (the C API's ff_rig_params, train/rig_pose.h RigPose in float).
struct RigParams {
  const float* expression = nullptr;  // [num_expression]; the rest are 0
  int num_expression = 0;
  float pose[3 * kRigJoints] = {};    // axis-angle per joint, FLAME order
  float rotation[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major, applied after the head model
  float translation[3] = {};
};

class Rig {
 public:
  Rig(RigData data, const std::string& what);  // checks the data
  const RigData& data() const { return d_; }
  const std::string& what() const { return what_; }
  // posed rig vertices [V,3]; throws kInvalid for non-finite parameters or too many expression coefficients
  void posed_vertices(const RigParams& p, std::vector<float>& out) const;
  // The neutral Gaussians (G of them, bound like the rig's) posed for p into out (opacities and colours copied;
  // log-scales += log(s1/s0); SH coefficients, when the set has them, turned by each triangle's frame rotation M of
  // runtime/binding.h: ShRotation). Gaussians run on the pool.
  void pose(const GaussianSet& neutral, const RigParams& p, GaussianSet& out, Pool& pool) const;

 private:
  void forward(const RigParams& p, std::vector<float>& out) const;  // F(ψ, θ) [V,3]
  RigData d_;
  std::string what_;
  std::vector<float> rest_;  // F(0, 0)
};

// Posing view-dependent colours: the SH coefficients sh0 [G,15,3] (GaussianSet::sh_rest) of Gaussians
// [g_begin, g_end) bound by (tri, bary) turned from mesh V0 to V1 with their triangle's frame rotation M (the one
// binding::pose_gaussians applies to their rotations; x0 their means on V0): sh = ShRotation(M)·sh0, so that each
// Gaussian keeps its colours relative to its own frame. A run of Gaussians on one triangle shares one rotation;
// Gaussians without directional terms and triangles that did not move are copied. One implementation for the
// runtime's Rig::pose and the engine's train::pose_gaussians_host.
template <class T, class B>
void pose_sh(int64_t g_begin, int64_t g_end, const int32_t* tri, const B* bary, const T* V0, const T* V1, const T* x0,
             const float* sh0, float* sh) {
  constexpr int K = kShRest * 3;
  const int32_t* last = nullptr;
  std::unique_ptr<ShRotation> rot;
  for (int64_t g = g_begin; g < g_end; ++g) {
    const float* in = sh0 + g * K;
    float* out = sh + g * K;
    if (std::all_of(in, in + K, [](float v) { return v == 0.f; })) {  // most of fit_image's surfels
      std::fill(out, out + K, 0.f);
      continue;
    }
    const int32_t* t = tri + 3 * g;
    if (!(last && t[0] == last[0] && t[1] == last[1] && t[2] == last[2])) {
      const binding::GaussianPosing<T> P(tri, bary, V0, V1, x0, g);
      double M[9];
      for (int k = 0; k < 9; ++k) M[k] = double(P.M[k]);
      rot = P.unmoved ? nullptr : std::make_unique<ShRotation>(M);
      last = t;
    }
    if (rot) rot->apply(in, out);
    else std::copy(in, in + K, out);
  }
}

// The expression correction's coefficients e [C] = (ψ_0 … ψ_{C−4}, jaw axis-angle x, y, z) of a frame with
// n_expression coefficients `expression` (those past C − 3 are not read: callers refuse non-zero ones) and joint
// axis-angles `pose` [15] (FLAME order; joint 2 is the jaw). One definition for the trainer (train/model.h) and
// apply_posed_corrections.
template <class T>
inline void correction_coefficients(const T* expression, int n_expression, const T* pose, int C, T* e) {
  for (int i = 0; i < C - 3; ++i) e[i] = i < n_expression ? expression[i] : T(0);
  for (int k = 0; k < 3; ++k) e[C - 3 + k] = pose[3 * 2 + k];
}

// The one place where per-Gaussian corrections that depend on the frame's parameters (the expression correction,
// docs/animation.md §7) are applied to the posed Gaussians: colours += corr_color·e, means += (corr_offset·e)·n with n
// the unit normal of the Gaussian's triangle of the posed rig vertices V1 [V,3] (runtime/binding.h triangle_frame's
// second column). A no-op without a correction or when e = 0 (the neutral Gaussians stay bitwise).
void apply_posed_corrections(const Rig& rig, const RigParams& p, const std::vector<float>& V1, GaussianSet& posed);

}  // namespace ffrt
