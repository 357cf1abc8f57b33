// train/fit/landmark_fit.cpp — Levenberg–Marquardt head-model fit to 68 landmarks (see landmark_fit.h).
#include "train/fit/landmark_fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/check.h"
#include "flame/landmarks.h"

namespace ff::fit {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr int kL = 68;
using Mat3 = std::array<double, 9>;

Mat3 matmul3(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return c;
}
Mat3 rodrigues3(const double w[3]) {
  double th = std::sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
  Mat3 R{1, 0, 0, 0, 1, 0, 0, 0, 1};
  if (th < 1e-12) return R;
  double k[3] = {w[0] / th, w[1] / th, w[2] / th}, s = std::sin(th), c = 1 - std::cos(th);
  double K[9] = {0, -k[2], k[1], k[2], 0, -k[0], -k[1], k[0], 0};
  double K2[9] = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int l = 0; l < 3; ++l) K2[i * 3 + j] += K[i * 3 + l] * K[l * 3 + j];
  for (int i = 0; i < 9; ++i) R[i] += s * K[i] + c * K2[i];
  return R;
}
Mat3 rot_x(double a) { return {1, 0, 0, 0, std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a)}; }
Mat3 rot_y(double a) { return {std::cos(a), 0, std::sin(a), 0, 1, 0, -std::sin(a), 0, std::cos(a)}; }
Mat3 rot_z(double a) { return {std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a), 0, 0, 0, 1}; }

flame::PinholeCamera<double> pinhole(const Intrinsics& K, const Mat3& R, const std::array<double, 3>& t) {
  flame::PinholeCamera<double> c;
  c.fx = K.fx;
  c.fy = K.fy;
  c.cx = K.cx - 0.5;  // splat (edge) → OpenCV (centre) pixel coordinates
  c.cy = K.cy - 0.5;
  std::copy(R.begin(), R.end(), c.R);
  std::copy(t.begin(), t.end(), c.t);
  return c;
}

// Evaluates the canonical model and its landmark Jacobian wrt (β[0..n), ψ[0..ne), jaw_x).
struct ModelEval {
  std::vector<double> verts, lmk;  // [V,3], [L,3] (L = the set's points)
  std::vector<double> jac;         // [L*3, n+ne+1]
};

void eval_model(const flame::FlameModel& m, const flame::LandmarkSet& set, const std::vector<double>& beta,
                const std::vector<double>& expr, double jaw, bool jacobian, ModelEval& out, int threads) {
  const int n = int(beta.size()), ne = int(expr.size()), P = n + ne + 1;
  double pose[15] = {};
  pose[3 * flame::kJaw] = jaw;
  flame::FlameInput<double> in;
  in.batch = 1;
  in.n_shape = n;
  in.n_expr = ne;
  in.shape = n ? beta.data() : nullptr;
  in.expr = ne ? expr.data() : nullptr;
  in.pose = pose;
  flame::FlameOutput<double> fo;
  flame::FlameCache<double> cache;
  flame::flame_fwd(m, in, fo, jacobian ? &cache : nullptr, threads);
  out.verts = fo.vertices;
  const int L = set.count;
  out.lmk.assign(size_t(L) * 3, 0.0);
  flame::landmarks_fwd(m, set, out.verts.data(), out.lmk.data());
  if (!jacobian) return;
  out.jac.assign(size_t(L) * 3 * P, 0.0);
  std::vector<double> d_l(size_t(L) * 3, 0.0), d_v(out.verts.size(), 0.0);
  flame::FlameGrads<double> g;
  for (int r = 0; r < L * 3; ++r) {
    std::fill(d_l.begin(), d_l.end(), 0.0);
    d_l[r] = 1.0;
    // only the landmark's triangle vertices are non-zero: clear them after use
    flame::landmarks_bwd(m, set, d_l.data(), d_v.data());
    g.d_shape.assign(n, 0.0);
    g.d_pose.assign(15, 0.0);
    g.d_translation.assign(3, 0.0);
    g.d_scale.assign(1, 0.0);
    g.d_expr.assign(ne, 0.0);
    flame::flame_bwd(m, in, cache, d_v.data(), nullptr, g, threads);
    double* row = &out.jac[size_t(r) * P];
    for (int k = 0; k < n; ++k) row[k] = g.d_shape[k];
    for (int k = 0; k < ne; ++k) row[n + k] = g.d_expr[k];
    row[n + ne] = g.d_pose[3 * flame::kJaw];
    const int f = set.face_idx[r / 3];
    for (int c = 0; c < 3; ++c) {
      int v = m.faces[size_t(f) * 3 + c];
      d_v[size_t(v) * 3] = d_v[size_t(v) * 3 + 1] = d_v[size_t(v) * 3 + 2] = 0.0;
    }
  }
}

