// train/data/synth.cpp — synthetic NeRSemble-layout identities: geometry, procedural face texture, rig, rendering.
#include "train/data/synth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "flame/headmodel.h"
#include "flame/mesh.h"
#include "flame/npy.h"
#include "train/data/preprocess.h"
#include "flame/mesh_raster.h"

namespace fs = std::filesystem;

namespace ff::data {

// ---- small maths --------------------------------------------------------------------------------
namespace {

struct V2 {
  double x = 0, y = 0;
};
struct V3 {
  double x = 0, y = 0, z = 0;
};
inline V3 operator+(V3 a, V3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline V3 operator-(V3 a, V3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline V3 operator*(V3 a, double s) { return {a.x * s, a.y * s, a.z * s}; }
inline V3 mul(V3 a, V3 b) { return {a.x * b.x, a.y * b.y, a.z * b.z}; }
inline double dot(V3 a, V3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline V3 cross(V3 a, V3 b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
inline V3 normalize(V3 a) {
  double l = std::sqrt(dot(a, a));
  return l > 0 ? a * (1.0 / l) : V3{0, 0, 1};
}
inline V3 lerp(V3 a, V3 b, double t) { return a + (b - a) * t; }
inline V2 operator-(V2 a, V2 b) { return {a.x - b.x, a.y - b.y}; }
inline V2 operator+(V2 a, V2 b) { return {a.x + b.x, a.y + b.y}; }
inline V2 operator*(V2 a, double s) { return {a.x * s, a.y * s}; }
inline double len(V2 a) { return std::sqrt(a.x * a.x + a.y * a.y); }
inline double smoothstep(double e0, double e1, double x) {
  double t = std::clamp((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}
inline double srgb_to_linear(double c) { return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4); }
inline double linear_to_srgb(double c) {
  c = std::clamp(c, 0.0, 1.0);
  return c <= 0.0031308 ? 12.92 * c : 1.055 * std::pow(c, 1 / 2.4) - 0.055;
}
inline V3 lin(V3 s) { return {srgb_to_linear(s.x), srgb_to_linear(s.y), srgb_to_linear(s.z)}; }

// counter-RNG stream for one (seed, identity, purpose)
struct Rng {
  uint64_t key;
  uint64_t i = 0;
  Rng(uint64_t seed, uint64_t identity, uint64_t purpose)
      : key(rng::mix64(rng::mix64(seed) ^ rng::mix64(identity * 0x9E3779B97F4A7C15ULL + purpose))) {}
  double uniform() { return rng::uniform_at(key, i++); }
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  double normal() { return rng::normal_at(key, i++); }
  bool chance(double p) { return uniform() < p; }
};

// value noise (trilinear, smooth) in [-1, 1]
inline double hash3(uint64_t key, int64_t x, int64_t y, int64_t z) {
  uint64_t h = rng::mix64(key ^ rng::mix64(uint64_t(x) * 0x8CB92BA72F3D8DD7ULL ^ uint64_t(y) * 0xB5AD4ECEDA1CE2A9ULL ^
                                           uint64_t(z) * 0xDB4F0B9175AE2165ULL));
  return double(h >> 11) * 0x1.0p-52 - 1.0;
}
double vnoise(uint64_t key, double x, double y, double z) {
  double fx = std::floor(x), fy = std::floor(y), fz = std::floor(z);
  int64_t ix = int64_t(fx), iy = int64_t(fy), iz = int64_t(fz);
  double tx = x - fx, ty = y - fy, tz = z - fz;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  tz = tz * tz * (3 - 2 * tz);
  double c[2][2][2];
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int d = 0; d < 2; ++d) c[a][b][d] = hash3(key, ix + a, iy + b, iz + d);
  auto L = [](double p, double q, double t) { return p + (q - p) * t; };
  return L(L(L(c[0][0][0], c[1][0][0], tx), L(c[0][1][0], c[1][1][0], tx), ty),
           L(L(c[0][0][1], c[1][0][1], tx), L(c[0][1][1], c[1][1][1], tx), ty), tz);
}
double fbm(uint64_t key, V3 p, int oct) {
  double s = 0, a = 0.5, norm = 0;
  for (int o = 0; o < oct; ++o) {
    s += a * vnoise(key + uint64_t(o), p.x, p.y, p.z);
    norm += a;
    p = p * 2.03;
    a *= 0.5;
  }
  return s / norm;
}
// cellular dots: 1 inside a dot of relative radius `r` around a jittered feature point (present with prob `density`)
double dots(uint64_t key, V3 p, double r, double density) {
  double fx = std::floor(p.x), fy = std::floor(p.y), fz = std::floor(p.z);
  double best = 0;
  for (int a = -1; a <= 1; ++a)
    for (int b = -1; b <= 1; ++b)
      for (int d = -1; d <= 1; ++d) {
        int64_t cx = int64_t(fx) + a, cy = int64_t(fy) + b, cz = int64_t(fz) + d;
        if (0.5 * (hash3(key ^ 0x51ULL, cx, cy, cz) + 1) > density) continue;
        double rr = r * (0.6 + 0.4 * (0.5 * (hash3(key ^ 0x77ULL, cx, cy, cz) + 1)));
        V3 c{cx + 0.5 + 0.4 * hash3(key ^ 0x11ULL, cx, cy, cz), cy + 0.5 + 0.4 * hash3(key ^ 0x22ULL, cx, cy, cz),
             cz + 0.5 + 0.4 * hash3(key ^ 0x33ULL, cx, cy, cz)};
        double dd = std::sqrt(dot(p - c, p - c));
        best = std::max(best, smoothstep(rr, rr * 0.55, dd));
      }
  return best;
}

double seg_dist(V2 p, V2 a, V2 b, double* t_out = nullptr) {
  V2 ab = b - a, ap = p - a;
  double l2 = ab.x * ab.x + ab.y * ab.y;
  double t = l2 > 0 ? std::clamp((ap.x * ab.x + ap.y * ab.y) / l2, 0.0, 1.0) : 0.0;
  if (t_out) *t_out = t;
  return len(p - (a + ab * t));
}
// distance to an open polyline; *s = arc-length parameter in [0, 1] of the nearest point
double polyline_dist(V2 p, const std::vector<V2>& pts, double* s = nullptr) {
  double best = 1e30, total = 0, at = 0, acc = 0;
  for (size_t i = 0; i + 1 < pts.size(); ++i) total += len(pts[i + 1] - pts[i]);
  for (size_t i = 0; i + 1 < pts.size(); ++i) {
    double t;
    double d = seg_dist(p, pts[i], pts[i + 1], &t);
    double l = len(pts[i + 1] - pts[i]);
    if (d < best) {
      best = d;
      at = acc + t * l;
    }
    acc += l;
  }
  if (s) *s = total > 0 ? at / total : 0;
  return best;
}
// signed distance to a closed polygon (negative inside)
double poly_sdist(V2 p, const std::vector<V2>& pts) {
  double d = 1e30;
  bool in = false;
  for (size_t i = 0, j = pts.size() - 1; i < pts.size(); j = i++) {
    d = std::min(d, seg_dist(p, pts[j], pts[i]));
    if ((pts[i].y > p.y) != (pts[j].y > p.y) &&
        p.x < (pts[j].x - pts[i].x) * (p.y - pts[i].y) / (pts[j].y - pts[i].y) + pts[i].x)
      in = !in;
  }
  return in ? -d : d;
}
struct Box {
  double x0 = 1e30, y0 = 1e30, x1 = -1e30, y1 = -1e30;
  void add(V2 p, double m) {
    x0 = std::min(x0, p.x - m);
    y0 = std::min(y0, p.y - m);
    x1 = std::max(x1, p.x + m);
    y1 = std::max(y1, p.y + m);
  }
  bool has(V2 p) const { return p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1; }
};

// Mean-face iBUG points 17..67 in the face frame (origin between the eye centres, unit = inter-ocular distance,
// x to the subject's left, y up) — used only for models without landmarks.
const double kMeanFace[51][2] = {
    {-0.95, 0.30}, {-0.78, 0.42}, {-0.58, 0.46}, {-0.38, 0.44}, {-0.20, 0.38},  // 17-21 right brow
    {0.20, 0.38},  {0.38, 0.44},  {0.58, 0.46},  {0.78, 0.42},  {0.95, 0.30},   // 22-26 left brow
    {0.0, 0.05},   {0.0, -0.15},  {0.0, -0.35},  {0.0, -0.52},                  // 27-30 nose bridge
    {-0.20, -0.65}, {-0.10, -0.68}, {0.0, -0.70}, {0.10, -0.68}, {0.20, -0.65},  // 31-35 nostrils
    {-0.78, 0.0},  {-0.62, 0.07}, {-0.40, 0.07}, {-0.24, 0.0}, {-0.40, -0.06}, {-0.62, -0.06},  // 36-41
    {0.24, 0.0},   {0.40, 0.07},  {0.62, 0.07},  {0.78, 0.0},  {0.62, -0.06},  {0.40, -0.06},   // 42-47
    {-0.42, -1.0}, {-0.27, -0.90}, {-0.10, -0.86}, {0.0, -0.88}, {0.10, -0.86}, {0.27, -0.90},  // 48-53
    {0.42, -1.0},  {0.27, -1.12}, {0.12, -1.17}, {0.0, -1.18}, {-0.12, -1.17}, {-0.27, -1.12},  // 54-59
    {-0.36, -1.0}, {-0.12, -0.97}, {0.0, -0.97}, {0.12, -0.97}, {0.36, -1.0}, {0.12, -1.03}, {0.0, -1.03},
    {-0.12, -1.03}};  // 60-67

// ---- the face frame on the neutral template -----------------------------------------------------
struct FaceFrame {
  V3 origin;       // between the eye centres
  double unit = 1; // inter-ocular distance (m)
  std::vector<V2> L;  // [70] iBUG points (0..16 may be estimated) + 2 pupils, in face-frame units
  bool has_contour = false;
  V2 q(V3 p) const { return {(p.x - origin.x) / unit, (p.y - origin.y) / unit}; }
  double depth(V3 p) const { return (p.z - origin.z) / unit; }
};

std::vector<V3> embed(const flame::FlameModel& m, const flame::LandmarkEmbedding& e, const std::vector<double>& verts) {
  std::vector<V3> out;
  for (int l = 0; l < e.count(); ++l) {
    V3 s;
    for (int k = 0; k < 3; ++k) {
      int v = m.faces[size_t(e.face_idx[size_t(l)]) * 3 + size_t(k)];
      double w = e.bary[size_t(l) * 3 + size_t(k)];
      s = s + V3{verts[size_t(v) * 3], verts[size_t(v) * 3 + 1], verts[size_t(v) * 3 + 2]} * w;
    }
    out.push_back(s);
  }
  return out;
}

FaceFrame face_frame(const flame::FlameModel& m, const std::vector<double>& verts) {
  FaceFrame f;
  std::vector<V3> P(70);
  bool have = false;
  if (m.full_landmarks.count() >= 68) {
    auto l = embed(m, m.full_landmarks, verts);
    for (int i = 0; i < 68; ++i) P[size_t(i)] = l[size_t(i)];
    f.has_contour = true;
    have = true;
  } else if (m.static_landmarks.count() == 51) {
    auto l = embed(m, m.static_landmarks, verts);
    for (int i = 0; i < 51; ++i) P[size_t(17 + i)] = l[size_t(i)];
    have = true;
  }
  if (have) {
    V3 er, el;
    for (int i = 36; i < 42; ++i) er = er + P[size_t(i)] * (1.0 / 6);
    for (int i = 42; i < 48; ++i) el = el + P[size_t(i)] * (1.0 / 6);
    f.origin = (er + el) * 0.5;
    f.unit = std::hypot(el.x - er.x, el.y - er.y);
    FF_CHECK(f.unit > 1e-4, "synth: the model's eye landmarks coincide");
    f.L.resize(70);
    for (int i = 17; i < 68; ++i) f.L[size_t(i)] = f.q(P[size_t(i)]);
    if (f.has_contour)
      for (int i = 0; i < 17; ++i) f.L[size_t(i)] = f.q(P[size_t(i)]);
    if (m.full_landmarks.count() >= 70) {
      auto l = embed(m, m.full_landmarks, verts);
      f.L[68] = f.q(l[68]);
      f.L[69] = f.q(l[69]);
    } else {
      f.L[68] = (f.q(er));
      f.L[69] = (f.q(el));
    }
  } else {  // mean-face layout on the bounding box
    V3 lo{1e30, 1e30, 1e30}, hi{-1e30, -1e30, -1e30};
    for (size_t i = 0; i < verts.size(); i += 3) {
      lo = {std::min(lo.x, verts[i]), std::min(lo.y, verts[i + 1]), std::min(lo.z, verts[i + 2])};
      hi = {std::max(hi.x, verts[i]), std::max(hi.y, verts[i + 1]), std::max(hi.z, verts[i + 2])};
    }
    f.unit = 0.42 * (hi.x - lo.x);
    f.origin = {(lo.x + hi.x) / 2, lo.y + 0.62 * (hi.y - lo.y), hi.z};
    f.L.resize(70);
    for (int i = 0; i < 51; ++i) f.L[size_t(17 + i)] = {kMeanFace[i][0], kMeanFace[i][1]};
    f.L[68] = {-0.5, 0.0};
    f.L[69] = {0.5, 0.0};
  }
  if (!f.has_contour) {  // a jaw contour from the face width: an arc from ear level over the chin
    for (int i = 0; i < 17; ++i) {
      double a = M_PI * (1.0 + double(i) / 16.0);  // π .. 2π
      f.L[size_t(i)] = {1.05 * std::cos(a), -0.25 + 1.25 * std::sin(a)};
    }
  }
  return f;
}

// ---- appearance ---------------------------------------------------------------------------------
struct Appearance {
  uint64_t key;
  V3 skin;         // linear
  V3 lip;          // linear
  V3 hair;         // linear
  V3 brow;         // linear
  V3 iris;         // linear
  V3 iris2;        // linear (inner ring)
  double blush, blotch, brow_thick, brow_density, lash, iris_scale;
  double freckles = 0, stubble = 0;
  double hairline, temple_hair;
  std::vector<std::pair<V2, double>> moles;
  // lighting
  V3 key_dir, fill_dir;
  double key_i, fill_i, ambient, wrap;
  V3 light_tint;
};

V3 palette(const std::vector<V3>& p, double t) {
  t = std::clamp(t, 0.0, 1.0) * double(p.size() - 1);
  size_t i = std::min(p.size() - 2, size_t(t));
  return lerp(p[i], p[i + 1], t - double(i));
}

Appearance sample_appearance(uint64_t seed, int identity) {
  Rng r(seed, uint64_t(identity), 2);
  Appearance a;
  a.key = rng::mix64(seed * 31 + uint64_t(identity) + 0xABCDEF);
  static const std::vector<V3> skins = {{0.93, 0.77, 0.66}, {0.90, 0.72, 0.60}, {0.84, 0.64, 0.50},
                                        {0.74, 0.56, 0.41}, {0.60, 0.42, 0.30}, {0.45, 0.30, 0.21},
                                        {0.33, 0.22, 0.15}};
  V3 s = palette(skins, r.uniform());
  s = mul(s, {1 + 0.04 * r.normal(), 1 + 0.03 * r.normal(), 1 + 0.04 * r.normal()});  // undertone
  a.skin = lin(s);
  double lipdark = r.uniform(0.72, 0.88);
  V3 lipc = mul(s, {0.92 * lipdark, 0.62 * lipdark, 0.62 * lipdark});
  if (r.chance(0.15)) lipc = lerp(lipc, V3{0.62, 0.12, 0.18}, r.uniform(0.5, 0.9));  // lipstick
  a.lip = lin(lipc);
  static const std::vector<V3> hairs = {{0.05, 0.04, 0.035}, {0.16, 0.10, 0.06}, {0.30, 0.19, 0.11}, {0.52, 0.36, 0.20},
                                        {0.74, 0.60, 0.38},  {0.55, 0.24, 0.11}, {0.58, 0.56, 0.54}};
  static const double hair_p[] = {0.30, 0.25, 0.17, 0.10, 0.08, 0.05, 0.05};
  double u = r.uniform(), acc = 0;
  size_t hi = 0;
  for (; hi < 6; ++hi) {
    acc += hair_p[hi];
    if (u < acc) break;
  }
  V3 hc = hairs[hi];
  a.hair = lin(hc);
  // brows: darker than the hair, and never lighter than a mid brown-grey
  V3 bc = mul(hc, {0.7, 0.7, 0.7});
  if (bc.x + bc.y + bc.z > 0.9) bc = lerp(bc, V3{0.25, 0.18, 0.12}, 0.5);
  a.brow = lin(bc);
  static const std::vector<V3> irises = {{0.22, 0.12, 0.06}, {0.38, 0.22, 0.10}, {0.48, 0.38, 0.18},
                                         {0.33, 0.44, 0.27}, {0.32, 0.48, 0.66}, {0.47, 0.53, 0.58}};
  static const double iris_p[] = {0.35, 0.22, 0.12, 0.1, 0.13, 0.08};
  u = r.uniform();
  acc = 0;
  size_t ii = 0;
  for (; ii < 5; ++ii) {
    acc += iris_p[ii];
    if (u < acc) break;
  }
  a.iris = lin(irises[ii]);
  a.iris2 = lin(lerp(irises[ii], V3{0.45, 0.30, 0.12}, r.uniform(0.0, 0.6)));
  a.blush = r.uniform(0.0, 0.35);
  a.blotch = r.uniform(0.04, 0.12);
  a.brow_thick = r.uniform(0.038, 0.065);
  a.brow_density = r.uniform(0.75, 1.0);
  a.lash = r.uniform(0.7, 1.0);
  a.iris_scale = r.uniform(0.92, 1.06);
  if (r.chance(0.35)) a.freckles = r.uniform(0.25, 0.7);
  if (r.chance(0.35)) a.stubble = r.uniform(0.3, 0.85);
  a.hairline = r.uniform(0.95, 1.6);
  a.temple_hair = r.chance(0.5) ? r.uniform(0.3, 1.0) : 0.0;
  int nm = int(r.uniform(0, 3.2));
  for (int i = 0; i < nm; ++i) a.moles.push_back({V2{r.uniform(-1.1, 1.1), r.uniform(-1.4, 0.9)}, r.uniform(0.008, 0.018)});
  // lights (world = canonical up to the small head rotation; y up, z towards the frontal cameras)
  double kaz = r.uniform(-0.6, 0.6), kel = r.uniform(0.3, 0.8);
  a.key_dir = normalize({std::sin(kaz) * std::cos(kel), std::sin(kel), std::cos(kaz) * std::cos(kel)});
  a.fill_dir = normalize({-a.key_dir.x, 0.1, 0.8});
  a.key_i = r.uniform(0.85, 1.05);
  a.fill_i = r.uniform(0.12, 0.22);
  a.ambient = r.uniform(0.12, 0.2);
  a.wrap = 0.2;
  a.light_tint = {1 + 0.03 * r.normal(), 1.0, 1 - 0.03 * r.normal()};
  return a;
}

// Albedo (linear RGB) of the template point p (metres, model frame) with unit normal n.
V3 albedo(const Appearance& a, const FaceFrame& f, V3 p, V3 n) {
  const uint64_t k = a.key;
  V2 q = f.q(p);
  const auto& L = f.L;
  // skin: tone, low-frequency blotches (reddish), pores
  double b = fbm(k + 1, p * 28.0, 4);
  V3 c = mul(a.skin, {1 + a.blotch * b * 1.2, 1 + a.blotch * b * 0.7, 1 + a.blotch * b * 0.6});
  double pores = vnoise(k + 9, p.x * 1400, p.y * 1400, p.z * 1400);
  c = c * (1 + 0.035 * pores);
  // front-facing weight: facial features only on the face side of the head
  double front = smoothstep(0.0, 0.3, n.z) * smoothstep(-1.4, -0.9, f.depth(p));
  if (front <= 0) {
    // back/top of a full head: hair above the ears
    if (q.y > 0.3) c = lerp(c, mul(a.hair, V3{1, 1, 1} * (0.8 + 0.4 * fbm(k + 40, {p.x * 300, p.y * 40, p.z * 300}, 2))), 0.9);
    return c;
  }
  // cheeks
  for (int s = -1; s <= 1; s += 2) {
    V2 cc{0.62 * s, -0.5};
    double g = std::exp(-(std::pow(q.x - cc.x, 2) + std::pow(q.y - cc.y, 2)) / (2 * 0.28 * 0.28));
    c = mul(c, {1 + 0.25 * a.blush * g * front, 1 - 0.18 * a.blush * g * front, 1 - 0.15 * a.blush * g * front});
  }
  // nose tip and ear-side redness, under-eye shadow, a darker periphery (the face reads as rounded)
  {
    double nt = std::exp(-(std::pow(q.x - L[30].x, 2) + std::pow(q.y - L[30].y, 2)) / (2 * 0.12 * 0.12));
    c = mul(c, {1 + 0.08 * nt * front, 1 - 0.05 * nt * front, 1 - 0.05 * nt * front});
    for (int s = 0; s < 2; ++s) {
      V2 ue = (s == 0 ? (L[40] + L[41]) * 0.5 : (L[46] + L[47]) * 0.5) + V2{0, -0.09};
      double g = std::exp(-(std::pow((q.x - ue.x) / 0.2, 2) + std::pow((q.y - ue.y) / 0.07, 2)));
      c = mul(c, {1 - 0.10 * g * front, 1 - 0.12 * g * front, 1 - 0.08 * g * front});
    }
    double rr = std::hypot(q.x / 1.15, (q.y + 0.35) / 1.45);
    c = c * (1 - 0.18 * smoothstep(0.75, 1.15, rr));
  }
  // freckles across the nose and cheeks
  if (a.freckles > 0) {
    double g = std::exp(-std::pow(q.x / 0.85, 2) - std::pow((q.y + 0.4) / 0.32, 2));
    if (g > 0.02) {
      double d = dots(k + 21, p * 350.0, 0.32, 0.55 * a.freckles);
      c = lerp(c, mul(c, {0.72, 0.55, 0.42}), d * g * front);
    }
  }
  // moles
  for (auto& m : a.moles)
    if (len(q - m.first) < m.second * 1.5) c = lerp(c, mul(c, {0.45, 0.32, 0.25}), smoothstep(m.second, m.second * 0.6, len(q - m.first)) * front);
  // stubble: below the nose, inside the jaw contour, outside the lips
  std::vector<V2> outer(L.begin() + 48, L.begin() + 60);
  double lip_sd = poly_sdist(q, outer);
  if (a.stubble > 0) {
    // moustache between the nose base and the upper lip, and a beard below a line that rises from the mouth
    // corners towards the sideburns
    double mw = 0.5 * std::fabs(L[54].x - L[48].x) + 0.08;
    double must = smoothstep(mw + 0.06, mw - 0.02, std::fabs(q.x)) * smoothstep(L[33].y - 0.02, L[33].y - 0.08, q.y);
    double ax = std::max(0.0, std::fabs(q.x) - 0.35);
    double line = L[48].y + 0.05 + 0.9 * ax;
    double beard = smoothstep(line + 0.06, line - 0.08, q.y);
    double w = std::max(must, beard) * smoothstep(-0.01, 0.04, lip_sd);
    if (w > 0) {
      double speck = smoothstep(0.15, 0.55, vnoise(k + 31, p.x * 2600, p.y * 2600, p.z * 2600));
      c = lerp(c, mul(c, {0.86, 0.86, 0.9}), w * a.stubble * 0.6);          // shadow of the shaved area
      c = lerp(c, a.hair * 0.7, w * a.stubble * speck * 0.75);             // hair dots
    }
  }
  // hairline (where the mesh reaches it) and temple hair
  {
    double edge = a.hairline + 0.18 * q.x * q.x + 0.08 * fbm(k + 41, p * 90.0, 2);
    double h = smoothstep(edge - 0.04, edge + 0.05, q.y);
    if (a.temple_hair > 0) h = std::max(h, a.temple_hair * smoothstep(1.0, 1.2, std::fabs(q.x)) * smoothstep(0.0, 0.35, q.y));
    if (h > 0) {
      double strands = 0.75 + 0.5 * fbm(k + 42, {p.x * 900, p.y * 60, p.z * 900}, 2);
      c = lerp(c, a.hair * strands, h);
    }
  }
  // brows: bands below the brow landmarks, thicker at the inner end, with hair strokes
  for (int s = 0; s < 2; ++s) {
    std::vector<V2> br = s == 0 ? std::vector<V2>{L[21], L[20], L[19], L[18], L[17]}
                                : std::vector<V2>{L[22], L[23], L[24], L[25], L[26]};
    for (auto& v : br) v.y -= 0.025;
    Box bb;
    for (auto& v : br) bb.add(v, 0.12);
    if (!bb.has(q)) continue;
    double t;
    double d = polyline_dist(q, br, &t);
    double h = a.brow_thick * (1.15 - 0.6 * t);
    double w = smoothstep(h + 0.012, h - 0.012, d);
    if (w > 0) {
      V2 dir = br[4] - br[0];
      double ang = std::atan2(dir.y, dir.x);
      double u = q.x * std::cos(ang) + q.y * std::sin(ang), vv = -q.x * std::sin(ang) + q.y * std::cos(ang);
      double strokes = smoothstep(-0.4, 0.6, vnoise(k + 50 + uint64_t(s), u * 40, vv * 300, 0.0));
      c = lerp(c, a.brow, w * a.brow_density * (0.75 + 0.25 * strokes) * front);
    }
  }
  // nostrils (dark ellipses under the tip)
  for (int s = 0; s < 2; ++s) {
    V2 ctr = L[s == 0 ? 31 : 35] * 0.7 + L[33] * 0.3;
    ctr.y += 0.012;
    double e = std::hypot((q.x - ctr.x) / 0.045, (q.y - ctr.y) / 0.022);
    if (e < 1.3) c = lerp(c, c * 0.3, smoothstep(1.2, 0.5, e) * 0.85 * front);
  }
  // lips and the mouth line
  if (lip_sd < 0.03) {
    double w = smoothstep(0.012, -0.012, lip_sd);
    double wr = 0.9 + 0.1 * vnoise(k + 60, q.x * 70, q.y * 8, 0.0);
    V3 lc = a.lip * wr;
    lc = lerp(lc, a.lip * 1.25, smoothstep(0.008, 0.0, std::fabs(lip_sd)) * 0.4);  // vermilion border
    c = lerp(c, lc, w * front);
    std::vector<V2> up{L[60], L[61], L[62], L[63], L[64]}, lo{L[64], L[65], L[66], L[67], L[60]};
    std::vector<V2> inner(L.begin() + 60, L.begin() + 68);
    double dm = std::min(polyline_dist(q, up), polyline_dist(q, lo));
    double in_mouth = poly_sdist(q, inner) < 0 ? 1.0 : smoothstep(0.012, 0.004, dm);
    c = lerp(c, a.lip * 0.18, in_mouth * front);
  }
  // eyes
  for (int s = 0; s < 2; ++s) {
    const int b0 = s == 0 ? 36 : 42;
    std::vector<V2> E(L.begin() + b0, L.begin() + b0 + 6);
    Box bb;
    for (auto& v : E) bb.add(v, 0.16);
    if (!bb.has(q)) continue;
    double w_e = len(E[3] - E[0]);
    V2 ctr = L[size_t(68 + s)];
    double sd = poly_sdist(q, E);
    // upper-lid crease above the eye
    std::vector<V2> upper{E[0], E[1], E[2], E[3]}, lower{E[3], E[4], E[5], E[0]};
    std::vector<V2> crease = upper;
    for (auto& v : crease) v.y += 0.075;
    double dc = polyline_dist(q, crease);
    if (sd > 0) c = lerp(c, mul(c, {0.8, 0.72, 0.7}), smoothstep(0.03, 0.0, dc) * 0.5 * front);
    if (sd > 0) c = lerp(c, mul(c, {0.93, 0.88, 0.88}), smoothstep(0.09, 0.0, sd) * 0.5 * front);  // socket shade
    double in_eye = smoothstep(0.014, 0.0, sd);
    if (in_eye > 0) {
      V3 sclera = lin({0.84, 0.80, 0.76});
      double corner = std::min(len(q - E[3]), len(q - E[0]));
      sclera = lerp(sclera, lin({0.80, 0.55, 0.52}), smoothstep(0.09, 0.0, corner) * 0.6);
      V3 e = sclera;
      double ri = 0.2 * w_e * a.iris_scale, r = len(q - ctr);
      if (r < ri * 1.1) {
        double ang = std::atan2(q.y - ctr.y, q.x - ctr.x);
        double streak = vnoise(k + 70 + uint64_t(s), std::cos(ang) * 14, std::sin(ang) * 14, r / ri * 4);
        V3 ic = lerp(a.iris2, a.iris, smoothstep(0.35, 0.75, r / ri)) * (0.8 + 0.35 * streak);
        ic = ic * (1 - 0.6 * smoothstep(0.75, 1.0, r / ri));  // limbal ring
        if (r < 0.4 * ri) ic = lerp(ic, V3{0.01, 0.01, 0.012}, smoothstep(0.4 * ri, 0.34 * ri, r));
        e = lerp(e, ic, smoothstep(ri + 0.006, ri - 0.006, r));
        V2 hl = ctr + V2{-0.35 * ri, 0.35 * ri};
        e = lerp(e, V3{0.9, 0.9, 0.9}, smoothstep(0.16 * ri, 0.08 * ri, len(q - hl)));  // catch-light
      }
      // lids shade the top of the eyeball
      double top = polyline_dist(q, upper);
      e = e * (1 - 0.35 * smoothstep(0.05, 0.0, top));
      c = lerp(c, e, in_eye * front);
    }
    // lashes (upper, thicker at the outer corner) and the lower lid line
    double t;
    double dl = polyline_dist(q, s == 0 ? upper : std::vector<V2>{E[3], E[2], E[1], E[0]}, &t);
    double th = 0.016 + 0.018 * (1 - t) * a.lash;
    c = lerp(c, a.hair * 0.35 + V3{0.005, 0.004, 0.004}, smoothstep(th, th * 0.4, dl) * front);
    double dlo = polyline_dist(q, lower);
    c = lerp(c, c * 0.65, smoothstep(0.012, 0.0, dlo) * 0.6 * front);
  }
  return c;
}

// ---- rig ----------------------------------------------------------------------------------------
Mat4 look_at_w2c(V3 eye, V3 target, double roll) {
  V3 fw = normalize(target - eye);
  V3 right = normalize(cross(fw, {0, 1, 0}));
  V3 down = cross(fw, right);
  double cr = std::cos(roll), sr = std::sin(roll);
  V3 r2 = right * cr + down * sr, d2 = down * cr - right * sr;
  Mat4 m = mat4_identity();
  V3 rows[3] = {r2, d2, fw};
  for (int a = 0; a < 3; ++a) {
    m[size_t(a * 4)] = rows[a].x;
    m[size_t(a * 4 + 1)] = rows[a].y;
    m[size_t(a * 4 + 2)] = rows[a].z;
    m[size_t(a * 4 + 3)] = -dot(rows[a], eye);
  }
  return m;
}

double f32(double x) { return double(float(x)); }

std::string pad_name(int i, int n) {
  int digits = std::max(3, int(std::to_string(std::max(0, n - 1)).size()));
  std::string s = std::to_string(i);
  return std::string(size_t(std::max(0, digits - int(s.size()))), '0') + s;
}

// row a of a row-major 3×3 (as a flat vector) times c
double rc_dot(const std::vector<double>& R, int a, V3 c) {
  return R[size_t(a * 3)] * c.x + R[size_t(a * 3 + 1)] * c.y + R[size_t(a * 3 + 2)] * c.z;
}

// What a sequence exercises (matched on its name, so other names work too).
struct SequenceEmphasis {
  std::vector<std::string> modes;  // named expressions drawn often and strongly (empty: every mode)
  double jaw = 0.2, jaw_side = 0, neck = 0.05, eyes = 0.08, head = 1;  // jaw opening max (rad), σ's (rad), head factor
};

SequenceEmphasis sequence_emphasis(const std::string& name) {
  auto has = [&](const char* w) { return name.find(w) != std::string::npos; };
  SequenceEmphasis e;
  if (has("head")) {
    e.modes = {"smile", "brow_raise"};
    e.jaw = 0.05, e.neck = 0.12, e.head = 2;
  } else if (has("eyes")) {
    e.modes = {"eye_close_left", "eye_close_right", "brow_raise", "brow_lower"};
    e.jaw = 0.03, e.eyes = 0.2;
  } else if (has("cheeks") || has("nose")) {
    e.modes = {"cheek_puff", "nose_wrinkle", "smile", "upper_lip_raise"};
    e.jaw = 0.05;
  } else if (has("lips")) {
    e.modes = {"pucker", "smile", "mouth_frown", "mouth_left", "upper_lip_raise", "lower_lip_depress"};
    e.jaw = 0.08;
  } else if (has("mouth")) {
    e.modes = {"jaw_open", "mouth_stretch", "smile", "lower_lip_depress", "pucker"};
    e.jaw = 0.25;
  } else if (has("tongue")) {
    e.modes = {"jaw_open", "mouth_stretch"};
    e.jaw = 0.3;
  } else if (has("jaw")) {
    e.modes = {"jaw_open"};
    e.jaw = 0.35, e.jaw_side = 0.08;
  }
  return e;
}

// The tracking of sequence q (T timesteps) of an identity whose reference tracking row is `ref` (neutral), whose
// neutral canonical mesh is centred at c, and whose rigid translation is −R·c + base_noise.
FlameTracking sequence_tracking(const flame::FlameModel& m, const SynthOptions& o, int index, int q, const std::string& name,
                                const FlameTracking& ref, V3 c, V3 base_noise) {
  const int T = o.timesteps, E = ref.E;
  const double deg = M_PI / 180, a = o.expression_std / 0.5;
  FlameTracking tr;
  tr.T = T;
  tr.E = E;
  tr.shape = ref.shape;
  tr.scale = ref.scale;
  tr.expression.assign(size_t(T) * size_t(E), 0.0);
  tr.jaw.assign(size_t(T) * 3, 0.0);
  tr.neck.assign(size_t(T) * 3, 0.0);
  tr.eyes.assign(size_t(T) * 6, 0.0);
  tr.rotation.assign(size_t(T) * 3, 0.0);
  tr.rotation_matrices.assign(size_t(T) * 9, 0.0);
  tr.translation.assign(size_t(T) * 3, 0.0);
  tr.frames.resize(size_t(T));
  const SequenceEmphasis em = sequence_emphasis(name);
  // the built-in model's named expressions (a FLAME model's modes have no names)
  const bool named = flame::is_builtin_model_name(o.model_name) && m.E <= flame::kBuiltinExprModes;
  const std::vector<std::string>& names = flame::builtin_head_info().expr_names;
  for (int t = 0; t < T; ++t) {
    tr.frames[size_t(t)] = t;
    if (q == 0 && t == 0) {  // the reference: neutral, the identity's rigid pose
      for (int k = 0; k < 3; ++k) {
        tr.rotation[size_t(k)] = ref.rotation[size_t(k)];
        tr.translation[size_t(k)] = ref.translation[size_t(k)];
      }
      for (int k = 0; k < 9; ++k) tr.rotation_matrices[size_t(k)] = ref.rotation_matrices[size_t(k)];
      continue;
    }
    Rng r(o.seed, uint64_t(index), 1000 + uint64_t(q) * 100003 + uint64_t(t));
    double* ex = &tr.expression[size_t(t) * size_t(E)];
    if (named) {
      for (int k = 0; k < std::min(m.E, int(names.size())); ++k) {
        const std::string& nm = names[size_t(k)];
        const bool strong = em.modes.empty() || std::find(em.modes.begin(), em.modes.end(), nm) != em.modes.end();
        double v = 0;
        if (strong ? r.chance(0.7) : r.chance(0.15)) v = (strong ? r.uniform(0.4, 1.6) : 0.3 * r.uniform()) * o.expression_std;
        if (nm == "mouth_left" && r.chance(0.5)) v = -v;  // either side
        ex[k] = f32(v);
      }
      // blinks: both lids together half of the time
      const int l = flame::builtin_expression_index("eye_close_left"), rr = flame::builtin_expression_index("eye_close_right");
      if (l >= 0 && rr >= 0 && l < m.E && rr < m.E && r.chance(0.5)) ex[rr] = ex[l];
    } else {
      for (int k = 0; k < std::min(E, std::min(m.E, 10)); ++k) ex[k] = f32(o.expression_std * r.normal());
    }
    double* jaw = &tr.jaw[size_t(t) * 3];
    jaw[0] = f32(a * r.uniform(0.0, em.jaw));  // opening (positive x opens)
    jaw[1] = f32(a * em.jaw_side * r.normal());
    double* neck = &tr.neck[size_t(t) * 3];
    neck[0] = f32(a * em.neck * r.normal());
    neck[1] = f32(a * em.neck * r.normal());
    neck[2] = f32(0.5 * a * em.neck * r.normal());
    double* eyes = &tr.eyes[size_t(t) * 6];
    eyes[0] = eyes[3] = a * em.eyes * r.normal();  // conjugate gaze: both eyes alike
    eyes[1] = eyes[4] = a * em.eyes * r.normal();
    // rigid head motion about the identity's pose
    double* rot = &tr.rotation[size_t(t) * 3];
    for (int k = 0; k < 3; ++k) rot[k] = f32(ref.rotation[size_t(k)] + em.head * o.head_motion_deg * deg * r.normal());
    auto R = euler_xyz_to_matrix(rot);
    std::vector<double> Rf(9);
    for (int k = 0; k < 9; ++k) Rf[size_t(k)] = tr.rotation_matrices[size_t(t) * 9 + size_t(k)] = f32(R[size_t(k)]);
    const double bn[3] = {base_noise.x, base_noise.y, base_noise.z};
    for (int k = 0; k < 3; ++k) tr.translation[size_t(t) * 3 + size_t(k)] = f32(-rc_dot(Rf, k, c) + bn[k] + 0.005 * r.normal());
  }
  for (std::vector<double>* v : {&tr.expression, &tr.jaw, &tr.neck, &tr.eyes, &tr.rotation, &tr.rotation_matrices, &tr.translation})
    for (double& x : *v) x = f32(x);  // what the npz stores is exactly what is rendered
  tr.validate("synth identity " + std::to_string(index) + " sequence " + name);
  return tr;
}

void render_views(const flame::FlameModel& m, const SynthOptions& o, const Appearance& ap, const std::vector<float>& tex,
                  const std::vector<double>& cv, const Mat4& cano2world, const std::vector<ff::Camera>& cameras,
                  const std::vector<Mat4>& world_2_cam, std::vector<Image8>& images, std::vector<Image8>& alphas);

}  // namespace

bool synth_has_expressions(const SynthOptions& o) { return o.sequences > 1 || o.timesteps > 1; }

std::vector<std::string> synth_sequence_names(const SynthOptions& o) {
  const std::vector<std::string>& all = nersemble_sequences();
  FF_CHECK(o.sequences >= 1 && o.sequences <= int(all.size()), "synth: sequences must be 1..", all.size(), ", got ", o.sequences);
  std::vector<std::string> out = {o.sequence};
  for (auto& n : all)
    if (int(out.size()) < o.sequences && n != o.sequence) out.push_back(n);
  return out;
}

int synth_heldout_sequences(const SynthOptions& o) {
  return o.heldout_sequences >= 0 ? o.heldout_sequences : (o.sequences >= 2 ? 1 : 0);
}

const std::vector<RigCamera>& synth_rig() {
  static const std::vector<RigCamera> rig = [] {
    // positions: centre first, then eye level, above, below
    const double pos[16][2] = {{0, 0},    {-22, 0},  {22, 0},  {-45, 0}, {45, 0},   {-70, 0},   {70, 0},    {0, 22},
                               {-30, 22}, {30, 22},  {-60, 22}, {60, 22}, {-13, -20}, {13, -20}, {-40, -20}, {40, -20}};
    std::vector<std::string> serials = nersemble_serials();
    serials.erase(std::find(serials.begin(), serials.end(), std::string(kCentreSerial)));
    serials.insert(serials.begin(), kCentreSerial);
    std::vector<RigCamera> r;
    for (int i = 0; i < 16; ++i) r.push_back({serials[size_t(i)], pos[i][0], pos[i][1]});
    return r;
  }();
  return rig;
}

std::string synth_subject_name(int i, int n) { return pad_name(i, n); }

// ---- one identity -------------------------------------------------------------------------------
SynthIdentity synth_identity(const flame::FlameModel& m, const SynthOptions& o, int index, bool render) {
  FF_CHECK(!m.uvs.empty() && m.uv_faces.size() == m.faces.size(), "synth: the head model '", m.source,
           "' has no UVs (uvs + uv_faces); load its template OBJ");
  FF_CHECK(o.width >= 8 && o.height >= 8 && o.width <= 8192 && o.height <= 8192, "synth: bad image size ", o.width, "x", o.height);
  FF_CHECK(o.supersample >= 1 && o.supersample <= 4, "synth: supersample must be 1..4");
  FF_CHECK(o.texture_size >= 16 && o.texture_size <= 4096, "synth: texture_size must be 16..4096");
  FF_CHECK(o.timesteps >= 1 && o.timesteps <= 100000, "synth: timesteps must be ≥ 1, got ", o.timesteps);
  FF_CHECK(std::isfinite(o.expression_std) && o.expression_std >= 0, "synth: expression_std must be ≥ 0, got ", o.expression_std);
  FF_CHECK(std::isfinite(o.head_motion_deg) && o.head_motion_deg >= 0, "synth: head_motion_deg must be ≥ 0, got ", o.head_motion_deg);
  SynthIdentity id;
  id.name = pad_name(index, o.n);
  id.index = index;
  Rng rg(o.seed, uint64_t(index), 1);

  // ---- tracking (float32-exact) ----
  FlameTracking& tr = id.tracking;
  tr.T = 1;
  int ns = o.n_shape < 0 ? std::min(m.S, 300) : std::min(o.n_shape, m.S);
  tr.shape.assign(size_t(std::max(300, ns)), 0.0);
  for (int i = 0; i < ns; ++i) tr.shape[size_t(i)] = f32(o.shape_std * rg.normal());
  tr.E = 100;
  tr.expression.assign(100, 0.0);
  tr.jaw = {f32(rg.uniform(0.0, 0.03)), 0.0, 0.0};
  tr.neck = {f32(0.03 * rg.normal()), f32(0.03 * rg.normal()), f32(0.02 * rg.normal())};
  tr.eyes.assign(6, 0.0);
  tr.scale = f32(rg.uniform(0.97, 1.03));
  tr.frames = {0};
  const double deg = M_PI / 180;
  tr.rotation = {f32(rg.uniform(-5, 5) * deg), f32(rg.uniform(-7, 7) * deg), f32(rg.uniform(-3, 3) * deg)};
  auto R = euler_xyz_to_matrix(tr.rotation.data());
  tr.rotation_matrices.assign(R.begin(), R.end());
  for (double& x : tr.rotation_matrices) x = f32(x);
  const bool expressions = synth_has_expressions(o);
  if (expressions) {  // the reference frame is neutral (the draws above are kept: the identity is the same)
    tr.jaw.assign(3, 0.0);
    tr.neck.assign(3, 0.0);
  }
  // canonical mesh, then the translation that puts its centre near the world origin
  tr.translation = {0, 0, 0};
  id.canonical_vertices = tracked_neutral_vertices(m, tr, 0);
  V3 lo{1e30, 1e30, 1e30}, hi{-1e30, -1e30, -1e30};
  const auto& cv = id.canonical_vertices;
  for (size_t i = 0; i < cv.size(); i += 3) {
    lo = {std::min(lo.x, cv[i]), std::min(lo.y, cv[i + 1]), std::min(lo.z, cv[i + 2])};
    hi = {std::max(hi.x, cv[i]), std::max(hi.y, cv[i + 1]), std::max(hi.z, cv[i + 2])};
  }
  V3 c = (lo + hi) * 0.5;
  for (int a = 0; a < 3; ++a) {
    double rc = tr.rotation_matrices[size_t(a * 3)] * c.x + tr.rotation_matrices[size_t(a * 3 + 1)] * c.y +
                tr.rotation_matrices[size_t(a * 3 + 2)] * c.z;
    tr.translation[size_t(a)] = f32(-rc + 0.005 * rg.normal());
  }
  tr.validate("synth identity " + id.name);
  id.cano2world = rigid_from_scaled(tracking_cano2world_scaled(tr, 0));
  id.sequences = synth_sequence_names(o);
  if (expressions) {
    const V3 centre_noise{tr.translation[0] + rc_dot(tr.rotation_matrices, 0, c), tr.translation[1] + rc_dot(tr.rotation_matrices, 1, c),
                          tr.translation[2] + rc_dot(tr.rotation_matrices, 2, c)};
    for (int q = 0; q < int(id.sequences.size()); ++q)
      id.sequence_tracking.push_back(sequence_tracking(m, o, index, q, id.sequences[size_t(q)], tr, c, centre_noise));
    tr = id.sequence_tracking[0];
  } else {
    id.sequence_tracking = {tr};
  }

  // ---- cameras ----
  CameraParams& cp = id.calibration;
  cp.shared_intrinsics = true;
  Intrinsics K{f32(o.focal * (1 + 0.01 * rg.normal())), 0, f32(kCalibWidth / 2.0 - 0.5 + 8 * rg.normal()),
               f32(kCalibHeight / 2.0 - 0.5 + 8 * rg.normal())};
  K.fy = K.fx;
  for (const RigCamera& rc : synth_rig()) {
    double az = rc.azimuth_deg * deg, el = rc.elevation_deg * deg;
    double d = o.camera_distance * (1 + 0.015 * rg.normal());
    V3 eye{d * std::sin(az) * std::cos(el), d * std::sin(el), d * std::cos(az) * std::cos(el)};
    eye = eye + V3{0.008 * rg.normal(), 0.008 * rg.normal(), 0.008 * rg.normal()};
    V3 target{0.005 * rg.normal(), 0.005 * rg.normal(), 0.005 * rg.normal()};
    Mat4 w2c = look_at_w2c(eye, target, 0.7 * deg * rg.normal());
    cp.world_2_cam[rc.serial] = w2c;
    cp.intrinsics[rc.serial] = K;
  }
  for (auto& serial : cp.serials()) {  // sorted, like NersembleReader
    ff::Camera cam;
    cam.name = serial;
    cam.width = o.width;
    cam.height = o.height;
    const Intrinsics k = to_splat_intrinsics(K, o.width, o.height);
    cam.intrinsics = {k.fx, k.fy, k.cx, k.cy};
    cam.viewmat = mat4_mul(cp.world_2_cam[serial], id.cano2world);
    id.cameras.push_back(cam);
    id.world_2_cam.push_back(cp.world_2_cam[serial]);
  }
  if (!render) return id;

  // ---- texture: bake the procedural albedo over the UV layout ----
  const int TS = o.texture_size;
  Appearance ap = sample_appearance(o.seed, index);
  FaceFrame ff = face_frame(m, m.v_template);
  std::vector<double> tnormals = flame::vertex_normals(m.v_template.data(), m.V, m.faces.data(), m.F);
  std::vector<float> tex(size_t(TS) * TS * 3, 0.f);
  std::vector<uint8_t> filled(size_t(TS) * TS, 0);
  for (int f = 0; f < m.F; ++f) {
    const int32_t* tf = &m.uv_faces[size_t(f) * 3];
    const int32_t* vf = &m.faces[size_t(f) * 3];
    double ux[3], uy[3];
    for (int k = 0; k < 3; ++k) {
      ux[k] = m.uvs[size_t(tf[k]) * 2] * TS - 0.5;
      uy[k] = (1.0 - m.uvs[size_t(tf[k]) * 2 + 1]) * TS - 0.5;
    }
    double area = (ux[1] - ux[0]) * (uy[2] - uy[0]) - (ux[2] - ux[0]) * (uy[1] - uy[0]);
    if (std::fabs(area) < 1e-12) continue;
    int x0 = std::max(0, int(std::floor(std::min({ux[0], ux[1], ux[2]})))), x1 = std::min(TS - 1, int(std::ceil(std::max({ux[0], ux[1], ux[2]}))));
    int y0 = std::max(0, int(std::floor(std::min({uy[0], uy[1], uy[2]})))), y1 = std::min(TS - 1, int(std::ceil(std::max({uy[0], uy[1], uy[2]}))));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        double b1 = ((x - ux[0]) * (uy[2] - uy[0]) - (ux[2] - ux[0]) * (y - uy[0])) / area;
        double b2 = ((ux[1] - ux[0]) * (y - uy[0]) - (x - ux[0]) * (uy[1] - uy[0])) / area;
        double b0 = 1 - b1 - b2;
        const double eps = -0.02;  // a little overlap so island edges are covered
        if (b0 < eps || b1 < eps || b2 < eps) continue;
        size_t ti = size_t(y) * TS + size_t(x);
        if (filled[ti]) continue;
        V3 p, n;
        double bb[3] = {b0, b1, b2};
        for (int k = 0; k < 3; ++k) {
          const double* vp = &m.v_template[size_t(vf[k]) * 3];
          const double* vn = &tnormals[size_t(vf[k]) * 3];
          p = p + V3{vp[0], vp[1], vp[2]} * bb[k];
          n = n + V3{vn[0], vn[1], vn[2]} * bb[k];
        }
        V3 col = albedo(ap, ff, p, normalize(n));
        tex[ti * 3] = float(col.x);
        tex[ti * 3 + 1] = float(col.y);
        tex[ti * 3 + 2] = float(col.z);
        filled[ti] = 1;
      }
  }
  for (int it = 0; it < 8; ++it) {  // dilate the islands by 8 texels
    std::vector<uint8_t> nf = filled;
    for (int y = 0; y < TS; ++y)
      for (int x = 0; x < TS; ++x) {
        size_t ti = size_t(y) * TS + size_t(x);
        if (filled[ti]) continue;
        float s[3] = {0, 0, 0};
        int cnt = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            int xx = x + dx, yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= TS || yy >= TS) continue;
            size_t tj = size_t(yy) * TS + size_t(xx);
            if (!filled[tj]) continue;
            for (int k = 0; k < 3; ++k) s[k] += tex[tj * 3 + size_t(k)];
            ++cnt;
          }
        if (cnt) {
          for (int k = 0; k < 3; ++k) tex[ti * 3 + size_t(k)] = s[k] / float(cnt);
          nf[ti] = 1;
        }
      }
    filled.swap(nf);
  }
  id.texture = Image8(TS, TS, 3);
  for (size_t i = 0; i < tex.size(); ++i) id.texture.pixels[i] = uint8_t(std::lround(linear_to_srgb(tex[i]) * 255));
  id.albedo = std::move(tex);
  render_views(m, o, ap, id.albedo, cv, id.cano2world, id.cameras, id.world_2_cam, id.images, id.alpha);
  return id;
}

namespace {

// Renders the canonical mesh `cv` placed by cano2world into every camera (see the header comment).
void render_views(const flame::FlameModel& m, const SynthOptions& o, const Appearance& ap, const std::vector<float>& tex,
                  const std::vector<double>& cv, const Mat4& cano2world, const std::vector<ff::Camera>& cameras,
                  const std::vector<Mat4>& world_2_cam, std::vector<Image8>& images, std::vector<Image8>& alphas) {
  const int TS = o.texture_size;
  FF_CHECK(tex.size() == size_t(TS) * TS * 3, "synth: the identity's albedo is not rendered (texture ", TS, "²)");
  images.clear();
  alphas.clear();
  // world mesh = cano2world · canonical
  const Mat4& C = cano2world;
  std::vector<double> wv(cv.size());
  for (size_t i = 0; i < cv.size(); i += 3)
    for (int a = 0; a < 3; ++a)
      wv[i + size_t(a)] = C[size_t(a * 4)] * cv[i] + C[size_t(a * 4 + 1)] * cv[i + 1] + C[size_t(a * 4 + 2)] * cv[i + 2] + C[size_t(a * 4 + 3)];
  std::vector<double> wn = flame::vertex_normals(wv.data(), m.V, m.faces.data(), m.F);
  // sRGB encode table over linear [0, 1]
  static const std::vector<uint8_t> enc = [] {
    std::vector<uint8_t> t(4097);
    for (int i = 0; i <= 4096; ++i) t[size_t(i)] = uint8_t(std::lround(linear_to_srgb(i / 4096.0) * 255));
    return t;
  }();
  const int ss = o.supersample, W = o.width, H = o.height;
  flame::GBuffer g;
  for (size_t ci = 0; ci < cameras.size(); ++ci) {
    const ff::Camera& cam = cameras[ci];
    const Mat4& M = world_2_cam[ci];
    flame::RasterView view{M, cam.fx(), cam.fy(), cam.cx(), cam.cy(), W, H};
    flame::rasterize(wv.data(), m.V, m.faces.data(), m.F, view, ss, g);
    // camera centre in world: −Rᵀt
    V3 cc{-(M[0] * M[3] + M[4] * M[7] + M[8] * M[11]), -(M[1] * M[3] + M[5] * M[7] + M[9] * M[11]),
          -(M[2] * M[3] + M[6] * M[7] + M[10] * M[11])};
    Image8 img(W, H, 3), alpha(W, H, 1);
    const int SW = g.sample_width();
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        V3 acc;
        int cov = 0;
        for (int dy = 0; dy < ss; ++dy)
          for (int dx = 0; dx < ss; ++dx) {
            size_t si = size_t(y * ss + dy) * SW + size_t(x * ss + dx);
            int32_t t = g.tri[si];
            if (t < 0) continue;
            ++cov;
            double b1 = g.bary[si * 2], b2 = g.bary[si * 2 + 1], b0 = 1 - b1 - b2;
            const int32_t* vf = &m.faces[size_t(t) * 3];
            const int32_t* tf = &m.uv_faces[size_t(t) * 3];
            double bb[3] = {b0, b1, b2};
            double u = 0, v = 0;
            V3 n, p;
            for (int k = 0; k < 3; ++k) {
              u += bb[k] * m.uvs[size_t(tf[k]) * 2];
              v += bb[k] * m.uvs[size_t(tf[k]) * 2 + 1];
              const double* vn = &wn[size_t(vf[k]) * 3];
              const double* vp = &wv[size_t(vf[k]) * 3];
              n = n + V3{vn[0], vn[1], vn[2]} * bb[k];
              p = p + V3{vp[0], vp[1], vp[2]} * bb[k];
            }
            n = normalize(n);
            if (dot(n, cc - p) < 0) n = n * -1.0;  // two-sided
            // bilinear lookup
            double tx = std::clamp(u * TS - 0.5, 0.0, TS - 1.0), ty = std::clamp((1 - v) * TS - 0.5, 0.0, TS - 1.0);
            int ix = std::min(int(tx), TS - 2 < 0 ? 0 : TS - 2), iy = std::min(int(ty), TS - 2 < 0 ? 0 : TS - 2);
            double fx = tx - ix, fy = ty - iy;
            const float* t00 = &tex[(size_t(iy) * TS + size_t(ix)) * 3];
            const float* t10 = t00 + 3;
            const float* t01 = t00 + size_t(TS) * 3;
            const float* t11 = t01 + 3;
            V3 al;
            double* alp = &al.x;
            for (int k = 0; k < 3; ++k)
              alp[k] = (1 - fy) * ((1 - fx) * t00[k] + fx * t10[k]) + fy * ((1 - fx) * t01[k] + fx * t11[k]);
            double e1 = std::max(0.0, (dot(n, ap.key_dir) + ap.wrap) / (1 + ap.wrap));
            double e2 = std::max(0.0, dot(n, ap.fill_dir));
            double E = ap.ambient + ap.key_i * e1 + ap.fill_i * e2;
            acc = acc + mul(al, ap.light_tint) * E;
          }
        double inv = 1.0 / (ss * ss);
        uint8_t* px = img.at(x, y);
        px[0] = enc[size_t(std::clamp(acc.x * inv, 0.0, 1.0) * 4096 + 0.5)];
        px[1] = enc[size_t(std::clamp(acc.y * inv, 0.0, 1.0) * 4096 + 0.5)];
        px[2] = enc[size_t(std::clamp(acc.z * inv, 0.0, 1.0) * 4096 + 0.5)];
        alpha.at(x, y)[0] = uint8_t((cov * 255 + ss * ss / 2) / (ss * ss));
      }
    images.push_back(std::move(img));
    alphas.push_back(std::move(alpha));
  }
}

}  // namespace

SynthFrame synth_frame(const flame::FlameModel& m, const SynthOptions& o, const SynthIdentity& id, int q, int t, bool render) {
  FF_CHECK(q >= 0 && q < int(id.sequence_tracking.size()), "synth_frame: sequence ", q, " out of range [0, ",
           id.sequence_tracking.size(), ")");
  const FlameTracking& tr = id.sequence_tracking[size_t(q)];
  FF_CHECK(t >= 0 && t < tr.T, "synth_frame: timestep ", t, " out of range [0, ", tr.T, ")");
  SynthFrame f;
  if (q == 0 && t == 0) {
    f.vertices = id.canonical_vertices;
    f.cano2world = id.cano2world;
    f.cameras = id.cameras;
    if (render) {
      f.images = id.images;
      f.alpha = id.alpha;
    }
    return f;
  }
  f.vertices = tracked_frame_vertices(m, tr, t);
  f.cano2world = rigid_from_scaled(tracking_cano2world_scaled(tr, t));
  f.cameras = id.cameras;
  for (size_t c = 0; c < f.cameras.size(); ++c) f.cameras[c].viewmat = mat4_mul(id.world_2_cam[c], f.cano2world);
  if (render) {
    render_views(m, o, sample_appearance(o.seed, id.index), id.albedo, f.vertices, f.cano2world, f.cameras, id.world_2_cam,
                 f.images, f.alpha);
  }
  return f;
}

// ---- the dataset --------------------------------------------------------------------------------
std::string SynthReport::text() const {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(2);
  s << "synth: " << identities << " identities, " << views << " views; render " << seconds_render << " s, write "
    << seconds_write << " s, preprocess " << seconds_preprocess << " s, total " << seconds_total << " s\n";
  s << "held out:";
  for (auto& h : heldout) s << " " << h;
  s << "\n";
  return s.str();
}

int synth_heldout(const SynthOptions& o) { return o.heldout >= 0 ? o.heldout : std::min(8, o.n / 4); }

SynthReport write_synth_dataset(const flame::FlameModel& m, const SynthOptions& o) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  FF_CHECK(!o.out.empty(), "synth: no output directory");
  FF_CHECK(o.n >= 1 && o.n <= 100000, "synth: n must be ≥ 1");
  FF_CHECK(o.heldout >= -1, "synth: heldout must be -1 (auto) or ≥ 0, got ", o.heldout);
  const int heldout = synth_heldout(o);
  FF_CHECK(heldout < o.n, "synth: ", heldout, " held-out identities need at least ", heldout + 1,
           " identities, got n = ", o.n, " (lower --heldout or raise --n; at least one identity must train)");
  fs::create_directories(o.out);
  const int threads = o.threads > 0 ? o.threads : hardware_threads();
  SynthReport rep;
  rep.identities = o.n;

