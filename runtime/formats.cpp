// runtime/formats.cpp — .ply, .splat, .ffpk and (read-only) .ffck; see formats.h.
#include "runtime/formats.h"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "runtime/splat_math.h"

namespace ffrt {

namespace {

inline float sigmoidf_(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float logitf_(float p) {
  const double q = std::min(std::max(double(p), 1e-7), 1.0 - 1e-7);  // finite for o ∈ {0, 1}
  return float(std::log(q / (1.0 - q)));
}
void normalise_quat(const float* q, float* out) {
  double n = std::sqrt(double(q[0]) * q[0] + double(q[1]) * q[1] + double(q[2]) * q[2] + double(q[3]) * q[3]);
  if (!(n > 0)) {
    out[0] = 1, out[1] = out[2] = out[3] = 0;
    return;
  }
  for (int k = 0; k < 4; ++k) out[k] = float(q[k] / n);
}
// the y-down frame of formats.h: a point (x, y, z) → (x, −y, −z), a rotation q → r⊗q with r = (0, 1, 0, 0)
void turn_about_x(float* xyz, float* q) {
  xyz[1] = -xyz[1], xyz[2] = -xyz[2];
  const float w = q[0], x = q[1], y = q[2], z = q[3];
  q[0] = -x, q[1] = w, q[2] = -z, q[3] = y;
}
// its inverse: (x, −y, −z) again, q → r⁻¹⊗q
void turn_back_about_x(float* xyz, float* q) {
  xyz[1] = -xyz[1], xyz[2] = -xyz[2];
  const float w = q[0], x = q[1], y = q[2], z = q[3];
  q[0] = x, q[1] = -w, q[2] = z, q[3] = -y;
}
// The same turn for SH coefficients: (x, y, z) → (x, −y, −z) flips basis function k (runtime/splat_math.h sh_basis,
// k = 1..15) when its polynomial is odd in y + z. The turn is its own inverse.
void turn_sh_about_x(float* rest /* [15,3] */) {
  static const int8_t flip[kShRest] = {1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0};
  for (int k = 0; k < kShRest; ++k)
    if (flip[k])
      for (int c = 0; c < 3; ++c) rest[k * 3 + c] = -rest[k * 3 + c];
}

}  // namespace

// ---- GaussianSet ----------------------------------------------------------------------------------------
void GaussianSet::resize(size_t n) {
  means.resize(n * 3);
  log_scales.resize(n * 3);
  rotations.resize(n * 4);
  opacities.resize(n);
  colors.resize(n * 3);
  if (has_sh()) sh_rest.resize(n * kShRest * 3);
}

void GaussianSet::check(const std::string& what) const {
  const size_t n = opacities.size();
  if (means.size() != 3 * n || log_scales.size() != 3 * n || rotations.size() != 4 * n || colors.size() != 3 * n ||
      (has_sh() && sh_rest.size() != size_t(kShRest) * 3 * n))
    fail(kInvalid, what, ": inconsistent Gaussian arrays (", n, " opacities, ", means.size(), " mean floats, ",
         log_scales.size(), " scale floats, ", rotations.size(), " rotation floats, ", colors.size(),
         " colour floats, ", sh_rest.size(), " SH floats)");
}

void sh_color(const GaussianSet& g, size_t i, const float d[3], float rgb[3]) {
  if (!g.has_sh()) {
    for (int c = 0; c < 3; ++c) rgb[c] = g.colors[3 * i + c];
    return;
  }
  float dc[3];
  for (int c = 0; c < 3; ++c) dc[c] = sh_dc_coefficient(g.colors[3 * i + size_t(c)]);
  ff::splat::math::sh_color_along(d, dc, &g.sh_rest[i * kShRest * 3], 3, rgb);
}

std::vector<float> sh_coefficients(const GaussianSet& g) {
  const size_t n = g.size();
  std::vector<float> sh(n * 48, 0.f);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) {
      sh[i * 48 + size_t(c)] = sh_dc_coefficient(g.colors[i * 3 + size_t(c)]);
      if (g.has_sh())
        for (int k = 0; k < kShRest; ++k)
          sh[i * 48 + size_t(k + 1) * 3 + size_t(c)] = g.sh_rest[i * kShRest * 3 + size_t(k) * 3 + size_t(c)];
    }
  return sh;
}

namespace {
constexpr int kShDirs = 16;
// 16 directions on a Fibonacci sphere and, per degree l (its 2l+1 basis functions at indices o..o+2l of sh_basis),
// the least-squares projection P_l = (BᵀB)⁻¹Bᵀ with B[j,m] = Y_lm(d_j): a function of degree l sampled at the 16
// directions gives back its coefficients through P_l.
struct ShSampling {
  double dirs[kShDirs][3];
  double P[3][7 * kShDirs];  // degree l = 1..3 at [l − 1], (2l+1) × 16
  ShSampling() {
    const double golden = 2.399963229728653;  // π(3 − √5)
    for (int j = 0; j < kShDirs; ++j) {
      const double z = 1 - (2.0 * j + 1) / kShDirs, r = std::sqrt(1 - z * z), a = golden * j;
      dirs[j][0] = r * std::cos(a), dirs[j][1] = r * std::sin(a), dirs[j][2] = z;
    }
    for (int l = 1; l <= 3; ++l) {
      const int n = 2 * l + 1, o = l * l;
      double B[kShDirs][7], A[7][14];
      for (int j = 0; j < kShDirs; ++j) {
        double b[16];
        ff::splat::math::sh_basis(3, dirs[j][0], dirs[j][1], dirs[j][2], b);
        for (int m = 0; m < n; ++m) B[j][m] = b[o + m];
      }
      // [BᵀB | I] → [I | (BᵀB)⁻¹] by Gauss–Jordan with partial pivoting (BᵀB is well conditioned: the directions
      // are spread evenly)
      for (int r = 0; r < n; ++r)
        for (int c = 0; c < 2 * n; ++c) {
          double v = 0;
          if (c < n)
            for (int j = 0; j < kShDirs; ++j) v += B[j][r] * B[j][c];
          else
            v = c - n == r ? 1 : 0;
          A[r][c] = v;
        }
      for (int c = 0; c < n; ++c) {
        int piv = c;
        for (int r = c + 1; r < n; ++r)
          if (std::abs(A[r][c]) > std::abs(A[piv][c])) piv = r;
        for (int k = 0; k < 2 * n; ++k) std::swap(A[c][k], A[piv][k]);
        const double d = A[c][c];
        for (int k = 0; k < 2 * n; ++k) A[c][k] /= d;
        for (int r = 0; r < n; ++r)
          if (r != c) {
            const double f = A[r][c];
            for (int k = 0; k < 2 * n; ++k) A[r][k] -= f * A[c][k];
          }
      }
      for (int m = 0; m < n; ++m)
        for (int j = 0; j < kShDirs; ++j) {
          double v = 0;
          for (int k = 0; k < n; ++k) v += A[m][n + k] * B[j][k];
          P[l - 1][m * kShDirs + j] = v;
        }
    }
  }
};
const ShSampling& sh_sampling() {
  static const ShSampling s;
  return s;
}
}  // namespace

ShRotation::ShRotation(const double R[9]) {
  const ShSampling& S = sh_sampling();
  double Y[kShDirs][16];  // the basis at Rᵀd_j
  for (int j = 0; j < kShDirs; ++j) {
    const double* d = S.dirs[j];
    const double x = R[0] * d[0] + R[3] * d[1] + R[6] * d[2], y = R[1] * d[0] + R[4] * d[1] + R[7] * d[2],
                 z = R[2] * d[0] + R[5] * d[1] + R[8] * d[2];
    ff::splat::math::sh_basis(3, x, y, z, Y[j]);
  }
  double* D[3] = {D1_, D2_, D3_};
  for (int l = 1; l <= 3; ++l) {
    const int n = 2 * l + 1, o = l * l;
    // the turned function's samples of old basis function k are Y_k(Rᵀd_j); its coefficients P_l·those
    for (int m = 0; m < n; ++m)
      for (int k = 0; k < n; ++k) {
        double v = 0;
        for (int j = 0; j < kShDirs; ++j) v += S.P[l - 1][m * kShDirs + j] * Y[j][o + k];
        D[l - 1][m * n + k] = v;
      }
  }
}

void ShRotation::apply(const float in[kShRest * 3], float out[kShRest * 3]) const {
  const double* D[3] = {D1_, D2_, D3_};
  for (int l = 1; l <= 3; ++l) {
    const int n = 2 * l + 1, o = l * l - 1;  // first index of degree l in sh_rest
    for (int m = 0; m < n; ++m)
      for (int c = 0; c < 3; ++c) {
        double v = 0;
        for (int k = 0; k < n; ++k) v += D[l - 1][m * n + k] * in[(o + k) * 3 + c];
        out[(o + m) * 3 + c] = float(v);
      }
  }
}

// ---- .ply -----------------------------------------------------------------------------------------------
std::string ply_bytes(const GaussianSet& g, int sh_degree, bool y_down) {
  g.check("ply_bytes");
  if (sh_degree != 0 && sh_degree != 3) fail(kInvalid, "ply: sh_degree must be 0 or 3, got ", sh_degree);
  if (sh_degree == 0 && g.has_sh())
    fail(kInvalid, "ply: these Gaussians have view-dependent colours (SH coefficients); sh_degree 0 would drop them");
  const size_t n = g.size();
  const int rest = sh_degree == 3 ? 45 : 0;
  std::string h = "ply\nformat binary_little_endian 1.0\n";
  if (y_down) h += std::string(kPlyYDownComment) + " (x, -y, -z: the canonical y-up frame turned 180 deg about x)\n";
  h += "element vertex " + cat(n) + "\n";
  for (const char* p : {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"})
    h += std::string("property float ") + p + "\n";
  for (int k = 0; k < rest; ++k) h += "property float f_rest_" + cat(k) + "\n";
  for (const char* p : {"opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"})
    h += std::string("property float ") + p + "\n";
  h += "end_header\n";
  const size_t nf = 17 + size_t(rest);
  std::vector<float> rec(nf * n, 0.f);
  for (size_t i = 0; i < n; ++i) {
    float* r = &rec[i * nf];
    for (int c = 0; c < 3; ++c) r[c] = g.means[3 * i + c];
    for (int c = 0; c < 3; ++c) r[6 + c] = sh_dc_coefficient(g.colors[3 * i + c]);
    if (rest && g.has_sh()) {  // f_rest is channel-major: f_rest_(c·15 + k)
      float sh[kShRest * 3];
      std::memcpy(sh, &g.sh_rest[i * kShRest * 3], sizeof sh);
      if (y_down) turn_sh_about_x(sh);
      for (int k = 0; k < kShRest; ++k)
        for (int c = 0; c < 3; ++c) r[9 + c * kShRest + k] = sh[k * 3 + c];
    }
    float* t = r + 9 + rest;
    t[0] = logitf_(g.opacities[i]);
    for (int c = 0; c < 3; ++c) t[1 + c] = g.log_scales[3 * i + c];
    normalise_quat(&g.rotations[4 * i], t + 4);
    if (y_down) turn_about_x(r, t + 4);
  }
  h.append(reinterpret_cast<const char*>(rec.data()), rec.size() * sizeof(float));
  return h;
}

void write_ply(const std::string& path, const GaussianSet& g, int sh_degree, bool y_down) {
  write_file(path, ply_bytes(g, sh_degree, y_down));
}

bool is_ply(const std::string& b) { return b.size() >= 4 && b.compare(0, 4, "ply\n") == 0; }

namespace {
struct PlyProp {
  std::string name;
  int type = 0;  // size in bytes; with flags below
  bool is_float = false, is_signed = false, is_list = false;
  size_t offset = 0;
};
bool ply_type(const std::string& t, PlyProp& p) {
  static const struct {
    const char* a;
    const char* b;
    int size;
    bool fl, sg;
  } tab[] = {{"char", "int8", 1, false, true},     {"uchar", "uint8", 1, false, false},
             {"short", "int16", 2, false, true},   {"ushort", "uint16", 2, false, false},
             {"int", "int32", 4, false, true},     {"uint", "uint32", 4, false, false},
             {"float", "float32", 4, true, true},  {"double", "float64", 8, true, true}};
  for (auto& e : tab)
    if (t == e.a || t == e.b) {
      p.type = e.size, p.is_float = e.fl, p.is_signed = e.sg;
      return true;
    }
  return false;
}
double ply_value(const char* p, const PlyProp& pr) {
  switch (pr.type) {
    case 1: return pr.is_signed ? double(int8_t(*p)) : double(uint8_t(*p));
    case 2: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return pr.is_signed ? double(int16_t(v)) : double(v);
    }
    case 4: {
      if (pr.is_float) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
      }
      uint32_t v;
      std::memcpy(&v, p, 4);
      return pr.is_signed ? double(int32_t(v)) : double(v);
    }
    default: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
  }
}
}  // namespace

GaussianSet parse_ply(const std::string& b, const std::string& what, int* sh_degree_out) {
  if (!is_ply(b)) fail(kFormat, what, " is not a PLY file (it does not start with \"ply\\n\")");
  const size_t hend = b.find("end_header\n");
  if (hend == std::string::npos) fail(kFormat, what, ": PLY header has no end_header line (truncated?)");
  const size_t body = hend + 11;
  // parse header lines
  std::vector<std::string> lines;
  {
    size_t s = 0;
    while (s < hend) {
      size_t e = b.find('\n', s);
      std::string l = b.substr(s, e - s);
      if (!l.empty() && l.back() == '\r') l.pop_back();
      lines.push_back(l);
      s = e + 1;
    }
  }
  bool binary = false, ascii = false, in_vertex = false, vertex_seen = false, y_down = false;
  int64_t nvert = -1;
  size_t skip_before = 0;  // bytes of (binary, fixed-size) elements before the vertex element
  int64_t pending_count = 0;
  size_t pending_size = 0;
  bool pending_list = false;
  std::vector<PlyProp> props;
  size_t stride = 0;
  auto close_element = [&]() {
    if (!in_vertex && !vertex_seen && pending_count > 0) {
      if (pending_list) fail(kUnsupported, what, ": PLY has a list-property element before `vertex`");
      skip_before += size_t(pending_count) * pending_size;
    }
  };
  for (size_t li = 1; li < lines.size(); ++li) {
    const std::string& l = lines[li];
    std::vector<std::string> tok;
    {
      size_t s = 0;
      while (s < l.size()) {
        while (s < l.size() && (l[s] == ' ' || l[s] == '\t')) ++s;
        size_t e = s;
        while (e < l.size() && l[e] != ' ' && l[e] != '\t') ++e;
        if (e > s) tok.push_back(l.substr(s, e - s));
        s = e;
      }
    }
    if (l.rfind(kPlyYDownComment, 0) == 0) y_down = true;
    if (tok.empty() || tok[0] == "comment" || tok[0] == "obj_info") continue;
    if (tok[0] == "format") {
      if (tok.size() < 2) fail(kFormat, what, ": malformed PLY format line");
      if (tok[1] == "binary_little_endian") binary = true;
      else if (tok[1] == "ascii") ascii = true;
      else fail(kUnsupported, what, ": PLY format '", tok[1], "' is not supported (binary_little_endian or ascii)");
    } else if (tok[0] == "element") {
      if (tok.size() < 3) fail(kFormat, what, ": malformed PLY element line '", l, "'");
      close_element();
      if (in_vertex) vertex_seen = true;
      in_vertex = tok[1] == "vertex" && !vertex_seen;
      char* end = nullptr;
      const long long c = std::strtoll(tok[2].c_str(), &end, 10);
      if (*end || c < 0 || c > (1LL << 31)) fail(kFormat, what, ": bad PLY element count '", tok[2], "'");
      if (in_vertex) nvert = c;
      pending_count = c, pending_size = 0, pending_list = false;
    } else if (tok[0] == "property") {
      PlyProp p;
      if (tok.size() >= 2 && tok[1] == "list") {
        p.is_list = true;
        pending_list = true;
        if (in_vertex) fail(kUnsupported, what, ": PLY vertex list properties are not supported");
        continue;
      }
      if (tok.size() < 3 || !ply_type(tok[1], p)) fail(kFormat, what, ": bad PLY property line '", l, "'");
      p.name = tok[2];
      if (in_vertex) {
        p.offset = stride;
        stride += size_t(p.type);
        props.push_back(p);
      } else {
        pending_size += size_t(p.type);
      }
    } else {
      fail(kFormat, what, ": unexpected PLY header line '", l, "'");
    }
  }
  if (!binary && !ascii) fail(kFormat, what, ": PLY header has no format line");
  if (nvert < 0) fail(kFormat, what, ": PLY has no vertex element");
  auto col = [&](const std::string& name) -> int {
    for (size_t i = 0; i < props.size(); ++i)
      if (props[i].name == name) return int(i);
    return -1;
  };
  const char* need[] = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                        "rot_0", "rot_1", "rot_2", "rot_3"};
  int ci[14];
  for (int k = 0; k < 14; ++k) {
    ci[k] = col(need[k]);
    if (ci[k] < 0) fail(kFormat, what, ": PLY vertex has no '", need[k], "' property (not a 3DGS point cloud?)");
  }
  int rest = 0;
  while (col("f_rest_" + cat(rest)) >= 0) ++rest;
  if (rest != 0 && rest != 9 && rest != 24 && rest != 45)
    fail(kFormat, what, ": PLY has ", rest, " f_rest properties; 3·(deg+1)²−3 ∈ {0, 9, 24, 45} expected");
  if (sh_degree_out) *sh_degree_out = rest == 0 ? 0 : rest == 9 ? 1 : rest == 24 ? 2 : 3;
  std::vector<int> rest_col(size_t(rest), 0);
  for (int k = 0; k < rest; ++k) rest_col[size_t(k)] = col("f_rest_" + cat(k));
  const size_t n = size_t(nvert), nr = size_t(rest);
  std::vector<double> v(n * 14);
  std::vector<float> vr(n * nr);  // f_rest values (float: what the set keeps)
  if (binary) {
    const size_t start = body + skip_before;
    if (start > b.size() || (b.size() - start) / std::max<size_t>(stride, 1) < n)
      fail(kFormat, what, " is truncated: ", n, " vertices of ", stride, " bytes need ", n * stride + start,
           " bytes, the file has ", b.size());
    for (size_t i = 0; i < n; ++i) {
      const char* r = b.data() + start + i * stride;
      for (int k = 0; k < 14; ++k) v[i * 14 + k] = ply_value(r + props[ci[k]].offset, props[ci[k]]);
      for (size_t k = 0; k < nr; ++k) {
        const PlyProp& pr = props[size_t(rest_col[k])];
        vr[i * nr + k] = float(ply_value(r + pr.offset, pr));
      }
    }
  } else {
    if (skip_before) fail(kUnsupported, what, ": ascii PLY with elements before `vertex` is not supported");
    const char* p = b.c_str() + body;
    std::vector<double> row(props.size());
    for (size_t i = 0; i < n; ++i) {
      for (size_t k = 0; k < props.size(); ++k) {
        char* end = nullptr;
        row[k] = std::strtod(p, &end);
        if (end == p) fail(kFormat, what, " is truncated or malformed: ascii vertex ", i, " property ", k);
        p = end;
      }
      for (int k = 0; k < 14; ++k) v[i * 14 + k] = row[size_t(ci[k])];
      for (size_t k = 0; k < nr; ++k) vr[i * nr + k] = float(row[size_t(rest_col[k])]);
    }
  }
  // SH beyond the DC term only when some coefficient is non-zero (the SH-3 layout's 45 zeros are view-independent)
  const bool sh = std::any_of(vr.begin(), vr.end(), [](float x) { return x != 0; });
  GaussianSet g;
  g.resize(n);
  if (sh) g.sh_rest.assign(n * kShRest * 3, 0.f);
  const int per_channel = rest / 3;  // coefficients 1..per_channel of each channel; the rest of the 15 stay 0
  for (size_t i = 0; i < n; ++i) {
    const double* r = &v[i * 14];
    for (int c = 0; c < 3; ++c) {
      g.means[3 * i + c] = float(r[c]);
      // 3DGS adds 0.5 and clamps the final colour below at 0: without SH that is the DC colour's clamp; with SH the
      // clamp applies after the directional terms (sh_color), so the DC term stays as it is
      const double dc = 0.5 + kSH_C0 * r[3 + c];
      g.colors[3 * i + c] = float(sh ? dc : std::max(0.0, dc));
      g.log_scales[3 * i + c] = float(r[7 + c]);
    }
    if (sh) {
      float* out = &g.sh_rest[i * kShRest * 3];
      for (int c = 0; c < 3; ++c)
        for (int k = 0; k < per_channel; ++k) out[k * 3 + c] = vr[i * nr + size_t(c * per_channel + k)];
    }
    g.opacities[i] = float(1.0 / (1.0 + std::exp(-r[6])));
    for (int c = 0; c < 4; ++c) g.rotations[4 * i + c] = float(r[10 + c]);
    if (y_down) {
      turn_back_about_x(&g.means[3 * i], &g.rotations[4 * i]);
      if (sh) turn_sh_about_x(&g.sh_rest[i * kShRest * 3]);
    }
  }
  return g;
}

