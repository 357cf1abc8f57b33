// flame/flame_io.cpp — FlameModel::validate/summary and the readers for the FLAME file family.
#include <cmath>
#include <memory>
#include <sstream>

#include "core/check.h"
#include "flame/flame.h"
#include "flame/mesh.h"
#include "flame/npy.h"
#include "flame/pickle.h"

namespace ff::flame {

namespace {

template <class T>
void check_size(const std::vector<T>& v, size_t n, const std::string& src, const char* field, const std::string& shape) {
  FF_CHECK(v.size() == n, "FLAME model '", src, "': ", field, " has ", v.size(), " values, expected ", n, " for shape ",
           shape);
}

void check_finite(const std::vector<double>& v, const std::string& src, const char* field) {
  for (size_t i = 0; i < v.size(); ++i)
    FF_CHECK(std::isfinite(v[i]), "FLAME model '", src, "': ", field, " has a non-finite value (", v[i], ") at flat index ", i);
}

void check_embedding(const LandmarkEmbedding& e, int F, const std::string& src, const char* field) {
  FF_CHECK(e.bary.size() == e.face_idx.size() * 3, "FLAME model '", src, "': ", field, " has ", e.face_idx.size(),
           " faces but ", e.bary.size(), " barycentric values");
  for (int32_t f : e.face_idx)
    FF_CHECK(f >= 0 && f < F, "FLAME model '", src, "': ", field, " face index ", f, " out of range [0, ", F, ")");
  check_finite(e.bary, src, field);
}

std::string shp(std::initializer_list<int64_t> d) {
  std::ostringstream s;
  s << "(";
  size_t i = 0;
  for (int64_t x : d) s << (i++ ? ", " : "") << x;
  s << ")";
  return s.str();
}

// A key → array source over a pickled dict or an npz.
struct ArraySource {
  std::string path;
  std::shared_ptr<npy::NpzReader> npz;  // members decoded on demand (unneeded string arrays are never read)
  pickle::Document doc;
  bool is_pickle = false;

  static ArraySource open(const std::string& path) {
    ArraySource s;
    s.path = path;
    auto bytes = npy::read_file_bytes(path);
    FF_CHECK(!bytes.empty(), "'", path, "': empty file");
    if (npy::is_zip(bytes.data(), bytes.size())) {
      s.npz = std::make_shared<npy::NpzReader>(std::move(bytes), path);
    } else if (npy::is_npy(bytes.data(), bytes.size())) {
      npy::NdArray a = npy::parse_npy(bytes.data(), bytes.size(), path);
      FF_CHECK(a.kind == 'O', "'", path, "': a single numeric .npy array is not a dict of arrays");
      s.doc = pickle::load_object_npy(a, path);
      s.is_pickle = true;
    } else {
      s.doc = pickle::loads(bytes.data(), bytes.size(), path);
      s.is_pickle = true;
    }
    if (s.is_pickle)
      FF_CHECK(s.doc.root && (s.doc.root->kind == pickle::Kind::Dict ||
                              (s.doc.root->kind == pickle::Kind::Object && s.doc.root->state &&
                               s.doc.root->state->kind == pickle::Kind::Dict)),
               "'", path, "': expected a pickled dict at the top level, got ",
               s.doc.root ? pickle::kind_name(s.doc.root->kind) : "nothing");
    return s;
  }
  bool has(const std::string& key) const {
    if (!is_pickle) return npz->contains(key);
    return doc.root->get(key) != nullptr;
  }
  // nullopt-like: returns false when absent
  bool try_get(const std::string& key, npy::NdArray& out) const {
    std::string what = "'" + path + "': key '" + key + "'";
    if (!is_pickle) {
      if (!npz->contains(key)) return false;
      out = npz->get(key);
      FF_CHECK(out.is_numeric(), what, ": object arrays are not supported here");
      return true;
    }
    const pickle::Value* v = doc.root->get(key);
    if (!v) return false;
    if (v->kind == pickle::Kind::Skipped) return false;
    out = pickle::to_array(v, what);
    return true;
  }
  npy::NdArray get(const std::string& key) const {
    npy::NdArray a;
    FF_CHECK(try_get(key, a), "'", path, "': missing key '", key, "' (keys present: ", keys_str(), ")");
    return a;
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    if (!is_pickle)
      k = npz->keys();
    else
      k = doc.root->keys();
    return k;
  }
  std::string keys_str() const {
    std::string s;
    for (auto& k : keys()) s += (s.empty() ? "" : ", ") + k;
    return s;
  }
};

void expect_shape(const npy::NdArray& a, const std::vector<int64_t>& want, const std::string& path, const char* key) {
  bool ok = a.shape.size() == want.size();
  for (size_t i = 0; ok && i < want.size(); ++i) ok = want[i] < 0 || a.shape[i] == want[i];
  if (ok) return;
  std::ostringstream w;
  w << "(";
  for (size_t i = 0; i < want.size(); ++i) w << (i ? ", " : "") << (want[i] < 0 ? std::string("*") : std::to_string(want[i]));
  w << ")";
  FF_THROW("'", path, "': key '", key, "' has shape ", a.shape_str(), ", expected ", w.str());
}

std::vector<int32_t> to_i32(const npy::NdArray& a, const std::string& path, const char* key) {
  std::vector<int64_t> v = a.to<int64_t>();
  std::vector<int32_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    FF_CHECK(v[i] >= INT32_MIN && v[i] <= INT32_MAX, "'", path, "': key '", key, "' value ", v[i], " out of int32 range");
    out[i] = int32_t(v[i]);
  }
  return out;
}

}  // namespace

