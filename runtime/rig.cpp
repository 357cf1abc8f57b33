// runtime/rig.cpp — rig files and the runtime's rig forward + Gaussian posing (runtime/rig.h, docs/rig.md).
#include "runtime/rig.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/binding.h"
#include "runtime/lbs.h"

namespace ffrt {

namespace {

constexpr int kPoseFeatures = (kRigJoints - 1) * 9;

void add_i32(Pack& p, const std::string& name, const std::vector<int64_t>& shape, const std::vector<int32_t>& v) {
  Array a;
  a.name = name;
  a.dtype = kI32;
  a.shape = shape;
  a.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  p.arrays.push_back(std::move(a));
}

// the record `name` with exactly `shape` (−1: any extent, returned through `dims`)
const Array& take(const Pack& p, const std::string& name, uint8_t dtype, std::vector<int64_t> shape,
                  const std::string& what) {
  const Array* a = p.find(name);
  if (!a) fail(kFormat, what, " has no record '", name, "' (not a complete rig file)");
  if (a->dtype != dtype) fail(kFormat, what, ": record '", name, "' is ", dtype_name(a->dtype), ", expected ", dtype_name(dtype));
  bool ok = a->shape.size() == shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a->shape[i] == shape[i];
  if (!ok) {
    std::string s;
    for (size_t i = 0; i < a->shape.size(); ++i) s += (i ? "," : "") + cat(a->shape[i]);
    fail(kFormat, what, ": record '", name, "' has shape [", s, "], which does not fit the rig");
  }
  return *a;
}
std::vector<int32_t> ints(const Array& a) {
  std::vector<int32_t> v(size_t(a.numel()));
  if (!v.empty()) std::memcpy(v.data(), a.data.data(), v.size() * 4);
  return v;
}
std::vector<float> floats(const Array& a) {
  std::vector<float> v(size_t(a.numel()));
  if (!v.empty()) std::memcpy(v.data(), a.data.data(), v.size() * 4);
  return v;
}

void need_finite(const std::vector<float>& v, const char* name, const std::string& what) {
  for (float x : v)
    if (!std::isfinite(x)) fail(kFormat, what, ": record '", name, "' has a non-finite value");
}
void need_range(const std::vector<int32_t>& v, int n, const char* name, const std::string& what) {
  for (int32_t x : v)
    if (x < 0 || x >= n) fail(kFormat, what, ": record '", name, "' holds index ", x, " outside [0, ", n, ")");
}

}  // namespace

void RigData::check(const std::string& what) const {
  if (J != kRigJoints) fail(kFormat, what, ": ", J, " joints, a rig has FLAME's ", kRigJoints);
  if (V <= 0 || F < 0 || E < 0 || P < 0 || P > V || G < 0) fail(kFormat, what, ": implausible rig sizes");
  auto size_is = [&](size_t got, size_t want, const char* name) {
    if (got != want) fail(kFormat, what, ": record '", name, "' has ", got, " values, expected ", want);
  };
  const size_t v = size_t(V);
  size_is(vertex_ids.size(), v, "rig/vertex_ids");
  size_is(neutral.size(), v * 3, "rig/neutral");
  size_is(faces.size(), size_t(F) * 3, "rig/faces");
  size_is(exprdirs.size(), v * 3 * size_t(E), "rig/exprdirs");
  size_is(j_regressor.size(), size_t(J) * v, "rig/j_regressor");
  size_is(parents.size(), size_t(J), "rig/parents");
  size_is(weights.size(), v * size_t(J), "rig/lbs_weights");
  size_is(posedir_vertices.size(), size_t(P), "rig/posedirs_vertices");
  size_is(posedirs.size(), size_t(P) * 3 * kPoseFeatures, "rig/posedirs");
  size_is(tri.size(), size_t(G) * 3, "bind/tri");
  size_is(bary.size(), size_t(G) * 3, "bind/bary");
  if (!expression_names.empty()) size_is(expression_names.size(), size_t(E), "rig/expression_names");
  need_finite(neutral, "rig/neutral", what);
  need_finite(exprdirs, "rig/exprdirs", what);
  need_finite(j_regressor, "rig/j_regressor", what);
  need_finite(weights, "rig/lbs_weights", what);
  need_finite(posedirs, "rig/posedirs", what);
  need_finite(bary, "bind/bary", what);
  need_range(faces, V, "rig/faces", what);
  need_range(posedir_vertices, V, "rig/posedirs_vertices", what);
  need_range(tri, V, "bind/tri", what);
  for (int j = 0; j < J; ++j)
    if (j == 0 ? parents[0] != -1 : (parents[size_t(j)] < 0 || parents[size_t(j)] >= j))
      fail(kFormat, what, ": record 'rig/parents': joint ", j, " has parent ", parents[size_t(j)],
           " (the root's is −1, every other joint's an earlier joint)");
  if (C < 0 || (C > 0 && C < 3)) fail(kFormat, what, ": correction of ", C, " coefficients (0, or E' + 3 with the jaw)");
  size_is(corr_color.size(), size_t(G) * 3 * size_t(C), "corr/color");
  size_is(corr_offset.size(), size_t(G) * size_t(C), "corr/offset");
  need_finite(corr_color, "corr/color", what);
  need_finite(corr_offset, "corr/offset", what);
  if (gaussians.size() != 0 || !gaussians.means.empty()) {
    gaussians.check(what);
    if (gaussians.size() != size_t(G)) fail(kFormat, what, ": ", gaussians.size(), " neutral Gaussians, ", G, " bindings");
  }
}

Pack rig_pack(const RigData& r) {
  r.check("rig_pack");
  Pack p;
  p.kind = kPackRig;
  p.meta = r.meta.empty() ? "{\"format\":\"facefield rig\"}" : r.meta;
  const int64_t V = r.V, F = r.F, E = r.E, J = r.J, P = r.P, G = r.G;
  add_i32(p, "rig/vertex_ids", {V}, r.vertex_ids);
  p.add("rig/neutral", {V, 3}, r.neutral.data());
  add_i32(p, "rig/faces", {F, 3}, r.faces);
  p.add("rig/exprdirs", {V, 3, E}, r.exprdirs.data());
  p.add("rig/j_regressor", {J, V}, r.j_regressor.data());
  add_i32(p, "rig/parents", {J}, r.parents);
  p.add("rig/lbs_weights", {V, J}, r.weights.data());
  add_i32(p, "rig/posedirs_vertices", {P}, r.posedir_vertices);
  p.add("rig/posedirs", {P, 3, kPoseFeatures}, r.posedirs.data());
  add_i32(p, "bind/tri", {G, 3}, r.tri);
  p.add("bind/bary", {G, 3}, r.bary.data());
  if (!r.expression_names.empty()) {
    std::string names;
    for (size_t i = 0; i < r.expression_names.size(); ++i) names += (i ? "\n" : "") + r.expression_names[i];
    p.add_u8("rig/expression_names", names);
  }
  if (r.C > 0) {
    p.add("corr/color", {G, 3, int64_t(r.C)}, r.corr_color.data());
    p.add("corr/offset", {G, int64_t(r.C)}, r.corr_offset.data());
  }
  if (r.gaussians.size() > 0) {
    const Pack g = pack_from_gaussians(r.gaussians);
    for (const Array& a : g.arrays) {
      Array c = a;
      c.name = "gaussians/" + a.name;
      p.arrays.push_back(std::move(c));
    }
  }
  return p;
}

RigData rig_from_pack(const Pack& p, const std::string& what) {
  if (p.kind != kPackRig)
    fail(kFormat, what, " is ", p.kind == kPackModel ? "a model pack" : "a pack of decoded Gaussians",
         ", not a rig file (`animate` writes one: identity.ffrig in its output folder)");
  RigData r;
  r.meta = p.meta;
  const Array& n = take(p, "rig/neutral", kF32, {-1, 3}, what);
  r.V = int(n.shape[0]);
  const Array& ed = take(p, "rig/exprdirs", kF32, {r.V, 3, -1}, what);
  r.E = int(ed.shape[2]);
  const Array& f = take(p, "rig/faces", kI32, {-1, 3}, what);
  r.F = int(f.shape[0]);
  const Array& pv = take(p, "rig/posedirs_vertices", kI32, {-1}, what);
  r.P = int(pv.shape[0]);
  const Array& t = take(p, "bind/tri", kI32, {-1, 3}, what);
  r.G = int(t.shape[0]);
  r.vertex_ids = ints(take(p, "rig/vertex_ids", kI32, {r.V}, what));
  r.neutral = floats(n);
  r.faces = ints(f);
  r.exprdirs = floats(ed);
  r.j_regressor = floats(take(p, "rig/j_regressor", kF32, {kRigJoints, r.V}, what));
  r.parents = ints(take(p, "rig/parents", kI32, {kRigJoints}, what));
  r.weights = floats(take(p, "rig/lbs_weights", kF32, {r.V, kRigJoints}, what));
  r.posedir_vertices = ints(pv);
  r.posedirs = floats(take(p, "rig/posedirs", kF32, {r.P, 3, kPoseFeatures}, what));
  r.tri = ints(t);
  r.bary = floats(take(p, "bind/bary", kF32, {r.G, 3}, what));
  if (const Array* names = p.find("rig/expression_names")) {
    std::string s = names->data, cur;
    for (char c : s) {
      if (c == '\n') r.expression_names.push_back(cur), cur.clear();
      else cur += c;
    }
    r.expression_names.push_back(cur);
  }
  if (p.find("corr/color") || p.find("corr/offset")) {
    const Array& cc = take(p, "corr/color", kF32, {r.G, 3, -1}, what);
    r.C = int(cc.shape[2]);
    r.corr_color = floats(cc);
    r.corr_offset = floats(take(p, "corr/offset", kF32, {r.G, r.C}, what));
  }
  if (p.find("gaussians/opacities")) {
    Pack g;
    g.kind = kPackGaussians;
    for (const Array& a : p.arrays)
      if (a.name.rfind("gaussians/", 0) == 0) {
        Array c = a;
        c.name = a.name.substr(10);
        g.arrays.push_back(std::move(c));
      }
    try {
      r.gaussians = gaussians_from_pack(g, what);
    } catch (const Error& e) {
      throw Error(kFormat, e.what());
    }
  }
  r.check(what);
  return r;
}

void write_rig(const std::string& path, const RigData& r) { write_pack(path, rig_pack(r)); }

RigData parse_rig(const std::string& bytes, const std::string& what) {
  if (!is_pack(bytes))
    fail(kFormat, what, " is not a facefield rig file (no \"FFPACK\" magic; a rig file is an identity pack of kind 3)");
  return rig_from_pack(parse_pack(bytes, what), what);
}

Rig::Rig(RigData data, const std::string& what) : d_(std::move(data)), what_(what) {
  d_.check(what_);
  forward(RigParams{}, rest_);
}

void Rig::forward(const RigParams& p, std::vector<float>& out) const {
  const int V = d_.V, E = d_.E, J = d_.J, ne = p.num_expression;
  const size_t V3 = size_t(V) * 3;
  std::vector<float> vs(V3);
  for (size_t r = 0; r < V3; ++r) {
    float acc = d_.neutral[r];
    const float* ed = d_.exprdirs.data() + r * size_t(E);
    for (int e = 0; e < ne; ++e) acc += ed[e] * p.expression[e];
    vs[r] = acc;
  }
  float Jr[kRigJoints * 3] = {};
  for (int j = 0; j < J; ++j) {
    const float* row = d_.j_regressor.data() + size_t(j) * size_t(V);
    float acc[3] = {0, 0, 0};
    for (int v = 0; v < V; ++v) {
      if (row[v] == 0.f) continue;
      for (int k = 0; k < 3; ++k) acc[k] += row[v] * vs[size_t(v) * 3 + size_t(k)];
    }
    for (int k = 0; k < 3; ++k) Jr[j * 3 + k] = acc[k];
  }
  float R[kRigJoints * 9], pf[kPoseFeatures];
  for (int j = 0; j < J; ++j) {
    lbs::rodrigues(p.pose + 3 * j, R + 9 * j);
    if (j > 0)
      for (int k = 0; k < 9; ++k) pf[(j - 1) * 9 + k] = R[j * 9 + k] - ((k % 4 == 0) ? 1.f : 0.f);
  }
  for (int q = 0; q < d_.P; ++q) {
    const size_t v = size_t(d_.posedir_vertices[size_t(q)]);
    for (int k = 0; k < 3; ++k) {
      const float* row = d_.posedirs.data() + (size_t(q) * 3 + size_t(k)) * kPoseFeatures;
      float acc = vs[v * 3 + size_t(k)];
      for (int f = 0; f < kPoseFeatures; ++f) acc += pf[f] * row[f];
      vs[v * 3 + size_t(k)] = acc;
    }
  }
  float G[kRigJoints * 12], A[kRigJoints * 12];
  lbs::kinematic_chain(d_.parents.data(), J, R, Jr, G, A);
  out.resize(V3);
  for (int v = 0; v < V; ++v)
    lbs::skin_vertex(A, d_.weights.data() + size_t(v) * size_t(J), J, &vs[size_t(v) * 3], &out[size_t(v) * 3]);
}

void Rig::posed_vertices(const RigParams& p, std::vector<float>& out) const {
  if (p.num_expression < 0 || p.num_expression > d_.E)
    fail(kInvalid, "rig pose: ", p.num_expression, " expression coefficients, ", what_, " has ", d_.E);
  if (p.num_expression > 0 && !p.expression) fail(kInvalid, "rig pose: num_expression > 0 but expression is NULL");
  bool neutral = true;
  auto finite = [&](const float* v, int n, const char* name) {
    for (int i = 0; i < n; ++i) {
      if (!std::isfinite(v[i])) fail(kInvalid, "rig pose: ", name, "[", i, "] is not finite");
    }
  };
  finite(p.expression, p.num_expression, "expression");
  finite(p.pose, 3 * kRigJoints, "pose");
  finite(p.rotation, 9, "rotation");
  finite(p.translation, 3, "translation");
  for (int i = 0; i < p.num_expression; ++i) neutral = neutral && p.expression[i] == 0.f;
  for (int i = 0; i < 3 * kRigJoints; ++i) neutral = neutral && p.pose[i] == 0.f;
  const float* Rm = p.rotation;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const float d = Rm[i] * Rm[j] + Rm[3 + i] * Rm[3 + j] + Rm[6 + i] * Rm[6 + j] - (i == j ? 1.f : 0.f);
      if (std::fabs(d) > 1e-3f)
        fail(kInvalid, "rig pose: rotation is not a rotation matrix (RᵀR differs from I by ", double(d), ")");
      neutral = neutral && Rm[3 * i + j] == (i == j ? 1.f : 0.f);
    }
  const float det = Rm[0] * (Rm[4] * Rm[8] - Rm[5] * Rm[7]) - Rm[1] * (Rm[3] * Rm[8] - Rm[5] * Rm[6]) +
                    Rm[2] * (Rm[3] * Rm[7] - Rm[4] * Rm[6]);
  if (det < 0) fail(kInvalid, "rig pose: rotation has determinant ", double(det), " (a reflection)");
  for (int i = 0; i < 3; ++i) neutral = neutral && p.translation[i] == 0.f;
  if (neutral) {  // N bitwise (the general path gives the same: F(0, 0) − rest == 0 exactly)
    out = d_.neutral;
    return;
  }
  forward(p, out);
  const size_t V3 = size_t(d_.V) * 3;
  for (size_t r = 0; r < V3; ++r) out[r] = d_.neutral[r] + (out[r] - rest_[r]);
  for (size_t k = 0; k < V3; k += 3) {
    const float a = out[k], b = out[k + 1], c = out[k + 2];
    for (int i = 0; i < 3; ++i)
      out[k + size_t(i)] = Rm[3 * i] * a + Rm[3 * i + 1] * b + Rm[3 * i + 2] * c + p.translation[i];
  }
}

