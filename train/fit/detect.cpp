// train/fit/detect.cpp — photo reading, EXIF, landmark files, and dlib detection (compiled with FF_WITH_DLIB; see
// cmake/dlib.cmake). dlib is only touched here and in dlib_format.cpp (its shape-predictor reader), so its heavy
// headers compile twice at most.
#include "train/fit/detect.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>

#include "core/check.h"
#include "core/file.h"
#include "flame/headmodel.h"
#include "runtime/container.h"
#include "train/data/image.h"
#include "train/fit/dlib_format.h"
#include "train/fit/facemesh.h"

#if defined(FF_WITH_DLIB)
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/revision.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace fs = std::filesystem;

namespace ff::fit {

// ---- EXIF --------------------------------------------------------------------------------------------------------
namespace {

struct Tiff {
  const uint8_t* p;
  size_t n;
  bool le;
  bool ok(size_t off, size_t len) const { return off <= n && len <= n - off; }
  uint32_t u16(size_t off) const {
    if (!ok(off, 2)) return 0;
    return le ? uint32_t(p[off]) | uint32_t(p[off + 1]) << 8 : uint32_t(p[off]) << 8 | uint32_t(p[off + 1]);
  }
  uint32_t u32(size_t off) const {
    if (!ok(off, 4)) return 0;
    return le ? uint32_t(p[off]) | uint32_t(p[off + 1]) << 8 | uint32_t(p[off + 2]) << 16 | uint32_t(p[off + 3]) << 24
              : uint32_t(p[off]) << 24 | uint32_t(p[off + 1]) << 16 | uint32_t(p[off + 2]) << 8 | uint32_t(p[off + 3]);
  }
};

constexpr int kTypeSize[13] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8};

// Value of entry `e` as a number (first element): SHORT, LONG, RATIONAL, SRATIONAL, SLONG, BYTE.
double entry_number(const Tiff& t, size_t e) {
  uint32_t type = t.u16(e + 2), count = t.u32(e + 4);
  if (type == 0 || type > 12 || count == 0) return 0;
  size_t bytes = size_t(kTypeSize[type]) * count;
  size_t off = bytes <= 4 ? e + 8 : t.u32(e + 8);
  switch (type) {
    case 1: case 7: return t.ok(off, 1) ? t.p[off] : 0;
    case 3: return t.u16(off);
    case 4: return t.u32(off);
    case 9: return double(int32_t(t.u32(off)));
    case 5: {
      uint32_t a = t.u32(off), b = t.u32(off + 4);
      return b ? double(a) / b : 0;
    }
    case 10: {
      int32_t a = int32_t(t.u32(off)), b = int32_t(t.u32(off + 4));
      return b ? double(a) / b : 0;
    }
    default: return 0;
  }
}

std::string entry_string(const Tiff& t, size_t e) {
  uint32_t type = t.u16(e + 2), count = t.u32(e + 4);
  if (type != 2 || count == 0 || count > 256) return "";
  size_t off = count <= 4 ? e + 8 : t.u32(e + 8);
  if (!t.ok(off, count)) return "";
  std::string s(reinterpret_cast<const char*>(t.p + off), count);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

void read_ifd(const Tiff& t, size_t ifd, ExifInfo& x, int depth) {
  if (depth > 2 || !t.ok(ifd, 2)) return;
  uint32_t n = t.u16(ifd);
  if (n > 512) return;
  for (uint32_t i = 0; i < n; ++i) {
    size_t e = ifd + 2 + size_t(i) * 12;
    if (!t.ok(e, 12)) return;
    switch (t.u16(e)) {
      case 0x010F: x.make = entry_string(t, e); break;
      case 0x0110: x.model = entry_string(t, e); break;
      case 0x0112: x.orientation = int(entry_number(t, e)); break;
      case 0x8769: read_ifd(t, t.u32(e + 8), x, depth + 1); break;  // Exif sub-IFD
      case 0x920A: x.focal_mm = entry_number(t, e); break;
      case 0xA405: x.focal_35mm = entry_number(t, e); break;
      case 0xA20E: x.focal_plane_xres = entry_number(t, e); break;
      case 0xA210: {
        int u = int(entry_number(t, e));
        x.focal_plane_unit_mm = u == 2 ? 25.4 : u == 3 ? 10.0 : u == 4 ? 1.0 : u == 5 ? 1e-3 : 0.0;
        break;
      }
      case 0xA002: x.pixel_x = int(entry_number(t, e)); break;
      case 0xA003: x.pixel_y = int(entry_number(t, e)); break;
      default: break;
    }
  }
}

}  // namespace

ExifInfo parse_exif(const uint8_t* b, size_t n) {
  ExifInfo x;
  if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return x;
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (b[pos] != 0xFF) return x;
    uint8_t marker = b[pos + 1];
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      pos += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return x;  // image data: no EXIF before it
    size_t len = size_t(b[pos + 2]) << 8 | b[pos + 3];
    if (len < 2 || pos + 2 + len > n) return x;
    const uint8_t* seg = b + pos + 4;
    size_t seg_n = len - 2;
    if (marker == 0xE1 && seg_n > 14 && std::equal(seg, seg + 6, reinterpret_cast<const uint8_t*>("Exif\0\0"))) {
      Tiff t{seg + 6, seg_n - 6, seg[6] == 'I'};
      if ((seg[6] == 'I' && seg[7] == 'I') || (seg[6] == 'M' && seg[7] == 'M')) {
        if (t.u16(2) == 42) {
          read_ifd(t, t.u32(4), x, 0);
          x.found = true;
        }
      }
      return x;
    }
    pos += 2 + len;
  }
  return x;
}