struct State {
  Mat3 R;
  std::array<double, 3> t;
  std::vector<double> beta, expr;
  double jaw = 0;
};

}  // namespace

Intrinsics Intrinsics::scaled(double s) const {
  Intrinsics k = *this;
  k.fx *= s;
  k.fy *= s;
  k.cx *= s;
  k.cy *= s;
  k.width = int(std::lround(width * s));
  k.height = int(std::lround(height * s));
  return k;
}

Intrinsics default_intrinsics(int W, int H, double vfov) {
  Intrinsics k;
  k.width = W;
  k.height = H;
  k.fy = k.fx = 0.5 * H / std::tan(0.5 * vfov * kPi / 180.0);
  k.cx = 0.5 * W;
  k.cy = 0.5 * H;
  char buf[96];
  std::snprintf(buf, sizeof buf, "default %.0f deg vertical field of view -> %.1f px", vfov, k.fx);
  k.source = buf;
  return k;
}

std::vector<std::string> fit_warnings(const Landmarks68& lmk, const HeadFit& h) {
  std::vector<std::string> w;
  char buf[256];
  const LandmarkShape s = landmark_shape(lmk.xy);
  if (s.mirrored)
    w.push_back("the landmarks are mirrored (left-right swapped: the subject's right eye, points 36-41, is on the "
                "image's right); the fit is unreliable: check the landmark file");
  if (std::abs(h.yaw_deg) > kMaxPlausibleYawDeg) {
    std::snprintf(buf, sizeof buf, "fitted head yaw %.0f deg is implausible for 68 frontal landmarks (beyond +-%.0f%s)",
                  h.yaw_deg, kMaxPlausibleYawDeg, std::abs(h.yaw_deg) > 90 ? ": the head faces away from the camera" : "");
    w.push_back(buf);
  }
  if (std::abs(h.pitch_deg) > kMaxPlausiblePitchDeg) {
    std::snprintf(buf, sizeof buf, "fitted head pitch %.0f deg is implausible (beyond +-%.0f)", h.pitch_deg,
                  kMaxPlausiblePitchDeg);
    w.push_back(buf);
  }
  if (s.interocular_px > 0 && h.rms_px > 0.15 * s.interocular_px) {
    std::snprintf(buf, sizeof buf, "landmark fit error %.1f px rms is %.0f%% of the eye distance (%.1f px): the "
                  "landmarks do not fit a head", h.rms_px, 100 * h.rms_px / s.interocular_px, s.interocular_px);
    w.push_back(buf);
  }
  return w;
}

Intrinsics photo_intrinsics(const Photo& p, double vfov) {
  Intrinsics k = default_intrinsics(p.width(), p.height(), vfov);
  std::string how;
  double f = exif_focal_px(p.exif, p.width(), p.height(), &how);
  if (f > 0 && std::isfinite(f)) {
    k.fx = k.fy = f;
    k.source = how;
  }
  return k;
}

std::array<double, 9> head_rotation(double yaw, double pitch, double roll) {
  const Mat3 F{1, 0, 0, 0, -1, 0, 0, 0, -1};
  const double d = kPi / 180.0;
  return matmul3(F, matmul3(rot_y(yaw * d), matmul3(rot_x(pitch * d), rot_z(roll * d))));
}

