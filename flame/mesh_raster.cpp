// flame/mesh_raster.cpp — see mesh_raster.h.
#include "flame/mesh_raster.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/file.h"
#include "core/geometry.h"

// stb in this translation unit only (static functions: no clash with other users of stb in the program).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
// PNG deflate through zlib (flame/ links it): several times faster than stb's own compressor.
#include <zlib.h>
static unsigned char* ff_png_deflate(unsigned char* data, int len, int* out_len, int level) {
  uLongf n = compressBound(uLong(len));
  unsigned char* out = static_cast<unsigned char*>(malloc(n));
  if (!out) return nullptr;
  if (compress2(out, &n, data, uLong(len), level) != Z_OK) {
    free(out);
    return nullptr;
  }
  *out_len = int(n);
  return out;
}
#define STBIW_ZLIB_COMPRESS ff_png_deflate
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

namespace ff::flame {

namespace {
using V3 = Vec3d;
V3 sub(const V3& a, const V3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
uint8_t encode(double x, float gamma) {
  x = std::clamp(x, 0.0, 1.0);
  if (gamma != 1.f) x = std::pow(x, 1.0 / gamma);
  return uint8_t(std::lround(x * 255.0));
}
}  // namespace

RasterImage rasterize_mesh(const double* vertices, int V, const int32_t* faces, int F,
                           const PinholeCamera<double>& cam, const RasterOptions& o) {
  FF_CHECK(o.width > 0 && o.height > 0 && int64_t(o.width) * o.height <= (int64_t(1) << 28),
           "rasterize_mesh: bad image size ", o.width, "x", o.height);
  FF_CHECK(V >= 0 && F >= 0 && (V == 0 || vertices) && (F == 0 || faces), "rasterize_mesh: bad mesh arguments");
  if (o.face_albedo) FF_CHECK(o.face_albedo->size() == size_t(F) * 3, "rasterize_mesh: face_albedo must be [F, 3]");
  if (o.vertex_albedo)
    FF_CHECK(o.vertex_albedo->size() == size_t(V) * 3, "rasterize_mesh: vertex_albedo must be [V, 3]");
  const int W = o.width, H = o.height;
  RasterImage img;
  img.width = W;
  img.height = H;
  img.depth.assign(size_t(W) * H, std::numeric_limits<float>::infinity());
  img.face_id.assign(size_t(W) * H, -1);
  img.bary.assign(size_t(W) * H * 3, 0.f);

  // camera-space positions and normals
  std::vector<V3> pc(static_cast<size_t>(V)), nv(static_cast<size_t>(V), V3{0, 0, 0});
  for (int v = 0; v < V; ++v) {
    const double* x = vertices + size_t(v) * 3;
    for (int r = 0; r < 3; ++r)
      pc[size_t(v)][size_t(r)] = cam.R[r * 3] * x[0] + cam.R[r * 3 + 1] * x[1] + cam.R[r * 3 + 2] * x[2] + cam.t[r];
  }
  std::vector<V3> nf(static_cast<size_t>(F));
  for (int f = 0; f < F; ++f) {
    const int32_t* t = faces + size_t(f) * 3;
    for (int k = 0; k < 3; ++k) FF_CHECK(t[k] >= 0 && t[k] < V, "rasterize_mesh: face ", f, " vertex ", t[k], " out of range");
    V3 n = cross(sub(pc[size_t(t[1])], pc[size_t(t[0])]), sub(pc[size_t(t[2])], pc[size_t(t[0])]));
    nf[size_t(f)] = normalized(n);
    for (int k = 0; k < 3; ++k)
      for (int c = 0; c < 3; ++c) nv[size_t(t[k])][size_t(c)] += n[size_t(c)];
  }
  for (auto& n : nv) n = normalized(n);

  // visibility pass: z-buffer with perspective-correct barycentrics
  for (int f = 0; f < F; ++f) {
    const int32_t* t = faces + size_t(f) * 3;
    const V3 &a = pc[size_t(t[0])], &b = pc[size_t(t[1])], &c = pc[size_t(t[2])];
    if (a[2] <= o.near || b[2] <= o.near || c[2] <= o.near) continue;
    double sx[3], sy[3], iz[3];
    const V3* P[3] = {&a, &b, &c};
    for (int k = 0; k < 3; ++k) {
      sx[k] = cam.fx * (*P[k])[0] / (*P[k])[2] + cam.cx;
      sy[k] = cam.fy * (*P[k])[1] / (*P[k])[2] + cam.cy;
      iz[k] = 1.0 / (*P[k])[2];
    }
    double area = (sx[1] - sx[0]) * (sy[2] - sy[0]) - (sx[2] - sx[0]) * (sy[1] - sy[0]);
    if (std::fabs(area) < 1e-12) continue;
    int x0 = std::max(0, int(std::ceil(std::min({sx[0], sx[1], sx[2]}) - 0.5)));
    int x1 = std::min(W - 1, int(std::floor(std::max({sx[0], sx[1], sx[2]}) + 0.5)));
    int y0 = std::max(0, int(std::ceil(std::min({sy[0], sy[1], sy[2]}) - 0.5)));
    int y1 = std::min(H - 1, int(std::floor(std::max({sy[0], sy[1], sy[2]}) + 0.5)));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        double px = x, py = y;
        double w0 = ((sx[1] - px) * (sy[2] - py) - (sx[2] - px) * (sy[1] - py)) / area;
        double w1 = ((sx[2] - px) * (sy[0] - py) - (sx[0] - px) * (sy[2] - py)) / area;
        double w2 = 1.0 - w0 - w1;
        if (w0 < 0 || w1 < 0 || w2 < 0) continue;
        double q0 = w0 * iz[0], q1 = w1 * iz[1], q2 = w2 * iz[2], qs = q0 + q1 + q2;
        double z = 1.0 / qs;
        size_t i = size_t(y) * W + size_t(x);
        if (z >= img.depth[i]) continue;
        img.depth[i] = float(z);
        img.face_id[i] = f;
        img.bary[i * 3] = float(q0 / qs);
        img.bary[i * 3 + 1] = float(q1 / qs);
        img.bary[i * 3 + 2] = float(q2 / qs);
      }
  }