  std::vector<Image8> centre(size_t(o.n));
  std::vector<Image8> first_views;
  std::vector<Image8> expression_views;  // identity 0, centre camera, every frame (the reference first)
  std::vector<std::string> names(size_t(o.n));
  const std::vector<std::string> seq_names = synth_sequence_names(o);
  const int heldout_seqs = synth_heldout_sequences(o);
  FF_CHECK(heldout_seqs >= 0 && heldout_seqs < o.sequences, "synth: ", heldout_seqs, " held-out sequences need at least ",
           heldout_seqs + 1, " sequences (the reference sequence is never held out), got ", o.sequences);
  FF_CHECK(o.timesteps >= 1, "synth: timesteps must be ≥ 1, got ", o.timesteps);
  const int frames_per_identity = o.sequences * o.timesteps;
  std::mutex mu;
  std::vector<std::string> errors;
  std::atomic<int64_t> render_ns{0}, write_ns{0};
  parallel_for(o.n, 1, threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      try {
        auto r0 = clock::now();
        SynthIdentity id = synth_identity(m, o, int(i), true);
        auto r1 = clock::now();
        SubjectPaths sp = subject_paths(o.out, id.name, o.sequence);
        fs::create_directories(fs::path(sp.camera_json).parent_path());
        write_camera_params(sp.camera_json, id.calibration);
        auto write_frame = [&](const SubjectPaths& fp, const std::vector<ff::Camera>& cams, const std::vector<Image8>& imgs,
                               const std::vector<Image8>& alph) {
          fs::create_directories(fp.image_dir);
          fs::create_directories(fp.alpha_dir);
          for (size_t c = 0; c < cams.size(); ++c) {
            write_png(fp.image(cams[c].name, ".png"), imgs[c], o.png_compression);
            write_png(fp.alpha(cams[c].name), alph[c], o.png_compression);
          }
        };
        int64_t rns = std::chrono::duration_cast<std::chrono::nanoseconds>(r1 - r0).count(), wns = 0;
        for (int q = 0; q < int(id.sequences.size()); ++q) {
          const FlameTracking& tr = id.sequence_tracking[size_t(q)];
          SubjectPaths qp = subject_paths(o.out, id.name, id.sequences[size_t(q)]);
          fs::create_directories(fs::path(qp.tracking).parent_path());
          write_tracking(qp.tracking, tr);
          for (int t = 0; t < tr.T; ++t) {
            SubjectPaths fp = subject_paths(o.out, id.name, id.sequences[size_t(q)], int(tr.frames[size_t(t)]));
            auto f0 = clock::now();
            SynthFrame fr;
            if (q > 0 || t > 0) fr = synth_frame(m, o, id, q, t);
            auto f1 = clock::now();
            if (q == 0 && t == 0) write_frame(fp, id.cameras, id.images, id.alpha);
            else write_frame(fp, fr.cameras, fr.images, fr.alpha);
            auto f2 = clock::now();
            rns += std::chrono::duration_cast<std::chrono::nanoseconds>(f1 - f0).count();
            wns += std::chrono::duration_cast<std::chrono::nanoseconds>(f2 - f1).count();
            if (i == 0 && (q > 0 || t > 0)) {  // identity 0's centre view of every frame: the expression sheet
              for (size_t c = 0; c < fr.cameras.size(); ++c)
                if (fr.cameras[c].name == kCentreSerial) expression_views.push_back(fr.images[c]);
            }
          }
        }
        render_ns += rns;
        write_ns += wns;
        names[size_t(i)] = id.name;
        int ci = -1;
        for (size_t c = 0; c < id.cameras.size(); ++c)
          if (id.cameras[c].name == kCentreSerial) ci = int(c);
        centre[size_t(i)] = id.images[size_t(ci)];
        if (i == 0) {
          first_views = id.images;
          expression_views.insert(expression_views.begin(), centre[size_t(i)]);
        }
        if (o.verbose) {
          std::lock_guard<std::mutex> l(mu);
          std::printf("synth %s: rendered %zu views\n", id.name.c_str(), id.cameras.size());
          std::fflush(stdout);
        }
      } catch (...) {  // nothing may escape an OpenMP region (std::terminate)
        std::string m = current_exception_message(o.out + " identity " + std::to_string(i));
        std::lock_guard<std::mutex> l(mu);
        errors.push_back(m);
      }
    }
  });
  FF_CHECK(errors.empty(), "synth: ", errors.size(), " identities failed; first: ", errors.empty() ? "" : errors[0]);
  rep.frames = frames_per_identity;
  rep.views = o.n * frames_per_identity * int(synth_rig().size());
  // thread-seconds → wall-clock share
  rep.seconds_render = double(render_ns) * 1e-9 / threads;
  rep.seconds_write = double(write_ns) * 1e-9 / threads;

  // held-out split: the `heldout` identities with the smallest hash(seed, i)
  std::vector<std::pair<uint64_t, int>> order;
  for (int i = 0; i < o.n; ++i) order.push_back({rng::bits_at(rng::mix64(o.seed) ^ 0x5EEDULL, uint64_t(i)), i});
  std::sort(order.begin(), order.end());
  std::vector<char> held(size_t(o.n), 0);
  for (int i = 0; i < heldout; ++i) held[size_t(order[size_t(i)].second)] = 1;
  SplitFile split;
  for (int i = 0; i < o.n; ++i) (held[size_t(i)] ? split.heldout : split.train).push_back(names[size_t(i)]);
  if (heldout_seqs > 0)  // held-out expressions: the last sequences of every training identity
    for (auto& name : split.train)
      split.heldout_frames[name].assign(seq_names.end() - heldout_seqs, seq_names.end());
  write_split(o.out, split);
  rep.heldout = split.heldout;

  {
    nlohmann::json j;
    j["generator"] = "facefield ffdata synth";
    j["seed"] = o.seed;
    j["n"] = o.n;
    j["width"] = o.width;
    j["height"] = o.height;
    j["heldout"] = heldout;
    j["model"] = o.model_name;
    j["model_vertices"] = m.V;
    j["model_shape_modes"] = m.S;
    j["texture_size"] = o.texture_size;
    j["supersample"] = o.supersample;
    j["shape_std"] = o.shape_std;
    j["n_shape"] = o.n_shape;
    j["camera_distance"] = o.camera_distance;
    j["focal"] = o.focal;
    j["sequence"] = o.sequence;
    if (synth_has_expressions(o)) {  // (absent: a single frame per identity)
      j["sequences"] = seq_names;
      j["timesteps"] = o.timesteps;
      j["expression_std"] = o.expression_std;
      j["head_motion_deg"] = o.head_motion_deg;
      j["heldout_sequences"] = heldout_seqs;
    }
    j["subjects"] = names;
    std::string t = j.dump(1);
    npy::write_file_atomic(o.out + "/synth.json", t.data(), t.size());
  }

  if (o.contact_sheets) {
    std::vector<const Image8*> tiles;
    for (auto& im : centre) tiles.push_back(&im);
    int cols = std::min(o.n, 8);
    write_png(o.out + "/contact_sheet_centre.png", contact_sheet(tiles, cols, o.n > 16 ? 160 : 1 << 30), 6);
    tiles.clear();
    // identity 0 ordered by the rig (centre first), not by serial
    std::vector<size_t> idx;
    SynthIdentity id0 = synth_identity(m, o, 0, false);
    for (const RigCamera& rc : synth_rig())
      for (size_t c = 0; c < id0.cameras.size(); ++c)
        if (id0.cameras[c].name == rc.serial) idx.push_back(c);
    for (size_t c : idx) tiles.push_back(&first_views[c]);
    write_png(o.out + "/contact_sheet_views.png", contact_sheet(tiles, 4), 6);
    if (synth_has_expressions(o)) {  // identity 0 from the centre camera, one row per sequence
      tiles.clear();
      for (auto& im : expression_views) tiles.push_back(&im);
      write_png(o.out + "/contact_sheet_expressions.png", contact_sheet(tiles, o.timesteps, 240), 6);
    }
  }

  if (o.preprocess) {
    auto p0 = clock::now();
    PreprocessOptions po;
    po.sequence = o.sequence;
    if (synth_has_expressions(o)) po.sequences = seq_names;
    po.threads = threads;
    po.png_compression = o.png_compression;
    preprocess_dataset(o.out, m, po);
    rep.seconds_preprocess = std::chrono::duration<double>(clock::now() - p0).count();
  }
  rep.seconds_total = std::chrono::duration<double>(clock::now() - t0).count();
  return rep;
}

}  // namespace ff::data