double exif_focal_px(const ExifInfo& e, int W, int H, std::string* how) {
  char buf[160];
  if (e.focal_35mm > 0) {
    double f = e.focal_35mm * std::hypot(double(W), double(H)) / std::hypot(36.0, 24.0);
    std::snprintf(buf, sizeof buf, "EXIF FocalLengthIn35mmFilm %.0f mm -> %.1f px", e.focal_35mm, f);
    if (how) *how = buf;
    return f;
  }
  if (e.focal_mm > 0 && e.focal_plane_xres > 0 && e.focal_plane_unit_mm > 0) {
    double px_per_mm = e.focal_plane_xres / e.focal_plane_unit_mm;
    double f = e.focal_mm * px_per_mm;
    if (e.pixel_x > 0) f *= double(std::max(W, H)) / double(std::max(e.pixel_x, e.pixel_y));
    std::snprintf(buf, sizeof buf, "EXIF FocalLength %.2f mm x focal plane %.1f px/mm -> %.1f px", e.focal_mm,
                  px_per_mm, f);
    if (how) *how = buf;
    return f;
  }
  return 0;
}

// ---- photo -------------------------------------------------------------------------------------------------------

data::Image8 apply_exif_orientation(const data::Image8& stored, int orientation) {
  if (orientation < 2 || orientation > 8) return stored;  // 1 (upright), 0 (absent) or an invalid value
  const int W = stored.width, H = stored.height, C = stored.channels;
  const bool swap = orientation >= 5;
  data::Image8 out(swap ? H : W, swap ? W : H, C);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;  // the stored pixel shown at display (x, y)
      switch (orientation) {
        case 2: sx = W - 1 - x; break;                       // mirrored horizontally
        case 3: sx = W - 1 - x, sy = H - 1 - y; break;       // rotated 180°
        case 4: sy = H - 1 - y; break;                       // mirrored vertically
        case 5: sx = y, sy = x; break;                       // transposed
        case 6: sx = y, sy = H - 1 - x; break;               // shown rotated 90° clockwise
        case 7: sx = W - 1 - y, sy = H - 1 - x; break;       // transversed
        case 8: sx = W - 1 - y, sy = x; break;               // shown rotated 90° counter-clockwise
      }
      const uint8_t* src = stored.at(sx, sy);
      std::copy(src, src + C, out.pixels.begin() + (size_t(y) * out.width + x) * C);
    }
  return out;
}

