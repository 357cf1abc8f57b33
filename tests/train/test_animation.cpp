// tests/train/test_animation.cpp — Gaussians bound to the head-model surface (train/animation.h, runtime/binding.h):
// f64 finite-difference checks of every new op, the neutral pose reproducing the static Gaussians bitwise, rigid
// head motion moving the Gaussians rigidly, the neutral head recovered from positions.
#include <doctest/doctest.h>

#include <cmath>

#include "flame/headmodel.h"
#include "runtime/binding.h"
#include "runtime/splat_math.h"
#include "tests/gradcheck.h"
#include "tests/testing.h"
#include "train/animation.h"
#include "train/data/preprocess.h"
#include "train/pose_gaussians_cuda.h"

using namespace ff;

namespace {

// A small bumpy strip of triangles (A vertices) with G Gaussians bound to random triangles, off the surface.
struct ToyBinding {
  train::GaussianBinding b;
  std::vector<double> posed, x0, q0, ls0;
};
ToyBinding toy_binding(uint64_t seed, double deform) {
  Context ctx(seed, 1);
  const int cols = 4, A = 2 * cols;
  std::vector<double> V(size_t(A) * 3);
  std::vector<int32_t> faces;
  for (int i = 0; i < cols; ++i)
    for (int r = 0; r < 2; ++r) {
      const int v = 2 * i + r;
      V[3 * v] = 0.1 * i;
      V[3 * v + 1] = 0.1 * r;
      V[3 * v + 2] = 0.02 * std::sin(1.3 * i + 2.1 * r);
    }
  for (int i = 0; i + 1 < cols; ++i) faces.insert(faces.end(), {2 * i, 2 * i + 2, 2 * i + 1, 2 * i + 1, 2 * i + 2, 2 * i + 3});
  const int F = int(faces.size() / 3), G = 10;
  Tensor u = rand(ctx, {G, 3}, DType::F64), n = randn(ctx, {G, 12}, DType::F64);
  ToyBinding t;
  t.b.A = A;
  t.b.G = G;
  t.b.neutral = V;
  for (int g = 0; g < G; ++g) {
    const int f = g % F;
    for (int j = 0; j < 3; ++j) t.b.tri.push_back(faces[3 * size_t(f) + size_t(j)]);
    double w[3], s = 0;
    for (int j = 0; j < 3; ++j) s += (w[j] = 0.2 + u.data<double>()[3 * g + j]);
    for (int j = 0; j < 3; ++j) t.b.bary.push_back(w[j] / s);
    double p[3] = {0, 0, 0};
    for (int j = 0; j < 3; ++j)
      for (int c = 0; c < 3; ++c) p[c] += (w[j] / s) * V[3 * size_t(faces[3 * size_t(f) + size_t(j)]) + size_t(c)];
    const double* r = n.data<double>() + 12 * g;
    for (int c = 0; c < 3; ++c) t.x0.push_back(p[c] + 0.01 * r[c]);
    for (int c = 0; c < 4; ++c) t.q0.push_back(r[3 + c] + (c == 0 ? 2.0 : 0.0));
    for (int c = 0; c < 3; ++c) t.ls0.push_back(-4 + 0.3 * r[7 + c]);
  }
  Tensor dv = randn(ctx, {A, 3}, DType::F64);
  t.posed = V;
  for (size_t i = 0; i < t.posed.size(); ++i) t.posed[i] += deform * dv.data<double>()[i];
  return t;
}

// the renderer's rotation of a quaternion (runtime/splat_math.h), row-major
std::array<double, 9> rotation_of(const double q[4]) {
  const auto R = splat::math::quat_to_rotmat(q);
  std::array<double, 9> a{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a[size_t(3 * i + j)] = R.m[i][j];
  return a;
}

// the head model's neutral for shape coefficients beta (the preprocessing's canonical mesh at zero pose)
std::vector<double> neutral_of(const flame::FlameModel& m, const std::vector<double>& beta) {
  flame::FlameInput<double> in;
  in.n_shape = int(beta.size());
  in.shape = beta.data();
  flame::FlameOutput<double> out;
  flame::flame_fwd(m, in, out, nullptr, 1);
  return out.vertices;
}

// a "uv" layout of K Gaussians per anchor on the face mask of `head` [V,3], and that face mesh
train::SurfaceLayout layout_on(const flame::FlameModel& m, const std::vector<double>& head, int K, flame::Mesh* face) {
  data::PreprocessOptions po;
  po.subdivisions = 0;
  *face = data::build_head_meshes(m, head, po).facemask[0];
  train::ModelConfig cfg;
  cfg.K = K;
  return train::build_layout({*face}, cfg);
}

}  // namespace

TEST_CASE("binding: forward equals the closed form p1 + s1·R1·l, neutral pose bitwise") {
  ToyBinding t = toy_binding(3, 0.02);
  const int G = t.b.G;
  std::vector<double> x(size_t(G) * 3), q(size_t(G) * 4), ls(size_t(G) * 3);
  ffrt::binding::pose_gaussians(0, G, t.b.tri.data(), t.b.bary.data(), t.b.neutral.data(), t.posed.data(), t.x0.data(),
                                t.q0.data(), t.ls0.data(), x.data(), q.data(), ls.data());
  for (int g = 0; g < G; ++g) {
    const double *u[3], *v[3];
    double p0[3], p1[3], R0[9], R1[9], s0, s1;
    ffrt::binding::bound_triangle(t.b.tri.data(), t.b.bary.data(), t.b.neutral.data(), g, u, p0);
    ffrt::binding::bound_triangle(t.b.tri.data(), t.b.bary.data(), t.posed.data(), g, v, p1);
    ffrt::binding::triangle_frame(u[0], u[1], u[2], R0, &s0);
    ffrt::binding::triangle_frame(v[0], v[1], v[2], R1, &s1);
    // frames are rotations: orthonormal, det +1, a1 the normal
    double RtR[9] = {};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 3; ++k) RtR[3 * i + j] += R1[3 * k + i] * R1[3 * k + j];
    for (int i = 0; i < 9; ++i) CHECK(RtR[i] == doctest::Approx(i % 4 == 0 ? 1.0 : 0.0).epsilon(1e-12));
    double l[3], d[3];
    for (int i = 0; i < 3; ++i) d[i] = t.x0[3 * size_t(g) + size_t(i)] - p0[i];
    for (int c = 0; c < 3; ++c) l[c] = (R0[c] * d[0] + R0[3 + c] * d[1] + R0[6 + c] * d[2]) / s0;
    for (int i = 0; i < 3; ++i) {
      const double ref = p1[i] + s1 * (R1[3 * i] * l[0] + R1[3 * i + 1] * l[1] + R1[3 * i + 2] * l[2]);
      CHECK(x[3 * size_t(g) + size_t(i)] == doctest::Approx(ref).epsilon(1e-12));
    }
    // rotation: R(q) = R1 R0ᵀ R(q0)
    const auto Rq = rotation_of(q.data() + 4 * g), Rq0 = rotation_of(t.q0.data() + 4 * g);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        double ref = 0;
        for (int k = 0; k < 3; ++k)
          for (int m = 0; m < 3; ++m) ref += R1[3 * i + k] * R0[3 * m + k] * Rq0[size_t(3 * m + j)];
        CHECK(Rq[size_t(3 * i + j)] == doctest::Approx(ref).epsilon(1e-10));
      }
    for (int i = 0; i < 3; ++i) CHECK(std::exp(ls[3 * size_t(g) + size_t(i)] - t.ls0[3 * size_t(g) + size_t(i)]) == doctest::Approx(s1 / s0));
  }
  // neutral: V1 == V0 gives the inputs back bit for bit
  ffrt::binding::pose_gaussians(0, G, t.b.tri.data(), t.b.bary.data(), t.b.neutral.data(), t.b.neutral.data(),
                                t.x0.data(), t.q0.data(), t.ls0.data(), x.data(), q.data(), ls.data());
  CHECK(x == t.x0);
  CHECK(q == t.q0);
  CHECK(ls == t.ls0);
  // float twin, and the host helper with activated scales
  std::vector<float> xf(t.x0.begin(), t.x0.end()), qf(t.q0.begin(), t.q0.end()), sf(size_t(G) * 3);
  for (size_t i = 0; i < sf.size(); ++i) sf[i] = float(std::exp(t.ls0[i]));
  const auto xf0 = xf, qf0 = qf, sf0 = sf;
  train::pose_gaussians_host(t.b, t.b.neutral, G, xf.data(), qf.data(), sf.data(), 2);
  CHECK(xf == xf0);
  CHECK(qf == qf0);
  CHECK(sf == sf0);
}

