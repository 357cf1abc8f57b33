// Finite-difference checks (double) of every hand-written FLAME VJP: shape, expression, pose, translation,
// scale, static offset; Rodrigues; landmarks; pinhole projection. Central differences, eps = 1e-6.
#include <cmath>
#include <cstdio>
#include <functional>

#include "core/rng.h"
#include "flame/flame.h"
#include "flame/landmarks.h"
#include "tests/flame/flame_test_util.h"

using namespace ff;
using namespace ff::flame;

namespace {

constexpr double kEps = 1e-6;
// Worst relative error measured on the fixture model: ~1e-9 (double, central differences).
constexpr double kTol = 1e-6;

std::vector<double> randn(uint64_t seed, size_t n, double s) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = s * rng::normal_at(seed, i);
  return v;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Compare analytic gradient g of f at x against central differences; returns worst relative error.
double fd_check(std::vector<double>& x, const std::vector<double>& g, const std::function<double()>& f, const char* what) {
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double x0 = x[i];
    x[i] = x0 + kEps;
    double fp = f();
    x[i] = x0 - kEps;
    double fm = f();
    x[i] = x0;
    double fd = (fp - fm) / (2 * kEps);
    double err = std::fabs(fd - g[i]) / std::max(1.0, std::fabs(fd));
    worst = std::max(worst, err);
  }
  std::printf("FD %-16s n=%3zu worst rel err %.2e\n", what, x.size(), worst);
  return worst;
}

FlameModel fixture_model() {
  FlameLoadOptions o;
  o.expr_offset = flame_test::kFixtureShapeColumns;
  FlameModel m = load_flame_model(testing::fixture_path("flame_model_2023_p4.pkl"), o);
  m.static_landmarks = load_static_embedding(testing::fixture_path("flame_static_embedding.pkl"));
  m.dynamic_landmarks = load_dynamic_embedding(testing::fixture_path("flame_dynamic_embedding.npy"));
  return m;
}

}  // namespace

TEST_CASE("FLAME backward: finite differences for shape, expr, pose, translation, scale, static offset") {
  FlameModel m = fixture_model();
  const int B = 2, V = m.V, J = m.J;
  std::vector<double> shape = randn(1, size_t(B) * 10, 1.0), expr = randn(2, size_t(B) * 5, 1.0),
                      pose = randn(3, size_t(B) * J * 3, 0.4), trans = randn(4, size_t(B) * 3, 0.1),
                      scale = {1.2, 0.7}, offset = randn(5, size_t(V) * 3, 0.01);
  std::vector<double> dv = randn(6, size_t(B) * V * 3, 1.0), dj = randn(7, size_t(B) * J * 3, 1.0);
  FlameInput<double> in;
  in.batch = B;
  in.n_shape = 10;
  in.n_expr = 5;
  in.shape = shape.data();
  in.expr = expr.data();
  in.pose = pose.data();
  in.translation = trans.data();
  in.scale = scale.data();
  in.static_offset = offset.data();
  auto loss = [&]() {
    FlameOutput<double> out;
    flame_fwd(m, in, out, nullptr, 2);
    return dot(out.vertices, dv) + dot(out.joints, dj);
  };
  FlameOutput<double> out;
  FlameCache<double> cache;
  flame_fwd(m, in, out, &cache, 2);
  FlameGrads<double> g;
  flame_bwd(m, in, cache, dv.data(), dj.data(), g, 2);
  CHECK(fd_check(shape, g.d_shape, loss, "shape") < kTol);
  CHECK(fd_check(expr, g.d_expr, loss, "expression") < kTol);
  CHECK(fd_check(pose, g.d_pose, loss, "pose") < kTol);
  CHECK(fd_check(trans, g.d_translation, loss, "translation") < kTol);
  CHECK(fd_check(scale, g.d_scale, loss, "scale") < kTol);
  CHECK(fd_check(offset, g.d_static_offset, loss, "static_offset") < kTol);

  // backward accumulates
  FlameGrads<double> g2 = g;
  flame_bwd(m, in, cache, dv.data(), dj.data(), g2, 1);
  for (size_t i = 0; i < g.d_pose.size(); ++i) CHECK(g2.d_pose[i] == doctest::Approx(2 * g.d_pose[i]).epsilon(1e-12));
  // thread count does not change the result beyond rounding of the chunked sums
  FlameGrads<double> g1;
  flame_bwd(m, in, cache, dv.data(), dj.data(), g1, 1);
  for (size_t i = 0; i < g.d_shape.size(); ++i) CHECK(g1.d_shape[i] == doctest::Approx(g.d_shape[i]).epsilon(1e-12));

  // float backward agrees with double
  std::vector<float> fshape(shape.begin(), shape.end()), fexpr(expr.begin(), expr.end()), fpose(pose.begin(), pose.end()),
      ftrans(trans.begin(), trans.end()), fscale(scale.begin(), scale.end()), foff(offset.begin(), offset.end()),
      fdv(dv.begin(), dv.end()), fdj(dj.begin(), dj.end());
  FlameInput<float> fi;
  fi.batch = B;
  fi.n_shape = 10;
  fi.n_expr = 5;
  fi.shape = fshape.data();
  fi.expr = fexpr.data();
  fi.pose = fpose.data();
  fi.translation = ftrans.data();
  fi.scale = fscale.data();
  fi.static_offset = foff.data();
  FlameOutput<float> fo;
  FlameCache<float> fc;
  flame_fwd(m, fi, fo, &fc);
  FlameGrads<float> fg;
  flame_bwd(m, fi, fc, fdv.data(), fdj.data(), fg);
  for (size_t i = 0; i < g.d_pose.size(); ++i) CHECK(double(fg.d_pose[i]) == doctest::Approx(g.d_pose[i]).epsilon(1e-4));
}

