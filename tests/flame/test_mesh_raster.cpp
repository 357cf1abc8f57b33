// tests/flame/test_mesh_raster.cpp — the G-buffer triangle rasterizer (flame/mesh_raster.h): coverage, depth order,
// perspective-correct barycentrics at pixel centres i + ½, back-face culling.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "flame/mesh_raster.h"

using namespace ff::flame;

TEST_CASE("rasterizer: coverage, depth order, perspective-correct barycentrics") {
  // two triangles covering the square [-1,1]² at z = 2 (near) and a big one at z = 4 (far), camera at the origin
  std::vector<double> v = {-1, -1, 2, 1, -1, 2, 1, 1, 2, -1, 1, 2, -3, -3, 4, 3, -3, 4, 0, 3, 4};
  std::vector<int32_t> f = {4, 5, 6, 0, 1, 2, 0, 2, 3};
  RasterView view{{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, 10, 10, 10, 10, 20, 20};
  GBuffer g;
  rasterize(v.data(), 7, f.data(), 3, view, 1, g);
  // the near square projects to [5, 15]² : its pixels belong to triangles 1/2, at depth 2
  CHECK(g.tri[size_t(10 * 20 + 10)] >= 1);
  CHECK(g.depth[size_t(10 * 20 + 10)] == doctest::Approx(2));
  CHECK(g.tri[size_t(2 * 20 + 10)] == 0);  // only the far triangle there
  CHECK(g.depth[size_t(2 * 20 + 10)] == doctest::Approx(4));
  CHECK(g.tri[size_t(0)] == -1);
  // perspective-correct: a slanted triangle; the 3-D point from the barycentrics must lie on the pixel's ray
  std::vector<double> s = {-1, -1, 2, 2, -1, 6, 0, 2, 3};
  std::vector<int32_t> sf = {0, 1, 2};
  rasterize(s.data(), 3, sf.data(), 1, view, 2, g);
  int checked = 0;
  for (int j = 0; j < g.sample_height(); ++j)
    for (int i = 0; i < g.sample_width(); ++i) {
      size_t k = size_t(j) * size_t(g.sample_width()) + size_t(i);
      if (g.tri[k] < 0) continue;
      double b1 = g.bary[k * 2], b2 = g.bary[k * 2 + 1], b0 = 1 - b1 - b2;
      double P[3];
      for (int a = 0; a < 3; ++a) P[a] = b0 * s[size_t(a)] + b1 * s[size_t(3 + a)] + b2 * s[size_t(6 + a)];
      CHECK(P[2] == doctest::Approx(g.depth[k]).epsilon(1e-5));
      CHECK(20 * P[0] / P[2] + 20 == doctest::Approx(i + 0.5).epsilon(1e-4));
      CHECK(20 * P[1] / P[2] + 20 == doctest::Approx(j + 0.5).epsilon(1e-4));
      ++checked;
    }
  CHECK(checked > 50);
  // back-face culling: the reversed triangle disappears
  std::vector<int32_t> rev = {0, 2, 1};
  rasterize(s.data(), 3, sf.data(), 1, view, 1, g, true);
  int a = int(std::count_if(g.tri.begin(), g.tri.end(), [](int32_t t) { return t >= 0; }));
  rasterize(s.data(), 3, rev.data(), 1, view, 1, g, true);
  int b = int(std::count_if(g.tri.begin(), g.tri.end(), [](int32_t t) { return t >= 0; }));
  CHECK(a + b > 0);
  CHECK(a * b == 0);
}