TEST_CASE("binding: quaternion of a rotation matrix, every Shepperd branch, and its VJP (f64 FD)") {
  // rotations whose largest quaternion component is w, x, y, z in turn
  const double qs[4][4] = {{0.9, 0.2, -0.3, 0.1}, {0.2, 0.9, 0.3, -0.1}, {-0.1, 0.3, 0.9, 0.2}, {0.2, -0.1, 0.3, 0.9}};
  for (int b = 0; b < 4; ++b) {
    CAPTURE(b);
    const auto M = rotation_of(qs[b]);
    CHECK(ffrt::binding::quat_branch(M.data()) == b);
    double q[4];
    ffrt::binding::rotation_to_quat(M.data(), q);
    const auto M2 = rotation_of(q);
    for (int i = 0; i < 9; ++i) CHECK(M2[size_t(i)] == doctest::Approx(M[size_t(i)]).epsilon(1e-12));
    // VJP against central differences of the formula (M perturbed freely, off the rotation manifold)
    const double dq[4] = {0.3, -0.7, 0.2, 0.5};
    double dM[9] = {};
    ffrt::binding::rotation_to_quat_vjp(M.data(), dq, dM);
    for (int i = 0; i < 9; ++i) {
      auto Mp = M, Mm = M;
      Mp[size_t(i)] += 1e-6;
      Mm[size_t(i)] -= 1e-6;
      double qp[4], qm[4];
      ffrt::binding::rotation_to_quat(Mp.data(), qp);
      ffrt::binding::rotation_to_quat(Mm.data(), qm);
      double fd = 0;
      for (int k = 0; k < 4; ++k) fd += dq[k] * (qp[k] - qm[k]) / 2e-6;
      CHECK(dM[i] == doctest::Approx(fd).epsilon(1e-6));
    }
  }
  // identity → (1,0,0,0) exactly
  const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  double q[4];
  ffrt::binding::rotation_to_quat(I, q);
  CHECK((q[0] == 1.0 && q[1] == 0.0 && q[2] == 0.0 && q[3] == 0.0));
}