Photo read_photo(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FF_CHECK(bool(f), "cannot read image '", path, "': ", fs::exists(path) ? "unreadable" : "no such file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  FF_CHECK(!bytes.empty(), "cannot read image '", path, "': empty file");
  Photo p;
  p.path = path;
  try {
    p.rgb = data::decode_image(bytes.data(), bytes.size(), path, 3);
  } catch (const Error& e) {
    FF_THROW("cannot read image '", path, "': not a decodable JPEG/PNG (", e.what(), ")");
  }
  FF_CHECK(p.rgb.width >= 16 && p.rgb.height >= 16, "cannot read image '", path, "': too small (", p.rgb.width, "x",
           p.rgb.height, ")");
  p.exif = parse_exif(bytes.data(), bytes.size());
  if (p.exif.orientation >= 2 && p.exif.orientation <= 8) p.rgb = apply_exif_orientation(p.rgb, p.exif.orientation);
  if (p.exif.orientation >= 5 && p.exif.orientation <= 8) std::swap(p.exif.pixel_x, p.exif.pixel_y);
  return p;
}

// ---- landmark files ----------------------------------------------------------------------------------------------

Landmarks68 read_landmarks_file(const std::string& path) {
  std::ifstream f(path);
  FF_CHECK(bool(f), "cannot read landmarks '", path, "'");
  Landmarks68 l;
  l.source = path;
  std::array<bool, 68> seen{};
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    size_t s = line.find_first_not_of(" \t\r");
    if (s == std::string::npos || line[s] == '#') continue;
    std::istringstream is(line);
    long idx;
    double x, y;
    std::string extra;
    FF_CHECK(bool(is >> idx >> x >> y) && !(is >> extra), "landmarks '", path, "' line ", ln,
             ": expected 'index x y', got '", line, "'");
    FF_CHECK(idx >= 0 && idx < 68, "landmarks '", path, "' line ", ln, ": index ", idx, " outside 0..67");
    FF_CHECK(!seen[idx], "landmarks '", path, "' line ", ln, ": index ", idx, " given twice");
    FF_CHECK(std::isfinite(x) && std::isfinite(y), "landmarks '", path, "' line ", ln, ": non-finite coordinate");
    seen[idx] = true;
    l.xy[idx * 2] = x;
    l.xy[idx * 2 + 1] = y;
  }
  for (int i = 0; i < 68; ++i) FF_CHECK(seen[i], "landmarks '", path, "': index ", i, " missing (need all 68)");
  return l;
}

void write_landmarks_file(const std::string& path, const Landmarks68& l, const std::string& comment) {
  std::ofstream f(path);
  FF_CHECK(bool(f), "cannot write '", path, "'");
  if (!comment.empty()) f << "# " << comment << "\n";
  f << "# idx x y (iBUG-68 order, pixels)\n";
  char buf[64];
  for (int i = 0; i < 68; ++i) {
    std::snprintf(buf, sizeof buf, "%d %.2f %.2f\n", i, l.xy[i * 2], l.xy[i * 2 + 1]);
    f << buf;
  }
}

// ---- is it a face? ------------------------------------------------------------------------------------------------

namespace {
std::array<double, 2> centroid(const std::array<double, 136>& xy, int from, int to) {  // points [from, to)
  std::array<double, 2> c{0, 0};
  for (int i = from; i < to; ++i) c[0] += xy[i * 2] / (to - from), c[1] += xy[i * 2 + 1] / (to - from);
  return c;
}
}  // namespace

LandmarkShape landmark_shape(const std::array<double, 136>& xy) {
  LandmarkShape s;
  const auto re = centroid(xy, 36, 42), le = centroid(xy, 42, 48), mouth = centroid(xy, 48, 68);
  const double ex = le[0] - re[0], ey = le[1] - re[1];
  s.interocular_px = std::hypot(ex, ey);
  if (!(s.interocular_px > 1e-9)) return s;
  const double ux = ex / s.interocular_px, uy = ey / s.interocular_px;  // along the eye line, subject right → left
  const double vx = -uy, vy = ux;  // perpendicular: towards the mouth in an upright, unmirrored face (y down)
  const double mx = (re[0] + le[0]) / 2, my = (re[1] + le[1]) / 2;
  const double down_mouth = (mouth[0] - mx) * vx + (mouth[1] - my) * vy;
  const double down_nose = (xy[30 * 2] - mx) * vx + (xy[30 * 2 + 1] - my) * vy;
  s.eye_mouth_ratio = std::hypot(mouth[0] - mx, mouth[1] - my) / s.interocular_px;
  s.mirrored = down_mouth < 0;
  s.nose_between = std::abs(down_nose) < std::abs(down_mouth) && down_nose * down_mouth > 0;
  return s;
}

