// train/animation.h — animatable identities: a decoded identity's Gaussians, bound to the triangles of the head-model
// surface they were placed on, follow the head model's expression, jaw, neck, eye and global pose (docs/animation.md).
//
// Two parts:
//   HeadRig          one identity's head mesh driven by the head model (flame/flame.h forward: blendshapes + LBS).
//                    The identity's canonical neutral head N [V,3] (the mesh its Gaussians were placed on) is the
//                    rest shape: with static offset N − v_template (and no shape coefficients) the head model's
//                    forward F(ψ, θ, t) poses it, and the rig returns N + (F(ψ, θ, t) − F(0, 0, 0)), so zero
//                    parameters give N bitwise (a rigid rotation + translation is applied after). Joints are regressed from N. The face-mask submesh (the layout's
//                    anchors) is taken with the preprocessing defaults (train/data/preprocess.h build_head_meshes).
//   GaussianBinding  the layout's (triangle, barycentric) pair of every Gaussian on the neutral face-mask mesh; the
//                    maths (frame from edge + normal, mean-edge-length scale, rotation relative to the frame) is
//                    runtime/binding.h, shared with the runtime. pose_gaussians is its differentiable tensor op
//                    (host loops on the CPU; on CUDA the kernels of train/pose_gaussians.cu run the same maths,
//                    train/pose_gaussians_cuda.h).
// Only the "uv" placement binds Gaussians to triangles; a "seed" layout (positions on subdivided vertices) is refused.
// The runtime has its own float forward of the same rig on a trimmed rig file (runtime/rig.h; why two: see there);
// apps/common/animator.h builds that file from a HeadRig, and tests/apps/test_animator.cpp checks the two agree.
// The identity's neutral head is not stored in model files: neutral_head_from_positions recovers it from the
// identity's Gaussian positions (least squares over the layout's barycentric placement, then the head model's shape
// basis for the vertices outside the face mask).
//
//   const ff::flame::FlameModel& hm = ...;   // outlives the rig
//   ff::train::HeadRig rig(hm, ff::train::neutral_head_from_positions(hm, layout, xyz));
//   ff::train::GaussianBinding b = ff::train::GaussianBinding::from_layout(layout, rig.neutral_face());
//   ff::train::RigPose p; p.expression = {...}; p.pose[3 * ff::flame::kJaw] = 0.2;
//   ff::train::pose_gaussians_host(b, rig.posed_face(p), G, means, rotations, scales, threads);
#pragma once
#include <array>
#include <string>
#include <vector>

#include "autograd/graph.h"
#include "flame/flame.h"
#include "flame/flame_op.h"
#include "train/model.h"
#include "train/rig_pose.h"

namespace ff::train {

class HeadRig {
 public:
  // model: the head model the identity's surface was built on (kept by reference: it must outlive the rig);
  // neutral_head [V,3]: the identity's canonical neutral head.
  HeadRig(const flame::FlameModel& model, std::vector<double> neutral_head);

  const flame::FlameModel& model() const { return *model_; }
  const std::vector<double>& neutral_head() const { return neutral_; }
  const std::vector<int32_t>& face_vertex_ids() const { return face_ids_; }  // [A] head vertex of each anchor
  std::vector<double> neutral_face() const;                 // [A,3]
  std::vector<double> posed_head(const RigPose& p) const;   // [V,3]; zero parameters: neutral_head() bitwise
  std::vector<double> posed_face(const RigPose& p) const;   // [A,3]; zero parameters: neutral_face() bitwise

 private:
  const flame::FlameModel* model_;
  std::vector<double> neutral_, offset_, rest_;  // N, N − v_template, F(0,0,0)
  std::vector<int32_t> face_ids_;
};

// The head rig's face as a differentiable function of the expression and the joint pose (the head model forward
// as an autograd op, flame/flame_op.h): posed_face(ψ, θ) = (N + (F(ψ, θ) − F(0, 0)))[face ids], HeadRig's
// formula without the rigid part, so that a photo loss's gradient reaches ψ and θ (fit_image's expression
// refinement, train/fit/code_fit.h). Zero parameters give the neutral face rows bit for bit (F(0, 0) is the same
// op's output). dtype F32 (any device) or F64 (CPU); the rig's arrays are copied (it need not outlive this).
class HeadRigTensors {
 public:
  HeadRigTensors(Context& ctx, const HeadRig& rig, Device device = Device::cpu(), DType dtype = DType::F32);
  // expr [1,E'] (E' ≤ E; undefined: 0), pose [1,J*3] (undefined: 0) → [A,3]
  Tensor posed_face(const Tensor& expr, const Tensor& pose) const;
  int A() const { return int(face_ids_.numel()); }
  DType dtype() const { return ft_.dtype(); }
  Device device() const { return ft_.device(); }

 private:
  flame::FlameTensors ft_;
  Tensor offset_;    // [V,3] N − v_template
  Tensor neutral_;   // [V,3] N
  Tensor rest_;      // [V,3] F(0, 0)
  Tensor face_ids_;  // [A] int64
};

// The face-mask vertex ids (ascending head-model vertex ids) of the preprocessing defaults for `model`.
std::vector<int32_t> face_mask_vertex_ids(const flame::FlameModel& model);

// The identity's neutral head [V,3] from its Gaussian positions [G,3] on a "uv" layout: the face-mask vertices by
// least squares (Σ_g ‖Σ_j bary·V[tri] − x_g‖² + 1e-9·‖V − v_template‖², the second term only pins vertices no
// Gaussian touches), the other vertices from the head model's shape basis fitted to them (ridge 1e-6).
std::vector<double> neutral_head_from_positions(const flame::FlameModel& model, const SurfaceLayout& layout,
                                                const std::vector<float>& positions);

struct GaussianBinding {
  int A = 0, G = 0;
  std::vector<int32_t> tri;      // [G,3] face-mask vertex ids
  std::vector<double> bary;      // [G,3]
  std::vector<double> neutral;   // [A,3] the neutral face-mask mesh
  // Throws for a "seed" layout or a neutral mesh of another size than layout.A.
  static GaussianBinding from_layout(const SurfaceLayout& layout, std::vector<double> neutral_face);
};

// Host: Gaussians [G] posed in place from the binding's neutral mesh to posed_face [A,3] (runtime/binding.h):
// means [G,3], rotations [G,4] (w,x,y,z), scales [G,3] ACTIVATED (multiplied by s1/s0), and sh_rest [G,15,3] when
// given (view-dependent colours, turned with their triangles: runtime/rig.h pose_sh). threads 0: all.
void pose_gaussians_host(const GaussianBinding& b, const std::vector<double>& posed_face, int64_t G, float* means,
                         float* rotations, float* scales, int threads = 0, float* sh_rest = nullptr);

// Differentiable: posed_face [A,3], means [G,3], rotations [G,4], log_scales [G,3] (one dtype: F32 or F64, one
// device) → posed means, rotations, log-scales; gradients reach all four inputs.
struct PosedGaussians {
  Tensor means, rotations, log_scales;
};
// The op keeps a pointer to `b`: it must outlive the backward.
PosedGaussians pose_gaussians(const GaussianBinding& b, const Tensor& posed_face, const Tensor& means,
                              const Tensor& rotations, const Tensor& log_scales);

}  // namespace ff::train