TEST_CASE("binding: triangle frame VJP (f64 FD)") {
  const double v[9] = {0.01, -0.02, 0.03, 0.12, 0.01, -0.01, 0.02, 0.09, 0.05};
  const double dR[9] = {0.3, -0.2, 0.5, 0.1, 0.7, -0.4, -0.6, 0.2, 0.9}, ds = 0.8;
  double dv[9] = {};
  ffrt::binding::triangle_frame_vjp(v, v + 3, v + 6, dR, ds, dv, dv + 3, dv + 6);
  for (int i = 0; i < 9; ++i) {
    double vp[9], vm[9];
    for (int k = 0; k < 9; ++k) vp[k] = vm[k] = v[k];
    vp[i] += 1e-7;
    vm[i] -= 1e-7;
    double Rp[9], Rm[9], sp, sm;
    ffrt::binding::triangle_frame(vp, vp + 3, vp + 6, Rp, &sp);
    ffrt::binding::triangle_frame(vm, vm + 3, vm + 6, Rm, &sm);
    double fd = ds * (sp - sm) / 2e-7;
    for (int k = 0; k < 9; ++k) fd += dR[k] * (Rp[k] - Rm[k]) / 2e-7;
    CHECK(dv[i] == doctest::Approx(fd).epsilon(1e-6));
  }
}