std::array<double, 16> HeadFit::viewmat() const {
  return {R[0], R[1], R[2], t[0], R[3], R[4], R[5], t[1], R[6], R[7], R[8], t[2], 0, 0, 0, 1};
}

train::RigPose HeadFit::rig_pose() const {
  train::RigPose p;
  p.expression = expression;
  p.pose[3 * flame::kJaw] = jaw;
  return p;
}

std::vector<double> model_landmarks(const flame::FlameModel& m, const std::vector<double>& shape, double jaw,
                                    std::vector<double>* vertices, const std::vector<double>& expression) {
  auto set = flame::make_landmark_set<double>(m, flame::LandmarkScheme::Contour68, nullptr, 1);
  FF_CHECK(set.count == kL, "head model: the Contour68 landmark set has ", set.count, " points");
  FF_CHECK(int(expression.size()) <= m.E, "model_landmarks: ", expression.size(), " expression coefficients, the ",
           "head model has ", m.E);
  ModelEval e;
  eval_model(m, set, shape, expression, jaw, false, e, 1);
  if (vertices) *vertices = e.verts;
  return e.lmk;
}

std::vector<double> project_px(const Intrinsics& K, const std::array<double, 9>& R, const std::array<double, 3>& t,
                               const std::vector<double>& pts) {
  auto cam = pinhole(K, R, t);
  std::vector<double> uv(pts.size() / 3 * 2);
  flame::project_points(cam, pts.data(), int(pts.size() / 3), uv.data());
  return uv;
}

void update_head_fit(HeadFit& h, const flame::FlameModel& m, const Landmarks68& obs) {
  std::vector<double> lmk = model_landmarks(m, h.shape, h.jaw, &h.vertices, h.expression);
  auto uv = project_px(h.K, h.R, h.t, lmk);
  double se = 0, sum = 0, mx = 0, inner = 0;
  for (int l = 0; l < kL; ++l) {
    h.projected[l * 2] = uv[l * 2];
    h.projected[l * 2 + 1] = uv[l * 2 + 1];
    double e = std::hypot(uv[l * 2] - obs.xy[l * 2], uv[l * 2 + 1] - obs.xy[l * 2 + 1]);
    se += e * e, sum += e, mx = std::max(mx, e);
    if (l >= 17) inner += e / 51.0;
  }
  h.rms_px = std::sqrt(se / kL);
  h.mean_px = sum / kL;
  h.max_px = mx;
  h.mean_px_inner = inner;
}