double inner_face_texture(const data::Image8& im, const std::array<double, 136>& xy) {
  double x0 = 1e30, y0 = 1e30, x1 = -1e30, y1 = -1e30;
  for (int i = 17; i < 68; ++i) {
    x0 = std::min(x0, xy[i * 2]), x1 = std::max(x1, xy[i * 2]);
    y0 = std::min(y0, xy[i * 2 + 1]), y1 = std::max(y1, xy[i * 2 + 1]);
  }
  constexpr int N = 32;
  const double cw = (x1 - x0) / N, ch = (y1 - y0) / N;
  if (!(cw > 0 && ch > 0) || im.channels < 1) return 0;
  // the mean grey level of each cell (box filter: every photo pixel whose centre falls in the cell; at least the
  // nearest one), so the texture does not depend on the face's size in pixels
  std::vector<double> g(size_t(N) * N);
  for (int j = 0; j < N; ++j)
    for (int i = 0; i < N; ++i) {
      const int px0 = std::clamp(int(std::ceil(x0 + i * cw - 0.5)), 0, im.width - 1);
      const int py0 = std::clamp(int(std::ceil(y0 + j * ch - 0.5)), 0, im.height - 1);
      const int px1 = std::clamp(int(std::ceil(x0 + (i + 1) * cw - 0.5)) - 1, px0, im.width - 1);
      const int py1 = std::clamp(int(std::ceil(y0 + (j + 1) * ch - 0.5)) - 1, py0, im.height - 1);
      double sum = 0;
      for (int y = py0; y <= py1; ++y)
        for (int x = px0; x <= px1; ++x) {
          const uint8_t* p = im.at(x, y);
          sum += im.channels >= 3 ? data::luma601(p) : p[0];
        }
      g[size_t(j) * N + i] = sum / ((px1 - px0 + 1) * (py1 - py0 + 1));
    }
  double t = 0;
  for (int j = 1; j < N - 1; ++j)
    for (int i = 1; i < N - 1; ++i) {
      const double gx = (g[size_t(j) * N + i + 1] - g[size_t(j) * N + i - 1]) / 2;
      const double gy = (g[size_t(j + 1) * N + i] - g[size_t(j - 1) * N + i]) / 2;
      t += std::hypot(gx, gy) / ((N - 2) * (N - 2));
    }
  return t;
}

double face_mesh_disagreement(const data::Image8& rgb, const std::array<double, 136>& xy, double* score,
                              std::vector<double>* mesh_xy) {
  if (score) *score = NAN;
  if (mesh_xy) mesh_xy->clear();
  Landmarks68 l;
  l.xy = xy;
  FaceRoi roi;
  try {
    roi = roi_from_landmarks68(l);
  } catch (const Error&) {  // coincident eyes or a degenerate layout: no region to look at
    return INFINITY;
  }
  Context ctx(0, 0);
  const FaceMeshResult r = run_facemesh(ctx, FaceMeshNet::embedded(), rgb, roi, 1);
  if (score) *score = r.score;
  if (mesh_xy) *mesh_xy = r.xy;
  const Landmarks68 m = landmarks68_from_facemesh(flame::builtin_head_model_ref(), r.xy);
  double e = 0;
  for (int i = 17; i < 68; ++i) e += std::hypot(m.xy[i * 2] - xy[i * 2], m.xy[i * 2 + 1] - xy[i * 2 + 1]) / 51;
  const double eyes = std::hypot(xy[45 * 2] - xy[36 * 2], xy[45 * 2 + 1] - xy[36 * 2 + 1]);
  return eyes > 0 ? e / eyes : INFINITY;
}

std::string judge_face(const data::Image8& rgb, FaceCandidate& c) {
  c.shape = landmark_shape(c.xy);
  c.texture = inner_face_texture(rgb, c.xy);
  c.mesh_disagreement = c.mesh_score = NAN;
  c.mesh_xy.clear();
  char buf[200];
  if (c.score < kMinFaceScore) {
    std::snprintf(buf, sizeof buf, "detector score %.3f below %.3f", c.score, kMinFaceScore);
    return buf;
  }
  if (!c.shape.nose_between) return "landmark layout is not a face (the nose is not between the eyes and the mouth)";
  if (c.shape.eye_mouth_ratio < 0.6 || c.shape.eye_mouth_ratio > 3) {
    std::snprintf(buf, sizeof buf, "landmark layout is not a face (eye-mouth distance %.2f x the eye distance, "
                  "faces: 0.6-3)", c.shape.eye_mouth_ratio);
    return buf;
  }
  if (c.shape.mirrored) return "landmark layout is mirrored (mouth on the wrong side of the eyes)";
  if (c.texture < kMinFaceTexture) {
    std::snprintf(buf, sizeof buf, "no facial features inside the box (texture %.2f, faces >= %.1f): a uniform "
                  "patch", c.texture, kMinFaceTexture);
    return buf;
  }
  // last, as the only rule that runs a network (~40 ms)
  c.mesh_disagreement = face_mesh_disagreement(rgb, c.xy, &c.mesh_score, &c.mesh_xy);
  if (!(c.mesh_disagreement <= kMaxFaceMeshDisagreement)) {
    std::snprintf(buf, sizeof buf, "the landmarks are not on the face's features (%.2f eye distances from Face Mesh's, "
                  "faces <= %.2f)", c.mesh_disagreement, kMaxFaceMeshDisagreement);
    return buf;
  }
  return "";
}

