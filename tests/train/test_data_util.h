// tests/train/test_data_util.h — helpers for the data-layer tests: temp dirs, the small fixture head model, the
// NeRSemble-layout fixture subject (write_fixture_subject) and message / problem checks.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "flame/flame.h"
#include "flame/npy.h"
#include "train/data/nersemble_reader.h"
#include "train/data/image.h"
#include "train/data/nersemble.h"
#include "tests/testing.h"

namespace ff::data_test {

// A fresh directory under /tmp, removed by the destructor.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag) {
    path = "/tmp/ff_data_test_" + std::to_string(long(::getpid())) + "_" + tag;
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// tests/fixtures' small FLAME-structured model (32 vertices, 10 shape + 5 expression columns) with masks and UVs.
inline ff::flame::FlameModel fixture_model() {
  ff::flame::FlameLoadOptions o;
  o.expr_offset = 10;
  ff::flame::FlameModel m = ff::flame::load_flame_model(ff::testing::fixture_path("flame_model.npz"), o);
  ff::flame::load_flame_masks(m, ff::testing::fixture_path("flame_masks.pkl"));
  ff::flame::load_uv_obj(m, ff::testing::fixture_path("flame_head_template.obj"));
  return m;
}

// max |a − b| (infinity when the sizes differ)
inline double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// ---- the broken-layout fixture of tests/train/test_data_reader.cpp and test_data_robust.cpp ----
using namespace ff::data;

inline bool throws_with(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
  } catch (const ff::Error& e) {
    if (std::string(e.what()).find(needle) != std::string::npos) return true;
    std::printf("message lacks '%s': %s\n", needle.c_str(), e.what());
    return false;
  }
  std::printf("did not throw (expected '%s')\n", needle.c_str());
  return false;
}

inline Mat4 look_at(double az_deg) {
  double a = az_deg * M_PI / 180;
  double ex = std::sin(a), ez = std::cos(a);  // eye at distance 1, looking at the origin, y up
  double f[3] = {-ex, 0, -ez}, r[3] = {-f[2], 0, f[0]}, d[3] = {0, -1, 0};  // right = f × (0,1,0)
  Mat4 m = mat4_identity();
  const double* rows[3] = {r, d, f};
  double eye[3] = {ex, 0, ez};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) m[size_t(i * 4 + j)] = rows[i][j];
    m[size_t(i * 4 + 3)] = -(rows[i][0] * eye[0] + rows[i][1] * eye[1] + rows[i][2] * eye[2]);
  }
  return m;
}

inline FlameTracking small_tracking() {
  FlameTracking t;
  t.T = 1;
  t.shape.assign(10, 0.0);
  t.shape[0] = 0.5;
  t.E = 5;
  t.expression.assign(5, 0.0);
  t.rotation = {0.05, -0.1, 0.02};
  t.translation = {0.01, -0.02, 0.03};
  t.jaw = {0.1, 0, 0};
  t.neck = {0, 0.05, 0};
  t.eyes.assign(6, 0.0);
  t.scale = 1.25;
  t.frames = {0};
  return t;
}

// One subject of the broken-layout fixture: 3 cameras, 110x160 images (2200x3208 / 20).
struct FixtureSubject {
  std::string name;
  bool drop_camera_from_json = false;  // → missing camera
  bool wrong_size = false;             // one image 100x160
  bool corrupt_npz = false;            // garbage tracking file
  bool drop_image = false;             // → camera without an image
  bool unreadable_image = false;       // garbage .png
  bool extra_camera = false;           // a 4th calibrated camera (with image) no other subject has
};

inline void write_fixture_subject(const std::string& root, const FixtureSubject& fs_) {
  std::vector<std::string> serials = {"222200037", "220700191", "222200036"};
  if (fs_.extra_camera) serials.push_back("222200049");
  SubjectPaths sp = subject_paths(root, fs_.name);
  std::filesystem::create_directories(std::filesystem::path(sp.camera_json).parent_path());
  std::filesystem::create_directories(std::filesystem::path(sp.tracking).parent_path());
  std::filesystem::create_directories(sp.image_dir);
  CameraParams cp;
  for (size_t i = 0; i < serials.size(); ++i) {
    if (fs_.drop_camera_from_json && i == 2) continue;
    cp.world_2_cam[serials[i]] = look_at(-30.0 + 30.0 * double(i));
    cp.intrinsics[serials[i]] = {7400, 7400, 1099.5, 1603.5};
  }
  write_camera_params(sp.camera_json, cp);
  if (fs_.corrupt_npz) {
    std::vector<uint8_t> junk = {'P', 'K', 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    npy::write_file_atomic(sp.tracking, junk.data(), junk.size());
  } else {
    write_tracking(sp.tracking, small_tracking());
  }
  for (size_t i = 0; i < serials.size(); ++i) {
    if (fs_.drop_image && i == 1) continue;
    std::string f = sp.image(serials[i], ".png");
    if (fs_.unreadable_image && i == 0) {
      std::string junk = "not a png at all";
      npy::write_file_atomic(f, junk.data(), junk.size());
      continue;
    }
    int w = fs_.wrong_size && i == 1 ? 100 : 110;
    Image8 im(w, 160, 3, uint8_t(40 + 50 * i));
    write_png(f, im);
  }
}

inline bool has_problem(const ValidationReport& r, const std::string& subject, const std::string& what, Severity sev = Severity::Error) {
  for (auto& p : r.problems)
    if (p.subject == subject && p.severity == sev && p.what.find(what) != std::string::npos) return true;
  std::printf("no %s '%s' for %s in:\n%s", sev == Severity::Error ? "error" : "warning", what.c_str(), subject.c_str(),
              r.text().c_str());
  return false;
}

}  // namespace ff::data_test
