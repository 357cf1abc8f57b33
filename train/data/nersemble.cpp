// train/data/nersemble.cpp — NeRSemble layout, camera_params.json, tracking npz, transforms.
#include "train/data/nersemble.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <new>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/check.h"
#include "flame/npy.h"

namespace ff::data {

const std::vector<std::string>& nersemble_serials() {
  static const std::vector<std::string> s = {"222200042", "222200044", "222200046", "222200040", "222200036", "222200048",
                                             "220700191", "222200041", "222200037", "222200038", "222200047", "222200043",
                                             "222200049", "222200039", "222200045", "221501007"};
  return s;
}

const std::vector<std::string>& nersemble_sequences() {
  static const std::vector<std::string> s = {"EXP-1-head", "EXP-2-eyes",     "EXP-3-cheeks+nose", "EXP-4-lips", "EXP-5-mouth",
                                             "EXP-6-tongue-1", "EXP-7-tongue-2", "EXP-8-jaw-1", "EXP-9-jaw-2", "FREE"};
  return s;
}

std::string frame_name(const std::string& sequence, int64_t frame) {
  char fr[32];
  std::snprintf(fr, sizeof fr, "%05lld", static_cast<long long>(frame));
  return sequence + "/" + fr;
}

// ---- paths --------------------------------------------------------------------------------------
SubjectPaths subject_paths(const std::string& root, const std::string& subject, const std::string& sequence, int frame,
                           const std::string& image_folder) {
  SubjectPaths p;
  p.dir = root + "/" + subject;
  p.camera_json = p.dir + "/calibration/camera_params.json";
  p.seq_dir = p.dir + "/sequences/" + sequence;
  char fr[32];
  std::snprintf(fr, sizeof fr, "frame_%05d", frame);
  p.frame_dir = p.seq_dir + "/timesteps/" + fr;
  p.tracking = p.seq_dir + "/annotations/tracking/FLAME2023_v2/tracked_flame_params.npz";
  p.image_dir = p.frame_dir + "/" + image_folder;
  p.alpha_dir = p.frame_dir + "/alpha_map";
  p.mask_dir = p.frame_dir + "/flamemask_proj";
  p.masked_dir = p.frame_dir + "/filled_masked_images";
  p.mesh = p.frame_dir + "/00000.ply";
  p.cano2world = p.frame_dir + "/flame_cano2world.txt";
  return p;
}
std::vector<std::string> SubjectPaths::tracking_candidates() const {
  return {tracking, seq_dir + "/tracking/flame2023_tracking_v2.npz", seq_dir + "/tracking/flame2023_tracking.npz"};
}
std::string SubjectPaths::facemask(int level) const {
  if (level <= 0) return frame_dir + "/00000_facemask.ply";
  if (level == 1) return frame_dir + "/00000_facemask_subd.ply";
  return frame_dir + "/00000_facemask_subd" + std::to_string(level) + ".ply";
}
std::string SubjectPaths::image(const std::string& serial, const std::string& ext) const {
  return image_dir + "/cam_" + serial + ext;
}
std::string SubjectPaths::alpha(const std::string& serial) const { return alpha_dir + "/cam_" + serial + ".png"; }
std::string SubjectPaths::mask(const std::string& serial) const { return mask_dir + "/cam_" + serial + ".png"; }
std::string SubjectPaths::masked(const std::string& serial) const { return masked_dir + "/cam_" + serial + ".png"; }

// ---- camera_params.json -------------------------------------------------------------------------
std::vector<std::string> CameraParams::serials() const {
  std::vector<std::string> s;
  for (auto& kv : world_2_cam) s.push_back(kv.first);
  return s;  // std::map: sorted
}

namespace {

using nlohmann::json;

double num(const json& v, const std::string& name, const std::string& what) {
  FF_CHECK(v.is_number(), name, ": ", what, " must be a number, got ", v.type_name());
  double x = v.get<double>();
  FF_CHECK(std::isfinite(x), name, ": ", what, " is not finite");
  return x;
}

// rows × cols nested list of numbers
std::vector<double> matrix(const json& v, int rows, int cols, const std::string& name, const std::string& what) {
  FF_CHECK(v.is_array() && int(v.size()) == rows, name, ": ", what, " must be a list of ", rows, " rows");
  std::vector<double> m;
  for (int r = 0; r < rows; ++r) {
    const json& row = v[size_t(r)];
    FF_CHECK(row.is_array() && int(row.size()) == cols, name, ": ", what, " row ", r, " must have ", cols, " numbers");
    for (int c = 0; c < cols; ++c) m.push_back(num(row[size_t(c)], name, what));
  }
  return m;
}

Intrinsics intrinsics_of(const json& v, const std::string& name, const std::string& what) {
  std::vector<double> k = matrix(v, 3, 3, name, what);
  FF_CHECK(k[0] > 0 && k[4] > 0, name, ": ", what, " has fx/fy ≤ 0 (", k[0], ", ", k[4], ")");
  FF_CHECK(k[3] == 0 && k[6] == 0 && k[7] == 0, name, ": ", what, " is not an upper-triangular camera matrix");
  // the seed multiplies the whole K (K[2][2] becomes 0.5); any positive K[2][2] normalises the matrix
  FF_CHECK(k[8] > 0, name, ": ", what, " has K[2][2] ≤ 0");
  Intrinsics in;
  in.fx = k[0] / k[8];
  in.fy = k[4] / k[8];
  in.cx = k[2] / k[8];
  in.cy = k[5] / k[8];
  FF_CHECK(std::fabs(k[1]) <= 1e-6 * in.fx, name, ": ", what, " has a skew term (", k[1], "); not supported");
  return in;
}

}  // namespace

CameraParams parse_camera_params(const std::string& text, const std::string& name) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    FF_THROW(name, ": not valid JSON (", e.what(), ")");
  }
  try {
    FF_CHECK(j.is_object(), name, ": top level must be an object");
    FF_CHECK(j.contains("world_2_cam"), name, ": missing key 'world_2_cam'");
    FF_CHECK(j.contains("intrinsics"), name, ": missing key 'intrinsics'");
    const json& w = j["world_2_cam"];
    FF_CHECK(w.is_object() && !w.empty(), name, ": 'world_2_cam' must be a non-empty object {serial: 4x4}");
    CameraParams p;
    for (auto it = w.begin(); it != w.end(); ++it) {
      const std::string& serial = it.key();
      FF_CHECK(!serial.empty() && serial.size() <= 64 &&
                   std::all_of(serial.begin(), serial.end(), [](char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '-'; }),
               name, ": camera name '", serial.substr(0, 64), "' is not a plain serial");
      std::string what = "world_2_cam[" + serial + "]";
      std::vector<double> m = matrix(it.value(), 4, 4, name, what);
      FF_CHECK(std::fabs(m[12]) < 1e-6 && std::fabs(m[13]) < 1e-6 && std::fabs(m[14]) < 1e-6 && std::fabs(m[15] - 1) < 1e-6,
               name, ": ", what, " last row must be [0, 0, 0, 1]");
      // rotation: RᵀR = I within 1e-3 and det > 0
      double err = 0;
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          double d = 0;
          for (int k = 0; k < 3; ++k) d += m[size_t(k * 4 + a)] * m[size_t(k * 4 + b)];
          err = std::max(err, std::fabs(d - (a == b ? 1.0 : 0.0)));
        }
      double det = m[0] * (m[5] * m[10] - m[6] * m[9]) - m[1] * (m[4] * m[10] - m[6] * m[8]) + m[2] * (m[4] * m[9] - m[5] * m[8]);
      FF_CHECK(err < 1e-3 && det > 0, name, ": ", what, " rotation part is not a rotation (|RᵀR − I| = ", err, ", det = ", det,
               ")");
      Mat4 M;
      std::copy(m.begin(), m.end(), M.begin());
      p.world_2_cam[serial] = M;
    }
    const json& in = j["intrinsics"];
    if (in.is_array()) {
      p.shared_intrinsics = true;
      Intrinsics k = intrinsics_of(in, name, "intrinsics");
      for (auto& kv : p.world_2_cam) p.intrinsics[kv.first] = k;
    } else if (in.is_object()) {
      p.shared_intrinsics = false;
      for (auto it = in.begin(); it != in.end(); ++it)
        if (p.world_2_cam.count(it.key()))
          p.intrinsics[it.key()] = intrinsics_of(it.value(), name, "intrinsics[" + it.key() + "]");
      for (auto& kv : p.world_2_cam)
        FF_CHECK(p.intrinsics.count(kv.first), name, ": camera ", kv.first, " has world_2_cam but no intrinsics");
    } else {
      FF_THROW(name, ": 'intrinsics' must be a 3x3 list or an object {serial: 3x3}");
    }
    return p;
  } catch (const nlohmann::json::exception& e) {
    FF_THROW(name, ": unexpected JSON structure (", e.what(), ")");
  }
}