void FlameModel::validate() const {
  const std::string& src = source.empty() ? std::string("<in-memory>") : source;
  FF_CHECK(V > 0 && F > 0 && J > 0, "FLAME model '", src, "': empty model (V=", V, ", F=", F, ", J=", J, ")");
  FF_CHECK(S >= 0 && E >= 0, "FLAME model '", src, "': negative component counts");
  check_size(v_template, size_t(V) * 3, src, "v_template", shp({V, 3}));
  check_size(shapedirs, size_t(V) * 3 * S, src, "shapedirs", shp({V, 3, S}));
  check_size(exprdirs, size_t(V) * 3 * E, src, "exprdirs", shp({V, 3, E}));
  check_size(posedirs, size_t(J - 1) * 9 * V * 3, src, "posedirs", shp({(J - 1) * 9, V * 3}));
  check_size(j_regressor, size_t(J) * V, src, "J_regressor", shp({J, V}));
  check_size(weights, size_t(V) * J, src, "weights", shp({V, J}));
  check_size(parents, size_t(J), src, "parents (kintree_table[0])", shp({J}));
  check_size(faces, size_t(F) * 3, src, "faces (f)", shp({F, 3}));
  check_finite(v_template, src, "v_template");
  check_finite(shapedirs, src, "shapedirs");
  check_finite(exprdirs, src, "exprdirs");
  check_finite(posedirs, src, "posedirs");
  check_finite(j_regressor, src, "J_regressor");
  check_finite(weights, src, "weights");
  FF_CHECK(parents[0] == -1, "FLAME model '", src, "': parents[0] must be -1 (root), got ", parents[0]);
  for (int j = 1; j < J; ++j)
    FF_CHECK(parents[j] >= 0 && parents[j] < j, "FLAME model '", src, "': parents[", j, "] = ", parents[j],
             " must be in [0, ", j, ") (kinematic tree in topological order)");
  for (size_t i = 0; i < faces.size(); ++i)
    FF_CHECK(faces[i] >= 0 && faces[i] < V, "FLAME model '", src, "': f[", i / 3, "] vertex index ", faces[i],
             " out of range [0, ", V, ")");
  if (!uvs.empty() || !uv_faces.empty()) {
    FF_CHECK(uvs.size() % 2 == 0, "FLAME model '", src, "': uvs must be [T, 2]");
    check_size(uv_faces, size_t(F) * 3, src, "uv_faces", shp({F, 3}));
    int64_t T = int64_t(uvs.size() / 2);
    for (int32_t t : uv_faces)
      FF_CHECK(t >= 0 && t < T, "FLAME model '", src, "': uv_faces index ", t, " out of range [0, ", T, ")");
    check_finite(uvs, src, "uvs");
  }
  for (auto& [name, ids] : masks)
    for (int32_t v : ids)
      FF_CHECK(v >= 0 && v < V, "FLAME model '", src, "': mask '", name, "' vertex ", v, " out of range [0, ", V, ")");
  check_embedding(static_landmarks, F, src, "static landmark embedding");
  check_embedding(full_landmarks, F, src, "full (with eyes) landmark embedding");
  check_embedding(eyes_static_landmarks, F, src, "static (with eyes) landmark embedding");
  if (!dynamic_landmarks.empty()) {
    const auto& d = dynamic_landmarks;
    FF_CHECK(d.bins > 0 && d.points > 0 && d.face_idx.size() == size_t(d.bins) * d.points &&
                 d.bary.size() == size_t(d.bins) * d.points * 3,
             "FLAME model '", src, "': dynamic landmark embedding sizes do not match (", d.bins, " bins × ", d.points,
             " points)");
    for (int32_t f : d.face_idx)
      FF_CHECK(f >= 0 && f < F, "FLAME model '", src, "': dynamic landmark face index ", f, " out of range [0, ", F, ")");
    check_finite(d.bary, src, "dynamic landmark barycentrics");
  }
}