  // shading pass
  V3 L = normalized(o.light_dir);
  img.rgb.resize(size_t(W) * H * 3);
  for (size_t i = 0; i < size_t(W) * H; ++i) {
    int32_t f = img.face_id[i];
    double col[3] = {o.background[0], o.background[1], o.background[2]};
    if (f >= 0) {
      const int32_t* t = faces + size_t(f) * 3;
      const float* bc = &img.bary[i * 3];
      V3 n = nf[size_t(f)];
      V3 p{0, 0, 0};
      for (int k = 0; k < 3; ++k)
        for (int c = 0; c < 3; ++c) p[size_t(c)] += bc[k] * pc[size_t(t[k])][size_t(c)];
      if (o.smooth_normals) {
        V3 s{0, 0, 0};
        for (int k = 0; k < 3; ++k)
          for (int c = 0; c < 3; ++c) s[size_t(c)] += bc[k] * nv[size_t(t[k])][size_t(c)];
        s = normalized(s);
        if (dot(s, s) > 0) n = s;
      }
      if (dot(n, p) > 0) n = {-n[0], -n[1], -n[2]};  // face the camera
      double alb[3] = {o.albedo[0], o.albedo[1], o.albedo[2]};
      if (o.face_albedo && (*o.face_albedo)[size_t(f) * 3] >= 0) {
        for (int c = 0; c < 3; ++c) alb[c] = (*o.face_albedo)[size_t(f) * 3 + size_t(c)];
      } else if (o.vertex_albedo) {
        for (int c = 0; c < 3; ++c) {
          alb[c] = 0;
          for (int k = 0; k < 3; ++k) alb[c] += bc[k] * (*o.vertex_albedo)[size_t(t[k]) * 3 + size_t(c)];
        }
      }
      double lam = std::max(0.0, dot(n, L));
      for (int c = 0; c < 3; ++c) col[c] = alb[c] * (o.ambient + o.diffuse * lam);
    }
    for (int c = 0; c < 3; ++c) img.rgb[i * 3 + size_t(c)] = encode(col[c], f >= 0 ? o.gamma : 1.f);
  }
  return img;
}

PinholeCamera<double> look_at_camera(const std::array<double, 3>& eye, const std::array<double, 3>& target,
                                     const std::array<double, 3>& up, double fx, double fy, double cx, double cy) {
  V3 f = normalized(sub(target, eye));
  V3 r = normalized(cross(f, up));
  FF_CHECK(dot(f, f) > 0 && dot(r, r) > 0, "look_at_camera: degenerate eye/target/up");
  V3 d = cross(f, r);  // image down
  PinholeCamera<double> c;
  c.fx = fx;
  c.fy = fy;
  c.cx = cx;
  c.cy = cy;
  for (int k = 0; k < 3; ++k) {
    c.R[k] = r[size_t(k)];
    c.R[3 + k] = d[size_t(k)];
    c.R[6 + k] = f[size_t(k)];
  }
  for (int i = 0; i < 3; ++i) c.t[i] = -(c.R[i * 3] * eye[0] + c.R[i * 3 + 1] * eye[1] + c.R[i * 3 + 2] * eye[2]);
  return c;
}

std::vector<uint8_t> downsample(const std::vector<uint8_t>& img, int W, int H, int C, int k) {
  FF_CHECK(k >= 1 && W % k == 0 && H % k == 0 && img.size() == size_t(W) * H * C,
           "downsample: size ", W, "x", H, "x", C, " is not divisible by ", k);
  int w = W / k, h = H / k;
  std::vector<uint8_t> out(size_t(w) * h * C);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < C; ++c) {
        int s = 0;
        for (int dy = 0; dy < k; ++dy)
          for (int dx = 0; dx < k; ++dx) s += img[(size_t(y * k + dy) * W + size_t(x * k + dx)) * C + size_t(c)];
        out[(size_t(y) * w + size_t(x)) * C + size_t(c)] = uint8_t((s + k * k / 2) / (k * k));
      }
  return out;
}