GaussianSet read_ply(const std::string& path, int* sh_degree_out) {
  return parse_ply(read_file(path), "'" + path + "'", sh_degree_out);
}

// ---- .splat ---------------------------------------------------------------------------------------------
std::string splat_bytes(const GaussianSet& g) {
  g.check("splat_bytes");
  const size_t n = g.size();
  std::vector<double> imp(n);
  for (size_t i = 0; i < n; ++i)
    imp[i] = std::exp(double(g.log_scales[3 * i]) + g.log_scales[3 * i + 1] + g.log_scales[3 * i + 2]) * g.opacities[i];
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return imp[a] > imp[b]; });
  auto u8 = [](double v) -> uint8_t {  // Uint8ClampedArray: clamp, round half to even
    v = std::min(255.0, std::max(0.0, v));
    return uint8_t(std::nearbyint(v));
  };
  std::string out(n * 32, '\0');
  for (size_t j = 0; j < n; ++j) {
    const size_t i = order[j];
    char* r = &out[j * 32];
    float f[6];
    for (int c = 0; c < 3; ++c) f[c] = g.means[3 * i + c], f[3 + c] = std::exp(g.log_scales[3 * i + c]);
    std::memcpy(r, f, 24);
    uint8_t* u = reinterpret_cast<uint8_t*>(r + 24);
    for (int c = 0; c < 3; ++c) u[c] = u8(double(g.colors[3 * i + c]) * 255.0);
    u[3] = u8(double(g.opacities[i]) * 255.0);
    float q[4];
    normalise_quat(&g.rotations[4 * i], q);
    for (int c = 0; c < 4; ++c) u[4 + c] = u8(double(q[c]) * 128.0 + 128.0);
  }
  return out;
}