CameraParams read_camera_params(const std::string& path) {
  std::vector<uint8_t> b = npy::read_file_bytes(path);
  return parse_camera_params(std::string(b.begin(), b.end()), path);
}

std::string camera_params_json(const CameraParams& p) {
  auto k3 = [](const Intrinsics& k) {
    return json::array({json::array({k.fx, 0.0, k.cx}), json::array({0.0, k.fy, k.cy}), json::array({0.0, 0.0, 1.0})});
  };
  json j;
  if (p.shared_intrinsics) {
    FF_CHECK(!p.intrinsics.empty(), "camera_params_json: no intrinsics");
    j["intrinsics"] = k3(p.intrinsics.begin()->second);
  } else {
    json o = json::object();
    for (auto& kv : p.intrinsics) o[kv.first] = k3(kv.second);
    j["intrinsics"] = o;
  }
  json w = json::object();
  for (auto& kv : p.world_2_cam) {
    json m = json::array();
    for (int r = 0; r < 4; ++r) {
      json row = json::array();
      for (int c = 0; c < 4; ++c) row.push_back(kv.second[size_t(r * 4 + c)]);
      m.push_back(row);
    }
    w[kv.first] = m;
  }
  j["world_2_cam"] = w;
  return j.dump(1);  // doubles print round-trip exactly
}