// ---- dlib --------------------------------------------------------------------------------------------------------

std::string find_shape_predictor() {
  const char* env = std::getenv("FF_DLIB_SHAPE_PREDICTOR");
  if (env && *env && fs::exists(env)) return env;
  const std::string name = "shape_predictor_68_face_landmarks.dat";
  for (const char* dir : {"/usr/share/dlib", "/usr/local/share/dlib"})
    if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  // a compressed copy: decompress once into the user cache
  const char* home = std::getenv("HOME");
  fs::path cache = fs::path(home ? home : "/tmp") / ".cache" / "facefield" / name;
  if (fs::exists(cache)) return cache.string();
  for (const char* dir : {"/usr/share/dlib", "/usr/local/share/dlib"}) {
    fs::path bz = fs::path(dir) / (name + ".bz2");
    if (!fs::exists(bz)) continue;
    std::error_code ec;
    fs::create_directories(cache.parent_path(), ec);
    std::string tmp = cache.string() + ".tmp";
    std::string cmd = "bzip2 -dc '" + bz.string() + "' > '" + tmp + "'";
    if (std::system(cmd.c_str()) == 0) {
      fs::rename(tmp, cache, ec);
      if (!ec) return cache.string();
    }
    fs::remove(tmp, ec);
  }
  return "";
}

#if defined(FF_WITH_DLIB)
bool have_dlib() { return true; }

namespace {
// dlib's two models, each built once per process; detect_face_candidates loads the predictor on a second thread while
// the detector is built and run.
// - The detector: dlib::get_frontal_face_detector() decodes dlib's compressed, base64-encoded copy of it (0.4–0.7 s
//   on the 2-core CI machine). Its dlib serialisation (155 KB) reads back in ~3 ms, so the first process keeps one in
//   the user's cache (detector_cache_path): a facefield tensor file (runtime/container.h: magic, checksum, refusal
//   of a truncated or damaged file) with one u8 record named after the dlib version. Anything else there is
//   ignored; it is rebuilt and replaced only when it is a facefield tensor file (ours), written atomically, and a
//   cache that cannot be written changes nothing but the time.
// - The shape predictor: 100 MB in dlib's portable format, ~0.8 s through dlib::deserialize's istream calls;
//   read_shape_predictor (train/fit/dlib_format.h) parses the same format from a memory map in a third of that.
std::string dlib_version() {
  return std::to_string(DLIB_MAJOR_VERSION) + "." + std::to_string(DLIB_MINOR_VERSION) + "." +
         std::to_string(DLIB_PATCH_VERSION);
}

std::string detector_cache_path() {
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : "/tmp") / ".cache" / "facefield" /
          ("dlib_frontal_face_detector_" + dlib_version() + ".fft"))
      .string();
}