TEST_CASE("binding: pose_gaussians op, gradients of posed mesh, means, rotations, log-scales (f64 FD)") {
  for (double deform : {0.0, 0.03}) {
    CAPTURE(deform);
    ToyBinding t = toy_binding(11, deform);
    Context ctx(5, 1);
    const int64_t A = t.b.A, G = t.b.G;
    std::vector<Tensor> in = {testing::f64_leaf(ctx, t.posed, {A, 3}, true), testing::f64_leaf(ctx, t.x0, {G, 3}, true),
                              testing::f64_leaf(ctx, t.q0, {G, 4}, true), testing::f64_leaf(ctx, t.ls0, {G, 3}, true)};
    for (int out = 0; out < 3; ++out) {
      CAPTURE(out);
      testing::gradcheck(
          "pose_gaussians",
          [&](const std::vector<Tensor>& x) {
            train::PosedGaussians p = train::pose_gaussians(t.b, x[0], x[1], x[2], x[3]);
            return out == 0 ? p.means : out == 1 ? p.rotations : p.log_scales;
          },
          in, {1e-6, 1e-7, 1e-5});
    }
  }
}

// The CUDA kernels' algorithm (train/pose_gaussians_cuda.h: per-Gaussian VJP on a local triangle, then a
// per-vertex gather over the CSR lists) run on the host against the host VJP: the same sums in the same order. Runs
// on every machine; the kernels themselves are checked against the host below where there is a GPU.
TEST_CASE("binding: the CUDA backward's algorithm (local VJP + ordered vertex gather) on the host equals the host VJP") {
  std::vector<int32_t> off, ent;
  train::cuda::vertex_entries({0, 1, 2, 2, 1, 3}, 5, off, ent);
  CHECK(off == std::vector<int32_t>{0, 1, 3, 5, 6, 6});
  CHECK(ent == std::vector<int32_t>{0, 1, 4, 2, 3, 5});
  CHECK_THROWS_WITH_AS(train::cuda::vertex_entries({0, 1, 7}, 5, off, ent), doctest::Contains("out of range"), ff::Error);
  for (double deform : {0.0, 0.03}) {
    CAPTURE(deform);
    ToyBinding t = toy_binding(3, deform);
    const int64_t A = t.b.A, G = t.b.G;
    Context ctx(9, 1);
    const std::vector<double> dx = randn(ctx, {G, 3}, DType::F64).to_vector<double>(),
                              dq = randn(ctx, {G, 4}, DType::F64).to_vector<double>(),
                              dls = randn(ctx, {G, 3}, DType::F64).to_vector<double>();
    std::vector<double> dV(size_t(A) * 3, 0.0), dx0(size_t(G) * 3, 0.0), dq0(size_t(G) * 4, 0.0), dls0(size_t(G) * 3, 0.0);
    ffrt::binding::pose_gaussians_vjp(int64_t(0), G, t.b.tri.data(), t.b.bary.data(), t.b.neutral.data(), t.posed.data(),
                                      t.x0.data(), t.q0.data(), dx.data(), dq.data(), dls.data(), dV.data(), dx0.data(),
                                      dq0.data(), dls0.data());
    train::cuda::vertex_entries(t.b.tri, int(A), off, ent);
    train::cuda::DeviceBinding<double> db;
    db.G = G, db.A = int(A), db.tri = t.b.tri.data(), db.bary = t.b.bary.data(), db.neutral = t.b.neutral.data();
    db.offsets = off.data(), db.entries = ent.data();
    std::vector<double> scratch(size_t(G) * 9), kV(size_t(A) * 3, -1.0), kx0(size_t(G) * 3, -1.0),
        kq0(size_t(G) * 4, -1.0), kls0(size_t(G) * 3, -1.0);
    for (int64_t g = 0; g < G; ++g)
      train::cuda::pose_gaussian_vjp_local(db, g, t.posed.data(), t.x0.data(), t.q0.data(), dx.data(), dq.data(),
                                           dls.data(), scratch.data(), kx0.data(), kq0.data(), kls0.data());
    for (int64_t a = 0; a < A; ++a) train::cuda::gather_vertex_grads(db, a, scratch.data(), kV.data());
    auto max_diff = [](const std::vector<double>& a, const std::vector<double>& b) {
      double m = 0;
      for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
      return m;
    };
    CHECK(max_diff(kV, dV) < 1e-12);
    CHECK(max_diff(kx0, dx0) < 1e-12);
    CHECK(max_diff(kq0, dq0) < 1e-12);
    CHECK(max_diff(kls0, dls0) < 1e-12);
  }
}

