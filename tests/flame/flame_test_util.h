// tests/flame/flame_test_util.h — helpers shared by the flame test files.
#pragma once
#include <unistd.h>

#include <cmath>
#include <map>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/check.h"
#include "flame/npy.h"
#include "tests/testing.h"

namespace ff::flame_test {

// Runs f; true when it throws ff::Error whose message contains every needle. Prints the message (or why not).
inline bool throws_with(const std::function<void()>& f, std::vector<std::string> needles) {
  try {
    f();
  } catch (const ff::Error& e) {
    std::string m = e.what();
    for (auto& n : needles)
      if (m.find(n) == std::string::npos) {
        std::printf("message lacks '%s': %s\n", n.c_str(), m.c_str());
        return false;
      }
    return true;
  } catch (const std::exception& e) {
    std::printf("threw a non-ff::Error: %s\n", e.what());
    return false;
  }
  std::printf("did not throw (expected: %s)\n", needles.empty() ? "" : needles[0].c_str());
  return false;
}

inline double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

inline std::string tmp_path(const std::string& name) {
  return std::string("/tmp/ff_flame_test_") + std::to_string(long(::getpid())) + "_" + name;
}

inline const std::map<std::string, ff::npy::NdArray>& reference() {
  static const auto r = ff::npy::read_npz_file(ff::testing::fixture_path("flame_reference.npz"));
  return r;
}

constexpr int kFixtureShapeColumns = 10;  // tests/reference/flame_make_fixtures.py S_SHAPE

}  // namespace ff::flame_test
