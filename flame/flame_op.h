// flame/flame_op.h — the FLAME forward as a differentiable ff::Tensor layer (the autograd glue of flame/flame.h).
//
// Same maths as flame_fwd (see flame/flame.h: smplx's lbs, θ = ‖r + 1e-8‖ elementwise, scale before
// translation), batched, differentiable wrt shape, expression, pose, translation, scale (and an optional static
// offset). Runs on the CPU (f32, f64) and on CUDA (f32):
//   - the per-vertex work is composed from autograd ops, so it runs on the tensors' device: blendshapes
//     (matmul with shapedirs/exprdirs), joint regression (matmul with J_regressor), pose correctives (matmul of
//     posedirs with the R_j − I features), LBS (matmul of the skinning weights with the per-joint 3×4 transforms,
//     then a per-vertex multiply-and-sum);
//   - the per-joint work (Rodrigues of the B×J axis-angles and the J-joint kinematic chain) is one CustomOp
//     computed on the host with flame's rodrigues/rodrigues_vjp and a hand-written chain VJP: its inputs
//     ([B,J*3] pose, [B,J,3] rest joints) are copied to the CPU and its outputs ([B,(J-1)*9] pose features,
//     [B,J,12] skinning transforms, [B,J,3] posed joints) copied back, forward and backward. On CUDA that is
//     two tiny synchronous copies each way per call (there is no sin/cos tensor op to compose it from).
//
//   ff::flame::FlameTensors ft = ff::flame::FlameTensors::upload(ctx, model, ff::Device::cuda(), ff::DType::F32);
//   ff::flame::FlameOutputTensors o = ff::flame::flame_forward(ft, shape /*[B,S']*/, expr /*[B,E']*/,
//                                                              pose /*[B,J*3]*/, trans /*[B,3]*/, scale /*[B]*/);
//   ff::backward(ff::sum(ff::square(o.vertices)));   // gradients reach every input that requires one
#pragma once
#include <vector>

#include "autograd/graph.h"
#include "flame/flame.h"

namespace ff::flame {

// The model's arrays as constant tensors on one device and dtype (built once, reused by every forward).
struct FlameTensors {
  int V = 0, J = 0, S = 0, E = 0;
  Tensor v_template;   // [1, V*3]
  Tensor shapedirs;    // [S, V*3]  (FlameModel::shapedirs transposed: row l is component l)
  Tensor exprdirs;     // [E, V*3]  (undefined when E = 0)
  Tensor posedirs;     // [(J-1)*9, V*3]
  Tensor j_regressor;  // [1, J, V]
  Tensor weights;      // [1, V, J]
  std::vector<int32_t> parents;  // [J] (host; the kinematic chain runs on the host)

  DType dtype() const { return v_template.dtype(); }
  Device device() const { return v_template.device(); }

  // dtype F32 (any device) or F64 (CPU). The model must be valid (FlameModel::validate()).
  static FlameTensors upload(Context& ctx, const FlameModel& model, Device device = Device::cpu(),
                             DType dtype = DType::F32);
};

struct FlameOutputTensors {
  Tensor vertices;  // [B, V, 3]   scale · LBS(v) + translation
  Tensor joints;    // [B, J, 3]   scale · G_j.t + translation
};

// Inputs on the tensors' device and dtype; B is taken from the first defined one. Undefined inputs mean
// zeros (shape, expr, pose, translation, static_offset) or ones (scale). shape [B,S'] with S' ≤ S uses the
// first S' components, likewise expr [B,E'] with E' ≤ E. static_offset [V,3] is added to v_shaped of every item.
FlameOutputTensors flame_forward(const FlameTensors& m, const Tensor& shape, const Tensor& expr, const Tensor& pose,
                                 const Tensor& translation, const Tensor& scale,
                                 const Tensor& static_offset = Tensor());

}  // namespace ff::flame
