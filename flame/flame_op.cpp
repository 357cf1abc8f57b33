// flame/flame_op.cpp — the only file that wires flame/ into autograd (see flame_op.h for the split between
// device ops and the host kinematics CustomOp).
#include "flame/flame_op.h"

#include "autograd/ops.h"

namespace ff::flame {
namespace {

template <class T>
Tensor upload_array(Context& ctx, const std::vector<double>& src, const Shape& shape, Device device) {
  std::vector<T> v(src.begin(), src.end());
  return from_vector<T>(ctx, v, shape, device);
}

// Rodrigues + kinematic chain for B items on the host, in T (float for F32 tensors, double for F64), exactly
// as flame_fwd computes them. Inputs: pose [B,J*3], rest joints [B,J,3]. Outputs: pose features [B,(J-1)*9]
// (R_j − I for j ≥ 1), skinning transforms A [B,J,12] (3×4 row-major), posed joints G_j.t [B,J,3].
template <class T>
struct KinematicsOp : CustomOp {
  std::vector<int32_t> parents;
  int B = 0, J = 0;
  Device device;
  Context* ctx = nullptr;
  std::vector<T> pose, rest, rot, global;  // saved for the backward

  const char* name() const override { return "flame_kinematics"; }

  std::vector<Tensor> forward(const std::vector<Tensor>& inputs) override {
    ctx = &inputs[0].ctx();
    device = inputs[0].device();
    pose = inputs[0].contiguous().to_vector<T>();
    rest = inputs[1].contiguous().to_vector<T>();
    const int P = (J - 1) * 9;
    rot.assign(size_t(B) * J * 9, T(0));
    global.assign(size_t(B) * J * 12, T(0));
    std::vector<T> pf(size_t(B) * P), skin(size_t(B) * J * 12), gt(size_t(B) * J * 3);
    for (int b = 0; b < B; ++b) {
      T* R = rot.data() + size_t(b) * J * 9;
      const T* Jr = rest.data() + size_t(b) * J * 3;
      T* G = global.data() + size_t(b) * J * 12;
      for (int j = 0; j < J; ++j) {
        rodrigues(pose.data() + (size_t(b) * J + j) * 3, R + j * 9);
        if (j > 0)
          for (int k = 0; k < 9; ++k) pf[size_t(b) * P + size_t((j - 1) * 9 + k)] = R[j * 9 + k] - (k % 4 == 0 ? T(1) : T(0));
      }
      T* A = skin.data() + size_t(b) * J * 12;
      kinematic_chain(parents.data(), J, R, Jr, G, A);
      for (int j = 0; j < J; ++j)
        for (int i = 0; i < 3; ++i) gt[(size_t(b) * J + j) * 3 + i] = G[j * 12 + i * 4 + 3];
    }
    return {from_vector<T>(*ctx, pf, {B, P}, device), from_vector<T>(*ctx, skin, {B, J, 12}, device),
            from_vector<T>(*ctx, gt, {B, J, 3}, device)};
  }