void write_splat(const std::string& path, const GaussianSet& g) { write_file(path, splat_bytes(g)); }

GaussianSet parse_splat(const std::string& b, const std::string& what) {
  if (b.size() % 32 != 0)
    fail(kFormat, what, " is not a .splat file or is truncated: ", b.size(), " bytes is not a multiple of 32");
  const size_t n = b.size() / 32;
  GaussianSet g;
  g.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const char* r = b.data() + i * 32;
    float f[6];
    std::memcpy(f, r, 24);
    for (int c = 0; c < 3; ++c) {
      g.means[3 * i + c] = f[c];
      if (!(f[3 + c] > 0) || !std::isfinite(f[3 + c]))
        fail(kFormat, what, ": record ", i, " has a non-positive or non-finite scale (not a .splat file?)");
      g.log_scales[3 * i + c] = std::log(f[3 + c]);
    }
    const uint8_t* u = reinterpret_cast<const uint8_t*>(r + 24);
    for (int c = 0; c < 3; ++c) g.colors[3 * i + c] = float(u[c]) / 255.0f;
    g.opacities[i] = float(u[3]) / 255.0f;
    for (int c = 0; c < 4; ++c) g.rotations[4 * i + c] = (float(u[4 + c]) - 128.0f) / 128.0f;
    const float* q = &g.rotations[4 * i];
    if (q[0] == 0 && q[1] == 0 && q[2] == 0 && q[3] == 0) g.rotations[4 * i] = 1.0f;  // degenerate → identity
  }
  return g;
}

