// tests/train/test_data_util.h — helpers for the data-layer tests: temp dirs, the small fixture head model.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "flame/flame.h"
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

}  // namespace ff::data_test