  std::vector<Tensor> backward(const std::vector<Tensor>& d) override {
    const int P = (J - 1) * 9;
    const std::vector<T> dpf = d[0].contiguous().to_vector<T>();
    const std::vector<T> dskin = d[1].contiguous().to_vector<T>();
    const std::vector<T> dgt = d[2].contiguous().to_vector<T>();
    std::vector<T> d_pose(size_t(B) * J * 3, T(0)), d_rest(size_t(B) * J * 3, T(0));
    std::vector<T> dG(size_t(J) * 12), dR(size_t(J) * 9);
    for (int b = 0; b < B; ++b) {
      const T* R = rot.data() + size_t(b) * J * 9;
      const T* G = global.data() + size_t(b) * J * 12;
      const T* Jr = rest.data() + size_t(b) * J * 3;
      T* dJ = d_rest.data() + size_t(b) * J * 3;
      std::fill(dG.begin(), dG.end(), T(0));
      std::fill(dR.begin(), dR.end(), T(0));
      // posed joints = G_j.t
      for (int j = 0; j < J; ++j)
        for (int i = 0; i < 3; ++i) dG[size_t(j) * 12 + i * 4 + 3] += dgt[(size_t(b) * J + j) * 3 + i];
      kinematic_chain_vjp(parents.data(), J, R, Jr, G, dskin.data() + size_t(b) * J * 12, dG.data(), dR.data(), dJ);
      // pose features → R_j (j ≥ 1); Rodrigues VJP
      for (int j = 1; j < J; ++j)
        for (int k = 0; k < 9; ++k) dR[size_t(j) * 9 + k] += dpf[size_t(b) * P + size_t((j - 1) * 9 + k)];
      for (int j = 0; j < J; ++j)
        rodrigues_vjp(pose.data() + (size_t(b) * J + j) * 3, dR.data() + size_t(j) * 9,
                      d_pose.data() + (size_t(b) * J + j) * 3);
    }
    return {from_vector<T>(*ctx, d_pose, {B, J * 3}, device), from_vector<T>(*ctx, d_rest, {B, J, 3}, device)};
  }
};

void check_input(const FlameTensors& m, const Tensor& t, const char* what) {
  if (!t.defined()) return;
  FF_CHECK(t.dtype() == m.dtype() && t.device() == m.device(), "flame_forward: ", what, " is ", t.str(),
           ", the model tensors are ", dtype_name(m.dtype()), " on ", m.device().str());
}

}  // namespace

FlameTensors FlameTensors::upload(Context& ctx, const FlameModel& model, Device device, DType dtype) {
  FF_CHECK(dtype == DType::F32 || (dtype == DType::F64 && device.is_cpu()),
           "FlameTensors::upload: dtype must be f32 (any device) or f64 (cpu), got ", dtype_name(dtype), " on ",
           device.str());
  const int V = model.V, J = model.J, S = model.S, E = model.E;
  FF_CHECK(V > 0 && J > 0 && model.v_template.size() == size_t(V) * 3 && model.shapedirs.size() == size_t(V) * 3 * S &&
               model.exprdirs.size() == size_t(V) * 3 * E && model.posedirs.size() == size_t(J - 1) * 9 * V * 3 &&
               model.j_regressor.size() == size_t(J) * V && model.weights.size() == size_t(V) * J &&
               model.parents.size() == size_t(J),
           "FlameTensors::upload: model '", model.source, "' is not consistent; call validate()");
  for (int j = 0; j < J; ++j)
    FF_CHECK((j == 0 && model.parents[0] < 0) || (j > 0 && model.parents[size_t(j)] >= 0 && model.parents[size_t(j)] < j),
             "FlameTensors::upload: model '", model.source, "' parents[", j, "] = ", model.parents[size_t(j)]);
  const int64_t V3 = int64_t(V) * 3;
  // [V*3, K] → [K, V*3]
  auto transposed = [&](const std::vector<double>& a, int K) {
    std::vector<double> t(a.size());
    for (int64_t r = 0; r < V3; ++r)
      for (int l = 0; l < K; ++l) t[size_t(l) * size_t(V3) + size_t(r)] = a[size_t(r) * K + size_t(l)];
    return t;
  };
  auto up = [&](const std::vector<double>& a, const Shape& s) {
    return dtype == DType::F64 ? upload_array<double>(ctx, a, s, device) : upload_array<float>(ctx, a, s, device);
  };
  FlameTensors ft;
  ft.V = V;
  ft.J = J;
  ft.S = S;
  ft.E = E;
  ft.v_template = up(model.v_template, {1, V3});
  if (S > 0) ft.shapedirs = up(transposed(model.shapedirs, S), {S, V3});
  if (E > 0) ft.exprdirs = up(transposed(model.exprdirs, E), {E, V3});
  if (J > 1) ft.posedirs = up(model.posedirs, {int64_t(J - 1) * 9, V3});
  ft.j_regressor = up(model.j_regressor, {1, J, V});
  ft.weights = up(model.weights, {1, V, J});
  ft.parents = model.parents;
  return ft;
}

FlameOutputTensors flame_forward(const FlameTensors& m, const Tensor& shape, const Tensor& expr, const Tensor& pose,
                                 const Tensor& translation, const Tensor& scale, const Tensor& static_offset) {
  FF_CHECK(m.v_template.defined(), "flame_forward: FlameTensors not uploaded");
  const int64_t V = m.V, J = m.J, V3 = V * 3;
  int64_t B = -1;
  for (const Tensor* t : {&shape, &expr, &pose, &translation, &scale})
    if (t->defined() && t->dim() >= 1) {
      B = t->shape()[0];
      break;
    }
  if (B < 0) B = 1;
  FF_CHECK(B >= 1, "flame_forward: batch must be >= 1");
  check_input(m, shape, "shape");
  check_input(m, expr, "expr");
  check_input(m, pose, "pose");
  check_input(m, translation, "translation");
  check_input(m, scale, "scale");
  check_input(m, static_offset, "static_offset");
  FF_CHECK(!shape.defined() || (shape.dim() == 2 && shape.shape()[0] == B && shape.shape()[1] <= m.S),
           "flame_forward: shape must be [", B, ", <=", m.S, "], got ", shape.defined() ? shape.str() : "");
  FF_CHECK(!expr.defined() || (expr.dim() == 2 && expr.shape()[0] == B && expr.shape()[1] <= m.E),
           "flame_forward: expr must be [", B, ", <=", m.E, "], got ", expr.defined() ? expr.str() : "");
  FF_CHECK(!pose.defined() || pose.shape() == Shape({B, J * 3}), "flame_forward: pose must be [", B, ", ", J * 3,
           "], got ", pose.defined() ? pose.str() : "");
  FF_CHECK(!translation.defined() || translation.shape() == Shape({B, 3}), "flame_forward: translation must be [", B,
           ", 3], got ", translation.defined() ? translation.str() : "");
  FF_CHECK(!scale.defined() || scale.shape() == Shape({B}), "flame_forward: scale must be [", B, "], got ",
           scale.defined() ? scale.str() : "");
  FF_CHECK(!static_offset.defined() || static_offset.shape() == Shape({V, 3}), "flame_forward: static_offset must be [",
           V, ", 3], got ", static_offset.defined() ? static_offset.str() : "");
  Context& ctx = m.v_template.ctx();

  // v_shaped [B, V*3] = v_template + β·shapedirs + ψ·exprdirs (+ static_offset)
  Tensor vs = m.v_template;
  auto blend = [&](const Tensor& coef, const Tensor& dirs, int64_t avail) {
    const int64_t n = coef.defined() ? coef.shape()[1] : 0;
    if (n == 0) return;
    vs = add(vs, matmul(coef, n == avail ? dirs : slice(dirs, 0, 0, n)));
  };
  blend(shape, m.shapedirs, m.S);
  blend(expr, m.exprdirs, m.E);
  if (static_offset.defined()) vs = add(vs, reshape(static_offset, {1, V3}));
  if (vs.shape()[0] != B) vs = expand(vs, {B, V3});

  // rest joints [B, J, 3] = J_regressor · v_shaped
  Tensor rest = matmul(m.j_regressor, reshape(vs, {B, V, 3}));

  // host kinematics: pose features, skinning transforms, posed joints
  Tensor p = pose.defined() ? pose : zeros(ctx, {B, J * 3}, m.dtype(), m.device());
  std::vector<Tensor> kin;
  if (m.dtype() == DType::F64) {
    auto op = std::make_shared<KinematicsOp<double>>();
    op->parents = m.parents;
    op->B = int(B);
    op->J = int(J);
    kin = apply(op, {p, rest});
  } else {
    auto op = std::make_shared<KinematicsOp<float>>();
    op->parents = m.parents;
    op->B = int(B);
    op->J = int(J);
    kin = apply(op, {p, rest});
  }

  // pose correctives: v_posed = v_shaped + pf · posedirs
  Tensor vp = J > 1 ? add(vs, matmul(kin[0], m.posedirs)) : vs;
  // LBS: M_v = Σ_j w_vj A_j ([B, V, 3, 4]); v' = M_v.R · v_posed + M_v.t
  Tensor M = reshape(matmul(m.weights, kin[1]), {B, V, 3, 4});
  Tensor x = reshape(vp, {B, V, 1, 3});
  Tensor v = add(sum(mul(slice(M, 3, 0, 3), x), {3}), select(M, 3, 3));
  Tensor joints = kin[2];
  if (scale.defined()) {
    Tensor s = reshape(scale, {B, 1, 1});
    v = mul(v, s);
    joints = mul(joints, s);
  }
  if (translation.defined()) {
    Tensor t = reshape(translation, {B, 1, 3});
    v = add(v, t);
    joints = add(joints, t);
  }
  return {v, joints};
}

}  // namespace ff::flame