void write_camera_params(const std::string& path, const CameraParams& p) {
  std::string s = camera_params_json(p);
  npy::write_file_atomic(path, s.data(), s.size());
}

Intrinsics to_splat_intrinsics(const Intrinsics& k, int w, int h, PrincipalPoint pp, int cw, int ch) {
  FF_CHECK(w > 0 && h > 0 && cw > 0 && ch > 0, "to_splat_intrinsics: bad sizes");
  double sx = double(w) / cw, sy = double(h) / ch;
  double off = pp == PrincipalPoint::Exact ? 0.5 : 0.0;
  return {k.fx * sx, k.fy * sy, (k.cx + off) * sx, (k.cy + off) * sy};
}

Intrinsics nersemble_intrinsics(const Intrinsics& k, int w, int h, PrincipalPoint pp, int cw, int ch) {
  FF_CHECK(w > 0 && h > 0 && cw > 0 && ch > 0, "nersemble_intrinsics: bad sizes");
  double sx = double(w) / cw, sy = double(h) / ch;
  double off = pp == PrincipalPoint::Exact ? 0.5 : 0.0;
  return {k.fx / sx, k.fy / sy, k.cx / sx - off, k.cy / sy - off};
}

// ---- tracking -----------------------------------------------------------------------------------
int FlameTracking::index_of_frame(int64_t frame) const {
  for (size_t i = 0; i < frames.size(); ++i)
    if (frames[i] == frame) return int(i);
  FF_THROW("FLAME tracking: frame ", frame, " is not among the ", frames.size(), " tracked frames");
}

