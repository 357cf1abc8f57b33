// train/data/raster.cpp — z-buffered triangle rasterization into a visibility buffer.
#include "train/data/raster.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace ff::data {

void rasterize(const double* verts, int nv, const int32_t* faces, int nf, const RasterView& v, int ss, GBuffer& g,
               bool cull) {
  FF_CHECK(v.width > 0 && v.height > 0 && ss >= 1 && ss <= 8, "rasterize: bad size ", v.width, "x", v.height, " ss ", ss);
  FF_CHECK(v.fx > 0 && v.fy > 0, "rasterize: fx/fy must be positive");
  g.width = v.width;
  g.height = v.height;
  g.ss = ss;
  const int W = v.width * ss, H = v.height * ss;
  const size_t n = size_t(W) * H;
  g.tri.assign(n, -1);
  g.bary.resize(n * 2);
  g.depth.assign(n, INFINITY);
  const double fx = v.fx * ss, fy = v.fy * ss, cx = v.cx * ss, cy = v.cy * ss;
  const Mat4& M = v.viewmat;
  // camera-space vertices and their projections
  std::vector<double> pc(size_t(nv) * 3), uv(size_t(nv) * 2);
  for (int i = 0; i < nv; ++i) {
    const double* p = verts + size_t(i) * 3;
    for (int a = 0; a < 3; ++a)
      pc[size_t(i) * 3 + a] = M[size_t(a * 4)] * p[0] + M[size_t(a * 4 + 1)] * p[1] + M[size_t(a * 4 + 2)] * p[2] + M[size_t(a * 4 + 3)];
    double z = pc[size_t(i) * 3 + 2];
    if (z > kNearZ) {
      uv[size_t(i) * 2] = fx * pc[size_t(i) * 3] / z + cx;
      uv[size_t(i) * 2 + 1] = fy * pc[size_t(i) * 3 + 1] / z + cy;
    }
  }
  for (int f = 0; f < nf; ++f) {
    const int32_t* t = faces + size_t(f) * 3;
    FF_CHECK(t[0] >= 0 && t[0] < nv && t[1] >= 0 && t[1] < nv && t[2] >= 0 && t[2] < nv, "rasterize: face ", f,
             " index out of range");
    const double *P0 = &pc[size_t(t[0]) * 3], *P1 = &pc[size_t(t[1]) * 3], *P2 = &pc[size_t(t[2]) * 3];
    if (P0[2] <= kNearZ || P1[2] <= kNearZ || P2[2] <= kNearZ) continue;
    if (cull) {
      double e1[3] = {P1[0] - P0[0], P1[1] - P0[1], P1[2] - P0[2]}, e2[3] = {P2[0] - P0[0], P2[1] - P0[1], P2[2] - P0[2]};
      double nrm[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
      if (nrm[0] * P0[0] + nrm[1] * P0[1] + nrm[2] * P0[2] >= 0) continue;
    }
    const double x0 = uv[size_t(t[0]) * 2], y0 = uv[size_t(t[0]) * 2 + 1];
    const double x1 = uv[size_t(t[1]) * 2], y1 = uv[size_t(t[1]) * 2 + 1];
    const double x2 = uv[size_t(t[2]) * 2], y2 = uv[size_t(t[2]) * 2 + 1];
    const double area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
    if (!(std::fabs(area) > 1e-12)) continue;
    // sample (i, j) at (i + 0.5, j + 0.5): covered samples satisfy i + 0.5 ∈ [min, max]
    int xa = std::max(0, int(std::ceil(std::min({x0, x1, x2}) - 0.5)));
    int xb = std::min(W - 1, int(std::floor(std::max({x0, x1, x2}) - 0.5)));
    int ya = std::max(0, int(std::ceil(std::min({y0, y1, y2}) - 0.5)));
    int yb = std::min(H - 1, int(std::floor(std::max({y0, y1, y2}) - 0.5)));
    if (xa > xb || ya > yb) continue;
    const double inv_area = 1.0 / area;
    const double iz0 = 1.0 / P0[2], iz1 = 1.0 / P1[2], iz2 = 1.0 / P2[2];
    for (int j = ya; j <= yb; ++j) {
      const double py = j + 0.5;
      for (int i = xa; i <= xb; ++i) {
        const double px = i + 0.5;
        // screen-space barycentrics (sign-normalised by the area)
        double b1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) * inv_area;
        double b2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) * inv_area;
        double b0 = 1.0 - b1 - b2;
        if (b0 < 0 || b1 < 0 || b2 < 0) continue;
        double iz = b0 * iz0 + b1 * iz1 + b2 * iz2;
        double z = 1.0 / iz;
        size_t s = size_t(j) * W + i;
        if (!(z < g.depth[s])) continue;
        g.depth[s] = float(z);
        g.tri[s] = f;
        g.bary[s * 2] = float(b1 * iz1 * z);
        g.bary[s * 2 + 1] = float(b2 * iz2 * z);
      }
    }
  }
}

std::vector<double> vertex_normals(const double* v, int nv, const int32_t* faces, int nf) {
  std::vector<double> n(size_t(nv) * 3, 0.0);
  for (int f = 0; f < nf; ++f) {
    const int32_t* t = faces + size_t(f) * 3;
    const double *a = v + size_t(t[0]) * 3, *b = v + size_t(t[1]) * 3, *c = v + size_t(t[2]) * 3;
    double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    double fn[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
    for (int k = 0; k < 3; ++k)
      for (int a2 = 0; a2 < 3; ++a2) n[size_t(t[k]) * 3 + a2] += fn[a2];
  }
  for (int i = 0; i < nv; ++i) {
    double* p = &n[size_t(i) * 3];
    double l = std::sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
    if (l > 0) {
      p[0] /= l;
      p[1] /= l;
      p[2] /= l;
    } else {
      p[2] = 1;
    }
  }
  return n;
}

}  // namespace ff::data