void Rig::pose(const GaussianSet& neutral, const RigParams& p, GaussianSet& out, Pool& pool) const {
  const int64_t G = d_.G;
  if (neutral.size() != size_t(G))
    fail(kInvalid, "rig pose: ", neutral.size(), " Gaussians, ", what_, " binds ", G);
  std::vector<float> V1;
  posed_vertices(p, V1);
  out.resize(size_t(G));
  if (neutral.has_sh()) out.sh_rest.resize(size_t(G) * kShRest * 3);  // view-dependent colours turn with the Gaussians
  else out.sh_rest.clear();
  const int64_t chunk = 512, tasks = (G + chunk - 1) / chunk;
  pool.run(tasks, [&](int64_t t, int) {
    const int64_t g0 = t * chunk, g1 = std::min(G, g0 + chunk);
    binding::pose_gaussians(g0, g1, d_.tri.data(), d_.bary.data(), d_.neutral.data(), V1.data(),
                            neutral.means.data(), neutral.rotations.data(), neutral.log_scales.data(),
                            out.means.data(), out.rotations.data(), out.log_scales.data());
    if (neutral.has_sh())
      pose_sh(g0, g1, d_.tri.data(), d_.bary.data(), d_.neutral.data(), V1.data(), neutral.means.data(),
              neutral.sh_rest.data(), out.sh_rest.data());
  });
  out.opacities = neutral.opacities;
  out.colors = neutral.colors;
  apply_posed_corrections(*this, p, V1, out);
}