HeadFit fit_head(const flame::FlameModel& m, const Landmarks68& obs, const Intrinsics& K, const HeadFitOptions& o,
                 const VertexObservations& extra) {
  FF_CHECK(K.fx > 0 && K.fy > 0, "fit_head: invalid intrinsics");
  FF_CHECK(m.J == flame::kFlameJoints, "fit_head: the head model needs FLAME's 5 joints");
  const int n = std::min(o.n_shape, m.S);
  const int ne = std::max(0, std::min(o.n_expr, m.E));
  FF_CHECK(ne == 0 || o.expr_reg > 0, "fit_head: expression coefficients need a prior (expr_reg > 0), got ", o.expr_reg);
  auto set = flame::make_landmark_set<double>(m, flame::LandmarkScheme::Contour68, nullptr, 1);
  FF_CHECK(set.count == kL, "fit_head: the head model has no 68-point landmark scheme (", set.count, ")");
  // the observed vertices join the set as points with one-hot barycentric coordinates on a triangle of theirs
  const int NX = int(extra.vertex.size());
  FF_CHECK(extra.xy.size() == size_t(NX) * 2, "fit_head: ", NX, " observed vertices but ", extra.xy.size() / 2,
           " positions");
  FF_CHECK(NX == 0 || extra.weight >= 0, "fit_head: vertex observations' weight ", extra.weight);
  if (NX) {
    std::vector<int> face_of(size_t(m.V), -1), corner_of(size_t(m.V), 0);
    for (int f = 0; f < int(m.faces.size() / 3); ++f)
      for (int c = 0; c < 3; ++c) {
        const int v = m.faces[size_t(f) * 3 + c];
        if (face_of[size_t(v)] < 0) face_of[size_t(v)] = f, corner_of[size_t(v)] = c;
      }
    for (int k = 0; k < NX; ++k) {
      const int v = extra.vertex[size_t(k)];
      FF_CHECK(v >= 0 && v < m.V && face_of[size_t(v)] >= 0, "fit_head: observed vertex ", v, " is not on the ",
               "model's mesh (", m.V, " vertices)");
      set.face_idx.push_back(face_of[size_t(v)]);
      for (int c = 0; c < 3; ++c) set.bary.push_back(c == corner_of[size_t(v)] ? 1.0 : 0.0);
    }
    set.count += NX;
  }
  const int L = set.count;
  std::vector<double> obs_xy(obs.xy.begin(), obs.xy.end());
  obs_xy.insert(obs_xy.end(), extra.xy.begin(), extra.xy.end());

  // normalisation: σ from the landmark box
  double x0 = 1e30, y0 = 1e30, x1 = -1e30, y1 = -1e30, cu = 0, cv = 0;
  for (int l = 0; l < kL; ++l) {
    double u = obs.xy[l * 2], v = obs.xy[l * 2 + 1];
    x0 = std::min(x0, u), x1 = std::max(x1, u), y0 = std::min(y0, v), y1 = std::max(y1, v);
  }
  const double diag = std::hypot(x1 - x0, y1 - y0);
  FF_CHECK(diag > 4, "fit_head: degenerate landmarks (box diagonal ", diag, " px)");
  const double sigma = std::max(1.5, 0.01 * diag);

  // mean-shape canonical landmarks for the initialisation
  ModelEval e0;
  eval_model(m, set, std::vector<double>(n, 0.0), {}, 0.0, false, e0, o.threads);
  double c3[3] = {}, spread3 = 0, spread2 = 0;
  for (int l = 17; l < kL; ++l)
    for (int c = 0; c < 3; ++c) c3[c] += e0.lmk[l * 3 + c] / 51.0;
  for (int l = 17; l < kL; ++l) {
    cu += obs.xy[l * 2] / 51.0;
    cv += obs.xy[l * 2 + 1] / 51.0;
  }
  for (int l = 17; l < kL; ++l) {
    spread3 += std::hypot(e0.lmk[l * 3] - c3[0], e0.lmk[l * 3 + 1] - c3[1]);
    spread2 += std::hypot(obs.xy[l * 2] - cu, obs.xy[l * 2 + 1] - cv);
  }
  const double z0 = 0.5 * (K.fx + K.fy) * spread3 / std::max(spread2, 1e-9);

  // residuals/Jacobian for one state. mode 0: rigid (6 params, static points); mode 1: all.
  auto weights = [&](const State& s, bool rigid, std::vector<double>& w) {
    w.assign(size_t(L), 1.0);
    for (int l = kL; l < L; ++l) w[size_t(l)] = rigid ? 0.0 : extra.weight;
    for (int l = 0; l < 17; ++l) {
      if (rigid) {
        w[l] = 0.0;
        continue;
      }
      // the side of the face this contour point is on, turned into the camera frame: z > 0 = facing away
      double side = l < 8 ? -1.0 : l > 8 ? 1.0 : 0.0;
      double away = side * s.R[6];  // (R · (side, 0, 0)).z
      double fade = o.contour_on_silhouette ? std::clamp(1.0 - away / std::sin(35.0 * kPi / 180.0), 0.0, 1.0) : 1.0;
      w[l] = o.contour_weight * fade;
    }
  };

  const int P_full = 6 + n + ne + 1;  // ω, t, β, ψ, jaw
  auto evaluate = [&](const State& s, bool rigid, bool jac, Eigen::VectorXd& r, Eigen::MatrixXd& J,
                      std::vector<double>& huber_w, bool update_huber, double& cost) {
    ModelEval e;
    eval_model(m, set, s.beta, s.expr, s.jaw, jac && !rigid, e, o.threads);
    auto cam = pinhole(K, s.R, s.t);
    std::vector<double> uv(size_t(L) * 2), depth(static_cast<size_t>(L));
    flame::project_points(cam, e.lmk.data(), L, uv.data(), depth.data());
    std::vector<double> w;
    weights(s, rigid, w);
    const int P = rigid ? 6 : P_full;
    r.setZero(L * 2);
    if (jac) J.setZero(L * 2, P);
    cost = 0;
    for (int l = 0; l < L; ++l) {
      double ex = (uv[l * 2] - obs_xy[l * 2]) / sigma, ey = (uv[l * 2 + 1] - obs_xy[l * 2 + 1]) / sigma;
      double en = std::hypot(ex, ey);
      if (update_huber) huber_w[l] = en <= o.huber_delta ? 1.0 : o.huber_delta / en;
      double hw = huber_w[l] * w[l];
      // Huber cost with the weight w
      cost += w[l] * (en <= o.huber_delta ? en * en : 2 * o.huber_delta * en - o.huber_delta * o.huber_delta);
      if (depth[l] <= 0) cost += 1e6;
      double sw = std::sqrt(hw);
      r[l * 2] = sw * ex;
      r[l * 2 + 1] = sw * ey;
      if (!jac || sw == 0) continue;
      for (int c = 0; c < 2; ++c) {
        double d_uv[2] = {0, 0};
        d_uv[c] = sw / sigma;
        double d_p[3] = {0, 0, 0}, d_R[9] = {}, d_t[3] = {};
        flame::project_points_vjp(cam, &e.lmk[l * 3], 1, d_uv, d_p, d_R, d_t);
        // rotation: R' = exp([δ]×)·R → ∂/∂δ_k = Σ d_R ⊙ ([e_k]× R)
        for (int k = 0; k < 3; ++k) {
          double Ek[9] = {};
          int a = (k + 1) % 3, b = (k + 2) % 3;  // [e_k]× has +1 at (b,a), −1 at (a,b)
          Ek[b * 3 + a] = 1;
          Ek[a * 3 + b] = -1;
          double acc = 0;
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) {
              double ER = 0;
              for (int q = 0; q < 3; ++q) ER += Ek[i * 3 + q] * s.R[q * 3 + j];
              acc += d_R[i * 3 + j] * ER;
            }
          J(l * 2 + c, k) = acc;
        }
        for (int k = 0; k < 3; ++k) J(l * 2 + c, 3 + k) = d_t[k];
        if (!rigid)
          for (int k = 0; k < n + ne + 1; ++k) {
            double acc = 0;
            for (int q = 0; q < 3; ++q) acc += d_p[q] * e.jac[size_t(l * 3 + q) * (n + ne + 1) + k];
            J(l * 2 + c, 6 + k) = acc;
          }
      }
    }
    if (!rigid) {
      for (int k = 0; k < n; ++k) cost += o.shape_reg * s.beta[k] * s.beta[k];
      for (int k = 0; k < ne; ++k) cost += o.expr_reg * s.expr[k] * s.expr[k];
      cost += (s.jaw / o.jaw_sigma) * (s.jaw / o.jaw_sigma);
    }
  };

  auto apply = [&](const State& s, const Eigen::VectorXd& d, bool rigid) {
    State q = s;
    double w[3] = {d[0], d[1], d[2]};
    q.R = matmul3(rodrigues3(w), s.R);
    for (int k = 0; k < 3; ++k) q.t[k] += d[3 + k];
    if (!rigid) {
      for (int k = 0; k < n; ++k) q.beta[k] += d[6 + k];
      for (int k = 0; k < ne; ++k) q.expr[k] += d[6 + n + k];
      q.jaw += d[6 + n + ne];
    }
    return q;
  };

  int total_iters = 0;
  auto lm = [&](State s, bool rigid, int iters, double& final_cost) {
    const int P = rigid ? 6 : P_full;
    std::vector<double> hw(size_t(L), 1.0);
    Eigen::VectorXd r;
    Eigen::MatrixXd J;
    double cost;
    evaluate(s, rigid, true, r, J, hw, true, cost);
    double mu = 1e-3;
    for (int it = 0; it < iters; ++it) {
      ++total_iters;
      Eigen::MatrixXd A = J.transpose() * J;
      Eigen::VectorXd g = J.transpose() * r;
      if (!rigid) {
        for (int k = 0; k < n; ++k) {
          A(6 + k, 6 + k) += o.shape_reg;
          g[6 + k] += o.shape_reg * s.beta[k];
        }
        for (int k = 0; k < ne; ++k) {
          A(6 + n + k, 6 + n + k) += o.expr_reg;
          g[6 + n + k] += o.expr_reg * s.expr[k];
        }
        double wj = 1.0 / (o.jaw_sigma * o.jaw_sigma);
        A(6 + n + ne, 6 + n + ne) += wj;
        g[6 + n + ne] += wj * s.jaw;
      }
      bool improved = false;
      for (int tries = 0; tries < 8 && !improved; ++tries) {
        Eigen::MatrixXd Ad = A;
        for (int k = 0; k < P; ++k) Ad(k, k) += mu * std::max(A(k, k), 1e-9);
        Eigen::VectorXd d = Ad.ldlt().solve(-g);
        if (!d.allFinite()) {
          mu *= 10;
          continue;
        }
        State q = apply(s, d, rigid);
        Eigen::VectorXd r2;
        Eigen::MatrixXd J2;
        double c2;
        std::vector<double> hw2 = hw;
        evaluate(q, rigid, false, r2, J2, hw2, false, c2);
        if (c2 < cost) {
          improved = true;
          double rel = (cost - c2) / std::max(cost, 1e-12);
          s = q;
          mu = std::max(mu / 3, 1e-7);
          evaluate(s, rigid, true, r, J, hw, true, cost);
          if (rel < 1e-7) it = iters;  // converged
        } else {
          mu *= 4;
        }
      }
      if (!improved) break;
    }
    final_cost = cost;
    return s;
  };

  // rigid initialisation from several yaws (static points only), keep the best
  State best;
  double best_cost = 1e300;
  for (double yaw : o.yaw_inits_deg) {
    State s;
    s.R = head_rotation(yaw, 0, 0);
    s.beta.assign(n, 0.0);
    s.expr.assign(ne, 0.0);
    double rc[3];
    for (int i = 0; i < 3; ++i) rc[i] = s.R[i * 3] * c3[0] + s.R[i * 3 + 1] * c3[1] + s.R[i * 3 + 2] * c3[2];
    s.t = {(cu + 0.5 - K.cx) / K.fx * z0 - rc[0], (cv + 0.5 - K.cy) / K.fy * z0 - rc[1], z0 - rc[2]};
    double c;
    s = lm(s, true, o.rigid_iterations, c);
    if (c < best_cost) best_cost = c, best = s;
  }
  double c;
  State s = lm(best, false, o.iterations, c);

  HeadFit h;
  h.K = K;
  h.shape = s.beta;
  h.expression = s.expr;
  h.jaw = s.jaw;
  h.R = s.R;
  h.t = s.t;
  h.iterations = total_iters;
  model_landmarks(m, s.beta, 0.0, &h.neutral_vertices);
  update_head_fit(h, m, obs);
  // R_head = F·R (F = diag(1,−1,−1) = F⁻¹) = Ry(yaw)·Rx(pitch)·Rz(roll)
  Mat3 F{1, 0, 0, 0, -1, 0, 0, 0, -1};
  Mat3 Rh = matmul3(F, s.R);
  h.pitch_deg = std::asin(std::clamp(-Rh[5], -1.0, 1.0)) * 180 / kPi;
  h.yaw_deg = std::atan2(Rh[2], Rh[8]) * 180 / kPi;
  h.roll_deg = std::atan2(Rh[3], Rh[4]) * 180 / kPi;
  return h;
}

}  // namespace ff::fit