void FlameTracking::validate(const std::string& name) const {
  FF_CHECK(T >= 1, name, ": no timesteps");
  auto chk = [&](const std::vector<double>& v, size_t n, const char* key) {
    FF_CHECK(v.size() == n, name, ": '", key, "' has ", v.size(), " values, expected ", n);
    for (double x : v) FF_CHECK(std::isfinite(x), name, ": '", key, "' has a non-finite value");
  };
  FF_CHECK(!shape.empty(), name, ": empty 'shape'");
  chk(shape, shape.size(), "shape");
  chk(expression, size_t(T) * size_t(E), "expression");
  chk(rotation, size_t(T) * 3, "rotation");
  if (!rotation_matrices.empty()) chk(rotation_matrices, size_t(T) * 9, "rotation_matrices");
  chk(translation, size_t(T) * 3, "translation");
  chk(jaw, size_t(T) * 3, "jaw");
  chk(neck, size_t(T) * 3, "neck");
  chk(eyes, size_t(T) * 6, "eyes");
  FF_CHECK(std::isfinite(scale) && scale > 0, name, ": 'scale' must be positive and finite, got ", scale);
  FF_CHECK(frames.size() == size_t(T), name, ": 'frames' has ", frames.size(), " entries, expected ", T);
}

namespace {
const npy::NdArray& key(const std::map<std::string, npy::NdArray>& z, const std::string& k, const std::string& name) {
  auto it = z.find(k);
  FF_CHECK(it != z.end(), name, ": missing key '", k, "'");
  FF_CHECK(it->second.is_numeric(), name, ": key '", k, "' is not a numeric array (", it->second.dtype_str(), ")");
  return it->second;
}
// [T, cols] from shapes (T, cols) or, for T = 1, (cols,)
std::vector<double> per_frame(const std::map<std::string, npy::NdArray>& z, const std::string& k, int cols, int& T,
                              const std::string& name) {
  const npy::NdArray& a = key(z, k, name);
  int64_t rows = -1;
  if (a.shape.size() == 2 && a.shape[1] == cols) rows = a.shape[0];
  else if (a.shape.size() == 1 && a.shape[0] == cols) rows = 1;
  else if (cols == 9 && a.shape.size() == 3 && a.shape[1] == 3 && a.shape[2] == 3) rows = a.shape[0];
  FF_CHECK(rows >= 1, name, ": key '", k, "' has shape ", a.shape_str(), ", expected (T, ", cols, ")");
  FF_CHECK(rows < (1 << 24), name, ": key '", k, "' has too many rows");
  if (T < 0) T = int(rows);
  FF_CHECK(rows == T, name, ": key '", k, "' has ", rows, " timesteps, other keys ", T);
  return a.to<double>();
}
}  // namespace

FlameTracking parse_tracking_npz(const uint8_t* bytes, size_t size, const std::string& name) {
  auto z = npy::parse_npz(bytes, size, name);
  FlameTracking t;
  int T = -1;
  t.rotation = per_frame(z, "rotation", 3, T, name);
  t.translation = per_frame(z, "translation", 3, T, name);
  t.jaw = per_frame(z, "jaw", 3, T, name);
  t.neck = per_frame(z, "neck", 3, T, name);
  t.eyes = per_frame(z, "eyes", 6, T, name);
  t.T = T;
  if (z.count("rotation_matrices")) t.rotation_matrices = per_frame(z, "rotation_matrices", 9, T, name);
  {
    const npy::NdArray& e = key(z, "expression", name);
    FF_CHECK(e.shape.size() == 2 && e.shape[0] == T, name, ": key 'expression' has shape ", e.shape_str(), ", expected (",
             T, ", E)");
    FF_CHECK(e.shape[1] <= 4096, name, ": 'expression' has too many components");
    t.E = int(e.shape[1]);
    t.expression = e.to<double>();
  }
  {
    const npy::NdArray& s = key(z, "shape", name);
    FF_CHECK((s.shape.size() == 2 && s.shape[0] == 1) || s.shape.size() == 1, name, ": key 'shape' has shape ",
             s.shape_str(), ", expected (1, S)");
    FF_CHECK(s.numel() >= 1 && s.numel() <= 4096, name, ": key 'shape' has ", s.numel(), " components");
    t.shape = s.to<double>();
  }
  {
    const npy::NdArray& s = key(z, "scale", name);
    FF_CHECK(s.numel() == 1 || (s.shape.size() == 2 && s.shape[1] == 1 && s.shape[0] >= 1), name,
             ": key 'scale' has shape ", s.shape_str(), ", expected (1, 1)");
    t.scale = s.at<double>(0);
  }
  {
    const npy::NdArray& f = key(z, "frames", name);
    FF_CHECK(f.numel() == T, name, ": key 'frames' has ", f.numel(), " entries, expected ", T);
    for (int64_t i = 0; i < f.numel(); ++i) {
      double v = f.at<double>(i);
      FF_CHECK(std::isfinite(v) && std::fabs(v) < 1e15, name, ": bad frame number");
      t.frames.push_back(int64_t(v));
    }
  }
  t.validate(name);
  return t;
}