Canvas::Canvas(int w, int h, std::array<uint8_t, 3> fill) : width(w), height(h) {
  FF_CHECK(w > 0 && h > 0 && int64_t(w) * h <= (int64_t(1) << 28), "Canvas: bad size ", w, "x", h);
  rgb.resize(size_t(w) * h * 3);
  for (size_t i = 0; i < size_t(w) * h; ++i)
    for (int c = 0; c < 3; ++c) rgb[i * 3 + size_t(c)] = fill[size_t(c)];
}

void Canvas::paste(const uint8_t* img, int w, int h, int x0, int y0) {
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int X = x0 + x, Y = y0 + y;
      if (X < 0 || Y < 0 || X >= width || Y >= height) continue;
      for (int c = 0; c < 3; ++c) rgb[(size_t(Y) * width + size_t(X)) * 3 + size_t(c)] = img[(size_t(y) * w + size_t(x)) * 3 + size_t(c)];
    }
}

void Canvas::fill_rect(int x0, int y0, int w, int h, std::array<uint8_t, 3> col) {
  for (int y = std::max(0, y0); y < std::min(height, y0 + h); ++y)
    for (int x = std::max(0, x0); x < std::min(width, x0 + w); ++x)
      for (int c = 0; c < 3; ++c) rgb[(size_t(y) * width + size_t(x)) * 3 + size_t(c)] = col[size_t(c)];
}

void Canvas::dot(double cx, double cy, double r, std::array<uint8_t, 3> col) {
  for (int y = int(std::floor(cy - r)); y <= int(std::ceil(cy + r)); ++y)
    for (int x = int(std::floor(cx - r)); x <= int(std::ceil(cx + r)); ++x)
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) fill_rect(x, y, 1, 1, col);
}

void Canvas::text(int x, int y, const std::string& s, std::array<uint8_t, 3> col, int scale) {
  std::vector<char> buf(s.size() * 300 + 1000);
  std::string str = s;
  int quads = stb_easy_font_print(0, 0, str.data(), nullptr, buf.data(), int(buf.size()));
  const float* q = reinterpret_cast<const float*>(buf.data());  // 4 vertices × (x, y, z, rgba) = 16 bytes each
  for (int i = 0; i < quads; ++i) {
    const float* v = q + size_t(i) * 16;
    float qx0 = v[0], qy0 = v[1], qx1 = v[8], qy1 = v[9];
    int X0 = x + int(std::lround(std::min(qx0, qx1) * scale)), X1 = x + int(std::lround(std::max(qx0, qx1) * scale));
    int Y0 = y + int(std::lround(std::min(qy0, qy1) * scale)), Y1 = y + int(std::lround(std::max(qy0, qy1) * scale));
    fill_rect(X0, Y0, X1 - X0, Y1 - Y0, col);
  }
}

void write_png(const std::string& path, int w, int h, int channels, const uint8_t* data, int compression) {
  FF_CHECK(w > 0 && h > 0 && channels >= 1 && channels <= 4 && data, "write_png: bad image for '", path, "' (", w, "x",
           h, "x", channels, ")");
  FF_CHECK(compression >= 1 && compression <= 9, "write_png: compression level ", compression, " for '", path,
           "' is not in 1..9");
  // stb's level is a global of this file: set per call. Concurrent writers (synth/preprocess threads) use one level;
  // a different level would only change the file size.
  stbi_write_png_compression_level = compression;
  std::string bytes;
  int ok = stbi_write_png_to_func(
      [](void* ctx, void* d, int n) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(d), size_t(n)); },
      &bytes, w, h, channels, data, w * channels);
  FF_CHECK(ok && !bytes.empty(), "write_png: encoding '", path, "' failed");
  try {
    write_file_atomic(path, bytes);
  } catch (const Error& e) {
    FF_THROW("write_png: cannot write '", path, "': ", e.what());
  }
}

}  // namespace ff::flame
