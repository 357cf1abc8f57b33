// flame/mesh_raster.h — the engine's one CPU triangle rasterizer and PNG output: a visibility buffer ("G-buffer":
// per sample the nearest triangle, its perspective-correct barycentrics and its camera depth; ss×ss supersampling)
// for synthetic images and face masks (train/data/synth.h, train/data/preprocess.h), and a Lambert-shaded render
// on top of it (rasterize_mesh) for contact sheets of head models and fit overlays.
//
// Conventions = core/geometry.h and splat/splat.h: OpenCV camera axes (x right, y down, z forward), x_c = R·x + t
// (RasterView::viewmat world→camera row-major, or PinholeCamera R, t), u = fx·x_c/z_c + cx measured from the image's
// left EDGE: pixel (i, j) covers [i, i+1] × [j, j+1] and is sampled at its centre (i + ½, j + ½); sub-sample s of ss
// at i + (s + ½)/ss. Triangles with any vertex at z_c ≤ near are skipped (no clipping). Coverage is inclusive on
// edges; shared edges are resolved by the depth test (first triangle wins a tie), so closed meshes leave no
// cracks. rasterize_mesh draws both sides and flips the shading normal to face the camera. Deterministic,
// single-threaded.
//
//   ff::flame::RasterView view{viewmat, fx, fy, cx, cy, W, H};
//   ff::flame::GBuffer g;  ff::flame::rasterize(verts, nv, faces, nf, view, /*ss=*/2, g);
//   // g.tri[s] ≥ 0: triangle id; g.bary[2s], g.bary[2s+1]: weights of its 2nd and 3rd vertex
//   ff::flame::RasterOptions o; o.width = o.height = 512;
//   auto cam = ff::flame::look_at_camera({0, 0, 0.6}, {0, 0, 0}, {0, 1, 0}, 1400, 1400, 256, 256);
//   ff::flame::RasterImage img = ff::flame::rasterize_mesh(verts.data(), V, faces.data(), F, cam, o);
//   ff::flame::write_png("face.png", img.width, img.height, 3, img.rgb.data());
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "flame/landmarks.h"

namespace ff::flame {

constexpr double kNearZ = 1e-3;  // RasterView's default near plane (the rigs keep heads ~1 m from every camera)

struct RasterView {
  std::array<double, 16> viewmat{};       // world → camera, row-major
  double fx = 0, fy = 0, cx = 0, cy = 0;  // pixels, centres at integer + ½
  int width = 0, height = 0;
  double near = kNearZ;                   // triangles with a vertex at camera z ≤ near are dropped
};

struct GBuffer {
  int width = 0, height = 0, ss = 1;  // samples: (width·ss) × (height·ss), row-major
  std::vector<int32_t> tri;           // [Hs·Ws] triangle id or −1
  std::vector<float> bary;            // [Hs·Ws, 2] perspective-correct weights of vertices 1 and 2 (b0 = 1 − b1 − b2)
  std::vector<float> depth;           // [Hs·Ws] camera z (+inf where tri < 0)
  int sample_width() const { return width * ss; }
  int sample_height() const { return height * ss; }
};

// verts [nv, 3] world positions, faces [nf, 3]; ss in 1..8. cull_backfaces drops triangles whose (p1−p0)×(p2−p0)
// normal points away from the camera.
void rasterize(const double* verts, int nv, const int32_t* faces, int nf, const RasterView& view, int ss, GBuffer& g,
               bool cull_backfaces = false);

// Per-vertex unit normals (area-weighted face normals; +z where they cancel), [nv, 3].
std::vector<double> vertex_normals(const double* verts, int nv, const int32_t* faces, int nf);

struct RasterOptions {
  int width = 256, height = 256;
  std::array<float, 3> background = {1.f, 1.f, 1.f};  // linear RGB in [0, 1]
  std::array<float, 3> albedo = {0.80f, 0.62f, 0.52f};
  // Direction towards the light in camera coordinates (normalised inside); default: upper left, front.
  std::array<double, 3> light_dir = {-0.35, -0.45, -1.0};
  float ambient = 0.22f;
  float diffuse = 0.85f;
  bool smooth_normals = true;  // interpolate area-weighted vertex normals (else flat per face)
  float gamma = 2.2f;          // output encoding (1: none)
  double near = 1e-6;
  // Optional per-face albedo override [F, 3] in [0, 1] (a negative first channel keeps `albedo`).
  const std::vector<float>* face_albedo = nullptr;
  // Optional per-vertex albedo [V, 3] in [0, 1] (interpolated); ignored where face_albedo applies.
  const std::vector<float>* vertex_albedo = nullptr;
};

struct RasterImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;      // [H, W, 3]
  std::vector<float> depth;      // [H, W] camera z of the visible surface, +inf where empty
  std::vector<int32_t> face_id;  // [H, W] visible triangle, −1 where empty
  std::vector<float> bary;       // [H, W, 3] perspective-correct barycentrics of the visible triangle
};

// One sample per pixel through rasterize() (cam's cx, cy in the pixel-centre-at-integer + ½ convention above),
// then Lambert shading.
RasterImage rasterize_mesh(const double* vertices, int num_vertices, const int32_t* faces, int num_faces,
                           const PinholeCamera<double>& cam, const RasterOptions& opt);

// A camera at `eye` looking at `target`, `up` pointing up in the image.
PinholeCamera<double> look_at_camera(const std::array<double, 3>& eye, const std::array<double, 3>& target,
                                     const std::array<double, 3>& up, double fx, double fy, double cx, double cy);

// Box-filter an [H, W, C] 8-bit image down by an integer factor (anti-aliasing after supersampling).
std::vector<uint8_t> downsample(const std::vector<uint8_t>& img, int width, int height, int channels, int factor);

// An 8-bit RGB canvas for contact sheets.
struct Canvas {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  Canvas(int w, int h, std::array<uint8_t, 3> fill);
  void paste(const uint8_t* rgb_img, int w, int h, int x0, int y0);
  void fill_rect(int x0, int y0, int w, int h, std::array<uint8_t, 3> c);
  void dot(double x, double y, double radius, std::array<uint8_t, 3> c);
  // A one-pixel line from (x0, y0) to (x1, y1), both ends drawn (Bresenham); pixels off the canvas are skipped.
  void line(int x0, int y0, int x1, int y1, std::array<uint8_t, 3> c);
  // ASCII text (stb_easy_font glyphs), `scale` pixels per font unit.
  void text(int x, int y, const std::string& s, std::array<uint8_t, 3> c, int scale = 1);
  // The width in pixels `text` gives `s` at `scale`.
  static int text_width(const std::string& s, int scale = 1);
};

// The engine's one PNG writer (train/data's Image8 writer, train/eval's pictures and the apps call it): 8-bit
// pixels [height, width, channels] (channels 1..4: grey, grey+alpha, RGB, RGBA), rows top to bottom, encoded by
// stb_image_write at zlib level `compression` (1..9) and written atomically (core/file.h). Throws ff::Error naming
// the file for a bad image or level, or when the file cannot be written.
void write_png(const std::string& path, int width, int height, int channels, const uint8_t* data, int compression = 6);

}  // namespace ff::flame
