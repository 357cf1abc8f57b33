// train/animation.cpp — HeadRig, the neutral head from Gaussian positions, and the binding's host and tensor ops
// (train/animation.h; the per-Gaussian maths is runtime/binding.h).
#include "train/animation.h"

#include <Eigen/Dense>
#include <Eigen/Sparse>
#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/parallel.h"
#include "autograd/ops.h"
#include "runtime/binding.h"
#include "runtime/rig.h"
#include "train/data/preprocess.h"
#include "train/pose_gaussians_cuda.h"

namespace ff::train {

std::vector<int32_t> face_mask_vertex_ids(const flame::FlameModel& model) {
  data::PreprocessOptions o;
  o.subdivisions = 0;
  return data::build_head_meshes(model, model.v_template, o).mask.vertex_ids;
}

HeadRig::HeadRig(const flame::FlameModel& model, std::vector<double> neutral_head)
    : model_(&model), neutral_(std::move(neutral_head)) {
  FF_CHECK(model.J == flame::kFlameJoints, "HeadRig: head model '", model.source, "' has ", model.J, " joints, ",
           "animation needs FLAME's ", flame::kFlameJoints);
  FF_CHECK(neutral_.size() == size_t(model.V) * 3, "HeadRig: neutral head has ", neutral_.size() / 3,
           " vertices, head model '", model.source, "' has ", model.V);
  for (double v : neutral_) FF_CHECK(std::isfinite(v), "HeadRig: the neutral head has a non-finite coordinate");
  offset_.resize(neutral_.size());
  for (size_t i = 0; i < neutral_.size(); ++i) offset_[i] = neutral_[i] - model.v_template[i];
  rest_ = posed_head(RigPose{});  // uses rest_ only after it is set: see posed_head
  face_ids_ = face_mask_vertex_ids(model);
}

std::vector<double> HeadRig::posed_head(const RigPose& p) const {
  const flame::FlameModel& m = *model_;
  FF_CHECK(int(p.expression.size()) <= m.E, "HeadRig: ", p.expression.size(), " expression coefficients, head model '",
           m.source, "' has ", m.E);
  for (double v : p.expression) FF_CHECK(std::isfinite(v), "HeadRig: non-finite expression coefficient");
  for (double v : p.pose) FF_CHECK(std::isfinite(v), "HeadRig: non-finite pose parameter");
  for (double v : p.rotation) FF_CHECK(std::isfinite(v), "HeadRig: non-finite rotation");
  for (double v : p.translation) FF_CHECK(std::isfinite(v), "HeadRig: non-finite translation");
  flame::FlameInput<double> in;
  in.batch = 1;
  in.n_shape = 0;
  in.n_expr = int(p.expression.size());
  in.expr = p.expression.empty() ? nullptr : p.expression.data();
  in.pose = p.pose.data();
  in.static_offset = offset_.data();
  flame::FlameOutput<double> out;
  flame::flame_fwd(m, in, out, nullptr, 1);  // one thread: the same sums in every call
  if (rest_.empty()) return out.vertices;     // the constructor computing F(0, 0, 0)
  std::vector<double> v(neutral_.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = neutral_[i] + (out.vertices[i] - rest_[i]);
  // rigid: exact for the identity rotation and zero translation (1·a + 0·b + 0·c + 0 == a)
  const auto& R = p.rotation;
  for (size_t k = 0; k < v.size(); k += 3) {
    const double a = v[k], b = v[k + 1], c = v[k + 2];
    for (int i = 0; i < 3; ++i) v[k + size_t(i)] = R[3 * size_t(i)] * a + R[3 * size_t(i) + 1] * b + R[3 * size_t(i) + 2] * c + p.translation[size_t(i)];
  }
  return v;
}

namespace {
std::vector<double> gather_rows(const std::vector<double>& head, const std::vector<int32_t>& ids) {
  std::vector<double> f(ids.size() * 3);
  for (size_t a = 0; a < ids.size(); ++a)
    for (int c = 0; c < 3; ++c) f[3 * a + size_t(c)] = head[3 * size_t(ids[a]) + size_t(c)];
  return f;
}
}  // namespace

std::vector<double> HeadRig::neutral_face() const { return gather_rows(neutral_, face_ids_); }
std::vector<double> HeadRig::posed_face(const RigPose& p) const { return gather_rows(posed_head(p), face_ids_); }

HeadRigTensors::HeadRigTensors(Context& ctx, const HeadRig& rig, Device device, DType dtype) {
  const flame::FlameModel& m = rig.model();
  ft_ = flame::FlameTensors::upload(ctx, m, device, dtype);
  std::vector<double> off(rig.neutral_head().size());
  for (size_t i = 0; i < off.size(); ++i) off[i] = rig.neutral_head()[i] - m.v_template[i];
  // cast on the host, then copied to the device (f64 exists on the CPU only)
  offset_ = from_vector<double>(ctx, off, {int64_t(m.V), 3}).to(dtype).to(device);
  neutral_ = from_vector<double>(ctx, rig.neutral_head(), {int64_t(m.V), 3}).to(dtype).to(device);
  const std::vector<int64_t> ids(rig.face_vertex_ids().begin(), rig.face_vertex_ids().end());
  face_ids_ = from_vector<int64_t>(ctx, ids, {int64_t(ids.size())}, device);
  NoGrad ng(ctx);
  rest_ = select(flame::flame_forward(ft_, Tensor(), Tensor(), zeros(ctx, {1, int64_t(m.J) * 3}, dtype, device),
                                      Tensor(), Tensor(), offset_).vertices, 0, 0);
}

Tensor HeadRigTensors::posed_face(const Tensor& expr, const Tensor& pose) const {
  Context& ctx = offset_.ctx();
  const Tensor p = pose.defined() ? pose : zeros(ctx, {1, int64_t(ft_.J) * 3}, ft_.dtype(), ft_.device());
  const Tensor F = select(flame::flame_forward(ft_, Tensor(), expr, p, Tensor(), Tensor(), offset_).vertices, 0, 0);
  return index_select(add(neutral_, sub(F, rest_)), 0, face_ids_);
}

std::vector<double> neutral_head_from_positions(const flame::FlameModel& model, const SurfaceLayout& layout,
                                                const std::vector<float>& positions) {
  FF_CHECK(layout.placement == "uv", "animation: the model's Gaussians are placed with '", layout.placement,
           "' (positions on subdivided vertices); only the 'uv' placement binds them to triangles");
  const std::vector<int32_t> ids = face_mask_vertex_ids(model);
  const int A = int(ids.size()), G = layout.G;
  FF_CHECK(layout.A == A, "animation: the model's layout has ", layout.A, " anchors, the face mask of head model '",
           model.source, "' has ", A, " vertices (another head model or face-mask regions)");
  FF_CHECK(positions.size() == size_t(G) * 3, "animation: ", positions.size() / 3, " positions for ", G, " Gaussians");
  FF_CHECK(layout.tri.size() == size_t(G) * 3 && layout.bary.size() == size_t(G) * 3,
           "animation: the layout has no triangle binding");
  // face vertices: (PᵀP + λI) V = Pᵀx + λ·template
  const double lambda = 1e-9;
  std::vector<Eigen::Triplet<double>> trip;
  trip.reserve(size_t(G) * 9 + size_t(A));
  Eigen::MatrixXd rhs = Eigen::MatrixXd::Zero(A, 3);
  for (int g = 0; g < G; ++g)
    for (int j = 0; j < 3; ++j) {
      const int a = layout.tri[3 * size_t(g) + size_t(j)];
      FF_CHECK(a >= 0 && a < A, "animation: layout triangle vertex ", a, " out of range");
      const double bj = layout.bary[3 * size_t(g) + size_t(j)];
      for (int k = 0; k < 3; ++k) trip.emplace_back(a, layout.tri[3 * size_t(g) + size_t(k)], bj * layout.bary[3 * size_t(g) + size_t(k)]);
      for (int c = 0; c < 3; ++c) rhs(a, c) += bj * double(positions[3 * size_t(g) + size_t(c)]);
    }
  for (int a = 0; a < A; ++a) {
    trip.emplace_back(a, a, lambda);
    for (int c = 0; c < 3; ++c) rhs(a, c) += lambda * model.v_template[3 * size_t(ids[size_t(a)]) + size_t(c)];
  }
  Eigen::SparseMatrix<double> N(A, A);
  N.setFromTriplets(trip.begin(), trip.end());
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> solver(N);
  FF_CHECK(solver.info() == Eigen::Success, "animation: the face-vertex least squares could not be factorised");
  const Eigen::MatrixXd V = solver.solve(rhs);
  std::vector<double> head = model.v_template;
  for (int a = 0; a < A; ++a)
    for (int c = 0; c < 3; ++c) head[3 * size_t(ids[size_t(a)]) + size_t(c)] = V(a, c);
  if (A < model.V && model.S > 0) {
    // the rest of the head: v_template + shapedirs·β with β fitted to the face vertices
    const int S = model.S;
    Eigen::MatrixXd Sm(3 * A, S);
    Eigen::VectorXd d(3 * A);
    for (int a = 0; a < A; ++a)
      for (int c = 0; c < 3; ++c) {
        const size_t row = 3 * size_t(ids[size_t(a)]) + size_t(c);
        for (int l = 0; l < S; ++l) Sm(3 * a + c, l) = model.shapedirs[row * size_t(S) + size_t(l)];
        d(3 * a + c) = V(a, c) - model.v_template[row];
      }
    Eigen::MatrixXd NtN = Sm.transpose() * Sm;
    NtN.diagonal().array() += 1e-6;
    const Eigen::VectorXd beta = NtN.ldlt().solve(Sm.transpose() * d);
    std::vector<uint8_t> in_face(size_t(model.V), 0);
    for (int32_t id : ids) in_face[size_t(id)] = 1;
    for (int v = 0; v < model.V; ++v) {
      if (in_face[size_t(v)]) continue;
      for (int c = 0; c < 3; ++c) {
        const size_t row = 3 * size_t(v) + size_t(c);
        double s = model.v_template[row];
        for (int l = 0; l < S; ++l) s += model.shapedirs[row * size_t(S) + size_t(l)] * beta(l);
        head[row] = s;
      }
    }
  }
  return head;
}

GaussianBinding GaussianBinding::from_layout(const SurfaceLayout& layout, std::vector<double> neutral_face) {
  FF_CHECK(layout.placement == "uv", "GaussianBinding: the layout places Gaussians with '", layout.placement,
           "'; only the 'uv' placement binds them to triangles");
  FF_CHECK(layout.tri.size() == size_t(layout.G) * 3 && layout.bary.size() == size_t(layout.G) * 3,
           "GaussianBinding: the layout has no triangle binding");
  FF_CHECK(neutral_face.size() == size_t(layout.A) * 3, "GaussianBinding: the neutral face mesh has ",
           neutral_face.size() / 3, " vertices, the layout ", layout.A);
  GaussianBinding b;
  b.A = layout.A;
  b.G = layout.G;
  b.tri = layout.tri;
  b.bary = layout.bary;
  b.neutral = std::move(neutral_face);
  for (int32_t t : b.tri) FF_CHECK(t >= 0 && t < b.A, "GaussianBinding: triangle vertex ", t, " out of range");
  return b;
}

void pose_gaussians_host(const GaussianBinding& b, const std::vector<double>& posed_face, int64_t G, float* means,
                         float* rotations, float* scales, int threads, float* sh_rest) {
  FF_CHECK(G == b.G, "pose_gaussians: ", G, " Gaussians, the binding has ", b.G);
  FF_CHECK(posed_face.size() == b.neutral.size(), "pose_gaussians: posed mesh has ", posed_face.size() / 3,
           " vertices, the binding ", b.A);
  std::vector<double> x0(size_t(G) * 3), q0(size_t(G) * 4), ls0(size_t(G) * 3, 0.0);
  for (size_t i = 0; i < x0.size(); ++i) x0[i] = means[i];
  for (size_t i = 0; i < q0.size(); ++i) q0[i] = rotations[i];
  std::vector<double> x(x0.size()), q(q0.size()), ls(ls0.size());
  const std::vector<float> sh0 = sh_rest ? std::vector<float>(sh_rest, sh_rest + G * ffrt::kShRest * 3) : std::vector<float>{};
  parallel_for(G, 512, threads > 0 ? threads : hardware_threads(), [&](int64_t g0, int64_t g1) {
    ffrt::binding::pose_gaussians(g0, g1, b.tri.data(), b.bary.data(), b.neutral.data(), posed_face.data(), x0.data(),
                                  q0.data(), ls0.data(), x.data(), q.data(), ls.data());
    if (sh_rest)
      ffrt::pose_sh(g0, g1, b.tri.data(), b.bary.data(), b.neutral.data(), posed_face.data(), x0.data(), sh0.data(),
                    sh_rest);
  });
  for (size_t i = 0; i < x.size(); ++i) means[i] = float(x[i]);
  for (size_t i = 0; i < q.size(); ++i) rotations[i] = float(q[i]);
  for (size_t i = 0; i < ls.size(); ++i) scales[i] *= float(std::exp(ls[i]));  // ls = log(s1/s0): exactly 0 at rest
}

void cuda::vertex_entries(const std::vector<int32_t>& tri, int A, std::vector<int32_t>& offsets,
                          std::vector<int32_t>& entries) {
  FF_CHECK(tri.size() % 3 == 0, "vertex_entries: ", tri.size(), " triangle ids is not a multiple of 3");
  FF_CHECK(tri.size() < size_t(1) << 31, "vertex_entries: ", tri.size() / 3, " Gaussians exceed int32 entries");
  offsets.assign(size_t(A) + 1, 0);
  for (int32_t a : tri) {
    FF_CHECK(a >= 0 && a < A, "vertex_entries: vertex ", a, " out of range [0, ", A, ")");
    ++offsets[size_t(a) + 1];
  }
  for (int a = 0; a < A; ++a) offsets[size_t(a) + 1] += offsets[size_t(a)];
  entries.assign(tri.size(), 0);
  std::vector<int32_t> fill(offsets.begin(), offsets.end() - 1);
  for (size_t e = 0; e < tri.size(); ++e) entries[size_t(fill[size_t(tri[e])]++)] = int32_t(e);  // ascending e
}

namespace {

template <class T>
struct PoseGaussiansOp : CustomOp {
  const GaussianBinding* b = nullptr;
  Context* ctx = nullptr;
  Device device;
  std::vector<T> V0, V1, x0, q0;
  // CUDA (train/pose_gaussians_cuda.h): the binding's arrays and the inputs the backward needs, on the device
  Tensor d_tri, d_bary, d_V0, d_offsets, d_entries, d_V1, d_x0, d_q0;

  const char* name() const override { return "pose_gaussians"; }

  std::vector<Tensor> forward(const std::vector<Tensor>& in) override {
    ctx = &in[0].ctx();
    device = in[0].device();
    if (!device.is_cpu()) return forward_device(in);
    V0.assign(b->neutral.begin(), b->neutral.end());
    V1 = in[0].contiguous().to_vector<T>();
    x0 = in[1].contiguous().to_vector<T>();
    q0 = in[2].contiguous().to_vector<T>();
    const std::vector<T> ls0 = in[3].contiguous().to_vector<T>();
    const int64_t G = b->G;
    std::vector<T> x(x0.size()), q(q0.size()), ls(ls0.size());
    parallel_for(G, 512, ctx->threads(), [&](int64_t g0, int64_t g1) {
      ffrt::binding::pose_gaussians(g0, g1, b->tri.data(), b->bary.data(), V0.data(), V1.data(), x0.data(), q0.data(),
                                    ls0.data(), x.data(), q.data(), ls.data());
    });
    return {from_vector<T>(*ctx, x, {G, 3}, device), from_vector<T>(*ctx, q, {G, 4}, device),
            from_vector<T>(*ctx, ls, {G, 3}, device)};
  }

  std::vector<Tensor> backward(const std::vector<Tensor>& d) override {
    if (!device.is_cpu()) return backward_device(d);
    const int64_t G = b->G;
    const std::vector<T> dx = d[0].contiguous().to_vector<T>();
    const std::vector<T> dq = d[1].contiguous().to_vector<T>();
    const std::vector<T> dls = d[2].contiguous().to_vector<T>();
    std::vector<T> dV(V1.size(), T(0)), dx0(size_t(G) * 3, T(0)), dq0(size_t(G) * 4, T(0)), dls0(size_t(G) * 3, T(0));
    ffrt::binding::pose_gaussians_vjp(int64_t(0), G, b->tri.data(), b->bary.data(), V0.data(), V1.data(), x0.data(),
                                      q0.data(), dx.data(), dq.data(), dls.data(), dV.data(), dx0.data(), dq0.data(),
                                      dls0.data());
    return {from_vector<T>(*ctx, dV, {int64_t(b->A), 3}, device), from_vector<T>(*ctx, dx0, {G, 3}, device),
            from_vector<T>(*ctx, dq0, {G, 4}, device), from_vector<T>(*ctx, dls0, {G, 3}, device)};
  }

  static const T* cptr(const Tensor& t) { return static_cast<const T*>(t.raw_data()); }
  static T* ptr(const Tensor& t) { return static_cast<T*>(t.raw_data()); }
  cuda::DeviceBinding<T> device_binding() const {
    cuda::DeviceBinding<T> db;
    db.G = b->G;
    db.A = b->A;
    db.tri = static_cast<const int32_t*>(d_tri.raw_data());
    db.bary = static_cast<const double*>(d_bary.raw_data());
    db.neutral = cptr(d_V0);
    db.offsets = static_cast<const int32_t*>(d_offsets.raw_data());
    db.entries = static_cast<const int32_t*>(d_entries.raw_data());
    return db;
  }

  std::vector<Tensor> forward_device(const std::vector<Tensor>& in) {
#ifdef FF_WITH_CUDA
    const int64_t G = b->G, A = b->A;
    std::vector<int32_t> offsets, entries;
    cuda::vertex_entries(b->tri, b->A, offsets, entries);
    d_tri = from_vector<int32_t>(*ctx, b->tri, {G, 3}, device);
    d_bary = from_vector<double>(*ctx, b->bary, {G, 3}, device);
    d_V0 = from_vector<T>(*ctx, std::vector<T>(b->neutral.begin(), b->neutral.end()), {A, 3}, device);
    d_offsets = from_vector<int32_t>(*ctx, offsets, {A + 1}, device);
    d_entries = from_vector<int32_t>(*ctx, entries, {3 * G}, device);
    d_V1 = in[0].contiguous().detach();
    d_x0 = in[1].contiguous().detach();
    d_q0 = in[2].contiguous().detach();
    const Tensor ls0 = in[3].contiguous().detach();
    const DType dt = dtype_of<T>();
    Tensor x = empty(*ctx, {G, 3}, dt, device), q = empty(*ctx, {G, 4}, dt, device), ls = empty(*ctx, {G, 3}, dt, device);
    cuda::pose_gaussians_fwd<T>(*ctx, device_binding(), cptr(d_V1), cptr(d_x0), cptr(d_q0), cptr(ls0), ptr(x), ptr(q),
                                ptr(ls));
    return {x, q, ls};
#else
    FF_THROW("pose_gaussians: inputs on ", in[0].device().str(), " but facefield was built without CUDA");
#endif
  }

  std::vector<Tensor> backward_device(const std::vector<Tensor>& d) {
#ifdef FF_WITH_CUDA
    const int64_t G = b->G, A = b->A;
    const Tensor dx = d[0].contiguous(), dq = d[1].contiguous(), dls = d[2].contiguous();
    const DType dt = dtype_of<T>();
    Tensor dV = empty(*ctx, {A, 3}, dt, device), dx0 = empty(*ctx, {G, 3}, dt, device),
           dq0 = empty(*ctx, {G, 4}, dt, device), dls0 = empty(*ctx, {G, 3}, dt, device),
           scratch = empty(*ctx, {G, 9}, dt, device);
    cuda::pose_gaussians_bwd<T>(*ctx, device_binding(), cptr(d_V1), cptr(d_x0), cptr(d_q0), cptr(dx), cptr(dq),
                                cptr(dls), ptr(scratch), ptr(dV), ptr(dx0), ptr(dq0), ptr(dls0));
    return {dV, dx0, dq0, dls0};
#else
    FF_THROW("pose_gaussians: gradients on ", d[0].device().str(), " but facefield was built without CUDA");
#endif
  }
};

}  // namespace

PosedGaussians pose_gaussians(const GaussianBinding& b, const Tensor& posed_face, const Tensor& means,
                              const Tensor& rotations, const Tensor& log_scales) {
  const int64_t G = b.G, A = b.A;
  auto expect = [&](const Tensor& t, const Shape& s, const char* what) {
    FF_CHECK(t.defined() && t.shape() == s, "pose_gaussians: ", what, " is ", t.defined() ? t.str() : "undefined",
             ", expected shape ", shape_str(s));
    FF_CHECK(t.dtype() == posed_face.dtype() && t.device() == posed_face.device(), "pose_gaussians: ", what, " is ",
             t.str(), ", posed_face is ", posed_face.str());
  };
  expect(posed_face, {A, 3}, "posed_face");
  expect(means, {G, 3}, "means");
  expect(rotations, {G, 4}, "rotations");
  expect(log_scales, {G, 3}, "log_scales");
  FF_CHECK(posed_face.dtype() == DType::F32 || posed_face.dtype() == DType::F64, "pose_gaussians: dtype ",
           dtype_name(posed_face.dtype()), " (f32 or f64 expected)");
  std::vector<Tensor> out;
  if (posed_face.dtype() == DType::F64) {
    auto op = std::make_shared<PoseGaussiansOp<double>>();
    op->b = &b;
    out = apply(op, {posed_face, means, rotations, log_scales});
  } else {
    auto op = std::make_shared<PoseGaussiansOp<float>>();
    op->b = &b;
    out = apply(op, {posed_face, means, rotations, log_scales});
  }
  return {out[0], out[1], out[2]};
}

}  // namespace ff::train
