// flame/headmodel.cpp — the built-in head model (see headmodel.h for what it is and its conventions).
//
// Everything is built in centimetres in MediaPipe's canonical frame (= FLAME's axes) and converted to metres
// at the end. Construction is deterministic (the random smooth fields use ff::rng counters with a fixed key).
#include "flame/headmodel.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <numeric>
#include <set>

#include "core/check.h"
#include "core/geometry.h"
#include "core/rng.h"
#include "runtime/formats.h"
#include "flame/headmodel_mediapipe.h"

namespace ff::flame {

namespace {

using V3 = Vec3d;
V3 operator+(V3 a, V3 b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
V3 operator-(V3 a, V3 b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
V3 operator*(double s, V3 a) { return {s * a[0], s * a[1], s * a[2]}; }
V3 mirror_x(V3 a) { return {-a[0], a[1], a[2]}; }

constexpr int kV = kBuiltinVertices;

// ---- MediaPipe vertex ids used below (canonical face mesh numbering) ----------------------------------------
// Eye contours, subject's right eye (x < 0), from the outer corner 33 to the inner corner 133.
const int kREyeUpper[] = {33, 246, 161, 160, 159, 158, 157, 173, 133};
const int kREyeLower[] = {33, 7, 163, 144, 145, 153, 154, 155, 133};
// Inner lip contour from the subject's right corner 78 to the left corner 308.
const int kInnerUpper[] = {78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308};
const int kInnerLower[] = {78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308};
// Outer lip contour (closed loop).
const int kOuterLip[] = {61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146};
const int kOuterLower[] = {146, 91, 181, 84, 17, 314, 405, 321, 375};
const int kOuterUpper[] = {185, 40, 39, 37, 0, 267, 269, 270, 409};

// iBUG-68 → MediaPipe vertex (the contour 0–16 and nose 28–29 are re-placed by arc length below; these are
// their nearest vertices).
const std::array<int32_t, 68> kIbug68 = {
    127, 234, 93,  132, 58,  172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,  // jaw 0–16
    70,  63,  105, 66,  107,                                                              // right brow 17–21
    336, 296, 334, 293, 300,                                                              // left brow 22–26
    168, 197, 5,   4,                                                                     // nose bridge 27–30
    98,  97,  2,   326, 327,                                                              // nose base 31–35
    33,  160, 158, 133, 153, 144,                                                         // right eye 36–41
    362, 385, 387, 263, 373, 380,                                                         // left eye 42–47
    61,  39,  37,  0,   267, 269, 291, 405, 314, 17,  84,  181,                           // outer lips 48–59
    78,  81,  13,  311, 308, 402, 14,  178};                                              // inner lips 60–67

const char* kExprNames[kBuiltinExprModes] = {"jaw_open",      "smile",        "pucker",          "brow_raise",
                                             "brow_lower",    "eye_close_left", "eye_close_right", "mouth_frown",
                                             "mouth_stretch", "cheek_puff",   "mouth_left",      "nose_wrinkle",
                                             "upper_lip_raise", "lower_lip_depress"};

// Joint targets (cm) and their parents.
const V3 kJointTarget[kFlameJoints] = {{0, -8.0, -4.5}, {0, -3.0, -4.0}, {0, 0.0, -2.0}, {3.2, 2.6, 2.5}, {-3.2, 2.6, 2.5}};

struct Builder {
  mediapipe::CanonicalMesh mp;
  std::vector<V3> p;        // rest positions, cm
  std::vector<V3> n;        // unit vertex normals
  std::vector<int32_t> faces;
  std::vector<int32_t> mirror;
  std::vector<char> opening;  // [F] 1 eye, 2 mouth
  std::vector<std::vector<int>> nbr;
  std::vector<double> w_jaw;  // [V]
  V3 joint[kFlameJoints];

  V3 P(int v) const { return p[size_t(v)]; }

  void load() {
    mp = mediapipe::embedded_canonical_mesh();
    FF_CHECK(mp.num_vertices() == kV && mp.num_faces() == kBuiltinFaces, "built-in head model: expected the ",
             kV, "-vertex / ", kBuiltinFaces, "-face MediaPipe canonical mesh, got ", mp.num_vertices(), " / ",
             mp.num_faces());
    p.resize(kV);
    for (int v = 0; v < kV; ++v)
      for (int k = 0; k < 3; ++k) p[size_t(v)][size_t(k)] = mp.vertices[size_t(v) * 3 + size_t(k)];
    faces = mp.faces;
    // mirror map
    mirror.assign(kV, -1);
    for (int v = 0; v < kV; ++v) {
      V3 q = mirror_x(P(v));
      double best = 1e30;
      for (int u = 0; u < kV; ++u) {
        double d = norm(P(u) - q);
        if (d < best) best = d, mirror[size_t(v)] = u;
      }
      FF_CHECK(best < 1e-3, "built-in head model: vertex ", v, " has no mirror image (", best, " cm off)");
    }
    // normals (area weighted)
    n.assign(kV, V3{0, 0, 0});
    for (int f = 0; f < kBuiltinFaces; ++f) {
      const int32_t* t = &faces[size_t(f) * 3];
      V3 c = cross(P(t[1]) - P(t[0]), P(t[2]) - P(t[0]));
      for (int k = 0; k < 3; ++k) n[size_t(t[k])] = n[size_t(t[k])] + c;
    }
    for (auto& x : n) x = (1.0 / norm(x)) * x;
    // opening faces: all three corners on one eye contour, or all on the inner lip contour
    std::set<int> eyeR(std::begin(kREyeUpper), std::end(kREyeUpper));
    eyeR.insert(std::begin(kREyeLower), std::end(kREyeLower));
    std::set<int> eyeL;
    for (int v : eyeR) eyeL.insert(mirror[size_t(v)]);
    std::set<int> mouth(std::begin(kInnerUpper), std::end(kInnerUpper));
    mouth.insert(std::begin(kInnerLower), std::end(kInnerLower));
    opening.assign(kBuiltinFaces, 0);
    int ne = 0, nm = 0;
    for (int f = 0; f < kBuiltinFaces; ++f) {
      const int32_t* t = &faces[size_t(f) * 3];
      auto all = [&](const std::set<int>& s) { return s.count(t[0]) && s.count(t[1]) && s.count(t[2]); };
      if (all(eyeR) || all(eyeL)) opening[size_t(f)] = 1, ++ne;
      if (all(mouth)) opening[size_t(f)] = 2, ++nm;
    }
    FF_CHECK(ne == 28 && nm == 18, "built-in head model: expected 28 eye-opening and 18 mouth-opening faces, found ",
             ne, " and ", nm);
    // graph over the non-opening faces
    nbr.assign(kV, {});
    for (int f = 0; f < kBuiltinFaces; ++f) {
      if (opening[size_t(f)]) continue;
      const int32_t* t = &faces[size_t(f) * 3];
      for (int k = 0; k < 3; ++k) {
        int a = t[k], b = t[(k + 1) % 3];
        auto& na = nbr[size_t(a)];
        auto& nb = nbr[size_t(b)];
        if (std::find(na.begin(), na.end(), b) == na.end()) na.push_back(b);
        if (std::find(nb.begin(), nb.end(), a) == nb.end()) nb.push_back(a);
      }
    }
  }

  // Harmonic interpolation (uniform graph Laplacian, Gauss–Seidel) of fixed values.
  std::vector<double> harmonic(const std::map<int, double>& fixed, int iters = 4000) const {
    std::vector<double> x(kV, 0.5);
    for (auto& [v, val] : fixed) x[size_t(v)] = val;
    for (int it = 0; it < iters; ++it)
      for (int v = 0; v < kV; ++v) {
        if (fixed.count(v) || nbr[size_t(v)].empty()) continue;
        double s = 0;
        for (int u : nbr[size_t(v)]) s += x[size_t(u)];
        x[size_t(v)] = s / double(nbr[size_t(v)].size());
      }
    return x;
  }

  void build_jaw_weights() {
    std::map<int, double> fixed;
    for (int v = 0; v < kV; ++v) {
      V3 q = P(v);
      if (q[1] > -1.6) fixed[v] = 0.0;                       // nose base and everything above
      if (q[1] < -6.0) fixed[v] = 1.0;                       // chin and lower jaw
    }
    for (int v : kInnerLower) fixed[v] = 1.0;
    for (int v : kOuterLower) fixed[v] = 1.0;
    for (int v : kInnerUpper) fixed[v] = 0.0;
    for (int v : kOuterUpper) fixed[v] = 0.0;
    fixed[78] = fixed[308] = 0.5;  // inner mouth corners
    fixed[61] = fixed[291] = 0.45;
    // jaw outline below the ear keeps following the jaw partly
    w_jaw = harmonic(fixed);
    for (double& w : w_jaw) w = std::clamp(w, 0.0, 1.0);
    for (double& w : w_jaw) w = w * w * (3 - 2 * w);  // smoothstep: firmer lower lip, softer cheeks
    // exact symmetry
    for (int v = 0; v < kV; ++v) {
      int m = mirror[size_t(v)];
      if (m > v) w_jaw[size_t(v)] = w_jaw[size_t(m)] = 0.5 * (w_jaw[size_t(v)] + w_jaw[size_t(m)]);
    }
  }

  // Affine regressor row (sum 1) of vertex-group means hitting `target` with minimal weight norm.
  std::vector<double> affine_row(const V3& target, const std::vector<std::vector<int>>& groups) const {
    size_t G = groups.size();
    std::vector<V3> c(G);
    for (size_t g = 0; g < G; ++g) {
      V3 s{0, 0, 0};
      for (int v : groups[g]) s = s + P(v);
      c[g] = (1.0 / double(groups[g].size())) * s;
    }
    // A (4 x G) = [c; 1], w = A^T (A A^T)^{-1} b
    double M[4][4] = {}, b[4] = {target[0], target[1], target[2], 1.0};
    auto a = [&](int r, size_t g) { return r < 3 ? c[g][size_t(r)] : 1.0; };
    for (int r = 0; r < 4; ++r)
      for (int s = 0; s < 4; ++s)
        for (size_t g = 0; g < G; ++g) M[r][s] += a(r, g) * a(s, g);
    // solve M y = b (Gaussian elimination with partial pivoting)
    double y[4];
    double A[4][5];
    for (int r = 0; r < 4; ++r) {
      for (int s = 0; s < 4; ++s) A[r][s] = M[r][s];
      A[r][4] = b[r];
    }
    for (int col = 0; col < 4; ++col) {
      int piv = col;
      for (int r = col + 1; r < 4; ++r)
        if (std::fabs(A[r][col]) > std::fabs(A[piv][col])) piv = r;
      for (int s = 0; s < 5; ++s) std::swap(A[col][s], A[piv][s]);
      FF_CHECK(std::fabs(A[col][col]) > 1e-9, "built-in head model: degenerate joint regressor groups");
      for (int r = 0; r < 4; ++r) {
        if (r == col) continue;
        double f = A[r][col] / A[col][col];
        for (int s = col; s < 5; ++s) A[r][s] -= f * A[col][s];
      }
    }
    for (int r = 0; r < 4; ++r) y[r] = A[r][4] / A[r][r];
    std::vector<double> row(kV, 0.0);
    for (size_t g = 0; g < G; ++g) {
      double w = 0;
      for (int r = 0; r < 4; ++r) w += a(r, g) * y[r];
      for (int v : groups[g]) row[size_t(v)] += w / double(groups[g].size());
    }
    return row;
  }

  // ---- fields ------------------------------------------------------------------------------------------------
  using Field = std::vector<double>;  // [V * 3]
  using Fn = std::function<V3(int)>;

  Field eval(const Fn& f) const {
    Field d(size_t(kV) * 3);
    for (int v = 0; v < kV; ++v) {
      V3 x = f(v);
      for (int k = 0; k < 3; ++k) d[size_t(v) * 3 + size_t(k)] = x[size_t(k)];
    }
    return d;
  }
  // sign = +1: mirror-symmetric part; −1: antisymmetric part.
  Field symmetrize(const Field& d, double sign) const {
    Field o(d.size());
    for (int v = 0; v < kV; ++v) {
      int m = mirror[size_t(v)];
      const double* a = &d[size_t(v) * 3];
      const double* b = &d[size_t(m) * 3];
      o[size_t(v) * 3 + 0] = 0.5 * (a[0] - sign * b[0]);
      o[size_t(v) * 3 + 1] = 0.5 * (a[1] + sign * b[1]);
      o[size_t(v) * 3 + 2] = 0.5 * (a[2] + sign * b[2]);
    }
    return o;
  }
  double G(int v, V3 c, double s) const {
    V3 d = P(v) - c;
    return std::exp(-dot(d, d) / (2 * s * s));
  }
  // Gaussian at c and at its mirror image.
  double Gs(int v, V3 c, double s) const { return G(v, c, s) + G(v, mirror_x(c), s); }
  // The centre on the vertex's own side.
  static V3 side(int v_x_sign_positive, V3 c) {
    return v_x_sign_positive ? V3{std::fabs(c[0]), c[1], c[2]} : V3{-std::fabs(c[0]), c[1], c[2]};
  }
  double x(int v) const { return p[size_t(v)][0]; }
  double y(int v) const { return p[size_t(v)][1]; }
  double sgn(int v) const { return std::tanh(x(v) / 0.5); }
  static double smax(double a) { return 0.5 * (a + std::sqrt(a * a + 1.0)); }  // smooth max(a, 0), cm
  static double smoothstep(double a) {
    a = std::clamp(a, 0.0, 1.0);
    return a * a * (3 - 2 * a);
  }
  V3 mean_of(std::initializer_list<int> ids) const {
    V3 s{0, 0, 0};
    for (int v : ids) s = s + P(v);
    return (1.0 / double(ids.size())) * s;
  }

  // Upper-lid closing field of one eye: the upper contour moves onto the lower one, the lid above follows with a
  // Gaussian falloff; the lower lid stays.
  Field eye_close(bool left) const {
    std::vector<V3> up, lo;
    for (int i = 0; i < 9; ++i) {
      int u = kREyeUpper[i], l = kREyeLower[i];
      if (left) u = mirror[size_t(u)], l = mirror[size_t(l)];
      up.push_back(P(u));
      lo.push_back(P(l));
    }
    // piecewise linear in |x| along the eye (contours run outer → inner corner, |x| decreasing)
    auto interp = [&](double ax, V3& yu, V3& gap) -> bool {
      for (int i = 0; i + 1 < 9; ++i) {
        double x0 = std::fabs(up[size_t(i)][0]), x1 = std::fabs(up[size_t(i + 1)][0]);
        if (ax <= x0 && ax >= x1) {
          double t = (x0 - ax) / std::max(1e-9, x0 - x1);
          yu = (1 - t) * up[size_t(i)] + t * up[size_t(i + 1)];
          V3 g0 = lo[size_t(i)] - up[size_t(i)], g1 = lo[size_t(i + 1)] - up[size_t(i + 1)];
          gap = (1 - t) * g0 + t * g1;
          return true;
        }
      }
      return false;
    };
    return eval([&](int v) -> V3 {
      if ((x(v) > 0) != left || std::fabs(x(v)) < 1e-9) return {0, 0, 0};
      V3 yu, gap;
      if (!interp(std::fabs(x(v)), yu, gap)) return {0, 0, 0};
      double h = y(v) - yu[1];
      if (h < -0.02) return {0, 0, 0};
      double w = std::exp(-std::pow(std::max(0.0, h) / 0.45, 2));
      return w * gap;
    });
  }
};

struct Built {
  FlameModel model;
  BuiltinHeadInfo info;
};

// Embedding of a point on a mesh vertex or edge: a non-opening face containing it, with barycentrics.
struct Embedder {
  const Builder& b;
  int face_with(int a, int c) const {  // c = −1: any face with a
    int fallback = -1;
    for (int f = 0; f < kBuiltinFaces; ++f) {
      const int32_t* t = &b.faces[size_t(f) * 3];
      bool ha = t[0] == a || t[1] == a || t[2] == a;
      bool hc = c < 0 || t[0] == c || t[1] == c || t[2] == c;
      if (ha && hc) {
        if (!b.opening[size_t(f)]) return f;
        if (fallback < 0) fallback = f;
      }
    }
    FF_CHECK(fallback >= 0, "built-in head model: no face contains vertices ", a, " and ", c);
    return fallback;
  }
  void on_edge(int a, int c, double t, LandmarkEmbedding& e) const {  // (1−t)·a + t·c
    int f = face_with(a, c < 0 ? -1 : c);
    e.face_idx.push_back(f);
    for (int k = 0; k < 3; ++k) {
      int v = b.faces[size_t(f) * 3 + size_t(k)];
      e.bary.push_back(v == a ? 1 - t : (v == c ? t : 0.0));
    }
  }
  void on_vertex(int a, LandmarkEmbedding& e) const { on_edge(a, -1, 0.0, e); }
  // Points at the given arc-length fractions of a vertex path.
  void on_path(const std::vector<int>& path, const std::vector<double>& fr, LandmarkEmbedding& e) const {
    std::vector<double> cum{0.0};
    for (size_t i = 1; i < path.size(); ++i) cum.push_back(cum.back() + norm(b.P(path[i]) - b.P(path[i - 1])));
    for (double f : fr) {
      double s = f * cum.back();
      size_t i = 1;
      while (i + 1 < cum.size() && cum[i] < s) ++i;
      double t = (s - cum[i - 1]) / std::max(1e-12, cum[i] - cum[i - 1]);
      t = std::clamp(t, 0.0, 1.0);
      if (t < 1e-9) on_vertex(path[i - 1], e);
      else if (t > 1 - 1e-9) on_vertex(path[i], e);
      else on_edge(path[i - 1], path[i], t, e);
    }
  }
  // The pupil: centre of the eye opening, embedded in the opening triangle that contains it (in x/y).
  void pupil(bool left, LandmarkEmbedding& e) const {
    int u = left ? b.mirror[159] : 159, l = left ? b.mirror[145] : 145;
    V3 q = 0.5 * (b.P(u) + b.P(l));
    int best = -1;
    double bb[3] = {0, 0, 0}, best_err = 1e30;
    for (int f = 0; f < kBuiltinFaces; ++f) {
      if (b.opening[size_t(f)] != 1) continue;
      const int32_t* t = &b.faces[size_t(f) * 3];
      V3 A = b.P(t[0]), B = b.P(t[1]), C = b.P(t[2]);
      double det = (B[0] - A[0]) * (C[1] - A[1]) - (C[0] - A[0]) * (B[1] - A[1]);
      if (std::fabs(det) < 1e-12) continue;
      double w1 = ((q[0] - A[0]) * (C[1] - A[1]) - (C[0] - A[0]) * (q[1] - A[1])) / det;
      double w2 = ((B[0] - A[0]) * (q[1] - A[1]) - (q[0] - A[0]) * (B[1] - A[1])) / det;
      double w0 = 1 - w1 - w2;
      double err = std::max({0.0, -w0, -w1, -w2});
      if (err < best_err) best_err = err, best = f, bb[0] = w0, bb[1] = w1, bb[2] = w2;
    }
    FF_CHECK(best >= 0, "built-in head model: no eye-opening face for the pupil");
    e.face_idx.push_back(best);
    for (double w : bb) e.bary.push_back(w);
  }
};

Built build() {
  Builder b;
  b.load();
  b.build_jaw_weights();
  Built out;
  FlameModel& m = out.model;
  BuiltinHeadInfo& info = out.info;
  m.source = "builtin (MediaPipe canonical face mesh, third_party/mediapipe)";
  m.V = kV;
  m.F = kBuiltinFaces;
  m.J = kFlameJoints;
  m.faces = b.faces;
  m.v_template.resize(size_t(kV) * 3);
  for (int v = 0; v < kV; ++v)
    for (int k = 0; k < 3; ++k) m.v_template[size_t(v) * 3 + size_t(k)] = 0.01 * b.p[size_t(v)][size_t(k)];
  m.uvs.resize(size_t(kV) * 2);
  for (int v = 0; v < kV; ++v) {
    m.uvs[size_t(v) * 2] = b.mp.uvs[size_t(v) * 2];
    m.uvs[size_t(v) * 2 + 1] = 1.0 - b.mp.uvs[size_t(v) * 2 + 1];
  }
  m.uv_faces = b.faces;
  info.mirror = b.mirror;
  info.ibug68_vertex = kIbug68;
  for (int f = 0; f < kBuiltinFaces; ++f) {
    if (b.opening[size_t(f)] == 1) info.eye_opening_faces.push_back(f);
    if (b.opening[size_t(f)] == 2) info.mouth_opening_faces.push_back(f);
  }

  // ---- key points (cm) -----------------------------------------------------------------------------------------
  const V3 C = [&] {
    V3 s{0, 0, 0};
    for (auto& q : b.p) s = s + q;
    return (1.0 / kV) * s;
  }();
  const V3 eyeR = b.mean_of({33, 133, 159, 145});
  const V3 browR = b.mean_of({105, 66, 52, 65});
  const V3 tip = b.P(4);
  const V3 mouth = 0.5 * (b.P(13) + b.P(14));
  const V3 cornerR = b.P(61);
  const V3 chin = b.P(152) + V3{0, 1.0, 0.3};
  const double y_eye = eyeR[1], y_brow = browR[1], y_nose_base = b.P(2)[1];
  using Fn = Builder::Fn;
  auto& B = b;

  // ---- shape modes --------------------------------------------------------------------------------------------
  struct Mode {
    std::string name;
    double sigma_mm;
    Builder::Field d;
  };
  std::vector<Mode> modes;
  auto add = [&](const char* name, double mm, const Fn& f) { modes.push_back({name, mm, b.symmetrize(b.eval(f), +1)}); };
  auto add_anti = [&](const char* name, double mm, const Fn& f) {
    modes.push_back({name, mm, b.symmetrize(b.eval(f), -1)});
  };
  add("size", 5.0, [&](int v) { return B.P(v) - C; });
  add("face_width", 4.0, [&](int v) { return V3{B.x(v), 0, 0}; });
  add("face_height", 4.0, [&](int v) { return V3{0, B.y(v) - C[1], 0}; });
  add("profile_curvature", 3.0, [&](int v) { return V3{0, 0, -(B.y(v) - y_eye) * (B.y(v) - y_eye) / 40.0}; });
  add("lower_face_length", 4.0, [&](int v) { return V3{0, -Builder::smax(y_nose_base - B.y(v)), 0}; });
  add("forehead_height", 3.0, [&](int v) { return V3{0, Builder::smax(B.y(v) - y_brow), 0}; });
  add("face_taper", 3.0, [&](int v) { return V3{B.x(v) * (B.y(v) - y_eye) / 8.0, 0, 0}; });
  add("jaw_width", 3.0, [&](int v) { return V3{B.x(v) * Builder::smoothstep((-2.0 - B.y(v)) / 5.0), 0, 0}; });
  add("chin_projection", 3.0, [&](int v) { return V3{0, 0, B.G(v, chin, 2.2)}; });
  add("chin_width", 2.0, [&](int v) { return V3{B.x(v) * B.G(v, chin, 2.8), 0, 0}; });
  add("chin_height", 2.5, [&](int v) { return V3{0, -B.G(v, chin, 2.2), 0}; });
  add("cheekbone_width", 2.5, [&](int v) { return V3{B.sgn(v) * B.Gs(v, {5.5, 1.0, 2.5}, 2.2), 0, 0}; });
  add("cheek_fullness", 2.5, [&](int v) { return B.Gs(v, {4.2, -1.5, 4.0}, 1.8) * B.n[size_t(v)]; });
  add("nose_length", 2.5, [&](int v) { return V3{0, -B.G(v, tip + V3{0, -0.4, 0}, 1.6), 0}; });
  add("nose_width", 2.0, [&](int v) { return V3{B.x(v) * B.G(v, {0, -1.2, 5.7}, 1.3), 0, 0}; });
  add("nose_projection", 2.5, [&](int v) { return V3{0, 0, B.G(v, tip, 1.7)}; });
  add("nose_bridge_height", 2.0, [&](int v) { return V3{0, 0, B.G(v, {0, 1.4, 6.5}, 1.1)}; });
  add("nose_tip_rotation", 1.5, [&](int v) { return B.G(v, {0, -1.6, 6.9}, 0.9) * V3{0, 1.0, -0.3}; });
  add("nostril_flare", 1.2, [&](int v) { return B.Gs(v, {1.6, -1.2, 5.4}, 0.7) * B.n[size_t(v)]; });
  add("eye_spacing", 2.0, [&](int v) { return V3{B.sgn(v) * B.Gs(v, eyeR, 1.5), 0, 0}; });
  add("eye_size", 1.2, [&](int v) {
    V3 c = Builder::side(B.x(v) > 0, eyeR);
    return B.G(v, c, 1.1) * (B.P(v) - c);
  });
  add("eye_height", 1.5, [&](int v) { return V3{0, B.Gs(v, eyeR, 1.6), 0}; });
  add("eye_tilt", 1.2, [&](int v) { return V3{0, (std::fabs(B.x(v)) - std::fabs(eyeR[0])) * B.Gs(v, eyeR, 1.3), 0}; });
  add("eye_depth", 1.5, [&](int v) { return V3{0, 0, -B.Gs(v, eyeR, 1.4)}; });
  add("brow_height", 2.0, [&](int v) { return V3{0, B.Gs(v, browR, 1.3), 0}; });
  add("brow_ridge", 1.8, [&](int v) { return V3{0, 0, B.Gs(v, browR, 1.5)}; });
  add("forehead_slope", 3.0, [&](int v) { return V3{0, 0, -Builder::smax(B.y(v) - y_brow)}; });
  add("forehead_width", 2.5, [&](int v) { return V3{B.x(v) * Builder::smax(B.y(v) - 4.0) / 4.0, 0, 0}; });
  add("upper_lip_thickness", 1.5, [&](int v) {
    return (1 - B.w_jaw[size_t(v)]) * B.G(v, {0, -3.5, 5.9}, 0.9) * V3{0, 0.4, 1.0};
  });
  add("lower_lip_thickness", 1.5, [&](int v) {
    return B.w_jaw[size_t(v)] * B.G(v, {0, -5.0, 5.6}, 0.9) * V3{0, -0.4, 1.0};
  });
  add("mouth_width", 2.0, [&](int v) { return V3{B.x(v) * B.G(v, mouth, 1.8), 0, 0}; });
  add("mouth_height", 1.5, [&](int v) { return V3{0, B.G(v, mouth, 1.7), 0}; });
  add("lip_projection", 2.0, [&](int v) { return V3{0, 0, B.G(v, mouth, 1.9)}; });
  add("temple_width", 2.0, [&](int v) { return V3{B.sgn(v) * B.Gs(v, {6.5, 4.5, 0.5}, 2.0), 0, 0}; });
  add("cheek_hollow", 1.5, [&](int v) { return -B.Gs(v, {5.0, -3.0, 2.5}, 1.5) * B.n[size_t(v)]; });
  add("jaw_angle", 2.5, [&](int v) { return B.Gs(v, {6.3, -5.5, -1.0}, 2.0) * V3{0.7 * B.sgn(v), -0.7, 0}; });
  add("midface_length", 2.0, [&](int v) {
    return V3{0, -Builder::smoothstep((y_eye - B.y(v)) / (y_eye - y_nose_base)), 0};
  });
  add("face_roundness", 3.0, [&](int v) { return V3{0, 0, -B.x(v) * B.x(v) / 25.0}; });
  add("nose_hump", 1.0, [&](int v) { return V3{0, 0, B.G(v, {0, 1.0, 6.7}, 0.6)}; });
  add("nose_bridge_width", 1.0, [&](int v) { return V3{B.x(v) * B.G(v, {0, 2.2, 5.8}, 1.0), 0, 0}; });
  add("upper_eyelid_fullness", 1.0, [&](int v) { return B.Gs(v, {3.1, 3.4, 3.9}, 0.8) * B.n[size_t(v)]; });
  add("nasolabial_depth", 1.0, [&](int v) { return -B.Gs(v, {2.6, -2.6, 5.0}, 0.9) * B.n[size_t(v)]; });
  add("chin_shape", 1.5, [&](int v) { return V3{0, -B.G(v, chin, 1.3) + 0.6 * B.Gs(v, {3.0, -8.5, 2.8}, 1.4), 0}; });
  add("jawline_fullness", 2.0, [&](int v) { return B.Gs(v, {5.0, -7.2, 0.7}, 2.0) * B.n[size_t(v)]; });
  add("philtrum_depth", 0.8, [&](int v) { return V3{0, 0, -B.G(v, {0, -2.8, 5.9}, 0.6)}; });
  add("mouth_corner_height", 1.0, [&](int v) { return V3{0, B.Gs(v, cornerR, 0.9), 0}; });
  add_anti("face_asymmetry", 1.5, [&](int v) { return V3{B.x(v) * (0.5 + 0.5 * std::tanh(B.x(v) / 3.0)), 0, 0}; });
  add_anti("nose_deviation", 1.2, [&](int v) { return V3{B.G(v, {0, 0.5, 6.5}, 1.8), 0, 0}; });
  add_anti("mouth_tilt", 1.0, [&](int v) { return V3{0, B.x(v) * B.G(v, mouth, 2.2), 0}; });
  add_anti("eye_height_asymmetry", 1.0, [&](int v) { return V3{0, B.sgn(v) * B.Gs(v, eyeR, 1.6), 0}; });
  add_anti("chin_deviation", 1.2, [&](int v) { return V3{B.G(v, chin, 2.5), 0, 0}; });
  add_anti("brow_asymmetry", 1.0, [&](int v) { return V3{0, B.sgn(v) * B.Gs(v, browR, 1.3), 0}; });
  // random smooth fields: 4 Gaussian RBFs each, at random vertices, random 3-D weights, σ ∈ [2, 4] cm;
  // 1 mm decaying by 2 % per mode to 0.5 mm
  const uint64_t key = 0x6661636566696c64ULL;  // "facefild"
  uint64_t ctr = 0;
  int k = 0;
  while (int(modes.size()) < kBuiltinShapeModes) {
    struct Rbf {
      V3 c, w;
      double s;
    };
    std::vector<Rbf> rbf;
    for (int j = 0; j < 4; ++j) {
      int v = int(rng::uniform_at(key, ctr++) * kV) % kV;
      V3 w{rng::normal_at(key, ctr++), rng::normal_at(key, ctr++), rng::normal_at(key, ctr++)};
      rbf.push_back({b.P(v), w, 2.0 + 2.0 * rng::uniform_at(key, ctr++)});
    }
    bool anti = rng::uniform_at(key, ctr++) < 0.2;
    Fn f = [&](int v) {
      V3 s{0, 0, 0};
      for (auto& r : rbf) s = s + B.G(v, r.c, r.s) * r.w;
      return s;
    };
    std::string name = "smooth_" + std::to_string(k);
    modes.push_back({name, std::max(0.5, 1.0 * std::pow(0.98, k)), b.symmetrize(b.eval(f), anti ? -1 : +1)});
    ++k;
  }
  // Gram–Schmidt after the six rigid motions (twice-iterated modified GS for orthogonality to round-off)
  std::vector<Builder::Field> basis;
  for (int a = 0; a < 3; ++a) {
    basis.push_back(b.eval([&](int) {
      V3 e{0, 0, 0};
      e[size_t(a)] = 1;
      return e;
    }));
    basis.push_back(b.eval([&](int v) {
      V3 e{0, 0, 0};
      e[size_t(a)] = 1;
      return cross(e, B.P(v) - C);
    }));
  }
  auto vdot = [](const Builder::Field& u, const Builder::Field& w) {
    double s = 0;
    for (size_t i = 0; i < u.size(); ++i) s += u[i] * w[i];
    return s;
  };
  auto orthonormalize = [&](Builder::Field d, const char* what) {
    double n0 = std::sqrt(vdot(d, d));
    for (int pass = 0; pass < 2; ++pass)
      for (auto& u : basis) {
        double c = vdot(u, d);
        for (size_t i = 0; i < d.size(); ++i) d[i] -= c * u[i];
      }
    double n1 = std::sqrt(vdot(d, d));
    FF_CHECK(n1 > 1e-6 * n0 && n1 > 0, "built-in head model: mode '", what, "' is linearly dependent on earlier ones");
    for (double& x : d) x /= n1;
    basis.push_back(d);
    return d;
  };
  {
    std::vector<Builder::Field> rigid = basis;
    basis.clear();
    for (auto& r : rigid) orthonormalize(r, "rigid");
  }
  m.S = kBuiltinShapeModes;
  m.shapedirs.assign(size_t(kV) * 3 * size_t(m.S), 0.0);
  for (int s = 0; s < m.S; ++s) {
    Builder::Field u = orthonormalize(modes[size_t(s)].d, modes[size_t(s)].name.c_str());
    double mx = 0;
    for (int v = 0; v < kV; ++v) mx = std::max(mx, std::sqrt(u[size_t(v) * 3] * u[size_t(v) * 3] +
                                                             u[size_t(v) * 3 + 1] * u[size_t(v) * 3 + 1] +
                                                             u[size_t(v) * 3 + 2] * u[size_t(v) * 3 + 2]));
    double scale = modes[size_t(s)].sigma_mm * 1e-3 / mx;  // metres per unit of u
    for (size_t i = 0; i < u.size(); ++i) m.shapedirs[i * size_t(m.S) + size_t(s)] = scale * u[i];
    info.shape_names.push_back(modes[size_t(s)].name);
    info.shape_sigma_mm.push_back(modes[size_t(s)].sigma_mm);
  }

  // ---- joints ---------------------------------------------------------------------------------------------------
  std::vector<std::vector<int>> groups = {{234, 93, 127}, {454, 323, 356}, {152, 148, 377}, {10, 338, 109},
                                          {4, 1},         {168, 6}};
  m.j_regressor.assign(size_t(kFlameJoints) * kV, 0.0);
  for (int j = 0; j < kFlameJoints; ++j) {
    auto gs = groups;
    if (j == kLeftEye || j == kRightEye) {
      std::vector<int> ring;
      for (int i = 0; i < 9; ++i) {
        int u = kREyeUpper[i], l = kREyeLower[i];
        if (j == kLeftEye) u = b.mirror[size_t(u)], l = b.mirror[size_t(l)];
        ring.push_back(u);
        if (i > 0 && i < 8) ring.push_back(l);
      }
      gs.push_back(ring);
    }
    std::vector<double> row = b.affine_row(kJointTarget[j], gs);
    for (int v = 0; v < kV; ++v) m.j_regressor[size_t(j) * kV + size_t(v)] = row[size_t(v)];
    V3 jp{0, 0, 0};
    for (int v = 0; v < kV; ++v) jp = jp + row[size_t(v)] * b.P(v);
    b.joint[j] = jp;
  }
  m.parents = {-1, 0, 1, 1, 1};
  m.weights.assign(size_t(kV) * kFlameJoints, 0.0);
  for (int v = 0; v < kV; ++v) {
    m.weights[size_t(v) * kFlameJoints + kJaw] = b.w_jaw[size_t(v)];
    m.weights[size_t(v) * kFlameJoints + kNeck] = 1.0 - b.w_jaw[size_t(v)];
  }
  m.posedirs.assign(size_t(kFlameJoints - 1) * 9 * kV * 3, 0.0);

  // ---- expressions ----------------------------------------------------------------------------------------------
  std::vector<Builder::Field> ex;
  {
    // jaw_open: 0.25 rad about the jaw joint's x axis, plus a forward/down condyle glide
    const double th = 0.25;
    V3 J = b.joint[kJaw];
    ex.push_back(b.eval([&](int v) {
      V3 r = B.P(v) - J;
      V3 q{r[0], std::cos(th) * r[1] - std::sin(th) * r[2], std::sin(th) * r[1] + std::cos(th) * r[2]};
      return B.w_jaw[size_t(v)] * (q - r + V3{0, -0.15, 0.6});
    }));
  }
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // smile
    V3 c = Builder::side(B.x(v) > 0, cornerR);
    V3 d = B.G(v, c, 1.2) * V3{0.5 * B.sgn(v), 0.7, -0.3};
    d = d + B.Gs(v, {3.3, -1.5, 4.8}, 1.4) * V3{0.05 * B.sgn(v), 0.35, 0.18};
    d = d + B.Gs(v, {3.2, 2.1, 3.6}, 0.5) * V3{0, 0.08, 0};
    return d;
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // pucker
    return V3{-0.45 * B.x(v) * B.G(v, mouth, 1.4), 0, 0.8 * B.G(v, mouth, 1.2)};
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // brow_raise
    double w = B.Gs(v, browR, 1.4) + 0.6 * B.Gs(v, {3.0, 6.5, 4.4}, 2.0);
    return V3{0, 0.75 * w + 0.15 * B.Gs(v, {3.1, 3.3, 3.9}, 0.6), 0};
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // brow_lower
    return B.Gs(v, {1.6, 4.9, 5.2}, 1.2) * V3{-0.3 * B.sgn(v), -0.5, 0.1} + B.Gs(v, browR, 1.4) * V3{0, -0.2, 0};
  }), +1));
  ex.push_back(b.eye_close(true));
  ex.push_back(b.eye_close(false));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // mouth_frown
    return B.G(v, Builder::side(B.x(v) > 0, cornerR), 1.2) * V3{0, -0.6, -0.05};
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // mouth_stretch
    return B.G(v, Builder::side(B.x(v) > 0, cornerR), 1.3) * V3{0.6 * B.sgn(v), -0.1, -0.25};
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // cheek_puff
    return 0.8 * B.Gs(v, {3.6, -3.3, 4.2}, 1.6) * B.n[size_t(v)];
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) { return V3{0.45 * B.G(v, mouth, 1.7), 0, 0}; }), -1));  // mouth_left
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // nose_wrinkle
    return B.Gs(v, {1.3, 0.3, 5.9}, 0.9) * V3{0, 0.3, 0.08} +
           (1 - B.w_jaw[size_t(v)]) * B.Gs(v, {1.0, -3.4, 5.7}, 0.8) * V3{0, 0.2, 0};
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // upper_lip_raise
    return (1 - B.w_jaw[size_t(v)]) * B.G(v, {0, -3.6, 5.7}, 1.1) * V3{0, 0.35, 0.05};
  }), +1));
  ex.push_back(b.symmetrize(b.eval([&](int v) {  // lower_lip_depress
    return B.w_jaw[size_t(v)] * B.G(v, {0, -5.0, 5.4}, 1.1) * V3{0, -0.35, 0.05};
  }), +1));
  FF_CHECK(int(ex.size()) == kBuiltinExprModes, "built-in head model: expression count mismatch");
  m.E = kBuiltinExprModes;
  m.exprdirs.assign(size_t(kV) * 3 * size_t(m.E), 0.0);
  for (int e = 0; e < m.E; ++e) {
    for (size_t i = 0; i < size_t(kV) * 3; ++i) m.exprdirs[i * size_t(m.E) + size_t(e)] = 0.01 * ex[size_t(e)][i];
    info.expr_names.push_back(kExprNames[e]);
  }

  // ---- masks ----------------------------------------------------------------------------------------------------
  auto collect = [&](const std::function<bool(int)>& pred) {
    std::vector<int32_t> ids;
    for (int v = 0; v < kV; ++v)
      if (pred(v)) ids.push_back(v);
    return ids;
  };
  auto in_poly = [&](const int* ring, int n_ring, double px, double py) {
    bool in = false;
    for (int i = 0, j = n_ring - 1; i < n_ring; j = i++) {
      V3 a = b.P(ring[i]), c = b.P(ring[j]);
      if ((a[1] > py) != (c[1] > py) && px < (c[0] - a[0]) * (py - a[1]) / (c[1] - a[1]) + a[0]) in = !in;
    }
    return in;
  };
  std::set<int> lip_ring(std::begin(kOuterLip), std::end(kOuterLip));
  auto eye_region = [&](int v, bool left) {
    V3 c = left ? mirror_x(eyeR) : eyeR;
    double dx = (b.x(v) - c[0]) / 2.3, dy = (b.y(v) - c[1]) / 1.5;
    return dx * dx + dy * dy <= 1.0;
  };
  std::vector<int32_t> boundary;
  {
    std::map<std::pair<int, int>, int> ec;
    for (int f = 0; f < kBuiltinFaces; ++f)
      for (int q = 0; q < 3; ++q) {
        int a = b.faces[size_t(f) * 3 + size_t(q)], c = b.faces[size_t(f) * 3 + size_t((q + 1) % 3)];
        ec[{std::min(a, c), std::max(a, c)}]++;
      }
    std::set<int> bs;
    for (auto& [e, c] : ec)
      if (c == 1) bs.insert(e.first), bs.insert(e.second);
    boundary.assign(bs.begin(), bs.end());
  }
  m.masks["face"] = collect([](int) { return true; });
  m.masks["forehead"] = collect([&](int v) { return b.y(v) > y_brow + 0.4; });
  m.masks["nose"] = collect([&](int v) {
    return std::fabs(b.x(v)) < 1.9 && b.y(v) < 3.3 && b.y(v) > y_nose_base - 0.2 && b.P(v)[2] > 4.8 &&
           std::fabs(b.x(v)) < 0.9 + 0.35 * (3.3 - b.y(v));
  });
  m.masks["lips"] = collect([&](int v) { return lip_ring.count(v) || in_poly(kOuterLip, 20, b.x(v), b.y(v)); });
  m.masks["left_eye_region"] = collect([&](int v) { return eye_region(v, true); });
  m.masks["right_eye_region"] = collect([&](int v) { return eye_region(v, false); });
  m.masks["eye_region"] = collect([&](int v) { return eye_region(v, true) || eye_region(v, false); });
  m.masks["boundary"] = boundary;
  m.masks["left_half"] = collect([&](int v) { return b.x(v) >= 0; });
  m.masks["right_half"] = collect([&](int v) { return b.x(v) <= 0; });
  {
    std::set<int> nm(std::begin(kInnerUpper), std::end(kInnerUpper));
    nm.insert(std::begin(kInnerLower), std::end(kInnerLower));
    m.masks["new_mouth"] = std::vector<int32_t>(nm.begin(), nm.end());
  }
  for (const char* empty : {"left_eyeball", "right_eyeball", "neck", "scalp", "left_ear", "right_ear"})
    m.masks[empty] = {};

  // ---- landmarks ------------------------------------------------------------------------------------------------
  Embedder em{b};
  LandmarkEmbedding contour, inner;
  {
    // outline from 127 (subject's right, eye-corner height) over the chin 152 to 356
    std::vector<int> path = {127, 234, 93,  132, 58,  172, 136, 150, 149, 176, 148, 152,
                             377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356};
    std::vector<double> fr;
    for (int i = 0; i < 17; ++i) fr.push_back(i / 16.0);
    em.on_path(path, fr, contour);
  }
  for (int l = 17; l < 68; ++l) {
    if (l == 28 || l == 29) {
      em.on_path({168, 6, 197, 195, 5, 4}, {(l - 27) / 3.0}, inner);
    } else {
      em.on_vertex(kIbug68[size_t(l)], inner);
    }
  }
  m.static_landmarks = inner;
  m.dynamic_landmarks.bins = 79;
  m.dynamic_landmarks.points = 17;
  for (int bin = 0; bin < 79; ++bin) {
    m.dynamic_landmarks.face_idx.insert(m.dynamic_landmarks.face_idx.end(), contour.face_idx.begin(), contour.face_idx.end());
    m.dynamic_landmarks.bary.insert(m.dynamic_landmarks.bary.end(), contour.bary.begin(), contour.bary.end());
  }
  LandmarkEmbedding pupils;
  em.pupil(false, pupils);
  em.pupil(true, pupils);
  auto cat = [](std::initializer_list<const LandmarkEmbedding*> parts) {
    LandmarkEmbedding e;
    for (auto* q : parts) {
      e.face_idx.insert(e.face_idx.end(), q->face_idx.begin(), q->face_idx.end());
      e.bary.insert(e.bary.end(), q->bary.begin(), q->bary.end());
    }
    return e;
  };
  m.full_landmarks = cat({&contour, &inner, &pupils});
  m.eyes_static_landmarks = cat({&inner, &pupils});
  m.validate();
  return out;
}