std::string FlameModel::summary() const {
  std::ostringstream s;
  s << "source:      " << (source.empty() ? "<in-memory>" : source) << "\n";
  s << "vertices:    " << V << "\n";
  s << "faces:       " << F << "\n";
  s << "joints:      " << J << " (parents";
  for (int p : parents) s << " " << p;
  s << ")\n";
  s << "shape:       " << S << " components\n";
  s << "expression:  " << E << " components\n";
  s << "posedirs:    " << (J > 0 ? (J - 1) * 9 : 0) << " pose features\n";
  s << "uvs:         " << uvs.size() / 2 << (uv_faces.empty() ? " (no uv faces)" : " (with uv faces)") << "\n";
  s << "masks:       " << masks.size();
  for (auto& [k, v] : masks) s << "\n  " << k << ": " << v.size() << " vertices";
  s << "\n";
  s << "landmarks:   static " << static_landmarks.count() << ", dynamic " << dynamic_landmarks.bins << "x"
    << dynamic_landmarks.points << ", with-eyes static " << eyes_static_landmarks.count() << ", full "
    << full_landmarks.count() << "\n";
  return s.str();
}

FlameModel load_flame_model(const std::string& path, const FlameLoadOptions& opts) {
  ArraySource src = ArraySource::open(path);
  FlameModel m;
  m.source = path;
  npy::NdArray vt = src.get("v_template");
  expect_shape(vt, {-1, 3}, path, "v_template");
  m.V = int(vt.shape[0]);
  m.v_template = vt.to<double>();

  npy::NdArray f = src.get("f");
  expect_shape(f, {-1, 3}, path, "f");
  m.F = int(f.shape[0]);
  m.faces = to_i32(f, path, "f");

  npy::NdArray kt = src.get("kintree_table");
  expect_shape(kt, {2, -1}, path, "kintree_table");
  m.J = int(kt.shape[1]);
  FF_CHECK(m.J >= 1, "'", path, "': key 'kintree_table' has no joints");
  std::vector<int64_t> ktv = kt.to<int64_t>();
  m.parents.resize(size_t(m.J));
  for (int j = 0; j < m.J; ++j) {
    int64_t p = ktv[size_t(j)];
    FF_CHECK(j == 0 || (p >= 0 && p < m.J), "'", path, "': key 'kintree_table' parent ", p, " of joint ", j, " out of range");
    m.parents[size_t(j)] = j == 0 ? -1 : int32_t(p);  // the stored root parent is garbage (e.g. 4294967295)
  }

  npy::NdArray sd = src.get("shapedirs");
  expect_shape(sd, {m.V, 3, -1}, path, "shapedirs");
  int64_t K = sd.shape[2];
  std::vector<double> sdv = sd.to<double>();
  npy::NdArray ed;
  bool separate_expr = src.try_get("exprdirs", ed) || src.try_get("expressiondirs", ed);
  int64_t S_all, E_all, E_off;
  const npy::NdArray* ep = &sd;
  std::vector<double> edv;
  if (separate_expr) {
    expect_shape(ed, {m.V, 3, -1}, path, "exprdirs");
    S_all = K;
    E_all = ed.shape[2];
    E_off = 0;
    ep = &ed;
    edv = ed.to<double>();
  } else {
    FF_CHECK(opts.expr_offset >= 0, "load_flame_model: expr_offset must be >= 0");
    S_all = std::min<int64_t>(K, opts.expr_offset);
    E_all = K - S_all;
    E_off = S_all;
  }
  int64_t S = opts.n_shape < 0 ? S_all : std::min<int64_t>(opts.n_shape, S_all);
  int64_t E = opts.n_expr < 0 ? E_all : std::min<int64_t>(opts.n_expr, E_all);
  m.S = int(S);
  m.E = int(E);
  m.shapedirs.resize(size_t(m.V) * 3 * S);
  m.exprdirs.resize(size_t(m.V) * 3 * E);
  int64_t EK = ep->shape[2];
  const std::vector<double>& esrc = separate_expr ? edv : sdv;
  for (int64_t r = 0; r < int64_t(m.V) * 3; ++r) {
    for (int64_t l = 0; l < S; ++l) m.shapedirs[size_t(r * S + l)] = sdv[size_t(r * K + l)];
    for (int64_t l = 0; l < E; ++l) m.exprdirs[size_t(r * E + l)] = esrc[size_t(r * EK + E_off + l)];
  }

  npy::NdArray pd = src.get("posedirs");
  int64_t P = int64_t(m.J - 1) * 9, V3 = int64_t(m.V) * 3;
  std::vector<double> pdv = pd.to<double>();
  m.posedirs.resize(size_t(P * V3));
  if (pd.shape.size() == 3) {
    expect_shape(pd, {m.V, 3, P}, path, "posedirs");
    for (int64_t r = 0; r < V3; ++r)
      for (int64_t p = 0; p < P; ++p) m.posedirs[size_t(p * V3 + r)] = pdv[size_t(r * P + p)];
  } else {
    expect_shape(pd, {P, V3}, path, "posedirs");  // already in the (36, V*3) layout of smplx
    m.posedirs = pdv;
  }

  npy::NdArray jr = src.get("J_regressor");
  expect_shape(jr, {m.J, m.V}, path, "J_regressor");
  m.j_regressor = jr.to<double>();

  npy::NdArray w = src.get("weights");
  expect_shape(w, {m.V, m.J}, path, "weights");
  m.weights = w.to<double>();

  m.validate();
  return m;
}