void apply_posed_corrections(const Rig& rig, const RigParams& p, const std::vector<float>& V1, GaussianSet& posed) {
  const RigData& d = rig.data();
  const int C = d.C;
  if (C == 0) return;
  std::vector<float> e(static_cast<size_t>(C));
  correction_coefficients(p.expression, p.num_expression, p.pose, C, e.data());
  bool zero = true;
  for (float v : e) zero = zero && v == 0.f;
  if (zero) return;
  for (int g = 0; g < d.G; ++g) {
    const float* wc = &d.corr_color[size_t(g) * 3 * size_t(C)];
    for (int c = 0; c < 3; ++c) {
      float s = 0;
      for (int k = 0; k < C; ++k) s += wc[size_t(c) * size_t(C) + size_t(k)] * e[size_t(k)];
      posed.colors[size_t(g) * 3 + size_t(c)] += s;
    }
    const float* wn = &d.corr_offset[size_t(g) * size_t(C)];
    float dn = 0;
    for (int k = 0; k < C; ++k) dn += wn[k] * e[size_t(k)];
    const int32_t* t = &d.tri[size_t(g) * 3];
    float n[3];
    binding::triangle_normal(&V1[size_t(t[0]) * 3], &V1[size_t(t[1]) * 3], &V1[size_t(t[2]) * 3], n);
    for (int i = 0; i < 3; ++i) posed.means[size_t(g) * 3 + size_t(i)] += dn * n[i];
  }
}

}  // namespace ffrt