dlib::frontal_face_detector build_face_detector(bool* from_cache = nullptr) {
  if (from_cache) *from_cache = false;
  const std::string path = detector_cache_path(), record = "dlib frontal_face_detector " + dlib_version();
  std::error_code ec;
  bool ours = !fs::exists(path, ec);  // nothing there, or (below) a facefield tensor file: ours to replace
  if (!ours) {
    try {
      const std::string bytes = ffrt::read_file(path);
      ours = ffrt::has_magic(bytes, ffrt::FileKind::kTensors);
      for (const ffrt::RecordView& r : ffrt::parse_container(bytes, ffrt::FileKind::kTensors, "'" + path + "'").records)
        if (r.name == record && r.dtype == ffrt::kU8) {
          std::istringstream in(std::string(r.data, size_t(r.nbytes)));
          dlib::frontal_face_detector d;
          dlib::deserialize(d, in);
          if (from_cache) *from_cache = true;
          return d;
        }
    } catch (const std::exception&) {  // unreadable, damaged or another dlib's: built again below
    }
  }
  dlib::frontal_face_detector d = dlib::get_frontal_face_detector();
  if (ours) {  // never replace a file facefield did not write
    try {
      std::ostringstream out;
      dlib::serialize(d, out);
      const std::string body = out.str();
      ffrt::ContainerWriter w(ffrt::FileKind::kTensors, {});
      w.add(record, ffrt::kU8, {int64_t(body.size())}, body.data(), body.size());
      fs::create_directories(fs::path(path).parent_path(), ec);
      write_file_atomic(path, w.finish());
    } catch (const std::exception&) {  // a read-only or full home: no cache, same detector
    }
  }
  return d;
}

dlib::frontal_face_detector& face_detector() {
  static dlib::frontal_face_detector d = build_face_detector();
  return d;
}

// A whole file mapped read-only (read from the page cache without a copy); throws std::runtime_error.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      n_ = size_t(st.st_size);
      p_ = ::mmap(nullptr, n_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    }
    ::close(fd);
    if (p_ == MAP_FAILED || p_ == nullptr) throw std::runtime_error("cannot map " + path);
  }
  ~MappedFile() { ::munmap(p_, n_); }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return static_cast<const char*>(p_); }
  size_t size() const { return n_; }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

struct Predictor {
  std::mutex mu;  // guards loaded/model across the loading thread and the caller
  bool loaded = false;
  dlib::shape_predictor model;
};
Predictor g_predictor;
void load_predictor() {
  std::lock_guard<std::mutex> lock(g_predictor.mu);
  if (g_predictor.loaded) return;
  std::string p = find_shape_predictor();
  FF_CHECK(!p.empty(), "face landmarks: shape_predictor_68_face_landmarks.dat not found (apt-get install "
                       "libdlib-data, or set FF_DLIB_SHAPE_PREDICTOR); or pass --landmarks FILE");
  try {
    const MappedFile f(p);
    g_predictor.model = read_shape_predictor(f.data(), f.size());
  } catch (const std::exception&) {  // unreadable, or not the layout read_shape_predictor knows: dlib's reader decides
    try {
      dlib::deserialize(p) >> g_predictor.model;
    } catch (const std::exception& e) {
      FF_THROW("face landmarks: cannot load '", p, "': ", e.what());
    }
  }
  g_predictor.loaded = true;
}
std::mutex g_dlib_mu;  // one detection at a time (dlib's detector object is not thread-safe)

dlib::array2d<dlib::rgb_pixel> to_dlib(const data::Image8& im) {
  dlib::array2d<dlib::rgb_pixel> a(im.height, im.width);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) {
      const uint8_t* p = im.at(x, y);
      a[y][x] = dlib::rgb_pixel(p[0], p[1], p[2]);
    }
  return a;
}

// The detector's boxes with a confidence of at least kMinFaceScore (below dlib's own threshold of 0: judge_face
// rejects what is not a face), on the image or (up = true) on its 2x pyramid_up, in the image's coordinates.
std::vector<std::pair<dlib::rectangle, double>> detect_rects(const dlib::array2d<dlib::rgb_pixel>& img, bool up) {
  dlib::frontal_face_detector& detector = face_detector();
  std::vector<dlib::rect_detection> d;
  std::vector<std::pair<dlib::rectangle, double>> r;
  if (!up) {
    detector(img, d, kMinFaceScore);
    for (auto& q : d) r.push_back({q.rect, q.detection_confidence});
  } else {
    dlib::pyramid_down<2> pyr;
    dlib::array2d<dlib::rgb_pixel> big;
    dlib::pyramid_up(img, big, pyr);
    detector(big, d, kMinFaceScore);
    for (auto& q : d) r.push_back({pyr.rect_down(q.rect), q.detection_confidence});
  }
  return r;
}
}  // namespace