void load_flame_masks(FlameModel& model, const std::string& path) {
  ArraySource src = ArraySource::open(path);
  std::map<std::string, std::vector<int32_t>> masks;
  for (const std::string& k : src.keys()) {
    npy::NdArray a;
    if (!src.try_get(k, a)) continue;
    std::vector<int32_t> ids = to_i32(a, path, k.c_str());
    masks[k] = ids;
  }
  FF_CHECK(!masks.empty(), "'", path, "': no vertex masks found");
  for (auto& [k, ids] : masks)
    for (int32_t v : ids)
      FF_CHECK(model.V == 0 || (v >= 0 && v < model.V), "'", path, "': mask '", k, "' vertex ", v, " out of range [0, ",
               model.V, ")");
  model.masks = std::move(masks);
}

static LandmarkEmbedding embedding_from(const ArraySource& src, const char* idx_key, const char* bary_key) {
  LandmarkEmbedding e;
  npy::NdArray idx = src.get(idx_key);
  npy::NdArray bc = src.get(bary_key);
  // accept (L,), (1, L) for indices and (L, 3), (1, L, 3) for barycentrics
  int64_t L = idx.numel();
  FF_CHECK(bc.numel() == L * 3 && !bc.shape.empty() && bc.shape.back() == 3, "'", src.path, "': key '", bary_key,
           "' has shape ", bc.shape_str(), ", expected (", L, ", 3) to match '", idx_key, "' ", idx.shape_str());
  e.face_idx = to_i32(idx, src.path, idx_key);
  e.bary = bc.to<double>();
  for (double b : e.bary) FF_CHECK(std::isfinite(b), "'", src.path, "': key '", bary_key, "' has a non-finite value");
  return e;
}