// The binding op on CUDA (the kernels of train/pose_gaussians.cu) against the host, f32 and f64, forward and every
// gradient. The device's FMA contraction and its logf/sqrt differ from the host's in the last bits, so values agree
// to a few ulps (the neutral pose stays bitwise: an unmoved triangle is copied, runtime/binding.h).
TEST_CASE("binding: pose_gaussians op on CUDA equals the CPU") {
  FF_REQUIRE_CUDA_OR_SKIP();
  ToyBinding t = toy_binding(2, 0.03);
  Context ctx(5, 1);
  const int64_t A = t.b.A, G = t.b.G;
  for (const DType dt : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(dt));
    const double tol = dt == DType::F32 ? 2e-6 : 1e-13;
    auto leaf = [&](const std::vector<double>& v, const Shape& s, Device d) {
      Tensor x = from_vector<double>(ctx, v, s, Device::cpu()).to(dt).to(d);
      x.set_requires_grad(true);
      return x;
    };
    const std::vector<double> wx = randn(ctx, {G, 3}, DType::F64).to_vector<double>(),
                              wq = randn(ctx, {G, 4}, DType::F64).to_vector<double>(),
                              wl = randn(ctx, {G, 3}, DType::F64).to_vector<double>();
    struct Run {
      std::vector<double> x, q, ls, dV, dx0, dq0, dls0;
    };
    auto run = [&](Device d) {
      std::vector<Tensor> in = {leaf(t.posed, {A, 3}, d), leaf(t.x0, {G, 3}, d), leaf(t.q0, {G, 4}, d),
                                leaf(t.ls0, {G, 3}, d)};
      train::PosedGaussians p = train::pose_gaussians(t.b, in[0], in[1], in[2], in[3]);
      auto w = [&](const std::vector<double>& v, const Shape& s) { return from_vector<double>(ctx, v, s).to(dt).to(d); };
      Tensor loss = sum(p.means * w(wx, {G, 3})) + sum(p.rotations * w(wq, {G, 4})) + sum(p.log_scales * w(wl, {G, 3}));
      backward(loss);
      auto host = [](const Tensor& x) { return x.to(Device::cpu()).to(DType::F64).to_vector<double>(); };
      return Run{host(p.means), host(p.rotations), host(p.log_scales), host(in[0].grad()), host(in[1].grad()),
                 host(in[2].grad()), host(in[3].grad())};
    };
    const Run c = run(Device::cpu()), g = run(Device::cuda());
    auto close = [&](const std::vector<double>& a, const std::vector<double>& b) {
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i)
        if (std::abs(a[i] - b[i]) > tol * std::max(1.0, std::abs(a[i]))) return false;
      return true;
    };
    CHECK(close(c.x, g.x));
    CHECK(close(c.q, g.q));
    CHECK(close(c.ls, g.ls));
    CHECK(close(c.dV, g.dV));
    CHECK(close(c.dx0, g.dx0));
    CHECK(close(c.dq0, g.dq0));
    CHECK(close(c.dls0, g.dls0));
  }
  // the neutral pose on the device: the static Gaussians bitwise
  const std::vector<float> x0(t.x0.begin(), t.x0.end()), q0(t.q0.begin(), t.q0.end()), l0(t.ls0.begin(), t.ls0.end());
  train::PosedGaussians n = train::pose_gaussians(
      t.b, from_vector<float>(ctx, std::vector<float>(t.b.neutral.begin(), t.b.neutral.end()), {A, 3}, Device::cuda()),
      from_vector<float>(ctx, x0, {G, 3}, Device::cuda()), from_vector<float>(ctx, q0, {G, 4}, Device::cuda()),
      from_vector<float>(ctx, l0, {G, 3}, Device::cuda()));
  CHECK(n.means.to_vector<float>() == x0);
  CHECK(n.rotations.to_vector<float>() == q0);
  CHECK(n.log_scales.to_vector<float>() == l0);
}