FlameTracking read_tracking(const std::string& path) {
  std::vector<uint8_t> b = npy::read_file_bytes(path);
  return parse_tracking_npz(b.data(), b.size(), path);
}

void write_tracking(const std::string& path, const FlameTracking& t) {
  t.validate(path);
  auto f32 = [](std::vector<int64_t> shape, const std::vector<double>& v) {
    std::vector<float> f(v.begin(), v.end());
    return npy::NdArray::from<float>(std::move(shape), f.data());
  };
  int64_t T = t.T;
  std::map<std::string, npy::NdArray> z;
  z["shape"] = f32({1, int64_t(t.shape.size())}, t.shape);
  z["expression"] = f32({T, t.E}, t.expression);
  z["rotation"] = f32({T, 3}, t.rotation);
  std::vector<double> rm = t.rotation_matrices;
  if (rm.empty())
    for (int i = 0; i < t.T; ++i) {
      auto R = euler_xyz_to_matrix(&t.rotation[size_t(i) * 3]);
      rm.insert(rm.end(), R.begin(), R.end());
    }
  z["rotation_matrices"] = f32({T, 3, 3}, rm);
  z["translation"] = f32({T, 3}, t.translation);
  z["jaw"] = f32({T, 3}, t.jaw);
  z["neck"] = f32({T, 3}, t.neck);
  z["eyes"] = f32({T, 6}, t.eyes);
  z["scale"] = f32({1, 1}, {t.scale});
  std::vector<int32_t> fr(t.frames.begin(), t.frames.end());
  z["frames"] = npy::NdArray::from<int32_t>({T}, fr.data());
  npy::write_npz_file(path, z, /*deflate=*/true);
}

// ---- errors of worker threads ------------------------------------------------------------------
std::string current_exception_message(const std::string& file) {
  try {
    throw;
  } catch (const ff::Error& e) {
    return e.what();  // ff::Errors of the readers name their file already
  } catch (const std::bad_alloc&) {
    return file + ": out of memory while reading it";
  } catch (const std::exception& e) {
    return file + ": " + e.what();
  } catch (...) {
    return file + ": unknown exception";
  }
}

// ---- split.json ---------------------------------------------------------------------------------
std::pair<std::string, int64_t> parse_heldout_frame(const std::string& entry, const std::string& name) {
  const size_t slash = entry.find('/');
  const std::string seq = entry.substr(0, slash);
  FF_CHECK(!seq.empty() && seq[0] != '.' && seq.find('\\') == std::string::npos, name, ": heldout_frames entry '", entry,
           "' must be \"<sequence>\" or \"<sequence>/<frame>\" (e.g. \"EXP-2-eyes/00003\")");
  if (slash == std::string::npos) return {seq, -1};
  const std::string fr = entry.substr(slash + 1);
  bool digits = !fr.empty() && fr.size() <= 9;
  for (char ch : fr) digits = digits && ch >= '0' && ch <= '9';
  FF_CHECK(digits, name, ": heldout_frames entry '", entry, "': the timestep after '/' must be a frame number of 1 to 9 digits",
           " (e.g. \"", seq, "/00003\")");
  return {seq, std::stoll(fr)};
}

