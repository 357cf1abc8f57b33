// tests/train/train_test_util.h — tiny configurations shared by the train tests (fast on 2 CPU cores).
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "runtime/formats.h"
#include "train/fit/detect.h"
#include "train/trainer.h"

namespace ff::testing {

// At the top of a test that detects faces: true when dlib and its shape predictor are there, else prints why the
// test skips and returns false.
inline bool dlib_or_skip() {
  if (fit::have_dlib() && !fit::find_shape_predictor().empty()) return true;
  std::printf("[skip] dlib or its shape predictor is not available\n");
  return false;
}

inline train::ModelConfig tiny_model(const std::string& placement = "uv") {
  train::ModelConfig m;
  m.code_dim = 6;
  m.z_dim = 8;
  m.feat_dim = 8;
  m.tex_res = 8;
  m.K = 2;
  m.hidden = 8;
  m.channel_base = 64;
  m.channel_max = 8;
  m.channel_min = 4;
  m.placement = placement;
  return m;
}

inline train::TrainConfig tiny_train(const std::string& out_dir) {
  train::TrainConfig c;
  c.model = tiny_model();
  c.steps = 6;
  c.out_dir = out_dir;
  c.progress = false;
  c.threads = 2;
  c.minibatch_subjects = 2;
  c.minibatch_iters = 2;
  c.eval_fit_steps = 5;
  c.ckpt_every = 0;
  return c;
}

inline std::shared_ptr<train::InMemoryDataset> tiny_scene(int subjects = 3, int views = 4, int first = 0) {
  train::ToyOptions t;
  t.subjects = subjects;
  t.views = views;
  t.width = 24;
  t.height = 32;
  t.rows = 5;
  t.cols = 5;
  t.first_subject = first;
  return std::make_shared<train::InMemoryDataset>(train::make_toy_dataset(t));
}

inline std::string temp_dir(const std::string& name) {
  std::string d = "/tmp/ff_train_test_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// The stored (pre-activation) values of a .ply that ffrt::write_ply wrote (runtime/formats.h): binary little-endian,
// one `vertex` element of float properties only (anything else throws). For checks of the raw 3DGS fields;
// ffrt::read_ply is the reader.
struct PlyRecords {
  std::vector<std::string> names;  // property names in header order
  std::vector<float> values;       // [rows, names.size()]
  size_t rows = 0;
  int column(const std::string& name) const {  // −1 if absent
    auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : int(it - names.begin());
  }
  float at(size_t row, const std::string& name) const {
    const int c = column(name);
    FF_CHECK(c >= 0 && row < rows, "PlyRecords: no '", name, "' in row ", row);
    return values[row * names.size() + size_t(c)];
  }
};

inline PlyRecords ply_records(const std::string& path) {
  const std::string b = ffrt::read_file(path);
  const size_t he = b.find("end_header\n");
  FF_CHECK(b.rfind("ply\nformat binary_little_endian 1.0\n", 0) == 0 && he != std::string::npos, "'", path,
           "' is not a binary little-endian .ply");
  PlyRecords t;
  std::istringstream hs(b.substr(0, he));
  std::string line;
  while (std::getline(hs, line)) {
    std::istringstream ls(line);
    std::string w, a, name;
    ls >> w >> a >> name;
    if (w == "element") {
      FF_CHECK(a == "vertex" && t.names.empty(), "'", path, "': unexpected element '", a, "'");
      t.rows = std::stoul(name);
    } else if (w == "property") {
      FF_CHECK(a == "float", "'", path, "': property '", name, "' is ", a, ", not float");
      t.names.push_back(name);
    }
  }
  const size_t body = he + std::strlen("end_header\n");
  FF_CHECK(b.size() == body + t.rows * t.names.size() * 4, "'", path, "': ", b.size() - body, " body bytes for ",
           t.rows, " records of ", t.names.size(), " floats");
  t.values.resize(t.rows * t.names.size());
  std::memcpy(t.values.data(), b.data() + body, t.values.size() * 4);
  return t;
}

}  // namespace ff::testing