TEST_CASE("rig: built-in head — zero parameters bitwise, jaw moves the chin only, global rotation is rigid") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  // an identity: random shape, the tracked neutral of preprocessing
  std::vector<double> beta(10);
  for (int i = 0; i < 10; ++i) beta[size_t(i)] = std::sin(1.7 * i + 0.3);
  const std::vector<double> neutral = neutral_of(hm, beta);
  train::HeadRig rig(hm, neutral);
  CHECK(rig.posed_head(train::RigPose{}) == neutral);
  CHECK(rig.posed_face(train::RigPose{}) == rig.neutral_face());

  // the identity's layout and positions, recovered back to the neutral head
  flame::Mesh face;
  const train::SurfaceLayout lay = layout_on(hm, neutral, 4, &face);
  const std::vector<float> xyz = lay.place(face);
  const std::vector<double> rec = train::neutral_head_from_positions(hm, lay, xyz);
  REQUIRE(rec.size() == neutral.size());
  double worst = 0;
  for (size_t i = 0; i < rec.size(); ++i) worst = std::max(worst, std::abs(rec[i] - neutral[i]));
  CHECK(worst < 1e-6);  // float positions: ~1e-7 m

  train::HeadRig rig2(hm, rec);
  const train::GaussianBinding b = train::GaussianBinding::from_layout(lay, rig2.neutral_face());
  const int64_t G = lay.G;
  std::vector<float> x = xyz, q(size_t(G) * 4), s(size_t(G) * 3, 0.004f);
  for (int64_t g = 0; g < G; ++g) {
    q[4 * size_t(g)] = 1.f;
    q[4 * size_t(g) + 1] = 0.1f * float(g % 7) - 0.3f;
    q[4 * size_t(g) + 2] = 0.05f * float(g % 5);
  }
  {
    auto x1 = x, q1 = q, s1 = s;
    train::pose_gaussians_host(b, rig2.posed_face(train::RigPose{}), G, x1.data(), q1.data(), s1.data());
    CHECK(x1 == x);
    CHECK(q1 == q);
    CHECK(s1 == s);
  }
  {  // jaw open: the chin (lowest Gaussians) moves down, the forehead (highest) stays
    train::RigPose p;
    p.pose[3 * flame::kJaw] = 0.25;
    auto x1 = x, q1 = q, s1 = s;
    train::pose_gaussians_host(b, rig2.posed_face(p), G, x1.data(), q1.data(), s1.data());
    int64_t lo = 0, hi = 0;
    for (int64_t g = 0; g < G; ++g) {
      if (x[3 * size_t(g) + 1] < x[3 * size_t(lo) + 1]) lo = g;
      if (x[3 * size_t(g) + 1] > x[3 * size_t(hi) + 1]) hi = g;
    }
    CHECK(x1[3 * size_t(lo) + 1] < x[3 * size_t(lo) + 1] - 0.005f);
    for (int c = 0; c < 3; ++c) CHECK(x1[3 * size_t(hi) + size_t(c)] == doctest::Approx(x[3 * size_t(hi) + size_t(c)]).epsilon(1e-6));
  }
  {  // a global rotation moves every Gaussian rigidly: x' = R·x + c, R(q') = R·R(q), scales kept
    train::RigPose p;
    const double r[3] = {0.3, -0.5, 0.2};
    for (int i = 0; i < 3; ++i) p.pose[size_t(i)] = r[i];
    p.translation = {0.01, -0.02, 0.03};
    double R[9];
    flame::rodrigues(r, R);
    auto x1 = x, q1 = q, s1 = s;
    const std::vector<double> ph = rig2.posed_head(p);
    double c[3];
    for (int i = 0; i < 3; ++i) c[i] = ph[size_t(i)] - (R[3 * i] * rec[0] + R[3 * i + 1] * rec[1] + R[3 * i + 2] * rec[2]);
    train::pose_gaussians_host(b, rig2.posed_face(p), G, x1.data(), q1.data(), s1.data());
    double wx = 0, wq = 0, ws = 0;
    for (int64_t g = 0; g < G; ++g) {
      const float* a = x.data() + 3 * g;
      for (int i = 0; i < 3; ++i)
        wx = std::max(wx, std::abs(double(x1[3 * size_t(g) + size_t(i)]) - (R[3 * i] * a[0] + R[3 * i + 1] * a[1] + R[3 * i + 2] * a[2] + c[i])));
      const double qa[4] = {q[4 * size_t(g)], q[4 * size_t(g) + 1], q[4 * size_t(g) + 2], q[4 * size_t(g) + 3]};
      const double qb[4] = {q1[4 * size_t(g)], q1[4 * size_t(g) + 1], q1[4 * size_t(g) + 2], q1[4 * size_t(g) + 3]};
      const auto Ra = rotation_of(qa), Rb = rotation_of(qb);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          double ref = 0;
          for (int k = 0; k < 3; ++k) ref += R[3 * i + k] * Ra[size_t(3 * k + j)];
          wq = std::max(wq, std::abs(Rb[size_t(3 * i + j)] - ref));
        }
      for (int i = 0; i < 3; ++i) ws = std::max(ws, std::abs(double(s1[3 * size_t(g) + size_t(i)]) / 0.004 - 1));
    }
    CHECK(wx < 2e-6);
    CHECK(wq < 1e-5);
    CHECK(ws < 1e-5);
  }
}