TEST_CASE("Rodrigues VJP: finite differences over angles from 1e-3 to 3 rad") {
  for (double mag : {1e-3, 0.1, 1.0, 3.0}) {
    std::vector<double> r = randn(uint64_t(mag * 1000) + 11, 3, 1.0);
    double n = std::sqrt(dot(r, r));
    for (double& x : r) x *= mag / n;
    std::vector<double> dR = randn(12, 9, 1.0);
    std::vector<double> g(3, 0.0);
    rodrigues_vjp(r.data(), dR.data(), g.data());
    auto f = [&]() {
      double R[9];
      rodrigues(r.data(), R);
      return dot(std::vector<double>(R, R + 9), dR);
    };
    CHECK(fd_check(r, g, f, "rodrigues") < kTol);
  }
}

TEST_CASE("landmarks and projection VJPs: finite differences") {
  FlameModel m = fixture_model();
  const int B = 2;
  std::vector<double> pose = randn(21, size_t(B) * m.J * 3, 0.3);
  LandmarkSet set = make_landmark_set<double>(m, LandmarkScheme::Contour68, pose.data(), B);
  CHECK(set.count == 68);
  std::vector<double> verts = randn(22, size_t(B) * m.V * 3, 0.1);
  for (size_t i = 2; i < verts.size(); i += 3) verts[i] += 1.0;  // in front of the camera
  std::vector<double> dl = randn(23, size_t(B) * set.count * 3, 1.0);
  std::vector<double> g(verts.size(), 0.0);
  landmarks_bwd(m, set, dl.data(), g.data());
  auto f = [&]() {
    std::vector<double> l(size_t(B) * set.count * 3);
    landmarks_fwd(m, set, verts.data(), l.data());
    return dot(l, dl);
  };
  CHECK(fd_check(verts, g, f, "landmarks") < kTol);

  PinholeCamera<double> cam;
  cam.fx = 1100;
  cam.fy = 1050;
  cam.cx = 550;
  cam.cy = 800;
  double Rz[9];
  double rv[3] = {0.1, -0.2, 0.05};
  rodrigues(rv, Rz);
  std::copy(Rz, Rz + 9, cam.R);
  cam.t[2] = 0.5;
  int n = 20;
  std::vector<double> pts(verts.begin(), verts.begin() + n * 3);
  std::vector<double> duv = randn(24, size_t(n) * 2, 1.0);
  std::vector<double> gp(pts.size(), 0.0), gR(9, 0.0), gt(3, 0.0);
  project_points_vjp(cam, pts.data(), n, duv.data(), gp.data(), gR.data(), gt.data());
  auto fp = [&]() {
    std::vector<double> uv(size_t(n) * 2);
    project_points(cam, pts.data(), n, uv.data());
    return dot(uv, duv) * 1e-3;  // pixels: scale down so FD rounding stays small
  };
  for (double& x : gp) x *= 1e-3;
  for (double& x : gR) x *= 1e-3;
  for (double& x : gt) x *= 1e-3;
  CHECK(fd_check(pts, gp, fp, "project points") < kTol);
  std::vector<double> Rv(cam.R, cam.R + 9), tv(cam.t, cam.t + 3);
  auto fR = [&]() {
    std::copy(Rv.begin(), Rv.end(), cam.R);
    std::copy(tv.begin(), tv.end(), cam.t);
    return fp();
  };
  CHECK(fd_check(Rv, gR, fR, "project R") < kTol);
  CHECK(fd_check(tv, gt, fR, "project t") < kTol);
  std::vector<double> behind = {0, 0, -1};
  std::vector<double> uv(2);
  CHECK(flame_test::throws_with([&] { project_points(cam, behind.data(), 1, uv.data()); }, {"behind the camera"}));
}

TEST_CASE("dynamic contour bin follows smplx's yaw rule") {
  double pose[15] = {0};
  CHECK(dynamic_landmark_bin(pose, 5) == 0);
  pose[1] = -20.0 * M_PI / 180;  // global yaw −20° → −yaw = +20
  CHECK(dynamic_landmark_bin(pose, 5) == 20);
  pose[1] = 25.0 * M_PI / 180;  // → y = −25 → 39 + 25 = 64
  CHECK(dynamic_landmark_bin(pose, 5) == 64);
  pose[1] = 60.0 * M_PI / 180;  // y < −39 → 78
  CHECK(dynamic_landmark_bin(pose, 5) == 78);
  pose[1] = -60.0 * M_PI / 180;  // clamp to 39
  CHECK(dynamic_landmark_bin(pose, 5) == 39);
  pose[1] = -10.0 * M_PI / 180;
  pose[4] = -10.0 * M_PI / 180;  // neck adds
  CHECK(dynamic_landmark_bin(pose, 5) == 20);
}