GaussianSet read_splat(const std::string& path) { return parse_splat(read_file(path), "'" + path + "'"); }

// ---- packs -------------------------------------------------------------------------------------
const Array* Pack::find(const std::string& name) const {
  for (auto& a : arrays)
    if (a.name == name) return &a;
  return nullptr;
}

const Array& Pack::get(const std::string& name, const std::string& what) const {
  const Array* a = find(name);
  if (!a) fail(kUnsupported, what, " has no array '", name, "'");
  return *a;
}

void Pack::add(const std::string& name, const std::vector<int64_t>& shape, const float* d) {
  Array a;
  a.name = name;
  a.dtype = kF32;
  a.shape = shape;
  a.data.assign(reinterpret_cast<const char*>(d), size_t(a.numel()) * 4);
  arrays.push_back(std::move(a));
}

void Pack::add_u8(const std::string& name, const std::string& bytes) {
  Array a;
  a.name = name;
  a.dtype = kU8;
  a.shape = {int64_t(bytes.size())};
  a.data = bytes;
  arrays.push_back(std::move(a));
}

bool is_pack(const std::string& b) { return has_magic(b, FileKind::kPack); }
bool is_checkpoint(const std::string& b) { return has_magic(b, FileKind::kCheckpoint); }

std::string pack_bytes(const Pack& p) {
  Header h;
  h.meta = p.meta;
  h.pack_kind = p.kind;
  ContainerWriter w(FileKind::kPack, h);
  for (auto& a : p.arrays) w.add(a);
  return w.finish();
}