// The rig's face as an autograd op (fit_image's expression refinement): the host rig's posed face, zero
// parameters bitwise, and f64 central-difference gradients wrt the expression and the joint pose.
TEST_CASE("rig: HeadRigTensors posed face equals the host rig, gradients wrt expression and pose (f64 FD)") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  std::vector<double> beta(10);
  for (int i = 0; i < 10; ++i) beta[size_t(i)] = std::sin(1.3 * i + 0.7);
  train::HeadRig rig(hm, neutral_of(hm, beta));
  Context ctx(3, 1);
  const train::HeadRigTensors rt(ctx, rig, Device::cpu(), DType::F64);
  REQUIRE(rt.A() == int(rig.face_vertex_ids().size()));
  const int E = hm.E, J3 = hm.J * 3;
  // zero parameters: the neutral face bit for bit
  CHECK(rt.posed_face(zeros(ctx, {1, E}, DType::F64), Tensor()).to_vector<double>() == rig.neutral_face());
  train::RigPose p;
  p.expression.assign(size_t(E), 0.0);
  for (int k = 0; k < E; ++k) p.expression[size_t(k)] = 0.3 * std::cos(0.9 * k + 0.2);
  for (int k = 3; k < J3; ++k) p.pose[size_t(k)] = 0.08 * std::sin(1.1 * k + 0.4);  // neck, jaw, eyes (no global)
  p.pose[size_t(3 * flame::kJaw)] = 0.2;
  const std::vector<double> host = rig.posed_face(p);
  const std::vector<double> ten = rt.posed_face(from_vector<double>(ctx, p.expression, {1, E}),
                                                from_vector<double>(ctx, std::vector<double>(p.pose.begin(), p.pose.end()),
                                                                    {1, J3})).to_vector<double>();
  REQUIRE(ten.size() == host.size());
  double worst = 0;
  for (size_t i = 0; i < host.size(); ++i) worst = std::max(worst, std::abs(ten[i] - host[i]));
  CHECK(worst < 1e-12);
  std::vector<Tensor> in = {testing::f64_leaf(ctx, p.expression, {1, E}, true),
                            testing::f64_leaf(ctx, std::vector<double>(p.pose.begin(), p.pose.end()), {1, J3}, true)};
  testing::gradcheck("HeadRigTensors::posed_face",
                     [&](const std::vector<Tensor>& x) { return rt.posed_face(x[0], x[1]); }, in, {1e-6, 1e-7, 1e-5});
}