LandmarkEmbedding load_static_embedding(const std::string& path) {
  ArraySource src = ArraySource::open(path);
  return embedding_from(src, "lmk_face_idx", "lmk_b_coords");
}

DynamicLandmarkEmbedding load_dynamic_embedding(const std::string& path) {
  ArraySource src = ArraySource::open(path);
  npy::NdArray idx = src.get("lmk_face_idx");
  npy::NdArray bc = src.get("lmk_b_coords");
  expect_shape(idx, {-1, -1}, path, "lmk_face_idx");
  expect_shape(bc, {idx.shape[0], idx.shape[1], 3}, path, "lmk_b_coords");
  DynamicLandmarkEmbedding d;
  d.bins = int(idx.shape[0]);
  d.points = int(idx.shape[1]);
  d.face_idx = to_i32(idx, path, "lmk_face_idx");
  d.bary = bc.to<double>();
  for (double b : d.bary) FF_CHECK(std::isfinite(b), "'", path, "': key 'lmk_b_coords' has a non-finite value");
  return d;
}

void load_landmarks_with_eyes(FlameModel& model, const std::string& path) {
  ArraySource src = ArraySource::open(path);
  model.full_landmarks = embedding_from(src, "full_lmk_faces_idx", "full_lmk_bary_coords");
  if (src.has("static_lmk_faces_idx"))
    model.eyes_static_landmarks = embedding_from(src, "static_lmk_faces_idx", "static_lmk_bary_coords");
  for (int32_t f : model.full_landmarks.face_idx)
    FF_CHECK(model.F == 0 || (f >= 0 && f < model.F), "'", path, "': face index ", f, " out of range [0, ", model.F, ")");
}

void load_uv_obj(FlameModel& model, const std::string& path) {
  Mesh o = read_obj(path);
  FF_CHECK(!o.uvs.empty() && o.uv_faces.size() == o.faces.size(), "'", path, "': OBJ has no complete v/vt faces");
  if (model.F > 0) {
    FF_CHECK(o.faces == model.faces, "'", path, "': OBJ triangles differ from the model's faces (", o.faces.size() / 3,
             " vs ", model.F, " triangles)");
  } else {
    model.faces = o.faces;
    model.F = int(o.faces.size() / 3);
  }
  model.uvs = o.uvs;
  model.uv_faces = o.uv_faces;
}

void save_flame_npz(const FlameModel& m, const std::string& path) {
  m.validate();
  std::map<std::string, npy::NdArray> z;
  z["v_template"] = npy::NdArray::from<double>({m.V, 3}, m.v_template.data());
  z["f"] = npy::NdArray::from<int32_t>({m.F, 3}, m.faces.data());
  z["shapedirs"] = npy::NdArray::from<double>({m.V, 3, m.S}, m.shapedirs.data());
  z["exprdirs"] = npy::NdArray::from<double>({m.V, 3, m.E}, m.exprdirs.data());
  z["posedirs"] = npy::NdArray::from<double>({int64_t(m.J - 1) * 9, int64_t(m.V) * 3}, m.posedirs.data());
  z["J_regressor"] = npy::NdArray::from<double>({m.J, m.V}, m.j_regressor.data());
  z["weights"] = npy::NdArray::from<double>({m.V, m.J}, m.weights.data());
  std::vector<int64_t> kt(size_t(2 * m.J));
  for (int j = 0; j < m.J; ++j) {
    kt[size_t(j)] = m.parents[size_t(j)];
    kt[size_t(m.J + j)] = j;
  }
  z["kintree_table"] = npy::NdArray::from<int64_t>({2, m.J}, kt.data());
  npy::write_npz_file(path, z, true);
}

}  // namespace ff::flame