void write_pack(const std::string& path, const Pack& p) { write_file(path, pack_bytes(p)); }

Pack parse_pack(const std::string& b, const std::string& what) {
  const ContainerView v = parse_container(b, FileKind::kPack, what);
  Pack p;
  p.kind = v.header.pack_kind;
  if (p.kind != kPackGaussians && p.kind != kPackModel && p.kind != kPackRig) fail(kFormat, what, " has unknown pack kind ", p.kind);
  p.meta = v.header.meta;
  for (auto& r : v.records) p.arrays.push_back(r.copy());
  return p;
}

bool is_model_record(const std::string& name) {
  for (const char* p : {"layout/", "cameras/", "head/", "model/"})
    if (name.rfind(p, 0) == 0) return true;
  return name == "names";
}

Pack parse_checkpoint(const std::string& b, const std::string& what) {
  const ContainerView v = parse_container(b, FileKind::kCheckpoint, what);
  Pack p;
  p.kind = kPackModel;
  p.meta = v.header.meta;
  for (auto& r : v.records) {
    std::string name;
    bool weight = true;
    if (r.name.rfind("param/", 0) == 0) name = r.name.substr(6);
    else if (r.name.rfind("buffer/", 0) == 0) name = r.name.substr(7);
    else if (is_model_record(r.name)) name = r.name, weight = false;
    else continue;  // Adam moments, trainer state
    Array a = r.copy();
    a.name = name;
    if (weight && a.dtype == kF64) {  // F64 runs (gradient checks): convert
      std::vector<float> f = a.floats();
      a.dtype = kF32;
      a.data.assign(reinterpret_cast<const char*>(f.data()), f.size() * 4);
    }
    p.arrays.push_back(std::move(a));
  }
  return p;
}

