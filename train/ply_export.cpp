// train/ply_export.cpp — 3DGS .ply writer and header-driven reader.
#include "train/ply_export.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/check.h"
#include "tensor/io.h"

namespace ff::train {

void write_gaussians_ply(const std::string& path, const PlyGaussians& g) {
  const size_t N = g.size();
  FF_CHECK(g.means.size() == 3 * N && g.log_scales.size() == 3 * N && g.rotations.size() == 4 * N &&
               g.colors.size() == 3 * N,
           "write_gaussians_ply: inconsistent array sizes for ", N, " Gaussians");
  std::ostringstream h;
  h << "ply\nformat binary_little_endian 1.0\nelement vertex " << N << "\n";
  for (const char* n : {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1",
                        "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"})
    h << "property float " << n << "\n";
  h << "end_header\n";
  std::string s = h.str();
  std::vector<float> rec(N * 17);
  for (size_t i = 0; i < N; ++i) {
    float* r = &rec[17 * i];
    for (int c = 0; c < 3; ++c) r[c] = g.means[3 * i + c];
    r[3] = r[4] = r[5] = 0.f;
    for (int c = 0; c < 3; ++c) r[6 + c] = float((g.colors[3 * i + c] - 0.5) / kSH_C0);
    const double o = std::clamp(double(g.opacities[i]), 1e-6, 1 - 1e-6);
    r[9] = float(std::log(o / (1 - o)));
    for (int c = 0; c < 3; ++c) r[10 + c] = g.log_scales[3 * i + c];
    const float* q = &g.rotations[4 * i];
    double n = std::sqrt(double(q[0]) * q[0] + double(q[1]) * q[1] + double(q[2]) * q[2] + double(q[3]) * q[3]);
    if (!(n > 0)) n = 1;
    for (int c = 0; c < 4; ++c) r[13 + c] = float(q[c] / n);
  }
  s.append(reinterpret_cast<const char*>(rec.data()), rec.size() * sizeof(float));
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  write_file_atomic(path, s);
}

int PlyTable::column(const std::string& name) const {
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : int(it - names.begin());
}

PlyTable read_ply_table(const std::string& path) {
  const std::string buf = read_file(path);
  const size_t end = buf.find("end_header\n");
  FF_CHECK(buf.compare(0, 4, "ply\n") == 0 && end != std::string::npos, "'", path, "' is not a PLY file");
  std::istringstream hs(buf.substr(0, end));
  std::string line;
  PlyTable t;
  std::vector<int> sizes, kinds;  // kinds: 0 float, 1 double, 2 signed int, 3 unsigned int
  bool in_vertex = false, binary = false;
  while (std::getline(hs, line)) {
    std::istringstream ls(line);
    std::string w;
    ls >> w;
    if (w == "format") {
      std::string f;
      ls >> f;
      FF_CHECK(f == "binary_little_endian", "'", path, "': only binary_little_endian is read, got ", f);
      binary = true;
    } else if (w == "element") {
      std::string name;
      ls >> name >> t.rows;
      in_vertex = name == "vertex";
    } else if (w == "property" && in_vertex) {
      std::string type, name;
      ls >> type >> name;
      FF_CHECK(type != "list", "'", path, "': list properties in the vertex element are not supported");
      int sz = 0, kind = 0;
      if (type == "float" || type == "float32") sz = 4, kind = 0;
      else if (type == "double" || type == "float64") sz = 8, kind = 1;
      else if (type == "char" || type == "int8") sz = 1, kind = 2;
      else if (type == "uchar" || type == "uint8") sz = 1, kind = 3;
      else if (type == "short" || type == "int16") sz = 2, kind = 2;
      else if (type == "ushort" || type == "uint16") sz = 2, kind = 3;
      else if (type == "int" || type == "int32") sz = 4, kind = 2;
      else if (type == "uint" || type == "uint32") sz = 4, kind = 3;
      else FF_THROW("'", path, "': unknown property type ", type);
      t.names.push_back(name);
      sizes.push_back(sz);
      kinds.push_back(kind);
    }
  }
  FF_CHECK(binary, "'", path, "': no format line");
  size_t stride = 0;
  for (int s : sizes) stride += size_t(s);
  size_t pos = end + std::strlen("end_header\n");
  FF_CHECK(buf.size() >= pos + stride * t.rows, "'", path, "' is truncated: ", t.rows, " vertices of ", stride,
           " bytes need ", stride * t.rows, " bytes after the header");
  t.values.resize(t.rows * t.names.size());
  for (size_t r = 0; r < t.rows; ++r)
    for (size_t c = 0; c < t.names.size(); ++c) {
      const char* p = buf.data() + pos;
      double v = 0;
      switch (kinds[c] * 10 + sizes[c]) {
        case 4: { float x; std::memcpy(&x, p, 4); v = x; break; }
        case 18: { double x; std::memcpy(&x, p, 8); v = x; break; }
        case 21: v = int8_t(*p); break;
        case 22: { int16_t x; std::memcpy(&x, p, 2); v = x; break; }
        case 24: { int32_t x; std::memcpy(&x, p, 4); v = x; break; }
        case 31: v = uint8_t(*p); break;
        case 32: { uint16_t x; std::memcpy(&x, p, 2); v = x; break; }
        case 34: { uint32_t x; std::memcpy(&x, p, 4); v = x; break; }
        default: break;
      }
      t.values[r * t.names.size() + c] = float(v);
      pos += size_t(sizes[c]);
    }
  return t;
}

}  // namespace ff::train