bool SplitFile::frame_heldout(const std::string& subject, const std::string& sequence, int64_t frame) const {
  auto it = heldout_frames.find(subject);
  if (it == heldout_frames.end()) return false;
  for (auto& e : it->second) {
    auto sf = parse_heldout_frame(e, "split.json");
    if (sf.first == sequence && (sf.second < 0 || sf.second == frame)) return true;
  }
  return false;
}

SplitFile parse_split(const std::string& text, const std::string& name) {
  SplitFile s;
  try {
    json j = json::parse(text);
    FF_CHECK(j.is_object(), name, ": must be an object {\"train\": [...], \"heldout\": [...]}");
    for (const char* k : {"train", "heldout"}) {
      if (!j.contains(k)) continue;
      FF_CHECK(j[k].is_array(), name, ": '", k, "' must be a list of subject names");
      for (auto& v : j[k]) {
        FF_CHECK(v.is_string(), name, ": '", k, "' entries must be strings");
        (std::string(k) == "train" ? s.train : s.heldout).push_back(v.get<std::string>());
      }
    }
    for (auto& h : s.heldout)
      FF_CHECK(std::find(s.train.begin(), s.train.end(), h) == s.train.end(), name, ": subject '", h,
               "' is listed under both 'train' and 'heldout'");
    if (j.contains("heldout_frames")) {
      const json& hf = j["heldout_frames"];
      FF_CHECK(hf.is_object(), name, ": 'heldout_frames' must be an object {\"<subject>\": [\"<sequence>[/<frame>]\", ...]}");
      for (auto it = hf.begin(); it != hf.end(); ++it) {
        FF_CHECK(!it.key().empty(), name, ": 'heldout_frames' has an empty subject name");
        FF_CHECK(it.value().is_array(), name, ": heldout_frames of subject '", it.key(),
                 "' must be a list of \"<sequence>\" or \"<sequence>/<frame>\" strings");
        std::vector<std::string>& list = s.heldout_frames[it.key()];
        std::set<std::pair<std::string, int64_t>> seen;
        for (auto& v : it.value()) {
          FF_CHECK(v.is_string(), name, ": heldout_frames of subject '", it.key(), "': entries must be strings, got ", v.dump());
          const std::string e = v.get<std::string>();
          FF_CHECK(seen.insert(parse_heldout_frame(e, name)).second, name, ": heldout_frames of subject '", it.key(),
                   "' lists '", e, "' twice");
          list.push_back(e);
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    FF_THROW(name, ": not valid JSON (", e.what(), ")");
  }
  return s;
}

SplitFile read_split(const std::string& root) {
  std::string path = root + "/split.json";
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return {};  // no split: every subject trains
  std::vector<uint8_t> b = npy::read_file_bytes(path);
  return parse_split(std::string(b.begin(), b.end()), path);
}

void write_split(const std::string& root, const SplitFile& s) {
  json j;
  j["train"] = s.train;
  j["heldout"] = s.heldout;
  j["note"] = "heldout subjects are never used in training (NersembleReader skips them unless Split::Heldout/All)";
  if (!s.heldout_frames.empty()) {
    j["heldout_frames"] = s.heldout_frames;
    j["note_frames"] = "heldout_frames (per training subject: whole sequences or <sequence>/<frame>) are held-out "
                       "expressions, never used in training (NersembleReader FrameSplit::Heldout gives them)";
  }
  std::string t = j.dump(1);
  npy::write_file_atomic(root + "/split.json", t.data(), t.size());
}

// ---- transforms ---------------------------------------------------------------------------------
std::array<double, 9> euler_xyz_to_matrix(const double r[3]) {
  double cx = std::cos(r[0]), sx = std::sin(r[0]), cy = std::cos(r[1]), sy = std::sin(r[1]), cz = std::cos(r[2]),
         sz = std::sin(r[2]);
  Eigen::Matrix3d Rx, Ry, Rz;
  Rx << 1, 0, 0, 0, cx, -sx, 0, sx, cx;
  Ry << cy, 0, sy, 0, 1, 0, -sy, 0, cy;
  Rz << cz, -sz, 0, sz, cz, 0, 0, 0, 1;
  Eigen::Matrix3d R = Rx * Ry * Rz;
  std::array<double, 9> o;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) o[size_t(a * 3 + b)] = R(a, b);
  return o;
}

std::array<double, 9> orthonormalize(const std::array<double, 9>& m) {
  Eigen::Matrix3d M;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) M(a, b) = m[size_t(a * 3 + b)];
  Eigen::JacobiSVD<Eigen::Matrix3d> svd(M, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Matrix3d R = svd.matrixU() * svd.matrixV().transpose();
  FF_CHECK(R.determinant() > 0, "orthonormalize: the matrix is a reflection, not a scaled rotation");
  std::array<double, 9> o;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) o[size_t(a * 3 + b)] = R(a, b);
  return o;
}

Mat34 tracking_cano2world_scaled(const FlameTracking& tr, int t) {
  FF_CHECK(t >= 0 && t < tr.T, "tracking_cano2world: timestep ", t, " out of range [0, ", tr.T, ")");
  std::array<double, 9> R;
  if (!tr.rotation_matrices.empty()) std::copy_n(&tr.rotation_matrices[size_t(t) * 9], 9, R.begin());
  else R = euler_xyz_to_matrix(&tr.rotation[size_t(t) * 3]);
  Mat34 m;
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) m[size_t(a * 4 + b)] = tr.scale * R[size_t(a * 3 + b)];
    m[size_t(a * 4 + 3)] = tr.translation[size_t(t) * 3 + size_t(a)];
  }
  return m;
}