Pack parse_model_file(const std::string& b, const std::string& what) {
  if (is_pack(b)) return parse_pack(b, what);
  if (is_checkpoint(b)) return parse_checkpoint(b, what);
  fail(kFormat, what, " is neither a facefield identity pack (\"FFPACK\") nor a checkpoint (\"FFCKPT\")");
}

Pack pack_from_gaussians(const GaussianSet& g, const std::string& meta) {
  g.check("pack_from_gaussians");
  Pack p;
  p.kind = kPackGaussians;
  const int64_t n = int64_t(g.size());
  p.meta = meta.empty() ? "{\"format\":\"facefield identity pack\",\"kind\":\"gaussians\",\"gaussians\":" + cat(n) + "}"
                        : meta;
  p.add("means", {n, 3}, g.means.data());
  p.add("log_scales", {n, 3}, g.log_scales.data());
  p.add("rotations", {n, 4}, g.rotations.data());
  p.add("opacities", {n}, g.opacities.data());
  p.add("colors", {n, 3}, g.colors.data());
  if (g.has_sh()) p.add("sh_rest", {n, kShRest, 3}, g.sh_rest.data());
  return p;
}

GaussianSet gaussians_from_pack(const Pack& p, const std::string& what) {
  if (p.kind != kPackGaussians)
    fail(kUnsupported, what, p.kind == kPackRig ? " is a rig file (ff_rig_open), not a pack of decoded Gaussians"
                                                : " is a model pack, not a pack of decoded Gaussians");
  GaussianSet g;
  const Array& o = p.get("opacities", what);
  if (o.shape.size() != 1) fail(kFormat, what, ": 'opacities' must be [N]");
  const int64_t n = o.shape[0];
  auto take = [&](const char* name, int w, std::vector<float>& dst) {
    const Array& a = p.get(name, what);
    if (!(a.shape.size() == 2 && a.shape[0] == n && a.shape[1] == w) && !(w == 1 && a.shape.size() == 1))
      fail(kFormat, what, ": '", name, "' must be [", n, ",", w, "]");
    dst = a.floats();
  };
  take("means", 3, g.means);
  take("log_scales", 3, g.log_scales);
  take("rotations", 4, g.rotations);
  take("colors", 3, g.colors);
  g.opacities = o.floats();
  if (const Array* sh = p.find("sh_rest")) {
    if (!(sh->shape.size() == 3 && sh->shape[0] == n && sh->shape[1] == kShRest && sh->shape[2] == 3))
      fail(kFormat, what, ": 'sh_rest' must be [", n, ",", kShRest, ",3]");
    g.sh_rest = sh->floats();
  }
  g.check(what);
  return g;
}

GaussianSet load_gaussians(const std::string& path) {
  const std::string b = read_file(path), what = "'" + path + "'";
  if (is_ply(b)) return parse_ply(b, what);
  if (is_pack(b)) return gaussians_from_pack(parse_pack(b, what), what);
  if (is_checkpoint(b)) fail(kUnsupported, what, " is a training checkpoint: open it as a model and decode an identity");
  // .splat has no header: its name is the only evidence (a text file whose size is a multiple of 32 would otherwise
  // parse as Gaussians)
  const size_t dot = path.find_last_of('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".splat")
    fail(kFormat, what, " is not a Gaussian file: not .ply or .ffpk by content, and only a file named *.splat is read "
                        "as .splat (it has no header)");
  return parse_splat(b, what);
}

}  // namespace ffrt