const Built& built() {
  static const Built b = build();
  return b;
}

}  // namespace

const FlameModel& builtin_head_model_ref() { return built().model; }
FlameModel builtin_head_model() { return built().model; }
const BuiltinHeadInfo& builtin_head_info() { return built().info; }

int builtin_expression_index(const std::string& name) {
  for (int e = 0; e < kBuiltinExprModes; ++e)
    if (name == kExprNames[e]) return e;
  return -1;
}

bool is_builtin_model_name(const std::string& path) { return path == "builtin" || path == "builtin:mediapipe"; }

FlameModel load_head_model(const std::string& path, const FlameLoadOptions& opts) {
  if (!is_builtin_model_name(path)) return load_flame_model(path, opts);
  FlameModel m = builtin_head_model();
  auto trim = [&](std::vector<double>& dirs, int& count, int keep, const char* what) {
    if (keep < 0 || keep == count) return;
    FF_CHECK(keep <= count, "built-in head model: ", what, " asks for ", keep, " components, it has ", count);
    std::vector<double> o(size_t(m.V) * 3 * size_t(keep));
    for (size_t i = 0; i < size_t(m.V) * 3; ++i)
      for (int c = 0; c < keep; ++c) o[i * size_t(keep) + size_t(c)] = dirs[i * size_t(count) + size_t(c)];
    dirs.swap(o);
    count = keep;
  };
  trim(m.shapedirs, m.S, opts.n_shape, "n_shape");
  trim(m.exprdirs, m.E, opts.n_expr, "n_expr");
  m.validate();
  return m;
}

std::string head_model_content_id(const FlameModel& m) {
  uint64_t h = ffrt::fnv1a64(&m.V, sizeof m.V);
  auto add = [&](const auto& v) {
    const uint64_t n = v.size();
    h = ffrt::fnv1a64(&n, sizeof n, h);
    if (n) h = ffrt::fnv1a64(v.data(), n * sizeof(v[0]), h);
  };
  add(m.v_template), add(m.faces), add(m.shapedirs), add(m.exprdirs), add(m.j_regressor), add(m.weights);
  add(m.parents), add(m.uvs), add(m.uv_faces);
  for (const auto& [name, ids] : m.masks) add(name), add(ids);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace ff::flame