TEST_CASE("rig: the rigid rotation and translation act about the canonical origin, after the head model") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  train::HeadRig rig(hm, hm.v_template);
  train::RigPose p;
  const double r[3] = {0.1, 0.7, -0.2};
  double R[9];
  flame::rodrigues(r, R);
  for (int i = 0; i < 9; ++i) p.rotation[size_t(i)] = R[i];
  p.translation = {0.1, 0.2, -0.3};
  const std::vector<double> v = rig.posed_head(p);
  for (int k = 0; k < hm.V; k += 37)
    for (int i = 0; i < 3; ++i) {
      const double* a = hm.v_template.data() + 3 * k;
      CHECK(v[3 * size_t(k) + size_t(i)] ==
            doctest::Approx(R[3 * i] * a[0] + R[3 * i + 1] * a[1] + R[3 * i + 2] * a[2] + p.translation[size_t(i)]).epsilon(1e-12));
    }
}

TEST_CASE("rig: refusals name what is wrong") {
  const flame::FlameModel& hm = flame::builtin_head_model_ref();
  CHECK_THROWS_WITH(train::HeadRig(hm, std::vector<double>(9, 0.0)), doctest::Contains("vertices"));
  train::HeadRig rig(hm, hm.v_template);
  train::RigPose p;
  p.expression.assign(size_t(hm.E) + 1, 0.0);
  CHECK_THROWS_WITH(rig.posed_head(p), doctest::Contains("expression coefficients"));
  train::SurfaceLayout seed;
  seed.placement = "seed";
  CHECK_THROWS_WITH(train::GaussianBinding::from_layout(seed, {}), doctest::Contains("uv"));
}

TEST_CASE("rig: a FLAME-structured model whose face mask is part of the head — the rest comes from the shape basis") {
  flame::FlameLoadOptions lo;
  lo.expr_offset = 10;  // tests/reference/flame_make_fixtures.py S_SHAPE
  flame::FlameModel m = flame::load_flame_model(testing::fixture_path("flame_model_2020.pkl"), lo);
  flame::load_flame_masks(m, testing::fixture_path("flame_masks.pkl"));
  flame::load_uv_obj(m, testing::fixture_path("flame_head_template.obj"));
  const std::vector<int32_t> ids = train::face_mask_vertex_ids(m);
  REQUIRE(ids.size() < size_t(m.V));
  std::vector<double> beta(size_t(m.S));
  for (int i = 0; i < m.S; ++i) beta[size_t(i)] = 0.8 * std::cos(0.9 * i + 0.4);
  const std::vector<double> neutral = neutral_of(m, beta);
  flame::Mesh face;
  const train::SurfaceLayout lay = layout_on(m, neutral, 6, &face);
  const std::vector<double> rec = train::neutral_head_from_positions(m, lay, lay.place(face));
  double worst_face = 0, worst_rest = 0;
  std::vector<uint8_t> in_face(size_t(m.V), 0);
  for (int32_t v : ids) in_face[size_t(v)] = 1;
  for (int v = 0; v < m.V; ++v)
    for (int c = 0; c < 3; ++c) {
      const double e = std::abs(rec[3 * size_t(v) + size_t(c)] - neutral[3 * size_t(v) + size_t(c)]);
      (in_face[size_t(v)] ? worst_face : worst_rest) = std::max(in_face[size_t(v)] ? worst_face : worst_rest, e);
    }
  CHECK(worst_face < 1e-5);
  CHECK(worst_rest < 1e-4);
  // a posed rig of it: zero parameters bitwise
  train::HeadRig rig(m, rec);
  CHECK(rig.posed_face(train::RigPose{}) == rig.neutral_face());
}