Mat4 rigid_from_scaled(const Mat34& m) {
  std::array<double, 9> A;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) A[size_t(a * 3 + b)] = m[size_t(a * 4 + b)];
  auto R = orthonormalize(A);
  Mat4 o = mat4_identity();
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) o[size_t(a * 4 + b)] = R[size_t(a * 3 + b)];
    o[size_t(a * 4 + 3)] = m[size_t(a * 4 + 3)];
  }
  return o;
}

Mat34 read_cano2world_txt(const std::string& path) {
  std::vector<uint8_t> b = npy::read_file_bytes(path);
  std::istringstream s(std::string(b.begin(), b.end()));
  Mat34 m;
  for (int i = 0; i < 12; ++i) {
    FF_CHECK(s >> m[size_t(i)], path, ": expected 12 numbers (3 lines × 4), read ", i);
    FF_CHECK(std::isfinite(m[size_t(i)]), path, ": non-finite number");
  }
  std::string extra;
  FF_CHECK(!(s >> extra), path, ": trailing content after 12 numbers");
  return m;
}

void write_cano2world_txt(const std::string& path, const Mat34& m) {
  std::ostringstream s;
  s << std::setprecision(17);
  for (int a = 0; a < 3; ++a)
    s << m[size_t(a * 4)] << " " << m[size_t(a * 4 + 1)] << " " << m[size_t(a * 4 + 2)] << " " << m[size_t(a * 4 + 3)] << "\n";
  std::string t = s.str();
  npy::write_file_atomic(path, t.data(), t.size());
}

Mat4 mat4_identity() { return {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}; }

Mat4 mat4_mul(const Mat4& a, const Mat4& b) {
  Mat4 o{};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += a[size_t(i * 4 + k)] * b[size_t(k * 4 + j)];
      o[size_t(i * 4 + j)] = s;
    }
  return o;
}

Mat4 mat4_rigid_inverse(const Mat4& m) {
  Mat4 o = mat4_identity();
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) o[size_t(a * 4 + b)] = m[size_t(b * 4 + a)];
  for (int a = 0; a < 3; ++a) {
    double s = 0;
    for (int b = 0; b < 3; ++b) s += o[size_t(a * 4 + b)] * m[size_t(b * 4 + 3)];
    o[size_t(a * 4 + 3)] = -s;
  }
  return o;
}

}  // namespace ff::data
