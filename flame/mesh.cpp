// flame/mesh.cpp — see mesh.h.
#include "flame/mesh.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/check.h"
#include "flame/flame.h"
#include "flame/npy.h"

namespace ff::flame {

void Mesh::validate(const std::string& what) const {
  FF_CHECK(vertices.size() % 3 == 0, what, ": vertices must be [N, 3]");
  FF_CHECK(faces.size() % 3 == 0, what, ": faces must be [F, 3]");
  int64_t N = num_vertices();
  for (size_t i = 0; i < faces.size(); ++i)
    FF_CHECK(faces[i] >= 0 && faces[i] < N, what, ": face ", i / 3, " vertex index ", faces[i], " out of range [0, ", N, ")");
  FF_CHECK(colors.empty() || colors.size() == vertices.size(), what, ": colors must be [N, 3] uint8");
  FF_CHECK(uvs.size() % 2 == 0, what, ": uvs must be [T, 2]");
  if (!uv_faces.empty()) {
    FF_CHECK(uv_faces.size() == faces.size(), what, ": uv_faces must be [F, 3] like faces");
    int64_t T = int64_t(uvs.size() / 2);
    for (int32_t t : uv_faces) FF_CHECK(t >= 0 && t < T, what, ": uv index ", t, " out of range [0, ", T, ")");
  }
  for (double x : vertices) FF_CHECK(std::isfinite(x), what, ": non-finite vertex coordinate");
}

// ------------------------------------------------------------------------------------------------ OBJ

Mesh read_obj(const std::string& path) {
  std::ifstream f(path);
  FF_CHECK(f.good(), "cannot open OBJ '", path, "'");
  Mesh m;
  std::string line;
  int64_t lineno = 0;
  bool any_uv_face = false, any_plain_face = false;
  while (std::getline(f, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream s(line);
    std::string tag;
    if (!(s >> tag) || tag[0] == '#') continue;
    if (tag == "v") {
      double x, y, z;
      FF_CHECK(bool(s >> x >> y >> z), "OBJ '", path, "' line ", lineno, ": bad vertex");
      m.vertices.insert(m.vertices.end(), {x, y, z});
    } else if (tag == "vt") {
      double u, v;
      FF_CHECK(bool(s >> u >> v), "OBJ '", path, "' line ", lineno, ": bad texture coordinate");
      m.uvs.insert(m.uvs.end(), {u, v});
    } else if (tag == "f") {
      std::vector<int32_t> vi, ti;
      std::string tok;
      while (s >> tok) {
        int64_t a = 0, b = 0;
        bool has_t = false;
        size_t p1 = tok.find('/');
        try {
          a = std::stoll(tok.substr(0, p1));
          if (p1 != std::string::npos) {
            size_t p2 = tok.find('/', p1 + 1);
            std::string t = tok.substr(p1 + 1, p2 == std::string::npos ? std::string::npos : p2 - p1 - 1);
            if (!t.empty()) {
              b = std::stoll(t);
              has_t = true;
            }
          }
        } catch (...) {
          FF_THROW("OBJ '", path, "' line ", lineno, ": bad face token '", tok, "'");
        }
        int64_t nv = int64_t(m.vertices.size() / 3), nt = int64_t(m.uvs.size() / 2);
        a = a < 0 ? nv + a : a - 1;
        FF_CHECK(a >= 0 && a < nv, "OBJ '", path, "' line ", lineno, ": vertex index out of range");
        vi.push_back(int32_t(a));
        if (has_t) {
          b = b < 0 ? nt + b : b - 1;
          FF_CHECK(b >= 0 && b < nt, "OBJ '", path, "' line ", lineno, ": texture index out of range");
          ti.push_back(int32_t(b));
        }
      }
      FF_CHECK(vi.size() >= 3, "OBJ '", path, "' line ", lineno, ": face with fewer than 3 vertices");
      bool with_t = ti.size() == vi.size();
      FF_CHECK(with_t || ti.empty(), "OBJ '", path, "' line ", lineno, ": mixed v and v/vt references");
      (with_t ? any_uv_face : any_plain_face) = true;
      for (size_t k = 1; k + 1 < vi.size(); ++k) {
        m.faces.insert(m.faces.end(), {vi[0], vi[k], vi[k + 1]});
        if (with_t) m.uv_faces.insert(m.uv_faces.end(), {ti[0], ti[k], ti[k + 1]});
      }
    }
  }
  FF_CHECK(!(any_uv_face && any_plain_face), "OBJ '", path, "': some faces have texture indices and some do not");
  m.validate("OBJ '" + path + "'");
  return m;
}

void write_obj(const std::string& path, const Mesh& m) {
  m.validate("write_obj '" + path + "'");
  std::ostringstream s;
  s.precision(9);
  s << "# facefield\n";
  int N = m.num_vertices();
  for (int i = 0; i < N; ++i) {
    s << "v " << m.vertices[size_t(i) * 3] << " " << m.vertices[size_t(i) * 3 + 1] << " " << m.vertices[size_t(i) * 3 + 2];
    if (!m.colors.empty())
      for (int k = 0; k < 3; ++k) s << " " << double(m.colors[size_t(i) * 3 + k]) / 255.0;
    s << "\n";
  }
  for (size_t t = 0; t < m.uvs.size() / 2; ++t) s << "vt " << m.uvs[t * 2] << " " << m.uvs[t * 2 + 1] << "\n";
  bool wedge = !m.uv_faces.empty();
  for (int f = 0; f < m.num_faces(); ++f) {
    s << "f";
    for (int k = 0; k < 3; ++k) {
      s << " " << m.faces[size_t(f) * 3 + k] + 1;
      if (wedge) s << "/" << m.uv_faces[size_t(f) * 3 + k] + 1;
    }
    s << "\n";
  }
  std::string out = s.str();
  npy::write_file_atomic(path, out.data(), out.size());
}

// ------------------------------------------------------------------------------------------------ PLY

void write_ply(const std::string& path, const Mesh& m, bool binary) {
  m.validate("write_ply '" + path + "'");
  int N = m.num_vertices(), F = m.num_faces();
  bool col = !m.colors.empty(), wedge = !m.uv_faces.empty();
  std::ostringstream h;
  h << "ply\nformat " << (binary ? "binary_little_endian" : "ascii") << " 1.0\ncomment facefield\n";
  h << "element vertex " << N << "\nproperty float x\nproperty float y\nproperty float z\n";
  if (col) h << "property uchar red\nproperty uchar green\nproperty uchar blue\n";
  h << "element face " << F << "\nproperty list uchar int vertex_indices\n";
  if (wedge) h << "property list uchar float texcoord\n";
  h << "end_header\n";
  std::string out = h.str();
  if (binary) {
    auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
    for (int i = 0; i < N; ++i) {
      for (int k = 0; k < 3; ++k) {
        float x = float(m.vertices[size_t(i) * 3 + k]);
        put(&x, 4);
      }
      if (col) put(&m.colors[size_t(i) * 3], 3);
    }
    for (int f = 0; f < F; ++f) {
      uint8_t three = 3;
      put(&three, 1);
      put(&m.faces[size_t(f) * 3], 12);
      if (wedge) {
        uint8_t six = 6;
        put(&six, 1);
        for (int k = 0; k < 3; ++k) {
          int32_t t = m.uv_faces[size_t(f) * 3 + k];
          float uv[2] = {float(m.uvs[size_t(t) * 2]), float(m.uvs[size_t(t) * 2 + 1])};
          put(uv, 8);
        }
      }
    }
  } else {
    std::ostringstream s;
    s.precision(9);
    for (int i = 0; i < N; ++i) {
      s << float(m.vertices[size_t(i) * 3]) << " " << float(m.vertices[size_t(i) * 3 + 1]) << " "
        << float(m.vertices[size_t(i) * 3 + 2]);
      if (col)
        for (int k = 0; k < 3; ++k) s << " " << int(m.colors[size_t(i) * 3 + k]);
      s << "\n";
    }
    for (int f = 0; f < F; ++f) {
      s << "3 " << m.faces[size_t(f) * 3] << " " << m.faces[size_t(f) * 3 + 1] << " " << m.faces[size_t(f) * 3 + 2];
      if (wedge) {
        s << " 6";
        for (int k = 0; k < 3; ++k) {
          int32_t t = m.uv_faces[size_t(f) * 3 + k];
          s << " " << float(m.uvs[size_t(t) * 2]) << " " << float(m.uvs[size_t(t) * 2 + 1]);
        }
      }
      s << "\n";
    }
    out += s.str();
  }
  npy::write_file_atomic(path, out.data(), out.size());
}

namespace {

int ply_type_size(const std::string& t) {
  if (t == "char" || t == "uchar" || t == "int8" || t == "uint8") return 1;
  if (t == "short" || t == "ushort" || t == "int16" || t == "uint16") return 2;
  if (t == "int" || t == "uint" || t == "float" || t == "int32" || t == "uint32" || t == "float32") return 4;
  if (t == "double" || t == "float64") return 8;
  return 0;
}

double ply_read_binary(const uint8_t* p, const std::string& t, bool big) {
  uint8_t b[8];
  int n = std::min(ply_type_size(t), 8);
  for (int k = 0; k < n; ++k) b[k] = big ? p[n - 1 - k] : p[k];
  if (t == "char" || t == "int8") return double(int8_t(b[0]));
  if (t == "uchar" || t == "uint8") return double(b[0]);
  if (t == "short" || t == "int16") { int16_t v; std::memcpy(&v, b, 2); return v; }
  if (t == "ushort" || t == "uint16") { uint16_t v; std::memcpy(&v, b, 2); return v; }
  if (t == "int" || t == "int32") { int32_t v; std::memcpy(&v, b, 4); return v; }
  if (t == "uint" || t == "uint32") { uint32_t v; std::memcpy(&v, b, 4); return v; }
  if (t == "float" || t == "float32") { float v; std::memcpy(&v, b, 4); return v; }
  double v;
  std::memcpy(&v, b, 8);
  return v;
}

struct PlyProp {
  std::string name, type, count_type;  // count_type non-empty for lists
};
struct PlyElement {
  std::string name;
  int64_t count = 0;
  std::vector<PlyProp> props;
};

}  // namespace

Mesh read_ply(const std::string& path) {
  std::vector<uint8_t> bytes = npy::read_file_bytes(path);
  std::string text(bytes.begin(), bytes.end());
  size_t he = text.find("end_header");
  FF_CHECK(text.compare(0, 3, "ply") == 0 && he != std::string::npos, "PLY '", path, "': missing ply header");
  size_t body = text.find('\n', he);
  FF_CHECK(body != std::string::npos, "PLY '", path, "': truncated header");
  ++body;
  std::istringstream hs(text.substr(0, he));
  std::string line, format;
  std::vector<PlyElement> els;
  while (std::getline(hs, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream s(line);
    std::string tag;
    s >> tag;
    if (tag == "format") s >> format;
    else if (tag == "element") {
      PlyElement e;
      s >> e.name >> e.count;
      FF_CHECK(e.count >= 0 && e.count < (int64_t(1) << 32), "PLY '", path, "': bad element count");
      els.push_back(e);
    } else if (tag == "property") {
      FF_CHECK(!els.empty(), "PLY '", path, "': property before element");
      PlyProp p;
      std::string t;
      s >> t;
      if (t == "list") s >> p.count_type >> p.type >> p.name;
      else { p.type = t; s >> p.name; }
      FF_CHECK(ply_type_size(p.type) > 0 && (p.count_type.empty() || ply_type_size(p.count_type) > 0), "PLY '", path,
               "': unknown property type in '", line, "'");
      els.back().props.push_back(p);
    }
  }
  FF_CHECK(format == "ascii" || format == "binary_little_endian" || format == "binary_big_endian", "PLY '", path,
           "': unsupported format '", format, "'");
  bool ascii = format == "ascii", big = format == "binary_big_endian";
  Mesh m;
  size_t pos = body;
  std::istringstream as(ascii ? text.substr(body) : std::string());
  auto next = [&](const std::string& type) -> double {
    if (ascii) {
      double v;
      FF_CHECK(bool(as >> v), "PLY '", path, "': truncated ascii body");
      return v;
    }
    int n = ply_type_size(type);
    FF_CHECK(pos + size_t(n) <= bytes.size(), "PLY '", path, "': truncated binary body");
    double v = ply_read_binary(bytes.data() + pos, type, big);
    pos += size_t(n);
    return v;
  };
  for (const PlyElement& e : els) {
    for (int64_t i = 0; i < e.count; ++i) {
      double xyz[3] = {0, 0, 0};
      int rgb[3] = {0, 0, 0};
      bool has_rgb = false;
      for (const PlyProp& p : e.props) {
        if (!p.count_type.empty()) {
          double n = next(p.count_type);
          FF_CHECK(n >= 0 && n <= 1024, "PLY '", path, "': bad list length");
          std::vector<int32_t> idx;
          for (int k = 0; k < int(n); ++k) {
            double x = next(p.type);
            if (e.name == "face" && (p.name == "vertex_indices" || p.name == "vertex_index")) idx.push_back(int32_t(x));
          }
          if (!idx.empty()) {
            FF_CHECK(idx.size() >= 3, "PLY '", path, "': face with fewer than 3 vertices");
            for (size_t k = 1; k + 1 < idx.size(); ++k) m.faces.insert(m.faces.end(), {idx[0], idx[k], idx[k + 1]});
          }
          continue;
        }
        double x = next(p.type);
        if (e.name == "vertex") {
          if (p.name == "x") xyz[0] = x;
          else if (p.name == "y") xyz[1] = x;
          else if (p.name == "z") xyz[2] = x;
          else if (p.name == "red") { rgb[0] = int(x); has_rgb = true; }
          else if (p.name == "green") rgb[1] = int(x);
          else if (p.name == "blue") rgb[2] = int(x);
        }
      }
      if (e.name == "vertex") {
        m.vertices.insert(m.vertices.end(), {xyz[0], xyz[1], xyz[2]});
        if (has_rgb)
          for (int k = 0; k < 3; ++k) m.colors.push_back(uint8_t(std::clamp(rgb[k], 0, 255)));
      }
    }
  }
  if (m.colors.size() != m.vertices.size()) m.colors.clear();
  m.validate("PLY '" + path + "'");
  return m;
}

void write_mesh(const std::string& path, const Mesh& m, bool binary_ply) {
  auto ends = [&](const char* s) {
    size_t n = std::strlen(s);
    if (path.size() < n) return false;
    std::string t = path.substr(path.size() - n);
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return t == s;
  };
  if (ends(".ply")) write_ply(path, m, binary_ply);
  else if (ends(".obj")) write_obj(path, m);
  else FF_THROW("write_mesh '", path, "': unknown extension (use .ply or .obj)");
}

// ------------------------------------------------------------------------------------------------ subdivision

namespace {

// Unique undirected edges of a triangle index array, ordered as trimesh orders them: by (max, min).
// Returns the sorted keys and, per face corner edge (e01, e12, e20), its rank.
void unique_edges(const std::vector<int32_t>& faces, std::vector<uint64_t>& keys, std::vector<int32_t>& rank) {
  size_t F = faces.size() / 3;
  std::vector<uint64_t> all(F * 3);
  for (size_t f = 0; f < F; ++f)
    for (int k = 0; k < 3; ++k) {
      uint32_t a = uint32_t(faces[f * 3 + size_t(k)]), b = uint32_t(faces[f * 3 + size_t((k + 1) % 3)]);
      if (a > b) std::swap(a, b);
      all[f * 3 + size_t(k)] = (uint64_t(b) << 32) | a;
    }
  keys = all;
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  rank.resize(all.size());
  for (size_t i = 0; i < all.size(); ++i)
    rank[i] = int32_t(std::lower_bound(keys.begin(), keys.end(), all[i]) - keys.begin());
}

std::vector<int32_t> split_faces(const std::vector<int32_t>& faces, const std::vector<int32_t>& rank, int32_t base) {
  size_t F = faces.size() / 3;
  std::vector<int32_t> out(F * 12);
  for (size_t f = 0; f < F; ++f) {
    int32_t v0 = faces[f * 3], v1 = faces[f * 3 + 1], v2 = faces[f * 3 + 2];
    int32_t m01 = base + rank[f * 3], m12 = base + rank[f * 3 + 1], m20 = base + rank[f * 3 + 2];
    int32_t q[12] = {v0, m01, m20, m01, v1, m12, m20, m12, v2, m01, m12, m20};
    std::copy(q, q + 12, out.begin() + long(f * 12));
  }
  return out;
}

}  // namespace

Mesh subdivide_midpoint(const Mesh& m, std::vector<std::array<int32_t, 2>>* edges_out) {
  m.validate("subdivide_midpoint");
  std::vector<uint64_t> keys;
  std::vector<int32_t> rank;
  unique_edges(m.faces, keys, rank);
  const int32_t N = m.num_vertices();
  FF_CHECK(int64_t(N) + int64_t(keys.size()) < INT32_MAX, "subdivide_midpoint: mesh too large");
  std::vector<std::array<int32_t, 2>> edges(keys.size());
  for (size_t e = 0; e < keys.size(); ++e) edges[e] = {int32_t(keys[e] & 0xffffffffu), int32_t(keys[e] >> 32)};
  Mesh out;
  out.vertices = subdivide_attribute(m.vertices, 3, edges);
  out.faces = split_faces(m.faces, rank, N);
  if (!m.colors.empty()) {
    std::vector<double> c(m.colors.begin(), m.colors.end());
    std::vector<double> cs = subdivide_attribute(c, 3, edges);
    out.colors.resize(cs.size());
    for (size_t i = 0; i < cs.size(); ++i) out.colors[i] = uint8_t(std::lround(cs[i]));
  }
  if (!m.uv_faces.empty()) {
    std::vector<uint64_t> tkeys;
    std::vector<int32_t> trank;
    unique_edges(m.uv_faces, tkeys, trank);
    std::vector<std::array<int32_t, 2>> tedges(tkeys.size());
    for (size_t e = 0; e < tkeys.size(); ++e) tedges[e] = {int32_t(tkeys[e] & 0xffffffffu), int32_t(tkeys[e] >> 32)};
    out.uvs = subdivide_attribute(m.uvs, 2, tedges);
    out.uv_faces = split_faces(m.uv_faces, trank, int32_t(m.uvs.size() / 2));
  } else {
    out.uvs = m.uvs;
  }
  if (edges_out) *edges_out = std::move(edges);
  return out;
}

std::vector<double> subdivide_attribute(const std::vector<double>& attr, int dim,
                                        const std::vector<std::array<int32_t, 2>>& edges) {
  FF_CHECK(dim > 0 && attr.size() % size_t(dim) == 0, "subdivide_attribute: attribute is not [N, ", dim, "]");
  size_t N = attr.size() / size_t(dim);
  std::vector<double> out(attr);
  out.resize((N + edges.size()) * size_t(dim));
  for (size_t e = 0; e < edges.size(); ++e) {
    size_t a = size_t(edges[e][0]), b = size_t(edges[e][1]);
    FF_CHECK(a < N && b < N, "subdivide_attribute: edge vertex out of range");
    for (int k = 0; k < dim; ++k)
      out[(N + e) * size_t(dim) + size_t(k)] = (attr[a * size_t(dim) + size_t(k)] + attr[b * size_t(dim) + size_t(k)]) * 0.5;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ face mask

const std::vector<std::string>& seed_face_mask_regions() {
  static const std::vector<std::string> r = {"new_mouth", "face",  "left_eyeball",    "right_eyeball",
                                             "lips",      "nose",  "left_eye_region", "right_eye_region"};
  return r;
}

const std::vector<int32_t>& seed_mouth_faces() {
  // FLAME2PLY.py / FLAME_helper.py `new_mouth_faces`: closes the mouth slit of FLAME's 5023-vertex mesh.
  static const std::vector<int32_t> f = {
      1666, 3514, 2783, 1665, 1666, 2783, 1665, 2783, 2782, 1665, 2782, 1739, 1739, 2782, 2854,
      1739, 2854, 1742, 1742, 2854, 2857, 1742, 2857, 1747, 1747, 2857, 2862, 1747, 2862, 1746,
      1746, 2862, 2861, 1746, 2861, 1595, 1595, 2861, 2731, 1595, 2731, 1594, 1594, 2731, 2730,
      1594, 2730, 1572, 1572, 2730, 2708, 1572, 2708, 1573, 1573, 2708, 2709, 1573, 2709, 1860,
      1860, 2709, 2943, 1860, 2943, 1862, 1862, 2943, 2945, 1862, 2945, 1830, 1830, 2945, 2930,
      1830, 2930, 1835, 1835, 2930, 2933, 1835, 2933, 1852, 1852, 2933, 2941, 1852, 2941, 3497};
  return f;
}

FaceMask make_face_mask(const FlameModel& model, const std::vector<std::string>& regions,
                        const std::vector<int32_t>& extra_faces) {
  const int V = model.V, F = model.F;
  FF_CHECK(V > 0 && model.faces.size() == size_t(F) * 3, "make_face_mask: model '", model.source, "' has no mesh");
  FF_CHECK(extra_faces.size() % 3 == 0, "make_face_mask: extra_faces must be [K, 3]");
  for (int32_t v : extra_faces)
    FF_CHECK(v >= 0 && v < V, "make_face_mask: extra face vertex ", v, " out of range [0, ", V, ") — the seed's ",
             "mouth-closing faces only fit FLAME's 5023-vertex mesh");
  std::vector<char> keep(size_t(V), 0);
  for (const std::string& r : regions) {
    auto it = model.masks.find(r);
    if (it == model.masks.end() && r == "new_mouth") {
      FF_CHECK(!extra_faces.empty(), "make_face_mask: region 'new_mouth' is not in the masks of '", model.source,
               "' and no mouth-closing faces were given to derive it from");
      for (int32_t v : extra_faces) keep[size_t(v)] = 1;
      continue;
    }
    FF_CHECK(it != model.masks.end(), "make_face_mask: region '", r, "' not found in the masks of '", model.source,
             "' (", model.masks.size(), " regions loaded)");
    for (int32_t v : it->second) {
      FF_CHECK(v >= 0 && v < V, "make_face_mask: region '", r, "' vertex ", v, " out of range");
      keep[size_t(v)] = 1;
    }
  }
  FaceMask fm;
  fm.old_to_new.assign(size_t(V), -1);
  for (int v = 0; v < V; ++v)
    if (keep[size_t(v)]) {
      fm.old_to_new[size_t(v)] = int32_t(fm.vertex_ids.size());
      fm.vertex_ids.push_back(v);
    }
  size_t total = size_t(F) + extra_faces.size() / 3;
  for (size_t f = 0; f < total; ++f) {
    const int32_t* t = f < size_t(F) ? &model.faces[f * 3] : &extra_faces[(f - size_t(F)) * 3];
    if (keep[size_t(t[0])] && keep[size_t(t[1])] && keep[size_t(t[2])]) {
      for (int k = 0; k < 3; ++k) fm.faces.push_back(fm.old_to_new[size_t(t[k])]);
      fm.face_ids.push_back(int32_t(f));
    }
  }
  return fm;
}

Mesh face_mask_mesh(const FlameModel& model, const std::vector<double>& vertices, const FaceMask& mask) {
  FF_CHECK(vertices.size() == size_t(model.V) * 3, "face_mask_mesh: expected [", model.V, ", 3] vertices, got ",
           vertices.size(), " values");
  Mesh m;
  m.vertices.reserve(mask.vertex_ids.size() * 3);
  for (int32_t v : mask.vertex_ids)
    for (int k = 0; k < 3; ++k) m.vertices.push_back(vertices[size_t(v) * 3 + size_t(k)]);
  m.faces = mask.faces;
  bool only_model_faces = std::all_of(mask.face_ids.begin(), mask.face_ids.end(), [&](int32_t f) { return f < model.F; });
  if (!model.uv_faces.empty() && only_model_faces) {
    m.uvs = model.uvs;
    for (int32_t f : mask.face_ids)
      for (int k = 0; k < 3; ++k) m.uv_faces.push_back(model.uv_faces[size_t(f) * 3 + size_t(k)]);
  }
  return m;
}

}  // namespace ff::flame
