// train/data/raster.h — a small CPU triangle rasterizer producing a visibility buffer ("G-buffer"): for every
// sample, the nearest triangle, its perspective-correct barycentrics and its camera depth. Shading is the
// caller's: synth shades textured, lit samples; preprocessing paints the face-mask flag. Supersampling (ss×ss
// samples per pixel, box-resolved) gives the anti-aliasing.
//
// Conventions = splat.h: viewmat is world→camera, row-major, OpenCV axes; a camera point projects to
// u = fx·x/z + cx (pixels from the image's left EDGE); pixel i is sampled at i + 0.5, sub-sample s of ss at
// i + (s + 0.5)/ss. Triangles with a vertex at camera z ≤ kNearZ are dropped (no clipping: the rigs here keep
// heads ~1 m in front of every camera). Coverage is inclusive on edges; shared edges are resolved by the
// depth test (first triangle wins a tie), so closed meshes leave no cracks.
//
//   ff::data::RasterView cam{viewmat, fx, fy, cx, cy, W, H};
//   ff::data::GBuffer g;  ff::data::rasterize(verts, nv, faces, nf, cam, /*ss=*/2, g);
//   // g.tri[s] ≥ 0: triangle id; g.bary[2s], g.bary[2s+1]: weights of its 2nd and 3rd vertex
#pragma once
#include <cstdint>
#include <vector>

#include "train/data/nersemble.h"

namespace ff::data {

constexpr double kNearZ = 1e-3;

struct RasterView {
  Mat4 viewmat{};                // world → camera, row-major
  double fx = 0, fy = 0, cx = 0, cy = 0;  // splat.h convention
  int width = 0, height = 0;
};

struct GBuffer {
  int width = 0, height = 0, ss = 1;  // samples: (width·ss) × (height·ss), row-major
  std::vector<int32_t> tri;           // [Hs·Ws] triangle id or −1
  std::vector<float> bary;            // [Hs·Ws, 2] perspective-correct weights of vertices 1 and 2 (b0 = 1 − b1 − b2)
  std::vector<float> depth;           // [Hs·Ws] camera z (valid where tri ≥ 0)
  int sample_width() const { return width * ss; }
  int sample_height() const { return height * ss; }
};

// verts [nv, 3] world positions, faces [nf, 3]. cull_backfaces drops triangles whose (p1−p0)×(p2−p0) normal points
// away from the camera.
void rasterize(const double* verts, int nv, const int32_t* faces, int nf, const RasterView& view, int ss, GBuffer& g,
               bool cull_backfaces = false);

// Per-vertex unit normals (area-weighted face normals), [nv, 3].
std::vector<double> vertex_normals(const double* verts, int nv, const int32_t* faces, int nf);

}  // namespace ff::data