std::vector<FaceCandidate> detect_face_candidates(const Photo& photo) {
  std::lock_guard<std::mutex> lock(g_dlib_mu);
  const dlib::array2d<dlib::rgb_pixel> img = to_dlib(photo.rgb);
  // The detector runs on a second thread while this one loads the shape predictor. Not the other way round: the
  // predictor is ~120k small allocations, and glibc grows a second thread's arena a page at a time (35k mprotect
  // calls, ~0.3 s of system time, measured with strace), where the calling thread's heap grows in 128 KB steps.
  std::future<std::vector<std::pair<dlib::rectangle, double>>> first =
      std::async(std::launch::async, [&img] { return detect_rects(img, false); });
  load_predictor();  // if it throws, `first`'s destructor waits for the detector
  std::vector<FaceCandidate> out;
  for (bool up : {false, true}) {
    bool any_face = false;
    for (const FaceCandidate& c : out) any_face = any_face || c.rejected.empty();
    if (up && (any_face || std::max(photo.width(), photo.height()) >= 1200)) break;
    for (const auto& [rect, score] : up ? detect_rects(img, true) : first.get()) {
      dlib::full_object_detection s = g_predictor.model(img, rect);
      FF_CHECK(s.num_parts() == 68, "face landmarks: the shape predictor gave ", s.num_parts(), " points, expected 68");
      FaceCandidate c;
      c.box = {double(rect.left()), double(rect.top()), double(rect.right()), double(rect.bottom())};
      c.score = score;
      for (int i = 0; i < 68; ++i) {
        c.xy[i * 2] = double(s.part(i).x());
        c.xy[i * 2 + 1] = double(s.part(i).y());
      }
      c.rejected = judge_face(photo.rgb, c);
      out.push_back(c);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const FaceCandidate& a, const FaceCandidate& b) {
    return (a.box[2] - a.box[0]) * (a.box[3] - a.box[1]) > (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]);
  });
  return out;
}

Landmarks68 detect_landmarks(const Photo& photo, int face) {
  std::vector<FaceCandidate> all = detect_face_candidates(photo);
  Landmarks68 l;
  std::vector<const FaceCandidate*> faces;
  for (const FaceCandidate& c : all) {
    if (c.rejected.empty())
      faces.push_back(&c);
    else
      l.rejected.push_back(c);
  }
  std::string why;
  for (const FaceCandidate& c : l.rejected) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "; rejected the detection at box %.0f %.0f %.0f %.0f (score %.2f): ", c.box[0],
                  c.box[1], c.box[2], c.box[3], c.score);
    why += buf + c.rejected;
  }
  FF_CHECK(!faces.empty(), "no face found in '", photo.path, "' (dlib HOG detector, also at 2x", why,
           "); pass --landmarks FILE");
  FF_CHECK(face >= 0 && face < int(faces.size()), "--face ", face, " out of range: ", faces.size(),
           " face(s) found in '", photo.path, "'", why);
  const FaceCandidate& c = *faces[size_t(face)];
  l.xy = c.xy;
  l.box = c.box;
  l.score = c.score;
  l.faces_found = int(faces.size());
  l.source = "dlib";
  l.mesh_xy = c.mesh_xy;
  return l;
}

std::string face_detector_bytes(bool* from_cache) {
  std::ostringstream out;
  dlib::serialize(build_face_detector(from_cache), out);
  return out.str();
}

bool shape_predictor_reader_matches_dlib(const std::string& path) {
  dlib::shape_predictor mine, theirs;
  try {
    const MappedFile f(path);
    mine = read_shape_predictor(f.data(), f.size());
    dlib::deserialize(path) >> theirs;
  } catch (const std::exception& e) {
    FF_THROW("shape predictor '", path, "': ", e.what());
  }
  std::ostringstream a, b;
  dlib::serialize(mine, a);
  dlib::serialize(theirs, b);
  return a.str() == b.str();
}
#else
bool have_dlib() { return false; }
std::string face_detector_bytes(bool*) { FF_THROW("face detection: this build has no dlib"); }
bool shape_predictor_reader_matches_dlib(const std::string&) { FF_THROW("face detection: this build has no dlib"); }
std::vector<FaceCandidate> detect_face_candidates(const Photo&) {
  FF_THROW("face detection: this build has no dlib (apt-get install libdlib-dev libdlib-data and include "
           "cmake/dlib.cmake); pass --landmarks FILE");
}
Landmarks68 detect_landmarks(const Photo& p, int) {
  detect_face_candidates(p);
  return {};
}
#endif

}  // namespace ff::fit
